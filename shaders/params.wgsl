// The uniform parameters shared by the detector shaders: the host (detector/src/gpu.rs) prepends this file to each
// stage's source, since WGSL has no include. Must match `Params` and `LevelParams` in detector/src/gpu.rs.
struct Params {
    width: u32,               // frame width, px
    height: u32,              // frame height, px
    tile: u32,                // tile side, px (tile * tile <= MAX_PIXELS)
    tiles_x: u32,             // tiles per row
    tiles_y: u32,             // tiles per column
    iterations: u32,          // sigma-clipping rounds
    clip_sigma: f32,          // clipping half-width, in sigma
    var_correction: f32,      // sigma multiplier undoing the clipped-Gaussian bias
    clip_lo: f32,             // lower clip of the normalized image, in sigma (positive)
    clip_hi: f32,             // upper clip of the normalized image, in sigma
    filtered_clip: f32,       // clip of the matched-filtered image, in sigma (symmetric)
    transform_threshold: f32, // peak threshold on the FRT entries, S/N
    nms_radius: u32,          // non-maximum suppression half-width, entries
    capacity: u32,            // peak output capacity
    psf_sigma: f32,           // Gaussian sigma of the PSF, px
    kernel_radius: u32,       // half-width of the matched-filter kernel, px
}

// One level of the Fast Radon Transform in one orientation (`FrtLevel` in detector/src/cpu.rs).
struct Level {
    orientation: u32, // 0: lines advance one image row per sample; 1: one image column (transposed)
    level: u32,       // log2 of the block height h
    rows: u32,        // rows of the oriented image
    cols: u32,        // columns of the oriented image
    padded_rows: u32, // rows rounded up to a power of two
    min_samples: f32, // fewest in-frame samples of an entry searched for peaks
    pad0: u32,
    pad1: u32,
}
