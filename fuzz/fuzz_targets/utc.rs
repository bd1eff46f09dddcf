//! Time text on arbitrary strings: every input gives an epoch or an error, never a panic; an accepted time
//! formatted with nanoseconds reads back as the same epoch.
#![no_main]

use kessler_ingest::utc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = utc::parse(text) {
        assert_eq!(utc::parse(&utc::format(t, 9)), Ok(t), "{text:?}");
    }
});
