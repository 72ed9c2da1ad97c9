//! MP3, FLAC and Ogg Vorbis/FLAC source bodies, decoded by symphonia from a live pipe.
//!
//! `ondes_codec::FileDecoder` works on files (it reopens them to loop); a source body is an
//! unseekable stream, so this drives symphonia directly over a
//! [`ReadOnlySource`](symphonia::core::io::ReadOnlySource). It runs on the session's blocking
//! thread: symphonia's reads block on the pipe until the body task delivers more bytes.

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use super::decode::{DecodeError, DecodeReport, Framer, SourceFormat};
use super::format::SourceCodec;
use super::pipe::PipeReader;

/// Decodes `reader` (a body of container `extension`: `mp3`, `flac` or `ogg`) into `framer`.
pub(crate) fn decode(
    reader: PipeReader,
    extension: &str,
    codec: SourceCodec,
    framer: &mut Framer,
    on_format: &mut dyn FnMut(SourceFormat),
) -> Result<DecodeReport, DecodeError> {
    let fail = |e: SymError| DecodeError::Codec { codec: codec.name(), reason: e.to_string() };
    let mss = MediaSourceStream::new(Box::new(ReadOnlySource::new(reader)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| match e {
            SymError::IoError(_) => DecodeError::Empty,
            e => fail(e),
        })?;
    let (mut decoder, mut track_id) = select_track(&*format, codec)?;
    let mut report = DecodeReport::default();
    let mut pcm = Vec::new();
    let mut announced = false;
    while !framer.is_closed() {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // a chained Ogg stream: the next link may have another layout
            Err(SymError::ResetRequired) => {
                (decoder, track_id) = select_track(&*format, codec)?;
                continue;
            }
            // the body ended (mid-packet, as a cut connection does)
            Err(SymError::IoError(_)) => break,
            Err(SymError::DecodeError(_)) => {
                report.decode_errors += 1;
                continue;
            }
            Err(e) => return Err(fail(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let (rate, channels) = match decoder.decode(&packet) {
            Ok(buf) => {
                if buf.frames() == 0 {
                    continue;
                }
                let rate = buf.spec().rate();
                let channels = buf.spec().channels().count();
                buf.copy_to_vec_interleaved(&mut pcm);
                (rate, channels)
            }
            // symphonia's contract: the packet is bad, the decoder is fine
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                report.decode_errors += 1;
                continue;
            }
            Err(SymError::ResetRequired) => {
                decoder.reset();
                continue;
            }
            Err(e) => return Err(fail(e)),
        };
        if rate == 0 || channels == 0 {
            report.decode_errors += 1;
            continue;
        }
        if !announced {
            announced = true;
            let channels = u16::try_from(channels).unwrap_or(u16::MAX);
            on_format(SourceFormat { codec, sample_rate: rate, channels });
        }
        framer.push(&pcm, rate, channels)?;
    }
    if !announced {
        return Err(DecodeError::Empty);
    }
    Ok(report)
}

fn select_track(
    format: &dyn FormatReader,
    codec: SourceCodec,
) -> Result<(Box<dyn AudioDecoder>, u32), DecodeError> {
    let unsupported = |what: String| DecodeError::UnsupportedCodec(what);
    let track = format
        .first_track_known_codec(TrackType::Audio)
        .ok_or_else(|| unsupported(format!("no decodable {} audio track", codec.name())))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| unsupported("the track has no audio parameters".into()))?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| unsupported(format!("codec {}: {e}", params.codec)))?;
    Ok((decoder, track.id))
}
