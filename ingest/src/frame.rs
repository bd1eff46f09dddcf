//! A frame: one exposure of one sensor, its pixels and what is known about where and when it was taken.

use hifitime::{Duration, Epoch};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::wcs::TanWcs;

/// The frame id of a frame file: its stem (`night1/0001.fits` is `0001`), or the whole name where it has none.
pub fn frame_id_of(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A sensor site on the WGS84 ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeodeticSite {
    /// Geodetic latitude, degrees, north positive.
    pub lat_deg: f64,
    /// Longitude, degrees, east positive.
    pub lon_deg: f64,
    /// Height above the WGS84 ellipsoid, km.
    pub alt_km: f64,
}

/// WGS84 equatorial radius, km, and flattening (NIMA TR8350.2, table 3.1).
const WGS84_A_KM: f64 = 6378.137;
const WGS84_F: f64 = 1.0 / 298.257223563;

impl GeodeticSite {
    /// The geodetic coordinates of an Earth-fixed (ITRS) position, km; `None` more than 100 km from the
    /// ellipsoid's surface (a FITS OBSGEO-X/Y/Z in the wrong unit, or garbage).
    ///
    /// Fixed-point iteration on the latitude (Vallado 2013, Algorithm 12), to 1e-12 rad.
    pub fn from_itrs_km(r: [f64; 3]) -> Option<GeodeticSite> {
        let e2 = WGS84_F * (2.0 - WGS84_F);
        let p = r[0].hypot(r[1]);
        if !(p.is_finite() && r[2].is_finite()) {
            return None;
        }
        let mut lat = r[2].atan2(p * (1.0 - e2));
        let mut height = 0.0;
        for _ in 0..20 {
            let n = WGS84_A_KM / (1.0 - e2 * lat.sin().powi(2)).sqrt();
            height = if lat.cos().abs() > 1e-9 {
                p / lat.cos() - n
            } else {
                r[2].abs() - n * (1.0 - e2)
            };
            let next = r[2].atan2(p * (1.0 - e2 * n / (n + height)));
            let step = (next - lat).abs();
            lat = next;
            if step < 1e-12 {
                break;
            }
        }
        (height.abs() <= 100.0).then(|| GeodeticSite {
            lat_deg: lat.to_degrees(),
            lon_deg: r[1].atan2(r[0]).to_degrees(),
            alt_km: height,
        })
    }
}

/// The axes of a range-time intensity map from a beam-park radar: rows are time, columns are range gates
/// (the map is detected like an image; a track's slope is its range rate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadarAxes {
    /// Range of the centre of column 0, km.
    pub range0_km: f64,
    /// Range step per column (gate), km.
    pub gate_km: f64,
    /// Time of the centre of row 0 after the frame's start, s.
    pub time0_s: f64,
    /// Time step per row, s.
    pub row_s: f64,
}

impl RadarAxes {
    /// Range at column `x` (0-based, fractional), km.
    pub fn range_km(&self, x: f64) -> f64 {
        self.range0_km + x * self.gate_km
    }

    /// Time after the frame's start at row `y` (0-based, fractional), s.
    pub fn time_s(&self, y: f64) -> f64 {
        self.time0_s + y * self.row_s
    }
}

/// `YYYY-MM-DDThh:mm:ss[.fff...]` (or a space for the T) as a UTC epoch; `None` when it is not one.
pub fn iso_to_epoch(iso: &str) -> Option<Epoch> {
    let (date, time) = iso.split_once(['T', ' '])?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let int = |s: &str, lo: u32, hi: u32| {
        s.parse::<u32>()
            .ok()
            .filter(|v| (lo..=hi).contains(v) && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (year, month, day) = (int(d[0], 1, 9999)?, int(d[1], 1, 12)?, int(d[2], 1, 31)?);
    let (hour, minute) = (int(t[0], 0, 23)?, int(t[1], 0, 59)?);
    let (whole, frac) = t[2].split_once('.').unwrap_or((t[2], ""));
    let second = int(whole, 0, 60)?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &frac[..frac.len().min(9)];
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[month as usize - 1] {
        return None;
    }
    // hifitime refuses (or, in from_gregorian_utc, panics on) what its calendar cannot hold, such as second 60
    // away from a leap second.
    Epoch::maybe_from_gregorian_utc(
        year as i32,
        month as u8,
        day as u8,
        hour as u8,
        minute as u8,
        second as u8,
        nanos,
    )
    .ok()
}

/// An epoch as serialised (`2006-06-26T22:00:01.25 UTC`), read through [`iso_to_epoch`]: hifitime's own parser
/// panics on some malformed strings (found by fuzz/), and an envelope must never panic its reader.
fn deserialize_utc<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Epoch, D::Error> {
    let text = String::deserialize(d)?;
    text.strip_suffix(" UTC")
        .and_then(iso_to_epoch)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("start {text:?} is not YYYY-MM-DDThh:mm:ss[.f] UTC"))
        })
}

/// What a sensor's camera adds to each frame: its noise model and image quality. Any field may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Instrument {
    /// Electrons per ADU.
    pub gain_e_per_adu: Option<f64>,
    /// Read noise, electrons RMS.
    pub read_noise_e: Option<f64>,
    /// Full width at half maximum of the point-spread function, pixels.
    pub psf_fwhm_px: Option<f64>,
}

/// Everything about a frame except its pixels (and so its size: that is the shape of [`Frame::pixels`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameHeader {
    /// Unique id of the frame (the file stem for files): the key that makes downstream idempotent.
    pub frame_id: String,
    /// The sensor that took the frame.
    pub sensor_id: String,
    /// Start of the exposure (shutter open), UTC; on the wire `YYYY-MM-DDThh:mm:ss[.f] UTC`.
    #[serde(deserialize_with = "deserialize_utc")]
    pub start: Epoch,
    /// Exposure length, s.
    pub exposure_s: f64,
    /// Where the sensor stands, if known.
    pub site: Option<GeodeticSite>,
    /// Pixel to sky mapping (ICRS axes), if known.
    pub wcs: Option<TanWcs>,
    /// For a radar range-time map: its range and time axes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radar: Option<RadarAxes>,
    /// The camera's noise model and image quality, when known (FITS GAIN / RDNOISE, or the sensor configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<Instrument>,
}

impl FrameHeader {
    /// End of the exposure (shutter closed), UTC.
    pub fn end(&self) -> Epoch {
        self.start + Duration::from_seconds(self.exposure_s)
    }
}

/// A frame: header and pixel values (ADU).
///
/// `pixels` has shape `(height, width)`: row `y` is image row `y` (FITS NAXIS2), column `x` is FITS NAXIS1, so pixel
/// (x, y) is `pixels[[y, x]]`. The size lives only in the array's shape, so a header and pixels of different sizes
/// cannot be put together; the readers ([`crate::fits`], [`crate::raster`], [`crate::envelope`]) check the size a
/// file or message declares against the pixels it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub header: FrameHeader,
    pub pixels: Array2<f32>,
}

impl Frame {
    /// Columns (FITS NAXIS1).
    pub fn width(&self) -> usize {
        self.pixels.ncols()
    }

    /// Rows (FITS NAXIS2).
    pub fn height(&self) -> usize {
        self.pixels.nrows()
    }
}

/// Whether every pixel is an integer in 0..=65535, so the frame can be stored as unsigned 16-bit without loss.
pub fn fits_in_u16(pixels: &Array2<f32>) -> bool {
    pixels
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=65535.0).contains(&v))
}
