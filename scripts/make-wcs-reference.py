#!/usr/bin/env python3
"""Reference pixel -> sky values for kessler's FITS WCS reader, computed with astropy.wcs (WCSLIB).

Writes ingest/tests/data/wcs_reference.json: for each header, its cards (80-character FITS card images), ~20
0-based pixels and astropy's `all_pix2world(x, y, 0)` RA/Dec for each; and, for the two headers of the detect
acceptance test (a rotated PC + CDELT SIN and a TAN-SIP), RA/Dec on a 16-px grid over a 256 x 256 frame.
The Rust tests read the file and need no Python (ingest/tests/wcs_reference.rs, cli/tests/wcs.rs).

Run once, from the repository root, with astropy in a virtual environment:

    python3 -m venv /tmp/astropy-venv && /tmp/astropy-venv/bin/pip install astropy
    /tmp/astropy-venv/bin/python scripts/make-wcs-reference.py

The astropy and numpy versions used are stored in the output file.
"""

import json
import pathlib

import astropy
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

OUT = pathlib.Path(__file__).resolve().parent.parent / "ingest" / "tests" / "data" / "wcs_reference.json"

PROJECTIONS = ["TAN", "SIN", "ARC", "ZEA", "STG", "CAR"]
LINEAR_FORMS = ["CD", "PC", "CROTA"]


def linear(form, cdelt1, cdelt2, rot_deg, skew=0.0):
    """Cards of the linear part: CDi_j, PCi_j + CDELTi, or CDELTi + CROTA2, all for the same matrix
    CD = diag(CDELT) * R(rot) (Calabretta & Greisen 2002 sec. 6.1); `skew` adds a shear (CD and PC only)."""
    r = np.radians(rot_deg)
    c, s = np.cos(r), np.sin(r)
    pc = np.array([[c, -(cdelt2 / cdelt1) * s], [(cdelt1 / cdelt2) * s, c]])
    pc[0, 1] += skew
    if form == "CROTA":
        assert skew == 0.0
        return {"CDELT1": cdelt1, "CDELT2": cdelt2, "CROTA2": rot_deg}
    if form == "PC":
        return {
            "CDELT1": cdelt1,
            "CDELT2": cdelt2,
            "PC1_1": pc[0, 0],
            "PC1_2": pc[0, 1],
            "PC2_1": pc[1, 0],
            "PC2_2": pc[1, 1],
        }
    cd = np.diag([cdelt1, cdelt2]) @ pc
    return {"CD1_1": cd[0, 0], "CD1_2": cd[0, 1], "CD2_1": cd[1, 0], "CD2_2": cd[1, 1]}


def header(proj, crval, crpix, lin, extra=None, sip=""):
    cards = {
        "CTYPE1": f"RA---{proj}{sip}",
        "CTYPE2": f"DEC--{proj}{sip}",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRPIX1": crpix[0],
        "CRPIX2": crpix[1],
        "CRVAL1": crval[0],
        "CRVAL2": crval[1],
    }
    cards.update(lin)
    cards.update(extra or {})
    return cards


# SIP polynomials of order 3 for a 2048 x 2048 camera at ~1 arcsec/px: a few pixels of distortion at the corners.
SIP_AB = {
    "A_ORDER": 3,
    "A_0_2": 1.5e-7,
    "A_1_1": 3.9e-8,
    "A_2_0": 2.2e-7,
    "A_3_0": -3.1e-10,
    "A_1_2": -2.9e-10,
    "B_ORDER": 3,
    "B_0_2": 1.4e-7,
    "B_1_1": 1.5e-7,
    "B_2_0": 6.4e-8,
    "B_0_3": -2.6e-10,
    "B_2_1": -2.6e-10,
}
# An approximate inverse (first order in the distortion: AP = -A, BP = -B), as fitting tools write it; astropy's
# all_pix2world does not use it.
SIP_APBP = {
    "AP_ORDER": 3,
    **{k.replace("A_", "AP_"): -v for k, v in SIP_AB.items() if k.startswith("A_") and k != "A_ORDER"},
    "BP_ORDER": 3,
    **{k.replace("B_", "BP_"): -v for k, v in SIP_AB.items() if k.startswith("B_") and k != "B_ORDER"},
}


def cases():
    """(name, cards, naxis1, naxis2)."""
    out = []
    # Every linear form x every projection: 20-40 degree fields so that the projections differ by degrees at the
    # edges, non-square pixels, a different rotation and reference point for each.
    centres = [(120.0, 30.0), (15.0, -45.0), (250.0, 60.0), (300.0, 5.0), (45.0, -70.0), (200.0, -20.0)]
    for i, proj in enumerate(PROJECTIONS):
        for j, form in enumerate(LINEAR_FORMS):
            rot = [0.0, 23.0, -117.0][j] + 7.0 * i
            cdelt = (-0.02 - 0.001 * i, 0.025 + 0.002 * j)
            skew = 0.05 if form != "CROTA" and i % 2 == 0 else 0.0
            crval = centres[(i + j) % len(centres)]
            if proj == "CAR":
                # CAR's native pole: the general rotation of Paper II sec. 2.4, theta0 = 0.
                crval = (crval[0], crval[1] / 2.0)
            lin = linear(form, cdelt[0], cdelt[1], rot, skew)
            out.append((f"{proj.lower()}_{form.lower()}", header(proj, crval, (500.5, 400.25), lin), 1000, 800))
    # SIN with the slant parameters (Paper II sec. 5.1.5), as aperture synthesis images carry them.
    out.append(
        (
            "sin_pv_slant",
            header("SIN", (83.6, 22.0), (256.0, 256.0), linear("PC", -0.01, 0.01, 12.0), {"PV2_1": 0.05, "PV2_2": -0.08}),
            512,
            512,
        )
    )
    # TAN-SIP without and with the AP/BP inverse, CD and PC forms.
    out.append(
        (
            "tan_sip_cd",
            header("TAN", (335.536, -46.018), (1025.0, 1025.0), linear("CD", -2.2e-4, 2.2e-4, 1.5), SIP_AB, "-SIP"),
            2048,
            2048,
        )
    )
    out.append(
        (
            "tan_sip_pc_apbp",
            header(
                "TAN",
                (10.0, 41.0),
                (1024.5, 1000.0),
                linear("PC", -2.8e-4, 2.6e-4, -33.0),
                {**SIP_AB, **SIP_APBP},
                "-SIP",
            ),
            2048,
            2048,
        )
    )
    # Reference systems kessler accepts.
    out.append(
        (
            "tan_fk5_j2000",
            header("TAN", (150.0, 2.2), (512.0, 512.0), linear("CD", -3e-4, 3e-4, 45.0), {"RADESYS": "FK5", "EQUINOX": 2000.0}),
            1024,
            1024,
        )
    )
    out.append(
        (
            "zea_fk5_no_equinox",
            header("ZEA", (150.0, 2.2), (512.0, 512.0), linear("CROTA", -3e-3, 3e-3, -80.0), {"RADESYS": "FK5"}),
            1024,
            1024,
        )
    )
    # Near the celestial pole (the frame crosses it) and across RA = 0.
    out.append(("tan_high_dec", header("TAN", (37.95, 89.26), (512.0, 512.0), linear("PC", -1e-3, 1e-3, 60.0)), 1024, 1024))
    out.append(("arc_south_pole", header("ARC", (0.0, -89.9), (300.0, 300.0), linear("CD", -2e-3, 2e-3, 10.0)), 600, 600))
    out.append(("stg_ra_wrap", header("STG", (359.95, -10.0), (512.0, 512.0), linear("CROTA", -1e-3, 1.2e-3, 5.0)), 1024, 1024))
    out.append(("car_ra_wrap", header("CAR", (0.2, 0.0), (600.5, 300.5), linear("CD", -0.01, 0.01, 0.0)), 1200, 600))
    # Explicit native poles: LONPOLE on a zenithal projection, LONPOLE and LATPOLE on CAR.
    out.append(
        ("tan_lonpole", header("TAN", (210.0, -35.0), (512.0, 512.0), linear("CD", -5e-4, 5e-4, 0.0), {"LONPOLE": 150.0}), 1024, 1024)
    )
    out.append(
        (
            "car_lonpole_latpole",
            header("CAR", (100.0, 20.0), (400.0, 300.0), linear("PC", -0.02, 0.02, 15.0), {"LONPOLE": 10.0, "LATPOLE": -60.0}),
            800,
            600,
        )
    )
    out.append(("car_south", header("CAR", (250.0, -30.0), (400.0, 300.0), linear("CROTA", -0.02, 0.02, -5.0)), 800, 600))
    # TPV (SCAMP's polynomial distortion of TAN): terms up to degree 5, odd powers of r.
    tpv = {
        "PV1_0": 1e-5, "PV1_1": 1.0002, "PV1_2": 3e-4, "PV1_3": 2e-4, "PV1_4": 4e-3, "PV1_5": -2e-3,
        "PV1_7": -0.011, "PV1_11": 5e-3, "PV1_17": 1e-3, "PV1_23": -2e-3,
        "PV2_0": -2e-5, "PV2_1": 0.9997, "PV2_2": -2e-4, "PV2_4": -3e-3, "PV2_6": 1e-3, "PV2_8": 6e-3, "PV2_10": -0.009,
        "PV2_11": 4e-3,
    }
    out.append(("tpv_cd", header("TPV", (150.1, 2.3), (1024.0, 1024.0), linear("CD", -2.7e-4, 2.7e-4, 90.5), tpv), 2048, 2048))
    # (kessler reads TPV with CD only, as SCAMP writes it: WCSLIB applies TPV before CDELT in the PC form.)
    out.append(("tpv_cd_skew", header("TPV", (320.0, -60.0), (800.0, 1200.0), linear("CD", -3e-4, 2.9e-4, -12.0, 0.03), tpv), 1600, 2400))
    return out


# The detect acceptance test's frames: 256 x 256 px at ~2 arcsec/px, with astropy's values every 4 px. Bilinear
# interpolation errs by about h^2 / 8 times the map's second derivative; a rotated frame at 2 arcsec/px has
# cross terms of about 1e-10 rad/px^2, so 0.8 mas at h = 16 px but 0.05 mas at h = 4 px (measured below).
DETECT_SIZE = 256
DETECT_STEP = 4


def detect_cases():
    return [
        (
            "detect_sin_pc_rotated",
            header("SIN", (201.37, -43.02), (128.5, 120.0), linear("PC", -6e-4, 5.5e-4, 37.0, 0.02)),
        ),
        (
            "detect_tan_sip",
            header("TAN", (83.82, -5.39), (130.0, 128.5), linear("CD", -5.5e-4, 5.5e-4, -21.0), SIP_AB, "-SIP"),
        ),
    ]


def card_images(cards):
    """80-character FITS card images, as astropy writes them."""
    return [fits.Card(k, v).image for k, v in cards.items()]


def wcs_of(cards):
    h = fits.Header()
    for k, v in cards.items():
        h[k] = v
    return WCS(h)


def main():
    rng = np.random.default_rng(14)
    headers = []
    for name, cards, nx, ny in cases():
        w = wcs_of(cards)
        corners = [(0.0, 0.0), (nx - 1.0, 0.0), (0.0, ny - 1.0), (nx - 1.0, ny - 1.0)]
        centre = [(cards["CRPIX1"] - 1.0, cards["CRPIX2"] - 1.0)]
        random = [(rng.uniform(0, nx - 1), rng.uniform(0, ny - 1)) for _ in range(15)]
        pixels = np.array(corners + centre + random)
        ra, dec = w.all_pix2world(pixels[:, 0], pixels[:, 1], 0)
        assert np.all(np.isfinite(ra)) and np.all(np.isfinite(dec)), name
        headers.append(
            {
                "name": name,
                "cards": card_images(cards),
                "pixels": pixels.tolist(),
                "world_deg": np.column_stack([ra, dec]).tolist(),
            }
        )
    grids = []
    # Grid arrays, written one row per line (placeholders in the JSON until then).
    rows = {}
    steps = np.arange(0, DETECT_SIZE + 1, DETECT_STEP, dtype=float)
    for name, cards in detect_cases():
        w = wcs_of(cards)
        gx, gy = np.meshgrid(steps, steps)
        ra, dec = w.all_pix2world(gx, gy, 0)
        # The bilinear interpolation error the test inherits, measured at every cell centre (where it is largest),
        # with RA unwrapped about the grid's mean.
        mx, my = np.meshgrid(steps[:-1] + DETECT_STEP / 2, steps[:-1] + DETECT_STEP / 2)
        mra, mdec = w.all_pix2world(mx, my, 0)
        ura = np.unwrap(np.radians(ra), axis=1)
        ira = np.degrees((ura[:-1, :-1] + ura[1:, :-1] + ura[:-1, 1:] + ura[1:, 1:]) / 4)
        idec = (dec[:-1, :-1] + dec[1:, :-1] + dec[:-1, 1:] + dec[1:, 1:]) / 4
        dra = ((ira - mra + 180) % 360 - 180) * np.cos(np.radians(mdec))
        err_mas = float(np.max(np.hypot(dra, idec - mdec)) * 3.6e6)
        rows[f"@ra{len(grids)}"] = ra
        rows[f"@dec{len(grids)}"] = dec
        grids.append(
            {
                "name": name,
                "cards": card_images(cards),
                "step_px": DETECT_STEP,
                "size_px": DETECT_SIZE,
                "ra_deg": f"@ra{len(grids)}",
                "dec_deg": f"@dec{len(grids)}",
                "interpolation_error_mas": err_mas,
            }
        )
    out = {
        "generator": "scripts/make-wcs-reference.py",
        "astropy": astropy.__version__,
        "numpy": np.__version__,
        "origin": 0,
        "headers": headers,
        "grids": grids,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, indent=1)
    for key, grid in rows.items():
        lines = ",\n  ".join(json.dumps(row) for row in grid.tolist())
        text = text.replace(f'"{key}"', f"[\n  {lines}\n ]")
    OUT.write_text(text + "\n")
    print(f"{OUT}: {len(headers)} headers, {len(grids)} grids, astropy {astropy.__version__}")


if __name__ == "__main__":
    main()
