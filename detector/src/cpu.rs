//! CPU references of the five GPU stages (rayon), also the fallback path.
//!
//! Each function computes what its shader computes, in the same order where floating-point
//! sums are involved (the background's reductions) or with the same integer arithmetic (the
//! line transform's pixel walk), so that the GPU and CPU results agree to rounding.
//!
//! The functions panic when the sizes of their inputs disagree (`pixels.len()` against
//! `width * height`, `z` against the [`LineGeometry`]); [`crate::Detector::detect`] checks a
//! frame with [`crate::validate_frame`] first.

use rayon::prelude::*;

use crate::DetectorConfig;

/// Threads of one background workgroup: `@workgroup_size` of `background.wgsl`.
pub(crate) const BG_THREADS: usize = 64;
/// Largest background tile, pixels: `MAX_PIXELS` of `background.wgsl`.
pub(crate) const BG_MAX_PIXELS: usize = 1024;

/// Robust background level and noise per tile.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundGrid {
    /// Tile side, px (edge tiles are partial).
    pub tile: u32,
    /// Tiles per row.
    pub tiles_x: u32,
    /// Tiles per column.
    pub tiles_y: u32,
    /// Per tile, row-major `tiles_y` x `tiles_x`: `[background mean ADU, noise sigma ADU]`.
    pub stats: Vec<[f32; 2]>,
}

impl BackgroundGrid {
    /// Background and noise (ADU) at pixel `(x, y)`, bilinear between tile centres and
    /// constant beyond the outer centres, as `normalize.wgsl` computes them.
    pub fn at(&self, x: u32, y: u32) -> [f32; 2] {
        let (ix0, fx) = grid_coord(x, self.tile, self.tiles_x);
        let (iy0, fy) = grid_coord(y, self.tile, self.tiles_y);
        let ix1 = (ix0 + 1).min(self.tiles_x as usize - 1);
        let iy1 = (iy0 + 1).min(self.tiles_y as usize - 1);
        let row = self.tiles_x as usize;
        let s00 = self.stats[iy0 * row + ix0];
        let s10 = self.stats[iy0 * row + ix1];
        let s01 = self.stats[iy1 * row + ix0];
        let s11 = self.stats[iy1 * row + ix1];
        let mut out = [0.0; 2];
        for c in 0..2 {
            let top = s00[c] + (s10[c] - s00[c]) * fx;
            let bottom = s01[c] + (s11[c] - s01[c]) * fx;
            out[c] = top + (bottom - top) * fy;
        }
        out
    }
}

/// Index of the lower tile centre and weight of the upper one, for pixel `p` on an axis of
/// `count` tiles of side `tile`.
fn grid_coord(p: u32, tile: u32, count: u32) -> (usize, f32) {
    let last = (count - 1) as f32;
    let g = ((p as f32 + 0.5) / tile as f32 - 0.5).clamp(0.0, last);
    let i0 = g.floor().min(last);
    (i0 as usize, g - i0)
}

/// Factor that turns the standard deviation of a unit Gaussian clipped at `+-k` sigma back
/// into 1: `1 / sqrt(1 - 2 k phi(k) / (2 Phi(k) - 1))` (moments of a truncated normal).
pub fn clipped_sigma_correction(k: f32) -> f32 {
    let k = f64::from(k);
    let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // Simpson's rule for the central mass 2 Phi(k) - 1 = 2 * integral_0^k phi.
    let n = 2000;
    let h = k / n as f64;
    let inner: f64 = (1..n)
        .map(|i| phi(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    let mass = 2.0 * h / 3.0 * (phi(0.0) + inner + phi(k));
    (1.0 / (1.0 - 2.0 * k * phi(k) / mass).sqrt()) as f32
}

/// Sum of `partial` (one value per workgroup thread) by the tree of `background.wgsl`.
fn tree_sum(partial: &mut [f32; BG_THREADS], counts: &mut [u32; BG_THREADS]) -> (f32, u32) {
    let mut s = BG_THREADS / 2;
    while s > 0 {
        for i in 0..s {
            partial[i] += partial[i + s];
            counts[i] += counts[i + s];
        }
        s /= 2;
    }
    (partial[0], counts[0])
}

/// Mean and standard deviation of one tile's sorted pixels `vals`, as `background.wgsl`.
fn tile_stats(vals: &[f32], iterations: u32, clip_sigma: f32, correction: f32) -> [f32; 2] {
    let n = vals.len();
    let mut centre = if n % 2 == 1 {
        vals[n / 2]
    } else {
        0.5 * (vals[n / 2 - 1] + vals[n / 2])
    };
    let mut sigma = (vals[(3 * n) / 4] - vals[n / 4]) / 1.349;
    let per_thread = BG_MAX_PIXELS / BG_THREADS;
    for _ in 0..iterations {
        let limit = clip_sigma * sigma;
        let member = |k: usize| k < n && (vals[k] - centre).abs() <= limit;
        let mut partial = [0.0f32; BG_THREADS];
        let mut counts = [0u32; BG_THREADS];
        for (lid, (sum, count)) in partial.iter_mut().zip(&mut counts).enumerate() {
            for j in 0..per_thread {
                let k = lid + j * BG_THREADS;
                if member(k) {
                    *sum += vals[k];
                    *count += 1;
                }
            }
        }
        let (sum, count) = tree_sum(&mut partial, &mut counts);
        let mean = sum / count.max(1) as f32;
        let mut partial = [0.0f32; BG_THREADS];
        for (lid, sum) in partial.iter_mut().enumerate() {
            for j in 0..per_thread {
                let k = lid + j * BG_THREADS;
                if member(k) {
                    let d = vals[k] - mean;
                    *sum += d * d;
                }
            }
        }
        let (ss, _) = tree_sum(&mut partial, &mut [0; BG_THREADS]);
        if count > 0 {
            centre = mean;
            sigma = (ss / count as f32).sqrt() * correction;
        }
    }
    [centre, sigma]
}

/// Stage 1 (`background.wgsl`): per tile of `config.tile` px, the background mean and noise
/// sigma (ADU), by `config.clip_iterations` rounds of clipping at `config.clip_sigma`, starting
/// from the median and the interquartile range. Sigma is corrected for the clipping.
pub fn background(
    pixels: &[f32],
    width: u32,
    height: u32,
    config: &DetectorConfig,
) -> BackgroundGrid {
    assert_eq!(pixels.len(), width as usize * height as usize);
    let tile = config.tile;
    let tiles_x = width.div_ceil(tile);
    let tiles_y = height.div_ceil(tile);
    let correction = clipped_sigma_correction(config.clip_sigma);
    let stats = (0..tiles_x * tiles_y)
        .into_par_iter()
        .map(|i| {
            let x0 = (i % tiles_x) * tile;
            let y0 = (i / tiles_x) * tile;
            let tw = tile.min(width - x0) as usize;
            let th = tile.min(height - y0) as usize;
            let mut vals = Vec::with_capacity(tw * th);
            for y in y0 as usize..y0 as usize + th {
                let row = y * width as usize + x0 as usize;
                vals.extend_from_slice(&pixels[row..row + tw]);
            }
            vals.sort_unstable_by(f32::total_cmp);
            tile_stats(&vals, config.clip_iterations, config.clip_sigma, correction)
        })
        .collect();
    BackgroundGrid {
        tile,
        tiles_x,
        tiles_y,
        stats,
    }
}

/// Stage 2 (`normalize.wgsl`): `z = (p - bg) / sigma` clipped to
/// `[-config.clip_lo, config.clip_hi]` (sigma units), 0 where sigma is not positive.
pub fn normalize(
    pixels: &[f32],
    width: u32,
    height: u32,
    grid: &BackgroundGrid,
    config: &DetectorConfig,
) -> Vec<f32> {
    assert_eq!(pixels.len(), width as usize * height as usize);
    let mut z = vec![0.0f32; pixels.len()];
    z.par_chunks_mut(width as usize)
        .enumerate()
        .for_each(|(y, row)| {
            for (x, out) in row.iter_mut().enumerate() {
                let [bg, sigma] = grid.at(x as u32, y as u32);
                let p = pixels[y * width as usize + x];
                *out = if sigma > 0.0 {
                    ((p - bg) / sigma).clamp(-config.clip_lo, config.clip_hi)
                } else {
                    0.0
                };
            }
        });
    z
}

/// Half-width of the matched-filter kernel for a PSF of Gaussian sigma `sigma_px`: 3 sigma.
pub(crate) fn kernel_radius(sigma_px: f32) -> u32 {
    ((3.0 * sigma_px).ceil() as u32).max(1)
}

/// Variance per sample of a sum, at 1 px steps along a line, of white unit noise filtered by
/// [`matched_filter`]: the sum over lags `l` of the filter's autocorrelation
/// `exp(-l^2 / (4 sigma^2))` (a Gaussian of sigma `sigma_px` correlated with itself).
pub(crate) fn line_variance(sigma_px: f32) -> f32 {
    let s = f64::from(sigma_px);
    (-60..=60)
        .map(|l: i32| (-f64::from(l * l) / (4.0 * s * s)).exp())
        .sum::<f64>() as f32
}

/// Stage 3 (`matched.wgsl`): `z` correlated with the PSF, `zf = sum(w z) / sqrt(sum(w^2))`
/// with `w = g(dx) g(dy)`, `g(d) = exp(-d^2 / (2 psf_sigma^2))`, over a window of +-3 sigma (in-frame pixels only),
/// so that unit white noise keeps unit variance.
pub fn matched_filter(z: &[f32], width: u32, height: u32, config: &DetectorConfig) -> Vec<f32> {
    assert_eq!(z.len(), width as usize * height as usize);
    let r = kernel_radius(config.psf_sigma_px) as i32;
    let inv = 1.0 / (2.0 * config.psf_sigma_px * config.psf_sigma_px);
    let side = (2 * r + 1) as usize;
    // Kernel weights by (dy + r) * side + (dx + r), the product g(dx) g(dy) as in the shader.
    let g: Vec<f32> = (-r..=r).map(|d| (-((d * d) as f32) * inv).exp()).collect();
    let kernel: Vec<f32> = g
        .iter()
        .flat_map(|gy| g.iter().map(move |gx| gy * gx))
        .collect();
    let (w, h) = (width as i32, height as i32);
    let mut out = vec![0.0f32; z.len()];
    out.par_chunks_mut(width as usize)
        .enumerate()
        .for_each(|(y, row)| {
            let y = y as i32;
            for (x, value) in row.iter_mut().enumerate() {
                let x = x as i32;
                let (mut sum, mut norm) = (0.0f32, 0.0f32);
                for dy in -r..=r {
                    let yy = y + dy;
                    if yy < 0 || yy >= h {
                        continue;
                    }
                    for dx in -r..=r {
                        let xx = x + dx;
                        if xx < 0 || xx >= w {
                            continue;
                        }
                        let wt = kernel[(dy + r) as usize * side + (dx + r) as usize];
                        sum += wt * z[(yy * w + xx) as usize];
                        norm += wt * wt;
                    }
                }
                *value = sum / norm.sqrt();
            }
        });
    out
}

/// 1 px in the 16.16 fixed point of the line walk.
const ONE: i32 = 65536;
/// 0.5 px in 16.16 fixed point.
const HALF: i32 = 32768;

/// The bins of the line transform of a `width` x `height` frame.
///
/// Bin `(k, r)` is the line `x cos(theta) + y sin(theta) = rho` about the frame centre
/// `((width-1)/2, (height-1)/2)`, with `theta = k pi / n_theta` rad and `rho = r - rho_half` px.
#[derive(Debug, Clone, PartialEq)]
pub struct LineGeometry {
    /// Frame width, px.
    pub width: u32,
    /// Frame height, px.
    pub height: u32,
    /// Angles over [0, pi).
    pub n_theta: u32,
    /// Offsets, 1 px apart: `2 rho_half + 1`.
    pub n_rho: u32,
    /// Offset index of rho = 0; at least the half diagonal, px.
    pub rho_half: u32,
    /// Per angle, `[round(cos theta * 65536), round(sin theta * 65536)]`.
    pub trig: Vec<[i32; 2]>,
}

impl LineGeometry {
    /// The bins for a frame of `width` x `height` px and `n_theta` angles.
    pub fn new(width: u32, height: u32, n_theta: u32) -> LineGeometry {
        let rho_half = (0.5 * f64::from(width).hypot(f64::from(height))).ceil() as u32;
        let trig = (0..n_theta)
            .map(|k| {
                let theta = f64::from(k) * std::f64::consts::PI / f64::from(n_theta);
                [
                    (theta.cos() * f64::from(ONE)).round() as i32,
                    (theta.sin() * f64::from(ONE)).round() as i32,
                ]
            })
            .collect();
        LineGeometry {
            width,
            height,
            n_theta,
            n_rho: 2 * rho_half + 1,
            rho_half,
            trig,
        }
    }

    /// Angle of the line's normal for angle index `k`, rad.
    pub fn theta_rad(&self, k: u32) -> f64 {
        f64::from(k) * std::f64::consts::PI / f64::from(self.n_theta)
    }

    /// Offset of the line from the frame centre for offset index `r`, px.
    pub fn rho_px(&self, r: u32) -> f64 {
        f64::from(r) - f64::from(self.rho_half)
    }

    /// Frame centre, px.
    pub fn centre(&self) -> [f64; 2] {
        [
            0.5 * f64::from(self.width - 1),
            0.5 * f64::from(self.height - 1),
        ]
    }
}

/// The line transform as an S/N per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct SnrMap {
    /// Angles (rows).
    pub n_theta: u32,
    /// Offsets (columns).
    pub n_rho: u32,
    /// Row-major `n_theta` x `n_rho`: S/N of the line (see [`radon`]), or 0 when the line has
    /// fewer in-frame samples than the minimum length.
    pub values: Vec<f32>,
}

/// A local maximum of the [`SnrMap`] above the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Angle index k (see [`LineGeometry`]).
    pub theta_index: u32,
    /// Offset index r (see [`LineGeometry`]).
    pub rho_index: u32,
    /// S/N of the bin.
    pub snr: f32,
}

/// Fewest in-frame samples of a line of the transform: `ceil(config.min_length_px)`.
pub(crate) fn min_samples(config: &DetectorConfig) -> u32 {
    config.min_length_px.ceil() as u32
}

/// Steps `t` for which `base + t dir` (16.16 fixed point) can be inside `[0, extent)` px,
/// widened by two steps, as `t_range` of `radon.wgsl`.
fn t_range(base: i32, dir: i32, extent: u32, half_len: i32) -> (i32, i32) {
    if dir == 0 {
        return (-half_len, half_len);
    }
    let lo = (-HALF - base) as f32 / dir as f32;
    let hi = (extent as i32 * ONE - HALF - base) as f32 / dir as f32;
    let a = lo.min(hi).floor() as i32 - 2;
    let b = lo.max(hi).ceil() as i32 + 2;
    (a.max(-half_len), b.min(half_len))
}

/// Stage 4 (`radon.wgsl`): for every bin of `geometry`, the sum of `zf` (the matched-filtered
/// image) at the nearest pixels along the line in 1 px steps, divided by
/// `sqrt(samples * line_variance)`, the noise of that sum; 0 below
/// `ceil(config.min_length_px)` in-frame samples.
pub fn radon(zf: &[f32], geometry: &LineGeometry, config: &DetectorConfig) -> SnrMap {
    let z = zf;
    let variance = line_variance(config.psf_sigma_px);
    let (w, h) = (geometry.width as i32, geometry.height as i32);
    assert_eq!(z.len(), (w * h) as usize);
    let min = min_samples(config);
    let n_rho = geometry.n_rho as usize;
    let half_len = geometry.rho_half as i32;
    let mut values = vec![0.0f32; geometry.n_theta as usize * n_rho];
    values
        .par_chunks_mut(n_rho)
        .zip(&geometry.trig)
        .for_each(|(row, &[cos, sin])| {
            for (r, out) in row.iter_mut().enumerate() {
                let rho = r as i32 - half_len;
                let bx = (w - 1) * HALF + rho * cos;
                let by = (h - 1) * HALF + rho * sin;
                let (dx, dy) = (-sin, cos);
                let rx = t_range(bx, dx, geometry.width, half_len);
                let ry = t_range(by, dy, geometry.height, half_len);
                let mut sum = 0.0f32;
                let mut count = 0u32;
                for t in rx.0.max(ry.0)..=rx.1.min(ry.1) {
                    let x = (bx + t * dx + HALF) >> 16;
                    let y = (by + t * dy + HALF) >> 16;
                    if x >= 0 && x < w && y >= 0 && y < h {
                        sum += z[(y * w + x) as usize];
                        count += 1;
                    }
                }
                *out = if count >= min {
                    sum / (count as f32 * variance).sqrt()
                } else {
                    0.0
                };
            }
        });
    SnrMap {
        n_theta: geometry.n_theta,
        n_rho: geometry.n_rho,
        values,
    }
}

/// Stage 5 (`peaks.wgsl`): bins with S/N >= `config.snr_threshold` that beat every other bin
/// within `config.nms_radius` bins (larger S/N, or equal S/N and smaller linear index), theta
/// wrapping to `theta - pi` with `rho -> -rho`. Strongest first (then by linear index), at
/// most `config.max_peaks`.
pub fn peaks(map: &SnrMap, geometry: &LineGeometry, config: &DetectorConfig) -> Vec<Peak> {
    let n_rho = map.n_rho as i32;
    let n_theta = map.n_theta as i32;
    let rad = config.nms_radius as i32;
    let mirror_sum = 2 * geometry.rho_half as i32;
    let is_peak = |k: i32, r: i32| -> bool {
        let own = k * n_rho + r;
        let v = map.values[own as usize];
        if v.is_nan() || v < config.snr_threshold {
            return false;
        }
        for dk in -rad..=rad {
            let mut kk = k + dk;
            let mirror = !(0..n_theta).contains(&kk);
            kk = kk.rem_euclid(n_theta);
            for dr in -rad..=rad {
                if dk == 0 && dr == 0 {
                    continue;
                }
                let rr = if mirror {
                    mirror_sum - (r + dr)
                } else {
                    r + dr
                };
                if rr < 0 || rr >= n_rho {
                    continue;
                }
                let other = kk * n_rho + rr;
                let u = map.values[other as usize];
                if u > v || (u == v && other < own) {
                    return false;
                }
            }
        }
        true
    };
    let mut found: Vec<Peak> = (0..n_theta)
        .into_par_iter()
        .flat_map_iter(|k| {
            (0..n_rho)
                .filter(move |&r| is_peak(k, r))
                .map(move |r| Peak {
                    theta_index: k as u32,
                    rho_index: r as u32,
                    snr: map.values[(k * n_rho + r) as usize],
                })
        })
        .collect();
    sort_peaks(&mut found, map.n_rho);
    found.truncate(config.max_peaks as usize);
    found
}

/// Orders peaks strongest first, ties by linear index in the map.
pub(crate) fn sort_peaks(peaks: &mut [Peak], n_rho: u32) {
    let index = |p: &Peak| p.theta_index as u64 * u64::from(n_rho) + u64::from(p.rho_index);
    peaks.sort_by(|a, b| b.snr.total_cmp(&a.snr).then(index(a).cmp(&index(b))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
    }

    fn mean_std(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn clipped_sigma_correction_matches_truncated_normal() {
        // 1 / sqrt(1 - 2 * 3 * phi(3) / (2 Phi(3) - 1)) with phi(3) = 0.004431848,
        // 2 Phi(3) - 1 = 0.997300204 (tables of the normal distribution).
        let expected = 1.0 / (1.0 - 6.0 * 0.004_431_848 / 0.997_300_204f64).sqrt();
        assert!((f64::from(clipped_sigma_correction(3.0)) - expected).abs() < 1e-6);
    }

    #[test]
    fn background_recovers_level_and_noise_despite_stars() {
        let (width, height) = (128, 96);
        let config = DetectorConfig::default();
        let mut pixels: Vec<f32> = noise(1, (width * height) as usize)
            .iter()
            .map(|v| 1000.0 + 10.0 * v)
            .collect();
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..300 {
            let i = rng.random_range(0..pixels.len());
            pixels[i] = 60000.0;
        }
        let grid = background(&pixels, width, height, &config);
        assert_eq!((grid.tiles_x, grid.tiles_y), (4, 3));
        for [bg, sigma] in &grid.stats {
            // One tile has 1024 pixels: the mean is known to 10 / 32 ADU, sigma to ~2-3 %.
            assert!((bg - 1000.0).abs() < 1.5, "background {bg}");
            assert!((sigma - 10.0).abs() < 0.8, "sigma {sigma}");
        }
    }

    #[test]
    fn radon_of_filtered_white_noise_has_unit_variance() {
        // line_variance must turn line sums of the matched-filtered noise into unit S/N.
        let (width, height) = (200, 200);
        let config = DetectorConfig {
            n_theta: 90,
            ..DetectorConfig::default()
        };
        let z = noise(3, (width * height) as usize);
        let zf = matched_filter(&z, width, height, &config);
        let (_, std_zf) = mean_std(&zf);
        assert!((std_zf - 1.0).abs() < 0.03, "filtered noise std {std_zf}");
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let map = radon(&zf, &geometry, &config);
        let long: Vec<f32> = map.values.iter().copied().filter(|v| *v != 0.0).collect();
        let (mean, std) = mean_std(&long);
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert!((std - 1.0).abs() < 0.1, "line S/N std {std}");
    }

    #[test]
    fn line_geometry_covers_the_frame() {
        let geometry = LineGeometry::new(400, 300, 8);
        assert_eq!(geometry.rho_half, 250);
        assert_eq!(geometry.n_rho, 501);
        assert_eq!(geometry.trig[0], [65536, 0]);
        assert_eq!(geometry.trig[4], [0, 65536]);
        assert!((geometry.theta_rad(2) - std::f64::consts::FRAC_PI_4).abs() < 1e-12);
        assert_eq!(geometry.rho_px(0), -250.0);
    }

    #[test]
    fn radon_sums_a_horizontal_line() {
        // theta = pi/2: the lines are rows; rho = y - (height - 1) / 2.
        let (width, height) = (64, 33);
        let mut z = vec![0.0f32; (width * height) as usize];
        for x in 0..width as usize {
            z[20 * width as usize + x] = 1.0;
        }
        let config = DetectorConfig {
            n_theta: 4,
            nms_radius: 1,
            snr_threshold: 2.0,
            ..DetectorConfig::default()
        };
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let map = radon(&z, &geometry, &config);
        let r = (20 - 16 + geometry.rho_half as i32) as usize;
        let value = map.values[2 * geometry.n_rho as usize + r];
        let expected = 64.0 / (64.0 * line_variance(config.psf_sigma_px)).sqrt();
        assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
        let found = peaks(&map, &geometry, &config);
        assert_eq!((found[0].theta_index, found[0].rho_index), (2, r as u32));
    }
}
