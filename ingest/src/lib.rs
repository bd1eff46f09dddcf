//! Frames into kessler: the [`Frame`] type and its header, FITS reading and writing, the envelope that carries a
//! frame on the wire, and the transports that move messages between stages.
//!
//! - [`Frame`] / [`FrameHeader`]: pixels (f32 ADU, an [`ndarray::Array2`] of shape `(height, width)`: pixel (x, y)
//!   is `pixels[[y, x]]`) with sensor, site, exposure start (UTC) and length, and the [`Wcs`] that maps pixels to
//!   ICRS right ascension and declination. A frame's size is the shape of its pixel array and nothing else (the
//!   header has no width or height to disagree with it); the readers check the size a file or message declares
//!   against the pixels it holds, once, where they decode it.
//! - [`fits`]: read the first image HDU of a FITS file, plain or tile-compressed (fpack's `.fz`), into a frame;
//!   write a frame as FITS.
//! - [`raster`]: PNG and TIFF frames (8/16-bit grey) with a JSON sidecar for time, site, WCS and camera.
//! - [`file`]: a frame file of any of these formats, by extension.
//! - [`dataset`]: recorded datasets' `truth.csv`; [`utc`]: time as text, parsed and written the same way everywhere.
//! - [`envelope`]: the versioned binary form of a frame on the `kessler.frames` topic, with a CRC32C.
//! - [`chunk`]: envelopes larger than a message split into chunks; [`inbound`] puts them back together and holds
//!   a consumer's progress to the first chunk of a frame still arriving.
//! - [`sensor`]: the sensor configuration (TOML) that fills a frame's missing site, pointing and noise model.
//! - [`transport`]: [`Source`] and [`Sink`], implemented by bounded in-process queues and by [`kafka`];
//!   [`topics`]: the topic names of one pipeline and the dead letters every stage writes.
//! - [`publish`]: frame files (one, a folder, or a folder watched as files arrive, with a ledger) onto the frames
//!   topic, once each.
//!
//! ```
//! use kessler_ingest::{envelope, Frame, FrameHeader, Wcs};
//! use hifitime::Epoch;
//! use ndarray::array;
//!
//! let frame = Frame {
//!     header: FrameHeader {
//!         frame_id: "night1-0001".into(),
//!         sensor_id: "ogs".into(),
//!         start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0),
//!         exposure_s: 2.0,
//!         site: None,
//!         wcs: Some(Wcs::tan_centred(120.0, 30.0, 0.5, 0.0, 0.004, 0.0)),
//!         radar: None,
//!         instrument: None,
//!     },
//!     // One row, two columns.
//!     pixels: array![[1000.0, 1010.0]],
//! };
//! assert_eq!((frame.width(), frame.height()), (2, 1));
//! let bytes = envelope::encode(&frame).unwrap();
//! assert_eq!(envelope::decode(&bytes).unwrap(), frame);
//! ```

pub mod chunk;
pub mod dataset;
pub mod envelope;
pub mod file;
pub mod fits;
pub mod frame;
mod fz;
pub mod inbound;
pub mod kafka;
pub mod publish;
pub mod raster;
pub mod sensor;
pub mod topics;
pub mod transport;
pub mod utc;
pub mod wcs;

pub use frame::{Frame, FrameHeader, GeodeticSite, Instrument, RadarAxes};
pub use transport::{Message, Sink, Source};
pub use wcs::{Projection, Wcs};
