// The uniform parameters of one frame, shared by every detector shader: the host (detector/src/gpu.rs) prepends
// this file to each stage's source, since WGSL has no include. Must match `Params` in detector/src/gpu.rs.
struct Params {
    width: u32,            // frame width, px
    height: u32,           // frame height, px
    tile: u32,             // tile side, px (tile * tile <= MAX_PIXELS)
    tiles_x: u32,          // tiles per row
    tiles_y: u32,          // tiles per column
    iterations: u32,       // sigma-clipping rounds
    clip_sigma: f32,       // clipping half-width, in sigma
    var_correction: f32,   // sigma multiplier undoing the clipped-Gaussian bias
    clip_lo: f32,          // lower clip of the normalized image, in sigma (positive)
    clip_hi: f32,          // upper clip of the normalized image, in sigma
    n_theta: u32,          // line-transform angles over [0, pi)
    n_rho: u32,            // line-transform offsets, 1 px apart
    rho_half: u32,         // offset index of rho = 0
    min_samples: u32,      // minimum in-image samples of a line
    snr_threshold: f32,    // peak threshold, S/N
    nms_radius: u32,       // non-maximum suppression half-width, bins
    capacity: u32,         // peak output capacity
    psf_sigma: f32,        // Gaussian sigma of the PSF, px
    kernel_radius: u32,    // half-width of the matched-filter kernel, px
    line_variance: f32,    // variance of a line sum of the filtered image, per sample
}
