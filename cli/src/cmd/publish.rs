//! `kessler publish`: files, folders, or a watched folder onto the frames topic.

use std::time::Duration;

use anyhow::{Result, bail};
use kessler_ingest::kafka::{KafkaSink, ensure_topics};
use kessler_ingest::publish::{
    Outcome, PublishStats, Publisher, WatchConfig, frame_files, watch_folder,
};
use kessler_ingest::sensor::Sensors;
use kessler_ingest::topics::Topics;

use super::{progress, shutdown_on_ctrl_c};
use crate::args::PublishArgs;

/// Run `kessler publish`.
pub async fn run(args: PublishArgs) -> Result<()> {
    let topics = Topics::namespaced(&args.namespace);
    ensure_topics(&args.brokers, &topics.all(), args.kafka.partitions).await?;
    let sensors = args.sensors.as_deref().map(Sensors::load).transpose()?;
    let publisher = Publisher {
        sink: KafkaSink::new(&args.brokers, args.kafka.producer())?,
        topics: topics.clone(),
        default_sensor: args.sensor,
        sensors,
    };
    let stats = if !args.watch {
        let files = frame_files(&args.paths)?;
        let bar = progress(files.len(), "files");
        let mut stats = PublishStats::default();
        for path in &files {
            match publisher.file(path).await? {
                Outcome::Sent => stats.published += 1,
                Outcome::Dead => stats.dead_letters += 1,
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        stats
    } else {
        let [folder] = &args.paths[..] else {
            bail!(
                "--watch follows one folder; {} paths were given",
                args.paths.len()
            );
        };
        if !folder.is_dir() {
            bail!("--watch: {} is not a folder", folder.display());
        }
        let config = WatchConfig {
            folder: folder.clone(),
            ledger: args
                .ledger
                .clone()
                .unwrap_or_else(|| folder.join(".kessler-ledger.tsv")),
            settle: args.settle_s,
            poll: Duration::from_millis(250),
            brokers: args.brokers.clone(),
        };
        eprintln!(
            "watching {} (ledger {})",
            folder.display(),
            config.ledger.display()
        );
        watch_folder(&publisher, &config, shutdown_on_ctrl_c()).await?
    };
    eprintln!(
        "published {} frames to {}; {} files sent to {}",
        stats.published, topics.frames, stats.dead_letters, topics.deadletter
    );
    Ok(())
}
