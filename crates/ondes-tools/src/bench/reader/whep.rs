//! WHEP listeners: one WebRTC session each ([`ondes_client::rtc::WhepReceiver`]: a full ICE
//! agent, DTLS, SRTP, RTCP receiver reports), counting the RTP packets as frames.
//!
//! Each session has its own UDP socket. They cannot share one: a server tells WebRTC
//! sessions apart by the peer's address (RTP and DTLS carry no session id), so one address
//! per session is what every real listener has too. The sessions are sans-IO `str0m::Rtc`s,
//! each driven by its listener's task (a task that owned many sockets would still make one
//! `recvfrom` per datagram; what it would save is a task wake-up each).
//!
//! Two ways to read the media, by [`WhepTarget::light`]:
//! - full: every packet goes through str0m (SRTP decryption, depacketizing, statistics), as
//!   in `ondes listen` and `ondes probe`.
//! - light (the bench's default): once connected, an SRTP media packet is read by its
//!   plaintext RTP header ([`super::rtp_light`]): frame number, capture time, payload length.
//!   The first packet and one in [`LIGHT_SAMPLE_EVERY`] still go through str0m and must
//!   decrypt and match their header. STUN (ICE consent, which keeps the server's session
//!   alive), DTLS (the data channel's notices) and RTCP still go to str0m. What the light
//!   listener does not do: decrypt (authenticate) the other packets, and send receiver
//!   reports or TWCC feedback that count them (str0m's reports show them lost), so it is
//!   for fixed-rung runs, not `rung=auto`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ondes_client::rtc::{SignalError, WhepError, WhepEvent, WhepReceiver};
use ondes_core::proto::control::ToListener;
use tokio::sync::watch;

use super::rtp_light::{self, Decision, LightCounter};
use super::{ReadEnd, RunShared};
use crate::bench::sse_scan::AudioMeta;
use crate::bench::stats::{ListenerStats, Window};

#[derive(Debug)]
pub(crate) struct WhepTarget {
    url: String,
    token: Option<String>,
    timeout: Duration,
    tls: ondes_client::tls::TlsOptions,
    /// Read the media by header (see the module's doc); `false` (the default): through str0m.
    pub light: bool,
}

/// The light listener decrypts one packet in this many (one a second at 20 ms frames).
pub(crate) const LIGHT_SAMPLE_EVERY: u32 = 50;

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
        Self {
            url: format!("{base}{path_and_query}"),
            token: token.map(str::to_string),
            timeout,
            tls,
            light: false,
        }
    }
}

pub(crate) struct WhepConnection {
    rx: WhepReceiver,
    /// `Some` for a light listener.
    light: Option<LightCounter>,
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
    let light = target.light.then(|| LightCounter::new(LIGHT_SAMPLE_EVERY));
    Ok(WhepConnection { rx, light })
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
            let Self { rx, light } = self;
            let ev = match light {
                None => tokio::select! {
                    biased;
                    _ = stop.changed() => return ReadEnd::Stopped,
                    e = rx.next() => e,
                },
                Some(counter) => {
                    let mut by_header = |d: &[u8]| on_datagram(d, counter, shared, stats);
                    tokio::select! {
                        biased;
                        _ = stop.changed() => return ReadEnd::Stopped,
                        e = rx.next_with(&mut by_header) => e,
                    }
                }
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
                    if let Some(counter) = &mut self.light {
                        match counter.on_decrypted(f.rtp_time, f.frame_us, f.data.len()) {
                            Ok(()) => shared.whep.decrypted.fetch_add(1, Ordering::Relaxed),
                            Err(_) => {
                                if counting {
                                    stats.counters.unparsed += 1;
                                }
                                shared.whep.mismatched.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    if stats.window == Window::After {
                        continue;
                    }
                    let Some(capture_us) = f.capture_us else {
                        if counting {
                            stats.counters.unparsed += 1;
                        }
                        continue;
                    };
                    account(shared, stats, counting, f.seq, f.frame_us, capture_us, f.data.len());
                }
            }
        }
    }
}

/// A datagram of a light listener's session: `true` when it was an RTP packet counted from
/// its header (str0m does not see it).
fn on_datagram(d: &[u8], counter: &mut LightCounter, shared: &RunShared, stats: &mut ListenerStats) -> bool {
    if !rtp_light::is_rtp(d) {
        return false;
    }
    let counting = stats.follow_window(shared.window());
    let undecrypted = counter.undecrypted;
    let header = rtp_light::parse(d, ondes_client::rtc::peer::ABS_CAPTURE_TIME_ID);
    let decision = header.as_ref().map(|h| counter.on_packet(h));
    if counter.undecrypted > undecrypted {
        shared.whep.undecrypted.fetch_add(1, Ordering::Relaxed);
    }
    match decision {
        // not readable: str0m's to judge (it drops what it cannot use)
        Err(_) => {
            if counting {
                stats.counters.unparsed += 1;
            }
            false
        }
        Ok(Decision::Decrypt | Decision::Pass) => false,
        Ok(Decision::Implausible) => {
            if counting {
                stats.counters.unparsed += 1;
            }
            true
        }
        Ok(Decision::Counted(f)) => {
            shared.whep.by_header.fetch_add(1, Ordering::Relaxed);
            if stats.window == Window::After {
                return true;
            }
            match f.capture_us {
                Some(c) => account(shared, stats, counting, f.frame_number, f.frame_us, c, f.payload_bytes),
                None => {
                    if counting {
                        stats.counters.unparsed += 1;
                    }
                }
            }
            true
        }
    }
}

/// Counts one frame: its number on the session, its duration, its capture time (µs since
/// the Unix epoch, server clock) and its Opus payload's bytes (RTP, SRTP and UDP headers
/// are not counted).
fn account(
    shared: &RunShared,
    stats: &mut ListenerStats,
    counting: bool,
    frame_number: u64,
    frame_us: u32,
    capture_us: i64,
    payload_bytes: usize,
) {
    if counting {
        stats.counters.bytes += payload_bytes as u64;
    }
    let meta = AudioMeta {
        frame_number,
        timestamp_ms: capture_us as f64 / 1000.0,
        frames: 1,
        duration_ms: Some(f64::from(frame_us) / 1000.0),
    };
    stats.on_audio(&meta, Instant::now());
    if counting {
        let wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        shared.latency.record_ms(wall_ms - meta.timestamp_ms);
        shared.frames.fetch_add(1, Ordering::Relaxed);
    }
    if shared.frame_duration_us.load(Ordering::Relaxed) == 0 {
        shared.frame_duration_us.store(u64::from(frame_us), Ordering::Relaxed);
    }
}
