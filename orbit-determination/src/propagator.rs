//! Numerical propagation: two-body + zonal harmonics J2..J6, integrated with Dormand-Prince 5(4).
//!
//! Force model: the point mass plus the zonal terms J2..J6 of EGM-96 (Lemoine et al. 1998, NASA/TP-1998-206861;
//! unnormalised `J_n = -sqrt(2n+1) Cbar_n0`), about the CIP pole of the state's epoch
//! (the pole moves < 0.01" in a day, so it is held fixed over a propagation). No drag, no third bodies, no
//! tesserals: adequate over the hours-long arcs of a night (the fit absorbs the rest).
//!
//! Integrator: Dormand & Prince (1980) RK5(4)7M with local extrapolation, FSAL (Hairer, Norsett & Wanner,
//! Solving ODEs I, sec. II.5, table 5.2), step control on the max-norm error relative to
//! `RTOL * |y| + ATOL`, steps clipped to land exactly on every requested epoch (no interpolation).

use hifitime::{Duration, Epoch};
use serde::{Deserialize, Serialize};

use crate::OdError;
use crate::frames::cip_pole_gcrf;
use crate::linalg::{V3, dot, norm};

/// Earth gravitational parameter (km^3/s^2), EGM-96 / JGM-3.
pub const MU_KM3_S2: f64 = 398_600.441_5;
/// Earth equatorial radius of the gravity model (km), EGM-96 / JGM-3.
pub const EARTH_RADIUS_KM: f64 = 6_378.136_3;
/// Unnormalised zonal coefficients J2..J6 (index n - 2), EGM-96: `J_n = -sqrt(2n+1) Cbar_n0`.
const ZONALS: [f64; 5] = [
    1.082_626_683_553e-3,
    -2.532_656_485_33e-6,
    -1.619_621_591_37e-6,
    -2.272_960_828_69e-7,
    5.406_812_391_07e-7,
];
/// Relative tolerance of the integrator (per component, max norm).
const RTOL: f64 = 1e-10;
/// Absolute tolerance of the integrator (km for positions, km/s for velocities).
const ATOL: f64 = 1e-10;
/// Smallest step (s) before the integration is declared failed (a collision with the Earth, a bad state).
const MIN_STEP_S: f64 = 1e-6;
/// Step budget per sweep, a guard against runaway integrations.
const MAX_STEPS: usize = 1_000_000;

/// GCRF Cartesian state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StateGcrf {
    /// Epoch of the state (hifitime, UTC at the edges).
    pub epoch: Epoch,
    /// Position (km), GCRF.
    pub r_km: [f64; 3],
    /// Velocity (km/s), GCRF.
    pub v_km_s: [f64; 3],
}

impl StateGcrf {
    /// `[r, v]` (km, km/s).
    pub fn to_array(self) -> [f64; 6] {
        let (r, v) = (self.r_km, self.v_km_s);
        [r[0], r[1], r[2], v[0], v[1], v[2]]
    }

    /// The state at `epoch` of `[r, v]` (km, km/s).
    pub fn from_array(epoch: Epoch, y: [f64; 6]) -> Self {
        Self {
            epoch,
            r_km: [y[0], y[1], y[2]],
            v_km_s: [y[3], y[4], y[5]],
        }
    }
}

/// Propagates `state` to `t` (forward or backward) with the numerical force model of this module.
pub fn propagate(state: &StateGcrf, t: Epoch) -> Result<StateGcrf, OdError> {
    Ok(propagate_many(state, &[t])?.remove(0))
}

/// Propagates `state` to every epoch of `ts` (any order, either side of the state's epoch) in one forward and
/// one backward sweep. The result is in the order of `ts`.
pub fn propagate_many(state: &StateGcrf, ts: &[Epoch]) -> Result<Vec<StateGcrf>, OdError> {
    let out = propagate_bundle(state.epoch, &[state.to_array()], ts)?;
    Ok(ts
        .iter()
        .zip(out)
        .map(|(t, ys)| StateGcrf::from_array(*t, ys[0]))
        .collect())
}

/// Propagates several states sharing one epoch to the epochs `ts`, integrating them as one system so they
/// share the step sequence (smooth finite-difference partials). Returns, for each `ts[k]`, the states in input
/// order.
pub(crate) fn propagate_bundle(
    epoch: Epoch,
    states: &[[f64; 6]],
    ts: &[Epoch],
) -> Result<Vec<Vec<[f64; 6]>>, OdError> {
    for s in states {
        if s.iter().any(|x| !x.is_finite()) || norm([s[0], s[1], s[2]]) < 1.0 {
            return Err(OdError::InvalidState(format!("{s:?}")));
        }
    }
    let force = ZonalGravity {
        pole: cip_pole_gcrf(epoch),
    };
    let offsets: Vec<f64> = ts.iter().map(|t| (*t - epoch).to_seconds()).collect();
    let mut out: Vec<Vec<[f64; 6]>> = vec![Vec::new(); ts.len()];
    let y0: Vec<f64> = states.iter().flatten().copied().collect();
    for forward in [true, false] {
        let mut order: Vec<usize> = (0..ts.len())
            .filter(|&k| (offsets[k] >= 0.0) == forward)
            .collect();
        order.sort_by(|&a, &b| offsets[a].abs().total_cmp(&offsets[b].abs()));
        let targets: Vec<f64> = order.iter().map(|&k| offsets[k]).collect();
        let ys = integrate(&force, &y0, &targets)?;
        for (k, y) in order.into_iter().zip(ys) {
            out[k] = y
                .chunks_exact(6)
                .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5]])
                .collect();
        }
    }
    Ok(out)
}

/// Two-body + zonal (J2..J6) gravity about a fixed pole.
struct ZonalGravity {
    /// Unit vector of the Earth's rotation pole (CIP) in GCRF.
    pole: V3,
}

impl ZonalGravity {
    /// Acceleration (km/s^2) at GCRF position `r` (km).
    ///
    /// Geopotential of the zonal terms (Montenbruck & Gill 2000, sec. 3.2 with m = 0; Vallado 4th ed.
    /// sec. 8.6):
    /// `U = mu/r [1 - sum_n J_n (R/r)^n P_n(s)]`, `s = sin(phi_gc) = r . k / r`. Its gradient, using
    /// `grad s = (k - s r_hat)/r`, is
    /// `a_n = mu J_n R^n / r^(n+2) [ ((n+1) P_n + s P_n') r_hat - P_n' k ]`,
    /// with the Legendre recursions `n P_n = (2n-1) s P_(n-1) - (n-1) P_(n-2)` and
    /// `P_n' = P_(n-2)' + (2n-1) P_(n-1)`. For n = 2 this is the familiar
    /// `a = -3/2 J2 mu R^2 / r^5 [x (1 - 5 z^2/r^2), y (1 - 5 z^2/r^2), z (3 - 5 z^2/r^2)]`.
    fn acceleration(&self, r: V3) -> V3 {
        let rn = norm(r);
        let rhat = [r[0] / rn, r[1] / rn, r[2] / rn];
        let s = dot(rhat, self.pole);
        let k = self.pole;
        // Two-body term: -mu / r^2 along r_hat.
        let kep = -MU_KM3_S2 / (rn * rn);
        let mut radial = kep;
        let mut polar = 0.0;
        let (mut p_nm2, mut p_nm1) = (1.0, s);
        let (mut dp_nm2, mut dp_nm1) = (0.0, 1.0);
        let ratio = EARTH_RADIUS_KM / rn;
        let mut ratio_n = ratio;
        for (i, jn) in ZONALS.iter().enumerate() {
            let n = (i + 2) as f64;
            let p_n = ((2.0 * n - 1.0) * s * p_nm1 - (n - 1.0) * p_nm2) / n;
            let dp_n = dp_nm2 + (2.0 * n - 1.0) * p_nm1;
            ratio_n *= ratio;
            let c = MU_KM3_S2 / (rn * rn) * jn * ratio_n;
            radial += c * ((n + 1.0) * p_n + s * dp_n);
            polar -= c * dp_n;
            (p_nm2, p_nm1) = (p_nm1, p_n);
            (dp_nm2, dp_nm1) = (dp_nm1, dp_n);
        }
        [
            radial * rhat[0] + polar * k[0],
            radial * rhat[1] + polar * k[1],
            radial * rhat[2] + polar * k[2],
        ]
    }

    /// Time derivative of a stack of states `[r, v]` (km, km/s).
    fn derivative(&self, y: &[f64], dy: &mut [f64]) {
        for (s, d) in y.chunks_exact(6).zip(dy.chunks_exact_mut(6)) {
            let a = self.acceleration([s[0], s[1], s[2]]);
            d[..3].copy_from_slice(&s[3..6]);
            d[3..].copy_from_slice(&a);
        }
    }
}

/// Dormand-Prince 5(4) tableau (Hairer, Norsett & Wanner, table II.5.2). The last row of `A` is also the
/// fifth-order weights (FSAL), so the seventh stage is the new state.
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fourth-order embedded weights.
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Integrates `y0` from offset 0 through the `targets` (s from the start, all on one side of 0, sorted by
/// increasing magnitude), returning the state at each.
fn integrate(force: &ZonalGravity, y0: &[f64], targets: &[f64]) -> Result<Vec<Vec<f64>>, OdError> {
    let n = y0.len();
    let mut out = Vec::with_capacity(targets.len());
    let mut y = y0.to_vec();
    let mut t = 0.0;
    let Some(&last) = targets.last() else {
        return Ok(out);
    };
    let dir = if last >= 0.0 { 1.0 } else { -1.0 };
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    force.derivative(&y, &mut k[0]);
    let mut h = 30.0;
    let mut stage = vec![0.0; n];
    let mut y5 = vec![0.0; n];
    let mut steps = 0;
    for &target in targets {
        while (target - t) * dir > 0.0 {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(OdError::Propagation("step budget exhausted".into()));
            }
            let remaining = (target - t).abs();
            let clipped = h >= remaining;
            let hs = dir * h.min(remaining);
            for s in 1..7 {
                for i in 0..n {
                    stage[i] = y[i] + hs * (0..s).map(|j| A[s][j] * k[j][i]).sum::<f64>();
                }
                force.derivative(&stage, &mut k[s]);
            }
            // Stage 7 was evaluated at the fifth-order solution (FSAL), which is `stage` now.
            let mut err: f64 = 0.0;
            for i in 0..n {
                y5[i] = stage[i];
                let y4 = y[i] + hs * (0..7).map(|j| B4[j] * k[j][i]).sum::<f64>();
                let sc = ATOL + RTOL * y[i].abs().max(y5[i].abs());
                err = err.max(((y5[i] - y4) / sc).abs());
            }
            if !err.is_finite() {
                return Err(OdError::Propagation("non-finite state".into()));
            }
            let factor = if err == 0.0 {
                5.0
            } else {
                (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
            };
            if err <= 1.0 {
                t = if clipped { target } else { t + hs };
                y.copy_from_slice(&y5);
                k.swap(0, 6);
                if !clipped {
                    h *= factor;
                }
            } else {
                h *= factor.min(1.0);
                if h < MIN_STEP_S {
                    return Err(OdError::Propagation(format!(
                        "step size underflow at t = {t} s"
                    )));
                }
            }
        }
        out.push(y.clone());
    }
    Ok(out)
}

/// Adds `seconds` (may be negative or fractional) to an epoch.
pub(crate) fn shift(t: Epoch, seconds: f64) -> Epoch {
    t + Duration::from_seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leo() -> StateGcrf {
        StateGcrf {
            epoch: Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 0, 0),
            r_km: [7000.0, 0.0, 0.0],
            v_km_s: [0.0, 1.0, 7.4],
        }
    }

    #[test]
    fn forward_then_back_returns_home() {
        let s0 = leo();
        let t1 = shift(s0.epoch, 6.0 * 3600.0);
        let s1 = propagate(&s0, t1).unwrap();
        let back = propagate(&s1, s0.epoch).unwrap();
        for i in 0..3 {
            // 12 h of integration at RTOL 1e-10 (about 3000 steps each way) round trip: centimetres, 0.1 mm/s.
            assert!((back.r_km[i] - s0.r_km[i]).abs() < 1e-4, "{back:?}");
            assert!((back.v_km_s[i] - s0.v_km_s[i]).abs() < 1e-7, "{back:?}");
        }
    }

    #[test]
    fn many_matches_single() {
        let s0 = leo();
        let ts: Vec<Epoch> = [-3000.0, 1000.0, -10.0, 5000.0]
            .iter()
            .map(|dt| shift(s0.epoch, *dt))
            .collect();
        let many = propagate_many(&s0, &ts).unwrap();
        for (t, s) in ts.iter().zip(&many) {
            let one = propagate(&s0, *t).unwrap();
            assert_eq!(s.epoch, *t);
            for i in 0..3 {
                assert!((one.r_km[i] - s.r_km[i]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn polar_angular_momentum_is_conserved() {
        // With the zonals the z-component of angular momentum about the pole is conserved (axisymmetric field).
        let s0 = leo();
        let pole = cip_pole_gcrf(s0.epoch);
        let hz = |s: &StateGcrf| dot(crate::linalg::cross(s.r_km, s.v_km_s), pole);
        let s1 = propagate(&s0, shift(s0.epoch, 86_400.0)).unwrap();
        assert!(((hz(&s1) - hz(&s0)) / hz(&s0)).abs() < 1e-9);
    }
}
