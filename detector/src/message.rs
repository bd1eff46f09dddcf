//! The detections message: what the detect stage publishes on `kessler.detections` for each frame (JSON, key =
//! sensor id). A frame with no streak still gets a message, so downstream knows it was looked at.

use kessler_ingest::Frame;
use kessler_od::StreakMeasurement;
use serde::{Deserialize, Serialize};

use crate::cutout::{self, Cutout};
use crate::{DetectError, Detector, Streak, measure};

/// Schema version of [`Detections`]; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The streaks found in one frame and their sky measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detections {
    pub schema_version: u32,
    pub frame_id: String,
    pub sensor_id: String,
    /// Streaks in pixels (0-based, x = column).
    pub streaks: Vec<Streak>,
    /// One per streak when the frame has a WCS and a site; empty otherwise.
    pub measurements: Vec<StreakMeasurement>,
    /// The adapter (or "cpu") that ran the detector.
    pub backend: String,
    /// One per streak: the frame around it ([`crate::cutout`]). Added within schema version 1: messages without
    /// it read as having none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cutouts: Vec<Cutout>,
}

impl Detections {
    /// Detect the streaks of `frame` and build its message: the streaks, their sky measurements (none when the
    /// frame has no WCS or no site: logged, the streaks still go out) and a cutout of each.
    pub fn of_frame(detector: &Detector, frame: &Frame) -> Result<Detections, DetectError> {
        let h = &frame.header;
        let streaks = detector.detect(frame.pixels.view())?;
        let measurements = streaks
            .iter()
            .enumerate()
            .map(|(k, s)| measure::streak_measurement(h, s, k))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| {
                tracing::warn!(frame = h.frame_id, "streaks without sky measurements: {e}");
                vec![]
            });
        let cutouts = streaks
            .iter()
            .map(|s| cutout::cutout(frame.pixels.view(), s))
            .collect();
        Ok(Detections {
            schema_version: SCHEMA_VERSION,
            frame_id: h.frame_id.clone(),
            sensor_id: h.sensor_id.clone(),
            streaks,
            measurements,
            backend: detector.backend_description(),
            cutouts,
        })
    }
}

/// Why a detections message was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("detections message is not valid JSON (line {line}, column {column}): {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "detections message of frame {frame_id} has schema version {found}; this build reads {SCHEMA_VERSION}"
    )]
    Version { frame_id: String, found: u32 },
}

impl Detections {
    /// The JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("detections always serialise")
    }

    /// Parse and check the schema version.
    pub fn from_json(bytes: &[u8]) -> Result<Detections, MessageError> {
        let d: Detections = serde_json::from_slice(bytes).map_err(|e| MessageError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if d.schema_version != SCHEMA_VERSION {
            return Err(MessageError::Version {
                frame_id: d.frame_id,
                found: d.schema_version,
            });
        }
        Ok(d)
    }
}
