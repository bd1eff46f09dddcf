//! Track association: linking streaks of one sensor into tracklets, and correlating tracklets with known orbits.

use serde::{Deserialize, Serialize};

use crate::fit::{Covariance6, Problem};
use crate::linalg::{V3, add, angle, norm, scale, spd_solve_log_det, sub, unit};
use crate::measurement::{Observation, RaDec, StreakMeasurement, radec_of_state, separation};
use crate::propagator::{StateGcrf, propagate_many};

/// A sensible default for the coarse gate of [`correlate`] (rad): 3 deg. A single-pass fit predicts the next pass
/// of a LEO object to about a degree; two unrelated objects rarely pass within 3 deg of each other along a whole
/// tracklet.
pub const DEFAULT_CORRELATION_GATE_RAD: f64 = 3.0 * std::f64::consts::PI / 180.0;

/// Streaks of one object in consecutive frames, oriented (direction of motion resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracklet {
    /// Ids of the member streaks, in time order.
    pub streak_ids: Vec<String>,
    /// Two observations per streak (exposure start and end, ids `"<streak id>/start"` and `"<streak id>/end"`),
    /// in time order.
    pub observations: Vec<Observation>,
}

/// Settings of [`link_tracklets`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Longest gap (s) from the end of one frame's exposure to the start of the next one in a tracklet.
    pub max_gap_s: f64,
    /// Fixed part of the gate (rad): largest distance between an extrapolated and a measured endpoint.
    pub gate_rad: f64,
    /// Growing part of the gate, as a fraction of the angle (rad) the object is predicted to move over the gap:
    /// it covers the curvature of the apparent path that straight-line extrapolation ignores.
    pub gate_motion_fraction: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            max_gap_s: 300.0,
            gate_rad: 0.05_f64.to_radians(),
            gate_motion_fraction: 0.2,
        }
    }
}

/// A streak placed in a tracklet: its index and whether `b` is its start.
#[derive(Clone, Copy)]
struct Member {
    index: usize,
    flipped: bool,
}

/// Start and end directions (unit vectors, GCRF) of a streak in the given orientation.
fn endpoints(s: &StreakMeasurement, flipped: bool) -> (V3, V3) {
    let (a, b) = (s.a.unit_vector(), s.b.unit_vector());
    if flipped { (b, a) } else { (a, b) }
}

/// Angular rate (unit vector per second, GCRF) over the exposure and end direction of a streak in the given
/// orientation.
fn motion(s: &StreakMeasurement, flipped: bool) -> (V3, V3) {
    let (start, end) = endpoints(s, flipped);
    (
        scale(1.0 / (s.end - s.start).to_seconds(), sub(end, start)),
        end,
    )
}

/// Mid-exposure time of a streak (s, on an arbitrary but common origin: the streak's start in TAI seconds).
fn mid(s: &StreakMeasurement) -> f64 {
    s.start.to_tai_seconds() + 0.5 * (s.end - s.start).to_seconds()
}

/// Links the streaks of ONE sensor (any order) into tracklets.
///
/// Streaks are taken in order of exposure start. Each one joins the open tracklet whose last streak, extrapolated
/// on the sky (position at its exposure end, its angular rate over the exposure, and the angular acceleration
/// between the last two streaks' rates when there are two), lands within the gate of both of the new streak's
/// endpoints; the gate is `gate_rad + gate_motion_fraction * motion`, where motion is the predicted angular
/// travel, so it grows with the gap. Both orientations of the new streak (and of
/// a lone last streak) are tried; the best fit fixes them, which resolves directions from neighbours. Every streak
/// ends in exactly one tracklet.
///
/// A streak with no neighbour stays alone, oriented as given (`a` taken as the exposure start): one streak carries
/// no information on its direction, so the caller decides (for instance [`correlate`] tries both orientations of
/// a one-streak tracklet).
pub fn link_tracklets(streaks: &[StreakMeasurement], cfg: &LinkConfig) -> Vec<Tracklet> {
    let mut order: Vec<usize> = (0..streaks.len()).collect();
    order.sort_by_key(|&i| streaks[i].start);
    let mut tracklets: Vec<Vec<Member>> = Vec::new();
    for index in order {
        let s = &streaks[index];
        // (score, tracklet, orientation of a lone last streak, orientation of the new streak)
        let mut best: Option<(f64, usize, bool, bool)> = None;
        for (ti, members) in tracklets.iter().enumerate() {
            let last = members[members.len() - 1];
            let ls = &streaks[last.index];
            let gap = (s.start - ls.end).to_seconds();
            if gap < 0.0 || gap > cfg.max_gap_s {
                continue;
            }
            let last_orientations: &[bool] = if members.len() > 1 {
                if last.flipped { &[true] } else { &[false] }
            } else {
                &[false, true]
            };
            for &lf in last_orientations {
                let (l_rate, l_end) = motion(ls, lf);
                // Angular acceleration from the rates of the last two streaks (zero with one streak), and the
                // rate carried from mid-exposure to the exposure end.
                let accel = if members.len() > 1 {
                    let prev = members[members.len() - 2];
                    let ps = &streaks[prev.index];
                    let (p_rate, _) = motion(ps, prev.flipped);
                    scale(1.0 / (mid(ls) - mid(ps)), sub(l_rate, p_rate))
                } else {
                    [0.0; 3]
                };
                let half = 0.5 * (ls.end - ls.start).to_seconds();
                let rate = add(l_rate, scale(half, accel));
                // u(t) = u_end + rate dt + accel dt^2 / 2, back on the unit sphere.
                let predict = |dt: f64| {
                    unit(add(
                        add(l_end, scale(dt, rate)),
                        scale(0.5 * dt * dt, accel),
                    ))
                };
                let dt_start = (s.start - ls.end).to_seconds();
                let dt_end = (s.end - ls.end).to_seconds();
                let gate = cfg.gate_rad + cfg.gate_motion_fraction * norm(rate) * dt_end;
                for nf in [false, true] {
                    let (n_start, n_end) = endpoints(s, nf);
                    let d = angle(predict(dt_start), n_start).max(angle(predict(dt_end), n_end));
                    let score = d / gate;
                    if d <= gate && best.is_none_or(|b| score < b.0) {
                        best = Some((score, ti, lf, nf));
                    }
                }
            }
        }
        match best {
            Some((_, ti, lf, nf)) => {
                let members = &mut tracklets[ti];
                if members.len() == 1 {
                    members[0].flipped = lf;
                }
                members.push(Member { index, flipped: nf });
            }
            None => tracklets.push(vec![Member {
                index,
                flipped: false,
            }]),
        }
    }
    tracklets
        .into_iter()
        .map(|members| build_tracklet(streaks, &members))
        .collect()
}

fn build_tracklet(streaks: &[StreakMeasurement], members: &[Member]) -> Tracklet {
    let mut observations = Vec::with_capacity(2 * members.len());
    for m in members {
        let s = &streaks[m.index];
        let (first, second) = if m.flipped { (s.b, s.a) } else { (s.a, s.b) };
        for (suffix, epoch, radec) in [("start", s.start, first), ("end", s.end, second)] {
            observations.push(Observation {
                id: format!("{}/{suffix}", s.id),
                sensor_id: s.sensor_id.clone(),
                site: s.site,
                epoch,
                radec,
                sigma_rad: s.sigma_rad,
            });
        }
    }
    Tracklet {
        streak_ids: members
            .iter()
            .map(|m| streaks[m.index].id.clone())
            .collect(),
        observations,
    }
}

/// A known orbit as correlation sees it: catalog id, state and its covariance at the state's epoch (GCRF).
#[derive(Debug, Clone, PartialEq)]
pub struct KnownOrbit {
    pub id: String,
    pub state: StateGcrf,
    pub covariance: Covariance6,
}

/// Gates of [`correlate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorrelationGate {
    /// Coarse gate (rad): largest RMS angular distance between the tracklet and the orbit's prediction; orbits
    /// beyond it are not examined further.
    pub coarse_rad: f64,
    /// Statistical gate, in standard normal deviates: the squared Mahalanobis distance must lie under the
    /// chi-square quantile of this one-sided normal probability (4: 0.99997) for the tracklet's degrees of freedom.
    pub sigma: f64,
}

impl Default for CorrelationGate {
    fn default() -> Self {
        Self {
            coarse_rad: DEFAULT_CORRELATION_GATE_RAD,
            sigma: 4.0,
        }
    }
}

/// A tracklet's match with a known orbit.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Catalog id of the orbit.
    pub id: String,
    /// RMS angular distance between the observations and the orbit's prediction (rad).
    pub rms_rad: f64,
    /// Squared Mahalanobis distance of the residuals under the predicted covariance plus the measurement noise.
    pub mahalanobis_sq: f64,
    /// Its degrees of freedom (scalar residual components).
    pub dof: usize,
    /// The gate it passed: the chi-square quantile for `dof` at the gate's sigma.
    pub gate: f64,
}

/// Chi-square quantile for `k` degrees of freedom at the normal deviate `z` (Wilson & Hilferty 1931:
/// `(chi2 / k)^(1/3)` is close to normal with mean `1 - 2 / (9k)` and variance `2 / (9k)`).
pub fn chi_square_quantile(k: usize, z: f64) -> f64 {
    let k = k as f64;
    let v = 2.0 / (9.0 * k);
    k * (1.0 - v + z * v.sqrt()).powi(3)
}

/// Correlates a tracklet with known orbits and returns the best match that passes both gates.
///
/// For each orbit, the observations are predicted (numerical propagation, light time). Orbits whose RMS angular
/// distance exceeds the coarse gate are dropped. For the rest, the whitened residuals `r` (2n components for n
/// observations) and their partials `J = dr/dx` with respect to the orbit's state give the innovation covariance
/// `S = J P J^T + I` (prediction plus measurement noise); the squared Mahalanobis distance is `d2 = r^T S^-1 r`
/// (Bar-Shalom, Li & Kirubarajan, Estimation with Applications to Tracking and Navigation, 2001, sec. 5.4 for the
/// gate), from a Cholesky factorisation of `S`. An orbit passes when `d2` lies under the chi-square quantile of the gate; among
/// those that pass, the one with the smallest `d2 + ln det S` (the negative log likelihood, which does not let a
/// poorly known orbit with a huge covariance win over a well-known one that fits) is the match.
///
/// A one-streak tracklet has an unknown direction: both orientations are scored and the better one counts.
/// Orbits that fail to propagate or whose covariance is not positive definite are skipped.
pub fn correlate(
    tracklet: &Tracklet,
    known: &[KnownOrbit],
    gate: &CorrelationGate,
) -> Option<Correlation> {
    let obs = &tracklet.observations;
    if obs.is_empty() {
        return None;
    }
    // A lone streak is scored in both orientations: its directions swapped between the two epochs.
    let reversed: Option<Vec<Observation>> = (tracklet.streak_ids.len() == 1 && obs.len() == 2)
        .then(|| {
            obs.iter()
                .zip(obs.iter().rev())
                .map(|(o, r)| Observation {
                    radec: r.radec,
                    ..o.clone()
                })
                .collect()
        });
    let orientations: Vec<&[Observation]> = std::iter::once(obs.as_slice())
        .chain(reversed.as_deref())
        .collect();
    let epochs: Vec<_> = obs.iter().map(|o| o.epoch).collect();
    let sites: Vec<V3> = obs.iter().map(|o| o.site.gcrf_km(o.epoch)).collect();
    let dof = 2 * obs.len();
    let limit = chi_square_quantile(dof, gate.sigma);
    let mut best: Option<(f64, Correlation)> = None;
    for orbit in known {
        let Ok(states) = propagate_many(&orbit.state, &epochs) else {
            continue;
        };
        let predicted: Vec<RaDec> = states
            .iter()
            .zip(&sites)
            .map(|(s, site)| radec_of_state(*site, &s.to_array()))
            .collect();
        for measured in &orientations {
            let sum: f64 = measured
                .iter()
                .zip(&predicted)
                .map(|(m, p)| separation(&m.radec, p).powi(2))
                .sum();
            let rms_rad = (sum / predicted.len() as f64).sqrt();
            if rms_rad >= gate.coarse_rad {
                continue;
            }
            let Some((d2, log_det)) = mahalanobis(measured, orbit) else {
                continue;
            };
            let score = d2 + log_det;
            if d2 <= limit && best.as_ref().is_none_or(|b| score < b.0) {
                best = Some((
                    score,
                    Correlation {
                        id: orbit.id.clone(),
                        rms_rad,
                        mahalanobis_sq: d2,
                        dof,
                        gate: limit,
                    },
                ));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// Squared Mahalanobis distance of `obs` from `orbit`'s prediction and `ln det S` (see [`correlate`]), with
/// `S = I + J P J^T` factored directly: it is positive definite (eigenvalues at least 1) however ill-conditioned
/// the orbit's covariance, as that of a short-arc fit is.
fn mahalanobis(obs: &[Observation], orbit: &KnownOrbit) -> Option<(f64, f64)> {
    let problem = Problem::optical(obs, orbit.state.epoch);
    let (residuals, partials) = problem
        .residuals_and_partials(orbit.state.to_array())
        .ok()?;
    let r: Vec<f64> = residuals.iter().flatten().copied().collect();
    let j: Vec<[f64; 6]> = partials.iter().flat_map(|p| [p[0], p[1]]).collect();
    let p = &orbit.covariance;
    let jp: Vec<[f64; 6]> = j
        .iter()
        .map(|row| std::array::from_fn(|b| (0..6).map(|a| row[a] * p[a][b]).sum()))
        .collect();
    let m = r.len();
    let mut s = vec![0.0; m * m];
    for (i, jp_i) in jp.iter().enumerate() {
        for (k, j_k) in j.iter().enumerate() {
            s[i * m + k] = (0..6).map(|a| jp_i[a] * j_k[a]).sum::<f64>() + f64::from(i == k);
        }
    }
    let (y, log_det) = spd_solve_log_det(s, &r)?;
    let d2: f64 = r.iter().zip(&y).map(|(a, b)| a * b).sum();
    Some((d2.max(0.0), log_det))
}
