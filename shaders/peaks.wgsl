// Stage 5 of the detector: threshold and non-maximum suppression on the S/N map.
//
// A bin is a peak when its S/N is >= snr_threshold and it beats every other bin in
// the (2 nms_radius + 1)^2 neighbourhood; "beats" means a larger S/N, or an equal
// S/N and a smaller linear index, so that a plateau yields one peak. Theta wraps:
// the neighbour past theta = pi is the bin at theta - pi with rho -> -rho.
// Peaks are appended through an atomic counter; the counter keeps counting past
// the capacity so the host can tell that peaks were lost. Output order is arbitrary.
// CPU reference: `cpu::peaks` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

struct Peak {
    theta_index: u32, // k, theta = k pi / n_theta
    rho_index: u32,   // r, rho = r - rho_half px
    snr: f32,         // S/N of the bin
    pad: u32,
}

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// S/N map from radon.wgsl, row-major n_theta x n_rho.
@group(0) @binding(1) var<storage, read> snr: array<f32>;
// Number of peaks found (may exceed capacity); the host zeroes it before dispatch.
@group(0) @binding(2) var<storage, read_write> counter: atomic<u32>;
// Output peaks, the first min(counter, capacity) entries are valid.
@group(0) @binding(3) var<storage, read_write> peaks: array<Peak>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = i32(gid.x);
    let k = i32(gid.y);
    let n_rho = i32(params.n_rho);
    let n_theta = i32(params.n_theta);
    if (r >= n_rho || k >= n_theta) {
        return;
    }
    let own = k * n_rho + r;
    let v = snr[own];
    if (!(v >= params.snr_threshold)) {
        return;
    }
    let rad = i32(params.nms_radius);
    for (var dk = -rad; dk <= rad; dk++) {
        var kk = k + dk;
        var mirror = false;
        if (kk < 0) {
            kk = kk + n_theta;
            mirror = true;
        } else if (kk >= n_theta) {
            kk = kk - n_theta;
            mirror = true;
        }
        for (var dr = -rad; dr <= rad; dr++) {
            if (dk == 0 && dr == 0) {
                continue;
            }
            var rr = r + dr;
            if (mirror) {
                rr = 2 * i32(params.rho_half) - rr;
            }
            if (rr < 0 || rr >= n_rho) {
                continue;
            }
            let other = kk * n_rho + rr;
            let u = snr[other];
            if (u > v || (u == v && other < own)) {
                return;
            }
        }
    }
    let slot = atomicAdd(&counter, 1u);
    if (slot < params.capacity) {
        peaks[slot] = Peak(u32(k), u32(r), v, 0u);
    }
}
