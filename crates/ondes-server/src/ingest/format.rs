//! Parsing an HTTP ingest body (bytes as they arrive) into PCM frames of the stream's layout.
//!
//! Pure: bytes in, frames out; no IO. Supported bodies:
//! `audio/L16;rate=…;channels=…` (RFC 2586: signed 16-bit **big-endian**),
//! `audio/wav` (PCM 16/24-bit or float 32-bit; a streaming WAV with an unknown data size works),
//! `audio/ogg` with Opus.

use ondes_codec::OggOpusDecoder;
use ondes_core::FrameSpec;
use ondes_core::dsp::sanitize_sample;

/// Why a body cannot be ingested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error(
        "unsupported Content-Type '{0}'; send audio/L16;rate=R;channels=C, audio/wav or audio/ogg (Opus)"
    )]
    UnsupportedType(String),
    #[error(
        "the body is {got_rate} Hz, {got_ch} channel(s); this stream is {want_rate} Hz, {want_ch} channel(s)"
    )]
    Layout { got_rate: u32, got_ch: u16, want_rate: u32, want_ch: u16 },
    #[error("not a WAV file: {0}")]
    Wav(String),
    #[error("Ogg/Opus: {0}")]
    Ogg(String),
    #[error("Content-Type parameter {name}='{value}' is not valid: {expected}")]
    Param { name: &'static str, value: String, expected: &'static str },
    #[error("the body held no audio: {0}")]
    NoAudio(&'static str),
}

/// Longest WAV header (every chunk before `data`) read; a header claiming more is refused
/// before its bytes are buffered.
const MAX_WAV_HEADER: usize = 1 << 20;

enum Kind {
    L16,
    Wav(WavState),
    Ogg(Box<OggOpusDecoder>),
}

enum WavState {
    Header,
    Data { bytes_per_sample: usize, float: bool },
}

/// Incremental body parser.
pub struct IngestParser {
    kind: Kind,
    spec: FrameSpec,
    buf: Vec<u8>,
    pcm: Vec<f32>,
    read_at: usize,
}

fn param(ct: &str, name: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

impl IngestParser {
    /// A parser for a body of `content_type` feeding a stream with layout `spec`.
    pub fn new(content_type: &str, spec: FrameSpec) -> Result<Self, IngestError> {
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let kind = match mime.as_str() {
            "audio/l16" => {
                // an absent parameter takes its default (RFC 2586: one channel); one that is
                // present must be a number, never silently the default
                let rate = match param(content_type, "rate") {
                    None => spec.sample_rate,
                    Some(v) => v.parse().ok().filter(|r| *r > 0).ok_or(IngestError::Param {
                        name: "rate",
                        value: v,
                        expected: "a sample rate in Hz, e.g. rate=48000",
                    })?,
                };
                let ch = match param(content_type, "channels") {
                    None => 1,
                    Some(v) => v.parse().ok().filter(|c| *c > 0).ok_or(IngestError::Param {
                        name: "channels",
                        value: v,
                        expected: "a channel count from 1 to 65535, e.g. channels=2",
                    })?,
                };
                check_layout(rate, ch, &spec)?;
                Kind::L16
            }
            "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => Kind::Wav(WavState::Header),
            "audio/ogg" | "audio/opus" | "application/ogg" => {
                Kind::Ogg(Box::new(OggOpusDecoder::new(spec.sample_rate, Some(spec.channels)).map_err(
                    |e| IngestError::Ogg(format!("this stream's layout cannot be decoded from Opus: {e}")),
                )?))
            }
            _ => return Err(IngestError::UnsupportedType(content_type.to_string())),
        };
        Ok(IngestParser { kind, spec, buf: Vec::new(), pcm: Vec::new(), read_at: 0 })
    }

    /// Consumes a chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), IngestError> {
        match &mut self.kind {
            Kind::Ogg(dec) => {
                dec.feed(chunk);
                dec.read(&mut self.pcm).map_err(|e| IngestError::Ogg(e.to_string()))?;
            }
            Kind::L16 => {
                self.buf.extend_from_slice(chunk);
                let whole = self.buf.len() - self.buf.len() % 2;
                self.pcm.extend(
                    self.buf[..whole]
                        .chunks_exact(2)
                        .map(|b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0),
                );
                self.buf.drain(..whole);
            }
            Kind::Wav(_) => {
                self.buf.extend_from_slice(chunk);
                self.parse_wav()?;
            }
        }
        Ok(())
    }

    fn parse_wav(&mut self) -> Result<(), IngestError> {
        if let Kind::Wav(WavState::Header) = self.kind {
            if self.buf.len() < 12 {
                return Ok(());
            }
            if &self.buf[0..4] != b"RIFF" || &self.buf[8..12] != b"WAVE" {
                return Err(IngestError::Wav("no RIFF/WAVE header".into()));
            }
            let mut at = 12;
            let mut fmt: Option<(u16, u16, u32, u16)> = None;
            loop {
                if self.buf.len() < at + 8 {
                    return Ok(()); // wait for more
                }
                let id = &self.buf[at..at + 4];
                let size = u32::from_le_bytes([
                    self.buf[at + 4],
                    self.buf[at + 5],
                    self.buf[at + 6],
                    self.buf[at + 7],
                ]) as usize;
                if id == b"data" {
                    let (tag, ch, rate, bits) =
                        fmt.ok_or_else(|| IngestError::Wav("data chunk before the fmt chunk".into()))?;
                    check_layout(rate, ch, &self.spec)?;
                    let float = match (tag, bits) {
                        (1, 16) | (1, 24) | (0xFFFE, 16) | (0xFFFE, 24) => false,
                        (3, 32) | (0xFFFE, 32) => true,
                        _ => {
                            return Err(IngestError::Wav(format!(
                                "unsupported sample format {tag} with {bits} bits; use 16/24-bit PCM or 32-bit float"
                            )));
                        }
                    };
                    self.kind = Kind::Wav(WavState::Data { bytes_per_sample: bits as usize / 8, float });
                    self.buf.drain(..at + 8);
                    break;
                }
                if at + 8 + size > MAX_WAV_HEADER {
                    return Err(IngestError::Wav(format!(
                        "a '{}' chunk of {size} bytes before the data chunk; the chunks before data may take at most 1 MB",
                        String::from_utf8_lossy(id).escape_default()
                    )));
                }
                if self.buf.len() < at + 8 + size {
                    return Ok(());
                }
                if id == b"fmt " {
                    if size < 16 {
                        return Err(IngestError::Wav("fmt chunk too short".into()));
                    }
                    let b = &self.buf[at + 8..];
                    fmt = Some((
                        u16::from_le_bytes([b[0], b[1]]),
                        u16::from_le_bytes([b[2], b[3]]),
                        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                        u16::from_le_bytes([b[14], b[15]]),
                    ));
                }
                at += 8 + size + size % 2;
            }
        }
        if let Kind::Wav(WavState::Data { bytes_per_sample, float }) = self.kind {
            let whole = self.buf.len() - self.buf.len() % bytes_per_sample;
            for s in self.buf[..whole].chunks_exact(bytes_per_sample) {
                self.pcm.push(match (bytes_per_sample, float) {
                    (2, _) => i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
                    (3, _) => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
                    _ => sanitize_sample(f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
                });
            }
            self.buf.drain(..whole);
        }
        Ok(())
    }

    /// Body bytes held until more arrive (a WAV header, half a sample).
    pub fn held_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, if one is buffered.
    pub fn pop_frame(&mut self) -> Option<Vec<f32>> {
        let n = self.spec.samples_per_frame();
        if self.pcm.len() - self.read_at < n {
            if self.read_at > 0 {
                self.pcm.drain(..self.read_at);
                self.read_at = 0;
            }
            return None;
        }
        let f = self.pcm[self.read_at..self.read_at + n].to_vec();
        self.read_at += n;
        Some(f)
    }

    /// At the end of the body, why it was not audio, if it was not: a WAV body that ended
    /// before its data chunk, an Ogg body in which no Opus stream began.
    pub fn check_complete(&self) -> Result<(), IngestError> {
        match &self.kind {
            Kind::Wav(WavState::Header) => Err(IngestError::NoAudio(
                "the WAV body ended before its data chunk (send a RIFF/WAVE header, fmt and data chunks)",
            )),
            Kind::Ogg(dec) if dec.head().is_none() => Err(IngestError::NoAudio(
                "no Ogg Opus stream in the body (it must start with an OpusHead page)",
            )),
            _ => Ok(()),
        }
    }

    /// At the end of the body: the last partial frame, padded with silence.
    pub fn finish(&mut self) -> Option<Vec<f32>> {
        if let Kind::Ogg(dec) = &mut self.kind {
            dec.end_of_input();
            let _ = dec.read(&mut self.pcm);
        }
        if let Some(f) = self.pop_frame() {
            return Some(f);
        }
        let rest = &self.pcm[self.read_at..];
        if rest.is_empty() {
            return None;
        }
        let mut f = rest.to_vec();
        f.resize(self.spec.samples_per_frame(), 0.0);
        self.pcm.clear();
        self.read_at = 0;
        Some(f)
    }
}

fn check_layout(rate: u32, ch: u16, spec: &FrameSpec) -> Result<(), IngestError> {
    if rate != spec.sample_rate || ch != spec.channels {
        return Err(IngestError::Layout {
            got_rate: rate,
            got_ch: ch,
            want_rate: spec.sample_rate,
            want_ch: spec.channels,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::FrameDuration;

    fn spec() -> FrameSpec {
        FrameSpec::new(8_000, 1, FrameDuration::from_ms(20.0).unwrap()).unwrap()
    }

    #[test]
    fn l16_is_big_endian_and_split_anywhere() {
        let mut p = IngestParser::new("audio/L16; rate=8000; channels=1", spec()).unwrap();
        let mut body = Vec::new();
        for i in 0..400i16 {
            body.extend_from_slice(&(i * 50).to_be_bytes());
        }
        for c in body.chunks(7) {
            p.feed(c).unwrap();
        }
        let f = p.pop_frame().unwrap();
        assert_eq!(f.len(), 160);
        assert!((f[1] - 50.0 / 32768.0).abs() < 1e-6);
        assert!(p.pop_frame().is_some());
        assert!(p.pop_frame().is_none());
        let last = p.finish().unwrap();
        assert_eq!(last.len(), 160, "padded");
        assert!(p.finish().is_none());
    }

    #[test]
    fn wav_header_then_data() {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&16000u32.to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data\xff\xff\xff\xff");
        for _ in 0..160 {
            w.extend_from_slice(&16384i16.to_le_bytes());
        }
        let mut p = IngestParser::new("audio/wav", spec()).unwrap();
        for c in w.chunks(5) {
            p.feed(c).unwrap();
        }
        let f = p.pop_frame().unwrap();
        assert!(f.iter().all(|&x| (x - 0.5).abs() < 1e-6));
    }

    #[test]
    fn wrong_layout_and_types_are_refused() {
        assert!(matches!(IngestParser::new("audio/L16;rate=44100", spec()), Err(IngestError::Layout { .. })));
        assert!(matches!(IngestParser::new("text/plain", spec()), Err(IngestError::UnsupportedType(_))));
        let mut p = IngestParser::new("audio/wav", spec()).unwrap();
        assert!(matches!(p.feed(b"this is not a wav file"), Err(IngestError::Wav(_))));
    }
}
