//! The light WHEP listener's packet reader: SRTP media packets read by their plaintext RTP
//! header, without decrypting them.
//!
//! SRTP (RFC 3711) encrypts only the RTP payload. The header — sequence number, timestamp,
//! SSRC — and its header extensions stay in the clear, among them `abs-capture-time`, the
//! capture time the server stamps on every packet. A load client can therefore number every
//! frame (RTP timestamp ÷ the frame's ticks, as the full receiver does), count the missing
//! ones and measure latency without the cost of str0m's SRTP, depacketizer and statistics
//! per packet. What it cannot see without decrypting is the Opus payload itself; so the
//! first packet, and one in [`LightCounter::sample_every`] after it, still goes through
//! str0m: it must decrypt (the SRTP authentication tag checks), be an Opus packet, and carry
//! the timestamp its header showed. The decrypted ones give the frame's duration and the
//! SRTP tag's length, which the header-only ones are measured with.
//!
//! Demultiplexing (RFC 7983, RFC 5761): a datagram whose first byte is 128–191 is RTP or
//! RTCP; RTCP when its second byte (marker bit and payload type) is 192–223. Everything
//! else (STUN 0–3, DTLS 20–63) and RTCP stay str0m's.

/// Why a datagram that looked like RTP is not a readable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeaderError {
    #[error("shorter than its RTP header ({0} bytes)")]
    Truncated(usize),
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("no payload after the header")]
    NoPayload,
}

/// An RTP header, as far as the light reader reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload_type: u8,
    /// The P bit: the (encrypted) payload ends in padding, counted in `payload_len`.
    pub padding: bool,
    /// `abs-capture-time`, µs since the Unix epoch, when the header carries it.
    pub capture_us: Option<i64>,
    /// Bytes after the header and its extensions: the encrypted payload (with any
    /// padding) and the SRTP authentication tag.
    pub payload_len: usize,
}

/// Whether `d` is an RTP packet (not RTCP, STUN or DTLS) by RFC 7983 and RFC 5761.
pub(crate) fn is_rtp(d: &[u8]) -> bool {
    matches!(d, [128..=191, b, ..] if !(192..=223).contains(b))
}

/// µs between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET_US: i64 = 2_208_988_800 * 1_000_000;

/// An NTP timestamp (32.32 fixed point, seconds since 1900) as µs since the Unix epoch.
fn ntp_to_unix_us(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64;
    // to the nearest µs
    let frac_us = (((ntp & 0xffff_ffff) * 1_000_000 + (1 << 31)) >> 32) as i64;
    secs * 1_000_000 + frac_us - NTP_UNIX_OFFSET_US
}

fn be_u16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the header of the RTP packet `d`; `capture_id` is the negotiated extension id of
/// `abs-capture-time`. Both extension forms (RFC 8285: one-byte `0xBEDE`, two-byte
/// `0x100x`) are read; an extension element that runs past its block ends the reading of
/// extensions, not of the packet.
pub(crate) fn parse(d: &[u8], capture_id: u8) -> Result<RtpHeader, HeaderError> {
    let truncated = || HeaderError::Truncated(d.len());
    let first = *d.first().ok_or_else(truncated)?;
    if first >> 6 != 2 {
        return Err(HeaderError::Version(first >> 6));
    }
    let (padding, has_ext, csrcs) = (first & 0x20 != 0, first & 0x10 != 0, usize::from(first & 0x0f));
    let payload_type = d.get(1).ok_or_else(truncated)? & 0x7f;
    let seq = be_u16(d, 2).ok_or_else(truncated)?;
    let timestamp = be_u32(d, 4).ok_or_else(truncated)?;
    let ssrc = be_u32(d, 8).ok_or_else(truncated)?;
    let mut at = 12 + 4 * csrcs;
    let mut capture_us = None;
    if has_ext {
        let profile = be_u16(d, at).ok_or_else(truncated)?;
        let words = usize::from(be_u16(d, at + 2).ok_or_else(truncated)?);
        let start = at + 4;
        let end = start + 4 * words;
        let block = d.get(start..end).ok_or_else(truncated)?;
        capture_us = find_capture_time(profile, block, capture_id);
        at = end;
    }
    if d.len() < at {
        return Err(truncated());
    }
    let payload_len = d.len() - at;
    if payload_len == 0 {
        return Err(HeaderError::NoPayload);
    }
    Ok(RtpHeader { seq, timestamp, ssrc, payload_type, padding, capture_us, payload_len })
}

/// The `abs-capture-time` (id `capture_id`) in an extension block of `profile`.
fn find_capture_time(profile: u16, block: &[u8], capture_id: u8) -> Option<i64> {
    let (one_byte, two_byte) = (profile == 0xBEDE, profile & 0xfff0 == 0x1000);
    let mut i = 0;
    while i < block.len() {
        let (id, len, data_at) = if one_byte {
            let b = block[i];
            let id = b >> 4;
            if id == 0 {
                // padding
                i += 1;
                continue;
            }
            if id == 15 {
                // "stop": the rest of the block is not to be read
                return None;
            }
            (id, usize::from(b & 0x0f) + 1, i + 1)
        } else if two_byte {
            let id = block[i];
            if id == 0 {
                i += 1;
                continue;
            }
            (id, usize::from(*block.get(i + 1)?), i + 2)
        } else {
            return None;
        };
        let value = block.get(data_at..data_at + len)?;
        if id == capture_id && len >= 8 {
            let ntp = u64::from_be_bytes(value[..8].try_into().ok()?);
            return Some(ntp_to_unix_us(ntp));
        }
        i = data_at + len;
    }
    None
}

/// One frame read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LightFrame {
    /// RTP timestamp ÷ the frame's ticks, on the same unwrapped timeline as the full
    /// receiver's [`ondes_client::rtc::RtpFrame::seq`].
    pub frame_number: u64,
    pub frame_us: u32,
    pub capture_us: Option<i64>,
    /// The payload's bytes, less the SRTP tag (as measured on a decrypted packet).
    pub payload_bytes: usize,
}

/// What to do with a media packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Counted from its header: it need not reach str0m.
    Counted(LightFrame),
    /// To be decrypted by str0m (the first, then one in `sample_every`): it is counted when
    /// it comes out, through [`LightCounter::on_decrypted`].
    Decrypt,
    /// Not a frame of the stream the decrypted samples came from: without a capture time
    /// (ondes stamps every frame; str0m's padding for bandwidth probing has none), or of
    /// another payload type or SSRC (retransmission, a new source). str0m's to read, and
    /// to count if it delivers a frame.
    Pass,
    /// Readable but implausible (no room for a payload besides the SRTP tag): counted as
    /// unparsed, not as a frame; it need not reach str0m either.
    Implausible,
}

/// A decrypted sample did not match its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SampleMismatch {
    #[error("the decrypted packet's RTP time {decrypted} is not its header's {header}")]
    Timestamp { header: u32, decrypted: u32 },
}

/// Per-session state of the light reader: the frame's ticks and the SRTP tag's length as
/// learnt from the decrypted samples, and where the timestamps are on the unwrapped
/// timeline.
#[derive(Debug)]
pub(crate) struct LightCounter {
    /// One packet in this many (after the first) is decrypted by str0m.
    pub sample_every: u32,
    ticks: Option<u64>,
    frame_us: u32,
    tag_len: usize,
    last_ts: Option<u64>,
    /// The payload type and SSRC of the decrypted samples.
    stream: Option<(u8, u32)>,
    since_sample: u32,
    /// The header of the packet handed to str0m, until it comes out.
    awaiting: Option<RtpHeader>,
    /// Packets counted from their header.
    pub counted: u64,
    /// Packets decrypted by str0m.
    pub decrypted: u64,
    /// Packets handed to str0m that did not come out of it (str0m decrypts and delivers a
    /// packet within the datagram's handling, so by the next packet it is known): failed
    /// authentication or not Opus of this session. Not frames: the gap rule sees them.
    pub undecrypted: u64,
}

/// The shortest SRTP authentication tag (`AES_CM_128_HMAC_SHA1_32` has 4 bytes, the
/// usual `_80` 10, AEAD-GCM 16): before a decrypted sample says which, a payload must at
/// least have room for it and one byte.
const MIN_TAG_LEN: usize = 4;

impl LightCounter {
    pub fn new(sample_every: u32) -> Self {
        Self {
            sample_every: sample_every.max(1),
            ticks: None,
            frame_us: 0,
            tag_len: MIN_TAG_LEN,
            last_ts: None,
            stream: None,
            since_sample: 0,
            awaiting: None,
            counted: 0,
            decrypted: 0,
            undecrypted: 0,
        }
    }

    /// Decides for a media packet with header `h`.
    pub fn on_packet(&mut self, h: &RtpHeader) -> Decision {
        if self.awaiting.take().is_some() {
            self.undecrypted += 1;
        }
        if h.payload_len <= self.tag_len {
            return Decision::Implausible;
        }
        if h.capture_us.is_none() || self.stream.is_some_and(|k| k != (h.payload_type, h.ssrc)) {
            return Decision::Pass;
        }
        let (Some(ticks), Some(last)) = (self.ticks, self.last_ts) else {
            // no sample decrypted yet: the frame's duration is unknown
            self.awaiting = Some(*h);
            return Decision::Decrypt;
        };
        self.since_sample += 1;
        if self.since_sample >= self.sample_every {
            self.since_sample = 0;
            self.awaiting = Some(*h);
            return Decision::Decrypt;
        }
        let ts = unwrap_near(last, h.timestamp);
        self.last_ts = Some(ts);
        self.counted += 1;
        Decision::Counted(LightFrame {
            frame_number: ts / ticks,
            frame_us: self.frame_us,
            capture_us: h.capture_us,
            payload_bytes: h.payload_len - self.tag_len,
        })
    }

    /// A packet str0m decrypted: `rtp_time` its unwrapped RTP time at 48 kHz, `frame_us` its
    /// Opus duration, `payload_len` the decrypted payload's bytes. From it come the frame's
    /// ticks, the SRTP tag's length and the timeline's anchor; it must match the header of
    /// the packet handed over.
    pub fn on_decrypted(
        &mut self,
        rtp_time: u64,
        frame_us: u32,
        payload_len: usize,
    ) -> Result<(), SampleMismatch> {
        self.decrypted += 1;
        let ticks = u64::from(frame_us) * 48 / 1000;
        if ticks > 0 {
            self.ticks = Some(ticks);
            self.frame_us = frame_us;
        }
        self.last_ts = Some(rtp_time);
        let Some(h) = self.awaiting.take() else {
            // decrypted before the light reader started (while connecting): nothing to check
            return Ok(());
        };
        if h.timestamp != rtp_time as u32 {
            return Err(SampleMismatch::Timestamp { header: h.timestamp, decrypted: rtp_time as u32 });
        }
        self.stream = Some((h.payload_type, h.ssrc));
        if !h.padding && h.payload_len > payload_len {
            self.tag_len = h.payload_len - payload_len;
        }
        Ok(())
    }
}

/// The 64-bit timestamp nearest `last` whose low 32 bits are `ts`.
fn unwrap_near(last: u64, ts: u32) -> u64 {
    let diff = i64::from(ts.wrapping_sub(last as u32) as i32);
    last.saturating_add_signed(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SRTP-like packet: a 12-byte header, `csrcs` CSRCs, an optional extension block,
    /// `payload` bytes of "ciphertext" and a 10-byte tag.
    fn packet(
        seq: u16,
        ts: u32,
        csrcs: u8,
        ext: Option<(u16, Vec<u8>)>,
        padding: bool,
        payload: usize,
    ) -> Vec<u8> {
        let mut p = vec![0x80 | (if padding { 0x20 } else { 0 }) | csrcs, 111];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        for c in 0..csrcs {
            p.extend_from_slice(&u32::from(c).to_be_bytes());
        }
        if let Some((profile, mut block)) = ext {
            p[0] |= 0x10;
            while block.len() % 4 != 0 {
                block.push(0);
            }
            p.extend_from_slice(&profile.to_be_bytes());
            p.extend_from_slice(&((block.len() / 4) as u16).to_be_bytes());
            p.extend_from_slice(&block);
        }
        p.extend(std::iter::repeat_n(0xAB, payload + 10));
        p
    }

    fn ntp_of(unix_us: i64) -> u64 {
        let us = (unix_us + NTP_UNIX_OFFSET_US) as u64;
        ((us / 1_000_000) << 32) | (((us % 1_000_000) << 32) / 1_000_000)
    }

    /// A one-byte extension block like ondes's: mid (id 4), transport-cc (id 3), then
    /// abs-capture-time (id 5, 8 bytes).
    fn one_byte_block(capture_us: i64) -> Vec<u8> {
        let mut b = vec![0x40, b'0', 0x00, 0x31, 0x00, 0x07];
        b.push(0x57);
        b.extend_from_slice(&ntp_of(capture_us).to_be_bytes());
        b
    }

    #[test]
    fn reads_the_header_and_the_capture_time() {
        let t = 1_796_000_000_123_456i64;
        for csrcs in [0u8, 3, 15] {
            let p = packet(7, 960 * 5, csrcs, Some((0xBEDE, one_byte_block(t))), false, 80);
            assert!(is_rtp(&p));
            let h = parse(&p, 5).unwrap();
            assert_eq!((h.seq, h.timestamp, h.ssrc, h.payload_type), (7, 4800, 0x1234_5678, 111));
            let got = h.capture_us.unwrap();
            assert!((got - t).abs() <= 1, "{got} vs {t}");
            assert_eq!(h.payload_len, 90);
        }
        // two-byte form (RFC 8285), with a padding byte between elements
        let mut block = vec![1, 2, 0xAA, 0xBB, 0, 5, 8];
        block.extend_from_slice(&ntp_of(t).to_be_bytes());
        let h = parse(&packet(1, 0, 0, Some((0x1000, block)), true, 40), 5).unwrap();
        assert!((h.capture_us.unwrap() - t).abs() <= 1);
        assert!(h.padding);
        // no extension, another id, a stop id, an unknown profile: no capture time
        assert_eq!(parse(&packet(1, 0, 0, None, false, 40), 5).unwrap().capture_us, None);
        assert_eq!(
            parse(&packet(1, 0, 0, Some((0xBEDE, one_byte_block(t))), false, 40), 6).unwrap().capture_us,
            None
        );
        let stopped = [vec![0xF0], one_byte_block(t)].concat();
        assert_eq!(parse(&packet(1, 0, 0, Some((0xBEDE, stopped)), false, 40), 5).unwrap().capture_us, None);
        assert_eq!(
            parse(&packet(1, 0, 0, Some((0xABCD, one_byte_block(t))), false, 40), 5).unwrap().capture_us,
            None
        );
    }

    #[test]
    fn demultiplexes_like_rfc_7983() {
        assert!(!is_rtp(&[0x00, 0x01, 0, 0])); // STUN binding request
        assert!(!is_rtp(&[22, 0xfe, 0xfd])); // DTLS handshake
        assert!(!is_rtp(&[0x81, 200, 0, 6])); // RTCP sender report
        assert!(!is_rtp(&[0x80, 201])); // RTCP receiver report
        assert!(is_rtp(&[0x80, 111])); // Opus
        assert!(is_rtp(&[0x80, 0x80 | 111])); // Opus with the marker bit
        assert!(!is_rtp(&[0x80]));
        assert!(!is_rtp(&[]));
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        // every truncation of a full packet, and bytes of every value in every position
        let full = packet(9, 9, 2, Some((0xBEDE, one_byte_block(1))), false, 30);
        for n in 0..full.len() {
            let _ = parse(&full[..n], 5);
        }
        assert_eq!(parse(&full[..12 + 8 + 4 + 2], 5), Err(HeaderError::Truncated(26)));
        assert_eq!(parse(&[0x40; 20], 5), Err(HeaderError::Version(1)));
        assert_eq!(parse(&packet(1, 0, 0, None, false, 0)[..12], 5), Err(HeaderError::NoPayload));
        let mut seed = 0x9E37_79B9u32;
        for len in 0..200 {
            let mut d = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                d.push(seed as u8);
            }
            if let Some(b) = d.first_mut() {
                *b = 0x90 | (*b & 0x2f);
            }
            let _ = parse(&d, 5);
            // an extension length running past the packet
            let mut lying = packet(1, 0, 0, Some((0xBEDE, vec![0x57; 8])), false, 4);
            lying[14] = 0xff;
            assert!(parse(&lying, 5).is_err());
            // an element running past its block
            let h = parse(&packet(1, 0, 0, Some((0xBEDE, vec![0x5f, 1, 2])), false, 4), 5).unwrap();
            assert_eq!(h.capture_us, None);
        }
    }

    /// Drives a counter over the packets of 20 ms frames `frames` (RTP time `base_ts` at frame 0), the first decrypted "by str0m".
    fn run(counter: &mut LightCounter, frames: &[u64], base_ts: u32) -> Vec<Decision> {
        let mut out = Vec::new();
        for &f in frames {
            let ts = base_ts.wrapping_add((f * 960) as u32);
            let p = packet(f as u16, ts, 0, Some((0xBEDE, one_byte_block(f as i64 * 20_000))), false, 80);
            let h = parse(&p, 5).unwrap();
            let d = counter.on_packet(&h);
            if d == Decision::Decrypt {
                // str0m: the timestamp unwrapped from the first (here: the u32 value itself
                // plus what the counter knows), 20 ms of Opus, 80 bytes decrypted
                let unwrapped = match counter.last_ts {
                    Some(last) => unwrap_near(last, ts),
                    None => u64::from(ts),
                };
                counter.on_decrypted(unwrapped, 20_000, 80).unwrap();
            }
            out.push(d);
        }
        out
    }

    fn numbers(ds: &[Decision]) -> Vec<u64> {
        ds.iter()
            .filter_map(|d| if let Decision::Counted(f) = d { Some(f.frame_number) } else { None })
            .collect()
    }

    #[test]
    fn counts_a_gap_where_packets_are_missing() {
        let mut c = LightCounter::new(50);
        let ds = run(&mut c, &[100, 101, 102, 105, 106], 0);
        assert_eq!(ds[0], Decision::Decrypt);
        assert_eq!(numbers(&ds), vec![101, 102, 105, 106]);
        let Decision::Counted(f) = ds[1] else { panic!("{:?}", ds[1]) };
        // the tag's length (10) was learnt from the decrypted one
        assert_eq!((f.frame_us, f.payload_bytes, f.capture_us), (20_000, 80, Some(101 * 20_000)));

        // into the bench's gap rule: 103 and 104 are missing
        let mut stats = crate::bench::stats::ListenerStats::new(std::time::Duration::from_secs(5));
        stats.begin_window();
        let now = std::time::Instant::now();
        for n in [100, 101, 102, 105, 106] {
            let meta = crate::bench::sse_scan::AudioMeta {
                frame_number: n,
                timestamp_ms: 0.0,
                frames: 1,
                duration_ms: Some(20.0),
            };
            stats.on_audio(&meta, now);
        }
        assert_eq!(stats.counters.gaps, 2);
    }

    #[test]
    fn numbers_frames_across_the_32_bit_wrap_and_samples_one_in_n() {
        let mut c = LightCounter::new(4);
        let base = u32::MAX - 960 * 3 + 1;
        let frames: Vec<u64> = (0..12).collect();
        let ds = run(&mut c, &frames, base);
        let decrypted: Vec<usize> =
            ds.iter().enumerate().filter(|(_, d)| **d == Decision::Decrypt).map(|(i, _)| i).collect();
        assert_eq!(decrypted, vec![0, 4, 8]);
        let n = numbers(&ds);
        assert_eq!(n.len(), 9);
        // contiguous across the wrap (frame 3 is the one past 2³²)
        let first = u64::from(base) / 960;
        for w in n.windows(2) {
            assert!(w[1] == w[0] + 1 || w[1] == w[0] + 2, "{n:?}");
        }
        assert_eq!(n[0], first + 1);
        assert_eq!(*n.last().unwrap(), first + 11);
        assert_eq!((c.counted, c.decrypted), (9, 3));
        // another SSRC (or payload type) is left to str0m
        let mut other =
            packet(12, base.wrapping_add(12 * 960), 0, Some((0xBEDE, one_byte_block(12))), false, 80);
        other[11] ^= 1;
        assert_eq!(c.on_packet(&parse(&other, 5).unwrap()), Decision::Pass);
        other[11] ^= 1;
        other[1] = 96;
        assert_eq!(c.on_packet(&parse(&other, 5).unwrap()), Decision::Pass);
    }

    #[test]
    fn a_sample_that_does_not_match_its_header_is_a_mismatch() {
        let mut c = LightCounter::new(50);
        let h = parse(&packet(1, 960, 0, Some((0xBEDE, one_byte_block(1))), false, 80), 5).unwrap();
        assert_eq!(c.on_packet(&h), Decision::Decrypt);
        assert_eq!(
            c.on_decrypted(1920, 20_000, 80),
            Err(SampleMismatch::Timestamp { header: 960, decrypted: 1920 })
        );
        // after a mismatch the timeline follows str0m's
        let h2 = parse(&packet(2, 1920, 0, Some((0xBEDE, one_byte_block(2))), false, 80), 5).unwrap();
        assert_eq!(
            c.on_packet(&h2),
            Decision::Counted(LightFrame {
                frame_number: 2,
                frame_us: 20_000,
                capture_us: Some(2),
                // the tag's length is still the shortest: the mismatched sample taught nothing
                payload_bytes: 86,
            })
        );
        // a packet without a capture time (str0m's padding: SSRC 0, the P bit) is str0m's,
        // before the first sample too
        let mut padding = packet(0, 0, 0, None, true, 160);
        padding[8..12].fill(0);
        assert_eq!(LightCounter::new(50).on_packet(&parse(&padding, 5).unwrap()), Decision::Pass);
        // a sample str0m never delivered (it did not authenticate) counts when the next comes
        let mut c2 = LightCounter::new(50);
        assert_eq!(c2.on_packet(&h), Decision::Decrypt);
        assert_eq!(c2.on_packet(&h2), Decision::Decrypt);
        assert_eq!(c2.undecrypted, 1);
        // a packet too short for a payload besides the tag
        let tiny = parse(&packet(3, 2880, 0, None, false, 0)[..15], 5).unwrap();
        assert_eq!(c.on_packet(&tiny), Decision::Implausible);
    }
}
