//! Station biases estimated with the orbit: two radars (Kaena Point and Eglin) track a LEO object (the state of
//! NORAD 28057's TLE, propagated with the fit's own force model) over a day, range and azimuth/elevation every
//! 20 s above 10 deg. Kaena Point's ranges read 150 m long and its azimuths 0.02 deg high; Eglin's elevations
//! 0.01 deg low. Without bias estimation the fit cannot reach the noise; with it, every bias is recovered within 3
//! sigma, the unbiased components read zero within 3 sigma, and the orbit lies within its covariance.

use kessler_od::measurement::look;
use kessler_od::{
    AzEl, Duration, Epoch, FitConfig, Measured, Site, Tle, TrackingObservation, fit_tracking,
    propagate, propagate_many,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const KAENA: Site = Site {
    lat_deg: 21.572056,
    lon_deg: -158.266578,
    alt_km: 0.3002,
};
const EGLIN: Site = Site {
    lat_deg: 30.5724,
    lon_deg: -86.2143,
    alt_km: 0.0347,
};
const SIGMA_RANGE_KM: f64 = 0.02;
const SIGMA_ANGLE_DEG: f64 = 0.005;

/// True bias of `component` at `site` (km or rad).
fn true_bias(site: &Site, component: &str) -> f64 {
    match (site.lon_deg == KAENA.lon_deg, component) {
        (true, "range_km") => 0.15,
        (true, "azimuth_rad") => 0.02f64.to_radians(),
        (false, "elevation_rad") => -0.01f64.to_radians(),
        _ => 0.0,
    }
}

fn observations() -> (Vec<TrackingObservation>, kessler_od::StateGcrf) {
    let tle = Tle::parse(
        None,
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    )
    .unwrap();
    let t0 = Epoch::from_gregorian_utc_hms(2006, 6, 26, 21, 0, 0);
    let truth0 = tle.state_gcrf(t0).unwrap();
    let epochs: Vec<Epoch> = (0..4320)
        .map(|k| t0 + Duration::from_seconds(20.0 * f64::from(k)))
        .collect();
    let states = propagate_many(&truth0, &epochs).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let mut noise = |sigma: f64| -> f64 {
        let z: f64 = StandardNormal.sample(&mut rng);
        sigma * z
    };
    let angle = SIGMA_ANGLE_DEG.to_radians();
    let mut obs = vec![];
    for state in &states {
        for site in [KAENA, EGLIN] {
            let seen = look(&site, state);
            if seen.azel.el_rad.to_degrees() < 10.0 {
                continue;
            }
            obs.push(TrackingObservation {
                epoch: state.epoch,
                site,
                measured: Measured::Range {
                    range_km: seen.range_km + true_bias(&site, "range_km") + noise(SIGMA_RANGE_KM),
                    sigma_km: SIGMA_RANGE_KM,
                },
            });
            let el = seen.azel.el_rad + true_bias(&site, "elevation_rad") + noise(angle);
            obs.push(TrackingObservation {
                epoch: state.epoch,
                site,
                measured: Measured::AzEl {
                    azel: AzEl {
                        az_rad: seen.azel.az_rad + true_bias(&site, "azimuth_rad") + noise(angle),
                        el_rad: el,
                    },
                    sigma_rad: [angle; 2],
                },
            });
        }
    }
    let mid = obs[obs.len() / 2].epoch;
    (obs, propagate(&truth0, mid).unwrap())
}

#[test]
fn biases_are_recovered_with_the_orbit() {
    let (obs, truth) = observations();
    assert!(obs.len() > 100, "{} observations", obs.len());
    let mut start = truth;
    start.r_km[0] += 3.0;
    start.v_km_s[2] -= 0.003;
    let cfg = FitConfig {
        epoch: Some(truth.epoch),
        ..FitConfig::default()
    };
    let error = |s: &kessler_od::StateGcrf| {
        (0..3)
            .map(|i| (s.r_km[i] - truth.r_km[i]).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let plain = fit_tracking(&obs, &start, &cfg).unwrap();
    let with = fit_tracking(
        &obs,
        &start,
        &FitConfig {
            estimate_biases: true,
            ..cfg
        },
    )
    .unwrap();
    let sigma = (with.covariance[0][0] + with.covariance[1][1] + with.covariance[2][2]).sqrt();
    eprintln!(
        "{} observations; without biases: normalised rms {:.2}, {} rejected, error {:.3} km; with: {:.3}, {} rejected, \
         error {:.4} km (1-sigma {sigma:.4} km)",
        obs.len(),
        plain.normalized_rms,
        plain.observations_rejected,
        error(&plain.state),
        with.normalized_rms,
        with.observations_rejected,
        error(&with.state)
    );
    assert!(plain.normalized_rms > 1.5 || plain.observations_rejected > obs.len() / 10);
    assert!(
        (with.normalized_rms - 1.0).abs() < 0.1,
        "{}",
        with.normalized_rms
    );
    assert!(error(&with.state) < 4.0 * sigma);
    assert!(error(&with.state) < error(&plain.state));
    assert_eq!(
        with.biases.len(),
        6,
        "three components at each of two stations"
    );
    for b in &with.biases {
        let expected = true_bias(&b.site, &b.component);
        eprintln!(
            "lon {:.2} {}: {:.6} +- {:.6} (true {expected:.6}), {} measurements",
            b.site.lon_deg, b.component, b.value, b.sigma, b.measurements
        );
        assert!(
            (b.value - expected).abs() < 3.0 * b.sigma,
            "{b:?}: true {expected}"
        );
    }
}
