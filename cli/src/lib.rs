//! The glue of the `kessler` command: the pipeline stages written once over [`Source`]/[`Sink`] (Kafka or
//! in-process queues), the demo that runs them all in one process, and its scoring against the truth.
//!
//! - [`stages`]: publish frames, the detect stage (frames -> detections), the track stage (detections -> catalog).
//! - [`metrics`]: the counters of `kessler run`, served as Prometheus text.
//! - [`publish`]: `kessler publish`: files and watched folders onto the frames topic, once each, with a ledger.
//! - [`pipeline_bench`]: `kessler bench-pipeline`: publish -> detect on a broker beside a bare consumer.
//! - [`review`]: `kessler review`, the maintainers' web page and API, and the same review from the terminal.
//! - [`od`]: `kessler od`, a batch least-squares fit of a CCSDS TDM's tracking data.
//! - [`demo`]: a simulated night through every stage, scored against the truth ([`demo::DemoReport`]).
//!
//! [`Source`]: kessler_ingest::Source
//! [`Sink`]: kessler_ingest::Sink

pub mod demo;
pub mod metrics;
pub mod od;
pub mod pipeline_bench;
pub mod publish;
pub mod review;
pub mod stages;
