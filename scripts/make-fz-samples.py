#!/usr/bin/env python3
"""Write the tile-compressed (.fz) samples that ingest/tests/fz.rs reads, each beside the plain FITS it was made from.

Made with astropy 8.0.2 and numpy 2.4.6 (astropy writes the tile-compression convention itself, FITS 4.0 section
10), and with fpack 1.7.0 / CFITSIO 4.02 (Debian libcfitsio-bin 4.2.0-3) where it is installed:

    python3 -m venv /tmp/fzvenv && /tmp/fzvenv/bin/pip install astropy==8.0.2 numpy==2.4.6
    /tmp/fzvenv/bin/python scripts/make-fz-samples.py        # writes ingest/tests/data/fz/

Every compression here is lossless (integers with RICE_1, GZIP_1, GZIP_2 and HCOMPRESS_1 at scale 0; floats with
GZIP_1 unquantised), so the Rust test compares pixels exactly. The images are 37 x 23 px, sides that no tile shape
below divides, so edge tiles are partial.
"""

import pathlib
import shutil
import subprocess

import numpy as np
from astropy.io import fits

OUT = pathlib.Path(__file__).resolve().parent.parent / "ingest" / "tests" / "data" / "fz"
W, H = 37, 23

# The exposure, site and WCS keywords that ingest/src/fits.rs reads, as a camera writes them.
CARDS = [
    ("DATE-OBS", "2026-03-14T21:05:07.250", "exposure start, UTC"),
    ("EXPTIME", 2.5, "exposure, s"),
    ("KSENSOR", "fz-cam", "kessler sensor id"),
    ("OBSGEO-B", 28.3, "deg"),
    ("OBSGEO-L", -16.51, "deg"),
    ("OBSGEO-H", 2390.0, "m"),
    ("GAIN", 1.5, "e-/ADU"),
    ("RADESYS", "ICRS", ""),
    ("CTYPE1", "RA---TAN", ""),
    ("CTYPE2", "DEC--TAN", ""),
    ("CRPIX1", 18.5, ""),
    ("CRPIX2", 12.0, ""),
    ("CRVAL1", 120.25, ""),
    ("CRVAL2", -5.5, ""),
    ("CD1_1", -1.1e-3, ""),
    ("CD1_2", 2.0e-5, ""),
    ("CD2_1", 1.5e-5, ""),
    ("CD2_2", 1.1e-3, ""),
]


def header():
    h = fits.Header()
    for key, value, comment in CARDS:
        h[key] = (value, comment)
    return h


def u16_image():
    """Sky of ~1000 ADU with a streak and a saturated pixel: unsigned 16-bit (BITPIX 16, BZERO 32768)."""
    rng = np.random.default_rng(14)
    img = rng.normal(1000.0, 30.0, (H, W))
    for x in range(W):
        img[int(3 + 0.4 * x), x] += 800.0
    img[5, 7] = 65535
    return np.clip(np.round(img), 0, 65535).astype(np.uint16)


def i32_image():
    rng = np.random.default_rng(15)
    return rng.integers(-100_000, 100_000, (H, W), dtype=np.int32)


def f32_image():
    rng = np.random.default_rng(16)
    img = rng.normal(1000.0, 30.0, (H, W)).astype(np.float32)
    img[2, 3] = np.nan
    return img


def write(name, hdus):
    fits.HDUList(hdus).writeto(OUT / name, overwrite=True, output_verify="exception")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    u16, i32, f32 = u16_image(), i32_image(), f32_image()
    write("u16.fits", [fits.PrimaryHDU(u16, header())])
    write("i32.fits", [fits.PrimaryHDU(i32, header())])
    write("f32.fits", [fits.PrimaryHDU(f32, header())])

    def comp(data, **kw):
        return [fits.PrimaryHDU(), fits.CompImageHDU(data, header(), **kw)]

    write("u16-rice.fits.fz", comp(u16, compression_type="RICE_1"))
    write("u16-rice-tiles.fits.fz", comp(u16, compression_type="RICE_1", tile_shape=(8, 16)))
    write("u16-gzip1.fits.fz", comp(u16, compression_type="GZIP_1", tile_shape=(8, 16)))
    write("u16-gzip2.fits.fz", comp(u16, compression_type="GZIP_2"))
    write("u16-hcompress.fits.fz", comp(u16, compression_type="HCOMPRESS_1", tile_shape=(8, 16), hcomp_scale=0))
    write("i32-rice.fits.fz", comp(i32, compression_type="RICE_1", tile_shape=(8, 16)))
    write("i32-gzip1.fits.fz", comp(i32, compression_type="GZIP_1"))
    write("f32-gzip1.fits.fz", comp(f32, compression_type="GZIP_1", quantize_level=0.0))

    # The exposure keywords only in the primary HDU, as multi-extension cameras write them: the compressed image
    # inherits them (ingest/src/fits.rs, INHERITED).
    # The WCS never inherits, so it stays with the image.
    split = [k for k, _, _ in CARDS].index("RADESYS")
    exposure, wcs = fits.Header(), fits.Header()
    for i, (key, value, comment) in enumerate(CARDS):
        (exposure if i < split else wcs)[key] = (value, comment)
    primary = fits.PrimaryHDU(header=exposure)
    write("u16-rice-inherit.fits.fz", [primary, fits.CompImageHDU(u16, wcs, compression_type="RICE_1")])

    # fpack, the tool cameras and archives use: default RICE_1, row-by-row tiles (fpack -r), and GZIP_1 (fpack -g).
    if shutil.which("fpack"):
        for flag, name in [("-r", "u16-fpack-rice.fits.fz"), ("-g", "u16-fpack-gzip1.fits.fz")]:
            out = OUT / name
            out.unlink(missing_ok=True)
            subprocess.run(["fpack", flag, "-O", str(out), str(OUT / "u16.fits")], check=True)

    # Check the samples against the plain files here, so a wrong sample fails where it is made.
    for fz in sorted(OUT.glob("*.fz")):
        plain = OUT / (fz.name.split("-")[0] + ".fits")
        with fits.open(fz) as a, fits.open(plain) as b:
            np.testing.assert_array_equal(a[1].data, b[0].data, err_msg=fz.name)


if __name__ == "__main__":
    main()
