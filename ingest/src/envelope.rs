//! The frame envelope: how a frame travels on the `kessler.frames` topic.
//!
//! Layout (version 1, all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `KSLF` |
//! | 2 | layout version (1) |
//! | 4 | header length H |
//! | H | [`FrameHeader`] as JSON (times in UTC), with the frame's `width` and `height` after `sensor_id` |
//! | 1 | pixel type: 1 = u16, 2 = f32 |
//! | width x height x size | pixels, row-major |
//! | 4 | CRC32C of every byte before it |
//!
//! Integer-valued frames (CCD counts) travel as u16, half the size of f32. An envelope larger than the producer's
//! message limit travels in chunks ([`crate::chunk`]).

use ndarray::Array2;
use serde::Deserialize;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::frame::{Frame, FrameHeader, fits_in_u16};

const MAGIC: &[u8; 4] = b"KSLF";
const VERSION: u16 = 1;
const PIXELS_U16: u8 = 1;
const PIXELS_F32: u8 = 2;

/// Why bytes are not a valid envelope; offsets are byte offsets into the message.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope too short: {len} bytes, need at least {need} at offset {offset}")]
    Short {
        len: usize,
        need: usize,
        offset: usize,
    },
    #[error("not a frame envelope (magic at offset 0 is {0:?})")]
    Magic([u8; 4]),
    #[error("envelope layout version {0} is not supported (this build reads 1)")]
    Version(u16),
    #[error("envelope header (offset 10) is not valid JSON: {0}")]
    Header(serde_json::Error),
    #[error("envelope pixel type {0} at offset {1} is unknown")]
    PixelType(u8, usize),
    #[error("envelope CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("frame {frame_id}: {pixels} pixels for a {width}x{height} header")]
    Size {
        frame_id: String,
        pixels: usize,
        width: u32,
        height: u32,
    },
    #[error("frame {frame_id}: header field {field}: {problem}")]
    BadField {
        frame_id: String,
        field: &'static str,
        problem: String,
    },
    #[error("frame {frame_id}: pixel (x {x}, y {y}) is not finite")]
    NotFinite {
        frame_id: String,
        x: usize,
        y: usize,
    },
}

/// The header as it travels: [`FrameHeader`]'s fields, with the frame's size (the shape of its pixels) after
/// `sensor_id`, in the order of layout version 1.
struct WireHeader<'a> {
    header: &'a FrameHeader,
    width: u32,
    height: u32,
}

impl Serialize for WireHeader<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Every field by name: a field added to FrameHeader does not compile here until it has its place.
        let FrameHeader {
            frame_id,
            sensor_id,
            start,
            exposure_s,
            site,
            wcs,
            radar,
            instrument,
        } = self.header;
        let mut out = serializer.serialize_struct("FrameHeader", 10)?;
        out.serialize_field("frame_id", frame_id)?;
        out.serialize_field("sensor_id", sensor_id)?;
        out.serialize_field("width", &self.width)?;
        out.serialize_field("height", &self.height)?;
        out.serialize_field("start", start)?;
        out.serialize_field("exposure_s", exposure_s)?;
        out.serialize_field("site", site)?;
        out.serialize_field("wcs", wcs)?;
        // As FrameHeader's own `skip_serializing_if`: absent rather than null.
        match radar {
            Some(_) => out.serialize_field("radar", radar)?,
            None => out.skip_field("radar")?,
        }
        match instrument {
            Some(_) => out.serialize_field("instrument", instrument)?,
            None => out.skip_field("instrument")?,
        }
        out.end()
    }
}

/// [`WireHeader`] as read.
#[derive(Deserialize)]
#[serde(rename = "FrameHeader")]
struct ReadHeader {
    width: u32,
    height: u32,
    #[serde(flatten)]
    header: FrameHeader,
}

/// Encode a frame; fails when a header field is empty or out of range, or a pixel is NaN/infinite.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, EnvelopeError> {
    validate(frame)?;
    let size = |field, n: usize| {
        u32::try_from(n).map_err(|_| EnvelopeError::BadField {
            frame_id: frame.header.frame_id.clone(),
            field,
            problem: format!("{n} px does not fit the envelope's 32 bits"),
        })
    };
    let wire = WireHeader {
        header: &frame.header,
        width: size("width", frame.width())?,
        height: size("height", frame.height())?,
    };
    let header = serde_json::to_vec(&wire).expect("a frame header always serialises");
    let as_u16 = fits_in_u16(&frame.pixels);
    let size = if as_u16 { 2 } else { 4 };
    let mut out = Vec::with_capacity(15 + header.len() + frame.pixels.len() * size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    // Row-major, whatever the array's memory layout: `iter` walks the logical order.
    if as_u16 {
        out.push(PIXELS_U16);
        out.extend(frame.pixels.iter().flat_map(|&v| (v as u16).to_le_bytes()));
    } else {
        out.push(PIXELS_F32);
        out.extend(frame.pixels.iter().flat_map(|&v| v.to_le_bytes()));
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn validate(frame: &Frame) -> Result<(), EnvelopeError> {
    let h = &frame.header;
    let header = |field, problem: &str| EnvelopeError::BadField {
        frame_id: h.frame_id.clone(),
        field,
        problem: problem.into(),
    };
    if h.frame_id.is_empty() {
        return Err(header("frame_id", "empty"));
    }
    if h.sensor_id.is_empty() {
        return Err(header("sensor_id", "empty"));
    }
    if !h.exposure_s.is_finite() || h.exposure_s <= 0.0 {
        return Err(header("exposure_s", "must be a positive number of seconds"));
    }
    if let Some(((y, x), _)) = frame.pixels.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(EnvelopeError::NotFinite {
            frame_id: h.frame_id.clone(),
            x,
            y,
        });
    }
    Ok(())
}

fn take(bytes: &[u8], offset: usize, n: usize) -> Result<&[u8], EnvelopeError> {
    bytes.get(offset..offset + n).ok_or(EnvelopeError::Short {
        len: bytes.len(),
        need: n,
        offset,
    })
}

/// Decode and check an envelope.
pub fn decode(bytes: &[u8]) -> Result<Frame, EnvelopeError> {
    let magic: [u8; 4] = take(bytes, 0, 4)?.try_into().expect("4 bytes");
    if &magic != MAGIC {
        return Err(EnvelopeError::Magic(magic));
    }
    let body_len = bytes.len().checked_sub(4).ok_or(EnvelopeError::Short {
        len: bytes.len(),
        need: 4,
        offset: 0,
    })?;
    let stored = u32::from_le_bytes(take(bytes, body_len, 4)?.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[..body_len]);
    if stored != computed {
        return Err(EnvelopeError::Crc { stored, computed });
    }
    let version = u16::from_le_bytes(take(bytes, 4, 2)?.try_into().expect("2 bytes"));
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    let header_len = u32::from_le_bytes(take(bytes, 6, 4)?.try_into().expect("4 bytes")) as usize;
    let ReadHeader {
        width,
        height,
        header,
    } = serde_json::from_slice(take(bytes, 10, header_len)?).map_err(EnvelopeError::Header)?;
    let type_at = 10 + header_len;
    let kind = take(bytes, type_at, 1)?[0];
    let data = bytes
        .get(type_at + 1..body_len)
        .ok_or(EnvelopeError::Short {
            len: bytes.len(),
            need: 1,
            offset: type_at,
        })?;
    let pixels: Vec<f32> = match kind {
        PIXELS_U16 => data
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as f32)
            .collect(),
        PIXELS_F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        other => return Err(EnvelopeError::PixelType(other, type_at)),
    };
    let count = pixels.len();
    let pixels =
        Array2::from_shape_vec((height as usize, width as usize), pixels).map_err(|_| {
            EnvelopeError::Size {
                frame_id: header.frame_id.clone(),
                pixels: count,
                width,
                height,
            }
        })?;
    let frame = Frame { header, pixels };
    validate(&frame)?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hifitime::Epoch;

    /// A 2 x 2 frame of `pixels` (row-major).
    fn frame(pixels: [f32; 4]) -> Frame {
        Frame {
            header: FrameHeader {
                frame_id: "f".into(),
                sensor_id: "s".into(),
                start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0),
                exposure_s: 1.0,
                site: None,
                wcs: None,
                radar: None,
                instrument: None,
            },
            pixels: Array2::from_shape_vec((2, 2), pixels.to_vec()).unwrap(),
        }
    }

    #[test]
    fn round_trips_both_pixel_types() {
        for px in [[1.0, 2.0, 3.0, 65535.0], [1.5, -2.0, 3.0, 4.0]] {
            let f = frame(px);
            assert_eq!(decode(&encode(&f).unwrap()).unwrap(), f);
        }
    }

    #[test]
    fn the_wire_format_is_layout_version_1() {
        // The bytes the encoder wrote before frames held their size in the pixel array's shape.
        let header = br#"{"frame_id":"f","sensor_id":"s","width":2,"height":2,"start":"2006-06-26T22:00:00 UTC","exposure_s":1.0,"site":null,"wcs":null}"#;
        let mut want = b"KSLF\x01\x00".to_vec();
        want.extend_from_slice(&(header.len() as u32).to_le_bytes());
        want.extend_from_slice(header);
        want.push(1);
        want.extend([1u16, 2, 3, 65535].iter().flat_map(|v| v.to_le_bytes()));
        want.extend(crc32c::crc32c(&want).to_le_bytes());
        assert_eq!(encode(&frame([1.0, 2.0, 3.0, 65535.0])).unwrap(), want);
        // A transposed (column-major) array travels row by row all the same.
        let mut f = frame([1.0, 3.0, 2.0, 65535.0]);
        f.pixels = f.pixels.reversed_axes();
        assert_eq!(encode(&f).unwrap(), want);
    }

    #[test]
    fn rejects_corruption_wrong_sizes_and_nans() {
        let good = encode(&frame([1.0; 4])).unwrap();
        let mut bytes = good.clone();
        let last = bytes.len() - 6;
        bytes[last] ^= 0xff;
        assert!(matches!(decode(&bytes), Err(EnvelopeError::Crc { .. })));
        // One pixel short of the 2 x 2 the header declares (CRC made right).
        let mut short = good[..good.len() - 6].to_vec();
        short.extend(crc32c::crc32c(&short).to_le_bytes());
        assert!(matches!(
            decode(&short),
            Err(EnvelopeError::Size {
                pixels: 3,
                width: 2,
                height: 2,
                ..
            })
        ));
        assert!(matches!(
            encode(&frame([1.0, 1.0, f32::NAN, 0.0])),
            Err(EnvelopeError::NotFinite { x: 0, y: 1, .. })
        ));
        assert!(matches!(decode(b"KSLX...."), Err(EnvelopeError::Magic(_))));
    }
}
