//! GPU (wgpu, lavapipe here) against the CPU reference, stage by stage, on seeded random
//! input. Each stage gets the same input on both sides (the CPU result of the previous
//! stage), so a difference points at one shader.
//!
//! Tolerances: 1e-4, relative for the background grid (values near 1000 and 10 ADU), and
//! relative to max(1, |value|) for the normalized image and the S/N map: those are O(1)
//! numbers that cross zero, where a relative error means nothing. The shaders sum in the
//! reference's order and walk lines in integer arithmetic, so differences are a few ulp
//! (division, square root and fused multiply-adds may round differently). Peaks must match
//! exactly.

mod common;

use kessler_detector::{DetectorConfig, LineGeometry, SnrMap, cpu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOLERANCE: f32 = 1e-4;

/// Noise with clumps and outliers, a size with partial edge tiles.
fn random_frame(seed: u64, width: u32, height: u32) -> Vec<f32> {
    let truth = [common::TruthStreak {
        x1: 20.0,
        y1: 30.0,
        x2: f64::from(width) - 40.0,
        y2: f64::from(height) - 10.0,
        snr: 80.0,
    }];
    let mut pixels = common::frame(seed, width, height, 60, &truth);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    for _ in 0..200 {
        let i = rng.random_range(0..pixels.len());
        pixels[i] = rng.random_range(-50.0..70000.0);
    }
    pixels
}

fn max_scaled_error(gpu: &[f32], cpu: &[f32]) -> f32 {
    assert_eq!(gpu.len(), cpu.len());
    gpu.iter()
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
        let reference = cpu::background(&pixels, width, height, &config);
        let result = gpu.background(&pixels, width, height, &config).unwrap();
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
fn background_of_small_tiles_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig {
        tile: 7,
        clip_iterations: 5,
        ..DetectorConfig::default()
    };
    let pixels = random_frame(3, 100, 90);
    let reference = cpu::background(&pixels, 100, 90, &config);
    let result = gpu.background(&pixels, 100, 90, &config).unwrap();
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
    let (width, height) = (300, 200);
    let pixels = random_frame(4, width, height);
    let grid = cpu::background(&pixels, width, height, &config);
    let reference = cpu::normalize(&pixels, width, height, &grid, &config);
    let result = gpu
        .normalize(&pixels, width, height, &grid, &config)
        .unwrap();
    let err = max_scaled_error(&result, &reference);
    assert!(err <= TOLERANCE, "largest scaled error {err}");
    let clipped = reference.iter().filter(|v| v.abs() >= 5.0).count();
    assert!(clipped > 100, "the clip is exercised ({clipped} pixels)");
}

#[test]
fn matched_filter_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig::default();
    let (width, height) = (150, 101);
    let mut rng = StdRng::seed_from_u64(7);
    let z: Vec<f32> = (0..width * height)
        .map(|_| rng.random_range(-5.0..5.0))
        .collect();
    let reference = cpu::matched_filter(&z, width, height, &config);
    let result = gpu.matched_filter(&z, width, height, &config).unwrap();
    let err = max_scaled_error(&result, &reference);
    assert!(err <= TOLERANCE, "largest scaled error {err}");
}

#[test]
fn radon_matches_cpu() {
    let gpu = common::gpu();
    let config = DetectorConfig {
        n_theta: 180,
        ..DetectorConfig::default()
    };
    let (width, height) = (200, 150);
    let mut rng = StdRng::seed_from_u64(5);
    let z: Vec<f32> = (0..width * height)
        .map(|_| rng.random_range(-5.0..5.0))
        .collect();
    let geometry = LineGeometry::new(width, height, config.n_theta);
    let reference = cpu::radon(&z, &geometry, &config);
    let result = gpu.radon(&z, &geometry, &config).unwrap();
    let err = max_scaled_error(&result.values, &reference.values);
    assert!(err <= TOLERANCE, "largest scaled error {err}");
    let zeros = reference.values.iter().filter(|v| **v == 0.0).count();
    assert!(
        zeros > 0 && zeros < reference.values.len() / 2,
        "short lines are zeroed"
    );
}

#[test]
fn peaks_match_cpu() {
    let gpu = common::gpu();
    let (width, height) = (200, 150);
    let geometry = LineGeometry::new(width, height, 120);
    let mut rng = StdRng::seed_from_u64(6);
    // Smooth random map: many local maxima, plateaus from the quantization, some at the
    // theta wrap.
    let values: Vec<f32> = (0..geometry.n_theta * geometry.n_rho)
        .map(|_| (rng.random_range(0.0f32..12.0) * 4.0).round() / 4.0)
        .collect();
    let map = SnrMap {
        n_theta: geometry.n_theta,
        n_rho: geometry.n_rho,
        values,
    };
    for radius in [1, 3] {
        let config = DetectorConfig {
            n_theta: 120,
            nms_radius: radius,
            snr_threshold: 9.0,
            ..DetectorConfig::default()
        };
        let reference = cpu::peaks(&map, &geometry, &config);
        let result = gpu.peaks(&map, &geometry, &config).unwrap();
        assert!(reference.len() > 20, "{} peaks", reference.len());
        assert_eq!(result, reference, "nms radius {radius}");
    }
}
