//! Push/pull sample-rate conversion for streams.
//!
//! Sources deliver audio in whatever chunk sizes they like (a decoder packet of 1152 frames, a
//! socket read of 37 bytes' worth, a sound-card callback), while the hub wants frames of exactly
//! `samples_per_channel()` at the stream's rate. [`StreamResampler`] decouples the two: `push`
//! any amount, `pop` exactly a frame when one is ready.
//!
//! # Choice of resampler
//!
//! A stream's rates are fixed for its lifetime, so the ratio never changes and a *synchronous*
//! resampler fits: rubato's [`Fft`] resamples exactly `to/from` by zero-padding or truncating the
//! spectrum of overlapping blocks, with an anti-aliasing filter applied in the frequency domain.
//! It is both cheaper per sample than a sinc interpolator and exact in ratio (no drift over
//! hours). With ~256-frame blocks the anti-aliasing cutoff sits near 21 kHz for 44.1 ↔ 48 kHz,
//! above hearing. Its block sizes are multiples of `rate / gcd(from, to)` (147 → 160 for 44.1 → 48 kHz).
//! For an awkward rate pair whose gcd is tiny (44101 Hz) those blocks would be a second of
//! audio long, so there we fall back to rubato's asynchronous sinc interpolator ([`Async`]) run
//! at a constant ratio: same quality class, bounded latency.
//!
//! We use fixed-size *input* chunks ([`FixedSync::Input`]) and keep our own FIFOs on both
//! sides. Because the resampler always sees the concatenated input cut into the same chunks,
//! the output is bit-identical however the caller splits its pushes.
//!
//! # Timing
//!
//! The resampler's start-up delay is trimmed, so output sample `k` lines up with input time
//! `k / to_rate`, and [`flush`](StreamResampler::flush) emits exactly
//! `round(input_frames * to / from)` frames in total. A resampled file is therefore as long as
//! the original, and looping it does not drift.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

use crate::CodecError;

/// Input frames per FFT call. About 256 frames (5–6 ms) keeps the added latency well under one
/// 20 ms stream frame while still giving the anti-aliasing filter a sharp transition band.
const CHUNK_FRAMES: usize = 256;

/// Largest `rate / gcd` block for which the FFT resampler is used (see the module docs).
const MAX_FFT_BLOCK: usize = 2048;

/// A FIFO of interleaved samples with cheap consumption from the front.
#[derive(Debug, Default)]
struct Fifo {
    buf: Vec<f32>,
    read: usize,
}

impl Fifo {
    fn samples(&self) -> &[f32] {
        &self.buf[self.read..]
    }

    fn len(&self) -> usize {
        self.buf.len() - self.read
    }

    fn consume(&mut self, n: usize) {
        self.read = (self.read + n).min(self.buf.len());
        // Compact only when the dead prefix dominates, so the amortised cost stays O(1) per
        // sample and the buffer does not creep forward forever.
        if self.read == self.buf.len() {
            self.buf.clear();
            self.read = 0;
        } else if self.read > 4096 && self.read * 2 > self.buf.len() {
            self.buf.drain(..self.read);
            self.read = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.read = 0;
    }
}

/// The rubato side of a [`StreamResampler`]; absent when the rates are equal.
struct Engine {
    resampler: Box<dyn Resampler<f32> + Send>,
    /// Output scratch sized for the largest chunk the resampler can produce.
    scratch: Vec<f32>,
    /// Start-up delay frames still to drop from the output.
    to_trim: usize,
    /// Input frames pushed since the last flush/reset.
    frames_in: u64,
    /// Output frames emitted (after trimming) since the last flush/reset.
    frames_out: u64,
}

/// A push/pull resampler for interleaved `f32` audio (see the module docs).
///
/// When `from_rate == to_rate` it is a plain FIFO: no filtering, no delay.
pub struct StreamResampler {
    from_rate: u32,
    to_rate: u32,
    channels: usize,
    engine: Option<Engine>,
    input: Fifo,
    output: Fifo,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_rate", &self.from_rate)
            .field("to_rate", &self.to_rate)
            .field("channels", &self.channels)
            .field("passthrough", &self.engine.is_none())
            .field("buffered_in", &(self.input.len() / self.channels))
            .field("available", &self.available())
            .finish()
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl StreamResampler {
    /// Creates a resampler from `from_rate` to `to_rate` Hz for `channels` interleaved channels.
    pub fn new(from_rate: u32, to_rate: u32, channels: usize) -> Result<Self, CodecError> {
        if from_rate == 0 || to_rate == 0 || channels == 0 {
            return Err(CodecError::InvalidParameter(format!(
                "resampler needs non-zero rates and channels (got {from_rate} Hz -> {to_rate} Hz, \
                 {channels} channels)"
            )));
        }
        let engine = if from_rate == to_rate {
            None
        } else {
            let resampler = Self::build(from_rate as usize, to_rate as usize, channels)
                .map_err(|e| CodecError::Resampler { from_rate, to_rate, channels, reason: e.to_string() })?;
            let scratch = vec![0.0; resampler.output_frames_max() * channels];
            let to_trim = resampler.output_delay();
            Some(Engine { resampler, scratch, to_trim, frames_in: 0, frames_out: 0 })
        };
        Ok(StreamResampler {
            from_rate,
            to_rate,
            channels,
            engine,
            input: Fifo::default(),
            output: Fifo::default(),
        })
    }

    fn build(
        from: usize,
        to: usize,
        channels: usize,
    ) -> Result<Box<dyn Resampler<f32> + Send>, rubato::ResamplerConstructionError> {
        let g = gcd(from, to);
        if from / g <= MAX_FFT_BLOCK && to / g <= MAX_FFT_BLOCK {
            // One sub-chunk per call: the FFT block is the smallest multiple of `from / g`
            // covering CHUNK_FRAMES, which bounds the delay to half a block.
            Ok(Box::new(Fft::<f32>::new_custom(
                from,
                to,
                CHUNK_FRAMES,
                1,
                channels,
                WindowFunction::BlackmanHarris2,
                FixedSync::Input,
            )?))
        } else {
            // 128 taps with a Blackman-Harris window and cubic interpolation between 256
            // oversampled filter phases: rubato's recommended high-quality setting.
            let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2)
                .oversampling_factor(256)
                .interpolation(SincInterpolationType::Cubic);
            Ok(Box::new(Async::<f32>::new_sinc(
                to as f64 / from as f64,
                1.0,
                &params,
                CHUNK_FRAMES,
                channels,
                FixedAsync::Input,
            )?))
        }
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from_rate
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to_rate
    }

    /// Interleaved channel count (same on both sides).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// True when the rates are equal and audio passes through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.engine.is_none()
    }

    /// Latency in output frames: how far behind the input the output runs, not counting audio
    /// waiting in the output FIFO. This is the filter's delay (trimmed from the output, so it
    /// shows up as later availability rather than leading silence) plus up to one input chunk of
    /// buffering. Zero in pass-through.
    pub fn delay(&self) -> usize {
        match &self.engine {
            None => 0,
            Some(e) => {
                let chunk_out = (e.resampler.input_frames_next() as u64 * self.to_rate as u64)
                    .div_ceil(self.from_rate as u64) as usize;
                e.resampler.output_delay() + chunk_out
            }
        }
    }

    /// Output frames ready to pop.
    pub fn available(&self) -> usize {
        self.output.len() / self.channels
    }

    /// Appends interleaved input. A trailing partial frame is ignored (see [`remix`]'s reasoning:
    /// a caller bug must not panic the audio path).
    ///
    /// [`remix`]: fn@crate::remix
    pub fn push(&mut self, interleaved: &[f32]) {
        let whole = interleaved.len() - interleaved.len() % self.channels;
        let interleaved = &interleaved[..whole];
        match &mut self.engine {
            None => self.output.buf.extend_from_slice(interleaved),
            Some(engine) => {
                engine.frames_in += (whole / self.channels) as u64;
                self.input.buf.extend_from_slice(interleaved);
                Self::run(engine, &mut self.input, &mut self.output, self.channels, false);
            }
        }
    }

    /// Feeds every complete chunk in `input` to the resampler; with `finish`, also the partial
    /// tail (zero-padded by rubato).
    fn run(engine: &mut Engine, input: &mut Fifo, output: &mut Fifo, channels: usize, finish: bool) {
        loop {
            let need = engine.resampler.input_frames_next();
            let have = input.len() / channels;
            let partial = if have >= need {
                None
            } else if finish && have > 0 {
                Some(have)
            } else {
                return;
            };
            let frames = partial.unwrap_or(need);
            let used =
                Self::process(engine, &input.samples()[..frames * channels], partial, output, channels);
            input.consume(used * channels);
        }
    }

    /// One `process_into_buffer` call over `samples` (`partial` = valid frames when fewer than a
    /// full chunk; `Some(0)` pumps silence). Returns input frames consumed.
    fn process(
        engine: &mut Engine,
        samples: &[f32],
        partial: Option<usize>,
        output: &mut Fifo,
        channels: usize,
    ) -> usize {
        let frames_in = samples.len() / channels;
        let out_frames = engine.scratch.len() / channels;
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        // Why the expects cannot fail: the adapters are built from slices whose lengths are exact
        // multiples of `channels` (checked by construction above), the output scratch holds
        // `output_frames_max()` frames, and the input holds `input_frames_next()` frames or is
        // flagged as partial. Those are exactly rubato's documented preconditions, so
        // neither the adapter constructors nor `process_into_buffer` can fail.
        let input =
            InterleavedSlice::new(samples, channels, frames_in).expect("input length is whole frames");
        let mut out = InterleavedSlice::new_mut(&mut engine.scratch[..], channels, out_frames)
            .expect("scratch length is whole frames");
        let (used, produced) = engine
            .resampler
            .process_into_buffer(&input, &mut out, indexing.as_ref())
            .expect("buffer sizes follow the resampler's own input_frames_next/output_frames_max");
        let trim = engine.to_trim.min(produced);
        engine.to_trim -= trim;
        output.buf.extend_from_slice(&engine.scratch[trim * channels..produced * channels]);
        engine.frames_out += (produced - trim) as u64;
        // A partial call reports the padded chunk as consumed; only the valid frames were ours.
        used.min(frames_in)
    }

    /// Appends exactly `frames_per_channel` frames to `out` and returns true, or appends nothing
    /// and returns false when fewer are available.
    pub fn pop(&mut self, frames_per_channel: usize, out: &mut Vec<f32>) -> bool {
        if self.available() < frames_per_channel {
            return false;
        }
        self.pop_up_to(frames_per_channel, out);
        true
    }

    /// Appends up to `max_frames` available frames to `out`; returns how many. Used to drain
    /// the tail after [`flush`](Self::flush).
    pub fn pop_up_to(&mut self, max_frames: usize, out: &mut Vec<f32>) -> usize {
        let frames = self.available().min(max_frames);
        let n = frames * self.channels;
        out.extend_from_slice(&self.output.samples()[..n]);
        self.output.consume(n);
        frames
    }

    /// Marks the end of the input: processes what is buffered, zero-padding the last chunk,
    /// and drains the filter so that exactly `round(frames_in * to / from)` output frames have
    /// been produced since the start (or the last flush). The output stays available to `pop`;
    /// the next `push` starts a fresh stream.
    pub fn flush(&mut self) {
        let channels = self.channels;
        let Some(engine) = &mut self.engine else { return };
        Self::run(engine, &mut self.input, &mut self.output, channels, true);
        let expected = (engine.frames_in as u128 * self.to_rate as u128 + self.from_rate as u128 / 2)
            / self.from_rate as u128;
        let expected = expected as u64;
        // Pump silence until the delayed tail has come out. A call may emit nothing until an
        // FFT block completes, so this takes a few calls; the guard only protects against a
        // resampler that never produces output, which would otherwise hang the caller.
        let mut guard = 0;
        while engine.frames_out < expected && guard < 1024 {
            Self::process(engine, &[], Some(0), &mut self.output, channels);
            guard += 1;
        }
        if engine.frames_out > expected {
            let extra = (engine.frames_out - expected) as usize * channels;
            let keep = self.output.buf.len().saturating_sub(extra).max(self.output.read);
            self.output.buf.truncate(keep);
        }
        Self::reset_engine(engine);
    }

    fn reset_engine(engine: &mut Engine) {
        engine.resampler.reset();
        engine.to_trim = engine.resampler.output_delay();
        engine.frames_in = 0;
        engine.frames_out = 0;
    }

    /// Discards all buffered input and output and restarts the filter, e.g. after a seek.
    pub fn reset(&mut self) {
        self.input.clear();
        self.output.clear();
        if let Some(engine) = &mut self.engine {
            Self::reset_engine(engine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn sine(rate: u32, freq: f64, amp: f64, frames: usize, channels: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let v = (amp * (2.0 * PI * freq * i as f64 / rate as f64).sin()) as f32;
                std::iter::repeat_n(v, channels)
            })
            .collect()
    }

    /// Amplitude of the `freq` component of channel `ch`, by projection onto sin and cos.
    fn tone_amplitude(x: &[f32], channels: usize, ch: usize, rate: u32, freq: f64) -> f64 {
        let (mut s, mut c, mut n) = (0.0, 0.0, 0.0);
        for (i, fr) in x.chunks_exact(channels).enumerate() {
            let w = 2.0 * PI * freq * i as f64 / rate as f64;
            s += fr[ch] as f64 * w.sin();
            c += fr[ch] as f64 * w.cos();
            n += 1.0;
        }
        2.0 * (s * s + c * c).sqrt() / n
    }

    fn zero_crossings(x: &[f32], channels: usize) -> usize {
        x.chunks_exact(channels)
            .map(|f| f[0])
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    fn resample_all(r: &mut StreamResampler, input: &[f32], chunks: &[usize]) -> Vec<f32> {
        let ch = r.channels();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < input.len() {
            let n = (chunks[i % chunks.len()] * ch).min(input.len() - pos);
            r.push(&input[pos..pos + n]);
            pos += n;
            i += 1;
            // Interleave pops of an awkward size to exercise the output FIFO too.
            while r.pop(441, &mut out) {}
        }
        r.flush();
        r.pop_up_to(usize::MAX, &mut out);
        out
    }

    #[test]
    fn sine_44k1_to_48k_keeps_frequency_amplitude_and_length() {
        let input = sine(44_100, 1000.0, 0.5, 44_100, 2);
        let mut r = StreamResampler::new(44_100, 48_000, 2).unwrap();
        assert!(!r.is_passthrough());
        assert!(r.delay() > 0 && r.delay() < 48_000 / 50, "delay {} should be < 20 ms", r.delay());
        let out = resample_all(&mut r, &input, &[4096]);
        assert_eq!(out.len(), 48_000 * 2, "exactly round(44100 * 48000 / 44100) frames");
        // Skip the edges, where the filter rings against the implicit silence around the clip.
        let mid = &out[2 * 2400..2 * 45_600];
        let amp = tone_amplitude(mid, 2, 0, 48_000, 1000.0);
        assert!((amp - 0.5).abs() < 0.005, "amplitude {amp}");
        let zc = zero_crossings(mid, 2);
        // 0.9 s of 1 kHz: 900 cycles, two crossings each.
        assert!((zc as i64 - 1800).abs() <= 2, "zero crossings {zc}");
        // Time alignment: with the delay trimmed, the output is the same sine sampled at 48 kHz.
        let reference = sine(48_000, 1000.0, 0.5, 48_000, 2);
        let err =
            mid.iter().zip(&reference[2 * 2400..2 * 45_600]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 2e-3, "max deviation from the ideal 48 kHz sine {err}");
        // Channels stay independent and identical here.
        assert!(out.chunks_exact(2).all(|f| f[0] == f[1]));
    }

    #[test]
    fn odd_chunk_sizes_match_one_block() {
        let input = sine(44_100, 1000.0, 0.8, 30_000, 2);
        let mut one = StreamResampler::new(44_100, 48_000, 2).unwrap();
        let whole = resample_all(&mut one, &input, &[usize::MAX / 4]);
        let mut odd = StreamResampler::new(44_100, 48_000, 2).unwrap();
        let pieces = resample_all(&mut odd, &input, &[37, 1000, 3]);
        assert_eq!(whole.len(), pieces.len());
        let err = whole.iter().zip(&pieces).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err <= 1e-4, "max difference {err}");
    }

    #[test]
    fn downsampling_rejects_what_the_new_rate_cannot_hold() {
        // 12 kHz cannot exist at 16 kHz; without anti-aliasing it would fold down to 4 kHz.
        let mut r = StreamResampler::new(48_000, 16_000, 1).unwrap();
        let out = resample_all(&mut r, &sine(48_000, 12_000.0, 0.5, 48_000, 1), &[960]);
        assert_eq!(out.len(), 16_000);
        let mid = &out[1_000..15_000];
        let rms = (mid.iter().map(|x| x * x).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms < 5e-4, "residual {rms}, want < 5e-4 (57 dB below the input)");
    }

    #[test]
    fn pop_is_all_or_nothing() {
        let mut r = StreamResampler::new(48_000, 44_100, 1).unwrap();
        let mut out = vec![];
        r.push(&vec![0.1; 100]);
        assert!(!r.pop(960, &mut out));
        assert!(out.is_empty());
        r.push(&vec![0.1; 48_000]);
        assert!(r.pop(441, &mut out));
        assert_eq!(out.len(), 441);
    }

    #[test]
    fn flush_then_reuse_and_downsample_length() {
        let mut r = StreamResampler::new(48_000, 16_000, 1).unwrap();
        for _ in 0..2 {
            let out = resample_all(&mut r, &sine(48_000, 440.0, 0.3, 12_345, 1), &[960]);
            assert_eq!(out.len(), 4_115);
            assert_eq!(r.available(), 0);
        }
    }

    #[test]
    fn awkward_rate_pair_uses_sinc_and_works() {
        let mut r = StreamResampler::new(44_101, 48_000, 1).unwrap();
        let out = resample_all(&mut r, &sine(44_101, 1000.0, 0.5, 44_101, 1), &[500]);
        assert_eq!(out.len(), 48_000);
        let amp = tone_amplitude(&out[2400..45_600], 1, 0, 48_000, 1000.0);
        assert!((amp - 0.5).abs() < 0.01, "amplitude {amp}");
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut r = StreamResampler::new(48_000, 48_000, 2).unwrap();
        assert!(r.is_passthrough());
        assert_eq!(r.delay(), 0);
        r.push(&[0.1, 0.2, 0.3, 0.4, 0.5]);
        let mut out = vec![];
        assert!(r.pop(2, &mut out));
        assert_eq!(out, [0.1, 0.2, 0.3, 0.4]);
        r.flush();
        assert_eq!(r.available(), 0);
    }

    #[test]
    fn invalid_parameters_are_errors() {
        assert!(StreamResampler::new(0, 48_000, 2).is_err());
        assert!(StreamResampler::new(44_100, 48_000, 0).is_err());
    }
}
