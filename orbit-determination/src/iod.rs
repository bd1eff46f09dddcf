//! Initial orbit determination: Gibbs, Herrick-Gibbs, Gauss and double-r angles-only (Vallado 4th ed. sec.
//! 7.2-7.3), Lambert's problem for zero revolutions (sec. 7.6), and radar: positions from range + az/el, or a
//! single beam-park crossing under a circular orbit.

use hifitime::Epoch;

use crate::fit::Problem;
use crate::linalg::{V3, add, angle, cross, dot, inverse3, norm, scale};
use crate::measurement::{Measured, Observation, TrackingObservation, position_from_range_az_el};
use crate::propagator::{EARTH_RADIUS_KM, MU_KM3_S2, StateGcrf};
use crate::{DoubleRFailure, IodError, OdError};

/// Below this separation (rad) between position vectors, Gibbs loses accuracy and Herrick-Gibbs is used
/// (Vallado 4th ed. sec. 7.3.2 recommends Herrick-Gibbs under about 1-5 deg).
const GIBBS_MIN_ANGLE_RAD: f64 = 5.0 * std::f64::consts::PI / 180.0;
/// Iterations of the least-squares refinement of each Gauss candidate.
const REFINE_ITERATIONS: usize = 15;

/// Velocity (km/s) at `r2` from three coplanar position vectors (km) by Gibbs' method, Vallado 4th ed.
/// Algorithm 54, gravitational parameter `mu` (km^3/s^2).
pub fn gibbs(r1: [f64; 3], r2: [f64; 3], r3: [f64; 3], mu: f64) -> Result<[f64; 3], OdError> {
    let (m1, m2, m3) = (norm(r1), norm(r2), norm(r3));
    // Z12 = r1 x r2, Z23 = r2 x r3, Z31 = r3 x r1;
    // N = |r1| Z23 + |r2| Z31 + |r3| Z12, D = Z12 + Z23 + Z31,
    // S = (|r2| - |r3|) r1 + (|r3| - |r1|) r2 + (|r1| - |r2|) r3, B = D x r2,
    // L_g = sqrt(mu / (|N| |D|)), v2 = L_g / |r2| B + L_g S.
    let z12 = cross(r1, r2);
    let z23 = cross(r2, r3);
    let z31 = cross(r3, r1);
    let n = add(add(scale(m1, z23), scale(m2, z31)), scale(m3, z12));
    let d = add(add(z12, z23), z31);
    let s = add(
        add(scale(m2 - m3, r1), scale(m3 - m1, r2)),
        scale(m1 - m2, r3),
    );
    let b = cross(d, r2);
    let (nn, dn) = (norm(n), norm(d));
    if nn * dn == 0.0 || !(nn * dn).is_finite() {
        return Err(IodError::GibbsDegenerate.into());
    }
    let lg = (mu / (nn * dn)).sqrt();
    Ok(add(scale(lg / m2, b), scale(lg, s)))
}

/// Velocity (km/s) at `r2` from three closely spaced position vectors (km) at times `t1 < t2 < t3` (s) by the
/// Herrick-Gibbs method, Vallado 4th ed. Algorithm 55.
pub fn herrick_gibbs(r: [[f64; 3]; 3], t_s: [f64; 3], mu: f64) -> [f64; 3] {
    let (dt21, dt31, dt32) = (t_s[1] - t_s[0], t_s[2] - t_s[0], t_s[2] - t_s[1]);
    let (m1, m2, m3) = (norm(r[0]), norm(r[1]), norm(r[2]));
    // v2 = -dt32 (1/(dt21 dt31) + mu/(12 r1^3)) r1 + (dt32 - dt21)(1/(dt21 dt32) + mu/(12 r2^3)) r2
    //      + dt21 (1/(dt32 dt31) + mu/(12 r3^3)) r3
    let c1 = -dt32 * (1.0 / (dt21 * dt31) + mu / (12.0 * m1.powi(3)));
    let c2 = (dt32 - dt21) * (1.0 / (dt21 * dt32) + mu / (12.0 * m2.powi(3)));
    let c3 = dt21 * (1.0 / (dt32 * dt31) + mu / (12.0 * m3.powi(3)));
    add(add(scale(c1, r[0]), scale(c2, r[1])), scale(c3, r[2]))
}

/// One root of the Gauss method: the state at the middle observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussSolution {
    /// Position at the middle observation (km), in the frame of the inputs (GCRF in this crate).
    pub r2_km: [f64; 3],
    /// Velocity at the middle observation (km/s), same frame.
    pub v2_km_s: [f64; 3],
}

/// Gauss angles-only method, Vallado 4th ed. Algorithm 52, without the iterative improvement: unit lines of
/// sight `los` and site positions `sites` (km, inertial) at times `t_s` (s), `t1 < t2 < t3`.
///
/// Returns one [`GaussSolution`] per admissible positive root of the eighth-degree range polynomial
/// of Algorithm 52, velocity by Gibbs, or Herrick-Gibbs when the position vectors are less than 5 deg apart.
pub fn gauss(
    los: [[f64; 3]; 3],
    sites: [[f64; 3]; 3],
    t_s: [f64; 3],
    mu: f64,
) -> Result<Vec<GaussSolution>, OdError> {
    let tau1 = t_s[0] - t_s[1];
    let tau3 = t_s[2] - t_s[1];
    let span = tau3 - tau1;
    if tau1 >= 0.0 || tau3 <= 0.0 {
        return Err(IodError::GaussTimes.into());
    }
    // Algorithm 52: a1 = tau3/(tau3 - tau1), a1u = tau3((tau3 - tau1)^2 - tau3^2)/(6(tau3 - tau1)),
    // a3 = -tau1/(tau3 - tau1), a3u = -tau1((tau3 - tau1)^2 - tau1^2)/(6(tau3 - tau1)).
    let a1 = tau3 / span;
    let a1u = tau3 * (span * span - tau3 * tau3) / (6.0 * span);
    let a3 = -tau1 / span;
    let a3u = -tau1 * (span * span - tau1 * tau1) / (6.0 * span);
    // M = L^-1 [R_site], with L = [L1 L2 L3] as columns.
    let l_cols = [
        [los[0][0], los[1][0], los[2][0]],
        [los[0][1], los[1][1], los[2][1]],
        [los[0][2], los[1][2], los[2][2]],
    ];
    let linv = inverse3(&l_cols).ok_or_else(|| OdError::from(IodError::GaussCoplanar))?;
    let r_cols = [
        [sites[0][0], sites[1][0], sites[2][0]],
        [sites[0][1], sites[1][1], sites[2][1]],
        [sites[0][2], sites[1][2], sites[2][2]],
    ];
    let m = crate::linalg::mat_mul(&linv, &r_cols);
    // d1 = M21 a1 - M22 + M23 a3, d2 = M21 a1u + M23 a3u, C = L2 . R2.
    let d1 = m[1][0] * a1 - m[1][1] + m[1][2] * a3;
    let d2 = m[1][0] * a1u + m[1][2] * a3u;
    let c = dot(los[1], sites[1]);
    // Range polynomial: r2^8 - (d1^2 + 2 C d1 + R2^2) r2^6 - 2 mu (C d2 + d1 d2) r2^3 - mu^2 d2^2 = 0.
    let p6 = -(d1 * d1 + 2.0 * c * d1 + dot(sites[1], sites[1]));
    let p3 = -2.0 * mu * (c * d2 + d1 * d2);
    let p0 = -mu * mu * d2 * d2;
    let poly = |x: f64| x.powi(8) + p6 * x.powi(6) + p3 * x.powi(3) + p0;
    let mut out = Vec::new();
    for r2 in positive_roots(poly, 0.5 * EARTH_RADIUS_KM, 1.0e6) {
        // u = mu / r2^3, c1 = a1 + a1u u, c2 = -1, c3 = a3 + a3u u; [c_i rho_i] = M [-c_i].
        let u = mu / r2.powi(3);
        let cc = [a1 + a1u * u, -1.0, a3 + a3u * u];
        let rhs = [-cc[0], -cc[1], -cc[2]];
        let crho = crate::linalg::mat_vec(&m, rhs);
        let rho = [crho[0] / cc[0], crho[1] / cc[1], crho[2] / cc[2]];
        if rho.iter().any(|p| *p <= 0.0 || !p.is_finite()) {
            continue;
        }
        let r: [V3; 3] = std::array::from_fn(|i| add(scale(rho[i], los[i]), sites[i]));
        if r.iter().any(|ri| norm(*ri) < 0.9 * EARTH_RADIUS_KM) {
            continue;
        }
        let small = angle(r[0], r[1]).min(angle(r[1], r[2])) < GIBBS_MIN_ANGLE_RAD;
        let v2 = if small {
            herrick_gibbs(r, t_s, mu)
        } else {
            gibbs(r[0], r[1], r[2], mu).unwrap_or_else(|_| herrick_gibbs(r, t_s, mu))
        };
        out.push(GaussSolution {
            r2_km: r[1],
            v2_km_s: v2,
        });
    }
    Ok(out)
}

/// Positive roots of `f` in `[lo, hi]`: sign changes on a logarithmic grid, refined by bisection.
fn positive_roots(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> Vec<f64> {
    const GRID: usize = 4000;
    let ratio = (hi / lo).powf(1.0 / GRID as f64);
    let mut roots = Vec::new();
    let mut a = lo;
    let mut fa = f(a);
    for _ in 0..GRID {
        let b = a * ratio;
        let fb = f(b);
        if fa == 0.0 || fa.signum() != fb.signum() {
            let (mut x0, mut x1, mut f0) = (a, b, fa);
            for _ in 0..200 {
                let xm = 0.5 * (x0 + x1);
                let fm = f(xm);
                if fm == 0.0 || (x1 - x0) <= 1e-13 * xm {
                    x0 = xm;
                    x1 = xm;
                    break;
                }
                if fm.signum() == f0.signum() {
                    x0 = xm;
                    f0 = fm;
                } else {
                    x1 = xm;
                }
            }
            roots.push(0.5 * (x0 + x1));
        }
        a = b;
        fa = fb;
    }
    roots
}

/// Iterations of the double-r Newton iteration.
const DOUBLE_R_ITERATIONS: usize = 50;

/// The point at geocentric distance `r` (km) along the line of sight `los` from `site`: the positive root `rho` of
/// `|R + rho L|^2 = r^2`, or `None` when the line of sight never reaches that distance.
fn along_sight(los: V3, site: V3, r: f64) -> Option<V3> {
    let c = 2.0 * dot(los, site);
    let disc = c * c - 4.0 * (dot(site, site) - r * r);
    if disc < 0.0 {
        return None;
    }
    let rho = 0.5 * (-c + disc.sqrt());
    (rho > 0.0).then(|| add(site, scale(rho, los)))
}

/// The double-r time errors `[F1, F2]` (s) for trial magnitudes `r = [|r1|, |r2|]`, with the positions at t1, t2
/// and t3 and the orbit's `a`, `p` and eccentric-anomaly differences (Vallado 4th ed. Algorithm 53).
struct DoubleR {
    f: [f64; 2],
    r: [V3; 3],
    a: f64,
    de32: f64,
}

fn double_r_errors(
    los: &[V3; 3],
    sites: &[V3; 3],
    tau: [f64; 2],
    r: [f64; 2],
    mu: f64,
) -> Option<DoubleR> {
    let r1 = along_sight(los[0], sites[0], r[0])?;
    let r2 = along_sight(los[1], sites[1], r[1])?;
    // The third position lies on the plane of the first two.
    let w = crate::linalg::unit(cross(r1, r2));
    let rho3 = -dot(sites[2], w) / dot(los[2], w);
    let r3 = add(sites[2], scale(rho3, los[2]));
    let (m1, m2, m3) = (norm(r1), norm(r2), norm(r3));
    // Signed true-anomaly differences (motion along w).
    let dnu =
        |a: V3, b: V3, ma: f64, mb: f64| (dot(a, b) / (ma * mb), dot(cross(a, b), w) / (ma * mb));
    let (c21, s21) = dnu(r1, r2, m1, m2);
    let (c31, s31) = dnu(r1, r3, m1, m3);
    let (c32, s32) = dnu(r2, r3, m2, m3);
    let p = if s31.atan2(c31).rem_euclid(std::f64::consts::TAU) > std::f64::consts::PI {
        let c1 = m2 * s32 / (m1 * s31);
        let c3 = m2 * s21 / (m3 * s31);
        (c1 * m1 + c3 * m3 - m2) / (c1 + c3 - 1.0)
    } else {
        let c1 = m1 * s31 / (m2 * s32);
        let c3 = m1 * s21 / (m3 * s32);
        (c3 * m3 - c1 * m2 + m1) / (-c1 + c3 + 1.0)
    };
    let ecos1 = p / m1 - 1.0;
    let ecos2 = p / m2 - 1.0;
    let ecos3 = p / m3 - 1.0;
    let esin2 = if s21.abs() > 1e-12 {
        (-c21 * ecos2 + ecos1) / s21
    } else {
        // From e cos nu3 = e cos nu2 cos dnu32 - e sin nu2 sin dnu32.
        (c32 * ecos2 - ecos3) / s32
    };
    let e2 = ecos2 * ecos2 + esin2 * esin2;
    let a = p / (1.0 - e2);
    if !(a > 0.0 && p > 0.0) {
        return None;
    }
    let n = (mu / a.powi(3)).sqrt();
    let big_s = m2 / p * (1.0 - e2).sqrt() * esin2;
    let big_c = m2 / p * (e2 + ecos2);
    let sin_de32 = m3 / (a * p).sqrt() * s32 - m3 / p * (1.0 - c32) * big_s;
    let cos_de32 = 1.0 - m2 * m3 / (a * p) * (1.0 - c32);
    let de32 = sin_de32.atan2(cos_de32);
    let sin_de21 = m1 / (a * p).sqrt() * s21 + m1 / p * (1.0 - c21) * big_s;
    let cos_de21 = 1.0 - m2 * m1 / (a * p) * (1.0 - c21);
    let de21 = sin_de21.atan2(cos_de21);
    let dm32 = de32 + 2.0 * big_s * (de32 / 2.0).sin().powi(2) - big_c * de32.sin();
    let dm12 = -de21 + 2.0 * big_s * (de21 / 2.0).sin().powi(2) + big_c * de21.sin();
    Some(DoubleR {
        f: [tau[0] - dm12 / n, tau[1] - dm32 / n],
        r: [r1, r2, r3],
        a,
        de32,
    })
}

/// Double-r angles-only method (Escobal 1965; Vallado 4th ed. Algorithm 53): unit lines of sight `los` and site
/// positions `sites` (km, inertial) at times `t_s` (s, `t1 < t2 < t3`), starting from the guesses
/// `r_guess = [|r1|, |r2|]` (km). Newton's method on the two Kepler time errors (central-difference partials)
/// until they vanish; the velocity at t2 from the f and g functions of the converged orbit. Elliptic orbits only.
pub fn double_r(
    los: [V3; 3],
    sites: [V3; 3],
    t_s: [f64; 3],
    r_guess: [f64; 2],
    mu: f64,
) -> Result<GaussSolution, OdError> {
    let tau = [t_s[0] - t_s[1], t_s[2] - t_s[1]];
    let fail = |why: DoubleRFailure| OdError::from(IodError::DoubleR(why));
    let mut r = r_guess;
    for _ in 0..DOUBLE_R_ITERATIONS {
        let now = double_r_errors(&los, &sites, tau, r, mu)
            .ok_or_else(|| fail(DoubleRFailure::NoEllipseThrough))?;
        let [f1, f2] = now.f;
        if f1.abs().max(f2.abs()) < (1e-10 * tau[0].abs().max(tau[1].abs())).max(1e-8) {
            let [_, r2, r3] = now.r;
            // f and g from r2 to r3 (Vallado eqs. 7-27 with the eccentric-anomaly difference).
            let m2 = norm(r2);
            let f = 1.0 - now.a / m2 * (1.0 - now.de32.cos());
            let g = tau[1] - (now.a.powi(3) / mu).sqrt() * (now.de32 - now.de32.sin());
            let v2 = scale(1.0 / g, crate::linalg::sub(r3, scale(f, r2)));
            return Ok(GaussSolution {
                r2_km: r2,
                v2_km_s: v2,
            });
        }
        let mut jac = [[0.0; 2]; 2];
        for k in 0..2 {
            let h = 1e-6 * r[k];
            let (mut plus, mut minus) = (r, r);
            plus[k] += h;
            minus[k] -= h;
            let fp = double_r_errors(&los, &sites, tau, plus, mu)
                .ok_or_else(|| fail(DoubleRFailure::NoEllipseNear))?;
            let fm = double_r_errors(&los, &sites, tau, minus, mu)
                .ok_or_else(|| fail(DoubleRFailure::NoEllipseNear))?;
            for (row, (p, m)) in jac.iter_mut().zip(fp.f.iter().zip(&fm.f)) {
                row[k] = (p - m) / (2.0 * h);
            }
        }
        let det = jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0];
        if det == 0.0 || !det.is_finite() {
            return Err(fail(DoubleRFailure::SingularStep));
        }
        r[0] -= (jac[1][1] * f1 - jac[0][1] * f2) / det;
        r[1] -= (jac[0][0] * f2 - jac[1][0] * f1) / det;
        if !(r[0] > 0.0 && r[1] > 0.0) {
            return Err(fail(DoubleRFailure::LeftAdmissibleRegion));
        }
    }
    Err(fail(DoubleRFailure::NoConvergence))
}

/// Geocentric distances (km) of the circular orbits consistent with one attributable: a line of sight `u` and its
/// rate `u_dot` (1/s, e.g. a streak's motion over its exposure), seen from a site at `site_r` (km) moving at
/// `site_v` (km/s), GCRF. With `r = R + rho u` and `v = R_dot + rho_dot u + rho u_dot`, a circular orbit needs
/// `r . v = 0` (which gives `rho_dot`) and `|v|^2 = mu / |r|`; the roots in `rho` between 100 km and 10^5 km are
/// the circular points of the admissible region (Milani, Gronchi, de' Michieli Vitturi & Knezevic, "Orbit
/// determination with very short arcs. I. Admissible regions", Celest. Mech. Dyn. Astr. 90, 2004).
pub fn circular_orbit_distances(u: V3, u_dot: V3, site_r: V3, site_v: V3, mu: f64) -> Vec<f64> {
    // r . u = R . u + rho > 0 for anything above the horizon.
    let excess = |rho: f64| {
        let r = add(site_r, scale(rho, u));
        let w = add(site_v, scale(rho, u_dot));
        let rho_dot = -dot(r, w) / dot(r, u);
        let v = add(w, scale(rho_dot, u));
        dot(v, v) - mu / norm(r)
    };
    positive_roots(excess, 100.0, 1e5)
        .into_iter()
        .map(|rho| norm(add(site_r, scale(rho, u))))
        .collect()
}

/// Starting geocentric distances of the double-r candidates of [`initial_orbit`], Earth radii: low LEO to GEO.
const DOUBLE_R_SEEDS_RE: [f64; 6] = [1.05, 1.2, 1.5, 2.0, 4.0, 6.6];

/// Angles-only initial orbit from at least three observations: Gauss (Vallado 4th ed. Algorithm 52) and double-r
/// (Algorithm 53, started from each Gauss root's distance, from the distances of the circular orbits that fit the
/// middle observation's motion (its neighbours in time: for streaks, the streak's own rate;
/// [`circular_orbit_distances`]) and from [`DOUBLE_R_SEEDS_RE`]) on the first, middle and last observation; every candidate is refined by least squares on all observations (this replaces Vallado's
/// f-and-g iteration and uses every observation) and the one with the lowest residual wins. Gauss loses its roots
/// on short or ill-conditioned arcs where double-r still converges. When refinement fails an unrefined candidate
/// stands as long as its residuals can be computed. Returns a GCRF state at the middle observation's epoch.
pub fn initial_orbit(obs: &[Observation]) -> Result<StateGcrf, OdError> {
    if obs.len() < 3 {
        return Err(OdError::TooFewObservations {
            got: obs.len(),
            needed: 3,
        });
    }
    let mut order: Vec<usize> = (0..obs.len()).collect();
    order.sort_by_key(|&i| obs[i].epoch);
    let (first, last) = (obs[order[0]].epoch, obs[order[obs.len() - 1]].epoch);
    let mid = first + (last - first) / 2;
    let i2 = *order[1..obs.len() - 1]
        .iter()
        .min_by_key(|&&i| (obs[i].epoch - mid).abs())
        .unwrap_or(&order[1]);
    let picks = [order[0], i2, order[obs.len() - 1]];
    let t2 = obs[i2].epoch;
    let t_s = picks.map(|i| (obs[i].epoch - t2).to_seconds());
    let los = picks.map(|i| obs[i].radec.unit_vector());
    let sites = picks.map(|i| obs[i].site.gcrf_km(obs[i].epoch));
    let mut candidates = gauss(los, sites, t_s, MU_KM3_S2).unwrap_or_default();
    let at = order.iter().position(|&i| i == i2).unwrap_or(1);
    let (before, after) = (
        &obs[order[at - 1]],
        &obs[order[(at + 1).min(obs.len() - 1)]],
    );
    let dt = (after.epoch - before.epoch).to_seconds();
    let circular = if dt > 0.0 {
        let u_dot = scale(
            1.0 / dt,
            crate::linalg::sub(after.radec.unit_vector(), before.radec.unit_vector()),
        );
        let site = &obs[i2].site;
        circular_orbit_distances(
            los[1],
            u_dot,
            sites[1],
            site.gcrf_velocity_km_s(t2),
            MU_KM3_S2,
        )
    } else {
        vec![]
    };
    let seeds: Vec<f64> = candidates
        .iter()
        .map(|c| norm(c.r2_km))
        .chain(circular)
        .chain(DOUBLE_R_SEEDS_RE.iter().map(|k| k * EARTH_RADIUS_KM))
        .collect();
    for r in seeds {
        if let Ok(c) = double_r(los, sites, t_s, [r, r], MU_KM3_S2) {
            // Seeds that reach a solution already held (within 1 km) add nothing to refine.
            if candidates
                .iter()
                .all(|k| norm(crate::linalg::sub(k.r2_km, c.r2_km)) > 1.0)
            {
                candidates.push(c);
            }
        }
    }
    let problem = Problem::optical(obs, t2);
    let all = vec![true; obs.len()];
    let mut best: Option<(f64, [f64; 6])> = None;
    for GaussSolution {
        r2_km: r2,
        v2_km_s: v2,
    } in candidates
    {
        let x0 = [r2[0], r2[1], r2[2], v2[0], v2[1], v2[2]];
        let scored = match problem.solve(x0, &all, REFINE_ITERATIONS) {
            Ok(run) => Some((run.rms, run.x)),
            Err(_) => problem
                .residuals(x0)
                .ok()
                .map(|r| (problem.weighted_rms(&r, &all), x0)),
        };
        if let Some((rms, x)) = scored
            && best.is_none_or(|(b, _)| rms < b)
        {
            best = Some((rms, x));
        }
    }
    best.map(|(_, x)| StateGcrf::from_array(t2, x))
        .ok_or_else(|| OdError::from(IodError::NoAngleSolution))
}

/// The method that gave an initial orbit from tracking of mixed kinds ([`initial_orbit_from_tracking`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IodMethod {
    /// Positions from range + az/el pairs, then Gibbs / Herrick-Gibbs.
    RangeAzEl,
    /// Angles only: Gauss, with double-r where Gauss has no admissible root.
    RaDec,
}

impl std::fmt::Display for IodMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IodMethod::RangeAzEl => "gibbs/herrick-gibbs (range + az/el)",
            IodMethod::RaDec => "gauss (RA/Dec)",
        })
    }
}

/// An initial orbit from tracking of any kinds (GCRF, at the epoch the method picks): three or more epochs with
/// range and az/el from one site give positions ([`initial_orbit_from_positions`]); otherwise three or more RA/Dec
/// ([`initial_orbit`]). Radar data are preferred: a position needs no range guess.
pub fn initial_orbit_from_tracking(
    obs: &[TrackingObservation],
) -> Result<(StateGcrf, IodMethod), OdError> {
    let mut positions = vec![];
    for o in obs {
        let Measured::Range { range_km, .. } = o.measured else {
            continue;
        };
        let azel = obs.iter().find_map(|p| match p.measured {
            Measured::AzEl { azel, .. } if p.epoch == o.epoch && p.site == o.site => Some(azel),
            _ => None,
        });
        if let Some(azel) = azel {
            positions.push((
                o.epoch,
                position_from_range_az_el(&o.site, o.epoch, range_km, azel),
            ));
        }
    }
    if positions.len() >= 3 {
        return Ok((
            initial_orbit_from_positions(&positions)?,
            IodMethod::RangeAzEl,
        ));
    }
    let optical: Vec<Observation> = obs
        .iter()
        .filter_map(|o| match o.measured {
            Measured::RaDec { radec, sigma_rad } => Some(Observation {
                id: String::new(),
                sensor_id: String::new(),
                site: o.site,
                epoch: o.epoch,
                radec,
                sigma_rad: sigma_rad[0].max(sigma_rad[1]),
            }),
            _ => None,
        })
        .collect();
    if optical.len() >= 3 {
        return Ok((initial_orbit(&optical)?, IodMethod::RaDec));
    }
    Err(IodError::NoMethodFits.into())
}

/// Initial orbit from three or more time-tagged GCRF positions (km) of one pass, e.g. radar range + az/el
/// ([`crate::measurement::position_from_range_az_el`]): the first, the one nearest the middle of the arc and the last,
/// by Gibbs (Vallado 4th ed. Algorithm 54) where they are at least 5 deg apart, else Herrick-Gibbs (Algorithm 55);
/// the state is at the middle position's epoch.
pub fn initial_orbit_from_positions(points: &[(Epoch, [f64; 3])]) -> Result<StateGcrf, OdError> {
    if points.len() < 3 {
        return Err(OdError::TooFewObservations {
            got: points.len(),
            needed: 3,
        });
    }
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|p| p.0);
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    let mid = first.0 + (last.0 - first.0) / 2;
    let middle = *sorted[1..sorted.len() - 1]
        .iter()
        .min_by_key(|p| (p.0 - mid).abs())
        .expect("three points or more");
    let r = [first.1, middle.1, last.1];
    let v2 = if angle(r[0], r[1]).min(angle(r[1], r[2])) >= GIBBS_MIN_ANGLE_RAD {
        gibbs(r[0], r[1], r[2], MU_KM3_S2)?
    } else {
        let t_s = [first.0, middle.0, last.0].map(|t| (t - middle.0).to_seconds());
        herrick_gibbs(r, t_s, MU_KM3_S2)
    };
    Ok(StateGcrf {
        epoch: middle.0,
        r_km: r[1],
        v_km_s: v2,
    })
}

/// Beam-park radar initial orbit: one detection of an object crossing a fixed beam (direction `beam` from `site`)
/// at reception time `t`, with its range (km) and range rate (km/s), under the assumption of a circular orbit
/// (the usual one for beam-park statistics, e.g. ESA's MASTER validation campaigns: a single crossing gives no
/// more). The position is the range along the beam; the speed is circular, `sqrt(mu / r)`, perpendicular to the
/// radius; the range rate fixes the velocity's direction in that plane up to a reflection about the plane of the
/// beam and the radius: `u . v = rho_dot + u . v_site` with `v = v_c (cos psi e1 + sin psi e2)` gives
/// `cos(psi - phi) = (rho_dot + u . v_site) / (v_c A)`. Returns both solutions (ascending and descending through
/// the beam), GCRF at `t`; an error when no circular orbit has that range rate.
pub fn initial_orbits_from_beam_park(
    site: &crate::site::Site,
    beam: crate::measurement::AzEl,
    t: Epoch,
    range_km: f64,
    range_rate_km_s: f64,
) -> Result<Vec<StateGcrf>, OdError> {
    let r = crate::measurement::position_from_range_az_el(site, t, range_km, beam);
    let site_r = site.gcrf_km(t);
    let u = crate::linalg::unit(crate::linalg::sub(r, site_r));
    let rn = norm(r);
    let v_c = (MU_KM3_S2 / rn).sqrt();
    let r_hat = scale(1.0 / rn, r);
    // An orthonormal pair perpendicular to the radius: the beam's component across the radius first (when the
    // beam looks straight up any perpendicular serves).
    let across = crate::linalg::sub(u, scale(dot(u, r_hat), r_hat));
    let e1 = if norm(across) > 1e-9 {
        crate::linalg::unit(across)
    } else {
        crate::linalg::unit(cross(r_hat, [0.0, 0.0, 1.0]))
    };
    let e2 = cross(r_hat, e1);
    let q = range_rate_km_s + dot(u, site.gcrf_velocity_km_s(t));
    let amplitude = v_c * dot(u, e1).hypot(dot(u, e2));
    let c = q / amplitude;
    if !c.is_finite() || c.abs() > 1.0 {
        return Err(IodError::BeamParkRangeRate {
            range_rate_km_s,
            radius_km: rn,
        }
        .into());
    }
    let phi = dot(u, e2).atan2(dot(u, e1));
    Ok([phi + c.acos(), phi - c.acos()]
        .into_iter()
        .map(|psi| StateGcrf {
            epoch: t,
            r_km: r,
            v_km_s: add(scale(v_c * psi.cos(), e1), scale(v_c * psi.sin(), e2)),
        })
        .collect())
}

/// Stumpff functions `C(z)` and `S(z)` (Curtis, Orbital Mechanics for Engineering Students, 3rd ed., eqs. 3.52-3.53):
/// the series `C = sum (-z)^k / (2k+2)!`, `S = sum (-z)^k / (2k+3)!` where `|z| < 1` (no cancellation), else the
/// trigonometric (z > 0) or hyperbolic (z < 0) closed forms.
fn stumpff(z: f64) -> (f64, f64) {
    if z.abs() < 1.0 {
        let (mut c, mut s) = (0.0, 0.0);
        let (mut tc, mut ts) = (0.5, 1.0 / 6.0);
        for k in 0..16 {
            c += tc;
            s += ts;
            let k = k as f64;
            tc *= -z / ((2.0 * k + 3.0) * (2.0 * k + 4.0));
            ts *= -z / ((2.0 * k + 4.0) * (2.0 * k + 5.0));
        }
        (c, s)
    } else if z > 0.0 {
        let q = z.sqrt();
        ((1.0 - q.cos()) / z, (q - q.sin()) / (q * z))
    } else {
        let q = (-z).sqrt();
        ((q.cosh() - 1.0) / -z, (q.sinh() - q) / (q * -z))
    }
}

/// Lambert's problem, zero revolutions: the velocities (km/s) at `r1` and `r2` (km) of the conic from `r1` to `r2`
/// in `tof_s` seconds, the short way (transfer angle under 180 deg) or the long way, gravitational parameter `mu`.
///
/// Universal variables (Bate, Mueller & White 1971 sec. 5.3; Curtis 3rd ed. Algorithm 5.2; Vallado 4th ed.
/// Algorithm 58): with `A = sin(dnu) sqrt(r1 r2 / (1 - cos dnu))` and `y(z) = r1 + r2 + A (z S(z) - 1) / sqrt(C(z))`,
/// the time of flight `sqrt(mu) t(z) = (y / C)^(3/2) S + A sqrt(y)` rises with `z` on `(-inf, 4 pi^2)`; its root is
/// bracketed and bisected to the last bit. Then `f = 1 - y / r1`, `g = A sqrt(y / mu)`, `g_dot = 1 - y / r2`,
/// `v1 = (r2 - f r1) / g`, `v2 = (g_dot r2 - r1) / g`.
pub fn lambert(
    r1: [f64; 3],
    r2: [f64; 3],
    tof_s: f64,
    long_way: bool,
    mu: f64,
) -> Result<Velocities, OdError> {
    let geometry = LambertGeometry::new(r1, r2, tof_s, long_way, mu)?;
    let excess = |z: f64| geometry.excess(z);
    let four_pi2 = 4.0 * std::f64::consts::PI * std::f64::consts::PI;
    // The time of flight grows without bound as z nears 4 pi^2; approach it until the bracket closes (C(z) loses
    // its digits to cancellation within about 1e-10 of it).
    let mut hi = four_pi2 * (1.0 - 1e-3);
    while excess(hi) < 0.0 {
        hi = 0.5 * (hi + four_pi2);
        if four_pi2 - hi < 1e-9 {
            return Err(IodError::LambertTooLong.into());
        }
    }
    let mut lo = -four_pi2;
    while excess(lo) > 0.0 {
        lo *= 2.0;
        if lo < -1e6 {
            return Err(IodError::LambertHyperbola.into());
        }
    }
    Ok(geometry.velocities(bisect(&excess, lo, hi)))
}

/// Velocities (km/s) at departure and arrival of a Lambert conic.
pub type Velocities = ([f64; 3], [f64; 3]);

/// Lambert's problem with `revolutions` (at least 1) full revolutions before arrival: on the interval
/// `(2 pi N)^2 < z < (2 pi (N + 1))^2` of the universal variable the time of flight has one minimum, and a time of
/// flight above it has two conics, returned as `[low z, high z]` (the branch below the minimum, then the one above;
/// the high-z branch has the smaller semi-major axis). Same formulation as [`lambert`]; an error when `tof_s` is
/// below the minimum time for that many revolutions.
pub fn lambert_revolutions(
    r1: [f64; 3],
    r2: [f64; 3],
    tof_s: f64,
    long_way: bool,
    revolutions: u32,
    mu: f64,
) -> Result<[Velocities; 2], OdError> {
    if revolutions == 0 {
        return Err(IodError::LambertZeroRevolutions.into());
    }
    let geometry = LambertGeometry::new(r1, r2, tof_s, long_way, mu)?;
    let n = f64::from(revolutions);
    let tau = std::f64::consts::TAU;
    // Inside the open interval, away from its ends where C(z) vanishes.
    let (z_lo, z_hi) = (
        (tau * n).powi(2) * (1.0 + 1e-9),
        (tau * (n + 1.0)).powi(2) * (1.0 - 1e-9),
    );
    let tof = |z: f64| geometry.excess(z);
    // Golden-section search for the minimum time of flight (undefined conics, y < 0, count as infinitely long).
    let finite = |z: f64| {
        let e = tof(z);
        if e == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            e
        }
    };
    let (mut a, mut b) = (z_lo, z_hi);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..200 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if finite(c) < finite(d) {
            b = d;
        } else {
            a = c;
        }
    }
    let z_min = 0.5 * (a + b);
    if finite(z_min) > 0.0 {
        return Err(IodError::LambertBelowMinimum {
            tof_s,
            revolutions,
            minimum_s: finite(z_min) + tof_s,
        }
        .into());
    }
    // Each branch rises from the minimum to infinity at its end of the interval.
    let low = bisect(&|z| -finite(z), z_lo, z_min);
    let high = bisect(&finite, z_min, z_hi);
    Ok([geometry.velocities(low), geometry.velocities(high)])
}

/// The root of `f` in `[lo, hi]` where `f(lo) < 0 <= f(hi)`, bisected to the last bit.
fn bisect(f: &dyn Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) < 0.0 { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// The fixed quantities of a Lambert problem in universal variables (see [`lambert`]).
struct LambertGeometry {
    r1: [f64; 3],
    r2: [f64; 3],
    m1: f64,
    m2: f64,
    a: f64,
    tof_s: f64,
    mu: f64,
}

impl LambertGeometry {
    fn new(
        r1: [f64; 3],
        r2: [f64; 3],
        tof_s: f64,
        long_way: bool,
        mu: f64,
    ) -> Result<Self, OdError> {
        let (m1, m2) = (norm(r1), norm(r2));
        let cos_dnu = (dot(r1, r2) / (m1 * m2)).clamp(-1.0, 1.0);
        let dnu = if long_way {
            std::f64::consts::TAU - cos_dnu.acos()
        } else {
            cos_dnu.acos()
        };
        if tof_s.is_nan()
            || tof_s <= 0.0
            || (1.0 - cos_dnu).abs() < 1e-14
            || (dnu - std::f64::consts::PI).abs() < 1e-12
        {
            return Err(IodError::LambertGeometry.into());
        }
        Ok(Self {
            r1,
            r2,
            m1,
            m2,
            a: dnu.sin() * (m1 * m2 / (1.0 - cos_dnu)).sqrt(),
            tof_s,
            mu,
        })
    }

    fn y(&self, z: f64) -> f64 {
        let (c, s) = stumpff(z);
        self.m1 + self.m2 + self.a * (z * s - 1.0) / c.sqrt()
    }

    /// Time of flight minus the wanted one (s); where y < 0 the conic does not exist: "too short".
    fn excess(&self, z: f64) -> f64 {
        let yz = self.y(z);
        if yz < 0.0 {
            return f64::NEG_INFINITY;
        }
        let (c, s) = stumpff(z);
        ((yz / c).powf(1.5) * s + self.a * yz.sqrt()) / self.mu.sqrt() - self.tof_s
    }

    /// `v1, v2` of the conic of `z` from the f and g functions.
    fn velocities(&self, z: f64) -> Velocities {
        let (r1, r2) = (self.r1, self.r2);
        let yz = self.y(z);
        let (f, g, g_dot) = (
            1.0 - yz / self.m1,
            self.a * (yz / self.mu).sqrt(),
            1.0 - yz / self.m2,
        );
        let v1 = scale(
            1.0 / g,
            [r2[0] - f * r1[0], r2[1] - f * r1[1], r2[2] - f * r1[2]],
        );
        let v2 = scale(
            1.0 / g,
            [
                g_dot * r2[0] - r1[0],
                g_dot * r2[1] - r1[1],
                g_dot * r2[2] - r1[2],
            ],
        );
        (v1, v2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_a_cubic() {
        let roots = positive_roots(|x| (x - 7000.0) * (x - 9000.0) * (x + 1.0), 1000.0, 1e5);
        assert_eq!(roots.len(), 2);
        assert!((roots[0] - 7000.0).abs() < 1e-6 && (roots[1] - 9000.0).abs() < 1e-6);
    }
}
