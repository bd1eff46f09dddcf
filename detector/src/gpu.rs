//! The wgpu context: device, queue and the compute pipelines, built once; per-frame-size
//! buffers cached between frames.
//!
//! Every stage is exposed on its own ([`GpuContext::background`], [`GpuContext::normalize`],
//! [`GpuContext::point_sources`], [`GpuContext::matched_filter`], [`GpuContext::frt_level`], [`GpuContext::frt_peaks`]) with the signature of
//! its CPU reference in [`crate::cpu`], so that tests compare them stage by stage;
//! [`crate::Detector`] runs them all in one submission and reads back only what the refinement needs.
//!
//! Images go up and come back row-major (the shaders index pixel (x, y) as `y * width + x`): an
//! [`ArrayView2`] in standard layout is uploaded from its own memory, and what a shader wrote
//! becomes an [`Array2`] of shape `(height, width)` without a copy.

use std::sync::{Mutex, mpsc};

use bytemuck::{Pod, Zeroable};
use ndarray::{Array2, ArrayView2, CowArray, Ix2};

use crate::cpu::{self, BackgroundGrid, COLUMNS, FrtLevel, Peak, ROWS, size};
use crate::{DetectError, DetectorConfig, Stages, check_size};

/// `@workgroup_size` of `normalize.wgsl`, per axis.
const NORMALIZE_WG: u32 = 16;
/// `@workgroup_size` of `matched.wgsl`, per axis.
const MATCHED_WG: u32 = 16;
/// `@workgroup_size` of `frt.wgsl` and `frt_peaks.wgsl` (along the start column).
const FRT_WG: u32 = 64;

/// Uniform parameters shared by every shader; the WGSL `Params` struct has the same layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
struct Params {
    width: u32,
    height: u32,
    tile: u32,
    tiles_x: u32,
    tiles_y: u32,
    iterations: u32,
    clip_sigma: f32,
    var_correction: f32,
    clip_lo: f32,
    clip_hi: f32,
    filtered_clip: f32,
    transform_threshold: f32,
    nms_radius: u32,
    capacity: u32,
    psf_sigma: f32,
    kernel_radius: u32,
}

/// One FRT level's uniform parameters; the WGSL `Level` struct has the same layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
struct LevelParams {
    orientation: u32,
    level: u32,
    rows: u32,
    cols: u32,
    pad: i32,
    starts: u32,
    shifts: u32,
    blocks: u32,
    child_pad: i32,
    child_starts: u32,
    min_samples: f32,
    unused: u32,
}

impl LevelParams {
    /// The uniform of `level`: its geometry as [`FrtLevel`] defines it, and that of the level below.
    fn new(level: &FrtLevel) -> LevelParams {
        let child = FrtLevel {
            level: level.level - 1,
            ..*level
        };
        LevelParams {
            orientation: level.orientation,
            level: level.level,
            rows: level.rows,
            cols: level.cols,
            pad: level.pad() as i32,
            starts: level.starts(),
            shifts: level.shifts(),
            blocks: level.blocks(),
            child_pad: child.pad() as i32,
            child_starts: child.starts(),
            min_samples: cpu::min_samples(level),
            unused: 0,
        }
    }
}

/// One entry of the peaks buffer of `frt_peaks.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct GpuPeak {
    orientation: u32,
    level: u32,
    block: u32,
    shift: i32,
    x: i32,
    snr: f32,
}

/// The frame-wide buffers, in the order of [`FrameBuffers::buffers`]; the FRT levels ping-pong
/// between `FrtEven` (even levels) and `FrtOdd` (odd levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Params = 0,
    Pixels,
    TileStats,
    Stats,
    Z,
    Sources,
    Zf,
    FrtEven,
    FrtOdd,
    Counter,
    Peaks,
}

const SLOTS: usize = 11;

/// The buffer that holds level `level`'s entries.
fn frt_slot(level: u32) -> Slot {
    if level.is_multiple_of(2) {
        Slot::FrtEven
    } else {
        Slot::FrtOdd
    }
}

/// One dispatch of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Background,
    BackgroundFilter,
    Normalize,
    Sources,
    Matched,
    /// FRT level: index into [`FrameBuffers::levels`].
    Frt(usize),
    /// Peaks of an FRT level: index into [`FrameBuffers::levels`].
    FrtPeaks(usize),
}

/// What decides the buffer sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameKey {
    width: u32,
    height: u32,
    tile: u32,
    capacity: u32,
}

/// Buffers and bind groups for one frame size.
#[derive(Debug)]
struct FrameBuffers {
    key: FrameKey,
    buffers: Vec<wgpu::Buffer>,
    /// One mappable copy per slot; `None` for the slots never read back.
    readback: Vec<Option<wgpu::Buffer>>,
    /// Background, background filter, normalize, sources, matched.
    bind_groups: [wgpu::BindGroup; 5],
    /// Every FRT level of both orientations, with its uniform buffer and the bind groups of
    /// `frt.wgsl` and `frt_peaks.wgsl`.
    levels: Vec<LevelBuffers>,
}

#[derive(Debug)]
struct LevelBuffers {
    level: FrtLevel,
    /// Kept alive for the bind groups.
    _uniform: wgpu::Buffer,
    frt: wgpu::BindGroup,
    peaks: wgpu::BindGroup,
}

/// Index of pipeline of each stage kind.
const BACKGROUND: usize = 0;
const BACKGROUND_FILTER: usize = 1;
const NORMALIZE: usize = 2;
const SOURCES: usize = 3;
const MATCHED: usize = 4;
const FRT: usize = 5;
const FRT_PEAKS: usize = 6;

/// The wgpu device and the detector's compute pipelines. Build once, reuse per frame.
#[derive(Debug)]
pub struct GpuContext {
    info: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// background, background_filter, normalize, sources, matched, frt, frt_peaks.
    pipelines: [wgpu::ComputePipeline; 7],
    frame: Mutex<Option<FrameBuffers>>,
}

impl GpuContext {
    /// Any adapter the machine has (real GPU or lavapipe) on the primary backends (Vulkan,
    /// Metal, DX12); the `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` environment variables change
    /// the choice. [`DetectError::NoAdapter`] when there is none.
    pub fn new() -> Result<GpuContext, DetectError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY),
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| DetectError::NoAdapter(e.to_string()))?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("kessler-detector"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| DetectError::Device(e.to_string()))?;
        let pipeline = |name: &str, source: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        // Each stage's source is params.wgsl (the shared uniform struct) followed by the stage's own file.
        macro_rules! shader {
            ($name:literal) => {
                concat!(
                    include_str!("../../shaders/params.wgsl"),
                    include_str!(concat!("../../shaders/", $name, ".wgsl"))
                )
            };
        }
        let pipelines = [
            pipeline("background", shader!("background")),
            pipeline("background_filter", shader!("background_filter")),
            pipeline("normalize", shader!("normalize")),
            pipeline("sources", shader!("sources")),
            pipeline("matched", shader!("matched")),
            pipeline("frt", shader!("frt")),
            pipeline("frt_peaks", shader!("frt_peaks")),
        ];
        tracing::info!(adapter = %adapter.get_info().name, "wgpu context ready");
        Ok(GpuContext {
            info: adapter.get_info(),
            device,
            queue,
            pipelines,
            frame: Mutex::new(None),
        })
    }

    /// Adapter name and graphics backend, e.g. `"llvmpipe (LLVM 15.0.7, 256 bits) (Vulkan)"`.
    pub fn adapter_description(&self) -> String {
        format!("{} ({})", self.info.name, self.info.backend)
    }

    /// GPU stage 1, as [`cpu::background`].
    pub fn background(
        &self,
        pixels: ArrayView2<f32>,
        config: &DetectorConfig,
    ) -> Result<BackgroundGrid, DetectError> {
        crate::validate_frame(pixels)?;
        let (width, height) = size(&pixels);
        let pixels = row_major(pixels);
        let out = self.run(
            (width, height),
            config,
            &[(Slot::Pixels, bytes(&pixels))],
            &[Stage::Background],
            &[Slot::TileStats],
        )?;
        Ok(grid_from_bytes(&out[0], width, height, config.tile))
    }

    /// GPU stage 1b, as [`cpu::background_filter`]; `grid` must be the grid of a `width` x
    /// `height` frame with `config.tile`.
    pub fn background_filter(
        &self,
        grid: &BackgroundGrid,
        width: u32,
        height: u32,
        config: &DetectorConfig,
    ) -> Result<BackgroundGrid, DetectError> {
        check_grid(grid, width, height, config)?;
        let out = self.run(
            (width, height),
            config,
            &[(Slot::TileStats, bytemuck::cast_slice(&grid.stats))],
            &[Stage::BackgroundFilter],
            &[Slot::Stats],
        )?;
        Ok(grid_from_bytes(&out[0], width, height, config.tile))
    }

    /// GPU stage 2, as [`cpu::normalize`].
    pub fn normalize(
        &self,
        pixels: ArrayView2<f32>,
        grid: &BackgroundGrid,
        config: &DetectorConfig,
    ) -> Result<Array2<f32>, DetectError> {
        crate::validate_frame(pixels)?;
        let (width, height) = size(&pixels);
        check_grid(grid, width, height, config)?;
        let pixels = row_major(pixels);
        let out = self.run(
            (width, height),
            config,
            &[
                (Slot::Pixels, bytes(&pixels)),
                (Slot::Stats, bytemuck::cast_slice(&grid.stats)),
            ],
            &[Stage::Normalize],
            &[Slot::Z],
        )?;
        Ok(image_from_bytes(&out[0], (width, height)))
    }

    /// GPU stage 2b, as [`cpu::point_sources`].
    pub fn point_sources(
        &self,
        z: ArrayView2<f32>,
        config: &DetectorConfig,
    ) -> Result<Array2<u32>, DetectError> {
        crate::validate_frame(z)?;
        let (width, height) = size(&z);
        let z = row_major(z);
        let out = self.run(
            (width, height),
            config,
            &[(Slot::Z, bytes(&z))],
            &[Stage::Sources],
            &[Slot::Sources],
        )?;
        Ok(image_from_bytes(&out[0], (width, height)))
    }

    /// GPU stage 3, as [`cpu::matched_filter`].
    pub fn matched_filter(
        &self,
        z: ArrayView2<f32>,
        sources: ArrayView2<u32>,
        config: &DetectorConfig,
    ) -> Result<Array2<[f32; 2]>, DetectError> {
        crate::validate_frame(z)?;
        let (width, height) = size(&z);
        if sources.dim() != z.dim() {
            return Err(DetectError::BadInput {
                width,
                height,
                what: format!(
                    "point-source flags of {} x {} px",
                    sources.ncols(),
                    sources.nrows()
                ),
            });
        }
        let (z, sources) = (row_major(z), row_major(sources));
        let out = self.run(
            (width, height),
            config,
            &[(Slot::Z, bytes(&z)), (Slot::Sources, bytes(&sources))],
            &[Stage::Matched],
            &[Slot::Zf],
        )?;
        Ok(image_from_bytes(&out[0], (width, height)))
    }

    /// GPU stage 4: FRT levels 1 to `level.level` of `level.orientation` (each as
    /// [`cpu::frt_level`]) of `zf`, a filtered image; returns the last.
    pub fn frt_level(
        &self,
        zf: ArrayView2<[f32; 2]>,
        level: &FrtLevel,
    ) -> Result<Vec<[f32; 2]>, DetectError> {
        check_size(&zf)?;
        let (width, height) = size(&zf);
        let zf = row_major(zf);
        let config = DetectorConfig::default();
        let stages: Vec<Stage> = level_indices(width, height)
            .filter(|(_, l)| l.orientation == level.orientation && l.level <= level.level)
            .map(|(i, _)| Stage::Frt(i))
            .collect();
        if stages.len() != level.level as usize
            || !FrtLevel::all(width, height, level.orientation).contains(level)
        {
            return Err(bad_level(width, height, level));
        }
        let out = self.run(
            (width, height),
            &config,
            &[(Slot::Zf, bytes(&zf))],
            &stages,
            &[frt_slot(level.level)],
        )?;
        let mut values: Vec<[f32; 2]> = bytemuck::pod_collect_to_vec(&out[0]);
        values.truncate(level.len());
        Ok(values)
    }

    /// GPU stage 5, as [`cpu::frt_peaks`] (same order: strongest first), on the entries
    /// `values` of `level` of a `width` x `height` frame. When more than `config.max_peaks`
    /// peaks exist, which ones are kept differs from the CPU path.
    pub fn frt_peaks(
        &self,
        width: u32,
        height: u32,
        level: &FrtLevel,
        values: &[[f32; 2]],
        config: &DetectorConfig,
    ) -> Result<Vec<Peak>, DetectError> {
        let Some((index, _)) = level_indices(width, height).find(|(_, l)| l == level) else {
            return Err(bad_level(width, height, level));
        };
        if values.len() != level.len() {
            return Err(DetectError::BadInput {
                width,
                height,
                what: format!(
                    "{} FRT entries for a level of {}",
                    values.len(),
                    level.len()
                ),
            });
        }
        let out = self.run(
            (width, height),
            config,
            &[(frt_slot(level.level), bytemuck::cast_slice(values))],
            &[Stage::FrtPeaks(index)],
            &[Slot::Counter, Slot::Peaks],
        )?;
        Ok(peaks_from_bytes(&out[0], &out[1]))
    }

    /// Every stage in one submission: the background grid, the normalized image and the
    /// peaks of every searched FRT level (the filtered image and the FRT stay on the GPU).
    pub(crate) fn stages(
        &self,
        pixels: ArrayView2<f32>,
        config: &DetectorConfig,
    ) -> Result<Stages, DetectError> {
        let (width, height) = size(&pixels);
        let pixels = row_major(pixels);
        let mut stages = vec![
            Stage::Background,
            Stage::BackgroundFilter,
            Stage::Normalize,
            Stage::Sources,
            Stage::Matched,
        ];
        for (i, level) in level_indices(width, height) {
            stages.push(Stage::Frt(i));
            if cpu::searched(&level, config) {
                stages.push(Stage::FrtPeaks(i));
            }
        }
        let out = self.run(
            (width, height),
            config,
            &[(Slot::Pixels, bytes(&pixels))],
            &stages,
            &[Slot::Stats, Slot::Counter, Slot::Peaks],
        )?;
        let mut peaks = peaks_from_bytes(&out[1], &out[2]);
        peaks.truncate(config.max_peaks as usize);
        Ok(Stages {
            grid: grid_from_bytes(&out[0], width, height, config.tile),
            peaks,
        })
    }

    /// Uploads `uploads`, runs `stages` in order in one compute pass (wgpu orders each
    /// dispatch's storage writes before the next dispatch's reads), and returns the bytes of
    /// the `reads` slots.
    fn run(
        &self,
        (width, height): (u32, u32),
        config: &DetectorConfig,
        uploads: &[(Slot, &[u8])],
        stages: &[Stage],
        reads: &[Slot],
    ) -> Result<Vec<Vec<u8>>, DetectError> {
        config.validate()?;
        let key = FrameKey {
            width,
            height,
            tile: config.tile,
            capacity: config.max_peaks,
        };
        let mut cache = self
            .frame
            .lock()
            .map_err(|_| DetectError::Gpu("frame buffer cache poisoned".to_string()))?;
        if cache.as_ref().is_none_or(|f| f.key != key) {
            *cache = None;
            *cache = Some(self.frame_buffers(key)?);
        }
        let frame = cache.as_ref().expect("frame buffers were just built");

        let params = params(width, height, config);
        self.queue.write_buffer(
            &frame.buffers[Slot::Params as usize],
            0,
            bytemuck::bytes_of(&params),
        );
        for (slot, data) in uploads {
            self.queue
                .write_buffer(&frame.buffers[*slot as usize], 0, data);
        }

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("detector"),
            });
        if stages.iter().any(|s| matches!(s, Stage::FrtPeaks(_))) {
            encoder.clear_buffer(&frame.buffers[Slot::Counter as usize], 0, None);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("detector stages"),
                timestamp_writes: None,
            });
            for &stage in stages {
                let (pipeline, bind_group, groups) = match stage {
                    Stage::Background => (
                        BACKGROUND,
                        &frame.bind_groups[0],
                        [params.tiles_x, params.tiles_y, 1],
                    ),
                    Stage::BackgroundFilter => (
                        BACKGROUND_FILTER,
                        &frame.bind_groups[1],
                        [params.tiles_x.div_ceil(8), params.tiles_y.div_ceil(8), 1],
                    ),
                    Stage::Normalize => (
                        NORMALIZE,
                        &frame.bind_groups[2],
                        [
                            width.div_ceil(NORMALIZE_WG),
                            height.div_ceil(NORMALIZE_WG),
                            1,
                        ],
                    ),
                    Stage::Sources => (
                        SOURCES,
                        &frame.bind_groups[3],
                        [width.div_ceil(MATCHED_WG), height.div_ceil(MATCHED_WG), 1],
                    ),
                    Stage::Matched => (
                        MATCHED,
                        &frame.bind_groups[4],
                        [width.div_ceil(MATCHED_WG), height.div_ceil(MATCHED_WG), 1],
                    ),
                    Stage::Frt(i) => (
                        FRT,
                        &frame.levels[i].frt,
                        level_groups(&frame.levels[i].level),
                    ),
                    Stage::FrtPeaks(i) => (
                        FRT_PEAKS,
                        &frame.levels[i].peaks,
                        level_groups(&frame.levels[i].level),
                    ),
                };
                pass.set_pipeline(&self.pipelines[pipeline]);
                pass.set_bind_group(0, bind_group, &[]);
                pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            }
        }
        for &slot in reads {
            let source = &frame.buffers[slot as usize];
            let target = frame.readback[slot as usize]
                .as_ref()
                .expect("every read slot has a readback buffer");
            encoder.copy_buffer_to_buffer(source, 0, target, 0, source.size());
        }
        self.queue.submit([encoder.finish()]);

        let (sender, receiver) = mpsc::channel();
        for &slot in reads {
            let sender = sender.clone();
            let target = frame.readback[slot as usize]
                .as_ref()
                .expect("every read slot has a readback buffer");
            target.map_async(wgpu::MapMode::Read, .., move |result| {
                // The receiver outlives the poll below; a failed send cannot happen.
                let _ = sender.send((slot, result));
            });
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| DetectError::Gpu(format!("device poll: {e}")))?;
        for _ in reads {
            let (slot, result) = receiver
                .recv()
                .map_err(|_| DetectError::Gpu("buffer mapping never completed".to_string()))?;
            result.map_err(|e| DetectError::Gpu(format!("mapping {slot:?}: {e}")))?;
        }
        let mut out = Vec::with_capacity(reads.len());
        for &slot in reads {
            let target = frame.readback[slot as usize]
                .as_ref()
                .expect("every read slot has a readback buffer");
            let bytes = target
                .get_mapped_range(..)
                .map_err(|e| DetectError::Gpu(format!("reading {slot:?}: {e}")))?
                .to_vec();
            target.unmap();
            out.push(bytes);
        }
        Ok(out)
    }

    /// Buffers, readback copies and bind groups for frames of `key`'s size.
    fn frame_buffers(&self, key: FrameKey) -> Result<FrameBuffers, DetectError> {
        let (width, height) = (key.width, key.height);
        let pixels = u64::from(width) * u64::from(height) * 4;
        let tiles = u64::from(width.div_ceil(key.tile) * height.div_ceil(key.tile));
        // The top level of an orientation is its largest.
        let frt = level_indices(width, height)
            .map(|(_, l)| l.len() as u64 * 8)
            .max()
            .unwrap_or(8);
        let sizes: [u64; SLOTS] = [
            size_of::<Params>() as u64,
            pixels,
            tiles * 8,
            tiles * 8,
            pixels,
            pixels,
            2 * pixels,
            frt,
            frt,
            4,
            u64::from(key.capacity) * size_of::<GpuPeak>() as u64,
        ];
        let limits = self.device.limits();
        let largest = sizes.iter().copied().max().unwrap_or(0);
        if largest > limits.max_storage_buffer_binding_size || largest > limits.max_buffer_size {
            return Err(DetectError::BadInput {
                width,
                height,
                what: format!(
                    "needs a {largest}-byte buffer, more than this adapter binds ({})",
                    limits.max_storage_buffer_binding_size
                ),
            });
        }
        let readable = [
            Slot::TileStats,
            Slot::Stats,
            Slot::Z,
            Slot::Sources,
            Slot::Zf,
            Slot::FrtEven,
            Slot::FrtOdd,
            Slot::Counter,
            Slot::Peaks,
        ];
        let copy = wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let buffers: Vec<wgpu::Buffer> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                let usage = if i == Slot::Params as usize {
                    wgpu::BufferUsages::UNIFORM | copy
                } else {
                    wgpu::BufferUsages::STORAGE | copy
                };
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("detector frame"),
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let readback = (0..SLOTS)
            .map(|i| {
                readable.iter().any(|s| *s as usize == i).then(|| {
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("detector readback"),
                        size: sizes[i],
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
            })
            .collect();
        let bind = |pipeline: usize, resources: &[&wgpu::Buffer]| {
            let entries: Vec<wgpu::BindGroupEntry> = resources
                .iter()
                .enumerate()
                .map(|(binding, buffer)| wgpu::BindGroupEntry {
                    binding: binding as u32,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("detector stage"),
                layout: &self.pipelines[pipeline].get_bind_group_layout(0),
                entries: &entries,
            })
        };
        let slot = |s: Slot| &buffers[s as usize];
        let bind_groups = [
            bind(
                BACKGROUND,
                &[
                    slot(Slot::Params),
                    slot(Slot::Pixels),
                    slot(Slot::TileStats),
                ],
            ),
            bind(
                BACKGROUND_FILTER,
                &[slot(Slot::Params), slot(Slot::TileStats), slot(Slot::Stats)],
            ),
            bind(
                NORMALIZE,
                &[
                    slot(Slot::Params),
                    slot(Slot::Pixels),
                    slot(Slot::Stats),
                    slot(Slot::Z),
                ],
            ),
            bind(
                SOURCES,
                &[slot(Slot::Params), slot(Slot::Z), slot(Slot::Sources)],
            ),
            bind(
                MATCHED,
                &[
                    slot(Slot::Params),
                    slot(Slot::Z),
                    slot(Slot::Sources),
                    slot(Slot::Zf),
                ],
            ),
        ];
        let levels = level_indices(width, height)
            .map(|(_, level)| {
                let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("FRT level"),
                    size: size_of::<LevelParams>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.queue
                    .write_buffer(&uniform, 0, bytemuck::bytes_of(&LevelParams::new(&level)));
                let (below, own) = (slot(frt_slot(level.level + 1)), slot(frt_slot(level.level)));
                let frt = bind(
                    FRT,
                    &[slot(Slot::Params), &uniform, slot(Slot::Zf), below, own],
                );
                let peaks = bind(
                    FRT_PEAKS,
                    &[
                        slot(Slot::Params),
                        &uniform,
                        own,
                        slot(Slot::Counter),
                        slot(Slot::Peaks),
                    ],
                );
                LevelBuffers {
                    level,
                    _uniform: uniform,
                    frt,
                    peaks,
                }
            })
            .collect();
        Ok(FrameBuffers {
            key,
            buffers,
            readback,
            bind_groups,
            levels,
        })
    }
}

/// Every FRT level of a `width` x `height` frame, rows first, each with its index in
/// [`FrameBuffers::levels`].
fn level_indices(width: u32, height: u32) -> impl Iterator<Item = (usize, FrtLevel)> {
    FrtLevel::all(width, height, ROWS)
        .into_iter()
        .chain(FrtLevel::all(width, height, COLUMNS))
        .enumerate()
}

/// Workgroups of one FRT level's dispatch: starts / `FRT_WG`, shifts, blocks.
fn level_groups(level: &FrtLevel) -> [u32; 3] {
    [
        level.starts().div_ceil(FRT_WG),
        level.shifts(),
        level.blocks(),
    ]
}

/// Checks that `grid` is the background grid of a `width` x `height` frame with `config.tile`.
fn check_grid(
    grid: &BackgroundGrid,
    width: u32,
    height: u32,
    config: &DetectorConfig,
) -> Result<(), DetectError> {
    let (tiles_x, tiles_y) = (width.div_ceil(config.tile), height.div_ceil(config.tile));
    if grid.tile != config.tile
        || grid.tiles_x != tiles_x
        || grid.tiles_y != tiles_y
        || grid.stats.len() != (tiles_x * tiles_y) as usize
    {
        return Err(DetectError::BadInput {
            width,
            height,
            what: format!(
                "background grid of {}x{} tiles of {} px does not fit tiles of {} px",
                grid.tiles_x, grid.tiles_y, grid.tile, config.tile
            ),
        });
    }
    Ok(())
}

fn bad_level(width: u32, height: u32, level: &FrtLevel) -> DetectError {
    DetectError::BadInput {
        width,
        height,
        what: format!("{level:?} is not an FRT level of this frame"),
    }
}

/// The shaders' uniform parameters for one frame.
fn params(width: u32, height: u32, config: &DetectorConfig) -> Params {
    Params {
        width,
        height,
        tile: config.tile,
        tiles_x: width.div_ceil(config.tile),
        tiles_y: height.div_ceil(config.tile),
        iterations: config.clip_iterations,
        clip_sigma: config.clip_sigma,
        var_correction: cpu::clipped_sigma_correction(config.clip_sigma),
        clip_lo: config.clip_lo,
        clip_hi: config.clip_hi,
        filtered_clip: config.filtered_clip,
        transform_threshold: config.transform_threshold,
        nms_radius: config.nms_radius,
        capacity: config.max_peaks,
        psf_sigma: config.psf_sigma_px,
        kernel_radius: cpu::kernel_radius(config.psf_sigma_px),
    }
}

/// `image` in row-major order, as the shaders index it: a view of its own memory when it is in
/// standard layout (every frame the readers make is), else a copy.
fn row_major<A: Clone>(image: ArrayView2<'_, A>) -> CowArray<'_, A, Ix2> {
    if image.is_standard_layout() {
        image.into()
    } else {
        image.as_standard_layout().into_owned().into()
    }
}

/// The bytes of a row-major image, for upload.
fn bytes<'a, A: Pod>(image: &'a CowArray<'_, A, Ix2>) -> &'a [u8] {
    bytemuck::cast_slice(
        image
            .as_slice()
            .expect("row_major gives the standard layout"),
    )
}

/// The `width` x `height` image a shader wrote row-major.
fn image_from_bytes<A: Pod>(bytes: &[u8], (width, height): (u32, u32)) -> Array2<A> {
    Array2::from_shape_vec(
        (height as usize, width as usize),
        bytemuck::pod_collect_to_vec(bytes),
    )
    .expect("the image buffers hold one value per pixel")
}

fn grid_from_bytes(bytes: &[u8], width: u32, height: u32, tile: u32) -> BackgroundGrid {
    BackgroundGrid {
        tile,
        tiles_x: width.div_ceil(tile),
        tiles_y: height.div_ceil(tile),
        stats: bytemuck::pod_collect_to_vec(bytes),
    }
}

/// The peaks the shader appended, strongest first as [`cpu::frt_peaks`] orders them.
fn peaks_from_bytes(counter: &[u8], peaks: &[u8]) -> Vec<Peak> {
    let found: u32 = bytemuck::pod_read_unaligned(counter);
    let all: Vec<GpuPeak> = bytemuck::pod_collect_to_vec(peaks);
    if found as usize > all.len() {
        tracing::warn!(
            found,
            capacity = all.len(),
            "more FRT peaks than capacity; the extra ones are lost"
        );
    }
    let mut out: Vec<Peak> = all[..all.len().min(found as usize)]
        .iter()
        .map(|p| Peak {
            orientation: p.orientation,
            level: p.level,
            block: p.block,
            shift: p.shift,
            x: p.x,
            snr: p.snr,
        })
        .collect();
    cpu::sort_peaks(&mut out);
    out
}
