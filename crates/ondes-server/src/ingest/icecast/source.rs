//! `PUT /{mount}` (and the legacy `SOURCE /{mount}`, rewritten to `PUT` by
//! [`crate::icecast::conn`]): an Icecast source client feeding a stream declared `source = "icecast"`,
//! or creating one from a template with `source = "icecast"` whose id the mount matches (the
//! mount's `.ogg`-like extension is not part of the id).
//!
//! The checks answer before any audio is read, so a client sees its error at once: bad mount
//! name 400, unknown mount 404, not an Icecast mount 409, bad credentials 401, a body we
//! cannot decode 415, a mount that already has a source 403 (unless `icecast.takeover`), too
//! many streams created on demand 503. Nothing is created before these pass. Then the session runs in
//! its own task ([`super::session`]) and the response is a `200` whose body is a one-line
//! JSON summary written when the session ends (source clients do not read it; it is there for
//! `curl -T`).
//!
//! `Expect: 100-continue` (ffmpeg sends it): hyper sends `100 Continue` when the body is first
//! read, and only if no response has started, so for such a request the `200` waits for the
//! first body bytes. A client without `Expect` may wait for the response before sending
//! (libshout-era clients do), so it gets the `200` at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::auth::check_source_auth;
use super::format::{BodyFormat, SUPPORTED};
use super::session::{SessionStart, run_session};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::hub::registry::RegistryError;
use crate::icecast::conn::SOURCE_METHOD_HEADER;
use crate::icecast::mount::{SourceInfo, SourceSlot};
use crate::ingest::PublishSession;
use crate::state::SharedState;
use crate::stream::{ClaimError, PublisherKind, Stream};

/// How long a taking-over source waits for the old session to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(3);

pub async fn source(
    State(app): State<SharedState>,
    crate::http::MountName(segment): crate::http::MountName,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = app.streams.mount_id(&segment).to_string();
    // the password and refusal counter of the mount, or of the template it would be made from
    let existing = app.streams.get(&id);
    let password = match &existing {
        Ok(stream) => match &stream.mount.source {
            Some(slot) => slot.password().to_string(),
            None => return ApiError::from(ClaimError::NotIcecast(not_icecast(&id))).into_response(),
        },
        Err(RegistryError::NotLive { .. }) => match app.streams.template(&id) {
            Some(t) if t.config.source.trim() == "icecast" => t.config.source_password.clone(),
            Some(t) => {
                return ApiError::from(ClaimError::NotIcecast(format!(
                    "mount /{id} would be created from template '{}', which is fed by WebSocket or HTTP \
                     publishers, not Icecast sources; declare a template with source = \"icecast\"",
                    t.pattern
                )))
                .into_response();
            }
            None => return ApiError::not_found(format!("no mount /{id}")).into_response(),
        },
        Err(RegistryError::Unknown { .. }) => {
            return ApiError::not_found(format!(
                "no mount /{segment}; mounts are the stream ids of /api/streams"
            ))
            .into_response();
        }
        Err(e) => return ApiError::from(e.clone()).into_response(),
    };
    let refused = || {
        if let Ok(stream) = &existing
            && let Some(slot) = &stream.mount.source
        {
            slot.sessions_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    if let Err(e) = check_source_auth(&headers, &password) {
        refused();
        static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(mount = %id, %peer, reason = %e, suppressed, "Icecast source refused");
        }
        return e.into_response();
    }
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let format = match BodyFormat::from_content_type(content_type.as_deref()) {
        Ok(f) => f,
        Err(mime) => {
            static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
            if let Some(suppressed) = LIMIT.check() {
                tracing::warn!(mount = %id, %peer, content_type = %mime, suppressed, "Icecast source refused: codec");
            }
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Type '{mime}' cannot be decoded; send {SUPPORTED}"),
            )
            .into_response();
        }
    };
    drop(existing);
    // creates the stream when its id matches an Icecast template
    let (claimed, session) = match begin(&app, &id).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mount = claimed.mount.clone();
    let Some(slot) = &mount.source else {
        // `begin` claims only mounts with a source slot
        return ApiError::from(ClaimError::NotIcecast(not_icecast(&id))).into_response();
    };
    let method = if headers.contains_key(SOURCE_METHOD_HEADER) { "SOURCE" } else { "PUT" };
    let info = source_info(&headers, peer, method, content_type);
    tracing::info!(mount = %mount.id, %peer, method, name = ?info.name, content_type = ?info.content_type,
        "Icecast source connected");
    *slot.info.lock() = Some(info);
    let kick = slot.arm_kick();

    let mut stream = body.into_data_stream();
    let expects_continue =
        header_str(&headers, header::EXPECT).is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let mut first = None;
    if expects_continue {
        match tokio::time::timeout(app.icecast.source_timeout(), stream.next()).await {
            Ok(Some(Ok(chunk))) => first = Some(chunk),
            Ok(_) | Err(_) => {
                tracing::warn!(mount = %mount.id, %peer, "Icecast source sent no audio after 100 Continue");
                end_without_session(slot, session);
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "no_audio",
                    "no audio arrived after 100 Continue",
                )
                .into_response();
            }
        }
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<String>();
    let start = SessionStart { mount: mount.clone(), session, format, kick, first, done: done_tx };
    tokio::spawn(run_session(app.clone(), start, stream));
    let summary = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(done_rx.await.unwrap_or_default() + "\n")
    });
    let mut resp = Response::new(Body::from_stream(summary));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn not_icecast(id: &str) -> String {
    format!(
        "stream '{id}' is not fed by Icecast sources; declare it with source = \"icecast\" and a source_password"
    )
}

/// Takes the mount's publisher slot (creating the stream from its template if need be): 403
/// when busy, unless takeover is configured, in which case the connected source is kicked out
/// and its slot awaited.
async fn begin(app: &SharedState, id: &str) -> Result<(Arc<Stream>, PublishSession), ApiError> {
    let stream = match app.streams.claim(id, PublisherKind::Icecast) {
        Ok(claimed) => return Ok(claimed),
        Err(ClaimError::Busy(_)) => app.stream(id)?,
        Err(e) => return Err(e.into()),
    };
    let Some(slot) = &stream.mount.source else {
        return Err(ClaimError::NotIcecast(not_icecast(id)).into());
    };
    let busy = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "mount_busy",
            format!("mount /{id} already has a source; disconnect it first (or set icecast.takeover = true)"),
        )
    };
    if !app.icecast.config.takeover {
        slot.sessions_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(mount = %id, suppressed, "Icecast source refused: the mount is busy");
        }
        return Err(busy());
    }
    tracing::info!(mount = %id, "Icecast source takes over the mount");
    let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
    // the old source's slot is taken under the registry's lock: should the stream be removed
    // meanwhile (its linger ran out), the claim fails instead of feeding a removed stream
    let claim = || match app.streams.claim_existing(id, PublisherKind::Icecast) {
        Ok(c) => Ok(Some(c)),
        Err(ClaimError::Busy(_)) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    };
    loop {
        let ended = slot.session_ended.notified();
        slot.kick();
        if let Some(c) = claim()? {
            return Ok(c);
        }
        if tokio::time::timeout_at(deadline, ended).await.is_err() {
            return claim()?.ok_or_else(busy);
        }
    }
}

fn end_without_session(slot: &SourceSlot, session: PublishSession) {
    drop(session);
    *slot.info.lock() = None;
    slot.session_ended.notify_waiters();
}

fn header_str(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The `ice-*` header, or its `icy-*` equivalent.
fn ice(headers: &HeaderMap, ice: &str, icy: &str) -> Option<String> {
    header_str(headers, ice).or_else(|| header_str(headers, icy))
}

fn source_info(
    headers: &HeaderMap,
    peer: SocketAddr,
    method: &'static str,
    content_type: Option<String>,
) -> SourceInfo {
    let public = ice(headers, "ice-public", "icy-pub").map(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let bitrate = ice(headers, "ice-bitrate", "icy-br").and_then(|v| v.parse().ok());
    SourceInfo {
        name: ice(headers, "ice-name", "icy-name"),
        description: ice(headers, "ice-description", "icy-description"),
        genre: ice(headers, "ice-genre", "icy-genre"),
        url: ice(headers, "ice-url", "icy-url"),
        public,
        bitrate,
        audio_info: header_str(headers, "ice-audio-info"),
        content_type,
        user_agent: header_str(headers, header::USER_AGENT),
        ip: peer.ip().to_string(),
        method,
        connected_at_ms: now_ms(),
        codec: None,
        source_sample_rate: None,
        source_channels: None,
    }
}
