//! [`OpusDecoder`]: packets in, interleaved `f32` out, with loss concealment and FEC recovery.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::config::SAMPLE_RATES;
use super::packet::packet_samples;
use crate::CodecError;

/// An Opus decoder for one stream. The output rate and channel count are the decoder's own and
/// need not match the encoder's: Opus decodes any packet at any of its rates, mono or stereo.
pub struct OpusDecoder {
    inner: opus_rs::OpusDecoder,
    sample_rate: u32,
    channels: u16,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder producing `channels` (1 or 2) interleaved channels at `sample_rate` (one of
    /// [`SAMPLE_RATES`]).
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, CodecError> {
        if !SAMPLE_RATES.contains(&sample_rate) {
            return Err(CodecError::InvalidParameter(format!(
                "Opus decoder sample rate {sample_rate} Hz (valid: 8000, 12000, 16000, 24000, 48000)"
            )));
        }
        if !(1..=2).contains(&channels) {
            return Err(CodecError::InvalidParameter(format!(
                "Opus decoder channels {channels} (valid: 1, 2)"
            )));
        }
        // Both checked above, so the casts are lossless.
        let inner = opus_rs::OpusDecoder::new(sample_rate as i32, usize::from(channels))
            .map_err(|reason| CodecError::Opus { op: "decoder setup", reason })?;
        Ok(OpusDecoder { inner, sample_rate, channels })
    }

    /// Output rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Output channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Decodes one packet, appending its audio to `out`; returns samples per channel.
    ///
    /// A 1-byte (TOC-only) packet — what DTX sends during silence — decodes to concealment /
    /// comfort noise of the duration its TOC states, as in libopus.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<usize, CodecError> {
        let samples = packet_samples(packet, self.sample_rate)?;
        self.run(out, samples, "decode", |inner, buf| inner.decode(packet, samples, buf))
    }

    /// Appends `frame_samples` samples per channel of packet-loss concealment: what to play
    /// for a packet that never arrived (extrapolated from the audio before it, fading out).
    /// `frame_samples` must be a multiple of 2.5 ms.
    pub fn conceal(&mut self, frame_samples: usize, out: &mut Vec<f32>) -> Result<usize, CodecError> {
        self.check_lost_length(frame_samples)?;
        self.run(out, frame_samples, "concealment", |inner, buf| inner.decode(&[], frame_samples, buf))
    }

    /// Rebuilds a lost frame of `frame_samples` from the in-band FEC of `next_packet`, the
    /// packet that followed it, and appends it; returns samples per channel.
    ///
    /// Then decode `next_packet` itself as usual. When `next_packet` carries no FEC (the
    /// encoder had FEC off, the frame was not speech, the packet is CELT-only) this is the same
    /// as [`conceal`](Self::conceal), as in libopus.
    pub fn decode_fec(
        &mut self,
        next_packet: &[u8],
        frame_samples: usize,
        out: &mut Vec<f32>,
    ) -> Result<usize, CodecError> {
        self.check_lost_length(frame_samples)?;
        packet_samples(next_packet, self.sample_rate)?;
        self.run(out, frame_samples, "FEC decode", |inner, buf| {
            inner.decode_fec(next_packet, frame_samples, buf)
        })
    }

    fn check_lost_length(&self, frame_samples: usize) -> Result<(), CodecError> {
        let quantum = self.sample_rate as usize / 400;
        if frame_samples == 0 || !frame_samples.is_multiple_of(quantum) || frame_samples > quantum * 48 {
            return Err(CodecError::InvalidParameter(format!(
                "a lost frame of {frame_samples} samples: must be a multiple of 2.5 ms ({quantum} samples \
                 at {} Hz), at most 120 ms",
                self.sample_rate
            )));
        }
        Ok(())
    }

    /// Grows `out` by `samples` frames, lets `f` fill them and rolls back on error, so `out`
    /// never keeps half-written audio.
    fn run(
        &mut self,
        out: &mut Vec<f32>,
        samples: usize,
        op: &'static str,
        f: impl FnOnce(&mut opus_rs::OpusDecoder, &mut [f32]) -> Result<usize, &'static str>,
    ) -> Result<usize, CodecError> {
        let start = out.len();
        out.resize(start + samples * usize::from(self.channels), 0.0);
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| f(inner, &mut out[start..]))) {
            Ok(Ok(n)) => {
                out.truncate(start + n * usize::from(self.channels));
                Ok(n)
            }
            Ok(Err(reason)) => {
                out.truncate(start);
                Err(CodecError::Opus { op, reason })
            }
            Err(_) => {
                // A packet made opus-rs panic (it is fuzzed, but packets come from the network):
                // drop the state the panic left and carry on with a fresh decoder.
                out.truncate(start);
                self.inner = opus_rs::OpusDecoder::new(self.sample_rate as i32, usize::from(self.channels))
                    .map_err(|reason| CodecError::Opus { op: "decoder setup", reason })?;
                Err(CodecError::Opus { op, reason: "opus-rs panicked; the decoder was reset" })
            }
        }
    }
}
