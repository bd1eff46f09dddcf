//! `kessler review` in a real browser: headless Chromium driven through ChromeDriver over the W3C WebDriver
//! protocol (the small client below), on a catalog made by `kessler demo`. The token is what stands between a
//! page and a change: an action without it changes nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kessler_catalog::Catalog;
use serde_json::{Value, json};

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
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} is not listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 exchange: the status and the body (both servers here send Content-Length).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += "\r\n";
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).unwrap();
    let mut response = vec![];
    let mut buf = [0u8; 65536];
    let end = loop {
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "{method} {path}: the connection closed before the response head"
        );
        response.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = response[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "{method} {path}: the body ended early");
        body.extend_from_slice(&buf[..n]);
    }
    (status, body)
}

/// A W3C WebDriver session (https://www.w3.org/TR/webdriver2/) with ChromeDriver.
struct Browser {
    port: u16,
    session: String,
    _driver: Running,
}

impl Browser {
    fn start() -> Browser {
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
        wait_listening(port, "chromedriver");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1500"]
            }
        }}});
        let mut browser = Browser {
            port,
            session: String::new(),
            _driver: driver,
        };
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, reply) = http(
            self.port,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let reply: Value = serde_json::from_slice(&reply).expect("WebDriver answers JSON");
        assert_eq!(status, 200, "WebDriver {method} {path}: {reply}");
        reply["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    fn click(&self, element: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.session_call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn script(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Run `script` until its value satisfies `done` (a click may return before the page it loads is there).
    fn wait_for(&self, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.script(script);
            if done(&value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{script}: still {value}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn screenshot(&self) -> Vec<u8> {
        let data = self.session_call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                b"",
            );
        }
    }
}

fn kessler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kessler"))
}

/// A catalog made by `kessler demo` (CPU detector), and a review server over it.
fn demo_and_server(dir: &Path) -> (PathBuf, u16, Running) {
    let db = dir.join("demo.db");
    let out = kessler()
        .args(["demo", "--cpu", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    wait_listening(port, "kessler review");
    (db, port, server)
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

#[test]
fn a_maintainer_opens_a_candidate_sees_its_evidence_and_accepts_it_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (db, port, _server) = demo_and_server(dir.path());
    let browser = Browser::start();
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    let first = browser.find("#candidates a");
    browser.click(&first);
    browser.wait_for("return document.location.pathname", |v| {
        v.as_str().is_some_and(|p| p.starts_with("/objects/"))
    });
    browser.wait_for("return document.readyState", |v| v == "complete");
    let url = browser.url();
    let id = url.rsplit('/').next().unwrap().to_string();
    assert!(url.contains("/objects/K"), "{url}");
    assert_eq!(status_of(&db, &id), "candidate");

    // The evidence: a residual plot with points, and cutouts that loaded.
    let points =
        browser.script("return document.querySelectorAll('svg#residuals circle.point').length");
    assert!(points.as_u64().unwrap() >= 8, "{points}");
    // Each cutout loaded: all complete with a width (a broken image completes with width 0; the wait ends there too).
    let cutouts = browser.wait_for(
        "return Array.from(document.querySelectorAll('img.cutout')).map(i => i.complete ? i.naturalWidth : -1)",
        |v| v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|w| w.as_i64() != Some(-1))),
    );
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
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-candidate.png");
    std::fs::write(&target, &png).unwrap();
    if std::env::var_os("KESSLER_UPDATE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/review-candidate.png");
        std::fs::write(docs, &png).unwrap();
    }

    browser.type_into("#by", "ana");
    browser.type_into("#token", TOKEN);
    browser.type_into("#reason", "a clean LEO track");
    browser.click(&browser.find("#accept"));
    browser.wait_for(
        "const s = document.querySelector('h1 .status'); return s ? s.textContent : ''",
        |v| v == "catalogued",
    );
    browser.wait_for("return document.readyState", |v| v == "complete");
    assert_eq!(status_of(&db, &id), "catalogued");
    let history = Catalog::open(&db).unwrap().decisions(Some(&id)).unwrap();
    assert_eq!(history[0].change.as_str(), "accepted");
    assert_eq!(history[0].by.as_deref(), Some("ana"));
    assert_eq!(history[0].reason.as_deref(), Some("a clean LEO track"));
    assert!(browser.text(".history").contains("a clean LEO track"));
}

#[test]
fn an_action_without_the_token_changes_nothing_and_what_is_shown_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (db, port, _server) = demo_and_server(dir.path());
    let (status, body) = http(port, "GET", "/api/candidates?status=candidate", &[], b"");
    assert_eq!(status, 200);
    let candidates: Value = serde_json::from_slice(&body).unwrap();
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
    let form_headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _) = http(
        port,
        "POST",
        &format!("/objects/{}/decision", ids[0]),
        &form_headers,
        form.as_bytes(),
    );
    assert_eq!(status, 401);
    let json_headers = [("Content-Type", "application/json")];
    let accept = format!("/api/objects/{}/accept", ids[0]);
    let (status, body) = http(
        port,
        "POST",
        &accept,
        &json_headers,
        br#"{"by": "mallory"}"#,
    );
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    let bearer = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer not-the-token"),
    ];
    assert_eq!(
        http(port, "POST", &accept, &bearer, br#"{"by": "mallory"}"#).0,
        401
    );
    assert_eq!(status_of(&db, ids[0]), "candidate");
    assert_eq!(decisions(), before, "nothing recorded");

    // With the token: a rejection whose reason is markup, shown as text.
    let auth = format!("Bearer {TOKEN}");
    let with_token = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let reject = format!("/api/objects/{}/reject", ids[1]);
    let (status, body) = http(
        port,
        "POST",
        &reject,
        &with_token,
        br#"{"by": "ana", "reason": "<script>alert(1)</script> a glint"}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(status_of(&db, ids[1]), "rejected");
    let (_, page) = http(port, "GET", "/history", &[], b"");
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; a glint"),
        "{page}"
    );
    assert!(!page.contains("<script>"));
    // Invalid input is refused with a reason, and changes nothing.
    let (status, body) = http(
        port,
        "POST",
        &reject,
        &with_token,
        br#"{"by": "ana", "reason": "again"}"#,
    );
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let (status, _) = http(port, "GET", "/api/objects/K1%27%3B", &[], b"");
    assert_eq!(status, 400);
    assert_eq!(decisions(), before + 1);
}
