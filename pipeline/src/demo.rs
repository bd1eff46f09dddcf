//! `kessler demo`: a simulated night through every stage in one process, joined by bounded in-process queues
//! instead of Kafka, then scored against the truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use kessler_catalog::Catalog;
use kessler_detector::Detector;
use kessler_detector::eval::{Score, score_frame};
use kessler_detector::message::Detections;
use kessler_ingest::dataset::TruthRow;
use kessler_ingest::inbound::ReassemblyConfig;
use kessler_ingest::transport::InProcessSink;
use kessler_track::{TrackConfig, Tracker};

use crate::PipelineError;
use crate::metrics::Metrics;
use kessler_od::Tle;
use kessler_sim::Scenario;
use serde::Serialize;
use tokio::sync::watch;

use crate::stages;
use kessler_ingest::topics::Topics;

/// Largest distance from the truth at which a cataloged orbit counts as the object's, km.
pub const POSITION_BOUND_KM: f64 = 10.0;

/// How one catalog object compares with the truth.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    pub object_id: String,
    /// NORAD number of the nearest true object at the orbit epoch.
    pub truth_norad: String,
    /// Orbit epoch, UTC.
    pub epoch_utc: String,
    /// Distance between the fitted and the true (SGP4, GCRF) position at the epoch, km.
    pub position_error_km: f64,
    pub observations: usize,
    /// Post-fit RMS of the angle residuals, arcsec; `None` for an orbit that is not a fit of angles.
    pub rms_arcsec: Option<f64>,
}

/// The demo's summary; its JSON form is the `--json` line.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub frames: usize,
    pub streaks_truth: usize,
    pub streaks_found: usize,
    pub false_positives: usize,
    pub objects_truth: usize,
    /// True objects with a catalog orbit within [`POSITION_BOUND_KM`].
    pub objects_cataloged: usize,
    /// All objects in the catalog (more than `objects_cataloged` means duplicates or spurious objects).
    pub catalog_objects: usize,
    /// Largest position error over the catalog's objects, km (infinite when the catalog is empty).
    pub max_position_error_km: f64,
    pub adapter: String,
    pub objects: Vec<ObjectReport>,
}

/// Score a catalog (its recorded detections and its orbits) against the truth of the frames it saw.
pub fn evaluate(
    catalog: &Catalog,
    truth: &[TruthRow],
    objects: &[Tle],
    adapter: &str,
) -> Result<DemoReport, PipelineError> {
    let mut by_frame: BTreeMap<&str, Vec<&TruthRow>> = BTreeMap::new();
    for t in truth {
        by_frame.entry(t.frame.as_str()).or_default().push(t);
    }
    let mut score = Score::default();
    for (frame_id, json) in catalog.frame_detections()? {
        let detections = Detections::from_json(json.as_bytes()).map_err(|source| {
            PipelineError::StoredDetections {
                frame_id: frame_id.clone(),
                source,
            }
        })?;
        score_frame(
            &mut score,
            &detections.streaks,
            by_frame
                .get(frame_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        );
    }
    let objects_truth: BTreeSet<&str> = truth.iter().map(|t| t.object_id.as_str()).collect();
    let mut reports = vec![];
    for object in catalog.list_objects()? {
        let state = object.orbit.state;
        let nearest = objects
            .iter()
            .filter_map(|tle| {
                let truth = tle.state_gcrf(state.epoch).ok()?;
                let d = (0..3)
                    .map(|i| (truth.r_km[i] - state.r_km[i]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                Some((tle.norad_id().to_string(), d))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let (truth_norad, position_error_km) =
            nearest.unwrap_or_else(|| (String::new(), f64::INFINITY));
        reports.push(ObjectReport {
            object_id: object.id,
            truth_norad,
            epoch_utc: state.epoch.to_string(),
            position_error_km,
            observations: object.observations,
            rms_arcsec: object.orbit.rms_arcsec,
        });
    }
    let cataloged: BTreeSet<&str> = reports
        .iter()
        .filter(|r| {
            r.position_error_km <= POSITION_BOUND_KM
                && objects_truth.contains(r.truth_norad.as_str())
        })
        .map(|r| r.truth_norad.as_str())
        .collect();
    Ok(DemoReport {
        frames: score.frames,
        streaks_truth: score.truth,
        streaks_found: score.found,
        false_positives: score.false_positives,
        objects_truth: objects_truth.len(),
        objects_cataloged: cataloged.len(),
        catalog_objects: reports.len(),
        max_position_error_km: if reports.is_empty() {
            f64::INFINITY
        } else {
            reports
                .iter()
                .map(|r| r.position_error_km)
                .fold(0.0, f64::max)
        },
        adapter: adapter.to_string(),
        objects: reports,
    })
}

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seed: u64,
    /// Catalog file; an existing one is replaced.
    pub db: PathBuf,
    /// At most this many frames of the night.
    pub frames: Option<usize>,
}

/// Simulate a night, run publish -> detect -> track over bounded in-process queues, and score the catalog.
pub async fn run(detector: Detector, options: &DemoOptions) -> Result<DemoReport, PipelineError> {
    let scenario = Scenario::default();
    let night = kessler_sim::simulate(&scenario, options.frames, options.seed)?;
    tracing::info!(
        frames = night.frames.len(),
        streaks = night.truth.len(),
        "night simulated"
    );
    for suffix in ["", "-wal", "-shm"] {
        let mut path = options.db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    let tracker = Tracker::new(Catalog::open(&options.db)?, TrackConfig::default());
    let adapter = detector.backend_description();
    let topics = Topics::default();
    let mut sink = InProcessSink::default();
    let frames_source = sink.add_topic(&topics.frames, 4);
    let detections_source = sink.add_topic(&topics.detections, 16);
    let detect_sink = sink.without(&topics.frames);
    let track_sink = detect_sink.without(&topics.detections);
    // Nothing signals shutdown: the stages end when their input queues close.
    let (_keep_running, shutdown) = watch::channel(false);
    let detect = tokio::spawn(stages::detect_stage(
        frames_source,
        detect_sink,
        topics.clone(),
        Arc::new(detector),
        (ReassemblyConfig::default(), Arc::new(Metrics::default())),
        shutdown.clone(),
    ));
    let track = tokio::spawn(stages::track_stage(
        detections_source,
        track_sink,
        topics.clone(),
        tracker,
        Arc::new(Metrics::default()),
        shutdown,
    ));
    kessler_ingest::publish::publish_frames(&sink, &topics, night.frames).await?;
    drop(sink);
    let detect_stats = detect.await??;
    let (track_stats, tracker) = track.await??;
    tracing::info!(?detect_stats, ?track_stats, "stages finished");
    evaluate(&tracker.catalog, &night.truth, &night.objects, &adapter)
}
