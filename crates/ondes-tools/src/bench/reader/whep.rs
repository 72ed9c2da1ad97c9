//! WHEP listeners: one WebRTC session each ([`ondes_client::rtc::WhepReceiver`]: a full ICE
//! agent, DTLS, SRTP, RTCP receiver reports), counting the RTP packets as frames.
//!
//! Each session has its own UDP socket. They cannot share one: a server tells WebRTC
//! sessions apart by the peer's address (RTP and DTLS carry no session id), so one address
//! per session is what every real listener has too. The sessions are sans-IO `str0m::Rtc`s,
//! each driven by its listener's task.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ondes_client::rtc::{SignalError, WhepError, WhepEvent, WhepReceiver};
use ondes_core::proto::control::ToListener;
use tokio::sync::watch;

use super::{ReadEnd, RunShared};
use crate::bench::sse_scan::AudioMeta;
use crate::bench::stats::{ListenerStats, Window};

#[derive(Debug)]
pub(crate) struct WhepTarget {
    url: String,
    token: Option<String>,
    timeout: Duration,
    tls: ondes_client::tls::TlsOptions,
}

impl WhepTarget {
    /// `base` is the `http://host:port` (or `https://`) part, `path_and_query` the rest;
    /// `timeout` bounds the offer's POST and the connection after it; `tls` is what an
    /// `https://` offer trusts.
    pub fn new(
        base: String,
        path_and_query: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: ondes_client::tls::TlsOptions,
    ) -> Self {
        Self { url: format!("{base}{path_and_query}"), token: token.map(str::to_string), timeout, tls }
    }
}

pub(crate) struct WhepConnection {
    rx: WhepReceiver,
}

/// A short, stable failure name (a key of the report's counts).
fn reason(e: &WhepError) -> String {
    match e {
        WhepError::Signal(SignalError::Refused { status, .. }) => format!("http_{status}"),
        WhepError::Signal(SignalError::Connect(_)) => "connect".into(),
        WhepError::Signal(_) => "bad_url".into(),
        WhepError::Peer(_) => "udp".into(),
        WhepError::Protocol(_) => "no_webrtc_connection".into(),
    }
}

pub(crate) async fn connect(target: &WhepTarget) -> Result<WhepConnection, String> {
    let mut rx = WhepReceiver::open(&target.url, target.token.as_deref(), target.timeout, &target.tls)
        .await
        .map_err(|e| reason(&e))?;
    if let Err(e) = rx.wait_connected(target.timeout).await {
        rx.close().await;
        return Err(reason(&e));
    }
    Ok(WhepConnection { rx })
}

impl WhepConnection {
    pub async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        let end = self.read(shared, stats, stop).await;
        // the server's session ends now, not when it notices the silence
        self.rx.close().await;
        end
    }

    async fn read(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        loop {
            let ev = tokio::select! {
                biased;
                _ = stop.changed() => return ReadEnd::Stopped,
                e = self.rx.next() => e,
            };
            let counting = stats.follow_window(shared.window());
            match ev {
                Ok(None) => return ReadEnd::Closed,
                Err(e) => return ReadEnd::Failed(reason(&e)),
                Ok(Some(WhepEvent::Text(t))) => match serde_json::from_str::<ToListener>(&t) {
                    Ok(ToListener::Status(_)) => stats.counters.status_events += 1,
                    Ok(ToListener::Error(_)) => stats.counters.error_events += 1,
                    _ => {}
                },
                Ok(Some(WhepEvent::Frame(f))) => {
                    if counting {
                        // the Opus payload (RTP, SRTP and UDP headers are not counted)
                        stats.counters.bytes += f.data.len() as u64;
                    }
                    if stats.window == Window::After {
                        continue;
                    }
                    let Some(capture_us) = f.capture_us else {
                        stats.counters.unparsed += 1;
                        continue;
                    };
                    let meta = AudioMeta {
                        frame_number: f.seq,
                        timestamp_ms: capture_us as f64 / 1000.0,
                        frames: 1,
                        duration_ms: Some(f64::from(f.frame_us) / 1000.0),
                    };
                    stats.on_audio(&meta, Instant::now());
                    if counting {
                        let wall_ms = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                        shared.latency.record_ms(wall_ms - meta.timestamp_ms);
                        shared.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    if shared.frame_duration_us.load(Ordering::Relaxed) == 0 {
                        shared.frame_duration_us.store(u64::from(f.frame_us), Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
