//! `kessler review` on a catalog made by `kessler demo`: in a real browser (headless Chromium driven by
//! fantoccini through ChromeDriver), and its API called on the router itself (`tower::ServiceExt::oneshot`, no
//! socket). The token is what stands between a page and a change: an action without it changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fantoccini::{Client, ClientBuilder, Locator};
use kessler_catalog::Catalog;
use kessler_review::{Review, router};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "review-test-token";

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something listens on `port`.
async fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kessler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kessler"))
}

/// A fresh copy, in `dir`, of a catalog made once per test process by `kessler demo` (CPU detector).
fn demo_catalog(dir: &Path) -> PathBuf {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    let made = DEMO.get_or_init(|| {
        let db = tempfile::tempdir().unwrap().keep().join("demo.db");
        let out = kessler()
            .args(["demo", "--cpu", "--db", db.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "demo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        db
    });
    let db = dir.join("demo.db");
    std::fs::copy(made, &db).unwrap();
    // The demo has ended, so its write-ahead log is checkpointed; copied anyway should SQLite have kept it.
    let wal = made.with_extension("db-wal");
    if wal.exists() {
        std::fs::copy(&wal, db.with_extension("db-wal")).unwrap();
    }
    db
}

/// `kessler review` over `db`, as a maintainer starts it.
async fn review_server(db: &Path) -> (u16, Running) {
    let port = free_port();
    let server = kessler()
        .args([
            "review",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KESSLER_REVIEW_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Running(server);
    wait_listening(port, "kessler review").await;
    (port, server)
}

/// Headless Chromium through ChromeDriver; the driver process lives as long as the returned guard.
async fn browser() -> (Client, Running) {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs: scripts/test.sh installs Debian's chromium and chromium-driver",
        );
    let driver = Running(driver);
    wait_listening(port, "chromedriver").await;
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1500"]
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("an object literal")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    (client, driver)
}

/// Run `script` until its value satisfies `done` (a click may return before the page it loads is there).
async fn wait_for(client: &Client, script: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{script}: still {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn status_of(db: &Path, id: &str) -> String {
    Catalog::open(db)
        .unwrap()
        .object(id)
        .unwrap()
        .unwrap()
        .status
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainer_opens_a_candidate_sees_its_evidence_and_accepts_it_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_catalog(dir.path());
    let (port, _server) = review_server(&db).await;
    let (client, _driver) = browser().await;
    let css = |s| Locator::Css(s);
    client
        .goto(&format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    client
        .find(css("#candidates a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "return document.location.pathname", |v| {
        v.as_str().is_some_and(|p| p.starts_with("/objects/"))
    })
    .await;
    wait_for(&client, "return document.readyState", |v| v == "complete").await;
    let url = client.current_url().await.unwrap().to_string();
    let id = url.rsplit('/').next().unwrap().to_string();
    assert!(url.contains("/objects/K"), "{url}");
    assert_eq!(status_of(&db, &id), "candidate");

    // The evidence: a residual plot with points, and cutouts that loaded.
    let points = client
        .execute(
            "return document.querySelectorAll('svg#residuals circle.point').length",
            vec![],
        )
        .await
        .unwrap();
    assert!(points.as_u64().unwrap() >= 8, "{points}");
    // Each cutout loaded: all complete with a width (a broken image completes with width 0; the wait ends there too).
    let cutouts = wait_for(
        &client,
        "return Array.from(document.querySelectorAll('img.cutout')).map(i => i.complete ? i.naturalWidth : -1)",
        |v| v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|w| w.as_i64() != Some(-1))),
    )
    .await;
    let widths: Vec<u64> = cutouts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(
        !widths.is_empty() && widths.iter().all(|&w| w > 0),
        "{cutouts}"
    );

    // The page as a maintainer sees it, for the README (KESSLER_UPDATE_DOCS=1 writes it into docs/).
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-candidate.png");
    std::fs::write(&target, &png).unwrap();
    if std::env::var_os("KESSLER_UPDATE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/review-candidate.png");
        std::fs::write(docs, &png).unwrap();
    }

    for (field, text) in [
        ("#by", "ana"),
        ("#token", TOKEN),
        ("#reason", "a clean LEO track"),
    ] {
        let input = client.find(css(field)).await.unwrap();
        input.send_keys(text).await.unwrap();
    }
    client
        .find(css("#accept"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &client,
        "const s = document.querySelector('h1 .status'); return s ? s.textContent : ''",
        |v| v == "catalogued",
    )
    .await;
    wait_for(&client, "return document.readyState", |v| v == "complete").await;
    assert_eq!(status_of(&db, &id), "catalogued");
    let history = Catalog::open(&db).unwrap().decisions(Some(&id)).unwrap();
    assert_eq!(history[0].change.as_str(), "accepted");
    assert_eq!(history[0].by.as_deref(), Some("ana"));
    assert_eq!(history[0].reason.as_deref(), Some("a clean LEO track"));
    let shown = client
        .find(css(".history"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("a clean LEO track"), "{shown}");
    client.close().await.unwrap();
}

/// One request to the review router: its status and body.
async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(header::HeaderName, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_without_the_token_changes_nothing_and_what_is_shown_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_catalog(dir.path());
    let app = router(Arc::new(Review {
        db: db.clone(),
        token: TOKEN.into(),
        announce: None,
    }));
    let (status, body) = call(&app, "GET", "/api/candidates?status=candidate", &[], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let candidates: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = candidates
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 2, "{candidates}");
    let decisions = || Catalog::open(&db).unwrap().decisions(None).unwrap().len();
    let before = decisions();

    let form = "action=accept&by=mallory&reason=&into=&token=wrong";
    let form_headers = [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")];
    let (status, _) = call(
        &app,
        "POST",
        &format!("/objects/{}/decision", ids[0]),
        &form_headers,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let json_headers = [(header::CONTENT_TYPE, "application/json")];
    let accept = format!("/api/objects/{}/accept", ids[0]);
    let (status, body) = call(&app, "POST", &accept, &json_headers, r#"{"by": "mallory"}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let bearer = [
        (header::CONTENT_TYPE, "application/json"),
        (header::AUTHORIZATION, "Bearer not-the-token"),
    ];
    let (status, body) = call(&app, "POST", &accept, &bearer, r#"{"by": "mallory"}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(status_of(&db, ids[0]), "candidate");
    assert_eq!(decisions(), before, "nothing recorded");

    // With the token: a rejection whose reason is markup, shown as text.
    let auth = format!("Bearer {TOKEN}");
    let with_token = [
        (header::CONTENT_TYPE, "application/json"),
        (header::AUTHORIZATION, auth.as_str()),
    ];
    let reject = format!("/api/objects/{}/reject", ids[1]);
    let (status, body) = call(
        &app,
        "POST",
        &reject,
        &with_token,
        r#"{"by": "ana", "reason": "<script>alert(1)</script> a glint"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&db, ids[1]), "rejected");
    let (status, page) = call(&app, "GET", "/history", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; a glint"),
        "{page}"
    );
    assert!(!page.contains("<script>"));
    // Invalid input is refused with a reason, and changes nothing.
    let (status, body) = call(
        &app,
        "POST",
        &reject,
        &with_token,
        r#"{"by": "ana", "reason": "again"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(&app, "GET", "/api/objects/K1%27%3B", &[], "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(decisions(), before + 1);
}
