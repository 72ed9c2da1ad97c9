//! WebRTC: WHEP listeners and WHIP publishers, on str0m (sans-IO, pure-Rust crypto).
//!
//! One task ([`engine`]) owns the UDP socket — every session shares one port,
//! `webrtc.udp_port` — and every session's `str0m::Rtc`; it drives them with explicit time
//! (`handle_input` / `poll_output`), routes datagrams by source address (learned from each
//! peer's first STUN binding request), and writes audio when the hub has frames. The server
//! is ICE-lite: it answers connectivity checks on its host candidates (`webrtc.ips`) and
//! never probes.
//!
//! - A WHEP listener runs the same [`crate::egress::ListenerSession`] as every other
//!   transport, with [`crate::egress::whep::WhepTransport`] framing: one Opus packet of the
//!   hub per RTP packet (the hub's shared bytes); str0m adds the RTP header, RED when
//!   negotiated, SRTP. Notices go on the peer's data channel, if it opened one.
//! - A `rung=auto` WHEP listener's rung follows str0m's bandwidth estimate (transport-wide
//!   congestion control, probing with padding) through the adaptation controller ([`bwe`]).
//! - A WHIP publisher's Opus goes through a reorder window, PLC and in-band FEC
//!   ([`receive`]) into the stream's playout queue, like every other publisher's audio. When
//!   its offer has RED (and `webrtc.red` is on) the answer accepts it: str0m rebuilds a lost
//!   packet from a later packet's redundancy, and the rebuilt packet is a real one (decoded,
//!   passed through). A packet that is one stream frame at the stream's channel count goes to
//!   the rung nearest the publisher's bitrate unchanged (Opus passthrough, [`crate::hub::passthrough`]).
//!
//! The HTTP side (offer/answer, `Location`, errors) is in `crate::api::whep` and
//! `crate::api::whip`; this module has no HTTP types.

mod bwe;
pub mod engine;
mod peer;
pub mod receive;
pub mod sdp;
mod timers;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::config::WebRtcConfig;
use crate::egress::whep::WhepTransport;
use crate::http::admission::Admission;
use crate::hub::StreamHub;
use crate::ingest::PublishSession;

pub use sdp::AudioOffer;

/// The RTP header extension id offered for `abs-capture-time` (RFC-less WebRTC extension:
/// the frame's capture time in NTP format), free in str0m's standard map. The offer's id
/// wins when a peer offers the extension under another one.
pub const ABS_CAPTURE_TIME_ID: u8 = 5;

/// Why an offer or a request about a session was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebRtcError {
    #[error("the body is not an SDP offer: {0}")]
    BadSdp(String),
    #[error(
        "the offer has no audio m-line: add an audio transceiver (recvonly to listen, sendonly to publish)"
    )]
    NoAudio,
    #[error("the offer's audio has no Opus (opus/48000/2); ondes speaks Opus only")]
    NoOpus,
    #[error(
        "stream '{0}' has no Opus rung (its sample rate cannot be coded in Opus): listen over WebSocket or SSE"
    )]
    NoOpusRung(String),
    #[error("too many WebRTC sessions ({0}); try again later")]
    Full(usize),
    #[error("no WebRTC session '{0}' on this stream (it ended, or was never created)")]
    UnknownSession(String),
    #[error("cannot answer the offer: {0}")]
    Negotiation(String),
    #[error("the WebRTC engine is not running")]
    Stopped,
}

/// A created session: the SDP answer and the id in its `Location`.
#[derive(Debug, Clone)]
pub struct Created {
    pub session_id: String,
    pub answer: String,
}

/// What the HTTP side asks the engine.
pub(crate) enum Command {
    Listen {
        offer: String,
        offered: AudioOffer,
        admission: Admission,
        transport: WhepTransport,
        reply: oneshot::Sender<Result<Created, WebRtcError>>,
    },
    Publish {
        offer: String,
        offered: AudioOffer,
        hub: Arc<StreamHub>,
        session: PublishSession,
        reply: oneshot::Sender<Result<Created, WebRtcError>>,
    },
    Delete {
        stream: String,
        session_id: String,
        reply: oneshot::Sender<Result<(), WebRtcError>>,
    },
}

/// The handle the HTTP side holds: sends offers and deletions to the engine.
pub struct WebRtc {
    cmd: mpsc::Sender<Command>,
    /// The host candidates advertised (IP and the bound UDP port).
    pub candidates: Vec<SocketAddr>,
}

impl WebRtc {
    /// Answers a WHEP offer (checked with [`sdp::check_offer`]) for an admitted listener.
    pub async fn listen(
        &self,
        offer: String,
        offered: AudioOffer,
        admission: Admission,
        transport: WhepTransport,
    ) -> Result<Created, WebRtcError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Listen { offer, offered, admission, transport, reply }).await?;
        rx.await.map_err(|_| WebRtcError::Stopped)?
    }

    /// Answers a WHIP offer (checked with [`sdp::check_offer`]) for a publisher holding the
    /// stream's publisher slot; RED is accepted when the offer has it and `webrtc.red` is on.
    pub async fn publish(
        &self,
        offer: String,
        offered: AudioOffer,
        hub: Arc<StreamHub>,
        session: PublishSession,
    ) -> Result<Created, WebRtcError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { offer, offered, hub, session, reply }).await?;
        rx.await.map_err(|_| WebRtcError::Stopped)?
    }

    /// Ends session `session_id` of stream `stream`.
    pub async fn delete(&self, stream: &str, session_id: &str) -> Result<(), WebRtcError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Delete { stream: stream.into(), session_id: session_id.into(), reply }).await?;
        rx.await.map_err(|_| WebRtcError::Stopped)?
    }

    async fn send(&self, c: Command) -> Result<(), WebRtcError> {
        self.cmd.send(c).await.map_err(|_| WebRtcError::Stopped)
    }
}

/// The addresses to advertise: the configured ones, or loopback plus the address this
/// machine would use to reach the internet (found with an unconnected UDP `connect`, which
/// sends nothing).
pub fn host_ips(cfg: &WebRtcConfig) -> Vec<IpAddr> {
    if !cfg.ips.is_empty() {
        // validated when the config was loaded
        return cfg.ips.iter().filter_map(|s| s.parse().ok()).collect();
    }
    let mut v = vec![IpAddr::from([127, 0, 0, 1])];
    if let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0")
        && s.connect("192.0.2.1:9").is_ok()
        && let Ok(a) = s.local_addr()
        && !a.ip().is_unspecified()
        && !a.ip().is_loopback()
    {
        v.push(a.ip());
    }
    v
}

/// What the WebRTC socket asks of the kernel for each direction, bytes. Every session shares
/// the one socket: at a few thousand sessions, the connectivity checks and receiver reports
/// that arrive while the engine is busy — and the packets of a frame sent to every listener
/// at once — overflow Linux's default of about 200 KB.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Asks for [`SOCKET_BUFFER_BYTES`] each way and logs what the kernel granted (it caps the
/// request at `net.core.rmem_max` / `wmem_max`).
fn size_buffers(socket: &tokio::net::UdpSocket) {
    let s = socket2::SockRef::from(socket);
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    // Linux reports twice the size it books (the other half is for its own bookkeeping)
    let (recv, send) = (s.recv_buffer_size().unwrap_or(0) / 2, s.send_buffer_size().unwrap_or(0) / 2);
    if recv < SOCKET_BUFFER_BYTES || send < SOCKET_BUFFER_BYTES {
        tracing::warn!(
            recv_kb = recv / 1024,
            send_kb = send / 1024,
            wanted_kb = SOCKET_BUFFER_BYTES / 1024,
            "the WebRTC socket's buffers are smaller than asked: raise net.core.rmem_max and \
             net.core.wmem_max for thousands of WebRTC sessions"
        );
    } else {
        tracing::debug!(recv_kb = recv / 1024, send_kb = send / 1024, "WebRTC socket buffers");
    }
}

/// Binds the WebRTC socket and returns the handle and the engine to spawn.
pub async fn bind(cfg: &WebRtcConfig) -> std::io::Result<(WebRtc, engine::Engine)> {
    let ips = host_ips(cfg);
    // one loopback address alone: bind it (nothing else can reach it); otherwise every interface
    let bind_ip = match ips.as_slice() {
        [ip] if ip.is_loopback() => *ip,
        _ => IpAddr::from([0, 0, 0, 0]),
    };
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(bind_ip, cfg.udp_port)).await?;
    size_buffers(&socket);
    let port = socket.local_addr()?.port();
    let candidates: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let (tx, rx) = mpsc::channel(256);
    let engine = engine::Engine::new(socket, candidates.clone(), rx, cfg.clone());
    Ok((WebRtc { cmd: tx, candidates }, engine))
}
