//! Audio file decoding to a stream's format.
//!
//! [`FileDecoder`] wraps symphonia (demuxing + decoding of WAV, FLAC, MP3 and Ogg Vorbis) and
//! hands out interleaved `f32` at the *stream's* rate and channel count, so a file source just
//! asks for one frame's worth at a time and never sees the file's own format.
//!
//! Decoding is pulled: nothing happens until [`FileDecoder::read`], and the caller (the file
//! source) paces it against the clock. It is synchronous file I/O, so async callers should run
//! it on a blocking thread.
//!
//! Error policy, chosen so that one bad packet does not kill a radio stream but a bad file is
//! reported clearly:
//! - opening problems (missing file, unknown format, no audio, unsupported codec) are errors from
//!   [`FileDecoder::open`], each naming the file;
//! - a packet the codec rejects (symphonia `DecodeError`) is skipped and counted in
//!   [`FileDecoder::decode_errors`]; the gap is a few milliseconds of audio;
//! - a file truncated mid-packet ends there, as players do;
//! - anything else mid-file (an I/O error, a broken container) is a [`CodecError::Decode`].

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::{CodecError, StreamResampler, remix};

/// An open demuxer + decoder for one audio track.
struct Source {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    duration_secs: Option<f64>,
}

/// Decodes an audio file to interleaved `f32` at a target rate and channel count.
pub struct FileDecoder {
    path: PathBuf,
    target_rate: u32,
    target_channels: u16,
    source: Source,
    source_rate: u32,
    source_channels: u16,
    /// Created on the first decoded buffer, when the real source rate is known.
    resampler: Option<StreamResampler>,
    /// Output left over from a resampler replaced because the rate changed mid-file (chained
    /// Ogg streams); served before the current resampler's output.
    carry: Vec<f32>,
    /// Scratch: the last decoded packet, interleaved, at the source format.
    decoded: Vec<f32>,
    /// Scratch: `decoded` after channel conversion.
    remixed: Vec<f32>,
    /// Source frames decoded since the start of the file (for error positions).
    source_frames: u64,
    /// The demuxer has ended and the resampler has been flushed.
    finished: bool,
    decode_errors: u64,
}

impl std::fmt::Debug for FileDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDecoder")
            .field("path", &self.path)
            .field("source_rate", &self.source_rate)
            .field("source_channels", &self.source_channels)
            .field("target_rate", &self.target_rate)
            .field("target_channels", &self.target_channels)
            .field("duration_secs", &self.source.duration_secs)
            .field("finished", &self.finished)
            .field("decode_errors", &self.decode_errors)
            .finish()
    }
}

impl FileDecoder {
    /// Opens `path`, picks its first decodable audio track and decodes the first packet, so
    /// that a file that cannot produce audio fails here rather than at the first `read`.
    ///
    /// The format is detected from the content; the extension is only a hint.
    pub fn open(path: &Path, target_rate: u32, target_channels: u16) -> Result<FileDecoder, CodecError> {
        if target_rate == 0 || target_channels == 0 {
            return Err(CodecError::InvalidParameter(format!(
                "cannot decode {} to {target_rate} Hz, {target_channels} channel(s)",
                path.display()
            )));
        }
        let source = open_source(path)?;
        let mut decoder = FileDecoder {
            path: path.to_owned(),
            target_rate,
            target_channels,
            source,
            source_rate: 0,
            source_channels: 0,
            resampler: None,
            carry: Vec::new(),
            decoded: Vec::new(),
            remixed: Vec::new(),
            source_frames: 0,
            finished: false,
            decode_errors: 0,
        };
        if !decoder.decode_next()? {
            return Err(CodecError::NoAudio { path: decoder.path });
        }
        Ok(decoder)
    }

    /// Appends up to `frames_per_channel` frames (interleaved, target rate and channels) to
    /// `out` and returns how many. Fewer than asked means the end of the file was reached;
    /// 0 means there is nothing more until [`rewind`](Self::rewind).
    pub fn read(&mut self, frames_per_channel: usize, out: &mut Vec<f32>) -> Result<usize, CodecError> {
        let channels = usize::from(self.target_channels);
        let mut got = 0;
        if !self.carry.is_empty() {
            let take = (self.carry.len() / channels).min(frames_per_channel);
            out.extend(self.carry.drain(..take * channels));
            got += take;
        }
        while got < frames_per_channel {
            if let Some(r) = &mut self.resampler {
                got += r.pop_up_to(frames_per_channel - got, out);
            }
            if got == frames_per_channel || self.finished {
                break;
            }
            if !self.decode_next()? {
                if let Some(r) = &mut self.resampler {
                    r.flush();
                }
                self.finished = true;
            }
        }
        Ok(got)
    }

    /// Goes back to the start of the file, for looping.
    ///
    /// This reopens the file rather than seeking: MP3 and Vorbis seeks are not always
    /// sample-exact, and the encoder delay is only trimmed when decoding from the start, so a
    /// reopen is what makes every loop identical. (It also picks up a file replaced on disk.)
    /// The decode error count is kept.
    pub fn rewind(&mut self) -> Result<(), CodecError> {
        self.source = open_source(&self.path)?;
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.carry.clear();
        self.source_frames = 0;
        self.finished = false;
        Ok(())
    }

    /// The file's sample rate in Hz (of its first decoded packet).
    pub fn source_rate(&self) -> u32 {
        self.source_rate
    }

    /// The file's channel count (of its first decoded packet).
    pub fn source_channels(&self) -> u16 {
        self.source_channels
    }

    /// The rate `read` produces.
    pub fn target_rate(&self) -> u32 {
        self.target_rate
    }

    /// The channel count `read` produces.
    pub fn target_channels(&self) -> u16 {
        self.target_channels
    }

    /// The file's duration as declared by its container, when it declares one (MP3 without a
    /// Xing/LAME header, or a stream being written, may not).
    pub fn duration_secs(&self) -> Option<f64> {
        self.source.duration_secs
    }

    /// Packets skipped because the codec rejected them, since `open` (across rewinds).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// The file being decoded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn position_secs(&self) -> f64 {
        if self.source_rate == 0 { 0.0 } else { self.source_frames as f64 / f64::from(self.source_rate) }
    }

    fn decode_error(&self, err: SymError) -> CodecError {
        CodecError::Decode {
            path: self.path.clone(),
            position_secs: self.position_secs(),
            reason: err.to_string(),
        }
    }

    /// Decodes packets until one yields audio, and pushes it through remix + resample.
    /// Returns false at the end of the file.
    fn decode_next(&mut self) -> Result<bool, CodecError> {
        loop {
            let packet = match self.source.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(false),
                // A new logical stream (chained Ogg): pick the audio track again.
                Err(SymError::ResetRequired) => {
                    let track = select_track(&self.path, &*self.source.format)?;
                    (self.source.decoder, self.source.track_id, self.source.duration_secs) = track;
                    continue;
                }
                // Truncated file: end where the data ends, as players do.
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(self.decode_error(e)),
            };
            if packet.track_id != self.source.track_id {
                continue;
            }
            let (rate, channels) = match self.source.decoder.decode(&packet) {
                Ok(buf) => {
                    if buf.frames() == 0 {
                        continue;
                    }
                    let spec = buf.spec();
                    let rate = spec.rate();
                    let channels = spec.channels().count();
                    buf.copy_to_vec_interleaved(&mut self.decoded);
                    (rate, channels)
                }
                // Symphonia's contract: the packet is bad, the decoder is fine; skip it.
                Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                    self.decode_errors += 1;
                    continue;
                }
                Err(SymError::ResetRequired) => {
                    self.source.decoder.reset();
                    continue;
                }
                Err(e) => return Err(self.decode_error(e)),
            };
            if rate == 0 || channels == 0 {
                self.decode_errors += 1;
                continue;
            }
            self.push_decoded(rate, channels)?;
            return Ok(true);
        }
    }

    /// Remixes and resamples `self.decoded` (at `rate`, `channels`) into the resampler.
    fn push_decoded(&mut self, rate: u32, channels: usize) -> Result<(), CodecError> {
        if self.source_rate == 0 {
            self.source_rate = rate;
            self.source_channels = u16::try_from(channels).unwrap_or(u16::MAX);
        }
        let target_channels = usize::from(self.target_channels);
        match &mut self.resampler {
            Some(r) if r.from_rate() == rate => {}
            other => {
                if let Some(old) = other {
                    // The rate changed mid-file: finish the old stream's output first.
                    old.flush();
                    old.pop_up_to(usize::MAX, &mut self.carry);
                }
                *other = Some(StreamResampler::new(rate, self.target_rate, target_channels)?);
            }
        }
        self.remixed.clear();
        remix(&self.decoded, channels, target_channels, &mut self.remixed);
        if let Some(r) = &mut self.resampler {
            r.push(&self.remixed);
        }
        self.source_frames += (self.decoded.len() / channels) as u64;
        Ok(())
    }
}

/// Opens and probes `path` and selects its first decodable audio track.
fn open_source(path: &Path) -> Result<Source, CodecError> {
    let file = File::open(path).map_err(|source| CodecError::Open { path: path.to_owned(), source })?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| probe_error(path, e))?;
    let (decoder, track_id, duration_secs) = select_track(path, &*format)?;
    Ok(Source { format, decoder, track_id, duration_secs })
}

/// Maps a probe failure to what the user needs to know: could we read the file at all, and if
/// so, is it audio we understand.
fn probe_error(path: &Path, err: SymError) -> CodecError {
    let path = path.to_owned();
    match err {
        SymError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
            CodecError::Open { path, source: e }
        }
        // "no suitable format reader found", or a file too short to hold any header.
        SymError::Unsupported(_) | SymError::IoError(_) => CodecError::UnrecognisedFormat { path },
        // A reader recognised the file but its contents are broken.
        other => CodecError::Invalid { path, reason: other.to_string() },
    }
}

/// What [`select_track`] found: the decoder, its track id and the track's duration.
type SelectedTrack = (Box<dyn AudioDecoder>, u32, Option<f64>);

/// Picks the first audio track with a codec we can decode and builds its decoder.
fn select_track(path: &Path, format: &dyn FormatReader) -> Result<SelectedTrack, CodecError> {
    let track = match format.first_track_known_codec(TrackType::Audio) {
        Some(track) => track,
        None => {
            return Err(match format.first_track(TrackType::Audio) {
                Some(_) => {
                    CodecError::UnsupportedCodec { path: path.to_owned(), detail: "unknown codec".into() }
                }
                None => CodecError::NoAudioTrack { path: path.to_owned() },
            });
        }
    };
    let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()) else {
        return Err(CodecError::NoAudioTrack { path: path.to_owned() });
    };
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| CodecError::UnsupportedCodec {
            path: path.to_owned(),
            detail: format!("codec {}: {e}", params.codec),
        })?;
    let duration_secs = track_duration_secs(track, params.sample_rate);
    Ok((decoder, track.id, duration_secs))
}

/// Duration from the playable frame count when known (exact, excludes encoder delay and
/// padding), else from the container's duration in timebase units.
fn track_duration_secs(track: &Track, sample_rate: Option<u32>) -> Option<f64> {
    if let (Some(frames), Some(rate)) = (track.num_frames, sample_rate)
        && rate > 0
    {
        return Some(frames as f64 / f64::from(rate));
    }
    let time = track.time_base?.calc_duration(track.duration?)?;
    Some(time.as_secs_f64())
}
