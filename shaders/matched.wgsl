// Stage 3 of the detector: matched filter of the normalized image with the PSF.
//
// zf = sum(w z) / sqrt(sum(w^2)) over the (2 kernel_radius + 1)^2 window, with
// w = g(dx) g(dy), g(d) = exp(-d^2 / (2 psf_sigma^2)), and only in-frame pixels counted, so that
// unit white noise stays unit noise per pixel. Summing zf along a line then correlates
// z with the line convolved with the PSF: the matched filter of a streak. The clip
// of normalize.wgsl comes first, so a star still adds a bounded amount.
// CPU reference: `cpu::matched_filter` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

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
