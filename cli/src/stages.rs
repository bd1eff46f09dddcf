//! The pipeline stages, each a loop over a [`Source`] that sends its results to a [`Sink`] and marks a message done
//! only after what it produced was acknowledged (at least once). Detection and orbit work run on blocking threads,
//! off the receive loop. A message that cannot be processed goes to the dead-letter topic with the reason; the
//! stage moves on.

use std::sync::Arc;

use anyhow::{Context, Result};
use kessler_catalog::track::{Outcome, Tracker};
use kessler_detector::message::{Detections, SCHEMA_VERSION};
use kessler_detector::{Detector, measure};
use kessler_ingest::transport::{CATALOG_TOPIC, DEADLETTER_TOPIC, DETECTIONS_TOPIC, FRAMES_TOPIC};
use kessler_ingest::{Frame, Message, Sink, Source, envelope};
use serde::Serialize;
use tokio::sync::watch;

/// Topic names; [`Topics::namespaced`] prefixes them so that several pipelines (or tests) share one broker.
#[derive(Debug, Clone)]
pub struct Topics {
    pub frames: String,
    pub detections: String,
    pub catalog: String,
    pub deadletter: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            frames: FRAMES_TOPIC.into(),
            detections: DETECTIONS_TOPIC.into(),
            catalog: CATALOG_TOPIC.into(),
            deadletter: DEADLETTER_TOPIC.into(),
        }
    }
}

impl Topics {
    /// `<namespace>.kessler.frames` and so on; the empty namespace gives the default names.
    pub fn namespaced(namespace: &str) -> Topics {
        if namespace.is_empty() {
            return Topics::default();
        }
        let d = Topics::default();
        let p = |t: String| format!("{namespace}.{t}");
        Topics {
            frames: p(d.frames),
            detections: p(d.detections),
            catalog: p(d.catalog),
            deadletter: p(d.deadletter),
        }
    }

    pub fn all(&self) -> [&str; 4] {
        [
            &self.frames,
            &self.detections,
            &self.catalog,
            &self.deadletter,
        ]
    }
}

/// A dead letter: the message a stage could not process and why. The original payload is kept, hex-encoded.
#[derive(Debug, Serialize)]
struct DeadLetter<'a> {
    schema_version: u32,
    stage: &'a str,
    key: &'a str,
    reason: String,
    payload_hex: String,
}

async fn dead_letter(
    sink: &impl Sink,
    topics: &Topics,
    stage: &str,
    message: &Message,
    reason: String,
) -> Result<()> {
    tracing::warn!(stage, key = message.key, %reason, "message sent to the dead-letter topic");
    let payload_hex = message.payload.iter().map(|b| format!("{b:02x}")).collect();
    let letter = DeadLetter {
        schema_version: 1,
        stage,
        key: &message.key,
        reason,
        payload_hex,
    };
    let json = serde_json::to_vec(&letter).expect("a dead letter always serialises");
    sink.send(&topics.deadletter, &message.key, json)
        .await
        .context("sending to the dead-letter topic")
}

/// Waits for the next message, or `None` at the end of the stream or when shutdown is signalled.
async fn next(
    source: &mut impl Source,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Message>> {
    if *shutdown.borrow() {
        return Ok(None);
    }
    tokio::select! {
        _ = shutdown.changed() => Ok(None),
        m = source.recv() => Ok(m?),
    }
}

/// Send frames to the frames topic (key = sensor id); returns how many were sent.
pub async fn publish_frames(
    sink: &impl Sink,
    topics: &Topics,
    frames: impl IntoIterator<Item = Frame>,
) -> Result<usize> {
    let mut sent = 0;
    for frame in frames {
        let bytes =
            envelope::encode(&frame).with_context(|| format!("frame {}", frame.header.frame_id))?;
        sink.send(&topics.frames, &frame.header.sensor_id, bytes)
            .await?;
        sent += 1;
    }
    Ok(sent)
}

/// Counts kept by the detect stage.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct DetectStats {
    pub frames: usize,
    pub streaks: usize,
    pub dead_letters: usize,
}

/// Detect the streaks of one frame and build its message.
pub fn detect_frame(detector: &Detector, frame: &Frame) -> Result<Detections, String> {
    let h = &frame.header;
    let streaks = detector
        .detect(&frame.pixels, h.width, h.height)
        .map_err(|e| format!("frame {}: {e}", h.frame_id))?;
    let measurements = streaks
        .iter()
        .enumerate()
        .map(|(k, s)| measure::streak_measurement(h, s, k))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| {
            tracing::warn!(frame = h.frame_id, "streaks without sky measurements: {e}");
            vec![]
        });
    Ok(Detections {
        schema_version: SCHEMA_VERSION,
        frame_id: h.frame_id.clone(),
        sensor_id: h.sensor_id.clone(),
        streaks,
        measurements,
        backend: detector.backend_description(),
    })
}

/// The detect stage: frames in, one detections message per frame out.
pub async fn detect_stage(
    mut source: impl Source,
    sink: impl Sink,
    topics: Topics,
    detector: Arc<Detector>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<DetectStats> {
    let mut stats = DetectStats::default();
    while let Some(message) = next(&mut source, &mut shutdown).await? {
        let result = match envelope::decode(&message.payload) {
            Err(e) => Err(format!("bad frame envelope: {e}")),
            Ok(frame) => {
                let detector = detector.clone();
                tokio::task::spawn_blocking(move || detect_frame(&detector, &frame)).await?
            }
        };
        match result {
            Ok(detections) => {
                stats.frames += 1;
                stats.streaks += detections.streaks.len();
                sink.send(
                    &topics.detections,
                    &detections.sensor_id,
                    detections.to_json(),
                )
                .await?;
            }
            Err(reason) => {
                stats.dead_letters += 1;
                dead_letter(&sink, &topics, "detect", &message, reason).await?;
            }
        }
        source.done(&message)?;
    }
    source.close()?;
    Ok(stats)
}

/// Counts kept by the track stage.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TrackStats {
    pub frames: usize,
    pub replayed_frames: usize,
    pub tracks_stored: usize,
    pub tracklets_skipped: usize,
    pub dead_letters: usize,
}

async fn publish_outcomes(
    sink: &impl Sink,
    topics: &Topics,
    outcomes: Vec<Outcome>,
    stats: &mut TrackStats,
) -> Result<()> {
    for outcome in outcomes {
        match outcome {
            Outcome::Stored(change) => {
                stats.tracks_stored += 1;
                tracing::info!(
                    object = change.object_id,
                    change = change.change,
                    rms_arcsec = change.orbit.rms_arcsec,
                    "catalog updated"
                );
                let json = serde_json::to_vec(&change).expect("a catalog change always serialises");
                sink.send(&topics.catalog, &change.object_id, json).await?;
            }
            Outcome::Skipped { streak_ids, reason } => {
                stats.tracklets_skipped += 1;
                tracing::info!(?streak_ids, %reason, "tracklet left pending");
            }
        }
    }
    Ok(())
}

/// The track stage: detections in, tracks and orbits into the catalog, changes out. At the end of the stream (or
/// on shutdown) tracklets that could still grow are processed too.
pub async fn track_stage(
    mut source: impl Source,
    sink: impl Sink,
    topics: Topics,
    tracker: Tracker,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(TrackStats, Tracker)> {
    let mut stats = TrackStats::default();
    let mut tracker = Some(tracker);
    while let Some(message) = next(&mut source, &mut shutdown).await? {
        let detections = match Detections::from_json(&message.payload) {
            Ok(d) => d,
            Err(e) => {
                stats.dead_letters += 1;
                dead_letter(&sink, &topics, "track", &message, e.to_string()).await?;
                source.done(&message)?;
                continue;
            }
        };
        let mut t = tracker
            .take()
            .expect("the tracker is back after each message");
        let json = String::from_utf8_lossy(&message.payload).into_owned();
        let (t, recorded) = tokio::task::spawn_blocking(move || {
            let recorded = t
                .catalog
                .record_frame(
                    &detections.frame_id,
                    &detections.sensor_id,
                    &detections.measurements,
                    &json,
                )
                .and_then(|new| Ok((new, t.process(false)?)));
            (t, recorded)
        })
        .await?;
        tracker = Some(t);
        let (new, outcomes) = recorded?;
        if new {
            stats.frames += 1;
        } else {
            stats.replayed_frames += 1;
        }
        publish_outcomes(&sink, &topics, outcomes, &mut stats).await?;
        source.done(&message)?;
    }
    let mut t = tracker
        .take()
        .expect("the tracker is back after each message");
    let (t, outcomes) = tokio::task::spawn_blocking(move || {
        let outcomes = t.process(true);
        (t, outcomes)
    })
    .await?;
    publish_outcomes(&sink, &topics, outcomes?, &mut stats).await?;
    source.close()?;
    Ok((stats, t))
}
