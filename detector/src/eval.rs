//! Scoring detections against truth (DESIGN.md, "Recorded datasets"): a detection matches a truth streak when the
//! two lines agree within 2 degrees in angle and 3 px in perpendicular offset over their overlap.

use kessler_ingest::dataset::TruthRow;
use serde::{Deserialize, Serialize};

use crate::Streak;

/// Largest angle between matching lines, degrees.
pub const MATCH_ANGLE_DEG: f64 = 2.0;
/// Largest perpendicular offset between matching lines over their overlap, px.
pub const MATCH_OFFSET_PX: f64 = 3.0;

/// Whether a detected streak matches a truth streak (see the module doc).
pub fn matches(d: &Streak, t: &TruthRow) -> bool {
    let (tx, ty) = (t.x2 - t.x1, t.y2 - t.y1);
    let (dx, dy) = (d.x2 - d.x1, d.y2 - d.y1);
    let (tl, dl) = ((tx * tx + ty * ty).sqrt(), (dx * dx + dy * dy).sqrt());
    if tl == 0.0 || dl == 0.0 {
        return false;
    }
    let cos = ((tx * dx + ty * dy) / (tl * dl)).abs().min(1.0);
    if cos.acos().to_degrees() > MATCH_ANGLE_DEG {
        return false;
    }
    // Overlap along the truth line: project the detection's endpoints onto it.
    let (ux, uy) = (tx / tl, ty / tl);
    let along = |x: f64, y: f64| (x - t.x1) * ux + (y - t.y1) * uy;
    let (s1, s2) = (along(d.x1, d.y1), along(d.x2, d.y2));
    let (lo, hi) = (s1.min(s2).max(0.0), s1.max(s2).min(tl));
    if hi <= lo {
        return false;
    }
    // Perpendicular distance of the detection's line from the truth line at both ends of the overlap.
    let perp = |s: f64| {
        let (px, py) = (t.x1 + ux * s, t.y1 + uy * s);
        // Distance from (px, py) to the detection's infinite line.
        ((px - d.x1) * dy - (py - d.y1) * dx).abs() / dl
    };
    perp(lo).max(perp(hi)) <= MATCH_OFFSET_PX
}

/// Detection score of a set of frames.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub frames: usize,
    pub truth: usize,
    /// Truth streaks matched by at least one detection.
    pub found: usize,
    /// Detections that match no truth streak.
    pub false_positives: usize,
}

/// Score one frame's detections against its truth rows, adding to `score`.
pub fn score_frame(score: &mut Score, detections: &[Streak], truth: &[&TruthRow]) {
    score.frames += 1;
    score.truth += truth.len();
    score.found += truth
        .iter()
        .filter(|t| detections.iter().any(|d| matches(d, t)))
        .count();
    score.false_positives += detections
        .iter()
        .filter(|d| !truth.iter().any(|t| matches(d, t)))
        .count();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> TruthRow {
        TruthRow {
            frame: "f".into(),
            x1: 10.0,
            y1: 10.0,
            x2: 210.0,
            y2: 110.0,
            snr: 20.0,
            object_id: "1".into(),
        }
    }

    fn streak(x1: f64, y1: f64, x2: f64, y2: f64) -> Streak {
        Streak {
            x1,
            y1,
            x2,
            y2,
            snr: 10.0,
            flux: 1.0,
            width_px: 2.0,
            detection_snr: 0.0,
            sigma_along_px: 1.0,
            sigma_cross_px: 0.5,
        }
    }

    #[test]
    fn reversed_partial_and_offset_detections() {
        let t = truth();
        assert!(
            matches(&streak(210.0, 110.0, 10.0, 10.0), &t),
            "direction does not matter"
        );
        assert!(
            matches(&streak(50.0, 31.5, 150.0, 81.5), &t),
            "a part of the streak matches"
        );
        let perp = 2.5 / (0.2f64).sqrt() * 0.5;
        assert!(matches(&streak(10.0, 10.0 + perp, 210.0, 110.0 + perp), &t));
        assert!(
            !matches(&streak(10.0, 14.0, 210.0, 114.0), &t),
            "3.6 px off"
        );
        assert!(
            !matches(&streak(300.0, 155.0, 400.0, 205.0), &t),
            "no overlap"
        );
        assert!(
            !matches(&streak(10.0, 10.0, 210.0, 120.0), &t),
            "2.2 degrees off"
        );
    }
}
