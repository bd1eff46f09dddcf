//! FITS images: read the first image HDU (2-D, BITPIX 8/16/32/-32/-64 with BZERO/BSCALE) with the header keywords
//! kessler needs, and write frames as 16-bit (BZERO 32768) or 32-bit float images.
//!
//! FITS Standard 4.0 (IAU FITS Working Group, 2018): 2880-byte blocks, 80-character header cards, big-endian data.
//! Keywords read: NAXIS1/2, DATE-OBS (ISO 8601, UTC), EXPTIME or EXPOSURE (s), OBSGEO-B/L/H (deg, deg, m),
//! the celestial WCS ([`crate::wcs`]: CTYPE1/2 = RA---ppp/DEC--ppp with ppp one of TAN, SIN, ARC, ZEA, STG, CAR,
//! optionally with -SIP, or TPV; CRPIX, CRVAL, and CDi_j or PCi_j + CDELTi or CDELTi + CROTA2; PV2_1/2 for SIN;
//! LONPOLE/LATPOLE; RADESYS/EQUINOX; SIP A/B and AP/BP), a radar map's axes (CTYPE1/2 = RANGE/TIME with CUNIT,
//! CRPIX, CRVAL, CDELT), and kessler's own KSENSOR (sensor id). Anything else is ignored; a celestial WCS that
//! cannot be read exactly is an error naming the keyword and its card's byte offset, never a missing WCS.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use hifitime::Epoch;
use ndarray::Array2;

use crate::frame::{Frame, FrameHeader, GeodeticSite, Instrument, RadarAxes, fits_in_u16};
use crate::wcs::{Keywords, Wcs, WcsError};

pub(crate) const BLOCK: usize = 2880;
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
    #[error(
        "{path}: {count} of {total} pixels are undefined (NaN, infinite or BLANK; the first at x {x}, y {y}), \
         more than {:.0}%", MAX_UNDEFINED_FRACTION * 100.0
    )]
    Undefined {
        path: String,
        count: usize,
        total: usize,
        x: usize,
        y: usize,
    },
    #[error("{path}: HDU at byte offset {offset}: {problem}")]
    Hdu {
        path: String,
        offset: usize,
        problem: String,
    },
    #[error("{path}: no image HDU (a header without data, or only tables)")]
    NoImage { path: String },
    /// A celestial WCS that cannot be read exactly. `offset` is the byte offset of the keyword's card, or, for a
    /// missing keyword, of the CTYPE1 (else CTYPE2) card that declares the WCS.
    #[error("{path}: WCS keyword {keyword} (card at byte offset {offset}): {problem}")]
    Wcs {
        path: String,
        keyword: String,
        offset: usize,
        problem: String,
    },
}

/// Header cards as keyword -> raw value text (quotes kept for strings, comments stripped), and each card's byte
/// offset in the file.
pub(crate) struct Cards {
    pub(crate) path: String,
    pub(crate) values: HashMap<String, String>,
    pub(crate) offsets: HashMap<String, usize>,
}

impl Cards {
    pub(crate) fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub(crate) fn missing(&self, key: &str) -> FitsError {
        self.bad(key, "missing")
    }

    pub(crate) fn bad(&self, key: &str, problem: &str) -> FitsError {
        FitsError::Keyword {
            path: self.path.clone(),
            keyword: key.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, FitsError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .replace(['D', 'd'], "E")
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.bad(key, &format!("'{v}' is not a number"))),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.raw(key)
            .map(|v| v.trim().trim_matches('\'').trim_end().replace("''", "'"))
    }
}

/// Parse the header of the HDU at byte `at`: cards up to END; returns the cards and the offset of its data.
/// The primary HDU must start with SIMPLE, every other with XTENSION.
fn parse_header(path: &str, bytes: &[u8], at: usize) -> Result<(Cards, usize), FitsError> {
    let first: &[u8] = if at == 0 { b"SIMPLE  =" } else { b"XTENSION=" };
    if !bytes[at..].starts_with(first) {
        return Err(if at == 0 {
            FitsError::NotFits { path: path.into() }
        } else {
            FitsError::Hdu {
                path: path.into(),
                offset: at,
                problem: "does not start with XTENSION".into(),
            }
        });
    }
    let mut values = HashMap::new();
    let mut offsets = HashMap::new();
    let mut offset = at;
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
        offsets.entry(key.clone()).or_insert(offset - CARD);
        values
            .entry(key)
            .or_insert_with(|| strip_comment(&card[10..]).to_string());
    }
    let data_start = offset.div_ceil(BLOCK) * BLOCK;
    Ok((
        Cards {
            path: path.into(),
            values,
            offsets,
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

/// The exposure start (UTC), from the first of: DATE-OBS or DATE-BEG (ISO 8601; a date alone takes its time from
/// TIME-OBS, UTSTART or UT, else midnight; or the pre-2000 FITS form `DD/MM/YY`, year 1900 + YY, which some
/// writers carried past 1999 as `102` for 2002), MJD-OBS or MJD-BEG (UTC modified Julian date).
fn parse_start(cards: &Cards) -> Result<Epoch, FitsError> {
    for key in ["DATE-OBS", "DATE-BEG"] {
        if cards.raw(key).is_some() {
            return parse_date(cards, key);
        }
    }
    for key in ["MJD-OBS", "MJD-BEG"] {
        if let Some(mjd) = cards.f64(key)? {
            if !(0.0..=200_000.0).contains(&mjd) {
                return Err(cards.bad(key, &format!("{mjd} is not a modified Julian date")));
            }
            return Ok(Epoch::from_mjd_utc(mjd));
        }
    }
    Err(cards.bad("DATE-OBS", "missing (and no DATE-BEG, MJD-OBS or MJD-BEG)"))
}

fn parse_date(cards: &Cards, key: &str) -> Result<Epoch, FitsError> {
    let text = cards.string(key).unwrap_or_default();
    let bad = || {
        cards.bad(
            key,
            &format!("'{text}' is not an ISO 8601 or DD/MM/YY date"),
        )
    };
    let date = match text.split('/').collect::<Vec<_>>()[..] {
        [d, m, y] => {
            let num = |v: &str| v.trim().parse::<u32>().map_err(|_| bad());
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
        let time = ["TIME-OBS", "UTSTART", "UT"]
            .iter()
            .find_map(|k| cards.string(k))
            .unwrap_or_else(|| "00:00:00".into());
        format!("{date}T{}", time.trim())
    } else {
        date
    };
    crate::utc::parse(&iso).map_err(|_| bad())
}

/// The site, from the first of: OBSGEO-B/L/H (geodetic deg, deg, m), OBSGEO-X/Y/Z (ITRS, m), SITELAT/SITELONG
/// (deg, or sexagesimal text `+28:18:00` / `28 18 00`; longitude east positive) with SITEELEV (m). `None` when
/// none of these is complete (a sensor configuration may give the site).
fn parse_site(cards: &Cards) -> Result<Option<GeodeticSite>, FitsError> {
    if let (Some(lat_deg), Some(lon_deg), Some(h_m)) = (
        cards.f64("OBSGEO-B")?,
        cards.f64("OBSGEO-L")?,
        cards.f64("OBSGEO-H")?,
    ) {
        return checked_site(cards, "OBSGEO-B", lat_deg, lon_deg, h_m / 1000.0);
    }
    if let (Some(x), Some(y), Some(z)) = (
        cards.f64("OBSGEO-X")?,
        cards.f64("OBSGEO-Y")?,
        cards.f64("OBSGEO-Z")?,
    ) {
        let site = GeodeticSite::from_itrs_km([x / 1000.0, y / 1000.0, z / 1000.0])
            .ok_or_else(|| cards.bad("OBSGEO-X", "not a position near the Earth's surface"))?;
        return checked_site(cards, "OBSGEO-X", site.lat_deg, site.lon_deg, site.alt_km);
    }
    let angle = |key: &str| -> Result<Option<f64>, FitsError> {
        match cards.string(key) {
            None => Ok(None),
            Some(text) => sexagesimal(&text)
                .map(Some)
                .ok_or_else(|| cards.bad(key, &format!("'{text}' is not an angle in degrees"))),
        }
    };
    if let (Some(lat), Some(lon), Some(h_m)) = (
        angle("SITELAT")?,
        angle("SITELONG")?,
        cards.f64("SITEELEV")?,
    ) {
        return checked_site(cards, "SITELAT", lat, lon, h_m / 1000.0);
    }
    Ok(None)
}

fn checked_site(
    cards: &Cards,
    key: &str,
    lat_deg: f64,
    lon_deg: f64,
    alt_km: f64,
) -> Result<Option<GeodeticSite>, FitsError> {
    if !(-90.0..=90.0).contains(&lat_deg)
        || !(-360.0..=360.0).contains(&lon_deg)
        || !(-12.0..=100.0).contains(&alt_km)
    {
        return Err(cards.bad(
            key,
            &format!("site latitude {lat_deg} deg, longitude {lon_deg} deg, height {alt_km} km is not on Earth"),
        ));
    }
    Ok(Some(GeodeticSite {
        lat_deg,
        lon_deg,
        alt_km,
    }))
}

/// Degrees from `12.5`, `+28:18:00`, `-16 30 36.0`; `None` when the text is none of these.
fn sexagesimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let parts: Vec<f64> = rest
        .split([':', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
        .collect::<Option<_>>()?;
    let value = match parts[..] {
        [d] => d,
        [d, m] => d + m / 60.0,
        [d, m, s] => d + m / 60.0 + s / 3600.0,
        _ => return None,
    };
    Some(sign * value)
}

impl Keywords for Cards {
    fn number(&self, key: &str) -> Result<Option<f64>, WcsError> {
        self.f64(key).map_err(|_| WcsError {
            keyword: key.into(),
            missing: false,
            problem: format!("'{}' is not a number", self.raw(key).unwrap_or_default()),
        })
    }

    fn text(&self, key: &str) -> Option<String> {
        self.string(key)
    }
}

/// The celestial WCS of a header ([`Wcs::from_keywords`]), its errors placed at their card's byte offset.
fn parse_wcs(cards: &Cards) -> Result<Option<Wcs>, FitsError> {
    Wcs::from_keywords(cards).map_err(|e| {
        let card = if e.missing {
            "CTYPE1"
        } else {
            e.keyword.as_str()
        };
        FitsError::Wcs {
            path: cards.path.clone(),
            offset: [card, "CTYPE1", "CTYPE2"]
                .iter()
                .find_map(|k| cards.offsets.get(*k).copied())
                .unwrap_or(0),
            keyword: e.keyword,
            problem: e.problem,
        }
    })
}

/// The celestial WCS of a primary header given as its bytes (80-character cards from `SIMPLE` to `END`), read as
/// [`read_fits`] reads a file's; `name` is used in error messages.
pub fn parse_wcs_header(name: &str, header: &[u8]) -> Result<Option<Wcs>, FitsError> {
    let (cards, _) = parse_header(name, header, 0)?;
    parse_wcs(&cards)
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

/// Read the first image HDU of a FITS file as a frame. The frame id is the file stem; the sensor id is KSENSOR, or
/// `default_sensor` when absent.
pub fn read_fits(path: &Path, default_sensor: &str) -> Result<Frame, FitsError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| FitsError::Io {
        path: name.clone(),
        source,
    })?;
    let frame_id = crate::frame::frame_id_of(path);
    parse_fits(&name, &bytes, &frame_id, default_sensor)
}

/// Keywords of the primary header that an image extension inherits when it does not set them itself: what the
/// camera knew about the exposure (multi-extension files of mosaic cameras keep these in the primary HDU, with or
/// without `INHERIT = T`). Structural keywords (BITPIX, NAXISn, BZERO, BSCALE, BLANK) and the WCS never inherit.
const INHERITED: &[&str] = &[
    "DATE-OBS", "DATE-BEG", "TIME-OBS", "UTSTART", "UT", "MJD-OBS", "MJD-BEG", "EXPTIME",
    "EXPOSURE", "OBSGEO-B", "OBSGEO-L", "OBSGEO-H", "OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z", "SITELAT",
    "SITELONG", "SITEELEV", "KSENSOR", "GAIN", "RDNOISE", "READNOIS",
];

/// Largest image side kessler reads, px.
pub const MAX_SIDE: i64 = 65536;

/// Bytes of an HDU's data, padded to whole blocks (FITS 4.0 eq. 1 and 2: |BITPIX| / 8 x GCOUNT x (PCOUNT +
/// NAXIS1 x ... x NAXISn), 0 when NAXIS = 0); `None` when the product overflows.
fn data_bytes(cards: &Cards) -> Result<Option<u64>, FitsError> {
    let int = |k: &str, default: Option<f64>| -> Result<f64, FitsError> {
        cards.f64(k)?.or(default).ok_or_else(|| cards.missing(k))
    };
    let naxis = int("NAXIS", None)?;
    if !(0.0..=999.0).contains(&naxis) {
        return Err(cards.bad("NAXIS", &format!("{naxis} is not in 0..=999")));
    }
    if naxis == 0.0 {
        return Ok(Some(0));
    }
    let mut n: u64 = 1;
    for i in 1..=naxis as u32 {
        let v = int(&format!("NAXIS{i}"), None)?;
        if !(0.0..=u32::MAX as f64).contains(&v) {
            return Err(cards.bad(&format!("NAXIS{i}"), &format!("{v} is not an axis length")));
        }
        n = match n.checked_mul(v as u64) {
            Some(n) => n,
            None => return Ok(None),
        };
    }
    let (pcount, gcount) = (int("PCOUNT", Some(0.0))?, int("GCOUNT", Some(1.0))?);
    let bits = int("BITPIX", None)?.abs();
    if !(0.0..=u32::MAX as f64).contains(&pcount) || !(0.0..=u32::MAX as f64).contains(&gcount) {
        return Err(cards.bad("PCOUNT", "PCOUNT or GCOUNT out of range"));
    }
    Ok(n.checked_add(pcount as u64)
        .and_then(|n| n.checked_mul(gcount as u64))
        .and_then(|n| n.checked_mul((bits as u64).div_ceil(8)))
        .map(|b| b.div_ceil(BLOCK as u64) * BLOCK as u64))
}

/// Whether an HDU holds a 2-D image kessler can read (NAXIS 2, or NAXIS 3 with one plane).
fn is_image(cards: &Cards) -> Result<bool, FitsError> {
    let naxis = cards.f64("NAXIS")?.unwrap_or(0.0);
    Ok(naxis == 2.0 || (naxis == 3.0 && cards.f64("NAXIS3")? == Some(1.0)))
}

/// The first HDU holding an image: the primary HDU, or the first IMAGE extension or tile-compressed image
/// ([`crate::fz`]) after an empty primary (multi-extension files, fpack's `.fz`), with the primary's exposure
/// keywords ([`INHERITED`]) filled in. Returns its cards, the byte offset of its data and the data: a slice of
/// `bytes` from that offset, or the decompressed pixels.
fn first_image<'a>(
    name: &str,
    bytes: &'a [u8],
) -> Result<(Cards, usize, Cow<'a, [u8]>), FitsError> {
    let (primary, mut data_start) = parse_header(name, bytes, 0)?;
    if is_image(&primary)? {
        return Ok((
            primary,
            data_start,
            Cow::Borrowed(bytes.get(data_start..).unwrap_or_default()),
        ));
    }
    let inherit = |mut ext: Cards| {
        for key in INHERITED {
            if let Some(v) = primary.raw(key) {
                ext.values
                    .entry((*key).into())
                    .or_insert_with(|| v.to_string());
            }
        }
        ext
    };
    let mut cards_of_hdu = primary.values.clone();
    loop {
        let hdu = Cards {
            path: name.into(),
            values: std::mem::take(&mut cards_of_hdu),
            offsets: HashMap::new(),
        };
        let size = data_bytes(&hdu)?.ok_or_else(|| hdu.bad("NAXIS", "data size overflows"))?;
        let next = (data_start as u64)
            .checked_add(size)
            .filter(|&n| n < bytes.len() as u64)
            .ok_or_else(|| FitsError::NoImage { path: name.into() })? as usize;
        let (ext, ext_data) = parse_header(name, bytes, next)?;
        let kind = ext.string("XTENSION").unwrap_or_default();
        if kind == "BINTABLE" && ext.raw("ZIMAGE").is_some_and(|v| v.trim() == "T") {
            let (values, pixels) = crate::fz::decompress(&ext, bytes, next, ext_data)?;
            // The image's keywords are the table header's cards (Z* mapped back), so their offsets are the table's.
            let image = Cards {
                path: name.into(),
                values,
                offsets: ext.offsets.clone(),
            };
            return Ok((inherit(image), ext_data, Cow::Owned(pixels)));
        }
        if kind == "IMAGE" && is_image(&ext)? {
            return Ok((
                inherit(ext),
                ext_data,
                Cow::Borrowed(bytes.get(ext_data..).unwrap_or_default()),
            ));
        }
        cards_of_hdu = ext.values;
        data_start = ext_data;
    }
}

/// The camera's gain (GAIN, e-/ADU) and read noise (RDNOISE or READNOIS, e-), when the header gives them.
fn parse_instrument(cards: &Cards) -> Result<Option<Instrument>, FitsError> {
    let gain_e_per_adu = cards.f64("GAIN")?;
    let read_noise_e = match cards.f64("RDNOISE")? {
        Some(v) => Some(v),
        None => cards.f64("READNOIS")?,
    };
    Ok(
        (gain_e_per_adu.is_some() || read_noise_e.is_some()).then_some(Instrument {
            gain_e_per_adu,
            read_noise_e,
            psf_fwhm_px: None,
        }),
    )
}

/// Parse FITS bytes; `name` is used in error messages.
pub fn parse_fits(
    name: &str,
    bytes: &[u8],
    frame_id: &str,
    default_sensor: &str,
) -> Result<Frame, FitsError> {
    let (cards, data_start, data) = first_image(name, bytes)?;
    let int = |k: &str| -> Result<i64, FitsError> {
        let v = cards.f64(k)?.ok_or_else(|| cards.missing(k))?;
        Ok(v as i64)
    };
    let bitpix = int("BITPIX")?;
    let (width, height) = (int("NAXIS1")?, int("NAXIS2")?);
    if width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(cards.bad(
            "NAXIS1",
            &format!("image size {width}x{height} is out of range (1..={MAX_SIDE} per side)"),
        ));
    }
    let (width, height) = (width as usize, height as usize);
    let bzero = cards.f64("BZERO")?.unwrap_or(0.0);
    let bscale = cards.f64("BSCALE")?.unwrap_or(1.0);
    let blank = if bitpix > 0 {
        cards.f64("BLANK")?
    } else {
        None
    };
    let bytes_per = match bitpix {
        8 => 1,
        16 => 2,
        32 | -32 => 4,
        -64 => 8,
        other => return Err(cards.bad("BITPIX", &format!("{other} is not a FITS image type"))),
    };
    let size = width * height * bytes_per;
    if data.len() < size {
        return Err(FitsError::Truncated {
            path: name.into(),
            have: data_start + data.len(),
            need: data_start + size,
        });
    }
    let data = &data[..size];
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
    // A BLANK value is undefined like a NaN: both are replaced below.
    let decoded: Vec<f32> = (0..width * height)
        .map(|i| {
            let r = raw(i);
            if blank == Some(r) {
                f32::NAN
            } else {
                (bzero + bscale * r) as f32
            }
        })
        .collect();
    let mut pixels = Array2::from_shape_vec((height, width), decoded)
        .expect("NAXIS1 x NAXIS2 values were decoded");
    fill_undefined(name, &mut pixels)?;
    let start = parse_start(&cards)?;
    let exposure_s = match cards.f64("EXPTIME")? {
        Some(v) => v,
        None => cards
            .f64("EXPOSURE")?
            .ok_or_else(|| cards.missing("EXPTIME"))?,
    };
    if !exposure_s.is_finite() || exposure_s <= 0.0 {
        return Err(cards.bad("EXPTIME", "must be a positive number of seconds"));
    }
    let header = FrameHeader {
        frame_id: frame_id.into(),
        sensor_id: cards
            .string("KSENSOR")
            .unwrap_or_else(|| default_sensor.into()),
        start,
        exposure_s,
        site: parse_site(&cards)?,
        wcs: parse_wcs(&cards)?,
        radar: parse_radar(&cards)?,
        instrument: parse_instrument(&cards)?,
    };
    Ok(Frame { header, pixels })
}

/// Most undefined pixels (NaN, infinite, or BLANK) a frame may have, as a fraction: masked bad columns and
/// saturated cores are normal in reduced frames, a frame mostly undefined is not a frame.
pub const MAX_UNDEFINED_FRACTION: f64 = 0.1;

/// Replace the undefined pixels (NaN, infinite) by the median of the defined ones (the sky level, so that the
/// detector sees neither a hole nor a streak), or refuse the frame when more than [`MAX_UNDEFINED_FRACTION`] of it
/// is undefined.
fn fill_undefined(name: &str, pixels: &mut Array2<f32>) -> Result<(), FitsError> {
    let undefined: Vec<(usize, usize)> = pixels
        .indexed_iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(at, _)| at)
        .collect();
    let Some(&(y, x)) = undefined.first() else {
        return Ok(());
    };
    if undefined.len() as f64 > MAX_UNDEFINED_FRACTION * pixels.len() as f64 {
        return Err(FitsError::Undefined {
            path: name.into(),
            count: undefined.len(),
            total: pixels.len(),
            x,
            y,
        });
    }
    let mut defined: Vec<f32> = pixels.iter().copied().filter(|v| v.is_finite()).collect();
    let mid = defined.len() / 2;
    let (_, &mut median, _) = defined.select_nth_unstable_by(mid, f32::total_cmp);
    for &at in &undefined {
        pixels[at] = median;
    }
    tracing::warn!(
        file = name,
        count = undefined.len(),
        "undefined pixels set to the median"
    );
    Ok(())
}

fn card(key: &str, value: &str, comment: &str) -> String {
    let mut c = format!("{key:<8}= {value:>20} / {comment}");
    c.truncate(CARD);
    format!("{c:<80}")
}

fn str_value(s: &str) -> String {
    format!("'{:<8}'", s.replace('\'', "''"))
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
        card("NAXIS1", &frame.width().to_string(), "columns"),
        card("NAXIS2", &frame.height().to_string(), "rows"),
    ];
    if as_u16 {
        cards.push(card("BZERO", "32768", "unsigned 16-bit"));
        cards.push(card("BSCALE", "1", ""));
    }
    cards.push(card(
        "DATE-OBS",
        &str_value(&crate::utc::format(h.start, 3)),
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
    let instrument = h.instrument.unwrap_or_default();
    if let Some(gain) = instrument.gain_e_per_adu {
        cards.push(card("GAIN", &format!("{gain}"), "e-/ADU"));
    }
    if let Some(noise) = instrument.read_noise_e {
        cards.push(card("RDNOISE", &format!("{noise}"), "read noise, e-"));
    }
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
        for (key, value) in w.to_keywords() {
            cards.push(card(&key, &value, ""));
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
    // Row-major, x fastest: the FITS data order (NAXIS1 varies fastest).
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

    /// A 3 x 2 frame of `pixels` (row-major).
    fn frame(pixels: Vec<f32>) -> Frame {
        Frame {
            header: FrameHeader {
                frame_id: "f1".into(),
                sensor_id: "tel-1".into(),
                start: Epoch::from_gregorian_utc(2006, 6, 26, 21, 0, 1, 250_000_000),
                exposure_s: 2.5,
                site: Some(GeodeticSite {
                    lat_deg: 28.3,
                    lon_deg: -16.51,
                    alt_km: 2.39,
                }),
                wcs: Some(Wcs::tan_centred(120.0, -5.0, 1.0, 0.5, 0.004, 3.0)),
                radar: None,
                instrument: None,
            },
            pixels: Array2::from_shape_vec((2, 3), pixels).unwrap(),
        }
    }

    #[test]
    fn sip_distortion_round_trips_and_reads_from_a_real_header() {
        use crate::wcs::{Sip, SipPolynomial};
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
            ap: Some(SipPolynomial {
                order: 1,
                terms: vec![(1, 0, 1.0e-6)],
            }),
            bp: Some(SipPolynomial {
                order: 1,
                terms: vec![(0, 1, -1.0e-6)],
            }),
        };
        f.header.wcs.as_mut().unwrap().sip = Some(sip);
        let back = parse_fits("mem", &encode_fits(&f), "f1", "other").unwrap();
        assert_eq!(back.header.wcs, f.header.wcs);
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
            assert_eq!(w0, w1);
            let (a, b) = (
                w0.pixel_to_world(2.0, 1.0).unwrap(),
                w1.pixel_to_world(2.0, 1.0).unwrap(),
            );
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

    /// A FITS file from header cards (key, value) and big-endian data, each HDU padded to whole blocks.
    fn hdu(cards: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
        let mut text: Vec<String> = cards.iter().map(|(k, v)| card(k, v, "")).collect();
        text.push(format!("{:<80}", "END"));
        let mut bytes = text.concat().into_bytes();
        bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, b' ');
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, 0);
        bytes
    }

    const TIME: [(&str, &str); 2] = [("DATE-OBS", "'2006-06-26T22:00:01.5'"), ("EXPTIME", "2.0")];

    fn image(bitpix: &str, scaling: &[(&'static str, &'static str)], data: &[u8]) -> Vec<u8> {
        let mut cards = vec![
            ("SIMPLE", "T"),
            ("BITPIX", bitpix),
            ("NAXIS", "2"),
            ("NAXIS1", "2"),
            ("NAXIS2", "1"),
        ];
        cards.extend_from_slice(scaling);
        cards.extend_from_slice(&TIME);
        hdu(&cards, data)
    }

    #[test]
    fn every_bitpix_with_bzero_and_bscale() {
        type Case = (
            &'static str,
            Vec<(&'static str, &'static str)>,
            Vec<u8>,
            [f32; 2],
        );
        let cases: Vec<Case> = vec![
            ("8", vec![], vec![7, 255], [7.0, 255.0]),
            (
                "16",
                vec![("BZERO", "32768")],
                [(-32768i16).to_be_bytes(), 100i16.to_be_bytes()].concat(),
                [0.0, 32868.0],
            ),
            (
                "32",
                vec![("BSCALE", "0.5"), ("BZERO", "10")],
                [4i32.to_be_bytes(), (-4i32).to_be_bytes()].concat(),
                [12.0, 8.0],
            ),
            (
                "-32",
                vec![],
                [1.25f32.to_be_bytes(), (-3.5f32).to_be_bytes()].concat(),
                [1.25, -3.5],
            ),
            (
                "-64",
                vec![("BSCALE", "2.0D0")],
                [1.5f64.to_be_bytes(), 1e3f64.to_be_bytes()].concat(),
                [3.0, 2000.0],
            ),
        ];
        for (bitpix, scaling, data, want) in cases {
            let f = parse_fits("f", &image(bitpix, &scaling, &data), "f", "s").unwrap();
            assert_eq!(f.pixels, ndarray::arr2(&[want]), "BITPIX {bitpix}");
        }
    }

    #[test]
    fn the_first_image_extension_of_a_multi_extension_file_inherits_the_exposure() {
        let primary = hdu(
            &[
                ("SIMPLE", "T"),
                ("BITPIX", "8"),
                ("NAXIS", "0"),
                ("EXTEND", "T"),
                TIME[0],
                TIME[1],
                ("BZERO", "99"),
            ],
            &[],
        );
        let table = hdu(
            &[
                ("XTENSION", "'BINTABLE'"),
                ("BITPIX", "8"),
                ("NAXIS", "2"),
                ("NAXIS1", "4"),
                ("NAXIS2", "3"),
                ("PCOUNT", "0"),
                ("GCOUNT", "1"),
            ],
            &[1; 12],
        );
        let ext = hdu(
            &[
                ("XTENSION", "'IMAGE   '"),
                ("BITPIX", "16"),
                ("NAXIS", "3"),
                ("NAXIS1", "2"),
                ("NAXIS2", "1"),
                ("NAXIS3", "1"),
                ("EXPTIME", "5.0"),
            ],
            &[0, 3, 0, 4],
        );
        let f = parse_fits("mef", &[primary.clone(), table, ext].concat(), "f", "s").unwrap();
        // The primary's BZERO is not inherited, its DATE-OBS is; the extension's own EXPTIME wins.
        assert_eq!(f.pixels, ndarray::arr2(&[[3.0, 4.0]]));
        assert_eq!(
            f.header.start,
            Epoch::from_gregorian_utc(2006, 6, 26, 22, 0, 1, 500_000_000)
        );
        assert_eq!(f.header.exposure_s, 5.0);

        let err = parse_fits("head.fits", &primary, "f", "s")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("head.fits") && err.contains("no image HDU"),
            "{err}"
        );
        let fz = hdu(
            &[
                ("XTENSION", "'BINTABLE'"),
                ("BITPIX", "8"),
                ("NAXIS", "2"),
                ("NAXIS1", "8"),
                ("NAXIS2", "1"),
                ("PCOUNT", "0"),
                ("GCOUNT", "1"),
                ("ZIMAGE", "T"),
            ],
            &[0; 8],
        );
        let err = parse_fits("x.fz", &[primary, fz].concat(), "f", "s")
            .unwrap_err()
            .to_string();
        // A tile-compressed image goes to crate::fz (tested in tests/fz.rs); this table lacks its TFIELDS.
        assert!(err.contains("x.fz") && err.contains("TFIELDS"), "{err}");
    }

    #[test]
    fn start_times_in_their_common_forms() {
        let at = |cards: &[(&str, &str)]| {
            let mut all = vec![
                ("SIMPLE", "T"),
                ("BITPIX", "8"),
                ("NAXIS", "2"),
                ("NAXIS1", "1"),
                ("NAXIS2", "1"),
                ("EXPOSURE", "1"),
            ];
            all.extend_from_slice(cards);
            parse_fits("t.fits", &hdu(&all, &[0]), "f", "s").map(|f| f.header.start)
        };
        let want = Epoch::from_gregorian_utc(2002, 7, 26, 19, 36, 37, 250_000_000);
        for cards in [
            vec![("DATE-OBS", "'2002-07-26T19:36:37.25'")],
            vec![("DATE-OBS", "'2002-07-26 19:36:37.250Z'")],
            vec![("DATE-OBS", "'2002-07-26'"), ("UTSTART", "'19:36:37.25'")],
            vec![("DATE-OBS", "'2002-07-26'"), ("UT", "'19:36:37.25'")],
            vec![("DATE-BEG", "'2002-07-26T19:36:37.25'")],
            vec![("MJD-OBS", "52481.81709780092")],
        ] {
            let got = at(&cards).unwrap();
            assert!((got - want).abs().to_seconds() < 1e-6, "{cards:?}: {got}");
        }
        for (cards, needle) in [
            (vec![], "DATE-OBS: missing"),
            (
                vec![("DATE-OBS", "'2002-02-30T00:00:00'")],
                "'2002-02-30T00:00:00' is not",
            ),
            (vec![("DATE-OBS", "'yesterday'")], "'yesterday' is not"),
            (vec![("MJD-OBS", "-5")], "MJD-OBS"),
        ] {
            let err = at(&cards).unwrap_err().to_string();
            assert!(err.contains("t.fits") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn sites_from_obsgeo_or_sitelat_sitelong_siteelev() {
        let site = |cards: &[(&str, &str)]| {
            let mut all = vec![
                ("SIMPLE", "T"),
                ("BITPIX", "8"),
                ("NAXIS", "2"),
                ("NAXIS1", "1"),
                ("NAXIS2", "1"),
                TIME[0],
                TIME[1],
            ];
            all.extend_from_slice(cards);
            parse_fits("s.fits", &hdu(&all, &[0]), "f", "s").map(|f| f.header.site)
        };
        // The OGS on Tenerife: 28.3 N, 16.51 W, 2390 m; its ITRS position from the WGS84 formulas (Vallado eq. 3-7).
        let want = GeodeticSite {
            lat_deg: 28.3,
            lon_deg: -16.51,
            alt_km: 2.39,
        };
        let close = |s: Option<GeodeticSite>| {
            let s = s.unwrap();
            (s.lat_deg - want.lat_deg).abs() < 1e-8
                && (s.lon_deg - want.lon_deg).abs() < 1e-8
                && (s.alt_km - want.alt_km).abs() < 1e-6
        };
        assert!(close(
            site(&[
                ("OBSGEO-B", "28.3"),
                ("OBSGEO-L", "-16.51"),
                ("OBSGEO-H", "2390")
            ])
            .unwrap()
        ));
        assert!(close(
            site(&[
                ("OBSGEO-X", "5390339.1925"),
                ("OBSGEO-Y", "-1597714.6032"),
                ("OBSGEO-Z", "3006952.3237")
            ])
            .unwrap()
        ));
        assert!(close(
            site(&[
                ("SITELAT", "'+28:18:00'"),
                ("SITELONG", "'-16 30 36.0'"),
                ("SITEELEV", "2390")
            ])
            .unwrap()
        ));
        assert!(close(
            site(&[
                ("SITELAT", "28.3"),
                ("SITELONG", "-16.51"),
                ("SITEELEV", "2390.0")
            ])
            .unwrap()
        ));
        assert_eq!(
            site(&[("SITELAT", "28.3"), ("SITELONG", "-16.51")]).unwrap(),
            None
        );
        let err = site(&[("SITELAT", "'north'"), ("SITELONG", "1"), ("SITEELEV", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SITELAT") && err.contains("'north'"), "{err}");
        let err = site(&[
            ("OBSGEO-X", "5390.3"),
            ("OBSGEO-Y", "-1599.4"),
            ("OBSGEO-Z", "3007.0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("OBSGEO-X"), "{err}");
    }

    #[test]
    fn a_few_undefined_pixels_become_the_median_a_frame_of_them_is_refused() {
        let mut pixels: Vec<u8> = (0..20)
            .flat_map(|i| (100.0f32 + i as f32).to_be_bytes())
            .collect();
        pixels[4..8].copy_from_slice(&f32::NAN.to_be_bytes());
        let mut cards = vec![
            ("SIMPLE", "T"),
            ("BITPIX", "-32"),
            ("NAXIS", "2"),
            ("NAXIS1", "10"),
            ("NAXIS2", "2"),
        ];
        cards.extend_from_slice(&TIME);
        let f = parse_fits("n.fits", &hdu(&cards, &pixels), "f", "s").unwrap();
        assert_eq!(f.pixels[[0, 1]], 110.0);
        let nans: Vec<u8> = (0..20).flat_map(|_| f32::NAN.to_be_bytes()).collect();
        let err = parse_fits("n.fits", &hdu(&cards, &nans), "f", "s")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("n.fits") && err.contains("20 of 20 pixels are undefined"),
            "{err}"
        );
        // BLANK marks undefined integers.
        let mut cards = vec![
            ("SIMPLE", "T"),
            ("BITPIX", "16"),
            ("NAXIS", "2"),
            ("NAXIS1", "10"),
            ("NAXIS2", "2"),
            ("BLANK", "-1"),
        ];
        cards.extend_from_slice(&TIME);
        let mut ints: Vec<u8> = (0..20i16).flat_map(|i| (i * 10).to_be_bytes()).collect();
        ints[0..2].copy_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(
            parse_fits("b.fits", &hdu(&cards, &ints), "f", "s")
                .unwrap()
                .pixels[[0, 0]],
            100.0
        );
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

    #[test]
    fn a_wcs_kessler_cannot_read_is_an_error_at_its_card() {
        let bytes = encode_fits(&frame(vec![1.0; 6]));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // The file with the first `from` in its header replaced by `to` (of the same length).
        let header = |from: &str, to: &str| {
            let at = text.find(from).unwrap();
            let mut b = bytes.clone();
            b[at..at + to.len()].copy_from_slice(to.as_bytes());
            b
        };
        // An unknown projection: the CTYPE1 card's offset.
        let bytes = header("'RA---TAN'", "'RA---XYZ'");
        let at = text.find("CTYPE1").unwrap();
        let err = parse_fits("f.fits", &bytes, "f", "s")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.fits")
                && err.contains("CTYPE1")
                && err.contains(&format!("byte offset {at}"))
                && err.contains("XYZ"),
            "{err}"
        );
        // Mismatched axes name CTYPE2 and its card.
        let err = parse_fits("f.fits", &header("'DEC--TAN'", "'DEC--SIN'"), "f", "s")
            .unwrap_err()
            .to_string();
        let at = text.find("CTYPE2").unwrap();
        assert!(
            err.contains(&format!("CTYPE2 (card at byte offset {at})")),
            "{err}"
        );
        // A missing CRVAL2 names the keyword, at the CTYPE1 card that declares the WCS.
        let err = parse_fits("f.fits", &header("CRVAL2 ", "XRVAL2 "), "f", "s")
            .unwrap_err()
            .to_string();
        let at = text.find("CTYPE1").unwrap();
        assert!(
            err.contains(&format!("CRVAL2 (card at byte offset {at}): missing")),
            "{err}"
        );
        // A reference system other than ICRS or FK5 J2000.
        let err = parse_fits("f.fits", &header("'ICRS    '", "'FK4     '"), "f", "s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RADESYS") && err.contains("'FK4'"), "{err}");
        // No celestial CTYPE at all is no WCS.
        let mut bytes = header("CTYPE1  = ", "XTYPE1  = ");
        let at = text.find("CTYPE2").unwrap();
        bytes[at] = b'X';
        let f = parse_fits("f.fits", &bytes, "f", "s").unwrap();
        assert_eq!(f.header.wcs, None);
    }
}
