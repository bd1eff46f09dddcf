// Stage 2 of the detector: normalization and thresholding.
//
// z = (p - bg) / sigma, with bg and sigma interpolated bilinearly between tile
// centres (extrapolated linearly beyond the outer centres), then clipped to [-clip_lo, clip_hi].
// The clip is this pipeline's thresholding: a saturated star or a hot pixel adds at
// most clip_hi to any line sum, so it cannot fake a streak in the line transform,
// while a streak (many pixels at a few sigma) keeps nearly all of its signal.
// Where a tile's sigma is not positive (a constant tile) z is 0.
// CPU reference: `cpu::normalize` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Input frame, row-major, width x height, ADU.
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
// Per tile (background mean ADU, noise sigma ADU), from background.wgsl.
@group(0) @binding(2) var<storage, read> tile_stats: array<vec2<f32>>;
// Output normalized, clipped image, row-major width x height, in sigma.
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

// Tile-grid coordinate of pixel coordinate `p` along an axis of `count` tiles:
// index of the lower tile centre and the weight of the upper one.
fn grid_coord(p: u32, count: u32) -> vec2<f32> {
    let g = (f32(p) + 0.5) / f32(params.tile) - 0.5;
    let i0 = clamp(floor(g), 0.0, max(f32(count) - 2.0, 0.0));
    return vec2<f32>(i0, g - i0);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.width || gid.y >= params.height) {
        return;
    }
    let gx = grid_coord(gid.x, params.tiles_x);
    let gy = grid_coord(gid.y, params.tiles_y);
    let ix0 = u32(gx.x);
    let iy0 = u32(gy.x);
    let ix1 = min(ix0 + 1u, params.tiles_x - 1u);
    let iy1 = min(iy0 + 1u, params.tiles_y - 1u);
    let s00 = tile_stats[iy0 * params.tiles_x + ix0];
    let s10 = tile_stats[iy0 * params.tiles_x + ix1];
    let s01 = tile_stats[iy1 * params.tiles_x + ix0];
    let s11 = tile_stats[iy1 * params.tiles_x + ix1];
    let top = s00 + (s10 - s00) * gx.y;
    let bottom = s01 + (s11 - s01) * gx.y;
    let s = top + (bottom - top) * gy.y;

    let i = gid.y * params.width + gid.x;
    var v = 0.0;
    if (s.y > 0.0) {
        v = clamp((pixels[i] - s.x) / s.y, -params.clip_lo, params.clip_hi);
    }
    z[i] = v;
}
