//! The demo (every stage in one process over in-process queues) on the CPU detector: the embedded default that
//! needs neither broker nor GPU meets the acceptance bounds, and its JSON line has the documented keys.

use kessler_detector::{Backend, Detector, DetectorConfig};
use kessler_pipeline::demo::{self, DemoOptions, POSITION_BOUND_KM};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_the_cpu_catalogs_every_object_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        seed: 7,
        db: dir.path().join("demo.db"),
        frames: None,
    };
    let report = demo::run(
        Detector::new(Backend::Cpu, DetectorConfig::default()),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(report.adapter, "cpu");
    assert!(report.frames > 30, "{report:#?}");
    assert_eq!(report.streaks_found, report.streaks_truth, "{report:#?}");
    assert_eq!(report.false_positives, 0, "{report:#?}");
    assert_eq!(
        report.objects_cataloged, report.objects_truth,
        "{report:#?}"
    );
    assert_eq!(report.catalog_objects, report.objects_truth, "{report:#?}");
    assert!(
        report.max_position_error_km < POSITION_BOUND_KM,
        "{report:#?}"
    );

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "frames",
        "streaks_truth",
        "streaks_found",
        "false_positives",
        "objects_truth",
        "objects_cataloged",
        "max_position_error_km",
        "adapter",
    ] {
        assert!(json.get(key).is_some(), "the JSON line lacks {key}: {json}");
    }
}
