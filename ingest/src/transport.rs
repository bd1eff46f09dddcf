//! Moving messages between stages: Kafka ([`kafka`](crate::kafka)) or bounded in-process queues, behind one pair of
//! traits so that a stage is written once.
//!
//! The contract is at least once: a stage takes a [`Message`] from a [`Source`], sends what it produces to a
//! [`Sink`] (`send` returns only once the message is acknowledged), and only then calls [`Source::done`]. A crash
//! between the two replays the message; downstream writes are idempotent (frame ids, observation ids).

use std::collections::HashMap;
use std::future::Future;

use tokio::sync::mpsc;

/// Topic of frame envelopes, key = sensor id.
pub const FRAMES_TOPIC: &str = "kessler.frames";
/// Topic of detections (JSON), key = sensor id.
pub const DETECTIONS_TOPIC: &str = "kessler.detections";
/// Topic of accepted catalog changes (JSON), key = object id.
pub const CATALOG_TOPIC: &str = "kessler.catalog";
/// Topic of messages a stage could not process, with the reason.
pub const DEADLETTER_TOPIC: &str = "kessler.deadletter";

/// Why a message could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the receiving stage of topic {0} has stopped")]
    Closed(String),
}

/// Where a message came from, so that [`Source::done`] can record its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    InProcess,
    /// A file `kessler publish` read (the source of a dead letter, never of a message).
    File(String),
    Kafka {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// One message: key, payload, and its position in the source.
#[derive(Debug, Clone)]
pub struct Message {
    pub key: String,
    pub payload: Vec<u8>,
    pub position: Position,
}

/// A stream of messages of one topic.
pub trait Source: Send {
    /// The next message; `Ok(None)` once the stream has ended (in-process: every sender dropped) or has been idle
    /// for the source's idle limit.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Message>, TransportError>> + Send;
    /// Everything up to and including the message at `position` has been handled and what it produced
    /// acknowledged: the position may be stored.
    fn done(&mut self, position: &Position) -> Result<(), TransportError>;
    /// Flush stored positions (Kafka: a synchronous commit). Called once at shutdown.
    fn close(&mut self) -> Result<(), TransportError>;
}

/// Sends messages; `send` returns once the message is acknowledged (Kafka: by the broker).
pub trait Sink: Send + Sync {
    /// The largest payload one message may carry, bytes; larger frames travel in chunks ([`crate::chunk`]).
    fn max_message_bytes(&self) -> usize {
        usize::MAX
    }

    fn send(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// The in-process sink: one bounded queue per topic. Sending waits while a queue is full (backpressure).
#[derive(Clone, Default)]
pub struct InProcessSink {
    queues: HashMap<String, mpsc::Sender<Message>>,
}

/// The in-process source of one topic.
pub struct InProcessSource {
    receiver: mpsc::Receiver<Message>,
}

impl InProcessSink {
    /// Add a bounded queue of `capacity` messages for `topic`; returns the source that reads it.
    pub fn add_topic(&mut self, topic: &str, capacity: usize) -> InProcessSource {
        let (sender, receiver) = mpsc::channel(capacity);
        self.queues.insert(topic.to_string(), sender);
        InProcessSource { receiver }
    }

    /// A sink that no longer feeds `topic`: dropping every holder of a topic's sender ends that stream.
    pub fn without(&self, topic: &str) -> InProcessSink {
        let mut queues = self.queues.clone();
        queues.remove(topic);
        InProcessSink { queues }
    }
}

impl Sink for InProcessSink {
    async fn send(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), TransportError> {
        let Some(queue) = self.queues.get(topic) else {
            // A topic nobody reads in-process (the catalog feed, dead letters) is acknowledged and dropped.
            return Ok(());
        };
        let message = Message {
            key: key.to_string(),
            payload,
            position: Position::InProcess,
        };
        queue
            .send(message)
            .await
            .map_err(|_| TransportError::Closed(topic.to_string()))
    }
}

impl Source for InProcessSource {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        Ok(self.receiver.recv().await)
    }

    fn done(&mut self, _position: &Position) -> Result<(), TransportError> {
        Ok(())
    }

    fn close(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_queue_delivers_in_order_and_ends_when_senders_drop() {
        let mut sink = InProcessSink::default();
        let mut source = sink.add_topic("t", 2);
        let producer = tokio::spawn(async move {
            for i in 0..5u8 {
                sink.send("t", "k", vec![i]).await.unwrap();
            }
            sink.send("elsewhere", "k", vec![]).await.unwrap();
        });
        let mut got = vec![];
        while let Some(m) = source.recv().await.unwrap() {
            source.done(&m.position).unwrap();
            got.push(m.payload[0]);
        }
        producer.await.unwrap();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }
}
