//! [`OpusEncoder`]: one frame of interleaved `f32` in, one Opus packet out, whichever
//! [`OpusEngine`] codes it.

use super::config::OpusConfig;
use super::engine::OpusEngine;
use crate::CodecError;

/// Size of the buffer a packet is coded into: libopus's recommended `max_data_bytes`. One
/// frame is at most 1275 bytes (RFC 6716); a 40/60 ms CELT packet holds 2–3 of them.
pub const MAX_PACKET_BYTES: usize = 4_000;

/// The engine-specific state.
enum Engine {
    #[cfg(feature = "libopus")]
    Libopus(super::libopus::Encoder),
    #[cfg(feature = "opus-rs")]
    OpusRs(Box<super::opus_rs::Encoder>),
}

/// An Opus encoder for one stream (or one rung of a quality ladder).
pub struct OpusEncoder {
    engine: Engine,
    cfg: OpusConfig,
    frame_samples: usize,
    /// Look-ahead in samples per channel at the input rate (see [`OpusEncoder::lookahead`]).
    lookahead: usize,
    /// Where a packet is coded before it is appended to the caller's buffer.
    scratch: Box<[u8; MAX_PACKET_BYTES]>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("engine", &self.engine())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// Validates `cfg` ([`OpusConfig::validate`]) and builds an encoder of the default engine
    /// ([`OpusEngine::DEFAULT`]).
    pub fn new(cfg: OpusConfig) -> Result<Self, CodecError> {
        Self::with_engine(cfg, OpusEngine::DEFAULT)
    }

    /// Validates `cfg` and builds an encoder of `engine`, which must be compiled in.
    pub fn with_engine(cfg: OpusConfig, engine: OpusEngine) -> Result<Self, CodecError> {
        engine.check_compiled()?;
        cfg.validate()?;
        let (engine, lookahead) = match engine {
            #[cfg(feature = "libopus")]
            OpusEngine::Libopus => {
                let mut enc = super::libopus::Encoder::new(&cfg)?;
                let lookahead = enc.lookahead()?;
                (Engine::Libopus(enc), lookahead)
            }
            #[cfg(feature = "opus-rs")]
            OpusEngine::OpusRs => {
                super::opus_rs::check(&cfg)?;
                let enc = super::opus_rs::Encoder::new(&cfg)?;
                let lookahead = enc.lookahead();
                (Engine::OpusRs(Box::new(enc)), lookahead)
            }
            #[allow(unreachable_patterns)] // check_compiled() has refused the missing engine
            _ => return Err(CodecError::InvalidParameter(format!("Opus engine {engine} not in this build"))),
        };
        Ok(OpusEncoder {
            engine,
            frame_samples: cfg.frame_samples(),
            lookahead,
            scratch: Box::new([0; MAX_PACKET_BYTES]),
            cfg,
        })
    }

    /// The engine that codes this stream.
    pub fn engine(&self) -> OpusEngine {
        match self.engine {
            #[cfg(feature = "libopus")]
            Engine::Libopus(_) => OpusEngine::Libopus,
            #[cfg(feature = "opus-rs")]
            Engine::OpusRs(_) => OpusEngine::OpusRs,
        }
    }

    /// Encodes exactly one frame (`frame_samples() × channels` interleaved samples, nominally
    /// in [-1, 1]) and appends one packet to `out`, returning its length in bytes.
    ///
    /// With DTX on, a frame in a run of silence comes out as a 1–2 byte packet with no coded
    /// audio, which decoders fill with comfort noise.
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        let expected = self.frame_samples * usize::from(self.cfg.channels);
        if pcm.len() != expected {
            return Err(CodecError::OpusFrameLength {
                expected,
                frame_samples: self.frame_samples,
                channels: self.cfg.channels,
                got: pcm.len(),
            });
        }
        let buf = &mut self.scratch[..];
        let n = match &mut self.engine {
            #[cfg(feature = "libopus")]
            Engine::Libopus(enc) => enc.encode(pcm, self.frame_samples, buf)?,
            #[cfg(feature = "opus-rs")]
            Engine::OpusRs(enc) => enc.encode(pcm, self.frame_samples, buf)?,
        };
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }

    /// Changes the target bitrate from the next frame on (for adaptive bitrate).
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        OpusConfig { bitrate_bps, ..self.cfg.clone() }.validate()?;
        match &mut self.engine {
            #[cfg(feature = "libopus")]
            Engine::Libopus(enc) => enc.set_bitrate(bitrate_bps)?,
            #[cfg(feature = "opus-rs")]
            Engine::OpusRs(enc) => enc.set_bitrate(bitrate_bps),
        }
        self.cfg.bitrate_bps = bitrate_bps;
        Ok(())
    }

    /// Changes the expected loss (0–100 %) from the next frame on, e.g. from receiver reports.
    /// With FEC on, a higher loss makes the encoder spend more of the bitrate on redundancy
    /// (libopus also narrows the bandwidth when FEC would not fit otherwise).
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), CodecError> {
        OpusConfig { expected_loss_percent: percent, ..self.cfg.clone() }.validate()?;
        match &mut self.engine {
            #[cfg(feature = "libopus")]
            Engine::Libopus(enc) => enc.set_expected_loss(percent)?,
            #[cfg(feature = "opus-rs")]
            Engine::OpusRs(enc) => enc.set_expected_loss(percent),
        }
        self.cfg.expected_loss_percent = percent;
        Ok(())
    }

    /// The settings in force.
    pub fn config(&self) -> &OpusConfig {
        &self.cfg
    }

    /// Samples per channel [`encode`](Self::encode) expects.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// How many samples per channel (at the input rate) the decoded audio lags the input:
    /// 6.5 ms, or 2.5 ms for CELT-only encoders. A decoder should drop this much at the start.
    pub fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// [`lookahead`](Self::lookahead) in 48 kHz samples: the `pre_skip` of an Ogg/Opus
    /// `OpusHead` (RFC 7845 §4.2), which is always counted at 48 kHz.
    pub fn pre_skip_48k(&self) -> u16 {
        // At most 6.5 ms = 312 samples at 48 kHz: fits in u16.
        (self.lookahead * 48_000 / self.cfg.sample_rate as usize) as u16
    }
}
