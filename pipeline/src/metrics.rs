//! Health and metrics of `kessler run`: counters the stages keep, served in the Prometheus text exposition format
//! (version 0.0.4) at `GET /metrics`, with `GET /healthz` for liveness probes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Counters shared by the stages of one process. Every field only goes up, except `reassembly_bytes`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Whole frames taken off the frames topic (after reassembly).
    pub frames_in: AtomicU64,
    /// Frames whose detections message was acknowledged.
    pub frames_detected: AtomicU64,
    /// Streaks in those messages.
    pub streaks_out: AtomicU64,
    /// Messages sent to the dead-letter topic, by any stage.
    pub dead_letters: AtomicU64,
    /// Time in the detector, microseconds, summed over frames.
    pub detect_micros: AtomicU64,
    /// Bytes held by frames whose chunks are still arriving.
    pub reassembly_bytes: AtomicU64,
    /// Detections messages the track stage recorded (replays included).
    pub detections_in: AtomicU64,
    /// Tracks stored in the catalog.
    pub tracks_stored: AtomicU64,
}

/// What the lag gauge asks the broker: the committed progress of these (group, topic) pairs.
#[derive(Debug, Clone)]
pub struct LagProbe {
    pub brokers: String,
    pub groups: Vec<(String, String)>,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text; `lag` holds (group, topic, messages behind) for each probed pair that answered.
    pub fn render(&self, backend: &str, lag: &[(String, String, i64)]) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
            out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
            for line in lines {
                out += &format!("{name}{line}\n");
            }
        };
        let plain = |v: u64| vec![format!(" {v}")];
        metric(
            "kessler_frames_in_total",
            "counter",
            "Whole frames taken off the frames topic.",
            plain(get(&self.frames_in)),
        );
        metric(
            "kessler_frames_detected_total",
            "counter",
            "Frames whose detections were published.",
            plain(get(&self.frames_detected)),
        );
        metric(
            "kessler_detections_out_total",
            "counter",
            "Streaks published on the detections topic.",
            plain(get(&self.streaks_out)),
        );
        metric(
            "kessler_dead_letters_total",
            "counter",
            "Messages sent to the dead-letter topic.",
            plain(get(&self.dead_letters)),
        );
        let backend = escape(backend);
        metric(
            "kessler_detect_seconds",
            "summary",
            "Time in the streak detector per frame (GPU dispatch and read-back, or the CPU path).",
            vec![
                format!(
                    "_sum{{backend=\"{backend}\"}} {}",
                    get(&self.detect_micros) as f64 * 1e-6
                ),
                format!(
                    "_count{{backend=\"{backend}\"}} {}",
                    get(&self.frames_detected)
                ),
            ],
        );
        metric(
            "kessler_reassembly_bytes",
            "gauge",
            "Bytes held by frames whose chunks are still arriving.",
            plain(get(&self.reassembly_bytes)),
        );
        metric(
            "kessler_detections_in_total",
            "counter",
            "Detections messages recorded by the track stage.",
            plain(get(&self.detections_in)),
        );
        metric(
            "kessler_tracks_stored_total",
            "counter",
            "Tracks stored in the catalog.",
            plain(get(&self.tracks_stored)),
        );
        metric(
            "kessler_consumer_lag_messages",
            "gauge",
            "Messages of the topic not yet committed by the consumer group.",
            lag.iter()
                .map(|(g, t, n)| format!("{{group=\"{}\",topic=\"{}\"}} {n}", escape(g), escape(t)))
                .collect(),
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped as the exposition format asks.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serve `/metrics` and `/healthz` on `listener` until the process ends. Each scrape asks the broker for the lag
/// (a blocking call, run off the async threads, at most a few seconds).
pub async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    backend: String,
    probe: Option<LagProbe>,
) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (metrics, backend, probe) = (metrics.clone(), backend.clone(), probe.clone());
        tokio::spawn(async move {
            let Ok(Some(request)) =
                tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream)).await
            else {
                return;
            };
            let line = String::from_utf8_lossy(&request);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match path {
                "/metrics" => {
                    let lag = match probe {
                        Some(p) => tokio::task::spawn_blocking(move || lag(&p))
                            .await
                            .unwrap_or_default(),
                        None => vec![],
                    };
                    ("200 OK", metrics.render(&backend, &lag))
                }
                "/healthz" => ("200 OK", "ok\n".to_string()),
                _ => ("404 Not Found", "not found: try /metrics\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// The request head (up to the blank line that ends it, at most 4 KiB), however many reads it arrives in; `None`
/// when the client closes first.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 4096 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

fn lag(probe: &LagProbe) -> Vec<(String, String, i64)> {
    probe
        .groups
        .iter()
        .filter_map(|(group, topic)| {
            match kessler_ingest::kafka::group_lag(&probe.brokers, group, topic) {
                Ok(n) => Some((group.clone(), topic.clone(), n)),
                Err(e) => {
                    tracing::warn!(group, topic, "consumer lag unavailable: {e}");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_text_has_help_type_and_labelled_samples() {
        let m = Metrics::default();
        Metrics::add(&m.frames_detected, 2);
        Metrics::add(&m.detect_micros, 1_500_000);
        let text = m.render("gpu \"lavapipe\"", &[("g".into(), "t".into(), 7)]);
        assert!(text.contains("# TYPE kessler_detect_seconds summary\n"));
        assert!(
            text.contains("kessler_detect_seconds_sum{backend=\"gpu \\\"lavapipe\\\"\"} 1.5\n")
        );
        assert!(
            text.contains("kessler_detect_seconds_count{backend=\"gpu \\\"lavapipe\\\"\"} 2\n")
        );
        assert!(text.contains("kessler_consumer_lag_messages{group=\"g\",topic=\"t\"} 7\n"));
        assert!(text.contains("kessler_frames_detected_total 2\n"));
    }

    /// A request that arrives in pieces is read whole: answering the first piece and closing would reset the
    /// connection under a client still writing.
    #[tokio::test]
    async fn a_request_split_across_writes_is_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Default::default(), "cpu".into(), None));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /met").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream
            .write_all(b"rics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("kessler_frames_in_total 0"), "{response}");
    }
}
