//! Frames in through a real broker when things go wrong: detect workers killed with SIGKILL, the broker restarted,
//! a folder watched while a slow writer fills it and the publisher is killed, a corpus of bad files, and a frame
//! far larger than the producer's message limit. Each test runs its own Tansu (from PATH, as scripts/test.sh
//! installs it) with SQLite storage in a temporary folder, so that it can restart the broker.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hifitime::Epoch;
use kessler_catalog::Catalog;
use kessler_detector::message::Detections;
use kessler_detector::{Backend, Detector, DetectorConfig};
use kessler_ingest::inbound::{Arrival, Inbound, ReassemblyConfig};
use kessler_ingest::kafka::{
    Compression, KafkaSink, KafkaSource, ProducerConfig, ensure_topics, recent_payloads,
};
use kessler_ingest::{Frame, FrameHeader, GeodeticSite, Source, Wcs, chunk, envelope, fits};

use kessler_ingest::topics::Topics;
use ndarray::Array2;

/// A Tansu broker of this test's own on 127.0.0.1, restartable on the same storage.
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut broker = Broker {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
        };
        broker.spawn();
        broker
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    fn spawn(&mut self) {
        let url = format!("tcp://{}", self.addr());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = Command::new("tansu")
            .args(["broker", "--cluster-id", "kessler-ingest-test"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tansu is on PATH (scripts/test.sh installs it into ~/.cargo/bin)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "Tansu did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill the broker (SIGKILL) and start it again on the same storage.
    fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        // The port is free once the old process is gone.
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free loopback address, `127.0.0.1:PORT`.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The body of an HTTP GET of `path` at `addr`.
fn get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut stream = TcpStream::connect(addr).unwrap();
    // Read to the end: the server closes only when asked (HTTP/1.1 keeps connections open).
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// A `kessler` process whose stderr goes to a log file.
fn spawn_kessler(args: &[&str], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args(args)
        // Group membership (assignments, revocations, failed commits) in the log a failure shows.
        .env("KESSLER_LOG", "warn,kessler_ingest::kafka=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the kessler binary runs")
}

/// Ask a process to stop as Ctrl-C would, and wait for it.
fn interrupt(mut child: Child) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A 128x128 frame: noisy sky, and for odd `n` a bright streak, with a WCS and a site so that streaks are measured.
fn frame(n: usize) -> Frame {
    let mut state = 0x9e37_79b9_u64.wrapping_mul(n as u64 + 1);
    // Row-major, as the frames of `n` always were.
    let mut pixels = Array2::from_shape_simple_fn((128, 128), || {
        // xorshift noise, +-20 ADU on a 1000 ADU sky
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1000.0 + (state % 41) as f32 - 20.0
    });
    if !n.is_multiple_of(2) {
        let y0 = 20.0 + (n % 80) as f32;
        for x in 20..100usize {
            let y = (y0 + 0.3 * (x - 20) as f32).round() as usize;
            for dy in 0..2 {
                pixels[[y + dy, x]] += 400.0;
            }
        }
    }
    Frame {
        header: FrameHeader {
            frame_id: format!("n1-{n:04}"),
            sensor_id: "ogs".into(),
            start: Epoch::from_gregorian_utc_hms(2006, 6, 26, 22, 0, 0)
                + hifitime::Duration::from_seconds(10.0 * n as f64),
            exposure_s: 2.0,
            site: Some(GeodeticSite {
                lat_deg: 28.3,
                lon_deg: -16.51,
                alt_km: 2.39,
            }),
            wcs: Some(Wcs::tan_centred(120.0, 30.0, 63.5, 63.5, 0.0004, 0.0)),
            radar: None,
            instrument: None,
        },
        pixels,
    }
}

fn namespace(name: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{name}-{}-{}", std::process::id(), now.as_millis())
}

/// The frame ids on the frames topic that arrived whole, with how many times each did.
fn whole_frames_on(brokers: &str, topic: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for payload in recent_payloads(brokers, topic, 100_000).unwrap() {
        if let Some((id, true)) = chunk::frame_of(&payload) {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

fn catalog_frames(db: &Path) -> Vec<(String, String)> {
    Catalog::open(db)
        .and_then(|c| c.frame_detections())
        .unwrap_or_default()
}

/// Wait until `done`; on timeout, fail showing the tails of `logs`.
fn wait_for(what: &str, limit: Duration, logs: &[&Path], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            let mut report = String::new();
            for log in logs {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(80).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                report += &format!(
                    "\n--- the last lines of {}:\n{}",
                    log.display(),
                    tail.join("\n")
                );
            }
            panic!("{what}: not within {limit:?}{report}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[derive(Debug)]
enum Disruption {
    /// SIGKILL the oldest detect worker and start a new one.
    KillWorker,
    /// SIGKILL the broker and start it again on the same port and storage.
    RestartBroker,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_frames_through_two_worker_kills_and_a_broker_restart_are_cataloged_once() {
    let mut broker = Broker::start();
    let brokers = broker.addr();
    let ns = namespace("kills");
    let topics = Topics::namespaced(&ns);
    // Two partitions: the two detect workers of one group share them.
    ensure_topics(&brokers, &topics.all(), 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let log = dir.path().join("workers.log");
    let detect_args = [
        "run",
        "--brokers",
        &brokers,
        "--namespace",
        &ns,
        "--stage",
        "detect",
        "--cpu",
        // Tansu can leave a killed worker's partitions unowned until a member rejoins (see KafkaSource).
        "--stall-check-s",
        "10",
    ];
    let metrics = free_addr();
    let track = spawn_kessler(
        &[
            "run",
            "--brokers",
            &brokers,
            "--namespace",
            &ns,
            "--stage",
            "track",
            "--db",
            db.to_str().unwrap(),
            "--metrics",
            &metrics,
            "--stall-check-s",
            "10",
        ],
        &log,
    );
    let mut workers = vec![
        spawn_kessler(&detect_args, &log),
        spawn_kessler(&detect_args, &log),
    ];
    let frames: Vec<Frame> = (0..200).map(frame).collect();
    let cpu = Detector::new(Backend::Cpu, DetectorConfig::default());
    let expected: HashMap<String, usize> = frames
        .iter()
        .map(|f| {
            let streaks = cpu.detect(f.pixels.view()).unwrap();
            (f.header.frame_id.clone(), streaks.len())
        })
        .collect();
    assert!(expected.values().filter(|&&n| n > 0).count() >= 90);
    // Two sensors, so that both partitions carry frames.
    let sink = KafkaSink::new(&brokers, ProducerConfig::default()).unwrap();
    let publish = async |batch: &[Frame]| {
        let batch = batch.iter().cloned().map(|mut f| {
            if f.header.frame_id.ends_with(['0', '2', '4', '6', '8']) {
                f.header.sensor_id = "ogs-2".into();
            }
            f
        });
        kessler_ingest::publish::publish_frames(&sink, &topics, batch)
            .await
            .unwrap();
    };
    let broker_log = broker.log();
    let logs = [log.as_path(), broker_log.as_path()];
    // Each batch of 50 is published, then the pipeline is disrupted once some of it is cataloged.
    let plan = [
        (20, Some(Disruption::KillWorker)),
        (70, Some(Disruption::RestartBroker)),
        (120, Some(Disruption::KillWorker)),
        (200, None),
    ];
    for (batch, (cataloged, disruption)) in frames.chunks(50).zip(plan) {
        publish(batch).await;
        wait_for(
            &format!("{cataloged} frames cataloged"),
            Duration::from_secs(180),
            &logs,
            || catalog_frames(&db).len() >= cataloged,
        );
        match disruption {
            Some(Disruption::KillWorker) => {
                kill(workers.remove(0));
                workers.push(spawn_kessler(&detect_args, &log));
            }
            Some(Disruption::RestartBroker) => broker.restart(),
            None => continue,
        }
        eprintln!("{disruption:?} at {} frames", catalog_frames(&db).len());
    }
    // Replays of the killed workers' last frames arrive too; give them time, then stop everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scrape = get(&metrics, "/metrics");
    let recorded_in = scrape
        .lines()
        .find_map(|l| l.strip_prefix("kessler_detections_in_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(recorded_in.is_some_and(|n| n >= 200), "{scrape}");
    assert!(
        scrape.contains(&format!(
            "kessler_consumer_lag_messages{{group=\"{ns}.kessler-track\""
        )),
        "{scrape}"
    );
    for w in workers {
        interrupt(w);
    }
    interrupt(track);

    let recorded = catalog_frames(&db);
    let ids: HashSet<&str> = recorded.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        (recorded.len(), ids.len()),
        (200, 200),
        "each frame once; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for (id, json) in &recorded {
        let d = Detections::from_json(json.as_bytes()).unwrap();
        assert_eq!(d.streaks.len(), expected[id], "frame {id}");
        assert_eq!(d.measurements.len(), d.streaks.len(), "frame {id}");
    }
    let dead = recent_payloads(&brokers, &topics.deadletter, 1000).unwrap();
    assert!(dead.is_empty(), "{} dead letters", dead.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_32_mib_frame_goes_through_intact_with_a_1_mib_message_limit() {
    let broker = Broker::start();
    let brokers = broker.addr();
    let topics = Topics::namespaced(&namespace("big"));
    ensure_topics(&brokers, &topics.all(), 1).await.unwrap();
    let side = 4096u32;
    let mut big = frame(0);
    big.header.frame_id = "big-4096".into();
    // A hash of each pixel's row-major position, as 16-bit counts.
    big.pixels = Array2::from_shape_vec(
        (side as usize, side as usize),
        (0..side * side)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 65536) as f32)
            .collect(),
    )
    .unwrap();
    let limit = 1024 * 1024;
    let sink = KafkaSink::new(
        &brokers,
        ProducerConfig {
            max_message_bytes: limit,
            // zstd here, LZ4 (the default) everywhere else: both go through the broker.
            compression: Compression::Zstd,
        },
    )
    .unwrap();
    kessler_ingest::publish::publish_frames(&sink, &topics, [big.clone(), frame(1)])
        .await
        .unwrap();

    let payloads = recent_payloads(&brokers, &topics.frames, 1000).unwrap();
    assert!(payloads.len() >= 33, "{} messages", payloads.len());
    assert!(payloads.iter().all(|p| p.len() <= limit));
    let mut source = KafkaSource::new(
        &brokers,
        "big",
        &topics.frames,
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    let mut inbound = Inbound::new(ReassemblyConfig {
        bound_bytes: 64 * 1024 * 1024,
        timeout: Duration::from_secs(60),
    });
    let mut whole = vec![];
    while let Some(m) = source.recv().await.unwrap() {
        if let Arrival::Envelope(e) = inbound.accept(&m, Instant::now()) {
            whole.push(envelope::decode(&e).unwrap());
            if let Some(p) = inbound.committable(&m.position) {
                source.done(&p).unwrap();
            }
            if whole.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(whole.len(), 2);
    assert!(whole[0] == big, "the 32 MiB frame differs after the trip");
    assert_eq!(whole[1], frame(1));
    assert_eq!(inbound.held_bytes(), 0);
}

/// A FITS file of the frame with `edit` applied to its header text.
fn fits_with(frame: &Frame, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = fits::encode_fits(frame);
    edit(&mut bytes);
    bytes
}

fn fz_sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/data/fz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn set_card(bytes: &mut [u8], keyword: &str, value: &str) {
    let at = (0..bytes.len() / 80)
        .map(|i| i * 80)
        .find(|&i| bytes[i..i + 8] == *format!("{keyword:<8}").as_bytes())
        .unwrap_or_else(|| panic!("no {keyword} card"));
    let card = format!("{keyword:<8}= {value:>20}");
    bytes[at..at + 80].copy_from_slice(format!("{card:<80}").as_bytes());
}

#[test]
fn each_bad_file_yields_one_dead_letter_with_its_reason_and_the_good_ones_go_through() {
    let broker = Broker::start();
    let brokers = broker.addr();
    let ns = namespace("bad");
    let dir = tempfile::tempdir().unwrap();
    let good = frame(1);
    let header_end = fits::encode_fits(&good).len() - 128 * 128 * 2;
    let header_end = header_end - header_end % 2880;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.fits",
            fits_with(&good, |b| b.truncate(b.len() - 5000)),
            "the header promises",
        ),
        ("zero-length.fits", vec![], "not a FITS file"),
        (
            "bitpix.fits",
            fits_with(&good, |b| set_card(b, "BITPIX", "12")),
            "BITPIX",
        ),
        (
            "header-only.fits",
            fits_with(&good, |b| {
                set_card(b, "NAXIS", "0");
                b.truncate(header_end);
            }),
            "no image",
        ),
        (
            "huge.fits",
            fits_with(&good, |b| set_card(b, "NAXIS1", "100000000")),
            "out of range",
        ),
        (
            "nan.fits",
            {
                let mut f = good.clone();
                f.pixels.iter_mut().for_each(|v| *v = f32::NAN);
                fits::encode_fits(&f)
            },
            "undefined",
        ),
        (
            "no-time.fits",
            fits_with(&good, |b| {
                let at = (0..b.len() / 80)
                    .map(|i| i * 80)
                    .find(|&i| b[i..].starts_with(b"DATE-OBS"))
                    .unwrap();
                b[at..at + 80].copy_from_slice(&[b' '; 80]);
            }),
            "DATE-OBS",
        ),
        (
            "stranger.fits",
            fits_with(&good, |b| set_card(b, "KSENSOR", "'stranger'")),
            "unknown sensor",
        ),
        // Tile-compressed (ingest/tests/data/fz, scripts/make-fz-samples.py): the last block, all compressed
        // tiles, cut off; and a codec kessler refuses.
        (
            "truncated.fits.fz",
            {
                let b = fz_sample("u16-fpack-rice.fits.fz");
                b[..b.len() - 2880].to_vec()
            },
            "the header promises",
        ),
        (
            "hcompress.fits.fz",
            fz_sample("u16-hcompress.fits.fz"),
            "ZCMPTYPE",
        ),
    ];
    for (name, bytes, _) in &cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    fits::write_fits(&dir.path().join("good.fits"), &good).unwrap();
    let sensors = dir.path().join("sensors.toml");
    std::fs::write(&sensors, "[[sensor]]\nid = \"ogs\"\nkind = \"optical\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args(["publish", "--brokers", &brokers, "--namespace", &ns])
        .args([
            "--sensors",
            sensors.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("published 1 frames"), "{stderr}");

    let topics = Topics::namespaced(&ns);
    let letters: Vec<serde_json::Value> = recent_payloads(&brokers, &topics.deadletter, 1000)
        .unwrap()
        .iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect();
    assert_eq!(letters.len(), cases.len(), "{letters:#?}");
    for (name, bytes, reason) in &cases {
        let mine: Vec<_> = letters.iter().filter(|l| l["key"] == *name).collect();
        assert_eq!(mine.len(), 1, "{name}: {letters:#?}");
        let l = mine[0];
        assert!(
            l["reason"].as_str().unwrap().contains(reason),
            "{name}: reason {} lacks {reason:?}",
            l["reason"]
        );
        assert!(l["position"].as_str().unwrap().ends_with(name));
        assert_eq!(l["stage"], "publish");
        assert_eq!(l["payload_bytes"], bytes.len().min(4096));
    }
    assert_eq!(
        whole_frames_on(&brokers, &topics.frames),
        HashMap::from([("good".to_string(), 1)])
    );
}

#[test]
fn a_watched_folder_filled_by_a_slow_writer_is_published_once_per_file_across_a_kill() {
    let broker = Broker::start();
    let brokers = broker.addr();
    let ns = namespace("watch");
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let log = dir.path().join("publisher.log");
    let ledger = dir.path().join("ledger.tsv");
    let args = [
        "publish",
        "--brokers",
        &brokers,
        "--namespace",
        &ns,
        "--watch",
        "--settle-s",
        "1",
        "--ledger",
        ledger.to_str().unwrap(),
        inbox.to_str().unwrap(),
    ];
    let mut publisher = spawn_kessler(&args, &log);
    let files = 12;
    let write = |n: usize| -> PathBuf {
        let bytes = fits::encode_fits(&frame(n));
        let name = format!("n1-{n:04}.fits");
        // Half the files are written in place, half under a .part name and renamed when complete.
        let (target, writing) = if n.is_multiple_of(2) {
            (inbox.join(&name), inbox.join(&name))
        } else {
            (inbox.join(&name), inbox.join(format!("{name}.part")))
        };
        let mut f = std::fs::File::create(&writing).unwrap();
        for piece in bytes.chunks(bytes.len().div_ceil(4)) {
            f.write_all(piece).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        drop(f);
        if writing != target {
            std::fs::rename(&writing, &target).unwrap();
        }
        target
    };
    for n in 0..files {
        write(n);
        if n == 5 {
            // Killed mid-folder: the restart must neither repeat nor miss a file.
            std::thread::sleep(Duration::from_millis(700));
            kill(publisher);
            publisher = spawn_kessler(&args, &log);
        }
    }
    let topic = Topics::namespaced(&ns).frames;
    wait_for(
        "every watched file on the topic",
        Duration::from_secs(60),
        &[&log],
        || whole_frames_on(&brokers, &topic).len() >= files,
    );
    std::thread::sleep(Duration::from_secs(2));
    interrupt(publisher);
    let on_topic = whole_frames_on(&brokers, &topic);
    let expected: HashMap<String, usize> = (0..files).map(|n| (format!("n1-{n:04}"), 1)).collect();
    assert_eq!(
        on_topic,
        expected,
        "log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let dead = recent_payloads(&brokers, &Topics::namespaced(&ns).deadletter, 100).unwrap();
    assert!(
        dead.is_empty(),
        "no file was taken before it was complete: {} dead letters",
        dead.len()
    );
}
