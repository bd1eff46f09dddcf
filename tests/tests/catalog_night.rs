//! A night over a catalog that already holds some of the objects: the track stage must correlate every tracklet of
//! a catalogued object with that object's own entry, make exactly one candidate of each object it did not know,
//! and change nothing when the same night comes again (the same frames, or the same exposures under new frame
//! ids).
//!
//! Objects: five real TLEs of the SGP4 verification set with epochs in June 2006 (catalogued: a LEO and a GPS
//! satellite; new: two LEO debris and a Molniya satellite, whose three visits hours apart must find the candidate
//! its first visit made), observed from the ESA OGS on Tenerife on the night of 2006-06-26 as
//! [`kessler_sim::simulate_streaks`] plans it (three visits of four frames per object above 20 deg, 1" noise on
//! every endpoint). The catalogued objects' truth runs ahead of their element sets (a few km in-track), as real
//! objects do of their TLEs; the new objects enter the catalog only through the track stage.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kessler_catalog::{Catalog, ChangeKind, ObjectStatus, OrbitSource};
use kessler_od::{Epoch, Tle};
use kessler_sim::{Scenario, SimStreak, parse_tles, simulate_streaks};
use kessler_track::{Outcome, TrackConfig, Tracker};

/// Objects the catalog holds before the night, and how far ahead of their elements their truth runs (s).
const KNOWN: &str = "CBERS 2
1 28057U 03049A   06177.78615833  .00000060  00000-0  35940-4 0  1836
2 28057  98.4283 247.6961 0000884  88.1964 271.9322 14.35478080140550
NAVSTAR 53 (USA 175)
1 28129U 03058A   06175.57071136 -.00000104  00000-0  10000-3 0   459
2 28129  54.7298 324.8098 0048506 266.2640  93.1663  2.00562768 18443
";
const AHEAD_S: [(u64, f64); 2] = [(28057, 0.3), (28129, -1.0)];

/// Objects the catalog does not know.
const NEW: &str = "DELTA 1 DEB
1 06251U 62025E   06176.82412014  .00008885  00000-0  12808-3 0  3985
2 06251  58.0579  54.0425 0030035 139.1568 221.1854 15.56387291  6774
SL-12 DEB
1 29238U 06022G   06177.28732010  .00766286  10823-4  13334-2 0   101
2 29238  51.5595 213.7903 0202579  95.2503 267.9010 15.73823839  1061
MOLNIYA 2-14
1 09880U 77021A   06176.56157475  .00000421  00000-0  10000-3 0  9814
2 09880  64.5968 349.3786 7069051 270.0229  16.3320  2.00813614112380
";

/// Records every frame (one streak each) in time order, processing after each, then flushes; returns what
/// happened to every tracklet.
fn run_night(tracker: &mut Tracker, streaks: &[SimStreak], rename: &str) -> Vec<Outcome> {
    let mut outcomes = vec![];
    for s in streaks {
        let mut m = s.measurement.clone();
        m.frame_id = format!("{rename}{}", m.frame_id);
        m.id = format!("{rename}{}", m.id);
        tracker
            .catalog
            .record_frame(&m.frame_id, &m.sensor_id, &[m.clone()], "{}")
            .unwrap();
        outcomes.extend(tracker.process(false).unwrap());
    }
    outcomes.extend(tracker.process(true).unwrap());
    outcomes
}

fn position_error_km(tle: &Tle, ahead_s: f64, state: &kessler_od::StateGcrf) -> f64 {
    let truth = tle
        .state_gcrf(state.epoch + kessler_od::Duration::from_seconds(ahead_s))
        .unwrap();
    (0..3)
        .map(|i| (truth.r_km[i] - state.r_km[i]).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn known_objects_correlate_new_ones_become_one_candidate_and_a_replay_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = Catalog::open(&dir.path().join("night.db")).unwrap();
    let known = parse_tles(KNOWN).unwrap();
    let mut object_of_norad: HashMap<u64, String> = HashMap::new();
    for tle in &known {
        let change = catalog.import_tle(tle).unwrap().expect("a new element set");
        assert_eq!(change.change, ChangeKind::Imported);
        object_of_norad.insert(tle.norad_id(), change.object_id);
    }
    assert!(
        catalog.import_tle(&known[0]).unwrap().is_none(),
        "the same elements again change nothing"
    );

    let scenario = Scenario {
        tles: format!("{KNOWN}{NEW}"),
        night_start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 21, 0, 0),
        ..Scenario::default()
    };
    let streaks = simulate_streaks(&scenario, 1.0, &AHEAD_S, 11).unwrap();
    let norad_of: HashMap<String, u64> = streaks
        .iter()
        .map(|s| (s.measurement.id.clone(), s.norad_id))
        .collect();
    let observed: BTreeSet<u64> = norad_of.values().copied().collect();
    let everything: BTreeSet<u64> = parse_tles(&scenario.tles)
        .unwrap()
        .iter()
        .map(Tle::norad_id)
        .collect();
    assert_eq!(observed, everything, "every object is observed that night");

    let mut tracker = Tracker::new(catalog, TrackConfig::default());
    let outcomes = run_night(&mut tracker, &streaks, "");
    // object id -> the objects (NORAD numbers) whose streaks went into it
    let mut contents: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut tracks = 0;
    for outcome in &outcomes {
        match outcome {
            Outcome::Stored(change) => {
                tracks += 1;
                let track = tracker
                    .catalog
                    .object_observations(&change.object_id)
                    .unwrap();
                let last = track.last().unwrap();
                let streak_id = last.id.rsplit_once('/').unwrap().0;
                let norad = norad_of[streak_id];
                eprintln!(
                    "{} {} <- NORAD {norad}: {} observations, rms {:.2?}\"",
                    change.change, change.object_id, change.observations, change.orbit.rms_arcsec
                );
                contents
                    .entry(change.object_id.clone())
                    .or_default()
                    .insert(norad);
            }
            other => panic!("every tracklet is stored on the first pass: {other:?}"),
        }
    }
    assert!(tracker.catalog.sensors_with_pending().unwrap().is_empty());
    let objects = tracker.catalog.list_objects().unwrap();
    assert_eq!(
        objects.len(),
        everything.len(),
        "one object per real object"
    );
    for (object, norads) in &contents {
        assert_eq!(norads.len(), 1, "{object} mixes objects {norads:?}");
    }
    for (norad, object) in &object_of_norad {
        assert_eq!(
            contents.get(object),
            Some(&BTreeSet::from([*norad])),
            "catalogued NORAD {norad} correlates with its own entry {object}"
        );
    }
    for norad in everything
        .iter()
        .filter(|n| !object_of_norad.contains_key(n))
    {
        let made: Vec<&String> = contents
            .iter()
            .filter(|(_, n)| n.contains(norad))
            .map(|(o, _)| o)
            .collect();
        assert_eq!(
            made.len(),
            1,
            "new NORAD {norad} becomes one candidate: {made:?}"
        );
        let status = &objects.iter().find(|o| &o.id == made[0]).unwrap().status;
        assert_eq!(*status, ObjectStatus::Candidate);
    }
    // The refined catalogued objects are closer to the truth than their element sets were.
    for tle in &known {
        let object = &objects[..]
            .iter()
            .find(|o| o.id == object_of_norad[&tle.norad_id()])
            .unwrap();
        assert_eq!(object.orbit_source, OrbitSource::Fit);
        let ahead = AHEAD_S.iter().find(|a| a.0 == tle.norad_id()).unwrap().1;
        let refined = position_error_km(tle, ahead, &object.orbit.state);
        let elements = position_error_km(
            tle,
            ahead,
            &tle.state_gcrf(object.orbit.state.epoch).unwrap(),
        );
        eprintln!(
            "NORAD {}: position error {refined:.3} km after the night, {elements:.3} km of the elements",
            tle.norad_id()
        );
        assert!(refined < 0.5 * elements, "{refined} km vs {elements} km");
    }
    let history = tracker.catalog.history().unwrap().len();
    assert_eq!(history, known.len() + tracks);

    // The same frames again: recorded before, nothing to do.
    let again = run_night(&mut tracker, &streaks, "");
    assert!(again.is_empty(), "{again:?}");
    // The same exposures under new frame and streak ids: every tracklet is a duplicate of a stored track.
    let renamed = run_night(&mut tracker, &streaks, "replay-");
    assert_eq!(renamed.len(), tracks);
    assert!(
        renamed
            .iter()
            .all(|o| matches!(o, Outcome::Duplicate { .. })),
        "{renamed:?}"
    );
    assert_eq!(
        tracker.catalog.list_objects().unwrap().len(),
        everything.len()
    );
    assert_eq!(tracker.catalog.history().unwrap().len(), history);
    assert!(tracker.catalog.sensors_with_pending().unwrap().is_empty());
}
