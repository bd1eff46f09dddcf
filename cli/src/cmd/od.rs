//! `kessler od`: fit the tracking data of a CCSDS TDM and print the solution.
//!
//! The stations (`PARTICIPANT_1`) come from a sites file, TOML with one table per station:
//!
//! ```toml
//! [KAENA-POINT]
//! lat_deg = 21.572056     # geodetic WGS84, north positive
//! lon_deg = -158.266578   # east positive
//! alt_km = 0.3002         # above the ellipsoid
//! # Optional 1-sigma noise of the station's data (defaults below): ANGLE_1 and ANGLE_2 (azimuth and elevation,
//! # or right ascension on the sky and declination), range, range rate.
//! sigma_angle_1_deg = 0.0224
//! sigma_angle_2_deg = 0.0139
//! sigma_range_km = 0.0925
//! sigma_range_rate_km_s = 1e-4
//! ```
//!
//! The initial orbit is given (`--initial`, at the first observation) or found: from range + azimuth/elevation
//! pairs by Gibbs / Herrick-Gibbs, else from RA/Dec by Gauss. The solution is at the first observation's epoch.
//! Earth orientation parameters are zero (UT1 = UTC, no polar motion); the output says so.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use kessler_catalog::tdm::{StationNoise, Tdm};
use kessler_od::{
    FitConfig, IodError, Measured, OdError, OrbitSolution, Site, StateGcrf, TleHeader, TleSolution,
    TrackingObservation, fit_tle, fit_tracking, initial_orbit_from_tracking,
};
use serde::{Deserialize, Serialize};

use crate::args::OdArgs;

/// Default noise of a station's angles, deg (3.6 arcsec).
const DEFAULT_SIGMA_ANGLE_DEG: f64 = 0.001;
/// Default range noise, km.
const DEFAULT_SIGMA_RANGE_KM: f64 = 0.01;
/// Default range-rate noise, km/s.
const DEFAULT_SIGMA_RANGE_RATE_KM_S: f64 = 1e-4;

/// One station of the sites file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Station {
    lat_deg: f64,
    lon_deg: f64,
    alt_km: f64,
    #[serde(default)]
    sigma_angle_1_deg: Option<f64>,
    #[serde(default)]
    sigma_angle_2_deg: Option<f64>,
    #[serde(default)]
    sigma_range_km: Option<f64>,
    #[serde(default)]
    sigma_range_rate_km_s: Option<f64>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Oem,
    /// SGP4 mean elements fitted to the same observations, as an Orbit Mean-elements Message.
    Omm,
    /// The same element set as a TLE (name line and two lines).
    Tle,
}

/// The `--format json` object.
#[derive(Debug, Serialize)]
pub struct Solution {
    /// Solution epoch, UTC ISO.
    pub epoch: String,
    pub frame: &'static str,
    pub r_km: [f64; 3],
    pub v_km_s: [f64; 3],
    /// Covariance of `[r, v]`, km and km/s.
    pub covariance: [[f64; 6]; 6],
    /// Normalised RMS per measurement record, `sqrt(b^T W b / N)` over the `N` accepted records (all data of one
    /// station at one epoch: a range + az/el triple counts once), as Vallado (4th ed. sec. 10.4) reports it.
    pub rms: f64,
    /// Normalised RMS per scalar residual, `sqrt(b^T W b / m)` (1 when the residuals are as large as the sigmas say).
    pub rms_per_component: f64,
    pub chi_square: f64,
    pub iterations: usize,
    pub observations_used: usize,
    pub observations_rejected: usize,
    /// How the fit started: "given", "gibbs/herrick-gibbs (range + az/el)" or "gauss (RA/Dec)".
    pub initial_orbit: String,
    /// "zero (UT1 = UTC, no polar motion)", or the IERS file in use (`--eop`) and whether it covers every
    /// observation.
    pub earth_orientation: String,
    /// With `--estimate-biases`: one per station and measured component (measured = true + bias).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub biases: Vec<BiasReport>,
}

/// An estimated station bias in the `--format json` object.
#[derive(Debug, Serialize)]
pub struct BiasReport {
    pub station: String,
    /// `range_km`, `range_rate_km_s`, `azimuth_rad`, `elevation_rad`, `ra_rad` or `dec_rad`.
    pub component: String,
    pub value: f64,
    pub sigma: f64,
    pub measurements: usize,
}

/// Reads the sites file: station name -> site and noise.
fn read_sites(path: &Path) -> Result<BTreeMap<String, (Site, StationNoise)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stations: BTreeMap<String, Station> =
        toml::from_str(&text).with_context(|| format!("{}: not a sites file", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, s) in stations {
        let positive = |v: Option<f64>, default: f64, key: &str| -> Result<f64> {
            let v = v.unwrap_or(default);
            if !(v.is_finite() && v > 0.0) {
                bail!("{}: [{name}] {key} must be > 0", path.display());
            }
            Ok(v)
        };
        if !(-90.0..=90.0).contains(&s.lat_deg) || !s.lon_deg.is_finite() || !s.alt_km.is_finite() {
            bail!(
                "{}: [{name}] lat_deg must be in [-90, 90] and lon_deg, alt_km finite",
                path.display()
            );
        }
        let noise = StationNoise {
            angles_rad: [
                positive(
                    s.sigma_angle_1_deg,
                    DEFAULT_SIGMA_ANGLE_DEG,
                    "sigma_angle_1_deg",
                )?
                .to_radians(),
                positive(
                    s.sigma_angle_2_deg,
                    DEFAULT_SIGMA_ANGLE_DEG,
                    "sigma_angle_2_deg",
                )?
                .to_radians(),
            ],
            range_km: positive(s.sigma_range_km, DEFAULT_SIGMA_RANGE_KM, "sigma_range_km")?,
            range_rate_km_s: positive(
                s.sigma_range_rate_km_s,
                DEFAULT_SIGMA_RANGE_RATE_KM_S,
                "sigma_range_rate_km_s",
            )?,
        };
        let site = Site {
            lat_deg: s.lat_deg,
            lon_deg: s.lon_deg,
            alt_km: s.alt_km,
        };
        out.insert(name, (site, noise));
    }
    Ok(out)
}

/// Accepted measurement records: distinct (station, epoch) among the accepted observations.
fn records(obs: &[TrackingObservation], accepted: &[bool]) -> usize {
    let mut keys: Vec<(hifitime::Epoch, [u64; 3])> = obs
        .iter()
        .zip(accepted)
        .filter(|(_, a)| **a)
        .map(|(o, _)| {
            let s = o.site;
            (o.epoch, [s.lat_deg, s.lon_deg, s.alt_km].map(f64::to_bits))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.len().max(1)
}

/// Fits the TDM at `tdm` with the stations of `sites`; `initial` is `[r km, v km/s]` GCRF at the first observation;
/// `config` sets bias estimation and forces (its epoch is replaced by the first observation's).
pub fn fit_tdm(
    tdm: &Path,
    sites: &Path,
    initial: Option<[f64; 6]>,
    config: FitConfig,
) -> Result<(Solution, OrbitSolution, Vec<TrackingObservation>)> {
    let stations = read_sites(sites)?;
    let name = tdm.display().to_string();
    let text = std::fs::read_to_string(tdm).with_context(|| format!("reading {name}"))?;
    let parsed = Tdm::parse(&name, &text)?;
    for segment in &parsed.segments {
        for (keyword, count) in &segment.unused {
            eprintln!(
                "{name}: segment at line {}: {count} {keyword} record(s) not used",
                segment.line
            );
        }
    }
    let obs = parsed.observations(&name, |s| stations.get(s).copied())?;
    let Some(first) = obs.first().map(|o| o.epoch) else {
        bail!(
            "{name}: no measurements kessler uses (ANGLE_1/ANGLE_2, RANGE in km, DOPPLER_INSTANTANEOUS)"
        );
    };
    let (start, how) = match initial {
        Some(x) => (
            StateGcrf {
                epoch: first,
                r_km: [x[0], x[1], x[2]],
                v_km_s: [x[3], x[4], x[5]],
            },
            "given".to_string(),
        ),
        None => match initial_orbit_from_tracking(&obs) {
            Ok((state, method)) => (state, method.to_string()),
            Err(OdError::Iod(IodError::NoMethodFits)) => bail!(
                "no initial orbit: the file has neither three range + az/el epochs nor three RA/Dec; give --initial"
            ),
            Err(e) => return Err(e.into()),
        },
    };
    // The solution at the first observation; biases and forces as the caller set them.
    let config = FitConfig {
        epoch: Some(first),
        ..config
    };
    let fit = fit_tracking(&obs, &start, &config)?;
    let biases = fit
        .biases
        .iter()
        .map(|b| BiasReport {
            // Biases are grouped by site coordinates: the first station at them names the bias.
            station: stations
                .iter()
                .find(|(_, (site, _))| *site == b.site)
                .map_or_else(|| "?".into(), |(name, _)| name.clone()),
            component: b.component.clone(),
            value: b.value,
            sigma: b.sigma,
            measurements: b.measurements,
        })
        .collect();
    let s = &fit.state;
    Ok((
        Solution {
            epoch: kessler_ingest::utc::format(s.epoch, 3),
            frame: "GCRF",
            r_km: s.r_km,
            v_km_s: s.v_km_s,
            covariance: fit.covariance,
            rms: (fit.chi_square / records(&obs, &fit.accepted) as f64).sqrt(),
            rms_per_component: fit.normalized_rms,
            chi_square: fit.chi_square,
            iterations: fit.iterations,
            observations_used: fit.observations_used,
            observations_rejected: fit.observations_rejected,
            initial_orbit: how,
            earth_orientation: earth_orientation(&obs),
            biases,
        },
        fit,
        obs,
    ))
}

/// What the fit used for Earth orientation, for the JSON report.
fn earth_orientation(obs: &[TrackingObservation]) -> String {
    let Some(table) = kessler_od::eop::eop_table() else {
        return "zero (UT1 = UTC, no polar motion)".into();
    };
    let outside = obs
        .iter()
        .filter(|o| table.at_mjd(o.epoch.to_mjd_utc_days()).is_none())
        .count();
    let (first, last) = table.span_mjd();
    if outside == 0 {
        format!(
            "{} (MJD {first}-{last}): UT1-UTC and polar motion",
            table.source
        )
    } else {
        format!(
            "{} (MJD {first}-{last}): UT1-UTC and polar motion; zero for {outside} of {} observations outside it",
            table.source,
            obs.len()
        )
    }
}

/// SGP4 mean elements fitted to `obs` from the numerical `fit` ([`fit_tle`], epoch the middle observation, station
/// biases as `config` says), for `--format omm|tle`; B* is zero (one tracking arc does not determine drag).
pub fn mean_elements(
    obs: &[TrackingObservation],
    fit: &OrbitSolution,
    norad_id: u64,
    name: &str,
    config: &FitConfig,
) -> Result<TleSolution> {
    let header = TleHeader {
        norad_id,
        name: Some(name.to_string()),
        international_designator: None,
        bstar: 0.0,
        mean_motion_dot: 0.0,
        mean_motion_ddot: 0.0,
    };
    let solution = fit_tle(
        obs,
        &fit.state,
        &header,
        &FitConfig {
            epoch: None,
            ..*config
        },
    )?;
    eprintln!(
        "SGP4 mean elements: {} iterations, normalised rms {:.3} ({:.3} for the numerical fit), {} rejected",
        solution.iterations,
        solution.normalized_rms,
        fit.normalized_rms,
        solution.observations_rejected
    );
    Ok(solution)
}

/// `kessler bench-od`: median wall time of [`fit_tracking`] on one pass of a LEO object (NORAD 28057 from
/// 2006-06-26 21:00 UTC, propagated with the fit's own model) seen from the ESA OGS on Tenerife: `observations`
/// RA/Dec evenly over the part above 20 deg, 1 arcsec noise, the fit started 2 km and 2 m/s off. One thread.
#[derive(Debug, Serialize)]
pub struct FitSpeed {
    pub fits: usize,
    pub observations: usize,
    /// Length of the observed arc, s.
    pub arc_s: f64,
    pub median_ms: f64,
    pub fits_per_s: f64,
    /// Normalised RMS of the last fit (about 1 for unit-sigma noise).
    pub rms_per_component: f64,
}

/// Runs the fit-speed benchmark (see [`FitSpeed`]).
pub fn fit_speed(fits: usize, observations: usize) -> Result<FitSpeed> {
    use kessler_od::measurement::look;
    use kessler_od::{Duration, Epoch, RaDec, Tle, propagate, propagate_many};
    let site = Site {
        lat_deg: 28.2995,
        lon_deg: -16.5120,
        alt_km: 2.393,
    };
    let tle = Tle::parse(
        None,
        "1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836",
        "2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550",
    )?;
    let truth = tle.state_gcrf(Epoch::from_gregorian_utc_hms(2006, 6, 26, 21, 0, 0))?;
    // The first pass above 20 deg, from a 20 s scan of 24 h.
    let scan: Vec<Epoch> = (0..4320)
        .map(|k| truth.epoch + Duration::from_seconds(20.0 * f64::from(k)))
        .collect();
    let up: Vec<Epoch> = propagate_many(&truth, &scan)?
        .iter()
        .filter(|s| look(&site, s).azel.el_rad > 20f64.to_radians())
        .map(|s| s.epoch)
        .collect();
    let (Some(&first), Some(_)) = (up.first(), up.get(1)) else {
        bail!("no pass above 20 deg in 24 h");
    };
    let last = up
        .iter()
        .copied()
        .take_while(|t| (*t - first).to_seconds() < 1800.0)
        .last()
        .unwrap_or(first);
    let mut noise = {
        // A fixed LCG through Box-Muller: the benchmark needs reproducible, not strong, randomness.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        move || {
            let mut u = || {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            };
            (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos()
        }
    };
    let arcsec = std::f64::consts::PI / 648_000.0;
    let obs: Vec<TrackingObservation> = (0..observations)
        .map(|i| {
            let t = first + (last - first) * (i as f64 / (observations.max(2) - 1) as f64);
            let r = look(&site, &propagate(&truth, t)?).radec;
            Ok(TrackingObservation {
                epoch: t,
                site,
                measured: Measured::RaDec {
                    radec: RaDec {
                        ra_rad: r.ra_rad + noise() * arcsec / r.dec_rad.cos(),
                        dec_rad: r.dec_rad + noise() * arcsec,
                    },
                    sigma_rad: [arcsec; 2],
                },
            })
        })
        .collect::<Result<_>>()?;
    let mut start = propagate(&truth, first)?;
    start.r_km[0] += 2.0;
    start.v_km_s[1] += 0.002;
    let config = FitConfig {
        epoch: Some(first),
        ..FitConfig::default()
    };
    let mut ms = vec![];
    let mut rms = f64::NAN;
    for _ in 0..fits.max(1) {
        let started = std::time::Instant::now();
        rms = fit_tracking(&obs, &start, &config)?.normalized_rms;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let median_ms = ms[ms.len() / 2];
    Ok(FitSpeed {
        fits: ms.len(),
        observations,
        arc_s: (last - first).to_seconds(),
        median_ms,
        fits_per_s: 1000.0 / median_ms,
        rms_per_component: rms,
    })
}

/// Run `kessler od`: fit, then print the solution in the format asked for.
pub fn run(args: OdArgs) -> Result<()> {
    super::load_eop(args.eop.as_deref())?;
    if let Some(b) = args.drag_m2_kg
        && !(b.is_finite() && b > 0.0)
    {
        bail!("--drag-m2-kg must be a positive number, got {b}");
    }
    let config = FitConfig {
        estimate_biases: args.estimate_biases,
        forces: kessler_od::Forces {
            drag: args
                .drag_m2_kg
                .map(|ballistic_m2_kg| kessler_od::Drag { ballistic_m2_kg }),
        },
        ..FitConfig::default()
    };
    let initial = match args.initial {
        Some(v) if v.len() != 6 => bail!("--initial takes 6 numbers, {} given", v.len()),
        Some(v) => Some(std::array::from_fn(|i| v[i])),
        None => None,
    };
    let (solution, fit, obs) = fit_tdm(&args.tdm, &args.sites, initial, config)?;
    let object = &args.object;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&solution)?),
        Format::Oem => print!(
            "{}",
            kessler_catalog::oem::write_oem(object, object, &fit, hifitime::Epoch::now()?)
        ),
        Format::Omm => {
            let elements = mean_elements(&obs, &fit, args.norad, object, &config)?;
            print!(
                "{}",
                kessler_catalog::omm::write_omm(
                    &elements.tle,
                    Some((&elements.covariance, "GCRF")),
                    hifitime::Epoch::now()?
                )
            );
        }
        Format::Tle => {
            let elements = mean_elements(&obs, &fit, args.norad, object, &config)?;
            let [l1, l2] = elements.tle.to_lines();
            println!("{object}\n{l1}\n{l2}");
        }
    }
    Ok(())
}
