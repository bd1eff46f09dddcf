//! Earth orientation from an IERS finals2000A file: the columns read, interpolation (and the leap-second jump),
//! errors that name the line, and the frames moving as UT1 - UTC and polar motion say. One test function: the
//! table is process-wide, and the other tests of this crate run in their own processes with zero EOP.

use kessler_od::eop::{EopTable, eop_table, use_eop};
use kessler_od::{Epoch, Site, itrf_to_gcrf_matrix};

const ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

/// A row in the fixed columns of readme.finals2000A.
fn row(yy: u32, mm: u32, dd: u32, mjd: f64, xp: f64, yp: f64, dut1: f64) -> String {
    format!(
        "{yy:2}{mm:02}{dd:02} {mjd:8.2} I {xp:9.6}{:9.6} {yp:9.6}{:9.6}  I{dut1:10.7}{:10.7}  0.1234 0.0123",
        0.000091, 0.000095, 0.0000101
    )
}

#[test]
fn finals_file_reads_and_moves_the_frames() {
    // Two days of 2006 (made-up values of the usual size) and one across the 2008-12-31 leap second.
    let text = [
        row(6, 6, 26, 53912.0, 0.05, 0.45, 0.2),
        row(6, 6, 27, 53913.0, 0.06, 0.44, 0.1990),
        "06 628 53914.00 P                                                     ".to_string(),
    ]
    .join("\n");
    let table = EopTable::parse_finals("finals2000A.data", &text).unwrap();
    assert_eq!(
        table.span_mjd(),
        (53912.0, 53913.0),
        "the row without values is skipped"
    );
    let mid = table.at_mjd(53912.5).unwrap();
    assert!((mid.dut1_s - 0.1995).abs() < 1e-12);
    assert!((mid.xp_rad - 0.055 * ARCSEC).abs() < 1e-15);
    assert!(table.at_mjd(53911.9).is_none() && table.at_mjd(53913.1).is_none());
    let leap = EopTable::parse_finals(
        "leap",
        &[
            row(8, 12, 31, 54831.0, 0.1, 0.2, -0.4),
            row(9, 1, 1, 54832.0, 0.1, 0.2, 0.6),
        ]
        .join("\n"),
    )
    .unwrap();
    assert_eq!(leap.at_mjd(54831.25).unwrap().dut1_s, -0.4);
    assert_eq!(leap.at_mjd(54831.75).unwrap().dut1_s, 0.6);
    let mut broken = row(6, 6, 26, 53912.0, 0.05, 0.45, 0.2);
    broken.replace_range(60..62, "x.");
    let err = EopTable::parse_finals("finals2000A.data", &broken).unwrap_err();
    assert!(
        err.to_string()
            .contains("finals2000A.data:1: column 59-68 (UT1-UTC)"),
        "{err}"
    );

    // The frames: a site on the equator moves by omega R dut1 (0.2 s: 93 m), the pole by the polar motion.
    let t = Epoch::from_gregorian_utc_hms(2006, 6, 26, 0, 0, 0);
    let site = Site {
        lat_deg: 0.0,
        lon_deg: 0.0,
        alt_km: 0.0,
    };
    let (zero_site, zero_m) = (site.gcrf_km(t), itrf_to_gcrf_matrix(t));
    use_eop(Some(table));
    assert!(eop_table().is_some());
    let (site_eop, m) = (site.gcrf_km(t), itrf_to_gcrf_matrix(t));
    use_eop(None);
    let moved: f64 = (0..3)
        .map(|i| (site_eop[i] - zero_site[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    let expected = 7.292_115e-5 * 6378.137 * 0.2;
    assert!(
        (moved / expected - 1.0).abs() < 0.02,
        "{moved} km vs {expected} km"
    );
    // The ITRF z axis in GCRF tilts by sqrt(xp^2 + yp^2) = 0.4528".
    let (z0, z1) = (
        [zero_m[0][2], zero_m[1][2], zero_m[2][2]],
        [m[0][2], m[1][2], m[2][2]],
    );
    let tilt = (0..3).map(|i| (z1[i] - z0[i]).powi(2)).sum::<f64>().sqrt() / ARCSEC;
    assert!((tilt - 0.45277).abs() < 0.005, "{tilt}\"");
    assert_eq!(itrf_to_gcrf_matrix(t), zero_m, "back to zero EOP");
}
