//! One WebRTC peer: a `str0m::Rtc` and the UDP socket it talks through.
//!
//! str0m's contract: after every input (a datagram, a timeout, a write), poll the `Rtc` until
//! it asks for a timeout, sending what it transmits. [`RtcPeer::drain`] does that and keeps
//! the events for the caller; [`RtcPeer::step`] waits for the next input and is cancel-safe
//! (an interrupted wait loses nothing: the datagram stays in the socket).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// The RTP header extension id the client offers for `abs-capture-time` (the server
/// stamps each packet with the frame's capture time there; the ids 1–4, 10, 11 and 13 are
/// str0m's standard map).
pub const ABS_CAPTURE_TIME_ID: u8 = 5;

/// Why a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot open a UDP socket towards {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("unusable host candidate {0}: {1}")]
    Candidate(SocketAddr, String),
    #[error("UDP socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("WebRTC: {0}")]
    Rtc(#[from] str0m::RtcError),
}

/// A `Rtc` and its socket.
pub struct RtcPeer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    next_timeout: Instant,
    /// Events polled out of the `Rtc`, oldest first.
    pub events: VecDeque<Event>,
    /// Datagrams and bytes received.
    pub datagrams_in: u64,
    pub bytes_in: u64,
    /// Datagrams the socket refused (a full send buffer): counted, never waited for.
    pub send_errors: u64,
}

/// The local address that routes to `server` (an unconnected UDP `connect` sends nothing).
fn route_to(server: IpAddr) -> std::io::Result<IpAddr> {
    let any: IpAddr =
        if server.is_ipv4() { [0, 0, 0, 0].into() } else { std::net::Ipv6Addr::UNSPECIFIED.into() };
    let s = std::net::UdpSocket::bind((any, 0))?;
    s.connect((server, 9))?;
    Ok(s.local_addr()?.ip())
}

impl RtcPeer {
    /// A peer with one host candidate on the address that routes to `server`, built by
    /// `builder` (codecs, extensions, BWE are the caller's).
    pub async fn bind(server: IpAddr, builder: str0m::RtcConfig) -> Result<Self, PeerError> {
        let bind_err = |e| PeerError::Bind(server.to_string(), e);
        let ip = route_to(server).map_err(bind_err)?;
        let socket = UdpSocket::bind((ip, 0)).await.map_err(bind_err)?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let mut rtc = builder
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .set_extension(ABS_CAPTURE_TIME_ID, Extension::AbsoluteCaptureTime)
            .build(now);
        let candidate =
            Candidate::host(local, "udp").map_err(|e| PeerError::Candidate(local, e.to_string()))?;
        rtc.add_local_candidate(candidate);
        Ok(RtcPeer {
            rtc,
            socket,
            local,
            buf: vec![0; 2048],
            next_timeout: now,
            events: VecDeque::new(),
            datagrams_in: 0,
            bytes_in: 0,
            send_errors: 0,
        })
    }

    /// The socket's address (the host candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Polls the `Rtc` until it asks for a timeout: datagrams go out, events are kept.
    pub fn drain(&mut self) -> Result<(), PeerError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.next_timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    if self.socket.try_send_to(&t.contents, t.destination).is_err() {
                        self.send_errors += 1;
                    }
                }
                Output::Event(e) => self.events.push_back(e),
            }
        }
    }

    /// Waits for a datagram or the `Rtc`'s timeout (at most `max_wait`), hands it to the
    /// `Rtc` and drains it. Cancel-safe.
    pub async fn step(&mut self, max_wait: Duration) -> Result<(), PeerError> {
        self.step_with(max_wait, &mut |_: &[u8]| false).await
    }

    /// [`Self::step`], offering a received datagram to `intercept` first: one it returns
    /// `true` for is the caller's and never reaches the `Rtc` (e.g. a load client that reads
    /// SRTP packets by their plaintext RTP header instead of decrypting them). Cancel-safe.
    pub async fn step_with<F>(&mut self, max_wait: Duration, intercept: &mut F) -> Result<(), PeerError>
    where
        F: FnMut(&[u8]) -> bool,
    {
        let wake = self.next_timeout.min(Instant::now() + max_wait);
        let got = tokio::select! {
            r = self.socket.recv_from(&mut self.buf) => Some(r?),
            _ = tokio::time::sleep_until(wake.into()) => None,
        };
        let now = Instant::now();
        match got {
            Some((n, from)) => {
                self.datagrams_in += 1;
                self.bytes_in += n as u64;
                if intercept(&self.buf[..n]) {
                    // nothing changed in the `Rtc`: nothing to drain
                    return Ok(());
                }
                // what is not STUN, DTLS, RTP or RTCP is no datagram of ours: ignore it
                if let Ok(r) = Receive::new(Protocol::Udp, from, self.local, &self.buf[..n]) {
                    self.rtc.handle_input(Input::Receive(now, r))?;
                }
            }
            None => self.rtc.handle_input(Input::Timeout(now))?,
        }
        self.drain()
    }
}
