//! GPU (wgpu, lavapipe here) against the CPU reference, stage by stage, on seeded random
//! input. Each stage gets the same input on both sides (the CPU result of the previous
//! stage), so a difference points at one shader.
//!
//! Tolerances: 1e-4, relative for the background grid (values near 1000 and 10 ADU), and
//! relative to max(1, |value|) for the normalized image, the filtered image and the FRT sums:
//! those are O(1) numbers that cross zero, where a relative error means nothing. The shaders
//! sum in the reference's order, so differences are a few ulp (division, square root and fused
//! multiply-adds may round differently). Peaks must be the same entries, S/N within 1e-4.

mod common;

use kessler_detector::{BackgroundGrid, DetectorConfig, FrtLevel, cpu};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOLERANCE: f32 = 1e-4;

/// Noise with clumps and outliers, a size with partial edge tiles.
fn random_frame(seed: u64, width: u32, height: u32) -> Array2<f32> {
    let truth = [common::TruthStreak {
        x1: 20.0,
        y1: 30.0,
        x2: f64::from(width) - 40.0,
        y2: f64::from(height) - 10.0,
        snr: 80.0,
    }];
    let mut pixels = common::frame(seed, width, height, 60, &truth);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let flat = pixels.as_slice_mut().expect("standard layout");
    for _ in 0..200 {
        let i = rng.random_range(0..flat.len());
        flat[i] = rng.random_range(-50.0..70000.0);
    }
    pixels
}

fn max_scaled_error<'a>(
    gpu: impl IntoIterator<Item = &'a f32>,
    cpu: impl IntoIterator<Item = &'a f32>,
) -> f32 {
    gpu.into_iter()
        .zip(cpu)
        .map(|(g, c)| (g - c).abs() / c.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn background_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig::default();
    for (seed, width, height) in [(1, 300, 200), (2, 257, 129)] {
        let pixels = random_frame(seed, width, height);
        let reference = cpu::background(pixels.view(), &config);
        let result = gpu.background(pixels.view(), &config).unwrap();
        assert_eq!(
            (result.tiles_x, result.tiles_y),
            (reference.tiles_x, reference.tiles_y)
        );
        for (i, (g, c)) in result.stats.iter().zip(&reference.stats).enumerate() {
            for k in 0..2 {
                let rel = (g[k] - c[k]).abs() / c[k].abs().max(f32::MIN_POSITIVE);
                assert!(
                    rel <= TOLERANCE,
                    "tile {i} ({width}x{height}): gpu {g:?} cpu {c:?}"
                );
            }
        }
    }
}

#[test]
fn background_filter_matches_cpu() {
    // Random tile statistics (a streak-like ridge, a gradient, noise), grids with one, two and many tiles a side,
    // so the edge reflection and the corners are exercised.
    let gpu = common::gpu();
    let config = DetectorConfig::default();
    let mut rng = StdRng::seed_from_u64(8);
    for (width, height) in [(300u32, 200u32), (40, 70), (20, 20)] {
        let (tiles_x, tiles_y) = (width.div_ceil(config.tile), height.div_ceil(config.tile));
        let stats: Vec<[f32; 2]> = (0..tiles_x * tiles_y)
            .map(|i| {
                let (x, y) = ((i % tiles_x) as f32, (i / tiles_x) as f32);
                let ridge = if (x - y).abs() < 1.0 { 3.0 } else { 0.0 };
                [
                    1000.0 + 2.0 * x - y + ridge + rng.random_range(-1.0..1.0),
                    10.0 + rng.random_range(-0.5..0.5),
                ]
            })
            .collect();
        let grid = BackgroundGrid {
            tile: config.tile,
            tiles_x,
            tiles_y,
            stats,
        };
        let reference = cpu::background_filter(&grid);
        let result = gpu
            .background_filter(&grid, width, height, &config)
            .unwrap();
        for (g, c) in result.stats.iter().zip(&reference.stats) {
            for k in 0..2 {
                assert!(
                    (g[k] - c[k]).abs() <= TOLERANCE * c[k].abs(),
                    "{width}x{height}: gpu {g:?} cpu {c:?}"
                );
            }
        }
    }
}

#[test]
fn background_of_small_tiles_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig {
        tile: 7,
        clip_iterations: 5,
        ..DetectorConfig::default()
    };
    let pixels = random_frame(3, 100, 90);
    let reference = cpu::background(pixels.view(), &config);
    let result = gpu.background(pixels.view(), &config).unwrap();
    for (g, c) in result.stats.iter().zip(&reference.stats) {
        for k in 0..2 {
            assert!(
                (g[k] - c[k]).abs() <= TOLERANCE * c[k].abs(),
                "gpu {g:?} cpu {c:?}"
            );
        }
    }
}

#[test]
fn normalize_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig::default();
    let pixels = random_frame(4, 300, 200);
    let grid = cpu::background(pixels.view(), &config);
    let reference = cpu::normalize(pixels.view(), &grid, &config);
    let result = gpu.normalize(pixels.view(), &grid, &config).unwrap();
    assert_eq!(result.dim(), reference.dim());
    let err = max_scaled_error(&result, &reference);
    assert!(err <= TOLERANCE, "largest scaled error {err}");
    let clipped = reference.iter().filter(|v| v.abs() >= 5.0).count();
    assert!(clipped > 100, "the clip is exercised ({clipped} pixels)");
}

#[test]
fn point_sources_and_matched_filter_match_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig::default();
    let (width, height) = (150, 101);
    let mut rng = StdRng::seed_from_u64(7);
    // Uniform in [-2, 2), 0.3% of the pixels at the clip (point sources), and a bright line
    // at the clip along row 50 (not masked but for its ends).
    // Row-major, so that the random values of the seed land where they always did.
    let z = Array2::from_shape_fn((height, width), |(y, x)| {
        if y == 50 && (10..140).contains(&x) || rng.random_bool(0.003) {
            config.clip_hi
        } else {
            rng.random_range(-2.0..2.0)
        }
    });
    let sources = cpu::point_sources(z.view(), &config);
    assert_eq!(
        gpu.point_sources(z.view(), &config).unwrap(),
        sources,
        "point sources"
    );
    let isolated = sources.iter().filter(|s| **s != 0).count();
    assert!(isolated > 20, "{isolated} point sources");
    assert_eq!(sources[[50, 70]], 0, "the line is no point source");
    let reference = cpu::matched_filter(z.view(), sources.view(), &config);
    let result = gpu
        .matched_filter(z.view(), sources.view(), &config)
        .unwrap();
    assert_eq!(result.dim(), reference.dim());
    let err = max_scaled_error(result.iter().flatten(), reference.iter().flatten());
    assert!(err <= TOLERANCE, "largest scaled error {err}");
    let masked = reference.iter().filter(|v| v[1] == 0.0).count();
    assert!(
        masked > 50 && masked < reference.len() / 2,
        "point sources are masked ({masked} pixels)"
    );
}

#[test]
fn frt_matches_cpu() {
    // Every level of both orientations of a frame whose sides are not powers of two: the
    // same additions in the same order, so the sums agree exactly.
    let gpu = common::gpu();
    let (width, height) = (150, 77);
    let mut rng = StdRng::seed_from_u64(5);
    let zf = Array2::from_shape_simple_fn((height as usize, width as usize), || {
        [rng.random_range(-3.0..3.0), f32::from(rng.random_bool(0.9))]
    });
    for orientation in [cpu::ROWS, cpu::COLUMNS] {
        let mut previous = Vec::new();
        for level in FrtLevel::all(width, height, orientation) {
            let reference = cpu::frt_level(zf.view(), &level, &previous);
            let result = gpu.frt_level(zf.view(), &level).unwrap();
            assert_eq!(result.len(), reference.len());
            for (i, (g, c)) in result.iter().zip(&reference).enumerate() {
                for k in 0..2 {
                    assert!(
                        (g[k] - c[k]).abs() <= TOLERANCE * c[k].abs().max(1.0),
                        "{level:?} entry {i}: gpu {g:?} cpu {c:?}"
                    );
                }
            }
            previous = reference;
        }
    }
}

#[test]
fn frt_peaks_match_cpu() {
    let gpu = common::gpu();
    let (width, height) = (200, 150);
    let mut rng = StdRng::seed_from_u64(6);
    for level in [
        FrtLevel::all(width, height, cpu::ROWS)[4],
        FrtLevel::all(width, height, cpu::COLUMNS)[6],
    ] {
        // Quantized random sums (many local maxima and plateaus), full in-frame counts, and
        // some entries under the minimum count.
        let h = level.block_rows() as f32;
        let values: Vec<[f32; 2]> = (0..level.len())
            .map(|_| {
                let count = if rng.random_bool(0.1) { 1.0 } else { h };
                [
                    (rng.random_range(0.0f32..12.0) * 4.0).round() / 4.0 * h.sqrt(),
                    count,
                ]
            })
            .collect();
        for radius in [1, 3] {
            let config = DetectorConfig {
                nms_radius: radius,
                transform_threshold: 5.6,
                max_peaks: 100_000,
                ..DetectorConfig::default()
            };
            let reference = cpu::frt_peaks(&level, &values, &config);
            let result = gpu
                .frt_peaks(width, height, &level, &values, &config)
                .unwrap();
            assert!(reference.len() > 20, "{} peaks", reference.len());
            assert_eq!(result.len(), reference.len(), "nms radius {radius}");
            for (g, c) in result.iter().zip(&reference) {
                assert_eq!(
                    (g.orientation, g.level, g.block, g.shift, g.x),
                    (c.orientation, c.level, c.block, c.shift, c.x)
                );
                assert!((g.snr - c.snr).abs() <= TOLERANCE * c.snr.abs());
            }
        }
    }
}
