//! `kessler bench`: detection quality and speed on a recorded dataset (DESIGN.md, "Recorded datasets").
//!
//! Quality is scored on the first backend's detections with the DESIGN.md match rule ([`crate::eval`]):
//! completeness per bin of true matched-filter S/N, false positives per frame, and the endpoint error of matched
//! streaks. Speed is the wall time of [`Detector::detect`] per frame for every backend given, as medians (the
//! machines are shared and noisy: compare backends measured in the same run).

use std::collections::BTreeMap;
use std::time::Instant;

use kessler_ingest::Frame;
use kessler_ingest::dataset::TruthRow;
use serde::{Deserialize, Serialize};

use crate::eval::matches;
use crate::{DetectError, Detector, Streak};

/// Lower edges of the S/N bins of the completeness table; the last bin is open.
pub const SNR_BIN_EDGES: [f64; 9] = [0.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0];

/// Completeness in one S/N bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnrBin {
    /// Bin edges, matched-filter S/N: `lo <= snr < hi` (`hi` is infinite for the last bin).
    pub lo: f64,
    pub hi: f64,
    pub truth: usize,
    pub found: usize,
    /// found / truth (0 when the bin is empty).
    pub completeness: f64,
}

/// Speed of one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// "cpu" or the adapter's description.
    pub backend: String,
    pub frames: usize,
    /// Median wall time of one frame's detection, ms.
    pub median_ms: f64,
    /// 1000 / median_ms.
    pub frames_per_s: f64,
    /// Megapixels per second at the median (frames of mixed sizes: the median of each frame's rate).
    pub megapixels_per_s: f64,
}

/// Endpoint error of matched streaks, px: the larger of the two endpoint distances, under the better pairing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointError {
    pub median_px: f64,
    pub p95_px: f64,
    pub max_px: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub frames: usize,
    pub truth_streaks: usize,
    pub found: usize,
    pub false_positives: usize,
    pub false_positives_per_frame: f64,
    pub completeness: Vec<SnrBin>,
    pub endpoint_error: EndpointError,
    /// The backend whose detections were scored.
    pub scored_backend: String,
    pub speed: Vec<Speed>,
}

/// Accumulates frames one at a time (so a dataset never needs to fit in memory).
pub struct Bench<'a> {
    detectors: &'a [Detector],
    truth: BTreeMap<&'a str, Vec<&'a TruthRow>>,
    times: Vec<Vec<(f64, f64)>>,
    frames: usize,
    truth_streaks: usize,
    found: usize,
    false_positives: usize,
    bins: Vec<SnrBin>,
    endpoint_errors: Vec<f64>,
}

fn endpoint_error(d: &Streak, t: &TruthRow) -> f64 {
    let dist = |x1: f64, y1: f64, x2: f64, y2: f64| (x1 - x2).hypot(y1 - y2);
    let straight = dist(d.x1, d.y1, t.x1, t.y1).max(dist(d.x2, d.y2, t.x2, t.y2));
    let crossed = dist(d.x1, d.y1, t.x2, t.y2).max(dist(d.x2, d.y2, t.x1, t.y1));
    straight.min(crossed)
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

impl<'a> Bench<'a> {
    /// A benchmark of `detectors` (the first is scored, all are timed) against `truth` (all rows of the dataset).
    pub fn new(detectors: &'a [Detector], truth: &'a [TruthRow]) -> Bench<'a> {
        let mut by_frame: BTreeMap<&str, Vec<&TruthRow>> = BTreeMap::new();
        for t in truth {
            by_frame.entry(t.frame.as_str()).or_default().push(t);
        }
        let bins = SNR_BIN_EDGES
            .iter()
            .enumerate()
            .map(|(i, &lo)| SnrBin {
                lo,
                hi: SNR_BIN_EDGES.get(i + 1).copied().unwrap_or(f64::INFINITY),
                truth: 0,
                found: 0,
                completeness: 0.0,
            })
            .collect();
        Bench {
            detectors,
            truth: by_frame,
            times: vec![vec![]; detectors.len()],
            frames: 0,
            truth_streaks: 0,
            found: 0,
            false_positives: 0,
            bins,
            endpoint_errors: vec![],
        }
    }

    /// Detect with every backend, time each, and score the first one's streaks.
    pub fn add(&mut self, frame: &Frame) -> Result<(), DetectError> {
        let h = &frame.header;
        let mut scored = vec![];
        for (k, detector) in self.detectors.iter().enumerate() {
            let started = Instant::now();
            let streaks = detector.detect(frame.pixels.view())?;
            let seconds = started.elapsed().as_secs_f64();
            self.times[k].push((seconds, frame.pixels.len() as f64 / 1e6 / seconds));
            if k == 0 {
                scored = streaks;
            }
        }
        self.frames += 1;
        let truth = self
            .truth
            .get(h.frame_id.as_str())
            .cloned()
            .unwrap_or_default();
        self.false_positives += scored
            .iter()
            .filter(|d| !truth.iter().any(|t| matches(d, t)))
            .count();
        for t in truth {
            self.truth_streaks += 1;
            let bin = self
                .bins
                .iter_mut()
                .rev()
                .find(|b| t.snr >= b.lo)
                .expect("the first bin starts at 0");
            bin.truth += 1;
            let best = scored
                .iter()
                .filter(|d| matches(d, t))
                .map(|d| endpoint_error(d, t))
                .min_by(f64::total_cmp);
            if let Some(error) = best {
                self.found += 1;
                bin.found += 1;
                self.endpoint_errors.push(error);
            }
        }
        Ok(())
    }

    /// The report so far.
    pub fn report(&self) -> BenchReport {
        let mut errors = self.endpoint_errors.clone();
        let speed = self
            .detectors
            .iter()
            .zip(&self.times)
            .map(|(d, times)| {
                let mut ms: Vec<f64> = times.iter().map(|t| t.0 * 1000.0).collect();
                let mut mps: Vec<f64> = times.iter().map(|t| t.1).collect();
                let median_ms = median(&mut ms);
                Speed {
                    backend: d.backend_description(),
                    frames: times.len(),
                    median_ms,
                    frames_per_s: 1000.0 / median_ms,
                    megapixels_per_s: median(&mut mps),
                }
            })
            .collect();
        BenchReport {
            frames: self.frames,
            truth_streaks: self.truth_streaks,
            found: self.found,
            false_positives: self.false_positives,
            false_positives_per_frame: self.false_positives as f64 / self.frames.max(1) as f64,
            completeness: self
                .bins
                .iter()
                .filter(|b| b.truth > 0)
                .map(|b| SnrBin {
                    completeness: b.found as f64 / b.truth as f64,
                    ..b.clone()
                })
                .collect(),
            endpoint_error: EndpointError {
                median_px: median(&mut errors),
                p95_px: quantile(&mut errors, 0.95),
                max_px: errors.last().copied().unwrap_or(f64::NAN),
            },
            scored_backend: self
                .detectors
                .first()
                .map(Detector::backend_description)
                .unwrap_or_default(),
            speed,
        }
    }
}

impl BenchReport {
    /// The report as Markdown (report.md).
    pub fn to_markdown(&self, dataset: &str) -> String {
        let mut md = format!("# Detection benchmark: {dataset}\n\n");
        md += &format!(
            "{} frames, {} true streaks, {} found, {} false positives ({:.3} per frame); scored: {}.\n\n",
            self.frames,
            self.truth_streaks,
            self.found,
            self.false_positives,
            self.false_positives_per_frame,
            self.scored_backend
        );
        md += "## Completeness by matched-filter S/N\n\n| S/N | true | found | completeness |\n|---|---|---|---|\n";
        for b in &self.completeness {
            let hi = if b.hi.is_finite() {
                format!("{}", b.hi)
            } else {
                "inf".into()
            };
            md += &format!(
                "| {}-{} | {} | {} | {:.3} |\n",
                b.lo, hi, b.truth, b.found, b.completeness
            );
        }
        let e = &self.endpoint_error;
        md += &format!(
            "\n## Endpoint error of matched streaks\n\nmedian {:.2} px, 95th percentile {:.2} px, max {:.2} px\n",
            e.median_px, e.p95_px, e.max_px
        );
        md += "\n## Speed (median per frame)\n\n| backend | frames | ms/frame | frames/s | Mpx/s |\n|---|---|---|---|---|\n";
        for s in &self.speed {
            md += &format!(
                "| {} | {} | {:.1} | {:.2} | {:.2} |\n",
                s.backend, s.frames, s.median_ms, s.frames_per_s, s.megapixels_per_s
            );
        }
        md
    }

    /// Completeness against S/N as a PNG plot (bins at their centre on a linear S/N axis up to 60; grid lines every
    /// 10 in S/N and every 0.1 in completeness; the open last bin is drawn at 55), its axes labelled.
    pub fn completeness_png(&self) -> Vec<u8> {
        const W: u32 = 640;
        const H: u32 = 400;
        const PAD: f64 = 40.0;
        let mut img = image::RgbImage::from_pixel(W, H, image::Rgb([255, 255, 255]));
        let to_px = |snr: f64, c: f64| {
            let x = PAD + snr.min(60.0) / 60.0 * (W as f64 - 2.0 * PAD);
            let y = H as f64 - PAD - c * (H as f64 - 2.0 * PAD);
            (x, y)
        };
        let grey = image::Rgb([215, 215, 215]);
        for k in 0..=6 {
            let (x, _) = to_px(k as f64 * 10.0, 0.0);
            for y in PAD as u32..=(H - PAD as u32) {
                img.put_pixel(x as u32, y, grey);
            }
        }
        for k in 0..=10 {
            let (_, y) = to_px(0.0, k as f64 / 10.0);
            for x in PAD as u32..=(W - PAD as u32) {
                img.put_pixel(
                    x,
                    y as u32,
                    if k == 0 || k == 10 {
                        image::Rgb([0, 0, 0])
                    } else {
                        grey
                    },
                );
            }
        }
        let points: Vec<(f64, f64)> = self
            .completeness
            .iter()
            .map(|b| {
                to_px(
                    if b.hi.is_finite() {
                        (b.lo + b.hi) / 2.0
                    } else {
                        55.0
                    },
                    b.completeness,
                )
            })
            .collect();
        let blue = image::Rgb([20, 70, 200]);
        for pair in points.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize + 1;
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                img.put_pixel(
                    (x0 + t * (x1 - x0)) as u32,
                    (y0 + t * (y1 - y0)) as u32,
                    blue,
                );
            }
        }
        for &(x, y) in &points {
            for dx in -3i32..=3 {
                for dy in -3i32..=3 {
                    img.put_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32, blue);
                }
            }
        }
        let black = image::Rgb([0, 0, 0]);
        for k in 0..=6 {
            let label = (k * 10).to_string();
            let (x, y) = to_px(f64::from(k * 10), 0.0);
            let half = (label.len() * GLYPH_ADVANCE) as f64 / 2.0;
            draw_text(&mut img, (x - half) as u32, y as u32 + 6, &label, black);
        }
        for (c, label) in [(0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
            let (x, y) = to_px(0.0, c);
            let width = (label.len() * GLYPH_ADVANCE) as f64;
            draw_text(
                &mut img,
                (x - width - 4.0) as u32,
                y as u32 - 3,
                label,
                black,
            );
        }
        draw_text(
            &mut img,
            W - PAD as u32 - 3 * GLYPH_ADVANCE as u32,
            H - 16,
            "S/N",
            black,
        );
        draw_text(&mut img, PAD as u32, PAD as u32 - 14, "completeness", black);
        let mut png = vec![];
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("PNG encoding to memory");
        png
    }
}

/// Pixels from one glyph's left edge to the next's.
const GLYPH_ADVANCE: usize = 6;

/// A 5 x 7 bitmap font for the plot's labels: per character, 7 rows, bit 4 the leftmost column.
const GLYPHS: [(char, [u8; 7]); 24] = [
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1E, 0x01, 0x01, 0x0E, 0x01, 0x01, 0x1E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    ('/', [0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10]),
    ('S', [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E]),
    ('N', [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11]),
    ('c', [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E]),
    ('o', [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E]),
    ('m', [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11]),
    ('p', [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10]),
    ('l', [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('e', [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E]),
    ('t', [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06]),
    ('n', [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('s', [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E]),
    (' ', [0x00; 7]),
];

/// Draws `text` with its top-left corner at `(x, y)`; characters outside [`GLYPHS`] and pixels outside the image
/// are skipped.
fn draw_text(img: &mut image::RgbImage, x: u32, y: u32, text: &str, color: image::Rgb<u8>) {
    for (i, ch) in text.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
            continue;
        };
        let left = x + (i * GLYPH_ADVANCE) as u32;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5u32 {
                let (px, py) = (left + col, y + r as u32);
                if bits & (0x10 >> col) != 0 && px < img.width() && py < img.height() {
                    img.put_pixel(px, py, color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_draws_the_glyph_bits() {
        let mut img = image::RgbImage::from_pixel(20, 10, image::Rgb([255, 255, 255]));
        draw_text(&mut img, 1, 1, "1?", image::Rgb([0, 0, 0]));
        let inked = img.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        // '1' has 10 bits set; '?' is not in the font and draws nothing.
        assert_eq!(inked, 10);
        assert_eq!(img.get_pixel(3, 1).0, [0, 0, 0], "the top of the 1");
    }

    #[test]
    fn endpoint_error_takes_the_better_pairing() {
        let t = TruthRow {
            frame: "f".into(),
            x1: 0.0,
            y1: 0.0,
            x2: 100.0,
            y2: 0.0,
            snr: 9.0,
            object_id: String::new(),
        };
        let d = Streak {
            x1: 101.0,
            y1: 0.0,
            x2: 2.0,
            y2: 0.0,
            snr: 9.0,
            flux: 1.0,
            width_px: 2.0,
        };
        assert_eq!(endpoint_error(&d, &t), 2.0);
    }

    #[test]
    fn quantiles_of_small_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 0.95), 5.0);
        assert!(median(&mut []).is_nan());
    }
}
