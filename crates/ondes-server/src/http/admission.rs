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
    let has_token = crate::auth::has_bearer(headers, &q.0);
    let user_id = if required || has_token {
        match app.auth.authorize(headers, &q.0, Permission::Subscribe, Some(id)) {
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
    Ok(app.auth.authorize(headers, &q.0, Permission::Publish, Some(id))?.sub)
}
