//! One WebRTC session: its `Rtc`, and what it is for — a WHEP listener or a WHIP publisher.
//!
//! Every mutation of an `Rtc` (input, a media write, a data channel write) is followed by
//! [`Peer::drain`], which polls it until it asks for a timeout: datagrams go to the socket,
//! events update the session (str0m's contract).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ondes_core::egress::MessageKind;
use str0m::bwe::BweKind;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::rtp::AbsCaptureTime;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::bwe::ListenerBwe;
use super::receive::OpusReceiver;
use crate::connections::RtcSnapshot;
use crate::egress::whep::WhepTransport;
use crate::egress::{ListenerSession, Start};
use crate::http::admission::Admission;
use crate::hub::StreamHub;
use crate::ingest::{PublishSession, QueuedFrame};
use crate::state::AppState;

/// How long a peer may take from answer to connected before it is dropped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// At most this many `Input::Timeout`s in a row at one instant ([`Peer::settle`]): a media
/// write takes two (the packet goes out on the first, str0m's pacer asks for the second).
const SETTLE_ROUNDS: usize = 4;

/// A WHEP listener: the session starts when the peer is connected (so it starts at live).
pub struct Listener {
    pub pending: Option<(Admission, WhepTransport)>,
    pub session: Option<ListenerSession<WhepTransport>>,
    mid: Option<Mid>,
    pt: Option<Pt>,
    channel: Option<ChannelId>,
    /// 48 kHz RTP ticks per stream frame.
    frame_ticks: u64,
    /// Notices dropped because the peer has no data channel.
    pub dropped_notices: u64,
    /// Frames whose packet str0m refused (e.g. before the media was ready).
    pub write_errors: u64,
    /// A `rung=auto` listener's controller, fed with the bandwidth estimate.
    bwe: Option<ListenerBwe>,
    /// RED levels sent to this listener (0: no RED): each packet carries that many earlier
    /// payloads too, which the estimate has to pay for.
    red_levels: usize,
    /// The latest `rung` message, held until the data channel opens (the estimate may
    /// move the rung while SCTP is still connecting).
    rung_notice: Option<Bytes>,
}

/// A WHIP publisher feeding its stream's playout queue.
pub struct Publisher {
    pub session: PublishSession,
    pub receiver: OpusReceiver,
    next_seq: u64,
    /// The receiver's counters already added to the publisher's.
    reported: super::receive::ReceiveStats,
    /// Frames refused by a full playout queue (a publisher sending faster than real time).
    pub overflow_frames: u64,
}

pub enum Role {
    Listener(Box<Listener>),
    Publisher(Box<Publisher>),
}

pub struct Peer {
    pub id: String,
    pub stream: String,
    pub rtc: Rtc,
    pub created: Instant,
    pub connected: bool,
    /// When the `Rtc` wants `Input::Timeout` next.
    pub next_timeout: Instant,
    pub role: Role,
    /// Set when the session is over (ICE gone, stream ended, DELETE): removed by the engine.
    pub closed: bool,
}

impl Listener {
    pub fn new(admission: Admission, transport: WhepTransport, red_levels: usize) -> Self {
        let frame_ticks = u64::from(admission.hub.spec.duration.as_us()) * 48 / 1000;
        Listener {
            pending: Some((admission, transport)),
            session: None,
            mid: None,
            pt: None,
            channel: None,
            frame_ticks,
            dropped_notices: 0,
            write_errors: 0,
            bwe: None,
            red_levels,
            rung_notice: None,
        }
    }
}

impl Publisher {
    pub fn new(hub: Arc<StreamHub>, session: PublishSession) -> Result<Self, ondes_codec::CodecError> {
        // a 60 ms reorder window at 20 ms packets
        let receiver = OpusReceiver::new(hub.spec, 3)?;
        Ok(Publisher { session, receiver, next_seq: 0, reported: Default::default(), overflow_frames: 0 })
    }

    /// Adds what the receiver concealed and failed to decode since last time to the
    /// publisher's counters (`/stats`).
    fn report(&mut self) {
        let (s, r) = (self.receiver.stats, self.reported);
        let p = &self.session.publisher;
        p.concealed_frames.fetch_add(s.concealed_packets - r.concealed_packets, Ordering::Relaxed);
        p.fec_recovered.fetch_add(s.fec_recovered - r.fec_recovered, Ordering::Relaxed);
        p.red_recovered.fetch_add(s.red_recovered - r.red_recovered, Ordering::Relaxed);
        p.decode_errors.fetch_add(s.decode_errors - r.decode_errors, Ordering::Relaxed);
        self.reported = s;
    }

    fn offer_frames(&mut self, frames: Vec<(Vec<f32>, crate::hub::SourceOpus)>) {
        self.report();
        for (pcm, opus) in frames {
            let seq = self.next_seq;
            self.next_seq += 1;
            match self.session.publisher.offer(seq, QueuedFrame { pcm, opus }) {
                ondes_core::playout::Push::Accepted => {}
                _ => self.overflow_frames += 1,
            }
        }
    }

    /// Plays out what the reorder window still holds (the publisher left).
    pub fn finish(&mut self) {
        let mut out = Vec::new();
        self.receiver.flush(&mut out);
        self.offer_frames(out);
    }
}

/// Whether str0m rebuilt this media data from a later packet's RED redundancy. str0m does
/// not flag it, but a redundant block has no RTP header extensions of its own, so the
/// rebuilt packet has none, while every packet a WebRTC stack sends on a session carries
/// some (str0m and `ondes send`: `mid` and `abs-capture-time`; browsers: `mid`, audio level,
/// transport-wide sequence numbers). The client's WHEP receiver tells them apart the same way.
fn rebuilt_from_red(d: &str0m::media::MediaData) -> bool {
    d.params.red().is_some() && d.ext_vals == str0m::rtp::ExtensionValues::default()
}

/// Shared Opus payloads of the current wake-up: every listener of a (stream, rung) gets the
/// hub's same `Bytes`; str0m takes an `Arc<[u8]>`, made once per packet and shared.
#[derive(Default)]
pub struct PayloadCache {
    map: HashMap<(usize, usize), Arc<[u8]>>,
}

impl PayloadCache {
    pub fn get(&mut self, b: &Bytes) -> Arc<[u8]> {
        self.map.entry((b.as_ptr() as usize, b.len())).or_insert_with(|| Arc::from(&b[..])).clone()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// Where datagrams go: the engine's socket.
pub trait Net {
    fn send(&mut self, to: SocketAddr, data: Vec<u8>);
}

impl Peer {
    /// Polls the `Rtc` until it wants a timeout, sending datagrams and handling events.
    pub fn drain(&mut self, net: &mut impl Net, app: &AppState) {
        loop {
            let out = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(session = %self.id, error = %e, "webrtc session failed");
                    self.closed = true;
                    return;
                }
            };
            match out {
                Output::Timeout(t) => {
                    self.next_timeout = t;
                    return;
                }
                Output::Transmit(t) => net.send(t.destination, t.contents.into()),
                Output::Event(e) => self.event(e, app),
            }
        }
    }

    /// Drives the `Rtc` while the timeout it asked for is already due at `now`: str0m
    /// packetises a written frame on the next `Input::Timeout` (and asks for one at once),
    /// so the packet leaves in the pass that wrote it instead of on another wake-up. Then
    /// [`Peer::next_timeout`] is in the future (or the rounds ran out: the engine's timers
    /// drive it next).
    pub fn settle(&mut self, net: &mut impl Net, app: &AppState, now: Instant) {
        for _ in 0..SETTLE_ROUNDS {
            if self.closed || self.next_timeout > now {
                return;
            }
            if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.closed = true;
                return;
            }
            self.drain(net, app);
        }
    }

    fn event(&mut self, e: Event, app: &AppState) {
        match e {
            Event::Connected => {
                self.connected = true;
                if let Role::Listener(l) = &mut self.role
                    && let Some((admission, transport)) = l.pending.take()
                {
                    let Admission { hub, guard } = admission;
                    if transport.is_adaptive() {
                        let frame_us = hub.spec.duration.as_us();
                        let cfg = app.config.abr.controller(frame_us);
                        l.bwe =
                            ListenerBwe::new(cfg, &hub.ladder.kbps(), transport.rung, frame_us, l.red_levels);
                    }
                    l.session = Some(ListenerSession::new(app, hub, guard, transport, 1, Start::Live));
                }
                tracing::debug!(session = %self.id, stream = %self.stream, "webrtc session connected");
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.closed = true,
            Event::MediaAdded(m) if m.kind == MediaKind::Audio => {
                if let Role::Listener(l) = &mut self.role
                    && l.mid.is_none()
                {
                    l.mid = Some(m.mid);
                    l.pt = self.rtc.writer(m.mid).and_then(|w| {
                        w.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt())
                    });
                }
            }
            Event::ChannelOpen(id, _) => {
                if let Role::Listener(l) = &mut self.role {
                    l.channel = Some(id);
                    if let (Some(msg), Some(mut c)) = (l.rung_notice.take(), self.rtc.channel(id)) {
                        let _ = c.write(false, &msg);
                    }
                }
            }
            Event::MediaData(d) => {
                if let Role::Publisher(p) = &mut self.role {
                    let ts = d.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
                    let from_red = rebuilt_from_red(&d);
                    let mut out = Vec::new();
                    p.receiver.push(ts, Bytes::from_owner(d.data), from_red, &mut out);
                    p.offer_frames(out);
                }
            }
            Event::MediaEgressStats(s) => {
                if let Role::Listener(l) = &mut self.role
                    && let Some(sess) = &l.session
                {
                    let mut w = sess.guard.info.webrtc.lock();
                    let snap = w.get_or_insert_with(RtcSnapshot::default);
                    snap.packets_sent = s.packets;
                    snap.nacks = s.nacks;
                    snap.rtt_ms = s.rtt.map(|d| d.as_secs_f64() * 1000.0).or(snap.rtt_ms);
                    snap.loss = s.loss.or(snap.loss);
                    if let Some(r) = s.remote {
                        snap.packets_lost = r.packets_lost;
                        snap.jitter_ms = f64::from(r.jitter) / 48.0;
                    }
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                let now_us = self.since_created_us();
                if let Role::Listener(l) = &mut self.role
                    && let Some(b) = &mut l.bwe
                {
                    b.estimate(estimate, now_us);
                }
            }
            Event::PeerStats(s) => {
                if let Role::Listener(l) = &mut self.role
                    && let Some(sess) = &l.session
                    && let Some(snap) = sess.guard.info.webrtc.lock().as_mut()
                {
                    snap.bwe_kbps = s.bwe_tx.map(|b| (b.as_f64() / 1000.0).round() as u64);
                }
            }
            _ => {}
        }
    }

    /// µs since the session was created: the adaptation controller's clock.
    fn since_created_us(&self) -> u64 {
        Instant::now().saturating_duration_since(self.created).as_micros() as u64
    }

    /// Applies the controller's decision, if one is due: the new rung, and the `rung`
    /// message on the data channel.
    fn adapt(&mut self, net: &mut impl Net, app: &AppState) {
        let now_us = self.since_created_us();
        let Role::Listener(l) = &mut self.role else { return };
        let (Some(b), Some(s)) = (l.bwe.as_mut(), l.session.as_mut()) else { return };
        let Some(d) = b.poll(now_us) else { return };
        tracing::info!(stream = %self.stream, session = %self.id, to_kbps = d.kbps,
            estimate_bps = ?b.last_estimate_bps, reason = d.reason.code(), "webrtc abr: {}", d.reason);
        let Some(msg) = s.transport.switch_to(d.rung, d.reason.code(), &d.reason.to_string()) else { return };
        match l.channel.and_then(|id| self.rtc.channel(id)) {
            Some(mut c) => {
                let _ = c.write(false, &msg);
            }
            // the channel is not open yet (or the offer has none): the latest rung waits
            None => l.rung_notice = Some(msg),
        }
        self.drain(net, app);
    }

    /// Brings a connected listener up to date with the hub and writes what is due.
    pub fn update_listener(&mut self, net: &mut impl Net, app: &AppState, cache: &mut PayloadCache) {
        match &mut self.role {
            Role::Listener(l) => match l.session.as_mut() {
                Some(s) => s.update(),
                None => return,
            },
            Role::Publisher(_) => return,
        }
        self.adapt(net, app);
        let now = Instant::now();
        let now_us = crate::clock::now_us();
        loop {
            let Role::Listener(l) = &mut self.role else { return };
            let Some(s) = l.session.as_mut() else { return };
            let Some(m) = s.next_message() else {
                if s.is_finished() {
                    self.closed = true;
                }
                return;
            };
            match m.kind {
                MessageKind::Audio { first_seq, capture_us, .. } => {
                    let (Some(mid), Some(pt)) = (l.mid, l.pt) else {
                        l.write_errors += 1;
                        continue;
                    };
                    if m.bytes.is_empty() {
                        continue;
                    }
                    let age = Duration::from_micros((now_us - capture_us).max(0) as u64);
                    let wallclock = now.checked_sub(age).unwrap_or(now);
                    let rtp = MediaTime::new(first_seq * l.frame_ticks, Frequency::FORTY_EIGHT_KHZ);
                    let data = cache.get(&m.bytes);
                    let capture = AbsCaptureTime {
                        capture_time: std::time::UNIX_EPOCH + Duration::from_micros(capture_us.max(0) as u64),
                        clock_offset: None,
                    };
                    let ok = match self.rtc.writer(mid) {
                        Some(w) => w.abs_capture_time(capture).write(pt, wallclock, rtp, data).is_ok(),
                        None => false,
                    };
                    if !ok {
                        l.write_errors += 1;
                    }
                }
                MessageKind::Control => match l.channel {
                    Some(id) => {
                        if let Some(mut c) = self.rtc.channel(id) {
                            let _ = c.write(false, &m.bytes);
                        }
                    }
                    None => {
                        l.dropped_notices += 1;
                        continue;
                    }
                },
            }
            // str0m's contract: drain after every mutation
            self.drain(net, app);
        }
    }
}
