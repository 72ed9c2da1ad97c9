//! The WHIP send: Opus over WebRTC (`POST …/whip` with an SDP offer, RTP from then on,
//! `DELETE` of the session at the end).
//!
//! Each frame is one Opus packet at the stream's layout (so the server can pass it through
//! to the matching rung), stamped with RTP time `n × frame ticks` and its capture time
//! (`abs-capture-time`). Pacing is real time, by the same absolute deadlines as the other
//! sends; there is no burst mode (the server plays WHIP audio as it arrives).
//!
//! There are no per-frame acks over RTP. What the server confirms is its RTCP receiver
//! reports: `frames_acked` is the frames sent less the packets the server's last report
//! counted lost, read after the last frame had a report interval to be counted.

use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::rtp::AbsCaptureTime;
use str0m::{Event, Rtc};

use super::SendError;
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
/// How long after the last frame to wait for the server's receiver report.
const REPORT_WAIT: Duration = Duration::from_millis(2_500);

/// The publishing peer: its socket, `Rtc`, media and what the server reported.
struct Publisher {
    peer: RtcPeer,
    mid: Mid,
    pt: Option<Pt>,
    connected: bool,
    /// Packets lost and the time of the last receiver report from the server.
    remote_lost: Option<(u64, Instant)>,
    failure: Option<String>,
}

impl Publisher {
    /// Handles what the `Rtc` said since the last call.
    fn events(&mut self) {
        while let Some(e) = self.peer.events.pop_front() {
            match e {
                Event::Connected => {
                    self.connected = true;
                    self.pt = self.peer.rtc.writer(self.mid).and_then(|w| {
                        w.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt())
                    });
                }
                Event::IceConnectionStateChange(str0m::IceConnectionState::Disconnected) => {
                    self.failure = Some("the WebRTC connection was lost".into());
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

    let ip = signal::server_ip(url).await.map_err(to_connect)?;
    // stats once a second: the server's receiver reports reach us through them
    let builder = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .set_stats_interval(Some(Duration::from_secs(1)));
    let mut peer = RtcPeer::bind(ip, builder).await.map_err(to_connect)?;
    let mut api = peer.rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or_else(|| SendError::Connect("no SDP offer to send".into()))?;
    let (answer, session) =
        signal::post_offer(url, &offer.to_sdp_string(), opts.token.as_deref(), opts.ack_timeout, &opts.tls)
            .await
            .map_err(to_connect)?;
    let accepted = str0m::change::SdpAnswer::from_sdp_string(&answer)
        .map_err(|e| e.to_string())
        .and_then(|a| peer.rtc.sdp_api().accept_answer(pending, a).map_err(|e| e.to_string()));
    if let Err(e) = accepted {
        session.delete().await;
        return Err(SendError::Connect(format!("the server's SDP answer: {e}")));
    }
    peer.drain().map_err(to_connect)?;
    let mut p = Publisher { peer, mid, pt: None, connected: false, remote_lost: None, failure: None };
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
    while !done && p.failure.is_none() {
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
    match p.remote_lost {
        Some((lost, _)) => {
            report.frames_acked = report.frames_sent.saturating_sub(lost);
            report.time_to_first_ack_ms = Some(clock.now_us() as f64 / 1000.0);
        }
        None if failure.is_none() && report.frames_sent > 0 => {
            failure = Some("the server sent no RTCP receiver report: its reception is unconfirmed".into());
        }
        None => {}
    }
    report.frames_unconfirmed = report.frames_sent - report.frames_acked;
    finish(report, clock, failure)
}
