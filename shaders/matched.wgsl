// Stage 3 of the detector: matched filter of the normalized image with the PSF, masking point sources.
//
// zf = sum(w z) / sqrt(sum(w^2)) over the (2 kernel_radius + 1)^2 window, with
// w = g(dx) g(dy), g(d) = exp(-d^2 / (2 psf_sigma^2)), and only in-frame pixels counted, so that
// unit white noise stays unit noise per pixel. Summing zf along a line then correlates
// z with the line convolved with the PSF: the matched filter of a streak. The clip
// of normalize.wgsl comes first, and the result is clipped to +-filtered_clip, so a faint star
// adds a few bounded samples to a line.
// The output is vec2(zf, variance): vec2(0, 0) wherever a point source (sources.wgsl: a star core, a hot pixel, a
// cosmic ray) lies in the window, so that the FRT leaves it out; vec2(zf, 1) elsewhere.
// CPU reference: `cpu::matched_filter` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

const MAX_SIDE: u32 = 19u; // kernel side for the largest PSF sigma, 3 px: 2 * 9 + 1

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Normalized, clipped image from normalize.wgsl, row-major width x height, sigma.
@group(0) @binding(1) var<storage, read> z: array<f32>;
// Point sources from sources.wgsl: 1 at a point source, row-major width x height.
@group(0) @binding(2) var<storage, read> sources: array<u32>;
// Output filtered image and its variance, row-major width x height.
@group(0) @binding(3) var<storage, read_write> zf: array<vec2<f32>>;

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
    var clean = true;
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
            if (sources[u32(yy) * params.width + u32(xx)] != 0u) {
                clean = false;
            }
            let w = g[dy + r] * g[dx + r];
            sum = sum + w * z[u32(yy) * params.width + u32(xx)];
            norm = norm + w * w;
        }
    }
    var out = vec2<f32>(0.0, 0.0);
    if (clean) {
        out = vec2<f32>(clamp(sum / sqrt(norm), -params.filtered_clip, params.filtered_clip), 1.0);
    }
    zf[gid.y * params.width + gid.x] = out;
}
