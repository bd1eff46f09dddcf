// Stage 5 of the detector: threshold and non-maximum suppression on one FRT level (frt.wgsl).
//
// The S/N of entry (b, s, x) = vec2(sum, variance sum) is sum / sqrt(variance sum * c), 0 under min_samples
// in-frame samples, where c = max(2 sqrt(pi) psf_sigma / step, 1) is the variance per sample of a line sum of
// matched-filtered unit noise at sample spacing step = sqrt(1 + (s / (h-1))^2) px.
// An entry is a peak when its S/N is >= transform_threshold and it beats every other entry of its block within
// nms_radius in shift and start; "beats" means a larger S/N, or an equal S/N and a smaller index, so that a plateau
// yields one peak. Peaks are appended through an atomic counter, which keeps counting past the capacity so the host
// can tell that peaks were lost. Output order is arbitrary.
// CPU reference: `cpu::frt_peaks` in detector/src/cpu.rs.

// `Params` and `Level` are in params.wgsl, which the host prepends to this file.

const TWO_SQRT_PI: f32 = 3.5449077; // 2 sqrt(pi), as `entry_snr` in detector/src/cpu.rs

struct Peak {
    orientation: u32, // 0: rows, 1: columns (transposed)
    level: u32,       // log2 of the block height
    block: u32,       // block index
    shift: i32,       // columns moved across the block
    x: i32,           // start column in the block's first row
    snr: f32,         // S/N of the entry
}

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// This level.
@group(0) @binding(1) var<uniform> level: Level;
// This level's entries from frt.wgsl.
@group(0) @binding(2) var<storage, read> entries: array<vec2<f32>>;
// Number of peaks found (may exceed capacity); the host zeroes it before the first level.
@group(0) @binding(3) var<storage, read_write> counter: atomic<u32>;
// Output peaks, the first min(counter, capacity) entries are valid.
@group(0) @binding(4) var<storage, read_write> peaks: array<Peak>;

fn snr_at(b: u32, si: u32, xi: u32) -> f32 {
    let v = entries[(b * level.shifts + si) * level.starts + xi];
    if (v.y < level.min_samples) {
        return 0.0;
    }
    let slope = f32(i32(si) - level.pad) / f32(level.pad);
    let step = sqrt(1.0 + slope * slope);
    let c = max(TWO_SQRT_PI * params.psf_sigma / step, 1.0);
    return v.x / sqrt(v.y * c);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pad = level.pad;
    let starts = level.starts;
    let shifts = level.shifts;
    if (gid.x >= starts || gid.y >= shifts || gid.z >= level.blocks) {
        return;
    }
    let b = gid.z;
    let v = snr_at(b, gid.y, gid.x);
    if (!(v >= params.transform_threshold)) {
        return;
    }
    let rad = i32(params.nms_radius);
    let own = gid.y * starts + gid.x;
    for (var ds = -rad; ds <= rad; ds++) {
        let s2 = i32(gid.y) + ds;
        if (s2 < 0 || s2 >= i32(shifts)) {
            continue;
        }
        for (var dx = -rad; dx <= rad; dx++) {
            let x2 = i32(gid.x) + dx;
            if ((ds == 0 && dx == 0) || x2 < 0 || x2 >= i32(starts)) {
                continue;
            }
            let u = snr_at(b, u32(s2), u32(x2));
            let other = u32(s2) * starts + u32(x2);
            if (u > v || (u == v && other < own)) {
                return;
            }
        }
    }
    let slot = atomicAdd(&counter, 1u);
    if (slot < params.capacity) {
        peaks[slot] = Peak(level.orientation, level.level, b, i32(gid.y) - pad, i32(gid.x) - pad, v);
    }
}
