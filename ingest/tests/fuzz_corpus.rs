//! Replays the fuzz corpora kept in fuzz/corpus (grown by `cargo fuzz run`, see fuzz/README.md) through the
//! readers on the stable toolchain: every input must give a value or an error, never a panic.

use std::path::Path;
use std::time::{Duration, Instant};

use kessler_ingest::chunk::{self, Reassembler};
use kessler_ingest::{envelope, fits, utc};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "{}: only {} inputs",
        dir.display(),
        inputs.len()
    );
    inputs
}

#[test]
fn the_fits_corpus_reads_without_a_panic() {
    let mut frames = 0;
    for (name, bytes) in corpus("fits") {
        if fits::parse_fits(&name, &bytes, "fuzz", "fuzz").is_ok() {
            frames += 1;
        }
    }
    assert!(frames > 0, "the seeds include valid frames");
}

#[test]
fn the_envelope_corpus_decodes_without_a_panic() {
    for (_, bytes) in corpus("envelope") {
        let _ = envelope::decode(&bytes);
        let _ = chunk::frame_of(&bytes);
        if let Ok(c) = chunk::decode_chunk(&bytes) {
            let mut r = Reassembler::new(1 << 20, Duration::from_secs(1));
            let _ = r.accept(c, 0, Instant::now());
        }
    }
}

#[test]
fn the_utc_corpus_parses_without_a_panic_and_round_trips() {
    let mut times = 0;
    for (name, bytes) in corpus("utc") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(t) = utc::parse(text) {
            assert_eq!(utc::parse(&utc::format(t, 9)), Ok(t), "{name}");
            times += 1;
        }
    }
    assert!(times > 0, "the seeds include valid times");
}
