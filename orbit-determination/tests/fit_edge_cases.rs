//! Least-squares edge cases: outlier editing, too few observations, correlation gating, one-streak tracklets.

use kessler_od::{
    CorrelationGate, Duration, Epoch, FitConfig, KnownOrbit, LinkConfig, Observation, OdError,
    RaDec, Site, StreakMeasurement, Tle, correlate, fit_orbit, initial_orbit, link_tracklets,
    predict_radec, topocentric_radec,
};

const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

const SITE: Site = Site {
    lat_deg: 28.3,
    lon_deg: -16.51,
    alt_km: 2.39,
};

fn leo() -> Tle {
    Tle::parse(
        None,
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    )
    .unwrap()
}

/// Exact observations of 28057 during its pass of 2006-06-26 (~22:21 UTC), every `step_s` seconds.
fn pass(n: usize, step_s: f64) -> Vec<Observation> {
    let tle = leo();
    let t0 = Epoch::from_gregorian_utc(2006, 6, 26, 22, 20, 0, 0);
    (0..n)
        .map(|k| {
            let t = t0 + Duration::from_seconds(step_s * k as f64);
            Observation {
                id: format!("f{k}/s0/start"),
                sensor_id: "tel".into(),
                site: SITE,
                epoch: t,
                radec: topocentric_radec(&SITE, t, |te| tle.state_gcrf(te).unwrap().r_km),
                sigma_rad: 5.0 * ARCSEC,
            }
        })
        .collect()
}

#[test]
fn outlier_is_rejected_and_fit_stays_exact() {
    let mut obs = pass(12, 10.0);
    obs[5].radec.dec_rad += 200.0 * ARCSEC;
    let iod = initial_orbit(&obs).unwrap();
    let fit = fit_orbit(&obs, &iod, &FitConfig::default()).unwrap();
    assert_eq!(fit.observations_rejected, 1);
    assert_eq!(fit.observations_used, 11);
    // Noise-free data and the same frames on both sides: only the force-model difference (SGP4 vs J2..J6) is
    // left, well under 0.1" over two minutes.
    assert!(fit.rms_arcsec.unwrap() < 0.1, "rms {:?}", fit.rms_arcsec);
    let truth = leo().state_gcrf(fit.state.epoch).unwrap();
    let err: f64 = (0..3)
        .map(|i| (truth.r_km[i] - fit.state.r_km[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(err < 0.5, "position error {err} km");
    // The prediction at an observation epoch reproduces the observation.
    let p = predict_radec(&fit.state, &SITE, obs[0].epoch).unwrap();
    assert!((p.dec_rad - obs[0].radec.dec_rad).abs() < 0.2 * ARCSEC);
}

#[test]
fn too_few_observations_is_a_typed_error() {
    let obs = pass(2, 10.0);
    assert!(matches!(
        initial_orbit(&obs),
        Err(OdError::TooFewObservations { got: 2, needed: 3 })
    ));
    let state = leo().state_gcrf(obs[0].epoch).unwrap();
    assert!(matches!(
        fit_orbit(&obs, &state, &FitConfig::default()),
        Err(OdError::TooFewObservations { .. })
    ));
}

#[test]
fn lone_streak_correlates_in_either_orientation_and_gate_holds() {
    let obs = pass(2, 2.0);
    let streak = |a: RaDec, b: RaDec| StreakMeasurement {
        id: "frame-9/s0".into(),
        frame_id: "frame-9".into(),
        sensor_id: "tel".into(),
        site: SITE,
        start: obs[0].epoch,
        end: obs[1].epoch,
        a,
        b,
        sigma_rad: 5.0 * ARCSEC,
    };
    let truth = leo().state_gcrf(obs[0].epoch).unwrap();
    let mut wrong = truth;
    wrong.r_km[2] += 300.0;
    let known = |id: &str, state, sigma_km: f64| KnownOrbit {
        id: id.into(),
        state,
        covariance: std::array::from_fn(|i| {
            std::array::from_fn(|j| match (i == j, i < 3) {
                (false, _) => 0.0,
                (true, true) => sigma_km.powi(2),
                (true, false) => (1e-3 * sigma_km).powi(2),
            })
        }),
    };
    let candidates = vec![known("wrong", wrong, 1.0), known("right", truth, 1.0)];
    let gate = CorrelationGate {
        coarse_rad: 1.0f64.to_radians(),
        ..CorrelationGate::default()
    };
    for (a, b) in [(obs[0].radec, obs[1].radec), (obs[1].radec, obs[0].radec)] {
        let tracklets = link_tracklets(&[streak(a, b)], &LinkConfig::default());
        assert_eq!(tracklets.len(), 1);
        // A lone streak keeps its given orientation: `a` is taken as the start.
        assert_eq!(tracklets[0].observations[0].radec, a);
        assert_eq!(tracklets[0].observations[0].id, "frame-9/s0/start");
        let matched = correlate(&tracklets[0], &candidates, &gate).unwrap();
        assert_eq!(matched.id, "right");
        // Two seconds of J2..J6 propagation against SGP4: milliarcseconds.
        assert!(matched.rms_rad < 0.01 * ARCSEC, "rms {}", matched.rms_rad);
        assert!(matched.mahalanobis_sq < 1e-3, "{matched:?}");
    }
    // Far outside any gate: no candidate.
    let tracklets = link_tracklets(
        &[streak(obs[0].radec, obs[1].radec)],
        &LinkConfig::default(),
    );
    assert!(correlate(&tracklets[0], &candidates[..1], &gate).is_none());

    // Inside the coarse gate but not the statistical one: 8 km off (a few tenths of a degree from ~1000 km) is
    // 8 sigma of a 1 km covariance, and a plausible 0.8 sigma of a 10 km one.
    let mut near = truth;
    near.r_km[0] += 8.0;
    let tight = [known("near", near, 1.0)];
    assert!(correlate(&tracklets[0], &tight, &gate).is_none());
    let loose = [known("near", near, 10.0)];
    let matched = correlate(&tracklets[0], &loose, &gate).expect("within 10 km sigma");
    assert!(matched.rms_rad < gate.coarse_rad && matched.mahalanobis_sq < matched.gate);
}

/// The chi-square quantile of the gate (Wilson-Hilferty) against tabulated values.
#[test]
fn chi_square_quantile_matches_tables() {
    // z = 2.326 (p = 0.99): chi2_0.99(2) = 9.210, (10) = 23.209, (40) = 63.691.
    for (k, table) in [(2, 9.210), (10, 23.209), (40, 63.691)] {
        let q = kessler_od::association::chi_square_quantile(k, 2.326_348);
        assert!((q - table).abs() / table < 0.01, "k {k}: {q} vs {table}");
    }
}
