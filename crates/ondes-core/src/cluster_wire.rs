//! The cluster's frame message: what an origin publishes on `<prefix>.stream.<id>.frames`
//! and what it answers to an edge's backlog request. One encoder and one decoder, used by
//! the origin tap and the edge source; the layout is specified in `docs/cluster.md`.
//!
//! ```text
//! offset size  field
//!  0     u8    version (= 1)
//!  1     u8    PCM format: 0 none, 1 s16le, 2 f32le
//!  2     u8    channels
//!  3     u8    rung count R
//!  4     u32   sample rate (Hz)
//!  8     u32   frame duration (µs)
//! 12     u64   origin epoch (changes when the origin process restarts)
//! 20     u64   sequence number of the first frame (all 64 bits)
//! 28     u16   frame count N (1..=65535)
//! 30     R × u16  rung bitrates (kbit/s), ascending
//!        N × { i64 capture time (µs since the Unix epoch)
//!              u8  packet count P, P × { u8 rung index, u16 length, bytes }
//!              PCM: frame samples × channels × (2 or 4) bytes, when the PCM format is not 0 }
//! ```
//!
//! All integers little-endian. Frame `i` has sequence `first_seq + i`; each frame carries its
//! own capture time (a source may stall, so times are not inferred from the duration). A rung
//! that had no packet for a frame (an encoder error, a lost passthrough packet) is simply
//! absent from that frame's list. The decoder never panics, whatever the bytes: every length
//! is checked against what is left.

/// Current version.
pub const VERSION: u8 = 1;
/// Fixed header length before the rung list.
pub const HEADER_LEN: usize = 30;

/// How a message carries PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PcmFormat {
    /// No PCM: receivers decode an Opus rung when they need samples.
    None = 0,
    /// Interleaved signed 16-bit little-endian.
    S16 = 1,
    /// Interleaved 32-bit float little-endian (the exact samples of the origin).
    F32 = 2,
}

impl PcmFormat {
    pub fn from_u8(v: u8) -> Option<PcmFormat> {
        match v {
            0 => Some(PcmFormat::None),
            1 => Some(PcmFormat::S16),
            2 => Some(PcmFormat::F32),
            _ => None,
        }
    }

    /// Bytes per sample (0 for none).
    pub fn sample_bytes(self) -> usize {
        match self {
            PcmFormat::None => 0,
            PcmFormat::S16 => 2,
            PcmFormat::F32 => 4,
        }
    }
}

/// The stream layout a message describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHeader {
    pub pcm: PcmFormat,
    pub channels: u8,
    pub sample_rate: u32,
    pub frame_us: u32,
    pub epoch: u64,
    pub first_seq: u64,
    pub rungs_kbps: Vec<u16>,
}

impl GroupHeader {
    /// Interleaved samples in one frame.
    pub fn frame_samples(&self) -> usize {
        (self.sample_rate as u64 * self.frame_us as u64 / 1_000_000) as usize * self.channels as usize
    }
}

/// One frame as it travels: capture time, a packet per rung, PCM bytes (empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame<'a> {
    pub capture_us: i64,
    pub packets: Vec<(u8, &'a [u8])>,
    pub pcm: &'a [u8],
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameGroup<'a> {
    pub header: GroupHeader,
    pub frames: Vec<WireFrame<'a>>,
}

/// Why a message cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterWireError {
    #[error("message of {0} bytes is shorter than the header")]
    Short(usize),
    #[error("unknown message version {0} (this node speaks {VERSION})")]
    Version(u8),
    #[error("unknown PCM format {0}")]
    PcmFormat(u8),
    #[error("a message carries 1 to 65535 frames, not {0}")]
    FrameCount(usize),
    #[error("the message ends inside frame {0}")]
    Truncated(usize),
    #[error("frame {frame}: rung index {rung} but the message has {rungs} rungs")]
    Rung { frame: usize, rung: u8, rungs: usize },
    #[error("frame {frame}: PCM of {got} bytes, the layout needs {want}")]
    PcmLength { frame: usize, got: usize, want: usize },
    #[error("{0} bytes after the last frame")]
    Trailing(usize),
    #[error("a packet of {0} bytes does not fit a u16 length")]
    PacketTooLong(usize),
    #[error("{0} rungs do not fit a u8 count")]
    TooManyRungs(usize),
}

/// Encodes a message into `out` (cleared first).
pub fn encode(
    header: &GroupHeader,
    frames: &[WireFrame<'_>],
    out: &mut Vec<u8>,
) -> Result<(), ClusterWireError> {
    if frames.is_empty() || frames.len() > u16::MAX as usize {
        return Err(ClusterWireError::FrameCount(frames.len()));
    }
    if header.rungs_kbps.len() > u8::MAX as usize {
        return Err(ClusterWireError::TooManyRungs(header.rungs_kbps.len()));
    }
    let pcm_len = header.frame_samples() * header.pcm.sample_bytes();
    out.clear();
    out.push(VERSION);
    out.push(header.pcm as u8);
    out.push(header.channels);
    out.push(header.rungs_kbps.len() as u8);
    out.extend_from_slice(&header.sample_rate.to_le_bytes());
    out.extend_from_slice(&header.frame_us.to_le_bytes());
    out.extend_from_slice(&header.epoch.to_le_bytes());
    out.extend_from_slice(&header.first_seq.to_le_bytes());
    out.extend_from_slice(&(frames.len() as u16).to_le_bytes());
    for k in &header.rungs_kbps {
        out.extend_from_slice(&k.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&f.capture_us.to_le_bytes());
        if f.packets.len() > u8::MAX as usize {
            return Err(ClusterWireError::TooManyRungs(f.packets.len()));
        }
        out.push(f.packets.len() as u8);
        for (rung, p) in &f.packets {
            if *rung as usize >= header.rungs_kbps.len() {
                return Err(ClusterWireError::Rung { frame: i, rung: *rung, rungs: header.rungs_kbps.len() });
            }
            let len = u16::try_from(p.len()).map_err(|_| ClusterWireError::PacketTooLong(p.len()))?;
            out.push(*rung);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(p);
        }
        if f.pcm.len() != pcm_len {
            return Err(ClusterWireError::PcmLength { frame: i, got: f.pcm.len(), want: pcm_len });
        }
        out.extend_from_slice(f.pcm);
    }
    Ok(())
}

/// A cursor over a message that never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}

/// Decodes a message; the frames borrow from `msg`.
pub fn decode(msg: &[u8]) -> Result<FrameGroup<'_>, ClusterWireError> {
    if msg.len() < HEADER_LEN {
        return Err(ClusterWireError::Short(msg.len()));
    }
    let u32_at = |o: usize| u32::from_le_bytes([msg[o], msg[o + 1], msg[o + 2], msg[o + 3]]);
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&msg[o..o + 8]);
        u64::from_le_bytes(a)
    };
    if msg[0] != VERSION {
        return Err(ClusterWireError::Version(msg[0]));
    }
    let pcm = PcmFormat::from_u8(msg[1]).ok_or(ClusterWireError::PcmFormat(msg[1]))?;
    let rung_count = msg[3] as usize;
    let count = u16::from_le_bytes([msg[28], msg[29]]) as usize;
    if count == 0 {
        return Err(ClusterWireError::FrameCount(0));
    }
    let mut r = Reader { buf: msg, pos: HEADER_LEN };
    let mut rungs_kbps = Vec::with_capacity(rung_count);
    for _ in 0..rung_count {
        rungs_kbps.push(r.u16().ok_or(ClusterWireError::Short(msg.len()))?);
    }
    let header = GroupHeader {
        pcm,
        channels: msg[2],
        sample_rate: u32_at(4),
        frame_us: u32_at(8),
        epoch: u64_at(12),
        first_seq: u64_at(20),
        rungs_kbps,
    };
    // a garbage layout could claim a huge frame: the length is bounded by the message itself
    let pcm_len = (header.sample_rate as u64)
        .saturating_mul(header.frame_us as u64)
        .checked_div(1_000_000)
        .unwrap_or(0)
        .saturating_mul(header.channels as u64)
        .saturating_mul(pcm.sample_bytes() as u64);
    let pcm_len = usize::try_from(pcm_len).unwrap_or(usize::MAX);
    let mut frames = Vec::with_capacity(count.min(msg.len() / 9));
    for i in 0..count {
        let capture_us = r.u64().ok_or(ClusterWireError::Truncated(i))? as i64;
        let n = r.u8().ok_or(ClusterWireError::Truncated(i))? as usize;
        let mut packets = Vec::with_capacity(n);
        for _ in 0..n {
            let rung = r.u8().ok_or(ClusterWireError::Truncated(i))?;
            if rung as usize >= rung_count {
                return Err(ClusterWireError::Rung { frame: i, rung, rungs: rung_count });
            }
            let len = r.u16().ok_or(ClusterWireError::Truncated(i))? as usize;
            packets.push((rung, r.take(len).ok_or(ClusterWireError::Truncated(i))?));
        }
        let pcm = r.take(pcm_len).ok_or(ClusterWireError::Truncated(i))?;
        frames.push(WireFrame { capture_us, packets, pcm });
    }
    if r.pos != msg.len() {
        return Err(ClusterWireError::Trailing(msg.len() - r.pos));
    }
    Ok(FrameGroup { header, frames })
}

/// Converts f32 samples to s16le bytes (clamped), appending to `out`.
pub fn f32_to_s16le(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Converts f32 samples to f32le bytes, appending to `out`.
pub fn f32_to_f32le(samples: &[f32], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 4);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// The samples of a frame's PCM bytes in `format` (empty for none).
pub fn pcm_to_f32(format: PcmFormat, bytes: &[u8]) -> Vec<f32> {
    match format {
        PcmFormat::None => Vec::new(),
        PcmFormat::S16 => {
            bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32767.0).collect()
        }
        PcmFormat::F32 => bytes
            .chunks_exact(4)
            .map(|c| crate::dsp::sanitize_sample(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    fn header(pcm: PcmFormat) -> GroupHeader {
        GroupHeader {
            pcm,
            channels: 2,
            sample_rate: 48_000,
            frame_us: 20_000,
            epoch: 0xDEAD_BEEF_0000_0001,
            first_seq: 88_000_000_123,
            rungs_kbps: vec![16, 32, 64, 128],
        }
    }

    #[test]
    fn round_trip_every_pcm_format() {
        for pcm in [PcmFormat::None, PcmFormat::S16, PcmFormat::F32] {
            let h = header(pcm);
            let pcm_bytes = vec![7u8; h.frame_samples() * pcm.sample_bytes()];
            let p1 = [1u8; 40];
            let p2 = vec![2u8; 320];
            let frames = vec![
                WireFrame { capture_us: 1_000, packets: vec![(0, &p1[..]), (3, &p2[..])], pcm: &pcm_bytes },
                WireFrame { capture_us: 21_000, packets: vec![], pcm: &pcm_bytes },
                WireFrame { capture_us: 41_500, packets: vec![(1, &p1[..])], pcm: &pcm_bytes },
            ];
            let mut out = Vec::new();
            encode(&h, &frames, &mut out).unwrap();
            let g = decode(&out).unwrap();
            assert_eq!(g.header, h);
            assert_eq!(g.frames, frames);
        }
    }

    #[test]
    fn bad_input_to_encode_is_an_error() {
        let h = header(PcmFormat::S16);
        let mut out = Vec::new();
        assert_eq!(encode(&h, &[], &mut out), Err(ClusterWireError::FrameCount(0)));
        let f = WireFrame { capture_us: 0, packets: vec![], pcm: &[1, 2] };
        assert!(matches!(encode(&h, &[f], &mut out), Err(ClusterWireError::PcmLength { .. })));
        let big = vec![0u8; 70_000];
        let h = header(PcmFormat::None);
        let f = WireFrame { capture_us: 0, packets: vec![(0, &big[..])], pcm: &[] };
        assert_eq!(encode(&h, &[f], &mut out), Err(ClusterWireError::PacketTooLong(70_000)));
        let f = WireFrame { capture_us: 0, packets: vec![(9, &[1u8][..])], pcm: &[] };
        assert!(matches!(encode(&h, &[f], &mut out), Err(ClusterWireError::Rung { rung: 9, .. })));
    }

    #[test]
    fn truncations_and_trailing_bytes_are_errors() {
        let h = header(PcmFormat::None);
        let p = [5u8; 100];
        let frames = vec![WireFrame { capture_us: 9, packets: vec![(2, &p[..])], pcm: &[] }];
        let mut out = Vec::new();
        encode(&h, &frames, &mut out).unwrap();
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        out.push(0);
        assert_eq!(decode(&out), Err(ClusterWireError::Trailing(1)));
        let mut v2 = out.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(ClusterWireError::Version(2)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let h = header(PcmFormat::S16);
        let pcm = vec![3u8; h.frame_samples() * 2];
        let p = [9u8; 200];
        let frames: Vec<WireFrame> = (0..4)
            .map(|i| WireFrame { capture_us: i, packets: vec![(0, &p[..]), (2, &p[..50])], pcm: &pcm })
            .collect();
        let mut valid = Vec::new();
        encode(&h, &frames, &mut valid).unwrap();
        for _ in 0..20_000 {
            // pure noise, noise behind a valid header, and a valid message with bytes flipped
            let len = rng.random_range(0..600);
            let mut noise = vec![0u8; len];
            rng.fill_bytes(&mut noise);
            let _ = decode(&noise);
            let mut headed = valid[..HEADER_LEN].to_vec();
            headed.extend_from_slice(&noise);
            let _ = decode(&headed);
            let mut flipped = valid.clone();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..flipped.len());
                flipped[i] = rng.random();
            }
            if let Ok(g) = decode(&flipped) {
                assert!(!g.frames.is_empty());
            }
        }
    }

    #[test]
    fn pcm_conversions_round_trip() {
        let s = [0.0f32, 0.5, -0.5, 1.0, -1.0, 2.0];
        let mut b = Vec::new();
        f32_to_f32le(&s, &mut b);
        // beyond full scale is clipped on the way in, as every float from outside is
        let clipped: Vec<f32> = s.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
        assert_eq!(pcm_to_f32(PcmFormat::F32, &b), clipped);
        b.clear();
        f32_to_s16le(&s, &mut b);
        let back = pcm_to_f32(PcmFormat::S16, &b);
        for (a, b) in s.iter().zip(&back) {
            assert!((a.clamp(-1.0, 1.0) - b).abs() < 1e-4);
        }
    }
}
