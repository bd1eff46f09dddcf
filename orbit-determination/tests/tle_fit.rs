//! SGP4 mean elements fitted to observations: RA/Dec of CBERS 2 (NORAD 28057) from its own TLE through SGP4,
//! seen from three telescopes over half a day; the fit starts from a Cartesian state 2 km and 2 m/s off the truth
//! (as a numerical fit would hand it over) and must recover an element set that reproduces the truth.

use kessler_od::measurement::look;
use kessler_od::{
    Duration, Epoch, FitConfig, Measured, Site, Tle, TleHeader, TrackingObservation, fit_tle,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);
const SITES: [Site; 3] = [
    Site {
        lat_deg: 28.2995,
        lon_deg: -16.5120,
        alt_km: 2.393,
    },
    Site {
        lat_deg: -31.27,
        lon_deg: 149.06,
        alt_km: 1.16,
    },
    Site {
        lat_deg: 32.78,
        lon_deg: -105.82,
        alt_km: 2.79,
    },
];

fn truth() -> Tle {
    Tle::parse(
        Some("CBERS 2"),
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    )
    .unwrap()
}

/// RA/Dec every 30 s while the object stands above 15 deg at any site, over 12 h from the TLE epoch.
fn observations(noise_arcsec: f64, seed: u64) -> Vec<TrackingObservation> {
    let tle = truth();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut obs = vec![];
    for k in 0..(12 * 120) {
        let t = tle.epoch() + Duration::from_seconds(30.0 * k as f64);
        let state = tle.state_gcrf(t).unwrap();
        for site in &SITES {
            let seen = look(site, &state);
            if seen.azel.el_rad.to_degrees() < 15.0 {
                continue;
            }
            let sigma = noise_arcsec.max(1.0) * ARCSEC;
            let mut radec = seen.radec;
            let (dra, ddec): (f64, f64) = (
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
            );
            radec.ra_rad += noise_arcsec * ARCSEC * dra / radec.dec_rad.cos();
            radec.dec_rad += noise_arcsec * ARCSEC * ddec;
            obs.push(TrackingObservation {
                epoch: t,
                site: *site,
                measured: Measured::RaDec {
                    radec,
                    sigma_rad: [sigma, sigma],
                },
            });
        }
    }
    obs
}

/// Largest position difference (km) between two element sets over the arc of `obs`.
fn largest_difference_km(a: &Tle, b: &Tle, obs: &[TrackingObservation]) -> f64 {
    obs.iter()
        .map(|o| {
            let (ra, rb) = (
                a.state_gcrf(o.epoch).unwrap().r_km,
                b.state_gcrf(o.epoch).unwrap().r_km,
            );
            (0..3).map(|i| (ra[i] - rb[i]).powi(2)).sum::<f64>().sqrt()
        })
        .fold(0.0, f64::max)
}

fn start_off_truth(obs: &[TrackingObservation]) -> kessler_od::StateGcrf {
    let mut start = truth().state_gcrf(obs[obs.len() / 2].epoch).unwrap();
    start.r_km[0] += 2.0;
    start.v_km_s[1] -= 0.002;
    start
}

/// The element fit of `obs` from [`start_off_truth`], named as the truth.
fn fit_from_off_truth(obs: &[TrackingObservation], cfg: &FitConfig) -> kessler_od::TleSolution {
    fit_tle(obs, &start_off_truth(obs), &TleHeader::from(&truth()), cfg).unwrap()
}

#[test]
fn exact_observations_give_back_the_element_set() {
    let obs = observations(0.0, 1);
    assert!(obs.len() > 40, "{} observations", obs.len());
    let truth = truth();
    let fit = fit_from_off_truth(&obs, &FitConfig::default());
    let worst = largest_difference_km(&fit.tle, &truth, &obs);
    eprintln!(
        "{} obs, {} iterations, rms {:.2e}\", worst position difference {:.2e} km\n{}\n{}",
        obs.len(),
        fit.iterations,
        fit.rms_arcsec.unwrap_or(f64::NAN),
        worst,
        fit.tle.to_lines()[0],
        fit.tle.to_lines()[1]
    );
    assert!(fit.rms_arcsec.unwrap() < 1e-3, "rms {:?}", fit.rms_arcsec);
    assert!(worst < 1e-3, "{worst} km");
    assert_eq!(fit.tle.norad_id(), 28057);
    assert_eq!(fit.observations_rejected, 0);
}

#[test]
fn noisy_observations_fit_to_the_noise_and_the_covariance_covers_the_error() {
    let obs = observations(1.0, 7);
    let truth = truth();
    let fit = fit_from_off_truth(&obs, &FitConfig::default());
    let epoch = fit.tle.epoch();
    let (rf, rt) = (
        fit.tle.state_gcrf(epoch).unwrap().r_km,
        truth.state_gcrf(epoch).unwrap().r_km,
    );
    let err = (0..3).map(|i| (rf[i] - rt[i]).powi(2)).sum::<f64>().sqrt();
    let sigma = (fit.covariance[0][0] + fit.covariance[1][1] + fit.covariance[2][2]).sqrt();
    eprintln!(
        "normalised rms {:.3}, position error {err:.4} km, 1-sigma {sigma:.4} km",
        fit.normalized_rms
    );
    assert!(
        (fit.normalized_rms - 1.0).abs() < 0.1,
        "{}",
        fit.normalized_rms
    );
    assert!(err < 4.0 * sigma, "{err} km vs {sigma} km");
    assert!(err < 0.05, "{err} km");
}

/// The fitted set takes the epoch asked for, and writes as two valid lines that parse back.
#[test]
fn fitted_set_round_trips_through_its_lines() {
    let obs = observations(0.0, 1);
    let fit = fit_from_off_truth(
        &obs,
        &FitConfig {
            epoch: Some(Epoch::from_gregorian_utc_hms(2006, 6, 27, 0, 0, 0)),
            ..FitConfig::default()
        },
    );
    assert_eq!(
        fit.tle.epoch(),
        Epoch::from_gregorian_utc_hms(2006, 6, 27, 0, 0, 0)
    );
    let [l1, l2] = fit.tle.to_lines();
    let back = Tle::parse(Some("CBERS 2"), &l1, &l2).unwrap();
    // The lines round the elements (1e-8 rev/day, 1e-4 deg, 1e-7 eccentricity): tens of metres.
    assert!(largest_difference_km(&back, &fit.tle, &obs) < 0.1);
}
