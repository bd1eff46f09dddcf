//! Optical measurements: topocentric right ascension / declination with light time.

use std::f64::consts::TAU;

use hifitime::Epoch;
use serde::{Deserialize, Serialize};

use crate::OdError;
use crate::linalg::{V3, norm, sub};
use crate::propagator::{StateGcrf, propagate, shift};
use crate::site::Site;

/// Speed of light (km/s), IAU 2009 defining constant.
pub const SPEED_OF_LIGHT_KM_S: f64 = 299_792.458;
/// Convergence threshold of the light-time iteration (s).
const LIGHT_TIME_TOL_S: f64 = 1e-9;

/// Topocentric right ascension / declination on GCRF (ICRS) axes: geometric direction from the site at
/// reception time to the target at emission time (light time), without annual or diurnal aberration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RaDec {
    /// Right ascension (rad) in [0, 2 pi), GCRF.
    pub ra_rad: f64,
    /// Declination (rad) in [-pi/2, pi/2], GCRF.
    pub dec_rad: f64,
}

impl RaDec {
    /// Direction of a GCRF vector (any length, km).
    pub(crate) fn from_vector(rho: V3) -> Self {
        let ra = rho[1].atan2(rho[0]).rem_euclid(TAU);
        let dec = (rho[2] / norm(rho)).clamp(-1.0, 1.0).asin();
        // rem_euclid can return TAU itself for tiny negative inputs.
        let ra_rad = if ra >= TAU { 0.0 } else { ra };
        Self {
            ra_rad,
            dec_rad: dec,
        }
    }

    /// Unit vector (GCRF) of this direction.
    pub(crate) fn unit_vector(&self) -> V3 {
        let (sd, cd) = self.dec_rad.sin_cos();
        let (sa, ca) = self.ra_rad.sin_cos();
        [cd * ca, cd * sa, sd]
    }
}

/// One optical measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Unique, stable id (e.g. `"<sensor_id>/<frame_id>/s<k>/start"`); makes catalog writes idempotent.
    pub id: String,
    /// Sensor that took it.
    pub sensor_id: String,
    /// Sensor site (WGS84).
    pub site: Site,
    /// Reception time (UTC).
    pub epoch: Epoch,
    /// Measured topocentric direction (rad, GCRF axes, see [`RaDec`]).
    pub radec: RaDec,
    /// 1-sigma uncertainty of each angle (rad; the RA one is on the sky, i.e. of `ra cos(dec)`).
    pub sigma_rad: f64,
}

/// A streak seen in one frame; the direction of motion is unknown: endpoint `a` or `b` may be the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreakMeasurement {
    /// Unique id, e.g. `"<sensor_id>/<frame_id>/s<k>"`.
    pub id: String,
    /// Frame it was found in.
    pub frame_id: String,
    /// Sensor that took the frame.
    pub sensor_id: String,
    /// Sensor site (WGS84).
    pub site: Site,
    /// Exposure start (UTC).
    pub start: Epoch,
    /// Exposure end (UTC).
    pub end: Epoch,
    /// One endpoint (rad, GCRF axes).
    pub a: RaDec,
    /// The other endpoint (rad, GCRF axes).
    pub b: RaDec,
    /// 1-sigma uncertainty of each endpoint angle (rad).
    pub sigma_rad: f64,
}

/// RA/Dec of a target seen from `site` at reception time `t`; `target(t_emit)` gives the target's GCRF position
/// (km) at emission time.
///
/// Light time (Montenbruck & Gill, Satellite Orbits, 2000, sec. 6.2.1, one-way light time):
/// `tau = |r(t - tau) - R_site(t)| / c`, iterated from `tau = 0` until it changes by less than 1e-9 s (three
/// iterations for Earth orbits). Geometric: no aberration, no refraction.
pub fn topocentric_radec(site: &Site, t: Epoch, target: impl Fn(Epoch) -> [f64; 3]) -> RaDec {
    radec_from_site_position(site.gcrf_km(t), t, target)
}

/// [`topocentric_radec`] with the site's GCRF position (km) at `t` already known.
pub(crate) fn radec_from_site_position(
    site_gcrf: V3,
    t: Epoch,
    target: impl Fn(Epoch) -> [f64; 3],
) -> RaDec {
    let mut tau = 0.0;
    let mut rho = sub(target(t), site_gcrf);
    for _ in 0..10 {
        let tau_new = norm(rho) / SPEED_OF_LIGHT_KM_S;
        let done = (tau_new - tau).abs() < LIGHT_TIME_TOL_S;
        tau = tau_new;
        rho = sub(target(shift(t, -tau)), site_gcrf);
        if done {
            break;
        }
    }
    RaDec::from_vector(rho)
}

/// RA/Dec of a target whose GCRF state (km, km/s) at the reception time is known, from a site at `site_gcrf` (km):
/// the light-time line of sight of [`crate::tracking`] (straight-line motion within the light time).
pub(crate) fn radec_of_state(site_gcrf: V3, state: &[f64; 6]) -> RaDec {
    RaDec::from_vector(crate::tracking::line_of_sight(site_gcrf, state))
}

/// Predicted RA/Dec of an orbit seen from `site` at `t` (numerical propagation, then [`topocentric_radec`]).
pub fn predict_radec(state: &StateGcrf, site: &Site, t: Epoch) -> Result<RaDec, OdError> {
    let s = propagate(state, t)?;
    Ok(radec_of_state(site.gcrf_km(t), &s.to_array()))
}

/// Residual `observed - computed` (rad): `[d_ra cos(dec), d_dec]`, the RA difference wrapped to (-pi, pi].
pub(crate) fn residual(observed: &RaDec, computed: &RaDec) -> [f64; 2] {
    let mut dra = observed.ra_rad - computed.ra_rad;
    if dra > std::f64::consts::PI {
        dra -= TAU;
    } else if dra <= -std::f64::consts::PI {
        dra += TAU;
    }
    [
        dra * observed.dec_rad.cos(),
        observed.dec_rad - computed.dec_rad,
    ]
}

/// Angle (rad) between two directions.
pub fn separation(a: &RaDec, b: &RaDec) -> f64 {
    crate::linalg::angle(a.unit_vector(), b.unit_vector())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::scale;

    #[test]
    fn light_time_shifts_direction_by_motion() {
        let site = Site {
            lat_deg: 0.0,
            lon_deg: 0.0,
            alt_km: 0.0,
        };
        let t = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 0, 0);
        let rs = site.gcrf_km(t);
        let dir = crate::linalg::unit(rs);
        let base = crate::linalg::add(rs, scale(1000.0, dir));
        let perp = crate::linalg::unit(crate::linalg::cross(dir, [0.0, 0.0, 1.0]));
        // Target moving 7 km/s across the line of sight 1000 km away: light time 3.336 ms moves it 23.3 m,
        // i.e. 23.3e-3/1000 rad.
        let target = |te: Epoch| {
            let dt = (te - t).to_seconds();
            crate::linalg::add(base, scale(7.0 * dt, perp))
        };
        let with_lt = topocentric_radec(&site, t, target);
        let geometric = RaDec::from_vector(sub(base, rs));
        let expected = 7.0 * 1000.0 / SPEED_OF_LIGHT_KM_S / 1000.0;
        assert!((separation(&with_lt, &geometric) - expected).abs() < 1e-10);
    }

    #[test]
    fn residual_wraps_ra() {
        let a = RaDec {
            ra_rad: 0.001,
            dec_rad: 0.0,
        };
        let b = RaDec {
            ra_rad: TAU - 0.001,
            dec_rad: 0.0,
        };
        assert!((residual(&a, &b)[0] - 0.002).abs() < 1e-15);
        assert!(RaDec::from_vector([1.0, -1e-20, 0.0]).ra_rad < TAU);
    }
}
