//! The review from the terminal (`kessler catalog review list|show|accept|reject|merge`) and the export of
//! catalogued objects (`kessler catalog export`) as CCSDS OMM, OEM or TLE.

use std::path::Path;

use anyhow::{Context, Result, bail};
use kessler_catalog::review::CandidateFilter;
use kessler_catalog::{Catalog, CatalogChange, ObjectStatus, ObjectSummary};
use kessler_od::{FitConfig, Tle, TrackingObservation};

/// Open an existing catalog (a missing file is an error here, not a new catalog).
pub fn open(db: &Path) -> Result<Catalog> {
    if !db.exists() {
        bail!(
            "no catalog at {} (run the track stage or the demo first)",
            db.display()
        );
    }
    Ok(Catalog::open(db)?)
}

/// `review list`: the objects the filter selects, as a table or JSON.
pub fn list(db: &Path, filter: &CandidateFilter, json: bool) -> Result<()> {
    let rows = open(db)?.candidates(filter)?;
    if json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<10} {:<12} {:<24} {:<24} {:>4} {:>9} {:>10}",
        "object", "status", "sensors", "first (UTC)", "last (UTC)", "obs", "rms \"", "sigma km"
    );
    for r in rows {
        println!(
            "{:<8} {:<10} {:<12} {:<24} {:<24} {:>4} {:>9} {:>10.3}",
            r.id,
            r.status,
            r.sensors.join(","),
            r.first_utc.get(..23).unwrap_or(&r.first_utc),
            r.last_utc.get(..23).unwrap_or(&r.last_utc),
            r.observations,
            r.rms_arcsec.map_or("-".into(), |v| format!("{v:.2}")),
            r.position_sigma_km
        );
    }
    Ok(())
}

/// `review show`: one object's evidence, as JSON (the API's form) or as text.
pub fn show(db: &Path, id: &str, json: bool) -> Result<()> {
    let Some(d) = open(db)?.candidate(id)? else {
        bail!("no object {id} in {}", db.display());
    };
    if json {
        println!("{}", serde_json::to_string(&d)?);
        return Ok(());
    }
    let s = &d.summary;
    println!(
        "{} ({}), sensors {}, {} tracks, {} observations",
        s.id,
        s.status,
        s.sensors.join(","),
        s.tracks,
        s.observations
    );
    println!("observed {} to {}", s.first_utc, s.last_utc);
    let e = &d.elements;
    println!(
        "orbit at {}: a {:.1} km, e {:.5}, i {:.3} deg, RAAN {:.3} deg; RMS {} arcsec, 1-sigma position {:.3} km",
        d.orbit.state.epoch,
        e.a_km,
        e.e,
        e.i_deg,
        e.raan_deg,
        s.rms_arcsec.map_or("-".into(), |v| format!("{v:.2}")),
        s.position_sigma_km
    );
    println!("residuals (arcsec, RA cos Dec / Dec):");
    for r in &d.residuals {
        println!(
            "  {:<40} {:>9.3} {:>9.3}",
            r.observation_id, r.ra_arcsec, r.dec_arcsec
        );
    }
    for n in &d.nearest {
        println!("near {} ({}) at {:.1} km", n.id, n.status, n.distance_km);
    }
    for h in &d.history {
        println!(
            "{} {} {}{}",
            h.at_utc,
            h.change,
            h.by.as_deref().unwrap_or(""),
            h.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Print a decision and announce it on the catalog topic when `brokers` is given.
pub async fn decided(
    db: &Path,
    change: CatalogChange,
    announce: Option<(&str, &str)>,
) -> Result<()> {
    println!("{}", serde_json::to_string(&change)?);
    if let Some((brokers, namespace)) = announce {
        let sink = kessler_ingest::kafka::KafkaSink::new(
            brokers,
            kessler_ingest::kafka::ProducerConfig::default(),
        )?;
        let topics = kessler_ingest::topics::Topics::namespaced(namespace);
        kessler_ingest::kafka::ensure_topics(brokers, &[&topics.catalog], 1).await?;
        kessler_catalog::announce::publish_changes(&sink, &topics, &mut Catalog::open(db)?).await?;
    }
    Ok(())
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Omm,
    Oem,
    Tle,
}

/// NORAD numbers given to objects without one: the 80000-89999 block that the US catalog leaves to analysts' own
/// objects, plus the object's sequence number.
const ANALYST_NUMBERS: u64 = 80_000;

/// The element set of an object: its own, or SGP4 mean elements fitted to its observations.
fn element_set(
    catalog: &Catalog,
    o: &ObjectSummary,
) -> Result<(Tle, Option<kessler_od::Covariance6>)> {
    if let Some(tle) = catalog.element_set(&o.id)? {
        return Ok((tle, None));
    }
    let number: u64 = o.id[1..].parse().context("object ids are K and digits")?;
    if number >= 10_000 {
        bail!(
            "{}: no analyst NORAD number left for it (80000 + its number must stay below 90000)",
            o.id
        );
    }
    let obs: Vec<TrackingObservation> = catalog
        .object_observations(&o.id)?
        .iter()
        .map(TrackingObservation::from)
        .collect();
    let fitted = super::od::mean_elements(
        &obs,
        &o.orbit,
        ANALYST_NUMBERS + number,
        &o.id,
        &FitConfig::default(),
    )
    .with_context(|| format!("{}: SGP4 mean elements", o.id))?;
    Ok((fitted.tle, Some(fitted.covariance)))
}

/// `catalog export`: every object of `status` in `format`, into `out` (one file per object, `ID.omm` / `ID.oem`,
/// or one `catalog.tle`) or to standard output.
pub fn export(
    db: &Path,
    format: ExportFormat,
    status: ObjectStatus,
    out: Option<&Path>,
) -> Result<()> {
    let catalog = open(db)?;
    let now = hifitime::Epoch::now()?;
    let objects: Vec<ObjectSummary> = catalog
        .list_objects()?
        .into_iter()
        .filter(|o| o.status == status)
        .collect();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut tles = String::new();
    for o in &objects {
        let name = o.name.clone().unwrap_or_else(|| o.id.clone());
        let text = match format {
            ExportFormat::Oem => kessler_catalog::oem::write_oem(&name, &o.id, &o.orbit, now),
            ExportFormat::Omm => {
                let (tle, covariance) = element_set(&catalog, o)?;
                kessler_catalog::omm::write_omm(&tle, covariance.as_ref().map(|c| (c, "GCRF")), now)
            }
            ExportFormat::Tle => {
                let (tle, _) = element_set(&catalog, o)?;
                let [l1, l2] = tle.to_lines();
                tles += &format!("{name}\n{l1}\n{l2}\n");
                continue;
            }
        };
        match out {
            Some(dir) => {
                let ext = if format == ExportFormat::Oem {
                    "oem"
                } else {
                    "omm"
                };
                let path = dir.join(format!("{}.{ext}", o.id));
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => println!("{text}"),
        }
    }
    match (format, out) {
        (ExportFormat::Tle, Some(dir)) => {
            let path = dir.join("catalog.tle");
            std::fs::write(&path, tles).with_context(|| format!("writing {}", path.display()))?;
        }
        (ExportFormat::Tle, None) => print!("{tles}"),
        _ => {}
    }
    eprintln!("{} {status} object(s) exported", objects.len());
    Ok(())
}
