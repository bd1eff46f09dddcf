// Stage 4 of the detector: brute-force line transform of the matched-filtered image.
//
// Bin (k, r) is the line x cos(theta_k) + y sin(theta_k) = rho_r about the frame
// centre ((width-1)/2, (height-1)/2), theta_k = k pi / n_theta, rho_r = r - rho_half px.
// The line is walked in 1 px steps t along its direction (-sin, cos) and sampled at
// the nearest pixel; coordinates are 16.16 fixed point from an integer cos/sin table,
// so the CPU reference visits exactly the same pixels. The value is
// sum(zf) / sqrt(samples * line_variance), an S/N for a streak covering the whole
// in-frame chord (line_variance accounts for the filter's correlation along the
// line), or 0 when fewer than min_samples samples lie inside the frame.
// CPU reference: `cpu::radon` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

const ONE: i32 = 65536;  // 1 px in 16.16 fixed point
const HALF: i32 = 32768; // 0.5 px in 16.16 fixed point

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Matched-filtered image from matched.wgsl, row-major width x height, unit noise.
@group(0) @binding(1) var<storage, read> zf: array<f32>;
// Per angle k: (round(cos theta_k * 65536), round(sin theta_k * 65536)).
@group(0) @binding(2) var<storage, read> trig: array<vec2<i32>>;
// Output S/N map, row-major n_theta x n_rho.
@group(0) @binding(3) var<storage, read_write> snr: array<f32>;

// Range of steps t for which base + t * dir can fall inside [0, extent) px along
// one axis, widened by 2 steps so that rounding never loses a sample.
fn t_range(base: i32, dir: i32, extent: u32) -> vec2<i32> {
    let half_len = i32(params.rho_half);
    if (dir == 0) {
        return vec2<i32>(-half_len, half_len);
    }
    let lo = (f32(-HALF - base)) / f32(dir);
    let hi = (f32(i32(extent) * ONE - HALF - base)) / f32(dir);
    let a = i32(floor(min(lo, hi))) - 2;
    let b = i32(ceil(max(lo, hi))) + 2;
    return vec2<i32>(max(a, -half_len), min(b, half_len));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let k = gid.y;
    if (r >= params.n_rho || k >= params.n_theta) {
        return;
    }
    let cs = trig[k];
    let rho = i32(r) - i32(params.rho_half);
    let bx = i32(params.width - 1u) * HALF + rho * cs.x;
    let by = i32(params.height - 1u) * HALF + rho * cs.y;
    let dx = -cs.y;
    let dy = cs.x;
    let rx = t_range(bx, dx, params.width);
    let ry = t_range(by, dy, params.height);
    let w = i32(params.width);
    let h = i32(params.height);

    var sum = 0.0;
    var count = 0u;
    for (var t = max(rx.x, ry.x); t <= min(rx.y, ry.y); t++) {
        let x = (bx + t * dx + HALF) >> 16u;
        let y = (by + t * dy + HALF) >> 16u;
        if (x >= 0 && x < w && y >= 0 && y < h) {
            sum = sum + zf[u32(y * w + x)];
            count = count + 1u;
        }
    }
    var value = 0.0;
    if (count >= params.min_samples) {
        value = sum / sqrt(f32(count) * params.line_variance);
    }
    snr[k * params.n_rho + r] = value;
}
