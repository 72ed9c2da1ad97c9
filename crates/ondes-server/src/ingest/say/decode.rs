//! An engine's output, as it arrives in arbitrary chunks (WAV or raw s16le at any rate and
//! channel count), into frames of the stream's layout: parse → remix → resample → cut.
//! The first frame is ready as soon as one frame's worth of audio has arrived.

use ondes_codec::wav_stream::WavStream;
use ondes_codec::{StreamResampler, remix};
use ondes_core::FrameSpec;

/// Why the engine's output cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the engine's output is not readable WAV: {0}")]
    Wav(#[from] ondes_codec::wav_stream::WavError),
    #[error("cannot convert the engine's audio to the stream's layout: {0}")]
    Resample(#[from] ondes_codec::CodecError),
}

enum Input {
    Wav(WavStream),
    /// s16le at (rate, channels); `odd`: a byte of a sample split across chunks.
    Raw {
        rate: u32,
        channels: u16,
        odd: Option<u8>,
    },
}

/// See the module docs.
pub struct SpeechDecoder {
    input: Input,
    spec: FrameSpec,
    /// Made once the input layout is known.
    resampler: Option<(StreamResampler, usize)>,
    samples: Vec<f32>,
    remixed: Vec<f32>,
    /// Samples of an incomplete multichannel frame, kept for the next chunk.
    partial: Vec<f32>,
}

impl SpeechDecoder {
    /// `raw`: `Some((rate, channels))` for raw s16le; `None` for WAV.
    pub fn new(raw: Option<(u32, u16)>, spec: FrameSpec) -> Self {
        let input = match raw {
            Some((rate, channels)) => Input::Raw { rate, channels, odd: None },
            None => Input::Wav(WavStream::new()),
        };
        SpeechDecoder {
            input,
            spec,
            resampler: None,
            samples: Vec::new(),
            remixed: Vec::new(),
            partial: Vec::new(),
        }
    }

    /// Feeds a chunk of output.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.samples.clear();
        let layout = match &mut self.input {
            Input::Wav(w) => {
                w.feed(bytes, &mut self.samples)?;
                w.format().map(|f| (f.sample_rate, f.channels))
            }
            Input::Raw { rate, channels, odd } => {
                let mut iter = odd.take().into_iter().chain(bytes.iter().copied());
                while let Some(lo) = iter.next() {
                    match iter.next() {
                        Some(hi) => self.samples.push(f32::from(i16::from_le_bytes([lo, hi])) / 32768.0),
                        None => *odd = Some(lo),
                    }
                }
                Some((*rate, *channels))
            }
        };
        let Some((rate, channels)) = layout else { return Ok(()) };
        if self.resampler.is_none() {
            let r = StreamResampler::new(rate, self.spec.sample_rate, usize::from(self.spec.channels))?;
            self.resampler = Some((r, usize::from(channels).max(1)));
        }
        if let Some((r, from_channels)) = &mut self.resampler {
            self.partial.extend_from_slice(&self.samples);
            let whole = self.partial.len() - self.partial.len() % *from_channels;
            self.remixed.clear();
            remix(&self.partial[..whole], *from_channels, usize::from(self.spec.channels), &mut self.remixed);
            self.partial.drain(..whole);
            r.push(&self.remixed);
        }
        Ok(())
    }

    /// The next whole frame, if one is ready.
    pub fn pop(&mut self) -> Option<Vec<f32>> {
        let (r, _) = self.resampler.as_mut()?;
        let mut frame = Vec::with_capacity(self.spec.samples_per_frame());
        r.pop(self.spec.samples_per_channel(), &mut frame).then_some(frame)
    }

    /// The end of the output: what is left, the last partial frame padded with silence.
    pub fn finish(&mut self) -> Vec<Vec<f32>> {
        let mut frames = Vec::new();
        let Some((r, _)) = self.resampler.as_mut() else { return frames };
        r.flush();
        let mut f = Vec::new();
        while r.pop(self.spec.samples_per_channel(), &mut f) {
            frames.push(std::mem::take(&mut f));
        }
        if r.pop_up_to(usize::MAX, &mut f) > 0 {
            f.resize(self.spec.samples_per_frame(), 0.0);
            frames.push(f);
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::FrameDuration;

    #[test]
    fn raw_chunks_split_mid_sample_become_whole_frames() {
        let spec = FrameSpec::new(48_000, 2, FrameDuration::DEFAULT).unwrap();
        let mut d = SpeechDecoder::new(Some((24_000, 1)), spec);
        // 30 ms of a constant at 24 kHz mono, fed in odd-sized chunks
        let bytes: Vec<u8> = std::iter::repeat_n(8192i16.to_le_bytes(), 720).flatten().collect();
        for c in bytes.chunks(7) {
            d.feed(c).unwrap();
        }
        let mut frames = Vec::new();
        while let Some(f) = d.pop() {
            frames.push(f);
        }
        frames.extend(d.finish());
        assert!(!frames.is_empty());
        assert!(frames.iter().all(|f| f.len() == 1920));
        let total: usize = frames.len() * 960;
        assert!(total >= 1440, "{total}");
        // the middle of the first frame carries the signal, on both channels
        assert!((frames[0][1000] - 0.25).abs() < 0.02 && (frames[0][1001] - 0.25).abs() < 0.02);
    }
}
