//! The frame envelope and chunk decoders, and chunk reassembly, on arbitrary bytes. Each input is also decoded
//! with its trailing CRC32C made correct, so the fuzzer reaches the parsers behind the checksum.
#![no_main]

use std::time::{Duration, Instant};

use kessler_ingest::chunk::{self, Reassembler};
use kessler_ingest::envelope;
use libfuzzer_sys::fuzz_target;

fn with_crc(data: &[u8]) -> Vec<u8> {
    let mut fixed = data.to_vec();
    if let Some(body) = fixed.len().checked_sub(4) {
        let crc = crc32c::crc32c(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
    }
    fixed
}

fuzz_target!(|data: &[u8]| {
    let fixed = with_crc(data);
    for bytes in [data, &fixed[..]] {
        let _ = envelope::decode(bytes);
        let _ = chunk::frame_of(bytes);
        let mut r = Reassembler::new(1 << 20, Duration::from_secs(1));
        // The same chunk twice (a producer retry), then the frame expires.
        if let Ok(c) = chunk::decode_chunk(bytes) {
            let now = Instant::now();
            let _ = r.accept(c, 0, now);
            if let Ok(again) = chunk::decode_chunk(bytes) {
                let _ = r.accept(again, 1, now);
            }
            let _ = r.expire(now + Duration::from_secs(2));
        }
    }
});
