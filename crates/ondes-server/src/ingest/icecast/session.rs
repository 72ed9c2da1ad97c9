//! One Icecast source session: body → decoder thread → the stream's playout queue.
//!
//! Three stages, each waiting only on the next: the body task reads the request body (with a
//! read timeout) into a bounded [`pipe`](super::pipe); the decoder thread turns it into frames
//! of the stream's layout ([`super::decode`]); the frame task offers them to the stream's
//! [`Publisher`](crate::ingest::Publisher), waiting while its playout queue is full. A full
//! queue therefore stops the socket reads, and TCP flow control holds the source client back;
//! nothing is dropped. When the session ends the publisher slot is released, and once the
//! queue has drained the hub tells every listener `source-lost`, until a source returns.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::BodyDataStream;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};

use super::decode::{self, DecodeReport, SourceFormat};
use super::format::BodyFormat;
use super::pipe::pipe;
use crate::icecast::mount::Mount;
use crate::ingest::{Enqueue, PublishSession, QueuedFrame};
use crate::state::SharedState;

/// Decoded frames in flight between the decoder thread and the playout queue.
const FRAME_CHANNEL: usize = 4;

/// Everything a session starts with.
pub struct SessionStart {
    pub mount: Arc<Mount>,
    pub session: PublishSession,
    pub format: Option<BodyFormat>,
    /// Becomes true when another source takes the mount over.
    pub kick: watch::Receiver<bool>,
    /// Body bytes already read (waiting for them sent `100 Continue`).
    pub first: Option<Bytes>,
    /// Receives the JSON summary when the session ends.
    pub done: oneshot::Sender<String>,
}

/// Why the body stopped.
#[derive(Debug, Clone, PartialEq)]
enum BodyEnd {
    Closed,
    Timeout(u64),
    Kicked,
    ReadError(String),
    /// The decoder stopped reading (it failed, or the stream cannot take more).
    DecoderGone,
    Shutdown,
}

impl BodyEnd {
    fn describe(&self) -> String {
        match self {
            BodyEnd::Closed => "the source closed the connection".into(),
            BodyEnd::Timeout(s) => format!("the source sent nothing for {s} s"),
            BodyEnd::Kicked => "another source took over the mount".into(),
            BodyEnd::ReadError(e) => format!("reading the source failed: {e}"),
            BodyEnd::DecoderGone => "decoding stopped".into(),
            BodyEnd::Shutdown => "the server is shutting down".into(),
        }
    }
}

pub async fn run_session(app: SharedState, start: SessionStart, stream: BodyDataStream) {
    let SessionStart { mount, session, format, kick, first, done } = start;
    let Some(slot) = mount.source.as_ref() else { return };
    let spec = mount.hub.spec;
    let (pipe_tx, pipe_rx) = pipe();
    let (frame_tx, frame_rx) = mpsc::channel::<QueuedFrame>(FRAME_CHANNEL);
    let format_mount = mount.clone();
    let decoder = tokio::task::spawn_blocking(move || {
        let mut on_format = |f: SourceFormat| {
            tracing::info!(mount = %format_mount.id, codec = f.codec.name(), rate = f.sample_rate,
                channels = f.channels, "Icecast source format");
            if let Some(slot) = &format_mount.source
                && let Some(info) = slot.info.lock().as_mut()
            {
                info.codec = Some(f.codec);
                info.source_sample_rate = Some(f.sample_rate);
                info.source_channels = Some(f.channels);
            }
        };
        decode::run(pipe_rx, format, spec, frame_tx, &mut on_format)
    });
    let timeout = app.icecast.source_timeout();
    let body = pump_body(stream, first, pipe_tx, kick.clone(), app.shutdown.clone(), timeout, &mount);
    let frames = pump_frames(frame_rx, &session, kick);
    let (end, accepted) = tokio::join!(body, frames);
    let decoded: Result<DecodeReport, String> = match decoder.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the decoder thread failed: {e}")),
    };
    drop(session);
    let publisher = &slot.publisher;
    let error = match (&decoded, &end) {
        (Err(e), _) => Some(e.clone()),
        (Ok(_), BodyEnd::Timeout(_) | BodyEnd::ReadError(_)) => Some(end.describe()),
        _ => None,
    };
    if let Ok(r) = &decoded {
        publisher.decode_errors.fetch_add(r.decode_errors, Ordering::Relaxed);
    } else {
        publisher.decode_errors.fetch_add(1, Ordering::Relaxed);
    }
    let info = slot.info.lock().take();
    let bytes = slot.bytes_received.load(Ordering::Relaxed);
    match &error {
        Some(e) => {
            // a source sending garbage can reconnect as fast as it likes
            static LIMIT: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
            if let Some(suppressed) = LIMIT.check() {
                tracing::warn!(mount = %mount.id, ended = %end.describe(), error = %e, frames = accepted, suppressed,
                    "Icecast source session failed; listeners hear silence (source-lost) until a source returns")
            }
        }
        None => tracing::info!(mount = %mount.id, ended = %end.describe(), frames = accepted,
            "Icecast source disconnected; listeners get source-lost once the queue drains"),
    }
    *slot.last_error.lock() = error.clone();
    slot.session_ended.notify_waiters();
    let report = decoded.as_ref().ok();
    let summary = json!({
        "success": error.is_none(),
        "mount": format!("/{}", mount.id),
        "ended": end.describe(),
        "error": error,
        "codec": info.and_then(|i| i.codec),
        "frames_accepted": accepted,
        "duration_ms": accepted as f64 * spec.duration.as_ms_f64(),
        "decode_errors": report.map(|r| r.decode_errors),
        "skipped_bytes": report.map(|r| r.skipped_bytes),
        "bytes_received_total": bytes,
    });
    let _ = done.send(summary.to_string());
}

async fn pump_body(
    mut stream: BodyDataStream,
    first: Option<Bytes>,
    pipe: mpsc::Sender<Bytes>,
    mut kick: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    timeout: std::time::Duration,
    mount: &Mount,
) -> BodyEnd {
    let count = |b: &Bytes| {
        if let Some(slot) = &mount.source {
            slot.bytes_received.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
    };
    if let Some(b) = first {
        count(&b);
        if pipe.send(b).await.is_err() {
            return BodyEnd::DecoderGone;
        }
    }
    loop {
        let chunk = tokio::select! {
            biased;
            _ = kick.wait_for(|k| *k) => return BodyEnd::Kicked,
            _ = shutdown.wait_for(|s| *s) => return BodyEnd::Shutdown,
            c = tokio::time::timeout(timeout, stream.next()) => c,
        };
        let b = match chunk {
            Err(_) => return BodyEnd::Timeout(timeout.as_secs()),
            Ok(None) => return BodyEnd::Closed,
            Ok(Some(Err(e))) => return BodyEnd::ReadError(e.to_string()),
            Ok(Some(Ok(b))) => b,
        };
        count(&b);
        // waits while the decoder (and the playout queue behind it) is full: backpressure
        let sent = tokio::select! {
            biased;
            _ = kick.wait_for(|k| *k) => return BodyEnd::Kicked,
            s = pipe.send(b) => s,
        };
        if sent.is_err() {
            return BodyEnd::DecoderGone;
        }
    }
}

/// Offers decoded frames to the playout queue in order; returns how many it accepted.
async fn pump_frames(
    mut frames: mpsc::Receiver<QueuedFrame>,
    session: &PublishSession,
    mut kick: watch::Receiver<bool>,
) -> u64 {
    let mut seq = 0u64;
    loop {
        let frame = tokio::select! {
            biased;
            _ = kick.wait_for(|k| *k) => return seq,
            f = frames.recv() => match f { Some(f) => f, None => return seq },
        };
        if let Enqueue::Accepted = session.publisher.enqueue(seq, frame).await {
            seq += 1;
        }
    }
}
