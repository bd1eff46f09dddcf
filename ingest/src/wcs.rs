//! The gnomonic (TAN) world coordinate system of FITS images.
//!
//! Calabretta & Greisen 2002, "Representations of celestial coordinates in FITS" (A&A 395, 1077), sections 2-5:
//! pixel -> intermediate world coordinates through CD, then the TAN deprojection and a spherical rotation to
//! (RA, Dec) about the reference point CRVAL. Pixel coordinates here are 0-based (x = column), FITS's are 1-based.

use serde::{Deserialize, Serialize};

/// A TAN projection: `CRPIX` (1-based FITS pixels), `CRVAL` (deg, ICRS), `CD` (deg per pixel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TanWcs {
    /// Reference pixel (CRPIX1, CRPIX2), 1-based FITS convention.
    pub crpix: [f64; 2],
    /// Reference point (CRVAL1 = RA, CRVAL2 = Dec), degrees, ICRS.
    pub crval_deg: [f64; 2],
    /// Linear transformation matrix CDi_j, degrees per pixel: `cd[i][j]` is CD(i+1)_(j+1).
    pub cd_deg: [[f64; 2]; 2],
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
        }
    }

    /// Sky position (RA, Dec in degrees, RA in [0, 360)) of the 0-based pixel (x, y).
    pub fn pixel_to_world(&self, x: f64, y: f64) -> (f64, f64) {
        // Calabretta & Greisen eq. 1 and 3: intermediate world coordinates (x, y) in degrees.
        let dx = x + 1.0 - self.crpix[0];
        let dy = y + 1.0 - self.crpix[1];
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
        Some((dx + self.crpix[0] - 1.0, dy + self.crpix[1] - 1.0))
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
}
