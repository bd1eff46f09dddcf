//! The `kessler` command. See the README for what each subcommand does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kessler::demo::{self, DemoOptions};
use kessler::metrics::{self, LagProbe, Metrics};
use kessler::publish::{Publisher, WatchConfig, frame_files, watch_folder};
use kessler::review::terminal::{self, ExportFormat};
use kessler::stages::{self, Topics};
use kessler_catalog::Catalog;
use kessler_catalog::review::{CandidateFilter, SortKey};
use kessler_catalog::track::{TrackConfig, Tracker};
use kessler_detector::{Backend, Detector, DetectorConfig, GpuContext};
use kessler_ingest::inbound::ReassemblyConfig;
use kessler_ingest::kafka::{
    Compression, DEFAULT_MAX_MESSAGE_BYTES, KafkaSink, KafkaSource, ProducerConfig, ensure_topics,
};
use kessler_ingest::sensor::Sensors;
use kessler_ingest::{file, fits};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "kessler",
    version,
    about = "Space-debris tracking: frames in, streaks found on the GPU, orbits out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a night, detect, track and catalog in one process (no broker), and score it against the truth.
    Demo {
        /// Print the summary as one JSON object on the last line.
        #[arg(long)]
        json: bool,
        /// Use the CPU detector even when a GPU adapter is present.
        #[arg(long)]
        cpu: bool,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Catalog file to write (replaced).
        #[arg(long, default_value = "kessler-demo.db")]
        db: PathBuf,
        /// At most this many frames of the night.
        #[arg(long)]
        frames: Option<usize>,
    },
    /// Detect streaks in FITS files and print them (pixels 0-based, x = column; RA/Dec in degrees when the frame
    /// has a WCS).
    Detect {
        /// One JSON object per streak per line.
        #[arg(long)]
        json: bool,
        /// Use the CPU detector even when a GPU adapter is present.
        #[arg(long)]
        cpu: bool,
        #[command(flatten)]
        threshold: Threshold,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write a simulated night as a dataset: FITS frames, truth.csv, objects.tle, scenario.json. With --snr-grid,
    /// write a detection benchmark instead: one streak per frame at the listed matched-filter S/N values in turn.
    Simulate {
        #[arg(long)]
        out: PathBuf,
        /// At most this many frames of the night (with --snr-grid: this many frames, default 100).
        #[arg(long)]
        frames: Option<usize>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Matched-filter S/N values, e.g. 3,5,7,10,15.
        #[arg(long, value_delimiter = ',', conflicts_with = "radar")]
        snr_grid: Option<Vec<f64>>,
        /// Write beam-park radar range-time maps instead (this many, default 20): rows are time, columns range
        /// gates, with truth.csv for `kessler bench`.
        #[arg(long)]
        radar: bool,
    },
    /// Score detection on a recorded dataset (FITS frames + truth.csv) and time the GPU and CPU paths; writes
    /// report.json, report.md and completeness.png.
    Bench {
        #[arg(long)]
        dataset: PathBuf,
        /// Where the reports go (default: the dataset folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Only the CPU path (by default the GPU path, when there is an adapter, is scored and both are timed).
        #[arg(long)]
        cpu: bool,
        #[command(flatten)]
        threshold: Threshold,
    },
    /// Frames per second through publish -> detect on a real broker beside a bare consumer of the same topic (their
    /// ratio is the pipeline's overhead), and the peak memory of the process; simulated 512x512 frames.
    BenchPipeline {
        #[arg(long)]
        brokers: String,
        #[arg(long, default_value_t = 100)]
        frames: usize,
        /// Use the CPU detector even when a GPU adapter is present.
        #[arg(long)]
        cpu: bool,
        #[command(flatten)]
        kafka: KafkaOptions,
    },
    /// How high noise alone reaches in the detector's S/N, on frames with no streak: the threshold for a
    /// false-alarm rate, and a bound on the completeness any detector can have at that rate.
    Calibrate {
        /// Frames with no streak of a recorded dataset (those without a row in its truth.csv); by default,
        /// simulated frames of the `kessler simulate` sky: white noise only, or with --stars its stars, hot pixels
        /// and cosmic rays.
        #[arg(long, conflicts_with = "stars")]
        dataset: Option<PathBuf>,
        /// Simulated frames.
        #[arg(long, default_value_t = 200)]
        frames: usize,
        #[arg(long)]
        stars: bool,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The lowest S/N looked at, in both statistics (the detector runs with both thresholds here).
        #[arg(long, default_value_t = 4.0)]
        floor: f32,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Use the CPU detector even when a GPU adapter is present.
        #[arg(long)]
        cpu: bool,
    },
    /// Publish frame files (FITS), or every FITS file in the given folders, to the frames topic; bad files go to
    /// the dead-letter topic with the reason. With --watch, follow one folder as files arrive.
    Publish {
        #[arg(long)]
        brokers: String,
        /// Sensor id for files without a KSENSOR keyword.
        #[arg(long, default_value = "unknown")]
        sensor: String,
        /// Sensor configuration (TOML): fills missing sites, pointings and noise models; frames of sensors not in
        /// it are dead-lettered.
        #[arg(long)]
        sensors: Option<PathBuf>,
        /// Prefix of the topic names (several pipelines on one broker).
        #[arg(long, default_value = "")]
        namespace: String,
        /// Follow the one folder given: publish each file once it is complete, until interrupted.
        #[arg(long)]
        watch: bool,
        /// The watch ledger (default: .kessler-ledger.tsv in the watched folder).
        #[arg(long, requires = "watch")]
        ledger: Option<PathBuf>,
        /// Seconds a watched file's size and modification time must stay the same before it is published.
        #[arg(long, default_value = "2", value_parser = seconds, requires = "watch")]
        settle_s: Duration,
        #[command(flatten)]
        kafka: KafkaOptions,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run pipeline stages as Kafka consumers and producers (at least once). Several detect workers with the same
    /// namespace share the frames topic's partitions (one consumer group).
    Run {
        #[arg(long)]
        brokers: String,
        #[arg(long, value_enum)]
        stage: Stage,
        /// Catalog file of the track stage.
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        #[arg(long, default_value = "")]
        namespace: String,
        /// Use the CPU detector even when a GPU adapter is present.
        #[arg(long)]
        cpu: bool,
        #[command(flatten)]
        threshold: Threshold,
        /// Stop after this many seconds without a message (default: run until interrupted).
        #[arg(long, value_parser = seconds)]
        exit_when_idle: Option<Duration>,
        /// Earth orientation (UT1-UTC, polar motion) for the track stage's fits, from an IERS finals2000A file.
        #[arg(long)]
        eop: Option<PathBuf>,
        /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz), e.g. 127.0.0.1:9464.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// Most MiB of chunked frames held while their chunks arrive.
        #[arg(long, default_value_t = 512)]
        reassembly_mib: usize,
        /// Seconds after a chunked frame's first chunk before an incomplete frame is dead-lettered.
        #[arg(long, default_value = "120", value_parser = seconds)]
        chunk_timeout_s: Duration,
        /// Seconds between a worker's checks of its consumer group for a stall (messages waiting, committed offsets
        /// not moving), after which it rejoins the group to rebalance it (docs/architecture.md).
        #[arg(long, default_value = "30", value_parser = stall_seconds)]
        stall_check_s: Duration,
        #[command(flatten)]
        kafka: KafkaOptions,
    },
    /// Fit an orbit to the tracking data of a CCSDS TDM (KVN) by batch least squares and print it.
    Od {
        #[arg(long)]
        tdm: PathBuf,
        /// Stations, TOML: one table per PARTICIPANT_1 with lat_deg, lon_deg, alt_km (and optional sigmas).
        #[arg(long)]
        sites: PathBuf,
        #[arg(long, value_enum, default_value = "json")]
        format: kessler::od::Format,
        /// Initial state at the first observation, GCRF: x,y,z (km),vx,vy,vz (km/s); by default one is found
        /// from the data.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        initial: Option<Vec<f64>>,
        /// OBJECT_NAME of the OEM / OMM, name line of the TLE.
        #[arg(long, default_value = "UNKNOWN")]
        object: String,
        /// NORAD catalog number of the OMM / TLE (Alpha-5 above 99999).
        #[arg(long, default_value_t = 99999)]
        norad: u64,
        /// Estimate a constant bias per station and measured component with the orbit (JSON: "biases").
        #[arg(long)]
        estimate_biases: bool,
        /// Add atmospheric drag with this ballistic coefficient C_D A / m (m^2/kg; exponential atmosphere).
        #[arg(long, allow_hyphen_values = true)]
        drag_m2_kg: Option<f64>,
        /// Earth orientation (UT1-UTC, polar motion) from an IERS finals2000A file; zero without one.
        #[arg(long)]
        eop: Option<PathBuf>,
    },
    /// Time batch least-squares fits of a simulated optical track (one thread): median ms per fit, fits per second.
    BenchOd {
        #[arg(long, default_value_t = 50)]
        fits: usize,
        /// RA/Dec observations in the track.
        #[arg(long, default_value_t = 30)]
        observations: usize,
    },
    /// Look at the catalog, or enter known objects into it.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Serve the review page for catalog maintainers (and its JSON API under /api) over a catalog: candidates,
    /// their evidence, and accept / reject / merge.
    Review {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The token every write must present (at least 8 characters); or the KESSLER_REVIEW_TOKEN variable.
        #[arg(long, env = "KESSLER_REVIEW_TOKEN", hide_env_values = true)]
        token: String,
        #[command(flatten)]
        announce: Announce,
    },
}

/// Where decisions are announced: the catalog topic of a broker, if one is given.
#[derive(clap::Args, Clone)]
struct Announce {
    /// Announce each decision on the catalog topic of this broker.
    #[arg(long)]
    brokers: Option<String>,
    /// Prefix of the topic names.
    #[arg(long, default_value = "")]
    namespace: String,
}

impl Announce {
    fn target(&self) -> Option<(&str, &str)> {
        self.brokers
            .as_deref()
            .map(|b| (b, self.namespace.as_str()))
    }
}

#[derive(Subcommand)]
enum ReviewCommand {
    /// Objects awaiting review (or of another status), filtered and sorted.
    List {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// candidate, catalogued, rejected, merged or all.
        #[arg(long, default_value = "candidate")]
        status: String,
        #[arg(long)]
        sensor: Option<String>,
        /// Last observed on or after this UTC date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// First observed on or before this UTC date (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// id, first, last, observations, rms or sigma.
        #[arg(long, value_parser = sort_key)]
        sort: Option<SortKey>,
        /// Largest first.
        #[arg(long)]
        descending: bool,
        #[arg(long)]
        json: bool,
    },
    /// One object's evidence: orbit, residuals, nearest objects, history.
    Show {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Accept a candidate into the catalog.
    Accept {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a candidate, saying why.
    Reject {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        reason: String,
    },
    /// Merge a candidate into another object; that object's orbit is refitted on all the observations.
    Merge {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        into: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Who decides what about which object, and where the decision is announced.
#[derive(clap::Args)]
struct Decider {
    #[arg(long, default_value = "kessler.db")]
    db: PathBuf,
    /// The object.
    id: String,
    /// Who decides.
    #[arg(long)]
    by: String,
    #[command(flatten)]
    announce: Announce,
}

/// A `--sort` key, spelt as the API spells it.
fn sort_key(text: &str) -> Result<SortKey, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("{text:?}: one of id, first, last, observations, rms, sigma"))
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// List objects with their latest orbit.
    List {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// One JSON array of objects.
        #[arg(long)]
        json: bool,
    },
    /// Enter element sets (TLE text, optional name lines) as catalogued objects: a new object per NORAD number,
    /// a newer epoch replaces an object's elements, an older or equal one changes nothing. The track stage then
    /// correlates tracks with them (SGP4 and a nominal TLE covariance) and refines them.
    Import {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// TLE file.
        #[arg(long)]
        tle: PathBuf,
    },
    /// Review candidates from the terminal (the same operations as `kessler review`).
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Export the objects of a status (catalogued: accepted or imported) as CCSDS OMM, OEM or TLE. Objects without
    /// an element set get SGP4 mean elements fitted to their observations, numbered 80000 + their number.
    Export {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(long, default_value = "catalogued")]
        status: String,
        /// A folder for the files (ID.omm, ID.oem or catalog.tle); standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The detection threshold of the commands that detect.
#[derive(Clone, Copy, clap::Args)]
struct Threshold {
    /// Detection threshold, S/N of the refined streak; `kessler calibrate` gives its false-alarm rate.
    #[arg(long, default_value_t = DetectorConfig::default().snr_threshold)]
    snr_threshold: f32,
}

impl Threshold {
    fn config(self) -> DetectorConfig {
        DetectorConfig {
            snr_threshold: self.snr_threshold,
            ..DetectorConfig::default()
        }
    }
}

/// How kessler talks to the broker.
#[derive(clap::Args, Clone, Copy)]
struct KafkaOptions {
    /// The producer's message limit, bytes: larger frames travel in chunks.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Batch compression on the wire.
    #[arg(long, value_enum, default_value = "lz4")]
    compression: CompressionArg,
    /// Partitions of topics this command creates (existing topics keep theirs).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Lz4,
    Zstd,
}

impl KafkaOptions {
    fn producer(self) -> ProducerConfig {
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
enum Stage {
    Detect,
    Track,
    All,
}

/// The detector on the machine's wgpu adapter, or `None` (said on stderr) when it has none.
fn gpu_detector(config: DetectorConfig) -> Option<Detector> {
    match GpuContext::new() {
        Ok(gpu) => Some(Detector::new(Backend::Gpu(gpu), config)),
        Err(e) => {
            eprintln!("no GPU adapter ({e}); using the CPU detector");
            None
        }
    }
}

/// The GPU detector unless `cpu` is set or there is no adapter; the CPU detector otherwise.
fn detector(cpu: bool, config: DetectorConfig) -> Detector {
    let gpu = if cpu {
        None
    } else {
        gpu_detector(config.clone())
    };
    let detector = gpu.unwrap_or_else(|| Detector::new(Backend::Cpu, config));
    eprintln!("detector: {}", detector.backend_description());
    detector
}

fn shutdown_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing the message in hand");
            let _ = tx.send(true);
        }
        // Keep the sender alive so receivers do not see a closed channel as a signal.
        std::future::pending::<()>().await;
    });
    rx
}

/// What `kessler publish` was asked to do.
struct PublishArgs {
    brokers: String,
    sensor: String,
    sensors: Option<PathBuf>,
    namespace: String,
    watch: Option<(Option<PathBuf>, Duration)>,
    kafka: KafkaOptions,
    paths: Vec<PathBuf>,
}

async fn publish(args: PublishArgs) -> Result<()> {
    let topics = Topics::namespaced(&args.namespace);
    ensure_topics(&args.brokers, &topics.all(), args.kafka.partitions).await?;
    let sensors = args.sensors.as_deref().map(Sensors::load).transpose()?;
    let publisher = Publisher {
        sink: KafkaSink::new(&args.brokers, args.kafka.producer())?,
        topics: topics.clone(),
        default_sensor: args.sensor,
        sensors,
    };
    let stats = match args.watch {
        None => publisher.files(&frame_files(&args.paths)?).await?,
        Some((ledger, settle_s)) => {
            let [folder] = &args.paths[..] else {
                bail!(
                    "--watch follows one folder; {} paths were given",
                    args.paths.len()
                );
            };
            if !folder.is_dir() {
                bail!("--watch: {} is not a folder", folder.display());
            }
            let config = WatchConfig {
                folder: folder.clone(),
                ledger: ledger.unwrap_or_else(|| folder.join(".kessler-ledger.tsv")),
                settle: settle_s,
                poll: Duration::from_millis(250),
                brokers: args.brokers.clone(),
            };
            eprintln!(
                "watching {} (ledger {})",
                folder.display(),
                config.ledger.display()
            );
            watch_folder(&publisher, &config, shutdown_on_ctrl_c()).await?
        }
    };
    eprintln!(
        "published {} frames to {}; {} files sent to {}",
        stats.published, topics.frames, stats.dead_letters, topics.deadletter
    );
    Ok(())
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

/// What `kessler run` was asked to do.
struct RunArgs {
    brokers: String,
    stage: Stage,
    db: PathBuf,
    namespace: String,
    detection: (bool, DetectorConfig),
    idle: Option<Duration>,
    metrics: Option<std::net::SocketAddr>,
    reassembly: ReassemblyConfig,
    stall_check: Duration,
    kafka: KafkaOptions,
}

async fn run(args: RunArgs) -> Result<()> {
    let (brokers, namespace) = (args.brokers.as_str(), args.namespace.as_str());
    let topics = Topics::namespaced(namespace);
    ensure_topics(brokers, &topics.all(), args.kafka.partitions).await?;
    let idle = args.idle;
    let shutdown = shutdown_on_ctrl_c();
    let group = |name: &str| {
        if namespace.is_empty() {
            format!("kessler-{name}")
        } else {
            format!("{namespace}.kessler-{name}")
        }
    };
    let metrics = Arc::new(Metrics::default());
    let producer = args.kafka.producer();
    let detect = (args.stage != Stage::Track).then(|| {
        let source = KafkaSource::new(brokers, &group("detect"), &topics.frames, idle)
            .map(|s| s.with_stall_check(args.stall_check));
        let detector = Arc::new(detector(args.detection.0, args.detection.1));
        (source, detector)
    });
    let backend = detect
        .as_ref()
        .map_or("none".to_string(), |(_, d)| d.backend_description());
    if let Some(addr) = args.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics {addr}"))?;
        let mut groups = vec![];
        if args.stage != Stage::Track {
            groups.push((group("detect"), topics.frames.clone()));
        }
        if args.stage != Stage::Detect {
            groups.push((group("track"), topics.detections.clone()));
        }
        let probe = LagProbe {
            brokers: brokers.to_string(),
            groups,
        };
        eprintln!("metrics at http://{}/metrics", listener.local_addr()?);
        tokio::spawn(metrics::serve(
            listener,
            metrics.clone(),
            backend,
            Some(probe),
        ));
    }
    let detect = match detect {
        Some((source, detector)) => Some(tokio::spawn(stages::detect_stage(
            source?,
            KafkaSink::new(brokers, producer)?,
            topics.clone(),
            detector,
            (args.reassembly, metrics.clone()),
            shutdown.clone(),
        ))),
        None => None,
    };
    let track = if args.stage != Stage::Detect {
        let source = KafkaSource::new(brokers, &group("track"), &topics.detections, idle)?
            .with_stall_check(args.stall_check);
        let tracker = Tracker::new(Catalog::open(&args.db)?, TrackConfig::default());
        Some(tokio::spawn(stages::track_stage(
            source,
            KafkaSink::new(brokers, producer)?,
            topics.clone(),
            tracker,
            metrics.clone(),
            shutdown,
        )))
    } else {
        None
    };
    // Both stages are awaited together, so a failure of either is reported at once.
    let detect = async {
        match detect {
            Some(handle) => Some(handle.await?).transpose(),
            None => Ok(None),
        }
    };
    let track = async {
        match track {
            Some(handle) => Some(handle.await?).transpose(),
            None => Ok(None),
        }
    };
    let (detect, track) = tokio::try_join!(detect, track)?;
    if let Some(stats) = detect {
        eprintln!("detect stage: {}", serde_json::to_string(&stats)?);
    }
    if let Some((stats, _)) = track {
        eprintln!("track stage: {}", serde_json::to_string(&stats)?);
    }
    if let Some(mib) = peak_rss_mib() {
        eprintln!("peak resident memory: {mib} MiB");
    }
    Ok(())
}

/// One line of `kessler detect --json`.
#[derive(serde::Serialize)]
struct DetectLine<'a> {
    file: &'a str,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    snr: f64,
    flux: f64,
    width: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ra1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dec1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ra2: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dec2: Option<f64>,
    /// Radar maps: UTC of the track's earlier and later ends, their ranges (km) and the range rate (km/s).
    #[serde(skip_serializing_if = "Option::is_none")]
    t1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range1_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    t2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range2_km: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_rate_km_s: Option<f64>,
}

fn detect_files(files: &[PathBuf], json: bool, detector: &Detector) -> Result<()> {
    let mut failed = 0;
    for path in frame_files(files)? {
        let name = path.display().to_string();
        let frame = match file::read_frame(&path, "unknown") {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: {e}");
                failed += 1;
                continue;
            }
        };
        let h = &frame.header;
        let streaks = match detector.detect(frame.pixels.view()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped: {name}: {e}");
                failed += 1;
                continue;
            }
        };
        if !json {
            println!("{name}: {} streak(s)", streaks.len());
        }
        for s in &streaks {
            let sky = |x, y| h.wcs.as_ref().map(|w| w.pixel_to_world(x, y));
            let (p1, p2) = (sky(s.x1, s.y1), sky(s.x2, s.y2));
            let track = kessler_detector::measure::radar_track(h, s);
            let line = DetectLine {
                file: &name,
                x1: s.x1,
                y1: s.y1,
                x2: s.x2,
                y2: s.y2,
                snr: s.snr,
                flux: s.flux,
                width: s.width_px,
                ra1: p1.map(|p| p.0),
                dec1: p1.map(|p| p.1),
                ra2: p2.map(|p| p.0),
                dec2: p2.map(|p| p.1),
                t1: track.map(|t| fits::iso_utc(t.t1)),
                range1_km: track.map(|t| t.range1_km),
                t2: track.map(|t| fits::iso_utc(t.t2)),
                range2_km: track.map(|t| t.range2_km),
                range_rate_km_s: track.map(|t| t.range_rate_km_s),
            };
            if json {
                println!("{}", serde_json::to_string(&line)?);
            } else {
                println!(
                    "  ({:.1}, {:.1}) - ({:.1}, {:.1})  S/N {:.1}  flux {:.0} ADU  width {:.1} px",
                    s.x1, s.y1, s.x2, s.y2, s.snr, s.flux, s.width_px
                );
                if let Some(t) = track {
                    println!(
                        "    range {:.3} km at {} -> {:.3} km at {}: range rate {:.4} km/s",
                        t.range1_km,
                        fits::iso_utc(t.t1),
                        t.range2_km,
                        fits::iso_utc(t.t2),
                        t.range_rate_km_s
                    );
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} file(s) could not be read or detected");
    }
    Ok(())
}

/// The truth rows and the FITS files of a recorded dataset.
fn read_dataset(dataset: &Path) -> Result<(Vec<kessler_ingest::dataset::TruthRow>, Vec<PathBuf>)> {
    let truth_path = dataset.join("truth.csv");
    let text = std::fs::read_to_string(&truth_path)
        .with_context(|| format!("reading {}", truth_path.display()))?;
    let truth = kessler_ingest::dataset::parse_truth(&truth_path.display().to_string(), &text)?;
    let files = frame_files(&[dataset.to_path_buf()])?;
    if files.is_empty() {
        bail!("no frame files (FITS, PNG, TIFF) in {}", dataset.display());
    }
    Ok((truth, files))
}

fn bench(
    dataset: &Path,
    out: Option<&Path>,
    json: bool,
    cpu: bool,
    config: DetectorConfig,
) -> Result<()> {
    let (truth, files) = read_dataset(dataset)?;
    // The GPU path (when there is one) is scored; both are timed.
    let mut detectors: Vec<Detector> = if cpu {
        vec![]
    } else {
        gpu_detector(config.clone()).into_iter().collect()
    };
    detectors.push(Detector::new(Backend::Cpu, config));
    let mut bench = kessler_detector::bench::Bench::new(&detectors, &truth);
    let mut skipped = 0;
    for (i, file) in files.iter().enumerate() {
        let frame = match file::read_frame(file, "bench") {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: {e}");
                skipped += 1;
                continue;
            }
        };
        bench
            .add(&frame)
            .with_context(|| format!("{}", file.display()))?;
        eprint!("\r{}/{} frames", i + 1, files.len());
    }
    eprintln!();
    let report = bench.report();
    let out = out.unwrap_or(dataset);
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let mut md = report.to_markdown(&dataset.display().to_string());
    md += &format!(
        "\nPeak resident memory: {} MiB.\n",
        peak_rss_mib().map_or("unknown".into(), |m| m.to_string())
    );
    std::fs::write(out.join("report.md"), &md)?;
    std::fs::write(out.join("completeness.png"), report.completeness_png())?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{md}");
    }
    if skipped > 0 {
        eprintln!("{skipped} file(s) skipped");
    }
    Ok(())
}

/// `kessler calibrate`: on the dataset's frames with no truth row, or on `simulated` = (frames, with stars, seed)
/// frames of the simulator's sky.
fn calibrate(
    dataset: Option<&Path>,
    (frames, stars, seed): (usize, bool, u64),
    floor: f32,
    json: bool,
    cpu: bool,
) -> Result<()> {
    let config = DetectorConfig {
        transform_threshold: floor,
        snr_threshold: floor,
        ..DetectorConfig::default()
    };
    let detector = detector(cpu, config);
    let mut calibration = kessler_detector::calibrate::Calibration::new(&detector);
    let source = match dataset {
        Some(dir) => {
            let (truth, files) = read_dataset(dir)?;
            let with_streaks: std::collections::HashSet<&str> =
                truth.iter().map(|t| t.frame.as_str()).collect();
            let mut used = 0;
            for file in &files {
                let frame = match file::read_frame(file, "calibrate") {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("skipped: {e}");
                        continue;
                    }
                };
                if with_streaks.contains(frame.header.frame_id.as_str()) {
                    continue;
                }
                calibration
                    .add(&frame)
                    .with_context(|| format!("{}", file.display()))?;
                used += 1;
                eprint!("\r{used} frames with no streak");
            }
            dir.display().to_string()
        }
        None => {
            let sky = kessler_sim::Scenario::default();
            let scenario = if stars {
                sky
            } else {
                kessler_sim::Scenario {
                    stars: 0,
                    hot_pixels: 0,
                    cosmic_rays: 0,
                    ..sky
                }
            };
            for k in 0..frames {
                let (frame, _) = kessler_sim::simulate_snr_grid(&scenario, 1, &[], seed + k as u64);
                calibration.add(&frame[0])?;
                eprint!("\r{}/{frames} frames", k + 1);
            }
            format!(
                "{frames} simulated {}x{} frames ({}, seed {seed})",
                scenario.width,
                scenario.height,
                if stars {
                    "sky noise, stars, hot pixels and cosmic rays"
                } else {
                    "sky noise only"
                }
            )
        }
    };
    eprintln!();
    let report = calibration.report();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_markdown(&source));
    }
    Ok(())
}

/// Peak resident set size of this process, MiB (Linux: VmHWM in /proc/self/status).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Use the Earth orientation of an IERS finals2000A file for every frame transformation of this process.
fn load_eop(path: Option<&Path>) -> Result<()> {
    if let Some(path) = path {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let table = kessler_od::eop::EopTable::parse_finals(&path.display().to_string(), &text)?;
        let (first, last) = table.span_mjd();
        tracing::info!(file = %path.display(), first, last, "Earth orientation loaded");
        kessler_od::eop::use_eop(Some(table));
    }
    Ok(())
}

fn import_tles(db: &Path, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let tles = kessler_sim::parse_tles(&text).with_context(|| format!("{}", path.display()))?;
    let mut catalog = Catalog::open(db)?;
    let (mut created, mut unchanged) = (0, 0);
    for tle in &tles {
        match catalog.import_tle(tle)? {
            Some(change) => {
                created += 1;
                println!(
                    "{} <- NORAD {} {} (epoch {})",
                    change.object_id,
                    tle.norad_id(),
                    tle.name().unwrap_or(""),
                    tle.epoch()
                );
            }
            None => unchanged += 1,
        }
    }
    println!(
        "{}: {created} element sets entered (new objects or newer epochs), {unchanged} already held (same or newer epoch)",
        db.display()
    );
    Ok(())
}

fn list_catalog(db: &Path, json: bool) -> Result<()> {
    let objects = terminal::open(db)?.list_objects()?;
    if json {
        println!("{}", serde_json::to_string(&objects)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<10} {:>6} {:>6} {:>5} {:<32} {:<6} {:>12} {:>9}",
        "object",
        "status",
        "norad",
        "tracks",
        "obs",
        "orbit epoch (UTC)",
        "source",
        "|r| km",
        "rms \""
    );
    for o in objects {
        let r = o.orbit.state.r_km.iter().map(|x| x * x).sum::<f64>().sqrt();
        println!(
            "{:<8} {:<10} {:>6} {:>6} {:>5} {:<32} {:<6} {:>12.1} {:>9.2}",
            o.id,
            o.status,
            o.norad_id.map_or_else(|| "-".into(), |n| n.to_string()),
            o.tracks,
            o.observations,
            o.orbit.state.epoch.to_string(),
            o.orbit_source,
            r,
            o.orbit.rms_arcsec
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KESSLER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo {
            json,
            cpu,
            seed,
            db,
            frames,
        } => {
            let started = std::time::Instant::now();
            let report = demo::run(
                detector(cpu, DetectorConfig::default()),
                &DemoOptions {
                    seed,
                    db: db.clone(),
                    frames,
                },
            )
            .await?;
            println!("frames: {}, adapter: {}", report.frames, report.adapter);
            println!(
                "streaks: {} found of {} true, {} false positives",
                report.streaks_found, report.streaks_truth, report.false_positives
            );
            println!(
                "objects: {} of {} cataloged within {} km ({} in the catalog)",
                report.objects_cataloged,
                report.objects_truth,
                demo::POSITION_BOUND_KM,
                report.catalog_objects
            );
            for o in &report.objects {
                println!(
                    "  {} = NORAD {}: {:.3} km from truth at {}, {} observations, rms {:.2}\"",
                    o.object_id,
                    o.truth_norad,
                    o.position_error_km,
                    o.epoch_utc,
                    o.observations,
                    o.rms_arcsec
                );
            }
            println!(
                "catalog: {} ({:.1} s)",
                db.display(),
                started.elapsed().as_secs_f64()
            );
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Command::Detect {
            json,
            cpu,
            threshold,
            files,
        } => detect_files(&files, json, &detector(cpu, threshold.config())),
        Command::Simulate {
            out,
            frames,
            seed,
            snr_grid: Some(grid),
            ..
        } => {
            let scenario = kessler_sim::Scenario::default();
            let (frames, truth) =
                kessler_sim::simulate_snr_grid(&scenario, frames.unwrap_or(100), &grid, seed);
            kessler_sim::write_frames(&out, &frames, &truth)?;
            println!(
                "{} frames, {} streaks at S/N {grid:?} written to {}",
                frames.len(),
                truth.len(),
                out.display()
            );
            Ok(())
        }
        Command::Bench {
            dataset,
            out,
            json,
            cpu,
            threshold,
        } => bench(&dataset, out.as_deref(), json, cpu, threshold.config()),
        Command::BenchPipeline {
            brokers,
            frames,
            cpu,
            kafka,
        } => {
            let night = kessler_sim::simulate(&kessler_sim::Scenario::default(), None, 7)?;
            let frames: Vec<_> = (0..frames)
                .map(|i| {
                    let mut f = night.frames[i % night.frames.len()].clone();
                    f.header.frame_id = format!("bench-{i:05}");
                    f
                })
                .collect();
            let detector = detector(cpu, DetectorConfig::default());
            let report =
                kessler::pipeline_bench::run(&brokers, frames, kafka.producer(), detector).await?;
            println!("{}", serde_json::to_string(&report)?);
            eprintln!(
                "peak resident memory: {} MiB",
                peak_rss_mib().map_or("unknown".into(), |m| m.to_string())
            );
            Ok(())
        }
        Command::Calibrate {
            dataset,
            frames,
            stars,
            seed,
            floor,
            json,
            cpu,
        } => calibrate(dataset.as_deref(), (frames, stars, seed), floor, json, cpu),
        Command::Simulate {
            out,
            frames,
            seed,
            radar: true,
            ..
        } => {
            let scenario = kessler_sim::RadarScenario::default();
            let (frames, truth) =
                kessler_sim::simulate_radar(&scenario, frames.unwrap_or(20), seed);
            kessler_sim::write_frames(&out, &frames, &truth)?;
            println!(
                "{} radar maps, {} tracks written to {}",
                frames.len(),
                truth.len(),
                out.display()
            );
            Ok(())
        }
        Command::Simulate {
            out,
            frames,
            seed,
            snr_grid: None,
            radar: false,
        } => {
            let scenario = kessler_sim::Scenario::default();
            let night = kessler_sim::simulate(&scenario, frames, seed)?;
            kessler_sim::write_dataset(&out, &scenario, &night)?;
            println!(
                "{} frames, {} streaks of {} objects written to {}",
                night.frames.len(),
                night.truth.len(),
                night.objects.len(),
                out.display()
            );
            Ok(())
        }
        Command::Publish {
            brokers,
            sensor,
            sensors,
            namespace,
            watch,
            ledger,
            settle_s,
            kafka,
            paths,
        } => {
            publish(PublishArgs {
                brokers,
                sensor,
                sensors,
                namespace,
                watch: watch.then_some((ledger, settle_s)),
                kafka,
                paths,
            })
            .await
        }
        Command::Run {
            brokers,
            stage,
            db,
            namespace,
            cpu,
            threshold,
            exit_when_idle,
            eop,
            metrics,
            reassembly_mib,
            chunk_timeout_s,
            stall_check_s,
            kafka,
        } => {
            load_eop(eop.as_deref())?;
            run(RunArgs {
                brokers,
                stage,
                db,
                namespace,
                detection: (cpu, threshold.config()),
                idle: exit_when_idle,
                metrics,
                reassembly: ReassemblyConfig {
                    bound_bytes: reassembly_mib * 1024 * 1024,
                    timeout: chunk_timeout_s,
                },
                stall_check: stall_check_s,
                kafka,
            })
            .await
        }
        Command::Od {
            tdm,
            sites,
            format,
            initial,
            object,
            norad,
            estimate_biases,
            drag_m2_kg,
            eop,
        } => {
            load_eop(eop.as_deref())?;
            if let Some(b) = drag_m2_kg
                && !(b.is_finite() && b > 0.0)
            {
                bail!("--drag-m2-kg must be a positive number, got {b}");
            }
            let config = kessler_od::FitConfig {
                estimate_biases,
                forces: kessler_od::Forces {
                    drag: drag_m2_kg.map(|ballistic_m2_kg| kessler_od::Drag { ballistic_m2_kg }),
                },
                ..kessler_od::FitConfig::default()
            };
            let initial = match initial {
                Some(v) if v.len() != 6 => bail!("--initial takes 6 numbers, {} given", v.len()),
                Some(v) => Some(std::array::from_fn(|i| v[i])),
                None => None,
            };
            let (solution, fit, obs) = kessler::od::run(&tdm, &sites, initial, config)?;
            match format {
                kessler::od::Format::Json => println!("{}", serde_json::to_string(&solution)?),
                kessler::od::Format::Oem => print!(
                    "{}",
                    kessler_catalog::oem::write_oem(
                        &object,
                        &object,
                        &fit,
                        hifitime::Epoch::now()?
                    )
                ),
                kessler::od::Format::Omm => {
                    let elements = kessler::od::mean_elements(&obs, &fit, norad, &object, &config)?;
                    print!(
                        "{}",
                        kessler_catalog::omm::write_omm(
                            &elements.tle,
                            Some((&elements.covariance, "GCRF")),
                            hifitime::Epoch::now()?
                        )
                    );
                }
                kessler::od::Format::Tle => {
                    let elements = kessler::od::mean_elements(&obs, &fit, norad, &object, &config)?;
                    let [l1, l2] = elements.tle.to_lines();
                    println!("{object}\n{l1}\n{l2}");
                }
            }
            Ok(())
        }
        Command::BenchOd { fits, observations } => {
            let speed = kessler::od::fit_speed(fits, observations)?;
            println!("{}", serde_json::to_string(&speed)?);
            Ok(())
        }
        Command::Catalog {
            command: CatalogCommand::List { db, json },
        } => list_catalog(&db, json),
        Command::Catalog {
            command: CatalogCommand::Import { db, tle },
        } => import_tles(&db, &tle),
        Command::Catalog {
            command:
                CatalogCommand::Export {
                    db,
                    format,
                    status,
                    out,
                },
        } => terminal::export(&db, format, &status, out.as_deref()),
        Command::Catalog {
            command: CatalogCommand::Review { command },
        } => review_command(command).await,
        Command::Review {
            db,
            listen,
            token,
            announce,
        } => {
            if token.chars().count() < 8 {
                bail!("--token: at least 8 characters");
            }
            terminal::open(&db)?;
            let announce = match announce.target() {
                Some((brokers, namespace)) => {
                    let topics = Topics::namespaced(namespace);
                    ensure_topics(brokers, &[&topics.catalog], 1).await?;
                    Some((KafkaSink::new(brokers, ProducerConfig::default())?, topics))
                }
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("--listen {listen}"))?;
            eprintln!("review at http://{}/", listener.local_addr()?);
            kessler::review::serve(
                listener,
                kessler::review::Review {
                    db,
                    token,
                    announce,
                },
            )
            .await
        }
    }
}

/// `kessler catalog review ...`.
async fn review_command(command: ReviewCommand) -> Result<()> {
    match command {
        ReviewCommand::List {
            db,
            status,
            sensor,
            from,
            to,
            sort,
            descending,
            json,
        } => {
            let filter = CandidateFilter {
                status: (status != "all").then_some(status),
                sensor,
                from,
                to,
                sort,
                descending,
            };
            terminal::list(&db, &filter, json)
        }
        ReviewCommand::Show { db, id, json } => terminal::show(&db, &id, json),
        ReviewCommand::Accept { who, reason } => {
            let change = terminal::open(&who.db)?.accept(&who.id, &who.by, reason.as_deref())?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
        ReviewCommand::Reject { who, reason } => {
            let change = terminal::open(&who.db)?.reject(&who.id, &who.by, &reason)?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
        ReviewCommand::Merge { who, into, reason } => {
            let change = terminal::open(&who.db)?.merge(
                &who.id,
                &into,
                (&who.by, reason.as_deref()),
                &kessler_od::FitConfig::default(),
            )?;
            terminal::decided(&who.db, change, who.announce.target()).await
        }
    }
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
}
