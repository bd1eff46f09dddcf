//! Radar range-time maps from `kessler simulate --radar` go through the same detector as optical frames: every
//! injected track is found, and its range rate (the slope of the fitted line) agrees with the truth.

use kessler_detector::eval::matches;
use kessler_detector::measure::radar_track;
use kessler_detector::{Backend, Detector, DetectorConfig};
use kessler_sim::{RadarScenario, simulate_radar};

#[test]
fn every_radar_track_is_found_with_its_range_rate() {
    let scenario = RadarScenario::default();
    let (maps, truth) = simulate_radar(&scenario, 16, 21);
    let detector = Detector::new(Backend::Cpu, DetectorConfig::default());
    let mut errors = Vec::new();
    for map in &maps {
        let h = &map.header;
        let found = detector.detect(map.pixels.view()).unwrap();
        let tracks: Vec<_> = truth.iter().filter(|t| t.frame == h.frame_id).collect();
        for d in &found {
            assert!(
                tracks.iter().any(|t| matches(d, t)),
                "{}: false track {d:?}",
                h.frame_id
            );
        }
        for t in tracks {
            let d = found
                .iter()
                .find(|d| matches(d, t))
                .unwrap_or_else(|| panic!("{}: track {t:?} not found in {found:?}", h.frame_id));
            let rate = (t.x2 - t.x1) * scenario.gate_km / ((t.y2 - t.y1) * scenario.row_s);
            let measured = radar_track(h, d).unwrap().range_rate_km_s;
            errors.push((measured - rate).abs() / rate.abs());
        }
    }
    errors.sort_by(f64::total_cmp);
    let within = errors.iter().filter(|e| **e <= 0.01).count();
    eprintln!(
        "{} tracks; range-rate error median {:.3}%, worst {:.3}%; {within} within 1%",
        errors.len(),
        100.0 * errors[errors.len() / 2],
        100.0 * errors[errors.len() - 1]
    );
    assert!(errors.len() >= 16);
    assert!(errors[errors.len() / 2] < 0.005, "{errors:?}");
    assert!(within * 10 >= errors.len() * 9, "{errors:?}");
}
