//! `POST /api/streams/{id}/ingest`: a publisher as one long (chunked) HTTP body.
//!
//! Backpressure is TCP flow control: while the playout queue is full the handler stops
//! reading the body, so the sender's writes block. Nothing is dropped.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::format::{IngestError, IngestParser};
use super::{Enqueue, QueuedFrame};
use crate::http::admission::authorize_publisher;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let status = match e {
            IngestError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        let code = match e {
            IngestError::UnsupportedType(_) => "unsupported_media_type",
            IngestError::Layout { .. } => "bad_layout",
            IngestError::Wav(_) => "bad_wav",
            IngestError::Ogg(_) => "bad_ogg",
            IngestError::Param { .. } => "bad_content_type",
            IngestError::NoAudio(_) => "no_audio",
        };
        ApiError::new(status, code, e.to_string())
    }
}

pub async fn ingest(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
    body: Body,
) -> Result<axum::Json<Value>, ApiError> {
    app.streams.check_publishable(&id)?;
    let user = authorize_publisher(&app, &id, &headers, &q)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // the stream's layout is known without creating it (from its template) …
    let spec = app.publish_layout(&id)?;
    let mut parser = IngestParser::new(ct, spec)?;
    // … so that a body we cannot read creates nothing; this creates the stream when its id
    // matches a template
    let (stream, session) = app.claim_publisher(&id)?;
    let hub = stream.hub.clone();
    let publisher = session.publisher.clone();
    // the reply counts this request's body only; the publisher's counters are the stream's
    let backpressure_before = publisher.stats().backpressure_events;
    tracing::info!(stream = %id, %user, content_type = ct, "HTTP ingest started");
    // the request is a publisher connection: its frames' arrivals are traced as a WebSocket
    // publisher's are, and the reply names it (`ondes probe --sender-log --conn`)
    let connection = app.connections.allocate_id();
    let trace = app.traces.open(connection, &id, crate::trace::TraceKind::Publisher);
    let mut seq = 0u64;
    let mut bytes_in = 0u64;
    let mut stream = body.into_data_stream();
    // the frames a piece of the body completed arrived with it; its bytes are shared among them
    let push_all = async |parser: &mut IngestParser, seq: &mut u64, chunk_bytes: usize, last: bool| {
        let mut frames = Vec::new();
        while let Some(pcm) = if last { parser.finish() } else { parser.pop_frame() } {
            frames.push(pcm);
        }
        if let Some(t) = &trace {
            let share = chunk_bytes / frames.len().max(1);
            for i in 0..frames.len() as u64 {
                t.trace.arrived(*seq + i, share);
            }
        }
        for pcm in frames {
            if let Enqueue::Accepted = session.publisher.enqueue(*seq, QueuedFrame::pcm(pcm)).await {
                *seq += 1;
            }
        }
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("body_error", format!("reading the body failed: {e}")))?;
        bytes_in += chunk.len() as u64;
        if let Err(e) = parser.feed(&chunk) {
            publisher.decode_errors.fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
        push_all(&mut parser, &mut seq, chunk.len(), false).await;
    }
    if let Err(e) = parser.check_complete() {
        publisher.decode_errors.fetch_add(1, Ordering::Relaxed);
        return Err(e.into());
    }
    push_all(&mut parser, &mut seq, 0, true).await;
    drop(session);
    if seq == 0 {
        return Err(IngestError::NoAudio("not one frame of audio was decoded from it").into());
    }
    let stats = publisher.stats();
    Ok(axum::Json(json!({
        "success": true,
        "connection": connection,
        "frames_accepted": seq,
        "duration_ms": seq as f64 * hub.spec.duration.as_ms_f64(),
        "bytes_received": bytes_in,
        "queue_ms": stats.queue_ms,
        "backpressure_events": stats.backpressure_events.saturating_sub(backpressure_before),
    })))
}
