//! WebSocket framing (docs/protocol.md): batches of frames as binary audio messages at the
//! listener's rung, notices and replies as JSON text; and what a WebSocket listener has that
//! others do not — its adaptation controller (`rung=auto`) and its reports and pings.
//!
//! Batches are aligned on sequence numbers, so every listener with the same rung and batch
//! shares the same message bytes, made once ([`crate::hub::wire`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use ondes_core::abr::{
    Arm, Canary, Controller, Direction, JitterAdvice, ListenerSample, ProfileName, ProfileRequest, SendState,
    TcpInfo,
};
use ondes_core::egress::Framer;
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};
use ondes_core::proto::control::{
    ErrorMessage, FromListener, ListenerInfo, Rung as RungMessage, Status, ToListener,
};
use ondes_core::quality::QualityCap;

use super::session::{ListenerSession, SessionNotice, SkipAction, Transport};
use super::ws_frame;
use crate::clock::now_us;
use crate::config::AbrSection;
use crate::connections::{AbrSnapshot, ConnectionInfo, LastDecision};
use crate::hub::{DeliveryPolicy, HubFrame, RungUse, StreamHub, WireBuilder, WireGuard, WireKey};
use crate::metrics::Metrics;

/// The wire format id of WebSocket audio messages ([`WireKey::format`]): payloads (framed by
/// tungstenite), or whole frames (written by the feed writers).
const WIRE_WS: u8 = 2;
const WIRE_WS_FRAMED: u8 = 4;
/// [`WireKey::variant`] of PCM16 messages (Opus rungs use their index).
const VARIANT_PCM16: u32 = u32::MAX;

/// Which rung a listener asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RungChoice {
    /// The best Opus rung allowed by the stream's quality cap (PCM when there is no ladder).
    Auto,
    Pcm16,
    /// A fixed Opus rung, by index.
    Opus(usize),
}

/// The rung index actually used for `choice` under quality cap `quality`.
pub fn effective_rung(hub: &StreamHub, choice: RungChoice, quality: QualityCap) -> Option<usize> {
    match choice {
        RungChoice::Pcm16 => None,
        RungChoice::Opus(i) => Some(i),
        RungChoice::Auto => quality.best_rung(&hub.ladder.kbps()),
    }
}

/// The rung of legacy delivery under quality cap `quality`: the highest at or below
/// `rung_kbps` (`[abr.legacy]`; 0 = the best the cap allows).
pub fn legacy_rung(hub: &StreamHub, quality: QualityCap, rung_kbps: u32) -> Option<usize> {
    let cap = effective_rung(hub, RungChoice::Auto, quality)?;
    if rung_kbps == 0 {
        return Some(cap);
    }
    Some(hub.ladder.kbps()[..=cap].iter().rposition(|r| *r <= rung_kbps).unwrap_or(0))
}

fn rung_name(hub: &StreamHub, rung: Option<usize>) -> String {
    match rung {
        None => "pcm16".into(),
        Some(i) => hub.ladder.rungs[i].kbps.to_string(),
    }
}

/// The binary message for a batch of consecutive frames at `rung` (PCM16 for `None`).
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

struct WsWire {
    rung: Option<usize>,
    framed: bool,
}

impl WsWire {
    fn make(&self, hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        let m = audio_message(hub, frames, self.rung);
        if self.framed { ws_frame::frame(ws_frame::BINARY, &m) } else { m }
    }
}

impl WireBuilder for WsWire {
    fn build(&self, hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        self.make(hub, frames)
    }
}

fn wire_key(rung: Option<usize>, batch: u64, framed: bool) -> WireKey {
    WireKey {
        format: if framed { WIRE_WS_FRAMED } else { WIRE_WS },
        variant: rung.map_or(VARIANT_PCM16, |i| i as u32),
        group: batch,
    }
}

/// What a WebSocket listener asked for in its query.
#[derive(Debug, Clone, Copy)]
pub struct WsOptions {
    pub choice: RungChoice,
    /// `batch=` when the listener fixed it (otherwise the profile decides, default 4).
    pub batch: Option<u64>,
    pub profile: ProfileRequest,
    /// Whether messages are whole WebSocket frames (listeners on the feed writers) or
    /// payloads that tungstenite frames (connections served by hyper).
    pub framed: bool,
    /// `[abr]`: controller tuning, legacy delivery, latency budgets per profile.
    pub abr: AbrSection,
}

/// The profile a listener follows: one forced by the operator (`set_profile`), else its own.
fn effective_profile(own: ProfileRequest, forced: Option<ProfileName>) -> ProfileRequest {
    forced.map_or(own, ProfileRequest::Fixed)
}

/// One WebSocket listener's framing, adaptation and client handling.
pub struct WsTransport {
    hub: Arc<StreamHub>,
    info: Arc<ConnectionInfo>,
    metrics: Arc<Metrics>,
    choice: RungChoice,
    rung: Option<usize>,
    batch: u64,
    batch_fixed: bool,
    quality: QualityCap,
    framed: bool,
    settings: AbrSection,
    wire: WireGuard,
    /// Per-listener adaptation (`rung=auto` on an Opus ladder, adaptive delivery), driven in
    /// session time.
    abr: Option<Controller>,
    /// The delivery group of a `rung=auto` listener on an Opus ladder (`None` otherwise: a
    /// listener that chose its rung is in neither).
    arm: Option<Arm>,
    /// The profile the listener asked for, and the one it follows (a forced one wins).
    own_profile: ProfileRequest,
    profile: ProfileRequest,
    started: Instant,
    /// Bytes of audio the socket took (the controller's throughput estimate).
    pub written_bytes: u64,
    last_decision: Option<LastDecision>,
    /// The previous report's cumulative counters, to turn reports into metric deltas.
    last_underruns: u64,
    last_concealed_ms: u64,
    /// Frames without a packet at the listener's rung (the rung was just starting).
    pub missing_packets: u64,
    /// Keeps every rung this listener may use encoding while it is connected.
    _rungs: Vec<RungUse>,
}

impl WsTransport {
    pub fn new(
        hub: Arc<StreamHub>,
        info: Arc<ConnectionInfo>,
        metrics: Arc<Metrics>,
        opts: WsOptions,
    ) -> Self {
        let quality = hub.control().quality;
        let rung = effective_rung(&hub, opts.choice, quality);
        let batch = opts.batch.unwrap_or(4);
        let rungs = match opts.choice {
            RungChoice::Opus(i) => hub.use_rung(i).into_iter().collect(),
            RungChoice::Auto => (0..hub.ladder.rungs.len()).filter_map(|i| hub.use_rung(i)).collect(),
            RungChoice::Pcm16 => Vec::new(),
        };
        let framed = opts.framed;
        let arm = (opts.choice == RungChoice::Auto && rung.is_some()).then(|| hub.assign_arm());
        *info.delivery_arm.lock() = arm;
        let profile = effective_profile(opts.profile, hub.control().delivery.forced_profile(info.id));
        let wire = hub.wire_keys.join(wire_key(rung, batch, framed), || Arc::new(WsWire { rung, framed }));
        let mut t = WsTransport {
            hub,
            info,
            metrics,
            choice: opts.choice,
            rung,
            batch,
            batch_fixed: opts.batch.is_some(),
            quality,
            framed,
            settings: opts.abr,
            wire,
            abr: None,
            arm,
            own_profile: opts.profile,
            profile,
            started: Instant::now(),
            written_bytes: 0,
            last_decision: None,
            last_underruns: 0,
            last_concealed_ms: 0,
            missing_packets: 0,
            _rungs: rungs,
        };
        t.build_abr();
        t.rejoin();
        t.publish_abr();
        t
    }

    /// Frames per message now (the session starts with it).
    pub fn current_batch(&self) -> u64 {
        self.batch
    }

    pub fn is_adaptive(&self) -> bool {
        self.abr.is_some()
    }

    /// µs since the session started: the controller's clock.
    fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Registers the (rung, batch) key this listener sends now.
    fn rejoin(&mut self) {
        let key = wire_key(self.rung, self.batch, self.framed);
        if key != self.wire.key {
            let (rung, framed) = (self.rung, self.framed);
            self.wire = self.hub.wire_keys.join(key, || Arc::new(WsWire { rung, framed }));
        }
    }

    /// A controller for the rungs at or below the quality cap (none for fixed rungs, PCM or
    /// legacy delivery, which gets the legacy rung and profile).
    fn build_abr(&mut self) {
        self.abr = None;
        let (RungChoice::Auto, Some(cap)) =
            (self.choice, effective_rung(&self.hub, self.choice, self.quality))
        else {
            return;
        };
        let ladder = self.hub.ladder.kbps()[..=cap].to_vec();
        let frame_us = self.hub.spec.duration.as_us();
        if self.arm == Some(Arm::Legacy) {
            self.rung = legacy_rung(&self.hub, self.quality, self.settings.legacy.rung_kbps);
            if !self.batch_fixed {
                self.batch = (self.fixed_profile().params().batch_for(frame_us) as u64).clamp(1, 32);
            }
            return;
        }
        let cfg = self.settings.controller(frame_us);
        if let Ok(c) = Controller::new(cfg, &ladder, self.profile, self.now()) {
            self.rung = Some(c.rung());
            if !self.batch_fixed {
                self.batch = (c.batch() as u64).clamp(1, 32);
            }
            self.abr = Some(c);
        }
    }

    /// The profile of a listener without a controller: the one it follows, or legacy
    /// delivery's, or balanced.
    fn fixed_profile(&self) -> ProfileName {
        match (self.profile, self.arm) {
            (ProfileRequest::Fixed(p), _) => p,
            (ProfileRequest::Auto, Some(Arm::Legacy)) => self.settings.legacy.profile,
            (ProfileRequest::Auto, _) => ProfileRequest::Auto.initial(),
        }
    }

    /// The profile this listener is on now.
    fn current_profile(&self) -> ProfileName {
        self.abr.as_ref().map_or_else(|| self.fixed_profile(), |a| a.profile().name)
    }

    /// The jitter-buffer advice for this listener: its controller's profile, or for a fixed
    /// rung the profile it follows (balanced by default).
    fn jitter_advice(&self) -> JitterAdvice {
        match &self.abr {
            Some(a) => JitterAdvice::for_profile(a.profile(), a.config().jitter_rtts),
            None => JitterAdvice::for_profile(&self.fixed_profile().params(), self.settings.jitter_rtts),
        }
    }

    /// Shows the controller's state in `/debug/connections` and `/stats`.
    pub fn publish_abr(&self) {
        let Some(a) = &self.abr else {
            *self.info.abr.lock() = None;
            return;
        };
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
        *self.info.abr.lock() = Some(state);
    }

    /// Feeds the controller a round trip measured by a ping sent at `sent_us` (session time).
    pub fn handle_pong(&mut self, sent_us: u64) {
        let now = self.now();
        if let Some(a) = self.abr.as_mut() {
            a.handle_rtt(now.saturating_sub(sent_us), now);
        }
    }

    /// Feeds the controller a sample of the connection's TCP state (`TCP_INFO`), which sizes
    /// the client's jitter floor; the advice follows at the next update.
    pub fn handle_tcp_info(&mut self, info: TcpInfo) {
        let now = self.now();
        if let Some(a) = self.abr.as_mut() {
            a.handle_tcp_info(info, now);
        }
    }

    /// Session time, µs (the payload of the round-trip pings).
    pub fn session_time(&self) -> u64 {
        self.now()
    }
    /// Handles a text message from the client; returns the reply, if any (pong, error).
    /// Reports are read in their fixed schema ([`ondes_core::proto::control::Report`]):
    /// nothing else a client sends is kept.
    pub fn client_text(&mut self, text: &str) -> Option<Bytes> {
        let info = self.info.clone();
        let msg = match serde_json::from_str::<FromListener>(text) {
            Ok(m) => m,
            Err(e) => {
                info.errors.fetch_add(1, Ordering::Relaxed);
                let (code, message) = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Err(_) => ("bad_json", format!("not JSON: {e}")),
                    Ok(_) => ("unknown_message", format!("{e}; send report or ping")),
                };
                return Some(self.text(&ToListener::Error(ErrorMessage::new(code, message))));
            }
        };
        match msg {
            FromListener::Report(r) => {
                info.reports_received.fetch_add(1, Ordering::Relaxed);
                let concealed = r.concealed_ms as u64;
                self.metrics.client_report(
                    &self.hub.id,
                    r.underruns.saturating_sub(self.last_underruns),
                    concealed.saturating_sub(self.last_concealed_ms),
                    r.e2e_latency_ms,
                );
                let now = self.now();
                if let Some(abr) = self.abr.as_mut() {
                    abr.handle_report(&r.client_report(), now);
                }
                if let Some(rec) =
                    info.recovery.lock().handle_level(r.buffer_ms, r.target_ms, now_us() as u64)
                {
                    tracing::debug!(stream = %self.hub.id, conn = info.id, ms = rec.duration_ms, "listener delay recovered");
                }
                self.last_underruns = self.last_underruns.max(r.underruns);
                self.last_concealed_ms = self.last_concealed_ms.max(concealed);
                if let Some(arm) = self.arm {
                    let sample = ListenerSample {
                        underruns: self.last_underruns,
                        concealed_ms: self.last_concealed_ms,
                        latency_ms: r.e2e_latency_ms,
                        payload_bytes: info.payload_sent.load(Ordering::Relaxed),
                        bytes: info.bytes_sent.load(Ordering::Relaxed),
                    };
                    if self.hub.delivery_report(info.id, arm, sample).is_some() {
                        self.metrics.delivery_rollbacks.with_label_values(&[&self.hub.id]).inc();
                    }
                }
                *info.client_report.lock() = Some(r);
                None
            }
            FromListener::Ping(p) => Some(self.text(&ToListener::Pong(p.pong(now_us())))),
        }
    }
    /// The reply to a binary message (listeners send only text).
    pub fn unexpected_binary(&self) -> Bytes {
        self.info.errors.fetch_add(1, Ordering::Relaxed);
        self.text(&ToListener::Error(ErrorMessage::new(
            "unexpected_binary",
            "listeners send only JSON text messages (report, ping); publish audio at /publish",
        )))
    }
}
impl WsTransport {
    /// A message as this listener's connection carries it: JSON text, framed when the
    /// writer writes frames (serialising our own types cannot fail).
    fn text(&self, m: &ToListener) -> Bytes {
        let json = serde_json::to_vec(m).unwrap_or_default();
        if self.framed { ws_frame::frame(ws_frame::TEXT, &json) } else { Bytes::from(json) }
    }

    /// Whether messages are whole frames (see [`WsOptions::framed`]).
    pub fn is_framed(&self) -> bool {
        self.framed
    }
}

impl Drop for WsTransport {
    fn drop(&mut self) {
        if self.arm.is_some() {
            self.hub.delivery_forget(self.info.id);
        }
    }
}

impl Framer<Arc<HubFrame>> for WsTransport {
    type Bytes = Bytes;

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        match self.rung {
            Some(i) => HubFrame::opus_bytes(frames, i),
            None => HubFrame::pcm16_bytes(frames, 1),
        }
    }

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let (hub, rung) = (&self.hub, self.rung);
        if let Some(i) = rung {
            self.missing_packets += frames.iter().filter(|f| f.opus_packet(i).is_none()).count() as u64;
        }
        let last = &frames[frames.len() - 1];
        let wire = WsWire { rung, framed: self.framed };
        let (b, made) = last.wire(self.wire.key, frames[0].frame.seq, || wire.make(hub, frames));
        if made {
            hub.stats.serializations.fetch_add(1, Ordering::Relaxed);
        }
        b
    }
}
impl Transport for WsTransport {
    fn hello(&mut self, hub: &StreamHub, connection_id: u64) -> Option<Bytes> {
        let mut rungs = vec!["pcm16".to_string()];
        rungs.extend(hub.ladder.kbps().iter().map(|k| k.to_string()));
        let control = hub.control();
        Some(self.text(&ToListener::Info(ListenerInfo {
            protocol: ondes_core::proto::audio::VERSION,
            stream: hub.id.clone(),
            connection_id: connection_id.to_string(),
            codec: if self.rung.is_some() { Codec::Opus } else { Codec::Pcm16 },
            rung: rung_name(hub, self.rung),
            rungs,
            sample_rate: hub.spec.sample_rate,
            channels: hub.spec.channels,
            frame_ms: hub.spec.duration.as_ms_f64(),
            batch: self.batch as u32,
            paused: control.paused,
            source_lost: control.source_lost,
            adaptive: self.abr.is_some(),
            profile: self.abr.as_ref().map(|a| a.profile().name),
            jitter: Some(self.jitter_advice()),
        })))
    }

    fn batch(&self) -> Option<u64> {
        Some(self.batch)
    }

    /// The budget of the profile the listener is on.
    fn lag_budget_us(&self) -> Option<u64> {
        Some(self.settings.latency_budget_ms.of(self.current_profile()) * 1000)
    }

    /// A skip to live is the controller's business too: audio waited past the budget.
    fn on_skip(&mut self, skipped_frames: u64, _last_sent: Option<&Bytes>) -> SkipAction {
        let now = self.now();
        if let Some(a) = self.abr.as_mut() {
            a.handle_skip(skipped_frames, now);
        }
        SkipAction::Continue
    }
    fn notice(&mut self, _hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes> {
        let m = match notice {
            SessionNotice::Paused => ToListener::Status(Status::Paused),
            SessionNotice::Resumed { .. } => ToListener::Status(Status::Resumed {
                skipped_while_paused: None,
                from_frame: None,
                missed_frames: None,
            }),
            SessionNotice::SourceLost => ToListener::Status(Status::SourceLost),
            SessionNotice::SourceRestored => ToListener::Status(Status::SourceRestored),
            SessionNotice::UtteranceStart { id } => ToListener::Status(Status::UtteranceStart { id: *id }),
            SessionNotice::UtteranceEnd { id, interrupted } => {
                ToListener::Status(Status::UtteranceEnd { id: *id, interrupted: *interrupted })
            }
            SessionNotice::SourceGap { from_frame, missed_frames } => ToListener::Status(Status::Gap {
                from_frame: *from_frame,
                missed_frames: Some(*missed_frames),
                message: crate::egress::SOURCE_GAP_MESSAGE.into(),
            }),
            // `?last_seq=`: the same outcome as an SSE `Last-Event-ID`
            SessionNotice::ResumeOutcome { last_seen, outcome } => {
                ToListener::Status(crate::egress::resume_status(*last_seen, outcome, "last_seq"))
            }
            // the new rung (set_quality) is this listener's answer to a quality change
            SessionNotice::Quality(_) => return None,
            SessionNotice::Lagged { skipped_frames } => {
                ToListener::Status(Status::Lagged { skipped_frames: *skipped_frames, message: None })
            }
            SessionNotice::Ended(message) => {
                ToListener::Error(ErrorMessage::new(ErrorMessage::STREAM_ENDED, message.clone()))
            }
            SessionNotice::ShuttingDown => ToListener::Error(ErrorMessage::new(
                ErrorMessage::SHUTTING_DOWN,
                "the server is shutting down",
            )),
        };
        Some(self.text(&m))
    }

    fn set_delivery(&mut self, hub: &StreamHub, policy: &DeliveryPolicy) -> Option<Bytes> {
        let arm = self.arm.map(|a| Canary::arm_after_mode_change(policy.mode, a));
        let profile = effective_profile(self.own_profile, policy.forced_profile(self.info.id));
        if arm == self.arm && profile == self.profile {
            return None;
        }
        let (code, reason) = if arm != self.arm {
            ("delivery_mode", format!("stream delivery set to {}", policy.mode))
        } else {
            match profile {
                ProfileRequest::Fixed(p) => ("profile_forced", format!("profile {p} forced by the operator")),
                ProfileRequest::Auto => ("profile_released", "forced profile lifted".to_string()),
            }
        };
        let before = self.rung;
        (self.arm, self.profile) = (arm, profile);
        *self.info.delivery_arm.lock() = arm;
        self.build_abr();
        self.rejoin();
        self.publish_abr();
        let direction = match (before, self.rung) {
            (Some(a), Some(b)) if b < a => Some(Direction::Down),
            (Some(a), Some(b)) if b > a => Some(Direction::Up),
            _ => None,
        };
        if let Some(d) = direction {
            let d = if d == Direction::Up { "up" } else { "down" };
            self.metrics.bitrate_switches.with_label_values(&[&hub.id, d]).inc();
        }
        tracing::info!(stream = %hub.id, conn = self.info.id, code, "delivery: {reason}");
        Some(self.text(&ToListener::Rung(RungMessage {
            rung: rung_name(hub, self.rung),
            profile: Some(self.current_profile()),
            batch: Some(self.batch as u32),
            jitter_target_ms: None,
            jitter: Some(self.jitter_advice()),
            direction,
            code: Some(code.to_string()),
            reason,
        })))
    }

    fn set_quality(&mut self, hub: &StreamHub, quality: QualityCap) -> Option<Bytes> {
        if quality == self.quality {
            return None;
        }
        self.quality = quality;
        let rung = if self.abr.is_some() {
            let before = self.rung;
            self.build_abr();
            std::mem::replace(&mut self.rung, before)
        } else {
            effective_rung(hub, self.choice, quality)
        };
        if rung == self.rung {
            self.rejoin();
            return None;
        }
        let direction = match (rung, self.rung) {
            (Some(a), Some(b)) if a < b => "down",
            (None, Some(_)) => "down",
            _ => "up",
        };
        self.metrics.bitrate_switches.with_label_values(&[&hub.id, direction]).inc();
        self.rung = rung;
        self.rejoin();
        Some(self.text(&ToListener::Rung(RungMessage {
            rung: rung_name(hub, rung),
            profile: None,
            batch: None,
            jitter_target_ms: None,
            jitter: None,
            direction: None,
            code: None,
            reason: format!("stream quality set to {quality}"),
        })))
    }
}

/// Feeds the controller what the sending side sees (bytes the socket took, audio waiting)
/// and applies its decision, if one is due.
///
/// The backlog is what the socket has not taken, in whole messages (as the simulation
/// counts it after its writes): everything unwritten in the ring and the egress, less a
/// partly gathered batch, and less one message if the socket had taken everything before
/// (`socket_kept_up`): that one, just framed, is written next, not waiting. Counting it
/// made every window look link-limited, so the rate written — the rung's own — passed for
/// the link's capacity and a listener that had gone down never came back up.
pub fn abr_update(s: &mut ListenerSession<WsTransport>, socket_kept_up: bool) {
    let Some(_) = s.transport.abr else { return };
    let batch = s.egress.batch().max(1);
    let unwritten = s.ring_backlog() + s.egress.waiting_frames();
    let whole = unwritten / batch * batch;
    let waiting = if socket_kept_up { whole.saturating_sub(batch) } else { whole };
    let backlog_us = waiting * u64::from(s.hub.spec.duration.as_us());
    let now = s.transport.now();
    let written = s.transport.written_bytes;
    if let Some(a) = s.transport.abr.as_mut() {
        a.handle_send_state(SendState { written_bytes: written, backlog_us }, now);
    }
    poll_abr(s);
    poll_jitter(s);
}

/// Sends the client a new jitter floor when the TCP sizing moved it (`code: tcp_floor`):
/// a `rung` message with the same rung and the new advice, after the audio gathered so far.
fn poll_jitter(s: &mut ListenerSession<WsTransport>) {
    let now = s.transport.now();
    let Some(a) = s.transport.abr.as_mut() else { return };
    let Some(advice) = a.poll_jitter(now) else { return };
    let reason = a.tcp_floor().describe();
    let (kbps, profile) = (a.kbps(), a.profile().name);
    s.egress.flush(&mut s.transport);
    let t = &mut s.transport;
    tracing::debug!(stream = %t.hub.id, conn = t.info.id, floor_ms = advice.target_ms, "abr: {reason}");
    let msg = t.text(&ToListener::Rung(RungMessage {
        rung: kbps.to_string(),
        profile: Some(profile),
        batch: Some(t.batch as u32),
        jitter_target_ms: Some(advice.target_ms),
        jitter: Some(advice),
        direction: None,
        code: Some("tcp_floor".to_string()),
        reason,
    }));
    t.publish_abr();
    s.egress.push_control(msg, &mut s.transport);
}

/// Applies a controller decision, if one is due: the batch gathered at the old rung goes
/// first, then the `rung` message, then audio at the new rung.
fn poll_abr(s: &mut ListenerSession<WsTransport>) {
    let now = s.transport.now();
    let Some(d) = s.transport.abr.as_mut().and_then(|a| a.poll(now)) else { return };
    s.egress.flush(&mut s.transport);
    let t = &mut s.transport;
    t.rung = Some(d.rung);
    if !t.batch_fixed
        && let Some(a) = &t.abr
    {
        t.batch = (a.batch() as u64).clamp(1, 32);
    }
    t.rejoin();
    let dir = match d.direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    t.metrics.bitrate_switches.with_label_values(&[&t.hub.id, dir]).inc();
    tracing::info!(stream = %t.hub.id, conn = t.info.id, to_kbps = d.kbps,
        reason = d.reason.code(), "abr: {}", d.reason);
    let jitter = match &t.abr {
        Some(a) if d.retargets_jitter() => Some(a.jitter_advice()),
        _ => None,
    };
    let msg = t.text(&ToListener::Rung(RungMessage {
        rung: d.kbps.to_string(),
        profile: Some(d.profile),
        batch: Some(t.batch as u32),
        jitter_target_ms: Some(d.jitter_target_ms),
        jitter,
        direction: Some(d.direction),
        code: Some(d.reason.code().to_string()),
        reason: d.reason.to_string(),
    }));
    t.last_decision = Some(LastDecision::of(&d));
    t.publish_abr();
    s.egress.push_control(msg, &mut s.transport);
    s.sync_batch();
}
