//! Encoding and decoding whole signals with one engine, configured as the server's ladder.

use ondes_codec::opus::{OpusApplication, OpusConfig, OpusDecoder, OpusEncoder, OpusEngine};

use super::CodecBenchError;

/// The speech ladder (kbit/s), as `rungs = "speech"` in a stream's config.
pub const SPEECH: [u32; 3] = [16, 32, 64];
/// The music ladder (kbit/s), as `rungs = "music"`.
pub const MUSIC: [u32; 6] = [64, 96, 128, 192, 256, 320];

/// A rung configured as the server's hub configures it: VBR, `voip` with in-band FEC at 5 %
/// expected loss up to 32 kbit/s, `audio` above.
pub fn rung(kbps: u32, complexity: u8, sample_rate: u32, channels: u16, frame_us: u32) -> OpusConfig {
    let low = kbps <= 32;
    OpusConfig {
        sample_rate,
        channels,
        frame_us,
        bitrate_bps: kbps * 1000,
        vbr: true,
        complexity,
        fec: low && frame_us >= 10_000,
        expected_loss_percent: if low { 5 } else { 0 },
        dtx: false,
        application: if low { OpusApplication::Voip } else { OpusApplication::Audio },
    }
}

/// Encoded packets of a whole signal and the encoder's look-ahead.
pub struct Encoded {
    pub packets: Vec<Vec<u8>>,
    pub lookahead: usize,
}

impl Encoded {
    /// Bit/s of the packets, for frames of `frame_us`.
    pub fn kbps(&self, frame_us: u32) -> f64 {
        let bytes: usize = self.packets.iter().map(Vec::len).sum();
        bytes as f64 * 8.0 / (self.packets.len() as f64 * f64::from(frame_us) / 1e6) / 1000.0
    }
}

/// Encodes `pcm` (a partial last frame zero-padded) plus the look-ahead's worth of zeros, so
/// that the decoded audio, once its delay is dropped, covers all of `pcm`.
pub fn encode(engine: OpusEngine, cfg: &OpusConfig, pcm: &[f32]) -> Result<Encoded, CodecBenchError> {
    let mut enc = OpusEncoder::with_engine(cfg.clone(), engine)?;
    let ch = usize::from(cfg.channels);
    let frame = enc.frame_samples() * ch;
    let mut padded = pcm.to_vec();
    padded.resize(pcm.len() + enc.lookahead() * ch, 0.0);
    let mut packets = Vec::with_capacity(padded.len() / frame + 1);
    for chunk in padded.chunks(frame) {
        let mut f = chunk.to_vec();
        f.resize(frame, 0.0);
        let mut out = Vec::new();
        enc.encode(&f, &mut out)?;
        packets.push(out);
    }
    Ok(Encoded { packets, lookahead: enc.lookahead() })
}

/// Decodes every packet with `engine`'s decoder.
pub fn decode(
    engine: OpusEngine,
    packets: &[Vec<u8>],
    rate: u32,
    channels: u16,
) -> Result<Vec<f32>, CodecBenchError> {
    let mut dec = OpusDecoder::with_engine(rate, channels, engine)?;
    let mut out = Vec::new();
    for p in packets {
        dec.decode(p, &mut out)?;
    }
    Ok(out)
}

/// `decoded` with its first `lookahead` samples per channel dropped.
pub fn trim(decoded: &[f32], lookahead: usize, channels: u16) -> &[f32] {
    &decoded[(lookahead * usize::from(channels)).min(decoded.len())..]
}
