//! The real frames of ../shared/reference/streaks (truth.md there): every streak is found, on the GPU and on the
//! CPU path, as a line within the DESIGN.md match rule (2 degrees, 3 px), and nothing else is (the star-rich frame
//! once gave two false alarms, lines through galaxy halos and a bright star's wings: issue #3).

use std::path::PathBuf;

use kessler_detector::eval::matches;
use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext, Streak};
use kessler_ingest::dataset::TruthRow;
use kessler_ingest::fits;

fn reference(file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/streaks")
        .join(file);
    assert!(
        path.exists(),
        "reference frame {} is missing: the checkout needs ../shared beside it",
        path.display()
    );
    path
}

/// A truth line from truth.md: endpoints as given there.
fn line(frame: &str, x1: f64, y1: f64, x2: f64, y2: f64) -> TruthRow {
    TruthRow {
        frame: frame.into(),
        x1,
        y1,
        x2,
        y2,
        snr: 0.0,
        object_id: String::new(),
    }
}

fn truth() -> Vec<(&'static str, Vec<TruthRow>)> {
    vec![
        // One faint streak with a gap: y = -0.0879 x + 339.5 from x = 20 to 342.
        (
            "astride_long.fits",
            vec![line("astride_long", 20.0, 337.8, 342.0, 309.4)],
        ),
        // Three parallel streaks A, B, C.
        (
            "cutout_bi327715.fits",
            vec![
                line("cutout", 0.0, 362.9, 399.0, 141.7),
                line("cutout", 0.0, 124.1, 226.0, 0.0),
                line("cutout", 245.0, 399.0, 399.0, 313.2),
            ],
        ),
    ]
}

fn check(detector: &Detector) {
    for (file, lines) in truth() {
        let frame = fits::read_fits(&reference(file), "reference").unwrap();
        let found: Vec<Streak> = detector.detect(frame.pixels.view()).unwrap();
        for t in &lines {
            assert!(
                found.iter().any(|d| matches(d, t)),
                "{} ({}): no detection matches {t:?}; found {found:#?}",
                file,
                detector.backend_description()
            );
        }
        for d in &found {
            assert!(
                lines.iter().any(|t| matches(d, t)),
                "{} ({}): false positive {d:?}, no truth line matches it; found {found:#?}",
                file,
                detector.backend_description()
            );
        }
    }
}

#[test]
fn every_streak_of_the_real_frames_is_found_on_the_gpu() {
    // Fails (never skips) without an adapter, with the "no wgpu adapter: install mesa-vulkan-drivers" message.
    let gpu = GpuContext::new().unwrap_or_else(|e| panic!("{e}"));
    check(&Detector::new(Backend::Gpu(gpu), DetectorConfig::default()));
}

#[test]
fn every_streak_of_the_real_frames_is_found_on_the_cpu() {
    check(&Detector::new(Backend::Cpu, DetectorConfig::default()));
}
