//! PNG and TIFF frames (8- or 16-bit grey, through the image crate) with a JSON sidecar for what the image format
//! cannot say: the exposure's time and length, the site, the WCS and the camera.
//!
//! The sidecar of `night1/0001.png` is `night1/0001.png.json`, or else `night1/0001.json`. Its fields (units as in
//! [`FrameHeader`]; unknown fields are refused, so a misspelt one is not silently dropped):
//!
//! ```json
//! {
//!   "date_obs": "2006-06-26T22:00:01.250",
//!   "exposure_s": 2.0,
//!   "sensor": "ogs",
//!   "site": { "lat_deg": 28.3, "lon_deg": -16.51, "alt_km": 2.39 },
//!   "wcs": { "crpix": [256.5, 256.5], "crval_deg": [120.0, 30.0],
//!            "cd_deg": [[-0.0004, 0.0], [0.0, 0.0004]], "projection": { "code": "TAN" } },
//!   "gain_e_per_adu": 1.5, "read_noise_e": 8.0, "psf_fwhm_px": 2.2,
//!   "bzero": 0.0, "bscale": 1.0
//! }
//! ```
//!
//! `date_obs` (UTC, ISO 8601, the shutter opening) and `exposure_s` are required, the rest optional; `sensor`
//! falls back to the publisher's default. `wcs` is a [`Wcs`] (CRPIX 1-based, CRVAL in ICRS degrees, CD in degrees
//! per pixel): `projection` is TAN when left out, else `{"code": "SIN", "xi": 0.0, "eta": 0.0}` (PV2_1, PV2_2),
//! `{"code": "ARC"}`, `ZEA`, `STG` or `CAR`; `lonpole_deg`, `latpole_deg` and `sip` (`a`, `b` and optionally `ap`,
//! `bp`, each `{"order": n, "terms": [[p, q, coef], ...]}`) are optional. Pixel values are `bzero + bscale * stored` ADU (FITS 4.0 eq. 3). Rows
//! keep the file's order: row 0 is the file's first row (the top, as image viewers show it), and the WCS uses FITS
//! pixel conventions on that order (CRPIX 1-based, y counting rows from the first). A PNG written row by row from
//! a FITS image therefore keeps the FITS header's WCS unchanged.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader};
use ndarray::Array2;
use serde::Deserialize;

use crate::fits::MAX_SIDE;
use crate::frame::{Frame, FrameHeader, GeodeticSite, Instrument};
use crate::wcs::Wcs;

/// What went wrong reading a PNG or TIFF frame; every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Image {
        path: String,
        source: image::ImageError,
    },
    #[error(
        "{path}: {colour:?} pixels: kessler reads single-channel (grey) images of 8 or 16 bits; convert \
         colour frames first"
    )]
    Colour {
        path: String,
        colour: image::ColorType,
    },
    #[error("{path}: image size {width}x{height} is out of range (1..={MAX_SIDE} per side)")]
    Size {
        path: String,
        width: u32,
        height: u32,
    },
    #[error("{path}: no JSON sidecar for its time and exposure (looked for {looked})")]
    NoSidecar { path: String, looked: String },
    #[error("{path}: line {line}, column {column}: {problem}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("{path}: field {field}: {problem}")]
    Field {
        path: String,
        field: &'static str,
        problem: String,
    },
}

/// The sidecar's fields; see the module documentation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    date_obs: String,
    exposure_s: f64,
    sensor: Option<String>,
    site: Option<GeodeticSite>,
    wcs: Option<Wcs>,
    gain_e_per_adu: Option<f64>,
    read_noise_e: Option<f64>,
    psf_fwhm_px: Option<f64>,
    bzero: Option<f64>,
    bscale: Option<f64>,
}

/// The sidecar files looked for, in order: `NAME.EXT.json`, then `NAME.json`.
pub fn sidecar_paths(image: &Path) -> [PathBuf; 2] {
    let mut with_ext = image.as_os_str().to_owned();
    with_ext.push(".json");
    [PathBuf::from(with_ext), image.with_extension("json")]
}

/// Read a PNG or TIFF frame and its sidecar. The frame id is the file stem; the sensor id is the sidecar's
/// `sensor`, or `default_sensor`.
pub fn read_raster(path: &Path, default_sensor: &str) -> Result<Frame, RasterError> {
    let name = path.display().to_string();
    let candidates = sidecar_paths(path);
    let sidecar_path =
        candidates
            .iter()
            .find(|p| p.is_file())
            .ok_or_else(|| RasterError::NoSidecar {
                path: name.clone(),
                looked: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    let sidecar_name = sidecar_path.display().to_string();
    let text = std::fs::read_to_string(sidecar_path).map_err(|source| RasterError::Io {
        path: sidecar_name.clone(),
        source,
    })?;
    let sidecar: Sidecar = serde_json::from_str(&text).map_err(|e| RasterError::Json {
        path: sidecar_name.clone(),
        line: e.line(),
        column: e.column(),
        problem: e.to_string(),
    })?;
    let image = ImageReader::open(path)
        .map_err(|source| RasterError::Io {
            path: name.clone(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| RasterError::Io {
            path: name.clone(),
            source,
        })?
        .decode()
        .map_err(|source| RasterError::Image {
            path: name.clone(),
            source,
        })?;
    let frame_id = crate::frame::frame_id_of(path);
    frame(
        &name,
        &sidecar_name,
        image,
        sidecar,
        &frame_id,
        default_sensor,
    )
}

/// The frame of a decoded image and its parsed sidecar (`sidecar_name` for errors in it).
fn frame(
    name: &str,
    sidecar_name: &str,
    image: DynamicImage,
    sidecar: Sidecar,
    frame_id: &str,
    default_sensor: &str,
) -> Result<Frame, RasterError> {
    let field = |field: &'static str, problem: &str| RasterError::Field {
        path: sidecar_name.into(),
        field,
        problem: problem.into(),
    };
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 || i64::from(width.max(height)) > MAX_SIDE {
        return Err(RasterError::Size {
            path: name.into(),
            width,
            height,
        });
    }
    let stored: Vec<f32> = match image {
        DynamicImage::ImageLuma8(grey) => grey.into_raw().into_iter().map(f32::from).collect(),
        DynamicImage::ImageLuma16(grey) => grey.into_raw().into_iter().map(f32::from).collect(),
        other => {
            return Err(RasterError::Colour {
                path: name.into(),
                colour: other.color(),
            });
        }
    };
    let start = crate::utc::parse(&sidecar.date_obs)
        .map_err(|_| field("date_obs", "not a UTC time YYYY-MM-DDThh:mm:ss[.f]"))?;
    if !(sidecar.exposure_s.is_finite() && sidecar.exposure_s > 0.0) {
        return Err(field("exposure_s", "must be a positive number of seconds"));
    }
    let (bzero, bscale) = (sidecar.bzero.unwrap_or(0.0), sidecar.bscale.unwrap_or(1.0));
    if !(bzero.is_finite() && bscale.is_finite() && bscale != 0.0) {
        return Err(field(
            "bscale",
            "bzero and bscale must be finite, bscale not 0",
        ));
    }
    if let Some(site) = &sidecar.site
        && !((-90.0..=90.0).contains(&site.lat_deg)
            && (-360.0..=360.0).contains(&site.lon_deg)
            && (-1.0..=100.0).contains(&site.alt_km))
    {
        return Err(field(
            "site",
            "lat_deg must be in -90..=90, lon_deg in -360..=360, alt_km in -1..=100",
        ));
    }
    if let Some(wcs) = &sidecar.wcs {
        wcs.check().map_err(|e| field("wcs", &e.to_string()))?;
    }
    let positive = |field_name: &'static str, v: Option<f64>| match v {
        Some(v) if !(v.is_finite() && v > 0.0) => {
            Err(field(field_name, "must be a positive number"))
        }
        _ => Ok(v),
    };
    let instrument = Instrument {
        gain_e_per_adu: positive("gain_e_per_adu", sidecar.gain_e_per_adu)?,
        read_noise_e: positive("read_noise_e", sidecar.read_noise_e)?,
        psf_fwhm_px: positive("psf_fwhm_px", sidecar.psf_fwhm_px)?,
    };
    let header = FrameHeader {
        frame_id: frame_id.into(),
        sensor_id: sidecar.sensor.unwrap_or_else(|| default_sensor.into()),
        start,
        exposure_s: sidecar.exposure_s,
        site: sidecar.site,
        wcs: sidecar.wcs,
        radar: None,
        instrument: (instrument != Instrument::default()).then_some(instrument),
    };
    let pixels = stored
        .into_iter()
        .map(|v| bzero as f32 + bscale as f32 * v)
        .collect();
    Ok(Frame {
        header,
        pixels: Array2::from_shape_vec((height as usize, width as usize), pixels)
            .expect("an image holds width x height pixels"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    const SIDECAR: &str = r#"{
        "date_obs": "2006-06-26T22:00:01.250",
        "exposure_s": 2.0,
        "sensor": "ogs",
        "site": { "lat_deg": 28.3, "lon_deg": -16.51, "alt_km": 2.39 },
        "wcs": { "crpix": [2.0, 1.5], "crval_deg": [120.0, 30.0], "cd_deg": [[-0.0004, 0.0], [0.0, 0.0004]] },
        "gain_e_per_adu": 1.5,
        "bzero": 100.0
    }"#;

    fn write(dir: &Path, name: &str, sidecar: Option<(&str, &str)>) -> PathBuf {
        let path = dir.join(name);
        if name.ends_with(".png") {
            ImageBuffer::<Luma<u16>, _>::from_fn(3, 2, |x, y| Luma([(1000 * y + x) as u16]))
                .save(&path)
                .unwrap();
        } else {
            ImageBuffer::<Luma<u8>, _>::from_fn(3, 2, |x, y| Luma([(10 * y + x) as u8]))
                .save(&path)
                .unwrap();
        }
        if let Some((sidecar_name, text)) = sidecar {
            std::fs::write(dir.join(sidecar_name), text).unwrap();
        }
        path
    }

    #[test]
    fn a_16_bit_png_and_an_8_bit_tiff_read_with_their_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let png = read_raster(
            &write(dir.path(), "f1.png", Some(("f1.png.json", SIDECAR))),
            "default",
        )
        .unwrap();
        assert_eq!(
            png.pixels,
            ndarray::arr2(&[[100.0, 101.0, 102.0], [1100.0, 1101.0, 1102.0]])
        );
        let h = &png.header;
        assert_eq!((h.frame_id.as_str(), h.sensor_id.as_str()), ("f1", "ogs"));
        assert_eq!((png.width(), png.height(), h.exposure_s), (3, 2, 2.0));
        assert_eq!(crate::utc::format(h.start, 3), "2006-06-26T22:00:01.250");
        assert_eq!(h.site.unwrap().alt_km, 2.39);
        assert_eq!(h.wcs.as_ref().unwrap().crpix, [2.0, 1.5]);
        assert_eq!(h.instrument.unwrap().gain_e_per_adu, Some(1.5));

        // The short sidecar name, and the least a sidecar may say.
        let minimal = r#"{"date_obs": "2006-06-26T22:00:00", "exposure_s": 0.5}"#;
        let tiff = read_raster(
            &write(dir.path(), "f2.tiff", Some(("f2.json", minimal))),
            "default",
        )
        .unwrap();
        assert_eq!(
            tiff.pixels,
            ndarray::arr2(&[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
        );
        let h = &tiff.header;
        assert_eq!(h.sensor_id, "default");
        assert!(h.site.is_none() && h.wcs.is_none() && h.instrument.is_none());
    }

    #[test]
    fn bad_images_and_sidecars_are_refused_naming_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let error = |name: &str, sidecar: Option<&str>| {
            let json = format!("{name}.json");
            read_raster(
                &write(dir.path(), name, sidecar.map(|s| (json.as_str(), s))),
                "d",
            )
            .unwrap_err()
            .to_string()
        };
        let e = error("none.png", None);
        assert!(
            e.contains("none.png: no JSON sidecar") && e.contains("none.json"),
            "{e}"
        );
        let e = error(
            "typo.png",
            Some(r#"{"date_obs": "2006-06-26T22:00:00", "exposure": 1}"#),
        );
        assert!(
            e.contains("typo.png.json: line 1") && e.contains("unknown field `exposure`"),
            "{e}"
        );
        let e = error(
            "late.png",
            Some(r#"{"date_obs": "2006-06-26", "exposure_s": 1}"#),
        );
        assert!(e.contains("late.png.json: field date_obs"), "{e}");
        let e = error(
            "dark.png",
            Some(r#"{"date_obs": "2006-06-26T22:00:00", "exposure_s": 0}"#),
        );
        assert!(e.contains("field exposure_s"), "{e}");
        let singular = r#"{"date_obs": "2006-06-26T22:00:00", "exposure_s": 1,
            "wcs": {"crpix": [1, 1], "crval_deg": [0, 0], "cd_deg": [[1, 1], [1, 1]]}}"#;
        assert!(error("flat.png", Some(singular)).contains("field wcs"));

        let colour = dir.path().join("colour.png");
        ImageBuffer::<Rgb<u8>, _>::new(2, 2).save(&colour).unwrap();
        std::fs::write(dir.path().join("colour.json"), SIDECAR).unwrap();
        let e = read_raster(&colour, "d").unwrap_err().to_string();
        assert!(e.contains("colour.png: Rgb8 pixels"), "{e}");

        let cut = dir.path().join("cut.png");
        let whole = std::fs::read(write(dir.path(), "whole.png", None)).unwrap();
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        std::fs::write(dir.path().join("cut.json"), SIDECAR).unwrap();
        let e = read_raster(&cut, "d").unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: ", cut.display())), "{e}");
    }
}
