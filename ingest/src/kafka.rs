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
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
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
    /// Zstandard (level 3, librdkafka's default): slower to compress than LZ4, smaller on the wire.
    Zstd,
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
                    Compression::Zstd => "zstd",
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
///
/// It watches its group for a stall ([`StallWatch`]): every [`STALL_CHECK`] it asks the broker for the group's
/// committed offsets and the topic's high watermarks, and when a partition has had messages waiting without its
/// committed offset moving for too long, it leaves and rejoins the group, which starts a rebalance. Tansu 0.6 needs
/// this: when a member's session expires it removes the member without starting a rebalance for the others, and the
/// dead member's partitions stay unread until someone rejoins (see docs/architecture.md). On a broker that
/// rebalances as Kafka does, the watch never acts on a group whose members are alive.
pub struct KafkaSource {
    consumer: StreamConsumer<GroupLog>,
    idle: Option<Duration>,
    brokers: String,
    group: String,
    topic: String,
    stall_check: Duration,
    /// When the next stall check is due: kept across calls to [`Source::recv`], which callers may cancel and repeat
    /// more often than `stall_check`.
    next_check: tokio::time::Instant,
    /// Whether a message arrived since the previous stall check.
    received: bool,
    watch: StallWatch,
}

/// How often a consumer checks its group for a stall, by default: one poll interval, within which a live member
/// finishes a message or is taken out of the group.
const STALL_CHECK: Duration = Duration::from_millis(MAX_POLL_INTERVAL_MS as u64);

/// Checks in a row that a partition another member owns may sit still with messages waiting while this member is
/// busy, before the group counts as stalled. Several, because a live member works through what it prefetched of
/// one partition before it reaches the next.
const BUSY_STALL_CHECKS: u32 = 3;

/// One partition's progress in a group: its committed offset (the low watermark where nothing is committed) and
/// its high watermark; `high - committed` messages wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionProgress {
    pub partition: i32,
    pub committed: i64,
    pub high: i64,
}

/// Why a group counts as stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stall {
    /// This member received nothing for a whole check interval and no partition's committed offset moved, while
    /// messages wait: they wait on partitions nobody reads.
    Idle { waiting: i64 },
    /// A partition this member does not own kept messages waiting without its committed offset moving for
    /// [`BUSY_STALL_CHECKS`] checks in a row.
    Partition { partition: i32, waiting: i64 },
}

/// What the stall checks remember between checks: per partition with messages waiting, its committed offset and
/// for how many checks in a row it has not moved.
#[derive(Debug, Default)]
struct StallWatch {
    still: std::collections::BTreeMap<i32, (i64, u32)>,
}

impl StallWatch {
    /// Record one check of the group's `progress`; `mine` are this member's partitions and `idle` says whether it
    /// received nothing since the previous check. Returns the stall, if the group has one.
    fn observe(
        &mut self,
        progress: &[PartitionProgress],
        mine: &[i32],
        idle: bool,
    ) -> Option<Stall> {
        let before = std::mem::take(&mut self.still);
        let mut moved = before.len() != progress.iter().filter(|p| p.high > p.committed).count();
        for p in progress.iter().filter(|p| p.high > p.committed) {
            let checks = match before.get(&p.partition) {
                Some(&(committed, checks)) if committed == p.committed => checks + 1,
                _ => {
                    moved = true;
                    0
                }
            };
            self.still.insert(p.partition, (p.committed, checks));
        }
        let waiting = progress.iter().map(|p| p.high - p.committed).sum();
        if idle && !moved && waiting > 0 {
            return Some(Stall::Idle { waiting });
        }
        progress
            .iter()
            .filter(|p| !mine.contains(&p.partition))
            .find(|p| {
                self.still
                    .get(&p.partition)
                    .is_some_and(|&(_, c)| c >= BUSY_STALL_CHECKS)
            })
            .map(|p| Stall::Partition {
                partition: p.partition,
                waiting: p.high - p.committed,
            })
    }
}

/// Logs a group member's partition assignments, revocations and failed commits: what an operator reads to see
/// which worker owns what after a rebalance, and why a group stopped moving.
struct GroupLog;

impl ClientContext for GroupLog {}

impl ConsumerContext for GroupLog {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(pid = std::process::id(), partitions = %partitions(list), "partitions assigned")
            }
            Rebalance::Revoke(list) => {
                tracing::info!(pid = std::process::id(), partitions = %partitions(list), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::debug!(offsets = %partitions(offsets), "offsets committed"),
            // Nothing was stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, offsets = %partitions(offsets), "commit failed"),
        }
    }
}

/// `topic[partition]@offset, ...` for a log line.
fn partitions(list: &TopicPartitionList) -> String {
    list.elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => format!("{}[{}]@{o}", e.topic(), e.partition()),
            _ => format!("{}[{}]", e.topic(), e.partition()),
        })
        .collect::<Vec<_>>()
        .join(", ")
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
        let consumer: StreamConsumer<GroupLog> = ClientConfig::new()
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
            .create_with_context(GroupLog)?;
        consumer.subscribe(&[topic])?;
        Ok(KafkaSource {
            consumer,
            idle,
            brokers: brokers.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            stall_check: STALL_CHECK,
            next_check: tokio::time::Instant::now() + STALL_CHECK,
            received: false,
            watch: StallWatch::default(),
        })
    }

    /// Check for a stall every `every` instead of every [`STALL_CHECK`]. Much shorter than the time one message may
    /// take, it rebalances groups that are only busy.
    pub fn with_stall_check(mut self, every: Duration) -> Self {
        self.stall_check = every;
        self.next_check = tokio::time::Instant::now() + every;
        self
    }

    /// One stall check (see [`StallWatch`]): rejoin the group when it has stalled. A broker that cannot be asked is
    /// skipped: librdkafka is reconnecting.
    async fn check_stall(&mut self) -> Result<(), TransportError> {
        self.next_check = tokio::time::Instant::now() + self.stall_check;
        let idle = !std::mem::take(&mut self.received);
        let (brokers, group, topic) =
            (self.brokers.clone(), self.group.clone(), self.topic.clone());
        let progress =
            tokio::task::spawn_blocking(move || group_progress(&brokers, &group, &topic)).await;
        tracing::debug!(group = self.group, idle, ?progress, "stall check");
        let Ok(Ok(progress)) = progress else {
            return Ok(());
        };
        let mine: Vec<i32> = self
            .consumer
            .assignment()
            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        if let Some(stall) = self.watch.observe(&progress, &mine, idle) {
            tracing::warn!(
                group = self.group,
                topic = self.topic,
                ?stall,
                "the group has stopped moving (checked every {:?}); rejoining to rebalance",
                self.stall_check
            );
            self.consumer.unsubscribe();
            self.consumer.subscribe(&[&self.topic])?;
            self.watch = StallWatch::default();
        }
        Ok(())
    }
}

impl Source for KafkaSource {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        let deadline = self.idle.map(|limit| tokio::time::Instant::now() + limit);
        loop {
            if tokio::time::Instant::now() >= self.next_check {
                self.check_stall().await?;
            }
            let check_at = self.next_check;
            let wake = deadline.map_or(check_at, |at| at.min(check_at));
            let received = match tokio::time::timeout_at(wake, self.consumer.recv()).await {
                Ok(r) => r,
                Err(_) if deadline.is_some_and(|at| at < check_at) => return Ok(None),
                Err(_) => continue,
            };
            match received {
                Ok(m) => {
                    self.received = true;
                    return Ok(Some(message(&m)));
                }
                // Consumer errors are librdkafka's reports of what it is recovering from (a broker down or
                // restarting, a connection lost): it reconnects and goes on, and so does the stage.
                Err(rdkafka::error::KafkaError::MessageConsumption(code)) => {
                    tracing::warn!(%code, "consumer error; librdkafka is recovering");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
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

/// An owned copy of a received message.
fn message(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    Message {
        key: m
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
        payload: m.payload().unwrap_or_default().to_vec(),
        position: Position::Kafka {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
        },
    }
}

/// The committed offsets of `group` on `topic` (partition, offset), for tests and operators.
pub fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
) -> Result<Vec<(i32, Option<i64>)>, TransportError> {
    committed_with(&group_client(brokers, group)?, topic)
}

/// A client of `group` for reading its offsets (it does not join the group).
fn group_client(brokers: &str, group: &str) -> Result<BaseConsumer, TransportError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()?)
}

/// [`committed_offsets`] through an existing client of the group.
fn committed_with(
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<Vec<(i32, Option<i64>)>, TransportError> {
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
    Ok(group_progress(brokers, group, topic)?
        .iter()
        .map(|p| p.high - p.committed)
        .sum())
}

/// Each partition's progress in `group` (see [`group_lag`]). Blocking: a few broker round trips.
pub fn group_progress(
    brokers: &str,
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionProgress>, TransportError> {
    // One client for the offsets and the watermarks: this runs at every stall check.
    let consumer = group_client(brokers, group)?;
    committed_with(&consumer, topic)?
        .into_iter()
        .map(|(partition, offset)| {
            let (low, high) =
                consumer.fetch_watermarks(topic, partition, Duration::from_secs(5))?;
            Ok(PartitionProgress {
                partition,
                committed: offset.unwrap_or(low).max(low),
                high,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;

    fn progress(parts: &[(i64, i64)]) -> Vec<PartitionProgress> {
        parts
            .iter()
            .zip(0..)
            .map(|(&(committed, high), partition)| PartitionProgress {
                partition,
                committed,
                high,
            })
            .collect()
    }

    #[test]
    fn an_idle_member_rejoins_when_no_partition_moved_over_one_interval() {
        let mut watch = StallWatch::default();
        let stuck = progress(&[(10, 10), (4, 9)]);
        assert_eq!(watch.observe(&stuck, &[0], true), None, "first look");
        assert_eq!(
            watch.observe(&stuck, &[0], true),
            Some(Stall::Idle { waiting: 5 })
        );
    }

    #[test]
    fn a_group_that_commits_or_has_nothing_waiting_is_not_stalled() {
        let mut watch = StallWatch::default();
        let mut committed = 0;
        for _ in 0..10 {
            committed += 1;
            let moving = progress(&[(committed, 50), (3, 9)]);
            // Partition 1 sits still while partition 0 moves: it is this member's, and it is busy.
            assert_eq!(watch.observe(&moving, &[1], false), None);
        }
        let mut watch = StallWatch::default();
        for _ in 0..10 {
            assert_eq!(watch.observe(&progress(&[(7, 7)]), &[], true), None);
        }
        // Messages newly published to a partition are not a stall until a check finds them still waiting.
        let mut watch = StallWatch::default();
        assert_eq!(watch.observe(&progress(&[(7, 7)]), &[], true), None);
        assert_eq!(watch.observe(&progress(&[(7, 9)]), &[], true), None);
    }

    #[test]
    fn a_busy_member_rejoins_when_a_partition_it_does_not_own_sits_still() {
        let mut watch = StallWatch::default();
        let mut committed = 0;
        let mut stalls = vec![];
        for _ in 0..=BUSY_STALL_CHECKS {
            committed += 1;
            stalls.push(watch.observe(&progress(&[(committed, 50), (3, 9)]), &[0], false));
        }
        let (last, before) = stalls.split_last().unwrap();
        assert!(before.iter().all(Option::is_none), "{stalls:?}");
        assert_eq!(
            *last,
            Some(Stall::Partition {
                partition: 1,
                waiting: 6
            })
        );
        // The same partition, owned by this member: it is working through what it prefetched.
        let mut watch = StallWatch::default();
        for _ in 0..=2 * BUSY_STALL_CHECKS {
            assert_eq!(watch.observe(&progress(&[(3, 9)]), &[0], false), None);
        }
    }

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
