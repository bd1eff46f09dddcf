//! A beam-park radar: the beam stays fixed while objects cross it, and each frame is a range-time intensity map
//! (rows = time, columns = range gates, [`kessler_ingest::RadarAxes`]). An object in the beam leaves a track whose
//! slope is its range rate; the detector finds it like a streak.
//!
//! Simplifications: each track is a straight line (constant range rate over its few seconds in the beam) with a
//! uniform echo (no beam pattern, no fading), the echo spread over about a gate and a row (a Gaussian of
//! [`RadarScenario::psf_sigma_px`]), and the receiver noise Gaussian after integration.

use kessler_ingest::dataset::TruthRow;
use kessler_ingest::{Frame, FrameHeader, GeodeticSite, RadarAxes};
use kessler_od::{Duration, Epoch};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::{Optics, straight_streak};

/// The radar and the tracks it records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarScenario {
    pub sensor_id: String,
    pub site: GeodeticSite,
    /// Start of the first map, UTC.
    pub start: Epoch,
    /// Range gates (columns) and rows per map.
    pub gates: u32,
    pub rows: u32,
    /// Range of the first gate's centre and the gate spacing, km.
    pub range0_km: f64,
    pub gate_km: f64,
    /// Integration time per row, s.
    pub row_s: f64,
    /// Spread of an echo over gates and rows (Gaussian sigma), px.
    pub psf_sigma_px: f64,
    /// Noise floor and its standard deviation, ADU.
    pub background_adu: f64,
    pub noise_adu: f64,
    /// Tracks per map (inclusive range).
    pub tracks_per_map: (usize, usize),
    /// Matched-filter S/N of a track (uniform).
    pub snr_range: (f64, f64),
    /// Magnitude of the range rate (uniform, either sign), km/s.
    pub range_rate_km_s: (f64, f64),
    /// Time in the beam (uniform), s.
    pub dwell_s: (f64, f64),
}

impl Default for RadarScenario {
    fn default() -> Self {
        RadarScenario {
            sensor_id: "eiscat-uhf-tromso".into(),
            // EISCAT UHF, Ramfjordmoen near Tromso.
            site: GeodeticSite {
                lat_deg: 69.5864,
                lon_deg: 19.2272,
                alt_km: 0.086,
            },
            start: Epoch::from_gregorian_utc_hms(2024, 3, 20, 12, 0, 0),
            gates: 512,
            rows: 512,
            range0_km: 600.0,
            gate_km: 0.15,
            row_s: 0.01,
            psf_sigma_px: 1.2,
            background_adu: 100.0,
            noise_adu: 10.0,
            tracks_per_map: (1, 2),
            snr_range: (30.0, 80.0),
            range_rate_km_s: (1.0, 3.0),
            dwell_s: (1.5, 4.0),
        }
    }
}

/// `maps` range-time maps of the scenario, and the true tracks (pixels 0-based, x = gate, y = row; from the first
/// row of the track to its last; the range rate is their slope, `(x2 - x1) gate_km / ((y2 - y1) row_s)`).
pub fn simulate_radar(
    scenario: &RadarScenario,
    maps: usize,
    seed: u64,
) -> (Vec<Frame>, Vec<TruthRow>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, scenario.noise_adu).expect("positive noise");
    let optics = Optics {
        psf_sigma_px: scenario.psf_sigma_px,
        noise_adu: scenario.noise_adu,
    };
    let (w, h) = (f64::from(scenario.gates), f64::from(scenario.rows));
    let map_s = h * scenario.row_s;
    let margin = 8.0;
    let mut frames = Vec::with_capacity(maps);
    let mut truth = Vec::new();
    for m in 0..maps {
        let frame_id = format!("{}-radar-{:05}", scenario.sensor_id, m + 1);
        let mut signal = Array2::zeros((scenario.rows as usize, scenario.gates as usize));
        let tracks = rng.random_range(scenario.tracks_per_map.0..=scenario.tracks_per_map.1);
        for k in 0..tracks {
            let snr = rng.random_range(scenario.snr_range.0..=scenario.snr_range.1);
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let rate =
                sign * rng.random_range(scenario.range_rate_km_s.0..=scenario.range_rate_km_s.1);
            let dwell = rng
                .random_range(scenario.dwell_s.0..=scenario.dwell_s.1)
                .min(map_s - 2.0 * margin * scenario.row_s);
            let (dy, dx) = (dwell / scenario.row_s, rate * dwell / scenario.gate_km);
            let y1 = rng.random_range(margin..=h - 1.0 - margin - dy);
            let x_lo = margin + (-dx).max(0.0);
            let x_hi = w - 1.0 - margin - dx.max(0.0);
            let x1 = rng.random_range(x_lo..=x_hi.max(x_lo));
            truth.push(straight_streak(
                optics,
                &mut signal,
                [x1, y1, x1 + dx, y1 + dy],
                snr,
                TruthRow {
                    frame: frame_id.clone(),
                    object_id: format!("track-{}", k + 1),
                    ..TruthRow::default()
                },
            ));
        }
        // Noise drawn in row-major order (`iter`), so that a seed gives the maps it always gave.
        let noisy = signal
            .iter()
            .map(|&s| (scenario.background_adu + s + noise.sample(&mut rng)) as f32)
            .collect();
        let pixels =
            Array2::from_shape_vec(signal.raw_dim(), noisy).expect("one value per signal pixel");
        frames.push(Frame {
            header: FrameHeader {
                frame_id,
                sensor_id: scenario.sensor_id.clone(),
                start: scenario.start + Duration::from_seconds(map_s * m as f64),
                exposure_s: map_s,
                site: Some(scenario.site),
                wcs: None,
                radar: Some(RadarAxes {
                    range0_km: scenario.range0_km,
                    gate_km: scenario.gate_km,
                    time0_s: 0.5 * scenario.row_s,
                    row_s: scenario.row_s,
                }),
                instrument: None,
            },
            pixels,
        });
    }
    (frames, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_lie_inside_the_maps_with_their_range_rates() {
        let scenario = RadarScenario::default();
        let (frames, truth) = simulate_radar(&scenario, 20, 3);
        assert_eq!(frames.len(), 20);
        assert!(truth.len() >= 20);
        for t in &truth {
            for (x, y) in [(t.x1, t.y1), (t.x2, t.y2)] {
                assert!(
                    (0.0..512.0).contains(&x) && (0.0..512.0).contains(&y),
                    "{t:?}"
                );
            }
            let rate = (t.x2 - t.x1) * scenario.gate_km / ((t.y2 - t.y1) * scenario.row_s);
            assert!((1.0..=3.0 + 1e-9).contains(&rate.abs()), "{rate}");
        }
        let axes = frames[0].header.radar.unwrap();
        assert_eq!(axes.range_km(0.0), 600.0);
    }
}
