//! Streak detection in survey frames, on the GPU through wgpu or on the CPU.
//!
//! A frame (an [`ndarray::ArrayView2`] of `f32` pixels in ADU, shape `(height, width)`, pixel
//! (x, y) at `[[y, x]]`) goes through six stages, each a WGSL compute
//! shader in `shaders/` with a CPU reference in [`cpu`] that computes the same function:
//!
//! 1. **background** ([`cpu::background`], `background.wgsl`): a robust background level and
//!    noise per tile ([`BackgroundGrid`]), by sigma clipping from the median and the
//!    interquartile range, then a 3 x 3 median filter of the tiles
//!    ([`cpu::background_filter`], `background_filter.wgsl`) so that a faint streak does not
//!    raise the background under itself;
//! 2. **normalize** ([`cpu::normalize`], `normalize.wgsl`): `z = (p - bg) / sigma`, with `bg`
//!    and `sigma` interpolated between tile centres, clipped to `[-clip_lo, clip_hi]` so that
//!    stars and hot pixels cannot fake a line (the thresholding stage);
//! 3. **point sources** ([`cpu::point_sources`], `sources.wgsl`): pixels at the clip whose bright
//!    neighbourhood is not elongated (star cores, hot pixels, cosmic rays);
//! 4. **matched filter** ([`cpu::matched_filter`], `matched.wgsl`): `z` correlated with the
//!    PSF, so that line sums become the matched filter of a streak, then clipped again
//!    (`filtered_clip`) so that a faint star adds at most a few bounded samples to a line; with
//!    its variance, 0 within the kernel of a point source (masked out of the transform);
//! 5. **FRT** ([`cpu::frt_level`], `frt.wgsl`): the Fast Radon Transform (Nir, Zackay & Ofek
//!    2018) of the filtered image and of its variance, level by level, in both orientations
//!    ([`FrtLevel`]); the levels below the top are the *partial* transforms, sums over
//!    segments of `2^level` rows, so that a short streak is summed over its own length
//!    rather than diluted by a whole chord;
//! 6. **peaks** ([`cpu::frt_peaks`], `frt_peaks.wgsl`): on every level at least half the
//!    shortest streak long, the S/N `sum / sqrt(variance transform * c)` is thresholded and
//!    non-maximum suppressed ([`Peak`], a segment of the frame).
//!
//! Then, on the CPU for both paths, peaks of one streak are merged, stars are masked (round,
//! isolated local maxima), and each candidate is refined on the normalized image: its extent
//! (endpoints), its line by least squares on centroids across the line, its flux, width and
//! S/N ([`Streak`]). Candidates whose signal is not spread along the segment (chains of stars)
//! or does not stand above the local background beside the line (galaxy halos, the wings of
//! bright stars) are rejected; each accepted streak is masked before weaker candidates are
//! refined.
//!
//! [`GpuContext`] holds the wgpu device and the pipelines; build it once and reuse it
//! for every frame. [`Detector`] runs the whole chain on a [`Backend`]: the GPU, or the CPU
//! references (the fallback when the machine has no adapter).
//!
//! ```
//! use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext};
//! use ndarray::Array2;
//!
//! let backend = match GpuContext::new() {
//!     Ok(gpu) => Backend::Gpu(gpu),
//!     Err(_) => Backend::Cpu,
//! };
//! let detector = Detector::new(backend, DetectorConfig::default());
//!
//! // 1000 ADU, pseudo-random noise (sigma 10 ADU), a streak along row 64 from x = 20 to 107.
//! let pixels = Array2::from_shape_fn((128, 128), |(y, x)| {
//!     // A hash of the pixel's place, as uniform noise of 0..35 ADU.
//!     let noise = (((y * 128 + x) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 35;
//!     let (x, y) = (x as f32, y as f32);
//!     let on_streak = (20.0..108.0).contains(&x);
//!     let streak = if on_streak { 60.0 * (-(y - 64.0).powi(2) / 2.88).exp() } else { 0.0 };
//!     1000.0 + noise as f32 + streak
//! });
//! let streaks = detector.detect(pixels.view())?;
//! assert_eq!(streaks.len(), 1);
//! let s = streaks[0];
//! assert!((s.y1 - 64.0).abs() < 0.5 && (s.y2 - 64.0).abs() < 0.5);
//! assert!((s.x1.min(s.x2) - 20.0).abs() < 2.0 && (s.x1.max(s.x2) - 107.0).abs() < 2.0);
//! # Ok::<(), kessler_detector::DetectError>(())
//! ```

pub mod bench;
pub mod calibrate;
pub mod cpu;
pub mod cutout;
pub mod dataset;
pub mod eval;
mod gpu;
pub mod measure;
pub mod message;
mod refine;
pub mod threshold;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use cpu::{BackgroundGrid, FrtLevel, Peak};
pub use gpu::GpuContext;

/// Largest frame side the detector accepts, px.
pub const MAX_SIDE_PX: u32 = 8192;

/// Largest PSF sigma, px (the matched-filter kernel spans +-3 sigma).
pub const MAX_PSF_SIGMA_PX: f32 = 3.0;

/// Smallest frame side the detector accepts, px.
pub const MIN_SIDE_PX: u32 = 8;

/// Settings of the detector. `Default` suits frames with a PSF sigma near 1.2 px.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Side of the background tiles, px; `tile * tile` must be at most 1024 (workgroup memory).
    pub tile: u32,
    /// Sigma-clipping rounds of the background estimate.
    pub clip_iterations: u32,
    /// Sigma-clipping half-width of the background estimate, in sigma.
    pub clip_sigma: f32,
    /// Lower clip of the normalized image, in sigma (a positive number: z >= -clip_lo).
    pub clip_lo: f32,
    /// Upper clip of the normalized image, in sigma: bounds what one star adds to a line.
    pub clip_hi: f32,
    /// Clip of the matched-filtered image, in sigma (symmetric).
    pub filtered_clip: f32,
    /// Candidate threshold on the S/N of the FRT entries (partial transforms included).
    pub transform_threshold: f32,
    /// Detection threshold on the refined streak's matched-filter S/N
    /// ([`Streak::detection_snr`]); its robust S/N must reach it too. At the default, 7, 1 of 200
    /// empty 512 x 512 frames of the test suite's star fields (`detector/tests/common`: 250 stars
    /// to saturation, hot pixels, cosmic rays) has a false streak, and 0 of 500 of `kessler
    /// calibrate --stars --floor 7`; at 6, 14 of 200 and 6 of 500.
    pub snr_threshold: f32,
    /// Shortest streak reported, px; the FRT is searched from blocks of half this height.
    pub min_length_px: f32,
    /// Gaussian sigma of the point-spread function, px.
    pub psf_sigma_px: f32,
    /// Half-width of the non-maximum suppression neighbourhood, in FRT entries (shift and start).
    pub nms_radius: u32,
    /// Most peaks kept from one frame's transforms.
    pub max_peaks: u32,
    /// Peaks closer than this in angle are merged (with `merge_offset_px`), deg.
    pub merge_angle_deg: f32,
    /// Peaks closer than this in offset are merged (with `merge_angle_deg`), px.
    pub merge_offset_px: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            tile: 32,
            clip_iterations: 3,
            clip_sigma: 3.0,
            clip_lo: 5.0,
            clip_hi: 5.0,
            filtered_clip: 3.0,
            transform_threshold: 4.0,
            snr_threshold: 7.0,
            min_length_px: 48.0,
            psf_sigma_px: 1.2,
            nms_radius: 4,
            max_peaks: 4096,
            merge_angle_deg: 3.0,
            merge_offset_px: 5.0,
        }
    }
}

impl DetectorConfig {
    /// Checks the settings; the message names the field at fault.
    pub fn validate(&self) -> Result<(), DetectError> {
        let bad = |what: &str| Err(DetectError::BadConfig(what.to_string()));
        if self.tile == 0 || self.tile * self.tile > 1024 {
            return bad("tile must be in 1..=32 px");
        }
        if !positive(self.clip_sigma) {
            return bad("clip_sigma must be > 0");
        }
        if !(positive(self.clip_lo) && positive(self.clip_hi)) {
            return bad("clip_lo and clip_hi must be > 0");
        }
        if !positive(self.filtered_clip) {
            return bad("filtered_clip must be > 0");
        }
        if !(positive(self.snr_threshold) && positive(self.transform_threshold)) {
            return bad("snr_threshold and transform_threshold must be > 0");
        }
        if self.nms_radius > 64 {
            return bad("nms_radius must be at most 64");
        }
        if !(1.0..=f32::from(u16::MAX)).contains(&self.min_length_px) {
            return bad("min_length_px must be in 1..=65535 px");
        }
        if !(positive(self.psf_sigma_px) && self.psf_sigma_px <= MAX_PSF_SIGMA_PX) {
            return bad("psf_sigma_px must be in (0, 3] px");
        }
        if self.max_peaks == 0 {
            return bad("max_peaks must be > 0");
        }
        if !(self.merge_angle_deg.is_finite()
            && self.merge_offset_px.is_finite()
            && self.merge_angle_deg >= 0.0
            && self.merge_offset_px >= 0.0)
        {
            return bad("merge_angle_deg and merge_offset_px must be >= 0");
        }
        Ok(())
    }
}

/// Whether `x` is a number above 0 (not NaN).
fn positive(x: f32) -> bool {
    x > 0.0
}

/// A detected streak. Pixel coordinates are 0-based, x = column, y = row, at pixel centres.
/// `(x1, y1)`-`(x2, y2)` are the endpoints, in no particular order (one frame cannot tell the
/// direction of motion).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Streak {
    /// First endpoint, column, px.
    pub x1: f64,
    /// First endpoint, row, px.
    pub y1: f64,
    /// Second endpoint, column, px.
    pub x2: f64,
    /// Second endpoint, row, px.
    pub y2: f64,
    /// Integrated S/N along the streak, as a PSF-matched filter measures it (unclipped data).
    pub snr: f64,
    /// Background-subtracted flux in a band of +-3 PSF sigma around the segment, ADU.
    pub flux: f64,
    /// Full width at half maximum across the streak, px.
    pub width_px: f64,
    /// The detection statistic that reached the threshold: the matched-filter S/N of the
    /// streak's profile on the clipped normalized image, with the sources on the line left out
    /// (what `kessler calibrate` measures on empty frames; `snr` also counts the stars on the
    /// line). Messages written before it existed read 0.
    #[serde(default)]
    pub detection_snr: f64,
    /// 1-sigma error of each endpoint along the line, px: the change point of a step of `h`
    /// sigma per px in unit noise, `sqrt(26 / h^4 + 1 / 12)` (Yao 1987; the 1/12 of whole-pixel
    /// ends). 0 in messages written before it existed.
    #[serde(default)]
    pub sigma_along_px: f64,
    /// 1-sigma error of each endpoint across the line, px (from the line fit's information, see
    /// the refinement). 0 in messages written before it existed.
    #[serde(default)]
    pub sigma_cross_px: f64,
}

impl Streak {
    /// Length between the endpoints, px.
    pub fn length_px(&self) -> f64 {
        (self.x2 - self.x1).hypot(self.y2 - self.y1)
    }

    /// Position angle of the line, rad in [0, pi), from the +x axis towards +y.
    pub fn angle_rad(&self) -> f64 {
        (self.y2 - self.y1)
            .atan2(self.x2 - self.x1)
            .rem_euclid(std::f64::consts::PI)
    }
}

/// Why a frame could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// No wgpu adapter (no GPU and no software Vulkan such as Mesa's lavapipe).
    #[error("no wgpu adapter: install mesa-vulkan-drivers (lavapipe) or a GPU driver ({0})")]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("wgpu device request failed: {0}")]
    Device(String),
    /// A GPU operation failed (buffer mapping, device lost, polling).
    #[error("GPU operation failed: {0}")]
    Gpu(String),
    /// The frame is unusable; `what` names the problem.
    #[error("bad input frame ({width} x {height} px): {what}")]
    BadInput {
        /// Frame width as given, px.
        width: u32,
        /// Frame height as given, px.
        height: u32,
        /// What is wrong: a NaN at some pixel, a size out of range, inputs of different sizes.
        what: String,
    },
    /// A [`DetectorConfig`] field is out of range.
    #[error("bad detector configuration: {0}")]
    BadConfig(String),
    /// The false-alarm rate asked for gives no threshold for the frame's size.
    #[error(transparent)]
    Threshold(#[from] threshold::ThresholdError),
}

/// Checks a frame: side lengths in range, every pixel finite.
pub fn validate_frame(pixels: ArrayView2<f32>) -> Result<(), DetectError> {
    check_size(&pixels)?;
    match pixels.indexed_iter().find(|(_, p)| !p.is_finite()) {
        Some(((y, x), p)) => Err(bad_input(
            &pixels,
            format!("pixel (x {x}, y {y}) is {p} (not finite)"),
        )),
        None => Ok(()),
    }
}

/// Checks that an image's sides are in `MIN_SIDE_PX..=MAX_SIDE_PX`.
fn check_size<A>(image: &ArrayView2<A>) -> Result<(), DetectError> {
    let (rows, cols) = image.dim();
    let sides = (MIN_SIDE_PX as usize)..=(MAX_SIDE_PX as usize);
    if sides.contains(&rows) && sides.contains(&cols) {
        Ok(())
    } else {
        Err(bad_input(
            image,
            format!("sides must be in {MIN_SIDE_PX}..={MAX_SIDE_PX} px"),
        ))
    }
}

/// A [`DetectError::BadInput`] about `image`.
fn bad_input<A>(image: &ArrayView2<A>, what: String) -> DetectError {
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    DetectError::BadInput {
        width: side(image.ncols()),
        height: side(image.nrows()),
        what,
    }
}

/// Where the stages run.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per detector, built once: its size does not matter"
)]
pub enum Backend {
    /// The wgpu compute shaders.
    Gpu(GpuContext),
    /// The CPU references (rayon).
    Cpu,
}

/// The detection chain over one backend; reuse it for every frame.
#[derive(Debug)]
pub struct Detector {
    backend: Backend,
    config: DetectorConfig,
    /// When set, each frame's `snr_threshold` comes from this table at this rate of false
    /// streaks per frame instead of from `config`.
    false_alarms: Option<(threshold::ThresholdTable, f64)>,
}

impl Detector {
    /// A detector running on `backend` with `config` (checked by [`Detector::detect`]).
    pub fn new(backend: Backend, config: DetectorConfig) -> Detector {
        Detector {
            backend,
            config,
            false_alarms: None,
        }
    }

    /// The detector with each frame's threshold chosen for `rate` false streaks per frame from
    /// the calibration of its size in `table` ([`threshold::ThresholdTable::threshold`]).
    pub fn with_false_alarm_rate(
        self,
        table: threshold::ThresholdTable,
        rate: f64,
    ) -> Result<Detector, threshold::ThresholdError> {
        Ok(Detector {
            false_alarms: Some((table, threshold::checked_rate(rate)?)),
            ..self
        })
    }

    /// The threshold chosen for `width` x `height` frames and where it came from; `None` when the
    /// detector uses the fixed `snr_threshold` of its configuration.
    pub fn threshold_for(
        &self,
        width: u32,
        height: u32,
    ) -> Result<Option<threshold::Chosen<'_>>, DetectError> {
        self.false_alarms
            .as_ref()
            .map(|(table, rate)| table.threshold(width, height, *rate))
            .transpose()
            .map_err(DetectError::from)
    }

    /// `"cpu"`, or the adapter's description (name and graphics backend).
    pub fn backend_description(&self) -> String {
        match &self.backend {
            Backend::Gpu(gpu) => gpu.adapter_description(),
            Backend::Cpu => "cpu".to_string(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Finds the streaks of one frame: `pixels` in ADU, shape `(height, width)`. Strongest first.
    pub fn detect(&self, pixels: ArrayView2<f32>) -> Result<Vec<Streak>, DetectError> {
        Ok(self.detect_with_peaks(pixels)?.0)
    }

    /// [`Detector::detect`], and the line-transform peaks (strongest first) the streaks were refined from: the
    /// candidates at `transform_threshold`, for threshold calibration ([`calibrate`]).
    pub fn detect_with_peaks(
        &self,
        pixels: ArrayView2<f32>,
    ) -> Result<(Vec<Streak>, Vec<Peak>), DetectError> {
        validate_frame(pixels)?;
        let (width, height) = cpu::size(&pixels);
        let chosen = self.threshold_for(width, height)?;
        let config = &match chosen {
            Some(chosen) => DetectorConfig {
                snr_threshold: chosen.threshold,
                ..self.config.clone()
            },
            None => self.config.clone(),
        };
        config.validate()?;
        let stages = match &self.backend {
            Backend::Gpu(gpu) => gpu.stages(pixels, config)?,
            Backend::Cpu => {
                let grid = cpu::background_filter(&cpu::background(pixels, config));
                let z = cpu::normalize(pixels, &grid, config);
                let sources = cpu::point_sources(z.view(), config);
                let zf = cpu::matched_filter(z.view(), sources.view(), config);
                // The refinement normalizes the frame again (cheaper than holding z through
                // the transform, which holds most of the memory).
                drop((z, sources));
                let peaks = cpu::line_peaks(zf.view(), config);
                Stages { grid, peaks }
            }
        };
        let streaks = refine::streaks(pixels, &stages.grid, &stages.peaks, config);
        Ok((streaks, stages.peaks))
    }
}

/// What the stages hand to the refinement: no image, only the background grid and the peaks
/// (the GPU path reads back nothing image-sized).
struct Stages {
    grid: BackgroundGrid,
    peaks: Vec<Peak>,
}
