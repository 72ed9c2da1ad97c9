//! SSE listener: a raw TCP (or TLS) connection, a hand-written HTTP/1.1 GET, chunked decoding
//! and the lean [`SseScanner`]. No per-event allocation.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::{BytesSink, Conn, Dialer, ReadEnd, RunShared, get_request, open, read_loop};
use crate::bench::http1::{BodyDecoder, HttpUrl};
use crate::bench::sse_scan::{ScanEvent, SseScanner};
use crate::bench::stats::{ListenerStats, Window};

/// Where and what to request; built once per run and shared by all listeners.
#[derive(Debug)]
pub(crate) struct SseTarget {
    pub dialer: Dialer,
    request: Box<[u8]>,
}

impl SseTarget {
    /// `path_and_query` must be non-empty (the caller substitutes the default route).
    pub fn new(dialer: Dialer, url: &HttpUrl, path_and_query: &str, token: Option<&str>) -> Self {
        Self {
            dialer,
            request: get_request(
                url,
                path_and_query,
                "Accept: text/event-stream\r\nCache-Control: no-cache\r\n",
                token,
            ),
        }
    }
}

/// An SSE response whose head has been read and accepted.
#[derive(Debug)]
pub(crate) struct SseConnection {
    stream: Conn,
    decoder: SseDecoder,
    /// Body bytes that arrived together with the head.
    pending: Vec<u8>,
}

/// Connects, sends the request and reads the response head. The error is the failure reason
/// (`http_503`, `refused`, `not_event_stream`, ...).
pub(crate) async fn connect(target: &SseTarget) -> Result<SseConnection, String> {
    let (stream, parsed, pending) =
        open(&target.dialer, &target.request, |ct| ct.starts_with("text/event-stream"), "not_event_stream")
            .await?;
    Ok(SseConnection {
        stream,
        decoder: SseDecoder { body: BodyDecoder::for_head(&parsed), scanner: SseScanner::new() },
        pending,
    })
}

impl SseConnection {
    /// Reads until the run is stopped (`stop` changes) or the connection ends.
    pub async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        let pending = std::mem::take(&mut self.pending);
        read_loop(&mut self.stream, &mut self.decoder, pending, shared, stats, stop).await
    }
}

#[derive(Debug)]
struct SseDecoder {
    body: BodyDecoder,
    scanner: SseScanner,
}

impl BytesSink for SseDecoder {
    /// Processes bytes read from the socket (after the head).
    fn on_bytes(
        &mut self,
        bytes: &[u8],
        shared: &RunShared,
        stats: &mut ListenerStats,
    ) -> Result<(), ReadEnd> {
        let counting = stats.follow_window(shared.window());
        if counting {
            stats.counters.bytes += bytes.len() as u64;
        }
        // One clock reading per read: every event in it arrived at the same time.
        let now = Instant::now();
        let wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let Self { body, scanner } = self;
        body.decode(bytes, &mut |chunk| {
            scanner.feed(chunk, &mut |event| on_event(event, stats, shared, now, wall_ms, counting))
        })
        .map_err(|_| ReadEnd::Failed("bad_chunked_encoding".into()))?;
        if body.is_done() { Err(ReadEnd::Closed) } else { Ok(()) }
    }
}

fn on_event(
    event: ScanEvent,
    stats: &mut ListenerStats,
    shared: &RunShared,
    now: Instant,
    wall_ms: f64,
    counting: bool,
) {
    if stats.window == Window::After {
        return;
    }
    match event {
        ScanEvent::Audio(meta) => {
            stats.on_audio(&meta, now);
            if counting {
                shared.latency.record_ms(wall_ms - meta.timestamp_ms);
                shared.frames.fetch_add(u64::from(meta.frames), Ordering::Relaxed);
            }
            if let Some(d) = meta.duration_ms
                && shared.frame_duration_us.load(Ordering::Relaxed) == 0
            {
                shared.frame_duration_us.store((d * 1000.0).round() as u64, Ordering::Relaxed);
            }
        }
        ScanEvent::AudioUnparsed => stats.counters.unparsed += 1,
        ScanEvent::Heartbeat => stats.counters.heartbeats += 1,
        ScanEvent::Status => stats.counters.status_events += 1,
        ScanEvent::Error => stats.counters.error_events += 1,
        ScanEvent::Connected | ScanEvent::Other => {}
    }
}
