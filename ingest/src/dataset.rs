//! Recorded datasets (DESIGN.md, "Recorded datasets"): a folder of frame files and `truth.csv`, one row per true
//! streak: `frame,x1,y1,x2,y2,snr,object_id` (0-based pixels, x = column; `snr` the integrated matched-filter S/N
//! along the streak; `object_id` may be empty). A frame with no row has no streak.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// One row of `truth.csv`. (x1, y1) is where the object was at the exposure's start when known (simulated data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TruthRow {
    /// Frame id (the file stem).
    pub frame: String,
    /// Endpoints, 0-based pixels, x = column.
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    /// Integrated matched-filter S/N along the streak.
    pub snr: f64,
    /// Object id (NORAD number for simulated data); may be empty.
    pub object_id: String,
}

/// Why a truth file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {problem}")]
    Row {
        path: String,
        line: usize,
        problem: String,
    },
}

/// Parse `truth.csv` text (`path` names it in errors).
pub fn parse_truth(path: &str, text: &str) -> Result<Vec<TruthRow>, TruthError> {
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| TruthError::Row {
            path: path.into(),
            line: i + 1,
            problem,
        };
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(bad(format!(
                "{} fields, expected 7 (frame,x1,y1,x2,y2,snr,object_id)",
                f.len()
            )));
        }
        let num = |k: usize, name: &str| {
            f[k].trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("{name} '{}' is not a number", f[k])))
        };
        rows.push(TruthRow {
            frame: f[0].trim().into(),
            x1: num(1, "x1")?,
            y1: num(2, "y1")?,
            x2: num(3, "x2")?,
            y2: num(4, "y2")?,
            snr: num(5, "snr")?,
            object_id: f[6].trim().into(),
        });
    }
    Ok(rows)
}

/// Write `rows` as `truth.csv` text to `out`.
pub fn write_truth(out: &mut impl Write, rows: &[TruthRow]) -> std::io::Result<()> {
    writeln!(out, "frame,x1,y1,x2,y2,snr,object_id")?;
    for t in rows {
        writeln!(
            out,
            "{},{:.3},{:.3},{:.3},{:.3},{:.2},{}",
            t.frame, t.x1, t.y1, t.x2, t.y2, t.snr, t.object_id
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_csv_parses_and_errors_name_the_line() {
        let rows = parse_truth(
            "t.csv",
            "frame,x1,y1,x2,y2,snr,object_id\nf1,1,2,3,4,5.5,28057\nf2,1,2,3,4,5,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].object_id, "");
        let err = parse_truth("t.csv", "header\nf1,1,x,3,4,5,1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.csv, line 2") && err.contains("y1"), "{err}");
    }

    #[test]
    fn written_truth_parses_back() {
        let rows = vec![TruthRow {
            frame: "f".into(),
            x1: 1.0,
            y1: 2.5,
            x2: 3.0,
            y2: 4.0,
            snr: 7.25,
            object_id: "5".into(),
        }];
        let mut text = vec![];
        write_truth(&mut text, &rows).unwrap();
        assert_eq!(
            parse_truth("t.csv", &String::from_utf8(text).unwrap()).unwrap(),
            rows
        );
    }
}
