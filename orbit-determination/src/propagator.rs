//! Numerical propagation: two-body + zonal harmonics J2..J6 and optional drag, integrated with Dormand-Prince 5(4).
//!
//! Force model: the point mass plus the zonal terms J2..J6 of EGM-96 (Lemoine et al. 1998, NASA/TP-1998-206861;
//! unnormalised `J_n = -sqrt(2n+1) Cbar_n0`), about the CIP pole of the state's epoch
//! (the pole moves < 0.01" in a day, so it is held fixed over a propagation). Optional atmospheric drag
//! ([`Drag`]): `a = -1/2 rho (C_D A / m) |v_rel| v_rel` with `v_rel = v - omega x r` (an atmosphere co-rotating
//! with the Earth) and the exponential density model of Vallado 4th ed. Table 8-4 (Vallado sec. 8.6.2) at the
//! height above the ellipsoid (approximated from the geocentric latitude). No third bodies, no tesserals: adequate
//! over the hours-long arcs of a night (the fit absorbs the rest).
//!
//! Integrator: Dormand & Prince (1980) RK5(4)7M with local extrapolation, FSAL (Hairer, Norsett & Wanner,
//! Solving ODEs I, sec. II.5, table 5.2), step control on the max-norm error relative to
//! `RTOL * |y| + ATOL`, steps clipped to land exactly on every requested epoch (no interpolation).

use hifitime::{Duration, Epoch};
use serde::{Deserialize, Serialize};

use crate::frames::{EARTH_ROTATION_RAD_S, cip_pole_gcrf};
use crate::linalg::{V3, add, cross, dot, norm, scale, sub};
use crate::{OdError, PropagationError};

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
/// Exponential atmosphere, Vallado 4th ed. Table 8-4: base height (km), nominal density at the base (kg/m^3) and
/// scale height (km), for heights from the base up to the next one.
const ATMOSPHERE: [(f64, f64, f64); 28] = [
    (0.0, 1.225, 7.249),
    (25.0, 3.899e-2, 6.349),
    (30.0, 1.774e-2, 6.682),
    (40.0, 3.972e-3, 7.554),
    (50.0, 1.057e-3, 8.382),
    (60.0, 3.206e-4, 7.714),
    (70.0, 8.770e-5, 6.549),
    (80.0, 1.905e-5, 5.799),
    (90.0, 3.396e-6, 5.382),
    (100.0, 5.297e-7, 5.877),
    (110.0, 9.661e-8, 7.263),
    (120.0, 2.438e-8, 9.473),
    (130.0, 8.484e-9, 12.636),
    (140.0, 3.845e-9, 16.149),
    (150.0, 2.070e-9, 22.523),
    (180.0, 5.464e-10, 29.740),
    (200.0, 2.789e-10, 37.105),
    (250.0, 7.248e-11, 45.546),
    (300.0, 2.418e-11, 53.628),
    (350.0, 9.518e-12, 53.298),
    (400.0, 3.725e-12, 58.515),
    (450.0, 1.585e-12, 60.828),
    (500.0, 6.967e-13, 63.822),
    (600.0, 1.454e-13, 71.835),
    (700.0, 3.614e-14, 88.667),
    (800.0, 1.170e-14, 124.64),
    (900.0, 5.245e-15, 181.05),
    (1000.0, 3.019e-15, 268.00),
];
/// WGS84 flattening, for the height above the ellipsoid.
const FLATTENING: f64 = 1.0 / 298.257_223_563;

/// Atmospheric drag on the object: its ballistic coefficient `C_D A / m` (m^2/kg), held constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drag {
    pub ballistic_m2_kg: f64,
}

/// The forces beyond J2..J6 gravity; the default is gravity alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Forces {
    pub drag: Option<Drag>,
}

/// Atmospheric density (kg/m^3) at `height_km` above the ellipsoid, [`ATMOSPHERE`]; zero below the ground is not
/// needed (the integration fails first), heights above 1000 km use the last band.
pub fn density_kg_m3(height_km: f64) -> f64 {
    let band = ATMOSPHERE
        .iter()
        .rev()
        .find(|(base, _, _)| height_km >= *base)
        .unwrap_or(&ATMOSPHERE[0]);
    let (base, rho0, scale) = *band;
    rho0 * (-(height_km - base) / scale).exp()
}

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

/// Propagates `state` to `t` (forward or backward) with the gravity model of this module.
pub fn propagate(state: &StateGcrf, t: Epoch) -> Result<StateGcrf, OdError> {
    propagate_with(state, t, &Forces::default())
}

/// [`propagate`] with `forces` added.
pub fn propagate_with(state: &StateGcrf, t: Epoch, forces: &Forces) -> Result<StateGcrf, OdError> {
    Ok(propagate_many_with(state, &[t], forces)?.remove(0))
}

/// Propagates `state` to every epoch of `ts` (any order, either side of the state's epoch) in one forward and
/// one backward sweep. The result is in the order of `ts`.
pub fn propagate_many(state: &StateGcrf, ts: &[Epoch]) -> Result<Vec<StateGcrf>, OdError> {
    propagate_many_with(state, ts, &Forces::default())
}

/// [`propagate_many`] with `forces` added.
pub fn propagate_many_with(
    state: &StateGcrf,
    ts: &[Epoch],
    forces: &Forces,
) -> Result<Vec<StateGcrf>, OdError> {
    let out = propagate_bundle(state.epoch, &[state.to_array()], ts, forces)?;
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
    forces: &Forces,
) -> Result<Vec<Vec<[f64; 6]>>, OdError> {
    for s in states {
        if s.iter().any(|x| !x.is_finite()) || norm([s[0], s[1], s[2]]) < 1.0 {
            return Err(OdError::InvalidState {
                r_km: [s[0], s[1], s[2]],
                v_km_s: [s[3], s[4], s[5]],
            });
        }
    }
    let force = ForceModel {
        pole: cip_pole_gcrf(epoch),
        drag: forces.drag,
    };
    let y0: Vec<f64> = states.iter().flatten().copied().collect();
    let ys = sweeps(epoch, ts, &y0, y0.len(), &|y, dy| force.derivative(y, dy))?;
    Ok(ys
        .into_iter()
        .map(|y| {
            y.chunks_exact(6)
                .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5]])
                .collect()
        })
        .collect())
}

/// Integrates `y0` (at `epoch`) to every epoch of `ts` (any order, either side) in one forward and one backward
/// sweep, step control on the first `controlled` components; the results in the order of `ts`.
fn sweeps(
    epoch: Epoch,
    ts: &[Epoch],
    y0: &[f64],
    controlled: usize,
    rhs: &dyn Fn(&[f64], &mut [f64]),
) -> Result<Vec<Vec<f64>>, OdError> {
    let offsets: Vec<f64> = ts.iter().map(|t| (*t - epoch).to_seconds()).collect();
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); ts.len()];
    for forward in [true, false] {
        let mut order: Vec<usize> = (0..ts.len())
            .filter(|&k| (offsets[k] >= 0.0) == forward)
            .collect();
        order.sort_by(|&a, &b| offsets[a].abs().total_cmp(&offsets[b].abs()));
        let targets: Vec<f64> = order.iter().map(|&k| offsets[k]).collect();
        for (k, y) in order
            .into_iter()
            .zip(integrate(rhs, controlled, y0, &targets)?)
        {
            out[k] = y;
        }
    }
    Ok(out)
}

/// A state transition matrix `d x(t) / d x(t0)` for `x = [r, v]` (km, km/s).
pub type Stm = [[f64; 6]; 6];

/// Propagates `state` and its state transition matrix `Phi(t, t0) = d x(t) / d x(t0)` (x = `[r, v]`, km and
/// km/s) to each of `ts`, in the order of `ts`, by integrating the variational equations
/// `dPhi/dt = [[0, I], [da/dr, da/dv]] Phi`, `Phi(t0) = I` (Montenbruck & Gill 2000, sec. 7.2) together with the
/// state; the acceleration partials are central differences of the force model (1 m, 1 mm/s). Step control
/// watches the state, and the matrix follows its steps.
pub fn propagate_stm(
    state: &StateGcrf,
    ts: &[Epoch],
    forces: &Forces,
) -> Result<Vec<(StateGcrf, Stm)>, OdError> {
    let x = state.to_array();
    if x.iter().any(|v| !v.is_finite()) || norm(state.r_km) < 1.0 {
        return Err(OdError::InvalidState {
            r_km: state.r_km,
            v_km_s: state.v_km_s,
        });
    }
    let force = ForceModel {
        pole: cip_pole_gcrf(state.epoch),
        drag: forces.drag,
    };
    // y = [x (6), Phi row-major (36)].
    let mut y0 = vec![0.0; 42];
    y0[..6].copy_from_slice(&x);
    for i in 0..6 {
        y0[6 + 7 * i] = 1.0;
    }
    let ys = sweeps(state.epoch, ts, &y0, 6, &|y, dy| force.variational(y, dy))?;
    Ok(ts
        .iter()
        .zip(ys)
        .map(|(t, y)| {
            let phi: Stm = std::array::from_fn(|i| std::array::from_fn(|j| y[6 + 6 * i + j]));
            (
                StateGcrf::from_array(*t, std::array::from_fn(|i| y[i])),
                phi,
            )
        })
        .collect())
}

/// Two-body + zonal (J2..J6) gravity about a fixed pole, and drag when given.
struct ForceModel {
    /// Unit vector of the Earth's rotation pole (CIP) in GCRF.
    pole: V3,
    drag: Option<Drag>,
}

impl ForceModel {
    /// Drag acceleration (km/s^2) at position `r` (km) and velocity `v` (km/s), see the module doc.
    fn drag(&self, drag: &Drag, r: V3, v: V3) -> V3 {
        let rn = norm(r);
        let sin_lat = dot(r, self.pole) / rn;
        let height = rn - EARTH_RADIUS_KM * (1.0 - FLATTENING * sin_lat * sin_lat);
        let rho = density_kg_m3(height);
        let w = scale(EARTH_ROTATION_RAD_S, self.pole);
        let v_rel = sub(v, cross(w, r));
        // rho B in 1/m; times 1000 m/km for km/s^2 from (km/s)^2.
        scale(-0.5 * rho * drag.ballistic_m2_kg * 1e3 * norm(v_rel), v_rel)
    }

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

    /// The total acceleration (km/s^2) at `r` (km), `v` (km/s).
    fn total(&self, r: V3, v: V3) -> V3 {
        let a = self.acceleration(r);
        match &self.drag {
            Some(drag) => add(a, self.drag(drag, r, v)),
            None => a,
        }
    }

    /// Time derivative of `[x, Phi]` (see [`propagate_stm`]).
    fn variational(&self, y: &[f64], dy: &mut [f64]) {
        let (r, v) = ([y[0], y[1], y[2]], [y[3], y[4], y[5]]);
        dy[..3].copy_from_slice(&v);
        dy[3..6].copy_from_slice(&self.total(r, v));
        // da/dr and da/dv by central differences (columns).
        let mut da_dr = [[0.0; 3]; 3];
        let mut da_dv = [[0.0; 3]; 3];
        for j in 0..3 {
            let (mut rp, mut rm) = (r, r);
            rp[j] += 1e-3;
            rm[j] -= 1e-3;
            let (ap, am) = (self.total(rp, v), self.total(rm, v));
            for i in 0..3 {
                da_dr[i][j] = (ap[i] - am[i]) / 2e-3;
            }
            if self.drag.is_some() {
                let (mut vp, mut vm) = (v, v);
                vp[j] += 1e-6;
                vm[j] -= 1e-6;
                let (ap, am) = (self.total(r, vp), self.total(r, vm));
                for i in 0..3 {
                    da_dv[i][j] = (ap[i] - am[i]) / 2e-6;
                }
            }
        }
        let phi = &y[6..42];
        let dphi = &mut dy[6..42];
        for col in 0..6 {
            for i in 0..3 {
                // Rows 0-2: the velocity rows of Phi; rows 3-5: da/dr Phi_r + da/dv Phi_v.
                dphi[6 * i + col] = phi[6 * (i + 3) + col];
                dphi[6 * (i + 3) + col] = (0..3)
                    .map(|k| da_dr[i][k] * phi[6 * k + col] + da_dv[i][k] * phi[6 * (k + 3) + col])
                    .sum();
            }
        }
    }

    /// Time derivative of a stack of states `[r, v]` (km, km/s).
    fn derivative(&self, y: &[f64], dy: &mut [f64]) {
        for (s, d) in y.chunks_exact(6).zip(dy.chunks_exact_mut(6)) {
            let a = self.total([s[0], s[1], s[2]], [s[3], s[4], s[5]]);
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
fn integrate(
    rhs: &dyn Fn(&[f64], &mut [f64]),
    controlled: usize,
    y0: &[f64],
    targets: &[f64],
) -> Result<Vec<Vec<f64>>, OdError> {
    let n = y0.len();
    let mut out = Vec::with_capacity(targets.len());
    let mut y = y0.to_vec();
    let mut t = 0.0;
    let Some(&last) = targets.last() else {
        return Ok(out);
    };
    let dir = if last >= 0.0 { 1.0 } else { -1.0 };
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    rhs(&y, &mut k[0]);
    let mut h = 30.0;
    let mut stage = vec![0.0; n];
    let mut y5 = vec![0.0; n];
    let mut steps = 0;
    for &target in targets {
        while (target - t) * dir > 0.0 {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(PropagationError::StepBudget.into());
            }
            let remaining = (target - t).abs();
            let clipped = h >= remaining;
            let hs = dir * h.min(remaining);
            for s in 1..7 {
                for i in 0..n {
                    stage[i] = y[i] + hs * (0..s).map(|j| A[s][j] * k[j][i]).sum::<f64>();
                }
                rhs(&stage, &mut k[s]);
            }
            // Stage 7 was evaluated at the fifth-order solution (FSAL), which is `stage` now.
            let mut err: f64 = 0.0;
            y5.copy_from_slice(&stage);
            for i in 0..controlled {
                let y4 = y[i] + hs * (0..7).map(|j| B4[j] * k[j][i]).sum::<f64>();
                let sc = ATOL + RTOL * y[i].abs().max(y5[i].abs());
                err = err.max(((y5[i] - y4) / sc).abs());
            }
            if y5.iter().any(|v| !v.is_finite()) {
                err = f64::INFINITY;
            }
            if !err.is_finite() {
                return Err(PropagationError::NonFinite.into());
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
                    return Err(PropagationError::StepUnderflow { t_s: t }.into());
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

    /// Drag lowers a circular equatorial orbit at 300 km at King-Hele's rate
    /// `da/dt = -rho B sqrt(mu a) (1 - omega a / v)^2` (the last factor: the co-rotating atmosphere), measured as
    /// the difference of the osculating semi-major axes after a day with and without drag (the zonal terms move
    /// both alike). The density rises as the orbit sinks (2 of 54 km of scale height): 5% tolerance.
    #[test]
    fn drag_decays_a_circular_orbit_at_the_analytic_rate() {
        let a0 = EARTH_RADIUS_KM + 300.0;
        // Circular under J2 too (v^2 / r = mu / r^2 (1 + 3/2 J2 (R / r)^2) on the equator): with the two-body
        // speed the orbit would dip some 20 km and meet denser air.
        let v0 = (MU_KM3_S2 / a0 * (1.0 + 1.5 * ZONALS[0] * (EARTH_RADIUS_KM / a0).powi(2))).sqrt();
        let s0 = StateGcrf {
            epoch: Epoch::from_gregorian_utc_hms(2006, 6, 26, 0, 0, 0),
            r_km: [a0, 0.0, 0.0],
            v_km_s: [0.0, v0, 0.0],
        };
        let drag = Forces {
            drag: Some(Drag {
                ballistic_m2_kg: 0.022,
            }),
        };
        let t = shift(s0.epoch, 86_400.0);
        let sma = |s: &StateGcrf| {
            let r = norm(s.r_km);
            let v2 = dot(s.v_km_s, s.v_km_s);
            1.0 / (2.0 / r - v2 / MU_KM3_S2)
        };
        let decay = sma(&propagate_with(&s0, t, &drag).unwrap()) - sma(&propagate(&s0, t).unwrap());
        let corotation = (1.0 - EARTH_ROTATION_RAD_S * a0 / v0).powi(2);
        let expected =
            -density_kg_m3(300.0) * 0.022 * 1e3 * (MU_KM3_S2 * a0).sqrt() * corotation * 86_400.0;
        eprintln!("decay over a day {decay:.4} km, King-Hele {expected:.4} km");
        assert!(
            (decay / expected - 1.0).abs() < 0.05,
            "decay {decay} km, expected {expected} km"
        );
        // The table is continuous: each band, at the next base, gives that base's density (a transcription check).
        for (base, rho0, _) in &ATMOSPHERE[1..] {
            let below = density_kg_m3(base - 1e-9);
            assert!(
                (below / rho0 - 1.0).abs() < 0.01,
                "{base} km: {below} vs {rho0}"
            );
        }
    }

    /// The variational equations against finite differences of whole propagations (1 m, 1 mm/s, central) over a
    /// day of LEO, with drag: every element agrees to 1e-5 of its column's scale.
    #[test]
    fn state_transition_matrix_matches_finite_differences() {
        let s0 = leo();
        let t = shift(s0.epoch, 86_400.0);
        let forces = Forces {
            drag: Some(Drag {
                ballistic_m2_kg: 0.01,
            }),
        };
        let (end, phi) = propagate_stm(&s0, &[t], &forces).unwrap().remove(0);
        let plain = propagate_with(&s0, t, &forces).unwrap();
        assert!(norm(sub(end.r_km, plain.r_km)) < 1e-6, "the same state");
        for j in 0..6 {
            let d = if j < 3 { 1e-3 } else { 1e-6 };
            let moved = |sign: f64| {
                let mut x = s0.to_array();
                x[j] += sign * d;
                propagate_with(&StateGcrf::from_array(s0.epoch, x), t, &forces)
                    .unwrap()
                    .to_array()
            };
            let (p, m) = (moved(1.0), moved(-1.0));
            let column: Vec<f64> = (0..6).map(|i| (p[i] - m[i]) / (2.0 * d)).collect();
            let scale = column.iter().map(|c| c.abs()).fold(0.0, f64::max);
            for i in 0..6 {
                assert!(
                    (phi[i][j] - column[i]).abs() < 1e-5 * scale,
                    "Phi[{i}][{j}] = {} vs {}",
                    phi[i][j],
                    column[i]
                );
            }
        }
    }
}
