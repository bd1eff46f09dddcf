//! `kessler bench`: detection quality and speed on a recorded dataset (DESIGN.md, "Recorded datasets").
//!
//! Quality is scored on the first backend's detections with the DESIGN.md match rule ([`crate::eval`]):
//! completeness per bin of true matched-filter S/N, false positives per frame, and the endpoint error of matched
//! streaks. Speed is the wall time of [`Detector::detect`] per frame for every backend given, as medians (the
//! machines are shared and noisy: compare backends measured in the same run).

use std::time::Instant;

use kessler_ingest::Frame;
use kessler_ingest::dataset::TruthRow;
use serde::{Deserialize, Serialize};

use crate::eval::matches;
use crate::{DetectError, Detector, Streak};

/// Lower edges of the S/N bins of the completeness table, one S/N unit wide near the detection limit; the last
/// bin is open.
pub const SNR_BIN_EDGES: [f64; 13] = [
    0.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0, 30.0, 50.0,
];

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
    /// Wilson 95% interval of the completeness, `[lower, upper]`.
    #[serde(default)]
    pub interval_95: [f64; 2],
}

/// Wilson score interval, 95%, of `k` successes in `n` trials (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it
/// over the normal approximation for small `n` and proportions near 0 or 1): `[0, 1]` when `n` is 0.
pub fn wilson_95(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_985;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    [(centre - half).max(0.0), (centre + half).min(1.0)]
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

/// Endpoint error of matched streaks, px: the larger of the two endpoint distances, under the better pairing; and
/// how well each streak's own sigmas ([`Streak::sigma_along_px`], [`Streak::sigma_cross_px`]) describe its errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointError {
    pub median_px: f64,
    pub p95_px: f64,
    pub max_px: f64,
    /// 95th percentile over the streaks of truth S/N 20 and up (NaN when there are none).
    #[serde(default)]
    pub p95_px_snr20: f64,
    /// RMS over every matched endpoint of its error along the true line over its `sigma_along_px` (1 when the
    /// sigmas are right).
    #[serde(default)]
    pub pull_rms_along: f64,
    /// The same across the line, over `sigma_cross_px`.
    #[serde(default)]
    pub pull_rms_cross: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub frames: usize,
    pub truth_streaks: usize,
    pub found: usize,
    pub false_positives: usize,
    pub false_positives_per_frame: f64,
    /// Wilson 95% interval of the false positives per frame, each frame a trial (a fair reading while false
    /// positives are rare, under one per frame).
    #[serde(default)]
    pub false_positives_interval_95: [f64; 2],
    pub completeness: Vec<SnrBin>,
    pub endpoint_error: EndpointError,
    /// The backend whose detections were scored.
    pub scored_backend: String,
    pub speed: Vec<Speed>,
    /// Completeness of every backend timed (the scored one first), for the plot.
    #[serde(default)]
    pub completeness_by_backend: Vec<(String, Vec<SnrBin>)>,
    /// The detection threshold of each frame size benchmarked.
    #[serde(default)]
    pub thresholds: Vec<ThresholdUsed>,
}

/// The detection threshold the benchmark ran at on frames of one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdUsed {
    pub width: u32,
    pub height: u32,
    /// S/N.
    pub threshold: f64,
    /// Where it came from: "fixed", or the threshold with its false-alarm rate and calibration
    /// ([`crate::threshold::Chosen`]'s text).
    pub source: String,
}

/// Accumulates frames one at a time (so a dataset never needs to fit in memory).
pub struct Bench<'a> {
    detectors: &'a [Detector],
    times: Vec<Vec<(f64, f64)>>,
    frames: usize,
    truth_streaks: usize,
    found: usize,
    false_positives: usize,
    bins: Vec<SnrBin>,
    /// Per backend, per bin: true streaks it found.
    found_by_backend: Vec<Vec<usize>>,
    /// Per matched streak: its endpoint error, px, and its truth S/N.
    endpoint_errors: Vec<(f64, f64)>,
    /// Per matched endpoint: (error along the true line / sigma_along_px, error across / sigma_cross_px).
    pulls: Vec<(f64, f64)>,
    thresholds: Vec<ThresholdUsed>,
}

/// Each detected endpoint with the truth endpoint it is paired with, `[x, y]` px, under the pairing whose larger
/// distance is smaller (one frame cannot tell which end is which).
fn paired(d: &Streak, t: &TruthRow) -> [([f64; 2], [f64; 2]); 2] {
    let (d1, d2, t1, t2) = ([d.x1, d.y1], [d.x2, d.y2], [t.x1, t.y1], [t.x2, t.y2]);
    let dist = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    if dist(d1, t1).max(dist(d2, t2)) <= dist(d1, t2).max(dist(d2, t1)) {
        [(d1, t1), (d2, t2)]
    } else {
        [(d1, t2), (d2, t1)]
    }
}

fn endpoint_error(d: &Streak, t: &TruthRow) -> f64 {
    paired(d, t)
        .iter()
        .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
        .fold(0.0, f64::max)
}

/// Errors of `d`'s endpoints along and across the true line over their sigmas.
fn pulls(d: &Streak, t: &TruthRow) -> Vec<(f64, f64)> {
    let length = (t.x2 - t.x1).hypot(t.y2 - t.y1).max(f64::MIN_POSITIVE);
    let u = [(t.x2 - t.x1) / length, (t.y2 - t.y1) / length];
    paired(d, t)
        .iter()
        .map(|(a, b)| {
            let e = [a[0] - b[0], a[1] - b[1]];
            let along = e[0] * u[0] + e[1] * u[1];
            let across = e[1] * u[0] - e[0] * u[1];
            (along / d.sigma_along_px, across / d.sigma_cross_px)
        })
        .collect()
}

/// Root mean square of `values` (NaN when empty).
fn rms(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v * v, n + 1));
    (sum / n as f64).sqrt()
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
    /// A benchmark of `detectors` (the first is scored, all are timed).
    pub fn new(detectors: &'a [Detector]) -> Bench<'a> {
        let bins = SNR_BIN_EDGES
            .iter()
            .enumerate()
            .map(|(i, &lo)| SnrBin {
                lo,
                hi: SNR_BIN_EDGES.get(i + 1).copied().unwrap_or(f64::INFINITY),
                truth: 0,
                found: 0,
                completeness: 0.0,
                interval_95: [0.0, 1.0],
            })
            .collect();
        Bench {
            detectors,
            times: vec![vec![]; detectors.len()],
            frames: 0,
            truth_streaks: 0,
            found: 0,
            false_positives: 0,
            found_by_backend: vec![vec![0; SNR_BIN_EDGES.len()]; detectors.len()],
            bins,
            endpoint_errors: vec![],
            pulls: vec![],
            thresholds: vec![],
        }
    }

    /// Detect with every backend, time each, and score the first one's streaks (the others' completeness too)
    /// against `truth`, the frame's truth rows.
    pub fn add(&mut self, frame: &Frame, truth: &[TruthRow]) -> Result<(), DetectError> {
        let (height, width) = frame.pixels.dim();
        let (width, height) = (width as u32, height as u32);
        if let Some(scored) = self.detectors.first()
            && !self
                .thresholds
                .iter()
                .any(|t| (t.width, t.height) == (width, height))
        {
            let (threshold, source) = match scored.threshold_for(width, height)? {
                Some(chosen) => (f64::from(chosen.threshold), chosen.to_string()),
                None => (f64::from(scored.config().snr_threshold), "fixed".into()),
            };
            self.thresholds.push(ThresholdUsed {
                width,
                height,
                threshold,
                source,
            });
        }
        let mut scored = vec![];
        for (k, detector) in self.detectors.iter().enumerate() {
            let started = Instant::now();
            let streaks = detector.detect(frame.pixels.view())?;
            let seconds = started.elapsed().as_secs_f64();
            self.times[k].push((seconds, frame.pixels.len() as f64 / 1e6 / seconds));
            for t in truth {
                if streaks.iter().any(|d| matches(d, t)) {
                    let bin = SNR_BIN_EDGES.iter().rposition(|&lo| t.snr >= lo);
                    self.found_by_backend[k][bin.expect("the first bin starts at 0")] += 1;
                }
            }
            if k == 0 {
                scored = streaks;
            }
        }
        self.frames += 1;
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
                .map(|d| (endpoint_error(d, t), d))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((error, d)) = best {
                self.found += 1;
                self.endpoint_errors.push((error, t.snr));
                self.pulls.extend(pulls(d, t));
            }
        }
        Ok(())
    }

    /// The report so far.
    pub fn report(&self) -> BenchReport {
        // Per backend; the scored one (first) is also the report's `completeness`.
        let completeness_by_backend: Vec<(String, Vec<SnrBin>)> = self
            .detectors
            .iter()
            .zip(&self.found_by_backend)
            .map(|(d, found)| {
                let bins = self
                    .bins
                    .iter()
                    .zip(found)
                    .filter(|(b, _)| b.truth > 0)
                    .map(|(b, &found)| SnrBin {
                        found,
                        completeness: found as f64 / b.truth as f64,
                        interval_95: wilson_95(found, b.truth),
                        ..b.clone()
                    })
                    .collect();
                (d.backend_description(), bins)
            })
            .collect();
        let mut errors: Vec<f64> = self.endpoint_errors.iter().map(|e| e.0).collect();
        let mut bright: Vec<f64> = self
            .endpoint_errors
            .iter()
            .filter(|e| e.1 >= 20.0)
            .map(|e| e.0)
            .collect();
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
            false_positives_interval_95: wilson_95(
                self.false_positives.min(self.frames),
                self.frames,
            ),
            completeness: completeness_by_backend
                .first()
                .map(|(_, bins)| bins.clone())
                .unwrap_or_default(),
            endpoint_error: EndpointError {
                median_px: median(&mut errors),
                p95_px: quantile(&mut errors, 0.95),
                max_px: errors.last().copied().unwrap_or(f64::NAN),
                p95_px_snr20: quantile(&mut bright, 0.95),
                pull_rms_along: rms(self.pulls.iter().map(|p| p.0)),
                pull_rms_cross: rms(self.pulls.iter().map(|p| p.1)),
            },
            scored_backend: self
                .detectors
                .first()
                .map(Detector::backend_description)
                .unwrap_or_default(),
            speed,
            completeness_by_backend,
            thresholds: self.thresholds.clone(),
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
        let [lo, hi] = self.false_positives_interval_95;
        md += &format!("False positives per frame, 95% interval: {lo:.3}-{hi:.3}.\n\n");
        for t in &self.thresholds {
            md += &match t.source.as_str() {
                "fixed" => format!(
                    "Threshold on {}x{} frames: S/N {:.2} (fixed).\n\n",
                    t.width, t.height, t.threshold
                ),
                chosen => format!(
                    "Threshold on {}x{} frames: {chosen}.\n\n",
                    t.width, t.height
                ),
            };
        }
        md += "## Completeness by matched-filter S/N\n\n| S/N | true | found | completeness | 95% interval |\n\
               |---|---|---|---|---|\n";
        for b in &self.completeness {
            let hi = if b.hi.is_finite() {
                format!("{}", b.hi)
            } else {
                "inf".into()
            };
            md += &format!(
                "| {}-{} | {} | {} | {:.3} | {:.3}-{:.3} |\n",
                b.lo, hi, b.truth, b.found, b.completeness, b.interval_95[0], b.interval_95[1]
            );
        }
        let e = &self.endpoint_error;
        md += &format!(
            "\n## Endpoint error of matched streaks\n\nmedian {:.2} px, 95th percentile {:.2} px, max {:.2} px; \
             95th percentile at truth S/N 20 and up {:.2} px\n\nRMS of error / sigma (1 when each streak's sigmas are \
             right): along the line {:.2}, across it {:.2}\n",
            e.median_px, e.p95_px, e.max_px, e.p95_px_snr20, e.pull_rms_along, e.pull_rms_cross
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

    /// Completeness against matched-filter S/N as a PNG plot: one curve per backend the report scored (today the
    /// first backend given: see [`Bench::new`]), each bin at its centre, the open last bin at 55.
    pub fn completeness_png(&self) -> Vec<u8> {
        let curves: Vec<(&str, &[SnrBin])> = if self.completeness_by_backend.is_empty() {
            vec![(self.scored_backend.as_str(), self.completeness.as_slice())]
        } else {
            self.completeness_by_backend
                .iter()
                .map(|(backend, bins)| (backend.as_str(), bins.as_slice()))
                .collect()
        };
        completeness_plot(&curves)
    }
}

/// Size of completeness.png, px.
pub const COMPLETENESS_PNG_SIZE: (u32, u32) = (800, 500);

/// Where a bin is drawn on the S/N axis: its centre, or 55 for the open last bin (the axis ends at 60).
fn bin_centre(b: &SnrBin) -> f64 {
    if b.hi.is_finite() {
        (b.lo + b.hi) / 2.0
    } else {
        55.0
    }
}

/// The plot of [`BenchReport::completeness_png`] for any number of `(backend, bins)` curves: S/N 0-60 with ticks
/// every 10, completeness 0-1 with ticks every 0.1, both axes labelled, a legend naming each curve's backend.
/// The labels are drawn with the font bundled in detector/fonts (no system font library is needed).
pub fn completeness_plot(curves: &[(&str, &[SnrBin])]) -> Vec<u8> {
    use plotters::prelude::*;

    static FONT: std::sync::Once = std::sync::Once::new();
    FONT.call_once(|| {
        let registered = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSans-ASCII.ttf"),
        );
        assert!(registered.is_ok(), "the bundled font parses");
    });
    let (w, h) = COMPLETENESS_PNG_SIZE;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    // Drawing into memory with the bundled font fails only on a bug here, never on the data.
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Completeness by matched-filter S/N", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..60.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_labels(7)
            .y_labels(11)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .x_desc("S/N (matched filter, integrated along the streak)")
            .y_desc("completeness (found / true)")
            .axis_desc_style(("sans-serif", 18))
            .label_style(("sans-serif", 15))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()?;
        const COLOURS: [RGBColor; 4] = [
            RGBColor(20, 70, 200),
            RGBColor(210, 80, 20),
            RGBColor(20, 150, 60),
            RGBColor(140, 40, 160),
        ];
        for (k, (backend, bins)) in curves.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let points: Vec<(f64, f64)> = bins
                .iter()
                .map(|b| (bin_centre(b), b.completeness))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(*backend)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.expect("drawing completeness.png in memory");
    let img = image::RgbImage::from_raw(w, h, rgb).expect("a buffer of w x h RGB pixels");
    let mut png = vec![];
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("PNG encoding to memory");
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(lo: f64, hi: f64, completeness: f64) -> SnrBin {
        SnrBin {
            lo,
            hi,
            truth: 10,
            found: (completeness * 10.0) as usize,
            completeness,
            interval_95: wilson_95((completeness * 10.0) as usize, 10),
        }
    }

    /// The PNG decodes at its size, is not blank, and each curve is drawn in its own colour.
    #[test]
    fn completeness_png_decodes_with_a_curve_per_backend() {
        let gpu = [
            bin(5.0, 7.0, 0.1),
            bin(7.0, 10.0, 0.6),
            bin(50.0, f64::INFINITY, 1.0),
        ];
        let cpu = [
            bin(5.0, 7.0, 0.0),
            bin(7.0, 10.0, 0.5),
            bin(10.0, 15.0, 0.9),
        ];
        let png = completeness_plot(&[("gpu", &gpu), ("cpu", &cpu)]);
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), COMPLETENESS_PNG_SIZE);
        let count = |rgb: [u8; 3]| img.pixels().filter(|p| p.0 == rgb).count();
        let white = count([255, 255, 255]);
        let total = img.pixels().count();
        assert!(
            white < total * 97 / 100 && white > total / 2,
            "{white} of {total} white"
        );
        assert!(count([0, 0, 0]) > 1000, "axes and labels in black");
        assert!(count([20, 70, 200]) > 200, "the first curve");
        assert!(count([210, 80, 20]) > 200, "the second curve");
    }

    #[test]
    fn pulls_are_errors_along_and_across_the_true_line_over_the_sigmas() {
        // Truth along +x; the detection's ends, given in the other order, 2 px long and 1 px to
        // +y (across: +y is +90 deg from +x).
        let t = TruthRow {
            frame: "f".into(),
            x1: 10.0,
            y1: 50.0,
            x2: 110.0,
            y2: 50.0,
            snr: 20.0,
            object_id: String::new(),
        };
        let d = Streak {
            x1: 112.0,
            y1: 51.0,
            x2: 8.0,
            y2: 51.0,
            snr: 20.0,
            flux: 1.0,
            width_px: 2.8,
            detection_snr: 20.0,
            sigma_along_px: 2.0,
            sigma_cross_px: 0.5,
        };
        let p = pulls(&d, &t);
        assert_eq!(p, vec![(1.0, 2.0), (-1.0, 2.0)]);
        assert!((rms(p.iter().map(|p| p.0)) - 1.0).abs() < 1e-12);
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
            detection_snr: 0.0,
            sigma_along_px: 1.0,
            sigma_cross_px: 0.5,
        };
        assert_eq!(endpoint_error(&d, &t), 2.0);
    }

    #[test]
    fn wilson_interval_matches_published_values() {
        // Brown, Cai & DasGupta (2001), and any calculator: 0 of 10 -> [0, 0.2775]; 5 of 10 -> [0.2366, 0.7634].
        let [lo, hi] = wilson_95(0, 10);
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-4, "{hi}");
        let [lo, hi] = wilson_95(5, 10);
        assert!((lo - 0.2366).abs() < 1e-4 && (hi - 0.7634).abs() < 1e-4);
        assert_eq!(wilson_95(0, 0), [0.0, 1.0]);
    }

    #[test]
    fn quantiles_of_small_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 0.95), 5.0);
        assert!(median(&mut []).is_nan());
    }
}
