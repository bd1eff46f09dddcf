//! One module per subcommand; this one holds what several share: the detector choice, Ctrl-C, Earth
//! orientation and the process's peak memory.

pub mod bench;
pub mod bench_pipeline;
pub mod catalog;
pub mod demo;
pub mod detect;
pub mod od;
pub mod publish;
pub mod review;
pub mod run;
pub mod simulate;

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kessler_detector::threshold::ThresholdTable;
use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext};
use tokio::sync::watch;

use crate::args::Threshold;

/// [`detector`] with the threshold of `threshold`: fixed, or for a false-alarm rate from a table.
pub fn threshold_detector(cpu: bool, threshold: &Threshold) -> Result<Detector> {
    with_false_alarms(detector(cpu, threshold.config()), threshold.false_alarms()?)
}

/// `detector` with a false-alarm rate and its table ([`Threshold::false_alarms`]), when given.
pub fn with_false_alarms(
    detector: Detector,
    false_alarms: Option<(ThresholdTable, f64)>,
) -> Result<Detector> {
    Ok(match false_alarms {
        Some((table, rate)) => detector.with_false_alarm_rate(table, rate)?,
        None => detector,
    })
}

/// The threshold table in the JSON file `path`.
pub fn read_thresholds(path: &Path) -> Result<ThresholdTable> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ThresholdTable::from_json(&text).with_context(|| path.display().to_string())
}

/// Says on stderr, once per frame size, which threshold `detector` uses for `width` x `height`
/// frames and where it comes from (`seen`: the sizes said so far).
pub fn say_threshold(
    detector: &Detector,
    (width, height): (u32, u32),
    seen: &mut std::collections::BTreeSet<(u32, u32)>,
) -> Result<(), kessler_detector::DetectError> {
    if !seen.insert((width, height)) {
        return Ok(());
    }
    match detector.threshold_for(width, height)? {
        Some(chosen) => eprintln!("threshold for {width}x{height} frames: {chosen}"),
        None => eprintln!(
            "threshold for {width}x{height} frames: S/N {} (fixed)",
            detector.config().snr_threshold
        ),
    }
    Ok(())
}

/// The detector on the machine's wgpu adapter, or `None` (said on stderr) when it has none.
pub fn gpu_detector(config: DetectorConfig) -> Option<Detector> {
    match GpuContext::new() {
        Ok(gpu) => Some(Detector::new(Backend::Gpu(gpu), config)),
        Err(e) => {
            eprintln!("no GPU adapter ({e}); using the CPU detector");
            None
        }
    }
}

/// The GPU detector unless `cpu` is set or there is no adapter; the CPU detector otherwise.
pub fn detector(cpu: bool, config: DetectorConfig) -> Detector {
    let gpu = if cpu {
        None
    } else {
        gpu_detector(config.clone())
    };
    let detector = gpu.unwrap_or_else(|| Detector::new(Backend::Cpu, config));
    eprintln!("detector: {}", detector.backend_description());
    detector
}

pub fn shutdown_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing the message in hand");
            let _ = tx.send(true);
        }
        // Keep the sender alive so receivers do not see a closed channel as a signal.
        std::future::pending::<()>().await;
    });
    rx
}

/// Peak resident set size of this process, MiB (Linux: VmHWM in /proc/self/status).
pub fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Use the Earth orientation of an IERS finals2000A file for every frame transformation of this process.
pub fn load_eop(path: Option<&Path>) -> Result<()> {
    if let Some(path) = path {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table = kessler_od::eop::EopTable::parse_finals(&path.display().to_string(), &text)?;
        let (first, last) = table.span_mjd();
        tracing::info!(file = %path.display(), first, last, "Earth orientation loaded");
        kessler_od::eop::use_eop(Some(table));
    }
    Ok(())
}

/// A progress bar on stderr for `len` items of `what`; indicatif hides it when stderr is not a terminal.
pub fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} ({{eta}} left)"))
            .expect("a fixed, valid template"),
    );
    bar
}
