// Stage 1b of the detector: median filter of the background grid (SExtractor's BACK_FILTERSIZE 3; Bertin &
// Arnouts 1996, sect. 3.1).
//
// One thread per tile: the level and the noise of the tile are each replaced by the median of the 9 tiles of its
// 3 x 3 neighbourhood; past the grid's edge a missing tile is the point reflection of the one opposite through the
// centre (2 c - o; c when that is missing too), so that a sky gradient keeps its median at the edges. A faint streak
// raises the sigma-clipped mean of every tile it crosses (its light is far below the clip), by about 4 / tile of its
// own matched-filter signal for a PSF sigma of 1.2 px; a straight line crosses at most 5 of 9 tiles and usually 3,
// so the median takes it out, while the background still follows the sky on the scale of a few tiles.
// CPU reference: `cpu::background_filter` in detector/src/cpu.rs.

// `Params` (the frame's uniform parameters) is in params.wgsl, which the host prepends to this file.

// Uniform parameters of this frame.
@group(0) @binding(0) var<uniform> params: Params;
// Per tile from background.wgsl, row-major tiles_y x tiles_x: (background mean ADU, noise sigma ADU).
@group(0) @binding(1) var<storage, read> tile_stats: array<vec2<f32>>;
// The filtered grid, same layout.
@group(0) @binding(2) var<storage, read_write> filtered: array<vec2<f32>>;

// Median (the value at sorted index (n - 1) / 2) of the first n values (insertion sort, n <= 9).
fn lower_median(values: ptr<function, array<f32, 9>>, n: u32) -> f32 {
    for (var i = 1u; i < n; i++) {
        let v = (*values)[i];
        var j = i;
        while (j > 0u && (*values)[j - 1u] > v) {
            (*values)[j] = (*values)[j - 1u];
            j--;
        }
        (*values)[j] = v;
    }
    return (*values)[(n - 1u) / 2u];
}

fn inside(tx: i32, ty: i32) -> bool {
    return tx >= 0 && ty >= 0 && tx < i32(params.tiles_x) && ty < i32(params.tiles_y);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.tiles_x || gid.y >= params.tiles_y) {
        return;
    }
    var level: array<f32, 9>;
    var noise: array<f32, 9>;
    var n = 0u;
    let x = i32(gid.x);
    let y = i32(gid.y);
    let centre = tile_stats[gid.y * params.tiles_x + gid.x];
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            var s = centre;
            if (inside(x + dx, y + dy)) {
                s = tile_stats[u32(y + dy) * params.tiles_x + u32(x + dx)];
            } else if (inside(x - dx, y - dy)) {
                s = 2.0 * centre - tile_stats[u32(y - dy) * params.tiles_x + u32(x - dx)];
            }
            level[n] = s.x;
            noise[n] = s.y;
            n++;
        }
    }
    filtered[gid.y * params.tiles_x + gid.x] = vec2<f32>(lower_median(&level, n), lower_median(&noise, n));
}
