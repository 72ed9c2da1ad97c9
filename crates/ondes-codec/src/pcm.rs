//! Raw PCM byte formats.
//!
//! Inside ondes every sample is an `f32` nominally in [-1, 1]. Bytes only appear at the edges:
//! a stdin source or a publisher sends `s16le`/`f32le`, a PCM listener receives `s16le`. The
//! encoder runs once per frame per stream on the hot path, so it is written to auto-vectorise.
//!
//! # Integer scaling convention
//!
//! `s16` ⇄ `f32` uses the same factor, 32768, in both directions: decode is `i / 32768` and
//! encode is `round(x * 32768)` saturated to `[-32768, 32767]`. One factor both ways makes
//! `s16 → f32 → s16` bit-exact (what a relay must guarantee, so audio that merely passes through
//! ondes is untouched), and `f32 → s16 → f32` is off by at most half a step (1/65536) except at
//! the very top, where +1.0 clips to 32767/32768 (an error of 1/32768 < 1/32767). The price is
//! that +1.0 cannot be represented exactly, which every 16-bit format shares anyway.

use ondes_core::dsp::sanitize_sample;
use std::fmt;
use std::str::FromStr;

/// Errors from raw PCM conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcmError {
    /// The name is not one of [`SampleFormat::NAMES`].
    #[error("unknown sample format {given:?} (valid: {})", SampleFormat::NAMES.join(", "))]
    UnknownFormat { given: String },

    /// A byte buffer ended in the middle of a sample.
    #[error("{len} bytes is not a whole number of {format} samples ({bytes_per_sample} bytes each)")]
    PartialSample { len: usize, format: SampleFormat, bytes_per_sample: usize },
}

/// Sample encodings accepted on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SampleFormat {
    /// Signed 16-bit little-endian: the compact, universal choice (`ffmpeg -f s16le`).
    #[default]
    S16Le,
    /// 32-bit float little-endian: lossless for what ondes holds internally.
    F32Le,
}

impl SampleFormat {
    /// Every accepted name, in the spelling of ffmpeg's `-f` option.
    pub const NAMES: [&'static str; 2] = ["s16le", "f32le"];

    /// Size of one sample (one channel of one frame) in bytes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::S16Le => 2,
            SampleFormat::F32Le => 4,
        }
    }

    /// The canonical name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::S16Le => "s16le",
            SampleFormat::F32Le => "f32le",
        }
    }
}

impl fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SampleFormat {
    type Err = PcmError;

    /// Case-insensitive, so `S16LE` from a config file or header works too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "s16le" => Ok(SampleFormat::S16Le),
            "f32le" => Ok(SampleFormat::F32Le),
            _ => Err(PcmError::UnknownFormat { given: s.to_owned() }),
        }
    }
}

/// Decodes interleaved PCM bytes, appending `f32` samples to `out`.
///
/// `bytes` must hold whole samples; a buffer that ends mid-sample is rejected rather than
/// silently truncated, because on a stream it means the sender and receiver disagree on the
/// format and everything after it would be noise. (Callers reading from a socket keep the
/// remainder for the next read instead.) `s16` is scaled by 1/32768; `f32` is taken as is but
/// for NaN (silence) and values beyond full scale (clipped).
pub fn decode_interleaved(bytes: &[u8], fmt: SampleFormat, out: &mut Vec<f32>) -> Result<(), PcmError> {
    let size = fmt.bytes_per_sample();
    if !bytes.chunks_exact(size).remainder().is_empty() {
        return Err(PcmError::PartialSample { len: bytes.len(), format: fmt, bytes_per_sample: size });
    }
    out.reserve(bytes.len() / size);
    match fmt {
        SampleFormat::S16Le => out.extend(
            bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * (1.0 / 32768.0)),
        ),
        SampleFormat::F32Le => out.extend(
            bytes.chunks_exact(4).map(|b| sanitize_sample(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        ),
    }
    Ok(())
}

/// `1.5 * 2^23`: adding then subtracting it rounds an `f32` of magnitude < 2^22 to the nearest
/// integer (ties to even) using plain SSE2/NEON adds. `f32::round` would lower to a `roundf`
/// libcall on baseline x86-64 and stop the loop from vectorising.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Converts one sample to `i16` with the crate's convention (see the module docs).
#[inline(always)]
fn f32_to_s16(x: f32) -> i16 {
    // Clamp first so the magic rounding stays in range; NaN passes through clamp and the
    // saturating `as` cast below turns it into 0 (silence), which is the safe choice.
    let scaled = (x * 32768.0).clamp(-32768.0, 32767.0);
    let rounded = (scaled + ROUND_MAGIC) - ROUND_MAGIC;
    rounded as i16
}

/// Encodes `f32` samples as `s16le`, appending to `out`.
///
/// Out-of-range input is clipped and NaN becomes 0. Rounding is to nearest (ties to even).
/// This is the hot path (once per frame per stream), so it writes into pre-sized storage in a
/// branch-free loop the compiler vectorises, instead of pushing byte pairs one by one.
pub fn encode_s16le(samples: &[f32], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + samples.len() * 2, 0);
    for (dst, &x) in out[start..].chunks_exact_mut(2).zip(samples) {
        dst.copy_from_slice(&f32_to_s16(x).to_le_bytes());
    }
}

/// Encodes `f32` samples as `f32le`, appending to `out`. Lossless.
pub fn encode_f32le(samples: &[f32], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + samples.len() * 4, 0);
    for (dst, &x) in out[start..].chunks_exact_mut(4).zip(samples) {
        dst.copy_from_slice(&x.to_le_bytes());
    }
}

/// Encodes `f32` samples in `fmt`, appending to `out`.
pub fn encode_interleaved(samples: &[f32], fmt: SampleFormat, out: &mut Vec<u8>) {
    match fmt {
        SampleFormat::S16Le => encode_s16le(samples, out),
        SampleFormat::F32Le => encode_f32le(samples, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_formats() {
        assert_eq!("s16le".parse::<SampleFormat>(), Ok(SampleFormat::S16Le));
        assert_eq!("F32LE".parse::<SampleFormat>(), Ok(SampleFormat::F32Le));
        let err = "u8".parse::<SampleFormat>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"u8\"") && msg.contains("s16le") && msg.contains("f32le"), "{msg}");
        for name in SampleFormat::NAMES {
            assert_eq!(name.parse::<SampleFormat>().unwrap().to_string(), name);
        }
        assert_eq!(SampleFormat::S16Le.bytes_per_sample(), 2);
        assert_eq!(SampleFormat::F32Le.bytes_per_sample(), 4);
    }

    #[test]
    fn s16_known_values() {
        let mut bytes = Vec::new();
        encode_s16le(&[0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, f32::NAN, 1.0 / 32768.0], &mut bytes);
        let ints: Vec<i16> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(ints, [0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 1]);
    }

    #[test]
    fn s16_matches_reference_rounding() {
        // The magic-number rounding must agree with plain round-to-nearest everywhere but exact
        // ties, where it picks the even neighbour.
        let mut bytes = Vec::new();
        let xs: Vec<f32> = (0..200_001).map(|i| (i as f32 - 100_000.0) / 90_000.0).collect();
        encode_s16le(&xs, &mut bytes);
        for (x, b) in xs.iter().zip(bytes.chunks_exact(2)) {
            let got = i16::from_le_bytes([b[0], b[1]]);
            let want = (x * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16;
            assert_eq!(got, want, "x = {x}");
        }
    }

    #[test]
    fn s16_round_trip_float_to_int_to_float() {
        let xs: Vec<f32> = (0..=20_000).map(|i| i as f32 / 10_000.0 - 1.0).collect();
        let mut bytes = Vec::new();
        encode_s16le(&xs, &mut bytes);
        let mut back = Vec::new();
        decode_interleaved(&bytes, SampleFormat::S16Le, &mut back).unwrap();
        assert_eq!(back.len(), xs.len());
        for (x, y) in xs.iter().zip(&back) {
            assert!((x - y).abs() <= 1.0 / 32767.0, "{x} -> {y}");
        }
    }

    #[test]
    fn s16_round_trip_int_to_float_to_int_is_exact() {
        let ints: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let bytes: Vec<u8> = ints.iter().flat_map(|i| i.to_le_bytes()).collect();
        let mut floats = Vec::new();
        decode_interleaved(&bytes, SampleFormat::S16Le, &mut floats).unwrap();
        let mut again = Vec::new();
        encode_s16le(&floats, &mut again);
        assert_eq!(bytes, again);
    }

    #[test]
    fn f32_round_trip_is_lossless_within_full_scale_and_appends() {
        let xs = [0.25f32, -1.5, 1e-9, 0.0, f32::NAN, f32::INFINITY];
        let mut bytes = vec![9u8];
        encode_interleaved(&xs, SampleFormat::F32Le, &mut bytes);
        assert_eq!(bytes.len(), 1 + 24);
        let mut out = vec![7.0];
        decode_interleaved(&bytes[1..], SampleFormat::F32Le, &mut out).unwrap();
        // what is not a number is silence, beyond full scale is clipped
        assert_eq!(out, [7.0, 0.25, -1.0, 1e-9, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn partial_sample_is_rejected() {
        let mut out = Vec::new();
        let err = decode_interleaved(&[1, 2, 3], SampleFormat::S16Le, &mut out).unwrap_err();
        assert_eq!(err, PcmError::PartialSample { len: 3, format: SampleFormat::S16Le, bytes_per_sample: 2 });
        assert!(err.to_string().contains("s16le"));
        assert!(decode_interleaved(&[0; 6], SampleFormat::F32Le, &mut out).is_err());
        assert!(out.is_empty());
    }
}
