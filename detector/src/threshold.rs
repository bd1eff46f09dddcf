//! Detection thresholds from a false-alarm rate: a table of calibrations, one per frame size
//! (`kessler calibrate --table` writes them; `thresholds.json` in this crate is the table the
//! detector ships), and the threshold it gives a frame.
//!
//! A calibration holds the detection S/N ([`crate::Streak::detection_snr`]) of every refined
//! streak found on `frames` frames that hold none, from its floor up. The rate of false streaks
//! at a threshold `t` is the number of them at or above `t` over `frames`, so the threshold for
//! a rate `F` is just above the `(floor(F frames) + 1)`-th largest. The shape tests of the
//! refinement run at the floor during a calibration (they are at the threshold in use), so the
//! rates above the floor are upper bounds and the thresholds conservative.
//!
//! A frame of a size with no calibration of its own gets the calibration of the smallest size
//! with at least as many pixels (more pixels, more places for noise to reach high: a higher
//! threshold); a frame larger than every calibrated size, or a rate under one false streak in
//! the calibration's frames, is refused rather than extrapolated.

use serde::{Deserialize, Serialize};

/// The calibrations of several frame sizes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThresholdTable {
    pub calibrations: Vec<SizeCalibration>,
}

/// False streaks on frames of one size with no streak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeCalibration {
    /// Frame size, px.
    pub width: u32,
    pub height: u32,
    /// What the frames were (simulated or recorded, their sky, the seed).
    pub source: String,
    /// Frames calibrated.
    pub frames: usize,
    /// The S/N floor: streaks under it were not looked at.
    pub floor: f64,
    /// Detection S/N of every false streak at or above the floor.
    pub false_streaks: Vec<f64>,
}

/// The threshold a table gives frames of one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<'a> {
    /// Detection threshold, S/N.
    pub threshold: f32,
    /// False streaks per frame at that threshold in the calibration (at most the rate asked for).
    pub rate: f64,
    /// The calibration it came from.
    pub calibration: &'a SizeCalibration,
}

impl std::fmt::Display for Chosen<'_> {
    /// `S/N 5.87 (0.0200 false streaks per frame in the 512x512 calibration: <its source>)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.calibration;
        write!(
            f,
            "S/N {:.2} ({:.4} false streaks per frame in the {}x{} calibration: {})",
            self.threshold, self.rate, c.width, c.height, c.source
        )
    }
}

/// `rate` if it is a false-alarm rate per frame, in (0, 1).
pub fn checked_rate(rate: f64) -> Result<f64, ThresholdError> {
    if rate > 0.0 && rate < 1.0 {
        Ok(rate)
    } else {
        Err(ThresholdError::Rate(rate))
    }
}

/// Why a table gives no threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error(
        "no threshold calibration covers {width}x{height} frames (calibrated: {sizes}); calibrate frames of \
         that size (kessler calibrate --table FILE) and pass --thresholds FILE, or use a fixed --snr-threshold \
         instead of --false-alarms-per-frame"
    )]
    NoCalibration {
        width: u32,
        height: u32,
        sizes: String,
    },
    #[error(
        "the {width}x{height} calibration has {frames} frames and resolves rates from {:.4} false streaks per frame, \
         not {rate}", 1.0 / *frames as f64
    )]
    Unresolved {
        width: u32,
        height: u32,
        frames: usize,
        rate: f64,
    },
    #[error("false alarms per frame must lie in (0, 1), not {0}")]
    Rate(f64),
    #[error("threshold table: {0}")]
    Format(String),
}

impl ThresholdTable {
    /// The table the detector ships (`thresholds.json`): simulated star fields of `kessler calibrate
    /// --stars --floor 5.5` at 512, 1024, 2048 and 4096 px (500, 200, 100 and 50 frames).
    pub fn shipped() -> ThresholdTable {
        ThresholdTable::from_json(include_str!("../thresholds.json"))
            .expect("the shipped threshold table parses (a unit test reads it)")
    }

    /// A table from its JSON text.
    pub fn from_json(text: &str) -> Result<ThresholdTable, ThresholdError> {
        let table: ThresholdTable =
            serde_json::from_str(text).map_err(|e| ThresholdError::Format(e.to_string()))?;
        if let Some(c) = table
            .calibrations
            .iter()
            .find(|c| c.frames == 0 || c.width == 0 || c.height == 0)
        {
            return Err(ThresholdError::Format(format!(
                "the {}x{} calibration has no frames or no pixels",
                c.width, c.height
            )));
        }
        Ok(table)
    }

    /// The table with `calibration` in place of any of the same size.
    pub fn with(mut self, calibration: SizeCalibration) -> ThresholdTable {
        self.calibrations
            .retain(|c| (c.width, c.height) != (calibration.width, calibration.height));
        self.calibrations.push(calibration);
        self.calibrations
            .sort_by_key(|c| (u64::from(c.width) * u64::from(c.height), c.width));
        self
    }

    /// The threshold for `rate` false streaks per frame on `width` x `height` frames.
    pub fn threshold(
        &self,
        width: u32,
        height: u32,
        rate: f64,
    ) -> Result<Chosen<'_>, ThresholdError> {
        let rate = checked_rate(rate)?;
        let pixels = |w: u32, h: u32| u64::from(w) * u64::from(h);
        let calibration = self
            .calibrations
            .iter()
            .find(|c| (c.width, c.height) == (width, height))
            .or_else(|| {
                self.calibrations
                    .iter()
                    .filter(|c| pixels(c.width, c.height) >= pixels(width, height))
                    .min_by_key(|c| pixels(c.width, c.height))
            })
            .ok_or_else(|| ThresholdError::NoCalibration {
                width,
                height,
                sizes: if self.calibrations.is_empty() {
                    "none".into()
                } else {
                    self.calibrations
                        .iter()
                        .map(|c| format!("{}x{}", c.width, c.height))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })?;
        let frames = calibration.frames as f64;
        if rate * frames < 1.0 {
            return Err(ThresholdError::Unresolved {
                width: calibration.width,
                height: calibration.height,
                frames: calibration.frames,
                rate,
            });
        }
        let mut snrs = calibration.false_streaks.clone();
        snrs.sort_by(|a, b| b.total_cmp(a));
        // (A product such as 0.29 x 100 that rounds just under a whole number counts it.)
        let allowed = (rate * frames * (1.0 + 1e-12)).floor() as usize;
        // Just above the largest false streak that must go, to 0.01, and still above it in f32.
        let threshold = match snrs.get(allowed) {
            None => calibration.floor as f32,
            Some(&excluded) => {
                let mut t = (((excluded * 100.0).floor() + 1.0) / 100.0) as f32;
                while f64::from(t) <= excluded {
                    t = t.next_up();
                }
                t
            }
        };
        let over = snrs.iter().filter(|&&s| s >= f64::from(threshold)).count();
        Ok(Chosen {
            threshold,
            rate: over as f64 / frames,
            calibration,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(width: u32, height: u32, frames: usize, snrs: &[f64]) -> SizeCalibration {
        SizeCalibration {
            width,
            height,
            source: "test".into(),
            frames,
            floor: 5.0,
            false_streaks: snrs.to_vec(),
        }
    }

    #[test]
    fn the_threshold_leaves_the_allowed_false_streaks_above_it() {
        // 100 frames, false streaks at 5.5 .. 9.0: 2 per 100 frames may stay, so the threshold
        // lies just above the third largest (8.0).
        let table = ThresholdTable {
            calibrations: vec![calibration(512, 512, 100, &[5.5, 9.0, 6.25, 8.0, 8.5, 7.0])],
        };
        let chosen = table.threshold(512, 512, 0.02).unwrap();
        assert_eq!(chosen.threshold, 8.01);
        assert_eq!(chosen.rate, 0.02);
        // As many allowed as there are: the floor.
        assert_eq!(table.threshold(512, 512, 0.5).unwrap().threshold, 5.0);
        // Fewer than one false streak in 100 frames cannot be resolved.
        assert!(matches!(
            table.threshold(512, 512, 0.005),
            Err(ThresholdError::Unresolved { frames: 100, .. })
        ));
        assert!(matches!(
            table.threshold(512, 512, 0.0),
            Err(ThresholdError::Rate(_))
        ));
    }

    #[test]
    fn a_size_without_calibration_takes_the_next_larger_and_never_a_smaller() {
        let table = ThresholdTable {
            calibrations: vec![],
        }
        .with(calibration(2048, 2048, 100, &[7.5]))
        .with(calibration(512, 512, 100, &[6.0]))
        .with(calibration(512, 512, 200, &[6.5]));
        assert_eq!(table.calibrations.len(), 2);
        assert_eq!(table.calibrations[0].frames, 200);
        let chosen = table.threshold(1000, 700, 0.001 * 20.0).unwrap();
        assert_eq!(
            (chosen.calibration.width, chosen.calibration.height),
            (2048, 2048)
        );
        let error = table.threshold(4096, 4096, 0.02).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no threshold calibration covers 4096x4096 frames (calibrated: 512x512, 2048x2048); calibrate frames \
             of that size (kessler calibrate --table FILE) and pass --thresholds FILE, or use a fixed \
             --snr-threshold instead of --false-alarms-per-frame"
        );
    }

    #[test]
    fn the_shipped_table_covers_the_common_sizes() {
        let table = ThresholdTable::shipped();
        for side in [512, 1024, 2048, 4096] {
            let chosen = table.threshold(side, side, 0.02).unwrap();
            assert_eq!(chosen.calibration.width, side);
            assert!(
                (5.0..10.0).contains(&chosen.threshold),
                "{side}: {}",
                chosen.threshold
            );
        }
    }
}
