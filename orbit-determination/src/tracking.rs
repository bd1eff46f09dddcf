//! Tracking measurements of every kind the fit takes: topocentric RA/Dec (optical), azimuth/elevation, range and
//! range rate (radar), with light time.
//!
//! All are computed from the line of sight `rho = r(t - tau) - R_site(t)` (GCRF, km) at reception time `t`, with
//! the one-way light time `tau = |rho| / c` (Montenbruck & Gill, Satellite Orbits, 2000, sec. 6.2.1); within `tau`
//! the target moves on a straight line (off by `|a| tau^2 / 2` < 1e-5 km for Earth orbits).
//!
//! - RA/Dec: the direction of `rho` on GCRF axes ([`RaDec`]).
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

use crate::frames::itrf_to_gcrf_matrix;
use crate::linalg::{M3, V3, dot, mat_vec, norm, sub, transpose};
use crate::measurement::{Observation, RaDec, SPEED_OF_LIGHT_KM_S, residual};
use crate::propagator::StateGcrf;
use crate::site::Site;

/// Light-time iterations: three reach 1e-9 s for Earth orbits; five leave a margin.
const LIGHT_TIME_ITERATIONS: usize = 5;

/// Azimuth and elevation of a target seen from a site: local east-north-up axes on the WGS84 ellipsoid normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AzEl {
    /// Azimuth (rad), from north through east, in [0, 2 pi).
    pub az_rad: f64,
    /// Elevation above the local horizon (rad), geometric (no refraction).
    pub el_rad: f64,
}

/// What one tracking measurement measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Measured {
    /// Topocentric right ascension / declination, GCRF axes (see [`RaDec`]).
    RaDec(RaDec),
    /// Azimuth / elevation (see [`AzEl`]).
    AzEl(AzEl),
    /// One-way range, km.
    Range { range_km: f64 },
    /// Range rate, km/s (positive receding).
    RangeRate { range_rate_km_s: f64 },
}

/// One tracking measurement with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackingObservation {
    /// Reception time (UTC).
    pub epoch: Epoch,
    /// Sensor site (WGS84).
    pub site: Site,
    pub measured: Measured,
    /// 1-sigma uncertainty of each component, in its unit: rad for angles (RA on the sky, `ra cos(dec)`;
    /// azimuth as an angle about the vertical), km for range, km/s for range rate (the second is unused there).
    pub sigma: [f64; 2],
}

impl From<&Observation> for TrackingObservation {
    fn from(o: &Observation) -> Self {
        TrackingObservation {
            epoch: o.epoch,
            site: o.site,
            measured: Measured::RaDec(o.radec),
            sigma: [o.sigma_rad; 2],
        }
    }
}

impl TrackingObservation {
    /// Number of scalar components (2 for angle pairs, 1 for range and range rate).
    pub fn components(&self) -> usize {
        match self.measured {
            Measured::RaDec(_) | Measured::AzEl(_) => 2,
            Measured::Range { .. } | Measured::RangeRate { .. } => 1,
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

/// Line of sight (GCRF, km) from the site (GCRF position `site_km` at reception) to the target at emission, for the
/// target's GCRF state `state` (km, km/s) at reception time (see the module doc).
pub(crate) fn line_of_sight(site_km: V3, state: &[f64; 6]) -> V3 {
    let (r, v) = (
        [state[0], state[1], state[2]],
        [state[3], state[4], state[5]],
    );
    let mut rho = sub(r, site_km);
    for _ in 0..LIGHT_TIME_ITERATIONS {
        let tau = norm(rho) / SPEED_OF_LIGHT_KM_S;
        rho = sub(
            [r[0] - v[0] * tau, r[1] - v[1] * tau, r[2] - v[2] * tau],
            site_km,
        );
    }
    rho
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
        Measured::RaDec(observed) => residual(&observed, &RaDec::from_vector(rho)),
        Measured::AzEl(observed) => {
            let computed = az_el(&obs.site, at, rho);
            [
                wrapped(observed.az_rad, computed.az_rad),
                observed.el_rad - computed.el_rad,
            ]
        }
        Measured::Range { range_km } => [range_km - norm(rho), 0.0],
        Measured::RangeRate { range_rate_km_s } => {
            let v = [state[3], state[4], state[5]];
            let rate = dot(rho, sub(v, at.v_km_s)) / norm(rho);
            [range_rate_km_s - rate, 0.0]
        }
    };
    [r[0] / obs.sigma[0], r[1] / obs.sigma[1]]
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
            measured: Measured::Range { range_km: 2047.502 },
            sigma: [0.1, 1.0],
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
}
