//! The topics of one pipeline and the dead-letter record every stage writes for what it could not process.

use serde::Serialize;

use crate::transport::{
    CATALOG_TOPIC, DEADLETTER_TOPIC, DETECTIONS_TOPIC, FRAMES_TOPIC, Position, Sink, TransportError,
};

/// Topic names; [`Topics::namespaced`] prefixes them so that several pipelines (or tests) share one broker.
#[derive(Debug, Clone)]
pub struct Topics {
    pub frames: String,
    pub detections: String,
    pub catalog: String,
    pub deadletter: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            frames: FRAMES_TOPIC.into(),
            detections: DETECTIONS_TOPIC.into(),
            catalog: CATALOG_TOPIC.into(),
            deadletter: DEADLETTER_TOPIC.into(),
        }
    }
}

impl Topics {
    /// `<namespace>.kessler.frames` and so on; the empty namespace gives the default names.
    pub fn namespaced(namespace: &str) -> Topics {
        if namespace.is_empty() {
            return Topics::default();
        }
        let d = Topics::default();
        let p = |t: String| format!("{namespace}.{t}");
        Topics {
            frames: p(d.frames),
            detections: p(d.detections),
            catalog: p(d.catalog),
            deadletter: p(d.deadletter),
        }
    }

    pub fn all(&self) -> [&str; 4] {
        [
            &self.frames,
            &self.detections,
            &self.catalog,
            &self.deadletter,
        ]
    }
}

/// Most payload bytes kept in a dead letter: enough to see what arrived, small enough that a dead letter always
/// fits the broker's message limit whatever came in.
const DEAD_LETTER_PAYLOAD_BYTES: usize = 4096;

/// A dead letter: the message a stage could not process, where it came from, and why.
#[derive(Debug, Serialize)]
struct DeadLetter<'a> {
    schema_version: u32,
    stage: &'a str,
    /// Where the message was: `topic/partition@offset` for Kafka, the file's path for a file that could not be
    /// published.
    position: String,
    key: &'a str,
    reason: String,
    payload_bytes: usize,
    payload_crc32c: u32,
    /// The first [`DEAD_LETTER_PAYLOAD_BYTES`] bytes of the payload, hex.
    payload_head_hex: String,
}

/// Send what a stage could not process to the dead-letter topic: where it was, its key, its payload (or the head
/// of it) and why.
pub async fn dead_letter(
    sink: &impl Sink,
    topics: &Topics,
    stage: &str,
    (position, key, payload): (&Position, &str, &[u8]),
    reason: String,
) -> Result<(), TransportError> {
    let position = match position {
        Position::Kafka {
            topic,
            partition,
            offset,
        } => format!("{topic}/{partition}@{offset}"),
        Position::InProcess => "in-process".to_string(),
        Position::File(path) => path.clone(),
    };
    tracing::warn!(stage, key, position, %reason, "sent to the dead-letter topic");
    let head = &payload[..payload.len().min(DEAD_LETTER_PAYLOAD_BYTES)];
    let letter = DeadLetter {
        schema_version: 1,
        stage,
        position,
        key,
        reason,
        payload_bytes: payload.len(),
        payload_crc32c: crc32c::crc32c(payload),
        payload_head_hex: head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let json = serde_json::to_vec(&letter).expect("a dead letter always serialises");
    sink.send(&topics.deadletter, key, json).await
}
