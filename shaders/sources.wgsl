// Stage 2b of the detector: the point sources of the normalized image (star cores, hot pixels, cosmic rays), which
// the matched filter masks out of the transform.
//
// A pixel is a point source when it is at the upper clip (z >= clip_hi) and the pixels of at least clip_hi / 2 in
// the window of half-side R = ceil(5 psf_sigma) px around it do not form a line: fewer than 2R + 1 of them, or the
// larger eigenvalue of their second-moment matrix under 3 times the smaller (a bright streak of any width up to
// about R / 2 is elongated; a round source is not). With n, sx, sy, sxx, syy, sxy the count and raw moments of the
// offsets (integers, exact), A = n sxx - sx^2, C = n syy - sy^2, B = n sxy - sx sy, the test is
// ((A - C)^2 + 4 B^2) (1 + e)^2 >= (e - 1)^2 (A + C)^2 with e = 3, in f32.
// CPU reference: `cpu::point_source` (tips = false) in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

const SOURCE_WINDOW_SIGMAS: f32 = 5.0; // half-side of the window, PSF sigma
const LINE_ELONGATION: f32 = 3.0;      // eigenvalue ratio from which the bright pixels form a line

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Normalized, clipped image from normalize.wgsl, row-major width x height, sigma.
@group(0) @binding(1) var<storage, read> z: array<f32>;
// Output: 1 at point sources, 0 elsewhere, row-major width x height.
@group(0) @binding(2) var<storage, read_write> sources: array<u32>;

fn point_source(x: i32, y: i32) -> bool {
    let w = i32(params.width);
    let h = i32(params.height);
    if (z[u32(y * w + x)] < params.clip_hi) {
        return false;
    }
    let r = i32(ceil(SOURCE_WINDOW_SIGMAS * params.psf_sigma));
    let half = 0.5 * params.clip_hi;
    var n = 0;
    var sx = 0;
    var sy = 0;
    var sxx = 0;
    var syy = 0;
    var sxy = 0;
    for (var dy = -r; dy <= r; dy++) {
        for (var dx = -r; dx <= r; dx++) {
            let px = x + dx;
            let py = y + dy;
            if (px < 0 || py < 0 || px >= w || py >= h) {
                continue;
            }
            if (z[u32(py * w + px)] < half) {
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
    let a = f32(n * sxx - sx * sx);
    let c = f32(n * syy - sy * sy);
    let b = f32(n * sxy - sx * sy);
    let e = LINE_ELONGATION;
    let spread = (a - c) * (a - c) + 4.0 * b * b;
    let size = a + c;
    let line = n >= 2 * r + 1 && spread * ((1.0 + e) * (1.0 + e)) >= (e - 1.0) * (e - 1.0) * (size * size);
    return !line;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.width || gid.y >= params.height) {
        return;
    }
    sources[gid.y * params.width + gid.x] = select(0u, 1u, point_source(i32(gid.x), i32(gid.y)));
}
