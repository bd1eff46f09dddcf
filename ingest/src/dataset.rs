//! Recorded datasets (DESIGN.md, "Recorded datasets"): a folder of frame files and `truth.csv`, one row per true
//! streak: `frame,x1,y1,x2,y2,snr,object_id` (0-based pixels, x = column; `snr` the integrated matched-filter S/N
//! along the streak; `object_id` may be empty). A frame with no row has no streak.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// The header `truth.csv` starts with: the names of [`TruthRow`]'s fields, in order.
pub const TRUTH_HEADER: [&str; 7] = ["frame", "x1", "y1", "x2", "y2", "snr", "object_id"];

/// One row of `truth.csv`. (x1, y1) is where the object was at the exposure's start when known (simulated data).
/// Written with endpoints to 0.001 px and S/N to 0.01, as the simulator knows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TruthRow {
    /// Frame id (the file stem).
    pub frame: String,
    /// Endpoints, 0-based pixels, x = column.
    #[serde(serialize_with = "three_decimals")]
    pub x1: f64,
    #[serde(serialize_with = "three_decimals")]
    pub y1: f64,
    #[serde(serialize_with = "three_decimals")]
    pub x2: f64,
    #[serde(serialize_with = "three_decimals")]
    pub y2: f64,
    /// Integrated matched-filter S/N along the streak.
    #[serde(serialize_with = "two_decimals")]
    pub snr: f64,
    /// Object id (NORAD number for simulated data); may be empty.
    pub object_id: String,
}

fn three_decimals<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.3}"))
}

fn two_decimals<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.2}"))
}

/// Why a truth file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line 1: the header is '{found}', expected '{expected}'")]
    Header {
        path: String,
        /// The first line as read (empty when the file is).
        found: String,
        expected: String,
    },
    #[error("{path}, line {line}: {problem}")]
    Row {
        path: String,
        line: u64,
        problem: String,
    },
}

/// Parse `truth.csv` text (`path` names it in errors): the header must be [`TRUTH_HEADER`]; blank lines are
/// skipped and fields trimmed.
pub fn parse_truth(path: &str, text: &str) -> Result<Vec<TruthRow>, TruthError> {
    Ok(parse_truth_lines(path, text)?
        .into_iter()
        .map(|(_, row)| row)
        .collect())
}

/// [`parse_truth`], each row with its line number in the file (1-based; the header is line 1), so that a later
/// check of a row (a frame that is not in the dataset) can name it.
pub fn parse_truth_lines(path: &str, text: &str) -> Result<Vec<(u64, TruthRow)>, TruthError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| row_error(path, &e))?.clone();
    if !header.iter().eq(TRUTH_HEADER) {
        return Err(TruthError::Header {
            path: path.into(),
            found: header.iter().collect::<Vec<_>>().join(","),
            expected: TRUTH_HEADER.join(","),
        });
    }
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| row_error(path, &e))?;
        let row = record.deserialize(Some(&header)).map_err(|e| {
            let line = record.position().map_or(0, csv::Position::line);
            let problem = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => match err.field() {
                    Some(k) => format!(
                        "{} '{}' is not a number",
                        TRUTH_HEADER[k as usize], &record[k as usize]
                    ),
                    None => err.to_string(),
                },
                _ => e.to_string(),
            };
            TruthError::Row {
                path: path.into(),
                line,
                problem,
            }
        })?;
        rows.push((record.position().map_or(0, csv::Position::line), row));
    }
    Ok(rows)
}

/// A reader's error as a row error: where it is known, its line and a field count that does not match.
fn row_error(path: &str, e: &csv::Error) -> TruthError {
    let line = e.position().map_or(0, csv::Position::line);
    let problem = match e.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => format!(
            "{len} fields, expected {} ({})",
            TRUTH_HEADER.len(),
            TRUTH_HEADER.join(",")
        ),
        _ => e.to_string(),
    };
    TruthError::Row {
        path: path.into(),
        line,
        problem,
    }
}

/// Write `rows` as `truth.csv` text to `out`, header first.
pub fn write_truth(out: &mut impl Write, rows: &[TruthRow]) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    if rows.is_empty() {
        // Serialising a row writes the header; with none, write it alone.
        writer.write_record(TRUTH_HEADER)?;
    }
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "frame,x1,y1,x2,y2,snr,object_id\n";

    #[test]
    fn truth_csv_parses_and_errors_name_the_line() {
        let rows = parse_truth(
            "t.csv",
            &format!("{HEADER}f1,1,2,3,4,5.5,28057\n\nf2, 1,2,3,4,5,\n"),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].x1, rows[1].object_id.as_str()), (1.0, ""));
        let err = parse_truth("t.csv", &format!("{HEADER}f1,1,x,3,4,5,1\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "t.csv, line 2: y1 'x' is not a number");
        let err = parse_truth("t.csv", &format!("{HEADER}f1,1,2,3,4,5,1\nf2,1,2\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.csv, line 3: 3 fields, expected 7"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_or_missing_header_is_an_error_naming_it() {
        let err = parse_truth("t.csv", "frame,x1,y1,x2,y2,object_id,snr\nf1,1,2,3,4,5,1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.csv, line 1: the header is 'frame,x1,y1,x2,y2,object_id,snr', \
             expected 'frame,x1,y1,x2,y2,snr,object_id'"
        );
        let err = parse_truth("t.csv", "f1,1,2,3,4,5,1\n").unwrap_err();
        assert!(
            matches!(&err, TruthError::Header { found, .. } if found == "f1,1,2,3,4,5,1"),
            "{err}"
        );
        let err = parse_truth("t.csv", "").unwrap_err();
        assert!(
            matches!(&err, TruthError::Header { found, .. } if found.is_empty()),
            "{err}"
        );
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
            String::from_utf8(text.clone()).unwrap(),
            format!("{HEADER}f,1.000,2.500,3.000,4.000,7.25,5\n")
        );
        let mut empty = vec![];
        write_truth(&mut empty, &[]).unwrap();
        assert_eq!(String::from_utf8(empty).unwrap(), HEADER);
        assert_eq!(
            parse_truth("t.csv", &String::from_utf8(text).unwrap()).unwrap(),
            rows
        );
    }
}
