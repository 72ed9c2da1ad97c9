//! `stdin:s16le|f32le?rate=&channels=`: raw interleaved PCM from a pipe (any reader).

use std::io::Read;

use ondes_codec::SampleFormat;

use super::{FrameSource, Framer, Layout, SourceError};

/// Raw PCM from a reader, converted to the stream's layout.
pub struct PipeSource {
    reader: Box<dyn Read + Send>,
    format: SampleFormat,
    framer: Framer,
    buf: Vec<u8>,
    /// Bytes of an incomplete sample kept for the next read.
    carry: Vec<u8>,
    samples: Vec<f32>,
    tail: std::collections::VecDeque<Vec<f32>>,
    ended: bool,
}

impl PipeSource {
    pub fn new(
        reader: Box<dyn Read + Send>,
        format: SampleFormat,
        rate: u32,
        channels: u16,
        layout: Layout,
    ) -> Result<Self, SourceError> {
        Ok(PipeSource {
            reader,
            format,
            framer: Framer::new(rate, channels, layout)?,
            buf: vec![0; 16 * 1024],
            carry: Vec::new(),
            samples: Vec::new(),
            tail: Default::default(),
            ended: false,
        })
    }
}

impl FrameSource for PipeSource {
    fn next_frame(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        loop {
            if let Some(f) = self.framer.pop() {
                return Ok(Some(f));
            }
            if self.ended {
                return Ok(self.tail.pop_front());
            }
            let n = match self.reader.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                // a trailing partial sample cannot be audio: drop it with the end of input
                self.ended = true;
                self.tail = self.framer.finish().into();
                continue;
            }
            self.carry.extend_from_slice(&self.buf[..n]);
            let whole = self.carry.len() - self.carry.len() % self.format.bytes_per_sample();
            self.samples.clear();
            // `whole` is a multiple of the sample size, which is all decode_interleaved checks
            ondes_codec::decode_interleaved(&self.carry[..whole], self.format, &mut self.samples)
                .map_err(|e| SourceError::Spec(e.to_string()))?;
            self.carry.drain(..whole);
            self.framer.push(&self.samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16le_bytes_become_frames_bit_exact_at_the_same_rate() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37) as i16).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let layout = Layout { sample_rate: 16_000, channels: 1, frame_us: 20_000 };
        // a reader that returns 3 bytes at a time, splitting samples
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = 3.min(self.0.len() - self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut src =
            PipeSource::new(Box::new(Trickle(bytes, 0)), SampleFormat::S16Le, 16_000, 1, layout).unwrap();
        let mut out = Vec::new();
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!(f.len(), 320);
            out.extend(f);
        }
        assert_eq!(out.len(), 1280, "1000 samples → 4 frames, the last padded");
        let back: Vec<i16> = out[..1000].iter().map(|x| (x * 32768.0).round() as i16).collect();
        assert_eq!(back, samples);
    }
}
