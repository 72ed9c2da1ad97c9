//! The decoder of one Icecast source session, run on a blocking thread: body bytes in (from a
//! [`PipeReader`]), PCM frames of the stream's layout out (through a bounded channel).
//!
//! Ogg/Opus goes through ondes's own incremental [`OggOpusDecoder`]; MP3, FLAC and Ogg
//! Vorbis/FLAC through symphonia ([`super::symphonia_stream`]). Either way the audio is remixed to the
//! stream's channel count, resampled to its rate and cut into frames. Sending a frame waits
//! while the channel is full, which is how playout backpressure reaches the socket.
//!
//! Ogg/Opus already in the stream's layout (its channel count, packets of one frame's
//! duration, no output gain) is decoded packet by packet and each frame keeps its packet, so
//! the rung nearest the source's bitrate carries the source's packets unchanged (passthrough,
//! see [`crate::hub::passthrough`]). That path keeps the encoder's pre-skip (a few ms of
//! look-ahead at the start of a live stream) so that frame `n` is exactly packet `n`.

use bytes::Bytes;
use ondes_codec::ogg_opus::{OggOpusEvent, OpusHead};
use ondes_codec::{OggOpusDecoder, OggOpusReader, OpusDecoder, StreamResampler, packet_samples, remix};
use ondes_core::FrameSpec;
use std::io::Read;
use tokio::sync::mpsc;

use super::format::{BodyFormat, SourceCodec, ogg_codec};
use super::pipe::PipeReader;
use crate::hub::SourceOpus;
use crate::ingest::QueuedFrame;

/// Sample rates Opus decodes to directly.
const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Why a source's body could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}; send Opus, Vorbis or FLAC in Ogg, MP3, or FLAC")]
    UnsupportedCodec(String),
    #[error("the first bytes are not Ogg, MP3 or FLAC and no Content-Type says what they are")]
    UnknownFormat,
    #[error("the body ended before any audio")]
    Empty,
    #[error("{codec} decoding failed: {reason}")]
    Codec { codec: &'static str, reason: String },
}

/// What the decoder found, for logs and status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceFormat {
    pub codec: SourceCodec,
    pub sample_rate: u32,
    pub channels: u16,
}

/// What a finished decoding did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeReport {
    pub frames: u64,
    /// Packets the codec rejected (replaced by concealment or skipped).
    pub decode_errors: u64,
    /// Bytes skipped because they were not part of a valid Ogg page.
    pub skipped_bytes: u64,
}

/// Remixes, resamples and frames decoded audio, sending every whole frame.
pub(crate) struct Framer {
    spec: FrameSpec,
    resampler: Option<StreamResampler>,
    remixed: Vec<f32>,
    pending: Vec<f32>,
    tx: mpsc::Sender<QueuedFrame>,
    pub frames: u64,
    closed: bool,
}

impl Framer {
    pub fn new(spec: FrameSpec, tx: mpsc::Sender<QueuedFrame>) -> Self {
        Framer {
            spec,
            resampler: None,
            remixed: Vec::new(),
            pending: Vec::new(),
            tx,
            frames: 0,
            closed: false,
        }
    }

    /// Whether the receiving side has gone (the session ended); decoding should stop.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether nothing is pending, so a whole frame can be sent as it is.
    fn is_aligned(&self) -> bool {
        self.pending.is_empty() && self.resampler.is_none()
    }

    /// Sends one whole frame of the stream's layout as it is.
    fn send(&mut self, frame: QueuedFrame) {
        if self.closed {
            return;
        }
        if self.tx.blocking_send(frame).is_err() {
            self.closed = true;
        } else {
            self.frames += 1;
        }
    }

    /// Takes interleaved audio at `rate` with `channels` channels.
    pub fn push(&mut self, pcm: &[f32], rate: u32, channels: usize) -> Result<(), DecodeError> {
        let out_ch = usize::from(self.spec.channels);
        self.remixed.clear();
        remix(pcm, channels, out_ch, &mut self.remixed);
        if self.resampler.as_ref().is_none_or(|r| r.from_rate() != rate) {
            self.drain_resampler(true);
            let r = StreamResampler::new(rate, self.spec.sample_rate, out_ch)
                .map_err(|e| DecodeError::Codec { codec: "resampler", reason: e.to_string() })?;
            self.resampler = Some(r);
        }
        if let Some(r) = &mut self.resampler {
            r.push(&self.remixed);
        }
        self.drain_resampler(false);
        Ok(())
    }

    fn drain_resampler(&mut self, flush: bool) {
        if let Some(r) = &mut self.resampler {
            if flush {
                r.flush();
            }
            r.pop_up_to(usize::MAX, &mut self.pending);
        }
        self.send_whole_frames();
    }

    fn send_whole_frames(&mut self) {
        let n = self.spec.samples_per_frame();
        while self.pending.len() >= n && !self.closed {
            let rest = self.pending.split_off(n);
            let frame = std::mem::replace(&mut self.pending, rest);
            self.send(QueuedFrame::pcm(frame));
        }
    }

    /// Sends what is left, the last frame padded with silence.
    pub fn finish(&mut self) {
        self.drain_resampler(true);
        if !self.pending.is_empty() {
            self.pending.resize(self.spec.samples_per_frame(), 0.0);
            self.send_whole_frames();
        }
    }
}

/// Decodes until the body ends or the receiver goes away. `on_format` is called once, when
/// the codec and the source's layout are known.
pub fn run(
    mut reader: PipeReader,
    announced: Option<BodyFormat>,
    spec: FrameSpec,
    tx: mpsc::Sender<QueuedFrame>,
    on_format: &mut dyn FnMut(SourceFormat),
) -> Result<DecodeReport, DecodeError> {
    let head = reader.peek(512);
    if head.is_empty() {
        return Err(DecodeError::Empty);
    }
    let format = BodyFormat::sniff(head).or(announced).ok_or(DecodeError::UnknownFormat)?;
    let mut framer = Framer::new(spec, tx);
    let report = match format {
        BodyFormat::Ogg => {
            let codec = ogg_codec(head).map_err(DecodeError::UnsupportedCodec)?.ok_or(DecodeError::Empty)?;
            if codec == SourceCodec::Opus && passthrough_layout(head, spec) {
                decode_opus_packets(reader, spec, &mut framer, on_format)?
            } else if codec == SourceCodec::Opus {
                decode_opus(reader, spec, &mut framer, on_format)?
            } else {
                super::symphonia_stream::decode(reader, "ogg", codec, &mut framer, on_format)?
            }
        }
        BodyFormat::Mp3 => {
            super::symphonia_stream::decode(reader, "mp3", SourceCodec::Mp3, &mut framer, on_format)?
        }
        BodyFormat::Flac => {
            super::symphonia_stream::decode(reader, "flac", SourceCodec::Flac, &mut framer, on_format)?
        }
    };
    framer.finish();
    Ok(DecodeReport { frames: framer.frames, ..report })
}

/// Whether an Ogg/Opus body starting with `head` is in the stream's layout: Opus decodes at
/// the stream's rate, the same channel count, no output gain.
fn passthrough_layout(head: &[u8], spec: FrameSpec) -> bool {
    if !OPUS_RATES.contains(&spec.sample_rate) {
        return false;
    }
    let mut reader = OggOpusReader::new();
    reader.feed(head);
    while let Ok(Some(event)) = reader.pop() {
        if let OggOpusEvent::Head(h) = event {
            return same_layout(&h, spec);
        }
    }
    false
}

/// Ogg/Opus in the stream's layout, packet by packet: each packet of one frame's duration is
/// one frame, sent with its packet. The first packet of another duration ends passthrough for
/// the session (its audio and the rest are framed as PCM).
fn decode_opus_packets(
    mut reader: PipeReader,
    spec: FrameSpec,
    framer: &mut Framer,
    on_format: &mut dyn FnMut(SourceFormat),
) -> Result<DecodeReport, DecodeError> {
    let err = |e: ondes_codec::CodecError| DecodeError::Codec { codec: "Opus", reason: e.to_string() };
    let frame_48k = (spec.duration.as_us() as usize) * 48 / 1000;
    let spc = spec.samples_per_channel();
    let channels = usize::from(spec.channels);
    let mut ogg = OggOpusReader::new();
    let mut dec: Option<OpusDecoder> = None;
    let mut passthrough = false;
    let mut announced = false;
    let mut decode_errors = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let mut pcm = Vec::with_capacity(spc * channels);
    while !framer.is_closed() {
        // a PipeReader does not fail: it ends when the body does
        let n = reader.read(&mut buf).unwrap_or(0);
        if n == 0 {
            ogg.end_of_input();
        } else {
            ogg.feed(&buf[..n]);
        }
        while let Some(event) = ogg.pop().map_err(err)? {
            match event {
                OggOpusEvent::Head(h) => {
                    passthrough = same_layout(&h, spec) && framer.is_aligned();
                    // a fresh decoder per chained stream: its state belongs to the previous encoder
                    dec = Some(OpusDecoder::new(spec.sample_rate, spec.channels).map_err(err)?);
                    if !announced {
                        announced = true;
                        on_format(SourceFormat {
                            codec: SourceCodec::Opus,
                            sample_rate: 48_000,
                            channels: u16::from(h.channels),
                        });
                    }
                }
                OggOpusEvent::Tags(_) => {}
                OggOpusEvent::Audio(packet) => {
                    let Some(d) = dec.as_mut() else { continue };
                    pcm.clear();
                    let lost = d.decode(&packet.data, &mut pcm).is_err();
                    if lost {
                        // a damaged packet: conceal one frame to keep the timeline
                        decode_errors += 1;
                        pcm.clear();
                        d.conceal(spc, &mut pcm).map_err(err)?;
                    }
                    let one_frame = packet_samples(&packet.data, 48_000).ok() == Some(frame_48k)
                        && pcm.len() == spc * channels;
                    if passthrough && (one_frame || lost) {
                        let opus = if lost {
                            SourceOpus::Lost
                        } else {
                            SourceOpus::Packet(Bytes::from(packet.data))
                        };
                        pcm.resize(spc * channels, 0.0);
                        framer.send(QueuedFrame {
                            pcm: std::mem::replace(&mut pcm, Vec::with_capacity(spc * channels)),
                            opus,
                        });
                    } else {
                        passthrough = false;
                        framer.push(&pcm, spec.sample_rate, channels)?;
                    }
                }
            }
        }
        if n == 0 {
            break;
        }
    }
    if !announced {
        return Err(DecodeError::Empty);
    }
    Ok(DecodeReport { frames: 0, decode_errors, skipped_bytes: ogg.demux_stats().skipped_bytes })
}

fn same_layout(h: &OpusHead, spec: FrameSpec) -> bool {
    u16::from(h.channels) == spec.channels && h.gain_factor() == 1.0
}

/// Ogg/Opus: decoded at the stream's rate when Opus codes it (else at 48 kHz, then resampled),
/// with the stream's channel count.
fn decode_opus(
    mut reader: PipeReader,
    spec: FrameSpec,
    framer: &mut Framer,
    on_format: &mut dyn FnMut(SourceFormat),
) -> Result<DecodeReport, DecodeError> {
    let err = |e: ondes_codec::CodecError| DecodeError::Codec { codec: "Opus", reason: e.to_string() };
    let rate = if OPUS_RATES.contains(&spec.sample_rate) { spec.sample_rate } else { 48_000 };
    let channels = spec.channels.min(2);
    let mut dec = OggOpusDecoder::new(rate, Some(channels)).map_err(err)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut pcm = Vec::new();
    let mut announced = false;
    while !framer.is_closed() {
        // a PipeReader does not fail: it ends when the body does
        let n = reader.read(&mut buf).unwrap_or(0);
        if n == 0 {
            dec.end_of_input();
        } else {
            dec.feed(&buf[..n]);
        }
        pcm.clear();
        dec.read(&mut pcm).map_err(err)?;
        if !announced && let Some(head) = dec.head() {
            announced = true;
            let source_channels = u16::from(head.channels);
            on_format(SourceFormat {
                codec: SourceCodec::Opus,
                sample_rate: 48_000,
                channels: source_channels,
            });
        }
        if !pcm.is_empty() {
            framer.push(&pcm, rate, usize::from(channels))?;
        }
        if n == 0 {
            break;
        }
    }
    if !announced {
        return Err(DecodeError::Empty);
    }
    Ok(DecodeReport {
        frames: 0,
        decode_errors: dec.corrupt_packets(),
        skipped_bytes: dec.demux_stats().skipped_bytes,
    })
}
