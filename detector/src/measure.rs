//! From a streak in pixels to a time-tagged measurement on the sky.
//!
//! The endpoints go through the frame's TAN WCS to ICRS right ascension and declination (topocentric, as the
//! telescope sees them) and are tagged with the exposure's start and end. One frame cannot tell which end is
//! which: the [`StreakMeasurement`] keeps both as `a` and `b`, and the track stage orients them from neighbouring
//! frames.
//!
//! On a radar range-time map ([`kessler_ingest::RadarAxes`]: rows are time, columns range gates) a streak is a track
//! instead: [`radar_track`] gives its time-tagged ranges at both ends and its range rate, the slope of the line.

use hifitime::{Duration, Epoch};
use kessler_ingest::FrameHeader;
use kessler_od::{RaDec, Site, StreakMeasurement};

use crate::Streak;

/// Smallest endpoint 1-sigma a measurement gets, px: what the detector's sigmas leave out (the WCS fit, the
/// exposure's time tags, a PSF that is not the configured one) does not shrink with the streak's S/N. The 1.5 px
/// every streak had before the sigmas existed; with 0.3 px the Kafka end-to-end night (tests/tests/pipeline.rs, fit
/// residuals of 7.7 arcsec RMS on its brightest object) split one object in two.
pub const MIN_ENDPOINT_SIGMA_PX: f64 = 1.5;

/// The isotropic 1-sigma (px) of a streak's endpoint angles: the larger of its errors along and across the line
/// ([`Streak::sigma_along_px`], [`Streak::sigma_cross_px`]), at least [`MIN_ENDPOINT_SIGMA_PX`]. Orbit
/// determination weights both angles alike, so the larger error stands for both (honest along the line, where
/// the error is largest; it gives away the better cross-line position). A streak from a message written before
/// the sigmas existed (both 0) gets the floor, what the detector gave every streak then.
pub fn endpoint_sigma_px(streak: &Streak) -> f64 {
    streak
        .sigma_along_px
        .max(streak.sigma_cross_px)
        .max(MIN_ENDPOINT_SIGMA_PX)
}

/// A track on a radar range-time map: time-tagged ranges at its first and last rows, and its range rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadarTrack {
    /// Time of the earlier end, UTC.
    pub t1: Epoch,
    /// Range at the earlier end, km.
    pub range1_km: f64,
    /// Time of the later end, UTC.
    pub t2: Epoch,
    /// Range at the later end, km.
    pub range2_km: f64,
    /// Range rate along the track, km/s (positive: receding).
    pub range_rate_km_s: f64,
}

/// The track of a streak on a radar map (`None` for frames without radar axes, or a streak along one row, which
/// has no duration). Range rate = (range2 - range1) / (t2 - t1) over the fitted line's ends.
pub fn radar_track(header: &FrameHeader, streak: &Streak) -> Option<RadarTrack> {
    let axes = header.radar?;
    let (mut a, mut b) = ((streak.x1, streak.y1), (streak.x2, streak.y2));
    if axes.time_s(a.1) > axes.time_s(b.1) {
        std::mem::swap(&mut a, &mut b);
    }
    let (t1, t2) = (axes.time_s(a.1), axes.time_s(b.1));
    if t2 - t1 <= 0.0 {
        return None;
    }
    let (range1_km, range2_km) = (axes.range_km(a.0), axes.range_km(b.0));
    Some(RadarTrack {
        t1: header.start + Duration::from_seconds(t1),
        range1_km,
        t2: header.start + Duration::from_seconds(t2),
        range2_km,
        range_rate_km_s: (range2_km - range1_km) / (t2 - t1),
    })
}

/// Why a streak cannot become a measurement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    #[error("frame {0}: no WCS in the header (CTYPE1/2 RA---ppp/DEC--ppp), so no sky position")]
    NoWcs(String),
    #[error(
        "frame {frame}: streak end ({x:.1}, {y:.1}) px lies outside the WCS projection's domain"
    )]
    OffSky { frame: String, x: f64, y: f64 },
    #[error("frame {0}: no site in the header (OBSGEO-B/L/H), so no topocentric measurement")]
    NoSite(String),
}

/// The measurement of the `index`-th streak of a frame.
pub fn streak_measurement(
    header: &FrameHeader,
    streak: &Streak,
    index: usize,
) -> Result<StreakMeasurement, MeasureError> {
    let wcs = header
        .wcs
        .as_ref()
        .ok_or_else(|| MeasureError::NoWcs(header.frame_id.clone()))?;
    let site = header
        .site
        .ok_or_else(|| MeasureError::NoSite(header.frame_id.clone()))?;
    let radec = |x: f64, y: f64| {
        let (ra, dec) = wcs
            .pixel_to_world(x, y)
            .ok_or_else(|| MeasureError::OffSky {
                frame: header.frame_id.clone(),
                x,
                y,
            })?;
        Ok(RaDec {
            ra_rad: ra.to_radians(),
            dec_rad: dec.to_radians(),
        })
    };
    let scale_deg = wcs.scale_deg();
    Ok(StreakMeasurement {
        // Frame ids are file stems: unique per sensor, not across sensors.
        id: format!("{}/{}/s{index}", header.sensor_id, header.frame_id),
        frame_id: header.frame_id.clone(),
        sensor_id: header.sensor_id.clone(),
        site: Site {
            lat_deg: site.lat_deg,
            lon_deg: site.lon_deg,
            alt_km: site.alt_km,
        },
        start: header.start,
        end: header.end(),
        a: radec(streak.x1, streak.y1)?,
        b: radec(streak.x2, streak.y2)?,
        sigma_rad: (endpoint_sigma_px(streak) * scale_deg).to_radians(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kessler_ingest::{GeodeticSite, Wcs};
    use kessler_od::Epoch;

    #[test]
    fn endpoints_map_through_the_wcs_and_times_bracket_the_exposure() {
        let header = FrameHeader {
            frame_id: "f7".into(),
            sensor_id: "ogs".into(),
            start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0),
            exposure_s: 2.0,
            site: Some(GeodeticSite {
                lat_deg: 28.3,
                lon_deg: -16.5,
                alt_km: 2.4,
            }),
            wcs: Some(Wcs::tan_centred(200.0, 10.0, 255.5, 255.5, 0.004, 0.0)),
            radar: None,
            instrument: None,
        };
        let streak = Streak {
            x1: 255.5,
            y1: 255.5,
            x2: 355.5,
            y2: 255.5,
            snr: 20.0,
            flux: 1.0,
            width_px: 2.8,
            detection_snr: 0.0,
            sigma_along_px: 2.0,
            sigma_cross_px: 0.5,
        };
        let m = streak_measurement(&header, &streak, 3).unwrap();
        assert_eq!(m.id, "ogs/f7/s3");
        assert!(
            (m.a.ra_rad.to_degrees() - 200.0).abs() < 1e-9
                && (m.a.dec_rad.to_degrees() - 10.0).abs() < 1e-9
        );
        assert!(
            m.b.ra_rad.to_degrees() < 200.0,
            "east is left, so +x is lower RA"
        );
        assert_eq!((m.end - m.start).to_seconds(), 2.0);
        assert!((m.sigma_rad.to_degrees() - 0.008).abs() < 1e-12); // the along-line 2 px
        let no_wcs = FrameHeader {
            wcs: None,
            ..header
        };
        assert_eq!(
            streak_measurement(&no_wcs, &streak, 0),
            Err(MeasureError::NoWcs("f7".into()))
        );
    }
}
