//! Tile-compressed FITS (`.fz`) read as the plain FITS they were made from: the samples in tests/data/fz were
//! written by scripts/make-fz-samples.py (astropy 8.0.2's CompImageHDU and fpack 1.7.0, lossless), so pixels and
//! header values must be equal exactly. Corrupt and truncated copies give an error naming the file, never a panic.

use std::path::{Path, PathBuf};

use kessler_ingest::fits::{self, FitsError};
use kessler_ingest::{Frame, file};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fz")
}

/// The compressed samples, each with the plain file it was made from (`u16-rice.fits.fz` from `u16.fits`).
fn samples() -> Vec<(PathBuf, PathBuf)> {
    let mut all: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(data())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fz"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let plain = data().join(format!("{}.fits", name.split('-').next().unwrap()));
            (p, plain)
        })
        .collect();
    all.sort();
    all
}

fn read(path: &Path) -> Result<Frame, FitsError> {
    fits::read_fits(path, "default")
}

#[test]
fn every_compression_reads_as_the_plain_file() {
    let all = samples();
    let names: Vec<String> = all
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for kind in ["rice", "gzip1", "gzip2", "fpack-rice", "fpack-gzip1"] {
        assert!(
            names.iter().any(|n| n.contains(&format!("-{kind}."))),
            "no {kind} sample in {names:?}"
        );
    }
    for (fz, plain) in all {
        if fz.to_string_lossy().contains("hcompress") {
            // Refused: fitskit's HCOMPRESS_1 decoder overflows on corrupt streams (src/fz.rs).
            let err = read(&fz).unwrap_err().to_string();
            assert!(
                err.contains("ZCMPTYPE") && err.contains("HCOMPRESS_1"),
                "{err}"
            );
            continue;
        }
        let (got, want) = (read(&fz).unwrap(), read(&plain).unwrap());
        let name = fz.display();
        assert_eq!(got.header.frame_id, file_id(&fz), "{name}");
        let mut header = got.header.clone();
        header.frame_id = want.header.frame_id.clone();
        assert_eq!(header, want.header, "{name}");
        assert_eq!(got.pixels, want.pixels, "{name}");
        // The header values the samples were written with (scripts/make-fz-samples.py).
        assert_eq!(got.header.sensor_id, "fz-cam", "{name}");
        assert_eq!((got.width(), got.height()), (37, 23), "{name}");
        assert_eq!(got.header.exposure_s, 2.5, "{name}");
        assert_eq!(
            kessler_ingest::utc::format(got.header.start, 3),
            "2026-03-14T21:05:07.250"
        );
        assert_eq!(got.header.site.unwrap().lat_deg, 28.3, "{name}");
        assert_eq!(got.header.wcs.as_ref().unwrap().crval_deg, [120.25, -5.5]);
        assert_eq!(
            got.header.instrument.unwrap().gain_e_per_adu,
            Some(1.5),
            "{name}"
        );
    }
}

fn file_id(fz: &Path) -> String {
    let name = fz.file_name().unwrap().to_string_lossy().into_owned();
    name.trim_end_matches(".fits.fz").to_string()
}

#[test]
fn the_pixel_values_survive_scaling_and_undefined_pixels() {
    let u16 = read(&data().join("u16-rice.fits.fz")).unwrap();
    // Unsigned 16-bit through BZERO 32768: the saturated pixel at x 7, y 5 (scripts/make-fz-samples.py).
    assert_eq!(u16.pixels[[5, 7]], 65535.0);
    // The float sample's NaN at x 3, y 2 becomes the median, as in a plain file.
    let f32 = read(&data().join("f32-gzip1.fits.fz")).unwrap();
    assert!(f32.pixels.iter().all(|v| v.is_finite()));
}

#[test]
fn frame_files_named_fz_are_read_as_fits() {
    let path = data().join("u16-gzip2.fits.fz");
    let frame = file::read_frame(&path, "s").unwrap();
    assert_eq!(frame.header.frame_id, "u16-gzip2");
}

/// The byte offset of the first heap byte of a sample (the first tile's compressed data): the end of the table's
/// main data. Every sample has one primary HDU without data, so the compressed HDU's header starts at 2880.
fn heap_offset(bytes: &[u8]) -> usize {
    let cards: Vec<String> = bytes[2880..]
        .chunks(80)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .take_while(|c| !c.starts_with("END "))
        .collect();
    let value = |key: &str| -> usize {
        let card = cards
            .iter()
            .find(|c| c.starts_with(&format!("{key:<8}=")))
            .unwrap();
        card[10..30].trim().parse().unwrap()
    };
    let data = (2880 + (cards.len() + 1) * 80).div_ceil(2880) * 2880;
    data + value("NAXIS1") * value("NAXIS2")
}

#[test]
fn corrupt_and_truncated_files_are_errors_naming_the_file() {
    let path = data().join("u16-rice-tiles.fits.fz");
    let bytes = std::fs::read(&path).unwrap();

    let short = &bytes[..heap_offset(&bytes) + 10];
    let err = fits::parse_fits("cut.fits.fz", short, "f", "s")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut.fits.fz") && err.contains("promises"),
        "{err}"
    );

    // fpack's file without its last block (cli/tests/ingest.rs sends this one to the dead letters).
    let fpacked = std::fs::read(data().join("u16-fpack-rice.fits.fz")).unwrap();
    let err = fits::parse_fits("cut.fits.fz", &fpacked[..fpacked.len() - 2880], "f", "s")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the header promises"), "{err}");

    let mut garbled = bytes.clone();
    let heap = heap_offset(&bytes);
    for b in &mut garbled[heap..heap + 64] {
        *b = 0xff;
    }
    let err = fits::parse_fits("bad.fits.fz", &garbled, "f", "s")
        .unwrap_err()
        .to_string();
    // The HDU, the codec and the first tile that does not decode, with the offset of its bytes.
    assert!(
        err.contains("bad.fits.fz")
            && err.contains("HDU at byte offset 2880")
            && err.contains("RICE_1")
            && err.contains(&format!(
                "tile 0 (its compressed bytes at byte offset {heap})"
            )),
        "{err}"
    );

    let text = String::from_utf8_lossy(&bytes).into_owned();
    let at = text.find("ZNAXIS1 =").unwrap();
    let mut huge = bytes.clone();
    huge[at + 10..at + 30].copy_from_slice(format!("{:>20}", 65536).as_bytes());
    let err = fits::parse_fits("huge.fits.fz", &huge, "f", "s")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("huge.fits.fz") && err.contains("ZNAXIS1"),
        "{err}"
    );
}

/// Deterministic mutations of every sample (bytes overwritten in the headers, the tile descriptors and the heap;
/// cuts at every block): each gives a frame or an error, never a panic. The fuzz target (fuzz/fuzz_targets/fits.rs)
/// explores further; this keeps the cases in every test run.
#[test]
fn mutated_samples_never_panic() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        // xorshift64 (Marsaglia 2003): a fixed, dependency-free sequence.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs = 0;
    for (fz, _) in samples() {
        let bytes = std::fs::read(&fz).unwrap();
        for cut in (0..bytes.len()).step_by(1440) {
            let _ = fits::parse_fits("cut.fz", &bytes[..cut], "f", "s");
            runs += 1;
        }
        for _ in 0..200 {
            let mut m = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % m.len() as u64) as usize;
                m[at] = match next() % 4 {
                    0 => b'9',
                    1 => b'-',
                    2 => 0xff,
                    _ => next() as u8,
                };
            }
            let _ = fits::parse_fits("mutant.fz", &m, "f", "s");
            runs += 1;
        }
    }
    assert!(runs > 2000, "{runs}");
}
