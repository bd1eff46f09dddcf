//! `kessler demo`: a simulated night through every stage in one process, scored against the truth.

use anyhow::Result;
use kessler_detector::DetectorConfig;
use kessler_pipeline::demo::{self, DemoOptions};

use crate::args::DemoArgs;

/// Run `kessler demo` and print its score (and, with `--json`, the report as the last line).
pub async fn run(args: DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let report = demo::run(
        super::detector(args.cpu, DetectorConfig::default()),
        &DemoOptions {
            seed: args.seed,
            db: args.db.clone(),
            frames: args.frames,
        },
    )
    .await?;
    println!("frames: {}, adapter: {}", report.frames, report.adapter);
    println!(
        "streaks: {} found of {} true, {} false positives",
        report.streaks_found, report.streaks_truth, report.false_positives
    );
    println!(
        "objects: {} of {} cataloged within {} km ({} in the catalog)",
        report.objects_cataloged,
        report.objects_truth,
        demo::POSITION_BOUND_KM,
        report.catalog_objects
    );
    for o in &report.objects {
        println!(
            "  {} = NORAD {}: {:.3} km from truth at {}, {} observations, rms {}\"",
            o.object_id,
            o.truth_norad,
            o.position_error_km,
            o.epoch_utc,
            o.observations,
            o.rms_arcsec.map_or("-".into(), |r| format!("{r:.2}"))
        );
    }
    println!(
        "catalog: {} ({:.1} s)",
        args.db.display(),
        started.elapsed().as_secs_f64()
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
