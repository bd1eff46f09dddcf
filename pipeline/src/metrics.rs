//! Health and metrics of `kessler run`: counters the stages keep, served in the Prometheus text exposition format
//! (version 0.0.4) at `GET /metrics`, with `GET /healthz` for liveness probes, as axum routes ([`router`]).
//!
//! The exposition is the `prometheus` crate's: the counters and the gauge are its metric types, registered in a
//! registry built per server. Two families are collectors of their own, since neither is a plain metric:
//! `kessler_detect_seconds` is a summary (the crate has no summary type, only its data model) made of the detect
//! time and the detected-frame count, and `kessler_consumer_lag_messages{group,topic}` asks the broker at each
//! scrape (a pair whose probe fails is left out of that scrape, never shown with an old value).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType, Summary};
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use tokio::net::TcpListener;

/// Counters shared by the stages of one process. Every one only goes up, except `reassembly_bytes`.
#[derive(Debug)]
pub struct Metrics {
    /// Whole frames taken off the frames topic (after reassembly).
    pub frames_in: IntCounter,
    /// Frames whose detections message was acknowledged.
    pub frames_detected: IntCounter,
    /// Streaks in those messages.
    pub streaks_out: IntCounter,
    /// Messages sent to the dead-letter topic, by any stage.
    pub dead_letters: IntCounter,
    /// Time in the detector, microseconds, summed over frames (served as `kessler_detect_seconds_sum`).
    pub detect_micros: IntCounter,
    /// Bytes held by frames whose chunks are still arriving.
    pub reassembly_bytes: IntGauge,
    /// Detections messages the track stage recorded (replays included).
    pub detections_in: IntCounter,
    /// Tracks stored in the catalog.
    pub tracks_stored: IntCounter,
}

/// A counter whose name and help are constants of this module (valid metric names: creation cannot fail).
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("a valid metric name")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            frames_in: counter(
                "kessler_frames_in_total",
                "Whole frames taken off the frames topic.",
            ),
            frames_detected: counter(
                "kessler_frames_detected_total",
                "Frames whose detections were published.",
            ),
            streaks_out: counter(
                "kessler_detections_out_total",
                "Streaks published on the detections topic.",
            ),
            dead_letters: counter(
                "kessler_dead_letters_total",
                "Messages sent to the dead-letter topic.",
            ),
            // Not registered itself: the sum of the detect-time summary.
            detect_micros: counter("kessler_detect_micros", "Time in the detector, us."),
            reassembly_bytes: IntGauge::new(
                "kessler_reassembly_bytes",
                "Bytes held by frames whose chunks are still arriving.",
            )
            .expect("a valid metric name"),
            detections_in: counter(
                "kessler_detections_in_total",
                "Detections messages recorded by the track stage.",
            ),
            tracks_stored: counter(
                "kessler_tracks_stored_total",
                "Tracks stored in the catalog.",
            ),
        }
    }
}

impl Metrics {
    /// Add `n` to `counter`.
    pub fn add(counter: &IntCounter, n: u64) {
        counter.inc_by(n);
    }

    /// A registry of these metrics, the detect-time summary labelled by `backend`, and, when `probe` is given,
    /// the consumer lag it asks the broker at each gathering.
    pub fn registry(&self, backend: &str, probe: Option<LagProbe>) -> Registry {
        let registry = Registry::new();
        let plain = [
            &self.frames_in,
            &self.frames_detected,
            &self.streaks_out,
            &self.dead_letters,
            &self.detections_in,
            &self.tracks_stored,
        ];
        for c in plain {
            registry
                .register(Box::new(c.clone()))
                .expect("distinct names");
        }
        registry
            .register(Box::new(self.reassembly_bytes.clone()))
            .expect("distinct names");
        registry
            .register(Box::new(DetectTime::new(self, backend)))
            .expect("distinct names");
        if let Some(probe) = probe {
            registry
                .register(Box::new(Lag::new(probe)))
                .expect("distinct names");
        }
        registry
    }
}

/// `kessler_detect_seconds`: a summary with no quantiles, its sum the detect time and its count the detected
/// frames.
struct DetectTime {
    desc: Desc,
    frames: IntCounter,
    micros: IntCounter,
    backend: String,
}

const DETECT_SECONDS: &str = "kessler_detect_seconds";
const DETECT_SECONDS_HELP: &str =
    "Time in the streak detector per frame (GPU dispatch and read-back, or the CPU path).";

impl DetectTime {
    fn new(metrics: &Metrics, backend: &str) -> DetectTime {
        DetectTime {
            desc: Desc::new(
                DETECT_SECONDS.into(),
                DETECT_SECONDS_HELP.into(),
                vec![],
                HashMap::from([("backend".to_string(), backend.to_string())]),
            )
            .expect("a valid metric name"),
            frames: metrics.frames_detected.clone(),
            micros: metrics.detect_micros.clone(),
            backend: backend.to_string(),
        }
    }
}

impl Collector for DetectTime {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut summary = Summary::default();
        summary.set_sample_count(self.frames.get());
        summary.set_sample_sum(self.micros.get() as f64 * 1e-6);
        let mut backend = LabelPair::default();
        backend.set_name("backend".into());
        backend.set_value(self.backend.clone());
        let mut metric = Metric::default();
        metric.set_label(vec![backend]);
        metric.set_summary(summary);
        let mut family = MetricFamily::default();
        family.set_name(DETECT_SECONDS.into());
        family.set_help(DETECT_SECONDS_HELP.into());
        family.set_field_type(MetricType::SUMMARY);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

/// What the lag gauge asks the broker: the committed progress of these (group, topic) pairs.
#[derive(Debug, Clone)]
pub struct LagProbe {
    pub brokers: String,
    pub groups: Vec<(String, String)>,
}

/// `kessler_consumer_lag_messages{group,topic}`: high watermark less committed offset, asked of the broker when
/// gathered (a blocking call: gather on a blocking thread).
struct Lag {
    desc: Desc,
    probe: LagProbe,
}

const LAG: &str = "kessler_consumer_lag_messages";
const LAG_HELP: &str = "Messages of the topic not yet committed by the consumer group.";
const LAG_LABELS: [&str; 2] = ["group", "topic"];

impl Lag {
    fn new(probe: LagProbe) -> Lag {
        let desc = Desc::new(
            LAG.into(),
            LAG_HELP.into(),
            LAG_LABELS.map(String::from).to_vec(),
            HashMap::new(),
        )
        .expect("a valid metric name");
        Lag { desc, probe }
    }
}

impl Collector for Lag {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let gauges =
            IntGaugeVec::new(Opts::new(LAG, LAG_HELP), &LAG_LABELS).expect("a valid metric name");
        for (group, topic) in &self.probe.groups {
            match kessler_ingest::kafka::group_lag(&self.probe.brokers, group, topic) {
                Ok(n) => gauges.with_label_values(&[group, topic]).set(n),
                Err(e) => tracing::warn!(group, topic, "consumer lag unavailable: {e}"),
            }
        }
        gauges.collect()
    }
}

/// `/metrics` (the exposition of `registry`) and `/healthz` (`ok`).
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(exposition))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try /metrics\n") })
        .with_state(registry)
}

/// The text exposition; gathered on a blocking thread, since the lag collector waits for the broker (at most a few
/// seconds).
async fn exposition(State(registry): State<Registry>) -> Response {
    let text = tokio::task::spawn_blocking(move || {
        let mut text = vec![];
        TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .map(|()| text)
    })
    .await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serve `/metrics` and `/healthz` on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    backend: String,
    probe: Option<LagProbe>,
) {
    let app = router(metrics.registry(&backend, probe));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!("the metrics server stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(app: Router, path: &str) -> (StatusCode, String, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn metrics_route_serves_every_name_with_its_type_and_labelled_samples() {
        let m = Metrics::default();
        Metrics::add(&m.frames_detected, 2);
        Metrics::add(&m.detect_micros, 1_500_000);
        Metrics::add(&m.detections_in, 3);
        m.reassembly_bytes.set(4096);
        let (status, content_type, text) =
            get(router(m.registry("gpu \"lavapipe\"", None)), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/plain; version=0.0.4");
        for (name, kind) in [
            ("kessler_frames_in_total", "counter"),
            ("kessler_frames_detected_total", "counter"),
            ("kessler_detections_out_total", "counter"),
            ("kessler_dead_letters_total", "counter"),
            ("kessler_detect_seconds", "summary"),
            ("kessler_reassembly_bytes", "gauge"),
            ("kessler_detections_in_total", "counter"),
            ("kessler_tracks_stored_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        assert!(
            text.contains("kessler_detect_seconds_sum{backend=\"gpu \\\"lavapipe\\\"\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("kessler_detect_seconds_count{backend=\"gpu \\\"lavapipe\\\"\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("kessler_frames_detected_total 2\n"), "{text}");
        assert!(text.contains("kessler_detections_in_total 3\n"), "{text}");
        assert!(text.contains("kessler_reassembly_bytes 4096\n"), "{text}");
        assert!(text.contains("kessler_frames_in_total 0\n"), "{text}");
        assert!(!text.contains("kessler_detect_micros"), "{text}");
    }

    /// The lag family has its labels, and a probe that cannot reach a broker leaves its pairs out instead of failing
    /// the scrape.
    #[tokio::test]
    async fn lag_is_labelled_by_group_and_topic_and_an_unreachable_broker_leaves_it_out() {
        let gauges = IntGaugeVec::new(Opts::new(LAG, LAG_HELP), &LAG_LABELS).unwrap();
        gauges.with_label_values(&["g", "t"]).set(7);
        let mut text = vec![];
        TextEncoder::new()
            .encode(&gauges.collect(), &mut text)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(&format!("# TYPE {LAG} gauge\n")), "{text}");
        assert!(
            text.contains(&format!("{LAG}{{group=\"g\",topic=\"t\"}} 7\n")),
            "{text}"
        );

        let probe = LagProbe {
            // A closed port: the broker client gives up instead of answering.
            brokers: "127.0.0.1:9".into(),
            groups: vec![("g".into(), "t".into())],
        };
        let (status, _, text) = get(
            router(Metrics::default().registry("cpu", Some(probe))),
            "/metrics",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!text.contains(LAG), "{text}");
        assert!(text.contains("kessler_frames_in_total 0\n"), "{text}");
    }

    /// What cli/tests/ingest.rs does against a running `kessler run`: one request on a socket, read to the end.
    #[tokio::test]
    async fn serve_answers_a_client_that_reads_until_the_connection_closes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Default::default(), "cpu".into(), None));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_string(&mut response),
        )
        .await
        .expect("the server closes the connection")
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("\r\n\r\n# HELP "), "{response}");
        assert!(
            response.contains("kessler_frames_in_total 0\n"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn healthz_answers_ok_and_other_paths_are_not_found() {
        let app = router(Metrics::default().registry("cpu", None));
        let (status, _, body) = get(app.clone(), "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
        let (status, _, body) = get(app, "/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("/metrics"), "{body}");
    }
}
