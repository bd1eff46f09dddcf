//! Recorded datasets through the detector: a folder of frame files and its `truth.csv` (DESIGN.md's format),
//! benchmarked against the truth ([`Dataset::bench`]) or, on its frames with no streak, calibrated
//! ([`Dataset::calibrate`]). A frame file that does not read is skipped and named; the run goes on.
//!
//! A truth row names its frame by file name (`frame_0001.fits`, as DESIGN.md's format reads) or by stem
//! (`frame_0001`, as `kessler simulate` writes it). A row that names no frame file of the folder, or a stem that two
//! files share, is an error naming the row's line: a benchmark that scored every detection as false against truth it
//! never matched would be silently wrong.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kessler_ingest::dataset::{TruthError, TruthRow, parse_truth_lines};
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
    #[error(
        "{}, line {line}: frame '{frame}' is no frame file of {} (by file name or stem)",
        truth.display(), dir.display()
    )]
    UnknownFrame {
        truth: PathBuf,
        line: u64,
        frame: String,
        dir: PathBuf,
    },
    #[error(
        "{}, line {line}: frame '{frame}' could be {} or {}: name the file",
        truth.display(), first.display(), second.display()
    )]
    AmbiguousFrame {
        truth: PathBuf,
        line: u64,
        frame: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// A frame file that was not used, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// A recorded dataset: its frame files (sorted by name) and the truth rows of each.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// Per file of `files`, in the same order: its truth rows (none: no streak).
    pub truth: Vec<Vec<TruthRow>>,
}

impl Dataset {
    /// Read `dir/truth.csv` and list the frame files of `dir`.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let path = dir.join("truth.csv");
        let text = std::fs::read_to_string(&path).map_err(|source| DatasetError::Read {
            path: path.clone(),
            source,
        })?;
        let rows = parse_truth_lines(&path.display().to_string(), &text)?;
        let files = frame_files(&[dir.to_path_buf()])?;
        if files.is_empty() {
            return Err(DatasetError::Empty(dir.to_path_buf()));
        }
        let truth = assign_rows(dir, &path, &files, rows)?;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            files,
            truth,
        })
    }

    /// Score the first of `detectors` against the truth and time them all (see [`Bench`]); `progress(done, of)`
    /// after each file.
    pub fn bench(
        &self,
        detectors: &[Detector],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(BenchReport, Vec<Skipped>), DatasetError> {
        let mut bench = Bench::new(detectors);
        let mut skipped = vec![];
        for (i, (path, truth)) in self.files.iter().zip(&self.truth).enumerate() {
            match file::read_frame(path, "bench") {
                Ok(frame) => bench
                    .add(&frame, truth)
                    .map_err(|source| DatasetError::Detect {
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
        let mut skipped = vec![];
        for (i, (path, truth)) in self.files.iter().zip(&self.truth).enumerate() {
            // Frames with a streak are passed over unread.
            if !truth.is_empty() {
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

/// The truth `rows` (with their lines in `truth_path`) of each of `files`, matched by file name or stem.
fn assign_rows(
    dir: &Path,
    truth_path: &Path,
    files: &[PathBuf],
    rows: Vec<(u64, TruthRow)>,
) -> Result<Vec<Vec<TruthRow>>, DatasetError> {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, path) in files.iter().enumerate() {
        if let Some(name) = path.file_name() {
            by_name.insert(name.to_string_lossy().into_owned(), i);
        }
        by_stem.entry(frame_id_of(path)).or_default().push(i);
    }
    let mut truth = vec![vec![]; files.len()];
    for (line, row) in rows {
        let index = match (by_name.get(&row.frame), by_stem.get(&row.frame)) {
            (Some(&i), _) => i,
            (None, Some(several)) if several.len() > 1 => {
                return Err(DatasetError::AmbiguousFrame {
                    truth: truth_path.to_path_buf(),
                    line,
                    frame: row.frame,
                    first: files[several[0]].clone(),
                    second: files[several[1]].clone(),
                });
            }
            (None, Some(one)) => one[0],
            (None, None) => {
                return Err(DatasetError::UnknownFrame {
                    truth: truth_path.to_path_buf(),
                    line,
                    frame: row.frame,
                    dir: dir.to_path_buf(),
                });
            }
        };
        truth[index].push(row);
    }
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: &str) -> (u64, TruthRow) {
        let row = TruthRow {
            frame: frame.into(),
            ..TruthRow::default()
        };
        (2, row)
    }

    fn files() -> Vec<PathBuf> {
        [
            "d/frame_0001.fits",
            "d/frame_0002.fits",
            "d/b.fits",
            "d/b.fits.fz",
        ]
        .map(PathBuf::from)
        .to_vec()
    }

    #[test]
    fn rows_name_frames_by_file_name_or_stem() {
        let rows = vec![row("frame_0001.fits"), row("frame_0002"), row("b.fits.fz")];
        let truth = assign_rows(Path::new("d"), Path::new("d/truth.csv"), &files(), rows).unwrap();
        let counts: Vec<usize> = truth.iter().map(Vec::len).collect();
        assert_eq!(counts, [1, 1, 0, 1]);
    }

    #[test]
    fn a_row_naming_no_frame_or_two_is_an_error_naming_its_line() {
        let err = assign_rows(
            Path::new("d"),
            Path::new("d/truth.csv"),
            &files(),
            vec![row("frame_0001"), (7, row("frame_0009.fits").1)],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "d/truth.csv, line 7: frame 'frame_0009.fits' is no frame file of d (by file name or stem)"
        );
        let err = assign_rows(
            Path::new("d"),
            Path::new("d/truth.csv"),
            &files(),
            vec![row("b")],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "d/truth.csv, line 2: frame 'b' could be d/b.fits or d/b.fits.fz: name the file"
        );
    }
}
