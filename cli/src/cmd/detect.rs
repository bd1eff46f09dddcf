//! `kessler detect`: the streaks of frame files, as text or JSON lines.

use anyhow::{Result, bail};
use kessler_detector::Detector;
use kessler_ingest::publish::frame_files;
use kessler_ingest::{file, utc};

use crate::args::DetectArgs;

/// Run `kessler detect`.
pub fn run(args: DetectArgs) -> Result<()> {
    let files = frame_files(&args.files)?;
    detect_files(
        &files,
        args.json,
        &super::threshold_detector(args.cpu, &args.threshold)?,
    )
}

/// One line of `kessler detect --json`.
#[derive(serde::Serialize)]
struct DetectLine<'a> {
    file: &'a str,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    snr: f64,
    /// The statistic the threshold applies to ([`kessler_detector::Streak::detection_snr`]).
    detection_snr: f64,
    /// 1-sigma of each endpoint along the line and across it, px.
    sigma_along_px: f64,
    sigma_cross_px: f64,
    flux: f64,
    width: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ra1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dec1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ra2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dec2: Option<f64>,
    /// Radar maps: UTC of the track's earlier and later ends, their ranges (km) and the range rate (km/s).
    #[serde(skip_serializing_if = "Option::is_none")]
    t1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range1_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    t2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range2_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_rate_km_s: Option<f64>,
}

fn detect_files(files: &[std::path::PathBuf], json: bool, detector: &Detector) -> Result<()> {
    let mut failed = 0;
    let mut sizes = std::collections::BTreeSet::new();
    for path in files {
        let name = path.display().to_string();
        let frame = match file::read_frame(path, "unknown") {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: {e}");
                failed += 1;
                continue;
            }
        };
        let h = &frame.header;
        let (height, width) = frame.pixels.dim();
        let streaks =
            match super::say_threshold(detector, (width as u32, height as u32), &mut sizes)
                .and_then(|()| detector.detect(frame.pixels.view()))
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("skipped: {name}: {e}");
                    failed += 1;
                    continue;
                }
            };
        if !json {
            println!("{name}: {} streak(s)", streaks.len());
        }
        for s in &streaks {
            let sky = |x, y| h.wcs.as_ref().and_then(|w| w.pixel_to_world(x, y));
            let (p1, p2) = (sky(s.x1, s.y1), sky(s.x2, s.y2));
            let track = kessler_detector::measure::radar_track(h, s);
            let line = DetectLine {
                file: &name,
                x1: s.x1,
                y1: s.y1,
                x2: s.x2,
                y2: s.y2,
                snr: s.snr,
                detection_snr: s.detection_snr,
                sigma_along_px: s.sigma_along_px,
                sigma_cross_px: s.sigma_cross_px,
                flux: s.flux,
                width: s.width_px,
                ra1: p1.map(|p| p.0),
                dec1: p1.map(|p| p.1),
                ra2: p2.map(|p| p.0),
                dec2: p2.map(|p| p.1),
                t1: track.map(|t| utc::format(t.t1, 3)),
                range1_km: track.map(|t| t.range1_km),
                t2: track.map(|t| utc::format(t.t2, 3)),
                range2_km: track.map(|t| t.range2_km),
                range_rate_km_s: track.map(|t| t.range_rate_km_s),
            };
            if json {
                println!("{}", serde_json::to_string(&line)?);
            } else {
                println!(
                    "  ({:.1}, {:.1}) - ({:.1}, {:.1})  S/N {:.1} (detection {:.1})  flux {:.0} ADU  width {:.1} px",
                    s.x1, s.y1, s.x2, s.y2, s.snr, s.detection_snr, s.flux, s.width_px
                );
                if let Some(t) = track {
                    println!(
                        "    range {:.3} km at {} -> {:.3} km at {}: range rate {:.4} km/s",
                        t.range1_km,
                        utc::format(t.t1, 3),
                        t.range2_km,
                        utc::format(t.t2, 3),
                        t.range_rate_km_s
                    );
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} file(s) could not be read or detected");
    }
    Ok(())
}
