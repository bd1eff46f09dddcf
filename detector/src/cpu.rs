//! CPU references of the GPU stages (rayon), also the fallback path.
//!
//! Each function computes what its shader computes, in the same order where floating-point
//! sums are involved (the background's reductions, the FRT's additions), so that the GPU and
//! CPU results agree to rounding.
//!
//! Images are [`ArrayView2`]s of shape `(height, width)`: pixel (x, y) is `image[[y, x]]`. The
//! FRT levels and the background grid keep the flat layout of their GPU buffers
//! ([`FrtLevel::index`], [`BackgroundGrid::stats`]), which the shaders index directly.
//!
//! The functions panic when the sizes of their inputs disagree (the point-source flags against
//! the image, FRT values against their [`FrtLevel`]); [`crate::Detector::detect`] checks a
//! frame with [`crate::validate_frame`] first.

use ndarray::{Array2, ArrayView2, Axis, CowArray, Ix2, Zip, s};
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
    /// Per tile, row-major `tiles_y` x `tiles_x`: `[background mean ADU, noise sigma ADU]` (the
    /// layout of the shaders' tile buffer, which they index as `ty * tiles_x + tx`).
    pub stats: Vec<[f32; 2]>,
}

impl BackgroundGrid {
    /// Background and noise (ADU) at pixel `(x, y)`, bilinear between tile centres and
    /// extrapolated linearly beyond the outer centres (so that a sky gradient is followed to the
    /// frame's edge), as `normalize.wgsl` computes them.
    pub fn at(&self, x: u32, y: u32) -> [f32; 2] {
        let (ix0, ix1, fx) = self.column(x);
        let (iy0, iy1, fy) = self.row(y);
        let row = self.tiles_x as usize;
        bilinear(
            [self.stats[iy0 * row + ix0], self.stats[iy0 * row + ix1]],
            [self.stats[iy1 * row + ix0], self.stats[iy1 * row + ix1]],
            fx,
            fy,
        )
    }

    /// `f(p, at(x, y))` for every pixel `p` at `(x, y)` of `pixels`, the grid coordinates
    /// computed once per row and column.
    pub(crate) fn map(
        &self,
        pixels: ArrayView2<f32>,
        f: impl Fn(f32, [f32; 2]) -> f32 + Sync,
    ) -> Array2<f32> {
        let (width, _) = size(&pixels);
        let columns: Vec<(usize, usize, f32)> = (0..width).map(|x| self.column(x)).collect();
        let row = self.tiles_x as usize;
        let mut out = Array2::zeros(pixels.raw_dim());
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(pixels.axis_iter(Axis(0)))
            .enumerate()
            .for_each(|(y, (mut out, pixels))| {
                let (iy0, iy1, fy) = self.row(y as u32);
                let (top, bottom) = (&self.stats[iy0 * row..], &self.stats[iy1 * row..]);
                for ((value, &p), &(ix0, ix1, fx)) in out.iter_mut().zip(&pixels).zip(&columns) {
                    let stats = bilinear([top[ix0], top[ix1]], [bottom[ix0], bottom[ix1]], fx, fy);
                    *value = f(p, stats);
                }
            });
        out
    }

    /// Tile columns either side of pixel column `x` and the weight of the right one.
    fn column(&self, x: u32) -> (usize, usize, f32) {
        let (i0, f) = grid_coord(x, self.tile, self.tiles_x);
        (i0, (i0 + 1).min(self.tiles_x as usize - 1), f)
    }

    /// Tile rows either side of pixel row `y` and the weight of the lower one.
    fn row(&self, y: u32) -> (usize, usize, f32) {
        let (i0, f) = grid_coord(y, self.tile, self.tiles_y);
        (i0, (i0 + 1).min(self.tiles_y as usize - 1), f)
    }
}

/// Bilinear interpolation of `[level, noise]` between the tiles `[left, right]` of the upper
/// row and of the lower row, weights `fx` to the right and `fy` down.
fn bilinear(upper: [[f32; 2]; 2], lower: [[f32; 2]; 2], fx: f32, fy: f32) -> [f32; 2] {
    let mut out = [0.0; 2];
    for c in 0..2 {
        let top = upper[0][c] + (upper[1][c] - upper[0][c]) * fx;
        let bottom = lower[0][c] + (lower[1][c] - lower[0][c]) * fx;
        out[c] = top + (bottom - top) * fy;
    }
    out
}

/// Index of the lower tile centre and weight of the upper one, for pixel `p` on an axis of
/// `count` tiles of side `tile`.
fn grid_coord(p: u32, tile: u32, count: u32) -> (usize, f32) {
    let g = (p as f32 + 0.5) / tile as f32 - 0.5;
    let i0 = g.floor().clamp(0.0, (count as f32 - 2.0).max(0.0));
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
pub fn background(pixels: ArrayView2<f32>, config: &DetectorConfig) -> BackgroundGrid {
    let (width, height) = size(&pixels);
    let tile = config.tile;
    let tiles_x = width.div_ceil(tile);
    let tiles_y = height.div_ceil(tile);
    let correction = clipped_sigma_correction(config.clip_sigma);
    let stats = (0..tiles_x * tiles_y)
        .into_par_iter()
        .map(|i| {
            let x0 = (i % tiles_x) * tile;
            let y0 = (i / tiles_x) * tile;
            let x1 = (x0 + tile).min(width);
            let y1 = (y0 + tile).min(height);
            // Sorted as integers in the order of `f32::total_cmp` (its own key, faster to
            // compare than the floats).
            let key = |v: f32| {
                let bits = v.to_bits() as i32;
                bits ^ ((((bits >> 31) as u32) >> 1) as i32)
            };
            let mut keys: Vec<i32> = pixels
                .slice(s![y0 as usize..y1 as usize, x0 as usize..x1 as usize])
                .iter()
                .map(|&v| key(v))
                .collect();
            keys.sort_unstable();
            // The key is its own inverse.
            let vals: Vec<f32> = keys
                .into_iter()
                .map(|k| f32::from_bits(key(f32::from_bits(k as u32)) as u32))
                .collect();
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

/// Stage 1b (`background_filter.wgsl`): each tile's level and noise replaced by the median of
/// the 9 tiles of its 3 x 3 neighbourhood (SExtractor's background filter, Bertin & Arnouts
/// 1996, sect. 3.1). Past the grid's edge a missing tile is the point reflection of the one
/// opposite through the centre (`2 c - o`; `c` when that is missing too), so that a sky
/// gradient keeps its median at the edges. A faint streak raises the
/// clipped mean of the tiles it crosses, by about `2 sqrt(pi) psf_sigma / tile` of its own
/// matched-filter signal (13% with tiles of 32 px), and a straight line crosses at most 5 of 9
/// tiles, usually 3: the median takes it out.
pub fn background_filter(grid: &BackgroundGrid) -> BackgroundGrid {
    let (tx, ty) = (grid.tiles_x as i32, grid.tiles_y as i32);
    // Insertion sort, as the shader does; the values are finite.
    let lower_median = |values: &mut Vec<f32>| {
        for i in 1..values.len() {
            let v = values[i];
            let mut j = i;
            while j > 0 && values[j - 1] > v {
                values[j] = values[j - 1];
                j -= 1;
            }
            values[j] = v;
        }
        values[(values.len() - 1) / 2]
    };
    let stats = (0..ty)
        .flat_map(|y| (0..tx).map(move |x| (x, y)))
        .map(|(x, y)| {
            let inside = |nx: i32, ny: i32| nx >= 0 && ny >= 0 && nx < tx && ny < ty;
            let centre = grid.stats[(y * tx + x) as usize];
            let (mut level, mut noise) = (Vec::with_capacity(9), Vec::with_capacity(9));
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let s = if inside(x + dx, y + dy) {
                        grid.stats[((y + dy) * tx + x + dx) as usize]
                    } else if inside(x - dx, y - dy) {
                        let o = grid.stats[((y - dy) * tx + x - dx) as usize];
                        [2.0 * centre[0] - o[0], 2.0 * centre[1] - o[1]]
                    } else {
                        centre
                    };
                    level.push(s[0]);
                    noise.push(s[1]);
                }
            }
            [lower_median(&mut level), lower_median(&mut noise)]
        })
        .collect();
    BackgroundGrid {
        stats,
        ..grid.clone()
    }
}

/// Stage 2 (`normalize.wgsl`): `z = (p - bg) / sigma` clipped to
/// `[-config.clip_lo, config.clip_hi]` (sigma units), 0 where sigma is not positive.
pub fn normalize(
    pixels: ArrayView2<f32>,
    grid: &BackgroundGrid,
    config: &DetectorConfig,
) -> Array2<f32> {
    grid.map(pixels, |p, [bg, sigma]| {
        if sigma > 0.0 {
            ((p - bg) / sigma).clamp(-config.clip_lo, config.clip_hi)
        } else {
            0.0
        }
    })
}

/// `(width, height)` of an image, px: its columns and rows.
pub(crate) fn size<A>(image: &ArrayView2<A>) -> (u32, u32) {
    let (rows, cols) = image.dim();
    let side = |n: usize| u32::try_from(n).expect("a frame side fits 32 bits");
    (side(cols), side(rows))
}

/// Half-width of the matched-filter kernel for a PSF of Gaussian sigma `sigma_px`: 3 sigma.
pub(crate) fn kernel_radius(sigma_px: f32) -> u32 {
    ((3.0 * sigma_px).ceil() as u32).max(1)
}

/// Half-side of the window of [`point_source`], in PSF sigma (rounded up to whole px).
const SOURCE_WINDOW_SIGMAS: f32 = 5.0;

/// Elongation (ratio of the second moments along and across) from which the bright pixels
/// around a clipped pixel form a line, for the transform's mask: a streak filling the window
/// has about (2R+1)^2 / width^2, over 5 even for a streak 4 PSF FWHM wide; a round source 1.
const LINE_ELONGATION: f32 = 3.0;

/// The same for the refinement's mask, lower so that a bright streak's tip (the line on one
/// side of the pixel only, about half as elongated) is kept.
const TIP_ELONGATION: f32 = 1.5;

/// Whether pixel `(x, y)` of the normalized, clipped image `z` is part of a point source: at
/// the upper clip (`config.clip_hi`) and not on a line. On a line means that the pixels of
/// at least half the clip in the window of half-side `R = ceil(SOURCE_WINDOW_SIGMAS *
/// psf_sigma)` px around it are elongated: the larger eigenvalue of their second-moment
/// matrix is at least `e` times the smaller, `e` = [`LINE_ELONGATION`], or
/// [`TIP_ELONGATION`] with `tips`, and they number at least `2R + 1` (`R + 1` with `tips`: a
/// line crosses the window), so that a hot pixel and a noise pixel do not make a line. A star
/// core, a hot pixel or a cosmic-ray hit is a point source; a bright streak is not, whatever
/// its width up to about R / 2.
///
/// In integers (exact on both backends): with `n`, `sx`, `sy`, `sxx`, `syy`, `sxy` the count
/// and the raw moments of the offsets, `A = n sxx - sx^2`, `C = n syy - sy^2`,
/// `B = n sxy - sx sy` are `n^2` times the central moments, and `lambda1 >= e lambda2` is
/// `((A - C)^2 + 4 B^2) (1 + e)^2 >= (e - 1)^2 (A + C)^2` (both sides in f32).
fn point_source(
    z: ArrayView2<f32>,
    (x, y): (i32, i32),
    tips: bool,
    config: &DetectorConfig,
) -> bool {
    let (h, w) = (z.nrows() as i32, z.ncols() as i32);
    if z[[y as usize, x as usize]] < config.clip_hi {
        return false;
    }
    let r = source_window(config.psf_sigma_px);
    let half = 0.5 * config.clip_hi;
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0i32, 0i32, 0i32, 0i32, 0i32, 0i32);
    for dy in -r..=r {
        for dx in -r..=r {
            let (px, py) = (x + dx, y + dy);
            if px < 0 || py < 0 || px >= w || py >= h || z[[py as usize, px as usize]] < half {
                continue;
            }
            n += 1;
            sx += dx;
            sy += dy;
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
    }
    let a = (n * sxx - sx * sx) as f32;
    let c = (n * syy - sy * sy) as f32;
    let b = (n * sxy - sx * sy) as f32;
    let (e, fewest) = if tips {
        (TIP_ELONGATION, r + 1)
    } else {
        (LINE_ELONGATION, 2 * r + 1)
    };
    let spread = (a - c) * (a - c) + 4.0 * b * b;
    let size = a + c;
    let line =
        n >= fewest && spread * ((1.0 + e) * (1.0 + e)) >= (e - 1.0) * (e - 1.0) * (size * size);
    !line
}

/// Half-side of the window of [`point_source`], px.
pub(crate) fn source_window(psf_sigma: f32) -> i32 {
    (SOURCE_WINDOW_SIGMAS * psf_sigma).ceil() as i32
}

/// Stage 2b (`sources.wgsl`): 1 at the point sources of `z` ([`point_source`], without
/// tips), 0 elsewhere.
pub fn point_sources(z: ArrayView2<f32>, config: &DetectorConfig) -> Array2<u32> {
    source_flags(z, false, config).mapv(u32::from)
}

/// The point sources of `z` less the tips of bright streaks ([`point_source`] with tips), for
/// the refinement.
pub(crate) fn point_sources_but_tips(z: ArrayView2<f32>, config: &DetectorConfig) -> Array2<bool> {
    source_flags(z, true, config)
}

/// [`point_source`] of every pixel of `z`.
fn source_flags(z: ArrayView2<f32>, tips: bool, config: &DetectorConfig) -> Array2<bool> {
    let mut flags = Array2::from_elem(z.raw_dim(), false);
    Zip::indexed(&mut flags).par_for_each(|(y, x), flag| {
        *flag = point_source(z, (x as i32, y as i32), tips, config);
    });
    flags
}

/// Stage 3 (`matched.wgsl`): `z` correlated with the PSF, `zf = sum(w z) / sqrt(sum(w^2))`
/// with `w = g(dx) g(dy)`, `g(d) = exp(-d^2 / (2 psf_sigma^2))`, over a window of +-3 sigma
/// (in-frame pixels only), so that unit white noise keeps unit variance, then clipped to
/// `+-config.filtered_clip`, so that what a faint star adds to a line is bounded by a few
/// samples of that value (a streak at the detection limit is about 1 per sample).
///
/// Each output is `[zf, variance]`: `[0, 0]` wherever a point source (`sources`, from
/// [`point_sources`]) lies in the window, so that bright stars, hot pixels and cosmic rays are masked out of the
/// transform (the FRT sums the variance too, and a line across them counts fewer samples);
/// `[zf, 1]` elsewhere.
pub fn matched_filter(
    z: ArrayView2<f32>,
    sources: ArrayView2<u32>,
    config: &DetectorConfig,
) -> Array2<[f32; 2]> {
    assert_eq!(sources.dim(), z.dim());
    let r = kernel_radius(config.psf_sigma_px) as i32;
    let inv = 1.0 / (2.0 * config.psf_sigma_px * config.psf_sigma_px);
    let g: Vec<f32> = (-r..=r).map(|d| (-((d * d) as f32) * inv).exp()).collect();
    let (h, w) = z.dim();
    // The kernel is separable, w(dx, dy) = g(dx) g(dy), and so are its in-frame norm and the
    // "a point source in the window" test: one pass along the rows, one along the columns
    // (the shader sums the window directly; the two agree to rounding).
    let taps = |centre: usize, extent: usize| {
        let lo = centre.saturating_sub(r as usize);
        let hi = (centre + r as usize).min(extent - 1);
        (lo, hi, lo + r as usize - centre)
    };
    let (z, sources) = (z.as_standard_layout(), sources.as_standard_layout());
    // The kernel's in-frame norm along one axis, per coordinate.
    let norms = |extent: usize| -> Vec<f32> {
        (0..extent)
            .map(|c| {
                let (lo, hi, k0) = taps(c, extent);
                (0..=hi - lo).map(|k| g[k0 + k] * g[k0 + k]).sum()
            })
            .collect()
    };
    let (norm_x, norm_y) = (norms(w), norms(h));
    // Bands of output rows, each from the pass along the rows of its own rows and of the
    // kernel's reach above and below them (per pixel: the sum, and whether a point source is
    // in the window), then the pass along the columns, a whole output row at a time.
    let mut out = Array2::from_elem(z.raw_dim(), [0.0f32; 2]);
    out.axis_chunks_iter_mut(Axis(0), FILTER_BAND_ROWS)
        .into_par_iter()
        .enumerate()
        .for_each(|(band, mut out)| {
            let first = band * FILTER_BAND_ROWS;
            let (lo, hi) = (
                first.saturating_sub(r as usize),
                (first + out.nrows() - 1 + r as usize).min(h - 1),
            );
            let mut row_sums = vec![0.0f32; (hi - lo + 1) * w];
            let mut row_sources = vec![false; (hi - lo + 1) * w];
            for (yy, (sums, flags)) in
                (lo..=hi).zip(row_sums.chunks_mut(w).zip(row_sources.chunks_mut(w)))
            {
                let (z, sources) = (image_row(z.view(), yy), image_row(sources.view(), yy));
                for (x, (sum, flag)) in sums.iter_mut().zip(flags.iter_mut()).enumerate() {
                    let (lo, hi, k0) = taps(x, w);
                    let weights = &g[k0..=k0 + hi - lo];
                    *sum = weights
                        .iter()
                        .zip(&z[lo..=hi])
                        .fold(0.0f32, |acc, (g, z)| acc + g * z);
                    *flag = sources[lo..=hi].iter().any(|&p| p != 0);
                }
            }
            let mut sums = vec![0.0f32; w];
            let mut source = vec![false; w];
            for (j, mut out) in out.axis_iter_mut(Axis(0)).enumerate() {
                let y = first + j;
                let (ylo, yhi, ky) = taps(y, h);
                sums.fill(0.0);
                source.fill(false);
                for (k, yy) in (ylo..=yhi).enumerate() {
                    let weight = g[ky + k];
                    let at = (yy - lo) * w..(yy - lo + 1) * w;
                    for (sum, s) in sums.iter_mut().zip(&row_sums[at.clone()]) {
                        *sum += weight * s;
                    }
                    for (flag, &p) in source.iter_mut().zip(&row_sources[at]) {
                        *flag |= p;
                    }
                }
                for (x, value) in out.iter_mut().enumerate() {
                    *value = if source[x] {
                        [0.0, 0.0]
                    } else {
                        let zf = sums[x] / (norm_x[x] * norm_y[y]).sqrt();
                        [zf.clamp(-config.filtered_clip, config.filtered_clip), 1.0]
                    };
                }
            }
        });
    out
}

/// Starts per task of the streamed transform ([`Transform`]): 32 KiB of a level's row (a few,
/// in the unit tests, so that their small frames split rows too).
#[cfg(not(test))]
const ROW_PART: usize = 4096;
#[cfg(test)]
const ROW_PART: usize = 7;

/// Output rows per task of [`matched_filter`]: the pass along the rows is done for the band
/// and the kernel's reach either side of it (a few rows again per band).
const FILTER_BAND_ROWS: usize = 32;

/// Orientation of a Fast Radon Transform: which image axis its lines advance along.
///
/// [`ROWS`]: lines at most 45 deg from the columns (one sample per image row, x = column
/// moves by the shift); [`COLUMNS`]: the transposed image, lines at most 45 deg from the rows.
pub type Orientation = u32;
/// Lines that advance one image row per sample.
pub const ROWS: Orientation = 0;
/// Lines that advance one image column per sample (the transposed image).
pub const COLUMNS: Orientation = 1;

/// One dyadic level of the Fast Radon Transform (Götz & Druckmüller 1995; Brady 1998; as
/// used for streaks by Nir, Zackay & Ofek 2018, AJ 156, 229) of a frame in one orientation.
///
/// In the oriented image (`rows` x `cols`; for [`COLUMNS`] row r is image column r), rows are
/// padded with zeros to `padded_rows`, a power of two, and cut into blocks of
/// `h = 2^level` rows. Entry `(b, s, x)` is the sum over the digital line that starts at
/// column `x` in the first row of block `b` and ends at column `x + s` in its last row,
/// `|s| <= h - 1` (at most 45 deg), one sample per row: a *partial* transform, a segment of
/// `h` rows, for every level below the top, and the full transform at the top level.
/// Columns outside the image hold zeros, so `x` runs over `-(h-1) .. cols + h - 1`: every
/// start from which the line can touch the image.
///
/// Each entry is `[sum of zf, sum of the variance image]` (the variance image is 1 in the
/// frame, 0 at masked point sources and in the padding), so that the S/N of an entry is normalised by the transform
/// of the variance ([`entry_snr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrtLevel {
    /// [`ROWS`] or [`COLUMNS`].
    pub orientation: Orientation,
    /// `log2` of the block height, >= 1.
    pub level: u32,
    /// Rows of the oriented image (frame height for [`ROWS`], width for [`COLUMNS`]).
    pub rows: u32,
    /// Columns of the oriented image.
    pub cols: u32,
    /// `rows` rounded up to a power of two.
    pub padded_rows: u32,
}

impl FrtLevel {
    /// The levels of one orientation of a `width` x `height` frame, 1 up to the full
    /// transform (`2^level = padded_rows`).
    pub fn all(width: u32, height: u32, orientation: Orientation) -> Vec<FrtLevel> {
        let (rows, cols) = if orientation == ROWS {
            (height, width)
        } else {
            (width, height)
        };
        let padded_rows = rows.next_power_of_two();
        (1..=padded_rows.trailing_zeros())
            .map(|level| FrtLevel {
                orientation,
                level,
                rows,
                cols,
                padded_rows,
            })
            .collect()
    }

    /// Rows per block, `h = 2^level`.
    pub fn block_rows(&self) -> u32 {
        1 << self.level
    }

    /// Columns of padding on either side: `h - 1`.
    pub fn pad(&self) -> u32 {
        self.block_rows() - 1
    }

    /// Blocks: `padded_rows / h`.
    pub fn blocks(&self) -> u32 {
        self.padded_rows >> self.level
    }

    /// Shifts per block: `2h - 1` (`s = -(h-1) ..= h-1`).
    pub fn shifts(&self) -> u32 {
        2 * self.block_rows() - 1
    }

    /// Start columns per shift: `cols + 2 (h - 1)`.
    pub fn starts(&self) -> u32 {
        self.cols + 2 * self.pad()
    }

    /// Entries of the level.
    pub fn len(&self) -> usize {
        self.blocks() as usize * self.shifts() as usize * self.starts() as usize
    }

    /// Whether the level has no entries (never: every level has at least one block).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of entry `(b, s, x)`: `(b * shifts + s + pad) * starts + x + pad`.
    pub fn index(&self, block: u32, shift: i32, x: i32) -> usize {
        let pad = self.pad() as i32;
        (block as usize * self.shifts() as usize + (shift + pad) as usize) * self.starts() as usize
            + (x + pad) as usize
    }

    /// Endpoints of entry `(b, s, x)` in frame pixels (0-based, x = column):
    /// `[x1, y1, x2, y2]`, first row of the block to its last.
    pub fn segment(&self, block: u32, shift: i32, x: i32) -> [f64; 4] {
        let r1 = f64::from(block * self.block_rows());
        let r2 = r1 + f64::from(self.pad());
        let (c1, c2) = (f64::from(x), f64::from(x + shift));
        if self.orientation == ROWS {
            [c1, r1, c2, r2]
        } else {
            [r1, c1, r2, c2]
        }
    }
}

/// The oriented image of `zf` (the frame for [`ROWS`], its transpose for [`COLUMNS`]) in
/// standard layout, so that each of its rows is a slice (a copy only where `zf` is not laid out
/// so already).
fn oriented(zf: ArrayView2<'_, [f32; 2]>, orientation: Orientation) -> CowArray<'_, [f32; 2], Ix2> {
    let image = if orientation == ROWS {
        zf
    } else {
        zf.reversed_axes()
    };
    if image.is_standard_layout() {
        CowArray::from(image)
    } else {
        CowArray::from(image.as_standard_layout().into_owned())
    }
}

/// Row `r` of an image in standard layout as a slice, empty past its last row (for an oriented
/// image: the padding, where a line misses the image).
fn image_row<T>(image: ArrayView2<'_, T>, r: usize) -> &[T] {
    if r < image.nrows() {
        image
            .index_axis_move(Axis(0), r)
            .to_slice()
            .expect("an image in standard layout")
    } else {
        &[]
    }
}

/// Part of one row of a level, entry `(b, s, x)` for the starts `x` from `first - pad` on
/// (`out[x + pad - first]`), from the two rows of the level below it sums (Brady 1998, eq. 2):
/// `top`, block `2b` at shift `a`, and `bottom`, block `2b + 1` at shift `a`, each indexed by its
/// start column plus `child_pad` (an oriented image row for level 1, where `child_pad` is 0).
/// `offset` is `s - a`. A start outside a child row is a half-line that misses the image and
/// counts 0; where both halves are there the sum is `top + bottom` in that order, as `frt.wgsl`
/// adds them (where only one is, it is copied: `frt.wgsl` adds 0, which differs only in the sign of
/// a zero).
fn combine_row(
    out: &mut [[f32; 2]],
    (first, pad): (usize, i32),
    (top, bottom): (&[[f32; 2]], &[[f32; 2]]),
    child_pad: i32,
    offset: i32,
) {
    // `out[i]` is start x = i + base, at child index x + shift + child_pad: the part of `out`
    // where that lies in `0..len`.
    let base = first as i32 - pad;
    let n = out.len() as i32;
    let span = |shift: i32, len: usize| -> std::ops::Range<usize> {
        let from = (-base - shift - child_pad).clamp(0, n) as usize;
        let end = (len as i32 - base - shift - child_pad).clamp(from as i32, n);
        from..end as usize
    };
    let t = span(0, top.len());
    out[..t.start].fill([0.0, 0.0]);
    out[t.end..].fill([0.0, 0.0]);
    if !t.is_empty() {
        let t0 = (t.start as i32 + base + child_pad) as usize;
        out[t.clone()].copy_from_slice(&top[t0..t0 + t.len()]);
    }
    let u = span(offset, bottom.len());
    if !u.is_empty() {
        let u0 = (u.start as i32 + base + offset + child_pad) as usize;
        for (value, b) in out[u.clone()].iter_mut().zip(&bottom[u0..u0 + u.len()]) {
            *value = [value[0] + b[0], value[1] + b[1]];
        }
    }
}

/// Stage 4 (`frt.wgsl`): one level of the Fast Radon Transform of `zf` (`[zf, variance]` per
/// pixel from [`matched_filter`]), from the level below (`previous`, ignored for level 1, which
/// reads `zf`).
///
/// The recursion (Brady 1998, eq. 2; Nir et al. 2018, sect. 2.2): with `a = s / 2` rounded
/// towards zero, the line of shift `s` over a block of `2h'` rows is the line of shift `a`
/// over its upper half followed by the line of shift `a` over its lower half starting at
/// `x + s - a`: `T(b, s, x) = T'(2b, a, x) + T'(2b + 1, a, x + s - a)` ([`combine_row`]).
///
/// This is the reference the shader is tested against; the detector's CPU path computes the
/// same rows a shift at a time ([`line_peaks`]).
pub fn frt_level(
    zf: ArrayView2<[f32; 2]>,
    level: &FrtLevel,
    previous: &[[f32; 2]],
) -> Vec<[f32; 2]> {
    let mut out = vec![[0.0f32; 2]; level.len()];
    let image = (level.level == 1).then(|| oriented(zf, level.orientation));
    let child = FrtLevel {
        level: level.level - 1,
        ..*level
    };
    let (starts, shifts) = (level.starts() as usize, level.shifts() as usize);
    let pad = level.pad() as i32;
    let child_row = |block: u32, shift: i32| -> &[[f32; 2]] {
        match &image {
            Some(image) => image_row(image.view(), block as usize),
            None => {
                let first = child.index(block, shift, -(child.pad() as i32));
                &previous[first..first + child.starts() as usize]
            }
        }
    };
    let child_pad = if level.level == 1 {
        0
    } else {
        child.pad() as i32
    };
    // One (block, shift) row per task, so that the top levels (one or two blocks) still use
    // every core.
    out.par_chunks_mut(starts)
        .enumerate()
        .for_each(|(row_index, row)| {
            let b = (row_index / shifts) as u32;
            let s = (row_index % shifts) as i32 - pad;
            let a = s / 2;
            let rows = (child_row(2 * b, a), child_row(2 * b + 1, a));
            combine_row(row, (0, pad), rows, child_pad, s - a);
        });
    out
}

/// `2 sqrt(pi)`, written as `frt_peaks.wgsl` writes it.
const TWO_SQRT_PI: f32 = 3.544_907_7;

/// Fewest in-frame samples of an entry of `level` that is searched for streaks: half the
/// block (a streak that leaves the frame still counts), at least 2.
pub(crate) fn min_samples(level: &FrtLevel) -> f32 {
    (level.block_rows() / 2).max(2) as f32
}

/// Whether `level` is searched for streaks: its blocks are at least half the shortest
/// streak long (`config.min_length_px`), so that a streak fills some block.
pub fn searched(level: &FrtLevel, config: &DetectorConfig) -> bool {
    2.0 * level.block_rows() as f32 >= config.min_length_px
}

/// S/N of an FRT entry `[sum, variance sum]` of shift `s` at `level`: `sum / sqrt(variance
/// sum * c)`, or 0 under [`min_samples`] in-frame samples.
///
/// `c` is the variance per sample of a line sum of matched-filtered unit noise at sample
/// spacing `step = sqrt(1 + (s / (h-1))^2)` px: the filter's autocorrelation
/// `exp(-l^2 / (4 sigma^2))` summed over lags `l step`, which is `2 sqrt(pi) sigma / step`
/// (Poisson summation; exact to 1e-6 for sigma >= 0.8 px), and 1 for white noise.
pub(crate) fn entry_snr(level: &FrtLevel, s: i32, value: [f32; 2], psf_sigma: f32) -> f32 {
    if value[1] < min_samples(level) {
        return 0.0;
    }
    value[0] / (value[1] * sample_variance(level, s, psf_sigma)).sqrt()
}

/// `c` of [`entry_snr`] for shift `s` of `level`.
fn sample_variance(level: &FrtLevel, s: i32, psf_sigma: f32) -> f32 {
    let slope = s as f32 / level.pad() as f32;
    let step = (1.0 + slope * slope).sqrt();
    (TWO_SQRT_PI * psf_sigma / step).max(1.0)
}

/// A local maximum of the S/N of one FRT level, above `config.transform_threshold`: a
/// segment of the frame that may hold (part of) a streak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// [`ROWS`] or [`COLUMNS`].
    pub orientation: Orientation,
    /// FRT level (block height `2^level` rows).
    pub level: u32,
    /// Block.
    pub block: u32,
    /// Shift, columns across the block.
    pub shift: i32,
    /// Start column in the block's first row.
    pub x: i32,
    /// S/N of the entry.
    pub snr: f32,
}

/// Stage 5 (`frt_peaks.wgsl`): the entries of a level with S/N >= `config.transform_threshold`
/// that beat every other entry of the same block within `config.nms_radius` in shift and start
/// ("beat": a larger S/N, or an equal one and a smaller index, so a plateau gives one peak).
pub fn frt_peaks(level: &FrtLevel, values: &[[f32; 2]], config: &DetectorConfig) -> Vec<Peak> {
    assert_eq!(values.len(), level.len());
    let pad = level.pad() as i32;
    let (starts, shifts) = (level.starts() as i32, level.shifts() as i32);
    let rad = config.nms_radius as i32;
    let snr = |b: u32, si: i32, xi: i32| -> f32 {
        let i = (b as usize * shifts as usize + si as usize) * starts as usize + xi as usize;
        entry_snr(level, si - pad, values[i], config.psf_sigma_px)
    };
    // One (block, shift) row per task; an entry whose sum is not positive cannot reach the
    // (positive) threshold, which spares most square roots.
    let mut found: Vec<Peak> = (0..level.blocks() * shifts as u32)
        .into_par_iter()
        .flat_map_iter(|row| {
            let (b, si) = (row / shifts as u32, (row % shifts as u32) as i32);
            let first = row as usize * starts as usize;
            let sums = &values[first..first + starts as usize];
            (0..starts).filter_map(move |xi| {
                if sums[xi as usize][0] <= 0.0 {
                    return None;
                }
                let v = snr(b, si, xi);
                if v.is_nan() || v < config.transform_threshold {
                    return None;
                }
                for dsi in -rad..=rad {
                    for dxi in -rad..=rad {
                        let (s2, x2) = (si + dsi, xi + dxi);
                        if (dsi == 0 && dxi == 0)
                            || !(0..shifts).contains(&s2)
                            || !(0..starts).contains(&x2)
                        {
                            continue;
                        }
                        let u = snr(b, s2, x2);
                        if u > v || (u == v && (s2, x2) < (si, xi)) {
                            return None;
                        }
                    }
                }
                Some(Peak {
                    orientation: level.orientation,
                    level: level.level,
                    block: b,
                    shift: si - pad,
                    x: xi - pad,
                    snr: v,
                })
            })
        })
        .collect();
    sort_peaks(&mut found);
    found
}

/// Stages 4 and 5 on the CPU: every level of both orientations, peaks of the searched
/// levels, strongest first, at most `config.max_peaks`: the peaks of [`frt_level`] and
/// [`frt_peaks`] level by level, computed a shift at a time ([`Transform`]) so that no level is
/// ever held whole. Panics for sides under [`crate::MIN_SIDE_PX`] ([`crate::validate_frame`]
/// refuses such frames).
pub fn line_peaks(zf: ArrayView2<[f32; 2]>, config: &DetectorConfig) -> Vec<Peak> {
    let sides = crate::MIN_SIDE_PX as usize;
    assert!(
        zf.nrows() >= sides && zf.ncols() >= sides,
        "line_peaks needs sides of {sides} px or more, not {:?}",
        zf.dim()
    );
    let (rows, columns) = rayon::join(
        || Transform::new(zf, ROWS, config).peaks(),
        || Transform::new(zf, COLUMNS, config).peaks(),
    );
    let mut found = [rows, columns].concat();
    sort_peaks(&mut found);
    found.truncate(config.max_peaks as usize);
    found
}

/// The Fast Radon Transform of one orientation, streamed: each level holds one row per block,
/// all at the same shift. The top level runs through its shifts in order; a level's shift `s`
/// needs shift `s / 2` (towards zero) of the level below, so every level runs through its own
/// shifts in order too, and computes each row once, as [`frt_level`] does, with the memory of
/// `blocks x starts` entries per level instead of `blocks x shifts x starts`. Level 1 is not
/// held at all: level 2 makes the level-1 rows it needs from the frame ([`level_one`]), a few
/// blocks at a time. At 4096 x 4096 px that is about 4096 x 2048 entries (64 MiB) per
/// orientation, where the top level alone has 8191 x 12286 (768 MiB).
struct Transform<'a> {
    /// The frame's `[zf, variance]` in standard layout: the oriented image's rows for [`ROWS`],
    /// its columns for [`COLUMNS`] ([`level_one`]).
    frame: CowArray<'a, [f32; 2], Ix2>,
    config: &'a DetectorConfig,
    /// Levels 1 up to the full transform.
    levels: Vec<Streamed>,
}

/// One level of a [`Transform`]: its rows at `shift`, and the entries of its searched rows so
/// far that reach the threshold.
struct Streamed {
    level: FrtLevel,
    /// The shift `values` hold, `None` before the first.
    shift: Option<i32>,
    /// Row of every block at `shift`, `blocks x starts`, indexed as [`FrtLevel::index`] with
    /// one shift (empty for level 1).
    values: Vec<[f32; 2]>,
    /// `(block, shift + pad, start + pad, S/N)` of the entries at or over the threshold.
    above: Vec<(u32, i32, i32, f32)>,
}

impl<'a> Transform<'a> {
    fn new(
        zf: ArrayView2<'a, [f32; 2]>,
        orientation: Orientation,
        config: &'a DetectorConfig,
    ) -> Self {
        let (width, height) = size(&zf);
        let levels = FrtLevel::all(width, height, orientation)
            .into_iter()
            .map(|level| Streamed {
                level,
                shift: None,
                // Level 1 is never held: level 2 computes the rows it needs from the frame.
                values: if level.level == 1 {
                    Vec::new()
                } else {
                    vec![[0.0; 2]; level.blocks() as usize * level.starts() as usize]
                },
                above: Vec::new(),
            })
            .collect();
        Transform {
            frame: oriented(zf, ROWS),
            config,
            levels,
        }
    }

    /// Every shift of the top level, then the peaks of every searched level.
    fn peaks(mut self) -> Vec<Peak> {
        let top = self.levels.len() - 1;
        let pad = self.levels[top].level.pad() as i32;
        for s in -pad..=pad {
            self.advance(top, s);
        }
        let config = self.config;
        self.levels
            .into_iter()
            .flat_map(|streamed| streamed.local_maxima(config))
            .collect()
    }

    /// Brings level `index + 1` (`index` >= 1: level 2 and up) to shift `s`, the levels below
    /// it first.
    fn advance(&mut self, index: usize, s: i32) {
        if self.levels[index].shift == Some(s) {
            return;
        }
        let a = s / 2;
        if index > 1 {
            self.advance(index - 1, a);
        }
        let (below, here) = self.levels.split_at_mut(index);
        let here = &mut here[0];
        let level = here.level;
        let starts = level.starts() as usize;
        let pad = level.pad() as i32;
        let config = self.config;
        let over = |level: &FrtLevel, (b, s): (usize, i32), first: usize, part: &[[f32; 2]]| {
            if searched(level, config) {
                above_threshold(level, (b as u32, s), first, part, config).collect()
            } else {
                Vec::new()
            }
        };
        if let [one] = below {
            // Level 2 from level 1's rows at shift a, made from the frame a group of blocks at a
            // time; level 1 is searched the first time each of its shifts is made (level 2's
            // shifts s run in order, and a = s / 2 towards zero).
            let first_time = s == -pad || (s - 1) / 2 != a;
            let (frame, one_level) = (self.frame.view(), one.level);
            let one_starts = one_level.starts() as usize;
            let found: Vec<(Vec<_>, Vec<_>)> = here
                .values
                .par_chunks_mut(LEVEL_TWO_GROUP * starts)
                .enumerate()
                .map_init(Vec::new, |children, (group, rows)| {
                    let first_child = 2 * group * LEVEL_TWO_GROUP;
                    children.resize(2 * rows.len() / starts * one_starts, [0.0f32; 2]);
                    level_one(frame, level.orientation, a, first_child, children);
                    let mut found_one = Vec::new();
                    if first_time {
                        for (j, row) in children.chunks(one_starts).enumerate() {
                            found_one.extend(over(&one_level, (first_child + j, a), 0, row));
                        }
                    }
                    let mut found_two = Vec::new();
                    for (j, row) in rows.chunks_mut(starts).enumerate() {
                        let top = &children[2 * j * one_starts..(2 * j + 1) * one_starts];
                        let bottom = &children[(2 * j + 1) * one_starts..(2 * j + 2) * one_starts];
                        combine_row(row, (0, pad), (top, bottom), 1, s - a);
                        let b = group * LEVEL_TWO_GROUP + j;
                        found_two.extend(over(&level, (b, s), 0, row));
                    }
                    (found_one, found_two)
                })
                .collect();
            for (found_one, found_two) in found {
                one.above.extend(found_one);
                here.above.extend(found_two);
            }
        } else {
            let child = below.last().expect("level 3 and up have a level below");
            let (child_starts, child_pad) =
                (child.level.starts() as usize, child.level.pad() as i32);
            let child_row =
                |block: usize| &child.values[block * child_starts..(block + 1) * child_starts];
            // Rows in parts of `ROW_PART` starts, so that the top levels (one or two blocks)
            // still use every core; each part is searched for entries over the threshold while
            // it is still in the cache.
            let found: Vec<(u32, i32, i32, f32)> = here
                .values
                .par_chunks_mut(starts)
                .enumerate()
                .flat_map(|(b, row)| {
                    let rows = (child_row(2 * b), child_row(2 * b + 1));
                    row.par_chunks_mut(ROW_PART)
                        .enumerate()
                        .flat_map_iter(move |(k, part)| {
                            let first = k * ROW_PART;
                            combine_row(part, (first, pad), rows, child_pad, s - a);
                            over(&level, (b, s), first, part)
                        })
                })
                .collect();
            here.above.extend(found);
        }
        here.shift = Some(s);
    }
}

/// Level-2 blocks per task in [`Transform`] (twice as many level-1 blocks, four times as many
/// frame rows or columns).
const LEVEL_TWO_GROUP: usize = 8;

/// The level-1 rows at shift `s` (-1, 0 or 1) of the blocks from `first` on, into `out` (as many
/// blocks as it holds rows of `starts = cols + 2`), as [`combine_row`] sums them (the same
/// additions in the same order). For [`ROWS`], block `b` sums frame rows `2b` and `2b + 1`;
/// for [`COLUMNS`], frame columns `2b` and `2b + 1`, read a few at a time from each frame row
/// (`frame` in standard layout) instead of from a transposed copy of the frame.
fn level_one(
    frame: ArrayView2<[f32; 2]>,
    orientation: Orientation,
    s: i32,
    first: usize,
    out: &mut [[f32; 2]],
) {
    let (height, width) = frame.dim();
    let row = |y: usize| image_row(frame, y);
    if orientation == ROWS {
        let starts = width + 2;
        for (j, out) in out.chunks_mut(starts).enumerate() {
            let b = first + j;
            combine_row(out, (0, 1), (row(2 * b), row(2 * b + 1)), 0, s);
        }
        return;
    }
    // Oriented columns are frame rows: start x = -1 ..= height.
    let starts = height + 2;
    let in_frame = |y: i64| (0..height as i64).contains(&y).then(|| row(y as usize));
    for xi in 0..starts {
        let x = xi as i64 - 1;
        let (top, bottom) = (in_frame(x), in_frame(x + i64::from(s)));
        for (j, out) in out.chunks_mut(starts).enumerate() {
            let column = 2 * (first + j);
            let mut v = match top {
                Some(top) if column < width => top[column],
                _ => [0.0, 0.0],
            };
            if let Some(bottom) = bottom.filter(|_| column + 1 < width) {
                let u = bottom[column + 1];
                v = [v[0] + u[0], v[1] + u[1]];
            }
            out[xi] = v;
        }
    }
}

/// The entries of row `(block, s)` of `level` at or over `config.transform_threshold`, of its
/// part `row` that starts at index `first`, as `(block, s + pad, x + pad, S/N)`. The test runs on squares first (no square root for the
/// noise), with a margin for rounding, and [`entry_snr`] decides.
fn above_threshold<'r>(
    level: &'r FrtLevel,
    (block, s): (u32, i32),
    first: usize,
    row: &'r [[f32; 2]],
    config: &'r DetectorConfig,
) -> impl Iterator<Item = (u32, i32, i32, f32)> + 'r {
    let pad = level.pad() as i32;
    let threshold = config.transform_threshold;
    let bound = 0.999 * threshold * threshold * sample_variance(level, s, config.psf_sigma_px);
    let fewest = min_samples(level);
    let over = move |value: &[f32; 2]| {
        (value[0] > 0.0) & (value[1] >= fewest) & (value[0] * value[0] >= bound * value[1])
    };
    // Runs of entries tested without a branch (so that the compiler can vectorize the test),
    // one by one only in the rare run that holds an entry over the bound.
    const RUN: usize = 32;
    row.chunks(RUN)
        .enumerate()
        .filter(move |(_, run)| run.iter().fold(false, |any, value| any | over(value)))
        .flat_map(move |(k, run)| {
            run.iter().enumerate().filter_map(move |(i, value)| {
                if !over(value) {
                    return None;
                }
                let snr = entry_snr(level, s, *value, config.psf_sigma_px);
                let xi = first + k * RUN + i;
                (snr >= threshold).then_some((block, s + pad, xi as i32, snr))
            })
        })
}

impl Streamed {
    /// The entries over the threshold that beat every other entry of their block within
    /// `config.nms_radius` in shift and start, as [`frt_peaks`] decides (an entry under the
    /// threshold never beats one over it, so the entries over it are all that need comparing).
    fn local_maxima(mut self, config: &DetectorConfig) -> Vec<Peak> {
        self.above
            .sort_unstable_by_key(|&(b, si, xi, _)| (b, si, xi));
        let above = &self.above;
        let rad = config.nms_radius as i32;
        let pad = self.level.pad() as i32;
        above
            .iter()
            .filter(|&&(b, si, xi, v)| {
                (-rad..=rad).all(|dsi| {
                    let first = above
                        .partition_point(|&(b2, s2, x2, _)| (b2, s2, x2) < (b, si + dsi, xi - rad));
                    above[first..]
                        .iter()
                        .take_while(|&&(b2, s2, x2, _)| (b2, s2, x2) <= (b, si + dsi, xi + rad))
                        .all(|&(_, s2, x2, u)| {
                            (s2 == si && x2 == xi) || !(u > v || (u == v && (s2, x2) < (si, xi)))
                        })
                })
            })
            .map(|&(block, si, xi, snr)| Peak {
                orientation: self.level.orientation,
                level: self.level.level,
                block,
                shift: si - pad,
                x: xi - pad,
                snr,
            })
            .collect()
    }
}

/// Orders peaks strongest first, ties by orientation, level, block, shift and start.
pub(crate) fn sort_peaks(peaks: &mut [Peak]) {
    let key = |p: &Peak| (p.orientation, p.level, p.block, p.shift, p.x);
    peaks.sort_by(|a, b| b.snr.total_cmp(&a.snr).then(key(a).cmp(&key(b))));
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
        let mut pixels: Vec<f32> = noise(1, width * height)
            .iter()
            .map(|v| 1000.0 + 10.0 * v)
            .collect();
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..300 {
            let i = rng.random_range(0..pixels.len());
            pixels[i] = 60000.0;
        }
        let pixels = Array2::from_shape_vec((height, width), pixels).unwrap();
        let grid = background(pixels.view(), &config);
        assert_eq!((grid.tiles_x, grid.tiles_y), (4, 3));
        for [bg, sigma] in &grid.stats {
            // One tile has 1024 pixels: the mean is known to 10 / 32 ADU, sigma to ~2-3 %.
            assert!((bg - 1000.0).abs() < 1.5, "background {bg}");
            assert!((sigma - 10.0).abs() < 0.8, "sigma {sigma}");
        }
    }

    #[test]
    fn frt_of_filtered_white_noise_has_unit_snr() {
        // entry_snr must turn line sums of the matched-filtered noise into unit S/N, at every
        // slope (the sample spacing changes the correlation along the line).
        let (width, height) = (160, 128);
        let config = DetectorConfig::default();
        let z = Array2::from_shape_vec((height, width), noise(3, width * height)).unwrap();
        let zf = matched_filter(z.view(), point_sources(z.view(), &config).view(), &config);
        let (width, height) = size(&zf.view());
        let values: Vec<f32> = zf.iter().map(|v| v[0]).collect();
        let (_, std_zf) = mean_std(&values);
        assert!((std_zf - 1.0).abs() < 0.03, "filtered noise std {std_zf}");
        let mut previous = Vec::new();
        for level in FrtLevel::all(width, height, ROWS) {
            let values = frt_level(zf.view(), &level, &previous);
            if level.level == 5 {
                let pad = level.pad() as i32;
                for shift in [0, pad / 2, pad] {
                    let snr: Vec<f32> = (0..level.blocks())
                        .flat_map(|b| (0..level.cols as i32).map(move |x| (b, x)))
                        .map(|(b, x)| {
                            let v = values[level.index(b, shift, x)];
                            entry_snr(&level, shift, v, config.psf_sigma_px)
                        })
                        .filter(|v| *v != 0.0)
                        .collect();
                    let (mean, std) = mean_std(&snr);
                    assert!(mean.abs() < 0.1, "shift {shift}: mean {mean}");
                    assert!((std - 1.0).abs() < 0.1, "shift {shift}: S/N std {std}");
                }
            }
            previous = values;
        }
    }

    #[test]
    fn every_shift_of_a_block_sums_the_block_once() {
        // For a fixed block and shift, the lines from every start cover each pixel of the
        // block exactly once.
        let (width, height) = (37, 29);
        let zf = Array2::from_shape_vec((29, 37), noise(4, 37 * 29))
            .unwrap()
            .mapv(|v| [v, 1.0]);
        for orientation in [ROWS, COLUMNS] {
            let mut previous = Vec::new();
            for level in FrtLevel::all(width, height, orientation) {
                let values = frt_level(zf.view(), &level, &previous);
                let h = level.block_rows();
                let pad = level.pad() as i32;
                for b in 0..level.blocks() {
                    let expected: f64 = (b * h..((b + 1) * h).min(level.rows))
                        .flat_map(|r| (0..level.cols).map(move |c| (r, c)))
                        .map(|(r, c)| {
                            let (x, y) = if orientation == ROWS { (c, r) } else { (r, c) };
                            f64::from(zf[[y as usize, x as usize]][0])
                        })
                        .sum();
                    let rows = ((b + 1) * h).min(level.rows).saturating_sub(b * h);
                    for s in -pad..=pad {
                        let (sum, count) = (-pad..level.cols as i32 + pad)
                            .map(|x| values[level.index(b, s, x)])
                            .fold((0.0f64, 0.0f64), |(a, n), v| {
                                (a + f64::from(v[0]), n + f64::from(v[1]))
                            });
                        assert!(
                            (sum - expected).abs() < 1e-3,
                            "level {} b {b} s {s}",
                            level.level
                        );
                        assert_eq!(count, f64::from(rows * level.cols));
                    }
                }
                previous = values;
            }
        }
    }

    #[test]
    fn frt_finds_a_diagonal_and_a_column() {
        // Ones along x = y + 5 (45 deg) and along column 50, in a 64 x 64 frame.
        let (width, height) = (64u32, 64u32);
        let mut zf = Array2::from_elem((64, 64), [0.0f32, 1.0]);
        for y in 0..59 {
            zf[[y, y + 5]][0] = 1.0;
        }
        zf.column_mut(50).iter_mut().for_each(|v| v[0] = 1.0);
        let mut previous = Vec::new();
        for level in FrtLevel::all(width, height, ROWS) {
            previous = frt_level(zf.view(), &level, &previous);
        }
        let top = FrtLevel::all(width, height, ROWS)[5];
        assert_eq!(previous[top.index(0, 0, 50)], [64.0, 64.0]);
        assert_eq!(previous[top.index(0, 63, 5)][0], 59.0);
        assert_eq!(top.segment(0, 63, 5), [5.0, 0.0, 68.0, 63.0]);
        // The column: 64 / sqrt(64 * 2 sqrt(pi) 1.2) = 3.9.
        let config = DetectorConfig {
            transform_threshold: 3.0,
            ..DetectorConfig::default()
        };
        let peaks = frt_peaks(&top, &previous, &config);
        let best: Vec<(i32, i32)> = peaks.iter().take(2).map(|p| (p.shift, p.x)).collect();
        assert!(
            best.contains(&(0, 50)) && best.contains(&(63, 5)),
            "{peaks:?}"
        );
        let columns = FrtLevel::all(width, height, COLUMNS)[0];
        assert_eq!(columns.segment(3, -1, 7), [6.0, 7.0, 7.0, 6.0]);
    }

    #[test]
    fn streamed_transform_finds_the_peaks_of_the_levels() {
        // A non-square frame of filtered noise with masked pixels and a faint line, a low
        // threshold so that every level has many peaks, ties included (equal entries).
        let (width, height) = (83u32, 50u32);
        let values = noise(7, (width * height) as usize);
        let mut zf = Array2::from_shape_fn((height as usize, width as usize), |(y, x)| {
            let v = values[y * width as usize + x];
            if (x * 7 + y * 3) % 41 == 0 {
                [0.0, 0.0]
            } else {
                [(v * 4.0).round() / 4.0, 1.0]
            }
        });
        for y in 5..45 {
            zf[[y, 10 + y]][0] += 1.0;
        }
        let config = DetectorConfig {
            transform_threshold: 0.8,
            min_length_px: 4.0,
            nms_radius: 1,
            max_peaks: 1 << 20,
            ..DetectorConfig::default()
        };
        let mut reference = Vec::new();
        for orientation in [ROWS, COLUMNS] {
            let mut previous = Vec::new();
            for level in FrtLevel::all(width, height, orientation) {
                previous = frt_level(zf.view(), &level, &previous);
                if searched(&level, &config) {
                    reference.extend(frt_peaks(&level, &previous, &config));
                }
            }
        }
        sort_peaks(&mut reference);
        assert!(reference.len() > 100, "{} peaks", reference.len());
        assert_eq!(line_peaks(zf.view(), &config), reference);
    }

    #[test]
    fn matched_filter_masks_point_sources_but_not_a_bright_streak() {
        // A hot pixel at (20, 20) and a bright streak along row 40, clipped at 5 sigma.
        let config = DetectorConfig::default();
        let mut z = Array2::<f32>::zeros((64, 64));
        z[[20, 20]] = config.clip_hi;
        z.slice_mut(s![39..=41, 5..60]).fill(3.0);
        z.slice_mut(s![40, 5..60]).fill(config.clip_hi);
        let zf = matched_filter(z.view(), point_sources(z.view(), &config).view(), &config);
        let at = |x: usize, y: usize| zf[[y, x]];
        assert_eq!(at(20, 20), [0.0, 0.0]);
        assert_eq!(at(23, 17), [0.0, 0.0], "the mask spans the kernel");
        assert_eq!(at(20, 28)[1], 1.0);
        assert_eq!(at(30, 40), [config.filtered_clip, 1.0]);
    }
}
