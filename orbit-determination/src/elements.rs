//! Classical osculating (two-body) elements of a state: a description of an orbit for people, not a model
//! ([`crate::tle_fit`] has its own TEME/WGS72 parameters for SGP4).

use serde::Serialize;

use crate::StateGcrf;
use crate::linalg::{V3, cross, dot, norm, scale, sub};
use crate::propagator::MU_KM3_S2;

/// Classical osculating elements in the state's frame (GCRF here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Elements {
    pub a_km: f64,
    pub e: f64,
    pub i_deg: f64,
    pub raan_deg: f64,
    pub arg_perigee_deg: f64,
    pub true_anomaly_deg: f64,
    /// Orbital period, minutes; `None` for an unbound orbit.
    pub period_min: Option<f64>,
}

/// The angle between two vectors, rad; 0 when either is (nearly) zero.
fn angle(a: V3, b: V3) -> f64 {
    let (na, nb) = (norm(a), norm(b));
    if na < 1e-12 || nb < 1e-12 {
        0.0
    } else {
        (dot(a, b) / (na * nb)).clamp(-1.0, 1.0).acos()
    }
}

/// The elements of `state` (Vallado 2013, Algorithm 9, RV2COE). Undefined angles of circular or equatorial orbits
/// are 0.
pub fn elements(state: &StateGcrf) -> Elements {
    let (r, v) = (state.r_km, state.v_km_s);
    let (rn, vn) = (norm(r), norm(v));
    let h = cross(r, v);
    let n = [-h[1], h[0], 0.0];
    let rv = dot(r, v);
    let e_vec = scale(
        1.0 / MU_KM3_S2,
        sub(scale(vn * vn - MU_KM3_S2 / rn, r), scale(rv, v)),
    );
    let a_km = -MU_KM3_S2 / (2.0 * (vn * vn / 2.0 - MU_KM3_S2 / rn));
    let tau = std::f64::consts::TAU;
    // Each angle's quadrant from the sign of one component (Vallado's Algorithm 9 checks).
    let quadrant = |angle: f64, upper: bool| if upper { angle } else { tau - angle };
    let raan = quadrant(angle([1.0, 0.0, 0.0], n), n[1] >= 0.0);
    let argp = quadrant(angle(n, e_vec), e_vec[2] >= 0.0);
    let nu = quadrant(angle(e_vec, r), rv >= 0.0);
    Elements {
        a_km,
        e: norm(e_vec),
        i_deg: (h[2] / norm(h)).clamp(-1.0, 1.0).acos().to_degrees(),
        raan_deg: raan.to_degrees(),
        arg_perigee_deg: argp.to_degrees(),
        true_anomaly_deg: nu.to_degrees(),
        period_min: (a_km > 0.0).then(|| tau * (a_km.powi(3) / MU_KM3_S2).sqrt() / 60.0),
    }
}
