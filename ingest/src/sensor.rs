//! The sensor configuration: what an observatory knows about each of its sensors, in TOML, filling in what a
//! frame's file does not say (site, pointing, noise model) and refusing frames of sensors it does not know.
//!
//! ```toml
//! [[sensor]]
//! id = "ogs"                      # the frame's KSENSOR, or `kessler publish --sensor`
//! kind = "optical"                # or "radar" (frames must then carry radar axes)
//! site = { lat_deg = 28.3, lon_deg = -16.51, alt_km = 2.39 }
//! gain_e_per_adu = 1.8
//! read_noise_e = 6.5
//! psf_fwhm_px = 2.2
//! # The WCS of frames without one: a TAN projection centred on the image.
//! pointing = { ra_deg = 120.0, dec_deg = 30.0, scale_arcsec_per_px = 1.4, rotation_deg = 0.0 }
//! ```
//!
//! What the file itself says wins over the configuration; the configuration only fills gaps.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::frame::{Frame, GeodeticSite, Instrument};
use crate::wcs::Wcs;

/// Why a sensor configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: sensor {id}: {problem}")]
    Invalid {
        path: String,
        id: String,
        problem: &'static str,
    },
}

/// Why a frame does not fit the sensor configuration (it goes to the dead-letter topic with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameRefused {
    #[error("unknown sensor {0:?} (not in the sensor configuration)")]
    UnknownSensor(String),
    #[error("sensor {0} is a radar but the frame has no radar axes")]
    RadarWithoutAxes(String),
    #[error("sensor {0} is optical but the frame is a radar map")]
    OpticalRadarMap(String),
}

/// What kind of frames a sensor produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// Sky images (CCD or CMOS).
    Optical,
    /// Range-time maps of a beam-park radar.
    Radar,
}

/// A default pointing: a TAN WCS centred on the image.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pointing {
    /// ICRS right ascension of the image centre, degrees.
    pub ra_deg: f64,
    /// ICRS declination of the image centre, degrees.
    pub dec_deg: f64,
    /// Pixel scale, arcseconds per pixel.
    pub scale_arcsec_per_px: f64,
    /// Position angle of the image's +y axis, degrees east of north.
    #[serde(default)]
    pub rotation_deg: f64,
}

/// One sensor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub id: String,
    pub kind: SensorKind,
    pub site: Option<GeodeticSite>,
    pub pointing: Option<Pointing>,
    pub gain_e_per_adu: Option<f64>,
    pub read_noise_e: Option<f64>,
    pub psf_fwhm_px: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorFile {
    sensor: Vec<Sensor>,
}

/// The sensors of a configuration file, by id.
#[derive(Debug, Clone, Default)]
pub struct Sensors {
    by_id: HashMap<String, Sensor>,
}

impl Sensors {
    /// Load and check a configuration file.
    pub fn load(path: &Path) -> Result<Sensors, SensorError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SensorError::Io {
            path: name.clone(),
            source,
        })?;
        Sensors::parse(&name, &text)
    }

    /// Parse configuration text; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Sensors, SensorError> {
        let file: SensorFile = toml::from_str(text).map_err(|source| SensorError::Toml {
            path: name.into(),
            source,
        })?;
        let mut by_id = HashMap::new();
        for sensor in file.sensor {
            let invalid = |problem| SensorError::Invalid {
                path: name.into(),
                id: sensor.id.clone(),
                problem,
            };
            if let Some(site) = sensor.site
                && !(site.lat_deg.abs() <= 90.0
                    && site.lon_deg.abs() <= 360.0
                    && site.alt_km.abs() <= 100.0)
            {
                return Err(invalid(
                    "site out of range (|lat| <= 90 deg, |alt| <= 100 km)",
                ));
            }
            if let Some(p) = sensor.pointing
                && !(p.dec_deg.abs() <= 90.0 && p.scale_arcsec_per_px > 0.0 && p.ra_deg.is_finite())
            {
                return Err(invalid(
                    "pointing out of range (|dec| <= 90 deg, scale > 0)",
                ));
            }
            let positive = [
                sensor.gain_e_per_adu,
                sensor.read_noise_e,
                sensor.psf_fwhm_px,
            ];
            if positive
                .iter()
                .flatten()
                .any(|v| !(*v > 0.0 && v.is_finite()))
            {
                return Err(invalid(
                    "gain_e_per_adu, read_noise_e and psf_fwhm_px must be positive",
                ));
            }
            if by_id.contains_key(&sensor.id) {
                return Err(invalid("listed twice"));
            }
            by_id.insert(sensor.id.clone(), sensor);
        }
        Ok(Sensors { by_id })
    }

    /// Check `frame` against its sensor and fill what its file left out; the error (for the dead-letter topic)
    /// says why the frame cannot be used.
    pub fn apply(&self, frame: &mut Frame) -> Result<(), FrameRefused> {
        let (width, height) = (frame.width(), frame.height());
        let h = &mut frame.header;
        let sensor = self
            .by_id
            .get(&h.sensor_id)
            .ok_or_else(|| FrameRefused::UnknownSensor(h.sensor_id.clone()))?;
        match (sensor.kind, h.radar.is_some()) {
            (SensorKind::Radar, false) => {
                return Err(FrameRefused::RadarWithoutAxes(sensor.id.clone()));
            }
            (SensorKind::Optical, true) => {
                return Err(FrameRefused::OpticalRadarMap(sensor.id.clone()));
            }
            _ => {}
        }
        h.site = h.site.or(sensor.site);
        if h.wcs.is_none()
            && sensor.kind == SensorKind::Optical
            && let Some(p) = sensor.pointing
        {
            h.wcs = Some(Wcs::tan_centred(
                p.ra_deg,
                p.dec_deg,
                (width as f64 - 1.0) / 2.0,
                (height as f64 - 1.0) / 2.0,
                p.scale_arcsec_per_px / 3600.0,
                p.rotation_deg,
            ));
        }
        let known = h.instrument.unwrap_or_default();
        let instrument = Instrument {
            gain_e_per_adu: known.gain_e_per_adu.or(sensor.gain_e_per_adu),
            read_noise_e: known.read_noise_e.or(sensor.read_noise_e),
            psf_fwhm_px: known.psf_fwhm_px.or(sensor.psf_fwhm_px),
        };
        h.instrument = (instrument != Instrument::default()).then_some(instrument);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameHeader;
    use hifitime::Epoch;

    const CONFIG: &str = r#"
[[sensor]]
id = "ogs"
kind = "optical"
site = { lat_deg = 28.3, lon_deg = -16.51, alt_km = 2.39 }
gain_e_per_adu = 1.8
psf_fwhm_px = 2.2
pointing = { ra_deg = 120.0, dec_deg = 30.0, scale_arcsec_per_px = 1.44 }

[[sensor]]
id = "tira"
kind = "radar"
"#;

    fn frame(sensor: &str) -> Frame {
        Frame {
            header: FrameHeader {
                frame_id: "f".into(),
                sensor_id: sensor.into(),
                start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0),
                exposure_s: 1.0,
                site: None,
                wcs: None,
                radar: None,
                instrument: Some(Instrument {
                    read_noise_e: Some(7.0),
                    ..Instrument::default()
                }),
            },
            pixels: ndarray::Array2::zeros((51, 101)),
        }
    }

    #[test]
    fn the_configuration_fills_what_the_file_left_out_and_refuses_unknown_or_mismatched_sensors() {
        let sensors = Sensors::parse("sensors.toml", CONFIG).unwrap();
        let mut f = frame("ogs");
        sensors.apply(&mut f).unwrap();
        let h = &f.header;
        assert_eq!(h.site.unwrap().lat_deg, 28.3);
        let wcs = h.wcs.clone().unwrap();
        assert_eq!((wcs.crpix, wcs.crval_deg), ([51.0, 26.0], [120.0, 30.0]));
        assert_eq!(
            h.instrument,
            Some(Instrument {
                gain_e_per_adu: Some(1.8),
                read_noise_e: Some(7.0),
                psf_fwhm_px: Some(2.2)
            })
        );
        let unknown = sensors.apply(&mut frame("elsewhere")).unwrap_err();
        assert_eq!(unknown, FrameRefused::UnknownSensor("elsewhere".into()));
        assert_eq!(
            unknown.to_string(),
            "unknown sensor \"elsewhere\" (not in the sensor configuration)"
        );
        let radar = sensors.apply(&mut frame("tira")).unwrap_err();
        assert_eq!(radar, FrameRefused::RadarWithoutAxes("tira".into()));

        let bad = Sensors::parse("s.toml", &CONFIG.replace("1.44", "-1")).unwrap_err();
        assert!(
            bad.to_string().starts_with("s.toml: sensor ogs: pointing"),
            "{bad}"
        );
        let typo = Sensors::parse("s.toml", &CONFIG.replace("psf_fwhm_px", "psf")).unwrap_err();
        assert!(typo.to_string().contains("unknown field `psf`"), "{typo}");
    }
}
