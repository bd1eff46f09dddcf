//! A simulated night at a telescope: three catalog objects (two LEO, one GPS) observed from SGP4 truth, streaks
//! with noise and unknown direction, then the whole tracking chain: link -> correlate -> IOD -> fit.
//!
//! Night: 2006-06-26 21:00 to 2006-06-27 05:00 UTC, site 28.3 N, 16.51 W, 2.39 km. Each object gets up to three
//! visits while it is above 20 deg elevation; a visit is four frames (LEO: every 15 s, 2 s exposure; GPS: every
//! 120 s, 30 s exposure). Each frame gives one streak whose endpoints are the true topocentric RA/Dec at exposure
//! start and end plus 5" Gaussian noise, in random order.
//!
//! Both LEO objects have a single pass above 20 deg that night, so their three visits fall within a few minutes
//! of each other: with the default gap limit (300 s) linking rightly chains them into one tracklet per pass, and
//! correlation is exercised by the GPS object's three visits hours apart; the LEO-only test links with a 30 s gap
//! limit so that the later LEO visits must correlate with the first visit's fit.

use std::collections::HashMap;

use kessler_od::{
    CorrelationGate, Duration, Epoch, FitConfig, KnownOrbit, LinkConfig, Observation, RaDec, Site,
    StreakMeasurement, Tle, Tracklet, correlate, fit_orbit, initial_orbit, itrf_to_gcrf_matrix,
    link_tracklets, topocentric_radec,
};

const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);
const SIGMA_RAD: f64 = 5.0 * ARCSEC;
/// Acceptance: fitted position within 10 km of the truth at the solution epoch.
const MAX_POSITION_ERROR_KM: f64 = 10.0;

const TLES: [(&str, &str, &str); 3] = [
    (
        "28057",
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    ),
    (
        "06251",
        "1 06251U 62025E   06176.82412014  .00008885  00000-0  12808-3 0  3985",
        "2 06251  58.0579  54.0425 0030035 139.1568 221.1854 15.56387291  6774",
    ),
    (
        "28129",
        "1 28129U 03058A   06175.57071136 -.00000104  00000-0  10000-3 0   459",
        "2 28129  54.7298 324.8098 0048506 266.2640  93.1663  2.00562768 18443",
    ),
];

const SITE: Site = Site {
    lat_deg: 28.3,
    lon_deg: -16.51,
    alt_km: 2.39,
};

/// Deterministic normal deviates: SplitMix64 uniforms through Box-Muller.
struct Gauss(u64);

impl Gauss {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_seconds(s)
}

fn elevation_deg(tle: &Tle, t: Epoch) -> f64 {
    let r = tle.state_gcrf(t).unwrap().r_km;
    let site = SITE.gcrf_km(t);
    let rho: Vec<f64> = (0..3).map(|i| r[i] - site[i]).collect();
    let (lat, lon) = (SITE.lat_deg.to_radians(), SITE.lon_deg.to_radians());
    let up_itrf = [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()];
    let m = itrf_to_gcrf_matrix(t);
    let up: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| m[i][j] * up_itrf[j]).sum())
        .collect();
    let n = rho.iter().map(|x| x * x).sum::<f64>().sqrt();
    (rho.iter().zip(&up).map(|(a, b)| a * b).sum::<f64>() / n)
        .asin()
        .to_degrees()
}

/// Visit start epochs of one object: up to three, while it stays above 20 deg for the whole visit.
fn visits(tle: &Tle, night_start: Epoch, night_end: Epoch, visit_s: f64) -> Vec<Epoch> {
    // Windows above 20 deg, sampled every 30 s.
    let mut windows: Vec<(Epoch, Epoch)> = Vec::new();
    let mut t = night_start;
    let mut open: Option<Epoch> = None;
    while t <= night_end {
        let up = elevation_deg(tle, t) > 20.0;
        match (up, open) {
            (true, None) => open = Some(t),
            (false, Some(s)) => {
                windows.push((s, t - secs(30.0)));
                open = None;
            }
            _ => {}
        }
        t += secs(30.0);
    }
    if let Some(s) = open {
        windows.push((s, night_end));
    }
    let long: Vec<(Epoch, Epoch)> = windows
        .into_iter()
        .filter(|(s, e)| (*e - *s).to_seconds() > visit_s + 60.0)
        .collect();
    if long.len() >= 3 {
        // One visit per pass, mid-pass, the first three passes.
        long.iter()
            .take(3)
            .map(|(s, e)| *s + (*e - *s) / 2 - secs(visit_s / 2.0))
            .collect()
    } else {
        // Long windows (high orbits): three visits spread over the longest window.
        let (s, e) = *long
            .iter()
            .max_by(|a, b| (a.1 - a.0).cmp(&(b.1 - b.0)))
            .expect("object never above 20 deg during the night");
        let usable = (e - s).to_seconds() - visit_s;
        [0.1, 0.5, 0.9]
            .iter()
            .map(|f| s + secs(f * usable))
            .collect()
    }
}

/// sqrt(trace) of the position block of a covariance (km).
fn position_sigma_km(p: &[[f64; 6]; 6]) -> f64 {
    (p[0][0] + p[1][1] + p[2][2]).sqrt()
}

struct Truth {
    name: &'static str,
    tle: Tle,
}

#[test]
fn simulated_night_links_correlates_and_fits() {
    run_night(&TLES, LinkConfig::default());
}

/// The two LEO objects alone, linked with a gap limit a 15 s cadence telescope would use: the three visits of each
/// pass stay separate tracklets, so the later ones must correlate with the first one's single-visit fit.
#[test]
fn leo_visits_correlate_across_tracklets() {
    let config = LinkConfig {
        max_gap_s: 30.0,
        ..LinkConfig::default()
    };
    run_night(&TLES[..2], config);
}

/// Simulates the night for `objects`, runs link -> correlate -> IOD -> fit, and checks every step against truth.
fn run_night(objects: &[(&'static str, &str, &str)], link_cfg: LinkConfig) {
    let night_start = Epoch::from_gregorian_utc(2006, 6, 26, 21, 0, 0, 0);
    let night_end = Epoch::from_gregorian_utc(2006, 6, 27, 5, 0, 0, 0);
    let truths: Vec<Truth> = objects
        .iter()
        .map(|(name, l1, l2)| Truth {
            name,
            tle: Tle::parse(Some(name), l1, l2).unwrap(),
        })
        .collect();
    let mut rng = Gauss(20_060_626);
    let mut streaks = Vec::new();
    // streak id -> (object name, whether a is the true start)
    let mut truth_of: HashMap<String, (&str, bool)> = HashMap::new();
    // Visits closer than the linking gap continue each other (LEO objects have one pass above 20 deg this night,
    // so their three visits fall in it, about 100 s apart) and belong in one tracklet.
    let mut expected_tracklets = 0;
    for truth in &truths {
        let r = truth.tle.state_gcrf(night_start).unwrap().r_km;
        let leo = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt() < 10_000.0;
        let (cadence_s, exposure_s) = if leo { (15.0, 2.0) } else { (120.0, 30.0) };
        let starts = visits(
            &truth.tle,
            night_start,
            night_end,
            3.0 * cadence_s + exposure_s,
        );
        eprintln!("{}: visits at {starts:?}", truth.name);
        assert!(
            starts.len() >= 2,
            "{} has {} visits",
            truth.name,
            starts.len()
        );
        let visit_s = 3.0 * cadence_s + exposure_s;
        expected_tracklets += 1 + starts
            .windows(2)
            .filter(|w| (w[1] - w[0]).to_seconds() - visit_s > link_cfg.max_gap_s)
            .count();
        for (v, visit) in starts.iter().enumerate() {
            for k in 0..4 {
                let start = *visit + secs(k as f64 * cadence_s);
                let end = start + secs(exposure_s);
                let mut noisy = |t: Epoch| {
                    let rd =
                        topocentric_radec(&SITE, t, |te| truth.tle.state_gcrf(te).unwrap().r_km);
                    RaDec {
                        ra_rad: (rd.ra_rad + rng.normal() * SIGMA_RAD / rd.dec_rad.cos())
                            .rem_euclid(std::f64::consts::TAU),
                        dec_rad: rd.dec_rad + rng.normal() * SIGMA_RAD,
                    }
                };
                let (p_start, p_end) = (noisy(start), noisy(end));
                let a_is_start = rng.uniform() < 0.5;
                let (a, b) = if a_is_start {
                    (p_start, p_end)
                } else {
                    (p_end, p_start)
                };
                let frame_id = format!("{}-v{v}-f{k}", truth.name);
                let id = format!("{frame_id}/s0");
                truth_of.insert(id.clone(), (truth.name, a_is_start));
                streaks.push(StreakMeasurement {
                    id,
                    frame_id,
                    sensor_id: "tel-1".into(),
                    site: SITE,
                    start,
                    end,
                    a,
                    b,
                    sigma_rad: SIGMA_RAD,
                });
            }
        }
    }
    // Not in time order: objects one after the other.
    let tracklets = link_tracklets(&streaks, &link_cfg);
    assert_eq!(tracklets.len(), expected_tracklets);
    for t in &tracklets {
        let object = truth_of[&t.streak_ids[0]].0;
        for (k, id) in t.streak_ids.iter().enumerate() {
            let (name, a_is_start) = truth_of[id];
            assert_eq!(name, object, "tracklet mixes objects");
            let s = streaks.iter().find(|s| &s.id == id).unwrap();
            let expected_start = if a_is_start { s.a } else { s.b };
            assert_eq!(
                t.observations[2 * k].radec,
                expected_start,
                "direction of {id}"
            );
        }
    }

    // The tracking stage: tracklets in time order; correlate, or start a new object.
    let mut sorted: Vec<&Tracklet> = tracklets.iter().collect();
    sorted.sort_by_key(|t| t.observations[0].epoch);
    let mut known: Vec<KnownOrbit> = Vec::new();
    let mut sigma_of: HashMap<String, f64> = HashMap::new();
    let mut obs_of: HashMap<String, Vec<Observation>> = HashMap::new();
    let mut object_of_candidate: HashMap<String, &str> = HashMap::new();
    let cfg = FitConfig::default();
    let mut correlations = 0;
    for t in sorted {
        let object = truth_of[&t.streak_ids[0]].0;
        match correlate(t, &known, &CorrelationGate::default()) {
            Some(matched) => {
                let id = matched.id;
                assert_eq!(
                    object_of_candidate[&id], object,
                    "correlated to the wrong object"
                );
                correlations += 1;
                let all = obs_of.get_mut(&id).unwrap();
                all.extend(t.observations.iter().cloned());
                let previous = known.iter().find(|k| k.id == id).unwrap().state;
                let fit = fit_orbit(all, &previous, &cfg).unwrap();
                eprintln!(
                    "{object}: correlated with {id} at {:.1}\" rms, d2 {:.1} (gate {:.1}), refit on {} obs: rms {:.2?}\", {} iterations, {} rejected",
                    matched.rms_rad / ARCSEC,
                    matched.mahalanobis_sq,
                    matched.gate,
                    all.len(),
                    fit.rms_arcsec,
                    fit.iterations,
                    fit.observations_rejected
                );
                let entry = known.iter_mut().find(|k| k.id == id).unwrap();
                (entry.state, entry.covariance) = (fit.state, fit.covariance);
                sigma_of.insert(id, position_sigma_km(&fit.covariance));
            }
            None => {
                assert!(
                    !object_of_candidate.values().any(|o| *o == object),
                    "{object} was not correlated with its earlier tracklet"
                );
                let iod = initial_orbit(&t.observations).unwrap();
                let fit = fit_orbit(&t.observations, &iod, &cfg).unwrap();
                let id = format!("cand-{}", known.len());
                eprintln!(
                    "{object}: new {id}, fit rms {:.2?}\", {} iterations",
                    fit.rms_arcsec, fit.iterations
                );
                object_of_candidate.insert(id.clone(), object);
                sigma_of.insert(id.clone(), position_sigma_km(&fit.covariance));
                obs_of.insert(id.clone(), t.observations.clone());
                known.push(KnownOrbit {
                    id,
                    state: fit.state,
                    covariance: fit.covariance,
                });
            }
        }
    }
    assert_eq!(known.len(), truths.len(), "one catalog entry per object");
    assert_eq!(correlations, tracklets.len() - truths.len());
    for KnownOrbit { id, state, .. } in &known {
        let object = object_of_candidate[id];
        let truth = truths.iter().find(|t| t.name == object).unwrap();
        let r_true = truth.tle.state_gcrf(state.epoch).unwrap().r_km;
        let err = (0..3)
            .map(|i| (state.r_km[i] - r_true[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        eprintln!(
            "{object}: {} observations, position error at {} = {err:.3} km (1-sigma {:.3} km)",
            obs_of[id].len(),
            state.epoch,
            sigma_of[id]
        );
        assert!(err < MAX_POSITION_ERROR_KM, "{object}: {err} km");
        // The covariance must be honest: the error is a draw from it (5 sigma is a 1e-6 event in 1D).
        assert!(
            err < 5.0 * sigma_of[id],
            "{object}: {err} km vs sigma {} km",
            sigma_of[id]
        );
    }
}
