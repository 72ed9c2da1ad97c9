//! An incremental WAV reader for audio that is still being written (espeak-ng's stdout).
//!
//! A WAV written to a pipe cannot have its sizes patched afterwards, so writers put a
//! placeholder in the `data` size (espeak-ng: 0x7FFFF000; others 0 or 0xFFFFFFFF). We take
//! the declared size as an upper bound (a file may carry chunks after the audio), except 0,
//! which means "until the end". Sans-IO: bytes in, samples out, as they arrive.

use ondes_core::dsp::sanitize_sample;

/// The audio layout found in the `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits: u16,
    pub float: bool,
}

impl WavFormat {
    fn bytes_per_sample(&self) -> usize {
        usize::from(self.bits / 8)
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for the 12-byte RIFF/WAVE header.
    Riff,
    /// Reading chunk headers (and skipping non-audio chunks).
    Chunks,
    /// In the data chunk; `left` bytes may still belong to it.
    Data {
        left: u64,
    },
    Done,
}

/// Why the bytes are not a WAV we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE stream")]
    NotWav,
    #[error("unsupported WAV encoding (format tag {tag}, {bits} bits); use PCM 8/16/24/32-bit or float 32")]
    Unsupported { tag: u16, bits: u16 },
    #[error("the data chunk comes before the fmt chunk")]
    NoFormat,
}

/// Incremental WAV parser (see the module docs).
#[derive(Debug)]
pub struct WavStream {
    state: State,
    buf: Vec<u8>,
    format: Option<WavFormat>,
}

impl Default for WavStream {
    fn default() -> Self {
        WavStream { state: State::Riff, buf: Vec::new(), format: None }
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl WavStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The format, once the `fmt ` chunk has been read.
    pub fn format(&self) -> Option<WavFormat> {
        self.format
    }

    /// Feeds bytes; appends every complete sample now available (interleaved, as f32) to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), WavError> {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.state {
                State::Riff => {
                    if self.buf.len() < 12 {
                        return Ok(());
                    }
                    if &self.buf[..4] != b"RIFF" || &self.buf[8..12] != b"WAVE" {
                        return Err(WavError::NotWav);
                    }
                    self.buf.drain(..12);
                    self.state = State::Chunks;
                }
                State::Chunks => {
                    if self.buf.len() < 8 {
                        return Ok(());
                    }
                    let id = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
                    let size = u32_at(&self.buf, 4) as u64;
                    if &id == b"data" {
                        if self.format.is_none() {
                            return Err(WavError::NoFormat);
                        }
                        self.buf.drain(..8);
                        let left = if size == 0 { u64::MAX } else { size };
                        self.state = State::Data { left };
                        continue;
                    }
                    // other chunks are read whole (padded to an even size)
                    let whole = 8 + size as usize + (size as usize & 1);
                    if self.buf.len() < whole {
                        return Ok(());
                    }
                    if &id == b"fmt " {
                        self.format = Some(parse_fmt(&self.buf[8..8 + size as usize])?);
                    }
                    self.buf.drain(..whole);
                }
                State::Data { left } => {
                    let Some(fmt) = self.format else { return Err(WavError::NoFormat) };
                    let width = fmt.bytes_per_sample();
                    let usable = (self.buf.len() as u64).min(left) as usize;
                    let usable = usable - usable % width;
                    decode(&self.buf[..usable], fmt, out);
                    self.buf.drain(..usable);
                    let left = left - usable as u64;
                    self.state = if left < width as u64 { State::Done } else { State::Data { left } };
                    return Ok(());
                }
                State::Done => {
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
    }
}

fn parse_fmt(b: &[u8]) -> Result<WavFormat, WavError> {
    if b.len() < 16 {
        return Err(WavError::NotWav);
    }
    let mut tag = u16_at(b, 0);
    let bits = u16_at(b, 14);
    // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID
    if tag == 0xFFFE && b.len() >= 26 {
        tag = u16_at(b, 24);
    }
    let float = match (tag, bits) {
        (1, 8 | 16 | 24 | 32) => false,
        (3, 32) => true,
        _ => return Err(WavError::Unsupported { tag, bits }),
    };
    let channels = u16_at(b, 2);
    let sample_rate = u32_at(b, 4);
    if channels == 0 || sample_rate == 0 {
        return Err(WavError::NotWav);
    }
    Ok(WavFormat { sample_rate, channels, bits, float })
}

fn decode(bytes: &[u8], fmt: WavFormat, out: &mut Vec<f32>) {
    match (fmt.bits, fmt.float) {
        (8, _) => out.extend(bytes.iter().map(|&b| (f32::from(b) - 128.0) / 128.0)),
        (16, _) => {
            out.extend(bytes.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0))
        }
        (24, _) => out.extend(
            bytes
                .chunks_exact(3)
                .map(|c| (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f32 / 8_388_608.0),
        ),
        (32, false) => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0),
        ),
        _ => out.extend(
            bytes.chunks_exact(4).map(|c| sanitize_sample(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(data_size: u32, samples: &[i16], extra_chunk: bool) -> Vec<u8> {
        let mut v = b"RIFF\xff\xff\xff\x7fWAVE".to_vec();
        if extra_chunk {
            v.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        }
        v.extend_from_slice(b"fmt \x10\x00\x00\x00\x01\x00\x01\x00");
        v.extend_from_slice(&22_050u32.to_le_bytes());
        v.extend_from_slice(&44_100u32.to_le_bytes());
        v.extend_from_slice(&[2, 0, 16, 0]);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_size.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn streams_samples_byte_by_byte_with_a_placeholder_size() {
        let samples: Vec<i16> = (0..500).map(|i| (i * 61 % 30_000) as i16 - 15_000).collect();
        let bytes = wav(0x7FFF_F000, &samples, true);
        let mut p = WavStream::new();
        let mut out = Vec::new();
        for b in &bytes {
            p.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        let fmt = p.format().unwrap();
        assert_eq!((fmt.sample_rate, fmt.channels, fmt.bits), (22_050, 1, 16));
        let back: Vec<i16> = out.iter().map(|x| (x * 32768.0) as i16).collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn a_declared_size_bounds_the_audio() {
        let mut bytes = wav(4, &[100, 200, 300], false);
        bytes.extend_from_slice(b"junk");
        let mut out = Vec::new();
        WavStream::new().feed(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert_eq!(WavStream::new().feed(b"OggS\0\0\0\0\0\0\0\0", &mut Vec::new()), Err(WavError::NotWav));
        let mut adpcm = wav(0, &[], false);
        adpcm[20] = 2; // format tag 2 (MS ADPCM)
        assert!(matches!(WavStream::new().feed(&adpcm, &mut Vec::new()), Err(WavError::Unsupported { .. })));
    }
}
