//! The command line: every subcommand's arguments, parsed by clap ([`catalog`]: those of `kessler catalog`).

mod catalog;

pub use catalog::{CatalogCommand, ReviewCommand};

use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::od::Format;
use clap::{Parser, Subcommand, ValueEnum};
use kessler_detector::DetectorConfig;
use kessler_detector::threshold::ThresholdTable;
use kessler_ingest::kafka::{Compression, DEFAULT_MAX_MESSAGE_BYTES, ProducerConfig};

#[derive(Parser)]
#[command(
    name = "kessler",
    version,
    about = "Space-debris tracking: frames in, streaks found on the GPU, orbits out"
)]
pub struct Cli {
    /// On failure, print every cause (and the backtrace, with RUST_BACKTRACE=1), not one line.
    #[arg(long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Simulate a night, detect, track and catalog in one process (no broker), and score it against the truth.
    Demo(DemoArgs),
    /// Detect streaks in FITS files and print them (pixels 0-based, x = column; RA/Dec in degrees when the frame
    /// has a WCS).
    Detect(DetectArgs),
    /// Write a simulated night as a dataset: FITS frames, truth.csv, objects.tle, scenario.json. With --snr-grid,
    /// write a detection benchmark instead: one streak per frame at the listed matched-filter S/N values in turn.
    Simulate(SimulateArgs),
    /// Score detection on a recorded dataset (FITS frames + truth.csv) and time the GPU and CPU paths; writes
    /// report.json, report.md and completeness.png.
    Bench(BenchArgs),
    /// Frames per second through publish -> detect on a real broker beside a bare consumer of the same topic (their
    /// ratio is the pipeline's overhead), and the peak memory of the process; simulated 512x512 frames.
    BenchPipeline(BenchPipelineArgs),
    /// How high noise alone reaches in the detector's S/N, on frames with no streak: the threshold for a
    /// false-alarm rate, and a bound on the completeness any detector can have at that rate.
    Calibrate(CalibrateArgs),
    /// Publish frame files (FITS), or every FITS file in the given folders, to the frames topic; bad files go to
    /// the dead-letter topic with the reason. With --watch, follow one folder as files arrive.
    Publish(PublishArgs),
    /// Run pipeline stages as Kafka consumers and producers (at least once). Several detect workers with the same
    /// namespace share the frames topic's partitions (one consumer group).
    Run(RunArgs),
    /// Fit an orbit to the tracking data of a CCSDS TDM (KVN) by batch least squares and print it.
    Od(OdArgs),
    /// Time batch least-squares fits of a simulated optical track (one thread): median ms per fit, fits per second.
    BenchOd(BenchOdArgs),
    /// Look at the catalog, or enter known objects into it.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Serve the review page for catalog maintainers (and its JSON API under /api) over a catalog: candidates,
    /// their evidence, and accept / reject / merge.
    Review(ReviewArgs),
}

/// `kessler demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Print the summary as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
    /// Use the CPU detector even when a GPU adapter is present.
    #[arg(long)]
    pub cpu: bool,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Catalog file to write (replaced).
    #[arg(long, default_value = "kessler-demo.db")]
    pub db: PathBuf,
    /// At most this many frames of the night.
    #[arg(long)]
    pub frames: Option<usize>,
}

/// `kessler detect`.
#[derive(clap::Args)]
pub struct DetectArgs {
    /// One JSON object per streak per line.
    #[arg(long)]
    pub json: bool,
    /// Use the CPU detector even when a GPU adapter is present.
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub threshold: Threshold,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `kessler simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many frames of the night (with --snr-grid: this many frames, default 100).
    #[arg(long)]
    pub frames: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Matched-filter S/N values, e.g. 3,5,7,10,15.
    #[arg(long, value_delimiter = ',', conflicts_with = "radar")]
    pub snr_grid: Option<Vec<f64>>,
    /// With --snr-grid: square frames of this many px a side (stars, hot pixels and cosmic rays in
    /// proportion to the area, as at 512).
    #[arg(long, default_value_t = 512, requires = "snr_grid", value_parser = clap::value_parser!(u32).range(64..=8192))]
    pub side: u32,
    /// Write beam-park radar range-time maps instead (this many, default 20): rows are time, columns range
    /// gates, with truth.csv for `kessler bench`.
    #[arg(long)]
    pub radar: bool,
}

/// `kessler bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long)]
    pub dataset: PathBuf,
    /// Where the reports go (default: the dataset folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Only the CPU path (by default the GPU path, when there is an adapter, is scored and both are timed).
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub threshold: Threshold,
}

/// `kessler bench-pipeline`.
#[derive(clap::Args)]
pub struct BenchPipelineArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long, default_value_t = 100)]
    pub frames: usize,
    /// Use the CPU detector even when a GPU adapter is present.
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub kafka: KafkaOptions,
}

/// `kessler calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Frames with no streak of a recorded dataset (those without a row in its truth.csv); by default,
    /// simulated frames of the `kessler simulate` sky: white noise only, or with --stars its stars, hot pixels
    /// and cosmic rays.
    #[arg(long, conflicts_with = "stars")]
    pub dataset: Option<PathBuf>,
    /// Simulated frames.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    #[arg(long)]
    pub stars: bool,
    /// Simulated square frames of this many px a side (with --stars: stars, hot pixels and cosmic
    /// rays in proportion to the area).
    #[arg(long, default_value_t = 512, conflicts_with = "dataset", value_parser = clap::value_parser!(u32).range(64..=8192))]
    pub side: u32,
    /// Write this calibration into a threshold table (JSON; created, or its entry for this frame
    /// size replaced) for --false-alarms-per-frame of detect, bench and run (--thresholds).
    #[arg(long)]
    pub table: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The lowest S/N looked at: the detector runs with its detection threshold here (and its candidate threshold
    /// here when that is lower). The refined streaks' false alarms are exact at the floor and an upper bound above
    /// it (the robust S/N tests are at the floor too): calibrate at the threshold you mean to use.
    #[arg(long, default_value_t = 4.0)]
    pub floor: f32,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Use the CPU detector even when a GPU adapter is present.
    #[arg(long)]
    pub cpu: bool,
}

/// `kessler publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    #[arg(long)]
    pub brokers: String,
    /// Sensor id for files without a KSENSOR keyword.
    #[arg(long, default_value = "unknown")]
    pub sensor: String,
    /// Sensor configuration (TOML): fills missing sites, pointings and noise models; frames of sensors not in
    /// it are dead-lettered.
    #[arg(long)]
    pub sensors: Option<PathBuf>,
    /// Prefix of the topic names (several pipelines on one broker).
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// Follow the one folder given: publish each file once it is complete, until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// The watch ledger (default: .kessler-ledger.tsv in the watched folder).
    #[arg(long, requires = "watch")]
    pub ledger: Option<PathBuf>,
    /// Seconds a watched file's size and modification time must stay the same before it is published.
    #[arg(long, default_value = "2", value_parser = seconds, requires = "watch")]
    pub settle_s: Duration,
    #[command(flatten)]
    pub kafka: KafkaOptions,
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `kessler run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long, value_enum)]
    pub stage: Stage,
    /// Catalog file of the track stage.
    #[arg(long, default_value = "kessler.db")]
    pub db: PathBuf,
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// Use the CPU detector even when a GPU adapter is present.
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub threshold: Threshold,
    /// Stop after this many seconds without a message (default: run until interrupted).
    #[arg(long, value_parser = seconds)]
    pub exit_when_idle: Option<Duration>,
    /// Earth orientation (UT1-UTC, polar motion) for the track stage's fits, from an IERS finals2000A file.
    #[arg(long)]
    pub eop: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz), e.g. 127.0.0.1:9464.
    #[arg(long)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Most MiB of chunked frames held while their chunks arrive.
    #[arg(long, default_value_t = 512)]
    pub reassembly_mib: usize,
    /// Seconds after a chunked frame's first chunk before an incomplete frame is dead-lettered.
    #[arg(long, default_value = "120", value_parser = seconds)]
    pub chunk_timeout_s: Duration,
    /// Seconds between a worker's checks of its consumer group for a stall (messages waiting, committed offsets
    /// not moving), after which it rejoins the group to rebalance it (docs/architecture.md).
    #[arg(long, default_value = "30", value_parser = stall_seconds)]
    pub stall_check_s: Duration,
    #[command(flatten)]
    pub kafka: KafkaOptions,
}

/// `kessler od`.
#[derive(clap::Args)]
pub struct OdArgs {
    #[arg(long)]
    pub tdm: PathBuf,
    /// Stations, TOML: one table per PARTICIPANT_1 with lat_deg, lon_deg, alt_km (and optional sigmas).
    #[arg(long)]
    pub sites: PathBuf,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Initial state at the first observation, GCRF: x,y,z (km),vx,vy,vz (km/s); by default one is found
    /// from the data.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub initial: Option<Vec<f64>>,
    /// OBJECT_NAME of the OEM / OMM, name line of the TLE.
    #[arg(long, default_value = "UNKNOWN")]
    pub object: String,
    /// NORAD catalog number of the OMM / TLE (Alpha-5 above 99999).
    #[arg(long, default_value_t = 99999)]
    pub norad: u64,
    /// Estimate a constant bias per station and measured component with the orbit (JSON: "biases").
    #[arg(long)]
    pub estimate_biases: bool,
    /// Add atmospheric drag with this ballistic coefficient C_D A / m (m^2/kg; exponential atmosphere).
    #[arg(long, allow_hyphen_values = true)]
    pub drag_m2_kg: Option<f64>,
    /// Earth orientation (UT1-UTC, polar motion) from an IERS finals2000A file; zero without one.
    #[arg(long)]
    pub eop: Option<PathBuf>,
}

/// `kessler bench-od`.
#[derive(clap::Args)]
pub struct BenchOdArgs {
    #[arg(long, default_value_t = 50)]
    pub fits: usize,
    /// RA/Dec observations in the track.
    #[arg(long, default_value_t = 30)]
    pub observations: usize,
}

/// `kessler review`.
#[derive(clap::Args)]
pub struct ReviewArgs {
    #[arg(long, default_value = "kessler.db")]
    pub db: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The token every write must present (at least 8 characters); or the KESSLER_REVIEW_TOKEN variable.
    #[arg(long, env = "KESSLER_REVIEW_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub announce: Announce,
}

/// Where decisions are announced: the catalog topic of a broker, if one is given.
#[derive(clap::Args, Clone)]
pub struct Announce {
    /// Announce each decision on the catalog topic of this broker.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Prefix of the topic names.
    #[arg(long, default_value = "")]
    pub namespace: String,
}

impl Announce {
    pub fn target(&self) -> Option<(&str, &str)> {
        self.brokers
            .as_deref()
            .map(|b| (b, self.namespace.as_str()))
    }
}

/// The detection threshold of the commands that detect.
#[derive(Clone, clap::Args)]
pub struct Threshold {
    /// Detection threshold, S/N of the refined streak; `kessler calibrate` gives its false-alarm rate
    /// [default: 7, unless --false-alarms-per-frame].
    #[arg(long, conflicts_with = "false_alarms_per_frame")]
    pub snr_threshold: Option<f32>,
    /// Instead of a fixed threshold, the one for this many false streaks per frame, from the
    /// calibration of each frame's size (or the next larger size) in --thresholds.
    #[arg(long)]
    pub false_alarms_per_frame: Option<f64>,
    /// The threshold table (`kessler calibrate --table`); by default the one kessler ships
    /// (simulated star fields of 512 to 4096 px).
    #[arg(long, requires = "false_alarms_per_frame")]
    pub thresholds: Option<PathBuf>,
}

impl Threshold {
    pub fn config(&self) -> DetectorConfig {
        let defaults = DetectorConfig::default();
        DetectorConfig {
            snr_threshold: self.snr_threshold.unwrap_or(defaults.snr_threshold),
            ..defaults
        }
    }

    /// The false-alarm rate and its table, when asked for.
    pub fn false_alarms(&self) -> anyhow::Result<Option<(ThresholdTable, f64)>> {
        let Some(rate) = self.false_alarms_per_frame else {
            return Ok(None);
        };
        let table = match &self.thresholds {
            Some(path) => crate::cmd::read_thresholds(path)?,
            None => ThresholdTable::shipped(),
        };
        Ok(Some((table, rate)))
    }
}

/// How kessler talks to the broker.
#[derive(clap::Args, Clone, Copy)]
pub struct KafkaOptions {
    /// The producer's message limit, bytes: larger frames travel in chunks.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// Batch compression on the wire.
    #[arg(long, value_enum, default_value = "lz4")]
    pub compression: CompressionArg,
    /// Partitions of topics this command creates (existing topics keep theirs).
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CompressionArg {
    None,
    Lz4,
    Zstd,
}

impl KafkaOptions {
    pub fn producer(self) -> ProducerConfig {
        ProducerConfig {
            max_message_bytes: self.max_message_bytes,
            compression: match self.compression {
                CompressionArg::None => Compression::None,
                CompressionArg::Lz4 => Compression::Lz4,
                CompressionArg::Zstd => Compression::Zstd,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    Detect,
    Track,
    All,
}

/// A command-line duration in seconds: finite and not negative.
fn seconds(text: &str) -> Result<Duration, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(s)
        .map_err(|_| format!("{text:?}: seconds must be finite and not negative"))
}

/// The stall-check interval: [`seconds`], at least 1 s (each check asks the broker for every partition's offsets).
fn stall_seconds(text: &str) -> Result<Duration, String> {
    Some(seconds(text)?)
        .filter(|d| *d >= Duration::from_secs(1))
        .ok_or_else(|| format!("{text:?}: the stall check needs at least 1 s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_on_the_command_line_are_checked() {
        assert_eq!(seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        for bad in ["-1", "inf", "NaN", "soon", ""] {
            assert!(seconds(bad).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(stall_seconds("10"), Ok(Duration::from_secs(10)));
        assert!(stall_seconds("0.5").unwrap_err().contains("at least 1 s"));
    }

    #[test]
    fn every_subcommand_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        for line in [
            "kessler catalog review list --status all --json",
            "kessler catalog review list",
            "kessler catalog export --format tle --status catalogued",
            "kessler detect a.fits --json --verbose",
            "kessler run --brokers b:1 --stage all --exit-when-idle 5 --stall-check-s 2",
            "kessler publish --brokers b:1 --watch --settle-s 1 folder",
            "kessler od --tdm t --sites s --format omm --initial 7000,0,0,0,7.5,0",
        ] {
            let parsed = Cli::try_parse_from(line.split_whitespace());
            assert!(parsed.is_ok(), "{line}: {:?}", parsed.err());
        }
        assert!(
            Cli::try_parse_from(["kessler", "catalog", "review", "list", "--status", "lost"])
                .is_err()
        );
    }
}
