//! [`OpusDecoder`]: packets in, interleaved `f32` out, with loss concealment and FEC recovery,
//! whichever [`OpusEngine`] decodes them.

use super::config::SAMPLE_RATES;
use super::engine::OpusEngine;
use super::packet::packet_samples;
use crate::CodecError;

/// The engine-specific state.
enum Engine {
    #[cfg(feature = "libopus")]
    Libopus(super::libopus::Decoder),
    #[cfg(feature = "opus-rs")]
    OpusRs(Box<super::opus_rs::Decoder>),
}

/// An Opus decoder for one stream. The output rate and channel count are the decoder's own and
/// need not match the encoder's: Opus decodes any packet at any of its rates, mono or stereo.
pub struct OpusDecoder {
    engine: Engine,
    sample_rate: u32,
    channels: u16,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("engine", &self.engine())
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// What the engine is asked to do.
enum Op<'a> {
    Decode(&'a [u8]),
    Conceal,
    Fec(&'a [u8]),
}

impl OpusDecoder {
    /// A decoder of the default engine producing `channels` (1 or 2) interleaved channels at
    /// `sample_rate` (one of [`SAMPLE_RATES`]).
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, CodecError> {
        Self::with_engine(sample_rate, channels, OpusEngine::DEFAULT)
    }

    /// A decoder of `engine`, which must be compiled in.
    pub fn with_engine(sample_rate: u32, channels: u16, engine: OpusEngine) -> Result<Self, CodecError> {
        engine.check_compiled()?;
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
        let engine = match engine {
            #[cfg(feature = "libopus")]
            OpusEngine::Libopus => Engine::Libopus(super::libopus::Decoder::new(sample_rate, channels)?),
            #[cfg(feature = "opus-rs")]
            OpusEngine::OpusRs => {
                Engine::OpusRs(Box::new(super::opus_rs::Decoder::new(sample_rate, channels)?))
            }
            #[allow(unreachable_patterns)] // check_compiled() has refused the missing engine
            _ => return Err(CodecError::InvalidParameter(format!("Opus engine {engine} not in this build"))),
        };
        Ok(OpusDecoder { engine, sample_rate, channels })
    }

    /// The engine that decodes this stream.
    pub fn engine(&self) -> OpusEngine {
        match self.engine {
            #[cfg(feature = "libopus")]
            Engine::Libopus(_) => OpusEngine::Libopus,
            #[cfg(feature = "opus-rs")]
            Engine::OpusRs(_) => OpusEngine::OpusRs,
        }
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
        self.run(out, samples, Op::Decode(packet))
    }

    /// Appends `frame_samples` samples per channel of packet-loss concealment: what to play
    /// for a packet that never arrived (extrapolated from the audio before it, fading out).
    /// `frame_samples` must be a multiple of 2.5 ms.
    pub fn conceal(&mut self, frame_samples: usize, out: &mut Vec<f32>) -> Result<usize, CodecError> {
        self.check_lost_length(frame_samples)?;
        self.run(out, frame_samples, Op::Conceal)
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
        self.run(out, frame_samples, Op::Fec(next_packet))
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

    /// Grows `out` by `samples` frames, lets the engine fill them and rolls back on error, so
    /// `out` never keeps half-written audio.
    fn run(&mut self, out: &mut Vec<f32>, samples: usize, op: Op<'_>) -> Result<usize, CodecError> {
        let ch = usize::from(self.channels);
        let start = out.len();
        out.resize(start + samples * ch, 0.0);
        let buf = &mut out[start..];
        let result = match (&mut self.engine, op) {
            #[cfg(feature = "libopus")]
            (Engine::Libopus(dec), Op::Decode(p)) => dec.decode(p, buf),
            #[cfg(feature = "libopus")]
            (Engine::Libopus(dec), Op::Conceal) => dec.conceal(buf),
            #[cfg(feature = "libopus")]
            (Engine::Libopus(dec), Op::Fec(p)) => dec.decode_fec(p, buf),
            #[cfg(feature = "opus-rs")]
            (Engine::OpusRs(dec), Op::Decode(p)) => dec.decode(p, buf),
            #[cfg(feature = "opus-rs")]
            (Engine::OpusRs(dec), Op::Conceal) => dec.conceal(buf),
            #[cfg(feature = "opus-rs")]
            (Engine::OpusRs(dec), Op::Fec(p)) => dec.decode_fec(p, buf),
        };
        match result {
            Ok(n) if n <= samples => {
                out.truncate(start + n * ch);
                Ok(n)
            }
            Ok(_) => {
                out.truncate(start);
                Err(CodecError::Opus { op: "decode", reason: "the engine wrote more samples than asked" })
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}
