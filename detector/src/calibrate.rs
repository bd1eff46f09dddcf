//! `kessler calibrate`: how high noise alone reaches in the detector's statistics, and so which threshold gives a
//! false-alarm rate.
//!
//! On a frame that holds no streak every detection is false. [`Calibration`] collects, frame by frame, the
//! largest S/N of the line-transform candidates ([`crate::Peak`], the FRT entries of every searched level) and of
//! the refined streaks ([`crate::Streak::detection_snr`], the statistic the threshold applies to). The fraction of
//! frames whose maximum reaches `t` is the fraction with a false alarm at threshold `t`; its `1 - rate` quantile is
//! the threshold for `rate` false alarms per frame.
//!
//! The transform's maximum says what any detector can do on such frames. Its entries are a subset of the
//! segments a streak search must try (every position and angle, lengths from the shortest streak up), so an
//! exhaustive search over those segments reaches at least as high on noise, and needs at least that threshold for
//! the same false-alarm rate. A streak of matched-filter S/N `s`, measured with unit noise and no loss, then reaches
//! a threshold `t` with probability `Phi(s - t)` at best (`Phi` the standard normal distribution function).

use kessler_ingest::Frame;
use serde::{Deserialize, Serialize};

use crate::threshold::SizeCalibration;
use crate::{DetectError, Detector};

/// Thresholds of the report's table are the floor and then this far apart, S/N.
pub const THRESHOLD_STEP: f64 = 0.25;
/// The table runs this far above the floor, S/N.
pub const THRESHOLD_SPAN: f64 = 5.0;

/// Largest S/N that noise reached on one frame, in each statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NullMaximum {
    /// Largest FRT candidate S/N; `None` when no entry reached the detector's `transform_threshold`.
    pub transform: Option<f64>,
    /// Largest refined streak S/N; `None` when no streak reached the detector's `snr_threshold`.
    pub streak: Option<f64>,
    /// Refined streaks (all false) on the frame.
    pub streaks: usize,
}

/// Accumulates frames with no streak, one at a time.
#[derive(Debug)]
pub struct Calibration<'a> {
    detector: &'a Detector,
    maxima: Vec<NullMaximum>,
    streak_snrs: Vec<f64>,
    /// Frame sizes seen, px.
    sizes: std::collections::BTreeSet<(u32, u32)>,
}

/// False alarms at one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    /// S/N threshold.
    pub threshold: f64,
    /// Fraction of frames with an FRT candidate at or above the threshold.
    pub transform_frames: f64,
    /// Fraction of frames with a refined streak at or above the threshold.
    pub streak_frames: f64,
    /// Refined streaks at or above the threshold per frame: the false positives per frame of `kessler bench`.
    pub streaks_per_frame: f64,
}

/// Quantiles of the per-frame maxima, S/N; `None` where the quantile lies below the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p98: Option<f64>,
    pub max: Option<f64>,
}

/// The calibration's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    pub frames: usize,
    /// The candidate threshold in use: what lies below it is not seen (a quantile there is `None`).
    pub transform_floor: f64,
    /// The refinement's threshold in use (as `transform_floor`).
    pub streak_floor: f64,
    pub transform_maximum: Quantiles,
    pub streak_maximum: Quantiles,
    /// Lowest threshold at which at most 2% of frames have an FRT candidate (the bound of the module doc);
    /// `None` when it lies below the floor.
    pub transform_threshold_2pct: Option<f64>,
    /// Lowest threshold at which at most 2% of frames have a refined streak (as `transform_threshold_2pct`).
    pub streak_threshold_2pct: Option<f64>,
    pub table: Vec<ThresholdRow>,
}

impl<'a> Calibration<'a> {
    /// A calibration of `detector`: set its thresholds low (they are the floors of the measurement).
    pub fn new(detector: &'a Detector) -> Calibration<'a> {
        Calibration {
            detector,
            maxima: vec![],
            streak_snrs: vec![],
            sizes: Default::default(),
        }
    }

    /// The calibration as an entry of a threshold table ([`crate::threshold`]), its frames
    /// described by `source`; `Err` names the sizes when the frames were not all of one size, or
    /// says that there were none.
    pub fn size_calibration(&self, source: &str) -> Result<SizeCalibration, String> {
        let sizes: Vec<String> = self.sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        match self.sizes.iter().collect::<Vec<_>>()[..] {
            [&(width, height)] => Ok(SizeCalibration {
                width,
                height,
                source: source.to_string(),
                frames: self.maxima.len(),
                floor: f64::from(self.detector.config().snr_threshold),
                false_streaks: self.streak_snrs.clone(),
            }),
            [] => Err("no frames calibrated".into()),
            _ => Err(format!(
                "a threshold table entry is for one frame size; these frames have {}",
                sizes.join(", ")
            )),
        }
    }

    /// Detects on one frame that holds no streak; returns what noise reached on it.
    pub fn add(&mut self, frame: &Frame) -> Result<NullMaximum, DetectError> {
        let (streaks, peaks) = self.detector.detect_with_peaks(frame.pixels.view())?;
        let (height, width) = frame.pixels.dim();
        self.sizes.insert((width as u32, height as u32));
        let maximum = NullMaximum {
            transform: peaks.first().map(|p| f64::from(p.snr)),
            streak: streaks.iter().map(|s| s.detection_snr).reduce(f64::max),
            streaks: streaks.len(),
        };
        self.streak_snrs
            .extend(streaks.iter().map(|s| s.detection_snr));
        self.maxima.push(maximum);
        Ok(maximum)
    }

    /// The report so far.
    pub fn report(&self) -> CalibrationReport {
        let config = self.detector.config();
        let (transform_floor, streak_floor) = (
            f64::from(config.transform_threshold),
            f64::from(config.snr_threshold),
        );
        // Below the floor, ascending; a frame where nothing reached the floor sorts first.
        let sorted = |of: fn(&NullMaximum) -> Option<f64>| {
            let mut v: Vec<f64> = self
                .maxima
                .iter()
                .map(|m| of(m).unwrap_or(f64::NEG_INFINITY))
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (transform, streak) = (sorted(|m| m.transform), sorted(|m| m.streak));
        let frames = self.maxima.len().max(1) as f64;
        let reaching = |sorted: &[f64], t: f64| {
            (sorted.len() - sorted.partition_point(|&v| v < t)) as f64 / frames
        };
        // The table starts where both statistics are seen.
        let floor = transform_floor.max(streak_floor);
        let table = (0..=(THRESHOLD_SPAN / THRESHOLD_STEP) as usize)
            .map(|k| floor + k as f64 * THRESHOLD_STEP)
            .map(|t| ThresholdRow {
                threshold: t,
                transform_frames: reaching(&transform, t),
                streak_frames: reaching(&streak, t),
                streaks_per_frame: self.streak_snrs.iter().filter(|&&s| s >= t).count() as f64
                    / frames,
            })
            .collect();
        CalibrationReport {
            frames: self.maxima.len(),
            transform_floor,
            streak_floor,
            transform_maximum: quantiles(&transform),
            streak_maximum: quantiles(&streak),
            transform_threshold_2pct: threshold_for(&transform, 0.02),
            streak_threshold_2pct: threshold_for(&streak, 0.02),
            table,
        }
    }
}

/// `v`, or `None` when it stands for "below the floor".
fn seen(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Quantiles of `sorted` (ascending), nearest rank.
fn quantiles(sorted: &[f64]) -> Quantiles {
    let at = |q: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .and_then(seen)
    };
    Quantiles {
        median: at(0.5),
        p90: at(0.9),
        p98: at(0.98),
        max: at(1.0),
    }
}

/// The lowest threshold that at most `rate` of the frames reach, given their maxima `sorted` ascending: just above
/// the largest maximum that must be excluded (reported as that maximum).
fn threshold_for(sorted: &[f64], rate: f64) -> Option<f64> {
    let allowed = (rate * sorted.len() as f64).floor() as usize;
    let i = sorted.len().checked_sub(allowed + 1)?;
    seen(sorted[i])
}

impl CalibrationReport {
    /// The report as Markdown.
    pub fn to_markdown(&self, source: &str) -> String {
        let v = |v: Option<f64>| v.map_or("below the floor".into(), |v| format!("{v:.2}"));
        let q = |q: &Quantiles| {
            format!(
                "median {}, 90% {}, 98% {}, max {}",
                v(q.median),
                v(q.p90),
                v(q.p98),
                v(q.max)
            )
        };
        let mut md = format!(
            "# Threshold calibration: {source}\n\n{} frames with no streak. Largest S/N per frame:\n\n",
            self.frames
        );
        md += &format!(
            "- line transform (floor {}): {}; at most 2% of frames go above {}\n",
            self.transform_floor,
            q(&self.transform_maximum),
            v(self.transform_threshold_2pct)
        );
        md += &format!(
            "- refined streaks (floor {}): {}; at most 2% of frames go above {}\n\n",
            self.streak_floor,
            q(&self.streak_maximum),
            v(self.streak_threshold_2pct)
        );
        md += "| threshold | frames with a candidate | frames with a streak | streaks per frame |\n|---|---|---|---|\n";
        for r in &self.table {
            md += &format!(
                "| {:.2} | {:.3} | {:.3} | {:.3} |\n",
                r.threshold, r.transform_frames, r.streak_frames, r.streaks_per_frame
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_leaves_the_allowed_fraction_of_frames_above_it() {
        // 100 frames with maxima 1..=100: at a 2% rate two frames (99 and 100) may lie above the threshold.
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(threshold_for(&sorted, 0.02), Some(98.0));
        assert_eq!(threshold_for(&sorted, 0.0), Some(100.0));
        // Nothing reached the floor on 99 frames: the 2% threshold lies below it.
        let mut floor = vec![f64::NEG_INFINITY; 99];
        floor.push(7.0);
        assert_eq!(threshold_for(&floor, 0.02), None);
        let q = quantiles(&sorted);
        assert_eq!(
            (q.median, q.p90, q.p98, q.max),
            (Some(51.0), Some(90.0), Some(98.0), Some(100.0))
        );
    }
}
