//! From line-transform peaks to measured streaks (CPU, shared by both backends).
//!
//! 1. Peaks of one streak are merged: a peak within `merge_angle_deg` and `merge_offset_px`
//!    of a stronger one is dropped.
//! 2. Stars are masked: a local maximum at least `STAR_PEAK_SIGMA` above the background that
//!    is round (opposite probes balanced on every axis) and isolated (faded at 2 PSF sigma in
//!    every direction, unlike a point on a streak or near its tip) is masked out to where it
//!    fades into the noise. Masked samples carry no information, neither for nor against a
//!    streak.
//! 3. Candidates are screened in parallel on the unrefined line, then refined one by one,
//!    strongest first, on the normalized, clipped image `z`:
//!    - the profile along the line (the matched filter of the PSF across it, binned by each
//!      pixel's exact along-line coordinate, [`profile_at`]) gives the
//!      extent: the segment of highest S/N, then the maximum-sum segment of
//!      `profile - level/2` (its ends are where the profile crosses half its level; outliers
//!      far above the level count for nothing);
//!    - centroids across the line in chunks, fitted by weighted least squares, move and turn
//!      the line; extent and fit are repeated twice;
//!    - flux, width and S/N are measured on the pixels around the final segment.
//! 4. A candidate is kept when its segment is at least `min_length_px` long and its
//!    matched-filter S/N on the clipped image, with the sources on the line left out (the
//!    detection statistic), reaches `snr_threshold`. Two shape tests then ask for a line: its
//!    robust S/N (median of the profile x sqrt(length), blind to a few stars on the line)
//!    reaches `SHAPE_FRACTION` of the threshold and no quarter of it falls significantly short
//!    (a chain of stars), and so does the robust S/N once the local background, read on two
//!    parallel side bands, is taken off the profile (a streak is a thin line; the halo of a
//!    galaxy or the wings of a bright star lift the side bands as well).
//!    A kept streak is masked in turn, so the weaker peaks it causes (lines crossing it at
//!    small angles) find nothing left and are rejected.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip, s};
use rayon::prelude::*;

use crate::cpu::{BackgroundGrid, FrtLevel, Peak, size};
use crate::{DetectorConfig, MAX_PSF_SIGMA_PX, Streak};

/// Extent/fit rounds per candidate.
const FIT_ROUNDS: usize = 4;
/// Before the line is refined, a candidate goes on when its S/N reaches this fraction of the
/// threshold (the unrefined line may miss part of the signal).
const EARLY_REJECT_FRACTION: f64 = 0.6;
/// The detection statistic is the streak's matched-filter S/N ([`mean_snr`]); its shape tests
/// ask its robust S/N (median x sqrt(length), blind to a few bright samples, with its uniformity
/// test), and its robust S/N less the local background, to reach this fraction of the threshold.
///
/// Measured (512 x 512, `kessler simulate --snr-grid 6,7,8,10,20,30 --frames 800 --seed 11`, and
/// the two real frames of `detector/tests/real_frames.rs`): asking the shape tests for half the
/// streak's own S/N instead found 39/71/93% at S/N 6/7/8 against 35/62/88% at threshold 5.93,
/// but let 5 false streaks through on `astride_long.fits` (chains of its elongated stars and
/// faint galaxies, detection S/N 6.1 to 6.8) and 3 on `cutout_bi327715.fits`; at the fraction 1
/// both frames are clean from threshold 5.75 up.
const SHAPE_FRACTION: f64 = 1.0;
/// A profile sample this far above the streak's level (sigma) is an outlier, not streak.
const OUTLIER_SIGMA: f64 = 4.0;
/// Ratio of successive segment lengths tried for the extent's first guess.
const SEGMENT_LENGTH_STEP: f64 = 1.05;
/// Step between the starts of the segments of one length tried for the extent's first guess,
/// as a fraction of the length (at least 1 px): the best segment tried overlaps the best of all
/// by at least 1 - this fraction - the length step, and only its median level is kept.
const SEGMENT_START_STEP: f64 = 0.025;
/// Each quarter of a streak carries at least this fraction of its median level, unless it falls
/// short of the whole median by no more than `QUARTER_SHORTFALL_SIGMA` times its noise.
const MIN_QUARTER_FRACTION: f64 = 0.5;
/// How far (in the noise of its median, `1.25 / sqrt(n)` for `n` unit-noise samples) a quarter
/// must fall below the whole median to fail: at the detection limit a streak's level is near
/// 0.5 to 1 sigma per sample, so that the fraction alone rejected a third of real streaks there
/// (issue 3's note); with both, a real streak's quarter fails at about 2.6 sigma (the quarter is
/// part of the whole), a chain of two or three sources along a line with nothing between them
/// still fails.
const QUARTER_SHORTFALL_SIGMA: f64 = 3.0;
/// Standard deviation of the median of `n` unit normal samples, times `sqrt(n)`: sqrt(pi / 2).
const MEDIAN_NOISE: f64 = 1.253_314_137;
/// Shortest chunk of the centroid fit, px.
const MIN_CHUNK_PX: f64 = 12.0;
/// Chunks of the centroid fit per streak, at most.
const MAX_CHUNKS: f64 = 8.0;
/// A chunk enters the line fit when its S/N across the line is at least this.
const MIN_CHUNK_SNR: f64 = 2.0;
/// A star candidate peaks at least this far above the background, sigma.
const STAR_PEAK_SIGMA: f32 = 5.0;
/// A star is round: the sum of two opposite probes at `STAR_PROBE_PX`, over its weakest
/// axis, is at least this fraction of its strongest axis (a point on a streak with a PSF
/// sigma of 1.2 px scores about 0.46 at 1.5 px).
const STAR_ROUNDNESS: f32 = 0.65;
/// A star is isolated: at `STAR_ISOLATION_SIGMAS` PSF sigma from its peak, every probe is at
/// most this fraction of the peak plus `STAR_ISOLATION_NOISE` (a Gaussian star: 0.14 of its
/// peak; a point on a streak, or near its tip, has the streak itself there in one direction).
const STAR_ISOLATION: f32 = 0.35;
/// Noise allowance of the isolation probes, sigma.
const STAR_ISOLATION_NOISE: f32 = 1.0;
/// Radius of the isolation probes, in PSF sigma.
const STAR_ISOLATION_SIGMAS: f32 = 2.0;
/// Radius at which roundness is probed, px.
const STAR_PROBE_PX: f32 = 1.5;
/// A star's mask extends to where it falls under this level, sigma, plus 1 px.
const STAR_EDGE_SIGMA: f32 = 1.0;
/// Largest star mask radius, px.
const MAX_STAR_RADIUS_PX: f32 = 20.0;
/// Upper clip of the profile samples in the extent search and the plain S/N, sigma: a star left
/// on the line (one too faint for the star mask, or one the streak itself keeps from looking
/// isolated) adds at most a few samples of this, instead of capturing the extent; a streak at
/// the detection limit is under 1 sigma per sample, and one that reaches the clip is far above
/// the threshold. The robust S/N and its uniformity test see the samples unclipped, so that a
/// bright compact source (a galaxy's core) does not look uniform.
const PROFILE_CLIP_SIGMA: f64 = 3.0;
/// Half-width of the profile along a line, in PSF sigma: each bin sums the pixels up to this
/// far across the line (the PSF weight there is exp(-4.5) of the centre's).
const PROFILE_REACH_SIGMA: f64 = 3.0;
/// The side bands of the local background lie this many PSF sigma beyond the profile's
/// reach on either side: the nearest side pixel is 4 sigma from the streak's centre line,
/// where its light has fallen to exp(-8) of its peak (still under 3% if the real PSF is 1.5
/// times the configured one).
const SIDE_GAP_SIGMA: f64 = 4.0;
/// Bin width of the cross-line profile for the width fit, px.
const CROSS_BIN_PX: f64 = 0.5;
/// Half-width of the cross-line profile for the width fit, in PSF sigma.
const WIDTH_WINDOW_SIGMA: f64 = 4.0;
/// Widest cross profile of a streak, in PSF sigma: a line is one PSF wide (up to about twice
/// the configured PSF on real frames, whose seeing varies); a profile that fits no Gaussian
/// narrower than this is extended light along the line (a galaxy, the halo of a bright star).
const MAX_WIDTH_SIGMAS: f64 = 2.5;
/// The endpoints' measured cross-line errors over the Cramer-Rao bound of a line fit
/// ([`endpoint_sigmas`]): with 1, the RMS of error / sigma across the line was 1.63 on the
/// 800-frame S/N grid of `kessler simulate --snr-grid 6,7,8,10,20,30 --seed 11` (median |pull|
/// 0.63 to 1.06 by S/N, against 0.67 for a unit normal).
const CROSS_SIGMA_EFFICIENCY: f64 = 1.5;
/// FWHM of a Gaussian over its sigma: 2 sqrt(2 ln 2).
const FWHM_PER_SIGMA: f64 = 2.354_820_045;

/// A line `p + t d` in pixel coordinates, `d` a unit vector; `n` is `d` turned by +90 deg.
#[derive(Debug, Clone, Copy)]
struct Line {
    p: [f64; 2],
    d: [f64; 2],
}

impl Line {
    /// The line through an FRT peak's segment, from its midpoint.
    fn from_peak(peak: &Peak) -> Line {
        let level = FrtLevel {
            orientation: peak.orientation,
            level: peak.level,
            // Only the block height and the orientation matter to the segment.
            rows: 0,
            cols: 0,
            padded_rows: 0,
        };
        let [x1, y1, x2, y2] = level.segment(peak.block, peak.shift, peak.x);
        let length = (x2 - x1).hypot(y2 - y1);
        Line {
            p: [0.5 * (x1 + x2), 0.5 * (y1 + y2)],
            d: [(x2 - x1) / length, (y2 - y1) / length],
        }
    }

    fn n(&self) -> [f64; 2] {
        [-self.d[1], self.d[0]]
    }

    fn at(&self, t: f64, u: f64) -> [f64; 2] {
        let n = self.n();
        [
            self.p[0] + t * self.d[0] + u * n[0],
            self.p[1] + t * self.d[1] + u * n[1],
        ]
    }

    /// Along-line and across-line coordinates of point `q`.
    fn coords(&self, q: [f64; 2]) -> (f64, f64) {
        let v = [q[0] - self.p[0], q[1] - self.p[1]];
        let n = self.n();
        (
            v[0] * self.d[0] + v[1] * self.d[1],
            v[0] * n[0] + v[1] * n[1],
        )
    }

    /// Range of `t` for which the line is inside the frame's pixel area.
    fn chord(&self, width: u32, height: u32) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for (axis, extent) in [(0, width), (1, height)] {
            let (a, b) = (-0.5, f64::from(extent) - 0.5);
            if self.d[axis].abs() < 1e-12 {
                if self.p[axis] < a || self.p[axis] > b {
                    return None;
                }
                continue;
            }
            let t1 = (a - self.p[axis]) / self.d[axis];
            let t2 = (b - self.p[axis]) / self.d[axis];
            lo = lo.max(t1.min(t2));
            hi = hi.min(t1.max(t2));
        }
        (hi > lo).then_some((lo, hi))
    }
}

/// The normalized image, sampled at real coordinates.
struct Image<'a> {
    z: ArrayView2<'a, f32>,
    /// Stars and accepted streaks: no information about a candidate there (z is 0 there too).
    masked: ArrayView2<'a, bool>,
}

impl Image<'_> {
    /// `(width, height)`, px.
    fn size(&self) -> (u32, u32) {
        size(&self.z)
    }

    /// `[row, column]` of the pixel nearest to `q`, if inside the frame.
    fn index(&self, q: [f64; 2]) -> Option<[usize; 2]> {
        let (width, height) = self.size();
        let (x, y) = (q[0].round(), q[1].round());
        (x >= 0.0 && y >= 0.0 && x < f64::from(width) && y < f64::from(height))
            .then_some([y as usize, x as usize])
    }

    fn nearest(&self, q: [f64; 2]) -> Option<f64> {
        self.index(q).map(|at| f64::from(self.z[at]))
    }

    fn bilinear(&self, q: [f64; 2]) -> Option<f64> {
        let (width, height) = self.size();
        let (x0, y0) = (q[0].floor(), q[1].floor());
        let (fx, fy) = (q[0] - x0, q[1] - y0);
        if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= f64::from(width) || y0 + 1.0 >= f64::from(height) {
            return self.nearest(q);
        }
        let (x, y) = (x0 as usize, y0 as usize);
        let v = |y: usize, x: usize| f64::from(self.z[[y, x]]);
        let top = v(y, x) + (v(y, x + 1) - v(y, x)) * fx;
        let bottom = v(y + 1, x) + (v(y + 1, x + 1) - v(y + 1, x)) * fx;
        Some(top + (bottom - top) * fy)
    }
}

/// Streaks from the `peaks` of a frame (`pixels` in ADU, `grid` its background), strongest
/// first.
pub(crate) fn streaks(
    pixels: ArrayView2<f32>,
    grid: &BackgroundGrid,
    peaks: &[Peak],
    config: &DetectorConfig,
) -> Vec<Streak> {
    // The normalized clipped image of stage 2.
    let mut z = crate::cpu::normalize(pixels, grid, config);
    let raw = grid.map(
        pixels,
        |p, [bg, noise]| {
            if noise > 0.0 { (p - bg) / noise } else { 0.0 }
        },
    );
    let mut masked = star_mask(raw.view(), config.psf_sigma_px);
    // The point sources the transform left out (bright star cores, hot pixels, cosmic rays) and
    // the pixels next to them: a star too close to something to look isolated is still no
    // evidence for a streak. Only their cores: a star on a streak's path hides no more of it
    // than it must (the profile clip bounds what the star's wings add).
    let reach = 1;
    let (h, w) = z.dim();
    for ((y, x), _) in crate::cpu::point_sources_but_tips(z.view(), config)
        .indexed_iter()
        .filter(|(_, p)| **p)
    {
        let rows = y.saturating_sub(reach)..=(y + reach).min(h - 1);
        let cols = x.saturating_sub(reach)..=(x + reach).min(w - 1);
        masked.slice_mut(s![rows, cols]).fill(true);
    }
    Zip::from(&mut z).and(&masked).for_each(|value, &m| {
        if m {
            *value = 0.0;
        }
    });
    // Most candidates are lines through stars: screen them all in parallel first. Blanking
    // accepted streaks below only removes signal, so a line screened out here would fail later.
    let candidates: Vec<(Line, [f64; 2])> = {
        let image = Image {
            z: z.view(),
            masked: masked.view(),
        };
        merge(peaks, config)
            .into_par_iter()
            .filter_map(|line| screen(&image, &line, config).map(|extent| (line, extent)))
            .collect()
    };
    // In order, each candidate refined on the frame less the streaks accepted before it. A
    // chunk of candidates is refined in parallel on the same frame; the results up to the first
    // accepted one are what the candidates alone would give, and the rest of the chunk goes
    // round again on the frame with that streak blanked. The screen's extent stands for the
    // first round of the refinement only while nothing is blanked (on a blanked frame it can
    // lead the first fit astray: a false streak on `cutout_bi327715.fits`).
    let chunk = 4 * rayon::current_num_threads();
    let mut rest = &candidates[..];
    let mut found: Vec<Streak> = Vec::new();
    while !rest.is_empty() {
        let image = Image {
            z: z.view(),
            masked: masked.view(),
        };
        let measured = Measured {
            pixels,
            grid,
            raw: raw.view(),
        };
        let results: Vec<Option<(Candidate, Streak)>> = rest[..chunk.min(rest.len())]
            .par_iter()
            .map(|&(line, extent)| {
                let screened = found.is_empty().then_some(extent);
                let candidate = refine(&image, line, screened, config)?;
                let streak = measure(&measured, &image, &candidate, config)?;
                Some((candidate, streak))
            })
            .collect();
        let accepted = results
            .into_iter()
            .enumerate()
            .find_map(|(i, r)| r.map(|r| (i, r)));
        let Some((i, (Candidate { line, ta, tb, .. }, streak))) = accepted else {
            rest = &rest[chunk.min(rest.len())..];
            continue;
        };
        rest = &rest[i + 1..];
        blank(z.view_mut(), masked.view_mut(), &line, ta, tb, config);
        match found
            .iter_mut()
            .find(|kept| collinear(kept, &streak, config))
        {
            Some(kept) => *kept = joined(kept, &streak),
            None => found.push(streak),
        }
    }
    found.sort_by(|a: &Streak, b| b.snr.total_cmp(&a.snr));
    found
}

/// Whether `piece` lies on the line of `kept`: directions within `merge_angle_deg` and both
/// endpoints within `merge_offset_px` of it (the rest of a streak that a star, a gap or the
/// extent search cut off).
fn collinear(kept: &Streak, piece: &Streak, config: &DetectorConfig) -> bool {
    same_line(
        &streak_line(kept),
        streak_line(piece).d,
        &[[piece.x1, piece.y1], [piece.x2, piece.y2]],
        config,
    )
}

/// Whether direction `d` is within `merge_angle_deg` of `line` and every point of `points` within
/// `merge_offset_px` of it: the test that merges peaks and joins pieces of one streak.
fn same_line(line: &Line, d: [f64; 2], points: &[[f64; 2]], config: &DetectorConfig) -> bool {
    let cos = (line.d[0] * d[0] + line.d[1] * d[1]).abs();
    let offset = f64::from(config.merge_offset_px);
    cos >= f64::from(config.merge_angle_deg).to_radians().cos()
        && points.iter().all(|&q| line.coords(q).1.abs() <= offset)
}

/// The line through a streak's endpoints, from its first endpoint.
fn streak_line(s: &Streak) -> Line {
    let length = s.length_px().max(f64::MIN_POSITIVE);
    Line {
        p: [s.x1, s.y1],
        d: [(s.x2 - s.x1) / length, (s.y2 - s.y1) / length],
    }
}

/// One streak from `kept` and a collinear `piece` of it: the endpoints span both along the
/// line of `kept`; S/N, flux add as independent pieces (`snr = sqrt(snr1^2 + snr2^2)`);
/// the width is the S/N-weighted mean.
fn joined(kept: &Streak, piece: &Streak) -> Streak {
    let line = streak_line(kept);
    let ts = [
        0.0,
        kept.length_px(),
        line.coords([piece.x1, piece.y1]).0,
        line.coords([piece.x2, piece.y2]).0,
    ];
    let lo = ts.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let [x1, y1] = line.at(lo, 0.0);
    let [x2, y2] = line.at(hi, 0.0);
    let (w1, w2) = (kept.snr.max(0.0), piece.snr.max(0.0));
    Streak {
        x1,
        y1,
        x2,
        y2,
        snr: kept.snr.hypot(piece.snr),
        detection_snr: kept.detection_snr.hypot(piece.detection_snr),
        // Each end is the end of one piece: the larger of the two pieces' errors.
        sigma_along_px: kept.sigma_along_px.max(piece.sigma_along_px),
        sigma_cross_px: kept.sigma_cross_px.max(piece.sigma_cross_px),
        flux: kept.flux + piece.flux,
        width_px: (w1 * kept.width_px + w2 * piece.width_px) / (w1 + w2).max(f64::MIN_POSITIVE),
    }
}

/// Pixels of stars in the unclipped normalized image `raw` (see the module documentation).
fn star_mask(raw: ArrayView2<f32>, psf_sigma: f32) -> Array2<bool> {
    let (h, w) = (raw.nrows() as i32, raw.ncols() as i32);
    let pixel = |x: i32, y: i32| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            0.0
        } else {
            raw[[y as usize, x as usize]]
        }
    };
    // Bilinear, so that the diagonal probes are as far out as the axial ones.
    let at = |x: f32, y: f32| -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (xi, yi) = (x0 as i32, y0 as i32);
        let top = pixel(xi, yi) * (1.0 - fx) + pixel(xi + 1, yi) * fx;
        let bottom = pixel(xi, yi + 1) * (1.0 - fx) + pixel(xi + 1, yi + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    // Probes at 45 deg steps; probe k and probe k + 4 are opposite.
    let probes: Vec<(f32, f32)> = (0..8)
        .map(|k| {
            let angle = k as f32 * std::f32::consts::FRAC_PI_4;
            (angle.cos(), angle.sin())
        })
        .collect();
    let mut mask = Array2::from_elem(raw.raw_dim(), false);
    for y in 0..h {
        for x in 0..w {
            let v = pixel(x, y);
            if v < STAR_PEAK_SIGMA {
                continue;
            }
            let local_max = (-1..=1)
                .all(|dy| (-1..=1).all(|dx| (dx == 0 && dy == 0) || pixel(x + dx, y + dy) <= v));
            if !local_max {
                continue;
            }
            let (xf, yf) = (x as f32, y as f32);
            let ring: Vec<f32> = probes
                .iter()
                .map(|(dx, dy)| at(xf + STAR_PROBE_PX * dx, yf + STAR_PROBE_PX * dy))
                .collect();
            let pairs: Vec<f32> = (0..4).map(|k| ring[k] + ring[k + 4]).collect();
            let round = |values: &[f32], fraction: f32| {
                let strongest = values.iter().copied().fold(f32::MIN, f32::max);
                let weakest = values.iter().copied().fold(f32::MAX, f32::min);
                strongest > 0.0 && weakest >= fraction * strongest
            };
            // A point on a streak or near its tip has the streak 2 PSF sigma away on one side
            // at least; a star has faded there, even with a neighbour a few px away.
            // The star's own width, from its mean at the roundness radius (a Gaussian's is
            // exp(-r^2 / (2 s^2)) of its peak): real frames' seeing is often wider than the
            // configured PSF, and a wider star has not faded at 2 configured sigma.
            let ring_mean = (ring.iter().sum::<f32>() / 8.0 / v).clamp(1e-3, 0.999);
            let star_sigma =
                (STAR_PROBE_PX / (-2.0 * ring_mean.ln()).sqrt()).clamp(psf_sigma, MAX_PSF_SIGMA_PX);
            let outer = STAR_ISOLATION_SIGMAS * star_sigma;
            let limit = STAR_ISOLATION * v + STAR_ISOLATION_NOISE;
            let isolated = probes
                .iter()
                .all(|(dx, dy)| at(xf + outer * dx, yf + outer * dy) <= limit);
            if !(isolated && round(&pairs, STAR_ROUNDNESS)) {
                continue;
            }
            // Where a Gaussian of this peak falls to STAR_EDGE_SIGMA, or, for a star with a
            // flat (saturated) top and broader wings, the shortest walk out to that level;
            // the shortest, so that a streak through the star does not stretch the mask.
            let gaussian = star_sigma * (2.0 * (v / STAR_EDGE_SIGMA).ln()).sqrt();
            let walked = probes
                .iter()
                .map(|(dx, dy)| {
                    let mut r = 1.0;
                    while r < MAX_STAR_RADIUS_PX && at(xf + r * dx, yf + r * dy) >= STAR_EDGE_SIGMA
                    {
                        r += 1.0;
                    }
                    r
                })
                .fold(MAX_STAR_RADIUS_PX, f32::min);
            let radius = gaussian.max(walked) + 1.0;
            let reach = radius.ceil() as i32;
            for yy in (y - reach).max(0)..=(y + reach).min(h - 1) {
                for xx in (x - reach).max(0)..=(x + reach).min(w - 1) {
                    if ((xx - x) as f32).hypot((yy - y) as f32) <= radius {
                        mask[[yy as usize, xx as usize]] = true;
                    }
                }
            }
        }
    }
    mask
}

/// Lines of the peaks (strongest first) left after dropping those near a stronger one:
/// within `merge_angle_deg` of its direction and with the midpoint of their segment within
/// `merge_offset_px` of its line (the same streak seen at several levels and blocks).
fn merge(peaks: &[Peak], config: &DetectorConfig) -> Vec<Line> {
    let mut kept: Vec<Line> = Vec::new();
    for peak in peaks {
        let line = Line::from_peak(peak);
        if !kept.iter().any(|k| same_line(k, line.d, &[line.p], config)) {
            kept.push(line);
        }
    }
    kept
}

/// Profile along `line` over its chord: `(t of the first sample, values)`, one value per px
/// of `t`, the bins of [`profile_at`] on the line itself.
fn profile(image: &Image, line: &Line, sigma: f64) -> Option<(f64, Vec<Option<f64>>)> {
    profile_at(image, line, 0.0, sigma)
}

/// The matched-filter profile along the line parallel to `line` at `offset` px across it.
///
/// Every pixel within `PROFILE_REACH_SIGMA` PSF sigma of that line falls in exactly one bin,
/// the one whose along-line coordinate `t` (of `line`, whole px from the first sample) is
/// nearest to its own; bin `i` holds `sum g(u) z / sqrt(sum g(u)^2)` over its unmasked pixels,
/// `g(u) = exp(-u^2 / (2 sigma^2))` at each pixel's exact distance `u` from the line. The bins
/// are independent, each with unit noise, and summed over a segment they are the matched filter
/// of a line with the PSF's cross profile at sub-pixel position and any angle (a profile of
/// nearest pixels at whole-pixel offsets lost 10-20% of a streak's S/N, issue 3's note). A bin
/// whose unmasked weight is under half of its whole weight is `None` (no information).
fn profile_at(
    image: &Image,
    line: &Line,
    offset: f64,
    sigma: f64,
) -> Option<(f64, Vec<Option<f64>>)> {
    let (width, height) = image.size();
    let shifted = Line {
        p: line.at(0.0, offset),
        d: line.d,
    };
    let (lo, hi) = shifted.chord(width, height)?;
    let t0 = lo.ceil();
    let n = (hi.floor() - t0) as i64 + 1;
    if n <= 0 {
        return None;
    }
    let n = n as usize;
    let reach = PROFILE_REACH_SIGMA * sigma;
    // (sum g z, sum g^2 unmasked, sum g^2 all) per bin.
    let mut bins = vec![(0.0, 0.0, 0.0); n];
    // Walk the axis the line runs along most: at each whole coordinate `c` of it, the pixels
    // within `reach` of the line lie within `reach / |d[a]|` of the line's crossing `b_c`.
    let a = usize::from(shifted.d[1].abs() > shifted.d[0].abs());
    let b = 1 - a;
    let extent = [width, height];
    let ends = [
        shifted.at(t0 - 0.5, 0.0),
        shifted.at(t0 + n as f64 - 0.5, 0.0),
    ];
    let span = |v: f64, axis: usize| v.clamp(0.0, f64::from(extent[axis] - 1));
    let c_lo = span(ends[0][a].min(ends[1][a]) - reach - 1.0, a).floor() as usize;
    let c_hi = span(ends[0][a].max(ends[1][a]) + reach + 1.0, a).ceil() as usize;
    let half = reach / shifted.d[a].abs() + 1.0;
    // Along a run of pixels u grows by du = n[b] per pixel, so the PSF weight g(u) = exp(-u^2 /
    // (2 sigma^2)) goes by the ratio g(u + du) / g(u) = exp(-(2 u du + du^2) / (2 sigma^2)), and
    // that ratio by exp(-du^2 / sigma^2): two products per pixel instead of an exponential.
    let two_var = 2.0 * sigma * sigma;
    let du = shifted.n()[b];
    let ratio_step = (-du * du / (sigma * sigma)).exp();
    // The run of pixels at `c`: from `r_lo` to `r_hi` along axis `b`.
    let run = |c: usize| {
        let cross = shifted.p[b] + (c as f64 - shifted.p[a]) * shifted.d[b] / shifted.d[a];
        (
            span(cross - half, b).ceil() as usize,
            span(cross + half, b).floor() as usize,
        )
    };
    for c in c_lo..=c_hi {
        let ahead = c + PREFETCH_AHEAD;
        if ahead <= c_hi {
            prefetch_run(image, (a, ahead), run(ahead));
        }
        let (r_lo, r_hi) = run(c);
        let mut q = [0.0; 2];
        q[a] = c as f64;
        q[b] = r_lo as f64;
        let u_lo = shifted.coords(q).1;
        let mut g = (-u_lo * u_lo / two_var).exp();
        let mut ratio = (-(2.0 * u_lo * du + du * du) / two_var).exp();
        // A PSF far narrower than a pixel can start the run at g = 0 with an infinite ratio:
        // then each weight directly.
        let direct = !(g > 0.0 && ratio.is_finite());
        // The run's pixels: a row of the frame (a = 1) or a column (a = 0).
        let (z, masked) = if a == 1 {
            (image.z.row(c), image.masked.row(c))
        } else {
            (image.z.column(c), image.masked.column(c))
        };
        for r in r_lo..=r_hi.max(r_lo) {
            q[b] = r as f64;
            let (t, u) = shifted.coords(q);
            let weight = if direct { (-u * u / two_var).exp() } else { g };
            g *= ratio;
            ratio *= ratio_step;
            // The nearest bin, t - t0 rounded half away from zero, by truncation (the bins
            // start at 0).
            let x = t - t0;
            let i = (x + 0.5) as usize;
            if u.abs() > reach || x <= -0.5 || i >= n {
                continue;
            }
            let bin = &mut bins[i];
            bin.2 += weight * weight;
            if !masked[r] {
                bin.0 += weight * f64::from(z[r]);
                bin.1 += weight * weight;
            }
        }
    }
    let values = bins
        .into_iter()
        .map(|(sum, norm, whole)| (norm > 0.0 && norm >= 0.5 * whole).then(|| sum / norm.sqrt()))
        .collect();
    Some((t0, values))
}

/// Runs of [`profile_at`] fetched ahead of the one it sums.
const PREFETCH_AHEAD: usize = 6;

/// Asks the cache for the pixels of [`profile_at`]'s run at `c`, `r_lo..=r_hi` (a frame row
/// for `a = 1`, a column for `a = 0`), so that the profile does not wait on memory run after run
/// (a 4096 px frame's rows are 16 KiB apart).
fn prefetch_run(image: &Image, (a, c): (usize, usize), (r_lo, r_hi): (usize, usize)) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (image, a, c, r_lo, r_hi);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        if r_hi < r_lo {
            return;
        }
        let (z, masked) = (image.z.as_ptr(), image.masked.as_ptr());
        let (rs, cs) = (image.z.strides()[0], image.z.strides()[1]);
        let (mrs, mcs) = (image.masked.strides()[0], image.masked.strides()[1]);
        // A row run is contiguous (its two ends will do); a column run has a line per pixel.
        let step = if a == 1 { (r_hi - r_lo).max(1) } else { 1 };
        for r in (r_lo..=r_hi).step_by(step) {
            let (y, x) = if a == 1 { (c, r) } else { (r, c) };
            let zp = z.wrapping_offset(y as isize * rs + x as isize * cs);
            let mp = masked.wrapping_offset(y as isize * mrs + x as isize * mcs);
            // SAFETY: a prefetch reads nothing and cannot fault; the addresses lie in the frame.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(zp.cast());
                _mm_prefetch::<_MM_HINT_T0>(mp.cast());
            }
        }
    }
}

/// Extent of the streak in `values` (`None`: masked, no information): indices `[a, b]`
/// (inclusive).
fn extent(values: &[Option<f64>], min_len: usize) -> Option<(usize, usize)> {
    let raw = values;
    let clipped: Vec<Option<f64>> = values
        .iter()
        .map(|v| v.map(|v| v.min(PROFILE_CLIP_SIGMA)))
        .collect();
    let values = &clipped[..];
    let n = values.len();
    let min_len = min_len.max(2);
    if n < min_len {
        return None;
    }
    // Prefix sums of the values and of the number of unmasked samples.
    let mut prefix = vec![(0.0, 0usize); n + 1];
    for (i, v) in values.iter().enumerate() {
        prefix[i + 1] = (
            prefix[i].0 + v.unwrap_or(0.0),
            prefix[i].1 + usize::from(v.is_some()),
        );
    }
    // Segment of highest S/N (each value has unit noise), over lengths growing by
    // SEGMENT_LENGTH_STEP and starts SEGMENT_START_STEP of the length apart: within a few
    // percent of the best S/N at a fraction of the cost; the ends are found afresh below.
    let inverse_root: Vec<f64> = (0..=n).map(|c| 1.0 / (c as f64).sqrt()).collect();
    let mut best = (f64::NEG_INFINITY, 0, 0);
    let mut length = min_len as f64;
    while (length as usize) <= n {
        let len = length as usize;
        let step = ((len as f64 * SEGMENT_START_STEP) as usize).max(1);
        for a in (0..=n - len).step_by(step) {
            let b = a + len;
            let count = prefix[b].1 - prefix[a].1;
            if count == 0 {
                continue;
            }
            let s = (prefix[b].0 - prefix[a].0) * inverse_root[count];
            if s > best.0 {
                best = (s, a, b);
            }
        }
        length = (length * SEGMENT_LENGTH_STEP).max(length + 1.0);
    }
    let (_, a, b) = best;
    let count = prefix[b].1 - prefix[a].1;
    // The streak's level: the median of the unclipped samples of that segment (a bright
    // streak's true level, so that its ends fall where it drops to half; blind to a star).
    let mut inside: Vec<f64> = raw[a..b].iter().flatten().copied().collect();
    let level = lower_median(&mut inside)?;
    if count == 0 || level.is_nan() || level <= 0.0 {
        return None;
    }
    // Maximum-sum segment of values - level/2 (Kadane); masked samples and outliers (an
    // unmasked star next to the line, far above the streak's level) weigh nothing.
    let half = 0.5 * level;
    let outlier = level + OUTLIER_SIGMA;
    let (mut run, mut run_start) = (0.0, 0);
    let mut top = (f64::NEG_INFINITY, 0, 0);
    for (i, v) in raw.iter().enumerate() {
        if run <= 0.0 {
            run = 0.0;
            run_start = i;
        }
        run += v.filter(|&v| v <= outlier).map_or(0.0, |v| v - half);
        if run > top.0 {
            top = (run, run_start, i);
        }
    }
    Some((top.1, top.2))
}

/// The extent `[ta, tb]` (px along `line`) of a segment worth refining on the unrefined `line`,
/// if its profile holds one: the first round of [`refine`].
fn screen(image: &Image, line: &Line, config: &DetectorConfig) -> Option<[f64; 2]> {
    let sigma = f64::from(config.psf_sigma_px);
    let min_len = config.min_length_px.ceil() as usize;
    let (t0, values) = profile(image, line, sigma)?;
    let (a, b) = extent(&values, min_len)?;
    (mean_snr(&values[a..=b]) >= EARLY_REJECT_FRACTION * f64::from(config.snr_threshold))
        .then_some([t0 + a as f64, t0 + b as f64])
}

/// What the refinement hands to the measurement.
struct Candidate {
    line: Line,
    /// Along-line extent of the streak on `line`, px.
    ta: f64,
    tb: f64,
    /// The detection statistic ([`Streak::detection_snr`]).
    snr: f64,
    /// The streak's level on the unit-noise profile (its median), sigma per px.
    level: f64,
}

/// Refined line, the along-line extent of the streak on it and its S/N. `screened`: the extent
/// `[ta, tb]` of the unrefined `line` on this same image, when [`screen`] found it there.
fn refine(
    image: &Image,
    mut line: Line,
    mut screened: Option<[f64; 2]>,
    config: &DetectorConfig,
) -> Option<Candidate> {
    let sigma = f64::from(config.psf_sigma_px);
    let min_len = config.min_length_px.ceil() as usize;
    let threshold = f64::from(config.snr_threshold);
    for _ in 0..FIT_ROUNDS {
        let [ta, tb] = match screened.take() {
            Some(extent) => extent,
            None => {
                let (t0, values) = profile(image, &line, sigma)?;
                let (a, b) = extent(&values, min_len)?;
                if mean_snr(&values[a..=b]) < EARLY_REJECT_FRACTION * threshold {
                    return None;
                }
                [t0 + a as f64, t0 + b as f64]
            }
        };
        if let Some(fitted) = fit_line(image, &line, ta, tb, sigma) {
            line = fitted;
        }
    }
    let (t0, values) = profile(image, &line, sigma)?;
    let (a, b) = extent(&values, min_len)?;
    let segment = &without_outliers(&values[a..=b]);
    let snr = mean_snr(segment);
    let shape = SHAPE_FRACTION * threshold;
    if snr < threshold || robust_snr(segment) < shape {
        return None;
    }
    let (ta, tb) = (t0 + a as f64, t0 + b as f64);
    let local = less_local_background(image, &line, ta, segment, sigma, config.tile);
    if robust_snr(&local) < shape {
        return None;
    }
    let mut present: Vec<f64> = segment.iter().flatten().copied().collect();
    let level = lower_median(&mut present)?;
    Some(Candidate {
        line,
        ta,
        tb,
        snr,
        level,
    })
}

/// The profile `segment` (its first sample at `ta`) less its local background, so that
/// [`robust_snr`] measures how far the line stands above its immediate surroundings.
///
/// The background normalization follows the sky only on the scale of its tiles (`tile` px);
/// a galaxy's halo, the wings of a bright star or scattered light are smaller and stay in z,
/// and a line across them collects their light over its whole length: a chain of such
/// patches can reach the threshold with no streak at all (the halos of two galaxies, or a
/// bright star's wings and the faint stars beside it, each gave an S/N of 8 to 14 on a real
/// frame). A streak is a line one PSF wide, so two side bands, parallel to the line at
/// `PROFILE_REACH_SIGMA` plus `SIDE_GAP_SIGMA` PSF sigma on either side, hold none of
/// its light but do hold such extended light. Along the line in chunks of `tile` px (the scale
/// below which the background model cannot follow the sky), the local background is the mean
/// of the two bands' medians: the mean, so that a gradient across the line cancels; medians,
/// so that a star in a band counts for nothing. A chunk with no unmasked sample in either band
/// keeps its values (no information there). Each band sample has unit noise, so a chunk of
/// `m` px knows its background to about `1.25 / sqrt(2 m)`; over the `n / m` chunks of a
/// streak of `n` px this adds about 0.9 (whatever `m`) to the noise of its robust S/N, which
/// a streak at the threshold can afford.
fn less_local_background(
    image: &Image,
    line: &Line,
    ta: f64,
    segment: &[Option<f64>],
    sigma: f64,
    tile: u32,
) -> Vec<Option<f64>> {
    let offset = (PROFILE_REACH_SIGMA + SIDE_GAP_SIGMA) * sigma;
    let sides = [-offset, offset].map(|u| profile_at(image, line, u, sigma));
    let chunk = (tile as usize).max(1);
    let mut out = Vec::with_capacity(segment.len());
    for (c, part) in segment.chunks(chunk).enumerate() {
        let band = |side: usize| {
            let (t0, side) = sides[side].as_ref()?;
            let mut values: Vec<f64> = (0..part.len())
                .filter_map(|i| {
                    let t = ta + (c * chunk + i) as f64;
                    let at = (t - t0).round();
                    (at >= 0.0).then(|| side.get(at as usize).copied().flatten())?
                })
                .collect();
            lower_median(&mut values)
        };
        let level = match (band(0), band(1)) {
            (Some(l), Some(r)) => 0.5 * (l + r),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => 0.0,
        };
        out.extend(part.iter().map(|v| v.map(|v| v - level)));
    }
    out
}

/// The profile `segment` with its outliers, the samples more than `OUTLIER_SIGMA` above its
/// median, as `None`: the sources the star mask left on the line (faint or blended stars,
/// compact galaxies). They are no evidence for a streak: a line through a chain of such sources
/// otherwise reaches a high S/N (each adds `PROFILE_CLIP_SIGMA` per sample, and when they fill a
/// quarter of the line they lift its median too), while a streak's own samples lie within a few
/// sigma of its level (on a unit-noise profile, one in 30,000 is 4 sigma above it).
fn without_outliers(segment: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut present: Vec<f64> = segment.iter().flatten().copied().collect();
    let Some(level) = lower_median(&mut present) else {
        return segment.to_vec();
    };
    segment
        .iter()
        .map(|v| v.filter(|&v| v <= level + OUTLIER_SIGMA))
        .collect()
}

/// The lower median (of an even count, the smaller middle value) of `values`, which it sorts; `None` when empty.
fn lower_median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// Sum / sqrt(count) of the unmasked samples of a profile segment (each has unit noise), each
/// clipped at `PROFILE_CLIP_SIGMA`: its S/N; 0 when half of it or more is masked.
fn mean_snr(segment: &[Option<f64>]) -> f64 {
    let (sum, count) = segment.iter().flatten().fold((0.0, 0usize), |(s, n), v| {
        (s + v.min(PROFILE_CLIP_SIGMA), n + 1)
    });
    if 2 * count <= segment.len() {
        return 0.0;
    }
    sum / (count as f64).sqrt()
}

/// Median x sqrt(count) of the unmasked samples of a profile segment: its S/N if it were
/// uniform, and nearly blind to a few bright samples. 0 when half of it or more is masked, or
/// when the signal is not spread along it: the median of some quarter of the segment (with at
/// least 3 unmasked samples) under `MIN_QUARTER_FRACTION` of the whole median and significantly
/// under it (by more than `QUARTER_SHORTFALL_SIGMA` times its noise): a chain of stars, not a
/// streak.
fn robust_snr(segment: &[Option<f64>]) -> f64 {
    let mut present: Vec<f64> = segment.iter().flatten().copied().collect();
    let count = present.len();
    let Some(whole) = lower_median(&mut present).filter(|_| 2 * count > segment.len()) else {
        return 0.0;
    };
    let quarter = segment.len().div_ceil(4);
    for part in segment.chunks(quarter) {
        let mut values: Vec<f64> = part.iter().flatten().copied().collect();
        let noise = MEDIAN_NOISE / (values.len() as f64).sqrt();
        if values.len() >= 3
            && lower_median(&mut values).is_some_and(|m| {
                m < MIN_QUARTER_FRACTION * whole && whole - m > QUARTER_SHORTFALL_SIGMA * noise
            })
        {
            return 0.0;
        }
    }
    whole * (count as f64).sqrt()
}

/// Line fitted by weighted least squares to centroids across `line` in chunks of `[ta, tb]`.
fn fit_line(image: &Image, line: &Line, ta: f64, tb: f64, sigma: f64) -> Option<Line> {
    let length = tb - ta;
    let chunks = (length / MIN_CHUNK_PX).floor().clamp(1.0, MAX_CHUNKS) as usize;
    let chunk_len = length / chunks as f64;
    let half_width = (3.0 * sigma).ceil() as i32 + 1;
    let g = |u: f64| (-u * u / (2.0 * sigma * sigma)).exp();
    // (t, offset, weight) per chunk.
    let mut points = Vec::new();
    for c in 0..chunks {
        let start = ta + c as f64 * chunk_len;
        let steps = chunk_len.round().max(1.0) as usize;
        let mut cross = vec![0.0; (2 * half_width + 1) as usize];
        for s in 0..steps {
            for (k, value) in cross.iter_mut().enumerate() {
                let u = f64::from(k as i32 - half_width);
                if let Some(v) = image.bilinear(line.at(start + s as f64, u)) {
                    *value += v;
                }
            }
        }
        let offsets: Vec<f64> = (0..cross.len())
            .map(|k| f64::from(k as i32 - half_width))
            .collect();
        // Centroid in a Gaussian window that follows it.
        let mut centre = 0.0;
        for _ in 0..3 {
            let (mut num, mut den) = (0.0, 0.0);
            for (&u, &v) in offsets.iter().zip(&cross) {
                let w = v.max(0.0) * g(u - centre);
                num += w * u;
                den += w;
            }
            if den <= 0.0 {
                break;
            }
            centre = (num / den).clamp(-f64::from(half_width), f64::from(half_width));
        }
        let (mut signal, mut norm) = (0.0, 0.0);
        for (&u, &v) in offsets.iter().zip(&cross) {
            signal += g(u - centre) * v;
            norm += g(u - centre).powi(2);
        }
        let snr = signal / (norm * steps as f64).sqrt();
        if snr >= MIN_CHUNK_SNR {
            points.push((start + 0.5 * chunk_len, centre, snr * snr));
        }
    }
    if points.len() < 2 {
        return None;
    }
    // Weighted least squares of offset = a + b t.
    let sw: f64 = points.iter().map(|p| p.2).sum();
    let st = points.iter().map(|p| p.2 * p.0).sum::<f64>() / sw;
    let su = points.iter().map(|p| p.2 * p.1).sum::<f64>() / sw;
    let stt: f64 = points.iter().map(|p| p.2 * (p.0 - st).powi(2)).sum();
    let stu: f64 = points.iter().map(|p| p.2 * (p.0 - st) * (p.1 - su)).sum();
    if stt <= 0.0 {
        return None;
    }
    let slope = stu / stt;
    let offset = su - slope * st;
    let n = line.n();
    let d = [line.d[0] + slope * n[0], line.d[1] + slope * n[1]];
    let norm = d[0].hypot(d[1]);
    Some(Line {
        p: [line.p[0] + offset * n[0], line.p[1] + offset * n[1]],
        d: [d[0] / norm, d[1] / norm],
    })
}

/// Pixels within `margin_t` of the segment `[ta, tb]` along the line and `margin_u` across it:
/// `([row, column], t, u)`.
fn band(
    (width, height): (u32, u32),
    line: &Line,
    ta: f64,
    tb: f64,
    margin_t: f64,
    margin_u: f64,
) -> Vec<([usize; 2], f64, f64)> {
    let ends = [line.at(ta, 0.0), line.at(tb, 0.0)];
    let reach = margin_t.max(margin_u) + 1.0;
    let clamp = |v: f64, extent: u32| v.clamp(0.0, f64::from(extent - 1)) as usize;
    let x0 = clamp(ends[0][0].min(ends[1][0]) - reach, width);
    let x1 = clamp(ends[0][0].max(ends[1][0]) + reach, width);
    let y0 = clamp(ends[0][1].min(ends[1][1]) - reach, height);
    let y1 = clamp(ends[0][1].max(ends[1][1]) + reach, height);
    let mut out = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (t, u) = line.coords([x as f64, y as f64]);
            if t >= ta - margin_t && t <= tb + margin_t && u.abs() <= margin_u {
                out.push(([y, x], t, u));
            }
        }
    }
    out
}

/// The frame as the measurement sees it.
struct Measured<'a> {
    /// Frame, ADU.
    pixels: ArrayView2<'a, f32>,
    grid: &'a BackgroundGrid,
    /// Unclipped normalized image, sigma.
    raw: ArrayView2<'a, f32>,
}

/// Flux, width and S/N of a candidate's segment; `None` when it is shorter than
/// `min_length_px` or wider than `MAX_WIDTH_SIGMAS` PSF sigma. The flux sums the excess over the background within +-3 PSF sigma of
/// the segment (stars inside included); the S/N weights pixels with the PSF across the line
/// (masked pixels left out); the width is the FWHM of a Gaussian fitted to the cross-line profile.
fn measure(
    frame: &Measured,
    image: &Image,
    candidate: &Candidate,
    config: &DetectorConfig,
) -> Option<Streak> {
    let Candidate {
        line,
        ta,
        tb,
        snr,
        level,
    } = *candidate;
    let sigma = f64::from(config.psf_sigma_px);
    if tb - ta < f64::from(config.min_length_px) {
        return None;
    }
    let (mut flux, mut mf_raw, mut mf_norm) = (0.0, 0.0, 0.0);
    // Excess (ADU) of the pixels in bins of CROSS_BIN_PX across the line; each bin's median
    // makes the cross profile, blind to the few pixels of a star in the band.
    let bins = (2.0 * WIDTH_WINDOW_SIGMA * sigma / CROSS_BIN_PX).ceil() as usize + 1;
    let mut cross: Vec<Vec<f64>> = vec![Vec::new(); bins];
    let reach = WIDTH_WINDOW_SIGMA * sigma;
    for (at, t, u) in band(image.size(), &line, ta, tb, 3.0 * sigma, reach) {
        let [y, x] = at;
        let [bg, _] = frame.grid.at(x as u32, y as u32);
        let excess = f64::from(frame.pixels[at]) - f64::from(bg);
        if u.abs() <= 3.0 * sigma {
            flux += excess;
        }
        if t < ta || t > tb || image.masked[at] {
            continue;
        }
        let bin = (((u + reach) / CROSS_BIN_PX).round() as usize).min(bins - 1);
        cross[bin].push(excess);
        if u.abs() > 3.0 * sigma {
            continue;
        }
        let m = (-u * u / (2.0 * sigma * sigma)).exp();
        mf_raw += m * f64::from(frame.raw[at]);
        mf_norm += m * m;
    }
    if mf_norm <= 0.0 {
        return None;
    }
    let profile: Vec<(f64, f64)> = cross
        .iter_mut()
        .enumerate()
        .filter_map(|(k, values)| {
            lower_median(values).map(|m| (k as f64 * CROSS_BIN_PX - reach, m))
        })
        .collect();
    let cross_sigma = gaussian_sigma(&profile, sigma);
    if cross_sigma > MAX_WIDTH_SIGMAS * sigma {
        return None;
    }
    let width_px = FWHM_PER_SIGMA * cross_sigma;
    let raw_snr = mf_raw / mf_norm.sqrt();
    let (sigma_along_px, sigma_cross_px) = endpoint_sigmas(level, raw_snr, cross_sigma, tb - ta);
    let [a, b] = [line.at(ta, 0.0), line.at(tb, 0.0)];
    Some(Streak {
        x1: a[0],
        y1: a[1],
        x2: b[0],
        y2: b[1],
        snr: raw_snr,
        flux,
        width_px,
        detection_snr: snr,
        sigma_along_px,
        sigma_cross_px,
    })
}

/// 1-sigma errors (px) of a streak's endpoints along and across its line, for a streak of `level`
/// sigma per px on the unit-noise profile, matched-filter S/N `snr`, cross-profile sigma
/// `cross_sigma` px and `length` px.
///
/// Along: each end is the change point of a step of height `h = level` in unit noise, found by
/// maximising the sum of `profile - h/2` (the likelihood of the step for a known level). Its
/// error in units of `1 / h^2` px is the argmax of a two-sided Brownian motion with drift
/// `-|t|/2`, of variance 26 (Yao 1987, Ann. Statist. 15, 1321), so `sqrt(26 / h^4)`; whole-pixel
/// ends add `1 / 12` px^2. Never more than the length.
///
/// Across: a line of Gaussian cross profile (sigma `s`) and S/N `S` has Fisher information
/// `S^2 / (2 s^2)` on its offset, spread evenly along its length; the offset at the centre has
/// variance `2 s^2 / S^2` and the angle `12 * 2 s^2 / (S^2 L^2)`, so an end (`L / 2` out) has
/// `4 * 2 s^2 / S^2`: `2 sqrt(2) s / S`. The fit from chunk centroids does not reach that bound:
/// `CROSS_SIGMA_EFFICIENCY` scales it to the errors measured by `kessler bench`.
fn endpoint_sigmas(level: f64, snr: f64, cross_sigma: f64, length: f64) -> (f64, f64) {
    let along = if level > 0.0 {
        (26.0 / level.powi(4) + 1.0 / 12.0).sqrt().min(length)
    } else {
        length
    };
    let cross =
        CROSS_SIGMA_EFFICIENCY * 2.0 * std::f64::consts::SQRT_2 * cross_sigma / snr.max(1.0);
    (along, cross)
}

/// Sigma (px) of the centred Gaussian `A exp(-u^2 / (2 s^2))` that fits `profile` (pairs of
/// offset px, value) best in least squares, searched from 0.25 to 3 `psf_sigma` (the amplitude
/// solved for each `s`): a grid search is robust where moments of a noisy profile are not.
fn gaussian_sigma(profile: &[(f64, f64)], psf_sigma: f64) -> f64 {
    let steps = 276;
    (0..steps)
        .map(|k| psf_sigma * (0.25 + k as f64 * 0.01))
        .map(|s| {
            let (mut cg, mut gg) = (0.0, 0.0);
            for &(u, c) in profile {
                let g = (-u * u / (2.0 * s * s)).exp();
                cg += c * g;
                gg += g * g;
            }
            // Residual sum of squares falls as this rises; a negative amplitude fits nothing.
            let score = if cg > 0.0 { cg * cg / gg } else { 0.0 };
            (s, score)
        })
        .fold((psf_sigma, f64::NEG_INFINITY), |best, x| {
            if x.1 > best.1 { x } else { best }
        })
        .0
}

/// Masks an accepted streak (and sets z to 0 there) so that lines crossing it find nothing.
fn blank(
    mut z: ArrayViewMut2<f32>,
    mut masked: ArrayViewMut2<bool>,
    line: &Line,
    ta: f64,
    tb: f64,
    config: &DetectorConfig,
) {
    let sigma = f64::from(config.psf_sigma_px);
    let dims = size(&z.view());
    for (at, _, _) in band(dims, line, ta, tb, 5.0 * sigma + 2.0, 5.0 * sigma + 1.5) {
        z[at] = 0.0;
        masked[at] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_finds_the_step() {
        // Unit level from 40 to 139 on a zero background, one masked sample inside.
        let mut values: Vec<Option<f64>> = (0..200)
            .map(|i| Some(if (40..140).contains(&i) { 1.0 } else { 0.0 }))
            .collect();
        values[90] = None;
        assert_eq!(extent(&values, 32), Some((40, 139)));
        assert!((robust_snr(&values[40..=139]) - 99f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn robust_snr_rejects_signal_in_one_place() {
        let values: Vec<Option<f64>> = (0..40)
            .map(|i| Some(if i < 22 { 3.0 } else { 0.0 }))
            .collect();
        assert_eq!(robust_snr(&values), 0.0);
    }

    #[test]
    fn local_background_takes_off_the_sky_but_not_a_line() {
        // A thin line along row 30 (1 sigma peak, PSF sigma 1.2 px), alone or on a sky level
        // and gradient across it that the background model left in z (as in a galaxy's halo).
        let sigma = 1.2;
        let image = |sky: f64, gradient: f64| -> Array2<f32> {
            Array2::from_shape_fn((60, 200), |(y, _)| {
                let y = y as f64 - 30.0;
                let streak = (-y * y / (2.0 * sigma * sigma)).exp();
                (streak + sky + gradient * y) as f32
            })
        };
        let masked = Array2::from_elem((60, 200), false);
        let line = Line {
            p: [0.0, 30.0],
            d: [1.0, 0.0],
        };
        let snr = |z: Array2<f32>| {
            let image = Image {
                z: z.view(),
                masked: masked.view(),
            };
            let (t0, values) = profile(&image, &line, sigma).unwrap();
            let local = less_local_background(&image, &line, t0, &values, sigma, 32);
            (robust_snr(&values), robust_snr(&local))
        };
        let (alone, alone_local) = snr(image(0.0, 0.0));
        let (lifted, lifted_local) = snr(image(0.5, 0.02));
        assert!(
            lifted > 1.5 * alone,
            "the sky lifts the plain S/N: {lifted} vs {alone}"
        );
        // The streak's own light in the side bands (4 PSF sigma out) is under 1e-3 of it.
        assert!(
            (alone_local - alone).abs() < 1e-3 * alone,
            "{alone_local} vs {alone}"
        );
        // The side bands' pixels sit at other sub-pixel offsets from their lines than the
        // streak's do, so the sky they read differs from the sky on the line by a few 1e-4 of it.
        assert!(
            (lifted_local - alone).abs() < 3e-3 * alone,
            "{lifted_local} vs {alone}"
        );
    }

    #[test]
    fn profile_bins_sum_to_the_matched_filter_at_any_angle_and_offset() {
        // A noiseless line of unit amplitude with a Gaussian cross profile (sigma 1.2 px), at an
        // angle and a sub-pixel offset off the pixel grid. Over a stretch of the line away from
        // the frame edge, sum g z over all pixels within 3 sigma of it, computed here pixel by
        // pixel, over sqrt(sum g^2), is the matched filter; the binned profile must give it.
        let sigma = 1.2;
        let angle = 0.37f64;
        let line = Line {
            p: [100.3, 80.6],
            d: [angle.cos(), angle.sin()],
        };
        let z = Array2::from_shape_fn((160, 200), |(y, x)| {
            let (_, u) = line.coords([x as f64, y as f64]);
            (-u * u / (2.0 * sigma * sigma)).exp() as f32
        });
        let masked = Array2::from_elem((160, 200), false);
        let image = Image {
            z: z.view(),
            masked: masked.view(),
        };
        let (t0, values) = profile(&image, &line, sigma).unwrap();
        let (ta, tb) = (-40.0, 40.0);
        let (mut num, mut den) = (0.0, 0.0);
        for ((y, x), &v) in z.indexed_iter() {
            let (t, u) = line.coords([x as f64, y as f64]);
            let bin = (t - t0).round() + t0;
            if (ta..=tb).contains(&bin) && u.abs() <= PROFILE_REACH_SIGMA * sigma {
                let g = (-u * u / (2.0 * sigma * sigma)).exp();
                num += g * f64::from(v);
                den += g * g;
            }
        }
        let direct = num / den.sqrt();
        let a = (ta - t0) as usize;
        let b = (tb - t0) as usize;
        let bins: Vec<f64> = values[a..=b].iter().map(|v| v.unwrap()).collect();
        // The bins have unit noise each: their sum over sqrt(count) is the S/N of the stretch,
        // equal to the direct matched filter when every bin holds the same weight (within the
        // aliasing of the pixel grid).
        let binned = bins.iter().sum::<f64>() / (bins.len() as f64).sqrt();
        assert!(
            (binned - direct).abs() < 2e-3 * direct,
            "{binned} vs {direct}"
        );
        // A unit line of PSF sigma s has matched-filter S/N sqrt(sqrt(pi) s) per px of length.
        let per_px = (std::f64::consts::PI.sqrt() * sigma).sqrt();
        assert!((direct / (bins.len() as f64).sqrt() - per_px).abs() < 0.01 * per_px);
    }

    #[test]
    fn a_psf_far_under_a_pixel_still_gives_finite_bins() {
        // At sigma 0.02 px the weight recurrence would start at 0 with an infinite ratio.
        let z = Array2::from_elem((40, 40), 1.0f32);
        let masked = Array2::from_elem((40, 40), false);
        let image = Image {
            z: z.view(),
            masked: masked.view(),
        };
        // Along row 20: each run starts a pixel off the line, where g = exp(-1250) = 0.
        let line = Line {
            p: [20.0, 20.0],
            d: [1.0, 0.0],
        };
        let (_, values) = profile(&image, &line, 0.02).unwrap();
        assert_eq!(values.len(), 40);
        assert!(values.iter().all(|v| *v == Some(1.0)), "{values:?}");
    }

    #[test]
    fn endpoint_sigmas_follow_the_change_point_and_the_line_fit_bounds() {
        // 1 sigma per px: sqrt(26 + 1/12) px along; S/N 20, cross sigma 1.2 px: 2 sqrt(2) 1.2 / 20
        // across, times the measured efficiency.
        let (along, cross) = endpoint_sigmas(1.0, 20.0, 1.2, 300.0);
        assert!((along - (26.0f64 + 1.0 / 12.0).sqrt()).abs() < 1e-12);
        let bound = 2.0 * 2f64.sqrt() * 1.2 / 20.0;
        assert!((cross - CROSS_SIGMA_EFFICIENCY * bound).abs() < 1e-12);
        // A bright streak's ends are known to the pixel grid; a hopeless one to its length.
        assert!((endpoint_sigmas(100.0, 1e4, 1.2, 300.0).0 - (1.0f64 / 12.0).sqrt()).abs() < 1e-6);
        assert_eq!(endpoint_sigmas(0.1, 5.0, 1.2, 60.0).0, 60.0);
    }

    #[test]
    fn outliers_of_a_profile_carry_no_weight() {
        let mut values: Vec<Option<f64>> = (0..60).map(|_| Some(1.0)).collect();
        values[10] = Some(7.0);
        values[11] = Some(4.9);
        values[20] = None;
        let kept = without_outliers(&values);
        assert_eq!(kept[10], None);
        assert_eq!(kept[11], Some(4.9));
        assert_eq!(kept.iter().flatten().count(), 58);
    }

    #[test]
    fn a_star_wider_than_the_psf_is_masked() {
        // Seeing of 1.9 px sigma on a detector configured for 1.2 px (as on
        // `astride_long.fits`): the star has not faded at 2 configured sigma, but it is round and
        // isolated at 2 of its own.
        let star = |sigma: f64| {
            Array2::from_shape_fn((41, 41), |(y, x)| {
                let r2 = (x as f64 - 20.0).powi(2) + (y as f64 - 20.0).powi(2);
                (40.0 * (-r2 / (2.0 * sigma * sigma)).exp()) as f32
            })
        };
        for sigma in [1.2, 1.9] {
            let mask = star_mask(star(sigma).view(), 1.2);
            assert!(mask[[20, 20]], "star of sigma {sigma} px not masked");
            assert!(mask[[20, 20 + (2.0 * sigma) as usize]]);
        }
    }

    #[test]
    fn chord_of_a_diagonal() {
        let line = Line {
            p: [49.5, 49.5],
            d: [
                std::f64::consts::FRAC_1_SQRT_2,
                std::f64::consts::FRAC_1_SQRT_2,
            ],
        };
        let (lo, hi) = line.chord(100, 100).unwrap();
        assert!((lo + 50.0 * 2f64.sqrt()).abs() < 1e-9 && (hi - 50.0 * 2f64.sqrt()).abs() < 1e-9);
        let (t, u) = line.coords(line.at(3.0, -2.0));
        assert!((t - 3.0).abs() < 1e-12 && (u + 2.0).abs() < 1e-12);
    }

    #[test]
    fn gaussian_sigma_fits_a_profile() {
        let profile: Vec<(f64, f64)> = (-10..=10)
            .map(|k| {
                let u = f64::from(k) * 0.5;
                (u, 7.0 * (-u * u / (2.0 * 1.5 * 1.5)).exp())
            })
            .collect();
        assert!((gaussian_sigma(&profile, 1.2) - 1.5).abs() < 0.013);
    }
}
