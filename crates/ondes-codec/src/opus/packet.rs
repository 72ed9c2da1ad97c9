//! Opus packet table-of-contents parsing (RFC 6716 §3.1–3.2).
//!
//! A packet's duration is written in its first byte (and, for code 3, its second), so it can be
//! known without decoding: the Ogg muxer needs it for granule positions, a relay for pacing,
//! the decoder to size its output. opus-rs keeps its own parser private, hence this one.

use crate::CodecError;

/// Which of Opus's coding modes a packet uses (RFC 6716 §3.1, Table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpusMode {
    /// Linear prediction (speech), 10–60 ms frames, up to wideband.
    Silk,
    /// SILK below 8 kHz plus CELT above, 10 or 20 ms frames.
    Hybrid,
    /// MDCT (music, low delay), 2.5–20 ms frames.
    Celt,
}

/// The decoded table-of-contents byte of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpusToc {
    /// The 5-bit configuration number (0–31).
    pub config: u8,
    /// The coding mode the configuration implies.
    pub mode: OpusMode,
    /// Audio bandwidth in Hz (4000 narrowband … 20000 fullband).
    pub bandwidth_hz: u32,
    /// Duration of each frame in the packet, in µs.
    pub frame_us: u32,
    /// Whether the frames are coded stereo.
    pub stereo: bool,
    /// Frame-count code: 0 = one frame, 1 = two equal, 2 = two different, 3 = arbitrary.
    pub code: u8,
}

impl OpusToc {
    /// Parses a TOC byte; every byte value is a valid TOC.
    pub fn parse(toc: u8) -> OpusToc {
        let config = toc >> 3;
        // Frame sizes in units of 2.5 ms and bandwidths, per Table 2 of RFC 6716.
        let (mode, units, bandwidth_hz) = match config {
            0..=11 => (
                OpusMode::Silk,
                [4, 8, 16, 24][usize::from(config % 4)],
                [4_000, 6_000, 8_000][usize::from(config / 4)],
            ),
            12..=15 => (
                OpusMode::Hybrid,
                [4, 8][usize::from(config % 2)],
                [12_000, 20_000][usize::from((config - 12) / 2)],
            ),
            _ => (
                OpusMode::Celt,
                [1, 2, 4, 8][usize::from(config % 4)],
                [4_000, 8_000, 12_000, 20_000][usize::from((config - 16) / 4)],
            ),
        };
        OpusToc {
            config,
            mode,
            bandwidth_hz,
            frame_us: units * 2_500,
            stereo: toc & 0x04 != 0,
            code: toc & 0x03,
        }
    }

    /// Samples per channel of one frame at `sample_rate`.
    pub fn frame_samples(&self, sample_rate: u32) -> usize {
        (u64::from(sample_rate) * u64::from(self.frame_us) / 1_000_000) as usize
    }
}

/// Number of frames in a packet (RFC 6716 §3.2), checking the header bytes that say so.
pub fn packet_frames(packet: &[u8]) -> Result<usize, CodecError> {
    let Some(&toc) = packet.first() else {
        return Err(CodecError::OpusPacket("empty packet (0 bytes carry no TOC)".to_owned()));
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let Some(&count) = packet.get(1) else {
                return Err(CodecError::OpusPacket("code 3 packet without its frame-count byte".to_owned()));
            };
            let m = usize::from(count & 0x3F);
            if m == 0 {
                return Err(CodecError::OpusPacket("code 3 packet with a frame count of 0".to_owned()));
            }
            m
        }
    };
    let toc = OpusToc::parse(toc);
    // RFC 6716 §3.2.5: a packet holds at most 120 ms.
    if frames as u64 * u64::from(toc.frame_us) > 120_000 {
        return Err(CodecError::OpusPacket(format!(
            "{frames} frames of {} µs exceed the 120 ms an Opus packet may hold",
            toc.frame_us
        )));
    }
    Ok(frames)
}

/// Samples per channel the packet decodes to at `sample_rate` (for Ogg granule positions use
/// 48000, the unit RFC 7845 counts in).
pub fn packet_samples(packet: &[u8], sample_rate: u32) -> Result<usize, CodecError> {
    let frames = packet_frames(packet)?;
    // packet_frames has already rejected an empty packet.
    let toc = OpusToc::parse(packet[0]);
    Ok(frames * toc.frame_samples(sample_rate))
}
