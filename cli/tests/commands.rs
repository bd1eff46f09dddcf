//! The `kessler` binary as a user runs it against the real broker: simulate a few frames to FITS, publish the
//! folder, run every stage until idle, and list the catalog.

use std::process::Command;

fn brokers() -> String {
    std::env::var("KESSLER_TEST_BROKERS").expect(
        "KESSLER_TEST_BROKERS is not set: this test needs a real Kafka broker; run scripts/test.sh, which starts Tansu",
    )
}

mod common;

use common::{detections, kessler};

#[test]
fn simulate_publish_run_and_list_through_the_broker() {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let night = dir.path().join("night");
    let db = dir.path().join("catalog.db");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let namespace = format!("cli-{}-{}", std::process::id(), now.as_millis());

    // The first 12 frames of the night: three visits of one LEO object.
    kessler(&[
        "simulate",
        "--out",
        night.to_str().unwrap(),
        "--frames",
        "12",
        "--seed",
        "3",
    ]);
    let fits = std::fs::read_dir(&night)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "fits")
        })
        .count();
    assert_eq!(fits, 12);
    // A broken file in the folder is reported and skipped; the others are published.
    std::fs::write(night.join("broken.fits"), b"SIMPLE  =                    T").unwrap();
    kessler(&[
        "publish",
        "--brokers",
        &brokers,
        "--namespace",
        &namespace,
        night.to_str().unwrap(),
    ]);
    kessler(&[
        "run",
        "--brokers",
        &brokers,
        "--namespace",
        &namespace,
        "--stage",
        "all",
        "--db",
        db.to_str().unwrap(),
        "--exit-when-idle",
        "20",
    ]);
    let listed: serde_json::Value = serde_json::from_str(&kessler(&[
        "catalog",
        "list",
        "--json",
        "--db",
        db.to_str().unwrap(),
    ]))
    .unwrap();
    let objects = listed.as_array().expect("a JSON array");
    assert_eq!(objects.len(), 1, "{listed}");
    assert_eq!(objects[0]["observations"], 24, "{listed}");
    assert!(
        objects[0]["orbit"]["rms_arcsec"].as_f64().unwrap() < 30.0,
        "{listed}"
    );
}

#[test]
fn bench_scores_a_simulated_snr_grid_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("grid");
    kessler(&[
        "simulate",
        "--out",
        data.to_str().unwrap(),
        "--snr-grid",
        "40,80",
        "--frames",
        "10",
        "--seed",
        "5",
    ]);
    let out = dir.path().join("report");
    let line = kessler(&[
        "bench",
        "--dataset",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
        "--cpu",
    ]);
    let report: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(report["frames"], 10, "{report}");
    assert_eq!(report["truth_streaks"], 9, "{report}");
    // Bright streaks (S/N 40 and 80) are all found, and nothing else.
    assert_eq!(report["found"], 9, "{report}");
    assert_eq!(report["false_positives"], 0, "{report}");
    assert_eq!(report["speed"][0]["backend"], "cpu", "{report}");
    assert_eq!(
        report["thresholds"],
        serde_json::json!([{"width": 512, "height": 512, "threshold": 7.0, "source": "fixed"}]),
        "{report}"
    );
    for file in ["report.json", "report.md", "completeness.png"] {
        assert!(
            out.join(file).metadata().unwrap().len() > 100,
            "{file} was not written"
        );
    }
}

#[test]
fn a_frame_as_16_bit_png_with_a_sidecar_detects_as_its_fits_does() {
    let dir = tempfile::tempdir().unwrap();
    let fits_dir = dir.path().join("fits");
    kessler(&[
        "simulate",
        "--out",
        fits_dir.to_str().unwrap(),
        "--snr-grid",
        "40",
        "--frames",
        "2",
        "--seed",
        "9",
    ]);
    let png_dir = dir.path().join("png");
    std::fs::create_dir(&png_dir).unwrap();
    let mut frames = 0;
    for entry in std::fs::read_dir(&fits_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "fits") {
            continue;
        }
        let frame = kessler_ingest::fits::read_fits(&path, "sim").unwrap();
        let h = &frame.header;
        let pixels: Vec<u16> = frame.pixels.iter().map(|&v| v as u16).collect();
        assert!(kessler_ingest::frame::fits_in_u16(&frame.pixels));
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let (width, height) = (frame.width() as u32, frame.height() as u32);
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(width, height, pixels)
            .unwrap()
            .save(png_dir.join(format!("{stem}.png")))
            .unwrap();
        let sidecar = serde_json::json!({
            "date_obs": kessler_ingest::utc::format(h.start, 3),
            "exposure_s": h.exposure_s,
            "sensor": h.sensor_id,
            "site": h.site,
            "wcs": h.wcs,
        });
        std::fs::write(
            png_dir.join(format!("{stem}.png.json")),
            sidecar.to_string(),
        )
        .unwrap();
        frames += 1;
    }
    assert_eq!(frames, 2);
    let from_fits = detections(&fits_dir);
    assert!(!from_fits.is_empty());
    assert_eq!(detections(&png_dir), from_fits);
}

#[test]
fn calibrate_measures_what_noise_reaches_on_frames_without_streaks() {
    let line = kessler(&["calibrate", "--frames", "4", "--cpu", "--json"]);
    let report: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(report["frames"], 4, "{report}");
    let table = report["table"].as_array().expect("a table");
    assert_eq!(table[0]["threshold"], 4.0, "{report}");
    // Fewer frames reach each higher threshold, and white noise reaches no S/N of 7 on a 512 x 512 frame.
    for pair in table.windows(2) {
        for column in ["transform_frames", "streak_frames", "streaks_per_frame"] {
            assert!(
                pair[1][column].as_f64() <= pair[0][column].as_f64(),
                "{report}"
            );
        }
    }
    let at_7 = table.iter().find(|r| r["threshold"] == 7.0).unwrap();
    assert_eq!(at_7["streaks_per_frame"], 0.0, "{report}");

    // On a recorded dataset, only the frames without a truth row count (one in ten).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("grid");
    kessler(&[
        "simulate",
        "--out",
        data.to_str().unwrap(),
        "--snr-grid",
        "40",
        "--frames",
        "10",
    ]);
    let line = kessler(&[
        "calibrate",
        "--dataset",
        data.to_str().unwrap(),
        "--cpu",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(report["frames"], 1, "{report}");
}

/// `kessler calibrate --table` writes a threshold table; `detect --false-alarms-per-frame` takes each frame's
/// threshold from it and says so, and refuses a frame larger than every calibrated size.
#[test]
fn a_calibrated_table_sets_the_threshold_of_detect() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("thresholds.json");
    let table_arg = table.to_str().unwrap();
    for side in ["64", "96"] {
        kessler(&[
            "calibrate",
            "--frames",
            "50",
            "--side",
            side,
            "--floor",
            "5",
            "--cpu",
            "--json",
            "--table",
            table_arg,
        ]);
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    let sizes: Vec<_> = written["calibrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["width"].as_u64().unwrap(), c["frames"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, vec![(64, 50), (96, 50)]);

    let frames = dir.path().join("frames");
    kessler(&[
        "simulate",
        "--out",
        frames.to_str().unwrap(),
        "--snr-grid",
        "40",
        "--frames",
        "1",
        "--side",
        "96",
    ]);
    // stderr, and whether it succeeded.
    let detect = || {
        let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
            .args(["detect", "--cpu", frames.to_str().unwrap()])
            .args([
                "--false-alarms-per-frame",
                "0.02",
                "--thresholds",
                table_arg,
            ])
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        )
    };
    let (stderr, ok) = detect();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("threshold for 96x96 frames: S/N ")
            && stderr.contains("in the 96x96 calibration: 50 simulated"),
        "{stderr}"
    );
    // The 64 px calibration covers no 96 px frame: one line naming the sizes, nothing detected.
    std::fs::write(
        &table,
        std::fs::read_to_string(&table)
            .unwrap()
            .replace("\"width\": 96", "\"width\": 95"),
    )
    .unwrap();
    let (stderr, ok) = detect();
    assert!(
        !ok && stderr
            .contains("no threshold calibration covers 96x96 frames (calibrated: 64x64, 95x96)"),
        "{stderr}"
    );
}

/// `kessler catalog import` enters element sets once (a second import of the same file changes nothing), names
/// the file of a broken set, and `catalog list` shows the objects with their NORAD numbers and orbit source.
#[test]
fn catalog_import_enters_element_sets_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let tle = dir.path().join("objects.tle");
    std::fs::write(&tle, kessler_sim::DEFAULT_TLES).unwrap();
    let (db_arg, tle_arg) = (db.to_str().unwrap(), tle.to_str().unwrap());
    let first = kessler(&["catalog", "import", "--db", db_arg, "--tle", tle_arg]);
    assert!(
        first.contains("3 element sets entered (new objects or newer epochs), 0 already held"),
        "{first}"
    );
    let second = kessler(&["catalog", "import", "--db", db_arg, "--tle", tle_arg]);
    assert!(
        second.contains("0 element sets entered (new objects or newer epochs), 3 already held"),
        "{second}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&kessler(&["catalog", "list", "--db", db_arg, "--json"])).unwrap();
    let objects = listed.as_array().unwrap();
    assert_eq!(objects.len(), 3);
    for o in objects {
        assert_eq!(o["status"], "catalogued");
        assert_eq!(o["orbit_source"], "tle");
    }
    assert_eq!(objects[0]["norad_id"], 28057);

    let broken = dir.path().join("broken.tle");
    std::fs::write(&broken, "CBERS 2\n1 28057U 03049A   06177.78615833\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args(["catalog", "import", "--db", db_arg, "--tle"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.tle"), "{stderr}");
}

#[test]
fn the_terminal_review_accepts_a_candidate_and_exports_it_as_omm_oem_and_tle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let db = db.to_str().unwrap();
    kessler(&["demo", "--cpu", "--db", db]);
    let listed: serde_json::Value = serde_json::from_str(&kessler(&[
        "catalog", "review", "list", "--db", db, "--json",
    ]))
    .unwrap();
    let candidates = listed.as_array().unwrap();
    assert!(!candidates.is_empty(), "{listed}");
    assert!(candidates.iter().all(|c| c["status"] == "candidate"));
    let id = candidates[0]["id"].as_str().unwrap();
    let shown: serde_json::Value = serde_json::from_str(&kessler(&[
        "catalog", "review", "show", id, "--db", db, "--json",
    ]))
    .unwrap();
    assert_eq!(
        shown["residuals"].as_array().unwrap().len(),
        candidates[0]["observations"]
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args([
            "catalog", "review", "reject", id, "--db", db, "--by", "ana", "--reason", " ",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("a rejection needs a reason"));
    // Announced on the catalog topic, with the changes the demo recorded before it.
    let namespace = format!("review-{}", std::process::id());
    let change: serde_json::Value = serde_json::from_str(&kessler(&[
        "catalog",
        "review",
        "accept",
        id,
        "--db",
        db,
        "--by",
        "ana",
        "--reason",
        "clean track",
        "--brokers",
        &brokers(),
        "--namespace",
        &namespace,
    ]))
    .unwrap();
    let topic = kessler_ingest::topics::Topics::namespaced(&namespace).catalog;
    let announced = kessler_ingest::kafka::recent_payloads(&brokers(), &topic, 1000).unwrap();
    let last: serde_json::Value = serde_json::from_slice(announced.last().unwrap()).unwrap();
    assert_eq!(last, change);
    assert_eq!(
        (change["change"].as_str(), change["by"].as_str()),
        (Some("accepted"), Some("ana"))
    );

    let out = dir.path().join("export");
    for format in ["omm", "oem", "tle"] {
        kessler(&[
            "catalog",
            "export",
            "--db",
            db,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let omm = std::fs::read_to_string(out.join(format!("{id}.omm"))).unwrap();
    assert!(omm.starts_with("CCSDS_OMM_VERS"), "{omm}");
    let oem = std::fs::read_to_string(out.join(format!("{id}.oem"))).unwrap();
    assert!(oem.starts_with("CCSDS_OEM_VERS = 2.0"), "{oem}");
    let tle = std::fs::read_to_string(out.join("catalog.tle")).unwrap();
    let lines: Vec<&str> = tle.lines().collect();
    assert_eq!(lines.len(), 3, "only the accepted object: {tle}");
    assert_eq!(lines[0], id);
    let number: u64 = id[1..].parse().unwrap();
    assert!(
        lines[1].starts_with(&format!("1 {}", 80_000 + number)),
        "{tle}"
    );
    kessler_od::Tle::parse(Some(lines[0]), lines[1], lines[2]).unwrap();
}

#[test]
fn a_user_error_is_one_line_and_no_backtrace() {
    // RUST_BACKTRACE set in the environment must not turn a missing file into a backtrace.
    for args in [
        &["detect", "missing.fits"][..],
        &["od", "--tdm", "missing.tdm", "--sites", "missing.toml"],
        &["catalog", "list", "--db", "/nonexistent/folder/k.db"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env_remove("KESSLER_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("kessler: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains("missing") || stderr.contains("k.db"),
            "{args:?}: {stderr}"
        );
    }
    // --verbose gives the whole chain (and the backtrace when RUST_BACKTRACE asks for it).
    let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args(["detect", "missing.fits", "--verbose"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).lines().count() > 1);
}
