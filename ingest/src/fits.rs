//! FITS images: read the first image HDU (2-D, BITPIX 8/16/32/-32/-64 with BZERO/BSCALE) with the header keywords
//! kessler needs, and write frames as 16-bit (BZERO 32768) or 32-bit float images.
//!
//! FITS Standard 4.0 (IAU FITS Working Group, 2018): 2880-byte blocks, 80-character header cards, big-endian data.
//! Keywords read: NAXIS1/2, DATE-OBS (ISO 8601, UTC), EXPTIME or EXPOSURE (s), OBSGEO-B/L/H (deg, deg, m),
//! CTYPE1/2 = RA---TAN/DEC--TAN with CRPIX, CRVAL and CDi_j (or CDELT with CROTA2), or RA---TAN-SIP/DEC--TAN-SIP
//! with the SIP A_ORDER/A_p_q and B_ORDER/B_p_q polynomials, a radar map's axes (CTYPE1/2 = RANGE/TIME with
//! CUNIT, CRPIX, CRVAL, CDELT), and kessler's own KSENSOR (sensor id). Anything else is ignored.

use std::collections::HashMap;
use std::path::Path;

use hifitime::Epoch;

use crate::frame::{Frame, FrameHeader, GeodeticSite, RadarAxes, fits_in_u16};
use crate::wcs::{Sip, SipPolynomial, TanWcs};

const BLOCK: usize = 2880;
const CARD: usize = 80;

/// What went wrong reading or writing a FITS file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a FITS file (no SIMPLE card at offset 0)")]
    NotFits { path: String },
    #[error("{path}: header card at byte offset {offset} is not ASCII")]
    NotAscii { path: String, offset: usize },
    #[error("{path}: header has no END card before byte offset {offset}")]
    NoEnd { path: String, offset: usize },
    #[error("{path}: keyword {keyword}: {problem}")]
    Keyword {
        path: String,
        keyword: String,
        problem: String,
    },
    #[error("{path}: data ends at byte {have}, the header promises {need} bytes")]
    Truncated {
        path: String,
        have: usize,
        need: usize,
    },
    #[error("{path}: pixel {index} (x {x}, y {y}) is not finite")]
    NotFinite {
        path: String,
        index: usize,
        x: usize,
        y: usize,
    },
}

/// Header cards as keyword -> raw value text (quotes kept for strings, comments stripped).
struct Cards {
    path: String,
    values: HashMap<String, String>,
}

impl Cards {
    fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn missing(&self, key: &str) -> FitsError {
        self.bad(key, "missing")
    }

    fn bad(&self, key: &str, problem: &str) -> FitsError {
        FitsError::Keyword {
            path: self.path.clone(),
            keyword: key.into(),
            problem: problem.into(),
        }
    }

    fn f64(&self, key: &str) -> Result<Option<f64>, FitsError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .replace(['D', 'd'], "E")
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.bad(key, &format!("'{v}' is not a number"))),
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.raw(key)
            .map(|v| v.trim().trim_matches('\'').trim_end().replace("''", "'"))
    }
}

fn parse_header(path: &str, bytes: &[u8]) -> Result<(Cards, usize), FitsError> {
    if !bytes.starts_with(b"SIMPLE  =") {
        return Err(FitsError::NotFits { path: path.into() });
    }
    let mut values = HashMap::new();
    let mut offset = 0;
    loop {
        if offset + CARD > bytes.len() {
            return Err(FitsError::NoEnd {
                path: path.into(),
                offset,
            });
        }
        let raw = &bytes[offset..offset + CARD];
        if !raw.is_ascii() {
            return Err(FitsError::NotAscii {
                path: path.into(),
                offset,
            });
        }
        let card = String::from_utf8_lossy(raw).into_owned();
        offset += CARD;
        let key = card[..8].trim_end().to_string();
        if key == "END" {
            break;
        }
        if &card[8..10] != "= " {
            continue;
        }
        values.insert(key, strip_comment(&card[10..]).to_string());
    }
    let data_start = offset.div_ceil(BLOCK) * BLOCK;
    Ok((
        Cards {
            path: path.into(),
            values,
        },
        data_start,
    ))
}

/// The value part of a card without its `/ comment`, honouring quoted strings.
fn strip_comment(value: &str) -> &str {
    let mut in_string = false;
    for (i, c) in value.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '/' if !in_string => return value[..i].trim(),
            _ => {}
        }
    }
    value.trim()
}

/// Parse the exposure start: DATE-OBS as ISO 8601 (UTC; date only means midnight unless TIME-OBS gives the time),
/// or the pre-2000 FITS form `DD/MM/YY` (year 1900 + YY, which some writers carried past 1999 as `102` for 2002)
/// with TIME-OBS.
fn parse_date(cards: &Cards, key: &str) -> Result<Epoch, FitsError> {
    let text = cards.string(key).ok_or_else(|| cards.missing(key))?;
    let date = match text.split('/').collect::<Vec<_>>()[..] {
        [d, m, y] => {
            let num = |v: &str| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| cards.bad(key, &format!("'{text}' is not a DD/MM/YY date")))
            };
            let year = num(y)?;
            format!(
                "{:04}-{:02}-{:02}",
                if year < 1000 { 1900 + year } else { year },
                num(m)?,
                num(d)?
            )
        }
        _ => text.clone(),
    };
    let iso = if date.len() == 10 {
        format!(
            "{date}T{}",
            cards
                .string("TIME-OBS")
                .unwrap_or_else(|| "00:00:00".into())
        )
    } else {
        date
    };
    Epoch::from_gregorian_str(&format!("{} UTC", iso.trim_end_matches('Z')))
        .map_err(|e| cards.bad(key, &format!("'{text}' is not an ISO 8601 date: {e}")))
}

fn parse_wcs(cards: &Cards) -> Result<Option<TanWcs>, FitsError> {
    let (Some(c1), Some(c2)) = (cards.string("CTYPE1"), cards.string("CTYPE2")) else {
        return Ok(None);
    };
    if !(c1.starts_with("RA---TAN") && c2.starts_with("DEC--TAN")) {
        return Ok(None);
    }
    let need = |k: &str| cards.f64(k)?.ok_or_else(|| cards.missing(k));
    let crpix = [need("CRPIX1")?, need("CRPIX2")?];
    let crval_deg = [need("CRVAL1")?, need("CRVAL2")?];
    let cd_deg = if let Some(cd11) = cards.f64("CD1_1")? {
        [
            [cd11, cards.f64("CD1_2")?.unwrap_or(0.0)],
            [
                cards.f64("CD2_1")?.unwrap_or(0.0),
                cards.f64("CD2_2")?.unwrap_or(0.0),
            ],
        ]
    } else {
        // CDELTi with CROTA2 (FITS WCS paper II, eq. 189).
        let (d1, d2) = (need("CDELT1")?, need("CDELT2")?);
        let (s, c) = cards.f64("CROTA2")?.unwrap_or(0.0).to_radians().sin_cos();
        [[d1 * c, -d2 * s], [d1 * s, d2 * c]]
    };
    let sip = if c1.ends_with("-SIP") || c2.ends_with("-SIP") {
        Some(Sip {
            a: parse_sip(cards, "A")?,
            b: parse_sip(cards, "B")?,
        })
    } else {
        None
    };
    Ok(Some(TanWcs {
        crpix,
        crval_deg,
        cd_deg,
        sip,
    }))
}

/// The axes of a radar range-time map (kessler's radar format, docs/architecture.md): CTYPE1 = 'RANGE' (CUNIT1
/// 'km' or 'm'; columns are range gates) and CTYPE2 = 'TIME' (CUNIT2 's'; rows are time after DATE-OBS), each
/// with CRPIX, CRVAL and CDELT; anything else is not a radar map.
fn parse_radar(cards: &Cards) -> Result<Option<RadarAxes>, FitsError> {
    let (Some(c1), Some(c2)) = (cards.string("CTYPE1"), cards.string("CTYPE2")) else {
        return Ok(None);
    };
    if c1 != "RANGE" || c2 != "TIME" {
        return Ok(None);
    }
    // Value at 0-based pixel 0 and step per pixel of axis `i`, scaled by its unit.
    let axis = |i: u32, units: &[(&str, f64)]| -> Result<(f64, f64), FitsError> {
        let need = |k: String| cards.f64(&k)?.ok_or_else(|| cards.missing(&k));
        let unit_key = format!("CUNIT{i}");
        let scale = match cards.string(&unit_key) {
            None => units[0].1,
            Some(u) => units
                .iter()
                .find(|(name, _)| *name == u)
                .map(|(_, s)| *s)
                .ok_or_else(|| {
                    cards.bad(&unit_key, &format!("unit '{u}' is not one of {units:?}"))
                })?,
        };
        let (crpix, crval, cdelt) = (
            need(format!("CRPIX{i}"))?,
            need(format!("CRVAL{i}"))?,
            need(format!("CDELT{i}"))?,
        );
        if cdelt == 0.0 {
            return Err(cards.bad(&format!("CDELT{i}"), "a radar axis step must not be 0"));
        }
        Ok(((crval + (1.0 - crpix) * cdelt) * scale, cdelt * scale))
    };
    let (range0_km, gate_km) = axis(1, &[("km", 1.0), ("m", 1e-3)])?;
    let (time0_s, row_s) = axis(2, &[("s", 1.0)])?;
    Ok(Some(RadarAxes {
        range0_km,
        gate_km,
        time0_s,
        row_s,
    }))
}

/// The SIP polynomial `A` or `B` (Shupe et al. 2005): `<name>_ORDER` (required, 0..=9) and the `<name>_p_q`
/// coefficients with `p + q <= order` (absent ones are 0).
fn parse_sip(cards: &Cards, name: &str) -> Result<SipPolynomial, FitsError> {
    let key = format!("{name}_ORDER");
    let order = cards.f64(&key)?.ok_or_else(|| cards.missing(&key))?;
    if !(0.0..=9.0).contains(&order) || order.fract() != 0.0 {
        return Err(cards.bad(&key, &format!("{order} is not a SIP order in 0..=9")));
    }
    let order = order as u32;
    let mut terms = Vec::new();
    for p in 0..=order {
        for q in 0..=order - p {
            if let Some(c) = cards.f64(&format!("{name}_{p}_{q}"))?
                && c != 0.0
            {
                terms.push((p, q, c));
            }
        }
    }
    Ok(SipPolynomial { order, terms })
}

/// Read the first image HDU of a FITS file as a frame. The frame id is the file stem; the sensor id is KSENSOR, or
/// `default_sensor` when absent.
pub fn read_fits(path: &Path, default_sensor: &str) -> Result<Frame, FitsError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| FitsError::Io {
        path: name.clone(),
        source,
    })?;
    let frame_id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());
    parse_fits(&name, &bytes, &frame_id, default_sensor)
}

/// Parse FITS bytes; `name` is used in error messages.
pub fn parse_fits(
    name: &str,
    bytes: &[u8],
    frame_id: &str,
    default_sensor: &str,
) -> Result<Frame, FitsError> {
    let (cards, data_start) = parse_header(name, bytes)?;
    let int = |k: &str| -> Result<i64, FitsError> {
        let v = cards.f64(k)?.ok_or_else(|| cards.missing(k))?;
        Ok(v as i64)
    };
    let bitpix = int("BITPIX")?;
    if int("NAXIS")? != 2 {
        return Err(cards.bad("NAXIS", "kessler reads 2-D images only"));
    }
    let (width, height) = (int("NAXIS1")?, int("NAXIS2")?);
    if width <= 0 || height <= 0 || width > 65536 || height > 65536 {
        return Err(cards.bad(
            "NAXIS1",
            &format!("image size {width}x{height} is out of range"),
        ));
    }
    let (width, height) = (width as usize, height as usize);
    let bzero = cards.f64("BZERO")?.unwrap_or(0.0);
    let bscale = cards.f64("BSCALE")?.unwrap_or(1.0);
    let bytes_per = match bitpix {
        8 => 1,
        16 => 2,
        32 | -32 => 4,
        -64 => 8,
        other => return Err(cards.bad("BITPIX", &format!("{other} is not a FITS image type"))),
    };
    let need = data_start + width * height * bytes_per;
    if bytes.len() < need {
        return Err(FitsError::Truncated {
            path: name.into(),
            have: bytes.len(),
            need,
        });
    }
    let data = &bytes[data_start..need];
    let raw = |i: usize| -> f64 {
        let b = &data[i * bytes_per..(i + 1) * bytes_per];
        match bitpix {
            8 => b[0] as f64,
            16 => i16::from_be_bytes([b[0], b[1]]) as f64,
            32 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
            -32 => f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
            _ => f64::from_be_bytes(b.try_into().expect("8 bytes")),
        }
    };
    let mut pixels = Vec::with_capacity(width * height);
    for i in 0..width * height {
        let v = (bzero + bscale * raw(i)) as f32;
        if !v.is_finite() {
            return Err(FitsError::NotFinite {
                path: name.into(),
                index: i,
                x: i % width,
                y: i / width,
            });
        }
        pixels.push(v);
    }
    let start = parse_date(&cards, "DATE-OBS")?;
    let exposure_s = match cards.f64("EXPTIME")? {
        Some(v) => v,
        None => cards
            .f64("EXPOSURE")?
            .ok_or_else(|| cards.missing("EXPTIME"))?,
    };
    if !exposure_s.is_finite() || exposure_s <= 0.0 {
        return Err(cards.bad("EXPTIME", "must be a positive number of seconds"));
    }
    let site = match (
        cards.f64("OBSGEO-B")?,
        cards.f64("OBSGEO-L")?,
        cards.f64("OBSGEO-H")?,
    ) {
        (Some(lat_deg), Some(lon_deg), Some(h_m)) => Some(GeodeticSite {
            lat_deg,
            lon_deg,
            alt_km: h_m / 1000.0,
        }),
        _ => None,
    };
    let header = FrameHeader {
        frame_id: frame_id.into(),
        sensor_id: cards
            .string("KSENSOR")
            .unwrap_or_else(|| default_sensor.into()),
        width: width as u32,
        height: height as u32,
        start,
        exposure_s,
        site,
        wcs: parse_wcs(&cards)?,
        radar: parse_radar(&cards)?,
    };
    Ok(Frame { header, pixels })
}

fn card(key: &str, value: &str, comment: &str) -> String {
    let mut c = format!("{key:<8}= {value:>20} / {comment}");
    c.truncate(CARD);
    format!("{c:<80}")
}

fn str_value(s: &str) -> String {
    format!("'{:<8}'", s.replace('\'', "''"))
}

/// FITS DATE-OBS text of an epoch: ISO 8601 UTC with milliseconds.
pub fn iso_utc(t: Epoch) -> String {
    let (y, mo, d, h, mi, s, ns) = t.to_gregorian_utc();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}",
        ns / 1_000_000
    )
}

/// The bytes of a FITS file holding the frame. Pixels are written as unsigned 16-bit (BITPIX 16, BZERO 32768)
/// when every value is an integer in 0..=65535, else as 32-bit floats.
pub fn encode_fits(frame: &Frame) -> Vec<u8> {
    let h = &frame.header;
    let as_u16 = fits_in_u16(&frame.pixels);
    let mut cards = vec![
        card("SIMPLE", "T", "conforms to FITS standard"),
        card(
            "BITPIX",
            if as_u16 { "16" } else { "-32" },
            "bits per pixel",
        ),
        card("NAXIS", "2", "image"),
        card("NAXIS1", &h.width.to_string(), "columns"),
        card("NAXIS2", &h.height.to_string(), "rows"),
    ];
    if as_u16 {
        cards.push(card("BZERO", "32768", "unsigned 16-bit"));
        cards.push(card("BSCALE", "1", ""));
    }
    cards.push(card(
        "DATE-OBS",
        &str_value(&iso_utc(h.start)),
        "exposure start, UTC",
    ));
    cards.push(card(
        "EXPTIME",
        &format!("{:.6}", h.exposure_s),
        "exposure, s",
    ));
    cards.push(card(
        "KSENSOR",
        &str_value(&h.sensor_id),
        "kessler sensor id",
    ));
    if let Some(site) = h.site {
        cards.push(card(
            "OBSGEO-B",
            &format!("{:.8}", site.lat_deg),
            "site geodetic latitude, deg",
        ));
        cards.push(card(
            "OBSGEO-L",
            &format!("{:.8}", site.lon_deg),
            "site east longitude, deg",
        ));
        cards.push(card(
            "OBSGEO-H",
            &format!("{:.3}", site.alt_km * 1000.0),
            "site height above WGS84, m",
        ));
    }
    if let Some(w) = &h.wcs {
        let suffix = if w.sip.is_some() { "-SIP" } else { "" };
        cards.push(card("RADESYS", &str_value("ICRS"), ""));
        cards.push(card("CTYPE1", &str_value(&format!("RA---TAN{suffix}")), ""));
        cards.push(card("CTYPE2", &str_value(&format!("DEC--TAN{suffix}")), ""));
        cards.push(card("CUNIT1", &str_value("deg"), ""));
        cards.push(card("CUNIT2", &str_value("deg"), ""));
        for (k, v) in [("CRPIX1", w.crpix[0]), ("CRPIX2", w.crpix[1])] {
            cards.push(card(k, &format!("{v:.6}"), "reference pixel, 1-based"));
        }
        for (k, v) in [("CRVAL1", w.crval_deg[0]), ("CRVAL2", w.crval_deg[1])] {
            cards.push(card(k, &format!("{v:.12}"), "reference point, deg"));
        }
        for (i, row) in w.cd_deg.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                cards.push(card(
                    &format!("CD{}_{}", i + 1, j + 1),
                    &format!("{v:.15E}"),
                    "deg per pixel",
                ));
            }
        }
        if let Some(sip) = &w.sip {
            for (name, poly) in [("A", &sip.a), ("B", &sip.b)] {
                cards.push(card(
                    &format!("{name}_ORDER"),
                    &poly.order.to_string(),
                    "SIP polynomial order",
                ));
                for &(p, q, c) in &poly.terms {
                    cards.push(card(&format!("{name}_{p}_{q}"), &format!("{c:.15E}"), ""));
                }
            }
        }
    }
    if let Some(r) = &h.radar {
        for (i, ctype, unit, value, step) in [
            (1, "RANGE", "km", r.range0_km, r.gate_km),
            (2, "TIME", "s", r.time0_s, r.row_s),
        ] {
            cards.push(card(
                &format!("CTYPE{i}"),
                &str_value(ctype),
                "radar map axis",
            ));
            cards.push(card(&format!("CUNIT{i}"), &str_value(unit), ""));
            cards.push(card(&format!("CRPIX{i}"), "1.0", ""));
            cards.push(card(&format!("CRVAL{i}"), &format!("{value:.15E}"), ""));
            cards.push(card(&format!("CDELT{i}"), &format!("{step:.15E}"), ""));
        }
    }
    cards.push(format!("{:<80}", "END"));
    let mut out: Vec<u8> = cards.concat().into_bytes();
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
    for &v in &frame.pixels {
        if as_u16 {
            out.extend_from_slice(&((v as i32 - 32768) as i16).to_be_bytes());
        } else {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    out
}

/// Write the frame to `path` as FITS (see [`encode_fits`]).
pub fn write_fits(path: &Path, frame: &Frame) -> Result<(), FitsError> {
    std::fs::write(path, encode_fits(frame)).map_err(|source| FitsError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pixels: Vec<f32>) -> Frame {
        Frame {
            header: FrameHeader {
                frame_id: "f1".into(),
                sensor_id: "tel-1".into(),
                width: 3,
                height: 2,
                start: Epoch::from_gregorian_utc(2006, 6, 26, 21, 0, 1, 250_000_000),
                exposure_s: 2.5,
                site: Some(GeodeticSite {
                    lat_deg: 28.3,
                    lon_deg: -16.51,
                    alt_km: 2.39,
                }),
                wcs: Some(TanWcs::centred(120.0, -5.0, 1.0, 0.5, 0.004, 3.0)),
                radar: None,
            },
            pixels,
        }
    }

    #[test]
    fn sip_distortion_round_trips_and_reads_from_a_real_header() {
        let mut f = frame(vec![1.0; 6]);
        let sip = Sip {
            a: SipPolynomial {
                order: 2,
                terms: vec![(1, 1, -3.0e-8), (2, 0, 2.5e-7)],
            },
            b: SipPolynomial {
                order: 2,
                terms: vec![(0, 2, 1.5e-7)],
            },
        };
        f.header.wcs.as_mut().unwrap().sip = Some(sip.clone());
        let back = parse_fits("mem", &encode_fits(&f), "f1", "other").unwrap();
        assert_eq!(back.header.wcs.unwrap().sip, Some(sip));
        // LCO's cutout: RA---TAN-SIP of order 5 (A_2_0 = 2.18259775082E-07, B_ORDER = 5).
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/streaks/cutout_bi327715.fits");
        let real = read_fits(&path, "lco").unwrap();
        let sip = real.header.wcs.unwrap().sip.unwrap();
        assert_eq!((sip.a.order, sip.b.order), (5, 5));
        assert!(sip.a.terms.contains(&(2, 0, 2.18259775082e-07)));
        assert_eq!(sip.a.terms.len(), 18);
    }

    #[test]
    fn radar_axes_round_trip() {
        let mut f = frame(vec![1.0; 6]);
        f.header.wcs = None;
        f.header.radar = Some(RadarAxes {
            range0_km: 800.0,
            gate_km: 0.15,
            time0_s: 0.01,
            row_s: 0.02,
        });
        let back = parse_fits("mem", &encode_fits(&f), "f1", "other").unwrap();
        assert_eq!(back.header.radar, f.header.radar);
        assert_eq!(back.header.wcs, None);
    }

    #[test]
    fn round_trips_u16_and_f32_frames() {
        for pixels in [
            vec![0.0, 1.0, 65535.0, 1000.0, 7.0, 3.0],
            vec![0.5, -1.0, 1e6, 2.0, 3.0, 4.0],
        ] {
            let f = frame(pixels);
            let back = parse_fits("mem", &encode_fits(&f), "f1", "other").unwrap();
            assert_eq!(back.pixels, f.pixels);
            assert_eq!(back.header.sensor_id, "tel-1");
            assert_eq!(back.header.start, f.header.start);
            let (w0, w1) = (
                f.header.wcs.clone().unwrap(),
                back.header.wcs.clone().unwrap(),
            );
            let (a, b) = (w0.pixel_to_world(2.0, 1.0), w1.pixel_to_world(2.0, 1.0));
            assert!((a.0 - b.0).abs() < 1e-10 && (a.1 - b.1).abs() < 1e-10);
            let site = back.header.site.unwrap();
            assert!((site.alt_km - 2.39).abs() < 1e-9);
        }
    }

    #[test]
    fn old_style_dates_take_the_time_from_time_obs() {
        let header = |date: &str| {
            let mut cards = vec![
                card("SIMPLE", "T", ""),
                card("BITPIX", "8", ""),
                card("NAXIS", "2", ""),
                card("NAXIS1", "1", ""),
                card("NAXIS2", "1", ""),
                card("DATE-OBS", &str_value(date), ""),
                card("TIME-OBS", &str_value("19:36:37"), ""),
                card("EXPTIME", "60", ""),
            ];
            cards.push(format!("{:<80}", "END"));
            let mut bytes = cards.concat().into_bytes();
            bytes.resize(2 * BLOCK, 0);
            bytes
        };
        let expected = Epoch::from_gregorian_utc_hms(2002, 7, 26, 19, 36, 37);
        for date in ["26/07/102", "26/07/2002", "2002-07-26"] {
            assert_eq!(
                parse_fits("f", &header(date), "f", "s")
                    .unwrap()
                    .header
                    .start,
                expected,
                "{date}"
            );
        }
    }

    #[test]
    fn errors_name_the_keyword_and_the_file() {
        let mut bytes = encode_fits(&frame(vec![1.0; 6]));
        let at = String::from_utf8_lossy(&bytes).find("DATE-OBS").unwrap();
        bytes[at..at + 8].copy_from_slice(b"DATE-XXX");
        let err = parse_fits("night/f1.fits", &bytes, "f1", "s")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("night/f1.fits") && err.contains("DATE-OBS") && err.contains("missing"),
            "{err}"
        );

        let short = &encode_fits(&frame(vec![1.0; 6]))[..2880 + 4];
        let err = parse_fits("x.fits", short, "f1", "s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.fits") && err.contains("promises"), "{err}");
    }
}
