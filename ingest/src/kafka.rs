//! Kafka through rdkafka (bundled librdkafka).
//!
//! Guarantee: at least once. The consumer has `enable.auto.offset.store = false`: an offset is stored only through
//! [`Source::done`], which stages call after everything the message produced was acknowledged by the broker
//! (`acks = all`); stored offsets are committed in the background and synchronously at [`Source::close`]. A worker
//! that dies between producing and `done` replays that message when it restarts. Limits: ordering holds per
//! partition only; a replay re-sends results downstream, which must be idempotent (kessler keys everything by frame,
//! streak and observation id).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::transport::{Message, Position, Sink, Source, TransportError};

/// Frames travel whole (chunking is issue #5): a 1k x 1k u16 frame is 2 MiB.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Create the topics that do not exist yet (`partitions` each, replication 1).
pub async fn ensure_topics(
    brokers: &str,
    topics: &[&str],
    partitions: i32,
) -> Result<(), TransportError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TransportError::Kafka(rdkafka::error::KafkaError::AdminOp(
                    code,
                )))
                .inspect_err(|_| tracing::error!(topic, "cannot create topic"));
            }
        }
    }
    Ok(())
}

/// A producer whose `send` waits for the broker's acknowledgement (`acks=all`). Retries may duplicate a message;
/// consumers are idempotent by id.
pub struct KafkaSink {
    producer: FutureProducer,
}

impl KafkaSink {
    pub fn new(brokers: &str) -> Result<Self, TransportError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
            .set("message.timeout.ms", ACK_TIMEOUT.as_millis().to_string())
            .create()?;
        Ok(KafkaSink { producer })
    }
}

impl Sink for KafkaSink {
    async fn send(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), TransportError> {
        let record = FutureRecord::to(topic).key(key).payload(&payload);
        match self.producer.send(record, ACK_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(TransportError::Kafka(e)),
        }
    }
}

/// A consumer-group member reading one topic, storing offsets only through [`Source::done`].
pub struct KafkaSource {
    consumer: StreamConsumer,
    idle: Option<Duration>,
}

impl KafkaSource {
    /// Join `group` on `topic`, starting from the earliest offset when the group has none. With `idle` set,
    /// [`Source::recv`] ends the stream after that long without a message.
    pub fn new(
        brokers: &str,
        group: &str,
        topic: &str,
        idle: Option<Duration>,
    ) -> Result<Self, TransportError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.message.max.bytes", MAX_MESSAGE_BYTES.to_string())
            .set("max.partition.fetch.bytes", MAX_MESSAGE_BYTES.to_string())
            .set("session.timeout.ms", "10000")
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(KafkaSource { consumer, idle })
    }
}

impl Source for KafkaSource {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        let next = self.consumer.recv();
        let borrowed = match self.idle {
            Some(limit) => match tokio::time::timeout(limit, next).await {
                Ok(r) => r?,
                Err(_) => return Ok(None),
            },
            None => next.await?,
        };
        Ok(Some(Message {
            key: borrowed
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            payload: borrowed.payload().unwrap_or_default().to_vec(),
            position: Position::Kafka {
                topic: borrowed.topic().to_string(),
                partition: borrowed.partition(),
                offset: borrowed.offset(),
            },
        }))
    }

    fn done(&mut self, message: &Message) -> Result<(), TransportError> {
        if let Position::Kafka {
            topic,
            partition,
            offset,
        } = &message.position
        {
            self.consumer.store_offset(topic, *partition, *offset)?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), TransportError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The committed offsets of `group` on `topic` (partition, offset), for tests and operators.
pub fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
) -> Result<Vec<(i32, Option<i64>)>, TransportError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        list.add_partition(topic, p.id());
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| {
            (
                e.partition(),
                if let Offset::Offset(o) = e.offset() {
                    Some(o)
                } else {
                    None
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;

    /// Against librdkafka's in-process mock broker: offsets are committed only for messages marked done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offsets_are_committed_only_for_messages_marked_done() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("frames", 1, 1).unwrap();
        let brokers = cluster.bootstrap_servers();
        let sink = KafkaSink::new(&brokers).unwrap();
        for i in 0..3u8 {
            sink.send("frames", "sensor", vec![i]).await.unwrap();
        }
        let mut source =
            KafkaSource::new(&brokers, "g", "frames", Some(Duration::from_secs(5))).unwrap();
        let first = source.recv().await.unwrap().unwrap();
        let second = source.recv().await.unwrap().unwrap();
        assert_eq!(
            (first.payload.clone(), second.payload, first.key.as_str()),
            (vec![0], vec![1], "sensor")
        );
        // Only the first is done: a restart must see the second again.
        source.done(&first).unwrap();
        source.close().unwrap();
        drop(source);
        assert_eq!(
            committed_offsets(&brokers, "g", "frames").unwrap(),
            vec![(0, Some(1))]
        );
        let mut again =
            KafkaSource::new(&brokers, "g", "frames", Some(Duration::from_secs(30))).unwrap();
        assert_eq!(again.recv().await.unwrap().unwrap().payload, vec![1]);
    }
}
