//! The celestial world coordinate system of FITS images: pixel <-> (RA, Dec).
//!
//! Greisen & Calabretta 2002, "Representations of world coordinates in FITS" (A&A 395, 1061; Paper I) for the
//! linear part, and Calabretta & Greisen 2002, "Representations of celestial coordinates in FITS" (A&A 395, 1077;
//! Paper II) for the projections and the spherical rotation. A pixel goes
//!
//! 1. to pixel offsets from CRPIX (Paper I sec. 2.1), through the SIP distortion when the header has one (Shupe et al.
//!    2005, "The SIP convention for representing distortion in FITS image headers", ASP Conf. Ser. 347, 491);
//! 2. to intermediate world coordinates (x, y) in degrees through the CD matrix (Paper I sec. 2.1.2). `PCi_j`
//!    with `CDELTi` (Paper I eq. 1-2) and `CDELTi` with `CROTA2` (Paper II sec. 6.1) are reduced to CD when read;
//! 3. for TPV (SCAMP's distortion, written as `RA---TPV`), through its PV polynomials in those coordinates;
//! 4. to native spherical coordinates (phi, theta) by the projection (Paper II sec. 5): TAN, SIN (with its
//!    PV2_1/PV2_2 slant), ARC, ZEA, STG (zenithal, sec. 5.1) or CAR (cylindrical, sec. 5.2.3);
//! 5. to (RA, Dec) by the spherical rotation through the native pole (Paper II sec. 2.3-2.4, LONPOLE/LATPOLE).
//!
//! Pixel coordinates here are 0-based (x = column, y = row); FITS's are 1-based. RA/Dec are ICRS degrees: a header
//! in FK5 at equinox J2000 is read as ICRS (the two frames differ by under 25 mas, Feissel & Mignard 1998, below
//! a streak end's uncertainty); any other reference system is refused when the header is read.

use std::f64::consts::{FRAC_PI_2, PI};

use serde::{Deserialize, Serialize};

/// A header keyword that does not make a valid celestial WCS. `missing` is true when the keyword is absent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("keyword {keyword}: {problem}")]
pub struct WcsError {
    /// The keyword at fault.
    pub keyword: String,
    /// Whether the keyword is absent (so there is no card to point at).
    pub missing: bool,
    /// What is wrong with it.
    pub problem: String,
}

impl WcsError {
    fn bad(keyword: &str, problem: impl Into<String>) -> Self {
        WcsError {
            keyword: keyword.into(),
            missing: false,
            problem: problem.into(),
        }
    }

    fn missing(keyword: &str, problem: impl Into<String>) -> Self {
        WcsError {
            keyword: keyword.into(),
            missing: true,
            problem: problem.into(),
        }
    }
}

/// Header keyword values, as the FITS reader (or a test) holds them.
pub trait Keywords {
    /// The value of `key` as a number; `None` when absent, an error when present and not a number.
    fn number(&self, key: &str) -> Result<Option<f64>, WcsError>;
    /// The value of `key` as text (a FITS string without its quotes and trailing blanks); `None` when absent.
    fn text(&self, key: &str) -> Option<String>;
}

/// One SIP distortion polynomial: `sum of coef u^p v^q` over its terms `(p, q, coef)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SipPolynomial {
    /// `A_ORDER` (or `B_ORDER`, `AP_ORDER`, `BP_ORDER`): the largest `p + q`.
    pub order: u32,
    /// The non-zero coefficients `A_p_q` (or `B_p_q`, ...) as `(p, q, coef)`, coef in pixels.
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
/// v + g(u, v))` before the CD matrix. The inverse starts from the AP/BP polynomials when the header has them
/// (eq. 3-4; they are fits, good to about 0.01 px) and is refined by fixed-point iteration on the forward
/// polynomials to 1e-10 px, as astropy's `all_world2pix` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sip {
    /// `f`, from the `A_p_q` keywords.
    pub a: SipPolynomial,
    /// `g`, from the `B_p_q` keywords.
    pub b: SipPolynomial,
    /// The inverse of `f` (`AP_p_q`), a first guess for the inverse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ap: Option<SipPolynomial>,
    /// The inverse of `g` (`BP_p_q`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bp: Option<SipPolynomial>,
}

/// Fixed-point iterations of the SIP inverse, at most.
const SIP_INVERSE_ITERATIONS: usize = 50;
/// The SIP inverse stops when a step is below this, px.
const SIP_INVERSE_TOLERANCE_PX: f64 = 1e-10;

/// The TPV distortion: TAN with polynomials in the intermediate world coordinates (x, y), degrees, as SCAMP
/// writes them (the TPV convention of the FITS WCS registry, after the draft of Calabretta et al. 2004,
/// "Representations of distortions in FITS world coordinate systems"): x' = sum_k PV1_k T_k(x, y),
/// y' = sum_k PV2_k T_k(y, x), where T_0..T_39 are 1, u, v, r, u^2, uv, v^2, u^3, u^2 v, u v^2, v^3, r^3, ... up to
/// degree 7, with r^d after the degree-d terms for odd d and r = sqrt(u^2 + v^2). Absent coefficients are 0, as in
/// WCSLIB. The inverse is Newton's method on these polynomials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tpv {
    /// The non-zero PV1_k as (k, coefficient).
    pub pv1: Vec<(u32, f64)>,
    /// The non-zero PV2_k as (k, coefficient).
    pub pv2: Vec<(u32, f64)>,
}

/// Number of TPV terms (PVi_0 to PVi_39).
const TPV_TERMS: usize = 40;
/// Newton iterations of the TPV inverse, at most.
const TPV_INVERSE_ITERATIONS: usize = 30;
/// The TPV inverse stops when a step is below this, degrees (4e-7 mas).
const TPV_INVERSE_TOLERANCE_DEG: f64 = 1e-13;
/// Step of the TPV inverse's central-difference Jacobian, degrees.
const TPV_JACOBIAN_STEP_DEG: f64 = 1e-6;

/// The TPV monomials T_k(u, v), k = 0..39, in PVi_k order.
fn tpv_monomials(u: f64, v: f64) -> [f64; TPV_TERMS] {
    let r = u.hypot(v);
    let mut t = [0.0; TPV_TERMS];
    let mut k = 0;
    for d in 0..=7 {
        for j in 0..=d {
            t[k] = u.powi(d - j) * v.powi(j);
            k += 1;
        }
        if d % 2 == 1 {
            t[k] = r.powi(d);
            k += 1;
        }
    }
    t
}

impl Tpv {
    /// The distorted intermediate world coordinates of (x, y), degrees.
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let sum = |terms: &[(u32, f64)], t: [f64; TPV_TERMS]| -> f64 {
            terms.iter().map(|&(k, c)| c * t[k as usize]).sum()
        };
        (
            sum(&self.pv1, tpv_monomials(x, y)),
            sum(&self.pv2, tpv_monomials(y, x)),
        )
    }

    /// The coefficient PVi_k (0 when absent).
    fn coefficient(terms: &[(u32, f64)], k: u32) -> f64 {
        terms
            .iter()
            .find(|&&(j, _)| j == k)
            .map_or(0.0, |&(_, c)| c)
    }

    /// (x, y) with `apply(x, y)` = (tx, ty), by Newton's method with a central-difference Jacobian.
    fn invert(&self, tx: f64, ty: f64) -> (f64, f64) {
        let (mut x, mut y) = (tx, ty);
        let h = TPV_JACOBIAN_STEP_DEG;
        for _ in 0..TPV_INVERSE_ITERATIONS {
            let (fx, fy) = self.apply(x, y);
            let ((ax, ay), (bx, by)) = (self.apply(x + h, y), self.apply(x - h, y));
            let ((cx, cy), (dx, dy)) = (self.apply(x, y + h), self.apply(x, y - h));
            let (j11, j21) = ((ax - bx) / (2.0 * h), (ay - by) / (2.0 * h));
            let (j12, j22) = ((cx - dx) / (2.0 * h), (cy - dy) / (2.0 * h));
            let det = j11 * j22 - j12 * j21;
            let (ex, ey) = (fx - tx, fy - ty);
            let (sx, sy) = ((j22 * ex - j12 * ey) / det, (-j21 * ex + j11 * ey) / det);
            (x, y) = (x - sx, y - sy);
            if sx.hypot(sy) < TPV_INVERSE_TOLERANCE_DEG {
                break;
            }
        }
        (x, y)
    }
}

/// The spherical projection (the three letters after the axis name in CTYPEi) and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "UPPERCASE")]
pub enum Projection {
    /// Gnomonic (Paper II sec. 5.1.3).
    #[default]
    Tan,
    /// Slant orthographic (Paper II sec. 5.1.5): `xi` = PV2_1 and `eta` = PV2_2, both 0 for the orthographic.
    Sin {
        #[serde(default)]
        xi: f64,
        #[serde(default)]
        eta: f64,
    },
    /// Zenithal equidistant (Paper II sec. 5.1.6).
    Arc,
    /// Zenithal equal-area (Paper II sec. 5.1.8).
    Zea,
    /// Stereographic (Paper II sec. 5.1.4).
    Stg,
    /// Plate carrée (Paper II sec. 5.2.3).
    Car,
}

impl Projection {
    /// The FITS code, as in CTYPEi.
    pub fn code(&self) -> &'static str {
        match self {
            Projection::Tan => "TAN",
            Projection::Sin { .. } => "SIN",
            Projection::Arc => "ARC",
            Projection::Zea => "ZEA",
            Projection::Stg => "STG",
            Projection::Car => "CAR",
        }
    }

    /// The native coordinates (phi0, theta0) of the fiducial point, radians (Paper II sec. 5, Table 13):
    /// the native pole for zenithal projections, (0, 0) for cylindrical ones.
    fn fiducial(&self) -> (f64, f64) {
        match self {
            Projection::Car => (0.0, 0.0),
            _ => (0.0, FRAC_PI_2),
        }
    }

    /// Native spherical (phi, theta), radians, of the projection-plane point (x, y), radians (that is, intermediate
    /// world coordinates in degrees times pi/180); `None` outside the projection's domain.
    fn plane_to_native(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if let Projection::Car = self {
            // Paper II sec. 5.2.3: phi = x, theta = y.
            return (y.abs() <= FRAC_PI_2 && x.abs() <= PI).then_some((x, y));
        }
        // Paper II eq. 14-15 (zenithal): phi = arg(-y, x), R_theta = sqrt(x^2 + y^2).
        let r = x.hypot(y);
        let phi = if r == 0.0 { 0.0 } else { x.atan2(-y) };
        let theta = match *self {
            // Sec. 5.1.3: R_theta = cot(theta), so theta = atan(1 / R_theta).
            Projection::Tan => 1f64.atan2(r),
            // Sec. 5.1.4: R_theta = 2 tan((90 - theta) / 2).
            Projection::Stg => FRAC_PI_2 - 2.0 * (r / 2.0).atan(),
            // Sec. 5.1.6: R_theta = 90 - theta (in radians here).
            Projection::Arc if r <= PI => FRAC_PI_2 - r,
            // Sec. 5.1.8: R_theta = 2 sin((90 - theta) / 2).
            Projection::Zea if r <= 2.0 => FRAC_PI_2 - 2.0 * (r / 2.0).asin(),
            Projection::Sin { xi, eta } => return sin_to_native(x, y, xi, eta),
            _ => return None,
        };
        Some((phi, theta))
    }

    /// The projection-plane point (x, y), radians, of native (phi, theta), radians; `None` where the projection
    /// does not reach (the far hemisphere of TAN and SIN, the antipode of STG).
    fn native_to_plane(&self, phi: f64, theta: f64) -> Option<(f64, f64)> {
        let (sin_t, cos_t) = theta.sin_cos();
        let r = match *self {
            Projection::Car => {
                // Sec. 5.2.3, with phi taken into [-180, 180) about phi0 = 0.
                let phi = (phi + PI).rem_euclid(2.0 * PI) - PI;
                return Some((phi, theta));
            }
            Projection::Tan if sin_t > 0.0 => cos_t / sin_t,
            Projection::Stg if sin_t > -1.0 => 2.0 * cos_t / (1.0 + sin_t),
            Projection::Arc => FRAC_PI_2 - theta,
            // 2 sin((90 - theta) / 2) = sqrt(2 (1 - sin theta)).
            Projection::Zea => (2.0 * (1.0 - sin_t)).sqrt(),
            Projection::Sin { xi, eta } => {
                // Sec. 5.1.5: x = cos(theta) sin(phi) + xi (1 - sin(theta)),
                //             y = -cos(theta) cos(phi) + eta (1 - sin(theta)).
                // Visible where the line of sight meets the sphere's near side (sec. 5.1.5's condition; theta >= 0
                // for the orthographic).
                let (sin_p, cos_p) = phi.sin_cos();
                let visible = sin_t + xi * cos_t * sin_p - eta * cos_t * cos_p;
                if visible < 0.0 {
                    return None;
                }
                let z = 1.0 - sin_t;
                return Some((cos_t * sin_p + xi * z, -cos_t * cos_p + eta * z));
            }
            _ => return None,
        };
        // Paper II eq. 12-13: x = R_theta sin(phi), y = -R_theta cos(phi).
        Some((r * phi.sin(), -r * phi.cos()))
    }
}

/// The inverse of the slant orthographic projection (Paper II sec. 5.1.5). With z = 1 - sin(theta), the forward
/// equations give (x - xi z)^2 + (y - eta z)^2 = cos^2(theta), a quadratic in sin(theta):
/// a s^2 + 2 b s + c = 0 with a = 1 + xi^2 + eta^2, b = xi (x - xi) + eta (y - eta), c = (x - xi)^2 + (y - eta)^2 - 1;
/// the root nearer the native pole is the visible one.
fn sin_to_native(x: f64, y: f64, xi: f64, eta: f64) -> Option<(f64, f64)> {
    let (xp, yp) = (x - xi, y - eta);
    let a = 1.0 + xi * xi + eta * eta;
    let b = xi * xp + eta * yp;
    let c = xp * xp + yp * yp - 1.0;
    let disc = b * b - a * c;
    if disc < 0.0 {
        return None;
    }
    let s = ((-b + disc.sqrt()) / a).min(1.0);
    let z = 1.0 - s;
    let (px, py) = (x - xi * z, y - eta * z);
    // cos(theta) from the plane rather than sqrt(1 - s^2): exact near the pole, where s is close to 1.
    let cos_t = px.hypot(py);
    let phi = if cos_t == 0.0 { 0.0 } else { px.atan2(-py) };
    Some((phi, s.atan2(cos_t)))
}

/// A celestial WCS: `CRPIX` (1-based FITS pixels), `CRVAL` (deg, ICRS), `CD` (deg per pixel), the projection,
/// LONPOLE/LATPOLE when the header gives them, and the optional SIP distortion.
///
/// On the wire (frame envelope, raster sidecar) it is JSON with these field names; `projection` defaults to TAN,
/// so a sidecar written for the TAN-only reader still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wcs {
    /// Reference pixel (CRPIX1, CRPIX2), 1-based FITS convention.
    pub crpix: [f64; 2],
    /// Reference point (CRVAL1 = RA, CRVAL2 = Dec), degrees, ICRS.
    pub crval_deg: [f64; 2],
    /// Linear transformation CDi_j, degrees per pixel: `cd[i][j]` is CD(i+1)_(j+1). PC + CDELT and CDELT + CROTA2
    /// headers are reduced to it.
    pub cd_deg: [[f64; 2]; 2],
    /// The spherical projection.
    #[serde(default)]
    pub projection: Projection,
    /// LONPOLE: native longitude of the celestial pole, degrees; the default of Paper II sec. 2.4 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lonpole_deg: Option<f64>,
    /// LATPOLE: native latitude of the celestial pole, degrees (chooses between two poles); 90 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latpole_deg: Option<f64>,
    /// SIP distortion polynomials, for CTYPEs ending in `-SIP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<Sip>,
    /// TPV distortion polynomials, for `RA---TPV` (the projection is then TAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpv: Option<Tpv>,
}

/// The celestial coordinates of the native pole and the native longitude of the celestial pole, radians.
#[derive(Debug, Clone, Copy)]
struct Pole {
    alpha_p: f64,
    delta_p: f64,
    phi_p: f64,
}

/// Tolerance on |sin| and latitudes when solving for the native pole (Paper II sec. 2.4), as in WCSLIB's celset.
const POLE_TOLERANCE: f64 = 1e-10;

impl Wcs {
    /// A TAN projection centred on (`ra_deg`, `dec_deg`) at pixel (`cx`, `cy`) (0-based), `scale_deg` per pixel,
    /// north up and east left (RA increasing to the left, as the sky is seen), rotated by `rot_deg`
    /// (the opposite sign of FITS CROTA2: `tan_centred(.., rot)` equals CDELT/CROTA2 = -rot).
    pub fn tan_centred(
        ra_deg: f64,
        dec_deg: f64,
        cx: f64,
        cy: f64,
        scale_deg: f64,
        rot_deg: f64,
    ) -> Self {
        let (s, c) = rot_deg.to_radians().sin_cos();
        Wcs {
            crpix: [cx + 1.0, cy + 1.0],
            crval_deg: [ra_deg, dec_deg],
            cd_deg: [
                [-scale_deg * c, scale_deg * s],
                [scale_deg * s, scale_deg * c],
            ],
            projection: Projection::Tan,
            lonpole_deg: None,
            latpole_deg: None,
            sip: None,
            tpv: None,
        }
    }

    /// Pixel scale at the reference pixel, degrees per pixel: the geometric mean of the two axes (sqrt |det CD|).
    pub fn scale_deg(&self) -> f64 {
        let [[a, b], [c, d]] = self.cd_deg;
        (a * d - b * c).abs().sqrt()
    }

    /// Check what a header or a sidecar cannot be trusted to hold: finite numbers, an invertible CD, a reference
    /// point on the sphere, and a native pole that exists (Paper II sec. 2.4).
    pub fn check(&self) -> Result<(), WcsError> {
        let finite = |key: &str, values: &[f64]| {
            if values.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err(WcsError::bad(key, "must be a finite number"))
            }
        };
        finite("CRPIX1", &self.crpix)?;
        finite("CRVAL1", &self.crval_deg)?;
        finite("CD1_1", self.cd_deg.as_flattened())?;
        if let Projection::Sin { xi, eta } = self.projection {
            finite("PV2_1", &[xi, eta])?;
        }
        let [[a, b], [c, d]] = self.cd_deg;
        if a * d - b * c == 0.0 {
            return Err(WcsError::bad(
                "CD1_1",
                "the linear transformation (CD, or PC times CDELT) is singular",
            ));
        }
        if !(-90.0..=90.0).contains(&self.crval_deg[1]) {
            return Err(WcsError::bad(
                "CRVAL2",
                format!("declination {} is not in -90..=90", self.crval_deg[1]),
            ));
        }
        if let Some(lat) = self.latpole_deg
            && !lat.is_finite()
        {
            return Err(WcsError::bad("LATPOLE", "must be a finite number"));
        }
        if let Some(lon) = self.lonpole_deg
            && !lon.is_finite()
        {
            return Err(WcsError::bad("LONPOLE", "must be a finite number"));
        }
        self.pole().map(|_| ())
    }

    /// The native pole (Paper II sec. 2.4), solved as WCSLIB's `celset` does.
    fn pole(&self) -> Result<Pole, WcsError> {
        let (phi0, theta0) = self.projection.fiducial();
        let (alpha0, delta0) = (
            self.crval_deg[0].to_radians(),
            self.crval_deg[1].to_radians(),
        );
        // Paper II sec. 2.4: LONPOLE defaults to phi0 when delta0 >= theta0, else phi0 + 180 deg.
        let phi_p = match self.lonpole_deg {
            Some(v) => v.to_radians(),
            None if delta0 >= theta0 => phi0,
            None => phi0 + PI,
        };
        if theta0 == FRAC_PI_2 {
            // The fiducial point is the native pole.
            return Ok(Pole {
                alpha_p: alpha0,
                delta_p: delta0,
                phi_p,
            });
        }
        let latpole = self.latpole_deg.unwrap_or(90.0).to_radians();
        let (sin_d0, cos_d0) = delta0.sin_cos();
        let (sin_t0, cos_t0) = theta0.sin_cos();
        let (sin_dphi, cos_dphi) = (phi_p - phi0).sin_cos();
        // Paper II eq. 8: delta_p = arg(cos theta0 cos(phi_p - phi0), sin theta0)
        //                         +- acos(sin delta0 / sqrt(1 - cos^2 theta0 sin^2(phi_p - phi0))).
        let (x, y) = (cos_t0 * cos_dphi, sin_t0);
        let z = x.hypot(y);
        let delta_p = if z == 0.0 {
            if sin_d0.abs() > POLE_TOLERANCE {
                return Err(WcsError::bad(
                    "LONPOLE",
                    "with this CRVAL2 and projection there is no native pole (Paper II sec. 2.4)",
                ));
            }
            latpole.clamp(-FRAC_PI_2, FRAC_PI_2)
        } else {
            let mut slz = sin_d0 / z;
            if slz.abs() > 1.0 {
                if slz.abs() - 1.0 < POLE_TOLERANCE {
                    slz = slz.signum();
                } else {
                    return Err(WcsError::bad(
                        "LONPOLE",
                        format!(
                            "with CRVAL2 = {} there is no native pole (Paper II eq. 8)",
                            self.crval_deg[1]
                        ),
                    ));
                }
            }
            let (u, v) = (y.atan2(x), slz.acos());
            // Both solutions folded into [-180, 180]; LATPOLE picks the nearer of the valid ones.
            let fold = |l: f64| {
                if l > PI {
                    2.0 * PI - l
                } else if l < -PI {
                    -2.0 * PI - l
                } else {
                    l
                }
            };
            let (p1, p2) = (fold(u + v), fold(u - v));
            let valid = |l: f64| l.abs() < FRAC_PI_2 + POLE_TOLERANCE;
            let pick = if (latpole - p1).abs() < (latpole - p2).abs() {
                if valid(p1) { p1 } else { p2 }
            } else if valid(p2) {
                p2
            } else {
                p1
            };
            if !valid(pick) {
                return Err(WcsError::bad(
                    "LONPOLE",
                    format!(
                        "with CRVAL2 = {} the native pole's latitude has no solution in -90..=90 (Paper II eq. 8)",
                        self.crval_deg[1]
                    ),
                ));
            }
            pick.clamp(-FRAC_PI_2, FRAC_PI_2)
        };
        // Paper II eq. 9-10: alpha_p = alpha0 - arg((sin theta0 - sin delta_p sin delta0) / (cos delta_p cos delta0),
        //                                          sin(phi_p - phi0) cos theta0 / cos delta0).
        let zc = delta_p.cos() * cos_d0;
        let alpha_p = if zc.abs() < POLE_TOLERANCE {
            if cos_d0.abs() < POLE_TOLERANCE {
                alpha0
            } else if delta_p > 0.0 {
                alpha0 + phi_p - phi0 - PI
            } else {
                alpha0 - phi_p + phi0
            }
        } else {
            let x = (sin_t0 - delta_p.sin() * sin_d0) / zc;
            let y = sin_dphi * cos_t0 / cos_d0;
            alpha0 - y.atan2(x)
        };
        Ok(Pole {
            alpha_p,
            delta_p,
            phi_p,
        })
    }

    /// Intermediate world coordinates (x, y), degrees, of pixel offsets (u, v) from CRPIX, through SIP and CD.
    fn offsets_to_intermediate(&self, u: f64, v: f64) -> (f64, f64) {
        // Shupe et al. 2005, eq. 1: the distorted offsets.
        let (du, dv) = match &self.sip {
            Some(sip) => (u + sip.a.at(u, v), v + sip.b.at(u, v)),
            None => (u, v),
        };
        // Paper I sec. 2.1.2: x_i = sum_j CD_ij (p_j - r_j).
        let [[a, b], [c, d]] = self.cd_deg;
        (a * du + b * dv, c * du + d * dv)
    }

    /// Sky position (RA, Dec in degrees, RA in [0, 360)) of the 0-based pixel (x, y); `None` when the pixel lies
    /// outside the projection's domain (beyond the limb of SIN or ZEA, say).
    pub fn pixel_to_world(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let pole = self.pole().ok()?;
        // Paper I eq. 1: pixel offsets from the reference pixel (1-based FITS pixels).
        let (u, v) = (x + 1.0 - self.crpix[0], y + 1.0 - self.crpix[1]);
        let (ix, iy) = self.offsets_to_intermediate(u, v);
        let (ix, iy) = match &self.tpv {
            Some(tpv) => tpv.apply(ix, iy),
            None => (ix, iy),
        };
        let (phi, theta) = self
            .projection
            .plane_to_native(ix.to_radians(), iy.to_radians())?;
        // Paper II eq. 2: alpha = alpha_p + arg(sin theta cos delta_p - cos theta sin delta_p cos(phi - phi_p),
        //                                      -cos theta sin(phi - phi_p)),
        //                 delta = asin(sin theta sin delta_p + cos theta cos delta_p cos(phi - phi_p)),
        // with delta from the three direction cosines (atan2) so that it stays exact near the poles.
        let (sin_t, cos_t) = theta.sin_cos();
        let (sin_dp, cos_dp) = pole.delta_p.sin_cos();
        let (sin_dphi, cos_dphi) = (phi - pole.phi_p).sin_cos();
        let a = -cos_t * sin_dphi;
        let b = sin_t * cos_dp - cos_t * sin_dp * cos_dphi;
        let c = sin_t * sin_dp + cos_t * cos_dp * cos_dphi;
        let ra = pole.alpha_p + a.atan2(b);
        let dec = c.atan2(a.hypot(b));
        Some((ra.to_degrees().rem_euclid(360.0), dec.to_degrees()))
    }

    /// The 0-based pixel of the sky position (RA, Dec in degrees); `None` where the projection does not reach
    /// (the far hemisphere of TAN or SIN).
    pub fn world_to_pixel(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let pole = self.pole().ok()?;
        let (alpha, delta) = (ra_deg.to_radians(), dec_deg.to_radians());
        // Paper II eq. 5: phi = phi_p + arg(sin delta cos delta_p - cos delta sin delta_p cos(alpha - alpha_p),
        //                                  -cos delta sin(alpha - alpha_p)),
        //                 theta = asin(sin delta sin delta_p + cos delta cos delta_p cos(alpha - alpha_p)).
        let (sin_d, cos_d) = delta.sin_cos();
        let (sin_dp, cos_dp) = pole.delta_p.sin_cos();
        let (sin_da, cos_da) = (alpha - pole.alpha_p).sin_cos();
        let a = -cos_d * sin_da;
        let b = sin_d * cos_dp - cos_d * sin_dp * cos_da;
        let c = sin_d * sin_dp + cos_d * cos_dp * cos_da;
        let phi = pole.phi_p + a.atan2(b);
        let theta = c.atan2(a.hypot(b));
        let (px, py) = self.projection.native_to_plane(phi, theta)?;
        let (ix, iy) = (px.to_degrees(), py.to_degrees());
        let (ix, iy) = match &self.tpv {
            Some(tpv) => tpv.invert(ix, iy),
            None => (ix, iy),
        };
        // Invert CD (Paper I sec. 2.1.2).
        let [[a11, a12], [a21, a22]] = self.cd_deg;
        let det = a11 * a22 - a12 * a21;
        let du = (a22 * ix - a12 * iy) / det;
        let dv = (-a21 * ix + a11 * iy) / det;
        let (u, v) = match &self.sip {
            Some(sip) => undistort(sip, du, dv),
            None => (du, dv),
        };
        Some((u + self.crpix[0] - 1.0, v + self.crpix[1] - 1.0))
    }
}

/// The offsets (u, v) with u + f(u, v) = du, v + g(u, v) = dv: a first guess from AP/BP (Shupe et al. 2005,
/// eq. 3-4) when given, then fixed-point iteration (the distortion is a small correction, so the map is a
/// contraction).
fn undistort(sip: &Sip, du: f64, dv: f64) -> (f64, f64) {
    let (mut u, mut v) = match (&sip.ap, &sip.bp) {
        (Some(ap), Some(bp)) => (du + ap.at(du, dv), dv + bp.at(du, dv)),
        _ => (du, dv),
    };
    for _ in 0..SIP_INVERSE_ITERATIONS {
        let (nu, nv) = (du - sip.a.at(u, v), dv - sip.b.at(u, v));
        let step = (nu - u).hypot(nv - v);
        (u, v) = (nu, nv);
        if step < SIP_INVERSE_TOLERANCE_PX {
            break;
        }
    }
    (u, v)
}

/// Axis names of celestial CTYPEs (Paper II sec. 3.1): equatorial, galactic, ecliptic, supergalactic, helioecliptic.
const CELESTIAL_AXES: &[&str] = &[
    "RA", "DEC", "GLON", "GLAT", "ELON", "ELAT", "SLON", "SLAT", "HLON", "HLAT",
];

/// The projection codes read, for error messages.
const PROJECTIONS_READ: &str =
    "TAN, SIN, ARC, ZEA, STG and CAR, each optionally with -SIP, and TPV";

/// A CTYPEi split into its axis name, projection code and distortion suffix ("RA---TAN-SIP" -> RA, TAN, -SIP);
/// `None` when it is no celestial axis at all.
fn split_ctype(ctype: &str) -> Option<(&str, &str, &str)> {
    let axis = ctype.get(..4).unwrap_or(ctype).trim_end_matches('-');
    if !CELESTIAL_AXES.contains(&axis) {
        return None;
    }
    Some((
        axis,
        ctype.get(5..8).unwrap_or(""),
        ctype.get(8..).unwrap_or(""),
    ))
}

impl Wcs {
    /// The celestial WCS of a header: `Ok(None)` when neither CTYPE1 nor CTYPE2 is celestial (a radar map, or no
    /// WCS), an error naming the keyword when the header declares one kessler cannot read exactly.
    pub fn from_keywords(k: &impl Keywords) -> Result<Option<Wcs>, WcsError> {
        let (c1, c2) = (k.text("CTYPE1"), k.text("CTYPE2"));
        let (s1, s2) = (
            c1.as_deref().and_then(split_ctype),
            c2.as_deref().and_then(split_ctype),
        );
        let ((axis1, code1, suffix1), (axis2, code2, suffix2)) = match (s1, s2) {
            (None, None) => return Ok(None),
            (Some(a), Some(b)) => (a, b),
            (Some(_), None) => {
                return Err(mismatch("CTYPE2", c2.as_deref(), c1.as_deref()));
            }
            (None, Some(_)) => {
                return Err(mismatch("CTYPE1", c1.as_deref(), c2.as_deref()));
            }
        };
        if (axis1, axis2) != ("RA", "DEC") {
            return Err(WcsError::bad(
                "CTYPE1",
                format!(
                    "axes {axis1}/{axis2}: kessler reads equatorial coordinates with RA on axis 1 and DEC on axis 2"
                ),
            ));
        }
        let sin_params = || -> Result<Projection, WcsError> {
            Ok(Projection::Sin {
                xi: k.number("PV2_1")?.unwrap_or(0.0),
                eta: k.number("PV2_2")?.unwrap_or(0.0),
            })
        };
        let projection = match code1 {
            "TAN" | "TPV" => Projection::Tan,
            "SIN" => sin_params()?,
            "ARC" => Projection::Arc,
            "ZEA" => Projection::Zea,
            "STG" => Projection::Stg,
            "CAR" => Projection::Car,
            "" => {
                return Err(WcsError::bad(
                    "CTYPE1",
                    format!(
                        "'{}' has no projection code (kessler reads {PROJECTIONS_READ})",
                        c1.as_deref().unwrap_or_default()
                    ),
                ));
            }
            other => {
                return Err(WcsError::bad(
                    "CTYPE1",
                    format!(
                        "projection '{other}' is not supported (kessler reads {PROJECTIONS_READ})"
                    ),
                ));
            }
        };
        if code1 != code2 || suffix1 != suffix2 {
            return Err(WcsError::bad(
                "CTYPE2",
                format!(
                    "'{}' does not pair with CTYPE1 '{}' (both axes need the same projection)",
                    c2.as_deref().unwrap_or_default(),
                    c1.as_deref().unwrap_or_default()
                ),
            ));
        }
        if !matches!(suffix1, "" | "-SIP") || (code1 == "TPV" && !suffix1.is_empty()) {
            return Err(WcsError::bad(
                "CTYPE1",
                format!("distortion '{suffix1}' is not supported (kessler reads -SIP)"),
            ));
        }
        let tpv = if code1 == "TPV" {
            // SCAMP writes TPV with CDi_j. With PCi_j + CDELTi, WCSLIB applies the polynomials before CDELTi
            // (to coordinates that are not yet degrees), which the convention does not define: refused.
            let mut has_cd = false;
            for key in ["CD1_1", "CD1_2", "CD2_1", "CD2_2"] {
                has_cd |= k.number(key)?.is_some();
            }
            if !has_cd {
                let key = if k.number("PC1_1")?.is_some() {
                    "PC1_1"
                } else {
                    "CDELT1"
                };
                return Err(WcsError::bad(
                    key,
                    "TPV is read with a CDi_j matrix only (the TPV convention is defined on CD)",
                ));
            }
            Some(parse_tpv(k)?)
        } else {
            refuse_other_pv(k, &projection)?;
            None
        };
        for key in ["CUNIT1", "CUNIT2"] {
            if let Some(unit) = k.text(key)
                && !unit.eq_ignore_ascii_case("deg")
            {
                return Err(WcsError::bad(
                    key,
                    format!("unit '{unit}': celestial axes must be in 'deg'"),
                ));
            }
        }
        check_reference_system(k)?;
        let need = |key: &str| {
            k.number(key)?.ok_or_else(|| {
                WcsError::missing(key, "missing, and the header declares a celestial WCS")
            })
        };
        let crpix = [need("CRPIX1")?, need("CRPIX2")?];
        let crval_deg = [need("CRVAL1")?, need("CRVAL2")?];
        let cd_deg = linear_part(k)?;
        let sip = if suffix1 == "-SIP" {
            let ap = parse_sip(k, "AP", false)?;
            let bp = parse_sip(k, "BP", false)?;
            if ap.is_some() != bp.is_some() {
                let absent = if ap.is_none() { "AP_ORDER" } else { "BP_ORDER" };
                return Err(WcsError::missing(
                    absent,
                    "missing: the SIP inverse needs both AP and BP, or neither",
                ));
            }
            Some(Sip {
                a: parse_sip(k, "A", true)?.expect("required"),
                b: parse_sip(k, "B", true)?.expect("required"),
                ap,
                bp,
            })
        } else {
            None
        };
        let wcs = Wcs {
            crpix,
            crval_deg,
            cd_deg,
            projection,
            lonpole_deg: k.number("LONPOLE")?,
            latpole_deg: k.number("LATPOLE")?,
            sip,
            tpv,
        };
        wcs.check()?;
        Ok(Some(wcs))
    }

    /// The header cards of this WCS as (keyword, value) pairs, the value already in FITS form (strings quoted);
    /// what [`Wcs::from_keywords`] reads back to an equal value.
    pub fn to_keywords(&self) -> Vec<(String, String)> {
        let quoted = |s: &str| format!("'{s:<8}'");
        let code = match self.tpv {
            Some(_) => "TPV",
            None => self.projection.code(),
        };
        let suffix = if self.sip.is_some() { "-SIP" } else { "" };
        let mut out = vec![
            ("RADESYS".to_string(), quoted("ICRS")),
            ("CTYPE1".into(), quoted(&format!("RA---{code}{suffix}"))),
            ("CTYPE2".into(), quoted(&format!("DEC--{code}{suffix}"))),
            ("CUNIT1".into(), quoted("deg")),
            ("CUNIT2".into(), quoted("deg")),
        ];
        // `{:E}` writes the shortest form that reads back to the same f64.
        let num = |v: f64| format!("{v:E}");
        for (i, v) in self.crpix.iter().enumerate() {
            out.push((format!("CRPIX{}", i + 1), num(*v)));
        }
        for (i, v) in self.crval_deg.iter().enumerate() {
            out.push((format!("CRVAL{}", i + 1), num(*v)));
        }
        for (i, row) in self.cd_deg.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                out.push((format!("CD{}_{}", i + 1, j + 1), num(*v)));
            }
        }
        if let Projection::Sin { xi, eta } = self.projection {
            out.push(("PV2_1".into(), num(xi)));
            out.push(("PV2_2".into(), num(eta)));
        }
        if let Some(tpv) = &self.tpv {
            for (axis, terms) in [(1, &tpv.pv1), (2, &tpv.pv2)] {
                for &(k, c) in terms {
                    out.push((format!("PV{axis}_{k}"), num(c)));
                }
            }
        }
        if let Some(v) = self.lonpole_deg {
            out.push(("LONPOLE".into(), num(v)));
        }
        if let Some(v) = self.latpole_deg {
            out.push(("LATPOLE".into(), num(v)));
        }
        if let Some(sip) = &self.sip {
            let polys = [
                ("A", Some(&sip.a)),
                ("B", Some(&sip.b)),
                ("AP", sip.ap.as_ref()),
                ("BP", sip.bp.as_ref()),
            ];
            for (name, poly) in polys {
                let Some(poly) = poly else { continue };
                out.push((format!("{name}_ORDER"), poly.order.to_string()));
                for &(p, q, c) in &poly.terms {
                    out.push((format!("{name}_{p}_{q}"), num(c)));
                }
            }
        }
        out
    }
}

/// The error for a celestial CTYPE whose partner (`key`, valued `other`) is not celestial.
fn mismatch(key: &str, value: Option<&str>, partner: Option<&str>) -> WcsError {
    let problem = format!(
        "'{}' does not pair with the celestial '{}' of the other axis",
        value.unwrap_or_default(),
        partner.unwrap_or_default()
    );
    match value {
        None => WcsError::missing(key, problem),
        Some(_) => WcsError::bad(key, problem),
    }
}

/// Refuse projection parameters this reader would otherwise ignore: PV1_m (a moved fiducial point, Paper II
/// sec. 2.5) and PV2_m beyond SIN's PV2_1/PV2_2, such as SCAMP's TPV polynomial written under TAN. Zero values
/// change nothing and pass.
fn refuse_other_pv(k: &impl Keywords, projection: &Projection) -> Result<(), WcsError> {
    let keys = (0..=4)
        .map(|m| format!("PV1_{m}"))
        .chain((0..=39).map(|m| format!("PV2_{m}")));
    for key in keys {
        let allowed =
            matches!(projection, Projection::Sin { .. }) && (key == "PV2_1" || key == "PV2_2");
        if !allowed && k.number(&key)?.is_some_and(|v| v != 0.0) {
            return Err(WcsError::bad(
                &key,
                format!(
                    "projection parameters are not read for {} (a TPV distortion or a moved fiducial point)",
                    projection.code()
                ),
            ));
        }
    }
    Ok(())
}

/// The TPV polynomials: PV1_0..PV1_39 and PV2_0..PV2_39 (absent ones 0). Their linear terms must be invertible:
/// without PV1_1 and PV2_1 every pixel would map to CRVAL.
fn parse_tpv(k: &impl Keywords) -> Result<Tpv, WcsError> {
    let mut tpv = Tpv {
        pv1: vec![],
        pv2: vec![],
    };
    for (axis, terms) in [(1, &mut tpv.pv1), (2, &mut tpv.pv2)] {
        for j in 0..TPV_TERMS as u32 {
            if let Some(c) = k.number(&format!("PV{axis}_{j}"))?
                && c != 0.0
            {
                terms.push((j, c));
            }
        }
    }
    // x' = PV1_1 x + PV1_2 y + ..., y' = PV2_1 y + PV2_2 x + ...
    let c = |terms: &[(u32, f64)], j| Tpv::coefficient(terms, j);
    let det = c(&tpv.pv1, 1) * c(&tpv.pv2, 1) - c(&tpv.pv1, 2) * c(&tpv.pv2, 2);
    if det == 0.0 || !det.is_finite() {
        let problem = "TPV's linear terms (PV1_1, PV1_2, PV2_1, PV2_2) are missing or singular";
        return Err(match k.number("PV1_1")? {
            Some(_) => WcsError::bad("PV1_1", problem),
            None => WcsError::missing("PV1_1", problem),
        });
    }
    Ok(tpv)
}

/// The reference system (FITS 4.0 sec. 8.3 and Paper II sec. 3.1): RADESYS ICRS, or FK5 at EQUINOX 2000
/// (EQUINOX absent means 2000 for FK5). Without RADESYS, EQUINOX (or the older EPOCH) picks FK4 before 1984 and
/// FK5 after; without either, ICRS.
fn check_reference_system(k: &impl Keywords) -> Result<(), WcsError> {
    let (radesys_key, radesys) = match k.text("RADESYS") {
        Some(v) => ("RADESYS", Some(v)),
        None => ("RADECSYS", k.text("RADECSYS")),
    };
    // Some writers give the equinox as the string 'J2000'; the standard's form is the number 2000.0.
    let year = |key: &str| match k.text(key).as_deref().map(str::trim) {
        Some("J2000" | "J2000.0") => Ok(Some(2000.0)),
        _ => k.number(key),
    };
    let (equinox_key, equinox) = match year("EQUINOX")? {
        Some(v) => ("EQUINOX", Some(v)),
        None => ("EPOCH", year("EPOCH")?),
    };
    let system = match radesys.as_deref().map(str::trim) {
        Some("ICRS") => return Ok(()),
        Some("FK5") => "FK5",
        Some(other) => {
            return Err(WcsError::bad(
                radesys_key,
                format!(
                    "reference system '{other}' is not read (kessler reads ICRS, or FK5 at EQUINOX 2000)"
                ),
            ));
        }
        None => match equinox {
            None => return Ok(()),
            Some(e) if e < 1984.0 => {
                return Err(WcsError::bad(
                    equinox_key,
                    format!(
                        "{e} without RADESYS means FK4, which is not read (kessler reads ICRS, or FK5 at EQUINOX 2000)"
                    ),
                ));
            }
            Some(_) => "FK5",
        },
    };
    match equinox {
        None => Ok(()),
        Some(2000.0) => Ok(()),
        Some(e) => Err(WcsError::bad(
            equinox_key,
            format!("{system} at equinox {e} is not read (only J2000; precess the header first)"),
        )),
    }
}

/// The CD matrix of a header from CDi_j, or PCi_j with CDELTi, or CDELTi with CROTA2.
///
/// A matrix may leave out elements (Paper I sec. 2.1.2: missing CDi_j are 0, missing PCi_j are those of the unit
/// matrix), but one that gives an off-diagonal element must give all four: half a rotation is a damaged header,
/// not a convention.
fn linear_part(k: &impl Keywords) -> Result<[[f64; 2]; 2], WcsError> {
    let read = |prefix: &str| -> Result<[[Option<f64>; 2]; 2], WcsError> {
        let e = |i: u32, j: u32| k.number(&format!("{prefix}{i}_{j}"));
        Ok([[e(1, 1)?, e(1, 2)?], [e(2, 1)?, e(2, 2)?]])
    };
    let (cd, pc) = (read("CD")?, read("PC")?);
    let any = |m: &[[Option<f64>; 2]; 2]| m.as_flattened().iter().any(Option::is_some);
    let whole = |prefix: &str, m: &[[Option<f64>; 2]; 2]| -> Result<(), WcsError> {
        if m[0][1].is_some() || m[1][0].is_some() {
            for (i, j) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
                if m[i - 1][j - 1].is_none() {
                    return Err(WcsError::missing(
                        &format!("{prefix}{i}_{j}"),
                        format!(
                            "missing, while the other off-diagonal {prefix} elements are given"
                        ),
                    ));
                }
            }
        }
        Ok(())
    };
    let cdelt = |i: u32| -> Result<f64, WcsError> {
        let key = format!("CDELT{i}");
        match k.number(&key)? {
            None => Err(WcsError::missing(
                &key,
                "missing, and there is no CDi_j matrix",
            )),
            Some(0.0) => Err(WcsError::bad(&key, "must not be 0")),
            Some(v) => Ok(v),
        }
    };
    if any(&cd) {
        if any(&pc) {
            return Err(WcsError::bad(
                "PC1_1",
                "both CDi_j and PCi_j are given (Paper I sec. 2.1.2 allows one)",
            ));
        }
        whole("CD", &cd)?;
        let matrix = cd.map(|row| row.map(|v| v.unwrap_or(0.0)));
        let [[a, b], [c, d]] = matrix;
        if a * d - b * c == 0.0 {
            return Err(WcsError::bad("CD1_1", "the CD matrix is singular"));
        }
        return Ok(matrix);
    }
    let (d1, d2) = (cdelt(1)?, cdelt(2)?);
    if any(&pc) {
        whole("PC", &pc)?;
        let [[p11, p12], [p21, p22]] = [
            [pc[0][0].unwrap_or(1.0), pc[0][1].unwrap_or(0.0)],
            [pc[1][0].unwrap_or(0.0), pc[1][1].unwrap_or(1.0)],
        ];
        if p11 * p22 - p12 * p21 == 0.0 {
            return Err(WcsError::bad("PC1_1", "the PC matrix is singular"));
        }
        // Paper I eq. 1-2: x_i = s_i sum_j m_ij (p_j - r_j), so CD_ij = CDELT_i PC_ij.
        return Ok([[d1 * p11, d1 * p12], [d2 * p21, d2 * p22]]);
    }
    // Paper II sec. 6.1: CROTA2 = rho gives PC1_1 = cos rho, PC1_2 = -(CDELT2 / CDELT1) sin rho,
    // PC2_1 = (CDELT1 / CDELT2) sin rho, PC2_2 = cos rho.
    let (s, c) = k.number("CROTA2")?.unwrap_or(0.0).to_radians().sin_cos();
    Ok([[d1 * c, -d2 * s], [d1 * s, d2 * c]])
}

/// The SIP polynomial `A`, `B`, `AP` or `BP` (Shupe et al. 2005): `<name>_ORDER` (0..=9) and the `<name>_p_q`
/// coefficients with `p + q <= order` (absent ones are 0). `None` when `<name>_ORDER` is absent and not `required`.
fn parse_sip(
    k: &impl Keywords,
    name: &str,
    required: bool,
) -> Result<Option<SipPolynomial>, WcsError> {
    let key = format!("{name}_ORDER");
    let Some(order) = k.number(&key)? else {
        return if required {
            Err(WcsError::missing(
                &key,
                "missing, and CTYPE1 declares SIP distortion",
            ))
        } else {
            Ok(None)
        };
    };
    if !(0.0..=9.0).contains(&order) || order.fract() != 0.0 {
        return Err(WcsError::bad(
            &key,
            format!("{order} is not a SIP order in 0..=9"),
        ));
    }
    let order = order as u32;
    let mut terms = Vec::new();
    for p in 0..=order {
        for q in 0..=order - p {
            if let Some(c) = k.number(&format!("{name}_{p}_{q}"))?
                && c != 0.0
            {
                terms.push((p, q, c));
            }
        }
    }
    Ok(Some(SipPolynomial { order, terms }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Keywords from `KEY = value` lines, values as FITS writes them.
    struct Header(HashMap<String, String>);

    impl Header {
        fn new(lines: &[(&str, &str)]) -> Self {
            Header(
                lines
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        }
    }

    impl Keywords for Header {
        fn number(&self, key: &str) -> Result<Option<f64>, WcsError> {
            self.0
                .get(key)
                .map(|v| v.parse().map_err(|_| WcsError::bad(key, "not a number")))
                .transpose()
        }

        fn text(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| v.trim_matches('\'').trim().into())
        }
    }

    #[test]
    fn round_trip_is_exact_to_microarcseconds() {
        let wcs = Wcs::tan_centred(350.0, -62.0, 255.5, 255.5, 0.004, 17.0);
        for &(x, y) in &[(0.0, 0.0), (511.0, 3.0), (255.5, 255.5), (100.25, 400.75)] {
            let (ra, dec) = wcs.pixel_to_world(x, y).unwrap();
            let (x2, y2) = wcs.world_to_pixel(ra, dec).unwrap();
            assert!(
                (x - x2).abs() < 1e-8 && (y - y2).abs() < 1e-8,
                "({x},{y}) -> ({x2},{y2})"
            );
        }
    }

    #[test]
    fn reference_pixel_maps_to_reference_point_and_east_is_left() {
        for projection in [
            Projection::Tan,
            Projection::Sin { xi: 0.0, eta: 0.0 },
            Projection::Arc,
            Projection::Zea,
            Projection::Stg,
            Projection::Car,
        ] {
            let wcs = Wcs {
                projection,
                ..Wcs::tan_centred(10.0, 20.0, 50.0, 60.0, 0.001, 0.0)
            };
            let (ra, dec) = wcs.pixel_to_world(50.0, 60.0).unwrap();
            assert!(
                (ra - 10.0).abs() < 1e-12 && (dec - 20.0).abs() < 1e-12,
                "{projection:?}: {ra} {dec}"
            );
            let (ra_left, _) = wcs.pixel_to_world(40.0, 60.0).unwrap();
            assert!(ra_left > 10.0, "{projection:?}");
            let (_, dec_up) = wcs.pixel_to_world(50.0, 70.0).unwrap();
            assert!(dec_up > 20.0, "{projection:?}");
        }
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
            ap: None,
            bp: None,
        }
    }

    #[test]
    fn sip_moves_pixels_by_its_polynomial_and_inverts() {
        let tan = Wcs {
            crpix: [1025.0, 1025.0],
            crval_deg: [335.536043385, -46.0175795986],
            cd_deg: [
                [-0.0021981979337, -5.87488597282e-05],
                [-5.88268286957e-05, 0.00219782147215],
            ],
            ..Wcs::tan_centred(0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        };
        let sip = Wcs {
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
        let (ra, dec) = sip.pixel_to_world(1024.0 + u, 1024.0).unwrap();
        let (x, y) = tan.world_to_pixel(ra, dec).unwrap();
        assert!(
            (x - (1024.0 + u + f)).abs() < 1e-6 && (y - (1024.0 + g)).abs() < 1e-6,
            "{x} {y}"
        );
        // The inverse undoes the distortion.
        for (px, py) in [(0.0, 0.0), (399.0, 17.0), (2000.0, 1500.0), (1024.0, 30.0)] {
            let (ra, dec) = sip.pixel_to_world(px, py).unwrap();
            let (bx, by) = sip.world_to_pixel(ra, dec).unwrap();
            assert!(
                (bx - px).abs() < 1e-7 && (by - py).abs() < 1e-7,
                "({px}, {py}) -> ({bx}, {by})"
            );
        }
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CTYPE1", "'RA---SIN'"),
            ("CTYPE2", "'DEC--SIN'"),
            ("CRPIX1", "100"),
            ("CRPIX2", "100"),
            ("CRVAL1", "10"),
            ("CRVAL2", "20"),
            ("CDELT1", "-0.001"),
            ("CDELT2", "0.001"),
            ("PC1_1", "0.9"),
            ("PC1_2", "0.1"),
            ("PC2_1", "-0.1"),
            ("PC2_2", "0.9"),
        ]
    }

    fn error_of(change: &[(&'static str, Option<&'static str>)]) -> WcsError {
        let mut lines = base();
        for &(key, value) in change {
            lines.retain(|(k, _)| *k != key);
            if let Some(v) = value {
                lines.push((key, v));
            }
        }
        Wcs::from_keywords(&Header::new(&lines)).unwrap_err()
    }

    #[test]
    fn malformed_headers_are_errors_naming_the_keyword() {
        assert!(Wcs::from_keywords(&Header::new(&base())).unwrap().is_some());
        // (keywords replaced or removed, the keyword the error names, text in its problem)
        type Change = &'static [(&'static str, Option<&'static str>)];
        let cases: &[(Change, &str, &str)] = &[
            (&[("CTYPE2", Some("'DEC--TAN'"))], "CTYPE2", "does not pair"),
            (&[("CTYPE2", None)], "CTYPE2", "does not pair"),
            (
                &[
                    ("CTYPE1", Some("'RA---XYZ'")),
                    ("CTYPE2", Some("'DEC--XYZ'")),
                ],
                "CTYPE1",
                "'XYZ' is not supported",
            ),
            (
                &[("CTYPE1", Some("'RA'")), ("CTYPE2", Some("'DEC'"))],
                "CTYPE1",
                "no projection code",
            ),
            (
                &[
                    ("CTYPE1", Some("'GLON-SIN'")),
                    ("CTYPE2", Some("'GLAT-SIN'")),
                ],
                "CTYPE1",
                "equatorial",
            ),
            (&[("CRVAL2", None)], "CRVAL2", "missing"),
            (&[("CRPIX1", None)], "CRPIX1", "missing"),
            (&[("PC2_1", None)], "PC2_1", "missing"),
            (
                &[
                    ("PC1_1", Some("1")),
                    ("PC1_2", Some("1")),
                    ("PC2_1", Some("1")),
                    ("PC2_2", Some("1")),
                ],
                "PC1_1",
                "singular",
            ),
            (&[("CD1_1", Some("0.001"))], "PC1_1", "both"),
            (&[("CDELT1", None)], "CDELT1", "missing"),
            (&[("RADESYS", Some("'FK4'"))], "RADESYS", "'FK4'"),
            (&[("RADESYS", Some("'GAPPT'"))], "RADESYS", "'GAPPT'"),
            (
                &[("RADESYS", Some("'FK5'")), ("EQUINOX", Some("1950"))],
                "EQUINOX",
                "1950",
            ),
            (&[("EQUINOX", Some("1950"))], "EQUINOX", "FK4"),
            (&[("CUNIT1", Some("'rad'"))], "CUNIT1", "deg"),
            (&[("PV2_3", Some("0.1"))], "PV2_3", "not read"),
            (
                &[
                    ("CTYPE1", Some("'RA---TAN-SIP'")),
                    ("CTYPE2", Some("'DEC--TAN-SIP'")),
                ],
                "A_ORDER",
                "missing",
            ),
            (&[("CRVAL2", Some("91"))], "CRVAL2", "-90..=90"),
            (
                &[
                    ("CTYPE1", Some("'RA---TPV'")),
                    ("CTYPE2", Some("'DEC--TPV'")),
                ],
                "PC1_1",
                "CDi_j matrix only",
            ),
        ];
        for (change, keyword, text) in cases {
            let err = error_of(change);
            assert_eq!(err.keyword, *keyword, "{change:?}: {err}");
            assert!(err.problem.contains(text), "{change:?}: {err}");
        }
    }

    #[test]
    fn accepted_reference_systems_and_no_wcs() {
        for change in [
            &[("RADESYS", Some("'ICRS'"))][..],
            &[("RADESYS", Some("'FK5'"))],
            &[("RADESYS", Some("'FK5'")), ("EQUINOX", Some("2000.0"))],
            &[("EQUINOX", Some("2000"))],
            &[("RADESYS", Some("'FK5'")), ("EQUINOX", Some("'J2000'"))],
        ] {
            let mut lines = base();
            lines.extend(change.iter().map(|(k, v)| (*k, v.unwrap())));
            assert!(Wcs::from_keywords(&Header::new(&lines)).unwrap().is_some());
        }
        let radar = Header::new(&[("CTYPE1", "'RANGE'"), ("CTYPE2", "'TIME'")]);
        assert_eq!(Wcs::from_keywords(&radar).unwrap(), None);
        assert_eq!(Wcs::from_keywords(&Header::new(&[])).unwrap(), None);
    }

    #[test]
    fn keywords_read_back_to_the_same_wcs() {
        // The reader lists terms in (p, q) order.
        let mut sip = lco_like_sip();
        sip.a.terms.sort_by_key(|&(p, q, _)| (p, q));
        sip.b.terms.sort_by_key(|&(p, q, _)| (p, q));
        let mut wcs = Wcs {
            projection: Projection::Sin {
                xi: 0.01,
                eta: -0.02,
            },
            lonpole_deg: Some(170.0),
            latpole_deg: Some(20.0),
            sip: Some(Sip {
                ap: Some(sip.b.clone()),
                bp: Some(sip.a.clone()),
                ..sip
            }),
            ..Wcs::tan_centred(123.456789012345, -33.3, 511.5, 255.25, 3.3e-4, 33.0)
        };
        wcs.cd_deg[0][1] *= 1.1;
        let mut tpv = Wcs {
            tpv: Some(Tpv {
                pv1: vec![(1, 1.0001), (2, 2e-4), (7, -0.01), (11, 3e-3)],
                pv2: vec![(0, 1e-5), (1, 0.9998), (3, 1e-4)],
            }),
            ..Wcs::tan_centred(3.0, 4.0, 5.0, 6.0, 1e-3, 7.0)
        };
        tpv.latpole_deg = Some(4.0);
        for wcs in [wcs, tpv] {
            let keywords = wcs.to_keywords();
            let lines: Vec<(&str, &str)> = keywords
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(Wcs::from_keywords(&Header::new(&lines)).unwrap(), Some(wcs));
        }
    }

    #[test]
    fn tpv_inverts() {
        let wcs = Wcs {
            tpv: Some(Tpv {
                pv1: vec![(1, 1.0001), (2, 2e-4), (3, 1e-3), (7, -0.01), (11, 3e-3)],
                pv2: vec![(1, 0.9998), (2, -1e-4), (4, 2e-3), (23, 1e-3)],
            }),
            ..Wcs::tan_centred(150.0, 2.0, 1024.0, 1024.0, 2.7e-4, 30.0)
        };
        for (x, y) in [
            (0.0, 0.0),
            (1024.0, 1024.0),
            (1024.5, 1023.5),
            (2047.0, 100.0),
        ] {
            let (ra, dec) = wcs.pixel_to_world(x, y).unwrap();
            let (bx, by) = wcs.world_to_pixel(ra, dec).unwrap();
            assert!((bx - x).hypot(by - y) < 1e-7, "({x}, {y}) -> ({bx}, {by})");
        }
    }

    #[test]
    fn a_native_pole_that_does_not_exist_is_refused_as_wcslib_refuses_it() {
        // CAR at CRVAL2 = 20 with LONPOLE = 170: Paper II eq. 8 has no solution in -90..=90 (WCSLIB's celset
        // fails on this header too, "No valid solution for latp").
        let car = Wcs {
            projection: Projection::Car,
            lonpole_deg: Some(170.0),
            latpole_deg: Some(-20.0),
            ..Wcs::tan_centred(100.0, 20.0, 400.0, 300.0, 0.02, 15.0)
        };
        assert_eq!(car.check().unwrap_err().keyword, "LONPOLE");
        assert_eq!(car.pixel_to_world(400.0, 300.0), None);
    }

    #[test]
    fn the_envelope_carries_every_projection_and_older_json_reads_as_tan() {
        use crate::{Frame, FrameHeader, envelope};
        for projection in [
            Projection::Sin { xi: 0.1, eta: 0.0 },
            Projection::Car,
            Projection::Zea,
        ] {
            let frame = Frame {
                header: FrameHeader {
                    frame_id: "f".into(),
                    sensor_id: "s".into(),
                    start: hifitime::Epoch::from_gregorian_utc_hms(2026, 3, 14, 21, 0, 0),
                    exposure_s: 1.0,
                    site: None,
                    wcs: Some(Wcs {
                        projection,
                        lonpole_deg: Some(180.0),
                        sip: Some(lco_like_sip()),
                        ..Wcs::tan_centred(10.0, 20.0, 0.5, 0.0, 0.001, 5.0)
                    }),
                    radar: None,
                    instrument: None,
                },
                pixels: ndarray::array![[1.0, 2.0]],
            };
            let bytes = envelope::encode(&frame).unwrap();
            assert_eq!(envelope::decode(&bytes).unwrap(), frame);
        }
        let old =
            r#"{"crpix": [1, 1], "crval_deg": [10, 20], "cd_deg": [[-0.001, 0], [0, 0.001]]}"#;
        let wcs: Wcs = serde_json::from_str(old).unwrap();
        assert_eq!(wcs.projection, Projection::Tan);
    }
}
