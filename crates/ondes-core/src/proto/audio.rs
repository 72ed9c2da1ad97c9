//! The binary WebSocket audio message: one encoder/decoder, used by the server, the Rust
//! client and (mirrored) the JS client. The layout is specified in `docs/protocol.md`.
//!
//! ```text
//! offset size  field
//!  0     u8    version (= 1)
//!  1     u8    codec (low 4 bits: 0 pcm16 s16le, 1 opus, 2 f32le) | channels (high 4 bits)
//!  2     u8    frame count N (1..=255)
//!  3     u8    frame duration in 0.5 ms units (5 = 2.5 ms … 120 = 60 ms)
//!  4     u32   sample rate (Hz)
//!  8     u32   sequence number of the first frame (low 32 bits)
//! 12     i64   capture time of the first frame, µs since the Unix epoch
//! 20     N × { u16 length, length bytes }
//! ```
//!
//! All integers little-endian. The header is 20 bytes so that a batch of four 64 kbit/s
//! Opus frames (4 × 160 B) is more than 95% payload on the wire including WebSocket
//! framing. Frame `i` of a message has sequence `first_seq + i` and capture time
//! `capture_us + i × duration`. The sequence number is sent modulo 2³²; receivers extend
//! it to 64 bits against the last one they saw ([`extend_seq`]), as RTP receivers do.

/// Header length in bytes.
pub const HEADER_LEN: usize = 20;
/// Current version.
pub const VERSION: u8 = 1;

/// How the frames of a message are coded. In JSON (the listener's `info` message) by its
/// [`Codec::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Interleaved signed 16-bit little-endian PCM.
    Pcm16 = 0,
    /// One Opus packet per frame.
    Opus = 1,
    /// Interleaved 32-bit float little-endian PCM.
    F32 = 2,
}

impl Codec {
    pub fn from_u8(v: u8) -> Option<Codec> {
        match v {
            0 => Some(Codec::Pcm16),
            1 => Some(Codec::Opus),
            2 => Some(Codec::F32),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcm16 => "pcm16",
            Codec::Opus => "opus",
            Codec::F32 => "f32",
        }
    }
}

/// The header of an audio message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioHeader {
    pub codec: Codec,
    pub channels: u8,
    pub frame_count: u8,
    pub frame_us: u32,
    pub sample_rate: u32,
    /// Full 64-bit sequence number of the first frame (only the low 32 bits travel).
    pub first_seq: u64,
    pub capture_us: i64,
}

/// Why a message could not be decoded (or encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message is {0} bytes, shorter than the {HEADER_LEN}-byte header")]
    Short(usize),
    #[error("unsupported protocol version {0} (this build speaks version {VERSION})")]
    Version(u8),
    #[error("unknown codec {0}")]
    Codec(u8),
    #[error("channels must be 1..=15, got {0}")]
    Channels(u8),
    #[error("frame count must be 1..=255, got {0}")]
    FrameCount(usize),
    #[error("frame duration {0} µs is not a multiple of 0.5 ms between 0.5 and 127.5 ms")]
    Duration(u32),
    #[error("frame {index} claims {len} bytes but only {left} remain")]
    Truncated { index: usize, len: usize, left: usize },
    #[error("{0} trailing bytes after the last frame")]
    Trailing(usize),
    #[error("frame {index} is {len} bytes, more than 65535")]
    FrameTooLarge { index: usize, len: usize },
}

/// Appends an audio message with `frames` to `out`.
pub fn encode_audio(header: &AudioHeader, frames: &[&[u8]], out: &mut Vec<u8>) -> Result<(), WireError> {
    if frames.is_empty() || frames.len() > 255 {
        return Err(WireError::FrameCount(frames.len()));
    }
    if !(1..=15).contains(&header.channels) {
        return Err(WireError::Channels(header.channels));
    }
    if !header.frame_us.is_multiple_of(500) || header.frame_us == 0 || header.frame_us > 127_500 {
        return Err(WireError::Duration(header.frame_us));
    }
    let payload: usize = frames.iter().map(|f| f.len() + 2).sum();
    out.reserve(HEADER_LEN + payload);
    out.push(VERSION);
    out.push(header.codec as u8 | (header.channels << 4));
    out.push(frames.len() as u8);
    out.push((header.frame_us / 500) as u8);
    out.extend_from_slice(&header.sample_rate.to_le_bytes());
    out.extend_from_slice(&(header.first_seq as u32).to_le_bytes());
    out.extend_from_slice(&header.capture_us.to_le_bytes());
    for (index, f) in frames.iter().enumerate() {
        let len = u16::try_from(f.len()).map_err(|_| WireError::FrameTooLarge { index, len: f.len() })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    Ok(())
}

/// A decoded audio message borrowing the frames from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioMessage<'a> {
    pub header: AudioHeader,
    pub frames: Vec<&'a [u8]>,
}

/// Decodes an audio message. `last_seq` (the last sequence number the receiver saw, if
/// any) extends the 32-bit sequence number to 64 bits.
pub fn decode_audio(msg: &[u8], last_seq: Option<u64>) -> Result<AudioMessage<'_>, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Short(msg.len()));
    }
    if msg[0] != VERSION {
        return Err(WireError::Version(msg[0]));
    }
    let codec = Codec::from_u8(msg[1] & 0x0f).ok_or(WireError::Codec(msg[1] & 0x0f))?;
    let channels = msg[1] >> 4;
    if channels == 0 {
        return Err(WireError::Channels(0));
    }
    let count = msg[2] as usize;
    if count == 0 {
        return Err(WireError::FrameCount(0));
    }
    let frame_us = msg[3] as u32 * 500;
    if frame_us == 0 {
        return Err(WireError::Duration(0));
    }
    let u32_at = |o: usize| u32::from_le_bytes([msg[o], msg[o + 1], msg[o + 2], msg[o + 3]]);
    let sample_rate = u32_at(4);
    let seq32 = u32_at(8);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&msg[12..20]);
    let capture_us = i64::from_le_bytes(ts);
    let mut frames = Vec::with_capacity(count);
    let mut at = HEADER_LEN;
    for index in 0..count {
        if msg.len() < at + 2 {
            return Err(WireError::Truncated { index, len: 2, left: msg.len() - at });
        }
        let len = u16::from_le_bytes([msg[at], msg[at + 1]]) as usize;
        at += 2;
        if msg.len() < at + len {
            return Err(WireError::Truncated { index, len, left: msg.len() - at });
        }
        frames.push(&msg[at..at + len]);
        at += len;
    }
    if at != msg.len() {
        return Err(WireError::Trailing(msg.len() - at));
    }
    let header = AudioHeader {
        codec,
        channels,
        frame_count: count as u8,
        frame_us,
        sample_rate,
        first_seq: extend_seq(seq32, last_seq),
        capture_us,
    };
    Ok(AudioMessage { header, frames })
}

/// Extends a 32-bit sequence number to the 64-bit value closest to `last` (the last full
/// sequence number seen), so that wrap-around every 2³² frames is invisible.
pub fn extend_seq(seq32: u32, last: Option<u64>) -> u64 {
    let Some(last) = last else { return seq32 as u64 };
    let base = last & !0xffff_ffff;
    let candidates = [base.wrapping_sub(1 << 32), base, base.wrapping_add(1 << 32)];
    candidates.into_iter().map(|b| b | seq32 as u64).min_by_key(|c| c.abs_diff(last)).unwrap_or(seq32 as u64)
}

/// Payload share of a message on the wire: payload ÷ (payload + our header and length
/// prefixes + the WebSocket frame header a server sends, unmasked).
pub fn efficiency(frame_bytes: usize, batch: usize) -> f64 {
    let payload = frame_bytes * batch;
    let message = HEADER_LEN + batch * (2 + frame_bytes);
    let ws_header = match message {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    payload as f64 / (message + ws_header) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> AudioHeader {
        AudioHeader {
            codec: Codec::Opus,
            channels: 2,
            frame_count: 3,
            frame_us: 20_000,
            sample_rate: 48_000,
            first_seq: 0x1_0000_0005,
            capture_us: 1_763_700_000_123_456,
        }
    }

    #[test]
    fn round_trip() {
        let frames: [&[u8]; 3] = [b"abc", b"", &[7u8; 300]];
        let mut buf = Vec::new();
        encode_audio(&header(), &frames, &mut buf).unwrap();
        assert_eq!(buf.len(), HEADER_LEN + 3 * 2 + 3 + 300);
        let m = decode_audio(&buf, Some(0x1_0000_0001)).unwrap();
        assert_eq!(m.header, header());
        assert_eq!(m.frames, frames.to_vec());
    }

    #[test]
    fn exact_layout() {
        let mut buf = Vec::new();
        let h = AudioHeader { frame_count: 1, first_seq: 2, ..header() };
        encode_audio(&h, &[&[0xAA, 0xBB]], &mut buf).unwrap();
        assert_eq!(&buf[..4], &[1, 0x21, 1, 40]);
        assert_eq!(&buf[4..8], &48_000u32.to_le_bytes());
        assert_eq!(&buf[8..12], &2u32.to_le_bytes());
        assert_eq!(&buf[12..20], &h.capture_us.to_le_bytes());
        assert_eq!(&buf[20..], &[2, 0, 0xAA, 0xBB]);
    }

    #[test]
    fn rejects_malformed() {
        let mut buf = Vec::new();
        encode_audio(&header(), &[b"abcd"], &mut buf).unwrap();
        assert_eq!(decode_audio(&buf[..10], None), Err(WireError::Short(10)));
        assert!(matches!(decode_audio(&buf[..buf.len() - 1], None), Err(WireError::Truncated { .. })));
        let mut extra = buf.clone();
        extra.push(0);
        assert_eq!(decode_audio(&extra, None), Err(WireError::Trailing(1)));
        let mut v = buf.clone();
        v[0] = 9;
        assert_eq!(decode_audio(&v, None), Err(WireError::Version(9)));
        let mut c = buf.clone();
        c[1] = 0x2F;
        assert_eq!(decode_audio(&c, None), Err(WireError::Codec(15)));
        assert!(encode_audio(&header(), &[], &mut Vec::new()).is_err());
        let big = vec![0u8; 70_000];
        assert!(encode_audio(&header(), &[&big], &mut Vec::new()).is_err());
        assert!(
            encode_audio(&AudioHeader { frame_us: 2_250, ..header() }, &[b"a"], &mut Vec::new()).is_err()
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 12345u64;
        for len in 0..200 {
            let msg: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_audio(&msg, Some(x));
        }
    }

    #[test]
    fn sequence_extension_handles_wrap() {
        assert_eq!(extend_seq(5, None), 5);
        assert_eq!(extend_seq(7, Some(0x2_0000_0005)), 0x2_0000_0007);
        // wrapped forward
        assert_eq!(extend_seq(1, Some(0x1_FFFF_FFFE)), 0x2_0000_0001);
        // slightly older frame just before the wrap
        assert_eq!(extend_seq(0xFFFF_FFFE, Some(0x2_0000_0001)), 0x1_FFFF_FFFE);
    }

    #[test]
    fn efficiency_of_64k_opus_batches() {
        // 64 kbit/s × 20 ms = 160 bytes per frame
        assert!(efficiency(160, 1) < 0.9);
        assert!(efficiency(160, 4) >= 0.95, "{}", efficiency(160, 4));
    }
}
