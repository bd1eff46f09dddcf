//! CCSDS Orbit Ephemeris Messages in keyword = value notation (OEM KVN, CCSDS 502.0-B-2, sec. 5, version 2.0): one fitted state
//! and its covariance, GCRF, UTC.

use hifitime::Epoch;
use kessler_od::OrbitSolution;

/// `t` as a CCSDS UTC time, `YYYY-MM-DDThh:mm:ss.ffffff` (rounded to the microsecond).
pub fn ccsds_utc(t: Epoch) -> String {
    kessler_ingest::utc::format(t, 6)
}

/// An OEM holding `solution`'s state (km, km/s) and covariance (km^2, km^2/s, km^2/s^2, lower triangle) at its
/// epoch, written at `created`.
pub fn write_oem(
    object_name: &str,
    object_id: &str,
    solution: &OrbitSolution,
    created: Epoch,
) -> String {
    let s = &solution.state;
    let epoch = ccsds_utc(s.epoch);
    let mut out = format!(
        "CCSDS_OEM_VERS = 2.0\nCREATION_DATE = {}\nORIGINATOR = KESSLER\n\nMETA_START\nOBJECT_NAME = {object_name}\n\
         OBJECT_ID = {object_id}\nCENTER_NAME = EARTH\nREF_FRAME = GCRF\nTIME_SYSTEM = UTC\nSTART_TIME = {epoch}\n\
         STOP_TIME = {epoch}\nMETA_STOP\n\n",
        ccsds_utc(created)
    );
    out += &format!(
        "{epoch} {:.6} {:.6} {:.6} {:.9} {:.9} {:.9}\n\nCOVARIANCE_START\nEPOCH = {epoch}\nCOV_REF_FRAME = GCRF\n",
        s.r_km[0], s.r_km[1], s.r_km[2], s.v_km_s[0], s.v_km_s[1], s.v_km_s[2]
    );
    for (i, row) in solution.covariance.iter().enumerate() {
        let cells: Vec<String> = row[..=i].iter().map(|c| format!("{c:.7e}")).collect();
        out += &cells.join(" ");
        out += "\n";
    }
    out += "COVARIANCE_STOP\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kessler_od::StateGcrf;

    #[test]
    fn oem_has_the_state_line_and_a_lower_triangle() {
        let epoch = Epoch::from_gregorian_utc(1995, 1, 29, 2, 38, 37, 500_000_000);
        let mut covariance = [[0.0; 6]; 6];
        for (i, row) in covariance.iter_mut().enumerate() {
            row[i] = 1.0 + i as f64;
        }
        let solution = OrbitSolution {
            state: StateGcrf {
                epoch,
                r_km: [5748.6, 2679.9, 3442.8],
                v_km_s: [4.33, -1.92, -5.73],
            },
            covariance,
            rms_arcsec: None,
            normalized_rms: 1.0,
            chi_square: 30.0,
            iterations: 5,
            observations_used: 30,
            observations_rejected: 0,
            accepted: vec![],
            biases: vec![],
        };
        let oem = write_oem("GEOS-3", "1975-027A", &solution, epoch);
        assert!(oem.starts_with("CCSDS_OEM_VERS = 2.0\n"));
        assert!(oem.contains(
            "\n1995-01-29T02:38:37.500000 5748.600000 2679.900000 3442.800000 4.330000000 -1.920000000 -5.730000000\n"
        ));
        let triangle: Vec<&str> = oem
            .lines()
            .skip_while(|l| !l.starts_with("COV_REF_FRAME"))
            .skip(1)
            .take_while(|l| *l != "COVARIANCE_STOP")
            .collect();
        assert_eq!(triangle.len(), 6);
        assert_eq!(triangle[5].split_whitespace().count(), 6);
        assert_eq!(triangle[5].split_whitespace().last(), Some("6.0000000e0"));
    }
}
