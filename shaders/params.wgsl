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

// One level of the Fast Radon Transform in one orientation, its geometry computed by the host from `FrtLevel` in
// detector/src/cpu.rs (so the shaders and the CPU reference share one definition of it).
struct Level {
    orientation: u32,  // 0: lines advance one image row per sample; 1: one image column (transposed)
    level: u32,        // log2 of the block height h
    rows: u32,         // rows of the oriented image
    cols: u32,         // columns of the oriented image
    pad: i32,          // h - 1: columns of padding on either side, and the largest |shift|
    starts: u32,       // start columns per shift: cols + 2 pad
    shifts: u32,       // shifts per block: 2 pad + 1
    blocks: u32,       // blocks of h rows
    child_pad: i32,    // pad of the level below
    child_starts: u32, // starts of the level below
    min_samples: f32,  // fewest in-frame samples of an entry searched for peaks
    unused: u32,
}
