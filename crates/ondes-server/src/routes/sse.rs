//! `GET /api/streams/{id}/stream` (and `/api/audio/stream`): Server-Sent Events.
//!
//! Per listener this is a cursor, a few flags and a queue of shared `Bytes`: the audio
//! events themselves are serialised once per frame and format ([`HubFrame::cached`]).
//! The response body is a stream that hyper polls only when the socket can take more, so
//! a listener that stops reading simply stops being polled; when it reads again its cursor
//! is found too far behind and skipped to live, and the skip is counted.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use ondes_core::Cursor;
use ondes_core::ring::Resume;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::admission::{Admission, admit_listener};
use super::{QueryMap, StreamId};
use crate::clock::{now_ms, now_us};
use crate::connections::ConnectionGuard;
use crate::error::ApiError;
use crate::hub::{ControlState, EventKey, HubFrame, HubRead, Notice, Subscription};
use crate::serialize::{SseFormat, audio_event, sse_event};
use crate::state::SharedState;

/// Listener options from the query string.
struct Options {
    format: SseFormat,
    /// Frames merged per event (1 = every frame its own event).
    group: u64,
}

fn parse_options(q: &QueryMap, fps: f64) -> Result<Options, ApiError> {
    let format = SseFormat::parse(q.0.get("format").map(String::as_str).unwrap_or("json"))?;
    let group = match q.positive_f64("max_fps")? {
        Some(m) => (fps / m).ceil().max(1.0) as u64,
        None => 1,
    };
    Ok(Options { format, group })
}

/// `Last-Event-ID` (header, or `last_event_id` query for clients that cannot set headers)
/// as a frame number; ids that are not `frame-<n>` (e.g. the connection id) mean "start at live".
fn last_event_frame(headers: &HeaderMap, q: &QueryMap) -> Option<u64> {
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
    q: QueryMap,
) -> Result<Response, ApiError> {
    let opts = parse_options(&q, app.hub(&id)?.spec.frames_per_second())?;
    let Admission { hub, guard } = admit_listener(&app, &id, peer, &headers, &q, "sse")?;

    let mut sub = hub.subscribe();
    // woken once per merged group (max_fps), not once per frame
    sub.frames = hub.group_watch(opts.group);
    let mut pending = VecDeque::new();
    pending.push_back(Bytes::from(format!("retry: 2000\nid: {}\ndata: connected\n\n", guard.info.id)));
    let cursor = match last_event_frame(&headers, &q) {
        None => hub.cursor_at_live(),
        Some(last) => {
            let (cursor, outcome) = hub.cursor_resume(last);
            let status = match outcome {
                Resume::Exact => json!({"status": "resumed", "from_frame": last + 1, "missed_frames": 0}),
                Resume::Gap { missed } => {
                    guard.info.skipped_frames.fetch_add(missed, Ordering::Relaxed);
                    json!({"status": "gap", "from_frame": last + 1, "missed_frames": missed,
                        "message": "the requested frames are no longer in the ring; continuing at live"})
                }
                Resume::Unknown => json!({"status": "gap", "from_frame": last + 1, "missed_frames": null,
                    "message": "unknown Last-Event-ID (from before a restart?); continuing at live"}),
            };
            pending.push_back(sse_event(Some("status"), None, &status.to_string()));
            cursor
        }
    };
    let period = Duration::from_secs(app.config.server.heartbeat_secs);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let control = sub.control.borrow().clone();
    let listener = Listener {
        delivery: app.metrics.delivery(&id, "sse"),
        fanout: app.metrics.stage(crate::metrics::Stage::Fanout, &id),
        sub,
        cursor,
        guard,
        opts,
        pending,
        group: Vec::new(),
        reads: Vec::new(),
        control,
        heartbeat,
        heartbeats: 0,
        control_dirty: true,
        shutdown: app.shutdown.clone(),
        done: false,
    };
    // tell a listener joining a paused or source-less stream why it hears nothing
    let mut listener = listener;
    for notice in listener.control.notices_on_join() {
        listener.status(notice.status());
    }
    Ok(sse_response(listener))
}

fn sse_response(listener: Listener) -> Response {
    let body = Body::from_stream(futures_util::stream::unfold(listener, |mut l| async move {
        l.next_chunk().await.map(|b| (Ok::<_, Infallible>(b), l))
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// One SSE listener's state.
struct Listener {
    delivery: crate::metrics::DeliveryHandles,
    fanout: crate::metrics::StageHandle,
    sub: Subscription,
    cursor: Cursor,
    guard: ConnectionGuard,
    opts: Options,
    pending: VecDeque<Bytes>,
    /// Frames of the current `max_fps` group not yet sent.
    group: Vec<Arc<HubFrame>>,
    reads: Vec<HubRead>,
    control: ControlState,
    heartbeat: Interval,
    heartbeats: u64,
    control_dirty: bool,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

impl Listener {
    fn status(&mut self, body: serde_json::Value) {
        self.pending.push_back(sse_event(Some("status"), None, &body.to_string()));
    }

    fn finish(&mut self, message: &str) {
        self.flush_group();
        self.pending.push_back(sse_event(Some("error"), None, &format!("error: {message}")));
        self.done = true;
    }

    /// Reacts to pause/resume/quality/end changes.
    fn apply_control(&mut self) {
        if !self.control_dirty && !self.sub.control.has_changed().unwrap_or(true) {
            return;
        }
        self.control_dirty = false;
        let c = self.sub.control.borrow_and_update().clone();
        if c == self.control {
            return;
        }
        let old = std::mem::replace(&mut self.control, c.clone());
        for notice in c.notices_since(&old) {
            let mut body = notice.status();
            match notice {
                Notice::Ended(reason) => {
                    self.finish(&format!("stream ended: {reason}"));
                    return;
                }
                Notice::Paused => self.flush_group(),
                Notice::Resumed => {
                    body["skipped_while_paused"] = self.sub.hub.jump_to_live(&mut self.cursor).into();
                }
                Notice::Quality(q) => {
                    let factor = self.sub.hub.quality_factor(q) * self.opts.format.extra_factor();
                    body["sample_rate"] = (self.sub.hub.spec.sample_rate / factor as u32).into();
                }
                Notice::SourceLost | Notice::SourceRestored => {}
            }
            self.status(body);
        }
    }

    /// Serialises the current group (once per frame and format, shared) and queues it.
    fn flush_group(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let hub = &self.sub.hub;
        let factor = hub.quality_factor(self.control.quality) * self.opts.format.extra_factor();
        let first_seq = self.group[0].frame.seq;
        let key = EventKey { format: self.opts.format.id(), factor: factor as u8, first_seq };
        let last = &self.group[self.group.len() - 1];
        let (bytes, made) = last.cached(key, || audio_event(hub, &self.group, self.opts.format, factor));
        if made {
            hub.stats.serializations.fetch_add(1, Ordering::Relaxed);
        }
        let latency = now_us() - last.frame.capture_us;
        self.guard.info.record_send(self.group.len() as u64, bytes.len() as u64, Some(latency));
        self.delivery.frames.inc_by(self.group.len() as u64);
        self.delivery.bytes.inc_by(bytes.len() as u64);
        let latency = std::time::Duration::from_micros(latency.max(0) as u64);
        self.delivery.latency.observe(latency.as_secs_f64());
        // the monitor needs a sample of the fan-out delay, not every listener's every event
        if last.frame.seq.is_multiple_of(8) {
            self.fanout.record(latency);
        }
        hub.stats.events_sent.fetch_add(1, Ordering::Relaxed);
        hub.stats.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.pending.push_back(bytes);
        self.group.clear();
    }

    /// Reads what is available from the ring into events.
    fn pull_frames(&mut self) {
        let hub = self.sub.hub.clone();
        self.reads.clear();
        hub.read(&mut self.cursor, 64, &mut self.reads);
        let reads = std::mem::take(&mut self.reads);
        for r in &reads {
            match r {
                HubRead::Frame(f) => {
                    let seq = f.frame.seq;
                    self.group.push(f.clone());
                    if (seq + 1).is_multiple_of(self.opts.group) {
                        self.flush_group();
                    }
                }
                HubRead::Skipped(n) => {
                    self.flush_group();
                    self.guard.info.skipped_frames.fetch_add(*n, Ordering::Relaxed);
                    self.status(json!({"status": "lagged", "skipped_frames": n,
                        "message": "this listener fell behind and was moved to live"}));
                }
            }
        }
        self.reads = reads;
    }

    /// The next chunk of the response body, waiting if nothing is ready; `None` ends it.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            if *self.shutdown.borrow() {
                self.finish("the server is shutting down");
                continue;
            }
            self.apply_control();
            if self.done || !self.pending.is_empty() {
                continue;
            }
            if !self.control.paused {
                self.sub.frames.borrow_and_update();
                self.pull_frames();
                if !self.pending.is_empty() {
                    continue;
                }
            }
            tokio::select! {
                r = self.sub.frames.changed() => {
                    if r.is_err() { self.finish("the stream was removed"); }
                }
                r = self.sub.control.changed() => {
                    // changed() marked the value seen: make apply_control look at it
                    self.control_dirty = true;
                    if r.is_err() { self.finish("the stream was removed"); }
                }
                _ = self.shutdown.changed() => {}
                _ = self.heartbeat.tick() => {
                    self.heartbeats += 1;
                    self.guard.info.last_heartbeat_ms.store(now_ms(), Ordering::Relaxed);
                    let data = format!("heartbeat-{}", self.heartbeats);
                    self.pending.push_back(sse_event(Some("heartbeat"), None, &data));
                }
            }
        }
    }
}
