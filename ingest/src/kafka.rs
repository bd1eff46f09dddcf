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
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::transport::{Message, Position, Sink, Source, TransportError};

/// The producer's default message limit, bytes: librdkafka's and Kafka's own default (1 MB). Frames larger than
/// the limit travel in chunks ([`crate::chunk`]).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;
/// The most a consumer fetches of one partition at once, bytes (at least the largest message a producer sends).
const MAX_FETCH_BYTES: usize = 64 * 1024 * 1024;
const ACK_TIMEOUT: Duration = Duration::from_secs(60);
/// librdkafka `max.poll.interval.ms`: the longest a consumer may spend on one message before it is taken out of
/// its group, and the longest a rebalance waits for members to rejoin.
const MAX_POLL_INTERVAL_MS: u32 = 30_000;

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

/// How batches are compressed on the wire (librdkafka `compression.type`; the broker stores them as sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    /// LZ4 frames: fast, about 1.5-3x on sky images.
    #[default]
    Lz4,
}

/// How a producer is set up.
#[derive(Debug, Clone, Copy)]
pub struct ProducerConfig {
    /// The largest message sent, bytes (librdkafka `message.max.bytes`, before compression); larger frames go in
    /// chunks of this size.
    pub max_message_bytes: usize,
    pub compression: Compression,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            compression: Compression::default(),
        }
    }
}

/// A producer whose `send` waits for the broker's acknowledgement (`acks=all`). Retries may duplicate a message;
/// consumers are idempotent by id.
pub struct KafkaSink {
    producer: FutureProducer,
    config: ProducerConfig,
}

impl KafkaSink {
    pub fn new(brokers: &str, config: ProducerConfig) -> Result<Self, TransportError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("message.max.bytes", config.max_message_bytes.to_string())
            .set(
                "compression.type",
                match config.compression {
                    Compression::None => "none",
                    Compression::Lz4 => "lz4",
                },
            )
            .set("message.timeout.ms", ACK_TIMEOUT.as_millis().to_string())
            .create()?;
        Ok(KafkaSink { producer, config })
    }
}

impl Sink for KafkaSink {
    fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }

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
            .set("fetch.message.max.bytes", MAX_FETCH_BYTES.to_string())
            .set("fetch.max.bytes", MAX_FETCH_BYTES.to_string())
            .set(
                "receive.message.max.bytes",
                (MAX_FETCH_BYTES + 1024 * 1024).to_string(),
            )
            // A member that dies is out of the group after the session timeout; a rebalance waits at most the
            // poll interval for members to rejoin (brokers that wait the whole interval for a dead member, as
            // Tansu does, then stall no longer than this). One frame's detection must fit in it.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS.to_string())
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(KafkaSource { consumer, idle })
    }
}

impl Source for KafkaSource {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        let deadline = self.idle.map(|limit| tokio::time::Instant::now() + limit);
        let borrowed = loop {
            let next = self.consumer.recv();
            let received = match deadline {
                Some(at) => match tokio::time::timeout_at(at, next).await {
                    Ok(r) => r,
                    Err(_) => return Ok(None),
                },
                None => next.await,
            };
            match received {
                Ok(m) => break m,
                // Consumer errors are librdkafka's reports of what it is recovering from (a broker down or
                // restarting, a connection lost): it reconnects and goes on, and so does the stage.
                Err(rdkafka::error::KafkaError::MessageConsumption(code)) => {
                    tracing::warn!(%code, "consumer error; librdkafka is recovering");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
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

    fn done(&mut self, position: &Position) -> Result<(), TransportError> {
        if let Position::Kafka {
            topic,
            partition,
            offset,
        } = position
        {
            match self.consumer.store_offset(topic, *partition, *offset) {
                Ok(()) => {}
                // The partition was revoked in a rebalance while its message was in hand: its new owner starts
                // from the last committed offset and handles the message again (downstream is idempotent).
                Err(rdkafka::error::KafkaError::StoreOffset(code)) => {
                    tracing::warn!(topic, partition, offset, %code, "progress not stored: the partition moved");
                }
                Err(e) => return Err(e.into()),
            }
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

/// The payloads of the last `per_partition` messages of each partition of `topic` (fewer where a partition holds
/// fewer), read without joining a group. Blocking. For checking what a publisher that died mid-send got out.
pub fn recent_payloads(
    brokers: &str,
    topic: &str,
    per_partition: i64,
) -> Result<Vec<Vec<u8>>, TransportError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "kessler-recent-payloads")
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", MAX_FETCH_BYTES.to_string())
        .set(
            "receive.message.max.bytes",
            (MAX_FETCH_BYTES + 1024 * 1024).to_string(),
        )
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
        let from = (high - per_partition).max(low);
        if from < high {
            list.add_partition_offset(topic, p.id(), Offset::Offset(from))?;
            remaining += high - from;
        }
    }
    if remaining == 0 {
        return Ok(vec![]);
    }
    consumer.assign(&list)?;
    let mut payloads = vec![];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while remaining > 0 && std::time::Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            payloads.push(m?.payload().unwrap_or_default().to_vec());
            remaining -= 1;
        }
    }
    Ok(payloads)
}

/// Messages of `topic` not yet committed by `group`: the sum over partitions of the high watermark less the
/// committed offset (the low watermark where the group has committed nothing). Blocking: a few broker round trips.
pub fn group_lag(brokers: &str, group: &str, topic: &str) -> Result<i64, TransportError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()?;
    let mut lag = 0;
    for (partition, committed) in committed_offsets(brokers, group, topic)? {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(5))?;
        lag += high - committed.unwrap_or(low).max(low);
    }
    Ok(lag)
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
        let sink = KafkaSink::new(&brokers, ProducerConfig::default()).unwrap();
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
        source.done(&first.position).unwrap();
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
