//! A simulated night of one optical telescope observing real objects.
//!
//! The objects are given as TLEs and propagated with SGP4 (TEME, converted to GCRF); the telescope, at a fixed
//! WGS84 site, visits each object a few times during the night while it stands above the elevation limit (tasked
//! follow-up: it points at the object's predicted place, with a random pointing error, and sets the exposure so the
//! streak is about [`Scenario::streak_length_px`] long). Each visit is a burst of consecutive frames. Every frame is
//! rendered with sky, Poisson-like noise, read noise, stars, hot pixels and cosmic rays, and the object's streak
//! drawn from its true topocentric RA/Dec (light-time corrected, [`kessler_od::topocentric_radec`]) through the
//! frame's TAN WCS. A few frames without an object test false alarms.
//!
//! Simplifications (said here so nobody reads more into the data): no illumination model (an object is bright
//! whenever it is above the elevation limit, whatever the Sun), no atmosphere (refraction, extinction), no aberration,
//! random stars instead of a star catalogue, Gaussian noise with the Poisson variance.
//!
//! ```no_run
//! let scenario = kessler_sim::Scenario::default();
//! let night = kessler_sim::simulate(&scenario, None, 7).unwrap();
//! kessler_sim::write_dataset(std::path::Path::new("night"), &scenario, &night).unwrap();
//! ```

mod radar;
mod streaks;

use std::path::Path;

pub use radar::{RadarScenario, simulate_radar};
pub use streaks::{SimStreak, simulate_streaks};

use kessler_ingest::dataset::{TruthRow, write_truth};
use kessler_ingest::{Frame, FrameHeader, GeodeticSite, Wcs, fits};
use kessler_od::propagator::MU_KM3_S2;
use kessler_od::{
    Duration, Epoch, Site, StateGcrf, Tle, frames::itrf_to_gcrf_matrix, topocentric_radec,
};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// The embedded default objects: real TLEs from the Vallado SGP4 verification set (CBERS 2 and DELTA 1 DEB in LEO,
/// NAVSTAR 53 in MEO).
pub const DEFAULT_TLES: &str = include_str!("objects.tle");

/// Why a night could not be simulated or written.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("TLE set, entry {index}: {message}")]
    Tle { index: usize, message: String },
    #[error("object {norad}: SGP4 failed at {at}: {message}")]
    Propagation {
        norad: u64,
        at: String,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fits(#[from] fits::FitsError),
}

/// The night to simulate: site, optics, schedule and image model.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub sensor_id: String,
    pub site: GeodeticSite,
    /// Start of the night, UTC.
    pub night_start: Epoch,
    /// Length of the night, hours.
    pub night_hours: f64,
    /// Lowest elevation the telescope observes at, degrees.
    pub min_elevation_deg: f64,
    /// Frame size, pixels.
    pub width: u32,
    pub height: u32,
    /// Pixel scale, degrees per pixel.
    pub scale_deg: f64,
    /// Gaussian PSF sigma, pixels.
    pub psf_sigma_px: f64,
    /// Sky level and read noise, ADU (gain 1 e-/ADU).
    pub sky_adu: f64,
    pub read_noise_adu: f64,
    /// Stars per frame (random positions, power-law fluxes), hot pixels and cosmic-ray hits per frame.
    pub stars: usize,
    pub hot_pixels: usize,
    pub cosmic_rays: usize,
    /// Wanted streak length, pixels: sets each frame's exposure (clamped to 0.5-90 s).
    pub streak_length_px: f64,
    /// Visits per object, frames per visit, and the frame cadence in a visit for LEO and higher orbits, s.
    pub visits_per_object: usize,
    pub frames_per_visit: usize,
    pub leo_cadence_s: f64,
    pub high_cadence_s: f64,
    /// Largest pointing error, degrees (uniform in a square).
    pub pointing_error_deg: f64,
    /// Range of streak matched-filter S/N (uniform per object).
    pub snr_range: (f64, f64),
    /// Frames without any object (false-alarm checks), spread over the night.
    pub empty_frames: usize,
    /// Objects as TLE text (name line optional).
    pub tles: String,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            sensor_id: "ogs-tenerife".into(),
            // ESA Optical Ground Station, Observatorio del Teide.
            site: GeodeticSite {
                lat_deg: 28.2995,
                lon_deg: -16.5120,
                alt_km: 2.393,
            },
            night_start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 21, 0, 0),
            night_hours: 8.0,
            min_elevation_deg: 20.0,
            width: 512,
            height: 512,
            scale_deg: 0.004,
            psf_sigma_px: 1.2,
            sky_adu: 1000.0,
            read_noise_adu: 8.0,
            stars: 80,
            hot_pixels: 20,
            cosmic_rays: 6,
            streak_length_px: 200.0,
            visits_per_object: 3,
            frames_per_visit: 4,
            leo_cadence_s: 10.0,
            high_cadence_s: 120.0,
            pointing_error_deg: 0.25,
            snr_range: (40.0, 90.0),
            empty_frames: 3,
            tles: DEFAULT_TLES.into(),
        }
    }
}

/// The simulated night: frames in time order, the true streaks, and the objects.
pub struct Night {
    pub frames: Vec<Frame>,
    pub truth: Vec<TruthRow>,
    pub objects: Vec<Tle>,
}

/// Parse TLE text: optional name lines followed by line 1 and line 2.
pub fn parse_tles(text: &str) -> Result<Vec<Tle>, SimError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let name = if lines[i].starts_with("1 ") {
            None
        } else {
            Some(lines[i].trim())
        };
        let at = i + usize::from(name.is_some());
        let (Some(l1), Some(l2)) = (lines.get(at), lines.get(at + 1)) else {
            return Err(SimError::Tle {
                index: out.len(),
                message: format!("incomplete TLE at line {}", i + 1),
            });
        };
        out.push(Tle::parse(name, l1, l2).map_err(|e| SimError::Tle {
            index: out.len(),
            message: e.to_string(),
        })?);
        i = at + 2;
    }
    Ok(out)
}

fn site_of(g: &GeodeticSite) -> Site {
    Site {
        lat_deg: g.lat_deg,
        lon_deg: g.lon_deg,
        alt_km: g.alt_km,
    }
}

/// The objects as the telescope at `site` sees them; `ahead_s` lists those whose truth runs ahead of their elements
/// (NORAD number, seconds).
fn targets<'a>(objects: &'a [Tle], site: Site, ahead_s: &[(u64, f64)]) -> Vec<Target<'a>> {
    objects
        .iter()
        .map(|tle| Target {
            tle,
            site,
            ahead: Duration::from_seconds(
                ahead_s
                    .iter()
                    .find(|(norad, _)| *norad == tle.norad_id())
                    .map_or(0.0, |(_, s)| *s),
            ),
        })
        .collect()
}

/// The object as the telescope sees it.
struct Target<'a> {
    tle: &'a Tle,
    site: Site,
    /// The true object runs this much ahead of its elements (an in-track error of the element set): its position
    /// at `t` is the elements' at `t + ahead`.
    ahead: Duration,
}

impl Target<'_> {
    /// The object's GCRF position and velocity at `t` (SGP4), its failure named with the object and time.
    fn state(&self, t: Epoch) -> Result<StateGcrf, SimError> {
        self.tle
            .state_gcrf(t + self.ahead)
            .map_err(|e| SimError::Propagation {
                norad: self.tle.norad_id(),
                at: t.to_string(),
                message: e.to_string(),
            })
    }

    fn radec_deg(&self, t: Epoch) -> Result<(f64, f64), SimError> {
        // The light-time iteration asks for positions through an infallible closure: keep the first SGP4 failure
        // and report it afterwards, rather than propagating every instant twice to check first.
        let failure = std::cell::RefCell::new(None);
        let rd = topocentric_radec(&self.site, t, |te| match self.state(te) {
            Ok(s) => s.r_km,
            Err(e) => {
                failure.borrow_mut().get_or_insert(e);
                [0.0; 3]
            }
        });
        match failure.into_inner() {
            Some(e) => Err(e),
            None => Ok((rd.ra_rad.to_degrees(), rd.dec_rad.to_degrees())),
        }
    }

    /// Elevation above the local horizon (geodetic up), degrees.
    fn elevation_deg(&self, t: Epoch) -> Result<f64, SimError> {
        let r = self.state(t)?;
        let s = self.site.gcrf_km(t);
        let (lat, lon) = (
            self.site.lat_deg.to_radians(),
            self.site.lon_deg.to_radians(),
        );
        let up_itrf = [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()];
        let m = itrf_to_gcrf_matrix(t);
        let up: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| m[i][j] * up_itrf[j]).sum())
            .collect();
        let rho: Vec<f64> = (0..3).map(|i| r.r_km[i] - s[i]).collect();
        let norm = rho.iter().map(|x| x * x).sum::<f64>().sqrt();
        Ok(
            (rho.iter().zip(&up).map(|(a, b)| a * b).sum::<f64>() / norm)
                .asin()
                .to_degrees(),
        )
    }

    /// Osculating orbital period, minutes (vis-viva, Vallado eq. 1-31, and Kepler's third law).
    fn period_min(&self, t: Epoch) -> Result<f64, SimError> {
        let s = self.state(t)?;
        let r = s.r_km.iter().map(|x| x * x).sum::<f64>().sqrt();
        let v2 = s.v_km_s.iter().map(|x| x * x).sum::<f64>();
        let a = 1.0 / (2.0 / r - v2 / MU_KM3_S2);
        Ok(std::f64::consts::TAU * (a.powi(3) / MU_KM3_S2).sqrt() / 60.0)
    }

    /// Angular rate on the sky, degrees per second (over one second).
    fn rate_deg_s(&self, t: Epoch) -> Result<f64, SimError> {
        let (a1, d1) = self.radec_deg(t)?;
        let (a2, d2) = self.radec_deg(t + Duration::from_seconds(1.0))?;
        Ok(angular_distance_deg(a1, d1, a2, d2))
    }
}

fn angular_distance_deg(a1: f64, d1: f64, a2: f64, d2: f64) -> f64 {
    let (a1, d1, a2, d2) = (
        a1.to_radians(),
        d1.to_radians(),
        a2.to_radians(),
        d2.to_radians(),
    );
    let c = d1.sin() * d2.sin() + d1.cos() * d2.cos() * (a1 - a2).cos();
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

/// A planned burst of frames on one object (or on empty sky when `object` is None).
struct Visit {
    object: Option<usize>,
    start: Epoch,
    cadence_s: f64,
    frames: usize,
}

impl Visit {
    fn end(&self) -> Epoch {
        self.start + Duration::from_seconds(self.cadence_s * self.frames as f64 + 30.0)
    }
}

fn plan_visits(scenario: &Scenario, targets: &[Target]) -> Result<Vec<Visit>, SimError> {
    let step = 10.0;
    let steps = (scenario.night_hours * 3600.0 / step) as usize;
    let mut visits: Vec<Visit> = vec![];
    let overlaps = |visits: &[Visit], v: &Visit| {
        visits
            .iter()
            .any(|o| v.start < o.end() && o.start < v.end())
    };
    for (k, target) in targets.iter().enumerate() {
        let period_min = target.period_min(scenario.night_start)?;
        let cadence_s = if period_min < 225.0 {
            scenario.leo_cadence_s
        } else {
            scenario.high_cadence_s
        };
        let mut visible = vec![];
        for i in 0..steps {
            let t = scenario.night_start + Duration::from_seconds(i as f64 * step);
            let t_end = t + Duration::from_seconds(cadence_s * scenario.frames_per_visit as f64);
            if target.elevation_deg(t)? > scenario.min_elevation_deg
                && target.elevation_deg(t_end)? > scenario.min_elevation_deg
            {
                visible.push(t);
            }
        }
        let n = scenario.visits_per_object;
        for j in 0..n.min(visible.len()) {
            // Spread the visits over the object's visible times; move to the nearest free time when busy.
            let want = ((j as f64 + 0.5) / n as f64 * visible.len() as f64) as usize;
            let order = (0..visible.len()).map(|d| {
                if d % 2 == 0 {
                    want + d / 2
                } else {
                    want.wrapping_sub(d / 2 + 1)
                }
            });
            for idx in order.filter(|&i| i < visible.len()) {
                let v = Visit {
                    object: Some(k),
                    start: visible[idx],
                    cadence_s,
                    frames: scenario.frames_per_visit,
                };
                if !overlaps(&visits, &v) {
                    visits.push(v);
                    break;
                }
            }
        }
    }
    for j in 0..scenario.empty_frames {
        let mut start = scenario.night_start
            + Duration::from_seconds(
                (j as f64 + 0.5) / scenario.empty_frames as f64 * scenario.night_hours * 3600.0,
            );
        let mut v = Visit {
            object: None,
            start,
            cadence_s: 10.0,
            frames: 1,
        };
        while overlaps(&visits, &v) {
            start += Duration::from_seconds(60.0);
            v.start = start;
        }
        visits.push(v);
    }
    visits.sort_by_key(|v| v.start);
    Ok(visits)
}

/// Simulate the night: every frame of every visit in time order, at most `max_frames` of them.
pub fn simulate(
    scenario: &Scenario,
    max_frames: Option<usize>,
    seed: u64,
) -> Result<Night, SimError> {
    let objects = parse_tles(&scenario.tles)?;
    let site = site_of(&scenario.site);
    let targets = targets(&objects, site, &[]);
    let visits = plan_visits(scenario, &targets)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let snr: Vec<f64> = targets
        .iter()
        .map(|_| rng.random_range(scenario.snr_range.0..=scenario.snr_range.1))
        .collect();
    let mut frames = vec![];
    let mut truth = vec![];
    'visits: for visit in &visits {
        for i in 0..visit.frames {
            if max_frames.is_some_and(|m| frames.len() >= m) {
                break 'visits;
            }
            let start = visit.start + Duration::from_seconds(visit.cadence_s * i as f64);
            let frame_id = format!("{}-{:04}", scenario.sensor_id, frames.len() + 1);
            let (frame, streak) = match visit.object {
                Some(k) => {
                    let target = &targets[k];
                    let rate = target.rate_deg_s(start)?;
                    let exposure_s =
                        (scenario.streak_length_px * scenario.scale_deg / rate).clamp(0.5, 90.0);
                    let mid = start + Duration::from_seconds(exposure_s / 2.0);
                    let (ra, dec) = target.radec_deg(mid)?;
                    let e = scenario.pointing_error_deg;
                    let (dra, ddec) = (rng.random_range(-e..=e), rng.random_range(-e..=e));
                    let pointing = (ra + dra / dec.to_radians().cos(), dec + ddec);
                    render(
                        scenario,
                        &mut rng,
                        frame_id,
                        start,
                        exposure_s,
                        pointing,
                        Some((target, snr[k])),
                    )?
                }
                None => {
                    let pointing = (rng.random_range(0.0..360.0), rng.random_range(-20.0..60.0));
                    render(scenario, &mut rng, frame_id, start, 10.0, pointing, None)?
                }
            };
            truth.extend(streak);
            frames.push(frame);
        }
    }
    Ok(Night {
        frames,
        truth,
        objects,
    })
}

/// Draw one frame; returns it and the truth of its streak, if any.
fn render(
    scenario: &Scenario,
    rng: &mut StdRng,
    frame_id: String,
    start: Epoch,
    exposure_s: f64,
    pointing_deg: (f64, f64),
    target: Option<(&Target, f64)>,
) -> Result<(Frame, Option<TruthRow>), SimError> {
    let (w, h) = (scenario.width as usize, scenario.height as usize);
    let rotation = rng.random_range(-180.0..180.0);
    let wcs = Wcs::tan_centred(
        pointing_deg.0,
        pointing_deg.1,
        (w as f64 - 1.0) / 2.0,
        (h as f64 - 1.0) / 2.0,
        scenario.scale_deg,
        rotation,
    );
    let mut signal = Array2::zeros((h, w));
    add_stars(scenario, rng, &mut signal);
    let mut streak = None;
    if let Some((target, snr)) = target {
        let t_end = start + Duration::from_seconds(exposure_s);
        let p1 = target.radec_deg(start)?;
        let p2 = target.radec_deg(t_end)?;
        let (x1, y1) = wcs
            .world_to_pixel(p1.0, p1.1)
            .expect("the object is near the pointing");
        let (x2, y2) = wcs
            .world_to_pixel(p2.0, p2.1)
            .expect("the object is near the pointing");
        let length = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
        draw_streak(scenario.optics(), &mut signal, snr, length, |fraction| {
            let (ra, dec) =
                target.radec_deg(start + Duration::from_seconds(exposure_s * fraction))?;
            Ok(wcs
                .world_to_pixel(ra, dec)
                .expect("the object is near the pointing"))
        })?;
        streak = Some(TruthRow {
            frame: frame_id.clone(),
            x1,
            y1,
            x2,
            y2,
            snr,
            object_id: target.tle.norad_id().to_string(),
        });
    }
    let pixels = expose(scenario, rng, &signal);
    let header = FrameHeader {
        frame_id,
        sensor_id: scenario.sensor_id.clone(),
        start,
        exposure_s,
        site: Some(scenario.site),
        wcs: Some(wcs),
        radar: None,
        instrument: None,
    };
    Ok((Frame { header, pixels }, streak))
}

/// Add the frame's random stars to `signal` (ADU): power-law fluxes, a few bright (some saturated) among many faint.
fn add_stars(scenario: &Scenario, rng: &mut StdRng, signal: &mut Array2<f64>) {
    let (h, w) = signal.dim();
    for _ in 0..scenario.stars {
        let flux = 2_000.0 * rng.random_range(0.02f64..1.0).powf(-1.5);
        let (x, y) = (
            rng.random_range(0.0..w as f64),
            rng.random_range(0.0..h as f64),
        );
        deposit(signal, x, y, flux, scenario.psf_sigma_px);
    }
}

/// What drawing a streak needs of an image besides its pixels: the PSF and the noise that sets the S/N.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Optics {
    /// Gaussian PSF sigma, px.
    pub(crate) psf_sigma_px: f64,
    /// Noise per pixel, ADU.
    pub(crate) noise_adu: f64,
}

impl Scenario {
    /// The scenario with square frames of `side` px, as many stars, hot pixels and cosmic rays
    /// per unit area as its own frames have.
    pub fn with_side(self, side: u32) -> Scenario {
        let scale = |n: usize| {
            let area = f64::from(side).powi(2) / (f64::from(self.width) * f64::from(self.height));
            (n as f64 * area).round() as usize
        };
        Scenario {
            stars: scale(self.stars),
            hot_pixels: scale(self.hot_pixels),
            cosmic_rays: scale(self.cosmic_rays),
            width: side,
            height: side,
            ..self
        }
    }

    /// The telescope's optics: sky and read noise per pixel (gain 1 e-/ADU).
    fn optics(&self) -> Optics {
        Optics {
            psf_sigma_px: self.psf_sigma_px,
            noise_adu: (self.sky_adu + self.read_noise_adu.powi(2)).sqrt(),
        }
    }
}

/// Flux per pixel of length (ADU) of a uniform streak of `length_px` whose matched-filter S/N is `snr`.
///
/// For a line with a Gaussian cross profile of width sigma_psf in white noise sigma_n, the matched filter gives
/// S/N^2 = L f^2 / (sigma_n^2 2 sqrt(pi) sigma_psf) (the integral of the squared unit-area profile is
/// 1 / (2 sqrt(pi) sigma_psf)); solved for f.
fn line_flux_adu_per_px(optics: Optics, snr: f64, length_px: f64) -> f64 {
    snr * optics.noise_adu * (2.0 * std::f64::consts::PI.sqrt() * optics.psf_sigma_px).sqrt()
        / length_px.sqrt()
}

/// Draw a streak of matched-filter S/N `snr` and length `length_px` into `signal`: the PSF deposited at 4 samples
/// per pixel of length, at the positions `at(fraction of the exposure)` gives (pixels, 0-based).
pub(crate) fn draw_streak(
    optics: Optics,
    signal: &mut Array2<f64>,
    snr: f64,
    length_px: f64,
    mut at: impl FnMut(f64) -> Result<(f64, f64), SimError>,
) -> Result<(), SimError> {
    let samples = (length_px * 4.0).ceil() as usize;
    let flux_per_sample = line_flux_adu_per_px(optics, snr, length_px) * length_px / samples as f64;
    for k in 0..samples {
        let (x, y) = at((k as f64 + 0.5) / samples as f64)?;
        deposit(signal, x, y, flux_per_sample, optics.psf_sigma_px);
    }
    Ok(())
}

/// Draw a straight streak from `(x1, y1)` to `(x2, y2)` (`ends`, pixels) of matched-filter S/N `snr` into
/// `signal`, and return its truth row: `row` (frame and object id) with the ends and the S/N filled in.
pub(crate) fn straight_streak(
    optics: Optics,
    signal: &mut Array2<f64>,
    [x1, y1, x2, y2]: [f64; 4],
    snr: f64,
    row: TruthRow,
) -> TruthRow {
    let length = (x2 - x1).hypot(y2 - y1);
    draw_streak(optics, signal, snr, length, |t| {
        Ok((x1 + t * (x2 - x1), y1 + t * (y2 - y1)))
    })
    .expect("a straight line always draws");
    TruthRow {
        x1,
        y1,
        x2,
        y2,
        snr,
        ..row
    }
}

/// Turn the signal (ADU above the sky) into recorded counts: sky, Poisson-like and read noise, hot pixels and
/// cosmic rays, rounded and clipped to 16 bits.
fn expose(scenario: &Scenario, rng: &mut StdRng, signal: &Array2<f64>) -> Array2<f32> {
    let read = Normal::new(0.0, scenario.read_noise_adu).expect("positive read noise");
    let (h, w) = signal.dim();
    // Noise drawn pixel by pixel in row-major order (`iter`), so that a seed gives the frames it always gave.
    let noisy = signal
        .iter()
        .map(|&s| {
            let mean = scenario.sky_adu + s;
            let v = mean
                + mean.sqrt() * rng.sample::<f64, _>(rand_distr::StandardNormal)
                + read.sample(rng);
            v.round().clamp(0.0, 65535.0) as f32
        })
        .collect();
    let mut pixels = Array2::from_shape_vec((h, w), noisy).expect("one value per signal pixel");
    for _ in 0..scenario.hot_pixels {
        // One uniform draw over every pixel (row-major), as the frames of a seed always had it.
        let i = rng.random_range(0..w * h);
        let flat = pixels
            .as_slice_mut()
            .expect("from_shape_vec gives the standard layout");
        flat[i] = rng.random_range(20_000.0..65_535.0f32).round();
    }
    for _ in 0..scenario.cosmic_rays {
        // A short sharp track of a few pixels, unconvolved by the PSF.
        let (mut x, mut y) = (
            rng.random_range(0.0..w as f64),
            rng.random_range(0.0..h as f64),
        );
        let angle: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        for _ in 0..rng.random_range(1..6) {
            let (xi, yi) = (x.round() as isize, y.round() as isize);
            if (0..w as isize).contains(&xi) && (0..h as isize).contains(&yi) {
                let p = &mut pixels[[yi as usize, xi as usize]];
                *p = (*p + rng.random_range(2_000.0..20_000.0f32))
                    .min(65535.0)
                    .round();
            }
            x += angle.cos();
            y += angle.sin();
        }
    }
    pixels
}

/// Add a Gaussian PSF of total `flux` centred at (x, y) (0-based pixel centres), pixel-integrated.
fn deposit(img: &mut Array2<f64>, x: f64, y: f64, flux: f64, sigma: f64) {
    let (h, w) = img.dim();
    let r = (4.0 * sigma).ceil() as isize;
    let (cx, cy) = (x.round() as isize, y.round() as isize);
    let cdf = |a: f64| 0.5 * (1.0 + libm::erf(a / (sigma * std::f64::consts::SQRT_2)));
    for yi in (cy - r).max(0)..=(cy + r).min(h as isize - 1) {
        let fy = cdf(yi as f64 + 0.5 - y) - cdf(yi as f64 - 0.5 - y);
        for xi in (cx - r).max(0)..=(cx + r).min(w as isize - 1) {
            let fx = cdf(xi as f64 + 0.5 - x) - cdf(xi as f64 - 0.5 - x);
            img[[yi as usize, xi as usize]] += flux * fx * fy;
        }
    }
}

/// A detection benchmark dataset ("kessler bench"): `frames` frames of the scenario's optics and image model,
/// every tenth without a streak (false-alarm checks), the others with one streak each at a random place, angle and
/// length (64-400 px, wholly inside the frame) whose matched-filter S/N cycles through `snr_grid`.
pub fn simulate_snr_grid(
    scenario: &Scenario,
    frames: usize,
    snr_grid: &[f64],
    seed: u64,
) -> (Vec<Frame>, Vec<TruthRow>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (w, h) = (scenario.width as f64, scenario.height as f64);
    let mut out = Vec::with_capacity(frames);
    let mut truth = vec![];
    for i in 0..frames {
        let frame_id = format!("{}-snr-{:05}", scenario.sensor_id, i + 1);
        let mut signal = Array2::zeros((scenario.height as usize, scenario.width as usize));
        add_stars(scenario, &mut rng, &mut signal);
        if i % 10 != 9 && !snr_grid.is_empty() {
            let snr = snr_grid[(i - i / 10) % snr_grid.len()];
            let margin = 8.0;
            let length = rng
                .random_range(64.0..400.0f64)
                .min(w.min(h) - 2.0 * margin - 2.0);
            let angle: f64 = rng.random_range(0.0..std::f64::consts::PI);
            let (dx, dy) = (length / 2.0 * angle.cos(), length / 2.0 * angle.sin());
            let cx = rng.random_range(margin + dx.abs()..=w - 1.0 - margin - dx.abs());
            let cy = rng.random_range(margin + dy.abs()..=h - 1.0 - margin - dy.abs());
            let ends = [cx - dx, cy - dy, cx + dx, cy + dy];
            truth.push(straight_streak(
                scenario.optics(),
                &mut signal,
                ends,
                snr,
                TruthRow {
                    frame: frame_id.clone(),
                    object_id: String::new(),
                    ..TruthRow::default()
                },
            ));
        }
        let header = FrameHeader {
            frame_id,
            sensor_id: scenario.sensor_id.clone(),
            start: scenario.night_start + Duration::from_seconds(60.0 * i as f64),
            exposure_s: 10.0,
            site: Some(scenario.site),
            wcs: None,
            radar: None,
            instrument: None,
        };
        out.push(Frame {
            header,
            pixels: expose(scenario, &mut rng, &signal),
        });
    }
    (out, truth)
}

/// The error of an I/O failure on `path`.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SimError {
    let path = path.display().to_string();
    move |source| SimError::Io { path, source }
}

/// Write frames as FITS files (`<frame id>.fits`) and their `truth.csv` into `dir`.
pub fn write_frames(dir: &Path, frames: &[Frame], truth: &[TruthRow]) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    for frame in frames {
        fits::write_fits(&dir.join(format!("{}.fits", frame.header.frame_id)), frame)?;
    }
    let truth_path = dir.join("truth.csv");
    let mut csv = std::fs::File::create(&truth_path).map_err(io_error(&truth_path))?;
    write_truth(&mut csv, truth).map_err(io_error(&truth_path))?;
    Ok(())
}

/// Write the night as a dataset: its frames and `truth.csv` ([`write_frames`]), `objects.tle` and `scenario.json`.
pub fn write_dataset(dir: &Path, scenario: &Scenario, night: &Night) -> Result<(), SimError> {
    write_frames(dir, &night.frames, &night.truth)?;
    let tle_path = dir.join("objects.tle");
    std::fs::write(&tle_path, &scenario.tles).map_err(io_error(&tle_path))?;
    let scenario_path = dir.join("scenario.json");
    let json = serde_json::to_string_pretty(scenario).expect("a scenario always serialises");
    std::fs::write(&scenario_path, json).map_err(io_error(&scenario_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_larger_side_keeps_the_density_of_stars_and_defects() {
        let big = Scenario::default().with_side(2048);
        assert_eq!((big.width, big.height), (2048, 2048));
        let base = Scenario::default();
        assert_eq!(big.stars, 16 * base.stars);
        assert_eq!(big.hot_pixels, 16 * base.hot_pixels);
        assert_eq!(big.cosmic_rays, 16 * base.cosmic_rays);
        assert_eq!(big.psf_sigma_px, base.psf_sigma_px);
    }

    #[test]
    fn snr_grid_cycles_and_leaves_every_tenth_frame_empty() {
        let scenario = Scenario {
            width: 128,
            height: 96,
            stars: 5,
            ..Scenario::default()
        };
        let (frames, truth) = simulate_snr_grid(&scenario, 20, &[5.0, 7.0], 3);
        assert_eq!(frames.len(), 20);
        assert_eq!(truth.len(), 18);
        assert_eq!(
            truth.iter().map(|t| t.snr).take(4).collect::<Vec<_>>(),
            vec![5.0, 7.0, 5.0, 7.0]
        );
        assert!(
            !truth
                .iter()
                .any(|t| t.frame.ends_with("00010") || t.frame.ends_with("00020"))
        );
        for t in &truth {
            for (x, y) in [(t.x1, t.y1), (t.x2, t.y2)] {
                assert!(
                    (0.0..128.0).contains(&x) && (0.0..96.0).contains(&y),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn deposit_conserves_flux_away_from_edges() {
        let mut img = Array2::zeros((32, 32));
        deposit(&mut img, 15.3, 16.7, 1000.0, 1.2);
        assert!((img.sum() - 1000.0).abs() < 0.1);
    }

    #[test]
    fn default_night_observes_every_object_with_streaks_inside_the_frames() {
        let scenario = Scenario::default();
        let night = simulate(&scenario, None, 1).unwrap();
        let observed: std::collections::BTreeSet<_> =
            night.truth.iter().map(|t| t.object_id.clone()).collect();
        assert_eq!(
            observed.len(),
            night.objects.len(),
            "every object gets visits: {observed:?}"
        );
        for object in &observed {
            let frames = night
                .truth
                .iter()
                .filter(|t| &t.object_id == object)
                .count();
            assert!(
                frames >= 2 * scenario.frames_per_visit,
                "object {object}: {frames} frames"
            );
        }
        assert_eq!(
            night.frames.len(),
            night.truth.len() + scenario.empty_frames
        );
        for t in &night.truth {
            let len = ((t.x2 - t.x1).powi(2) + (t.y2 - t.y1).powi(2)).sqrt();
            assert!((100.0..260.0).contains(&len), "{t:?}");
            for (x, y) in [(t.x1, t.y1), (t.x2, t.y2)] {
                assert!(
                    (0.0..512.0).contains(&x) && (0.0..512.0).contains(&y),
                    "{t:?}"
                );
            }
        }
        assert!(
            night
                .frames
                .windows(2)
                .all(|w| w[0].header.start < w[1].header.start)
        );
    }
}
