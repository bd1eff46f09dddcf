//! The catalog: a SQLite database of objects, their latest orbit, the tracks and observations behind it, the
//! streaks still waiting to be linked, and the history of every change.
//!
//! The track stage (the kessler-track crate) writes through [`Catalog`]:
//! 1. [`Catalog::record_frame`] stores a frame's streaks once (a replayed frame adds nothing);
//! 2. [`Catalog::pending_streaks`] gives the streaks not yet in a track, which the stage links into tracklets;
//! 3. [`Catalog::add_track`] stores a tracklet with its fitted orbit, as a new candidate object or onto a known one,
//!    in one transaction, and records the change in the history.
//!
//! Objects known from elsewhere enter through [`Catalog::import_tle`] (status `catalogued`, orbit source `tle`);
//! [`Catalog::known_orbits`] gives every object's orbit for correlation: its latest orbit, which is either a fit or
//! (after an import, until the next fit) the element set through SGP4 with its nominal accuracy
//! ([`kessler_od::Tle::prior_at`]).
//!
//! Every change is also announced on the catalog topic through the outbox of [`announce`].
//!
//! CCSDS formats: [`tdm`] reads Tracking Data Messages into tracking measurements, [`oem`] writes a fitted orbit
//! and its covariance as an Orbit Ephemeris Message, [`omm`] an SGP4 element set as an Orbit Mean-elements Message.
//!
//! ```
//! use kessler_catalog::Catalog;
//! let catalog = Catalog::open_in_memory().unwrap();
//! assert!(catalog.list_objects().unwrap().is_empty());
//! ```

pub mod announce;
pub mod kinds;
pub mod oem;
pub mod omm;
pub mod review;
pub mod tdm;

use std::path::Path;

use kessler_od::measurement::separation;
use kessler_od::{
    Epoch, KnownOrbit, Observation, OdError, OrbitSolution, Prior, StreakMeasurement, Tle, Tracklet,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use kinds::{ChangeKind, ObjectStatus, OrbitSource};

/// What went wrong with the catalog database.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("catalog database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog row {table}/{id}: stored JSON is unreadable: {source}")]
    Json {
        table: &'static str,
        id: String,
        source: serde_json::Error,
    },
    #[error("no object {0} in the catalog")]
    NoObject(String),
    #[error("catalog object {object}: element set: {source}")]
    Elements { object: String, source: OdError },
    #[error("catalog object {object}: {problem}")]
    Review {
        /// The object, or "filter" for a list filter.
        object: String,
        problem: review::ReviewProblem,
    },
    #[error("catalog column {column}: {value:?} is not one of {expected}")]
    UnknownValue {
        column: &'static str,
        value: String,
        expected: String,
    },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS frames (
    sensor_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    streaks INTEGER NOT NULL,
    detections TEXT NOT NULL,
    recorded_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (sensor_id, frame_id)
);
CREATE TABLE IF NOT EXISTS streaks (
    id TEXT PRIMARY KEY,
    sensor_id TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    start_tai_s REAL NOT NULL,
    measurement TEXT NOT NULL,
    track_id TEXT REFERENCES tracks(id)
);
CREATE INDEX IF NOT EXISTS streaks_pending ON streaks(sensor_id, track_id);
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('candidate', 'catalogued', 'rejected', 'merged')),
    created_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS orbits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    object_id TEXT NOT NULL REFERENCES objects(id),
    solution TEXT NOT NULL,
    created_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    source TEXT NOT NULL DEFAULT 'fit' CHECK (source IN ('fit', 'tle'))
);
CREATE TABLE IF NOT EXISTS element_sets (
    object_id TEXT PRIMARY KEY REFERENCES objects(id),
    norad_id INTEGER NOT NULL UNIQUE,
    name TEXT,
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL,
    epoch_tai_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES objects(id),
    sensor_id TEXT NOT NULL,
    first_utc TEXT NOT NULL,
    last_utc TEXT NOT NULL,
    observations INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS observations (
    id TEXT PRIMARY KEY,
    track_id TEXT NOT NULL REFERENCES tracks(id),
    object_id TEXT NOT NULL REFERENCES objects(id),
    epoch_tai_s REAL NOT NULL,
    observation TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_epoch ON observations(epoch_tai_s);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_utc TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    object_id TEXT NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('created', 'refined', 'imported', 'accepted', 'rejected', 'merged')),
    detail TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
";

/// An object's latest orbit and how much evidence is behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectSummary {
    /// Catalog id (`K` and a sequence number).
    pub id: String,
    /// `candidate` until a maintainer reviews it.
    pub status: ObjectStatus,
    pub tracks: usize,
    pub observations: usize,
    /// First and last observation, UTC.
    pub first_utc: String,
    pub last_utc: String,
    /// The latest orbit (GCRF state at its epoch, covariance, fit report).
    pub orbit: OrbitSolution,
    /// Where the latest orbit came from: `fit` (the catalog's own orbit determination) or `tle` (an imported
    /// element set, no observations behind it here).
    pub orbit_source: OrbitSource,
    /// NORAD catalog number and name of the object's element set, when it has one.
    #[serde(default)]
    pub norad_id: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
}

/// How far apart (s) two observation epochs of one sensor may be and still be the same exposure.
const SAME_EPOCH_S: f64 = 1e-3;
/// How far apart two directions at the same exposure may be, in sigmas, and still be the same measurement
/// (a re-reduced frame moves endpoints within their noise; another object in the frame is far away).
pub const SAME_DIRECTION_SIGMAS: f64 = 3.0;

/// Schema version of [`CatalogChange`].
pub const CHANGE_SCHEMA_VERSION: u32 = 1;

/// One catalog change: a row of the history, and a message on the `kessler.catalog` topic (JSON, key = object id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogChange {
    pub schema_version: u32,
    /// Catalog id of the object.
    pub object_id: String,
    /// What the change did: a new candidate, a track added, an import, or a maintainer's decision ([`review`]).
    pub change: ChangeKind,
    /// The track that caused the change (the id of its first streak).
    pub track_id: String,
    /// Observations the track added.
    pub observations: usize,
    /// The object's orbit after the change (GCRF state at its epoch, covariance in km and km/s).
    pub orbit: OrbitSolution,
    /// A maintainer's decision ([`review`]): who made it. Absent from the track stage's and imports' changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why (required for a rejection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `merged`: the object the candidate's observations went into (on the candidate's row), or came from (on the
    /// target's row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<String>,
}

/// A stored element set of `object_id`, parsed.
fn parse_element_set(
    object_id: &str,
    name: Option<&str>,
    line1: &str,
    line2: &str,
) -> Result<Tle, CatalogError> {
    Tle::parse(name, line1, line2).map_err(|source| CatalogError::Elements {
        object: object_id.to_string(),
        source,
    })
}

/// The catalog store.
pub struct Catalog {
    conn: Connection,
}

fn tai_s(t: Epoch) -> f64 {
    t.to_tai_seconds()
}

impl Catalog {
    /// Open (creating if needed) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Catalog, CatalogError> {
        let conn = Connection::open(path).map_err(|source| CatalogError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn)
    }

    /// A catalog that lives in memory only (tests, examples).
    pub fn open_in_memory() -> Result<Catalog, CatalogError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Catalog, CatalogError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        // Catalogs written before orbits had a source: add the column (every orbit then was a fit).
        let has_source: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('orbits') WHERE name = 'source'",
            [],
            |r| r.get(0),
        )?;
        if !has_source {
            conn.execute_batch("ALTER TABLE orbits ADD COLUMN source TEXT NOT NULL DEFAULT 'fit'")?;
        }
        Ok(Catalog { conn })
    }

    /// The next free object id (`K` and a sequence number). The highest number so far, not the count: ids stay
    /// unique when objects are removed or merged.
    fn next_object_id(tx: &rusqlite::Transaction) -> Result<String, CatalogError> {
        let n: i64 = tx.query_row(
            "SELECT COALESCE(MAX(CAST(SUBSTR(id, 2) AS INTEGER)), 0) FROM objects",
            [],
            |r| r.get(0),
        )?;
        Ok(format!("K{:05}", n + 1))
    }

    /// Enter an element set: a new `catalogued` object for a NORAD number the catalog has not seen, or a newer
    /// epoch for a known one (an older or equal epoch changes nothing). Returns the object id and the change, or
    /// `None` for no change. The orbit row holds the SGP4 state at the element epoch with the TLE's nominal
    /// covariance ([`Tle::prior_at`]).
    pub fn import_tle(&mut self, tle: &Tle) -> Result<Option<CatalogChange>, CatalogError> {
        let norad = tle.norad_id() as i64;
        let epoch = tai_s(tle.epoch());
        let tx = self.conn.transaction()?;
        let known: Option<(String, f64)> = tx
            .query_row(
                "SELECT object_id, epoch_tai_s FROM element_sets WHERE norad_id = ?1",
                [norad],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let object_id = match &known {
            Some((_, old)) if *old >= epoch => return Ok(None),
            Some((id, _)) => id.clone(),
            None => {
                let id = Self::next_object_id(&tx)?;
                tx.execute(
                    "INSERT INTO objects (id, status) VALUES (?1, ?2)",
                    params![id, ObjectStatus::Catalogued],
                )?;
                id
            }
        };
        let prior = tle
            .prior_at(tle.epoch())
            .map_err(|source| CatalogError::Elements {
                object: object_id.clone(),
                source,
            })?;
        let [line1, line2] = tle.to_lines();
        tx.execute(
            "INSERT OR REPLACE INTO element_sets (object_id, norad_id, name, line1, line2, epoch_tai_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![object_id, norad, tle.name(), line1, line2, epoch],
        )?;
        let solution = OrbitSolution {
            state: prior.state,
            covariance: prior.covariance,
            rms_arcsec: None,
            normalized_rms: 0.0,
            chi_square: 0.0,
            iterations: 0,
            observations_used: 0,
            observations_rejected: 0,
            accepted: vec![],
            biases: vec![],
        };
        let change = Self::record_orbit(
            &tx,
            &object_id,
            ChangeKind::Imported,
            "",
            0,
            &solution,
            OrbitSource::Tle,
        )?;
        tx.commit()?;
        Ok(Some(change))
    }

    /// The element set of an object, when it has one.
    pub fn element_set(&self, object_id: &str) -> Result<Option<Tle>, CatalogError> {
        let lines: Option<(Option<String>, String, String)> = self
            .conn
            .query_row(
                "SELECT name, line1, line2 FROM element_sets WHERE object_id = ?1",
                [object_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        lines
            .map(|(name, l1, l2)| parse_element_set(object_id, name.as_deref(), &l1, &l2))
            .transpose()
    }

    /// The a priori knowledge an object's element set gives at `t` (see [`Tle::prior_at`]); `None` without one.
    pub fn element_prior(&self, object_id: &str, t: Epoch) -> Result<Option<Prior>, CatalogError> {
        self.element_set(object_id)?
            .map(|tle| {
                tle.prior_at(t).map_err(|source| CatalogError::Elements {
                    object: object_id.to_string(),
                    source,
                })
            })
            .transpose()
    }

    /// Store a frame's streak measurements, with the detections message as received (`detections_json`, kept for
    /// review and scoring). Returns false, changing nothing, when the frame was recorded before.
    pub fn record_frame(
        &mut self,
        frame_id: &str,
        sensor_id: &str,
        streaks: &[StreakMeasurement],
        detections_json: &str,
    ) -> Result<bool, CatalogError> {
        let tx = self.conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO frames (frame_id, sensor_id, streaks, detections) VALUES (?1, ?2, ?3, ?4)",
            params![frame_id, sensor_id, streaks.len() as i64, detections_json],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        for s in streaks {
            let json = serde_json::to_string(s).expect("a streak measurement always serialises");
            tx.execute(
                "INSERT OR IGNORE INTO streaks (id, frame_id, sensor_id, start_tai_s, measurement) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id, frame_id, sensor_id, tai_s(s.start), json],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Every recorded frame's id and detections message as received, by frame id.
    pub fn frame_detections(&self) -> Result<Vec<(String, String)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT frame_id, detections FROM frames ORDER BY frame_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sensors that have streaks not yet in a track.
    pub fn sensors_with_pending(&self) -> Result<Vec<String>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT sensor_id FROM streaks WHERE track_id IS NULL ORDER BY sensor_id",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The streaks of `sensor_id` not yet in a track, in time order.
    pub fn pending_streaks(&self, sensor_id: &str) -> Result<Vec<StreakMeasurement>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, measurement FROM streaks WHERE sensor_id = ?1 AND track_id IS NULL ORDER BY start_tai_s, id",
        )?;
        let rows = stmt.query_map([sensor_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, json) = row?;
            serde_json::from_str(&json).map_err(|source| CatalogError::Json {
                table: "streaks",
                id,
                source,
            })
        })
        .collect()
    }

    /// Every live object's orbit (candidates and catalogued objects, not rejected or merged ones) for correlation at
    /// about `t`: its latest fitted state and covariance, or, for an
    /// object whose latest orbit is its element set, the SGP4 state at `t` with the TLE's nominal covariance
    /// there. Objects whose elements SGP4 cannot propagate to `t` (decayed) are left out.
    pub fn known_orbits(&self, t: Epoch) -> Result<Vec<KnownOrbit>, CatalogError> {
        // One query: each object's latest orbit and its element set (the track stage asks once per tracklet).
        let mut stmt = self.conn.prepare(
            "SELECT o.id, r.solution, r.source, e.name, e.line1, e.line2
             FROM objects o
             JOIN orbits r ON r.seq = (SELECT MAX(seq) FROM orbits WHERE object_id = o.id)
             LEFT JOIN element_sets e ON e.object_id = o.id
             WHERE o.status IN ('candidate', 'catalogued')
             ORDER BY o.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, OrbitSource>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (id, solution, source, name, line1, line2) = row?;
            match (source, line1, line2) {
                (OrbitSource::Tle, Some(l1), Some(l2)) => {
                    if let Ok(prior) =
                        parse_element_set(&id, name.as_deref(), &l1, &l2)?.prior_at(t)
                    {
                        out.push(KnownOrbit {
                            id,
                            state: prior.state,
                            covariance: prior.covariance,
                        });
                    }
                }
                (OrbitSource::Tle, _, _) => {}
                (OrbitSource::Fit, _, _) => {
                    let orbit: OrbitSolution =
                        serde_json::from_str(&solution).map_err(|source| CatalogError::Json {
                            table: "orbits",
                            id: id.clone(),
                            source,
                        })?;
                    out.push(KnownOrbit {
                        id,
                        state: orbit.state,
                        covariance: orbit.covariance,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The track that already holds every one of `observations` (same sensor, epoch within 1 ms, direction within
    /// [`SAME_DIRECTION_SIGMAS`] of the larger sigma): the same exposures seen again, e.g. a night replayed under
    /// new frame ids. Other objects in the same frames share the epochs but not the directions, and a track that
    /// holds only some of the observations is not a match. `None` when no single track holds them all.
    pub fn track_with_observations(
        &self,
        observations: &[Observation],
    ) -> Result<Option<String>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.track_id, o.id, o.observation FROM observations o JOIN tracks t ON t.id = o.track_id
             WHERE t.sensor_id = ?1 AND o.epoch_tai_s BETWEEN ?2 AND ?3",
        )?;
        let mut common: Option<Vec<String>> = None;
        for new in observations {
            let s = tai_s(new.epoch);
            let rows = stmt.query_map(
                params![new.sensor_id, s - SAME_EPOCH_S, s + SAME_EPOCH_S],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )?;
            let mut tracks = vec![];
            for row in rows {
                let (track, id, json) = row?;
                let stored: Observation =
                    serde_json::from_str(&json).map_err(|source| CatalogError::Json {
                        table: "observations",
                        id,
                        source,
                    })?;
                let limit = SAME_DIRECTION_SIGMAS * stored.sigma_rad.max(new.sigma_rad);
                if separation(&stored.radec, &new.radec) <= limit {
                    tracks.push(track);
                }
            }
            let kept = match common {
                None => tracks,
                Some(before) => before.into_iter().filter(|t| tracks.contains(t)).collect(),
            };
            if kept.is_empty() {
                return Ok(None);
            }
            common = Some(kept);
        }
        Ok(common.and_then(|c| c.into_iter().min()))
    }

    /// Mark streaks as seen in an existing track (duplicates of its exposures): they stop being pending and change
    /// nothing else.
    pub fn mark_duplicates(
        &mut self,
        streak_ids: &[String],
        track_id: &str,
    ) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        for s in streak_ids {
            tx.execute(
                "UPDATE streaks SET track_id = ?1 WHERE id = ?2",
                params![track_id, s],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every observation of an object, in time order.
    pub fn object_observations(&self, object_id: &str) -> Result<Vec<Observation>, CatalogError> {
        let mut stmt =
            self.conn.prepare("SELECT id, observation FROM observations WHERE object_id = ?1 ORDER BY epoch_tai_s, id")?;
        let rows = stmt.query_map([object_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, json) = row?;
            serde_json::from_str(&json).map_err(|source| CatalogError::Json {
                table: "observations",
                id,
                source,
            })
        })
        .collect()
    }

    /// Store a tracklet with the orbit fitted to it: onto `object_id`, or as a new candidate object when `None`.
    /// One transaction: the object, the track, its observations, the streaks marked as used, the orbit and the
    /// history row. Returns the change (for the catalog topic).
    pub fn add_track(
        &mut self,
        object_id: Option<&str>,
        tracklet: &Tracklet,
        solution: &OrbitSolution,
    ) -> Result<CatalogChange, CatalogError> {
        let tx = self.conn.transaction()?;
        let (object_id, change) = match object_id {
            Some(id) => {
                let known: Option<String> = tx
                    .query_row("SELECT id FROM objects WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                (
                    known.ok_or_else(|| CatalogError::NoObject(id.to_string()))?,
                    ChangeKind::Refined,
                )
            }
            None => {
                let id = Self::next_object_id(&tx)?;
                tx.execute(
                    "INSERT INTO objects (id, status) VALUES (?1, ?2)",
                    params![id, ObjectStatus::Candidate],
                )?;
                (id, ChangeKind::Created)
            }
        };
        let track_id = tracklet.streak_ids.first().cloned().unwrap_or_default();
        let (first, last) = match (tracklet.observations.first(), tracklet.observations.last()) {
            (Some(f), Some(l)) => (f.epoch.to_string(), l.epoch.to_string()),
            _ => (String::new(), String::new()),
        };
        let sensor = tracklet
            .observations
            .first()
            .map(|o| o.sensor_id.clone())
            .unwrap_or_default();
        tx.execute(
            "INSERT OR REPLACE INTO tracks (id, object_id, sensor_id, first_utc, last_utc, observations) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![track_id, object_id, sensor, first, last, tracklet.observations.len() as i64],
        )?;
        for o in &tracklet.observations {
            let json = serde_json::to_string(o).expect("an observation always serialises");
            tx.execute(
                "INSERT OR IGNORE INTO observations (id, track_id, object_id, epoch_tai_s, observation) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![o.id, track_id, object_id, tai_s(o.epoch), json],
            )?;
        }
        for s in &tracklet.streak_ids {
            tx.execute(
                "UPDATE streaks SET track_id = ?1 WHERE id = ?2",
                params![track_id, s],
            )?;
        }
        let change = Self::record_orbit(
            &tx,
            &object_id,
            change,
            &track_id,
            tracklet.observations.len(),
            solution,
            OrbitSource::Fit,
        )?;
        tx.commit()?;
        Ok(change)
    }

    /// Store an object's new orbit and the history row of the change.
    fn record_orbit(
        tx: &rusqlite::Transaction,
        object_id: &str,
        change: ChangeKind,
        track_id: &str,
        observations: usize,
        solution: &OrbitSolution,
        source: OrbitSource,
    ) -> Result<CatalogChange, CatalogError> {
        let orbit = serde_json::to_string(solution).expect("an orbit solution always serialises");
        tx.execute(
            "INSERT INTO orbits (object_id, solution, source) VALUES (?1, ?2, ?3)",
            params![object_id, orbit, source],
        )?;
        let change = CatalogChange {
            schema_version: CHANGE_SCHEMA_VERSION,
            object_id: object_id.to_string(),
            change,
            track_id: track_id.to_string(),
            observations,
            orbit: solution.clone(),
            by: None,
            reason: None,
            merged: None,
        };
        let detail = serde_json::to_string(&change).expect("a catalog change always serialises");
        tx.execute(
            "INSERT INTO history (object_id, change, detail) VALUES (?1, ?2, ?3)",
            params![object_id, change.change, detail],
        )?;
        Ok(change)
    }

    /// Changes not yet acknowledged by the `kessler.catalog` topic (an outbox: a change is committed with its
    /// track, and published afterwards, so a crash in between delays it but never loses it), oldest first, with
    /// their history sequence numbers.
    pub fn unpublished_changes(&self) -> Result<Vec<(i64, CatalogChange)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, detail FROM history WHERE published = 0 ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (seq, json) = row?;
            let change = serde_json::from_str(&json).map_err(|source| CatalogError::Json {
                table: "history",
                id: seq.to_string(),
                source,
            })?;
            Ok((seq, change))
        })
        .collect()
    }

    /// Mark a change as acknowledged by the catalog topic.
    pub fn mark_published(&mut self, seq: i64) -> Result<(), CatalogError> {
        self.conn
            .execute("UPDATE history SET published = 1 WHERE seq = ?1", [seq])?;
        Ok(())
    }

    /// Every object with its latest orbit, by id.
    pub fn list_objects(&self) -> Result<Vec<ObjectSummary>, CatalogError> {
        self.summaries(None)
    }

    /// One object with its latest orbit; `None` when there is no such object.
    pub fn object(&self, id: &str) -> Result<Option<ObjectSummary>, CatalogError> {
        Ok(self.summaries(Some(id))?.pop())
    }

    /// The summaries of every object, or of the one object `only`.
    fn summaries(&self, only: Option<&str>) -> Result<Vec<ObjectSummary>, CatalogError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.id, o.status,
                    (SELECT COUNT(*) FROM tracks t WHERE t.object_id = o.id),
                    (SELECT COUNT(*) FROM observations b WHERE b.object_id = o.id),
                    (SELECT MIN(first_utc) FROM tracks t WHERE t.object_id = o.id),
                    (SELECT MAX(last_utc) FROM tracks t WHERE t.object_id = o.id),
                    (SELECT solution FROM orbits r WHERE r.object_id = o.id ORDER BY seq DESC LIMIT 1),
                    (SELECT source FROM orbits r WHERE r.object_id = o.id ORDER BY seq DESC LIMIT 1),
                    e.norad_id, e.name
             FROM objects o LEFT JOIN element_sets e ON e.object_id = o.id
             WHERE ?1 IS NULL OR o.id = ?1 ORDER BY o.id",
        )?;
        let rows = stmt.query_map([only], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, ObjectStatus>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, OrbitSource>(7)?,
                r.get::<_, Option<i64>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        rows.map(|row| {
            let (id, status, tracks, observations, first, last, orbit, source, norad, name) = row?;
            let orbit = serde_json::from_str(&orbit).map_err(|source| CatalogError::Json {
                table: "orbits",
                id: id.clone(),
                source,
            })?;
            Ok(ObjectSummary {
                id,
                status,
                tracks: tracks as usize,
                observations: observations as usize,
                first_utc: first.unwrap_or_default(),
                last_utc: last.unwrap_or_default(),
                orbit,
                orbit_source: source,
                norad_id: norad.map(|n| n as u64),
                name,
            })
        })
        .collect()
    }

    /// The history of changes, oldest first: (time UTC, object id, change, detail JSON).
    pub fn history(&self) -> Result<Vec<(String, String, String, String)>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at_utc, object_id, change, detail FROM history ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kessler_od::{RaDec, Site, StateGcrf};

    fn streak(frame: &str, k: usize, start: Epoch) -> StreakMeasurement {
        StreakMeasurement {
            id: format!("{frame}/s{k}"),
            frame_id: frame.into(),
            sensor_id: "ogs".into(),
            site: Site {
                lat_deg: 28.3,
                lon_deg: -16.5,
                alt_km: 2.4,
            },
            start,
            end: start + kessler_od::Duration::from_seconds(2.0),
            a: RaDec {
                ra_rad: 1.0,
                dec_rad: 0.2,
            },
            b: RaDec {
                ra_rad: 1.01,
                dec_rad: 0.21,
            },
            sigma_rad: 1e-4,
        }
    }

    fn solution(epoch: Epoch) -> OrbitSolution {
        OrbitSolution {
            state: StateGcrf {
                epoch,
                r_km: [7000.0, 0.0, 0.0],
                v_km_s: [0.0, 7.5, 0.0],
            },
            covariance: [[0.0; 6]; 6],
            rms_arcsec: Some(3.0),
            normalized_rms: 0.7,
            chi_square: 2.0,
            iterations: 4,
            observations_used: 2,
            observations_rejected: 0,
            accepted: vec![],
            biases: vec![],
        }
    }

    fn tracklet(s: &StreakMeasurement) -> Tracklet {
        let obs = |id: &str, epoch, radec| Observation {
            id: format!("{}/{id}", s.id),
            sensor_id: s.sensor_id.clone(),
            site: s.site,
            epoch,
            radec,
            sigma_rad: s.sigma_rad,
        };
        Tracklet {
            streak_ids: vec![s.id.clone()],
            observations: vec![obs("start", s.start, s.a), obs("end", s.end, s.b)],
        }
    }

    #[test]
    fn frames_are_recorded_once_and_tracks_consume_pending_streaks() {
        let t0 = Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0);
        let mut catalog = Catalog::open_in_memory().unwrap();
        let s = streak("f1", 0, t0);
        assert!(
            catalog
                .record_frame("f1", "ogs", std::slice::from_ref(&s), "{}")
                .unwrap()
        );
        assert!(
            !catalog
                .record_frame("f1", "ogs", std::slice::from_ref(&s), "{}")
                .unwrap(),
            "a replay adds nothing"
        );
        assert_eq!(catalog.pending_streaks("ogs").unwrap(), vec![s.clone()]);
        assert_eq!(
            catalog.sensors_with_pending().unwrap(),
            vec!["ogs".to_string()]
        );

        let created = catalog
            .add_track(None, &tracklet(&s), &solution(t0))
            .unwrap();
        assert_eq!(
            (created.object_id.as_str(), created.change),
            ("K00001", ChangeKind::Created)
        );
        assert!(catalog.pending_streaks("ogs").unwrap().is_empty());

        let s2 = streak("f2", 0, t0 + kessler_od::Duration::from_seconds(600.0));
        catalog
            .record_frame("f2", "ogs", std::slice::from_ref(&s2), "{}")
            .unwrap();
        let refined = catalog
            .add_track(Some("K00001"), &tracklet(&s2), &solution(s2.start))
            .unwrap();
        assert_eq!(refined.change, ChangeKind::Refined);
        let objects = catalog.list_objects().unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!((objects[0].tracks, objects[0].observations), (2, 4));
        assert_eq!(
            objects[0].orbit.state.epoch, s2.start,
            "the latest orbit is listed"
        );
        assert_eq!(catalog.object_observations("K00001").unwrap().len(), 4);
        let history: Vec<String> = catalog
            .history()
            .unwrap()
            .into_iter()
            .map(|h| h.2)
            .collect();
        assert_eq!(history, vec!["created", "refined"]);
        assert!(matches!(
            catalog.add_track(Some("K99999"), &tracklet(&s2), &solution(t0)),
            Err(CatalogError::NoObject(_))
        ));
    }

    /// A catalog written before orbits had a source opens, gains the column, and lists its fits as `fit`; an
    /// imported element set lists as `tle` with no RMS (JSON null).
    #[test]
    fn old_catalogs_gain_the_orbit_source_and_imports_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let t0 = Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0);
        {
            let conn = Connection::open(&path).unwrap();
            // The schema of then: no orbit source, and no CHECK on the text columns.
            let old = SCHEMA
                .replace(
                    ",\n    source TEXT NOT NULL DEFAULT 'fit' CHECK (source IN ('fit', 'tle'))",
                    "",
                )
                .replace(
                    " CHECK (status IN ('candidate', 'catalogued', 'rejected', 'merged'))",
                    "",
                )
                .replace(
                    " CHECK (change IN ('created', 'refined', 'imported', 'accepted', 'rejected', 'merged'))",
                    "",
                );
            assert!(!old.contains("CHECK") && !old.contains("source"));
            conn.execute_batch(&old).unwrap();
            let has: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info('orbits') WHERE name = 'source'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(has, 0, "the old schema");
        }
        let mut catalog = Catalog::open(&path).unwrap();
        let s = streak("f1", 0, t0);
        catalog
            .record_frame("f1", "ogs", std::slice::from_ref(&s), "{}")
            .unwrap();
        catalog
            .add_track(None, &tracklet(&s), &solution(t0))
            .unwrap();
        let tle = Tle::parse(
            Some("CBERS 2"),
            "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
            "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
        )
        .unwrap();
        let imported = catalog.import_tle(&tle).unwrap().unwrap();
        assert_eq!(
            (imported.object_id.as_str(), imported.change),
            ("K00002", ChangeKind::Imported)
        );
        assert!(catalog.import_tle(&tle).unwrap().is_none());
        let objects = catalog.list_objects().unwrap();
        assert_eq!(objects[0].orbit_source, OrbitSource::Fit);
        assert_eq!(objects[1].orbit_source, OrbitSource::Tle);
        assert_eq!(objects[1].norad_id, Some(28057));
        assert_eq!(objects[1].orbit.rms_arcsec, None);
        let orbits = catalog.known_orbits(t0).unwrap();
        assert_eq!(orbits.len(), 2);
        assert_eq!(
            orbits[1].state.epoch, t0,
            "an element set is evaluated where it is needed"
        );
    }

    /// Two objects in the same frames share epochs but not directions: only the same measurements are a replay,
    /// and only when one track holds all of them.
    #[test]
    fn replayed_exposures_are_recognised_and_other_objects_in_the_frame_are_not() {
        let t0 = Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0);
        let mut catalog = Catalog::open_in_memory().unwrap();
        let a = streak("f1", 0, t0);
        catalog
            .record_frame("f1", "ogs", std::slice::from_ref(&a), "{}")
            .unwrap();
        catalog
            .add_track(None, &tracklet(&a), &solution(t0))
            .unwrap();
        let replay = tracklet(&StreakMeasurement {
            id: "again/s0".into(),
            ..a.clone()
        });
        assert_eq!(
            catalog
                .track_with_observations(&replay.observations)
                .unwrap(),
            Some("f1/s0".to_string())
        );
        let mut other = a.clone();
        other.id = "f1/s1".into();
        other.a.ra_rad += 0.01;
        other.b.ra_rad += 0.01;
        assert_eq!(
            catalog
                .track_with_observations(&tracklet(&other).observations)
                .unwrap(),
            None,
            "another object in the same frame"
        );
        let mut longer = replay.observations.clone();
        let mut later = longer[1].clone();
        later.epoch += kessler_od::Duration::from_seconds(10.0);
        longer.push(later);
        assert_eq!(catalog.track_with_observations(&longer).unwrap(), None);
    }
}
