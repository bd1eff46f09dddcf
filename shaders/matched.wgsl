// Stage 3 of the detector: matched filter of the normalized image with the PSF.
//
// zf = sum(w z) / sqrt(sum(w^2)) over the (2 kernel_radius + 1)^2 window, with
// w = g(dx) g(dy), g(d) = exp(-d^2 / (2 psf_sigma^2)), and only in-frame pixels counted, so that
// unit white noise stays unit noise per pixel. Summing zf along a line then correlates
// z with the line convolved with the PSF: the matched filter of a streak. The clip
// of normalize.wgsl comes first, so a star still adds a bounded amount.
// CPU reference: `cpu::matched_filter` in detector/src/cpu.rs.

// Shared by every detector shader; must match `Params` in detector/src/gpu.rs.
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

const MAX_SIDE: u32 = 19u; // kernel side for the largest PSF sigma, 3 px: 2 * 9 + 1

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Normalized, clipped image from normalize.wgsl, row-major width x height, sigma.
@group(0) @binding(1) var<storage, read> z: array<f32>;
// Output filtered image, row-major width x height, unit noise.
@group(0) @binding(2) var<storage, read_write> zf: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.width || gid.y >= params.height) {
        return;
    }
    let r = i32(params.kernel_radius);
    let x = i32(gid.x);
    let y = i32(gid.y);
    let inv = 1.0 / (2.0 * params.psf_sigma * params.psf_sigma);
    // The Gaussian is separable: w(dx, dy) = g(dx) g(dy), g(d) = exp(-d^2 / (2 sigma^2)).
    var g: array<f32, MAX_SIDE>;
    for (var i = 0; i <= 2 * r; i++) {
        g[i] = exp(-f32((i - r) * (i - r)) * inv);
    }
    var sum = 0.0;
    var norm = 0.0;
    for (var dy = -r; dy <= r; dy++) {
        let yy = y + dy;
        if (yy < 0 || yy >= i32(params.height)) {
            continue;
        }
        for (var dx = -r; dx <= r; dx++) {
            let xx = x + dx;
            if (xx < 0 || xx >= i32(params.width)) {
                continue;
            }
            let w = g[dy + r] * g[dx + r];
            sum = sum + w * z[u32(yy) * params.width + u32(xx)];
            norm = norm + w * w;
        }
    }
    zf[gid.y * params.width + gid.x] = sum / sqrt(norm);
}
