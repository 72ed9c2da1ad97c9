//! The three transports behind one interface: connect, then a stream of [`Incoming`] events.

use std::time::Duration;

use ondes_core::abr::JitterAdvice;
use ondes_core::proto::control::{FromListener, Status};

use super::ListenError;
use super::endpoint::Endpoint;
use super::sse::SseConnection;
use super::whep::WhepConnection;
use super::ws::WsConnection;
use crate::tls::TlsOptions;

/// The layout of received audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLayout {
    pub sample_rate: u32,
    pub channels: u16,
    pub frame_us: u32,
}

/// One frame's coded audio.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameData {
    /// An Opus packet; empty when the server had none for this frame (conceal it).
    Opus(Vec<u8>),
    /// Interleaved samples.
    Pcm(Vec<f32>),
}

/// One received frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RxFrame {
    pub seq: u64,
    pub capture_us: i64,
    pub data: FrameData,
}

/// What the connection delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Frames of one message (`codec` names how they travelled).
    Audio { layout: AudioLayout, codec: &'static str, frames: Vec<RxFrame> },
    /// The stream's description (WebSocket `info`: rung and frames per message) or a rung
    /// change, with the server's jitter-buffer advice when the client should take it.
    /// `why` is the server's reason code for a change (`backlog`, `probe_up`, …).
    Rung { rung: String, batch: Option<u32>, jitter: Option<JitterAdvice>, why: Option<String> },
    /// A status notice; `skipped` frames the server jumped over for us.
    Notice { text: String, skipped: u64 },
    /// Answer to our ping sent at `client_ts_us`.
    Pong { client_ts_us: i64 },
    /// The server ends the stream.
    Ended(String),
    /// Nothing of interest (heartbeats, the SSE `connected` event).
    Nothing,
}

/// An open listening connection.
pub enum Connection {
    Ws(WsConnection),
    Sse(SseConnection),
    Whep(Box<WhepConnection>),
}

impl Connection {
    pub async fn open(
        endpoint: &Endpoint,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
        rtc_via: Option<std::net::SocketAddr>,
    ) -> Result<Self, ListenError> {
        Ok(match endpoint {
            Endpoint::WebSocket(url) => Connection::Ws(WsConnection::open(url, token, timeout, tls).await?),
            Endpoint::Sse(url) => Connection::Sse(SseConnection::open(url, token, timeout, tls).await?),
            Endpoint::Whep(url) => {
                Connection::Whep(Box::new(WhepConnection::open(url, token, timeout, tls, rtc_via).await?))
            }
        })
    }

    /// The next event; `None` when the connection closed. Cancel-safe: what was read but
    /// not yet returned stays in the connection.
    pub async fn next(&mut self) -> Result<Option<Incoming>, ListenError> {
        match self {
            Connection::Ws(c) => c.next().await,
            Connection::Sse(c) => c.next().await,
            Connection::Whep(c) => c.next().await,
        }
    }

    /// Sends a text message (reports, pings); SSE has no way back, and over WHEP the
    /// receiver reports are RTCP's (str0m sends them): both ignore it.
    pub async fn send(&mut self, m: &FromListener) -> Result<(), ListenError> {
        match self {
            Connection::Ws(c) => c.send(m).await,
            Connection::Sse(_) | Connection::Whep(_) => Ok(()),
        }
    }

    /// Ends the connection: a WHEP session is DELETEd on the server.
    pub async fn close(&mut self) {
        if let Connection::Whep(c) = self {
            c.close().await;
        }
    }

    pub fn transport(&self) -> &'static str {
        match self {
            Connection::Ws(_) => "ws",
            Connection::Sse(_) => "sse",
            Connection::Whep(_) => "whep",
        }
    }

    /// The round trip of the connection's handshake (WebSocket only).
    pub fn handshake_rtt(&self) -> Option<Duration> {
        match self {
            Connection::Ws(c) => Some(c.handshake_rtt()),
            Connection::Sse(_) | Connection::Whep(_) => None,
        }
    }

    /// Frames rebuilt from RED redundancy (WHEP only).
    pub fn red_recovered(&self) -> u64 {
        match self {
            Connection::Whep(c) => c.red_recovered(),
            Connection::Ws(_) | Connection::Sse(_) => 0,
        }
    }

    /// `(bytes, messages)` received so far.
    pub fn received(&self) -> (u64, u64) {
        match self {
            Connection::Ws(c) => c.received(),
            Connection::Sse(c) => c.received(),
            Connection::Whep(c) => c.received(),
        }
    }
}

/// A status notice's text and the frames it says were skipped.
pub(super) fn notice(s: &Status) -> Incoming {
    let status = s.name();
    let skipped = s.skipped_frames();
    let text = if skipped > 0 { format!("{status} ({skipped} frames skipped)") } else { status.to_string() };
    Incoming::Notice { text, skipped }
}
