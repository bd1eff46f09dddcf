//! Frame files of every format kessler reads, chosen by extension: FITS ([`crate::fits`]) and PNG or TIFF with a
//! JSON sidecar ([`crate::raster`]).

use std::path::Path;

use crate::Frame;
use crate::fits::{self, FitsError};
use crate::raster::{self, RasterError};

/// Extensions (compared without case) of FITS frame files; `fz` is fpack's tile-compressed FITS (`x.fits.fz`).
pub const FITS_EXTENSIONS: [&str; 4] = ["fits", "fit", "fts", "fz"];
/// Extensions (compared without case) of PNG and TIFF frame files, each with a JSON sidecar.
pub const RASTER_EXTENSIONS: [&str; 3] = ["png", "tif", "tiff"];

/// Why a frame file could not be read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FrameFileError {
    #[error(transparent)]
    Fits(#[from] FitsError),
    #[error(transparent)]
    Raster(#[from] RasterError),
    #[error("{path}: not a frame file (extensions read: .fits .fit .fts .fz .png .tif .tiff)")]
    Unknown { path: String },
}

/// The format of a frame file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fits,
    Raster,
}

/// The format of `path` by its extension; `None` for a file kessler does not read as a frame.
pub fn format(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_string_lossy().to_lowercase();
    if FITS_EXTENSIONS.contains(&ext.as_str()) {
        Some(Format::Fits)
    } else if RASTER_EXTENSIONS.contains(&ext.as_str()) {
        Some(Format::Raster)
    } else {
        None
    }
}

/// Read a frame file of any format; the frame id is the file stem and `default_sensor` the sensor id where the
/// file does not name one.
pub fn read_frame(path: &Path, default_sensor: &str) -> Result<Frame, FrameFileError> {
    match format(path) {
        Some(Format::Fits) => Ok(fits::read_fits(path, default_sensor)?),
        Some(Format::Raster) => Ok(raster::read_raster(path, default_sensor)?),
        None => Err(FrameFileError::Unknown {
            path: path.display().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_frame_ids_follow_the_extension_in_any_case() {
        for (name, want) in [
            ("a.fits", Some(Format::Fits)),
            ("a.FTS", Some(Format::Fits)),
            ("a.fits.fz", Some(Format::Fits)),
            ("a.FZ", Some(Format::Fits)),
            ("a.png", Some(Format::Raster)),
            ("a.TIF", Some(Format::Raster)),
            ("a.png.json", None),
            ("a.fits.part", None),
            ("a", None),
        ] {
            assert_eq!(format(Path::new(name)), want, "{name}");
        }
        for (name, id) in [
            ("night/0001.fits", "0001"),
            ("night/0001.fits.fz", "0001"),
            ("0001.FZ", "0001"),
            ("0001.png", "0001"),
        ] {
            assert_eq!(crate::frame::frame_id_of(Path::new(name)), id, "{name}");
        }
        let e = read_frame(Path::new("notes.txt"), "s").unwrap_err();
        assert!(
            e.to_string().starts_with("notes.txt: not a frame file"),
            "{e}"
        );
    }
}
