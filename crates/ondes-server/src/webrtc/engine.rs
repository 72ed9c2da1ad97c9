//! The task that owns the WebRTC socket and every session's `Rtc` (see [`super`]).
//!
//! It waits for one of: a datagram, a command from the HTTP side, a stream that has new
//! frames (one small watcher task per stream with WebRTC listeners), or the earliest
//! timeout any `Rtc` asked for. Each is one mutation of one or more `Rtc`s, each followed
//! by a drain. Time is read once per wake-up and passed in.
//!
//! The cost per event does not grow with the number of sessions: the sessions' timeouts
//! are ordered ([`Timers`]), so a wake-up drives only the sessions that are due and the
//! sleep is re-armed only when the earliest deadline moves; a stream's wake-up visits only
//! that stream's listeners; every datagram waiting on the socket is taken in one wake-up.
//! A session whose `Rtc` asks for a timeout that is already due is driven at once
//! ([`Peer::settle`]): a frame's packet leaves in the pass that wrote it. The datagrams of
//! a wake-up are queued and sent together at its end (one `sendmmsg` per [`SEND_BATCH`]
//! datagrams on Linux, one `sendto` each elsewhere).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Input, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::peer::{CONNECT_TIMEOUT, Listener, Net, PayloadCache, Peer, Publisher, Role};
use super::timers::Timers;
use super::{Command, Created, WebRtcError};
use crate::config::WebRtcConfig;
use crate::state::AppState;

/// Datagrams sent with one system call, at most.
const SEND_BATCH: usize = 64;

/// The datagrams of the current wake-up, sent when it is done or when [`SEND_BATCH`] are
/// waiting. Datagrams the socket refused (a full send buffer) are counted, never waited for.
struct SocketNet<'a> {
    socket: &'a UdpSocket,
    queue: &'a mut Vec<(SocketAddr, Vec<u8>)>,
    send_errors: &'a mut u64,
}

impl Net for SocketNet<'_> {
    fn send(&mut self, to: SocketAddr, data: Vec<u8>) {
        self.queue.push((to, data));
        if self.queue.len() >= SEND_BATCH {
            send_all(self.socket, self.queue, self.send_errors);
        }
    }
}

/// Sends the queued datagrams and empties the queue.
#[cfg(target_os = "linux")]
fn send_all(socket: &UdpSocket, queue: &mut Vec<(SocketAddr, Vec<u8>)>, send_errors: &mut u64) {
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};

    let mut rest = &queue[..];
    while !rest.is_empty() {
        let batch = &rest[..rest.len().min(SEND_BATCH)];
        let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> =
            batch.iter().map(|(to, _)| Some(SockaddrStorage::from(*to))).collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), None);
        let sent =
            match sendmmsg(socket.as_raw_fd(), &mut headers, &slices, &addrs, [], MsgFlags::MSG_DONTWAIT) {
                Ok(r) => r.count(),
                Err(_) => 0,
            };
        // the kernel stops at the first datagram it refuses: skip that one, send the rest
        let skip = if sent == 0 {
            *send_errors += 1;
            1
        } else {
            sent
        };
        rest = &rest[skip.min(rest.len())..];
    }
    queue.clear();
}

/// Sends the queued datagrams and empties the queue.
#[cfg(not(target_os = "linux"))]
fn send_all(socket: &UdpSocket, queue: &mut Vec<(SocketAddr, Vec<u8>)>, send_errors: &mut u64) {
    for (to, data) in queue.drain(..) {
        if socket.try_send_to(&data, to).is_err() {
            *send_errors += 1;
        }
    }
}

/// Datagrams taken from the socket in one wake-up, at most (then the other events get a turn).
const RECV_BATCH: usize = 64;

/// A watcher of one stream's frames and control state for its WebRTC listeners.
struct StreamWatch {
    /// The sessions of the stream's WebRTC listeners.
    listeners: Vec<u64>,
    task: JoinHandle<()>,
}

pub struct Engine {
    socket: UdpSocket,
    candidates: Vec<SocketAddr>,
    rx: mpsc::Receiver<Command>,
    cfg: WebRtcConfig,
    peers: HashMap<u64, Peer>,
    /// Every session's next timeout.
    timers: Timers,
    /// Scratch: the sessions due in this wake-up.
    due: Vec<u64>,
    by_addr: HashMap<SocketAddr, u64>,
    by_id: HashMap<String, u64>,
    streams: HashMap<String, StreamWatch>,
    wake_tx: mpsc::Sender<String>,
    wake_rx: mpsc::Receiver<String>,
    next_key: u64,
    cache: PayloadCache,
    /// Datagrams not sent yet (see [`SocketNet`]).
    queue: Vec<(SocketAddr, Vec<u8>)>,
    send_errors: u64,
    crypto: Arc<str0m::config::CryptoProvider>,
}

impl Engine {
    pub(super) fn new(
        socket: UdpSocket,
        candidates: Vec<SocketAddr>,
        rx: mpsc::Receiver<Command>,
        cfg: WebRtcConfig,
    ) -> Self {
        let (wake_tx, wake_rx) = mpsc::channel(1024);
        Engine {
            socket,
            candidates,
            rx,
            cfg,
            peers: HashMap::new(),
            timers: Timers::default(),
            due: Vec::new(),
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            streams: HashMap::new(),
            wake_tx,
            wake_rx,
            next_key: 0,
            cache: PayloadCache::default(),
            queue: Vec::with_capacity(SEND_BATCH),
            send_errors: 0,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
        }
    }

    /// Runs until the server shuts down.
    pub async fn run(mut self, app: Arc<AppState>) {
        let mut shutdown = app.shutdown.clone();
        let mut buf = vec![0u8; 2048];
        let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
        // one timer, moved only when the earliest deadline changes
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let next = self.timers.next();
            if next != armed {
                if let Some(d) = next {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = next;
            }
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        self.datagram(&buf[..n], from, &app);
                        self.more_datagrams(&mut buf, &app);
                    }
                    Err(e) => tracing::debug!(error = %e, "webrtc socket receive failed"),
                },
                Some(c) = self.rx.recv() => self.command(c, &app),
                Some(stream) = self.wake_rx.recv() => self.stream_wake(&stream, &app),
                _ = &mut sleep, if armed.is_some() => {
                    // re-armed at the next turn, whatever the next deadline is
                    armed = None;
                    self.timeouts(&app);
                }
                _ = housekeeping.tick() => self.housekeeping(&app),
                _ = shutdown.changed() => {
                    // sessions see the shutdown flag and send their last notice
                    let ids: Vec<String> = self.streams.keys().cloned().collect();
                    for s in ids {
                        self.stream_wake(&s, &app);
                    }
                    let keys: Vec<u64> = self.peers.keys().copied().collect();
                    for k in keys {
                        self.remove(k);
                    }
                    self.flush();
                    return;
                }
            }
            self.flush();
            self.reap();
        }
    }

    fn net(&mut self) -> (SocketNet<'_>, &mut HashMap<u64, Peer>) {
        (
            SocketNet { socket: &self.socket, queue: &mut self.queue, send_errors: &mut self.send_errors },
            &mut self.peers,
        )
    }

    /// Sends the datagrams of this wake-up.
    fn flush(&mut self) {
        if !self.queue.is_empty() {
            send_all(&self.socket, &mut self.queue, &mut self.send_errors);
        }
    }

    /// The local candidate a datagram from `from` reached (the socket may be bound to every
    /// interface): loopback for a loopback source, else the first other address.
    fn destination(&self, from: SocketAddr) -> SocketAddr {
        let loopback = from.ip().is_loopback();
        self.candidates
            .iter()
            .find(|c| c.ip().is_loopback() == loopback && c.is_ipv4() == from.is_ipv4())
            .or(self.candidates.first())
            .copied()
            .unwrap_or(from)
    }

    /// Takes the datagrams already waiting on the socket (up to [`RECV_BATCH`]).
    fn more_datagrams(&mut self, buf: &mut [u8], app: &AppState) {
        for _ in 1..RECV_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from, app),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "webrtc socket receive failed");
                    return;
                }
            }
        }
    }

    /// Arms session `key`'s timer for what its `Rtc` asked last.
    fn rearm(&mut self, key: u64) {
        if let Some(p) = self.peers.get(&key) {
            self.timers.set(key, p.next_timeout);
        }
    }

    fn datagram(&mut self, data: &[u8], from: SocketAddr, app: &AppState) {
        let Ok(contents) = data.try_into() else { return };
        let now = Instant::now();
        let input = Input::Receive(
            now,
            Receive { proto: Protocol::Udp, source: from, destination: self.destination(from), contents },
        );
        let key = match self.by_addr.get(&from) {
            Some(k) => *k,
            None => {
                // a new address: the peer whose ICE credentials the STUN request names
                let Some(k) = self.peers.iter().find(|(_, p)| p.rtc.accepts(&input)).map(|(k, _)| *k) else {
                    return;
                };
                self.by_addr.insert(from, k);
                k
            }
        };
        let (mut net, peers) = self.net();
        let Some(peer) = peers.get_mut(&key) else { return };
        if peer.rtc.handle_input(input).is_err() {
            peer.closed = true;
            return;
        }
        peer.drain(&mut net, app);
        peer.settle(&mut net, app, now);
        self.rearm(key);
    }

    /// Drives the sessions whose timeout is due, and only those.
    fn timeouts(&mut self, app: &AppState) {
        let now = Instant::now();
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut due);
        for &k in &due {
            let (mut net, peers) = self.net();
            let Some(p) = peers.get_mut(&k) else { continue };
            if p.rtc.handle_input(Input::Timeout(now)).is_err() {
                p.closed = true;
                continue;
            }
            p.drain(&mut net, app);
            p.settle(&mut net, app, now);
            self.rearm(k);
        }
        due.clear();
        self.due = due;
    }

    /// Brings every listener of `stream` up to date (new frames, control changes).
    fn stream_wake(&mut self, stream: &str, app: &AppState) {
        self.cache.clear();
        let Some(w) = self.streams.get(stream) else { return };
        let mut keys = std::mem::take(&mut self.due);
        keys.extend_from_slice(&w.listeners);
        for &k in &keys {
            let (mut net, peers) = (
                SocketNet {
                    socket: &self.socket,
                    queue: &mut self.queue,
                    send_errors: &mut self.send_errors,
                },
                &mut self.peers,
            );
            if let Some(p) = peers.get_mut(&k) {
                p.update_listener(&mut net, app, &mut self.cache);
                p.settle(&mut net, app, Instant::now());
                self.rearm(k);
            }
        }
        keys.clear();
        self.due = keys;
    }

    fn housekeeping(&mut self, app: &AppState) {
        let now = Instant::now();
        for p in self.peers.values_mut() {
            if !p.connected && now.duration_since(p.created) > CONNECT_TIMEOUT {
                tracing::info!(session = %p.id, stream = %p.stream, "webrtc peer never connected; dropped");
                p.closed = true;
            }
            if !p.rtc.is_alive() {
                p.closed = true;
            }
        }
        // a listener whose stream is paused gets no frame wake-ups: keep its session current
        let ids: Vec<String> = self.streams.keys().cloned().collect();
        for s in ids {
            self.stream_wake(&s, app);
        }
        if self.send_errors > 0 {
            tracing::warn!(
                datagrams = self.send_errors,
                "webrtc socket refused datagrams in the last second"
            );
            self.send_errors = 0;
        }
    }

    /// Removes closed sessions.
    fn reap(&mut self) {
        let closed: Vec<u64> = self.peers.iter().filter(|(_, p)| p.closed).map(|(k, _)| *k).collect();
        for k in closed {
            self.remove(k);
        }
    }

    fn remove(&mut self, key: u64) {
        let Some(mut p) = self.peers.remove(&key) else { return };
        self.timers.remove(key);
        self.by_id.remove(&p.id);
        self.by_addr.retain(|_, k| *k != key);
        p.rtc.disconnect();
        match &mut p.role {
            Role::Publisher(pb) => {
                pb.finish();
                tracing::info!(stream = %p.stream, session = %p.id, stats = ?pb.receiver.stats, "WHIP publisher left");
            }
            Role::Listener(_) => {
                if let Some(w) = self.streams.get_mut(&p.stream) {
                    w.listeners.retain(|k| *k != key);
                    if w.listeners.is_empty() {
                        w.task.abort();
                        self.streams.remove(&p.stream);
                    }
                }
            }
        }
    }

    fn command(&mut self, c: Command, app: &AppState) {
        match c {
            Command::Listen { offer, offered, admission, transport, reply } => {
                let stream = admission.hub.id.clone();
                let hub = admission.hub.clone();
                // the configured RED levels, to a listener whose offer has RED
                let red: Vec<u32> = match self.cfg.red_levels() {
                    Some(levels) if offered.red => levels.to_vec(),
                    _ => Vec::new(),
                };
                // an adaptive listener's rung follows the bandwidth estimate: probe up to
                // what the top rung needs
                let bwe = transport.is_adaptive().then(|| {
                    let top = hub.ladder.kbps().last().copied().unwrap_or(64);
                    super::bwe::desired_bitrate(top, hub.spec.duration.as_us(), red.len())
                });
                let r = self.create(
                    &offer,
                    &stream,
                    &red,
                    bwe,
                    app,
                    Role::Listener(Box::new(Listener::new(admission, transport, red.len()))),
                );
                let r = r.map(|(key, created)| {
                    self.watch(&hub, key);
                    created
                });
                let _ = reply.send(r);
            }
            Command::Publish { offer, offered, hub, session, reply } => {
                let stream = hub.id.clone();
                // RED accepted from a publisher whose offer has it: str0m rebuilds lost packets
                // from the redundancy (the levels are the publisher's; ours only send)
                let red: Vec<u32> = match self.cfg.red_levels() {
                    Some(levels) if offered.red => levels.to_vec(),
                    _ => Vec::new(),
                };
                let r = match Publisher::new(hub, session) {
                    Ok(p) => self
                        .create(&offer, &stream, &red, None, app, Role::Publisher(Box::new(p)))
                        .map(|(_, created)| created),
                    Err(e) => Err(WebRtcError::Negotiation(format!("cannot create an Opus decoder: {e}"))),
                };
                let _ = reply.send(r);
            }
            Command::Delete { stream, session_id, reply } => {
                let r = match self.by_id.get(&session_id) {
                    Some(k) if self.peers.get(k).is_some_and(|p| p.stream == stream) => {
                        self.remove(*k);
                        Ok(())
                    }
                    _ => Err(WebRtcError::UnknownSession(session_id)),
                };
                let _ = reply.send(r);
            }
        }
    }

    /// A new session answering `offer`, and its key; `red`: the RED levels sent (`[]`: no
    /// RED); `bwe`: estimate the bandwidth, probing up to it.
    fn create(
        &mut self,
        offer: &str,
        stream: &str,
        red: &[u32],
        bwe: Option<Bitrate>,
        app: &AppState,
        role: Role,
    ) -> Result<(u64, Created), WebRtcError> {
        if self.peers.len() >= self.cfg.max_sessions {
            return Err(WebRtcError::Full(self.cfg.max_sessions));
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::BadSdp(e.to_string()))?;
        let now = Instant::now();
        // a listener at a fixed rung needs no bandwidth estimate: without transport-wide
        // sequence numbers (and the codec's `transport-cc` feedback) its peer sends no
        // transport-wide feedback to process
        let fixed_rung = bwe.is_none() && matches!(role, Role::Listener(_));
        let mut exts = ExtensionMap::standard();
        if fixed_rung {
            exts = without_transport_cc(&exts);
        }
        let mut config = Rtc::builder()
            .set_crypto_provider(self.crypto.clone())
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, !red.is_empty())
            .set_red_distances(red)
            .set_extension_map(exts)
            // each packet carries its frame's capture time, for the listener's latency
            .set_extension(super::ABS_CAPTURE_TIME_ID, Extension::AbsoluteCaptureTime);
        if fixed_rung {
            for params in config.codec_config().iter_mut() {
                params.set_fb_transport_cc(false);
            }
        }
        let mut rtc = config.enable_bwe(bwe).set_stats_interval(Some(Duration::from_secs(1))).build(now);
        if let Some(desired) = bwe {
            rtc.bwe().set_desired_bitrate(desired);
        }
        for c in &self.candidates {
            match Candidate::host(*c, "udp") {
                Ok(c) => {
                    rtc.add_local_candidate(c);
                }
                Err(e) => tracing::warn!(addr = %c, error = %e, "unusable webrtc host candidate"),
            }
        }
        let answer =
            rtc.sdp_api().accept_offer(offer).map_err(|e| WebRtcError::Negotiation(e.to_string()))?;
        let id = session_id();
        let key = self.next_key;
        self.next_key += 1;
        let mut peer = Peer {
            id: id.clone(),
            stream: stream.to_string(),
            rtc,
            created: now,
            connected: false,
            next_timeout: now,
            role,
            closed: false,
        };
        let (mut net, _) = self.net();
        peer.drain(&mut net, app);
        let answer = answer.to_sdp_string();
        // str0m names the media (MediaAdded) only once connected: check the answer itself
        if super::sdp::check_offer(&answer).is_err() {
            return Err(WebRtcError::Negotiation("the answer would carry no Opus audio".into()));
        }
        self.by_id.insert(id.clone(), key);
        self.peers.insert(key, peer);
        self.rearm(key);
        Ok((key, Created { session_id: id, answer }))
    }

    /// Makes sure stream `hub` wakes the engine when it has frames or its control changes,
    /// for its new listener `key`.
    fn watch(&mut self, hub: &Arc<crate::hub::StreamHub>, key: u64) {
        if let Some(w) = self.streams.get_mut(&hub.id) {
            w.listeners.push(key);
            return;
        }
        let id = hub.id.clone();
        let (hub, tx) = (hub.clone(), self.wake_tx.clone());
        let task = tokio::spawn(async move {
            let mut frames = hub.group_watch(1);
            let mut control = hub.watch_control();
            loop {
                tokio::select! {
                    r = frames.changed() => if r.is_err() { break },
                    r = control.changed() => if r.is_err() { break },
                }
                // a full queue already holds a wake-up for this stream or others: the engine
                // updates every listener of a stream per wake-up
                let _ = tx.try_send(hub.id.clone());
            }
            let _ = tx.send(hub.id.clone()).await;
        });
        self.streams.insert(id, StreamWatch { listeners: vec![key], task });
    }
}

/// `exts` without the transport-wide sequence number (transport-wide congestion control).
fn without_transport_cc(exts: &ExtensionMap) -> ExtensionMap {
    let mut out = ExtensionMap::empty();
    for (id, e) in exts.iter().filter(|(_, e)| **e != Extension::TransportSequenceNumber) {
        out.set(id, e.clone());
    }
    out
}

/// A session id for the `Location` URL: 128 random bits in hex.
fn session_id() -> String {
    let v: u128 = rand::rng().random();
    format!("{v:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_rung_listeners_extensions_leave_out_only_transport_cc() {
        let all = ExtensionMap::standard();
        assert!(all.id_of(Extension::TransportSequenceNumber).is_some());
        let fixed = without_transport_cc(&all);
        assert_eq!(fixed.id_of(Extension::TransportSequenceNumber), None);
        let others: Vec<_> =
            all.iter().filter(|(_, e)| **e != Extension::TransportSequenceNumber).map(|(id, _)| id).collect();
        assert!(!others.is_empty());
        assert_eq!(fixed.iter().map(|(id, _)| id).collect::<Vec<_>>(), others, "the rest keep their ids");
    }
}
