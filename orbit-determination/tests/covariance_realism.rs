//! Covariance realism: over 200 seeded trials of one LEO object seen on three passes from one telescope (30 RA/Dec
//! observations, 1 arcsec Gaussian noise), the fitted state lies within the covariance's 3-sigma ellipsoid in at
//! least 97% of the trials.
//!
//! The truth is propagated with the fit's own force model (the TLE of NORAD 28057 only gives a realistic starting
//! state), so the residuals are the noise alone and the test checks the linearised covariance `(A^T W A)^-1`.
//! "Within the 3-sigma ellipsoid" in six dimensions: the Mahalanobis distance `d^2 = dx^T P^-1 dx` under the
//! chi-square quantile of 6 degrees of freedom at the 3-sigma probability 0.9973, 20.06 (a realistic covariance puts
//! 99.73% of the trials inside; `d^2 <= 9` would hold only 82.6% of them even for a perfect covariance).

use kessler_od::measurement::look;
use kessler_od::{
    Duration, Epoch, FitConfig, Measured, RaDec, Site, StateGcrf, Tle, TrackingObservation,
    fit_tracking, propagate, propagate_many,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);
const SITE: Site = Site {
    lat_deg: 28.2995,
    lon_deg: -16.5120,
    alt_km: 2.393,
};
const TRIALS: usize = 200;
/// chi^2 quantile, 6 degrees of freedom, P = 0.9973 (tables of the chi-square distribution).
const CHI2_6_3SIGMA: f64 = 20.062;
/// Lowest elevation observed, deg.
const MIN_ELEVATION_DEG: f64 = 20.0;

/// Solves `P y = b` for symmetric positive-definite `P` (Cholesky).
fn solve(p: &[[f64; 6]; 6], b: [f64; 6]) -> [f64; 6] {
    let mut l = [[0.0; 6]; 6];
    for i in 0..6 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (p[i][i] - s).sqrt()
            } else {
                (p[i][j] - s) / l[j][j]
            };
        }
    }
    let mut y = b;
    for i in 0..6 {
        y[i] = (y[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    for i in (0..6).rev() {
        y[i] = (y[i] - (i + 1..6).map(|k| l[k][i] * y[k]).sum::<f64>()) / l[i][i];
    }
    y
}

/// Ten epochs spread over each of the first three passes above `MIN_ELEVATION_DEG`, from a 30 s scan of 36 h.
fn pass_epochs(truth: &StateGcrf) -> Vec<Epoch> {
    let scan: Vec<Epoch> = (0..36 * 120)
        .map(|k| truth.epoch + Duration::from_seconds(30.0 * k as f64))
        .collect();
    let states = propagate_many(truth, &scan).unwrap();
    let up: Vec<bool> = states
        .iter()
        .map(|s| look(&SITE, s).azel.el_rad.to_degrees() > MIN_ELEVATION_DEG)
        .collect();
    let mut passes: Vec<(usize, usize)> = vec![];
    let mut k = 0;
    while k < up.len() && passes.len() < 3 {
        if up[k] {
            let start = k;
            while k < up.len() && up[k] {
                k += 1;
            }
            if k - start >= 4 {
                passes.push((start, k - 1));
            }
        }
        k += 1;
    }
    assert_eq!(passes.len(), 3, "three passes in 36 h");
    passes
        .iter()
        .flat_map(|&(a, b)| {
            let (ta, tb) = (scan[a], scan[b]);
            (0..10).map(move |i| ta + (tb - ta) * (i as f64 / 9.0))
        })
        .collect()
}

#[test]
fn fitted_states_lie_within_the_reported_covariance() {
    let tle = Tle::parse(
        None,
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    )
    .unwrap();
    let truth = tle
        .state_gcrf(Epoch::from_gregorian_utc_hms(2006, 6, 26, 21, 0, 0))
        .unwrap();
    let epochs = pass_epochs(&truth);
    let exact: Vec<RaDec> = propagate_many(&truth, &epochs)
        .unwrap()
        .iter()
        .map(|s| look(&SITE, s).radec)
        .collect();
    let solution_epoch = epochs[0];
    let at_epoch = propagate(&truth, solution_epoch).unwrap();
    let inside = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (epochs, exact) = (&epochs, &exact);
                scope.spawn(move || {
                    (w..TRIALS)
                        .step_by(2)
                        .filter(|&trial| {
                            let mut rng = StdRng::seed_from_u64(trial as u64);
                            let mut noise = || -> f64 { StandardNormal.sample(&mut rng) };
                            let obs: Vec<TrackingObservation> = epochs
                                .iter()
                                .zip(exact)
                                .map(|(&t, r)| TrackingObservation {
                                    epoch: t,
                                    site: SITE,
                                    measured: Measured::RaDec {
                                        radec: RaDec {
                                            ra_rad: r.ra_rad + noise() * ARCSEC / r.dec_rad.cos(),
                                            dec_rad: r.dec_rad + noise() * ARCSEC,
                                        },
                                        sigma_rad: [ARCSEC; 2],
                                    },
                                })
                                .collect();
                            // Start 2 km and 2 m/s off the truth.
                            let mut start = at_epoch;
                            start.r_km[0] += 2.0;
                            start.v_km_s[1] += 0.002;
                            let config = FitConfig {
                                epoch: Some(solution_epoch),
                                ..FitConfig::default()
                            };
                            let fit = fit_tracking(&obs, &start, &config).unwrap();
                            let (f, t) = (fit.state.to_array(), at_epoch.to_array());
                            let dx: [f64; 6] = std::array::from_fn(|i| f[i] - t[i]);
                            let y = solve(&fit.covariance, dx);
                            let d2: f64 = (0..6).map(|i| dx[i] * y[i]).sum();
                            d2 <= CHI2_6_3SIGMA
                        })
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .sum::<usize>()
    });
    let fraction = inside as f64 / TRIALS as f64;
    println!("{inside} of {TRIALS} fitted states inside the 3-sigma ellipsoid ({fraction:.3})");
    assert!(fraction >= 0.97, "{inside} of {TRIALS} inside");
}
