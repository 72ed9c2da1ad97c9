//! The opus-rs decoder, rebuilt after a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::CodecError;

/// One opus-rs decoder.
pub(crate) struct Decoder {
    inner: opus_rs::OpusDecoder,
    sample_rate: u32,
    channels: u16,
}

impl Decoder {
    /// A decoder at a valid Opus rate with 1 or 2 channels (checked by the caller).
    pub(crate) fn new(sample_rate: u32, channels: u16) -> Result<Self, CodecError> {
        Ok(Decoder { inner: build(sample_rate, channels)?, sample_rate, channels })
    }

    pub(crate) fn decode(&mut self, packet: &[u8], buf: &mut [f32]) -> Result<usize, CodecError> {
        let samples = buf.len() / usize::from(self.channels);
        self.run(buf, "decode", |inner, buf| inner.decode(packet, samples, buf))
    }

    pub(crate) fn conceal(&mut self, buf: &mut [f32]) -> Result<usize, CodecError> {
        let samples = buf.len() / usize::from(self.channels);
        self.run(buf, "concealment", |inner, buf| inner.decode(&[], samples, buf))
    }

    pub(crate) fn decode_fec(&mut self, next_packet: &[u8], buf: &mut [f32]) -> Result<usize, CodecError> {
        let samples = buf.len() / usize::from(self.channels);
        self.run(buf, "FEC decode", |inner, buf| inner.decode_fec(next_packet, samples, buf))
    }

    /// Runs `f`, turning an opus-rs panic into an error and a fresh decoder.
    fn run(
        &mut self,
        buf: &mut [f32],
        op: &'static str,
        f: impl FnOnce(&mut opus_rs::OpusDecoder, &mut [f32]) -> Result<usize, &'static str>,
    ) -> Result<usize, CodecError> {
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| f(inner, buf))) {
            Ok(result) => result.map_err(|reason| CodecError::Opus { op, reason }),
            Err(_) => {
                // A packet made opus-rs panic (packets come from the network): drop the state
                // the panic left and carry on with a fresh decoder.
                self.inner = build(self.sample_rate, self.channels)?;
                Err(CodecError::Opus { op, reason: "opus-rs panicked; the decoder was reset" })
            }
        }
    }
}

fn build(sample_rate: u32, channels: u16) -> Result<opus_rs::OpusDecoder, CodecError> {
    // Both checked by the caller, so the casts are lossless.
    opus_rs::OpusDecoder::new(sample_rate as i32, usize::from(channels))
        .map_err(|reason| CodecError::Opus { op: "decoder setup", reason })
}
