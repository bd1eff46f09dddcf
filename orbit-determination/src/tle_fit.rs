//! SGP4 mean elements fitted to tracking measurements: a TLE that reproduces the observations through SGP4.
//!
//! The batch least squares of [`crate::fit`] (Levenberg-Marquardt, whitened residuals, k-sigma editing) runs on
//! six mean elements at the solution epoch instead of a Cartesian state, with SGP4 (AFSPC mode, TEME converted to
//! GCRF) as the trajectory; the differential correction of Vallado & Crawford, "SGP4 orbit determination" (AIAA
//! 2008-6770), here on the observations themselves rather than on an ephemeris. The parameters are nonsingular for
//! near-circular orbits: `[n (rev/day), e cos w, e sin w, i (deg), RAAN (deg), M + w (deg)]`. B*, the mean-motion
//! derivatives and the identity come from a [`TleHeader`] and stay fixed (a night of data does not determine
//! drag). The start is the osculating element set of a Cartesian state (Vallado 4th ed. Algorithm 9, RV2COE), so a
//! numerical fit's solution seeds it.

use hifitime::Epoch;
use sgp4::chrono::NaiveDate;

use crate::OdError;
use crate::fit::{Covariance6, FitConfig, Problem, Trajectory, enough_for_an_orbit, estimate};
use crate::frames::gcrf_to_teme;
use crate::linalg::{cross, dot, norm, scale, sub, unit};
use crate::measurement::TrackingObservation;
use crate::propagator::StateGcrf;
use crate::tle::Tle;

/// WGS72 gravitational parameter (km^3/s^2), the constant SGP4 in AFSPC mode works with.
const MU_WGS72_KM3_S2: f64 = 398_600.8;
/// Finite-difference steps of the six parameters (rev/day, -, -, deg, deg, deg): metres of position at LEO
/// (the mean-motion step moves the object about 40 m in a day).
const DELTAS: [f64; 6] = [1e-6, 1e-7, 1e-7, 1e-5, 1e-5, 1e-5];

/// What a fitted element set is called and the parameters the fit holds fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct TleHeader {
    pub norad_id: u64,
    pub name: Option<String>,
    /// International designator, `YYYY-NNNP`.
    pub international_designator: Option<String>,
    /// B* drag term (1/earth radii) and the mean-motion derivatives (rev/day^2, rev/day^3; SGP4 ignores them,
    /// the TLE carries them).
    pub bstar: f64,
    pub mean_motion_dot: f64,
    pub mean_motion_ddot: f64,
}

impl From<&Tle> for TleHeader {
    fn from(tle: &Tle) -> Self {
        let e = tle.elements();
        TleHeader {
            norad_id: e.norad_id,
            name: e.object_name.clone(),
            international_designator: e.international_designator.clone(),
            bstar: e.drag_term,
            mean_motion_dot: e.mean_motion_dot,
            mean_motion_ddot: e.mean_motion_ddot,
        }
    }
}

/// Result of [`fit_tle`].
#[derive(Debug, Clone)]
pub struct TleSolution {
    /// The fitted element set, its epoch the solution epoch.
    pub tle: Tle,
    /// Covariance of the SGP4 state `[r, v]` at the epoch, GCRF (km^2, km^2/s, km^2/s^2): the elements'
    /// covariance mapped through SGP4's partials.
    pub covariance: Covariance6,
    /// As in [`crate::OrbitSolution`].
    pub rms_arcsec: Option<f64>,
    pub normalized_rms: f64,
    pub chi_square: f64,
    pub iterations: usize,
    pub observations_used: usize,
    pub observations_rejected: usize,
}

/// Fits SGP4 mean elements to `obs`, starting from the osculating elements of `initial` (propagated to the
/// solution epoch, `cfg.epoch` or the middle observation, by numerical integration when it lies elsewhere), with
/// station biases when `cfg.estimate_biases` (not reported here: [`crate::fit_tracking`] reports them).
pub fn fit_tle(
    obs: &[TrackingObservation],
    initial: &StateGcrf,
    header: &TleHeader,
    cfg: &FitConfig,
) -> Result<TleSolution, OdError> {
    enough_for_an_orbit(obs)?;
    let epoch = cfg.epoch.unwrap_or_else(|| crate::fit::middle_epoch(obs));
    let start = if initial.epoch == epoch {
        *initial
    } else {
        crate::propagate(initial, epoch)?
    };
    let trajectory = Sgp4Elements::new(header, epoch)?;
    let x0 = osculating_parameters(&start);
    let mut problem = Problem::with_trajectory(obs.to_vec(), Box::new(trajectory.clone()));
    if cfg.estimate_biases {
        problem.group_biases();
    }
    let e = estimate(&problem, x0, cfg, false)?;
    let tle = trajectory.tle(e.x)?;
    let j = trajectory.state_partials(e.x, epoch)?;
    // P_state = J P_elements J^T.
    let covariance: Covariance6 = std::array::from_fn(|a| {
        std::array::from_fn(|b| {
            (0..6)
                .map(|k| {
                    (0..6)
                        .map(|l| j[a][k] * e.covariance[k][l] * j[b][l])
                        .sum::<f64>()
                })
                .sum()
        })
    });
    Ok(TleSolution {
        tle,
        covariance,
        rms_arcsec: e.rms_arcsec(),
        normalized_rms: e.normalized_rms,
        chi_square: e.chi_square,
        iterations: e.iterations,
        observations_used: e.used,
        observations_rejected: obs.len() - e.used,
    })
}

/// The parameters (see the module doc) of the osculating elements of `state` in TEME, with the mean motion from
/// the WGS72 semi-major axis.
fn osculating_parameters(state: &StateGcrf) -> [f64; 6] {
    let (r, v) = gcrf_to_teme(state.epoch, state.r_km, state.v_km_s);
    let (rn, v2) = (norm(r), dot(v, v));
    let h = cross(r, v);
    let w = unit(h);
    // Node vector k x h; for an equatorial orbit any direction in the plane serves (x axis).
    let node = [-h[1], h[0], 0.0];
    let nx = if norm(node) > 1e-12 * norm(h) {
        unit(node)
    } else {
        [1.0, 0.0, 0.0]
    };
    let ny = cross(w, nx);
    let e_vec = scale(
        1.0 / MU_WGS72_KM3_S2,
        sub(scale(v2 - MU_WGS72_KM3_S2 / rn, r), scale(dot(r, v), v)),
    );
    let (af, ag) = (dot(e_vec, nx), dot(e_vec, ny));
    let e = af.hypot(ag);
    let omega = ag.atan2(af);
    // Argument of latitude, true anomaly, then the eccentric anomaly and Kepler's equation for the mean anomaly.
    let u = dot(r, ny).atan2(dot(r, nx));
    let nu = u - omega;
    let ecc_anomaly = 2.0 * (((1.0 - e) / (1.0 + e)).sqrt() * (nu / 2.0).tan()).atan();
    let mean_anomaly = ecc_anomaly - e * ecc_anomaly.sin();
    let a = 1.0 / (2.0 / rn - v2 / MU_WGS72_KM3_S2);
    let n_rev_day = (MU_WGS72_KM3_S2 / a.powi(3)).sqrt() * 86_400.0 / std::f64::consts::TAU;
    [
        n_rev_day,
        af,
        ag,
        w[2].clamp(-1.0, 1.0).acos().to_degrees(),
        w[0].atan2(-w[1]).to_degrees().rem_euclid(360.0),
        (mean_anomaly + omega).to_degrees().rem_euclid(360.0),
    ]
}

/// SGP4 on mean elements at a fixed epoch: the trajectory of the element fit.
#[derive(Clone)]
struct Sgp4Elements {
    template: sgp4::Elements,
}

impl Sgp4Elements {
    fn new(header: &TleHeader, epoch: Epoch) -> Result<Self, OdError> {
        let (y, mo, d, h, mi, s, ns) = epoch.to_gregorian_utc();
        let datetime = NaiveDate::from_ymd_opt(y, u32::from(mo), u32::from(d))
            .and_then(|date| date.and_hms_nano_opt(u32::from(h), u32::from(mi), u32::from(s), ns))
            .ok_or(OdError::TleEpoch(epoch))?;
        Ok(Self {
            template: sgp4::Elements {
                object_name: header.name.clone(),
                international_designator: header.international_designator.clone(),
                norad_id: header.norad_id,
                classification: sgp4::Classification::Unclassified,
                datetime,
                mean_motion_dot: header.mean_motion_dot,
                mean_motion_ddot: header.mean_motion_ddot,
                drag_term: header.bstar,
                element_set_number: 999,
                inclination: 0.0,
                right_ascension: 0.0,
                eccentricity: 0.0,
                argument_of_perigee: 0.0,
                mean_anomaly: 0.0,
                mean_motion: 0.0,
                revolution_number: 0,
                ephemeris_type: 0,
            },
        })
    }

    /// The element set of the parameters `x`.
    fn tle(&self, x: [f64; 6]) -> Result<Tle, OdError> {
        let [n, af, ag, i, raan, l] = x;
        let omega = ag.atan2(af).to_degrees().rem_euclid(360.0);
        Tle::from_elements(sgp4::Elements {
            mean_motion: n,
            eccentricity: af.hypot(ag),
            inclination: i,
            right_ascension: raan.rem_euclid(360.0),
            argument_of_perigee: omega,
            mean_anomaly: (l - omega).rem_euclid(360.0),
            ..self.template.clone()
        })
    }

    /// `d [r, v] / d x` at `t` (GCRF), central differences.
    fn state_partials(&self, x: [f64; 6], t: Epoch) -> Result<Covariance6, OdError> {
        let mut j = [[0.0; 6]; 6];
        for (k, d) in DELTAS.iter().enumerate() {
            let mut plus = x;
            let mut minus = x;
            plus[k] += d;
            minus[k] -= d;
            let sp = self.tle(plus)?.state_gcrf(t)?.to_array();
            let sm = self.tle(minus)?.state_gcrf(t)?.to_array();
            for (row, (p, m)) in j.iter_mut().zip(sp.iter().zip(&sm)) {
                row[k] = (p - m) / (2.0 * d);
            }
        }
        Ok(j)
    }
}

impl Trajectory for Sgp4Elements {
    fn states(&self, members: &[[f64; 6]], at: &[Epoch]) -> Result<Vec<Vec<[f64; 6]>>, OdError> {
        let tles: Vec<Tle> = members
            .iter()
            .map(|x| self.tle(*x))
            .collect::<Result<_, _>>()?;
        at.iter()
            .map(|t| {
                tles.iter()
                    .map(|tle| tle.state_gcrf(*t).map(StateGcrf::to_array))
                    .collect()
            })
            .collect()
    }

    fn delta(&self, j: usize) -> f64 {
        DELTAS[j]
    }
}
