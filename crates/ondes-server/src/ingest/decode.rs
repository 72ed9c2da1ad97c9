//! Turning a publisher's audio messages into PCM frames of the stream's layout.

use bytes::Bytes;
use ondes_codec::OpusDecoder;
use ondes_core::FrameSpec;
use ondes_core::proto::audio::{Codec, decode_audio};

use crate::hub::SourceOpus;

/// Why a publisher's message was refused. The message names what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    #[error("malformed audio message: {0}")]
    Wire(#[from] ondes_core::proto::audio::WireError),
    #[error(
        "this stream is {want} Hz; the message is {got} Hz (resample before publishing, or declare the stream with sample_rate = {got})"
    )]
    SampleRate { want: u32, got: u32 },
    #[error("this stream has {want} channel(s); the message has {got}")]
    Channels { want: u16, got: u8 },
    #[error("this stream uses {want_ms} ms frames; the message has {got_ms} ms frames")]
    FrameDuration { want_ms: f64, got_ms: f64 },
    #[error("frame {index} is {got} {unit}; a {codec} frame of this stream is {want} {unit}")]
    FrameSize { index: usize, codec: &'static str, got: usize, want: usize, unit: &'static str },
    #[error("frame {index}: Opus decoding failed: {reason}")]
    Opus { index: usize, reason: String },
}

impl PublishError {
    /// Stable code for the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::Wire(_) => "bad_message",
            PublishError::SampleRate { .. } => "bad_sample_rate",
            PublishError::Channels { .. } => "bad_channels",
            PublishError::FrameDuration { .. } => "bad_frame_duration",
            PublishError::FrameSize { .. } => "bad_frame_size",
            PublishError::Opus { .. } => "bad_opus",
        }
    }
}

/// One decoded frame: the publisher's sequence number, PCM, whether it was concealed
/// (an empty Opus packet: the publisher says the frame was lost), and the publisher's Opus
/// packet for passthrough.
pub struct DecodedFrame {
    pub seq: u64,
    pub pcm: Vec<f32>,
    pub concealed: bool,
    pub opus: SourceOpus,
    /// Coded bytes of the frame in the message (for the connection's trace).
    pub bytes: usize,
}

/// Decodes publisher messages for one stream and publisher session.
pub struct MessageDecoder {
    spec: FrameSpec,
    opus: Option<OpusDecoder>,
    last_seq: Option<u64>,
}

impl MessageDecoder {
    pub fn new(spec: FrameSpec) -> Self {
        MessageDecoder { spec, opus: None, last_seq: None }
    }

    /// Decodes a whole message, or refuses it whole (no partial effects on error).
    pub fn decode(&mut self, msg: &[u8]) -> Result<Vec<DecodedFrame>, PublishError> {
        let m = decode_audio(msg, self.last_seq)?;
        let h = m.header;
        if h.sample_rate != self.spec.sample_rate {
            return Err(PublishError::SampleRate { want: self.spec.sample_rate, got: h.sample_rate });
        }
        if h.channels as u16 != self.spec.channels {
            return Err(PublishError::Channels { want: self.spec.channels, got: h.channels });
        }
        if h.frame_us != self.spec.duration.as_us() {
            return Err(PublishError::FrameDuration {
                want_ms: self.spec.duration.as_ms_f64(),
                got_ms: h.frame_us as f64 / 1000.0,
            });
        }
        let n = self.spec.samples_per_frame();
        let mut out = Vec::with_capacity(m.frames.len());
        for (index, f) in m.frames.iter().enumerate() {
            let seq = h.first_seq + index as u64;
            let (pcm, concealed, opus) = match h.codec {
                Codec::Pcm16 | Codec::F32 => {
                    let (fmt, width) = if h.codec == Codec::Pcm16 {
                        (ondes_codec::SampleFormat::S16Le, 2)
                    } else {
                        (ondes_codec::SampleFormat::F32Le, 4)
                    };
                    if f.len() != n * width {
                        return Err(PublishError::FrameSize {
                            index,
                            codec: h.codec.name(),
                            got: f.len(),
                            want: n * width,
                            unit: "bytes",
                        });
                    }
                    let mut pcm = Vec::with_capacity(n);
                    // the length was checked to be a whole number of samples just above
                    ondes_codec::decode_interleaved(f, fmt, &mut pcm).map_err(|_| {
                        PublishError::FrameSize {
                            index,
                            codec: h.codec.name(),
                            got: f.len(),
                            want: n * width,
                            unit: "bytes",
                        }
                    })?;
                    (pcm, false, SourceOpus::None)
                }
                Codec::Opus => {
                    if self.opus.is_none() {
                        self.opus = Some(
                            OpusDecoder::new(self.spec.sample_rate, self.spec.channels)
                                .map_err(|e| PublishError::Opus { index, reason: e.to_string() })?,
                        );
                    }
                    let dec = self
                        .opus
                        .as_mut()
                        .ok_or(PublishError::Opus { index, reason: "no decoder".into() })?;
                    let mut pcm = Vec::with_capacity(n);
                    let spc = self.spec.samples_per_channel();
                    let concealed = f.is_empty();
                    let got = if concealed { dec.conceal(spc, &mut pcm) } else { dec.decode(f, &mut pcm) }
                        .map_err(|e| PublishError::Opus { index, reason: e.to_string() })?;
                    if got != spc {
                        // what the decoder produced, not what was sent: samples, not bytes
                        return Err(PublishError::FrameSize {
                            index,
                            codec: "opus",
                            got,
                            want: spc,
                            unit: "samples per channel once decoded",
                        });
                    }
                    let opus = if concealed {
                        SourceOpus::Lost
                    } else {
                        SourceOpus::Packet(Bytes::copy_from_slice(f))
                    };
                    (pcm, concealed, opus)
                }
            };
            out.push(DecodedFrame { seq, pcm, concealed, opus, bytes: f.len() });
        }
        self.last_seq = Some(h.first_seq + m.frames.len() as u64 - 1);
        Ok(out)
    }
}
