//! `GET /api/streams/{id}/stream` (and `/api/audio/stream`): Server-Sent Events.
//!
//! The handler parses the query, admits the listener and starts its session
//! ([`crate::egress`]) with the SSE framing; the response body is the session's messages.

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::egress::body::body_stream;
use crate::egress::sse::SseTransport;
use crate::egress::sse_event::SseFormat;
use crate::egress::writer::{Driven, Taken, Takeover};
use crate::egress::{ListenerSession, Start};
use crate::http::admission::{Admission, admit_listener};
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

/// Listener options from the query string.
pub(crate) struct Options {
    format: SseFormat,
    /// Frames merged per event (1 = every frame its own event).
    pub(crate) group: u64,
}

/// The lowest `max_fps` a stream merges without loss: one event may hold at most half the
/// listener's lag budget (`server.max_listener_lag_ms`), or the frames it gathers would
/// count as lag and the listener would be skipped (audio lost) before its event was due.
fn min_fps(fps: f64, max_lag_ms: u64) -> f64 {
    let max_group = (fps * max_lag_ms as f64 / 2000.0).floor().max(1.0);
    fps / max_group
}

pub(crate) fn parse_options(q: &QueryMap, fps: f64, max_lag_ms: u64) -> Result<Options, ApiError> {
    let name = q.0.get("format").map(String::as_str).unwrap_or("json");
    let format = SseFormat::parse(name).ok_or_else(|| {
        ApiError::bad_request(
            "bad_format",
            format!("format '{name}' is not supported; use json, lightweight or pcm16"),
        )
    })?;
    let group = match q.positive_f64("max_fps")? {
        Some(m) if m < min_fps(fps, max_lag_ms) * (1.0 - 1e-9) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!(
                    "max_fps={m} is below {:.3}, the lowest rate this stream merges without losing audio \
                     (an event may hold at most half of server.max_listener_lag_ms = {max_lag_ms} ms); \
                     ask for max_fps >= {:.3}",
                    min_fps(fps, max_lag_ms),
                    min_fps(fps, max_lag_ms)
                ),
            ));
        }
        Some(m) => (fps / m).ceil().max(1.0) as u64,
        None => 1,
    };
    Ok(Options { format, group })
}

/// `Last-Event-ID` (header, or `last_event_id` query for clients that cannot set headers)
/// as a frame number; ids that are not `frame-<n>` (e.g. the connection id) mean "start at live".
pub(crate) fn last_event_frame(headers: &HeaderMap, q: &QueryMap) -> Option<u64> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.0.get("last_event_id").cloned())?;
    raw.trim().strip_prefix("frame-")?.parse().ok()
}

pub async fn stream(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    takeover: Option<Extension<Takeover>>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    crate::cluster::edge::ensure_stream(&app, &id, last_event_frame(&headers, &q)).await;
    let opts =
        parse_options(&q, app.hub(&id)?.spec.frames_per_second(), app.config.server.max_listener_lag_ms)?;
    let Admission { hub, guard } = admit_listener(&app, &id, peer, &headers, &q, "sse")?;
    let start = last_event_frame(&headers, &q).map_or(Start::Live, Start::ResumeAfter);
    let transport = SseTransport::new(hub.clone(), opts.format, opts.group);
    let session = ListenerSession::new(&app, hub.clone(), guard, transport, opts.group, start);
    let heartbeat = std::time::Duration::from_secs(app.config.server.heartbeat_secs);
    let body = match takeover {
        Some(Extension(t)) => {
            let session = Box::new(Driven::new(session, Some(heartbeat)));
            t.put(Taken { hub, batch: opts.group, session });
            Body::empty()
        }
        None => Body::from_stream(body_stream(session, Some(heartbeat))),
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}
