//! `GET /api/streams/{id}/debug/connections/{conn}/trace`: one connection's frame trace
//! (see [`crate::trace`]). Needs `debug_access`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use ondes_core::frame_trace::ConnectionTrace;

use crate::auth::Permission;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

pub async fn trace(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<axum::Json<ConnectionTrace>, ApiError> {
    crate::http::admission::authorize(&app, &headers, &q, Permission::DebugAccess, Some(&id))?;
    let raw = params.get("conn").map(String::as_str).unwrap_or("");
    let conn: u64 = raw.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_connection_id",
            format!("'{raw}' is not a connection id; ids are numbers, listed at /api/streams/{id}/debug/connections"),
        )
    })?;
    if !app.traces.enabled() {
        return Err(ApiError::not_found(
            "frame traces are off on this server (server.trace_frames = 0); set it to keep the last N frames per connection",
        ));
    }
    let trace = app.traces.get(&id, conn).ok_or_else(|| {
        ApiError::not_found(format!(
            "no connection {conn} on stream '{id}': it is not open and not among the last {} closed ones; \
             open connections are listed at /api/streams/{id}/debug/connections, a publisher's id is in its `info` message",
            app.config.server.trace_keep_closed
        ))
    })?;
    Ok(axum::Json(trace.snapshot()))
}
