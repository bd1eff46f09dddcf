//! SGP4 for TLE catalog objects, through the `sgp4` crate, with states converted to GCRF.

use hifitime::Epoch;
use sgp4::chrono::{Datelike, Timelike};

use crate::OdError;
use crate::fit::{Covariance6, Prior};
use crate::frames::teme_to_gcrf;
use crate::linalg::{cross, norm, unit};
use crate::propagator::{MU_KM3_S2, StateGcrf};

/// Nominal 1-sigma accuracy of a TLE at its epoch (km): radial, in-track, cross-track. Published comparisons of
/// TLEs with precise orbits (Flohrer, Krag & Klinkrad, "Assessment and categorization of TLE orbit errors for the
/// US SSN catalogue", AMOS 2008) put LEO errors at epoch at a few hundred metres radially and cross-track and up to
/// about a kilometre in-track; these values are rounded up so that the gate they make is conservative.
const TLE_SIGMA_RIC_KM: [f64; 3] = [1.0, 3.0, 1.0];
/// Growth of the in-track 1-sigma with the age of the elements (km per day), from the same comparisons' drift.
const TLE_IN_TRACK_GROWTH_KM_PER_DAY: f64 = 3.0;

/// A parsed two-line element set and its SGP4 initialisation.
///
/// SGP4 runs in AFSPC compatibility mode (WGS72 constants, AFSPC sidereal time): the mode the elements are fitted
/// in, and the one the Vallado verification set (`tcppver.out`) was made with.
#[derive(Debug, Clone)]
pub struct Tle {
    elements: sgp4::Elements,
    constants: sgp4::Constants,
    epoch: Epoch,
}

impl Tle {
    /// Parses a TLE (two lines, and an optional name line).
    pub fn parse(name: Option<&str>, line1: &str, line2: &str) -> Result<Tle, OdError> {
        let elements = sgp4::Elements::from_tle(
            name.map(str::to_owned),
            line1.trim_end().as_bytes(),
            line2.trim_end().as_bytes(),
        )?;
        Self::from_elements(elements)
    }

    /// SGP4 initialised on `elements` (their epoch is `elements.datetime`, UTC).
    pub(crate) fn from_elements(elements: sgp4::Elements) -> Result<Tle, OdError> {
        let constants = sgp4::Constants::from_elements_afspc_compatibility_mode(&elements)?;
        let d = elements.datetime;
        let epoch = Epoch::from_gregorian_utc(
            d.year(),
            d.month() as u8,
            d.day() as u8,
            d.hour() as u8,
            d.minute() as u8,
            d.second() as u8,
            d.nanosecond(),
        );
        Ok(Tle {
            elements,
            constants,
            epoch,
        })
    }

    /// The mean elements as the `sgp4` crate holds them (degrees, revolutions per day, B* in 1/earth radii).
    pub fn elements(&self) -> &sgp4::Elements {
        &self.elements
    }

    /// NORAD catalog number.
    pub fn norad_id(&self) -> u64 {
        self.elements.norad_id
    }

    /// Object name, when the TLE had a name line.
    pub fn name(&self) -> Option<&str> {
        self.elements.object_name.as_deref()
    }

    /// Epoch of the elements (UTC).
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// SGP4 state at `t`: position (km) and velocity (km/s) in TEME of date.
    pub fn state_teme(&self, t: Epoch) -> Result<([f64; 3], [f64; 3]), OdError> {
        // SGP4 counts minutes of 60 UTC seconds without leap seconds; take any leap second in between back out.
        let leaps = f64::from(t.leap_seconds_iers() - self.epoch.leap_seconds_iers());
        let minutes = ((t - self.epoch).to_seconds() - leaps) / 60.0;
        let p = self
            .constants
            .propagate_afspc_compatibility_mode(sgp4::MinutesSinceEpoch(minutes))?;
        Ok((p.position, p.velocity))
    }

    /// The two lines of the element set, in the fixed columns of the TLE format (NORAD's Space-Track "Basic
    /// Description of the Two Line Element Set Format"), with Alpha-5 catalog numbers above 99999 and the modulo-10
    /// checksums (digits, and 1 per minus sign).
    pub fn to_lines(&self) -> [String; 2] {
        let e = &self.elements;
        let d = e.datetime;
        let day = f64::from(d.ordinal())
            + (f64::from(d.num_seconds_from_midnight()) + f64::from(d.nanosecond()) * 1e-9)
                / 86_400.0;
        let class = match e.classification {
            sgp4::Classification::Unclassified => 'U',
            sgp4::Classification::Classified => 'C',
            sgp4::Classification::Secret => 'S',
        };
        let id = alpha5(e.norad_id);
        let ndot = format!("{:.8}", e.mean_motion_dot.abs());
        let line1 = format!(
            "1 {id}{class} {:<8} {:02}{day:012.8} {}{} {} {} {} {:>4}",
            designator_columns(e.international_designator.as_deref().unwrap_or("")),
            d.year().rem_euclid(100),
            if e.mean_motion_dot < 0.0 { '-' } else { ' ' },
            ndot.trim_start_matches('0'),
            exponent_field(e.mean_motion_ddot),
            exponent_field(e.drag_term),
            e.ephemeris_type,
            e.element_set_number % 10_000,
        );
        let line2 = format!(
            "2 {id} {:8.4} {:8.4} {:07} {:8.4} {:8.4} {:11.8}{:>5}",
            e.inclination,
            e.right_ascension,
            (e.eccentricity * 1e7).round() as u64,
            e.argument_of_perigee,
            e.mean_anomaly,
            e.mean_motion,
            e.revolution_number % 100_000,
        );
        [line1, line2].map(|l| {
            let sum = checksum(&l);
            format!("{l}{sum}")
        })
    }

    /// The TLE as a priori knowledge at `t`: the SGP4 state and a nominal covariance, diagonal in the orbit's
    /// radial / in-track / cross-track frame, rotated to GCRF.
    ///
    /// Position sigmas are [`TLE_SIGMA_RIC_KM`], the in-track one growing by [`TLE_IN_TRACK_GROWTH_KM_PER_DAY`]
    /// per day from the epoch. Velocity sigmas follow from relative motion on a near-circular orbit
    /// (Clohessy-Wiltshire, Vallado 4th ed. sec. 6.8: a radial offset `x` comes with an in-track velocity of about
    /// `2 n x` and an in-track offset `y` with a radial velocity of about `n y / 2`; the in-track one is the
    /// rotating-frame value, up to twice the inertial one: conservative), `n` the mean motion at `t`.
    /// A TLE carries no covariance: this is a model for gating and weighting, not a measured accuracy.
    pub fn prior_at(&self, t: Epoch) -> Result<Prior, OdError> {
        let state = self.state_gcrf(t)?;
        let age_days = (t - self.epoch).to_seconds().abs() / 86_400.0;
        let [sr, si0, sc] = TLE_SIGMA_RIC_KM;
        let si = si0 + TLE_IN_TRACK_GROWTH_KM_PER_DAY * age_days;
        let r = norm(state.r_km);
        let v2: f64 = state.v_km_s.iter().map(|x| x * x).sum();
        // Vis-viva for the semi-major axis, Kepler's third law for the mean motion (Vallado eqs. 1-31, 1-27).
        let a = 1.0 / (2.0 / r - v2 / MU_KM3_S2);
        let n = (MU_KM3_S2 / a.powi(3)).sqrt();
        let sigmas = [sr, si, sc, 0.5 * n * si, 2.0 * n * sr, n * sc];
        // Columns: radial, in-track (completing the triad), cross-track (along the angular momentum).
        let radial = unit(state.r_km);
        let normal = unit(cross(state.r_km, state.v_km_s));
        let in_track = cross(normal, radial);
        let axes = [radial, in_track, normal];
        let mut covariance: Covariance6 = [[0.0; 6]; 6];
        for block in 0..2 {
            for i in 0..3 {
                for j in 0..3 {
                    covariance[3 * block + i][3 * block + j] = (0..3)
                        .map(|k| axes[k][i] * sigmas[3 * block + k].powi(2) * axes[k][j])
                        .sum();
                }
            }
        }
        Ok(Prior { state, covariance })
    }

    /// SGP4 state at `t` converted to GCRF (see [`teme_to_gcrf`]).
    pub fn state_gcrf(&self, t: Epoch) -> Result<StateGcrf, OdError> {
        let (r, v) = self.state_teme(t)?;
        let (r_km, v_km_s) = teme_to_gcrf(t, r, v);
        Ok(StateGcrf {
            epoch: t,
            r_km,
            v_km_s,
        })
    }
}

/// A catalog number in the TLE's five columns: digits up to 99999, Alpha-5 above (a letter for the ten-thousands
/// from 10 = A to 33 = Z, I and O skipped, then four digits), up to 339999.
fn alpha5(norad: u64) -> String {
    if norad < 100_000 {
        return format!("{norad:05}");
    }
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    let letter = LETTERS
        .get((norad / 10_000 - 10) as usize)
        .copied()
        .unwrap_or(b'Z');
    format!("{}{:04}", letter as char, norad % 10_000)
}

/// An international designator as the TLE writes it, `YYNNNP` (the sgp4 crate reads it as `YYYY-NNNP`).
fn designator_columns(designator: &str) -> String {
    match designator.split_once('-') {
        Some((year, rest)) if year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{}{rest}", &year[2..])
        }
        _ => designator.to_string(),
    }
}

/// A value in the TLE's assumed-decimal exponent notation, 8 columns: sign, five mantissa digits after an
/// implied "0.", exponent sign and digit (`-0.11606e-4` is `-11606-4`; a zero exponent is written `-0`).
fn exponent_field(value: f64) -> String {
    let sign = if value < 0.0 { '-' } else { ' ' };
    if value == 0.0 || !value.is_finite() {
        return format!("{sign}00000-0");
    }
    let mut exponent = value.abs().log10().floor() as i32 + 1;
    let mut digits = (value.abs() / 10f64.powi(exponent) * 1e5).round() as u64;
    if digits >= 100_000 {
        digits /= 10;
        exponent += 1;
    }
    let exp_sign = if exponent <= 0 { '-' } else { '+' };
    format!(
        "{sign}{digits:05}{exp_sign}{}",
        exponent.unsigned_abs().min(9)
    )
}

/// The TLE checksum of a line's first 68 columns: the sum of its digits, plus 1 for each minus sign, modulo 10.
fn checksum(line: &str) -> u32 {
    line.bytes()
        .take(68)
        .map(|b| match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'-' => 1,
            _ => 0,
        })
        .sum::<u32>()
        % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_id_and_epoch() {
        let tle = Tle::parse(
            Some("DELTA 1 DEB"),
            "1 06251U 62025E   06176.82412014  .00008885  00000-0  12808-3 0  3985",
            "2 06251  58.0579  54.0425 0030035 139.1568 221.1854 15.56387291  6774",
        )
        .unwrap();
        assert_eq!(tle.norad_id(), 6251);
        assert_eq!(tle.name(), Some("DELTA 1 DEB"));
        // Day 176.82412014 of 2006 = 25 June 19:46:43.980096 UTC.
        let expected = Epoch::from_gregorian_utc(2006, 6, 25, 19, 46, 43, 980_096_000);
        assert!((tle.epoch() - expected).abs().to_seconds() < 1e-5);
    }

    #[test]
    fn alpha5_exponent_fields_and_checksums() {
        assert_eq!(alpha5(6251), "06251");
        // A = 10, ..., H = 17, J = 18 (no I), ..., Z = 33 (no O).
        assert_eq!(alpha5(100_000), "A0000");
        assert_eq!(alpha5(180_001), "J0001");
        assert_eq!(alpha5(339_999), "Z9999");
        assert_eq!(exponent_field(-0.11606e-4), "-11606-4");
        assert_eq!(exponent_field(0.0), " 00000-0");
        assert_eq!(
            exponent_field(0.999_999e-3),
            " 10000-2",
            "rounding carries into the exponent"
        );
        let line = "1 06251U 62025E   06176.82412014  .00008885  00000-0  12808-3 0  398";
        assert_eq!(checksum(line), 5);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            Tle::parse(None, "1 xx", "2 yy"),
            Err(OdError::Tle(_))
        ));
    }
}
