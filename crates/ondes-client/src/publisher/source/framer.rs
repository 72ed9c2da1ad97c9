//! Cutting audio that arrives in arbitrary chunks, at any rate and channel count, into frames
//! of the stream's layout. Used by the sources that read a pipe (stdin, espeak-ng).

use ondes_codec::{CodecError, StreamResampler, remix};

use super::Layout;

/// Remix → resample → fixed-size frames.
#[derive(Debug)]
pub struct Framer {
    from_channels: usize,
    layout: Layout,
    resampler: StreamResampler,
    remixed: Vec<f32>,
    /// Samples of an incomplete multichannel frame, kept for the next push.
    partial: Vec<f32>,
    flushed: bool,
}

impl Framer {
    pub fn new(from_rate: u32, from_channels: u16, layout: Layout) -> Result<Self, CodecError> {
        Ok(Framer {
            from_channels: usize::from(from_channels),
            layout,
            resampler: StreamResampler::new(from_rate, layout.sample_rate, usize::from(layout.channels))?,
            remixed: Vec::new(),
            partial: Vec::new(),
            flushed: false,
        })
    }

    /// Adds interleaved samples at the input rate and channel count. A chunk may end in the
    /// middle of a multichannel frame (a pipe read does); the rest comes with the next push.
    pub fn push(&mut self, interleaved: &[f32]) {
        self.partial.extend_from_slice(interleaved);
        let whole = self.partial.len() - self.partial.len() % self.from_channels.max(1);
        self.remixed.clear();
        remix(
            &self.partial[..whole],
            self.from_channels,
            usize::from(self.layout.channels),
            &mut self.remixed,
        );
        self.partial.drain(..whole);
        self.resampler.push(&self.remixed);
    }

    /// The next whole frame, if one is ready.
    pub fn pop(&mut self) -> Option<Vec<f32>> {
        let mut frame = Vec::with_capacity(self.layout.samples_per_frame());
        self.resampler.pop(self.layout.samples_per_channel(), &mut frame).then_some(frame)
    }

    /// The end of the input: drains the resampler; the last partial frame, if any, is padded
    /// with silence (a frame is the smallest unit the server accepts).
    pub fn finish(&mut self) -> Vec<Vec<f32>> {
        if !self.flushed {
            self.resampler.flush();
            self.flushed = true;
        }
        let mut frames = Vec::new();
        while let Some(f) = self.pop() {
            frames.push(f);
        }
        let mut tail = Vec::new();
        if self.resampler.pop_up_to(usize::MAX, &mut tail) > 0 {
            tail.resize(self.layout.samples_per_frame(), 0.0);
            frames.push(tail);
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_any_size_become_whole_frames_and_the_tail_is_padded() {
        let layout = Layout { sample_rate: 48_000, channels: 1, frame_us: 20_000 };
        let mut f = Framer::new(16_000, 2, layout).unwrap();
        let mut frames = Vec::new();
        // 1.01 s of 16 kHz stereo in ragged chunks
        let input: Vec<f32> = (0..16_160 * 2).map(|i| ((i / 2) as f32 * 0.01).sin() * 0.5).collect();
        for chunk in input.chunks(37 * 2 + 1) {
            f.push(chunk);
            while let Some(fr) = f.pop() {
                frames.push(fr);
            }
        }
        frames.extend(f.finish());
        assert!(frames.iter().all(|fr| fr.len() == 960));
        // 1.01 s = 50.5 frames → 51 frames, the last half silence
        assert_eq!(frames.len(), 51);
        assert!(frames[50][480..].iter().all(|&x| x == 0.0));
        assert!(frames[25].iter().any(|&x| x.abs() > 0.1));
    }
}
