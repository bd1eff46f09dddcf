//! A simulated night through the real broker: publish the frames, run the detect and track stages as Kafka
//! consumers (the detector on a real wgpu adapter), and check the catalog against the truth with the demo's bounds.
//! Then replay every detections message into the same catalog through a new consumer group: nothing may change.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kessler_catalog::Catalog;
use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext};
use kessler_ingest::Sink;
use kessler_ingest::inbound::ReassemblyConfig;
use kessler_ingest::kafka::{
    KafkaSink, KafkaSource, ProducerConfig, committed_offsets, ensure_topics,
};
use kessler_ingest::publish::publish_frames;
use kessler_ingest::topics::Topics;
use kessler_pipeline::demo::{self, DemoReport, POSITION_BOUND_KM};
use kessler_pipeline::metrics::Metrics;
use kessler_pipeline::stages;
use kessler_track::{TrackConfig, Tracker};
use tokio::sync::watch;

fn brokers() -> String {
    std::env::var("KESSLER_TEST_BROKERS").expect(
        "KESSLER_TEST_BROKERS is not set: this test needs a real Kafka broker; run scripts/test.sh, which starts Tansu",
    )
}

fn gpu_detector() -> Detector {
    let gpu = GpuContext::new().unwrap_or_else(|e| {
        panic!("no wgpu adapter ({e}): this test needs a GPU or Mesa's lavapipe (apt-get install mesa-vulkan-drivers libvulkan1)")
    });
    Detector::new(Backend::Gpu(gpu), DetectorConfig::default())
}

fn assert_demo_bounds(report: &DemoReport) {
    assert_eq!(report.streaks_found, report.streaks_truth, "{report:#?}");
    assert_eq!(report.false_positives, 0, "{report:#?}");
    assert_eq!(
        report.objects_cataloged, report.objects_truth,
        "{report:#?}"
    );
    assert_eq!(
        report.catalog_objects, report.objects_truth,
        "no duplicate or spurious objects: {report:#?}"
    );
    assert!(
        report.max_position_error_km < POSITION_BOUND_KM,
        "{report:#?}"
    );
}

/// Run the track stage over the detections topic with `group` until the catalog at `db` holds `frames` frames
/// (or the deadline passes), then signal shutdown so it flushes its open tracklets.
async fn track_until(
    brokers: &str,
    topics: &Topics,
    group: &str,
    db: &Path,
    frames: usize,
) -> stages::TrackStats {
    let (stop, shutdown) = watch::channel(false);
    let source = KafkaSource::new(brokers, group, &topics.detections, None).unwrap();
    let tracker = Tracker::new(Catalog::open(db).unwrap(), TrackConfig::default());
    let track = tokio::spawn(stages::track_stage(
        source,
        KafkaSink::new(brokers, ProducerConfig::default()).unwrap(),
        topics.clone(),
        tracker,
        Arc::new(Metrics::default()),
        shutdown,
    ));
    let watcher = Catalog::open(db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while watcher.frame_detections().unwrap().len() < frames {
        assert!(
            Instant::now() < deadline,
            "the track stage did not record {frames} frames within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.send(true).unwrap();
    let (stats, _) = track.await.unwrap().unwrap();
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_night_through_kafka_is_cataloged_within_bounds() {
    let brokers = brokers();
    let detector = gpu_detector();
    let adapter = detector.backend_description();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let namespace = format!("e2e-{}-{}", std::process::id(), now.as_millis());
    let topics = Topics::namespaced(&namespace);
    ensure_topics(&brokers, &topics.all(), 1)
        .await
        .expect("cannot create topics on the broker");

    let scenario = kessler_sim::Scenario::default();
    let night = kessler_sim::simulate(&scenario, None, 11).unwrap();
    let truth = night.truth.clone();
    let frame_count = night.frames.len();
    let sink = KafkaSink::new(&brokers, ProducerConfig::default()).unwrap();
    // A corrupt message first: the detect stage must dead-letter it and carry on.
    sink.send(
        &topics.frames,
        "ogs-tenerife",
        b"KSLF not an envelope".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        publish_frames(&sink, &topics, night.frames).await.unwrap(),
        frame_count
    );

    // The detect stage ends once the frames topic has been idle for 20 s.
    let detect_source = KafkaSource::new(
        &brokers,
        &format!("{namespace}.detect"),
        &topics.frames,
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    let (_running, never) = watch::channel(false);
    let detect = tokio::spawn(stages::detect_stage(
        detect_source,
        KafkaSink::new(&brokers, ProducerConfig::default()).unwrap(),
        topics.clone(),
        Arc::new(detector),
        (ReassemblyConfig::default(), Arc::new(Metrics::default())),
        never,
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let track_stats = track_until(
        &brokers,
        &topics,
        &format!("{namespace}.track"),
        &db,
        frame_count,
    )
    .await;
    let detect_stats = detect.await.unwrap().unwrap();
    assert_eq!(detect_stats.frames, frame_count);
    assert_eq!(detect_stats.dead_letters, 1);
    assert_eq!(track_stats.frames, frame_count);

    let catalog = Catalog::open(&db).unwrap();
    let report = demo::evaluate(&catalog, &truth, &night.objects, &adapter).unwrap();
    eprintln!("{report:#?}");
    assert_demo_bounds(&report);

    // At least once: every message's offset was committed after its results were acknowledged.
    // The frames topic holds the corrupt message too.
    for (group, topic, messages) in [
        ("detect", &topics.frames, frame_count + 1),
        ("track", &topics.detections, frame_count),
    ] {
        let committed =
            committed_offsets(&brokers, &format!("{namespace}.{group}"), topic).unwrap();
        assert_eq!(
            committed,
            vec![(0, Some(messages as i64))],
            "{group} group on {topic}"
        );
    }

    // A replay of every detections message (a new group starts from the earliest offset) adds nothing.
    let objects_before = serde_json::to_string(&catalog.list_objects().unwrap()).unwrap();
    let history_before = catalog.history().unwrap().len();
    let source = KafkaSource::new(
        &brokers,
        &format!("{namespace}.replay"),
        &topics.detections,
        Some(Duration::from_secs(15)),
    )
    .unwrap();
    let tracker = Tracker::new(Catalog::open(&db).unwrap(), TrackConfig::default());
    let (_running, never) = watch::channel(false);
    let (replay, _) = stages::track_stage(
        source,
        KafkaSink::new(&brokers, ProducerConfig::default()).unwrap(),
        topics.clone(),
        tracker,
        Arc::new(Metrics::default()),
        never,
    )
    .await
    .unwrap();
    assert_eq!(
        (replay.frames, replay.replayed_frames, replay.tracks_stored),
        (0, frame_count, 0)
    );
    assert_eq!(
        serde_json::to_string(&catalog.list_objects().unwrap()).unwrap(),
        objects_before
    );
    assert_eq!(catalog.history().unwrap().len(), history_before);
}
