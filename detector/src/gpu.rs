//! The wgpu context: device, queue and the five compute pipelines, built once; per-frame-size
//! buffers cached between frames.
//!
//! Every stage is exposed on its own ([`GpuContext::background`], [`GpuContext::normalize`],
//! [`GpuContext::matched_filter`], [`GpuContext::radon`], [`GpuContext::peaks`]) with the signature of its CPU reference in
//! [`crate::cpu`], so that tests compare them stage by stage; [`crate::Detector`] runs the five
//! in one submission and reads back only what the refinement needs.

use std::sync::{Mutex, mpsc};

use bytemuck::{Pod, Zeroable};

use crate::cpu::{self, BackgroundGrid, LineGeometry, Peak, SnrMap};
use crate::{DetectError, DetectorConfig, Stages};

/// `@workgroup_size` of `normalize.wgsl`, per axis.
const NORMALIZE_WG: u32 = 16;
/// `@workgroup_size` of `matched.wgsl`, per axis.
const MATCHED_WG: u32 = 16;
/// `@workgroup_size` of `radon.wgsl` (along rho).
const RADON_WG: u32 = 64;
/// `@workgroup_size` of `peaks.wgsl` (along rho).
const PEAKS_WG: u32 = 64;

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
    n_theta: u32,
    n_rho: u32,
    rho_half: u32,
    min_samples: u32,
    snr_threshold: f32,
    nms_radius: u32,
    capacity: u32,
    psf_sigma: f32,
    kernel_radius: u32,
    line_variance: f32,
}

/// One entry of the peaks buffer of `peaks.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct GpuPeak {
    theta_index: u32,
    rho_index: u32,
    snr: f32,
    pad: u32,
}

/// The buffers of the pipeline, in the order of [`FrameBuffers::buffers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Params = 0,
    Pixels,
    Stats,
    Z,
    Zf,
    Trig,
    Snr,
    Counter,
    Peaks,
}

const SLOTS: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Background,
    Normalize,
    Matched,
    Radon,
    Peaks,
}

/// What decides the buffer sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameKey {
    width: u32,
    height: u32,
    tile: u32,
    n_theta: u32,
    capacity: u32,
}

/// Buffers and bind groups for one frame size.
#[derive(Debug)]
struct FrameBuffers {
    key: FrameKey,
    buffers: Vec<wgpu::Buffer>,
    /// One mappable copy per slot; `None` for the slots never read back.
    readback: Vec<Option<wgpu::Buffer>>,
    bind_groups: [wgpu::BindGroup; 5],
}

/// The wgpu device and the detector's five compute pipelines. Build once, reuse per frame.
#[derive(Debug)]
pub struct GpuContext {
    info: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Indexed by `Stage as usize`.
    pipelines: [wgpu::ComputePipeline; 5],
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
            pipeline("normalize", shader!("normalize")),
            pipeline("matched", shader!("matched")),
            pipeline("radon", shader!("radon")),
            pipeline("peaks", shader!("peaks")),
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
        pixels: &[f32],
        width: u32,
        height: u32,
        config: &DetectorConfig,
    ) -> Result<BackgroundGrid, DetectError> {
        crate::validate_frame(pixels, width, height)?;
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let out = self.run(
            &geometry,
            config,
            &[(Slot::Pixels, bytemuck::cast_slice(pixels))],
            &[Stage::Background],
            &[Slot::Stats],
        )?;
        Ok(grid_from_bytes(&out[0], width, height, config.tile))
    }

    /// GPU stage 2, as [`cpu::normalize`].
    pub fn normalize(
        &self,
        pixels: &[f32],
        width: u32,
        height: u32,
        grid: &BackgroundGrid,
        config: &DetectorConfig,
    ) -> Result<Vec<f32>, DetectError> {
        crate::validate_frame(pixels, width, height)?;
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let (tiles_x, tiles_y) = (width.div_ceil(config.tile), height.div_ceil(config.tile));
        if grid.tile != config.tile || grid.tiles_x != tiles_x || grid.tiles_y != tiles_y {
            return Err(DetectError::BadInput {
                width,
                height,
                what: format!(
                    "background grid of {}x{} tiles of {} px does not fit tiles of {} px",
                    grid.tiles_x, grid.tiles_y, grid.tile, config.tile
                ),
            });
        }
        let out = self.run(
            &geometry,
            config,
            &[
                (Slot::Pixels, bytemuck::cast_slice(pixels)),
                (Slot::Stats, bytemuck::cast_slice(&grid.stats)),
            ],
            &[Stage::Normalize],
            &[Slot::Z],
        )?;
        Ok(bytemuck::pod_collect_to_vec(&out[0]))
    }

    /// GPU stage 3, as [`cpu::matched_filter`].
    pub fn matched_filter(
        &self,
        z: &[f32],
        width: u32,
        height: u32,
        config: &DetectorConfig,
    ) -> Result<Vec<f32>, DetectError> {
        crate::validate_frame(z, width, height)?;
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let out = self.run(
            &geometry,
            config,
            &[(Slot::Z, bytemuck::cast_slice(z))],
            &[Stage::Matched],
            &[Slot::Zf],
        )?;
        Ok(bytemuck::pod_collect_to_vec(&out[0]))
    }

    /// GPU stage 4, as [`cpu::radon`]; `geometry.n_theta` must equal `config.n_theta`.
    pub fn radon(
        &self,
        zf: &[f32],
        geometry: &LineGeometry,
        config: &DetectorConfig,
    ) -> Result<SnrMap, DetectError> {
        check_geometry(zf.len(), geometry, config)?;
        let out = self.run(
            geometry,
            config,
            &[(Slot::Zf, bytemuck::cast_slice(zf))],
            &[Stage::Radon],
            &[Slot::Snr],
        )?;
        Ok(SnrMap {
            n_theta: geometry.n_theta,
            n_rho: geometry.n_rho,
            values: bytemuck::pod_collect_to_vec(&out[0]),
        })
    }

    /// GPU stage 5, as [`cpu::peaks`] (same order: strongest first). When more than
    /// `config.max_peaks` peaks exist, which ones are kept differs from the CPU path.
    pub fn peaks(
        &self,
        map: &SnrMap,
        geometry: &LineGeometry,
        config: &DetectorConfig,
    ) -> Result<Vec<Peak>, DetectError> {
        let pixels = geometry.width as usize * geometry.height as usize;
        check_geometry(pixels, geometry, config)?;
        if map.n_theta != geometry.n_theta || map.n_rho != geometry.n_rho {
            return Err(DetectError::BadInput {
                width: geometry.width,
                height: geometry.height,
                what: "S/N map and line geometry differ in size".to_string(),
            });
        }
        let out = self.run(
            geometry,
            config,
            &[(Slot::Snr, bytemuck::cast_slice(&map.values))],
            &[Stage::Peaks],
            &[Slot::Counter, Slot::Peaks],
        )?;
        Ok(peaks_from_bytes(&out[0], &out[1], geometry.n_rho))
    }

    /// All five stages in one submission: the background grid, the normalized image and the
    /// peaks (the S/N map stays on the GPU).
    pub(crate) fn stages(
        &self,
        pixels: &[f32],
        width: u32,
        height: u32,
        config: &DetectorConfig,
    ) -> Result<Stages, DetectError> {
        let geometry = LineGeometry::new(width, height, config.n_theta);
        let out = self.run(
            &geometry,
            config,
            &[(Slot::Pixels, bytemuck::cast_slice(pixels))],
            &[
                Stage::Background,
                Stage::Normalize,
                Stage::Matched,
                Stage::Radon,
                Stage::Peaks,
            ],
            &[Slot::Stats, Slot::Z, Slot::Counter, Slot::Peaks],
        )?;
        Ok(Stages {
            grid: grid_from_bytes(&out[0], width, height, config.tile),
            z: bytemuck::pod_collect_to_vec(&out[1]),
            peaks: peaks_from_bytes(&out[2], &out[3], geometry.n_rho),
        })
    }

    /// Uploads `uploads`, runs `stages` in order in one compute pass (wgpu orders each
    /// dispatch's storage writes before the next dispatch's reads), and returns the bytes of
    /// the `reads` slots.
    fn run(
        &self,
        geometry: &LineGeometry,
        config: &DetectorConfig,
        uploads: &[(Slot, &[u8])],
        stages: &[Stage],
        reads: &[Slot],
    ) -> Result<Vec<Vec<u8>>, DetectError> {
        config.validate()?;
        let key = FrameKey {
            width: geometry.width,
            height: geometry.height,
            tile: config.tile,
            n_theta: config.n_theta,
            capacity: config.max_peaks,
        };
        let mut cache = self
            .frame
            .lock()
            .map_err(|_| DetectError::Gpu("frame buffer cache poisoned".to_string()))?;
        if cache.as_ref().is_none_or(|f| f.key != key) {
            *cache = None;
            *cache = Some(self.frame_buffers(key, geometry)?);
        }
        let frame = cache.as_ref().expect("frame buffers were just built");

        let params = params(geometry, config);
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
        if stages.contains(&Stage::Peaks) {
            encoder.clear_buffer(&frame.buffers[Slot::Counter as usize], 0, None);
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("detector stages"),
                timestamp_writes: None,
            });
            for &stage in stages {
                let groups = match stage {
                    Stage::Background => [params.tiles_x, params.tiles_y, 1],
                    Stage::Normalize => [
                        params.width.div_ceil(NORMALIZE_WG),
                        params.height.div_ceil(NORMALIZE_WG),
                        1,
                    ],
                    Stage::Matched => [
                        params.width.div_ceil(MATCHED_WG),
                        params.height.div_ceil(MATCHED_WG),
                        1,
                    ],
                    Stage::Radon => [params.n_rho.div_ceil(RADON_WG), params.n_theta, 1],
                    Stage::Peaks => [params.n_rho.div_ceil(PEAKS_WG), params.n_theta, 1],
                };
                pass.set_pipeline(&self.pipelines[stage as usize]);
                pass.set_bind_group(0, &frame.bind_groups[stage as usize], &[]);
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
    fn frame_buffers(
        &self,
        key: FrameKey,
        geometry: &LineGeometry,
    ) -> Result<FrameBuffers, DetectError> {
        let pixels = u64::from(key.width) * u64::from(key.height) * 4;
        let tiles = u64::from(key.width.div_ceil(key.tile) * key.height.div_ceil(key.tile));
        let sizes: [u64; SLOTS] = [
            size_of::<Params>() as u64,
            pixels,
            tiles * 8,
            pixels,
            pixels,
            u64::from(key.n_theta) * 8,
            u64::from(key.n_theta) * u64::from(geometry.n_rho) * 4,
            4,
            u64::from(key.capacity) * size_of::<GpuPeak>() as u64,
        ];
        let limits = self.device.limits();
        let largest = sizes.iter().copied().max().unwrap_or(0);
        if largest > limits.max_storage_buffer_binding_size || largest > limits.max_buffer_size {
            return Err(DetectError::BadInput {
                width: key.width,
                height: key.height,
                what: format!(
                    "needs a {largest}-byte buffer, more than this adapter binds ({})",
                    limits.max_storage_buffer_binding_size
                ),
            });
        }
        let readable = [
            Slot::Stats,
            Slot::Z,
            Slot::Zf,
            Slot::Snr,
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
        self.queue.write_buffer(
            &buffers[Slot::Trig as usize],
            0,
            bytemuck::cast_slice(&geometry.trig),
        );
        let bind = |stage: Stage, slots: &[Slot]| {
            let entries: Vec<wgpu::BindGroupEntry> = slots
                .iter()
                .enumerate()
                .map(|(binding, &slot)| wgpu::BindGroupEntry {
                    binding: binding as u32,
                    resource: buffers[slot as usize].as_entire_binding(),
                })
                .collect();
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("detector stage"),
                layout: &self.pipelines[stage as usize].get_bind_group_layout(0),
                entries: &entries,
            })
        };
        let bind_groups = [
            bind(
                Stage::Background,
                &[Slot::Params, Slot::Pixels, Slot::Stats],
            ),
            bind(
                Stage::Normalize,
                &[Slot::Params, Slot::Pixels, Slot::Stats, Slot::Z],
            ),
            bind(Stage::Matched, &[Slot::Params, Slot::Z, Slot::Zf]),
            bind(
                Stage::Radon,
                &[Slot::Params, Slot::Zf, Slot::Trig, Slot::Snr],
            ),
            bind(
                Stage::Peaks,
                &[Slot::Params, Slot::Snr, Slot::Counter, Slot::Peaks],
            ),
        ];
        Ok(FrameBuffers {
            key,
            buffers,
            readback,
            bind_groups,
        })
    }
}

/// The shaders' uniform parameters for one frame.
fn params(geometry: &LineGeometry, config: &DetectorConfig) -> Params {
    Params {
        width: geometry.width,
        height: geometry.height,
        tile: config.tile,
        tiles_x: geometry.width.div_ceil(config.tile),
        tiles_y: geometry.height.div_ceil(config.tile),
        iterations: config.clip_iterations,
        clip_sigma: config.clip_sigma,
        var_correction: cpu::clipped_sigma_correction(config.clip_sigma),
        clip_lo: config.clip_lo,
        clip_hi: config.clip_hi,
        n_theta: geometry.n_theta,
        n_rho: geometry.n_rho,
        rho_half: geometry.rho_half,
        min_samples: cpu::min_samples(config),
        snr_threshold: config.snr_threshold,
        nms_radius: config.nms_radius,
        capacity: config.max_peaks,
        psf_sigma: config.psf_sigma_px,
        kernel_radius: cpu::kernel_radius(config.psf_sigma_px),
        line_variance: cpu::line_variance(config.psf_sigma_px),
    }
}

/// Checks that an image of `pixels` values fits `geometry` and `geometry` fits `config`.
fn check_geometry(
    pixels: usize,
    geometry: &LineGeometry,
    config: &DetectorConfig,
) -> Result<(), DetectError> {
    let (width, height) = (geometry.width, geometry.height);
    let what = if pixels != width as usize * height as usize {
        format!("{pixels} values for a {width} x {height} geometry")
    } else if geometry.n_theta != config.n_theta {
        format!(
            "geometry has {} angles, configuration {}",
            geometry.n_theta, config.n_theta
        )
    } else {
        return Ok(());
    };
    Err(DetectError::BadInput {
        width,
        height,
        what,
    })
}

fn grid_from_bytes(bytes: &[u8], width: u32, height: u32, tile: u32) -> BackgroundGrid {
    BackgroundGrid {
        tile,
        tiles_x: width.div_ceil(tile),
        tiles_y: height.div_ceil(tile),
        stats: bytemuck::pod_collect_to_vec(bytes),
    }
}

/// The peaks the shader appended, strongest first as [`cpu::peaks`] orders them.
fn peaks_from_bytes(counter: &[u8], peaks: &[u8], n_rho: u32) -> Vec<Peak> {
    let found: u32 = bytemuck::pod_read_unaligned(counter);
    let all: Vec<GpuPeak> = bytemuck::pod_collect_to_vec(peaks);
    if found as usize > all.len() {
        tracing::warn!(
            found,
            capacity = all.len(),
            "more line-transform peaks than capacity; the extra ones are lost"
        );
    }
    let mut out: Vec<Peak> = all[..all.len().min(found as usize)]
        .iter()
        .map(|p| Peak {
            theta_index: p.theta_index,
            rho_index: p.rho_index,
            snr: p.snr,
        })
        .collect();
    cpu::sort_peaks(&mut out, n_rho);
    out
}
