//! The same night as measurements instead of images: each frame of each visit gives one streak whose endpoints are
//! the object's true topocentric RA/Dec at exposure start and end plus Gaussian noise, in random order (a detector
//! does not know the direction of motion). For the track stage and orbit determination, where rendering and
//! detecting frames would only add time.

use kessler_od::{Duration, RaDec, StreakMeasurement};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::{Scenario, SimError, parse_tles, plan_visits, site_of, targets};

/// Radians per arcsecond.
const RAD_PER_ARCSEC: f64 = std::f64::consts::PI / (180.0 * 3600.0);

/// A simulated streak measurement and its truth.
#[derive(Debug, Clone)]
pub struct SimStreak {
    pub measurement: StreakMeasurement,
    /// NORAD number of the object that made it.
    pub norad_id: u64,
    /// Whether endpoint `a` is the exposure start.
    pub a_is_start: bool,
}

/// Streak measurements of the scenario's night (its objects, site, visits, cadences and exposures as
/// [`crate::simulate`] plans them; empty frames give nothing), with `sigma_arcsec` of noise on each endpoint angle.
/// `ahead_s` lists objects whose truth runs ahead of their elements by so many seconds (negative: behind), an
/// in-track error of the element set a catalog holds. Frame ids are `<sensor>-<n>` and streak ids
/// `<frame id>/s0`, as [`crate::simulate`] numbers frames.
pub fn simulate_streaks(
    scenario: &Scenario,
    sigma_arcsec: f64,
    ahead_s: &[(u64, f64)],
    seed: u64,
) -> Result<Vec<SimStreak>, SimError> {
    let objects = parse_tles(&scenario.tles)?;
    let site = site_of(&scenario.site);
    let targets = targets(&objects, site, ahead_s);
    let sigma_rad = sigma_arcsec * RAD_PER_ARCSEC;
    let noise = Normal::new(0.0, sigma_rad).expect("a finite, non-negative sigma");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut frames = 0;
    let mut out = vec![];
    for visit in plan_visits(scenario, &targets)? {
        for i in 0..visit.frames {
            frames += 1;
            let Some(k) = visit.object else { continue };
            let target = &targets[k];
            let start = visit.start + Duration::from_seconds(visit.cadence_s * i as f64);
            let exposure_s = (scenario.streak_length_px * scenario.scale_deg
                / target.rate_deg_s(start)?)
            .clamp(0.5, 90.0);
            let end = start + Duration::from_seconds(exposure_s);
            let mut noisy = |t| -> Result<RaDec, SimError> {
                let (ra, dec) = target.radec_deg(t)?;
                let dec_rad = dec.to_radians();
                Ok(RaDec {
                    ra_rad: (ra.to_radians() + noise.sample(&mut rng) / dec_rad.cos())
                        .rem_euclid(std::f64::consts::TAU),
                    dec_rad: dec_rad + noise.sample(&mut rng),
                })
            };
            let (first, last) = (noisy(start)?, noisy(end)?);
            let a_is_start = rng.random_bool(0.5);
            let (a, b) = if a_is_start {
                (first, last)
            } else {
                (last, first)
            };
            let frame_id = format!("{}-{frames:04}", scenario.sensor_id);
            out.push(SimStreak {
                measurement: StreakMeasurement {
                    id: format!("{frame_id}/s0"),
                    frame_id,
                    sensor_id: scenario.sensor_id.clone(),
                    site,
                    start,
                    end,
                    a,
                    b,
                    sigma_rad,
                },
                norad_id: target.tle.norad_id(),
                a_is_start,
            });
        }
    }
    Ok(out)
}
