//! A frame: one exposure of one sensor, its pixels and what is known about where and when it was taken.

use hifitime::{Duration, Epoch};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::wcs::Wcs;

/// The frame id of a frame file: its stem (`night1/0001.fits` is `0001`), or the whole name where it has none. A
/// tile-compressed copy has the id of the file it was made from (`0001.fits.fz` and `0001.fz` are `0001`).
pub fn frame_id_of(path: &std::path::Path) -> String {
    let compressed = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("fz"));
    let path = match path.file_stem() {
        Some(stem) if compressed => std::path::Path::new(stem),
        _ => path,
    };
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

/// An epoch as serialised (`2006-06-26T22:00:01.25 UTC`), read through [`crate::utc`]: hifitime's own parser
/// panics on some malformed strings (found by fuzz/), and an envelope must never panic its reader.
fn deserialize_utc<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Epoch, D::Error> {
    let text = String::deserialize(d)?;
    text.strip_suffix(" UTC")
        .and_then(|t| crate::utc::parse(t).ok())
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
    pub wcs: Option<Wcs>,
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
