//! The gnomonic (TAN) world coordinate system of FITS images, with optional SIP distortion.
//!
//! Calabretta & Greisen 2002, "Representations of celestial coordinates in FITS" (A&A 395, 1077), sections 2-5:
//! pixel -> intermediate world coordinates through CD, then the TAN deprojection and a spherical rotation to
//! (RA, Dec) about the reference point CRVAL. Pixel coordinates here are 0-based (x = column), FITS's are 1-based.
//! The SIP convention (Shupe et al. 2005, "The SIP convention for representing distortion in FITS image headers",
//! ASP Conf. Ser. 347, 491) adds polynomials to the pixel offsets from CRPIX before CD.

use serde::{Deserialize, Serialize};

/// One SIP distortion polynomial: `sum of coef u^p v^q` over its terms `(p, q, coef)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SipPolynomial {
    /// `A_ORDER` or `B_ORDER`: the largest `p + q`.
    pub order: u32,
    /// The non-zero coefficients `A_p_q` (or `B_p_q`) as `(p, q, coef)`, coef in pixels.
    pub terms: Vec<(u32, u32, f64)>,
}

impl SipPolynomial {
    /// The polynomial at pixel offsets `(u, v)` from CRPIX, px.
    pub fn at(&self, u: f64, v: f64) -> f64 {
        self.terms
            .iter()
            .map(|&(p, q, c)| c * u.powi(p as i32) * v.powi(q as i32))
            .sum()
    }
}

/// SIP distortion (Shupe et al. 2005, eq. 1-2): pixel offsets `(u, v)` from CRPIX become `(u + f(u, v),
/// v + g(u, v))` before the CD matrix. The inverse is found by fixed-point iteration on the forward polynomials
/// (exact to 1e-9 px), so the optional AP/BP inverse polynomials are not needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sip {
    /// `f`, from the `A_p_q` keywords.
    pub a: SipPolynomial,
    /// `g`, from the `B_p_q` keywords.
    pub b: SipPolynomial,
}

/// Fixed-point iterations of the SIP inverse, at most.
const SIP_INVERSE_ITERATIONS: usize = 50;
/// The SIP inverse stops when a step is below this, px.
const SIP_INVERSE_TOLERANCE_PX: f64 = 1e-10;

/// A TAN projection: `CRPIX` (1-based FITS pixels), `CRVAL` (deg, ICRS), `CD` (deg per pixel), and the optional
/// SIP distortion (`RA---TAN-SIP`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TanWcs {
    /// Reference pixel (CRPIX1, CRPIX2), 1-based FITS convention.
    pub crpix: [f64; 2],
    /// Reference point (CRVAL1 = RA, CRVAL2 = Dec), degrees, ICRS.
    pub crval_deg: [f64; 2],
    /// Linear transformation matrix CDi_j, degrees per pixel: `cd[i][j]` is CD(i+1)_(j+1).
    pub cd_deg: [[f64; 2]; 2],
    /// SIP distortion polynomials, for `RA---TAN-SIP` / `DEC--TAN-SIP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<Sip>,
}

impl TanWcs {
    /// A projection centred on (`ra_deg`, `dec_deg`) at pixel (`cx`, `cy`) (0-based), `scale_deg` per pixel,
    /// north up and east left (RA increasing to the left, as the sky is seen), rotated by `rot_deg`
    /// (the opposite sign of FITS CROTA2: `centred(.., rot)` equals CDELT/CROTA2 = -rot).
    pub fn centred(
        ra_deg: f64,
        dec_deg: f64,
        cx: f64,
        cy: f64,
        scale_deg: f64,
        rot_deg: f64,
    ) -> Self {
        let (s, c) = rot_deg.to_radians().sin_cos();
        TanWcs {
            crpix: [cx + 1.0, cy + 1.0],
            crval_deg: [ra_deg, dec_deg],
            cd_deg: [
                [-scale_deg * c, scale_deg * s],
                [scale_deg * s, scale_deg * c],
            ],
            sip: None,
        }
    }

    /// Sky position (RA, Dec in degrees, RA in [0, 360)) of the 0-based pixel (x, y).
    pub fn pixel_to_world(&self, x: f64, y: f64) -> (f64, f64) {
        // Calabretta & Greisen eq. 1 and 3: intermediate world coordinates (x, y) in degrees.
        let (u, v) = (x + 1.0 - self.crpix[0], y + 1.0 - self.crpix[1]);
        // Shupe et al. 2005, eq. 1: the distorted offsets.
        let (dx, dy) = match &self.sip {
            Some(sip) => (u + sip.a.at(u, v), v + sip.b.at(u, v)),
            None => (u, v),
        };
        let xi = (self.cd_deg[0][0] * dx + self.cd_deg[0][1] * dy).to_radians();
        let eta = (self.cd_deg[1][0] * dx + self.cd_deg[1][1] * dy).to_radians();
        // Gnomonic deprojection (eq. 54) and the rotation to celestial coordinates (eq. 2), written with the
        // standard-coordinate form of the inverse gnomonic projection.
        let (a0, d0) = (
            self.crval_deg[0].to_radians(),
            self.crval_deg[1].to_radians(),
        );
        let denom = d0.cos() - eta * d0.sin();
        let ra = a0 + xi.atan2(denom);
        let dec = (d0.sin() + eta * d0.cos()).atan2((xi * xi + denom * denom).sqrt());
        (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
    }

    /// The 0-based pixel of the sky position (RA, Dec in degrees); `None` on the far hemisphere.
    pub fn world_to_pixel(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let (a0, d0) = (
            self.crval_deg[0].to_radians(),
            self.crval_deg[1].to_radians(),
        );
        let (a, d) = (ra_deg.to_radians(), dec_deg.to_radians());
        let cos_c = d0.sin() * d.sin() + d0.cos() * d.cos() * (a - a0).cos();
        if cos_c <= 1e-6 {
            return None;
        }
        // Standard coordinates (gnomonic projection, eq. 54 inverted), radians.
        let xi = d.cos() * (a - a0).sin() / cos_c;
        let eta = (d0.cos() * d.sin() - d0.sin() * d.cos() * (a - a0).cos()) / cos_c;
        let (xi, eta) = (xi.to_degrees(), eta.to_degrees());
        let [[a11, a12], [a21, a22]] = self.cd_deg;
        let det = a11 * a22 - a12 * a21;
        let dx = (a22 * xi - a12 * eta) / det;
        let dy = (-a21 * xi + a11 * eta) / det;
        // Undo the SIP distortion: (u, v) with u + f(u, v) = dx, v + g(u, v) = dy, by fixed-point iteration
        // (the distortion is a small correction, so the map is a contraction).
        let (mut u, mut v) = (dx, dy);
        if let Some(sip) = &self.sip {
            for _ in 0..SIP_INVERSE_ITERATIONS {
                let (nu, nv) = (dx - sip.a.at(u, v), dy - sip.b.at(u, v));
                let step = (nu - u).hypot(nv - v);
                (u, v) = (nu, nv);
                if step < SIP_INVERSE_TOLERANCE_PX {
                    break;
                }
            }
        }
        Some((u + self.crpix[0] - 1.0, v + self.crpix[1] - 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_to_microarcseconds() {
        let wcs = TanWcs::centred(350.0, -62.0, 255.5, 255.5, 0.004, 17.0);
        for &(x, y) in &[(0.0, 0.0), (511.0, 3.0), (255.5, 255.5), (100.25, 400.75)] {
            let (ra, dec) = wcs.pixel_to_world(x, y);
            let (x2, y2) = wcs.world_to_pixel(ra, dec).unwrap();
            assert!(
                (x - x2).abs() < 1e-8 && (y - y2).abs() < 1e-8,
                "({x},{y}) -> ({x2},{y2})"
            );
        }
    }

    #[test]
    fn reference_pixel_maps_to_reference_point_and_east_is_left() {
        let wcs = TanWcs::centred(10.0, 20.0, 50.0, 60.0, 0.001, 0.0);
        let (ra, dec) = wcs.pixel_to_world(50.0, 60.0);
        assert!((ra - 10.0).abs() < 1e-12 && (dec - 20.0).abs() < 1e-12);
        let (ra_left, _) = wcs.pixel_to_world(40.0, 60.0);
        assert!(ra_left > 10.0);
        let (_, dec_up) = wcs.pixel_to_world(50.0, 70.0);
        assert!(dec_up > 20.0);
    }

    /// The SIP polynomials of cutout_bi327715.fits (LCO, order 5; the A terms), a few.
    fn lco_like_sip() -> Sip {
        Sip {
            a: SipPolynomial {
                order: 5,
                terms: vec![
                    (0, 2, 1.50321503346e-07),
                    (1, 1, 3.9078289589e-08),
                    (2, 0, 2.18259775082e-07),
                    (3, 0, -3.14798436763e-09),
                    (1, 2, -2.93892678663e-09),
                    (5, 0, 3.90542956197e-16),
                ],
            },
            b: SipPolynomial {
                order: 5,
                terms: vec![
                    (0, 2, 1.41967057654e-07),
                    (1, 1, 1.46350959946e-07),
                    (2, 0, 6.44700028608e-08),
                    (0, 3, -2.63640830248e-09),
                    (2, 1, -2.56153256003e-09),
                ],
            },
        }
    }

    #[test]
    fn sip_moves_pixels_by_its_polynomial_and_inverts() {
        let tan = TanWcs {
            crpix: [1025.0, 1025.0],
            crval_deg: [335.536043385, -46.0175795986],
            cd_deg: [
                [-0.0021981979337, -5.87488597282e-05],
                [-5.88268286957e-05, 0.00219782147215],
            ],
            sip: None,
        };
        let sip = TanWcs {
            sip: Some(lco_like_sip()),
            ..tan.clone()
        };
        // At the reference pixel the distortion vanishes.
        assert_eq!(
            tan.pixel_to_world(1024.0, 1024.0),
            sip.pixel_to_world(1024.0, 1024.0)
        );
        // 1000 px from it along x, f = sum of the A terms with v = 0: 0.218 - 3.148 + 0.391 px.
        let u = 1000.0f64;
        let f = 2.18259775082e-07 * u * u - 3.14798436763e-09 * u.powi(3)
            + 3.90542956197e-16 * u.powi(5);
        let g = 6.44700028608e-08 * u * u;
        let (ra, dec) = sip.pixel_to_world(1024.0 + u, 1024.0);
        let (x, y) = tan.world_to_pixel(ra, dec).unwrap();
        assert!(
            (x - (1024.0 + u + f)).abs() < 1e-6 && (y - (1024.0 + g)).abs() < 1e-6,
            "{x} {y}"
        );
        // The inverse undoes the distortion.
        for (px, py) in [(0.0, 0.0), (399.0, 17.0), (2000.0, 1500.0), (1024.0, 30.0)] {
            let (ra, dec) = sip.pixel_to_world(px, py);
            let (bx, by) = sip.world_to_pixel(ra, dec).unwrap();
            assert!(
                (bx - px).abs() < 1e-7 && (by - py).abs() < 1e-7,
                "({px}, {py}) -> ({bx}, {by})"
            );
        }
    }
}
