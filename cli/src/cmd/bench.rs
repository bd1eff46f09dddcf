//! `kessler bench`, `kessler calibrate`, `kessler bench-pipeline` and `kessler bench-od`.

use anyhow::{Context, Result};
use kessler_detector::calibrate::Calibration;
use kessler_detector::dataset::Dataset;
use kessler_detector::threshold::ThresholdTable;
use kessler_detector::{Backend, Detector, DetectorConfig};

use super::{detector, gpu_detector, peak_rss_mib, progress};
use crate::args::{BenchArgs, BenchOdArgs, BenchPipelineArgs, CalibrateArgs};

/// Run `kessler bench`: score the GPU path (when there is one; else the CPU path) and time both.
pub fn bench(args: BenchArgs) -> Result<()> {
    let config = args.threshold.config();
    let dataset = Dataset::open(&args.dataset)?;
    let mut detectors: Vec<Detector> = if args.cpu {
        vec![]
    } else {
        gpu_detector(config.clone()).into_iter().collect()
    };
    detectors.push(Detector::new(Backend::Cpu, config));
    let false_alarms = args.threshold.false_alarms()?;
    let detectors = detectors
        .into_iter()
        .map(|d| super::with_false_alarms(d, false_alarms.clone()))
        .collect::<Result<Vec<_>>>()?;
    let bar = progress(dataset.files.len(), "frames");
    let (report, skipped) = dataset.bench(&detectors, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let out = args.out.as_deref().unwrap_or(&args.dataset);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write(
        "report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let mut md = report.to_markdown(&args.dataset.display().to_string());
    md += &format!(
        "\nPeak resident memory: {} MiB.\n",
        peak_rss_mib().map_or("unknown".into(), |m| m.to_string())
    );
    write("report.md", md.as_bytes())?;
    write("completeness.png", &report.completeness_png())?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{md}");
    }
    for s in &skipped {
        eprintln!("skipped: {}", s.reason);
    }
    Ok(())
}

/// Run `kessler calibrate`: on a dataset's frames with no truth row, or on simulated frames of the simulator's sky.
pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    // The transform's candidates from its usual threshold (or the floor, if lower) go on to the refinement: a
    // refined streak at the floor may come from a candidate below it.
    let defaults = DetectorConfig::default();
    let config = DetectorConfig {
        transform_threshold: args.floor.min(defaults.transform_threshold),
        snr_threshold: args.floor,
        ..defaults
    };
    // The table the calibration goes into, read before the (long) run: a broken file stops it here.
    let table = match &args.table {
        Some(path) if path.exists() => Some((path, super::read_thresholds(path)?)),
        Some(path) => Some((path, ThresholdTable::default())),
        None => None,
    };
    let detector = detector(args.cpu, config);
    let mut calibration = Calibration::new(&detector);
    let source = match &args.dataset {
        Some(dir) => {
            let dataset = Dataset::open(dir)?;
            let bar = progress(dataset.files.len(), "frames");
            let skipped =
                dataset.calibrate(&mut calibration, |done, _| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            for s in &skipped {
                eprintln!("skipped: {}", s.reason);
            }
            dir.display().to_string()
        }
        None => {
            let sky = kessler_sim::Scenario::default().with_side(args.side);
            let scenario = if args.stars {
                sky
            } else {
                kessler_sim::Scenario {
                    stars: 0,
                    hot_pixels: 0,
                    cosmic_rays: 0,
                    ..sky
                }
            };
            let bar = progress(args.frames, "frames");
            for k in 0..args.frames {
                let seed = args.seed + k as u64;
                let (frame, _) = kessler_sim::simulate_snr_grid(&scenario, 1, &[], seed);
                calibration.add(&frame[0])?;
                bar.inc(1);
            }
            bar.finish_and_clear();
            format!(
                "{} simulated {}x{} frames ({}, seed {})",
                args.frames,
                scenario.width,
                scenario.height,
                if args.stars {
                    "sky noise, stars, hot pixels and cosmic rays"
                } else {
                    "sky noise only"
                },
                args.seed
            )
        }
    };
    let report = calibration.report();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_markdown(&source));
    }
    if let Some((path, table)) = table {
        let entry = calibration
            .size_calibration(&source)
            .map_err(anyhow::Error::msg)?;
        let (width, height) = (entry.width, entry.height);
        let text = serde_json::to_string_pretty(&table.with(entry))?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("{width}x{height} calibration written to {}", path.display());
    }
    Ok(())
}

/// Run `kessler bench-pipeline`: simulated frames through publish -> detect on a broker.
pub async fn pipeline(args: BenchPipelineArgs) -> Result<()> {
    let night = kessler_sim::simulate(&kessler_sim::Scenario::default(), None, 7)?;
    let frames: Vec<_> = (0..args.frames)
        .map(|i| {
            let mut f = night.frames[i % night.frames.len()].clone();
            f.header.frame_id = format!("bench-{i:05}");
            f
        })
        .collect();
    let detector = detector(args.cpu, DetectorConfig::default());
    let report =
        super::bench_pipeline::run(&args.brokers, frames, args.kafka.producer(), detector).await?;
    println!("{}", serde_json::to_string(&report)?);
    eprintln!(
        "peak resident memory: {} MiB",
        peak_rss_mib().map_or("unknown".into(), |m| m.to_string())
    );
    Ok(())
}

/// Run `kessler bench-od`: time batch least-squares fits.
pub fn od(args: BenchOdArgs) -> Result<()> {
    let speed = super::od::fit_speed(args.fits, args.observations)?;
    println!("{}", serde_json::to_string(&speed)?);
    Ok(())
}
