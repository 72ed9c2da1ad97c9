//! [`OpusEncoder`]: one frame of interleaved `f32` in, one Opus packet out.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::config::{OpusApplication, OpusConfig};
use super::dtx::{self, DtxState};
use super::packet::{OpusMode, OpusToc};
use super::workarounds::{effective_complexity, hybrid_vbr_cap, opus_rs_loss_percent};
use crate::CodecError;

/// Size of the buffer a packet is coded into: libopus's recommended `max_data_bytes`. opus-rs
/// caps one frame at 1276 bytes (RFC 6716's limit); a 40/60 ms CELT packet holds 2–3 of them.
pub const MAX_PACKET_BYTES: usize = 4_000;

/// An Opus encoder for one stream (or one rung of a quality ladder).
pub struct OpusEncoder {
    inner: opus_rs::OpusEncoder,
    cfg: OpusConfig,
    frame_samples: usize,
    /// Look-ahead in samples per channel at the input rate (see [`OpusEncoder::lookahead`]).
    lookahead: usize,
    /// Where opus-rs writes a packet before it is appended to the caller's buffer: opus-rs
    /// needs a slice, and under VBR its length is the packet's size cap.
    scratch: Box<[u8; MAX_PACKET_BYTES]>,
    dtx: Option<DtxState>,
    /// Whether the last packet was coded Hybrid, whose VBR opus-rs does not rate-control: the
    /// next one then gets a buffer of its nominal size (see `workarounds::hybrid_vbr_cap`).
    last_hybrid: bool,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// Validates `cfg` ([`OpusConfig::validate`]) and builds the encoder.
    ///
    /// Frames shorter than 10 ms are CELT-only in Opus; libopus switches to CELT for them on
    /// its own but opus-rs does not, so such encoders are opened in opus-rs's CELT-only
    /// (restricted low-delay) application whatever `cfg.application` says.
    pub fn new(cfg: OpusConfig) -> Result<Self, CodecError> {
        cfg.validate()?;
        let inner = build(&cfg)?;
        // libopus's `OPUS_GET_LOOKAHEAD`: 2.5 ms of CELT overlap, plus 4 ms of delay
        // compensation (which lets SILK and CELT be switched seamlessly) unless CELT-only.
        let rate = cfg.sample_rate as usize;
        let lookahead = rate / 400 + if celt_only(&cfg) { 0 } else { rate / 250 };
        Ok(OpusEncoder {
            inner,
            frame_samples: cfg.frame_samples(),
            lookahead,
            scratch: Box::new([0; MAX_PACKET_BYTES]),
            dtx: cfg.dtx.then(DtxState::default),
            last_hybrid: false,
            cfg,
        })
    }

    /// Encodes exactly one frame (`frame_samples() × channels` interleaved samples, nominally
    /// in [-1, 1]) and appends one packet to `out`, returning its length in bytes.
    ///
    /// With DTX on, a frame in a run of silence comes out as a 1–2 byte packet with no coded
    /// audio (see [`super::dtx`]).
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
        let room = if self.cfg.vbr && self.last_hybrid {
            hybrid_vbr_cap(&self.cfg).clamp(3, MAX_PACKET_BYTES)
        } else {
            MAX_PACKET_BYTES
        };
        let (inner, scratch, frame) = (&mut self.inner, &mut self.scratch[..room], self.frame_samples);
        let n = match catch_unwind(AssertUnwindSafe(|| inner.encode(pcm, frame, scratch))) {
            Ok(result) => result.map_err(|reason| CodecError::Opus { op: "encode", reason })?,
            Err(_) => {
                // The state a panic left behind is unknown: start afresh.
                self.inner = build(&self.cfg)?;
                return Err(CodecError::Opus {
                    op: "encode",
                    reason: "opus-rs panicked; the encoder was reset",
                });
            }
        };
        let packet = &self.scratch[..n];
        self.last_hybrid = packet.first().is_some_and(|&toc| OpusToc::parse(toc).mode == OpusMode::Hybrid);
        if let Some(dtx) = &mut self.dtx
            && dtx.should_skip(pcm, self.cfg.frame_us)
        {
            return Ok(dtx::toc_only(packet, out));
        }
        out.extend_from_slice(packet);
        Ok(n)
    }

    /// Changes the target bitrate from the next frame on (for adaptive bitrate).
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        OpusConfig { bitrate_bps, ..self.cfg.clone() }.validate()?;
        self.cfg.bitrate_bps = bitrate_bps;
        self.inner.bitrate_bps = bitrate_bps as i32;
        self.inner.packet_loss_perc = i32::from(opus_rs_loss_percent(&self.cfg));
        Ok(())
    }

    /// Changes the expected loss (0–100 %) from the next frame on, e.g. from receiver reports.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), CodecError> {
        OpusConfig { expected_loss_percent: percent, ..self.cfg.clone() }.validate()?;
        self.cfg.expected_loss_percent = percent;
        self.inner.packet_loss_perc = i32::from(opus_rs_loss_percent(&self.cfg));
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

/// Whether the encoder runs CELT only: by request, or because the frames are shorter than
/// 10 ms (see [`OpusEncoder::new`]).
fn celt_only(cfg: &OpusConfig) -> bool {
    cfg.application == OpusApplication::LowDelay || cfg.frame_us < 10_000
}

/// The opus-rs encoder for a validated `cfg`.
fn build(cfg: &OpusConfig) -> Result<opus_rs::OpusEncoder, CodecError> {
    let application = match cfg.application {
        _ if celt_only(cfg) => opus_rs::Application::RestrictedLowDelay,
        OpusApplication::Audio => opus_rs::Application::Audio,
        OpusApplication::Voip => opus_rs::Application::Voip,
        OpusApplication::LowDelay => opus_rs::Application::RestrictedLowDelay,
    };
    // validate() has bounded the rate to 48000, the channels to 2 and the bitrate to 510000:
    // the casts are lossless.
    let mut inner = opus_rs::OpusEncoder::new(cfg.sample_rate as i32, usize::from(cfg.channels), application)
        .map_err(|reason| CodecError::Opus { op: "encoder setup", reason })?;
    inner.bitrate_bps = cfg.bitrate_bps as i32;
    inner.use_cbr = !cfg.vbr;
    inner.complexity = i32::from(effective_complexity(cfg));
    inner.use_inband_fec = cfg.fec;
    inner.packet_loss_perc = i32::from(opus_rs_loss_percent(cfg));
    Ok(inner)
}
