//! `kessler detect --json` on FITS frames whose WCS real cameras write, against astropy.wcs: a rotated, sheared
//! PC + CDELT SIN header and a TAN-SIP header, each over a 256 x 256 frame with one bright streak. The reported
//! (x1, y1) -> (ra1, dec1) and (x2, y2) -> (ra2, dec2) must match astropy's `all_pix2world` at the same pixels
//! within 1 mas.
//!
//! astropy's values are stored on a 4-px grid (ingest/tests/data/wcs_reference.json, written by
//! scripts/make-wcs-reference.py) and interpolated bilinearly here. Bilinear interpolation errs by at most
//! h^2 / 8 times the map's second derivatives; the script measures it at every cell centre and stores it
//! (`interpolation_error_mas`: 0.04 mas for the SIN frame, 0.01 for TAN-SIP), and the test checks it stays below a
//! tenth of the tolerance.

use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    grids: Vec<Grid>,
}

/// astropy's RA/Dec at pixels (i * step, j * step), 0-based: `ra_deg[j][i]`.
#[derive(Deserialize)]
struct Grid {
    name: String,
    cards: Vec<String>,
    step_px: f64,
    size_px: usize,
    ra_deg: Vec<Vec<f64>>,
    dec_deg: Vec<Vec<f64>>,
    interpolation_error_mas: f64,
}

/// The tolerance on RA/Dec against astropy, mas.
const TOLERANCE_MAS: f64 = 1.0;

impl Grid {
    /// astropy's (RA, Dec) at the 0-based pixel (x, y), interpolated bilinearly; RA unwrapped about the cell's
    /// first corner so a cell across RA = 0 interpolates through it.
    fn at(&self, x: f64, y: f64) -> [f64; 2] {
        let (fx, fy) = (x / self.step_px, y / self.step_px);
        let (i, j) = (fx.floor() as usize, fy.floor() as usize);
        let (tx, ty) = (fx - i as f64, fy - j as f64);
        let ra0 = self.ra_deg[j][i];
        let unwrap = |ra: f64| ra0 + (ra - ra0 + 180.0).rem_euclid(360.0) - 180.0;
        let lerp = |g: &Vec<Vec<f64>>, f: &dyn Fn(f64) -> f64| {
            let (a, b) = (f(g[j][i]), f(g[j][i + 1]));
            let (c, d) = (f(g[j + 1][i]), f(g[j + 1][i + 1]));
            (a * (1.0 - tx) + b * tx) * (1.0 - ty) + (c * (1.0 - tx) + d * tx) * ty
        };
        [
            lerp(&self.ra_deg, &unwrap).rem_euclid(360.0),
            lerp(&self.dec_deg, &|v| v),
        ]
    }
}

/// A FITS file of `size` x `size` f32 pixels (sky 1000 ADU with noise of sigma 10 ADU) holding a streak from
/// `a` to `b` (0-based px; Gaussian profile of sigma 1.3 px, 400 ADU peak), with `cards` as its WCS.
fn frame_with_streak(size: usize, cards: &[String], a: [f64; 2], b: [f64; 2]) -> Vec<u8> {
    let mut text = String::new();
    let head = [
        "SIMPLE  =                    T".to_string(),
        "BITPIX  =                  -32".into(),
        "NAXIS   =                    2".into(),
        format!("NAXIS1  = {size:>20}"),
        format!("NAXIS2  = {size:>20}"),
        "DATE-OBS= '2026-03-14T21:30:00.000'".into(),
        "EXPTIME =                  5.0".into(),
    ];
    for card in head.iter().chain(cards).chain(&["END".to_string()]) {
        text.push_str(&format!("{card:<80}"));
    }
    let mut bytes = text.into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    // A fixed xorshift sequence: reproducible noise without a random-number crate. Four uniforms summed are
    // close enough to Gaussian for a detector's background estimate.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length2 = dx * dx + dy * dy;
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (x as f64 - a[0], y as f64 - a[1]);
            let t = ((px * dx + py * dy) / length2).clamp(0.0, 1.0);
            let d2 = (px - t * dx).powi(2) + (py - t * dy).powi(2);
            let streak = 400.0 * (-d2 / (2.0 * 1.3 * 1.3)).exp();
            let noise = 10.0 * 3f64.sqrt() * (uniform() + uniform() + uniform() + uniform());
            bytes.extend_from_slice(&((1000.0 + streak + noise) as f32).to_be_bytes());
        }
    }
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    bytes
}

fn separation_mas(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (ra1, dec1, ra2, dec2) = (
        a[0].to_radians(),
        a[1].to_radians(),
        b[0].to_radians(),
        b[1].to_radians(),
    );
    let h = ((dec2 - dec1) / 2.0).sin().powi(2)
        + dec1.cos() * dec2.cos() * ((ra2 - ra1) / 2.0).sin().powi(2);
    (2.0 * h.sqrt().asin()).to_degrees() * 3.6e6
}

#[test]
fn detect_reports_the_ra_dec_astropy_gives_for_sin_and_tan_sip_frames() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ingest/tests/data/wcs_reference.json"
    );
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(reference.grids.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = ([40.3, 50.7], [210.2, 190.4]);
    for grid in &reference.grids {
        assert!(
            grid.interpolation_error_mas < TOLERANCE_MAS / 10.0,
            "{}",
            grid.name
        );
        let file = dir.path().join(format!("{}.fits", grid.name));
        std::fs::write(&file, frame_with_streak(grid.size_px, &grid.cards, a, b)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
            .args(["detect", "--json", "--cpu", file.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", grid.name);
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{}: {lines:?} {stderr}", grid.name);
        let s = &lines[0];
        let f = |k: &str| {
            s[k].as_f64()
                .unwrap_or_else(|| panic!("{}: no {k} in {s}", grid.name))
        };
        for (x, y, ra, dec) in [("x1", "y1", "ra1", "dec1"), ("x2", "y2", "ra2", "dec2")] {
            let (x, y) = (f(x), f(y));
            // The detector found the drawn streak: each end near one of the drawn ends.
            let near = [a, b].iter().any(|e| (e[0] - x).hypot(e[1] - y) < 5.0);
            assert!(near, "{}: end ({x}, {y}) is not a drawn end", grid.name);
            let expected = grid.at(x, y);
            let sep = separation_mas([f(ra), f(dec)], expected);
            eprintln!(
                "{}: ({x:.2}, {y:.2}) px: {sep:.4} mas from astropy",
                grid.name
            );
            assert!(
                sep < TOLERANCE_MAS,
                "{}: ({x}, {y}) -> ({}, {}), astropy {expected:?}: {sep} mas",
                grid.name,
                f(ra),
                f(dec)
            );
        }
    }
}
