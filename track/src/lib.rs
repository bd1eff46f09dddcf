//! The track stage: streaks in, tracks and orbits out, with the catalog as its store.
//!
//! [`Tracker::process`] links each sensor's pending streaks into tracklets ([`link_tracklets`]). A tracklet is
//! processed once it is closed (nothing can join it any more: the sensor's newest streak is more than the linking
//! gap later) or when the caller flushes. A tracklet whose every measurement one stored track already holds (same
//! sensor, exposure and direction: the same night replayed under new frame ids) is marked as a duplicate of that
//! track and changes nothing. Any
//! other closed tracklet is correlated with the catalog's orbits ([`correlate`]: coarse angular gate, then
//! Mahalanobis gate under the orbit's covariance); on a match, the object's orbit is refitted on all its
//! observations from its previous state, with its element set (if it has one) as a priori information at the
//! solution epoch ([`fit_tracking_with_prior`]); otherwise an angles-only initial orbit ([`initial_orbit`]) seeds a
//! fit of the tracklet alone and the result becomes a new candidate object. Fits whose residual RMS is implausible
//! are not stored: their streaks stay pending, and the [`Outcome`] says why ([`SkipReason`]).
//!
//! The stage keeps no state of its own beyond which tracklets it has already tried: pending streaks live in the
//! catalog, so a restarted stage picks up where the last one stopped.
//!
//! ```
//! use kessler_catalog::Catalog;
//! use kessler_track::{TrackConfig, Tracker};
//!
//! let mut tracker = Tracker::new(Catalog::open_in_memory()?, TrackConfig::default());
//! // Each frame's streaks enter through `tracker.catalog.record_frame(..)`; then, at the end of a night:
//! assert!(tracker.process(true)?.is_empty());
//! # Ok::<(), kessler_catalog::CatalogError>(())
//! ```

use std::collections::HashSet;

use kessler_od::{
    CorrelationGate, FitConfig, LinkConfig, OdError, OrbitSolution, TrackingObservation, Tracklet,
    correlate, fit_orbit, fit_tracking_with_prior, initial_orbit, link_tracklets,
};

use kessler_catalog::{Catalog, CatalogChange, CatalogError};
use kessler_od::measurement::arc_middle;

/// Settings of the track stage.
#[derive(Debug, Clone, Copy)]
pub struct TrackConfig {
    pub link: LinkConfig,
    pub fit: FitConfig,
    /// Correlation gates (coarse angular and Mahalanobis).
    pub correlation: CorrelationGate,
    /// Largest post-fit RMS accepted into the catalog, arcsec.
    pub max_rms_arcsec: f64,
    /// Fewest observations for a new object (a tracklet of one streak gives two: not enough for an orbit).
    pub min_new_observations: usize,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            link: LinkConfig::default(),
            fit: FitConfig::default(),
            correlation: CorrelationGate::default(),
            max_rms_arcsec: 60.0,
            min_new_observations: 4,
        }
    }
}

/// Why a tracklet was left pending.
#[derive(Debug, thiserror::Error)]
pub enum SkipReason {
    #[error("an empty tracklet")]
    Empty,
    #[error(
        "{observations} observations correlate with no known object and are too few for a new orbit"
    )]
    TooFewForNewOrbit { observations: usize },
    #[error("orbit determination failed: {0}")]
    OrbitDetermination(#[from] OdError),
    #[error("the fit has no angle residuals to judge it by")]
    NoAngles,
    #[error("post-fit RMS {rms_arcsec:.1} arcsec exceeds {max_arcsec:.1}")]
    Rms { rms_arcsec: f64, max_arcsec: f64 },
}

/// What happened to one tracklet.
#[derive(Debug)]
pub enum Outcome {
    Stored(Box<CatalogChange>),
    /// Every exposure of the tracklet is already in this track: nothing changed.
    Duplicate {
        streak_ids: Vec<String>,
        track_id: String,
    },
    /// Not stored: why (the streaks stay pending).
    Skipped {
        streak_ids: Vec<String>,
        reason: SkipReason,
    },
}

/// The track stage over a catalog.
pub struct Tracker {
    pub catalog: Catalog,
    pub config: TrackConfig,
    /// Tracklets (by member streak ids) already tried and not stored: they are tried again only once they change,
    /// so a tracklet that cannot be fitted costs one attempt, not one per incoming frame.
    skipped: HashSet<Vec<String>>,
}

impl Tracker {
    pub fn new(catalog: Catalog, config: TrackConfig) -> Tracker {
        Tracker {
            catalog,
            config,
            skipped: HashSet::new(),
        }
    }

    /// Link, correlate and fit the pending streaks of every sensor; `flush` also processes tracklets that could
    /// still grow (end of a night, or an idle stream).
    pub fn process(&mut self, flush: bool) -> Result<Vec<Outcome>, CatalogError> {
        let mut outcomes = vec![];
        for sensor in self.catalog.sensors_with_pending()? {
            let streaks = self.catalog.pending_streaks(&sensor)?;
            let Some(newest) = streaks.iter().map(|s| s.start).max() else {
                continue;
            };
            let mut tracklets = link_tracklets(&streaks, &self.config.link);
            tracklets.sort_by_key(|t| t.observations.first().map(|o| o.epoch));
            for tracklet in tracklets {
                let last = tracklet
                    .observations
                    .last()
                    .map(|o| o.epoch)
                    .unwrap_or(newest);
                let closed = (newest - last).to_seconds() > self.config.link.max_gap_s;
                if (flush || closed) && !self.skipped.contains(&tracklet.streak_ids) {
                    let outcome = self.store(&tracklet)?;
                    if let Outcome::Skipped { streak_ids, .. } = &outcome {
                        self.skipped.insert(streak_ids.clone());
                    }
                    outcomes.push(outcome);
                }
            }
        }
        Ok(outcomes)
    }

    fn store(&mut self, tracklet: &Tracklet) -> Result<Outcome, CatalogError> {
        let skipped = |reason: SkipReason| Outcome::Skipped {
            streak_ids: tracklet.streak_ids.clone(),
            reason,
        };
        let Some(middle) = arc_middle(&tracklet.observations) else {
            return Ok(skipped(SkipReason::Empty));
        };
        if let Some(track_id) = self
            .catalog
            .track_with_observations(&tracklet.observations)?
        {
            self.catalog
                .mark_duplicates(&tracklet.streak_ids, &track_id)?;
            return Ok(Outcome::Duplicate {
                streak_ids: tracklet.streak_ids.clone(),
                track_id,
            });
        }
        let known = self.catalog.known_orbits(middle)?;
        let (object, fitted) = match correlate(tracklet, &known, &self.config.correlation) {
            Some(matched) => {
                let previous = known
                    .iter()
                    .find(|k| k.id == matched.id)
                    .map(|k| k.state)
                    .expect("a known orbit");
                let mut all = self.catalog.object_observations(&matched.id)?;
                all.extend(tracklet.observations.iter().cloned());
                let fit = match self.refit_prior(&matched.id, &all)? {
                    Some(prior) => {
                        let tracking: Vec<TrackingObservation> =
                            all.iter().map(TrackingObservation::from).collect();
                        fit_tracking_with_prior(&tracking, &previous, &prior, &self.config.fit)
                    }
                    None => fit_orbit(&all, &previous, &self.config.fit),
                };
                (Some(matched.id), fit)
            }
            None => {
                if tracklet.observations.len() < self.config.min_new_observations {
                    return Ok(skipped(SkipReason::TooFewForNewOrbit {
                        observations: tracklet.observations.len(),
                    }));
                }
                let fit = initial_orbit(&tracklet.observations).and_then(|initial| {
                    fit_orbit(&tracklet.observations, &initial, &self.config.fit)
                });
                (None, fit)
            }
        };
        let solution: OrbitSolution = match fitted {
            Ok(s) => s,
            Err(e) => return Ok(skipped(e.into())),
        };
        let Some(rms_arcsec) = solution.rms_arcsec else {
            return Ok(skipped(SkipReason::NoAngles));
        };
        if rms_arcsec > self.config.max_rms_arcsec {
            return Ok(skipped(SkipReason::Rms {
                rms_arcsec,
                max_arcsec: self.config.max_rms_arcsec,
            }));
        }
        let change = self
            .catalog
            .add_track(object.as_deref(), tracklet, &solution)?;
        Ok(Outcome::Stored(Box::new(change)))
    }

    /// The prior of a refit of `object_id` on `all` its observations: its element set at the middle of their arc
    /// (the solution epoch), or `None` for an object known only from its own tracks.
    fn refit_prior(
        &self,
        object_id: &str,
        all: &[kessler_od::Observation],
    ) -> Result<Option<kessler_od::Prior>, CatalogError> {
        let Some(middle) = arc_middle(all) else {
            return Ok(None);
        };
        self.catalog.element_prior(object_id, middle)
    }
}
