//! SGP4 for TLE catalog objects, through the `sgp4` crate, with states converted to GCRF.

use hifitime::Epoch;
use sgp4::chrono::{Datelike, Timelike};

use crate::OdError;
use crate::frames::teme_to_gcrf;
use crate::propagator::StateGcrf;

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
        )
        .map_err(|e| OdError::Tle(e.to_string()))?;
        let constants = sgp4::Constants::from_elements_afspc_compatibility_mode(&elements)
            .map_err(|e| OdError::Tle(e.to_string()))?;
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
            .propagate_afspc_compatibility_mode(sgp4::MinutesSinceEpoch(minutes))
            .map_err(|e| OdError::Sgp4(e.to_string()))?;
        Ok((p.position, p.velocity))
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
    fn rejects_garbage() {
        assert!(matches!(
            Tle::parse(None, "1 xx", "2 yy"),
            Err(OdError::Tle(_))
        ));
    }
}
