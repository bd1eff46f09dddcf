// Stage 1 of the detector: robust background level and noise per tile.
//
// One workgroup per tile of `tile` x `tile` pixels (edge tiles are partial). The
// tile's pixels are sorted in workgroup memory (bitonic sort); the median and the
// interquartile range give the starting estimate, then `iterations` rounds of
// sigma clipping (keep pixels with |p - centre| <= clip_sigma * sigma) recompute
// the mean and the standard deviation with tree reductions.
// CPU reference: `cpu::background` in detector/src/cpu.rs (same order of sums).

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

// 64 threads, not more: lavapipe switches between groups of invocations at every barrier,
// and the sort has 55 of them.
const WG: u32 = 64u;           // threads per workgroup: matches @workgroup_size below
const MAX_PIXELS: u32 = 1024u; // largest tile, 32 x 32
const PER_THREAD: u32 = 16u;   // MAX_PIXELS / WG
const PAIRS: u32 = 8u;         // compare-exchange pairs per thread per sort step: MAX_PIXELS / 2 / WG
const PAD: f32 = 3.0e38;       // sorts after every real pixel

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Input frame, row-major, width x height, ADU.
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
// Output per tile, row-major tiles_y x tiles_x: (background mean ADU, noise sigma ADU).
@group(0) @binding(2) var<storage, read_write> tile_stats: array<vec2<f32>>;

var<workgroup> vals: array<f32, MAX_PIXELS>;
var<workgroup> red_sum: array<f32, WG>;
var<workgroup> red_cnt: array<u32, WG>;

// Tree reduction of red_sum and red_cnt; every thread reads the totals afterwards.
fn reduce(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            red_sum[lid] = red_sum[lid] + red_sum[lid + s];
            red_cnt[lid] = red_cnt[lid] + red_cnt[lid + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let x0 = wid.x * params.tile;
    let y0 = wid.y * params.tile;
    let tw = min(params.tile, params.width - x0);
    let th = min(params.tile, params.height - y0);
    let n = tw * th;

    for (var j = 0u; j < PER_THREAD; j++) {
        let k = lid + j * WG;
        if (k < n) {
            vals[k] = pixels[(y0 + k / tw) * params.width + x0 + k % tw];
        } else {
            vals[k] = PAD;
        }
    }
    workgroupBarrier();

    // Bitonic sort, ascending; each thread orders PAIRS pairs per step.
    for (var size = 2u; size <= MAX_PIXELS; size = size * 2u) {
        for (var stride = size / 2u; stride > 0u; stride = stride / 2u) {
            for (var j = 0u; j < PAIRS; j++) {
                let p = lid + j * WG;
                let i = 2u * stride * (p / stride) + p % stride;
                let m = i + stride;
                let ascending = (i & size) == 0u;
                let a = vals[i];
                let b = vals[m];
                if ((a > b) == ascending) {
                    vals[i] = b;
                    vals[m] = a;
                }
            }
            workgroupBarrier();
        }
    }

    var centre = vals[n / 2u];
    if (n % 2u == 0u) {
        centre = 0.5 * (vals[n / 2u - 1u] + vals[n / 2u]);
    }
    // 1.349 = interquartile range of a unit Gaussian.
    var sigma = (vals[(3u * n) / 4u] - vals[n / 4u]) / 1.349;

    for (var it = 0u; it < params.iterations; it++) {
        let limit = params.clip_sigma * sigma;
        var s = 0.0;
        var c = 0u;
        for (var j = 0u; j < PER_THREAD; j++) {
            let k = lid + j * WG;
            if (k < n && abs(vals[k] - centre) <= limit) {
                s = s + vals[k];
                c = c + 1u;
            }
        }
        red_sum[lid] = s;
        red_cnt[lid] = c;
        workgroupBarrier();
        reduce(lid);
        let count = red_cnt[0];
        let mean = red_sum[0] / f32(max(count, 1u));
        workgroupBarrier();

        var ss = 0.0;
        for (var j = 0u; j < PER_THREAD; j++) {
            let k = lid + j * WG;
            if (k < n && abs(vals[k] - centre) <= limit) {
                let d = vals[k] - mean;
                ss = ss + d * d;
            }
        }
        red_sum[lid] = ss;
        red_cnt[lid] = 0u;
        workgroupBarrier();
        reduce(lid);
        if (count > 0u) {
            centre = mean;
            sigma = sqrt(red_sum[0] / f32(count)) * params.var_correction;
        }
        workgroupBarrier();
    }

    if (lid == 0u) {
        tile_stats[wid.y * params.tiles_x + wid.x] = vec2<f32>(centre, sigma);
    }
}
