//! Orbit determination for kessler: time, frames, sites, propagation, optical measurement models, initial orbit
//! determination, batch least squares and track association.
//!
//! The pieces and how they connect:
//!
//! - [`Epoch`] (hifitime) is the time type everywhere; UTC at the edges, TT/UT1 where the physics needs them.
//! - [`StateGcrf`] is a Cartesian state (km, km/s) in GCRF. [`propagate`] / [`propagate_many`] move it with a
//!   numerical two-body + J2..J6 model ([`Forces`] add drag: [`propagate_with`]); [`Tle`] gives SGP4 states of catalog objects, converted from TEME with
//!   [`teme_to_gcrf`].
//! - [`Site`] is a WGS84 sensor site; [`topocentric_radec`] and [`predict_radec`] model what it sees ([`RaDec`],
//!   geometric, light-time corrected, GCRF axes).
//! - The detector turns a streak into a [`StreakMeasurement`]; [`link_tracklets`] chains the streaks of one sensor
//!   into [`Tracklet`]s of oriented [`Observation`]s; [`correlate`] matches a tracklet with known orbits;
//!   [`initial_orbit`] (Gauss) and [`fit_orbit`] (batch least squares) give an [`OrbitSolution`] for the rest.
//! - [`TrackingObservation`]s carry any [`Measured`] kind (RA/Dec, [`AzEl`], range, range rate, each with its sigma; [`measurement`]);
//!   [`fit_tracking`] fits a mix of them (with a [`Prior`]: [`fit_tracking_with_prior`]), and
//!   [`initial_orbit_from_positions`] starts radar fits. [`fit_tle`] fits SGP4 mean elements (a TLE) instead.
//! - [`correlate`] gates with the Mahalanobis distance under each [`KnownOrbit`]'s covariance; [`Tle::prior_at`]
//!   gives an element set's nominal covariance.
//!
//! Frames use the Earth orientation parameters of an IERS file when one is loaded ([`eop::use_eop`]), zero (UT1 =
//! UTC, no polar motion) otherwise; see [`frames`].
//!
//! ```
//! use kessler_od::{Epoch, FitConfig, Tle, fit_orbit, initial_orbit, Observation, Site, topocentric_radec};
//!
//! let tle = Tle::parse(
//!     None,
//!     "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
//!     "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
//! )?;
//! let site = Site { lat_deg: 28.3, lon_deg: -16.51, alt_km: 2.39 };
//! // Five exact angles over 40 s of a pass, then IOD and a fit.
//! let t0 = Epoch::from_gregorian_utc(2006, 6, 26, 22, 1, 0, 0);
//! let obs: Vec<Observation> = (0..5)
//!     .map(|k| {
//!         let t = t0 + kessler_od::Duration::from_seconds(10.0 * k as f64);
//!         let radec = topocentric_radec(&site, t, |te| tle.state_gcrf(te).unwrap().r_km);
//!         Observation {
//!             id: format!("f{k}/s0/start"),
//!             sensor_id: "tel".into(),
//!             site,
//!             epoch: t,
//!             radec,
//!             sigma_rad: 5.0 / 206_264.806,
//!         }
//!     })
//!     .collect();
//! let iod = initial_orbit(&obs)?;
//! let fit = fit_orbit(&obs, &iod, &FitConfig::default())?;
//! assert!(fit.rms_arcsec.unwrap() < 1.0);
//! # Ok::<(), kessler_od::OdError>(())
//! ```

pub mod association;
pub mod elements;
pub mod eop;
mod error;
pub mod fit;
pub mod frames;
pub mod iod;
mod linalg;
pub mod measurement;
pub mod propagator;
pub mod site;
pub mod tle;
pub mod tle_fit;

pub use association::{
    Correlation, CorrelationGate, KnownOrbit, LinkConfig, Tracklet, correlate, link_tracklets,
};
pub use error::{
    DoubleRFailure, EopError, EopProblem, FitMatrix, IodError, OdError, PropagationError,
};
pub use fit::{
    Covariance6, FitConfig, OrbitSolution, Prior, StationBias, fit_orbit, fit_tracking,
    fit_tracking_with_prior,
};
pub use frames::{itrf_to_gcrf_matrix, teme_to_gcrf};
pub use hifitime::{Duration, Epoch};
pub use iod::{
    IodMethod, initial_orbit, initial_orbit_from_positions, initial_orbit_from_tracking,
};
pub use measurement::{
    AzEl, Measured, Observation, RaDec, StreakMeasurement, TrackingObservation, predict_radec,
    topocentric_radec,
};
pub use propagator::{
    Drag, Forces, StateGcrf, propagate, propagate_many, propagate_many_with, propagate_with,
};
pub use site::Site;
pub use tle::Tle;
pub use tle_fit::{TleHeader, TleSolution, fit_tle};
