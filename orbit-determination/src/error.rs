//! The errors of orbit determination, as values a caller can match: which method failed and why, with the numbers
//! that made it fail.

use hifitime::Epoch;

/// Errors of the orbit-determination crate.
#[derive(Debug, thiserror::Error)]
pub enum OdError {
    /// Fewer measurements than the method needs.
    #[error("too few observations: {got}, need at least {needed}")]
    TooFewObservations {
        /// How many were given.
        got: usize,
        /// The minimum the method needs.
        needed: usize,
    },
    /// A state that cannot be propagated: non-finite, or inside the Earth's centre (GCRF).
    #[error("invalid state: r {r_km:?} km, v {v_km_s:?} km/s")]
    InvalidState { r_km: [f64; 3], v_km_s: [f64; 3] },
    /// The numerical integration failed.
    #[error("propagation failed: {0}")]
    Propagation(#[from] PropagationError),
    /// Initial orbit determination found no admissible orbit.
    #[error("initial orbit determination failed: {0}")]
    Iod(#[from] IodError),
    /// A matrix of the least-squares fit is not positive definite: the observations (and prior) do not
    /// determine the orbit.
    #[error("orbit fit failed: the {0} is not positive definite")]
    NotPositiveDefinite(FitMatrix),
    /// A TLE whose lines do not parse.
    #[error("TLE: {0}")]
    Tle(#[from] sgp4::TleError),
    /// Elements that SGP4 cannot be initialised with.
    #[error("TLE elements: {0}")]
    Elements(#[from] sgp4::ElementsError),
    /// A fitted element set whose epoch is not a calendar date SGP4's TLE type can hold.
    #[error("TLE: epoch {0} is not a calendar date")]
    TleEpoch(Epoch),
    /// SGP4 failed to propagate (e.g. the orbit decayed).
    #[error("SGP4: {0}")]
    Sgp4(#[from] sgp4::Error),
    /// An Earth orientation file that does not read (boxed: it is rare, and keeps every result small).
    #[error(transparent)]
    Eop(Box<EopError>),
}

/// An Earth orientation file that does not read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("EOP {file}{}: {problem}", line.map_or(String::new(), |l| format!(":{l}")))]
pub struct EopError {
    pub file: String,
    /// 1-based line, where one line is at fault.
    pub line: Option<usize>,
    pub problem: EopProblem,
}

impl From<EopError> for OdError {
    fn from(e: EopError) -> Self {
        OdError::Eop(Box::new(e))
    }
}

/// Which matrix of a fit was not positive definite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMatrix {
    /// The a priori covariance given with the prior.
    PriorCovariance,
    /// The normal matrix `J^T W J` (plus the prior's information).
    Normal,
}

impl std::fmt::Display for FitMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FitMatrix::PriorCovariance => "prior covariance",
            FitMatrix::Normal => "normal matrix",
        })
    }
}

/// Why the numerical integration stopped.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PropagationError {
    #[error("step budget exhausted")]
    StepBudget,
    #[error("non-finite state")]
    NonFinite,
    /// The step size fell below the smallest allowed at `t_s` seconds from the start.
    #[error("step size underflow at t = {t_s} s")]
    StepUnderflow { t_s: f64 },
}

/// Why an initial orbit method found no orbit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IodError {
    #[error("Gibbs: degenerate geometry")]
    GibbsDegenerate,
    #[error("Gauss needs three distinct, ordered times")]
    GaussTimes,
    #[error("Gauss: lines of sight are coplanar")]
    GaussCoplanar,
    #[error("double-r: {0}")]
    DoubleR(DoubleRFailure),
    #[error("no admissible Gauss root and no converged double-r solution")]
    NoAngleSolution,
    /// A beam-park crossing's range rate that no circular orbit at that radius has.
    #[error(
        "beam park: a range rate of {range_rate_km_s} km/s is beyond a circular orbit at {radius_km:.1} km"
    )]
    BeamParkRangeRate {
        range_rate_km_s: f64,
        radius_km: f64,
    },
    #[error("Lambert: the time of flight is longer than one revolution allows")]
    LambertTooLong,
    #[error("Lambert: use lambert() for zero revolutions")]
    LambertZeroRevolutions,
    #[error(
        "Lambert: {tof_s} s is shorter than the {revolutions}-revolution minimum of {minimum_s:.3} s"
    )]
    LambertBelowMinimum {
        tof_s: f64,
        revolutions: u32,
        minimum_s: f64,
    },
    #[error("Lambert: the transfer angle is 0 or 180 deg, or the time of flight is not positive")]
    LambertGeometry,
    #[error("no hyperbola is that fast")]
    LambertHyperbola,
    /// Mixed tracking with neither three range + az/el epochs of one site nor three RA/Dec.
    #[error("the data have neither three range + az/el epochs nor three RA/Dec")]
    NoMethodFits,
}

/// Why the double-r iteration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoubleRFailure {
    NoEllipseThrough,
    NoEllipseNear,
    SingularStep,
    LeftAdmissibleRegion,
    NoConvergence,
}

impl std::fmt::Display for DoubleRFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DoubleRFailure::NoEllipseThrough => "no elliptic orbit through the trial ranges",
            DoubleRFailure::NoEllipseNear => "no elliptic orbit near the trial ranges",
            DoubleRFailure::SingularStep => "singular Newton step",
            DoubleRFailure::LeftAdmissibleRegion => "the ranges left the admissible region",
            DoubleRFailure::NoConvergence => "no convergence",
        })
    }
}

/// What is wrong in an Earth orientation file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EopProblem {
    #[error("column {columns} ({what}) is not a number: {value:?}")]
    NotANumber {
        /// 1-based columns, `a-b`.
        columns: String,
        what: &'static str,
        value: String,
    },
    #[error("MJD {mjd} does not follow the row before")]
    OutOfOrder { mjd: f64 },
    #[error("no rows with MJD, polar motion and UT1-UTC")]
    NoRows,
}
