//! Recorded datasets through the detector: a folder of frame files and its `truth.csv` (DESIGN.md's format),
//! benchmarked against the truth ([`Dataset::bench`]) or, on its frames with no streak, calibrated
//! ([`Dataset::calibrate`]). A frame file that does not read is skipped and named; the run goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use kessler_ingest::dataset::{TruthError, TruthRow, parse_truth};
use kessler_ingest::file;
use kessler_ingest::frame::frame_id_of;
use kessler_ingest::publish::{PublishError, frame_files};

use crate::bench::{Bench, BenchReport};
use crate::calibrate::Calibration;
use crate::{DetectError, Detector};

/// Why a dataset could not be run.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Truth(#[from] TruthError),
    #[error(transparent)]
    Listing(#[from] PublishError),
    #[error("no frame files (FITS, PNG, TIFF) in {}", .0.display())]
    Empty(PathBuf),
    #[error("{}: {source}", path.display())]
    Detect { path: PathBuf, source: DetectError },
}

/// A frame file that was not used, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A recorded dataset: its truth rows and its frame files (sorted by name).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dir: PathBuf,
    pub truth: Vec<TruthRow>,
    pub files: Vec<PathBuf>,
}

impl Dataset {
    /// Read `dir/truth.csv` and list the frame files of `dir`.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let path = dir.join("truth.csv");
        let text = std::fs::read_to_string(&path).map_err(|source| DatasetError::Read {
            path: path.clone(),
            source,
        })?;
        let truth = parse_truth(&path.display().to_string(), &text)?;
        let files = frame_files(&[dir.to_path_buf()])?;
        if files.is_empty() {
            return Err(DatasetError::Empty(dir.to_path_buf()));
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            truth,
            files,
        })
    }

    /// Score the first of `detectors` against the truth and time them all (see [`Bench`]); `progress(done, of)`
    /// after each file.
    pub fn bench(
        &self,
        detectors: &[Detector],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(BenchReport, Vec<Skipped>), DatasetError> {
        let mut bench = Bench::new(detectors, &self.truth);
        let mut skipped = vec![];
        for (i, path) in self.files.iter().enumerate() {
            match file::read_frame(path, "bench") {
                Ok(frame) => bench.add(&frame).map_err(|source| DatasetError::Detect {
                    path: path.clone(),
                    source,
                })?,
                Err(e) => skipped.push(Skipped {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            }
            progress(i + 1, self.files.len());
        }
        Ok((bench.report(), skipped))
    }

    /// Add the frames with no truth row (no streak) to `calibration`; `progress(used, of)` after each file.
    pub fn calibrate(
        &self,
        calibration: &mut Calibration,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Skipped>, DatasetError> {
        let with_streaks: HashSet<&str> = self.truth.iter().map(|t| t.frame.as_str()).collect();
        let mut skipped = vec![];
        for (i, path) in self.files.iter().enumerate() {
            // A frame's id is its file's stem, so frames with a streak are passed over unread.
            if with_streaks.contains(frame_id_of(path).as_str()) {
                progress(i + 1, self.files.len());
                continue;
            }
            match file::read_frame(path, "calibrate") {
                Ok(frame) => {
                    calibration
                        .add(&frame)
                        .map_err(|source| DatasetError::Detect {
                            path: path.clone(),
                            source,
                        })?;
                }
                Err(e) => skipped.push(Skipped {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            }
            progress(i + 1, self.files.len());
        }
        Ok(skipped)
    }
}
