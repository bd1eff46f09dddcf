//! The catalog maintainers' review: a web page and its JSON API over a catalog (axum), served by `kessler review`.
//!
//! Pages: `/` (objects, filtered and sorted by query: `status` (`candidate` by default, `all`), `sensor`, `from`,
//! `to` (UTC dates), `sort` (`id`, `first`, `last`, `observations`, `rms`, `sigma`), `descending`),
//! `/objects/{id}` (one object's evidence and the decision form), `/objects/{id}/cutouts/{k}.png` (its k-th
//! streak with the fitted line) and `/history`. The API under `/api` serves the same data as JSON and takes the
//! same actions: see the README. Every write needs the token given at start-up (a form field on the page,
//! `Authorization: Bearer TOKEN` on the API); without it nothing changes. With a broker, each decision is announced
//! on the catalog topic (the catalog's history is the outbox, so a decision made while the broker is away is
//! announced by the next one).
//!
//! [`router`] builds the routes over a [`Review`] (the catalog file, the token, where to announce); [`serve`] runs
//! them on a listener; [`pages`] renders the HTML.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let review = kessler_review::Review {
//!     db: "kessler.db".into(),
//!     token: "a long secret".into(),
//!     announce: None,
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! kessler_review::serve(listener, review).await
//! # }
//! ```

pub mod pages;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Json, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kessler_catalog::review::{CandidateFilter, SortKey};
use kessler_catalog::{Catalog, CatalogChange, CatalogError, ObjectStatus};
use kessler_detector::message::Detections;
use kessler_ingest::kafka::KafkaSink;
use serde::Deserialize;

use kessler_ingest::topics::Topics;

/// What the server needs.
pub struct Review {
    pub db: PathBuf,
    /// The token every write must present.
    pub token: String,
    /// Where decisions are announced, if anywhere.
    pub announce: Option<(KafkaSink, Topics)>,
}

/// An error as the server answers it.
struct Failure(StatusCode, String);

impl From<CatalogError> for Failure {
    fn from(e: CatalogError) -> Self {
        let status = match e {
            CatalogError::NoObject(_) => StatusCode::NOT_FOUND,
            CatalogError::Review { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The same failure as an HTML page.
fn failure_page(f: Failure) -> Response {
    (
        f.0,
        Html(pages::page(
            "error",
            &format!("<p class=error>{}</p>", pages::esc(&f.1)),
        )),
    )
        .into_response()
}

/// Run `work` on a catalog opened for this request, on a blocking thread (SQLite and the refit of a merge block).
async fn with_catalog<T: Send + 'static>(
    review: &Review,
    work: impl FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
) -> Result<T, Failure> {
    let db = review.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut catalog = Catalog::open(&db)?;
        work(&mut catalog)
    })
    .await
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(Failure::from)
}

/// Whether `given` is the token, compared in time independent of where they differ.
fn token_ok(review: &Review, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    let (a, b) = (review.token.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A decision, from the page's form or the API's JSON body.
#[derive(Debug, Deserialize)]
pub struct DecisionRequest {
    /// `accept`, `reject` or `merge` (the form's buttons; the API takes it from the path).
    #[serde(default)]
    pub action: String,
    /// The reviewer's name.
    pub by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The object a merge goes into.
    #[serde(default)]
    pub into: Option<String>,
    /// The token (form only).
    #[serde(default)]
    pub token: Option<String>,
}

/// An object id as the catalog writes them: `K` and digits.
fn object_id(id: &str) -> Result<String, Failure> {
    if id.len() > 1
        && id.len() <= 16
        && id.starts_with('K')
        && id[1..].bytes().all(|b| b.is_ascii_digit())
    {
        Ok(id.to_string())
    } else {
        Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not an object id (K and digits)"),
        ))
    }
}

/// Take a decision on `id` and announce it.
async fn decide(
    review: &Review,
    id: String,
    request: DecisionRequest,
) -> Result<CatalogChange, Failure> {
    let into = match (request.action.as_str(), &request.into) {
        ("merge", Some(into)) => Some(object_id(into.trim())?),
        ("merge", None) => {
            return Err(Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "a merge needs the object to merge into".into(),
            ));
        }
        ("accept" | "reject", _) => None,
        (other, _) => {
            return Err(Failure(
                StatusCode::BAD_REQUEST,
                format!("action {other:?} is not accept, reject or merge"),
            ));
        }
    };
    let action = request.action.clone();
    let change = with_catalog(review, move |catalog| {
        let (by, reason) = (request.by.as_str(), request.reason.as_deref());
        match (action.as_str(), into) {
            ("accept", _) => catalog.accept(&id, by, reason),
            ("reject", _) => catalog.reject(&id, by, reason.unwrap_or("")),
            (_, Some(into)) => {
                catalog.merge(&id, &into, (by, reason), &kessler_od::FitConfig::default())
            }
            _ => unreachable!("checked above"),
        }
    })
    .await?;
    tracing::info!(object = change.object_id, change = %change.change, by = ?change.by, "review decision");
    if let Some((sink, topics)) = &review.announce {
        let db = review.db.clone();
        let result = async {
            let mut catalog = Catalog::open(&db)?;
            kessler_catalog::announce::publish_changes(sink, topics, &mut catalog).await
        }
        .await;
        if let Err(e) = result {
            // Recorded in the outbox: announced with the next decision.
            tracing::warn!(error = %e, "decision recorded but not yet announced on the catalog topic");
        }
    }
    Ok(change)
}

/// The query of the objects page: the filter, with `status` defaulting to `candidate` and `all` for every status.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    sensor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<SortKey>,
    descending: Option<bool>,
}

impl ListQuery {
    /// The filter asked for; an unknown status is a 400.
    fn filter(self, default_status: Option<ObjectStatus>) -> Result<CandidateFilter, Failure> {
        let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let status = match blank(self.status) {
            Some(s) if s == "all" => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|e: CatalogError| Failure(StatusCode::BAD_REQUEST, e.to_string()))?,
            ),
            None => default_status,
        };
        Ok(CandidateFilter {
            status,
            sensor: blank(self.sensor),
            from: blank(self.from),
            to: blank(self.to),
            sort: self.sort,
            descending: self.descending.unwrap_or(false),
        })
    }
}

async fn list_page(State(review): State<Arc<Review>>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.filter(Some(ObjectStatus::Candidate)) {
        Ok(f) => f,
        Err(f) => return failure_page(f),
    };
    let shown = filter.clone();
    match with_catalog(&review, move |c| c.candidates(&filter)).await {
        Ok(rows) => Html(pages::candidates(&shown, &rows)).into_response(),
        Err(f) => failure_page(f),
    }
}

async fn object_page(State(review): State<Arc<Review>>, Path(id): Path<String>) -> Response {
    let id = match object_id(&id) {
        Ok(id) => id,
        Err(f) => return failure_page(f),
    };
    match with_catalog(&review, move |c| c.candidate(&id)).await {
        Ok(Some(detail)) => Html(pages::candidate(&detail, None)).into_response(),
        Ok(None) => failure_page(Failure(StatusCode::NOT_FOUND, "no such object".into())),
        Err(f) => failure_page(f),
    }
}

async fn decision_form(
    State(review): State<Arc<Review>>,
    Path(id): Path<String>,
    Form(request): Form<DecisionRequest>,
) -> Response {
    let id = match object_id(&id) {
        Ok(id) => id,
        Err(f) => return failure_page(f),
    };
    let outcome = if token_ok(&review, request.token.as_deref()) {
        decide(&review, id.clone(), request).await
    } else {
        Err(Failure(
            StatusCode::UNAUTHORIZED,
            "the token is missing or wrong: nothing was changed".into(),
        ))
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/objects/{}", pages::url(&id))).into_response(),
        Err(Failure(status, message)) => {
            let shown = id.clone();
            match with_catalog(&review, move |c| c.candidate(&shown)).await {
                Ok(Some(detail)) => {
                    (status, Html(pages::candidate(&detail, Some(&message)))).into_response()
                }
                _ => failure_page(Failure(status, message)),
            }
        }
    }
}

async fn cutout_png(
    State(review): State<Arc<Review>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let found = async {
        let id = object_id(&id)?;
        let k: usize = file
            .strip_suffix(".png")
            .and_then(|k| k.parse().ok())
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, "not a cutout".into()))?;
        let streaks = with_catalog(&review, move |c| c.object_streaks(&id)).await?;
        let streak = streaks
            .get(k)
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, "no such streak".into()))?;
        let detections = Detections::from_json(streak.detections_json.as_bytes())
            .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let (s, cutout) = pages::streak_of(&detections, &streak.streak_id).ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                "streak not in its frame's message".into(),
            )
        })?;
        let cutout = cutout
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, "no cutout for this streak".into()))?;
        pages::cutout_with_line(cutout, (s.x1, s.y1, s.x2, s.y2)).ok_or_else(|| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored cutout does not decode".into(),
            )
        })
    }
    .await;
    match found {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn history_page(State(review): State<Arc<Review>>) -> Response {
    match with_catalog(&review, |c| c.decisions(None)).await {
        Ok(d) => Html(pages::history(&d)).into_response(),
        Err(f) => failure_page(f),
    }
}

async fn api_candidates(State(review): State<Arc<Review>>, Query(q): Query<ListQuery>) -> Response {
    let filter = match q.filter(None) {
        Ok(f) => f,
        Err(f) => return f.into_response(),
    };
    match with_catalog(&review, move |c| c.candidates(&filter)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn api_object(State(review): State<Arc<Review>>, Path(id): Path<String>) -> Response {
    let found = async {
        let id = object_id(&id)?;
        with_catalog(&review, move |c| c.candidate(&id))
            .await?
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, "no such object".into()))
    }
    .await;
    match found {
        Ok(detail) => Json(detail).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn api_history(State(review): State<Arc<Review>>) -> Response {
    match with_catalog(&review, |c| c.decisions(None)).await {
        Ok(d) => Json(d).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn api_decision(
    State(review): State<Arc<Review>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Json(mut request): Json<DecisionRequest>,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token_ok(&review, bearer) {
        return Failure(
            StatusCode::UNAUTHORIZED,
            "the token is missing or wrong: nothing was changed".into(),
        )
        .into_response();
    }
    request.action = action;
    let outcome = async { decide(&review, object_id(&id)?, request).await }.await;
    match outcome {
        Ok(change) => Json(change).into_response(),
        Err(f) => f.into_response(),
    }
}

/// The server's routes.
pub fn router(review: Arc<Review>) -> Router {
    Router::new()
        .route("/", get(list_page))
        .route("/objects/{id}", get(object_page))
        .route("/objects/{id}/decision", post(decision_form))
        .route("/objects/{id}/cutouts/{file}", get(cutout_png))
        .route("/history", get(history_page))
        .route("/api/candidates", get(api_candidates))
        .route("/api/objects/{id}", get(api_object))
        .route("/api/objects/{id}/{action}", post(api_decision))
        .route("/api/history", get(api_history))
        .with_state(review)
}

/// Serve the review pages on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, review: Review) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(review))).await
}
