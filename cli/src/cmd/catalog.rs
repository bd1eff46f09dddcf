//! `kessler catalog` (list, import, export, review from the terminal) and `kessler review` (the web page).

use std::path::Path;

use super::review as terminal;
use anyhow::{Context, Result, bail};
use kessler_catalog::Catalog;
use kessler_catalog::review::CandidateFilter;
use kessler_ingest::kafka::{KafkaSink, ProducerConfig, ensure_topics};
use kessler_ingest::topics::Topics;

use crate::args::{CatalogCommand, ReviewArgs, ReviewCommand};

/// Run `kessler catalog ...`.
pub async fn run(command: CatalogCommand) -> Result<()> {
    match command {
        CatalogCommand::List { db, json } => list_catalog(&db, json),
        CatalogCommand::Import { db, tle } => import_tles(&db, &tle),
        CatalogCommand::Export {
            db,
            format,
            status,
            out,
        } => terminal::export(&db, format, status, out.as_deref()),
        CatalogCommand::Review { command } => review_command(command).await,
    }
}

fn import_tles(db: &Path, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let tles = kessler_sim::parse_tles(&text).with_context(|| format!("{}", path.display()))?;
    let mut catalog = Catalog::open(db)?;
    let (mut created, mut unchanged) = (0, 0);
    for tle in &tles {
        match catalog.import_tle(tle)? {
            Some(change) => {
                created += 1;
                println!(
                    "{} <- NORAD {} {} (epoch {})",
                    change.object_id,
                    tle.norad_id(),
                    tle.name().unwrap_or(""),
                    tle.epoch()
                );
            }
            None => unchanged += 1,
        }
    }
    println!(
        "{}: {created} element sets entered (new objects or newer epochs), {unchanged} already held (same or newer epoch)",
        db.display()
    );
    Ok(())
}

fn list_catalog(db: &Path, json: bool) -> Result<()> {
    let objects = terminal::open(db)?.list_objects()?;
    if json {
        println!("{}", serde_json::to_string(&objects)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<10} {:>6} {:>6} {:>5} {:<32} {:<6} {:>12} {:>9}",
        "object",
        "status",
        "norad",
        "tracks",
        "obs",
        "orbit epoch (UTC)",
        "source",
        "|r| km",
        "rms \""
    );
    for o in objects {
        let r = o.orbit.state.r_km.iter().map(|x| x * x).sum::<f64>().sqrt();
        println!(
            "{:<8} {:<10} {:>6} {:>6} {:>5} {:<32} {:<6} {:>12.1} {:>9}",
            o.id,
            o.status,
            o.norad_id.map_or_else(|| "-".into(), |n| n.to_string()),
            o.tracks,
            o.observations,
            o.orbit.state.epoch.to_string(),
            o.orbit_source,
            r,
            o.orbit
                .rms_arcsec
                .map_or_else(|| "-".into(), |v| format!("{v:.2}"))
        );
    }
    Ok(())
}

/// `kessler catalog review ...`.
async fn review_command(command: ReviewCommand) -> Result<()> {
    match command {
        ReviewCommand::List {
            db,
            status,
            sensor,
            from,
            to,
            sort,
            descending,
            json,
        } => {
            let filter = CandidateFilter {
                status: status.0,
                sensor,
                from,
                to,
                sort,
                descending,
            };
            terminal::list(&db, &filter, json)
        }
        ReviewCommand::Show { db, id, json } => terminal::show(&db, &id, json),
        ReviewCommand::Accept { who, reason } => {
            let change = terminal::open(&who.db)?.accept(&who.id, &who.by, reason.as_deref())?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
        ReviewCommand::Reject { who, reason } => {
            let change = terminal::open(&who.db)?.reject(&who.id, &who.by, &reason)?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
        ReviewCommand::Merge { who, into, reason } => {
            let change = terminal::open(&who.db)?.merge(
                &who.id,
                &into,
                (&who.by, reason.as_deref()),
                &kessler_od::FitConfig::default(),
            )?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
    }
}

/// Run `kessler review`: serve the review page over the catalog until interrupted.
pub async fn serve(args: ReviewArgs) -> Result<()> {
    if args.token.chars().count() < 8 {
        bail!("--token: at least 8 characters");
    }
    terminal::open(&args.db)?;
    let announce = match args.announce.target() {
        Some((brokers, namespace)) => {
            let topics = Topics::namespaced(namespace);
            ensure_topics(brokers, &[&topics.catalog], 1).await?;
            Some((KafkaSink::new(brokers, ProducerConfig::default())?, topics))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    eprintln!("review at http://{}/", listener.local_addr()?);
    kessler_review::serve(
        listener,
        kessler_review::Review {
            db: args.db,
            token: args.token,
            announce,
        },
    )
    .await
    .context("serving the review page")
}
