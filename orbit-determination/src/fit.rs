//! Batch least squares on tracking measurements: RA/Dec, azimuth/elevation, range, range rate ([`crate::measurement`]).
//!
//! Vallado 4th ed. sec. 10.4 (Algorithm 57, nonlinear least squares) and Montenbruck & Gill (2000) sec. 8.1: the
//! state at the solution epoch is corrected by Levenberg-Marquardt steps
//! `(A^T W A + lambda diag(A^T W A)) dx = A^T W b` (the normal equations with Marquardt damping), where `b` are the
//! observed-minus-computed residuals (for RA/Dec `[d_ra cos(dec), d_dec]`) and `W = diag(1/sigma^2)`; the code
//! works on whitened residuals `b / sigma`, so `W` is the identity.
//!
//! Partials `A = d(computed)/dx` are the measurement partials at each observation (central differences of the
//! measurement model, 1 m and 1 mm/s) times the state transition matrix from the variational equations
//! ([`crate::propagator::propagate_stm`]). For the SGP4 element fit ([`crate::tle_fit`]) they are central
//! differences of the residuals over the nominal and twelve perturbed element sets.
//!
//! A priori information (Tapley, Schutz & Born, Statistical Orbit Determination, 2004, sec. 4.6: the batch
//! processor with an a priori estimate `x_p` and covariance `P_p`) adds `P_p^-1` to the normal matrix and
//! `P_p^-1 (x_p - x)` to the right-hand side, and `(x - x_p)^T P_p^-1 (x - x_p)` to the cost: [`fit_tracking_with_prior`]
//! refines a catalogued orbit (a TLE with its nominal accuracy) with a short new track that alone would not determine
//! every direction of the state.
//!
//! Measurement biases per station (`FitConfig::estimate_biases`): one constant per station and measured component
//! (range, azimuth, elevation, RA, Dec, range rate), added to the computed value. They enter the residuals
//! linearly, so they are eliminated exactly at every iteration (variable projection, Golub & Pereyra, SIAM J. Numer.
//! Anal. 10, 1973): for the current state each bias is the weighted mean of its group's residuals, and the state is
//! corrected on the residuals and partials with those means removed. The state's covariance from the projected
//! normal matrix is the marginal one of the joint solution (the Schur complement); a bias's variance is
//! `1/W + g P g^T`, `W` the sum of its group's weights and `g` its partials with respect to the state.
//!
//! Outliers are edited after convergence: an observation is rejected when a component's residual exceeds
//! `k sigma max(1, rms)` (rms of the normalised residuals), then the fit is repeated, until the set settles.
//! Covariance: `P = (A^T W A)^-1` at the solution (plus the prior's information, with biases the projected normal
//! matrix: see below), km and km/s, GCRF. The normalised RMS is
//! `sqrt(b^T W b / m)` over the `m` accepted scalar components: 1 when the residuals are as large as the sigmas say.

use hifitime::Epoch;
use serde::{Deserialize, Serialize};

use crate::linalg::{spd_inverse6, spd_solve6};
use crate::measurement::{Measured, Observation, SiteAt, TrackingObservation, whitened_residual};
use crate::propagator::{Forces, StateGcrf, propagate_bundle, propagate_stm, propagate_with};
use crate::site::Site;
use crate::{FitMatrix, OdError};

/// Arcseconds per radian.
pub(crate) const ARCSEC_PER_RAD: f64 = 206_264.806_247_096_36;
/// Finite-difference perturbation of the position components (km).
const DELTA_R_KM: f64 = 1e-3;
/// Finite-difference perturbation of the velocity components (km/s).
const DELTA_V_KM_S: f64 = 1e-6;
/// Relative cost decrease under which the iteration has converged.
const CONVERGED_REL_COST: f64 = 1e-9;
/// Largest Marquardt parameter before a step is declared impossible (the minimum is reached).
const MAX_LAMBDA: f64 = 1e12;
/// Most outlier-editing rounds.
const MAX_EDIT_ROUNDS: usize = 4;

/// Settings of [`fit_orbit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Most Levenberg-Marquardt iterations per editing round.
    pub max_iterations: usize,
    /// Rejection threshold of the outlier editing, in sigmas of one angle (default 3).
    pub outlier_k_sigma: f64,
    /// Solution epoch (UTC); default: the observation epoch closest to the middle of the arc.
    pub epoch: Option<Epoch>,
    /// Estimate a constant bias per station and measured component (see the module doc).
    #[serde(default)]
    pub estimate_biases: bool,
    /// Forces beyond J2..J6 gravity in the propagation (drag).
    #[serde(default)]
    pub forces: Forces,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            max_iterations: 30,
            outlier_k_sigma: 3.0,
            epoch: None,
            estimate_biases: false,
            forces: Forces::default(),
        }
    }
}

/// Result of [`fit_orbit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrbitSolution {
    /// Fitted state at the solution epoch, GCRF (km, km/s).
    pub state: StateGcrf,
    /// Covariance of `[r, v]` at the solution epoch, GCRF (km^2, km^2/s, km^2/s^2).
    pub covariance: [[f64; 6]; 6],
    /// Weighted post-fit RMS of the accepted angle residuals (arcsec); `None` when the fit had no angles (or the
    /// orbit is an element set, not a fit).
    pub rms_arcsec: Option<f64>,
    /// Post-fit RMS of the accepted residuals, each divided by its sigma (see the module doc).
    #[serde(default)]
    pub normalized_rms: f64,
    /// `b^T W b` of the accepted residuals.
    #[serde(default)]
    pub chi_square: f64,
    /// Levenberg-Marquardt iterations, all editing rounds together.
    pub iterations: usize,
    /// Observations accepted in the final solution.
    pub observations_used: usize,
    /// Observations rejected as outliers.
    pub observations_rejected: usize,
    /// Whether each observation (in the order given) was accepted; not stored with the orbit.
    #[serde(skip)]
    pub accepted: Vec<bool>,
    /// Estimated measurement biases (empty unless `FitConfig::estimate_biases`).
    #[serde(default)]
    pub biases: Vec<StationBias>,
}

/// An estimated constant bias of one station's measured component: measured = true + bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationBias {
    pub site: Site,
    /// `range_km`, `range_rate_km_s`, `azimuth_rad`, `elevation_rad`, `ra_rad` (on the sky, `d_ra cos(dec)`) or
    /// `dec_rad`: the component and its unit.
    pub component: String,
    pub value: f64,
    /// 1-sigma uncertainty, same unit.
    pub sigma: f64,
    /// Accepted measurements behind it.
    pub measurements: usize,
}

/// Batch least-squares orbit fit to RA/Dec observations, starting from `initial` (any epoch).
///
/// Needs at least three observations. When the iteration budget runs out before convergence, the best state
/// reached is returned (its `iterations` equals the budget); the cost never increases between iterations.
pub fn fit_orbit(
    obs: &[Observation],
    initial: &StateGcrf,
    cfg: &FitConfig,
) -> Result<OrbitSolution, OdError> {
    let tracking: Vec<TrackingObservation> = obs.iter().map(TrackingObservation::from).collect();
    fit_tracking(&tracking, initial, cfg)
}

/// A 6 x 6 covariance (or information) matrix of a state `[r, v]`: km^2, km^2/s, km^2/s^2 (inverse units for
/// information).
pub type Covariance6 = [[f64; 6]; 6];

/// An a priori estimate of the state: mean and covariance at its epoch (GCRF; km, km/s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub state: StateGcrf,
    pub covariance: Covariance6,
}

/// Batch least-squares orbit fit to tracking measurements of any kind, starting from `initial` (any epoch).
///
/// Needs at least six scalar components (three angle pairs, or six ranges, ...). Otherwise as [`fit_orbit`].
pub fn fit_tracking(
    obs: &[TrackingObservation],
    initial: &StateGcrf,
    cfg: &FitConfig,
) -> Result<OrbitSolution, OdError> {
    fit(obs, initial, None, cfg)
}

/// [`fit_tracking`] with a priori information (see the module doc). The solution epoch is the prior's epoch
/// (`cfg.epoch` is ignored); with a prior, any number of observations (one angle pair and more) can be fitted.
/// The reported RMS and chi-square are those of the observations alone; the covariance includes the prior.
pub fn fit_tracking_with_prior(
    obs: &[TrackingObservation],
    initial: &StateGcrf,
    prior: &Prior,
    cfg: &FitConfig,
) -> Result<OrbitSolution, OdError> {
    let information = spd_inverse6(&prior.covariance)
        .ok_or(OdError::NotPositiveDefinite(FitMatrix::PriorCovariance))?;
    fit(
        obs,
        initial,
        Some((prior.state, information)),
        &FitConfig {
            epoch: Some(prior.state.epoch),
            ..*cfg
        },
    )
}

fn fit(
    obs: &[TrackingObservation],
    initial: &StateGcrf,
    prior: Option<(StateGcrf, Covariance6)>,
    cfg: &FitConfig,
) -> Result<OrbitSolution, OdError> {
    if prior.is_none() {
        enough_for_an_orbit(obs)?;
    }
    if obs.is_empty() {
        return Err(OdError::TooFewObservations { got: 0, needed: 1 });
    }
    let epoch = cfg.epoch.unwrap_or_else(|| middle_epoch(obs));
    let mut problem = Problem::with_trajectory(
        obs.to_vec(),
        Box::new(Numerical {
            epoch,
            forces: cfg.forces,
        }),
    );
    problem.prior = prior.map(|(s, info)| (s.to_array(), info));
    if cfg.estimate_biases {
        problem.group_biases();
    }
    let start = if initial.epoch == epoch {
        *initial
    } else {
        propagate_with(initial, epoch, &cfg.forces)?
    };
    let e = estimate(&problem, start.to_array(), cfg, prior.is_some())?;
    Ok(OrbitSolution {
        state: StateGcrf::from_array(epoch, e.x),
        covariance: e.covariance,
        rms_arcsec: e.rms_arcsec(),
        normalized_rms: e.normalized_rms,
        chi_square: e.chi_square,
        iterations: e.iterations,
        observations_used: e.used,
        observations_rejected: obs.len() - e.used,
        accepted: e.accepted,
        biases: e.biases,
    })
}

/// The outcome of [`estimate`]: parameters, their covariance and the fit report.
pub(crate) struct Estimate {
    pub(crate) x: [f64; 6],
    pub(crate) covariance: Covariance6,
    pub(crate) rms_rad: f64,
    pub(crate) normalized_rms: f64,
    pub(crate) chi_square: f64,
    pub(crate) iterations: usize,
    pub(crate) used: usize,
    pub(crate) accepted: Vec<bool>,
    pub(crate) biases: Vec<StationBias>,
}

impl Estimate {
    /// The angle residuals' RMS in arcsec; `None` without angles (the RMS over no residuals is NaN).
    pub(crate) fn rms_arcsec(&self) -> Option<f64> {
        self.rms_rad
            .is_finite()
            .then_some(self.rms_rad * ARCSEC_PER_RAD)
    }
}

/// Levenberg-Marquardt from `start` with k-sigma outlier editing rounds (see the module doc); `any_count` lets
/// fewer than three observations remain (a prior determines the rest).
pub(crate) fn estimate(
    problem: &Problem,
    start: [f64; 6],
    cfg: &FitConfig,
    any_count: bool,
) -> Result<Estimate, OdError> {
    let mut accepted = vec![true; problem.obs.len()];
    let mut run = problem.solve(start, &accepted, cfg.max_iterations)?;
    let mut iterations = run.iterations;
    for _ in 1..MAX_EDIT_ROUNDS {
        let normalized = problem.normalized_rms(&run.residuals, &accepted);
        let edited = problem.edit(&run.residuals, cfg.outlier_k_sigma, normalized);
        let kept = edited.iter().filter(|a| **a).count();
        if edited == accepted || kept < if any_count { 1 } else { 3 } {
            break;
        }
        accepted = edited;
        run = problem.solve(run.x, &accepted, cfg.max_iterations)?;
        iterations += run.iterations;
    }
    let covariance =
        spd_inverse6(&run.normal).ok_or(OdError::NotPositiveDefinite(FitMatrix::Normal))?;
    let biases = problem.biases(run.x, &accepted, &covariance)?;
    Ok(Estimate {
        biases,
        x: run.x,
        covariance,
        rms_rad: run.rms,
        normalized_rms: problem.normalized_rms(&run.residuals, &accepted),
        chi_square: problem.cost(&run.residuals, &accepted),
        iterations,
        used: accepted.iter().filter(|a| **a).count(),
        accepted,
    })
}

/// At least six scalar components in at least three observations: what six state parameters need.
pub(crate) fn enough_for_an_orbit(obs: &[TrackingObservation]) -> Result<(), OdError> {
    let components: usize = obs.iter().map(TrackingObservation::components).sum();
    if components < 6 || obs.len() < 3 {
        return Err(OdError::TooFewObservations {
            got: obs.len(),
            needed: 3,
        });
    }
    Ok(())
}

/// The observation epoch closest to the middle of the arc.
pub(crate) fn middle_epoch(obs: &[TrackingObservation]) -> Epoch {
    let first = obs.iter().map(|o| o.epoch).min().unwrap_or(obs[0].epoch);
    let last = obs.iter().map(|o| o.epoch).max().unwrap_or(obs[0].epoch);
    let mid = first + (last - first) / 2;
    obs.iter()
        .map(|o| o.epoch)
        .min_by_key(|t| (*t - mid).abs())
        .unwrap_or(mid)
}

/// Result of one Levenberg-Marquardt run.
pub(crate) struct Run {
    pub(crate) x: [f64; 6],
    pub(crate) residuals: Vec<[f64; 2]>,
    pub(crate) normal: [[f64; 6]; 6],
    pub(crate) iterations: usize,
    pub(crate) rms: f64,
}

/// Partials of one observation's two residuals with respect to the six state components.
type Partials = [[f64; 6]; 2];

/// How six parameters become GCRF states `[r, v]` (km, km/s) at the observation epochs.
pub(crate) trait Trajectory {
    /// The states of every member of `members` at each of `at`: `out[k][m]` is member `m` at `at[k]`.
    fn states(&self, members: &[[f64; 6]], at: &[Epoch]) -> Result<Vec<Vec<[f64; 6]>>, OdError>;
    /// Finite-difference step of parameter `j`.
    fn delta(&self, j: usize) -> f64;
    /// The states at `at` and their partials `d state_k / d x` when the trajectory has them in closed form (the
    /// state transition matrix); `None`: the partials of the residuals are taken by central differences over a
    /// bundle of the nominal and twelve perturbed parameter sets.
    fn states_with_partials(&self, _x: [f64; 6], _at: &[Epoch]) -> Option<StatesWithPartials> {
        None
    }
}

/// States at the observation epochs and their partials with respect to the parameters.
pub(crate) type StatesWithPartials = Result<Vec<([f64; 6], Covariance6)>, OdError>;

/// The parameters are the Cartesian state at `epoch`, integrated numerically ([`propagate_bundle`]); partials from
/// the variational equations ([`propagate_stm`]).
struct Numerical {
    epoch: Epoch,
    forces: Forces,
}

impl Trajectory for Numerical {
    fn states(&self, members: &[[f64; 6]], at: &[Epoch]) -> Result<Vec<Vec<[f64; 6]>>, OdError> {
        propagate_bundle(self.epoch, members, at, &self.forces)
    }

    fn states_with_partials(&self, x: [f64; 6], at: &[Epoch]) -> Option<StatesWithPartials> {
        Some(
            propagate_stm(&StateGcrf::from_array(self.epoch, x), at, &self.forces).map(|out| {
                out.into_iter()
                    .map(|(s, phi)| (s.to_array(), phi))
                    .collect()
            }),
        )
    }

    fn delta(&self, j: usize) -> f64 {
        if j < 3 { DELTA_R_KM } else { DELTA_V_KM_S }
    }
}

/// Observations, their sites at the reception times, how parameters map to states, and an optional prior (mean
/// parameters and their information matrix, the inverse covariance).
pub(crate) struct Problem {
    obs: Vec<TrackingObservation>,
    sites: Vec<SiteAt>,
    trajectory: Box<dyn Trajectory>,
    prior: Option<([f64; 6], Covariance6)>,
    /// Bias groups (station and component) and, per observation and component, its group.
    groups: Vec<(Site, &'static str)>,
    group_of: Vec<[Option<usize>; 2]>,
}

impl Problem {
    /// Cartesian state at `epoch`, numerical propagation with gravity alone.
    pub(crate) fn new(obs: Vec<TrackingObservation>, epoch: Epoch) -> Self {
        Self::with_trajectory(
            obs,
            Box::new(Numerical {
                epoch,
                forces: Forces::default(),
            }),
        )
    }

    pub(crate) fn with_trajectory(
        obs: Vec<TrackingObservation>,
        trajectory: Box<dyn Trajectory>,
    ) -> Self {
        let sites = obs.iter().map(|o| SiteAt::new(&o.site, o.epoch)).collect();
        Self {
            obs,
            sites,
            trajectory,
            prior: None,
            groups: vec![],
            group_of: vec![],
        }
    }

    /// One bias per station and measured component; stations are told apart by their coordinates.
    pub(crate) fn group_biases(&mut self) {
        let mut groups: Vec<(Site, &'static str)> = vec![];
        self.group_of = self
            .obs
            .iter()
            .map(|o| {
                let names: [Option<&'static str>; 2] = match o.measured {
                    Measured::RaDec { .. } => [Some("ra_rad"), Some("dec_rad")],
                    Measured::AzEl { .. } => [Some("azimuth_rad"), Some("elevation_rad")],
                    Measured::Range { .. } => [Some("range_km"), None],
                    Measured::RangeRate { .. } => [Some("range_rate_km_s"), None],
                };
                names.map(|name| {
                    let name = name?;
                    let key = (o.site, name);
                    Some(groups.iter().position(|g| *g == key).unwrap_or_else(|| {
                        groups.push(key);
                        groups.len() - 1
                    }))
                })
            })
            .collect();
        self.groups = groups;
    }

    /// Per bias group, `(sum r / sigma, sum 1 / sigma^2)` over the accepted observations, with `r` from `values`
    /// (whitened residuals, or one column of their partials).
    fn group_sums(
        &self,
        values: impl Fn(usize, usize) -> f64,
        accepted: &[bool],
    ) -> Vec<(f64, f64)> {
        let mut sums = vec![(0.0, 0.0); self.groups.len()];
        for (i, (o, groups)) in self.obs.iter().zip(&self.group_of).enumerate() {
            if !accepted[i] {
                continue;
            }
            for (k, g) in groups.iter().enumerate() {
                if let Some(g) = g {
                    sums[*g].0 += values(i, k) / o.sigma()[k];
                    sums[*g].1 += o.sigma()[k].powi(-2);
                }
            }
        }
        sums
    }

    /// Removes the best biases for the current state from the residuals and their partials (variable projection,
    /// see the module doc); a no-op without bias groups.
    fn project(&self, res: &mut [[f64; 2]], partials: Option<&mut [Partials]>, accepted: &[bool]) {
        if self.groups.is_empty() {
            return;
        }
        let means = |sums: Vec<(f64, f64)>| -> Vec<f64> {
            sums.into_iter()
                .map(|(sum, weight)| if weight > 0.0 { sum / weight } else { 0.0 })
                .collect()
        };
        let members = || {
            self.obs
                .iter()
                .zip(&self.group_of)
                .enumerate()
                .flat_map(|(i, (o, groups))| {
                    groups
                        .iter()
                        .enumerate()
                        .filter_map(move |(k, g)| g.map(|g| (i, k, g, o.sigma()[k])))
                })
        };
        let bias = means(self.group_sums(|i, k| res[i][k], accepted));
        for (i, k, g, sigma) in members() {
            res[i][k] -= bias[g] / sigma;
        }
        if let Some(p) = partials {
            let slopes: Vec<Vec<f64>> = (0..6)
                .map(|a| means(self.group_sums(|i, k| p[i][k][a], accepted)))
                .collect();
            for (i, k, g, sigma) in members() {
                for (a, slope) in slopes.iter().enumerate() {
                    p[i][k][a] -= slope[g] / sigma;
                }
            }
        }
    }

    /// The bias estimates at the state `x` and their sigmas (see the module doc); empty without bias groups, and
    /// a group whose measurements were all rejected has no estimate.
    fn biases(
        &self,
        x: [f64; 6],
        accepted: &[bool],
        covariance: &Covariance6,
    ) -> Result<Vec<StationBias>, OdError> {
        if self.groups.is_empty() {
            return Ok(vec![]);
        }
        let (res, partials) = self.residuals_and_partials(x)?;
        let sums = self.group_sums(|i, k| res[i][k], accepted);
        let mut columns = vec![[0.0; 6]; self.groups.len()];
        for a in 0..6 {
            for (g, (sum, weight)) in self
                .group_sums(|i, k| partials[i][k][a], accepted)
                .into_iter()
                .enumerate()
            {
                // b_g = sum(r / sigma) / W for whitened residuals r, so db_g/dx = sum(dr/dx / sigma) / W.
                columns[g][a] = if weight > 0.0 { sum / weight } else { 0.0 };
            }
        }
        let mut counts = vec![0; self.groups.len()];
        for (i, groups) in self.group_of.iter().enumerate() {
            if accepted[i] {
                for g in groups.iter().flatten() {
                    counts[*g] += 1;
                }
            }
        }
        Ok(self
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| sums[*g].1 > 0.0)
            .map(|(g, (site, component))| {
                let (sum, weight) = sums[g];
                let c = columns[g];
                let propagated: f64 = (0..6)
                    .map(|a| (0..6).map(|b| c[a] * covariance[a][b] * c[b]).sum::<f64>())
                    .sum();
                StationBias {
                    site: *site,
                    component: component.to_string(),
                    value: sum / weight,
                    sigma: (1.0 / weight + propagated).sqrt(),
                    measurements: counts[g],
                }
            })
            .collect())
    }

    /// The problem of optical observations.
    pub(crate) fn optical(obs: &[Observation], epoch: Epoch) -> Self {
        Self::new(obs.iter().map(TrackingObservation::from).collect(), epoch)
    }

    fn epochs(&self) -> Vec<Epoch> {
        self.obs.iter().map(|o| o.epoch).collect()
    }

    /// Whitened residuals of every observation for the state `x` at the solution epoch.
    pub(crate) fn residuals(&self, x: [f64; 6]) -> Result<Vec<[f64; 2]>, OdError> {
        let states = self.trajectory.states(&[x], &self.epochs())?;
        Ok(self.residuals_of(&states, 0))
    }

    fn residuals_of(&self, states: &[Vec<[f64; 6]>], member: usize) -> Vec<[f64; 2]> {
        self.obs
            .iter()
            .zip(&self.sites)
            .zip(states)
            .map(|((o, site), s)| whitened_residual(o, site, &s[member]))
            .collect()
    }

    /// Residuals at `x` and their partials with respect to `x` (`d residual / d x`), central differences.
    pub(crate) fn residuals_and_partials(
        &self,
        x: [f64; 6],
    ) -> Result<(Vec<[f64; 2]>, Vec<Partials>), OdError> {
        if let Some(states) = self.trajectory.states_with_partials(x, &self.epochs()) {
            return Ok(self.chain_partials(&states?));
        }
        let mut bundle = vec![x];
        for j in 0..6 {
            for sign in [1.0, -1.0] {
                let mut xp = x;
                xp[j] += sign * self.trajectory.delta(j);
                bundle.push(xp);
            }
        }
        let states = self.trajectory.states(&bundle, &self.epochs())?;
        let nominal = self.residuals_of(&states, 0);
        let mut partials = vec![[[0.0; 6]; 2]; self.obs.len()];
        for j in 0..6 {
            let d = self.trajectory.delta(j);
            let plus = self.residuals_of(&states, 1 + 2 * j);
            let minus = self.residuals_of(&states, 2 + 2 * j);
            for (p, (rp, rm)) in partials.iter_mut().zip(plus.iter().zip(&minus)) {
                p[0][j] = (rp[0] - rm[0]) / (2.0 * d);
                p[1][j] = (rp[1] - rm[1]) / (2.0 * d);
            }
        }
        Ok((nominal, partials))
    }

    /// Residuals and their partials from states with their partials: `dr/dx = (dr/ds) (ds/dx)`, the measurement
    /// partials `dr/ds` by central differences of the measurement model at each state (1 m, 1 mm/s).
    fn chain_partials(&self, states: &[([f64; 6], Covariance6)]) -> (Vec<[f64; 2]>, Vec<Partials>) {
        let mut residuals = Vec::with_capacity(states.len());
        let mut partials = Vec::with_capacity(states.len());
        for ((o, site), (state, ds_dx)) in self.obs.iter().zip(&self.sites).zip(states) {
            residuals.push(whitened_residual(o, site, state));
            let mut dr_ds = [[0.0; 6]; 2];
            for j in 0..6 {
                let d = if j < 3 { DELTA_R_KM } else { DELTA_V_KM_S };
                let (mut plus, mut minus) = (*state, *state);
                plus[j] += d;
                minus[j] -= d;
                let (rp, rm) = (
                    whitened_residual(o, site, &plus),
                    whitened_residual(o, site, &minus),
                );
                for c in 0..2 {
                    dr_ds[c][j] = (rp[c] - rm[c]) / (2.0 * d);
                }
            }
            partials.push(std::array::from_fn(|c| {
                std::array::from_fn(|a| (0..6).map(|j| dr_ds[c][j] * ds_dx[j][a]).sum())
            }));
        }
        (residuals, partials)
    }

    /// `b^T W b` over the accepted observations (whitened residuals: the sum of their squares).
    pub(crate) fn cost(&self, residuals: &[[f64; 2]], accepted: &[bool]) -> f64 {
        residuals
            .iter()
            .enumerate()
            .filter(|(i, _)| accepted[*i])
            .map(|(_, r)| r[0] * r[0] + r[1] * r[1])
            .sum()
    }

    /// The cost the iteration minimises: [`Self::cost`] plus the prior's `(x - x_p)^T P_p^-1 (x - x_p)`.
    fn total_cost(&self, residuals: &[[f64; 2]], accepted: &[bool], x: &[f64; 6]) -> f64 {
        let prior = self.prior.as_ref().map_or(0.0, |(mean, info)| {
            let d: [f64; 6] = std::array::from_fn(|a| x[a] - mean[a]);
            (0..6)
                .map(|a| (0..6).map(|b| d[a] * info[a][b] * d[b]).sum::<f64>())
                .sum()
        });
        self.cost(residuals, accepted) + prior
    }

    /// `sqrt(sum w r^2 / sum w)` over the accepted angle components (rad); NaN when there are none.
    pub(crate) fn weighted_rms(&self, residuals: &[[f64; 2]], accepted: &[bool]) -> f64 {
        let (mut cost, mut wsum) = (0.0, 0.0);
        for ((o, r), _) in self
            .obs
            .iter()
            .zip(residuals)
            .zip(accepted)
            .filter(|(_, a)| **a)
        {
            if o.is_angular() {
                cost += r[0] * r[0] + r[1] * r[1];
                wsum += o.sigma()[0].powi(-2) + o.sigma()[1].powi(-2);
            }
        }
        (cost / wsum).sqrt()
    }

    /// `sqrt(b^T W b / m)` over the `m` accepted scalar components.
    pub(crate) fn normalized_rms(&self, residuals: &[[f64; 2]], accepted: &[bool]) -> f64 {
        let m: usize = self
            .obs
            .iter()
            .zip(accepted)
            .filter(|(_, a)| **a)
            .map(|(o, _)| o.components())
            .sum();
        (self.cost(residuals, accepted) / m.max(1) as f64).sqrt()
    }

    /// Levenberg-Marquardt from `x` on the accepted observations.
    pub(crate) fn solve(
        &self,
        mut x: [f64; 6],
        accepted: &[bool],
        max_iterations: usize,
    ) -> Result<Run, OdError> {
        let (mut res, mut partials) = self.residuals_and_partials(x)?;
        self.project(&mut res, Some(&mut partials), accepted);
        let mut cost = self.total_cost(&res, accepted, &x);
        let mut lambda = 1e-3;
        let mut iterations = 0;
        let mut normal;
        let mut done = false;
        loop {
            // Normal equations: residual b = obs - computed, partials of b are -A, so A^T W A = J^T W J and
            // A^T W b = -J^T W b with J = d b / d x.
            normal = [[0.0; 6]; 6];
            let mut rhs = [0.0; 6];
            for (i, (r, p)) in res.iter().zip(&partials).enumerate() {
                if !accepted[i] {
                    continue;
                }
                for k in 0..2 {
                    for a in 0..6 {
                        rhs[a] -= p[k][a] * r[k];
                        for b in 0..6 {
                            normal[a][b] += p[k][a] * p[k][b];
                        }
                    }
                }
            }
            if let Some((mean, info)) = &self.prior {
                for a in 0..6 {
                    for b in 0..6 {
                        normal[a][b] += info[a][b];
                        rhs[a] += info[a][b] * (mean[b] - x[b]);
                    }
                }
            }
            if done || iterations >= max_iterations {
                break;
            }
            iterations += 1;
            let mut improved = None;
            while lambda <= MAX_LAMBDA {
                let mut damped = normal;
                for (a, row) in damped.iter_mut().enumerate() {
                    row[a] += lambda * normal[a][a];
                }
                let Some(dx) = spd_solve6(&damped, rhs) else {
                    lambda *= 10.0;
                    continue;
                };
                let trial: [f64; 6] = std::array::from_fn(|a| x[a] + dx[a]);
                let trial_cost = self
                    .residuals(trial)
                    .map(|mut r| {
                        self.project(&mut r, None, accepted);
                        self.total_cost(&r, accepted, &trial)
                    })
                    .unwrap_or(f64::INFINITY);
                if trial_cost < cost {
                    improved = Some((trial, trial_cost));
                    lambda = (lambda / 10.0).max(1e-9);
                    break;
                }
                lambda *= 10.0;
            }
            let Some((trial, trial_cost)) = improved else {
                break;
            };
            // After the last step, one more pass rebuilds the normal matrix at the final state, then stops.
            done = (cost - trial_cost) <= CONVERGED_REL_COST * cost;
            x = trial;
            (res, partials) = self.residuals_and_partials(x)?;
            self.project(&mut res, Some(&mut partials), accepted);
            cost = self.total_cost(&res, accepted, &x);
        }
        let rms = self.weighted_rms(&res, accepted);
        Ok(Run {
            x,
            residuals: res,
            normal,
            iterations,
            rms,
        })
    }

    /// Accepted flags after k-sigma editing of the whitened `residuals`; `norm_rms` is the normalised RMS of the
    /// observations accepted so far (rejected ones must not widen the limit that judges them).
    fn edit(&self, residuals: &[[f64; 2]], k_sigma: f64, norm_rms: f64) -> Vec<bool> {
        let limit = k_sigma * norm_rms.max(1.0);
        residuals
            .iter()
            .map(|r| r[0].abs().max(r[1].abs()) <= limit)
            .collect()
    }
}
