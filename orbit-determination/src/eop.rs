//! Earth orientation parameters: UT1 - UTC and polar motion from an IERS `finals2000A` file, used by
//! [`crate::frames`] process-wide once loaded ([`use_eop`]); without a table, or outside its dates, they are zero.
//!
//! File format: IERS Rapid Service/Prediction Center, `readme.finals2000A` (fixed columns: MJD in 8-15, Bulletin A
//! PM-x in 19-27 and PM-y in 38-46 in arcseconds, UT1-UTC in 59-68 in seconds). Rows without values (the far
//! predictions) are skipped. Values between rows are interpolated linearly, except across a leap second, where
//! UT1 - UTC jumps by a second and the nearer row holds.

use std::sync::{Arc, RwLock};

use hifitime::Epoch;

use crate::{EopError, EopProblem, OdError};

/// Radians per arcsecond.
const RAD_PER_ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

/// Earth orientation at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Eop {
    /// Polar motion (rad).
    pub xp_rad: f64,
    pub yp_rad: f64,
    /// UT1 - UTC (s).
    pub dut1_s: f64,
}

/// Daily Earth orientation values, by MJD (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct EopTable {
    /// Where the values came from (the file name).
    pub source: String,
    rows: Vec<(f64, Eop)>,
}

/// The columns (0-based byte ranges) of a `finals2000A` row.
const MJD: std::ops::Range<usize> = 7..15;
const PM_X: std::ops::Range<usize> = 18..27;
const PM_Y: std::ops::Range<usize> = 37..46;
const UT1_UTC: std::ops::Range<usize> = 58..68;

impl EopTable {
    /// Reads a `finals2000A` (or `finals.all`, same columns) file; `name` is for errors, which give the line and
    /// column of a value that does not parse.
    pub fn parse_finals(name: &str, text: &str) -> Result<EopTable, OdError> {
        let mut rows: Vec<(f64, Eop)> = vec![];
        for (k, line) in text.lines().enumerate() {
            let field = |range: std::ops::Range<usize>| line.get(range).map(str::trim);
            let (Some(mjd), Some(x), Some(y), Some(dut1)) =
                (field(MJD), field(PM_X), field(PM_Y), field(UT1_UTC))
            else {
                continue;
            };
            if [mjd, x, y, dut1].iter().any(|f| f.is_empty()) {
                continue;
            }
            let number = |value: &str, range: std::ops::Range<usize>, what: &'static str| {
                value.parse::<f64>().map_err(|_| {
                    OdError::from(EopError {
                        file: name.to_string(),
                        line: Some(k + 1),
                        problem: EopProblem::NotANumber {
                            columns: format!("{}-{}", range.start + 1, range.end),
                            what,
                            value: value.to_string(),
                        },
                    })
                })
            };
            let mjd = number(mjd, MJD, "MJD")?;
            if rows.last().is_some_and(|(last, _)| *last >= mjd) {
                return Err(OdError::from(EopError {
                    file: name.to_string(),
                    line: Some(k + 1),
                    problem: EopProblem::OutOfOrder { mjd },
                }));
            }
            rows.push((
                mjd,
                Eop {
                    xp_rad: number(x, PM_X, "PM-x")? * RAD_PER_ARCSEC,
                    yp_rad: number(y, PM_Y, "PM-y")? * RAD_PER_ARCSEC,
                    dut1_s: number(dut1, UT1_UTC, "UT1-UTC")?,
                },
            ));
        }
        if rows.is_empty() {
            return Err(OdError::from(EopError {
                file: name.to_string(),
                line: None,
                problem: EopProblem::NoRows,
            }));
        }
        Ok(EopTable {
            source: name.to_string(),
            rows,
        })
    }

    /// The first and last MJD (UTC) of the table.
    pub fn span_mjd(&self) -> (f64, f64) {
        (self.rows[0].0, self.rows[self.rows.len() - 1].0)
    }

    /// The values at `mjd_utc`, `None` outside the table.
    pub fn at_mjd(&self, mjd_utc: f64) -> Option<Eop> {
        let i = self.rows.partition_point(|(m, _)| *m <= mjd_utc);
        if i == 0 {
            return None;
        }
        let (m0, e0) = self.rows[i - 1];
        if i == self.rows.len() {
            return (mjd_utc == m0).then_some(e0);
        }
        let (m1, e1) = self.rows[i];
        let f = (mjd_utc - m0) / (m1 - m0);
        if (e1.dut1_s - e0.dut1_s).abs() > 0.5 {
            // A leap second between the rows.
            return Some(if f < 0.5 { e0 } else { e1 });
        }
        let lerp = |a: f64, b: f64| a + f * (b - a);
        Some(Eop {
            xp_rad: lerp(e0.xp_rad, e1.xp_rad),
            yp_rad: lerp(e0.yp_rad, e1.yp_rad),
            dut1_s: lerp(e0.dut1_s, e1.dut1_s),
        })
    }
}

static TABLE: RwLock<Option<Arc<EopTable>>> = RwLock::new(None);

/// Use `table` for every frame transformation of this process from now on (`None`: back to zero EOP).
pub fn use_eop(table: Option<EopTable>) {
    *TABLE.write().unwrap_or_else(|e| e.into_inner()) = table.map(Arc::new);
}

/// The table in use, if any.
pub fn eop_table() -> Option<Arc<EopTable>> {
    TABLE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The Earth orientation at `t`: from the table in use, zero without one or outside it.
pub(crate) fn eop_at(t: Epoch) -> Eop {
    eop_table()
        .and_then(|table| table.at_mjd(t.to_mjd_utc_days()))
        .unwrap_or_default()
}
