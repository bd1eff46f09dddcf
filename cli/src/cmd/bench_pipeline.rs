//! `kessler bench-pipeline`: frames per second through publish -> detect on a real broker, beside a bare
//! rdkafka consumer reading the same topic, so that their ratio is the pipeline's own overhead (envelope decoding,
//! reassembly, detection, publishing detections) over reading the bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kessler_detector::Detector;
use kessler_ingest::inbound::ReassemblyConfig;
use kessler_ingest::kafka::{KafkaSink, KafkaSource, ProducerConfig, ensure_topics};
use kessler_ingest::{Source, chunk};
use serde::Serialize;
use tokio::sync::watch;

use kessler_ingest::topics::Topics;
use kessler_pipeline::metrics::Metrics;
use kessler_pipeline::stages;

/// The measurements of one run; rates are frames per second of wall time.
#[derive(Debug, Serialize)]
pub struct PipelineBench {
    pub frames: usize,
    pub frame_bytes: usize,
    pub messages: usize,
    pub publish_fps: f64,
    pub bare_consumer_fps: f64,
    pub detect_stage_fps: f64,
    /// Detect-stage time over bare-consumer time for the same frames.
    pub overhead_ratio: f64,
    pub detector: String,
}

/// Publish `frames`, read them back with a bare consumer, then run the detect stage over them; each step on its
/// own consumer group of a fresh namespace.
pub async fn run(
    brokers: &str,
    frames: Vec<kessler_ingest::Frame>,
    producer: ProducerConfig,
    detector: Detector,
) -> Result<PipelineBench> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let namespace = format!("bench-{}", stamp.as_millis());
    let topics = Topics::namespaced(&namespace);
    ensure_topics(brokers, &topics.all(), 1).await?;
    let n = frames.len();
    let frame_bytes = frames.first().map_or(0, |f| f.pixels.len() * 2);
    let messages: usize = frames
        .iter()
        .map(|f| chunk::encode_messages(f, producer.max_message_bytes).map(|m| m.len()))
        .sum::<Result<usize, _>>()?;
    let sink = KafkaSink::new(brokers, producer)?;
    let started = Instant::now();
    kessler_ingest::publish::publish_frames(&sink, &topics, frames).await?;
    let publish_s = started.elapsed().as_secs_f64();

    let mut bare = KafkaSource::new(
        brokers,
        &format!("{namespace}.bare"),
        &topics.frames,
        Some(Duration::from_secs(20)),
    )?;
    let started = Instant::now();
    let mut read = 0;
    while read < messages {
        let Some(m) = bare.recv().await? else {
            bail!("the bare consumer read {read} of {messages} messages");
        };
        bare.done(&m.position)?;
        read += 1;
    }
    let bare_s = started.elapsed().as_secs_f64();
    bare.close()?;

    let detector_name = detector.backend_description();
    let source = KafkaSource::new(
        brokers,
        &format!("{namespace}.detect"),
        &topics.frames,
        Some(Duration::from_secs(20)),
    )?;
    let metrics = Arc::new(Metrics::default());
    let (stop, shutdown) = watch::channel(false);
    let started = Instant::now();
    let stage = tokio::spawn(stages::detect_stage(
        source,
        KafkaSink::new(brokers, producer)?,
        topics.clone(),
        Arc::new(detector),
        (ReassemblyConfig::default(), metrics.clone()),
        shutdown,
    ));
    while metrics.frames_detected.get() < n as u64 {
        if stage.is_finished() {
            bail!("the detect stage ended before detecting {n} frames");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let detect_s = started.elapsed().as_secs_f64();
    stop.send(true)?;
    stage.await??;
    Ok(PipelineBench {
        frames: n,
        frame_bytes,
        messages,
        publish_fps: n as f64 / publish_s,
        bare_consumer_fps: n as f64 / bare_s,
        detect_stage_fps: n as f64 / detect_s,
        overhead_ratio: detect_s / bare_s,
        detector: detector_name,
    })
}
