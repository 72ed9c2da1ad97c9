//! `GET /api/streams/{id}/recordings`: a recorded stream's files and its recorder's counters.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::http::admission::readable_stream;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

/// The files, oldest first, with the recorder's counters. Like the stream's stats, it needs
/// a `subscribe` token when listening does.
pub async fn list(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<axum::Json<Value>, ApiError> {
    let stream = readable_stream(&app, &headers, &q, &id)?;
    let recorder = stream.recorder.as_ref().ok_or_else(|| {
        ApiError::not_found(format!(
            "stream '{id}' is not recorded; add record = {{ format = \"ogg-opus\", path = \"recordings\" }} to its [[stream]]"
        ))
    })?;
    let files = recorder.files().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "recordings_unreadable",
            format!("the recording directory '{}' cannot be read: {e}", recorder.config.path),
        )
    })?;
    Ok(axum::Json(json!({"stream": id, "recorder": recorder.stats(), "files": files})))
}
