//! Time scales and reference frames: TEME, ITRF and GCRF.
//!
//! Frame chain (Vallado 4th ed. sec. 3.7, IAU 2006/2000A CIO-based form):
//! `r_GCRF = [BPN] [R] [W] r_ITRF`, computed as the transpose of SOFA's celestial-to-terrestrial matrix
//! (`sofars::pnp::c2t06a`). TEME is tied to the Earth-fixed frame through GMST 1982,
//! `r_PEF = ROT3(theta_GMST82) r_TEME` (Vallado, Crawford, Hujsak & Kelso 2006, "Revisiting Spacetrack
//! Report #3", AIAA 2006-6753, appendix C; Vallado 4th ed. sec. 3.7 on TEME).
//!
//! Earth orientation parameters (UT1 - UTC, polar motion `x_p, y_p`) come from the table loaded with
//! [`crate::eop::use_eop`]; without one (or outside its dates) they are zero: UT1 = UTC and no polar motion. Zero
//! EOP costs up to ~0.9 s of Earth rotation (~0.4 km of site position at the equator) and ~0.3" of pole offset
//! against the true frames. Applied alike to sites and to SGP4 states, it leaves their topocentric angles unchanged
//! to first order, but against real observations (star-calibrated RA/Dec are in the true GCRF) a site 0.4 km off
//! moves a LEO object 1000 km away by 80": fit real data with EOP. TEME goes to ITRF through the polar motion
//! matrix (`sofars::pnp::pom00`): `r_ITRF = [W] r_PEF`.

use hifitime::Epoch;

use crate::eop::{Eop, eop_at};
use crate::linalg::{M3, V3, mat_mul, mat_vec, rot3, transpose};

/// Earth rotation rate (rad/s), nominal value with zero excess length of day (IERS Conventions 2010, ch. 1).
pub const EARTH_ROTATION_RAD_S: f64 = 7.292_115_146_706_979e-5;

/// Two-part Julian date (days) of `t` on the UT1 scale: UTC plus UT1 - UTC of `eop`.
fn jd_ut1(t: Epoch, eop: &Eop) -> (f64, f64) {
    (2_400_000.5, t.to_mjd_utc_days() + eop.dut1_s / 86_400.0)
}

/// Two-part Julian date (days) of `t` on the TT scale.
fn jd_tt(t: Epoch) -> (f64, f64) {
    (2_400_000.5, t.to_mjd_tt_days())
}

/// ITRF -> GCRF rotation matrix at `t` (IAU 2006/2000A, CIO based, via `sofars::pnp::c2t06a` transposed), with
/// the Earth orientation in use (see the module doc). `r_gcrf = M r_itrf`.
pub fn itrf_to_gcrf_matrix(t: Epoch) -> [[f64; 3]; 3] {
    let eop = eop_at(t);
    let (tt1, tt2) = jd_tt(t);
    let (ut1, ut2) = jd_ut1(t, &eop);
    transpose(&sofars::pnp::c2t06a(
        tt1, tt2, ut1, ut2, eop.xp_rad, eop.yp_rad,
    ))
}

/// TEME -> GCRF matrix at `t`: `[ITRF->GCRF] [W] ROT3(theta_GMST82)` (TEME -> PEF, polar motion to ITRF, then
/// ITRF -> GCRF), with the Earth orientation in use.
fn teme_to_gcrf_matrix(t: Epoch) -> M3 {
    let eop = eop_at(t);
    let (ut1, ut2) = jd_ut1(t, &eop);
    let (tt1, tt2) = jd_tt(t);
    let gmst = sofars::erst::gmst82(ut1, ut2);
    let w = sofars::pnp::pom00(eop.xp_rad, eop.yp_rad, sofars::pnp::sp00(tt1, tt2));
    mat_mul(&itrf_to_gcrf_matrix(t), &mat_mul(&w, &rot3(gmst)))
}

/// TEME (SGP4 output) -> GCRF at `t`: position in km, velocity in km/s.
///
/// TEME is rotated to the pseudo Earth-fixed frame with GMST 1982 (`sofars::erst::gmst82`; AIAA 2006-6753
/// app. C), to ITRF by polar motion, then to GCRF with IAU 2006/2000A precession-nutation and the Earth rotation
/// angle (`sofars::pnp::c2t06a`, CIO based); EOP as the module doc says.
///
/// The velocity is rotated by the same matrix: its Earth-rotation terms cancel between the two steps and the
/// remaining rate of the combined matrix (precession, nutation, GMST82 - ERA drift, below 1e-11 rad/s) changes
/// the velocity by less than 1e-7 km/s.
pub fn teme_to_gcrf(t: Epoch, r_km: [f64; 3], v_km_s: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let q = teme_to_gcrf_matrix(t);
    (mat_vec(&q, r_km), mat_vec(&q, v_km_s))
}

/// GCRF -> TEME at `t`, the inverse of [`teme_to_gcrf`] (position in km, velocity in km/s).
pub fn gcrf_to_teme(t: Epoch, r_km: [f64; 3], v_km_s: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    let q = transpose(&teme_to_gcrf_matrix(t));
    (mat_vec(&q, r_km), mat_vec(&q, v_km_s))
}

/// Pole of the Earth-fixed frame (the CIP) expressed in GCRF at `t`: the z axis of ITRF, unit vector.
pub(crate) fn cip_pole_gcrf(t: Epoch) -> V3 {
    let m = itrf_to_gcrf_matrix(t);
    [m[0][2], m[1][2], m[2][2]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{dot, norm};

    #[test]
    fn itrf_to_gcrf_is_a_rotation() {
        let t = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 0, 0);
        let m = itrf_to_gcrf_matrix(t);
        for i in 0..3 {
            for j in 0..3 {
                let d = dot(m[i], m[j]);
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((d - expected).abs() < 1e-14);
            }
        }
        // The CIP moved ~ 6.5 yr * 20"/yr of precession in declination from the GCRF pole since J2000.
        let pole = cip_pole_gcrf(t);
        let tilt_arcsec = (1.0 - pole[2]).max(0.0).sqrt() * 2f64.sqrt() * 206_264.8;
        assert!(
            (50.0..300.0).contains(&tilt_arcsec),
            "CIP tilt {tilt_arcsec} arcsec"
        );
    }

    #[test]
    fn teme_to_gcrf_preserves_length() {
        let t = Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 0, 0);
        let (r, v) = teme_to_gcrf(t, [7000.0, 100.0, 10.0], [0.1, 7.5, 1.0]);
        assert!((norm(r) - norm([7000.0, 100.0, 10.0])).abs() < 1e-9);
        assert!((norm(v) - norm([0.1, 7.5, 1.0])).abs() < 1e-12);
    }
}
