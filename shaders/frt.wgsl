// Stage 4 of the detector: one level of the Fast Radon Transform (Nir, Zackay & Ofek 2018, AJ 156, 229; the
// recursion of Brady 1998), of the matched-filtered image and of its variance image together.
//
// In the oriented image (rows x cols; orientation 1 reads the frame transposed), rows are cut into blocks of
// h = 2^level rows (rows past the frame are zeros). Entry (b, s, x), |s| <= h - 1, -(h-1) <= x < cols + h - 1, is
// the sum along the digital line from column x in the block's first row to column x + s in its last, one sample
// per row: vec2(sum of zf, sum of the variance image, which is 1 in the frame, 0 at masked point sources and
// outside).
// With a = s / 2 rounded towards zero:
//     T(b, s, x) = T'(2b, a, x) + T'(2b + 1, a, x + s - a)
// where T' is the level below (level 1 reads the image: T' is one pixel). A half-line starting outside
// -(h'-1) .. cols + h' - 1 misses the image and counts 0. Layout: ((b * (2h-1) + s + h-1) * (cols + 2h-2) + x + h-1).
// CPU reference: `cpu::frt_level` in detector/src/cpu.rs (same additions in the same order).

// `Params` and `Level` are in params.wgsl, which the host prepends to this file.

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// This level.
@group(0) @binding(1) var<uniform> level: Level;
// Matched-filtered image and its variance from matched.wgsl, row-major width x height.
@group(0) @binding(2) var<storage, read> zf: array<vec2<f32>>;
// The level below (unused by level 1).
@group(0) @binding(3) var<storage, read> below: array<vec2<f32>>;
// This level's entries.
@group(0) @binding(4) var<storage, read_write> entries: array<vec2<f32>>;

// The oriented image at (r, c): vec2(zf, variance) in the frame, zeros outside.
fn pixel(r: i32, c: i32) -> vec2<f32> {
    if (r < 0 || c < 0 || r >= i32(level.rows) || c >= i32(level.cols)) {
        return vec2<f32>(0.0, 0.0);
    }
    var i = u32(r) * params.width + u32(c);
    if (level.orientation == 1u) {
        i = u32(c) * params.width + u32(r);
    }
    return zf[i];
}

// Entry (b, a, x) of the level below; zeros when its line misses the image.
fn child(b: i32, a: i32, x: i32) -> vec2<f32> {
    if (level.level == 1u) {
        return pixel(b, x);
    }
    let pad = level.child_pad;
    if (x < -pad || x >= i32(level.cols) + pad) {
        return vec2<f32>(0.0, 0.0);
    }
    let i = (b * (2 * pad + 1) + a + pad) * i32(level.child_starts) + x + pad;
    return below[u32(i)];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pad = level.pad;
    if (gid.x >= level.starts || gid.y >= level.shifts || gid.z >= level.blocks) {
        return;
    }
    let x = i32(gid.x) - pad;
    let s = i32(gid.y) - pad;
    let b = i32(gid.z);
    let a = s / 2;
    let top = child(2 * b, a, x);
    let bottom = child(2 * b + 1, a, x + s - a);
    entries[(gid.z * level.shifts + gid.y) * level.starts + gid.x] = top + bottom;
}
