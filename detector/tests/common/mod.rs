//! Synthetic frames for the detector tests: background, noise, stars (some saturated), hot
//! pixels and streaks of a chosen integrated S/N.

#![allow(dead_code)] // each test binary uses part of this module

use kessler_detector::{Detector, GpuContext, Streak};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::sync::OnceLock;

/// Background level at the frame centre, ADU.
pub const BACKGROUND_ADU: f32 = 1000.0;
/// Noise per pixel, ADU.
pub const NOISE_ADU: f32 = 10.0;
/// PSF Gaussian sigma, px.
pub const PSF_SIGMA_PX: f64 = 1.2;
/// Saturation level, ADU.
pub const SATURATION_ADU: f32 = 60000.0;

/// A new GPU context. A test that needs one fails (never skips) when the machine has no
/// adapter, with the error's "no wgpu adapter: install mesa-vulkan-drivers ..." message.
pub fn new_gpu() -> GpuContext {
    GpuContext::new().unwrap_or_else(|e| panic!("{e}"))
}

/// The GPU context shared by a test binary (see [`new_gpu`]).
pub fn gpu() -> &'static GpuContext {
    static GPU: OnceLock<GpuContext> = OnceLock::new();
    GPU.get_or_init(new_gpu)
}

/// A streak to draw: a segment from `(x1, y1)` to `(x2, y2)` (may leave the frame) with the
/// integrated S/N `snr` of its in-frame part (PSF-matched filter, white noise).
#[derive(Debug, Clone, Copy)]
pub struct TruthStreak {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub snr: f64,
}

/// Per-pixel signal (`[row, column]`, value) of a unit-flux-per-px segment convolved with the
/// PSF, over the frame.
fn streak_template(width: u32, height: u32, s: &TruthStreak) -> Vec<([usize; 2], f64)> {
    let (dx, dy) = (s.x2 - s.x1, s.y2 - s.y1);
    let length = dx.hypot(dy);
    let (ux, uy) = (dx / length, dy / length);
    let sigma = PSF_SIGMA_PX;
    let reach = 5.0 * sigma;
    let x0 = (s.x1.min(s.x2) - reach).max(0.0) as u32;
    let x1 = ((s.x1.max(s.x2) + reach).max(0.0) as u32).min(width - 1);
    let y0 = (s.y1.min(s.y2) - reach).max(0.0) as u32;
    let y1 = ((s.y1.max(s.y2) + reach).max(0.0) as u32).min(height - 1);
    let mut out = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (vx, vy) = (f64::from(x) - s.x1, f64::from(y) - s.y1);
            let t = vx * ux + vy * uy;
            let u = -vx * uy + vy * ux;
            if u.abs() > reach || t < -reach || t > length + reach {
                continue;
            }
            let across = (-u * u / (2.0 * sigma * sigma)).exp()
                / ((2.0 * std::f64::consts::PI).sqrt() * sigma);
            let along = 0.5
                * (libm::erf(t / (std::f64::consts::SQRT_2 * sigma))
                    - libm::erf((t - length) / (std::f64::consts::SQRT_2 * sigma)));
            out.push(([y as usize, x as usize], across * along));
        }
    }
    out
}

/// A `width` x `height` frame: sloped background, Gaussian noise, `stars` stars (a few
/// saturated), 20 hot pixels and the given streaks.
pub fn frame(
    seed: u64,
    width: u32,
    height: u32,
    stars: usize,
    streaks: &[TruthStreak],
) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0f32, NOISE_ADU).expect("valid normal");
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    // Row-major, so that the noise of a seed lands where it always did.
    let mut pixels = Array2::from_shape_fn((height as usize, width as usize), |(y, x)| {
        let (x, y) = (x as f64, y as f64);
        BACKGROUND_ADU + (0.05 * (x - cx) - 0.03 * (y - cy)) as f32 + noise.sample(&mut rng)
    });
    for _ in 0..stars {
        let x = rng.random_range(0.0..f64::from(width));
        let y = rng.random_range(0.0..f64::from(height));
        // Peak from 30 ADU up, N(> peak) ~ peak^-0.7 (many faint stars, few bright ones),
        // at most 300000 ADU: the brightest saturate.
        let peak = (30.0 * rng.random_range(1e-6f64..1.0).powf(-1.0 / 0.7)).min(3.0e5);
        let r = (5.0 * PSF_SIGMA_PX).ceil() as i64;
        for py in (y as i64 - r).max(0)..=(y as i64 + r).min(i64::from(height) - 1) {
            for px in (x as i64 - r).max(0)..=(x as i64 + r).min(i64::from(width) - 1) {
                let d2 = (px as f64 - x).powi(2) + (py as f64 - y).powi(2);
                let v = peak * (-d2 / (2.0 * PSF_SIGMA_PX * PSF_SIGMA_PX)).exp();
                pixels[[py as usize, px as usize]] += v as f32;
            }
        }
    }
    for _ in 0..20 {
        // One uniform draw over the row-major pixels.
        let i = rng.random_range(0..pixels.len());
        pixels.as_slice_mut().expect("standard layout")[i] += 5000.0;
    }
    for s in streaks {
        let template = streak_template(width, height, s);
        let norm: f64 = template.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        let flux_per_px = s.snr * f64::from(NOISE_ADU) / norm;
        for (at, v) in template {
            pixels[at] += (flux_per_px * v) as f32;
        }
    }
    pixels.mapv_inplace(|p| p.min(SATURATION_ADU));
    pixels
}

/// The part of the segment inside the frame's pixel centres `[0, w-1] x [0, h-1]`
/// (Liang-Barsky clipping).
pub fn clip_to_frame(s: &TruthStreak, width: u32, height: u32) -> [f64; 4] {
    let (dx, dy) = (s.x2 - s.x1, s.y2 - s.y1);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, s.x1),
        (dx, f64::from(width - 1) - s.x1),
        (-dy, s.y1),
        (dy, f64::from(height - 1) - s.y1),
    ] {
        if p == 0.0 {
            continue;
        }
        let r = q / p;
        if p < 0.0 {
            lo = lo.max(r);
        } else {
            hi = hi.min(r);
        }
    }
    [
        s.x1 + lo * dx,
        s.y1 + lo * dy,
        s.x1 + hi * dx,
        s.y1 + hi * dy,
    ]
}

/// Angle between the lines of two segments, deg in [0, 90].
pub fn angle_between_deg(a: [f64; 4], b: [f64; 4]) -> f64 {
    let ta = (a[3] - a[1]).atan2(a[2] - a[0]);
    let tb = (b[3] - b[1]).atan2(b[2] - b[0]);
    let d = (ta - tb).rem_euclid(std::f64::consts::PI).to_degrees();
    d.min(180.0 - d)
}

/// Largest endpoint distance, px, pairing the endpoints the best way round.
pub fn endpoint_error_px(a: [f64; 4], b: [f64; 4]) -> f64 {
    let d = |p: (f64, f64), q: (f64, f64)| (p.0 - q.0).hypot(p.1 - q.1);
    let same = d((a[0], a[1]), (b[0], b[1])).max(d((a[2], a[3]), (b[2], b[3])));
    let swapped = d((a[0], a[1]), (b[2], b[3])).max(d((a[2], a[3]), (b[0], b[1])));
    same.min(swapped)
}

pub fn segment(s: &Streak) -> [f64; 4] {
    [s.x1, s.y1, s.x2, s.y2]
}

/// Endpoint tolerance of a faint streak, px x (S/N per px)^2. Where a streak ends is a change
/// point in its profile along the line: with a signal of `mu` sigma per px, the log-likelihood
/// moves by `mu^2 / 2` per px, so the error of the end, in units of `1 / mu^2` px, follows the
/// argmax of a two-sided Brownian motion with drift `-|t| / 2` (Yao 1987, Ann. Stat. 15, 1321):
/// standard deviation about 5, heavy-tailed. 16 is about 3 of those standard deviations; for the
/// S/N 18 streak over 367 px (`mu` = 0.94) it allows 18 px. A bright streak gets the fixed
/// tolerance.
pub const ENDPOINT_NOISE_PX: f64 = 16.0;

/// Runs `detector` on a frame with `truth` and checks: every truth streak matched by a
/// detection within `max_angle_deg` and, at its endpoints, within the larger of
/// `max_endpoint_px` and [`ENDPOINT_NOISE_PX`]` / mu^2`; and no other detection.
/// Returns the largest angle and endpoint errors.
pub fn check_detection(
    detector: &Detector,
    pixels: ArrayView2<f32>,
    truth: &[TruthStreak],
    max_angle_deg: f64,
    max_endpoint_px: f64,
) -> (f64, f64) {
    let (width, height) = (pixels.ncols() as u32, pixels.nrows() as u32);
    let found = detector.detect(pixels).expect("detection runs");
    let mut used = vec![false; found.len()];
    let (mut worst_angle, mut worst_end) = (0.0f64, 0.0f64);
    for t in truth {
        let expected = clip_to_frame(t, width, height);
        let in_frame = (expected[2] - expected[0]).hypot(expected[3] - expected[1]);
        let mu = t.snr / in_frame.sqrt();
        let tolerance = max_endpoint_px.max(ENDPOINT_NOISE_PX / (mu * mu));
        let best = found
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, s)| {
                (
                    i,
                    angle_between_deg(expected, segment(s)),
                    endpoint_error_px(expected, segment(s)),
                )
            })
            .min_by(|a, b| a.2.total_cmp(&b.2));
        let Some((i, angle, end)) = best else {
            panic!(
                "[{}] streak {t:?} not found; detections: {found:?}",
                detector.backend_description()
            );
        };
        assert!(
            angle <= max_angle_deg && end <= tolerance,
            "[{}] streak {t:?} (in frame {expected:?}) matched {:?}: angle error {angle:.3} deg, \
             endpoint error {end:.2} px (tolerance {tolerance:.1}); all detections: {found:?}",
            detector.backend_description(),
            found[i]
        );
        used[i] = true;
        worst_angle = worst_angle.max(angle);
        worst_end = worst_end.max(end);
    }
    let extra: Vec<&Streak> = found
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(s, _)| s)
        .collect();
    assert!(
        extra.is_empty(),
        "[{}] false positives: {extra:?}",
        detector.backend_description()
    );
    (worst_angle, worst_end)
}
