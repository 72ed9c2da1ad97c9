//! `stdin:` source: raw interleaved PCM on standard input.

use std::io::Read;

use ondes_codec::{SampleFormat, StreamResampler, decode_interleaved, remix};
use ondes_core::FrameSpec;

use super::{Fill, PcmSource, SourceError};

/// Reads raw PCM from any reader (standard input in production, a buffer in tests),
/// converting its rate and channel count to the stream's.
pub struct StdinSource<R: Read + Send> {
    reader: R,
    format: SampleFormat,
    in_channels: usize,
    out_channels: usize,
    resampler: Option<StreamResampler>,
    bytes: Vec<u8>,
    decoded: Vec<f32>,
    remixed: Vec<f32>,
    ended: bool,
}

impl<R: Read + Send> StdinSource<R> {
    pub fn new(
        reader: R,
        format: SampleFormat,
        rate: Option<u32>,
        channels: Option<u16>,
        spec: &FrameSpec,
    ) -> Result<Self, SourceError> {
        let in_rate = rate.unwrap_or(spec.sample_rate);
        let in_channels = channels.unwrap_or(spec.channels) as usize;
        let resampler = if in_rate != spec.sample_rate {
            Some(StreamResampler::new(in_rate, spec.sample_rate, spec.channels as usize)?)
        } else {
            None
        };
        Ok(StdinSource {
            reader,
            format,
            in_channels,
            out_channels: spec.channels as usize,
            resampler,
            bytes: Vec::new(),
            decoded: Vec::new(),
            remixed: Vec::new(),
            ended: false,
        })
    }

    /// Reads about one frame's worth of input; returns false at end of input.
    fn read_chunk(&mut self, frames: usize) -> Result<bool, SourceError> {
        let want = frames * self.in_channels * self.format.bytes_per_sample();
        self.bytes.resize(want, 0);
        let mut got = 0;
        while got < want {
            match self.reader.read(&mut self.bytes[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let whole = got - got % (self.in_channels * self.format.bytes_per_sample());
        self.decoded.clear();
        // `whole` is a multiple of the sample size, the only thing decoding can reject
        decode_interleaved(&self.bytes[..whole], self.format, &mut self.decoded)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        self.remixed.clear();
        remix(&self.decoded, self.in_channels, self.out_channels, &mut self.remixed);
        Ok(got == want)
    }
}

impl<R: Read + Send> PcmSource for StdinSource<R> {
    fn fill(&mut self, out: &mut Vec<f32>, samples_per_frame: usize) -> Result<Fill, SourceError> {
        let frames = samples_per_frame / self.out_channels;
        let start = out.len();
        match self.resampler.as_mut() {
            None => {
                if self.ended {
                    return Ok(Fill::End);
                }
                let full = self.read_chunk(frames)?;
                out.extend_from_slice(&self.remixed);
                if !full {
                    self.ended = true;
                    if out.len() == start {
                        return Ok(Fill::End);
                    }
                    out.resize(start + samples_per_frame, 0.0);
                }
                Ok(Fill::Frame)
            }
            Some(_) => {
                loop {
                    // the resampler is present in this arm; borrow it again after read_chunk
                    if let Some(rs) = self.resampler.as_mut()
                        && rs.pop(frames, out)
                    {
                        return Ok(Fill::Frame);
                    }
                    if self.ended {
                        return Ok(Fill::End);
                    }
                    let full = self.read_chunk(frames)?;
                    if let Some(rs) = self.resampler.as_mut() {
                        rs.push(&self.remixed);
                        if !full {
                            self.ended = true;
                            rs.flush();
                        }
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        format!("stdin ({:?}, {} ch)", self.format, self.in_channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::FrameDuration;

    #[test]
    fn reads_s16le_mono_into_stereo_frames() {
        let spec = FrameSpec::new(8_000, 2, FrameDuration::from_ms(20.0).unwrap()).unwrap();
        // 2.5 frames of mono s16le at 8 kHz: 400 samples
        let mut bytes = Vec::new();
        for i in 0..400i16 {
            bytes.extend_from_slice(&(i * 10).to_le_bytes());
        }
        let mut src = StdinSource::new(&bytes[..], SampleFormat::S16Le, None, Some(1), &spec).unwrap();
        let mut out = Vec::new();
        assert_eq!(src.fill(&mut out, 320).unwrap(), Fill::Frame);
        assert_eq!(out.len(), 320);
        assert_eq!(out[0], out[1]);
        assert!((out[2] - 10.0 / 32768.0).abs() < 1e-4);
        assert_eq!(src.fill(&mut out, 320).unwrap(), Fill::Frame);
        assert_eq!(src.fill(&mut out, 320).unwrap(), Fill::Frame); // the half frame, padded
        assert_eq!(out.len(), 960);
        assert_eq!(src.fill(&mut out, 320).unwrap(), Fill::End);
    }
}
