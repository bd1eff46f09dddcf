//! Frames larger than a message: the envelope ([`crate::envelope`]) split into chunks on the way out and put back
//! together, in bounded memory, on the way in.
//!
//! A chunk (layout version 1, integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `KSLC` |
//! | 2 | layout version (1) |
//! | 2 | frame id length F |
//! | F | frame id (UTF-8) |
//! | 4 | chunk index i (0-based) |
//! | 4 | chunk count n |
//! | 8 | envelope length L (bytes of all chunks together) |
//! | rest - 4 | this chunk's part of the envelope |
//! | 4 | CRC32C of every byte before it |
//!
//! The chunks of a frame are sent in order with the same key (the sensor id), so they share a partition and arrive
//! in order; the reassembled envelope carries its own CRC32C over the whole frame. A chunk out of order, a frame
//! that stops arriving ([`Reassembler::expire`]) and a frame that would not fit the memory bound are errors the
//! caller dead-letters; an exact repeat of a chunk already held (a producer retry) is ignored.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::envelope::{self, EnvelopeError};
use crate::frame::Frame;

const MAGIC: &[u8; 4] = b"KSLC";
const VERSION: u16 = 1;
/// Bytes a chunk adds around its part besides the frame id: magic, version, id length, index, count, length, CRC.
const OVERHEAD: usize = 4 + 2 + 2 + 4 + 4 + 8 + 4;
/// Room left in each message for the key, the record's own framing and headers, bytes.
const RECORD_SLACK: usize = 512;

/// Why a chunk was refused or a frame could not be put back together.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChunkError {
    #[error("chunk of {len} bytes is too short (a chunk has at least {OVERHEAD} bytes)")]
    Short { len: usize },
    #[error("chunk layout version {0} is not supported (this build reads 1)")]
    Version(u16),
    #[error("chunk CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("chunk header: {0}")]
    Header(String),
    #[error(
        "frame {frame_id}: chunk {index} arrived after {expected} of {count} (out of order); the frame is dropped"
    )]
    OutOfOrder {
        frame_id: String,
        index: u32,
        expected: u32,
        count: u32,
    },
    #[error(
        "frame {frame_id}: {length} bytes would exceed the reassembly bound of {bound} bytes \
         ({held} held in {frames} incomplete frames)"
    )]
    TooLarge {
        frame_id: String,
        length: u64,
        bound: usize,
        held: usize,
        frames: usize,
    },
    #[error("frame {frame_id}: chunks hold {got} bytes, the first chunk promised {length}")]
    Length {
        frame_id: String,
        got: u64,
        length: u64,
    },
}

/// Whether `payload` is a chunk (else it is a whole envelope, or neither).
pub fn is_chunk(payload: &[u8]) -> bool {
    payload.starts_with(MAGIC)
}

/// The messages that carry `frame`: its envelope whole when it fits `max_message_bytes`, else chunks that each
/// fit. Fails as [`envelope::encode`] does, or when `max_message_bytes` leaves no room for data.
pub fn encode_messages(
    frame: &Frame,
    max_message_bytes: usize,
) -> Result<Vec<Vec<u8>>, EnvelopeError> {
    split(
        envelope::encode(frame)?,
        &frame.header.frame_id,
        max_message_bytes,
    )
}

/// The messages that carry the encoded envelope `whole` of frame `frame_id` (see [`encode_messages`]).
pub fn split(
    whole: Vec<u8>,
    frame_id: &str,
    max_message_bytes: usize,
) -> Result<Vec<Vec<u8>>, EnvelopeError> {
    let id = frame_id.as_bytes();
    if whole.len() + RECORD_SLACK <= max_message_bytes {
        return Ok(vec![whole]);
    }
    let part = max_message_bytes
        .checked_sub(RECORD_SLACK + OVERHEAD + id.len())
        .filter(|&p| p > 0 && id.len() <= u16::MAX as usize)
        .ok_or_else(|| EnvelopeError::BadField {
            frame_id: frame_id.to_string(),
            field: "frame_id",
            problem: format!("no room for data in a message of {max_message_bytes} bytes"),
        })?;
    let count = whole.len().div_ceil(part) as u32;
    Ok(whole
        .chunks(part)
        .enumerate()
        .map(|(i, data)| {
            let mut out = Vec::with_capacity(OVERHEAD + id.len() + data.len());
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&VERSION.to_le_bytes());
            out.extend_from_slice(&(id.len() as u16).to_le_bytes());
            out.extend_from_slice(id);
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&(whole.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
            let crc = crc32c::crc32c(&out);
            out.extend_from_slice(&crc.to_le_bytes());
            out
        })
        .collect())
}

/// The frame a message of the frames topic belongs to, and whether the message completes it (a whole envelope,
/// or the last chunk of a frame); `None` for a message that is neither.
pub fn frame_of(payload: &[u8]) -> Option<(String, bool)> {
    if is_chunk(payload) {
        let c = decode_chunk(payload).ok()?;
        return Some((c.frame_id, c.index + 1 == c.count));
    }
    envelope::decode(payload)
        .ok()
        .map(|f| (f.header.frame_id, true))
}

/// One decoded chunk, borrowing its data from the message.
#[derive(Debug, PartialEq)]
pub struct Chunk<'a> {
    pub frame_id: String,
    pub index: u32,
    pub count: u32,
    /// Length of the whole envelope, bytes.
    pub length: u64,
    pub data: &'a [u8],
}

/// Decode and check one chunk.
pub fn decode_chunk(bytes: &[u8]) -> Result<Chunk<'_>, ChunkError> {
    if bytes.len() < OVERHEAD || !is_chunk(bytes) {
        return Err(ChunkError::Short { len: bytes.len() });
    }
    let body = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[..body]);
    if stored != computed {
        return Err(ChunkError::Crc { stored, computed });
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(ChunkError::Version(version));
    }
    let id_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let fixed = 8 + id_len;
    if body < fixed + 16 {
        return Err(ChunkError::Header(format!(
            "frame id of {id_len} bytes runs past the chunk's {body} bytes"
        )));
    }
    let frame_id = std::str::from_utf8(&bytes[8..fixed])
        .map_err(|e| ChunkError::Header(format!("frame id is not UTF-8: {e}")))?
        .to_string();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let (index, count) = (u32_at(fixed), u32_at(fixed + 4));
    let length = u64::from_le_bytes(bytes[fixed + 8..fixed + 16].try_into().expect("8 bytes"));
    if count == 0 || index >= count {
        return Err(ChunkError::Header(format!(
            "frame {frame_id}: chunk index {index} of {count}"
        )));
    }
    Ok(Chunk {
        frame_id,
        index,
        count,
        length,
        data: &bytes[fixed + 16..body],
    })
}

/// A frame whose chunks are still arriving.
struct Partial<P> {
    count: u32,
    length: u64,
    data: Vec<u8>,
    /// CRC32C of each chunk received, to tell a repeat from a conflict.
    chunk_crcs: Vec<u32>,
    started: Instant,
    /// Where the first chunk was: the source may not record progress past it until the frame is done.
    first: P,
}

/// What [`Reassembler::accept`] made of a chunk.
#[derive(Debug, PartialEq)]
pub enum Accepted<P> {
    /// The last chunk: the whole envelope, and where the frame's first chunk was.
    Complete { envelope: Vec<u8>, first: P },
    /// More chunks to come (or an exact repeat of one held).
    Pending,
}

/// A frame given up on by [`Reassembler::expire`] or evicted by the memory bound.
#[derive(Debug, PartialEq)]
pub struct Abandoned<P> {
    pub frame_id: String,
    pub received: u32,
    pub count: u32,
    pub first: P,
}

/// Puts chunked frames back together. At most `bound_bytes` of envelopes are held at once (each frame reserves
/// its whole length when its first chunk arrives); `P` is the caller's record of where a chunk came from (a Kafka
/// position), kept for the frame's first chunk.
pub struct Reassembler<P> {
    bound_bytes: usize,
    timeout: Duration,
    held_bytes: usize,
    partial: HashMap<String, Partial<P>>,
}

impl<P: Clone> Reassembler<P> {
    pub fn new(bound_bytes: usize, timeout: Duration) -> Self {
        Reassembler {
            bound_bytes,
            timeout,
            held_bytes: 0,
            partial: HashMap::new(),
        }
    }

    /// Bytes reserved by incomplete frames.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Where the first chunks of the incomplete frames came from.
    pub fn pending_firsts(&self) -> impl Iterator<Item = &P> {
        self.partial.values().map(|p| &p.first)
    }

    /// Take one chunk (already decoded from the message at `position`) at time `now`.
    pub fn accept(
        &mut self,
        chunk: Chunk<'_>,
        position: P,
        now: Instant,
    ) -> Result<Accepted<P>, ChunkError> {
        let crc = crc32c::crc32c(chunk.data);
        if chunk.index == 0 {
            // A frame sent again from its start (a publisher that restarted) replaces what was held.
            self.drop_partial(&chunk.frame_id);
            let length = chunk.length;
            if length > (self.bound_bytes - self.held_bytes) as u64 {
                return Err(ChunkError::TooLarge {
                    frame_id: chunk.frame_id,
                    length,
                    bound: self.bound_bytes,
                    held: self.held_bytes,
                    frames: self.partial.len(),
                });
            }
            self.held_bytes += length as usize;
            let mut data = Vec::with_capacity(length as usize);
            data.extend_from_slice(chunk.data);
            self.partial.insert(
                chunk.frame_id.clone(),
                Partial {
                    count: chunk.count,
                    length,
                    data,
                    chunk_crcs: vec![crc],
                    started: now,
                    first: position,
                },
            );
        } else {
            let Some(p) = self.partial.get_mut(&chunk.frame_id) else {
                return Err(ChunkError::OutOfOrder {
                    frame_id: chunk.frame_id,
                    index: chunk.index,
                    expected: 0,
                    count: chunk.count,
                });
            };
            let expected = p.chunk_crcs.len() as u32;
            if chunk.index < expected && p.chunk_crcs[chunk.index as usize] == crc {
                return Ok(Accepted::Pending);
            }
            if chunk.index != expected || chunk.count != p.count || chunk.length != p.length {
                self.drop_partial(&chunk.frame_id);
                return Err(ChunkError::OutOfOrder {
                    frame_id: chunk.frame_id,
                    index: chunk.index,
                    expected,
                    count: chunk.count,
                });
            }
            if p.data.len() as u64 + chunk.data.len() as u64 > p.length {
                let got = p.data.len() as u64 + chunk.data.len() as u64;
                let length = p.length;
                self.drop_partial(&chunk.frame_id);
                return Err(ChunkError::Length {
                    frame_id: chunk.frame_id,
                    got,
                    length,
                });
            }
            p.data.extend_from_slice(chunk.data);
            p.chunk_crcs.push(crc);
        }
        let p = &self.partial[&chunk.frame_id];
        if (p.chunk_crcs.len() as u32) < p.count {
            return Ok(Accepted::Pending);
        }
        let p = self
            .partial
            .remove(&chunk.frame_id)
            .expect("the frame is held");
        self.held_bytes -= p.length as usize;
        if p.data.len() as u64 != p.length {
            return Err(ChunkError::Length {
                frame_id: chunk.frame_id,
                got: p.data.len() as u64,
                length: p.length,
            });
        }
        Ok(Accepted::Complete {
            envelope: p.data,
            first: p.first,
        })
    }

    /// Give up on the frames whose first chunk arrived more than the timeout before `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<Abandoned<P>> {
        let old: Vec<String> = self
            .partial
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) > self.timeout)
            .map(|(id, _)| id.clone())
            .collect();
        old.into_iter()
            .filter_map(|id| self.drop_partial(&id))
            .collect()
    }

    fn drop_partial(&mut self, frame_id: &str) -> Option<Abandoned<P>> {
        let p = self.partial.remove(frame_id)?;
        self.held_bytes -= p.length as usize;
        Some(Abandoned {
            frame_id: frame_id.to_string(),
            received: p.chunk_crcs.len() as u32,
            count: p.count,
            first: p.first,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameHeader;
    use hifitime::Epoch;

    fn frame(id: &str, side: u32) -> Frame {
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
                (side as usize, side as usize),
                (0..side * side).map(|i| (i % 65536) as f32).collect(),
            )
            .unwrap(),
        }
    }

    fn feed(
        r: &mut Reassembler<usize>,
        messages: &[Vec<u8>],
        now: Instant,
    ) -> Vec<Accepted<usize>> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| r.accept(decode_chunk(m).unwrap(), i, now).unwrap())
            .collect()
    }

    #[test]
    fn a_frame_over_the_limit_travels_in_chunks_that_each_fit_and_comes_back_whole() {
        let f = frame("big", 300);
        let messages = encode_messages(&f, 16 * 1024).unwrap();
        assert_eq!(messages.len(), 12);
        assert!(messages.iter().all(|m| m.len() + RECORD_SLACK <= 16 * 1024));
        let mut r = Reassembler::new(1 << 20, Duration::from_secs(60));
        let now = Instant::now();
        let mut out = feed(&mut r, &messages, now);
        let Some(Accepted::Complete { envelope, first: 0 }) = out.pop() else {
            panic!("the last chunk completes the frame")
        };
        assert_eq!(envelope::decode(&envelope).unwrap(), f);
        assert!(out.iter().all(|a| *a == Accepted::Pending));
        assert_eq!(r.held_bytes(), 0);
        let small = encode_messages(&frame("small", 4), 16 * 1024).unwrap();
        assert_eq!(small.len(), 1);
        assert!(!is_chunk(&small[0]));

        let mut r = Reassembler::new(1 << 20, Duration::from_secs(60));
        feed(&mut r, &messages[..3], now);
        // A producer retry repeats a chunk: ignored.
        assert_eq!(
            r.accept(decode_chunk(&messages[1]).unwrap(), 9, now),
            Ok(Accepted::Pending)
        );
        let Ok(Accepted::Complete { envelope, first }) = messages[3..]
            .iter()
            .map(|m| r.accept(decode_chunk(m).unwrap(), 9, now))
            .last()
            .unwrap()
        else {
            panic!("the frame completes")
        };
        assert_eq!((envelope::decode(&envelope).unwrap(), first), (f, 0));
    }

    #[test]
    fn out_of_order_too_large_stale_and_corrupt_chunks_are_errors() {
        let messages = encode_messages(&frame("f", 200), 8 * 1024).unwrap();
        let now = Instant::now();
        let mut r = Reassembler::new(1 << 20, Duration::from_secs(5));
        feed(&mut r, &messages[..2], now);
        let err = r
            .accept(decode_chunk(&messages[3]).unwrap(), 3, now)
            .unwrap_err();
        assert_eq!(
            err,
            ChunkError::OutOfOrder {
                frame_id: "f".into(),
                index: 3,
                expected: 2,
                count: messages.len() as u32
            }
        );
        assert_eq!(r.held_bytes(), 0, "the broken frame's memory is released");
        assert!(matches!(
            r.accept(decode_chunk(&messages[1]).unwrap(), 1, now),
            Err(ChunkError::OutOfOrder { expected: 0, .. })
        ));

        let mut small = Reassembler::new(50_000, Duration::from_secs(5));
        assert!(matches!(
            small.accept(decode_chunk(&messages[0]).unwrap(), 0, now),
            Err(ChunkError::TooLarge { bound: 50_000, .. })
        ));

        feed(&mut r, &messages[..2], now);
        assert!(r.expire(now + Duration::from_secs(4)).is_empty());
        assert_eq!(
            r.expire(now + Duration::from_secs(6)),
            vec![Abandoned {
                frame_id: "f".into(),
                received: 2,
                count: messages.len() as u32,
                first: 0
            }]
        );
        assert_eq!(r.held_bytes(), 0);

        let mut bad = messages[0].clone();
        bad[30] ^= 1;
        assert!(matches!(decode_chunk(&bad), Err(ChunkError::Crc { .. })));
        assert!(matches!(
            decode_chunk(b"KSLC"),
            Err(ChunkError::Short { len: 4 })
        ));
    }
}
