//! Time per frame of the detector on the CPU path and on the GPU path (whatever adapter the
//! machine has, lavapipe included), on synthetic 512 x 512 frames with one streak.
//!
//! `cargo run --release -p kessler-detector --example timing [frames]`

use std::time::Instant;

use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext};
use ndarray::Array2;

const SIDE: usize = 512;

/// A frame: 1000 ADU, uniform noise of sigma 10 ADU (a cheap generator), a streak of about
/// 60 sigma integrated from (100, 120) to (400, 300).
fn frame(seed: u64) -> Array2<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    // Uniform on [-0.5, 0.5) has sigma 1 / sqrt(12).
    let noise = 10.0 * 12f32.sqrt();
    let mut pixels = Array2::from_shape_simple_fn((SIDE, SIDE), || 1000.0 + noise * uniform());
    let (x1, y1, x2, y2) = (100.0f32, 120.0f32, 400.0f32, 300.0f32);
    let length = (x2 - x1).hypot(y2 - y1);
    for s in 0..length as usize {
        let t = s as f32 / length;
        let (x, y) = (x1 + t * (x2 - x1), y1 + t * (y2 - y1));
        for dy in -4..=4 {
            for dx in -4..=4 {
                let (px, py) = (x.round() as i32 + dx, y.round() as i32 + dy);
                let d2 = (px as f32 - x).powi(2) + (py as f32 - y).powi(2);
                pixels[[py as usize, px as usize]] += 4.0 * (-d2 / 2.88).exp();
            }
        }
    }
    pixels
}

fn time(detector: &Detector, frames: &[Array2<f32>]) {
    // The first frame builds the GPU buffers; time the others.
    let first = detector.detect(frames[0].view()).expect("detection runs");
    let start = Instant::now();
    for pixels in &frames[1..] {
        detector.detect(pixels.view()).expect("detection runs");
    }
    let per_frame = start.elapsed().as_secs_f64() / (frames.len() - 1) as f64;
    println!(
        "{:<45} {per_frame:6.3} s per {SIDE}x{SIDE} frame ({} streak(s) in the first)",
        detector.backend_description(),
        first.len()
    );
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(4)
        .max(2);
    let frames: Vec<Array2<f32>> = (0..count as u64).map(frame).collect();
    time(
        &Detector::new(Backend::Cpu, DetectorConfig::default()),
        &frames,
    );
    match GpuContext::new() {
        Ok(gpu) => time(
            &Detector::new(Backend::Gpu(gpu), DetectorConfig::default()),
            &frames,
        ),
        Err(e) => println!("no GPU path: {e}"),
    }
}
