//! The performance monitor over HTTP.
//!
//! - `POST /api/perf/spans` (permission `publish`): an application's own stage timings
//!   (STT, LLM, TTS, …), so one report covers the whole voice pipeline.
//! - `GET /api/perf`: the report as JSON.
//! - `GET /api/perf/summary`: the same as a plain-text table.
//!
//! The two reads are public, like `/api/audio/stats` and `/metrics`: they carry timings
//! and operation names, nothing about who listens.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control::read_body;
use crate::auth::Permission;
use crate::http::QueryMap;
use crate::http::error::ApiError;
use crate::perf::{SpanError, parse_batch};
use crate::state::SharedState;

pub async fn post_spans(
    State(app): State<SharedState>,
    headers: HeaderMap,
    q: QueryMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let claims = crate::http::admission::authorize(&app, &headers, &q, Permission::Publish, None)?;
    let bytes = read_body(body, app.config.server.max_body_bytes).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("the body is not valid JSON ({e}); send {{\"spans\": [{{\"name\": ..., \"duration_us\": ...}}]}}"),
        )
    })?;
    let spans = parse_batch(&value, app.perf.max_spans()).map_err(|e| match e {
        SpanError::TooMany { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_spans", e.to_string())
        }
        SpanError::Shape => ApiError::bad_request("bad_spans", e.to_string()),
        SpanError::Field { .. } | SpanError::NotObject { .. } => {
            ApiError::bad_request("bad_span", e.to_string())
        }
    })?;
    let now = crate::clock::now_us().max(0) as u64;
    let mut rejected = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        // only a full operation table or the client's share of names can refuse a valid
        // span; the others still count
        if let Err(e) = app.perf.record_span(span, &claims.sub, now) {
            rejected.push(json!({"index": i, "message": e.to_string()}));
        }
    }
    let accepted = spans.len() - rejected.len();
    tracing::debug!(user = %claims.sub, accepted, rejected = rejected.len(), "perf spans");
    Ok(Json(json!({"accepted": accepted, "rejected": rejected})))
}

/// The report, plus per operation the attribute values that go with slow spans.
pub async fn report(State(app): State<SharedState>) -> Response {
    let mut v = serde_json::to_value(app.perf.report()).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("attributes".into(), serde_json::to_value(app.perf.attributes()).unwrap_or(Value::Null));
    }
    no_store(Json(v).into_response())
}

pub async fn summary(State(app): State<SharedState>) -> Response {
    let mut resp = app.perf.summary().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    no_store(resp)
}

/// A report is a moment; caches must not serve an old one.
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
