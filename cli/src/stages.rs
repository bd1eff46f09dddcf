//! The pipeline stages, each a loop over a [`Source`] that sends its results to a [`Sink`] and marks a message done
//! only after what it produced was acknowledged (at least once). Detection and orbit work run on blocking threads,
//! off the receive loop. A message that cannot be processed goes to the dead-letter topic with the reason; the
//! stage moves on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kessler_catalog::Catalog;
use kessler_catalog::track::{Outcome, Tracker};
use kessler_detector::message::{Detections, SCHEMA_VERSION};
use kessler_detector::{Detector, cutout, measure};
use kessler_ingest::inbound::{Arrival, Inbound, ReassemblyConfig};
use kessler_ingest::transport::Position;
use kessler_ingest::transport::{CATALOG_TOPIC, DEADLETTER_TOPIC, DETECTIONS_TOPIC, FRAMES_TOPIC};
use kessler_ingest::{Frame, Message, Sink, Source, chunk, envelope};

use crate::metrics::Metrics;
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

/// Most payload bytes kept in a dead letter: enough to see what arrived, small enough that a dead letter always
/// fits the broker's message limit whatever came in.
const DEAD_LETTER_PAYLOAD_BYTES: usize = 4096;

/// A dead letter: the message a stage could not process, where it came from, and why.
#[derive(Debug, Serialize)]
struct DeadLetter<'a> {
    schema_version: u32,
    stage: &'a str,
    /// Where the message was: `topic/partition@offset` for Kafka, the file's path for a file that could not be
    /// published.
    position: String,
    key: &'a str,
    reason: String,
    payload_bytes: usize,
    payload_crc32c: u32,
    /// The first [`DEAD_LETTER_PAYLOAD_BYTES`] bytes of the payload, hex.
    payload_head_hex: String,
}

/// Send what a stage could not process to the dead-letter topic: where it was, its key, its payload (or the head
/// of it) and why.
pub async fn dead_letter(
    sink: &impl Sink,
    topics: &Topics,
    stage: &str,
    (position, key, payload): (&Position, &str, &[u8]),
    reason: String,
) -> Result<()> {
    let position = match position {
        Position::Kafka {
            topic,
            partition,
            offset,
        } => format!("{topic}/{partition}@{offset}"),
        Position::InProcess => "in-process".to_string(),
        Position::File(path) => path.clone(),
    };
    tracing::warn!(stage, key, position, %reason, "sent to the dead-letter topic");
    let head = &payload[..payload.len().min(DEAD_LETTER_PAYLOAD_BYTES)];
    let letter = DeadLetter {
        schema_version: 1,
        stage,
        position,
        key,
        reason,
        payload_bytes: payload.len(),
        payload_crc32c: crc32c::crc32c(payload),
        payload_head_hex: head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let json = serde_json::to_vec(&letter).expect("a dead letter always serialises");
    sink.send(&topics.deadletter, key, json)
        .await
        .context("sending to the dead-letter topic")
}

fn origin(message: &Message) -> (&Position, &str, &[u8]) {
    (&message.position, &message.key, &message.payload)
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

/// Send frames to the frames topic (key = sensor id), each in one message or, when larger than the sink's message
/// limit, in chunks; returns how many frames were sent.
pub async fn publish_frames(
    sink: &impl Sink,
    topics: &Topics,
    frames: impl IntoIterator<Item = Frame>,
) -> Result<usize> {
    let mut sent = 0;
    for frame in frames {
        let messages = chunk::encode_messages(&frame, sink.max_message_bytes())
            .with_context(|| format!("frame {}", frame.header.frame_id))?;
        for message in messages {
            sink.send(&topics.frames, &frame.header.sensor_id, message)
                .await?;
        }
        sent += 1;
    }
    Ok(sent)
}

/// Counts kept by the detect stage.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct DetectStats {
    pub frames: usize,
    pub streaks: usize,
    /// Frames whose streaks could not be put on the sky (no WCS or no site): published without measurements.
    pub frames_without_sky: usize,
    pub dead_letters: usize,
}

/// Detect the streaks of one frame and build its message.
pub fn detect_frame(detector: &Detector, frame: &Frame) -> Result<Detections, String> {
    let h = &frame.header;
    let streaks = detector
        .detect(frame.pixels.view())
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

/// The detect stage: frames in (whole or in chunks), one detections message per frame out. Progress is recorded
/// only up to the first chunk of a frame still arriving; frames whose chunks stop arriving are dead-lettered after
/// the reassembly timeout.
pub async fn detect_stage(
    mut source: impl Source,
    sink: impl Sink,
    topics: Topics,
    detector: Arc<Detector>,
    (reassembly, metrics): (ReassemblyConfig, Arc<Metrics>),
    mut shutdown: watch::Receiver<bool>,
) -> Result<DetectStats> {
    let mut stats = DetectStats::default();
    let mut inbound = Inbound::new(reassembly);
    let mut sweep = tokio::time::interval((reassembly.timeout / 4).max(Duration::from_millis(250)));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let message = tokio::select! {
            _ = shutdown.changed() => break,
            _ = sweep.tick() => {
                for gone in inbound.expire(Instant::now()) {
                    stats.dead_letters += 1;
                    Metrics::add(&metrics.dead_letters, 1);
                    let reason = format!(
                        "incomplete frame: {} of {} chunks arrived within {:?} of the first",
                        gone.received, gone.count, reassembly.timeout
                    );
                    dead_letter(&sink, &topics, "detect", (&gone.first, &gone.frame_id, &[]), reason).await?;
                }
                metrics.reassembly_bytes.store(inbound.held_bytes() as u64, Ordering::Relaxed);
                continue;
            }
            m = source.recv() => match m? {
                Some(m) => m,
                None => break,
            },
        };
        let result = match inbound.accept(&message, Instant::now()) {
            Arrival::Pending => Ok(None),
            Arrival::Bad(reason) => Err(reason),
            Arrival::Envelope(bytes) => match envelope::decode(&bytes) {
                Err(e) => Err(format!("bad frame envelope: {e}")),
                Ok(frame) => {
                    Metrics::add(&metrics.frames_in, 1);
                    let detector = detector.clone();
                    // A panic in the detector is this frame's problem, not the worker's: dead-letter it and go on.
                    tokio::task::spawn_blocking(move || {
                        let started = Instant::now();
                        detect_frame(&detector, &frame).map(|d| Some((d, started.elapsed())))
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("the detector failed on this frame: {e}")))
                }
            },
        };
        metrics
            .reassembly_bytes
            .store(inbound.held_bytes() as u64, Ordering::Relaxed);
        match result {
            Ok(None) => {}
            Ok(Some((detections, took))) => {
                stats.frames += 1;
                stats.streaks += detections.streaks.len();
                if detections.measurements.len() < detections.streaks.len() {
                    stats.frames_without_sky += 1;
                }
                sink.send(
                    &topics.detections,
                    &detections.sensor_id,
                    detections.to_json(),
                )
                .await?;
                Metrics::add(&metrics.frames_detected, 1);
                Metrics::add(&metrics.streaks_out, detections.streaks.len() as u64);
                Metrics::add(&metrics.detect_micros, took.as_micros() as u64);
            }
            Err(reason) => {
                stats.dead_letters += 1;
                Metrics::add(&metrics.dead_letters, 1);
                dead_letter(&sink, &topics, "detect", origin(&message), reason).await?;
            }
        }
        if let Some(position) = inbound.committable(&message.position) {
            source.done(&position)?;
        }
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
    /// Tracklets whose exposures the catalog already held (a night replayed under new frame ids).
    pub tracklets_duplicate: usize,
    pub dead_letters: usize,
}

fn count_outcomes(outcomes: Vec<Outcome>, stats: &mut TrackStats) {
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
            }
            Outcome::Duplicate {
                streak_ids,
                track_id,
            } => {
                stats.tracklets_duplicate += 1;
                tracing::info!(?streak_ids, track_id, "tracklet already in the catalog");
            }
            Outcome::Skipped { streak_ids, reason } => {
                stats.tracklets_skipped += 1;
                tracing::info!(?streak_ids, %reason, "tracklet left pending");
            }
        }
    }
}

/// Send the catalog's unpublished changes to the catalog topic, marking each once acknowledged.
pub async fn publish_changes(
    sink: &impl Sink,
    topics: &Topics,
    catalog: &mut Catalog,
) -> Result<()> {
    for (seq, change) in catalog.unpublished_changes()? {
        let json = serde_json::to_vec(&change).expect("a catalog change always serialises");
        sink.send(&topics.catalog, &change.object_id, json).await?;
        catalog.mark_published(seq)?;
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
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(TrackStats, Tracker)> {
    let mut stats = TrackStats::default();
    let mut tracker = tracker;
    // Changes committed before a crash but never acknowledged by the catalog topic go out first.
    publish_changes(&sink, &topics, &mut tracker.catalog).await?;
    while let Some(message) = next(&mut source, &mut shutdown).await? {
        let detections = match Detections::from_json(&message.payload) {
            Ok(d) => d,
            Err(e) => {
                stats.dead_letters += 1;
                Metrics::add(&metrics.dead_letters, 1);
                dead_letter(&sink, &topics, "track", origin(&message), e.to_string()).await?;
                source.done(&message.position)?;
                continue;
            }
        };
        let json = String::from_utf8_lossy(&message.payload).into_owned();
        let (t, recorded) = with_tracker(tracker, move |t| {
            let new = t.catalog.record_frame(
                &detections.frame_id,
                &detections.sensor_id,
                &detections.measurements,
                &json,
            )?;
            Ok::<_, kessler_catalog::CatalogError>((new, t.process(false)?))
        })
        .await?;
        tracker = t;
        let (new, outcomes) = recorded?;
        if new {
            stats.frames += 1;
        } else {
            stats.replayed_frames += 1;
        }
        let stored = stats.tracks_stored;
        count_outcomes(outcomes, &mut stats);
        Metrics::add(&metrics.detections_in, 1);
        Metrics::add(
            &metrics.tracks_stored,
            (stats.tracks_stored - stored) as u64,
        );
        publish_changes(&sink, &topics, &mut tracker.catalog).await?;
        source.done(&message.position)?;
    }
    let (t, outcomes) = with_tracker(tracker, |t| t.process(true)).await?;
    tracker = t;
    count_outcomes(outcomes?, &mut stats);
    publish_changes(&sink, &topics, &mut tracker.catalog).await?;
    source.close()?;
    Ok((stats, tracker))
}

/// Run `work` on the tracker on a blocking thread (orbit fits stay off the receive loop) and hand the tracker back.
async fn with_tracker<R: Send + 'static>(
    mut tracker: Tracker,
    work: impl FnOnce(&mut Tracker) -> R + Send + 'static,
) -> Result<(Tracker, R)> {
    Ok(tokio::task::spawn_blocking(move || {
        let result = work(&mut tracker);
        (tracker, result)
    })
    .await?)
}
