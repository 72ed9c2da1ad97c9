//! A WHEP receiver: a receive-only Opus peer with a data channel, as packets with their
//! frame numbers and capture times. The listener (`ondes listen`), the probe and the fanout
//! bench read WHEP through it.
//!
//! Each RTP packet is one frame. The frame number is the RTP timestamp divided by the
//! packet's duration (the server stamps frame `n` at `n × frame ticks`), so a lost packet is
//! a gap in the numbers, as over WebSocket. The capture time is the `abs-capture-time`
//! header extension the server puts on every packet (`None` from a server that does not).
//!
//! The listener offers RED (RFC 2198): a frame lost on the way is then rebuilt by str0m from
//! the redundancy of a later packet, and comes out in its place, flagged
//! [`RtpFrame::red_recovered`] (see [`super::red`]). The probe and the fanout bench offer
//! none: they measure the network's loss and the server's plain cost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use str0m::media::{Direction, Frequency, MediaData, MediaKind, Mid};
use str0m::{Candidate, Event, IceConnectionState, Rtc};

use super::peer::{PeerError, RtcPeer};
use super::red::{self, RedRecovery};
use super::signal::{self, SignalError, WhepSession};
use crate::tls::TlsOptions;

/// Why a WHEP session failed.
#[derive(Debug, thiserror::Error)]
pub enum WhepError {
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("{0}")]
    Protocol(String),
}

/// One received Opus packet.
#[derive(Debug, Clone)]
pub struct RtpFrame {
    /// The frame number on this session (RTP timestamp / packet duration): contiguous, but
    /// not the sender's frame number (see [`sender_frame_number`]).
    pub seq: u64,
    /// The RTP timestamp at 48 kHz, unwrapped from the first packet's.
    pub rtp_time: u64,
    /// The packet's duration, µs.
    pub frame_us: u32,
    /// Capture time, µs since the Unix epoch (server clock), from `abs-capture-time` (for a
    /// frame rebuilt from RED, which has no extensions, from the frames around it).
    pub capture_us: Option<i64>,
    /// Lost on the way and rebuilt from a later packet's RED redundancy.
    pub red_recovered: bool,
    /// When the datagram was handed to str0m, µs since the Unix epoch.
    pub arrival_us: i64,
    pub data: Arc<[u8]>,
}

/// What the session delivered.
#[derive(Debug, Clone)]
pub enum WhepEvent {
    Frame(RtpFrame),
    /// A JSON text message on the data channel (the server's notices).
    Text(String),
}

pub struct WhepReceiver {
    peer: RtcPeer,
    session: WhepSession,
    mid: Mid,
    bytes: u64,
    packets: u64,
    /// `(Instant, wall µs)` anchors to turn str0m's arrival instants into wall time.
    anchor: (std::time::Instant, i64),
    red: RedRecovery,
}

/// A receive-only Opus peer, offering RED when `red` (without, a lost packet is the jitter
/// buffer's to conceal, with in-band FEC from the next one).
///
/// str0m holds nothing back: by default its depacketizer waits behind a hole for up to 15
/// packets (300 ms), which over a lossy link delivers every frame after a lost one in a late
/// burst. Frames come out as they arrive instead (a RED-rebuilt one right after the packet
/// that carried it); the listener's jitter buffer puts them in order by frame number, as it
/// does for any reordering.
fn receiver_rtc(red: bool) -> str0m::RtcConfig {
    Rtc::builder()
        .clear_codecs()
        .enable_opus(true, red)
        .set_reordering_size_audio(0)
        .set_stats_interval(Some(Duration::from_secs(1)))
}

impl WhepReceiver {
    /// POSTs the offer (without RED) to `url` (a `…/whep` endpoint) and starts ICE with the
    /// answer.
    pub async fn open(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
    ) -> Result<Self, WhepError> {
        Self::open_via(url, token, timeout, tls, None, false).await
    }

    /// [`Self::open`], offering RED when `red`, with the media sent to `via` instead of the
    /// answer's candidates: a UDP proxy in front of the server's WebRTC port (`ondes netsim
    /// --udp`), which the server cannot know about.
    pub async fn open_via(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
        tls: &TlsOptions,
        via: Option<SocketAddr>,
        red: bool,
    ) -> Result<Self, WhepError> {
        let ip = match via {
            Some(v) => v.ip(),
            None => signal::server_ip(url).await?,
        };
        let mut peer = RtcPeer::bind(ip, receiver_rtc(red)).await?;
        let mut api = peer.rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        // the server's notices (paused, stream ended) travel on a data channel
        api.add_channel("ondes".into());
        let (offer, pending) =
            api.apply().ok_or_else(|| WhepError::Protocol("no SDP offer to send".into()))?;
        let (answer, session) = signal::post_offer(url, &offer.to_sdp_string(), token, timeout, tls).await?;
        let answer = match via {
            Some(_) => signal::without_candidates(&answer),
            None => answer,
        };
        let accepted = str0m::change::SdpAnswer::from_sdp_string(&answer)
            .map_err(|e| e.to_string())
            .and_then(|a| peer.rtc.sdp_api().accept_answer(pending, a).map_err(|e| e.to_string()));
        if let Err(e) = accepted {
            session.delete().await;
            return Err(WhepError::Protocol(format!("the server's SDP answer: {e}")));
        }
        if let Some(v) = via {
            match Candidate::host(v, "udp") {
                Ok(c) => peer.rtc.add_remote_candidate(c),
                Err(e) => {
                    session.delete().await;
                    return Err(WhepError::Protocol(format!("unusable address {v}: {e}")));
                }
            }
        }
        peer.drain()?;
        let anchor = (std::time::Instant::now(), wall_us(SystemTime::now()));
        Ok(WhepReceiver { peer, session, mid, bytes: 0, packets: 0, anchor, red: RedRecovery::default() })
    }

    /// Waits until ICE and DTLS are done (the server starts sending at live then), at most
    /// `timeout`. What arrives meanwhile stays for [`Self::next`].
    pub async fn wait_connected(&mut self, timeout: Duration) -> Result<(), WhepError> {
        let until = std::time::Instant::now() + timeout;
        while !self.peer.events.iter().any(|e| matches!(e, Event::Connected)) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !self.peer.rtc.is_alive() {
                return Err(WhepError::Protocol(format!(
                    "no WebRTC connection within {timeout:?} (is the server's UDP port reachable? see webrtc.ips)"
                )));
            }
            self.peer.step(left).await?;
        }
        Ok(())
    }

    /// The next frame or notice; `None` when the session is over. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<WhepEvent>, WhepError> {
        self.next_with(&mut |_: &[u8]| false).await
    }

    /// [`Self::next`], offering every datagram to `intercept` before str0m sees it: one it
    /// returns `true` for is the caller's (counted in neither [`Self::received`] nor str0m's
    /// statistics), so str0m reports it lost in its receiver reports. The fanout bench's
    /// light WHEP listener takes the SRTP media packets this way and leaves STUN, DTLS (the
    /// data channel) and RTCP to str0m. Cancel-safe.
    pub async fn next_with<F>(&mut self, intercept: &mut F) -> Result<Option<WhepEvent>, WhepError>
    where
        F: FnMut(&[u8]) -> bool,
    {
        loop {
            while let Some(e) = self.peer.events.pop_front() {
                match e {
                    Event::MediaData(d) if d.mid == self.mid => {
                        self.packets += 1;
                        self.bytes += d.data.len() as u64;
                        return Ok(Some(WhepEvent::Frame(self.frame(d)?)));
                    }
                    Event::ChannelData(d) if !d.binary => {
                        return Ok(Some(WhepEvent::Text(String::from_utf8_lossy(&d.data).into_owned())));
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return Ok(None),
                    _ => {}
                }
            }
            if !self.peer.rtc.is_alive() {
                return Ok(None);
            }
            self.peer.step_with(Duration::from_secs(1), intercept).await?;
        }
    }

    fn frame(&mut self, d: MediaData) -> Result<RtpFrame, WhepError> {
        let samples = ondes_codec::packet_samples(&d.data, 48_000)
            .map_err(|e| WhepError::Protocol(format!("an RTP packet that is not Opus: {e}")))?;
        if samples == 0 {
            return Err(WhepError::Protocol("an Opus packet of no duration".into()));
        }
        let ts = d.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
        let since = d.network_time.saturating_duration_since(self.anchor.0).as_micros() as i64;
        let (seq, frame_us) = (ts / samples as u64, (samples as u64 * 1_000_000 / 48_000) as u32);
        let red_recovered = red::is_recovered(&d);
        let stamped = d.ext_vals.abs_capture_time.map(|a| wall_us(a.capture_time));
        Ok(RtpFrame {
            seq,
            rtp_time: ts,
            frame_us,
            capture_us: self.red.frame(seq, frame_us, stamped, red_recovered),
            red_recovered,
            arrival_us: self.anchor.1 + since,
            data: d.data,
        })
    }

    /// Ends the session: ICE stops and the server's session is DELETEd.
    pub async fn close(&mut self) {
        self.peer.rtc.disconnect();
        let _ = self.peer.drain();
        self.session.delete().await;
    }

    /// `(payload bytes, packets)` received so far (frames rebuilt from RED included).
    pub fn received(&self) -> (u64, u64) {
        (self.bytes, self.packets)
    }

    /// Frames rebuilt from RED so far.
    pub fn red_recovered(&self) -> u64 {
        self.red.recovered
    }
}

/// µs since the Unix epoch.
pub fn wall_us(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// The sender's frame number of a packet stamped `rtp_time`, for a sender that stamps frame
/// `n` with `n × frame_ticks` modulo 2³² (ondes does: the RTP time of a frame is its number at
/// 48 kHz): of the numbers that give that timestamp, the one nearest `near` (e.g. the stream's
/// `next_frame` from its stats). `None` when no frame number gives that timestamp.
///
/// The 32 bits of an RTP timestamp repeat every 2³² ÷ gcd(frame_ticks, 2³²) frames (2²⁶ for
/// 20 ms: 15.5 days), so `near` must be within half of that of the packet.
pub fn sender_frame_number(rtp_time: u64, frame_ticks: u32, near: u64) -> Option<u64> {
    if frame_ticks == 0 {
        return None;
    }
    let t = rtp_time as u32;
    let k = frame_ticks.trailing_zeros();
    if t.trailing_zeros() < k {
        return None;
    }
    let odd = frame_ticks >> k;
    // the inverse of an odd number modulo 2³² (Newton's iteration doubles the good bits)
    let mut inv = odd;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(odd.wrapping_mul(inv)));
    }
    let modulus = 1i128 << (32 - k);
    let base = i128::from((t >> k).wrapping_mul(inv)) % modulus;
    let turns = (i128::from(near) - base + modulus / 2).div_euclid(modulus);
    u64::try_from(base + turns * modulus).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_frame_number_from_a_32_bit_rtp_time() {
        // frame numbers since 2000 (~4.25e10 in 2026), small ones, and around the wraps
        for n in [0u64, 1, 4_474, 67_108_863, 67_108_864, 42_517_360_123, 42_517_360_124] {
            for ticks in [960u32, 480, 1920, 2880, 240] {
                let t = (n * u64::from(ticks)) as u32;
                for near in [n, n.saturating_sub(100_000), n + 100_000] {
                    assert_eq!(sender_frame_number(u64::from(t), ticks, near), Some(n), "{n} {ticks} {near}");
                }
                // the unwrapped RTP time of a session gives the same (only its 32 bits count)
                assert_eq!(sender_frame_number(u64::from(t) + (7 << 32), ticks, n), Some(n));
            }
        }
        // a timestamp no frame number gives (not a multiple of 64 for 20 ms frames)
        assert_eq!(sender_frame_number(100, 960, 0), None);
        assert_eq!(sender_frame_number(960, 0, 0), None);
    }

    #[test]
    fn candidates_are_stripped_for_a_proxy() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host\r\na=mid:0\r\na=end-of-candidates\r\n";
        assert_eq!(signal::without_candidates(sdp), "v=0\r\na=mid:0\r\n");
    }
}
