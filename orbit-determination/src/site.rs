//! Sensor sites on the WGS84 ellipsoid.

use hifitime::Epoch;
use serde::{Deserialize, Serialize};

use crate::frames::{EARTH_ROTATION_RAD_S, itrf_to_gcrf_matrix};
use crate::linalg::{cross, mat_vec};

/// WGS84 equatorial radius (km), NIMA TR8350.2.
const WGS84_A_KM: f64 = 6378.137;
/// WGS84 flattening, NIMA TR8350.2.
const WGS84_F: f64 = 1.0 / 298.257_223_563;

/// Sensor site on the WGS84 ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Geodetic latitude (deg, north positive), WGS84.
    pub lat_deg: f64,
    /// Longitude (deg, east positive), WGS84 / ITRF.
    pub lon_deg: f64,
    /// Height above the WGS84 ellipsoid (km).
    pub alt_km: f64,
}

impl Site {
    /// Site position in ITRF (km), from WGS84 geodetic coordinates.
    pub fn itrf_km(&self) -> [f64; 3] {
        let phi = self.lat_deg.to_radians();
        let lambda = self.lon_deg.to_radians();
        let e2 = WGS84_F * (2.0 - WGS84_F);
        // Vallado 4th ed. eq. 3-7: C = R / sqrt(1 - e^2 sin^2 phi), S = C (1 - e^2),
        // r = [(C + h) cos phi cos lambda, (C + h) cos phi sin lambda, (S + h) sin phi].
        let c = WGS84_A_KM / (1.0 - e2 * phi.sin().powi(2)).sqrt();
        let s = c * (1.0 - e2);
        let h = self.alt_km;
        [
            (c + h) * phi.cos() * lambda.cos(),
            (c + h) * phi.cos() * lambda.sin(),
            (s + h) * phi.sin(),
        ]
    }

    /// Site position in GCRF (km) at `t` (zero EOP, see [`crate::frames`]).
    pub fn gcrf_km(&self, t: Epoch) -> [f64; 3] {
        mat_vec(&itrf_to_gcrf_matrix(t), self.itrf_km())
    }

    /// Site velocity in GCRF (km/s) at `t` due to Earth rotation: `M (omega z x r_ITRF)`, with `M` the
    /// ITRF -> GCRF matrix (the site is still in ITRF; the slow rates of precession and nutation are neglected).
    pub fn gcrf_velocity_km_s(&self, t: Epoch) -> [f64; 3] {
        let v_itrf_frame = cross([0.0, 0.0, EARTH_ROTATION_RAD_S], self.itrf_km());
        mat_vec(&itrf_to_gcrf_matrix(t), v_itrf_frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::norm;

    #[test]
    fn equator_and_pole_on_the_ellipsoid() {
        let on = |lat_deg, lon_deg| Site {
            lat_deg,
            lon_deg,
            alt_km: 0.0,
        };
        let eq = on(0.0, 90.0).itrf_km();
        assert!(eq[0].abs() < 1e-9 && (eq[1] - WGS84_A_KM).abs() < 1e-9 && eq[2].abs() < 1e-9);
        // Polar radius b = a (1 - f) = 6356.752314245 km (NIMA TR8350.2 table 3.1).
        let pole = on(90.0, 0.0).itrf_km();
        assert!((pole[2] - 6_356.752_314_245).abs() < 1e-8);
    }

    #[test]
    fn site_speed_matches_earth_rotation() {
        let site = Site {
            lat_deg: 28.3,
            lon_deg: -16.51,
            alt_km: 2.39,
        };
        let t = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 0, 0);
        let r = site.itrf_km();
        let expected = EARTH_ROTATION_RAD_S * (r[0] * r[0] + r[1] * r[1]).sqrt();
        assert!((norm(site.gcrf_velocity_km_s(t)) - expected).abs() < 1e-12);
        assert!((norm(site.gcrf_km(t)) - norm(r)).abs() < 1e-9);
    }
}
