//! A tile-compressed copy of a simulated night, made by fpack (cfitsio's own tool, Debian package libcfitsio-bin,
//! installed by scripts/test.sh), gives the same `kessler detect --json` output as the plain FITS files.

mod common;

use std::process::Command;

use common::{detections, kessler};

#[test]
fn an_fpacked_night_detects_as_its_plain_fits_does() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("fits");
    // The night's first 4 frames: one LEO streak in each, with a TAN WCS (so RA/Dec come through the .fz header).
    kessler(&[
        "simulate",
        "--out",
        plain.to_str().unwrap(),
        "--frames",
        "4",
        "--seed",
        "3",
    ]);
    let packed = dir.path().join("fz");
    std::fs::create_dir(&packed).unwrap();
    let mut frames: Vec<_> = std::fs::read_dir(&plain)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fits"))
        .collect();
    frames.sort();
    assert_eq!(frames.len(), 4);
    for (i, frame) in frames.iter().enumerate() {
        let name = frame.file_name().unwrap().to_str().unwrap();
        let out = packed.join(format!("{name}.fz"));
        // fpack's default RICE_1 for three frames, GZIP_1 (-g) for one: both lossless on 16-bit integers.
        let codec = if i == 1 { "-g" } else { "-r" };
        let status = Command::new("fpack")
            .args([codec, "-O", out.to_str().unwrap(), frame.to_str().unwrap()])
            .status()
            .expect("fpack runs (Debian package libcfitsio-bin; scripts/test.sh installs it)");
        assert!(status.success(), "fpack {codec} {name}: {status}");
        let header = std::fs::read(&out).unwrap();
        assert!(
            String::from_utf8_lossy(&header[..5760]).contains("ZIMAGE  =                    T"),
            "{} is not tile-compressed",
            out.display()
        );
    }
    let from_fits = detections(&plain);
    assert!(!from_fits.is_empty(), "the simulated night has streaks");
    assert!(from_fits.iter().all(|d| d["ra1"].is_f64()), "{from_fits:?}");
    assert_eq!(detections(&packed), from_fits);
}
