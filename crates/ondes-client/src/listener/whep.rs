//! The WHEP transport: the [`crate::rtc::WhepReceiver`]'s Opus packets as frames, its data
//! channel's JSON text as the WebSocket listener's notices.
//!
//! A frame's capture time is the server's `abs-capture-time` stamp; a server that does not
//! send it leaves the arrival time instead (latency then reads as zero: `unstamped` counts
//! such frames and the report says so).
//!
//! The listener offers RED: a frame lost on the way and rebuilt from a later packet's
//! redundancy reaches the jitter buffer as if it had arrived (a received frame, not a lost
//! one), and is counted apart ([`WhepConnection::red_recovered`]).

use std::time::Duration;

use super::ListenError;
use super::transport::{AudioLayout, FrameData, Incoming, RxFrame};
use crate::rtc::{SignalError, WhepError, WhepEvent, WhepReceiver};
use crate::tls::TlsOptions;

/// Opus over WebRTC is signalled as 48 kHz stereo; the decoder makes stereo of a mono stream.
const RATE: u32 = 48_000;
const CHANNELS: u16 = 2;

pub struct WhepConnection {
    rx: WhepReceiver,
    /// Frames that came without a capture time.
    pub unstamped: u64,
}

impl From<WhepError> for ListenError {
    fn from(e: WhepError) -> Self {
        match e {
            WhepError::Signal(SignalError::InvalidUrl { url, reason }) => {
                ListenError::InvalidUrl { url, reason }
            }
            WhepError::Signal(SignalError::BadToken) => ListenError::BadToken,
            WhepError::Signal(SignalError::Connect(m)) => ListenError::Connect(m),
            WhepError::Signal(SignalError::Refused { status, code, message }) => {
                ListenError::Refused { status, code, message }
            }
            WhepError::Signal(SignalError::BadAnswer(m)) | WhepError::Protocol(m) => ListenError::Protocol(m),
            WhepError::Peer(e) => ListenError::Connection(e.to_string()),
        }
    }
}

impl WhepConnection {
    pub async fn open(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
        via: Option<std::net::SocketAddr>,
    ) -> Result<Self, ListenError> {
        Ok(WhepConnection {
            rx: WhepReceiver::open_via(url, token, timeout, tls, via, true).await?,
            unstamped: 0,
        })
    }

    pub async fn next(&mut self) -> Result<Option<Incoming>, ListenError> {
        Ok(match self.rx.next().await? {
            None => None,
            Some(WhepEvent::Text(t)) => Some(super::ws::text(&t)),
            Some(WhepEvent::Frame(f)) => {
                let capture_us = f.capture_us.unwrap_or_else(|| {
                    self.unstamped += 1;
                    f.arrival_us
                });
                let layout = AudioLayout { sample_rate: RATE, channels: CHANNELS, frame_us: f.frame_us };
                let frame = RxFrame { seq: f.seq, capture_us, data: FrameData::Opus(f.data.to_vec()) };
                Some(Incoming::Audio { layout, codec: "opus", frames: vec![frame] })
            }
        })
    }

    /// Ends the session on the server.
    pub async fn close(&mut self) {
        self.rx.close().await;
    }

    pub fn received(&self) -> (u64, u64) {
        self.rx.received()
    }

    /// Frames rebuilt from RED redundancy.
    pub fn red_recovered(&self) -> u64 {
        self.rx.red_recovered()
    }
}
