//! The FITS reader on arbitrary bytes: it returns a frame or an error, and never panics, loops or allocates
//! without bound. `parse_fits` is the entry point of plain and tile-compressed (`.fz`) files alike: an image HDU or
//! a BINTABLE with `ZIMAGE = T` (ingest/src/fz.rs and the fitskit decoders behind it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kessler_ingest::fits::parse_fits("fuzz.fits", data, "fuzz", "fuzz");
});
