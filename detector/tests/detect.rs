//! End-to-end detection on synthetic frames, on the GPU (lavapipe here) and the CPU path.

mod common;

use common::TruthStreak;
use kessler_detector::{Backend, DetectError, Detector, DetectorConfig};
use ndarray::Array2;
use std::time::Instant;

const SIZE: u32 = 512;
/// Angle tolerance, deg.
const MAX_ANGLE_DEG: f64 = 1.0;
/// Endpoint tolerance, px.
const MAX_ENDPOINT_PX: f64 = 3.0;

/// Three streaks: bright, crossing the right edge, faint (S/N 18 over 367 px).
fn three_streaks() -> Vec<TruthStreak> {
    vec![
        TruthStreak {
            x1: 60.0,
            y1: 80.0,
            x2: 330.0,
            y2: 210.0,
            snr: 150.0,
        },
        TruthStreak {
            x1: 300.0,
            y1: 420.0,
            x2: 620.0,
            y2: 300.0,
            snr: 60.0,
        },
        TruthStreak {
            x1: 40.0,
            y1: 500.0,
            x2: 150.0,
            y2: 150.0,
            snr: 18.0,
        },
    ]
}

/// Near the theta wrap (almost horizontal, almost vertical) and a short one.
fn axis_streaks() -> Vec<TruthStreak> {
    vec![
        TruthStreak {
            x1: 40.0,
            y1: 250.0,
            x2: 470.0,
            y2: 262.0,
            snr: 40.0,
        },
        TruthStreak {
            x1: 120.0,
            y1: 30.0,
            x2: 117.0,
            y2: 330.0,
            snr: 35.0,
        },
        TruthStreak {
            x1: 300.0,
            y1: 60.0,
            x2: 420.0,
            y2: 100.0,
            snr: 40.0,
        },
    ]
}

fn run_all(detector: &Detector) {
    let start = Instant::now();
    for (seed, truth) in [(11, three_streaks()), (12, axis_streaks())] {
        let pixels = common::frame(seed, SIZE, SIZE, 150, &truth);
        let (angle, end) = common::check_detection(
            detector,
            pixels.view(),
            &truth,
            MAX_ANGLE_DEG,
            MAX_ENDPOINT_PX,
        );
        eprintln!(
            "[{}] frame {seed}: worst angle error {angle:.3} deg, worst endpoint error {end:.2} px",
            detector.backend_description()
        );
    }
    for seed in 100..105 {
        let pixels = common::frame(seed, SIZE, SIZE, 250, &[]);
        common::check_detection(detector, pixels.view(), &[], 0.0, 0.0);
    }
    eprintln!(
        "[{}] 7 frames of {SIZE}x{SIZE}: {:.2} s per frame",
        detector.backend_description(),
        start.elapsed().as_secs_f64() / 7.0
    );
}

#[test]
fn detects_streaks_on_cpu() {
    run_all(&Detector::new(Backend::Cpu, DetectorConfig::default()));
}

#[test]
fn detects_streaks_on_gpu() {
    let gpu = common::new_gpu();
    run_all(&Detector::new(Backend::Gpu(gpu), DetectorConfig::default()));
}

#[test]
fn gpu_and_cpu_agree_on_a_frame() {
    let gpu = common::new_gpu();
    let gpu = Detector::new(Backend::Gpu(gpu), DetectorConfig::default());
    let cpu = Detector::new(Backend::Cpu, DetectorConfig::default());
    let pixels = common::frame(21, 400, 300, 100, &three_streaks()[..1]);
    let a = gpu.detect(pixels.view()).unwrap();
    let b = cpu.detect(pixels.view()).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a.len(), b.len());
    for (g, c) in a.iter().zip(&b) {
        let err = common::endpoint_error_px(common::segment(g), common::segment(c));
        assert!(err < 0.01, "gpu {g:?} cpu {c:?}");
        assert!((g.snr - c.snr).abs() < 1e-3 * c.snr);
    }
}

#[test]
fn bad_frames_are_reported() {
    let detector = Detector::new(Backend::Cpu, DetectorConfig::default());
    // (A pixel count that disagrees with the size cannot be passed: the size is the array's shape.)
    let mut pixels = Array2::from_elem((64, 64), 1000.0f32);
    pixels[[5, 3]] = f32::NAN;
    let err = detector.detect(pixels.view()).unwrap_err();
    assert!(
        matches!(err, DetectError::BadInput { .. }) && err.to_string().contains("(x 3, y 5)"),
        "{err}"
    );
    let err = detector
        .detect(pixels.slice(ndarray::s![..4, ..4]))
        .unwrap_err();
    assert!(err.to_string().contains("sides"), "{err}");
    let bad = Detector::new(
        Backend::Cpu,
        DetectorConfig {
            tile: 64,
            ..DetectorConfig::default()
        },
    );
    let err = bad.detect(Array2::zeros((64, 64)).view()).unwrap_err();
    assert!(matches!(err, DetectError::BadConfig(_)), "{err}");
}

#[test]
fn streak_serializes() {
    let s = kessler_detector::Streak {
        x1: 1.0,
        y1: 2.0,
        x2: 3.0,
        y2: 4.5,
        snr: 20.0,
        flux: 1.0e4,
        width_px: 2.8,
        detection_snr: 0.0,
        sigma_along_px: 1.0,
        sigma_cross_px: 0.5,
    };
    let json = serde_json::to_string(&s).unwrap();
    let back: kessler_detector::Streak = serde_json::from_str(&json).unwrap();
    assert_eq!(s, back);
}
