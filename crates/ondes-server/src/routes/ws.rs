//! `GET /api/streams/{id}/ws` (and `/api/audio/ws`): binary audio over WebSocket.
//!
//! Messages follow `docs/protocol.md` (encoder in `ondes_core::wire`). A batch of frames
//! becomes one message; batches are aligned on sequence numbers (`seq % batch == 0`
//! starts one), so every listener with the same rung and batch shares the same message
//! bytes, made once ([`HubFrame::cached`]). Per listener there is a cursor, a send and
//! the handling of its reports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};
use serde_json::{Value, json};

use super::admission::{Admission, admit_listener};
use super::{QueryMap, StreamId};
use crate::clock::now_us;
use crate::connections::{AbrSnapshot, LastDecision};
use crate::error::ApiError;
use crate::hub::{ControlState, EventKey, HubFrame, HubRead, Notice, StreamHub};
use crate::state::SharedState;
use ondes_core::abr::{
    AbrConfig, ClientReport, Controller, Direction, JitterAdvice, ProfileRequest, SendState,
};

/// Cache keys of WebSocket messages (SSE formats use 0..=2).
const KEY_WS_PCM16: u8 = 10;
const KEY_WS_OPUS: u8 = 20;

/// Which rung a listener asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RungChoice {
    /// The best Opus rung allowed by the stream's quality cap (PCM when there is no ladder).
    Auto,
    Pcm16,
    /// A fixed Opus rung, by index.
    Opus(usize),
}

fn parse_rung(hub: &StreamHub, q: &QueryMap) -> Result<RungChoice, ApiError> {
    let kbps = hub.ladder.kbps();
    let names = || {
        let mut v = vec!["auto".to_string(), "pcm16".to_string()];
        v.extend(kbps.iter().map(|k| k.to_string()));
        v.join(", ")
    };
    match q.0.get("rung").map(String::as_str).unwrap_or("auto") {
        "auto" => Ok(RungChoice::Auto),
        "pcm16" | "pcm" => Ok(RungChoice::Pcm16),
        other => {
            other.parse::<u32>().ok().and_then(|k| hub.ladder.index_of(k)).map(RungChoice::Opus).ok_or_else(
                || {
                    ApiError::bad_request(
                        "bad_rung",
                        format!("rung '{other}' is not offered; use one of: {}", names()),
                    )
                },
            )
        }
    }
}

/// `batch=` if the listener fixed it (otherwise the profile decides, default 4).
fn parse_batch(q: &QueryMap) -> Result<Option<u64>, ApiError> {
    match q.0.get("batch") {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(b) if (1..=32).contains(&b) => Ok(Some(b)),
            _ => Err(ApiError::bad_request(
                "bad_batch",
                format!("batch='{v}' must be an integer from 1 to 32"),
            )),
        },
    }
}

pub async fn ws(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: QueryMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let hub = app.hub(&id)?;
    let rung = parse_rung(hub, &q)?;
    let batch = parse_batch(&q)?;
    let profile = ProfileRequest::parse(q.0.get("profile").map_or("auto", String::as_str)).map_err(|e| {
        ApiError::bad_request(
            "bad_profile",
            format!("{e}; use auto, ultra_performance, balanced, high_throughput, emergency_fallback, conversation, realtime, presentation or training"),
        )
    })?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request("not_websocket", format!("this endpoint speaks WebSocket (ws://…): {e}"))
    })?;
    let admission = admit_listener(&app, &id, peer, &headers, &q, "ws")?;
    // small buffers: thousands of listeners; messages are a few hundred bytes to a few KB
    let upgrade = upgrade.read_buffer_size(4 * 1024).write_buffer_size(0);
    Ok(upgrade.on_upgrade(move |socket| session(socket, app, admission, rung, batch, profile)))
}

/// The rung index actually used for `choice` under quality cap `quality`.
fn effective_rung(hub: &StreamHub, choice: RungChoice, quality: f32) -> Option<usize> {
    let n = hub.ladder.rungs.len();
    match choice {
        RungChoice::Pcm16 => None,
        RungChoice::Opus(i) => Some(i),
        RungChoice::Auto if n == 0 => None,
        RungChoice::Auto => Some(((quality as f64 * n as f64).ceil() as usize).clamp(1, n) - 1),
    }
}

fn rung_name(hub: &StreamHub, rung: Option<usize>) -> String {
    match rung {
        None => "pcm16".into(),
        Some(i) => hub.ladder.rungs[i].kbps.to_string(),
    }
}

/// Builds the binary message for a batch of consecutive frames at `rung`.
fn audio_message(hub: &StreamHub, frames: &[Arc<HubFrame>], rung: Option<usize>) -> Bytes {
    let first = &frames[0].frame;
    let header = AudioHeader {
        codec: if rung.is_some() { Codec::Opus } else { Codec::Pcm16 },
        channels: hub.spec.channels as u8,
        frame_count: frames.len() as u8,
        frame_us: hub.spec.duration.as_us(),
        sample_rate: hub.spec.sample_rate,
        first_seq: first.seq,
        capture_us: first.capture_us,
    };
    let pcm: Vec<Vec<u8>>;
    let payloads: Vec<&[u8]> = match rung {
        Some(i) => frames.iter().map(|f| f.opus_packet(i).map_or(&[][..], |p| &p[..])).collect(),
        None => {
            pcm = frames
                .iter()
                .map(|f| {
                    let mut b = Vec::with_capacity(f.frame.samples.len() * 2);
                    ondes_codec::encode_s16le(&f.frame.samples, &mut b);
                    b
                })
                .collect();
            pcm.iter().map(|b| &b[..]).collect()
        }
    };
    let mut out = Vec::new();
    // batches are 1..=32 frames, channels 1..=2, allowed durations are multiples of 0.5 ms,
    // and a frame is at most 60 ms × 192 kHz × 2 ch × 2 B = 46 KB < 64 KB: encoding cannot fail
    if let Err(e) = encode_audio(&header, &payloads, &mut out) {
        tracing::error!(error = %e, "cannot encode audio message");
    }
    Bytes::from(out)
}

struct Session {
    delivery: crate::metrics::DeliveryHandles,
    fanout: crate::metrics::StageHandle,
    metrics: Arc<crate::metrics::Metrics>,
    /// The previous report's cumulative counters, to turn reports into metric deltas.
    last_underruns: u64,
    last_concealed_ms: u64,
    hub: Arc<StreamHub>,
    admission: Admission,
    choice: RungChoice,
    rung: Option<usize>,
    batch: u64,
    control: ControlState,
    pending: Vec<Arc<HubFrame>>,
    out: Vec<Message>,
    missing_packets: u64,
    /// Per-listener adaptation (`rung=auto` on an Opus ladder), driven in session time.
    abr: Option<Controller>,
    profile: ProfileRequest,
    /// The batch was fixed by the listener (`batch=`); otherwise the profile sets it.
    batch_fixed: bool,
    started: std::time::Instant,
    written_bytes: u64,
    /// The last adaptation decision, as `/debug/connections` shows it.
    last_decision: Option<LastDecision>,
}

impl Session {
    /// µs since the session started: the controller's clock.
    fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// A controller for the rungs at or below the quality cap (none for fixed rungs or PCM).
    fn build_abr(&mut self) {
        self.abr = None;
        let (RungChoice::Auto, Some(cap)) =
            (self.choice, effective_rung(&self.hub, self.choice, self.control.quality))
        else {
            return;
        };
        let ladder = self.hub.ladder.kbps()[..=cap].to_vec();
        let cfg = AbrConfig { stream_frame_us: self.hub.spec.duration.as_us(), ..AbrConfig::default() };
        if let Ok(c) = Controller::new(cfg, &ladder, self.profile, self.now()) {
            self.rung = Some(c.rung());
            if !self.batch_fixed {
                self.batch = (c.batch() as u64).clamp(1, 32);
            }
            self.abr = Some(c);
        }
    }

    /// Applies a controller decision, if one is due.
    fn poll_abr(&mut self) {
        let now = self.now();
        let Some(d) = self.abr.as_mut().and_then(|a| a.poll(now)) else { return };
        self.flush();
        self.rung = Some(d.rung);
        if !self.batch_fixed
            && let Some(a) = &self.abr
        {
            self.batch = (a.batch() as u64).clamp(1, 32);
        }
        let dir = match d.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        self.metrics.bitrate_switches.with_label_values(&[&self.hub.id, dir]).inc();
        tracing::info!(stream = %self.hub.id, conn = self.admission.guard.info.id, to_kbps = d.kbps,
            reason = d.reason.code(), "abr: {}", d.reason);
        let mut msg = json!({"type": "rung", "rung": d.kbps.to_string(), "profile": d.profile,
            "batch": self.batch, "jitter_target_ms": d.jitter_target_ms, "direction": dir,
            "code": d.reason.code(), "reason": d.reason.to_string()});
        if d.retargets_jitter()
            && let Some(a) = &self.abr
        {
            msg["jitter"] = json!(JitterAdvice::after(&d, a.profile(), a.config().jitter_rtts));
        }
        self.text(msg);
        self.last_decision = Some(LastDecision::of(&d));
        self.publish_abr();
    }

    /// Shows the controller's state in `/debug/connections` and `/stats`.
    fn publish_abr(&self) {
        let Some(a) = &self.abr else { return };
        let state = AbrSnapshot {
            profile: a.profile().name,
            rung_kbps: a.kbps(),
            batch: self.batch,
            estimate_kbps: (a.estimate_bps() / 1000.0).round() as u32,
            capacity_kbps: a.capacity_bps().map(|c| (c / 1000.0).round() as u32),
            queue_delay_ms: a.queue_delay_us(self.now()) / 1000,
            jitter_target_ms: a.jitter_target_us() / 1000,
            stats: a.stats(),
            last_decision: self.last_decision,
        };
        *self.admission.guard.info.abr.lock() = Some(state);
    }

    fn text(&mut self, v: Value) {
        self.out.push(Message::Text(v.to_string().into()));
    }

    fn info(&self) -> Value {
        let hub = &self.hub;
        let mut rungs = vec!["pcm16".to_string()];
        rungs.extend(hub.ladder.kbps().iter().map(|k| k.to_string()));
        json!({
            "type": "info", "protocol": ondes_core::proto::audio::VERSION, "stream": hub.id,
            "connection_id": self.admission.guard.info.id.to_string(),
            "codec": if self.rung.is_some() { "opus" } else { "pcm16" },
            "rung": rung_name(hub, self.rung), "rungs": rungs,
            "sample_rate": hub.spec.sample_rate, "channels": hub.spec.channels,
            "frame_ms": hub.spec.duration.as_ms_f64(), "batch": self.batch,
            "paused": self.control.paused, "source_lost": self.control.source_lost,
            "adaptive": self.abr.is_some(),
            "profile": self.abr.as_ref().map(|a| a.profile().name),
            "jitter": self.jitter_advice(),
        })
    }

    /// The jitter-buffer advice for this listener: its controller's profile, or for a fixed
    /// rung the profile it asked for (balanced by default).
    fn jitter_advice(&self) -> JitterAdvice {
        match &self.abr {
            Some(a) => JitterAdvice::for_profile(a.profile(), a.config().jitter_rtts),
            None => {
                JitterAdvice::for_profile(&self.profile.initial().params(), AbrConfig::default().jitter_rtts)
            }
        }
    }

    /// Queues the current batch as one shared binary message.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let format = match self.rung {
            Some(i) => KEY_WS_OPUS + i as u8,
            None => KEY_WS_PCM16,
        };
        let first_seq = self.pending[0].frame.seq;
        let key = EventKey { format, factor: self.pending.len() as u8, first_seq };
        if let Some(i) = self.rung {
            self.missing_packets += self.pending.iter().filter(|f| f.opus_packet(i).is_none()).count() as u64;
        }
        let last = self.pending[self.pending.len() - 1].clone();
        let (bytes, made) = last.cached(key, || audio_message(&self.hub, &self.pending, self.rung));
        if made {
            self.hub.stats.serializations.fetch_add(1, Ordering::Relaxed);
        }
        let latency = now_us() - last.frame.capture_us;
        self.admission.guard.info.record_send(self.pending.len() as u64, bytes.len() as u64, Some(latency));
        self.delivery.frames.inc_by(self.pending.len() as u64);
        self.delivery.bytes.inc_by(bytes.len() as u64);
        let latency = Duration::from_micros(latency.max(0) as u64);
        self.delivery.latency.observe(latency.as_secs_f64());
        if last.frame.seq.is_multiple_of(8) {
            self.fanout.record(latency);
        }
        self.hub.stats.events_sent.fetch_add(1, Ordering::Relaxed);
        self.hub.stats.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.out.push(Message::Binary(bytes));
        self.pending.clear();
    }

    fn apply_control(&mut self, c: ControlState) {
        if c == self.control {
            return;
        }
        let old = std::mem::replace(&mut self.control, c.clone());
        for notice in c.notices_since(&old) {
            match notice {
                Notice::Ended(reason) => {
                    self.flush();
                    self.text(json!({"type": "error", "error": "stream_ended", "message": format!("stream ended: {reason}")}));
                    return;
                }
                // the new rung (below) is this listener's answer to a quality change
                Notice::Quality(_) => {}
                n => {
                    if matches!(n, Notice::Paused | Notice::Resumed) {
                        self.flush();
                    }
                    let mut body = n.status();
                    body["type"] = "status".into();
                    self.text(body);
                }
            }
        }
        let rung = if c.quality != old.quality && self.abr.is_some() {
            let before = self.rung;
            self.build_abr();
            std::mem::replace(&mut self.rung, before)
        } else if self.abr.is_some() {
            self.rung
        } else {
            effective_rung(&self.hub, self.choice, c.quality)
        };
        if rung != self.rung {
            self.flush();
            let direction = match (rung, self.rung) {
                (Some(a), Some(b)) if a < b => "down",
                (None, Some(_)) => "down",
                _ => "up",
            };
            self.metrics.bitrate_switches.with_label_values(&[&self.hub.id, direction]).inc();
            self.rung = rung;
            let name = rung_name(&self.hub, rung);
            self.text(json!({"type": "rung", "rung": name, "reason": format!("stream quality set to {}", c.quality)}));
        }
    }

    /// Handles a text message from the client; returns an error message for bad input.
    fn client_text(&mut self, text: &str) {
        let info = &self.admission.guard.info;
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                info.errors.fetch_add(1, Ordering::Relaxed);
                self.text(json!({"type": "error", "error": "bad_json", "message": format!("not JSON: {e}")}));
                return;
            }
        };
        match v.get("type").and_then(Value::as_str) {
            Some("report") => {
                info.reports_received.fetch_add(1, Ordering::Relaxed);
                let num = |k: &str| v.get(k).and_then(Value::as_f64).filter(|x| x.is_finite() && *x >= 0.0);
                let underruns = num("underruns").unwrap_or(0.0) as u64;
                let concealed = num("concealed_ms").unwrap_or(0.0) as u64;
                self.metrics.client_report(
                    &self.hub.id,
                    underruns.saturating_sub(self.last_underruns),
                    concealed.saturating_sub(self.last_concealed_ms),
                    num("e2e_latency_ms"),
                );
                if let Some(abr) = self.abr.as_mut() {
                    let r = ClientReport {
                        buffer_ms: num("buffer_ms").unwrap_or(0.0),
                        target_ms: num("target_ms").unwrap_or(0.0),
                        underruns,
                        lost_frames: num("lost_frames").unwrap_or(0.0) as u64,
                        late_frames: num("late_frames").unwrap_or(0.0) as u64,
                        received_frames: num("received_frames").unwrap_or(0.0) as u64,
                        rtt_ms: num("rtt_ms"),
                    };
                    let now = self.started.elapsed().as_micros() as u64;
                    abr.handle_report(&r, now);
                }
                self.last_underruns = self.last_underruns.max(underruns);
                self.last_concealed_ms = self.last_concealed_ms.max(concealed);
                *info.client_report.lock() = Some(v);
            }
            Some("ping") => {
                let id = v.get("id").cloned().unwrap_or(Value::Null);
                let client_ts = v.get("client_ts_us").cloned().unwrap_or(Value::Null);
                self.text(
                    json!({"type": "pong", "id": id, "client_ts_us": client_ts, "server_ts_us": now_us()}),
                );
            }
            other => {
                info.errors.fetch_add(1, Ordering::Relaxed);
                self.text(json!({"type": "error", "error": "unknown_message",
                    "message": format!("unknown message type {other:?}; send report or ping")}));
            }
        }
    }
}

/// Feeds the controller what the sending side sees (bytes the socket took, audio waiting)
/// and applies its decision, if any.
fn abr_update(s: &mut Session, hub: &StreamHub, cursor: &ondes_core::Cursor) {
    let backlog = hub.backlog_frames(cursor) + s.pending.len() as u64;
    let backlog_us = backlog.saturating_sub(s.batch - 1) * hub.spec.duration.as_us() as u64;
    let now = s.now();
    let written = s.written_bytes;
    if let Some(a) = s.abr.as_mut() {
        a.handle_send_state(SendState { written_bytes: written, backlog_us }, now);
    }
    s.poll_abr();
}

async fn session(
    socket: WebSocket,
    app: SharedState,
    admission: Admission,
    choice: RungChoice,
    batch: Option<u64>,
    profile: ProfileRequest,
) {
    let hub = admission.hub.clone();
    let mut sub = hub.subscribe();
    let mut cursor = hub.cursor_at_live();
    let control = sub.control.borrow_and_update().clone();
    let rung = effective_rung(&hub, choice, control.quality);
    let mut s = Session {
        delivery: app.metrics.delivery(&hub.id, "ws"),
        fanout: app.metrics.stage(crate::metrics::Stage::Fanout, &hub.id),
        metrics: app.metrics.clone(),
        last_underruns: 0,
        last_concealed_ms: 0,
        hub: hub.clone(),
        admission,
        choice,
        rung,
        batch: batch.unwrap_or(4),
        control,
        pending: Vec::new(),
        out: Vec::new(),
        missing_packets: 0,
        abr: None,
        profile,
        batch_fixed: batch.is_some(),
        started: std::time::Instant::now(),
        written_bytes: 0,
        last_decision: None,
    };
    s.build_abr();
    s.publish_abr();
    // woken once per batch, not once per frame
    sub.frames = hub.group_watch(s.batch);
    let mut group = s.batch;
    // keep every rung this listener may use warm while it is connected
    let _rung_guards: Vec<_> = match choice {
        RungChoice::Opus(i) => hub.ladder.listen(i).into_iter().collect(),
        RungChoice::Auto => (0..hub.ladder.rungs.len()).filter_map(|i| hub.ladder.listen(i)).collect(),
        RungChoice::Pcm16 => Vec::new(),
    };
    let (mut tx, mut rx) = socket.split();
    let info = s.info();
    s.text(info);
    for notice in s.control.notices_on_join() {
        let mut body = notice.status();
        body["type"] = "status".into();
        s.text(body);
    }
    let mut shutdown = app.shutdown.clone();
    let mut ping = tokio::time::interval(Duration::from_secs(app.config.server.heartbeat_secs));
    ping.tick().await;
    let mut reads = Vec::new();
    let send_timer = app.metrics.stage(crate::metrics::Stage::Send, &hub.id);
    let mut control_dirty = true;
    // adaptation: send state every 100 ms, round trips measured by pings behind the audio
    let mut abr_tick = tokio::time::interval(Duration::from_millis(100));
    let mut abr_ping = tokio::time::interval(Duration::from_millis(250));
    let mut abr_ticks = 0u64;
    loop {
        if s.batch != group {
            group = s.batch;
            sub.frames = hub.group_watch(group);
        }
        // send what is queued
        let queued: Vec<Message> = s.out.drain(..).collect();
        for m in queued {
            let (frames, bytes_len) = match &m {
                Message::Binary(b) if b.len() > 2 => (b[2] as u64, b.len() as u64),
                _ => (0, 0),
            };
            let t0 = std::time::Instant::now();
            if tx.send(m).await.is_err() {
                hub.stats.send_failed_frames.fetch_add(frames, Ordering::Relaxed);
                return;
            }
            if frames > 0 {
                send_timer.record(t0.elapsed());
            }
            s.written_bytes += bytes_len;
            if frames > 0 && s.abr.is_some() {
                // a slow link keeps this loop busy sending: feed the controller here too
                abr_update(&mut s, &hub, &cursor);
            }
        }
        if s.control.ended.is_some() {
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
        if *shutdown.borrow() {
            let _ = tx
                .send(Message::Text(
                    json!({"type": "error", "error": "shutting_down", "message": "the server is shutting down"})
                        .to_string()
                        .into(),
                ))
                .await;
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
        // `changed()` below marks a new value seen, so remember that it happened
        if control_dirty || sub.control.has_changed().unwrap_or(true) {
            control_dirty = false;
            let c = sub.control.borrow_and_update().clone();
            s.apply_control(c);
        }
        if !s.out.is_empty() {
            continue;
        }
        if !s.control.paused {
            sub.frames.borrow_and_update();
            reads.clear();
            // One message's worth per turn: the sends above may block on a slow socket, and the
            // lag check happens at each read — reading further ahead would let a slow listener
            // fall behind by the sending time of everything read, not `max_listener_lag_ms`.
            hub.read(&mut cursor, s.batch as usize, &mut reads);
            for r in reads.drain(..) {
                match r {
                    HubRead::Frame(f) => {
                        let seq = f.frame.seq;
                        s.pending.push(f);
                        if (seq + 1).is_multiple_of(s.batch) {
                            s.flush();
                        }
                    }
                    HubRead::Skipped(n) => {
                        s.flush();
                        s.admission.guard.info.skipped_frames.fetch_add(n, Ordering::Relaxed);
                        s.text(json!({"type": "status", "status": "lagged", "skipped_frames": n}));
                    }
                }
            }
            if !s.out.is_empty() {
                continue;
            }
        } else {
            hub.jump_to_live(&mut cursor);
        }
        tokio::select! {
            r = sub.frames.changed() => if r.is_err() { return; },
            r = sub.control.changed() => {
                if r.is_err() { return; }
                control_dirty = true;
            }
            _ = shutdown.changed() => {},
            _ = abr_tick.tick(), if s.abr.is_some() => {
                abr_update(&mut s, &hub, &cursor);
                abr_ticks += 1;
                if abr_ticks.is_multiple_of(10) {
                    s.publish_abr();
                }
            }
            _ = abr_ping.tick(), if s.abr.is_some() => {
                s.out.push(Message::Ping(Bytes::copy_from_slice(&s.now().to_le_bytes())));
            }
            _ = ping.tick() => {
                s.admission.guard.info.last_heartbeat_ms.store(crate::clock::now_ms(), Ordering::Relaxed);
                s.out.push(Message::Ping(Bytes::new()));
            }
            m = rx.next() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(t))) => s.client_text(&t),
                Some(Ok(Message::Pong(p))) if p.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&p);
                    let now = s.now();
                    if let Some(a) = s.abr.as_mut() {
                        a.handle_rtt(now.saturating_sub(u64::from_le_bytes(b)), now);
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    s.admission.guard.info.errors.fetch_add(1, Ordering::Relaxed);
                    s.text(json!({"type": "error", "error": "unexpected_binary",
                        "message": "listeners send only JSON text messages (report, ping); publish audio at /publish"}));
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
