//! The libopus encoder state.

use std::ptr::NonNull;

use ondes_libopus_sys as ffi;

use super::reason;
use crate::CodecError;
use crate::opus::config::{OpusApplication, OpusConfig};

/// One libopus encoder, configured from an [`OpusConfig`].
pub(crate) struct Encoder {
    state: NonNull<ffi::OpusEncoder>,
}

// SAFETY: the state is plain memory owned by this value, with no thread affinity; every call
// into libopus goes through `&mut self`, so it is never used from two threads at once.
unsafe impl Send for Encoder {}
// SAFETY: no method taking `&self` touches the state.
unsafe impl Sync for Encoder {}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create and freed only here.
        unsafe { ffi::opus_encoder_destroy(self.state.as_ptr()) }
    }
}

fn setup_error(code: i32) -> CodecError {
    CodecError::Opus { op: "encoder setup", reason: reason(code) }
}

impl Encoder {
    /// An encoder for a validated `cfg`.
    pub(crate) fn new(cfg: &OpusConfig) -> Result<Self, CodecError> {
        let application = match cfg.application {
            OpusApplication::Audio => ffi::OPUS_APPLICATION_AUDIO,
            OpusApplication::Voip => ffi::OPUS_APPLICATION_VOIP,
            OpusApplication::LowDelay => ffi::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        };
        let mut error = 0;
        // SAFETY: plain values in, an out-pointer to a live i32; validate() has bounded the
        // rate and channels to values libopus accepts (it would return NULL otherwise).
        let state = unsafe {
            ffi::opus_encoder_create(cfg.sample_rate as i32, i32::from(cfg.channels), application, &mut error)
        };
        let state = NonNull::new(state).ok_or_else(|| setup_error(error))?;
        let mut enc = Encoder { state };
        enc.ctl(ffi::OPUS_SET_VBR_REQUEST, i32::from(cfg.vbr))?;
        enc.ctl(ffi::OPUS_SET_COMPLEXITY_REQUEST, i32::from(cfg.complexity))?;
        enc.ctl(ffi::OPUS_SET_INBAND_FEC_REQUEST, i32::from(cfg.fec))?;
        enc.ctl(ffi::OPUS_SET_DTX_REQUEST, i32::from(cfg.dtx))?;
        enc.set_bitrate(cfg.bitrate_bps)?;
        enc.set_expected_loss(cfg.expected_loss_percent)?;
        Ok(enc)
    }

    /// One integer `ctl` request.
    fn ctl(&mut self, request: i32, value: i32) -> Result<(), CodecError> {
        // SAFETY: every request passed here takes one opus_int32 argument.
        let code = unsafe { ffi::opus_encoder_ctl(self.state.as_ptr(), request, value) };
        if code == ffi::OPUS_OK { Ok(()) } else { Err(setup_error(code)) }
    }

    pub(crate) fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        // bounded to 510000 by validate()
        self.ctl(ffi::OPUS_SET_BITRATE_REQUEST, bitrate_bps as i32)
    }

    pub(crate) fn set_expected_loss(&mut self, percent: u8) -> Result<(), CodecError> {
        self.ctl(ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST, i32::from(percent))
    }

    /// libopus's own look-ahead, in samples per channel at the input rate.
    pub(crate) fn lookahead(&mut self) -> Result<usize, CodecError> {
        let mut samples = 0i32;
        // SAFETY: OPUS_GET_LOOKAHEAD takes a pointer to an opus_int32, live for the call.
        let code = unsafe {
            ffi::opus_encoder_ctl(
                self.state.as_ptr(),
                ffi::OPUS_GET_LOOKAHEAD_REQUEST,
                &mut samples as *mut i32,
            )
        };
        if code != ffi::OPUS_OK {
            return Err(setup_error(code));
        }
        Ok(usize::try_from(samples).unwrap_or(0))
    }

    /// Encodes one frame of `frame_samples` per channel into `buf`, returning the packet size.
    /// With DTX on, libopus returns a packet of 1–2 bytes for a frame it does not send.
    pub(crate) fn encode(
        &mut self,
        pcm: &[f32],
        frame_samples: usize,
        buf: &mut [u8],
    ) -> Result<usize, CodecError> {
        // SAFETY: `pcm` holds exactly frame_samples × channels samples (checked by the caller)
        // and libopus writes at most `buf.len()` bytes to `buf`.
        let n = unsafe {
            ffi::opus_encode_float(
                self.state.as_ptr(),
                pcm.as_ptr(),
                frame_samples as i32,
                buf.as_mut_ptr(),
                buf.len() as i32,
            )
        };
        usize::try_from(n).map_err(|_| CodecError::Opus { op: "encode", reason: reason(n) })
    }
}
