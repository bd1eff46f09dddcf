//! The pipeline stages, each a loop over a [`Source`] that sends its results to a [`Sink`] and marks a message done
//! only after what it produced was acknowledged (at least once). Detection and orbit work run on blocking threads,
//! off the receive loop. A message that cannot be processed goes to the dead-letter topic with the reason; the
//! stage moves on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kessler_detector::Detector;
use kessler_detector::message::Detections;
use kessler_ingest::inbound::{Arrival, Inbound, ReassemblyConfig};
use kessler_ingest::topics::{Topics, dead_letter};
use kessler_ingest::transport::Position;
use kessler_ingest::{Message, Sink, Source, envelope};
use kessler_track::{Outcome, Tracker};

use crate::PipelineError;
use crate::metrics::Metrics;
use serde::Serialize;
use tokio::sync::watch;

fn origin(message: &Message) -> (&Position, &str, &[u8]) {
    (&message.position, &message.key, &message.payload)
}

/// Waits for the next message, or `None` at the end of the stream or when shutdown is signalled.
async fn next(
    source: &mut impl Source,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Message>, PipelineError> {
    if *shutdown.borrow() {
        return Ok(None);
    }
    tokio::select! {
        _ = shutdown.changed() => Ok(None),
        m = source.recv() => Ok(m?),
    }
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
) -> Result<DetectStats, PipelineError> {
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
                metrics.reassembly_bytes.set(inbound.held_bytes() as i64);
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
                        Detections::of_frame(&detector, &frame)
                            .map(|d| Some((d, started.elapsed())))
                            .map_err(|e| format!("frame {}: {e}", frame.header.frame_id))
                    })
                    .await
                    .unwrap_or_else(|e| Err(format!("the detector failed on this frame: {e}")))
                }
            },
        };
        metrics.reassembly_bytes.set(inbound.held_bytes() as i64);
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
                    change = %change.change,
                    rms_arcsec = ?change.orbit.rms_arcsec,
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

/// The track stage: detections in, tracks and orbits into the catalog, changes out. At the end of the stream (or
/// on shutdown) tracklets that could still grow are processed too.
pub async fn track_stage(
    mut source: impl Source,
    sink: impl Sink,
    topics: Topics,
    tracker: Tracker,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(TrackStats, Tracker), PipelineError> {
    let mut stats = TrackStats::default();
    let mut tracker = tracker;
    // Changes committed before a crash but never acknowledged by the catalog topic go out first.
    kessler_catalog::announce::publish_changes(&sink, &topics, &mut tracker.catalog).await?;
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
        kessler_catalog::announce::publish_changes(&sink, &topics, &mut tracker.catalog).await?;
        source.done(&message.position)?;
    }
    let (t, outcomes) = with_tracker(tracker, |t| t.process(true)).await?;
    tracker = t;
    count_outcomes(outcomes?, &mut stats);
    kessler_catalog::announce::publish_changes(&sink, &topics, &mut tracker.catalog).await?;
    source.close()?;
    Ok((stats, tracker))
}

/// Run `work` on the tracker on a blocking thread (orbit fits stay off the receive loop) and hand the tracker back.
async fn with_tracker<R: Send + 'static>(
    mut tracker: Tracker,
    work: impl FnOnce(&mut Tracker) -> R + Send + 'static,
) -> Result<(Tracker, R), PipelineError> {
    Ok(tokio::task::spawn_blocking(move || {
        let result = work(&mut tracker);
        (tracker, result)
    })
    .await?)
}
