//! Admitting a listener, shared by every egress transport: stream lookup, token check,
//! stream state, connection limits and registration.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};

use super::QueryMap;
use crate::auth::{AuthError, Permission};
use crate::connections::{ConnectionGuard, NewConnection};
use crate::http::error::ApiError;
use crate::hub::StreamHub;
use crate::state::AppState;

/// An admitted listener: its stream and its registry entry (removed when dropped).
pub struct Admission {
    pub hub: Arc<StreamHub>,
    pub guard: ConnectionGuard,
}

/// Checks that `peer` may listen to stream `id` over `transport` and registers it.
///
/// A token is needed only when `auth.required_for_stream` is set, but a token that is
/// given must be valid either way (so a client learns early that its token is wrong).
pub fn admit_listener(
    app: &AppState,
    id: &str,
    peer: SocketAddr,
    headers: &HeaderMap,
    q: &QueryMap,
    transport: &'static str,
) -> Result<Admission, ApiError> {
    let hub = app.hub(id)?;
    let required = app.config.auth.required_for_stream;
    let token = bearer_token(headers, q);
    let user_id = if required || token.is_some() {
        match app.auth.authorize(token.as_deref(), Permission::Subscribe, Some(id)) {
            Ok(c) => Some(c.sub),
            Err(AuthError::Forbidden(_)) if !required => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    if let Some(reason) = hub.control().ended {
        return Err(ApiError::new(
            StatusCode::GONE,
            "stream_ended",
            format!("stream '{id}' has ended: {reason}"),
        ));
    }
    if *app.shutdown.borrow() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .with_retry_after(5));
    }
    let guard = app.connections.register(NewConnection {
        stream_id: id.to_string(),
        transport,
        user_id,
        ip: peer.ip(),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
    })?;
    Ok(Admission { hub, guard })
}

/// Whether a stream's `publish` permission check passes (publishing always needs a token).
pub fn authorize_publisher(
    app: &AppState,
    id: &str,
    headers: &HeaderMap,
    q: &QueryMap,
) -> Result<String, ApiError> {
    Ok(authorize(app, headers, q, Permission::Publish, Some(id))?.sub)
}

/// Stream `id` for a read of its public figures (stats, the delivery report, recordings):
/// 404 when it does not exist, and a `subscribe` token needed when listening needs one.
pub fn readable_stream(
    app: &AppState,
    headers: &HeaderMap,
    q: &QueryMap,
    id: &str,
) -> Result<Arc<crate::stream::Stream>, ApiError> {
    let stream = app.stream(id)?;
    if app.config.auth.required_for_stream {
        authorize(app, headers, q, Permission::Subscribe, Some(id))?;
    }
    Ok(stream)
}

/// Checks the request's token (see [`bearer_token`]) for `perm` on `stream`.
pub fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    q: &QueryMap,
    perm: Permission,
    stream: Option<&str>,
) -> Result<crate::auth::Claims, AuthError> {
    app.auth.authorize(bearer_token(headers, q).as_deref(), perm, stream)
}

/// The request's bearer token: the `Authorization: Bearer` header, else the `access_token`
/// query (browsers' EventSource and WebSocket cannot set headers). Other `Authorization`
/// schemes (a player sending Basic credentials) are not a token.
pub fn bearer_token(headers: &HeaderMap, q: &QueryMap) -> Option<String> {
    let from_header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    from_header.or_else(|| q.0.get("access_token").cloned())
}
