//! CCSDS Orbit Mean-elements Messages in keyword = value notation (OMM KVN, CCSDS 502.0-B-2, sec. 4, version 2.0): an SGP4
//! element set (MEAN_ELEMENT_THEORY = SGP4, TEME, UTC) with its TLE parameters and, optionally, the covariance of
//! the state at the epoch.

use hifitime::Epoch;
use kessler_od::{Covariance6, Tle};

use crate::oem::ccsds_utc;

/// The covariance keywords of the lower triangle, row by row (CCSDS 502.0-B-2, the OMM covariance section).
const COVARIANCE_KEYWORDS: [&str; 21] = [
    "CX_X",
    "CY_X",
    "CY_Y",
    "CZ_X",
    "CZ_Y",
    "CZ_Z",
    "CX_DOT_X",
    "CX_DOT_Y",
    "CX_DOT_Z",
    "CX_DOT_X_DOT",
    "CY_DOT_X",
    "CY_DOT_Y",
    "CY_DOT_Z",
    "CY_DOT_X_DOT",
    "CY_DOT_Y_DOT",
    "CZ_DOT_X",
    "CZ_DOT_Y",
    "CZ_DOT_Z",
    "CZ_DOT_X_DOT",
    "CZ_DOT_Y_DOT",
    "CZ_DOT_Z_DOT",
];

/// An OMM of `tle`, written at `created`; `covariance` is that of the state `[r, v]` at the epoch in `cov_frame`
/// (km^2, km^2/s, km^2/s^2).
pub fn write_omm(tle: &Tle, covariance: Option<(&Covariance6, &str)>, created: Epoch) -> String {
    let e = tle.elements();
    let mut out = format!(
        "CCSDS_OMM_VERS = 2.0\nCREATION_DATE = {}\nORIGINATOR = KESSLER\n\n\
         OBJECT_NAME = {}\nOBJECT_ID = {}\nCENTER_NAME = EARTH\nREF_FRAME = TEME\nTIME_SYSTEM = UTC\n\
         MEAN_ELEMENT_THEORY = SGP4\n\n",
        ccsds_utc(created),
        e.object_name.as_deref().unwrap_or("UNKNOWN"),
        e.international_designator.as_deref().unwrap_or("UNKNOWN"),
    );
    out += &format!(
        "EPOCH = {}\nMEAN_MOTION = {:.8} [rev/day]\nECCENTRICITY = {:.7}\nINCLINATION = {:.4} [deg]\n\
         RA_OF_ASC_NODE = {:.4} [deg]\nARG_OF_PERICENTER = {:.4} [deg]\nMEAN_ANOMALY = {:.4} [deg]\n\n",
        ccsds_utc(tle.epoch()),
        e.mean_motion,
        e.eccentricity,
        e.inclination,
        e.right_ascension,
        e.argument_of_perigee,
        e.mean_anomaly
    );
    let classification = match e.classification {
        sgp4::Classification::Unclassified => "U",
        sgp4::Classification::Classified => "C",
        sgp4::Classification::Secret => "S",
    };
    out += &format!(
        "EPHEMERIS_TYPE = {}\nCLASSIFICATION_TYPE = {classification}\nNORAD_CAT_ID = {}\nELEMENT_SET_NO = {}\n\
         REV_AT_EPOCH = {}\nBSTAR = {:.5e} [1/ER]\nMEAN_MOTION_DOT = {:.8e} [rev/day**2]\n\
         MEAN_MOTION_DDOT = {:.5e} [rev/day**3]\n",
        e.ephemeris_type,
        e.norad_id,
        e.element_set_number,
        e.revolution_number,
        e.drag_term,
        e.mean_motion_dot,
        e.mean_motion_ddot
    );
    if let Some((p, frame)) = covariance {
        out += &format!("\nCOV_REF_FRAME = {frame}\n");
        let cells = (0..6).flat_map(|i| (0..=i).map(move |j| (i, j)));
        for (keyword, (i, j)) in COVARIANCE_KEYWORDS.iter().zip(cells) {
            out += &format!("{keyword} = {:.7e}\n", p[i][j]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Vanguard 1 sample of the reference set (sample_omm.json) written as KVN: every value of the sample
    /// appears under its keyword, and the covariance lists 21 cells.
    #[test]
    fn omm_carries_the_element_set_and_the_covariance() {
        let tle = Tle::parse(
            Some("VANGUARD 1"),
            "1 00005U 58002B   00179.78495062  .00000023  00000-0  28098-4 0  4753",
            "2 00005  34.2682 348.7242 1859667 331.7664  19.3264 10.82419157413667",
        )
        .unwrap();
        let mut p = [[0.0; 6]; 6];
        for (i, row) in p.iter_mut().enumerate() {
            row[i] = 1.0 + i as f64;
        }
        let created = Epoch::from_gregorian_utc_hms(2026, 12, 2, 0, 0, 0);
        let omm = write_omm(&tle, Some((&p, "GCRF")), created);
        let value = |k: &str| {
            omm.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                .unwrap_or_else(|| panic!("{k} missing:\n{omm}"))
                .split(" [")
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(value("OBJECT_NAME"), "VANGUARD 1");
        assert_eq!(value("OBJECT_ID"), "1958-002B");
        assert_eq!(value("EPOCH"), "2000-06-27T18:50:19.733568");
        assert_eq!(value("MEAN_MOTION"), "10.82419157");
        assert_eq!(value("ECCENTRICITY"), "0.1859667");
        assert_eq!(value("INCLINATION"), "34.2682");
        assert_eq!(value("MEAN_ANOMALY"), "19.3264");
        assert_eq!(value("NORAD_CAT_ID"), "5");
        assert_eq!(value("REV_AT_EPOCH"), "41366");
        assert_eq!(value("BSTAR").parse::<f64>().unwrap(), 0.28098e-4);
        assert_eq!(value("COV_REF_FRAME"), "GCRF");
        assert_eq!(value("CZ_DOT_Z_DOT").parse::<f64>().unwrap(), 6.0);
        assert_eq!(value("CX_DOT_X").parse::<f64>().unwrap(), 0.0);
        let cells = omm
            .lines()
            .filter(|l| {
                COVARIANCE_KEYWORDS
                    .iter()
                    .any(|k| l.starts_with(&format!("{k} = ")))
            })
            .count();
        assert_eq!(cells, 21);
    }
}
