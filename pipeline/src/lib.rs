//! The pipeline: the stages written once over [`Source`]/[`Sink`] (Kafka or in-process queues), their metrics,
//! and the demo that runs them all in one process and scores the catalog against the truth.
//!
//! - [`stages`]: the detect stage (frames -> detections) and the track stage (detections -> catalog), each at
//!   least once: a message is marked done only after what it produced was acknowledged.
//! - [`metrics`]: the counters of the stages, served as Prometheus text by `kessler run --metrics`.
//! - [`demo`]: a simulated night through every stage, scored against the truth ([`demo::DemoReport`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), kessler_pipeline::PipelineError> {
//! use kessler_detector::{Backend, Detector, DetectorConfig};
//! use kessler_pipeline::demo::{self, DemoOptions};
//!
//! let detector = Detector::new(Backend::Cpu, DetectorConfig::default());
//! let options = DemoOptions { seed: 7, db: "kessler-demo.db".into(), frames: Some(12) };
//! let report = demo::run(detector, &options).await?;
//! println!("{} of {} objects cataloged", report.objects_cataloged, report.objects_truth);
//! # Ok(())
//! # }
//! ```
//!
//! [`Source`]: kessler_ingest::Source
//! [`Sink`]: kessler_ingest::Sink

pub mod demo;
pub mod metrics;
pub mod stages;

use kessler_catalog::CatalogError;
use kessler_catalog::announce::AnnounceError;
use kessler_ingest::publish::PublishError;
use kessler_ingest::transport::TransportError;

/// Why a stage (or the demo) stopped. A message that cannot be processed is dead-lettered instead; these are the
/// failures of the transport, the catalog or the process itself.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Announce(#[from] AnnounceError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("a stage's worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("simulating the night: {0}")]
    Simulation(#[from] kessler_sim::SimError),
    #[error("frame {frame_id}: the stored detections do not read: {source}")]
    StoredDetections {
        frame_id: String,
        source: kessler_detector::message::MessageError,
    },
}
