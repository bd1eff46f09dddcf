//! Frames off the frames topic: whole envelopes pass through, chunks ([`crate::chunk`]) are put back together, and
//! the position a consumer may record is held back to the first chunk of any frame still arriving, so that a
//! worker that dies mid-frame replays the whole frame when it restarts (at least once, never a half frame).

use std::time::{Duration, Instant};

use crate::chunk::{self, Abandoned, Accepted, Reassembler};
use crate::transport::{Message, Position};

/// How chunked frames are reassembled.
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyConfig {
    /// Most bytes of incomplete frames held at once; a frame that would pass it is dead-lettered.
    pub bound_bytes: usize,
    /// A frame whose chunks stop arriving for this long after its first is dead-lettered.
    pub timeout: Duration,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            bound_bytes: 512 * 1024 * 1024,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What one message of the frames topic amounts to.
#[derive(Debug, PartialEq)]
pub enum Arrival {
    /// A whole frame envelope (from one message, or the last chunk of a frame).
    Envelope(Vec<u8>),
    /// A chunk of a frame still arriving.
    Pending,
    /// The message (or the frame it belonged to) cannot be used: the reason, for the dead-letter topic.
    Bad(String),
}

/// The frames topic as a stream of whole envelopes.
pub struct Inbound {
    reassembler: Reassembler<Position>,
}

impl Inbound {
    pub fn new(config: ReassemblyConfig) -> Self {
        Inbound {
            reassembler: Reassembler::new(config.bound_bytes, config.timeout),
        }
    }

    /// Take one message received at `now`.
    pub fn accept(&mut self, message: &Message, now: Instant) -> Arrival {
        if !chunk::is_chunk(&message.payload) {
            return Arrival::Envelope(message.payload.clone());
        }
        let result = chunk::decode_chunk(&message.payload)
            .and_then(|c| self.reassembler.accept(c, message.position.clone(), now));
        match result {
            Ok(Accepted::Complete { envelope, .. }) => Arrival::Envelope(envelope),
            Ok(Accepted::Pending) => Arrival::Pending,
            Err(e) => Arrival::Bad(format!("bad frame chunk: {e}")),
        }
    }

    /// Frames given up on at `now` (their chunks stopped arriving), with where each began.
    pub fn expire(&mut self, now: Instant) -> Vec<Abandoned<Position>> {
        self.reassembler.expire(now)
    }

    /// Bytes held by incomplete frames.
    pub fn held_bytes(&self) -> usize {
        self.reassembler.held_bytes()
    }

    /// The position the consumer may record once the message at `position` is handled: that position, held back
    /// to just before the first chunk of the earliest frame still arriving on the same partition; `None` when
    /// nothing of that partition may be recorded yet.
    pub fn committable(&self, position: &Position) -> Option<Position> {
        let Position::Kafka {
            topic,
            partition,
            offset,
        } = position
        else {
            return Some(position.clone());
        };
        let held_back = self
            .reassembler
            .pending_firsts()
            .filter_map(|first| match first {
                Position::Kafka {
                    topic: t,
                    partition: p,
                    offset: o,
                } if t == topic && p == partition => Some(*o - 1),
                _ => None,
            })
            .min();
        let offset = held_back.map_or(*offset, |h| h.min(*offset));
        (offset >= 0).then(|| Position::Kafka {
            topic: topic.clone(),
            partition: *partition,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::encode_messages;
    use crate::envelope;
    use crate::frame::{Frame, FrameHeader};
    use hifitime::Epoch;

    fn frame(id: &str) -> Frame {
        Frame {
            header: FrameHeader {
                frame_id: id.into(),
                sensor_id: "ogs".into(),
                start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0),
                exposure_s: 1.0,
                site: None,
                wcs: None,
                radar: None,
                instrument: None,
            },
            pixels: ndarray::Array2::from_shape_vec(
                (100, 100),
                (0..10_000).map(|i| (i % 4000) as f32).collect(),
            )
            .unwrap(),
        }
    }

    fn at(partition: i32, offset: i64) -> Position {
        Position::Kafka {
            topic: "frames".into(),
            partition,
            offset,
        }
    }

    /// Two frames' chunks interleaved on partition 0 beside whole frames on partition 1: the recordable position
    /// of partition 0 stays before the first chunk of the frame still arriving.
    #[test]
    fn progress_is_held_back_to_the_first_chunk_of_an_incomplete_frame() {
        let a = encode_messages(&frame("a"), 8 * 1024).unwrap();
        let b = encode_messages(&frame("b"), 8 * 1024).unwrap();
        assert!(a.len() > 2 && a.len() == b.len());
        let whole = envelope::encode(&frame("c")).unwrap();
        let mut inbound = Inbound::new(ReassemblyConfig::default());
        let now = Instant::now();
        let mut messages = vec![];
        for (i, (ca, cb)) in a.iter().zip(&b).enumerate() {
            messages.push((ca.clone(), at(0, 10 + 2 * i as i64)));
            messages.push((cb.clone(), at(0, 11 + 2 * i as i64)));
        }
        let mut complete = vec![];
        for (k, (payload, position)) in messages.iter().enumerate() {
            let message = Message {
                key: "ogs".into(),
                payload: payload.clone(),
                position: position.clone(),
            };
            if let Arrival::Envelope(e) = inbound.accept(&message, now) {
                complete.push(envelope::decode(&e).unwrap().header.frame_id);
            }
            let expect = if k + 1 < messages.len() - 1 {
                Some(at(0, 9))
            } else if k + 1 == messages.len() - 1 {
                Some(at(0, 10))
            } else {
                Some(position.clone())
            };
            assert_eq!(inbound.committable(position), expect, "message {k}");
            let other = Message {
                key: "x".into(),
                payload: whole.clone(),
                position: at(1, k as i64),
            };
            assert!(matches!(inbound.accept(&other, now), Arrival::Envelope(_)));
            assert_eq!(inbound.committable(&other.position), Some(at(1, k as i64)));
        }
        assert_eq!(complete, ["a", "b"]);
        assert_eq!(inbound.held_bytes(), 0);
    }

    #[test]
    fn a_frame_that_stops_arriving_expires_and_a_corrupt_chunk_is_bad() {
        let a = encode_messages(&frame("a"), 8 * 1024).unwrap();
        let mut inbound = Inbound::new(ReassemblyConfig {
            bound_bytes: 1 << 20,
            timeout: Duration::from_secs(10),
        });
        let now = Instant::now();
        let first = Message {
            key: "ogs".into(),
            payload: a[0].clone(),
            position: at(0, 0),
        };
        assert_eq!(inbound.accept(&first, now), Arrival::Pending);
        assert_eq!(inbound.committable(&at(0, 0)), None);
        let gone = inbound.expire(now + Duration::from_secs(11));
        assert_eq!((gone.len(), gone[0].received), (1, 1));
        assert_eq!(inbound.committable(&at(0, 0)), Some(at(0, 0)));
        let mut bad = first.clone();
        bad.payload[20] ^= 0xff;
        assert!(matches!(inbound.accept(&bad, now), Arrival::Bad(r) if r.contains("CRC32C")));
    }
}
