//! Frame files onto the frames topic, once each (`kessler publish`).
//!
//! A file that cannot be read as a frame (truncated, corrupt, no time, an unknown sensor) goes to the dead-letter
//! topic with the reason and its path; publishing goes on. With `--watch` a folder is followed: a file is taken
//! once its size and modification time have not changed for the settle time (names starting with `.` and
//! endings other than .fits/.fit/.fts/.png/.tif/.tiff, such as `.part` or `.tmp`, are left alone until renamed;
//! a PNG or TIFF frame's JSON sidecar must be in place before the image), and every
//! outcome is written to a ledger before the next file, so a restart neither republishes nor misses a file.
//!
//! The ledger (one line per event, appended and synced to disk) records `sending` before a file's first message
//! and `sent` or `dead` after the broker acknowledged. A file left at `sending` by a publisher that died mid-send
//! is checked against the frames topic's last messages on restart: if its frame is there whole it is marked sent,
//! else it is sent again (a half-sent chunked frame is sent again from its first chunk, which replaces the half).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::envelope::EnvelopeError;
use crate::sensor::Sensors;
use crate::topics::{Topics, dead_letter};
use crate::transport::{Position, TransportError};
use crate::{Frame, FrameHeader, Sink, chunk, envelope, file, kafka, raster};

/// Why publishing stopped (a file that cannot be used is dead-lettered instead, and publishing goes on).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done: "reading folder", "opening the ledger", ...
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: not a ledger line: {text:?}", path.display())]
    Ledger {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("frame {frame_id}: {source}")]
    Encode {
        frame_id: String,
        source: EnvelopeError,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("checking the frames topic: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// An I/O error with what was being done and to which path.
fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PublishError {
    let path = path.to_path_buf();
    move |source| PublishError::Io { what, path, source }
}

/// Where frames come from and how they are checked.
pub struct Publisher<S> {
    pub sink: S,
    pub topics: Topics,
    /// Sensor id of files without a KSENSOR keyword.
    pub default_sensor: String,
    pub sensors: Option<Sensors>,
}

/// Counts of one publishing run.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct PublishStats {
    pub published: usize,
    pub dead_letters: usize,
}

/// Whether a path names a frame file ([`file::format`]: FITS, PNG or TIFF by extension, any case), not hidden.
pub fn is_frame_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    !hidden && file::format(path).is_some()
}

/// The files named (each must exist), and the frame files inside the folders named (sorted by name).
pub fn frame_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PublishError> {
    let mut files = vec![];
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io("reading folder", path))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_frame_file(p))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            // A named file that is not there is the caller's mistake, said at once rather than per file later.
            std::fs::metadata(path).map_err(io("reading", path))?;
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The first bytes of a file, for its dead letter.
fn head(path: &Path) -> Vec<u8> {
    let mut bytes = vec![];
    if let Ok(f) = File::open(path) {
        let _ = f.take(4096).read_to_end(&mut bytes);
    }
    bytes
}

/// Send frames to the frames topic (key = sensor id), each in one message or, when larger than the sink's message
/// limit, in chunks; returns how many frames were sent.
pub async fn publish_frames(
    sink: &impl Sink,
    topics: &Topics,
    frames: impl IntoIterator<Item = Frame>,
) -> Result<usize, PublishError> {
    let mut sent = 0;
    for frame in frames {
        let whole = envelope::encode(&frame);
        let h = &frame.header;
        send_envelope(sink, topics, &h.sensor_id, &h.frame_id, whole).await?;
        sent += 1;
    }
    Ok(sent)
}

/// Send one frame's encoded envelope (or its encoding failure) to the frames topic, in chunks when it is larger
/// than the sink's message limit.
async fn send_envelope(
    sink: &impl Sink,
    topics: &Topics,
    sensor_id: &str,
    frame_id: &str,
    whole: Result<Vec<u8>, EnvelopeError>,
) -> Result<(), PublishError> {
    let encode = |source| PublishError::Encode {
        frame_id: frame_id.to_string(),
        source,
    };
    let messages =
        chunk::split(whole.map_err(encode)?, frame_id, sink.max_message_bytes()).map_err(encode)?;
    for message in messages {
        sink.send(&topics.frames, sensor_id, message).await?;
    }
    Ok(())
}

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Dead,
}

impl<S: Sink> Publisher<S> {
    /// Read `path` as a frame, checked against the sensor configuration, and encode its envelope (once: a frame
    /// the envelope refuses is dead-lettered like one that does not read). Returns the header and the envelope.
    fn read(&self, path: &Path) -> Result<(FrameHeader, Vec<u8>), String> {
        let mut frame = file::read_frame(path, &self.default_sensor).map_err(|e| e.to_string())?;
        if let Some(sensors) = &self.sensors {
            sensors.apply(&mut frame).map_err(|e| e.to_string())?;
        }
        let whole = envelope::encode(&frame).map_err(|e| e.to_string())?;
        Ok((frame.header, whole))
    }

    /// Publish one file, or dead-letter it with the reason.
    pub async fn file(&self, path: &Path) -> Result<Outcome, PublishError> {
        match self.read(path) {
            Ok((h, whole)) => {
                send_envelope(
                    &self.sink,
                    &self.topics,
                    &h.sensor_id,
                    &h.frame_id,
                    Ok(whole),
                )
                .await?;
                Ok(Outcome::Sent)
            }
            Err(reason) => {
                let name = path.display().to_string();
                let key = path
                    .file_name()
                    .map_or(name.clone(), |n| n.to_string_lossy().into_owned());
                let position = Position::File(name);
                let head = head(path);
                dead_letter(
                    &self.sink,
                    &self.topics,
                    "publish",
                    (&position, &key, &head),
                    reason,
                )
                .await?;
                Ok(Outcome::Dead)
            }
        }
    }
}

/// A file as the watcher last saw it: its identity in the ledger is name, size and modification time, so a file
/// replaced by a new one of the same name is a new file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Seen {
    name: String,
    size: u64,
    mtime_ns: u128,
}

impl Seen {
    fn of(path: &Path) -> Option<Seen> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = meta
            .modified()
            .ok()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(Seen {
            name: path.file_name()?.to_string_lossy().into_owned(),
            size: meta.len(),
            mtime_ns,
        })
    }

    fn line(&self, event: &str) -> String {
        format!("{event}\t{}\t{}\t{}\n", self.size, self.mtime_ns, self.name)
    }
}

/// The durable record of a watched folder.
pub struct Ledger {
    file: File,
    path: PathBuf,
    finished: HashSet<Seen>,
    in_doubt: Vec<Seen>,
}

impl Ledger {
    /// Open (or create) the ledger at `path` and read what it holds.
    pub fn open(path: &Path) -> Result<Ledger, PublishError> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io("opening the ledger", path))?;
        let mut finished = HashSet::new();
        let mut sending = HashSet::new();
        let lines = BufReader::new(&file)
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .map_err(io("reading the ledger", path))?;
        for (n, line) in lines.iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.splitn(4, '\t').collect();
            let parsed = match fields[..] {
                [event, size, mtime, name] => {
                    size.parse()
                        .ok()
                        .zip(mtime.parse().ok())
                        .map(|(size, mtime_ns)| {
                            (
                                event,
                                Seen {
                                    name: name.into(),
                                    size,
                                    mtime_ns,
                                },
                            )
                        })
                }
                _ => None,
            };
            match parsed {
                Some(("sending", seen)) => {
                    sending.insert(seen);
                }
                Some(("sent" | "dead", seen)) => {
                    sending.remove(&seen);
                    finished.insert(seen);
                }
                // Every record starts on a fresh line after a blank one, so a line cut short by a crash mid-write is
                // the last line or is followed at once by the next record; anything else is damage.
                _ if lines.get(n + 1).is_none_or(|next| !next.is_empty()) => {
                    tracing::warn!(ledger = %path.display(), line = n + 1, "ignoring a partly written last line");
                }
                _ => {
                    return Err(PublishError::Ledger {
                        path: path.to_path_buf(),
                        line: n + 1,
                        text: line.clone(),
                    });
                }
            }
        }
        Ok(Ledger {
            file,
            path: path.to_path_buf(),
            finished,
            in_doubt: sending.into_iter().collect(),
        })
    }

    fn record(&mut self, seen: &Seen, event: &str) -> Result<(), PublishError> {
        // A partly written last line (a crash mid-write) ends with no newline: start on a fresh line.
        let mut line = b"\n".to_vec();
        line.extend_from_slice(seen.line(event).as_bytes());
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(io("writing the ledger", &self.path))?;
        if event != "sending" {
            self.finished.insert(seen.clone());
        }
        Ok(())
    }
}

/// How a folder is watched.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub folder: PathBuf,
    pub ledger: PathBuf,
    /// How long a file's size and modification time must stay the same before it is taken.
    pub settle: Duration,
    /// How often the folder is listed.
    pub poll: Duration,
    /// The broker, for checking files a previous run left in doubt.
    pub brokers: String,
}

/// Follow `config.folder` until shutdown, publishing each complete file once.
pub async fn watch_folder<S: Sink>(
    publisher: &Publisher<S>,
    config: &WatchConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<PublishStats, PublishError> {
    let mut ledger = Ledger::open(&config.ledger)?;
    let mut stats = PublishStats::default();
    resolve_in_doubt(publisher, config, &mut ledger, &mut stats).await?;
    // name -> (what was seen, since when unchanged)
    let mut settling: HashMap<String, (Seen, Instant)> = HashMap::new();
    // PNG and TIFF files seen without their sidecar (reported once each).
    let mut without_sidecar: HashSet<String> = HashSet::new();
    loop {
        let mut listing: Vec<PathBuf> = std::fs::read_dir(&config.folder)
            .map_err(io("reading folder", &config.folder))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_frame_file(p) && p.is_file())
            .collect();
        listing.sort();
        let now = Instant::now();
        for path in listing {
            let Some(seen) = Seen::of(&path) else {
                continue;
            };
            if ledger.finished.contains(&seen) {
                continue;
            }
            if !sidecar_settled(&path, config.settle) {
                // The image is complete only with its sidecar: its settle time starts once the sidecar's has passed.
                if without_sidecar.insert(seen.name.clone()) {
                    tracing::info!(file = seen.name, "waiting for the JSON sidecar");
                }
                settling.remove(&seen.name);
                continue;
            }
            let entry = settling
                .entry(seen.name.clone())
                .or_insert_with(|| (seen.clone(), now));
            if entry.0 != seen {
                *entry = (seen, now);
                continue;
            }
            if now.duration_since(entry.1) < config.settle {
                continue;
            }
            settling.remove(&seen.name);
            ledger.record(&seen, "sending")?;
            let outcome = publisher.file(&path).await?;
            // The file may have changed while it was read: it is then seen again as a new file.
            let event = match outcome {
                Outcome::Sent => {
                    stats.published += 1;
                    "sent"
                }
                Outcome::Dead => {
                    stats.dead_letters += 1;
                    "dead"
                }
            };
            ledger.record(&seen, event)?;
            tracing::info!(file = seen.name, event, "watched file handled");
        }
        tokio::select! {
            _ = shutdown.changed() => return Ok(stats),
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// Whether a PNG or TIFF frame's JSON sidecar ([`raster::sidecar_paths`]) is in place and unchanged for `settle`;
/// true for a FITS file, which needs none.
fn sidecar_settled(path: &Path, settle: Duration) -> bool {
    if file::format(path) != Some(file::Format::Raster) {
        return true;
    }
    raster::sidecar_paths(path).iter().any(|sidecar| {
        sidecar
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= settle))
    })
}

/// Files a previous run began sending but did not finish recording: marked sent when their frame is whole on the
/// topic, else sent again.
async fn resolve_in_doubt<S: Sink>(
    publisher: &Publisher<S>,
    config: &WatchConfig,
    ledger: &mut Ledger,
    stats: &mut PublishStats,
) -> Result<(), PublishError> {
    let in_doubt = std::mem::take(&mut ledger.in_doubt);
    if in_doubt.is_empty() {
        return Ok(());
    }
    // The publisher sends one file at a time, so only the last messages of each partition can hold them.
    let biggest = in_doubt.iter().map(|s| s.size).max().unwrap_or(0) as usize;
    let window = (2 * (biggest / publisher.sink.max_message_bytes().max(1)) + 16) as i64;
    let (brokers, topic) = (config.brokers.clone(), publisher.topics.frames.clone());
    let recent =
        tokio::task::spawn_blocking(move || kafka::recent_payloads(&brokers, &topic, window))
            .await??;
    let whole: HashSet<String> = recent
        .iter()
        .filter_map(|p| chunk::frame_of(p))
        .filter(|(_, completes)| *completes)
        .map(|(id, _)| id)
        .collect();
    for seen in in_doubt {
        let path = config.folder.join(&seen.name);
        let frame_id = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        if frame_id.is_some_and(|id| whole.contains(&id)) {
            tracing::info!(
                file = seen.name,
                "in doubt after a restart: its frame is on the topic"
            );
            ledger.record(&seen, "sent")?;
        } else if Seen::of(&path).as_ref() == Some(&seen) {
            tracing::info!(
                file = seen.name,
                "in doubt after a restart: sending it again"
            );
            match publisher.file(&path).await? {
                Outcome::Sent => {
                    stats.published += 1;
                    ledger.record(&seen, "sent")?;
                }
                Outcome::Dead => {
                    stats.dead_letters += 1;
                    ledger.record(&seen, "dead")?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_survives_a_line_cut_short_and_remembers_what_is_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.tsv");
        let (a, b) = (
            Seen {
                name: "a.fits".into(),
                size: 2880,
                mtime_ns: 1,
            },
            Seen {
                name: "b.fits".into(),
                size: 5760,
                mtime_ns: 2,
            },
        );
        {
            let mut ledger = Ledger::open(&path).unwrap();
            ledger.record(&a, "sending").unwrap();
            ledger.record(&a, "sent").unwrap();
            ledger.record(&b, "sending").unwrap();
        }
        // A crash in the middle of writing the next line.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"\nsent\t57")
            .unwrap();
        let mut ledger = Ledger::open(&path).unwrap();
        assert!(ledger.finished.contains(&a) && !ledger.finished.contains(&b));
        assert_eq!(ledger.in_doubt, vec![b.clone()]);
        ledger.record(&b, "dead").unwrap();
        let again = Ledger::open(&path).unwrap();
        assert!(again.finished.contains(&b) && again.in_doubt.is_empty());

        std::fs::write(
            &path,
            "\nsent\t1\t2\ta.fits\n\ngarbage\n\nsent\t1\t2\tb.fits\n",
        )
        .unwrap();
        let err = Ledger::open(&path).err().unwrap().to_string();
        assert!(err.contains("line 4: not a ledger line"), "{err}");
    }

    #[test]
    fn a_png_is_complete_only_once_its_sidecar_has_settled() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("n1.png");
        let hour = Duration::from_secs(3600);
        assert!(sidecar_settled(&dir.path().join("n1.fits"), hour));
        assert!(!sidecar_settled(&png, Duration::ZERO), "no sidecar");
        std::fs::write(dir.path().join("n1.json"), "{}").unwrap();
        assert!(!sidecar_settled(&png, hour), "a sidecar just written");
        assert!(sidecar_settled(&png, Duration::ZERO));
    }

    #[test]
    fn hidden_and_partial_files_are_not_frame_files() {
        for name in [
            "/d/n1-0001.FITS",
            "n1.fit",
            "n1.fits.fz",
            "n1.fz",
            "n1.png",
            "n1.tiff",
        ] {
            assert!(is_frame_file(Path::new(name)), "{name}");
        }
        for name in [
            ".n1.fits",
            "n1.fits.part",
            "n1.fits.tmp",
            "n1.fits.fz.part",
            ".n1.fits.fz",
            "n1.png.json",
            ".n1.png",
        ] {
            assert!(!is_frame_file(Path::new(name)), "{name}");
        }
    }
}
