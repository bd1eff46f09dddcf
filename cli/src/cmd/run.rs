//! `kessler run`: pipeline stages as Kafka consumers and producers.

use std::sync::Arc;

use anyhow::{Context, Result};
use kessler_catalog::Catalog;
use kessler_ingest::inbound::ReassemblyConfig;
use kessler_ingest::kafka::{KafkaSink, KafkaSource, ensure_topics};
use kessler_ingest::topics::Topics;
use kessler_pipeline::metrics::{self, LagProbe, Metrics};
use kessler_pipeline::stages;
use kessler_track::{TrackConfig, Tracker};

use super::{load_eop, peak_rss_mib, shutdown_on_ctrl_c, threshold_detector};
use crate::args::{RunArgs, Stage};

/// Run `kessler run`: the stages asked for, until the input stays idle (`--exit-when-idle`) or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<()> {
    load_eop(args.eop.as_deref())?;
    let (brokers, namespace) = (args.brokers.as_str(), args.namespace.as_str());
    let reassembly = ReassemblyConfig {
        bound_bytes: args.reassembly_mib * 1024 * 1024,
        timeout: args.chunk_timeout_s,
    };
    let topics = Topics::namespaced(namespace);
    ensure_topics(brokers, &topics.all(), args.kafka.partitions).await?;
    let idle = args.exit_when_idle;
    let shutdown = shutdown_on_ctrl_c();
    let group = |name: &str| {
        if namespace.is_empty() {
            format!("kessler-{name}")
        } else {
            format!("{namespace}.kessler-{name}")
        }
    };
    let metrics = Arc::new(Metrics::default());
    let producer = args.kafka.producer();
    let detect = if args.stage != Stage::Track {
        let source = KafkaSource::new(brokers, &group("detect"), &topics.frames, idle)
            .map(|s| s.with_stall_check(args.stall_check_s));
        let detector = Arc::new(threshold_detector(args.cpu, &args.threshold)?);
        Some((source, detector))
    } else {
        None
    };
    let backend = detect
        .as_ref()
        .map_or("none".to_string(), |(_, d)| d.backend_description());
    if let Some(addr) = args.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics {addr}"))?;
        let mut groups = vec![];
        if args.stage != Stage::Track {
            groups.push((group("detect"), topics.frames.clone()));
        }
        if args.stage != Stage::Detect {
            groups.push((group("track"), topics.detections.clone()));
        }
        let probe = LagProbe {
            brokers: brokers.to_string(),
            groups,
        };
        eprintln!("metrics at http://{}/metrics", listener.local_addr()?);
        tokio::spawn(metrics::serve(
            listener,
            metrics.clone(),
            backend,
            Some(probe),
        ));
    }
    let detect = match detect {
        Some((source, detector)) => Some(tokio::spawn(stages::detect_stage(
            source?,
            KafkaSink::new(brokers, producer)?,
            topics.clone(),
            detector,
            (reassembly, metrics.clone()),
            shutdown.clone(),
        ))),
        None => None,
    };
    let track = if args.stage != Stage::Detect {
        let source = KafkaSource::new(brokers, &group("track"), &topics.detections, idle)?
            .with_stall_check(args.stall_check_s);
        let tracker = Tracker::new(Catalog::open(&args.db)?, TrackConfig::default());
        Some(tokio::spawn(stages::track_stage(
            source,
            KafkaSink::new(brokers, producer)?,
            topics.clone(),
            tracker,
            metrics.clone(),
            shutdown,
        )))
    } else {
        None
    };
    // Both stages are awaited together, so a failure of either is reported at once.
    let detect = async {
        match detect {
            Some(handle) => Some(handle.await?).transpose(),
            None => Ok(None),
        }
    };
    let track = async {
        match track {
            Some(handle) => Some(handle.await?).transpose(),
            None => Ok(None),
        }
    };
    let (detect, track) = tokio::try_join!(detect, track)?;
    if let Some(stats) = detect {
        eprintln!("detect stage: {}", serde_json::to_string(&stats)?);
    }
    if let Some((stats, _)) = track {
        eprintln!("track stage: {}", serde_json::to_string(&stats)?);
    }
    if let Some(mib) = peak_rss_mib() {
        eprintln!("peak resident memory: {mib} MiB");
    }
    Ok(())
}
