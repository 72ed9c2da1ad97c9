//! What a recording file holds: its header, then whole units (Ogg pages, MP4 fragments)
//! appended as frames arrive, so a file cut short by a crash is valid up to its last
//! complete unit.

use ondes_codec::flac::vorbis_comment_block;
use ondes_codec::fmp4::{OpusTrack, fragment, init_segment};
use ondes_codec::{CodecError, FlacFormat, OggOpusMuxer};

use crate::config::RecordFormat;

/// Frames per Ogg page or MP4 fragment: at most this much audio (200 ms at 20 ms frames) is
/// lost when the process is killed, and the container costs little.
pub const FRAMES_PER_UNIT: usize = 10;

/// One file's bytes as its frames arrive.
pub trait FileFormat: Send {
    /// The bytes the file starts with.
    fn begin(&mut self) -> Vec<u8>;
    /// Adds one frame's Opus packet (`samples_48k` long); returns what is complete to append.
    fn push(&mut self, packet: &[u8], samples_48k: u32) -> Vec<u8>;
    /// What closes the file: the last partial unit, and the end of the stream.
    fn finish(&mut self) -> Vec<u8>;
}

impl RecordFormat {
    /// The extension of its files.
    pub fn extension(self) -> &'static str {
        match self {
            RecordFormat::OggOpus => "opus",
            RecordFormat::Fmp4 => "mp4",
            RecordFormat::Flac => "flac",
        }
    }
}

/// Opus as its header describes it.
#[derive(Debug, Clone, Copy)]
pub struct OpusLayout {
    pub channels: u16,
    pub input_sample_rate: u32,
    pub pre_skip: u16,
}

/// What the recorded audio is.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    Opus(OpusLayout),
    Flac(FlacFormat),
}

/// A new file of `format` for audio of `layout`; `serial` tells one Ogg stream from another.
pub fn new_file(
    format: RecordFormat,
    layout: Layout,
    title: &str,
    serial: u32,
) -> Result<Box<dyn FileFormat>, CodecError> {
    Ok(match (format, layout) {
        (RecordFormat::OggOpus, Layout::Opus(opus)) => Box::new(OggOpusFile::new(opus, title, serial)?),
        (RecordFormat::Fmp4, Layout::Opus(opus)) => Box::new(Fmp4File::new(opus)),
        (RecordFormat::Flac, Layout::Flac(flac)) => {
            Box::new(FlacFile { format: flac, title: title.to_string() })
        }
        (format, _) => {
            return Err(CodecError::InvalidParameter(format!(
                "a {format:?} recording of this stream's audio"
            )));
        }
    })
}

/// Native FLAC: `fLaC`, STREAMINFO (length unknown: a live stream), a Vorbis comment, then
/// the stream's FLAC frames as they are, each one whole and decodable alone.
pub struct FlacFile {
    format: FlacFormat,
    title: String,
}

impl FileFormat for FlacFile {
    fn begin(&mut self) -> Vec<u8> {
        let mut out = b"fLaC".to_vec();
        out.extend_from_slice(&self.format.streaminfo_block());
        out.extend_from_slice(&vorbis_comment_block("ondes", &[format!("TITLE={}", self.title)], true));
        out
    }

    fn push(&mut self, frame: &[u8], _samples_48k: u32) -> Vec<u8> {
        frame.to_vec()
    }

    fn finish(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// Ogg/Opus (RFC 7845), one page per [`FRAMES_PER_UNIT`] packets.
pub struct OggOpusFile {
    muxer: OggOpusMuxer,
}

impl OggOpusFile {
    fn new(opus: OpusLayout, title: &str, serial: u32) -> Result<Self, CodecError> {
        let mut muxer = OggOpusMuxer::new(serial, opus.channels, opus.input_sample_rate, opus.pre_skip)?
            .with_packets_per_page(FRAMES_PER_UNIT);
        muxer.add_comment(format!("TITLE={title}"));
        Ok(OggOpusFile { muxer })
    }
}

impl FileFormat for OggOpusFile {
    fn begin(&mut self) -> Vec<u8> {
        self.muxer.headers()
    }

    fn push(&mut self, packet: &[u8], samples_48k: u32) -> Vec<u8> {
        self.muxer.push(packet, samples_48k)
    }

    fn finish(&mut self) -> Vec<u8> {
        self.muxer.finish()
    }
}

/// Fragmented MP4 (the HLS/DASH track): `ftyp` + `moov`, then one `moof` + `mdat` per
/// [`FRAMES_PER_UNIT`] packets.
pub struct Fmp4File {
    opus: OpusLayout,
    pending: Vec<(u32, Vec<u8>)>,
    fragments: u32,
    /// Decode time of the first pending packet, in 48 kHz samples from the file's start.
    base_time: u64,
}

impl Fmp4File {
    fn new(opus: OpusLayout) -> Self {
        Fmp4File { opus, pending: Vec::new(), fragments: 0, base_time: 0 }
    }

    fn flush(&mut self) -> Vec<u8> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.fragments += 1;
        let list: Vec<(u32, &[u8])> = self.pending.iter().map(|(d, p)| (*d, &p[..])).collect();
        let out = fragment(self.fragments, self.base_time, &list);
        self.base_time += self.pending.iter().map(|(d, _)| u64::from(*d)).sum::<u64>();
        self.pending.clear();
        out
    }
}

impl FileFormat for Fmp4File {
    fn begin(&mut self) -> Vec<u8> {
        init_segment(&OpusTrack {
            channels: self.opus.channels as u8,
            pre_skip: self.opus.pre_skip,
            input_sample_rate: self.opus.input_sample_rate,
        })
    }

    fn push(&mut self, packet: &[u8], samples_48k: u32) -> Vec<u8> {
        self.pending.push((samples_48k, packet.to_vec()));
        if self.pending.len() >= FRAMES_PER_UNIT { self.flush() } else { Vec::new() }
    }

    fn finish(&mut self) -> Vec<u8> {
        self.flush()
    }
}
