//! The WHIP send: Opus over WebRTC (`POST …/whip` with an SDP offer, RTP from then on,
//! `DELETE` of the session at the end).
//!
//! Each frame is one Opus packet at the stream's layout (so the server can pass it through
//! to the matching rung), stamped with RTP time `n × frame ticks` and its capture time
//! (`abs-capture-time`). Pacing is real time, by the same absolute deadlines as the other
//! sends; there is no burst mode (the server plays WHIP audio as it arrives).
//!
//! **Reconnects.** When the WebRTC connection is lost (ICE reports it disconnected: the
//! server went away), the publisher reconnects — a new offer, a new session — with the same
//! exponential backoff as the other sends, and goes on with the live source; the frames the
//! source made meanwhile are counted (`frames_lost_reconnecting`), not sent late.
//!
//! **RED.** The offer has RED (RFC 2198) beside Opus unless `red_distances` is empty; when
//! the server's answer accepts it, str0m sends every packet wrapped in RED with the earlier
//! packets `red_distances` back (default `[1, 2]`): the server rebuilds a packet lost on the
//! way from a later one, at the cost of that many payloads more per packet. `red_levels` in
//! the report says what was sent.
//!
//! There are no per-frame acks over RTP. What the server confirms is its RTCP receiver
//! reports: `frames_acked` is the frames sent less the packets the server's last report
//! counted lost, read after the last frame had a report interval to be counted.

use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::rtp::AbsCaptureTime;
use str0m::{Candidate, Event, Rtc};

use super::SendError;
use super::backoff::{Backoff, Jitter};
use super::encode::{FrameEncoder, SendCodec};
use super::flow::{Pacing, SendFlow, Step};
use super::options::SendOptions;
use super::report::SendReport;
use super::send::{finish, set_layout};
use super::session::Clock;
use super::source::{self, Layout, PreparedSource};
use crate::rtc::{RtcPeer, signal};

/// Opus bitrate when the send is `pcm16` (the default of the other targets).
const DEFAULT_OPUS_BPS: u32 = 64_000;
/// The longest wait for ICE and DTLS after the answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connected server sends receiver reports and consent checks every second or so: this
/// long without a datagram from it, the connection is lost (ICE itself takes far longer
/// to say so).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long after the last frame to wait for the server's receiver report.
const REPORT_WAIT: Duration = Duration::from_millis(2_500);

/// The publishing peer: its socket, `Rtc`, media and what the server reported.
struct Publisher {
    peer: RtcPeer,
    mid: Mid,
    pt: Option<Pt>,
    /// The server's answer accepted RED: str0m wraps every Opus packet written in RED.
    red: bool,
    connected: bool,
    /// Packets lost and the time of the last receiver report from the server.
    remote_lost: Option<(u64, Instant)>,
    failure: Option<String>,
    /// The failure is the connection's (worth a reconnect), not the source's or ours.
    lost: bool,
    /// Datagrams from the server so far, and when the count last moved.
    heard: (u64, Instant),
}

impl Publisher {
    /// Handles what the `Rtc` said since the last call, and notices a server gone silent.
    fn events(&mut self) {
        let now = Instant::now();
        if self.peer.datagrams_in != self.heard.0 {
            self.heard = (self.peer.datagrams_in, now);
        } else if self.connected && self.failure.is_none() && now - self.heard.1 > SILENCE_TIMEOUT {
            self.failure = Some(format!("nothing heard from the server for {SILENCE_TIMEOUT:?}"));
            self.lost = true;
        }
        while let Some(e) = self.peer.events.pop_front() {
            match e {
                Event::Connected => {
                    self.connected = true;
                    let opus = self.peer.rtc.writer(self.mid).and_then(|w| {
                        w.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| (p.pt(), p.red()))
                    });
                    self.pt = opus.map(|(pt, _)| pt);
                    self.red = opus.is_some_and(|(_, red)| red.is_some());
                }
                Event::IceConnectionStateChange(str0m::IceConnectionState::Disconnected) => {
                    self.failure = Some("the WebRTC connection was lost".into());
                    self.lost = true;
                }
                Event::MediaEgressStats(s) => {
                    if let Some(r) = s.remote {
                        self.remote_lost = Some((r.packets_lost, Instant::now()));
                    }
                }
                _ => {}
            }
        }
    }

    /// Drives the peer until `until` (datagrams in, timers, RTCP out).
    async fn run_until(&mut self, until: Instant) -> Result<(), SendError> {
        while Instant::now() < until && self.failure.is_none() {
            let left = until.saturating_duration_since(Instant::now());
            self.peer.step(left).await.map_err(|e| SendError::Connect(e.to_string()))?;
            self.events();
        }
        Ok(())
    }
}

fn to_connect(e: impl std::fmt::Display) -> SendError {
    SendError::Connect(e.to_string())
}

/// One WebRTC session with the server: the offer (Opus, with RED unless
/// `opts.red_distances` is empty), the answer, ICE and DTLS. With `opts.rtc_via` the media
/// goes through that address instead of the answer's candidates.
async fn connect(
    url: &str,
    ip: std::net::IpAddr,
    opts: &SendOptions,
) -> Result<(Publisher, Pt, signal::WhepSession), SendError> {
    let red = !opts.red_distances.is_empty();
    // stats once a second: the server's receiver reports reach us through them
    let builder = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, red)
        .set_red_distances(&opts.red_distances)
        .set_stats_interval(Some(Duration::from_secs(1)));
    let mut peer = RtcPeer::bind(ip, builder).await.map_err(to_connect)?;
    let mut api = peer.rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or_else(|| SendError::Connect("no SDP offer to send".into()))?;
    let (answer, session) =
        signal::post_offer(url, &offer.to_sdp_string(), opts.token.as_deref(), opts.ack_timeout, &opts.tls)
            .await
            .map_err(to_connect)?;
    let answer = match opts.rtc_via {
        Some(_) => signal::without_candidates(&answer),
        None => answer,
    };
    let accepted = str0m::change::SdpAnswer::from_sdp_string(&answer)
        .map_err(|e| e.to_string())
        .and_then(|a| peer.rtc.sdp_api().accept_answer(pending, a).map_err(|e| e.to_string()));
    if let Err(e) = accepted {
        session.delete().await;
        return Err(SendError::Connect(format!("the server's SDP answer: {e}")));
    }
    if let Some(v) = opts.rtc_via {
        match Candidate::host(v, "udp") {
            Ok(c) => peer.rtc.add_remote_candidate(c),
            Err(e) => {
                session.delete().await;
                return Err(SendError::Connect(format!("unusable address {v}: {e}")));
            }
        }
    }
    peer.drain().map_err(to_connect)?;
    let mut p = Publisher {
        peer,
        mid,
        pt: None,
        red: false,
        connected: false,
        remote_lost: None,
        failure: None,
        lost: false,
        heard: (0, Instant::now()),
    };
    let connect_by = Instant::now() + CONNECT_TIMEOUT;
    while !p.connected && p.failure.is_none() && Instant::now() < connect_by {
        p.peer.step(Duration::from_millis(100)).await.map_err(to_connect)?;
        p.events();
    }
    let Some(pt) = p.pt.filter(|_| p.connected) else {
        session.delete().await;
        return Err(SendError::Connect(format!(
            "no WebRTC connection within {CONNECT_TIMEOUT:?} (is the server's UDP port reachable? see webrtc.ips)"
        )));
    };
    Ok((p, pt, session))
}

/// Sends to `url` (`…/api/streams/ID/whip`); `stream` and `base` find its layout.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    url: &str,
    base: &str,
    stream: &str,
    opts: &SendOptions,
    prepared: PreparedSource,
    clock: Clock,
    mut report: SendReport,
    progress: Option<&ProgressBar>,
) -> Result<SendReport, SendError> {
    if opts.pacing == Pacing::Burst {
        return Err(SendError::Options("WHIP sends in real time: --burst needs a ws:// target".into()));
    }
    let bitrate_bps = match opts.codec {
        SendCodec::Opus { bitrate_bps } => bitrate_bps,
        SendCodec::Pcm16 => DEFAULT_OPUS_BPS,
    };
    report.codec = "opus".into();
    report.bitrate_kbps = bitrate_bps / 1000;
    let client = opts.tls.http_client(url).map_err(to_connect)?;
    let layout = match opts.layout {
        Some(l) => l,
        // a stream a template creates on demand is not listed yet: Opus's own layout
        None => super::ingest::fetch_layout(&client, base, stream).await.unwrap_or(Layout {
            sample_rate: 48_000,
            channels: 2,
            frame_us: 20_000,
        }),
    };
    set_layout(&mut report, layout);
    let mut encoder = FrameEncoder::new(SendCodec::Opus { bitrate_bps }, layout)?;

    let ip = match opts.rtc_via {
        Some(v) => v.ip(),
        None => signal::server_ip(url).await.map_err(to_connect)?,
    };
    let (mut p, mut pt, mut session) = connect(url, ip, opts).await?;
    report.red_levels = red_levels(&p, opts);
    let mut backoff = Backoff::new(opts.initial_backoff, opts.max_backoff);
    let mut jitter = Jitter::from_clock();
    // frames confirmed by the receiver reports of sessions that ended
    let mut acked_before = 0u64;
    let mut sent_in_session = 0u64;
    if let Some(pb) = progress {
        pb.set_message("connected");
    }

    let mut frames = source::spawn(prepared.open(layout)?, 8)?;
    let max_frames = opts.max_duration.map(|d| (d.as_micros() as u64).div_ceil(u64::from(layout.frame_us)));
    let frame_ticks = u64::from(layout.frame_us) * 48 / 1000;
    let mut flow = SendFlow::new(opts.pacing, clock.now_us(), layout.frame_us, u64::MAX, 1);
    let mut stop = opts.stop.clone();
    let mut taken = 0u64;
    let mut done = max_frames == Some(0);
    while !done {
        if p.failure.is_some() {
            let stopped = stop.as_ref().is_some_and(|s| *s.borrow());
            if !p.lost || stopped {
                break;
            }
            // the server went away: confirm what its last report covered, then a new session
            acked_before += confirmed(&p, sent_in_session);
            sent_in_session = 0;
            session.delete().await;
            tracing::warn!(error = p.failure.as_deref().unwrap_or(""), "WHIP: reconnecting");
            let outage_from = clock.now_us();
            match reconnect(url, ip, opts, &mut backoff, &mut jitter, &mut report).await {
                Ok((np, npt, ns)) => {
                    (p, pt, session) = (np, npt, ns);
                    report.red_levels = red_levels(&p, opts);
                }
                Err(e) => {
                    p.failure = Some(e);
                    p.lost = false;
                    break;
                }
            }
            // the source is live: the audio of the outage is dropped and counted, not sent late
            let missed = (clock.now_us() - outage_from) / u64::from(layout.frame_us);
            for _ in 0..missed {
                if max_frames.is_some_and(|m| taken >= m) || !matches!(frames.recv().await, Some(Ok(_))) {
                    break;
                }
                taken += 1;
                report.frames_lost_reconnecting += 1;
            }
            flow.on_sent(taken);
            done = max_frames.is_some_and(|m| taken >= m);
            if let Some(pb) = progress {
                pb.set_message("reconnected");
            }
            continue;
        }
        match flow.poll(clock.now_us()) {
            Step::Take { .. } => {
                let stopped = stop.as_ref().is_some_and(|s| *s.borrow());
                let next = if stopped {
                    None
                } else {
                    // keep the peer going while the source (a TTS engine) makes the frame
                    loop {
                        tokio::select! {
                            f = frames.recv() => break f,
                            r = p.peer.step(Duration::from_millis(100)) => {
                                r.map_err(to_connect)?;
                                p.events();
                            }
                        }
                    }
                };
                let (pcm, at) = match next {
                    None => break,
                    Some(Err(e)) => {
                        p.failure = Some(format!("source failed: {e}"));
                        break;
                    }
                    Some(Ok(f)) => f,
                };
                report.source_first_frame_ms.get_or_insert(clock.ms_since_start(at));
                let packet = encoder.encode(&pcm)?;
                let capture = AbsCaptureTime { capture_time: SystemTime::now(), clock_offset: None };
                let rtp = MediaTime::new(taken * frame_ticks, Frequency::FORTY_EIGHT_KHZ);
                let bytes = packet.len() as u64;
                let written = match p.peer.rtc.writer(p.mid) {
                    Some(w) => w
                        .abs_capture_time(capture)
                        .write(pt, Instant::now(), rtp, packet)
                        .map_err(|e| e.to_string()),
                    None => Err("the audio track is gone".to_string()),
                };
                if let Err(e) = written {
                    p.failure = Some(format!("cannot send a frame: {e}"));
                    break;
                }
                p.peer.drain().map_err(to_connect)?;
                p.events();
                taken += 1;
                sent_in_session += 1;
                backoff.reset();
                report.frames_sent += 1;
                report.messages_sent += 1;
                report.bytes_sent += bytes;
                report.time_to_first_frame_ms.get_or_insert(clock.now_us() as f64 / 1000.0);
                flow.on_sent(taken);
                done = max_frames.is_some_and(|m| taken >= m);
                if let Some(pb) = progress {
                    pb.set_message(format!("{} frames sent", report.frames_sent));
                }
            }
            Step::WaitUntil(t) => {
                let until = clock.0 + Duration::from_micros(t);
                match &mut stop {
                    Some(rx) => {
                        tokio::select! {
                            r = p.run_until(until) => r?,
                            _ = rx.changed() => {}
                        }
                    }
                    None => p.run_until(until).await?,
                }
            }
            // no acks and no backpressure over RTP: the window never fills
            Step::WaitForAck | Step::WaitForResume => tokio::task::yield_now().await,
        }
    }
    // the server's receiver report on the last frames
    let last = Instant::now();
    let report_by = last + REPORT_WAIT;
    while p.failure.is_none() && p.remote_lost.is_none_or(|(_, at)| at < last + Duration::from_millis(1_100))
    {
        if Instant::now() >= report_by {
            break;
        }
        p.run_until((Instant::now() + Duration::from_millis(100)).min(report_by)).await?;
    }
    p.peer.rtc.disconnect();
    let _ = p.peer.drain();
    session.delete().await;
    let mut failure = p.failure.take();
    report.frames_acked = acked_before + confirmed(&p, sent_in_session);
    match p.remote_lost {
        Some(_) => report.time_to_first_ack_ms = Some(clock.now_us() as f64 / 1000.0),
        None if failure.is_none() && sent_in_session > 0 => {
            failure = Some("the server sent no RTCP receiver report: its reception is unconfirmed".into());
        }
        None => {}
    }
    report.frames_unconfirmed = report.frames_sent - report.frames_acked;
    finish(report, clock, failure)
}

/// The RED levels a session sends: ours, when the server's answer accepted RED (str0m
/// always sends distance 1 among them).
fn red_levels(p: &Publisher, opts: &SendOptions) -> Vec<u32> {
    if !p.red {
        return Vec::new();
    }
    let mut v = opts.red_distances.clone();
    if !v.contains(&1) {
        v.insert(0, 1);
    }
    v
}

/// Frames of a session its server confirmed: those sent less the packets its last receiver
/// report counted lost (none without a report).
fn confirmed(p: &Publisher, sent_in_session: u64) -> u64 {
    p.remote_lost.map_or(0, |(lost, _)| sent_in_session.saturating_sub(lost))
}

/// New sessions until one connects, with backoff. Gives up after `max_retries` failed
/// attempts in a row.
async fn reconnect(
    url: &str,
    ip: std::net::IpAddr,
    opts: &SendOptions,
    backoff: &mut Backoff,
    jitter: &mut Jitter,
    report: &mut SendReport,
) -> Result<(Publisher, Pt, signal::WhepSession), String> {
    let mut last = String::new();
    while backoff.attempts() < opts.max_retries {
        tokio::time::sleep(backoff.next_delay(jitter.sample())).await;
        match connect(url, ip, opts).await {
            Ok(c) => {
                report.reconnects += 1;
                return Ok(c);
            }
            Err(e) => {
                report.connect_failures += 1;
                last = e.to_string();
            }
        }
    }
    Err(format!(
        "the WebRTC connection was lost and {} reconnection attempts failed: {last}",
        opts.max_retries
    ))
}
