//! Review by catalog maintainers: the objects awaiting a decision with their evidence, and the decisions.
//!
//! An object the track stage creates is a `candidate`. A maintainer accepts it (it becomes `catalogued`, as imported
//! objects are), rejects it with a reason (`rejected`: kept with its observations, but the track stage no longer
//! correlates tracks with it, see [`crate::Catalog::known_orbits`]), or merges it into another object (`merged`:
//! its tracks and observations move to that object, whose orbit is refitted on all of them together). Each decision is one
//! transaction that records who and why in the history, which the `kessler.catalog` topic then announces (the
//! history is its outbox).

use kessler_od::elements::{Elements, elements};
use kessler_od::{
    FitConfig, Observation, OrbitSolution, TrackingObservation, fit_orbit, fit_tracking_with_prior,
    predict_radec, propagate,
};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{
    CHANGE_SCHEMA_VERSION, Catalog, CatalogChange, CatalogError, ChangeKind, ObjectStatus,
    ObjectSummary, OrbitSource,
};
use kessler_od::measurement::arc_middle;

/// Longest reviewer name, characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest reason, characters.
pub const MAX_REASON_CHARS: usize = 2000;
/// Catalog objects shown as possible identities of a candidate.
pub const NEAREST: usize = 5;

const ARCSEC_PER_RAD: f64 = 206_264.806_247_096_36;

/// What the candidates list shows: every filter is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CandidateFilter {
    /// One [`ObjectStatus`]; all statuses when absent.
    pub status: Option<ObjectStatus>,
    /// Objects with at least one track of this sensor.
    pub sensor: Option<String>,
    /// Objects last observed on or after this UTC date, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Objects first observed on or before this UTC date, `YYYY-MM-DD`.
    pub to: Option<String>,
    pub sort: Option<SortKey>,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
}

/// The candidates list's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Id,
    First,
    Last,
    Observations,
    Rms,
    Sigma,
}

/// One row of the candidates list.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateRow {
    pub id: String,
    pub status: ObjectStatus,
    /// Sensors of its tracks.
    pub sensors: Vec<String>,
    /// First and last observation, UTC.
    pub first_utc: String,
    pub last_utc: String,
    pub tracks: usize,
    pub observations: usize,
    /// Post-fit RMS of the angle residuals, arcsec; `None` for an orbit that is not a fit.
    pub rms_arcsec: Option<f64>,
    /// [`position_sigma_km`] of the latest orbit's covariance.
    pub position_sigma_km: f64,
    pub orbit_source: OrbitSource,
    pub norad_id: Option<u64>,
    pub name: Option<String>,
}

/// The 1-sigma position uncertainty of an orbit, km: the root sum square of the three position sigmas
/// (`sqrt(trace)` of the covariance's position block).
pub fn position_sigma_km(covariance: &[[f64; 6]; 6]) -> f64 {
    (covariance[0][0] + covariance[1][1] + covariance[2][2])
        .max(0.0)
        .sqrt()
}

/// An observation's residual against the orbit: measured less computed.
#[derive(Debug, Clone, Serialize)]
pub struct Residual {
    pub observation_id: String,
    pub sensor_id: String,
    pub epoch_utc: String,
    /// Seconds after the object's first observation.
    pub t_s: f64,
    /// Right ascension residual on the sky (`dRA cos(Dec)`), arcsec.
    pub ra_arcsec: f64,
    pub dec_arcsec: f64,
    /// The observation's 1-sigma per angle, arcsec.
    pub sigma_arcsec: f64,
}

/// A catalog object that a candidate could be: its distance from the candidate at the candidate's epoch.
#[derive(Debug, Clone, Serialize)]
pub struct Neighbour {
    pub id: String,
    pub status: ObjectStatus,
    pub norad_id: Option<u64>,
    pub name: Option<String>,
    pub distance_km: f64,
}

/// A track of an object.
#[derive(Debug, Clone, Serialize)]
pub struct TrackRow {
    pub id: String,
    pub sensor_id: String,
    pub first_utc: String,
    pub last_utc: String,
    pub observations: usize,
}

/// A streak behind an object, with the detections message of its frame as received (which holds the streak's
/// pixels, measurement and cutout).
#[derive(Debug, Clone, Serialize)]
pub struct StreakRef {
    pub streak_id: String,
    pub frame_id: String,
    pub sensor_id: String,
    #[serde(skip)]
    pub detections_json: String,
}

/// A row of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub seq: i64,
    pub at_utc: String,
    pub object_id: String,
    pub change: ChangeKind,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub merged: Option<String>,
}

/// Everything the review of one object shows.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateDetail {
    pub summary: CandidateRow,
    pub orbit: OrbitSolution,
    pub elements: Elements,
    pub residuals: Vec<Residual>,
    pub tracks: Vec<TrackRow>,
    pub nearest: Vec<Neighbour>,
    pub streaks: Vec<StreakRef>,
    pub history: Vec<Decision>,
}

/// Why a review operation was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewProblem {
    #[error(
        "the reviewer's name must be 1 to {MAX_NAME_CHARS} characters without control characters"
    )]
    ReviewerName,
    #[error("the reason must be at most {MAX_REASON_CHARS} characters without control characters")]
    ReasonText,
    #[error("a rejection needs a reason")]
    NoReason,
    #[error("{field} {value:?} is not a date YYYY-MM-DD")]
    NotADate { field: &'static str, value: String },
    #[error("is {0}, not a candidate awaiting review")]
    NotACandidate(ObjectStatus),
    #[error("cannot be merged into itself")]
    MergeIntoItself,
    #[error("cannot be merged into {into}, which is {status}")]
    MergeTarget { into: String, status: ObjectStatus },
    #[error("the refit of {into} on all observations failed: {source}")]
    Refit {
        into: String,
        source: kessler_od::OdError,
    },
}

/// A checked reviewer name and reason: names are 1..=64 characters, reasons at most 2000, neither with control
/// characters (a reason may have line breaks).
fn check_text(
    object: &str,
    by: &str,
    reason: Option<&str>,
) -> Result<(String, Option<String>), CatalogError> {
    let bad = |problem| CatalogError::Review {
        object: object.to_string(),
        problem,
    };
    let by = by.trim();
    if by.is_empty() || by.chars().count() > MAX_NAME_CHARS || by.chars().any(char::is_control) {
        return Err(bad(ReviewProblem::ReviewerName));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason
        && (r.chars().count() > MAX_REASON_CHARS
            || r.chars().any(|c| c.is_control() && c != '\n' && c != '\r'))
    {
        return Err(bad(ReviewProblem::ReasonText));
    }
    Ok((by.to_string(), reason.map(str::to_string)))
}

/// Whether `date` is `YYYY-MM-DD`.
fn is_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

impl Catalog {
    /// The objects `filter` selects, sorted as it asks (by id by default).
    pub fn candidates(&self, filter: &CandidateFilter) -> Result<Vec<CandidateRow>, CatalogError> {
        for (field, date) in [("from", &filter.from), ("to", &filter.to)] {
            if let Some(d) = date
                && !is_date(d)
            {
                return Err(CatalogError::Review {
                    object: "filter".into(),
                    problem: ReviewProblem::NotADate {
                        field,
                        value: d.clone(),
                    },
                });
            }
        }
        let mut sensors_of = self.sensors_by_object()?;
        let mut rows = vec![];
        for summary in self.list_objects()? {
            if filter.status.is_some_and(|s| s != summary.status)
                || filter
                    .from
                    .as_ref()
                    .is_some_and(|d| summary.last_utc.get(..10).is_none_or(|l| l < d.as_str()))
                || filter
                    .to
                    .as_ref()
                    .is_some_and(|d| summary.first_utc.get(..10).is_none_or(|f| f > d.as_str()))
            {
                continue;
            }
            let sensors = sensors_of.remove(&summary.id).unwrap_or_default();
            if filter.sensor.as_ref().is_some_and(|s| !sensors.contains(s)) {
                continue;
            }
            rows.push(row(summary, sensors));
        }
        let key = filter.sort.unwrap_or(SortKey::Id);
        rows.sort_by(|a, b| {
            let by_number = |x: f64, y: f64| x.total_cmp(&y);
            match key {
                SortKey::Id => a.id.cmp(&b.id),
                SortKey::First => a.first_utc.cmp(&b.first_utc),
                SortKey::Last => a.last_utc.cmp(&b.last_utc),
                SortKey::Observations => a.observations.cmp(&b.observations),
                SortKey::Rms => by_number(
                    a.rms_arcsec.unwrap_or(f64::INFINITY),
                    b.rms_arcsec.unwrap_or(f64::INFINITY),
                ),
                SortKey::Sigma => by_number(a.position_sigma_km, b.position_sigma_km),
            }
            .then_with(|| a.id.cmp(&b.id))
        });
        if filter.descending {
            rows.reverse();
        }
        Ok(rows)
    }

    /// The sensors of every object's tracks, by name (one query for the whole list).
    fn sensors_by_object(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT object_id, sensor_id FROM tracks ORDER BY object_id, sensor_id",
        )?;
        let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
            let (object, sensor) = row?;
            out.entry(object).or_default().push(sensor);
        }
        Ok(out)
    }

    /// The sensors of an object's tracks, by name.
    fn object_sensors(&self, object_id: &str) -> Result<Vec<String>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT sensor_id FROM tracks WHERE object_id = ?1 ORDER BY sensor_id",
        )?;
        let rows = stmt.query_map([object_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Everything the review of `object_id` shows; `None` when there is no such object.
    pub fn candidate(&self, object_id: &str) -> Result<Option<CandidateDetail>, CatalogError> {
        let Some(summary) = self.object(object_id)? else {
            return Ok(None);
        };
        let orbit = summary.orbit.clone();
        let observations = self.object_observations(object_id)?;
        let first = observations.iter().map(|o| o.epoch).min();
        let residuals = observations
            .iter()
            .filter_map(|o| residual(&orbit, o, first?))
            .collect();
        let mut stmt = self.conn.prepare(
            "SELECT id, sensor_id, first_utc, last_utc, observations FROM tracks WHERE object_id = ?1
             ORDER BY first_utc, id",
        )?;
        let tracks = stmt
            .query_map([object_id], |r| {
                Ok(TrackRow {
                    id: r.get(0)?,
                    sensor_id: r.get(1)?,
                    first_utc: r.get(2)?,
                    last_utc: r.get(3)?,
                    observations: r.get::<_, i64>(4)? as usize,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let streaks = self.object_streaks(object_id)?;
        let nearest = self.nearest(&summary)?;
        let history = self.decisions(Some(object_id))?;
        let sensors = self.object_sensors(object_id)?;
        Ok(Some(CandidateDetail {
            elements: elements(&orbit.state),
            summary: row(summary, sensors),
            orbit,
            residuals,
            tracks,
            nearest,
            streaks,
            history,
        }))
    }

    /// The streaks behind an object, in time order, each with its frame's detections message.
    pub fn object_streaks(&self, object_id: &str) -> Result<Vec<StreakRef>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.frame_id, s.sensor_id, f.detections FROM streaks s
             JOIN tracks t ON t.id = s.track_id
             JOIN frames f ON f.frame_id = s.frame_id AND f.sensor_id = s.sensor_id
             WHERE t.object_id = ?1 ORDER BY s.start_tai_s, s.id",
        )?;
        let streaks = stmt.query_map([object_id], |r| {
            Ok(StreakRef {
                streak_id: r.get(0)?,
                frame_id: r.get(1)?,
                sensor_id: r.get(2)?,
                detections_json: r.get(3)?,
            })
        })?;
        Ok(streaks.collect::<Result<_, _>>()?)
    }

    /// The [`NEAREST`] other live objects (not rejected or merged) closest to `summary`'s orbit at its epoch.
    fn nearest(&self, summary: &ObjectSummary) -> Result<Vec<Neighbour>, CatalogError> {
        let state = &summary.orbit.state;
        let others: std::collections::HashMap<String, ObjectSummary> = self
            .list_objects()?
            .into_iter()
            .filter(|o| o.id != summary.id && o.status.is_live())
            .map(|o| (o.id.clone(), o))
            .collect();
        let mut out: Vec<Neighbour> = self
            .known_orbits(state.epoch)?
            .into_iter()
            .filter_map(|k| {
                let other = others.get(&k.id)?;
                let there = propagate(&k.state, state.epoch).ok()?;
                let d = (0..3)
                    .map(|i| (there.r_km[i] - state.r_km[i]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                Some(Neighbour {
                    id: k.id,
                    status: other.status,
                    norad_id: other.norad_id,
                    name: other.name.clone(),
                    distance_km: d,
                })
            })
            .collect();
        out.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
        out.truncate(NEAREST);
        Ok(out)
    }

    /// The history's rows, newest first: of one object, or all.
    pub fn decisions(&self, object_id: Option<&str>) -> Result<Vec<Decision>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at_utc, object_id, change, detail FROM history
             WHERE ?1 IS NULL OR object_id = ?1 ORDER BY seq DESC",
        )?;
        let rows = stmt.query_map([object_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, ChangeKind>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, at_utc, object_id, change, detail) = row?;
            let detail: CatalogChange =
                serde_json::from_str(&detail).map_err(|source| CatalogError::Json {
                    table: "history",
                    id: seq.to_string(),
                    source,
                })?;
            Ok(Decision {
                seq,
                at_utc,
                object_id,
                change,
                by: detail.by,
                reason: detail.reason,
                merged: detail.merged,
            })
        })
        .collect()
    }

    /// The status of `object_id`, or [`CatalogError::NoObject`].
    fn status(tx: &rusqlite::Transaction, object_id: &str) -> Result<ObjectStatus, CatalogError> {
        tx.query_row(
            "SELECT status FROM objects WHERE id = ?1",
            [object_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| CatalogError::NoObject(object_id.to_string()))
    }

    /// Set a candidate's status to `status` and record the decision.
    fn decide(
        &mut self,
        object_id: &str,
        (change, status): (ChangeKind, ObjectStatus),
        by: &str,
        reason: Option<&str>,
    ) -> Result<CatalogChange, CatalogError> {
        let (by, reason) = check_text(object_id, by, reason)?;
        let tx = self.conn.transaction()?;
        let now = Self::status(&tx, object_id)?;
        if now != ObjectStatus::Candidate {
            return Err(CatalogError::Review {
                object: object_id.to_string(),
                problem: ReviewProblem::NotACandidate(now),
            });
        }
        tx.execute(
            "UPDATE objects SET status = ?2 WHERE id = ?1",
            params![object_id, status],
        )?;
        let orbit = Self::latest_orbit(&tx, object_id)?;
        let decision = CatalogChange {
            schema_version: CHANGE_SCHEMA_VERSION,
            object_id: object_id.to_string(),
            change,
            track_id: String::new(),
            observations: 0,
            orbit,
            by: Some(by),
            reason,
            merged: None,
        };
        Self::record_change(&tx, &decision)?;
        tx.commit()?;
        Ok(decision)
    }

    /// The latest orbit of an object.
    fn latest_orbit(
        tx: &rusqlite::Transaction,
        object_id: &str,
    ) -> Result<OrbitSolution, CatalogError> {
        let json: String = tx.query_row(
            "SELECT solution FROM orbits WHERE object_id = ?1 ORDER BY seq DESC LIMIT 1",
            [object_id],
            |r| r.get(0),
        )?;
        serde_json::from_str(&json).map_err(|source| CatalogError::Json {
            table: "orbits",
            id: object_id.to_string(),
            source,
        })
    }

    /// Add a history row.
    fn record_change(
        tx: &rusqlite::Transaction,
        change: &CatalogChange,
    ) -> Result<(), CatalogError> {
        let detail = serde_json::to_string(change).expect("a catalog change always serialises");
        tx.execute(
            "INSERT INTO history (object_id, change, detail) VALUES (?1, ?2, ?3)",
            params![change.object_id, change.change, detail],
        )?;
        Ok(())
    }

    /// Accept a candidate: it becomes a `catalogued` object.
    pub fn accept(
        &mut self,
        object_id: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<CatalogChange, CatalogError> {
        self.decide(
            object_id,
            (ChangeKind::Accepted, ObjectStatus::Catalogued),
            by,
            reason,
        )
    }

    /// Reject a candidate, saying why: it stays in the catalog as `rejected` and is no longer correlated.
    pub fn reject(
        &mut self,
        object_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<CatalogChange, CatalogError> {
        if reason.trim().is_empty() {
            return Err(CatalogError::Review {
                object: object_id.to_string(),
                problem: ReviewProblem::NoReason,
            });
        }
        self.decide(
            object_id,
            (ChangeKind::Rejected, ObjectStatus::Rejected),
            by,
            Some(reason),
        )
    }

    /// Merge a candidate into the live object `into`: the candidate's tracks and observations move to it, its orbit
    /// is refitted on all of them (from its latest orbit, with its element set as prior where it has one), and the
    /// candidate becomes `merged`. Nothing changes when the refit fails. Returns the target's change.
    pub fn merge(
        &mut self,
        object_id: &str,
        into: &str,
        (by, reason): (&str, Option<&str>),
        fit: &FitConfig,
    ) -> Result<CatalogChange, CatalogError> {
        let (by, reason) = check_text(object_id, by, reason)?;
        let bad = |problem| CatalogError::Review {
            object: object_id.to_string(),
            problem,
        };
        if object_id == into {
            return Err(bad(ReviewProblem::MergeIntoItself));
        }
        let mut all = self.object_observations(into)?;
        let added = self.object_observations(object_id)?;
        all.extend(added.iter().cloned());
        all.sort_by(|a, b| a.epoch.cmp(&b.epoch).then_with(|| a.id.cmp(&b.id)));
        let tx = self.conn.transaction()?;
        let (from_status, into_status) = (Self::status(&tx, object_id)?, Self::status(&tx, into)?);
        if from_status != ObjectStatus::Candidate {
            return Err(bad(ReviewProblem::NotACandidate(from_status)));
        }
        if !into_status.is_live() {
            return Err(bad(ReviewProblem::MergeTarget {
                into: into.to_string(),
                status: into_status,
            }));
        }
        let start = Self::latest_orbit(&tx, into)?;
        drop(tx);
        let middle = arc_middle(&all).unwrap_or(start.state.epoch);
        let solution = match self.element_prior(into, middle)? {
            Some(prior) => {
                let tracking: Vec<TrackingObservation> =
                    all.iter().map(TrackingObservation::from).collect();
                fit_tracking_with_prior(&tracking, &start.state, &prior, fit)
            }
            None => fit_orbit(&all, &start.state, fit),
        }
        .map_err(|source| {
            bad(ReviewProblem::Refit {
                into: into.to_string(),
                source,
            })
        })?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE tracks SET object_id = ?2 WHERE object_id = ?1",
            params![object_id, into],
        )?;
        tx.execute(
            "UPDATE observations SET object_id = ?2 WHERE object_id = ?1",
            params![object_id, into],
        )?;
        tx.execute(
            "UPDATE objects SET status = ?2 WHERE id = ?1",
            params![object_id, ObjectStatus::Merged],
        )?;
        let from_orbit = Self::latest_orbit(&tx, object_id)?;
        let on_candidate = CatalogChange {
            schema_version: CHANGE_SCHEMA_VERSION,
            object_id: object_id.to_string(),
            change: ChangeKind::Merged,
            track_id: String::new(),
            observations: 0,
            orbit: from_orbit,
            by: Some(by.clone()),
            reason: reason.clone(),
            merged: Some(into.to_string()),
        };
        Self::record_change(&tx, &on_candidate)?;
        let orbit = serde_json::to_string(&solution).expect("an orbit solution always serialises");
        tx.execute(
            "INSERT INTO orbits (object_id, solution, source) VALUES (?1, ?2, ?3)",
            params![into, orbit, OrbitSource::Fit],
        )?;
        let on_target = CatalogChange {
            schema_version: CHANGE_SCHEMA_VERSION,
            object_id: into.to_string(),
            change: ChangeKind::Merged,
            track_id: String::new(),
            observations: added.len(),
            orbit: solution,
            by: Some(by),
            reason,
            merged: Some(object_id.to_string()),
        };
        Self::record_change(&tx, &on_target)?;
        tx.commit()?;
        Ok(on_target)
    }
}

/// The list row of an object.
fn row(summary: ObjectSummary, sensors: Vec<String>) -> CandidateRow {
    CandidateRow {
        rms_arcsec: summary
            .orbit
            .rms_arcsec
            .filter(|_| summary.orbit_source == OrbitSource::Fit),
        position_sigma_km: position_sigma_km(&summary.orbit.covariance),
        id: summary.id,
        status: summary.status,
        sensors,
        first_utc: summary.first_utc,
        last_utc: summary.last_utc,
        tracks: summary.tracks,
        observations: summary.observations,
        orbit_source: summary.orbit_source,
        norad_id: summary.norad_id,
        name: summary.name,
    }
}

/// An observation's residual against `orbit` (`first`: the object's first observation); `None` when the orbit
/// cannot be propagated to it.
fn residual(orbit: &OrbitSolution, o: &Observation, first: kessler_od::Epoch) -> Option<Residual> {
    let computed = predict_radec(&orbit.state, &o.site, o.epoch).ok()?;
    let mut dra = o.radec.ra_rad - computed.ra_rad;
    dra -= std::f64::consts::TAU * (dra / std::f64::consts::TAU).round();
    let ra_arcsec = dra * o.radec.dec_rad.cos() * ARCSEC_PER_RAD;
    let dec_arcsec = (o.radec.dec_rad - computed.dec_rad) * ARCSEC_PER_RAD;
    Some(Residual {
        observation_id: o.id.clone(),
        sensor_id: o.sensor_id.clone(),
        epoch_utc: o.epoch.to_string(),
        t_s: (o.epoch - first).to_seconds(),
        ra_arcsec,
        dec_arcsec,
        sigma_arcsec: o.sigma_rad * ARCSEC_PER_RAD,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kessler_od::{Duration, Epoch, Site, StateGcrf, Tracklet};

    const SITE: Site = Site {
        lat_deg: 28.3,
        lon_deg: -16.5,
        alt_km: 2.4,
    };

    fn t0() -> Epoch {
        Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0)
    }

    /// A circular orbit at 7000 km, 45 degrees inclination.
    fn truth() -> StateGcrf {
        let v = (kessler_od::propagator::MU_KM3_S2 / 7000.0).sqrt();
        let c = std::f64::consts::FRAC_1_SQRT_2;
        StateGcrf {
            epoch: t0(),
            r_km: [7000.0, 0.0, 0.0],
            v_km_s: [0.0, v * c, v * c],
        }
    }

    /// Ten noise-free observations of the truth, one every 12 s from `start_s` after t0.
    fn tracklet(name: &str, start_s: f64) -> Tracklet {
        let observations = (0..10)
            .map(|k| {
                let epoch = t0() + Duration::from_seconds(start_s + 12.0 * k as f64);
                Observation {
                    id: format!("ogs/{name}/s0/{k}"),
                    sensor_id: "ogs".into(),
                    site: SITE,
                    epoch,
                    radec: predict_radec(&truth(), &SITE, epoch).unwrap(),
                    sigma_rad: 1e-5,
                }
            })
            .collect();
        Tracklet {
            streak_ids: vec![format!("ogs/{name}/s0")],
            observations,
        }
    }

    fn solution(state: StateGcrf) -> OrbitSolution {
        let mut covariance = [[0.0; 6]; 6];
        for (i, row) in covariance.iter_mut().enumerate() {
            row[i] = if i < 3 { 4.0 } else { 1e-6 };
        }
        OrbitSolution {
            state,
            covariance,
            rms_arcsec: Some(1.0),
            normalized_rms: 1.0,
            chi_square: 10.0,
            iterations: 3,
            observations_used: 10,
            observations_rejected: 0,
            accepted: vec![],
            biases: vec![],
        }
    }

    /// Three candidates: two tracks of one object ten minutes apart (K00001, K00002) and a third (K00003).
    fn catalog() -> Catalog {
        let mut catalog = Catalog::open_in_memory().unwrap();
        for (name, start_s) in [("f1", 0.0), ("f2", 600.0), ("f3", 1200.0)] {
            let state = propagate(&truth(), t0() + Duration::from_seconds(start_s)).unwrap();
            catalog
                .add_track(None, &tracklet(name, start_s), &solution(state))
                .unwrap();
        }
        catalog
    }

    #[test]
    fn candidates_are_listed_filtered_and_sorted() {
        let catalog = catalog();
        let ids = |filter: CandidateFilter| -> Vec<String> {
            catalog
                .candidates(&filter)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(
            ids(CandidateFilter::default()),
            ["K00001", "K00002", "K00003"]
        );
        let newest_first = CandidateFilter {
            sort: Some(SortKey::Last),
            descending: true,
            ..CandidateFilter::default()
        };
        assert_eq!(ids(newest_first), ["K00003", "K00002", "K00001"]);
        let other_sensor = CandidateFilter {
            sensor: Some("radar".into()),
            ..CandidateFilter::default()
        };
        assert!(ids(other_sensor).is_empty());
        let later = CandidateFilter {
            from: Some("2006-06-27".into()),
            ..CandidateFilter::default()
        };
        assert!(ids(later).is_empty());
        let row = &catalog.candidates(&CandidateFilter::default()).unwrap()[0];
        assert_eq!(
            (row.observations, row.sensors.as_slice()),
            (10, &["ogs".to_string()][..])
        );
        assert!((row.position_sigma_km - 12f64.sqrt()).abs() < 1e-12);
        let bad = CandidateFilter {
            to: Some("26/06/2006".into()),
            ..CandidateFilter::default()
        };
        assert!(matches!(
            catalog.candidates(&bad),
            Err(CatalogError::Review {
                problem: ReviewProblem::NotADate { field: "to", .. },
                ..
            })
        ));
    }

    #[test]
    fn a_candidate_shows_its_residuals_elements_and_nearest_objects() {
        let detail = catalog().candidate("K00001").unwrap().unwrap();
        assert_eq!(detail.residuals.len(), 10);
        // The orbit is the truth: the residuals are rounding only.
        assert!(
            detail
                .residuals
                .iter()
                .all(|r| r.ra_arcsec.abs() < 1e-3 && r.dec_arcsec.abs() < 1e-3),
            "{:?}",
            detail.residuals
        );
        let e = detail.elements;
        assert!((e.a_km - 7000.0).abs() < 1e-6 && e.e < 1e-9 && (e.i_deg - 45.0).abs() < 1e-9);
        assert!((e.period_min.unwrap() - 97.14).abs() < 0.01);
        // The other two are the same orbit: at this epoch they are where this one is.
        assert_eq!(detail.nearest.len(), 2);
        assert!(
            detail.nearest.iter().all(|n| n.distance_km < 1e-3),
            "{:?}",
            detail.nearest
        );
        assert_eq!(detail.history.len(), 1);
        assert_eq!(detail.history[0].change, ChangeKind::Created);
        assert!(catalog().candidate("K00042").unwrap().is_none());
    }

    #[test]
    fn decisions_change_the_status_once_and_are_recorded_with_who_and_why() {
        let mut catalog = catalog();
        let fit = FitConfig::default();
        for refused in [
            catalog.accept("K00001", " ", None),
            catalog.accept("K00001", "a\u{7}b", None),
            catalog.reject("K00001", "ana", "  "),
            catalog.merge("K00001", "K00001", ("ana", None), &fit),
            catalog.accept("K00042", "ana", None),
        ] {
            assert!(refused.is_err());
        }
        assert_eq!(
            catalog.decisions(None).unwrap().len(),
            3,
            "nothing recorded"
        );

        let merged = catalog
            .merge("K00002", "K00001", ("ana", Some("same object")), &fit)
            .unwrap();
        assert_eq!(
            (merged.object_id.as_str(), merged.observations),
            ("K00001", 10)
        );
        assert!(
            merged.orbit.rms_arcsec.unwrap() < 0.01,
            "{:?}",
            merged.orbit.rms_arcsec
        );
        assert_eq!(catalog.object_observations("K00001").unwrap().len(), 20);
        assert!(catalog.object_observations("K00002").unwrap().is_empty());

        catalog.accept("K00001", "ana", None).unwrap();
        catalog.reject("K00003", "bo", "a reflection").unwrap();
        assert!(
            catalog.accept("K00001", "ana", None).is_err(),
            "decided once"
        );
        assert!(
            catalog
                .merge("K00003", "K00001", ("bo", None), &fit)
                .is_err()
        );

        let status: Vec<(String, ObjectStatus)> = catalog
            .list_objects()
            .unwrap()
            .into_iter()
            .map(|o| (o.id, o.status))
            .collect();
        assert_eq!(
            status,
            [
                ("K00001".into(), ObjectStatus::Catalogued),
                ("K00002".into(), ObjectStatus::Merged),
                ("K00003".into(), ObjectStatus::Rejected)
            ]
        );
        let known: Vec<String> = catalog
            .known_orbits(t0())
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(
            known,
            ["K00001"],
            "rejected and merged objects are not correlated"
        );

        let history = catalog.decisions(None).unwrap();
        let last: Vec<(&str, ChangeKind, Option<&str>, Option<&str>)> = history[..4]
            .iter()
            .map(|d| {
                (
                    d.object_id.as_str(),
                    d.change,
                    d.by.as_deref(),
                    d.merged.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            last,
            [
                ("K00003", ChangeKind::Rejected, Some("bo"), None),
                ("K00001", ChangeKind::Accepted, Some("ana"), None),
                ("K00001", ChangeKind::Merged, Some("ana"), Some("K00002")),
                ("K00002", ChangeKind::Merged, Some("ana"), Some("K00001")),
            ]
        );
        assert_eq!(history[0].reason.as_deref(), Some("a reflection"));
        // Every decision waits in the outbox for the catalog topic.
        assert_eq!(catalog.unpublished_changes().unwrap().len(), 7);
    }
}
