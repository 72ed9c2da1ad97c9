//! The opus-rs encoder, with DTX and the workarounds around it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::dtx::{self, DtxState};
use super::workarounds::{effective_complexity, hybrid_vbr_cap, opus_rs_loss_percent};
use crate::CodecError;
use crate::opus::config::{OpusApplication, OpusConfig};
use crate::opus::packet::{OpusMode, OpusToc};

/// One opus-rs encoder and the state of what ondes adds around it.
pub(crate) struct Encoder {
    inner: opus_rs::OpusEncoder,
    cfg: OpusConfig,
    dtx: Option<DtxState>,
    /// Whether the last packet was coded Hybrid, whose VBR opus-rs does not rate-control: the
    /// next one then gets a buffer of its nominal size (see `workarounds::hybrid_vbr_cap`).
    last_hybrid: bool,
}

impl Encoder {
    pub(crate) fn new(cfg: &OpusConfig) -> Result<Self, CodecError> {
        Ok(Encoder {
            inner: build(cfg)?,
            cfg: cfg.clone(),
            dtx: cfg.dtx.then(DtxState::default),
            last_hybrid: false,
        })
    }

    /// 2.5 ms of CELT overlap, plus 4 ms of delay compensation (which lets SILK and CELT be
    /// switched seamlessly) unless CELT-only: libopus's `OPUS_GET_LOOKAHEAD`.
    pub(crate) fn lookahead(&self) -> usize {
        let rate = self.cfg.sample_rate as usize;
        rate / 400 + if celt_only(&self.cfg) { 0 } else { rate / 250 }
    }

    pub(crate) fn set_bitrate(&mut self, bitrate_bps: u32) {
        self.cfg.bitrate_bps = bitrate_bps;
        self.inner.bitrate_bps = bitrate_bps as i32;
        self.inner.packet_loss_perc = i32::from(opus_rs_loss_percent(&self.cfg));
    }

    pub(crate) fn set_expected_loss(&mut self, percent: u8) {
        self.cfg.expected_loss_percent = percent;
        self.inner.packet_loss_perc = i32::from(opus_rs_loss_percent(&self.cfg));
    }

    /// Encodes one frame into `buf` (the caller's scratch) and returns the packet's length
    /// there; with DTX, a frame in a run of silence is cut to its TOC-only form.
    pub(crate) fn encode(
        &mut self,
        pcm: &[f32],
        frame_samples: usize,
        buf: &mut [u8],
    ) -> Result<usize, CodecError> {
        let room = if self.cfg.vbr && self.last_hybrid {
            hybrid_vbr_cap(&self.cfg).clamp(3, buf.len())
        } else {
            buf.len()
        };
        let inner = &mut self.inner;
        let scratch = &mut buf[..room];
        let n = match catch_unwind(AssertUnwindSafe(|| inner.encode(pcm, frame_samples, scratch))) {
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
        self.last_hybrid = buf[..n].first().is_some_and(|&toc| OpusToc::parse(toc).mode == OpusMode::Hybrid);
        if let Some(dtx) = &mut self.dtx
            && dtx.should_skip(pcm, self.cfg.frame_us)
        {
            return Ok(dtx::toc_only_in_place(buf, n));
        }
        Ok(n)
    }
}

/// Whether the encoder runs CELT only: by request, or because the frames are shorter than
/// 10 ms, which opus-rs codes only in its CELT-only application.
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
