//! Measurements and their models: what a sensor measured ([`Observation`] from a streak's ends; a
//! [`TrackingObservation`] of any kind, each [`Measured`] value with its 1-sigma in its own unit) and what an orbit
//! predicts of it.
//!
//! Every model starts from the light-time line of sight `rho = r(t - tau) - R_site(t)` (GCRF, km) at reception time
//! `t`, with the one-way light time `tau = |rho(tau)| / c` (Montenbruck & Gill, Satellite Orbits, 2000, sec. 6.2.1)
//! found by one iteration, [`light_time_line_of_sight`], from `tau = 0` until it moves by less than 1e-9 s (three
//! iterations for Earth orbits). The target's position at emission comes from a function of the emission time
//! (a propagator, SGP4) or, for a state known at reception, from straight-line motion within `tau` (off by
//! `|a| tau^2 / 2` < 1e-5 km for Earth orbits).
//!
//! - RA/Dec: the direction of `rho` on GCRF axes ([`RaDec`]); geometric: no aberration, no refraction.
//! - Azimuth/elevation: `rho` turned to ITRF and then to the site's local east-north-up axes on the WGS84 normal
//!   (Vallado 4th ed. Algorithm 27, RAZEL, with SEZ replaced by ENU): `az = atan2(e, n)` from north through east,
//!   `el = asin(u / |rho|)`. No refraction.
//! - Range: `|rho|`, one way, km.
//! - Range rate: `rho . (v - v_site) / |rho|` (Vallado 4th ed. Algorithm 27's `rho_dot`), km/s, with the site's
//!   velocity from the Earth's rotation.
//!
//! Residuals are whitened, `(observed - computed) / sigma`, so that every kind enters one least-squares cost.

use std::f64::consts::{PI, TAU};

use hifitime::Epoch;
use serde::{Deserialize, Serialize};

use crate::OdError;
use crate::frames::itrf_to_gcrf_matrix;
use crate::linalg::{M3, V3, dot, mat_vec, norm, sub, transpose};
use crate::propagator::{StateGcrf, propagate, shift};
use crate::site::Site;

/// Speed of light (km/s), IAU 2009 defining constant.
pub const SPEED_OF_LIGHT_KM_S: f64 = 299_792.458;
/// Convergence threshold of the light-time iteration (s).
const LIGHT_TIME_TOL_S: f64 = 1e-9;
/// Light-time iterations at most: three reach 1e-9 s for Earth orbits.
const LIGHT_TIME_ITERATIONS: usize = 10;

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

/// Azimuth and elevation of a target seen from a site: local east-north-up axes on the WGS84 ellipsoid normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AzEl {
    /// Azimuth (rad), from north through east, in [0, 2 pi).
    pub az_rad: f64,
    /// Elevation above the local horizon (rad), geometric (no refraction).
    pub el_rad: f64,
}

/// What one tracking measurement measured, each value with its 1-sigma uncertainty in the value's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Measured {
    /// Topocentric right ascension / declination, GCRF axes (see [`RaDec`]).
    RaDec {
        radec: RaDec,
        /// 1-sigma of RA on the sky (of `ra cos(dec)`) and of Dec, rad.
        sigma_rad: [f64; 2],
    },
    /// Azimuth / elevation (see [`AzEl`]).
    AzEl {
        azel: AzEl,
        /// 1-sigma of the azimuth (as an angle about the vertical) and of the elevation, rad.
        sigma_rad: [f64; 2],
    },
    /// One-way range.
    Range { range_km: f64, sigma_km: f64 },
    /// Range rate (positive receding).
    RangeRate {
        range_rate_km_s: f64,
        sigma_km_s: f64,
    },
}

/// One tracking measurement with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackingObservation {
    /// Reception time (UTC).
    pub epoch: Epoch,
    /// Sensor site (WGS84).
    pub site: Site,
    /// The measured value and its uncertainty.
    pub measured: Measured,
}

impl From<&Observation> for TrackingObservation {
    fn from(o: &Observation) -> Self {
        TrackingObservation {
            epoch: o.epoch,
            site: o.site,
            measured: Measured::RaDec {
                radec: o.radec,
                sigma_rad: [o.sigma_rad; 2],
            },
        }
    }
}

impl TrackingObservation {
    /// Number of scalar components (2 for angle pairs, 1 for range and range rate).
    pub fn components(&self) -> usize {
        match self.measured {
            Measured::RaDec { .. } | Measured::AzEl { .. } => 2,
            Measured::Range { .. } | Measured::RangeRate { .. } => 1,
        }
    }

    /// The 1-sigma of each component in its unit (rad, km or km/s); the second is 1 for one-component
    /// measurements, whose second residual is always 0.
    pub fn sigma(&self) -> [f64; 2] {
        match self.measured {
            Measured::RaDec { sigma_rad, .. } | Measured::AzEl { sigma_rad, .. } => sigma_rad,
            Measured::Range { sigma_km, .. } => [sigma_km, 1.0],
            Measured::RangeRate { sigma_km_s, .. } => [sigma_km_s, 1.0],
        }
    }

    /// Whether the components are angles (rad).
    pub fn is_angular(&self) -> bool {
        self.components() == 2
    }
}

/// What a measurement model needs of the site at the reception time, computed once per observation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiteAt {
    /// Site position, GCRF, km.
    pub(crate) r_km: V3,
    /// Site velocity, GCRF, km/s (Earth rotation).
    pub(crate) v_km_s: V3,
    /// ITRF -> GCRF rotation.
    pub(crate) itrf_to_gcrf: M3,
}

impl SiteAt {
    pub(crate) fn new(site: &Site, t: Epoch) -> SiteAt {
        SiteAt {
            r_km: site.gcrf_km(t),
            v_km_s: site.gcrf_velocity_km_s(t),
            itrf_to_gcrf: itrf_to_gcrf_matrix(t),
        }
    }
}

/// The light-time line of sight (GCRF, km) from a site at `site_km` (GCRF, at reception) to a target whose
/// position at emission, `tau` seconds before reception, is `position_before(tau)` (GCRF, km): the one light-time
/// iteration of every model (see the module doc).
pub fn light_time_line_of_sight(site_km: V3, position_before: impl Fn(f64) -> V3) -> V3 {
    let mut tau = 0.0;
    let mut rho = sub(position_before(0.0), site_km);
    for _ in 0..LIGHT_TIME_ITERATIONS {
        let tau_new = norm(rho) / SPEED_OF_LIGHT_KM_S;
        let done = (tau_new - tau).abs() < LIGHT_TIME_TOL_S;
        tau = tau_new;
        rho = sub(position_before(tau), site_km);
        if done {
            break;
        }
    }
    rho
}

/// RA/Dec of a target seen from `site` at reception time `t`; `target(t_emit)` gives the target's GCRF position
/// (km) at emission time.
pub fn topocentric_radec(site: &Site, t: Epoch, target: impl Fn(Epoch) -> [f64; 3]) -> RaDec {
    RaDec::from_vector(light_time_line_of_sight(site.gcrf_km(t), |tau| {
        target(shift(t, -tau))
    }))
}

/// The line of sight (GCRF, km) from the site (GCRF position `site_km` at reception) to a target whose GCRF state
/// `state` (km, km/s) at reception is known: straight-line motion within the light time.
pub(crate) fn line_of_sight(site_km: V3, state: &[f64; 6]) -> V3 {
    light_time_line_of_sight(site_km, |tau| {
        [
            state[0] - state[3] * tau,
            state[1] - state[4] * tau,
            state[2] - state[5] * tau,
        ]
    })
}

/// RA/Dec of a target whose GCRF state (km, km/s) at the reception time is known, from a site at `site_gcrf` (km).
pub(crate) fn radec_of_state(site_gcrf: V3, state: &[f64; 6]) -> RaDec {
    RaDec::from_vector(line_of_sight(site_gcrf, state))
}

/// Predicted RA/Dec of an orbit seen from `site` at `t` (numerical propagation, then the light-time line of sight).
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

/// The middle of the time span of `obs` (UTC); `None` when there are none.
pub fn arc_middle(obs: &[Observation]) -> Option<Epoch> {
    let first = obs.iter().map(|o| o.epoch).min()?;
    let last = obs.iter().map(|o| o.epoch).max()?;
    Some(first + (last - first) / 2)
}

/// Angle (rad) between two directions.
pub fn separation(a: &RaDec, b: &RaDec) -> f64 {
    crate::linalg::angle(a.unit_vector(), b.unit_vector())
}

/// Azimuth/elevation of the GCRF line of sight `rho` from `site` (geodetic coordinates give the local axes).
fn az_el(site: &Site, at: &SiteAt, rho: V3) -> AzEl {
    let rho_itrf = mat_vec(&transpose(&at.itrf_to_gcrf), rho);
    let (sp, cp) = site.lat_deg.to_radians().sin_cos();
    let (sl, cl) = site.lon_deg.to_radians().sin_cos();
    // East, north and up unit vectors of the site in ITRF (Vallado 4th ed. eq. 3-28, as ENU).
    let e = dot([-sl, cl, 0.0], rho_itrf);
    let n = dot([-sp * cl, -sp * sl, cp], rho_itrf);
    let u = dot([cp * cl, cp * sl, sp], rho_itrf);
    AzEl {
        az_rad: e.atan2(n).rem_euclid(TAU),
        el_rad: (u / norm(rho)).clamp(-1.0, 1.0).asin(),
    }
}

/// `a - b` wrapped to (-pi, pi].
fn wrapped(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(TAU);
    if d > PI { d - TAU } else { d }
}

/// Whitened residuals `(observed - computed) / sigma` of `obs` for the target's GCRF state `state` at the
/// observation's reception time; the second is 0 for one-component measurements.
pub(crate) fn whitened_residual(
    obs: &TrackingObservation,
    at: &SiteAt,
    state: &[f64; 6],
) -> [f64; 2] {
    let rho = line_of_sight(at.r_km, state);
    let r = match obs.measured {
        Measured::RaDec {
            radec: observed, ..
        } => residual(&observed, &RaDec::from_vector(rho)),
        Measured::AzEl { azel: observed, .. } => {
            let computed = az_el(&obs.site, at, rho);
            [
                wrapped(observed.az_rad, computed.az_rad),
                observed.el_rad - computed.el_rad,
            ]
        }
        Measured::Range { range_km, .. } => [range_km - norm(rho), 0.0],
        Measured::RangeRate {
            range_rate_km_s, ..
        } => {
            let v = [state[3], state[4], state[5]];
            let rate = dot(rho, sub(v, at.v_km_s)) / norm(rho);
            [range_rate_km_s - rate, 0.0]
        }
    };
    let sigma = obs.sigma();
    [r[0] / sigma[0], r[1] / sigma[1]]
}

/// Everything a site measures of a target at one instant (see the module doc for each model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    pub radec: RaDec,
    pub azel: AzEl,
    /// One-way range, km.
    pub range_km: f64,
    /// Range rate, km/s.
    pub range_rate_km_s: f64,
}

/// What `site` measures of a target whose GCRF state at the reception time is `state` (its epoch).
pub fn look(site: &Site, state: &StateGcrf) -> Look {
    let at = SiteAt::new(site, state.epoch);
    let x = state.to_array();
    let rho = line_of_sight(at.r_km, &x);
    Look {
        radec: RaDec::from_vector(rho),
        azel: az_el(site, &at, rho),
        range_km: norm(rho),
        range_rate_km_s: dot(rho, sub([x[3], x[4], x[5]], at.v_km_s)) / norm(rho),
    }
}

/// GCRF position (km) of a target seen at range `range_km` in the direction `azel` from `site` at `t`: the
/// inverse of the range and az/el models without light time (for initial orbits).
pub fn position_from_range_az_el(site: &Site, t: Epoch, range_km: f64, azel: AzEl) -> [f64; 3] {
    let at = SiteAt::new(site, t);
    let (sp, cp) = site.lat_deg.to_radians().sin_cos();
    let (sl, cl) = site.lon_deg.to_radians().sin_cos();
    let (sa, ca) = azel.az_rad.sin_cos();
    let (se, ce) = azel.el_rad.sin_cos();
    let (e, n, u) = (range_km * ce * sa, range_km * ce * ca, range_km * se);
    // ENU -> ITRF: the transpose of the rows used in `az_el`.
    let rho_itrf = [
        -sl * e - sp * cl * n + cp * cl * u,
        cl * e - sp * sl * n + cp * sl * u,
        cp * n + sp * u,
    ];
    let rho = mat_vec(&at.itrf_to_gcrf, rho_itrf);
    [
        at.r_km[0] + rho[0],
        at.r_km[1] + rho[1],
        at.r_km[2] + rho[2],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::scale;

    fn site() -> Site {
        // Kaena Point (Vallado Ex 10-5).
        Site {
            lat_deg: 21.572056,
            lon_deg: -158.266578,
            alt_km: 0.3002,
        }
    }

    #[test]
    fn range_az_el_round_trip_and_zero_residuals() {
        let t = Epoch::from_gregorian_utc(1995, 1, 29, 2, 38, 37, 0);
        let azel = AzEl {
            az_rad: 60.4991f64.to_radians(),
            el_rad: 16.1932f64.to_radians(),
        };
        let r = position_from_range_az_el(&site(), t, 2047.502, azel);
        // A target at rest there (no light-time motion) is measured back exactly.
        let state = [r[0], r[1], r[2], 0.0, 0.0, 0.0];
        let back = look(&site(), &StateGcrf::from_array(t, state)).azel;
        assert!(wrapped(back.az_rad, azel.az_rad).abs() < 1e-12);
        assert!((back.el_rad - azel.el_rad).abs() < 1e-12);
        let obs = TrackingObservation {
            epoch: t,
            site: site(),
            measured: Measured::Range {
                range_km: 2047.502,
                sigma_km: 0.1,
            },
        };
        let res = whitened_residual(&obs, &SiteAt::new(&site(), t), &state);
        assert!(res[0].abs() < 1e-9 && res[1] == 0.0);
    }

    #[test]
    fn range_rate_of_a_receding_target() {
        let t = Epoch::from_gregorian_utc(1995, 1, 29, 2, 38, 37, 0);
        let at = SiteAt::new(&site(), t);
        // 1000 km straight up from the site, moving away at 2 km/s on top of the site's own motion.
        let up = crate::linalg::unit(at.r_km);
        let r = crate::linalg::add(at.r_km, crate::linalg::scale(1000.0, up));
        let v = crate::linalg::add(at.v_km_s, crate::linalg::scale(2.0, up));
        let range_rate_km_s = look(
            &site(),
            &StateGcrf::from_array(t, [r[0], r[1], r[2], v[0], v[1], v[2]]),
        )
        .range_rate_km_s;
        assert!((range_rate_km_s - 2.0).abs() < 1e-6, "{range_rate_km_s}");
    }

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
