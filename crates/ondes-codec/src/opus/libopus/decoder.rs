//! The libopus decoder state.

use std::ptr::NonNull;

use ondes_libopus_sys as ffi;

use super::reason;
use crate::CodecError;

/// One libopus decoder.
pub(crate) struct Decoder {
    state: NonNull<ffi::OpusDecoder>,
    channels: usize,
}

// SAFETY: the state is plain memory owned by this value, with no thread affinity; every call
// into libopus goes through `&mut self`.
unsafe impl Send for Decoder {}
// SAFETY: no method taking `&self` touches the state.
unsafe impl Sync for Decoder {}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create and freed only here.
        unsafe { ffi::opus_decoder_destroy(self.state.as_ptr()) }
    }
}

impl Decoder {
    /// A decoder at a valid Opus rate with 1 or 2 channels (checked by the caller).
    pub(crate) fn new(sample_rate: u32, channels: u16) -> Result<Self, CodecError> {
        let mut error = 0;
        // SAFETY: plain values in, an out-pointer to a live i32.
        let state = unsafe { ffi::opus_decoder_create(sample_rate as i32, i32::from(channels), &mut error) };
        let state =
            NonNull::new(state).ok_or(CodecError::Opus { op: "decoder setup", reason: reason(error) })?;
        Ok(Decoder { state, channels: usize::from(channels) })
    }

    /// Decodes `packet` (or conceals, when it is empty) into `buf`, which holds a whole number
    /// of samples per channel; returns samples per channel written.
    fn run(
        &mut self,
        packet: &[u8],
        fec: bool,
        buf: &mut [f32],
        op: &'static str,
    ) -> Result<usize, CodecError> {
        let capacity = buf.len() / self.channels;
        let len = i32::try_from(packet.len())
            .map_err(|_| CodecError::Opus { op, reason: "libopus: packet longer than 2 GiB" })?;
        let data = if packet.is_empty() { std::ptr::null() } else { packet.as_ptr() };
        // SAFETY: `data` is NULL (loss) or `len` readable bytes; libopus writes at most
        // `capacity` × channels floats to `buf`, which has that many.
        let n = unsafe {
            ffi::opus_decode_float(
                self.state.as_ptr(),
                data,
                len,
                buf.as_mut_ptr(),
                capacity as i32,
                i32::from(fec),
            )
        };
        usize::try_from(n).map_err(|_| CodecError::Opus { op, reason: reason(n) })
    }

    pub(crate) fn decode(&mut self, packet: &[u8], buf: &mut [f32]) -> Result<usize, CodecError> {
        self.run(packet, false, buf, "decode")
    }

    pub(crate) fn conceal(&mut self, buf: &mut [f32]) -> Result<usize, CodecError> {
        self.run(&[], false, buf, "concealment")
    }

    pub(crate) fn decode_fec(&mut self, next_packet: &[u8], buf: &mut [f32]) -> Result<usize, CodecError> {
        self.run(next_packet, true, buf, "FEC decode")
    }
}
