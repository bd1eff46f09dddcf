//! CCSDS Tracking Data Messages in keyword = value notation (TDM KVN, CCSDS 503.0-B-2), read into tracking
//! measurements for the orbit fit.
//!
//! What is read: the header (`CCSDS_TDM_VERS` first), any number of `META_START`..`META_STOP` /
//! `DATA_START`..`DATA_STOP` segment pairs, `COMMENT` lines anywhere. Metadata used: `TIME_SYSTEM` (UTC, TAI, TT or
//! GPS), `PARTICIPANT_1` (the station, looked up by name), `ANGLE_TYPE` (`RADEC` or `AZEL`), `RANGE_UNITS` (ranges are used in `km`
//! only; in other units they are counted as unused), `CORRECTION_ANGLE_1`, `CORRECTION_ANGLE_2`, `CORRECTION_RANGE`, `CORRECTION_DOPPLER` and
//! `CORRECTIONS_APPLIED` (corrections are added to the data when it says `NO`, as the standard defines them).
//! Data used: `ANGLE_1`, `ANGLE_2` (deg), `RANGE` (km, taken as the one-way distance whatever the `PATH`) and
//! `DOPPLER_INSTANTANEOUS` (range rate, km/s). Other data keywords are counted, not used.
//!
//! `ANGLE_1`/`ANGLE_2` of one epoch make one angle pair: right ascension and declination (the frame named by
//! `REFERENCE_FRAME`, taken as GCRF) or azimuth and elevation. Every error names the file and line.

use std::collections::BTreeMap;

use hifitime::{Epoch, TimeScale};
use kessler_od::{AzEl, Measured, RaDec, Site, TrackingObservation};

/// A TDM that does not read, with where.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {problem}")]
pub struct TdmError {
    pub path: String,
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    pub problem: String,
}

/// Angle pair of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AngleType {
    /// Right ascension, declination.
    RaDec,
    /// Azimuth, elevation.
    AzEl,
}

/// One data line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The data keyword (`ANGLE_1`, `RANGE`, ...).
    pub keyword: String,
    pub epoch: Epoch,
    /// The value in the TDM's units (deg, km, km/s), corrections applied.
    pub value: f64,
    /// Line in the file, 1-based.
    pub line: usize,
}

/// One metadata + data segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// `PARTICIPANT_1`: the station.
    pub station: String,
    pub angle_type: Option<AngleType>,
    /// The records used, in file order.
    pub records: Vec<Record>,
    /// Data keywords present but not used, with their counts.
    pub unused: BTreeMap<String, usize>,
    /// Line of `META_START`.
    pub line: usize,
}

/// A parsed TDM.
#[derive(Debug, Clone, PartialEq)]
pub struct Tdm {
    pub segments: Vec<Segment>,
}

/// Measurement sigmas of a station, used to weight its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StationNoise {
    /// Angles (azimuth, elevation or RA on the sky, declination), rad.
    pub angles_rad: [f64; 2],
    pub range_km: f64,
    pub range_rate_km_s: f64,
}

/// Metadata of a segment: keyword -> (line, value).
type MetaKeys = BTreeMap<String, (usize, String)>;

/// Data keywords that become measurements.
const USED: [&str; 4] = ["ANGLE_1", "ANGLE_2", "RANGE", "DOPPLER_INSTANTANEOUS"];

impl Tdm {
    /// Parses TDM KVN `text`; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Tdm, TdmError> {
        let err = |line: usize, problem: String| TdmError {
            path: path.to_string(),
            line,
            problem,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with("COMMENT"));
        match lines.next() {
            Some((_, l)) if l.split('=').next().map(str::trim) == Some("CCSDS_TDM_VERS") => {}
            Some((n, _)) => return Err(err(n, "the first keyword must be CCSDS_TDM_VERS".into())),
            None => return Err(err(0, "empty file".into())),
        }
        let mut segments = vec![];
        let mut meta: Option<(usize, MetaKeys)> = None;
        let mut data: Option<Segment> = None;
        let mut pending: Option<(usize, MetaKeys)> = None;
        // Time scale, corrections of the USED keywords, whether ranges are in km.
        let mut context = (TimeScale::UTC, [0.0; 4], true);
        for (n, line) in lines {
            match line {
                "META_START" => {
                    if meta.is_some() || data.is_some() {
                        return Err(err(n, "META_START inside another block".into()));
                    }
                    meta = Some((n, BTreeMap::new()));
                }
                "META_STOP" => {
                    let done = meta
                        .take()
                        .ok_or_else(|| err(n, "META_STOP without META_START".into()))?;
                    pending = Some(done);
                }
                "DATA_START" => {
                    let (start, keys) = pending.take().ok_or_else(|| {
                        err(n, "DATA_START without a metadata block before it".into())
                    })?;
                    let (segment, scale, corrections) = Self::segment(start, &keys, &err)?;
                    let range_km = keys.get("RANGE_UNITS").is_none_or(|(_, u)| u == "km");
                    context = (scale, corrections, range_km);
                    data = Some(segment);
                }
                "DATA_STOP" => {
                    let segment = data
                        .take()
                        .ok_or_else(|| err(n, "DATA_STOP without DATA_START".into()))?;
                    segments.push(segment);
                }
                _ => {
                    let (key, value) = line
                        .split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| {
                            err(n, format!("expected KEYWORD = value, found {line:?}"))
                        })?;
                    if let Some((_, keys)) = meta.as_mut() {
                        keys.insert(key, (n, value));
                    } else if let Some(segment) = data.as_mut() {
                        let used = USED.iter().position(|k| *k == key);
                        let Some(index) = used.filter(|_| key != "RANGE" || context.2) else {
                            *segment.unused.entry(key).or_default() += 1;
                            continue;
                        };
                        let mut parts = value.split_whitespace();
                        let (Some(time), Some(number), None) =
                            (parts.next(), parts.next(), parts.next())
                        else {
                            return Err(err(
                                n,
                                format!("{key}: expected an epoch and a value, found {value:?}"),
                            ));
                        };
                        let epoch = kessler_ingest::utc::parse_on(time, context.0)
                            .map_err(|_| err(n, format!("{key}: bad epoch {time:?}")))?;
                        let v: f64 = number
                            .parse()
                            .ok()
                            .filter(|v: &f64| v.is_finite())
                            .ok_or_else(|| err(n, format!("{key}: bad value {number:?}")))?;
                        segment.records.push(Record {
                            keyword: key,
                            epoch,
                            value: v + context.1[index],
                            line: n,
                        });
                    }
                    // Header keywords (CREATION_DATE, ORIGINATOR, ...) are not needed.
                }
            }
        }
        if meta.is_some() || data.is_some() || pending.is_some() {
            return Err(err(
                0,
                "the file ends inside a metadata or data block".into(),
            ));
        }
        if segments.is_empty() {
            return Err(err(0, "no data segment".into()));
        }
        Ok(Tdm { segments })
    }

    /// A segment from its metadata `keys` (keyword -> (line, value)); its time scale and the corrections to add to
    /// `USED` in order.
    fn segment(
        start: usize,
        keys: &MetaKeys,
        err: &impl Fn(usize, String) -> TdmError,
    ) -> Result<(Segment, TimeScale, [f64; 4]), TdmError> {
        let get = |k: &str| keys.get(k).map(|(n, v)| (*n, v.as_str()));
        let scale = match get("TIME_SYSTEM") {
            Some((_, "UTC")) => TimeScale::UTC,
            Some((_, "TAI")) => TimeScale::TAI,
            Some((_, "TT")) => TimeScale::TT,
            Some((_, "GPS")) => TimeScale::GPST,
            Some((n, other)) => {
                return Err(err(
                    n,
                    format!("TIME_SYSTEM {other} is not supported (UTC, TAI, TT, GPS)"),
                ));
            }
            None => return Err(err(start, "TIME_SYSTEM is missing".into())),
        };
        let station = get("PARTICIPANT_1")
            .ok_or_else(|| err(start, "PARTICIPANT_1 is missing".into()))?
            .1
            .to_string();
        let angle_type = match get("ANGLE_TYPE") {
            Some((_, "RADEC")) => Some(AngleType::RaDec),
            Some((_, "AZEL")) => Some(AngleType::AzEl),
            Some((n, other)) => {
                return Err(err(
                    n,
                    format!("ANGLE_TYPE {other} is not supported (RADEC, AZEL)"),
                ));
            }
            None => None,
        };
        let applied = match get("CORRECTIONS_APPLIED") {
            None | Some((_, "YES")) => true,
            Some((_, "NO")) => false,
            Some((n, other)) => {
                return Err(err(
                    n,
                    format!("CORRECTIONS_APPLIED must be YES or NO, not {other}"),
                ));
            }
        };
        let mut corrections = [0.0; 4];
        if !applied {
            for (c, key) in corrections.iter_mut().zip([
                "CORRECTION_ANGLE_1",
                "CORRECTION_ANGLE_2",
                "CORRECTION_RANGE",
                "CORRECTION_DOPPLER",
            ]) {
                if let Some((n, v)) = get(key) {
                    *c = v
                        .parse()
                        .map_err(|_| err(n, format!("{key}: bad value {v:?}")))?;
                }
            }
        }
        Ok((
            Segment {
                station,
                angle_type,
                records: vec![],
                unused: BTreeMap::new(),
                line: start,
            },
            scale,
            corrections,
        ))
    }

    /// The tracking measurements of every segment, time-ordered; `station(name)` gives the site and noise of a
    /// `PARTICIPANT_1` (`None`: unknown station, an error naming it). Angles without their partner at the same
    /// epoch, or in a segment without `ANGLE_TYPE`, are errors.
    pub fn observations(
        &self,
        path: &str,
        station: impl Fn(&str) -> Option<(Site, StationNoise)>,
    ) -> Result<Vec<TrackingObservation>, TdmError> {
        let err = |line: usize, problem: String| TdmError {
            path: path.to_string(),
            line,
            problem,
        };
        let mut out = vec![];
        for segment in &self.segments {
            let (site, noise) = station(&segment.station).ok_or_else(|| {
                err(
                    segment.line,
                    format!(
                        "station {:?} (PARTICIPANT_1) is not in the sites file",
                        segment.station
                    ),
                )
            })?;
            let mut angles: BTreeMap<Epoch, (Option<&Record>, Option<&Record>)> = BTreeMap::new();
            for r in &segment.records {
                let scalar = |measured| TrackingObservation {
                    epoch: r.epoch,
                    site,
                    measured,
                };
                match r.keyword.as_str() {
                    "ANGLE_1" => angles.entry(r.epoch).or_default().0 = Some(r),
                    "ANGLE_2" => angles.entry(r.epoch).or_default().1 = Some(r),
                    "RANGE" => out.push(scalar(Measured::Range {
                        range_km: r.value,
                        sigma_km: noise.range_km,
                    })),
                    _ => out.push(scalar(Measured::RangeRate {
                        range_rate_km_s: r.value,
                        sigma_km_s: noise.range_rate_km_s,
                    })),
                }
            }
            for (epoch, pair) in angles {
                let (a1, a2) = match pair {
                    (Some(a1), Some(a2)) => (a1.value.to_radians(), a2.value.to_radians()),
                    (Some(r), None) | (None, Some(r)) => {
                        return Err(err(
                            r.line,
                            format!("{} has no partner angle at the same epoch", r.keyword),
                        ));
                    }
                    (None, None) => unreachable!("an entry has at least one angle"),
                };
                let measured = match segment.angle_type {
                    Some(AngleType::AzEl) => Measured::AzEl {
                        azel: AzEl {
                            az_rad: a1.rem_euclid(std::f64::consts::TAU),
                            el_rad: a2,
                        },
                        sigma_rad: noise.angles_rad,
                    },
                    Some(AngleType::RaDec) => Measured::RaDec {
                        radec: RaDec {
                            ra_rad: a1.rem_euclid(std::f64::consts::TAU),
                            dec_rad: a2,
                        },
                        sigma_rad: noise.angles_rad,
                    },
                    None => {
                        return Err(err(
                            segment.line,
                            "angles given but ANGLE_TYPE is missing".into(),
                        ));
                    }
                };
                out.push(TrackingObservation {
                    epoch,
                    site,
                    measured,
                });
            }
        }
        out.sort_by_key(|o| o.epoch);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAENA: Site = Site {
        lat_deg: 21.572056,
        lon_deg: -158.266578,
        alt_km: 0.3002,
    };

    fn noise() -> StationNoise {
        StationNoise {
            angles_rad: [1e-4, 1e-4],
            range_km: 0.1,
            range_rate_km_s: 1e-3,
        }
    }

    #[test]
    fn reads_the_ccsds_range_example_and_names_bad_lines() {
        let path = "../../shared/reference/formats/TDMExample4.txt";
        let text = std::fs::read_to_string(path).expect("the CCSDS TDM sample");
        let tdm = Tdm::parse(path, &text).unwrap();
        // Its ranges are in range units (RU), which are not used.
        assert!(tdm.segments[0].records.is_empty());
        assert!(tdm.segments[0].unused["RANGE"] > 0);
        let bad = "CCSDS_TDM_VERS = 1.0\nMETA_START\nTIME_SYSTEM = UTC\nPARTICIPANT_1 = K\nMETA_STOP\nDATA_START\nRANGE = 2020-01-01T00:00:00 x\nDATA_STOP\n";
        let e = Tdm::parse("bad.tdm", bad).unwrap_err().to_string();
        assert!(e.starts_with("bad.tdm:7: RANGE: bad value"), "{e}");
    }

    #[test]
    fn pairs_angles_applies_corrections_and_reads_day_of_year() {
        let text = "CCSDS_TDM_VERS = 2.0\nMETA_START\nTIME_SYSTEM = UTC\nPARTICIPANT_1 = KAENA\nANGLE_TYPE = AZEL\n\
            CORRECTION_RANGE = -0.08\nCORRECTIONS_APPLIED = NO\nMETA_STOP\nDATA_START\n\
            COMMENT first pass\nRANGE = 1995-029T02:38:37.000 2047.502\nANGLE_1 = 1995-029T02:38:37 60.4991\n\
            ANGLE_2 = 1995-01-29T02:38:37 16.1932\nRECEIVE_FREQ_1 = 1995-029T02:38:37 1.0\nDATA_STOP\n";
        let tdm = Tdm::parse("k.tdm", text).unwrap();
        assert_eq!(tdm.segments[0].unused.get("RECEIVE_FREQ_1"), Some(&1));
        let obs = tdm
            .observations("k.tdm", |name| {
                (name == "KAENA").then_some((KAENA, noise()))
            })
            .unwrap();
        assert_eq!(obs.len(), 2);
        let t = Epoch::from_gregorian_utc(1995, 1, 29, 2, 38, 37, 0);
        assert!(obs.iter().all(|o| o.epoch == t));
        assert!(obs.iter().any(|o| matches!(o.measured,
            Measured::Range { range_km, .. } if range_km == 2047.502 - 0.08)));
        assert!(obs.iter().any(|o| matches!(o.measured, Measured::AzEl { azel: a, .. }
            if (a.az_rad.to_degrees() - 60.4991).abs() < 1e-12 && (a.el_rad.to_degrees() - 16.1932).abs() < 1e-12)));
        let e = tdm.observations("k.tdm", |_| None).unwrap_err().to_string();
        assert!(e.contains("station \"KAENA\""), "{e}");
    }
}
