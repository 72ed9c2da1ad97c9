//! Where played audio goes: a WAV file (16-bit PCM) or an Ogg/Opus file.
//!
//! The Ogg/Opus output re-encodes what was *played* (decoded frames, FEC rebuilds,
//! concealment) rather than passing the received packets through: the file then holds the
//! same timeline as the WAV would, with losses and underruns audible where they happened,
//! and a PCM or SSE stream can be saved as Ogg too. The cost is a second generation of
//! coding (at 96 kbit/s by default, transparent for most material).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ondes_codec::opus::SAMPLE_RATES;
use ondes_codec::{OggOpusMuxer, OpusConfig, OpusEncoder};

use super::ListenError;
use super::wav::WavWriter;

/// An output file.
pub enum AudioSink {
    Wav(WavWriter),
    Ogg(Box<OggWriter>),
}

impl AudioSink {
    /// Opens `path`; the extension picks the format.
    pub fn create(
        path: &Path,
        sample_rate: u32,
        channels: u16,
        ogg_bitrate_bps: u32,
    ) -> Result<Self, ListenError> {
        let io = |e: std::io::Error| ListenError::Output {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "wav" => Ok(AudioSink::Wav(WavWriter::create(path, sample_rate, channels).map_err(io)?)),
            "ogg" | "opus" | "oga" => {
                if !SAMPLE_RATES.contains(&sample_rate) {
                    return Err(ListenError::Output {
                        path: path.display().to_string(),
                        reason: format!(
                            "Ogg/Opus needs 8, 12, 16, 24 or 48 kHz; the stream is {sample_rate} Hz (use .wav)"
                        ),
                    });
                }
                let file = File::create(path).map_err(io)?;
                Ok(AudioSink::Ogg(Box::new(OggWriter::new(file, sample_rate, channels, ogg_bitrate_bps)?)))
            }
            _ => Err(ListenError::Output {
                path: path.display().to_string(),
                reason: "unknown extension; use .wav or .ogg".into(),
            }),
        }
    }

    /// Appends interleaved samples.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), ListenError> {
        match self {
            AudioSink::Wav(w) => w
                .write(samples)
                .map_err(|e| ListenError::Output { path: "WAV".into(), reason: e.to_string() }),
            AudioSink::Ogg(o) => o.write(samples),
        }
    }

    /// Completes the file (sizes, last page).
    pub fn finish(self) -> Result<(), ListenError> {
        match self {
            AudioSink::Wav(w) => {
                w.finish().map_err(|e| ListenError::Output { path: "WAV".into(), reason: e.to_string() })
            }
            AudioSink::Ogg(o) => o.finish(),
        }
    }
}

/// Encodes played audio in 20 ms Opus frames into an Ogg/Opus file whose decoded length is
/// exactly the audio written (pre-skip and end trimming per RFC 7845).
pub struct OggWriter {
    file: BufWriter<File>,
    encoder: OpusEncoder,
    muxer: OggOpusMuxer,
    channels: usize,
    frame: usize,
    rate: u64,
    pending: Vec<f32>,
    /// Samples per channel written by the caller.
    written: u64,
    packet: Vec<u8>,
}

impl OggWriter {
    fn new(file: File, sample_rate: u32, channels: u16, bitrate_bps: u32) -> Result<Self, ListenError> {
        let encoder =
            OpusEncoder::new(OpusConfig { sample_rate, channels, bitrate_bps, ..OpusConfig::default() })?;
        let serial = std::process::id() ^ 0x6f6e_6465;
        let muxer = OggOpusMuxer::new(serial, channels, sample_rate, encoder.pre_skip_48k())?;
        let mut w = OggWriter {
            file: BufWriter::new(file),
            frame: encoder.frame_samples(),
            encoder,
            muxer,
            channels: usize::from(channels),
            rate: u64::from(sample_rate),
            pending: Vec::new(),
            written: 0,
            packet: Vec::new(),
        };
        let headers = w.muxer.headers();
        w.put(&headers)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ListenError> {
        self.file
            .write_all(bytes)
            .map_err(|e| ListenError::Output { path: "Ogg".into(), reason: e.to_string() })
    }

    /// 48 kHz samples in one encoder frame.
    fn frame_48k(&self) -> u32 {
        (self.frame as u64 * 48_000 / self.rate) as u32
    }

    fn encode_front(&mut self) -> Result<(), ListenError> {
        let n = self.frame * self.channels;
        self.packet.clear();
        self.encoder.encode(&self.pending[..n], &mut self.packet)?;
        self.pending.drain(..n);
        Ok(())
    }

    pub fn write(&mut self, samples: &[f32]) -> Result<(), ListenError> {
        self.pending.extend_from_slice(samples);
        self.written += (samples.len() / self.channels) as u64;
        while self.pending.len() >= self.frame * self.channels {
            self.encode_front()?;
            let page = self.muxer.push(&self.packet, self.frame_48k());
            self.put(&page)?;
        }
        Ok(())
    }

    /// Flushes the encoder's look-ahead with silence and ends the stream at exactly the
    /// written length.
    pub fn finish(mut self) -> Result<(), ListenError> {
        let last = if self.written == 0 { self.muxer.finish() } else { self.flush_to_end()? };
        self.put(&last)?;
        self.file.flush().map_err(|e| ListenError::Output { path: "Ogg".into(), reason: e.to_string() })
    }

    /// Encodes the pending audio padded with silence until the granule position reaches
    /// pre-skip + written samples; returns the last page, which says where the audio ends.
    fn flush_to_end(&mut self) -> Result<Vec<u8>, ListenError> {
        let end = u64::from(self.muxer.head().pre_skip) + self.written * 48_000 / self.rate;
        let step = u64::from(self.frame_48k());
        loop {
            self.pending.resize(self.pending.len().max(self.frame * self.channels), 0.0);
            self.encode_front()?;
            let granule = self.muxer.granule_position();
            if granule + step >= end {
                // less than one frame: fits in u32
                let keep = end.saturating_sub(granule) as u32;
                return Ok(self.muxer.push_last(&self.packet, self.frame_48k(), keep));
            }
            let page = self.muxer.push(&self.packet, self.frame_48k());
            self.put(&page)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::OggOpusDecoder;

    #[test]
    fn ogg_output_decodes_to_the_written_length() {
        let path = std::env::temp_dir().join(format!("ondes-sink-{}.ogg", std::process::id()));
        let mut sink = AudioSink::create(&path, 48_000, 2, 64_000).unwrap();
        // 0.5 s of a 440 Hz tone, written in 7 ms pieces (not a multiple of the Opus frame)
        let tone: Vec<f32> = (0..24_000)
            .flat_map(|i| {
                let x = (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 0.5;
                [x, x]
            })
            .collect();
        for chunk in tone.chunks(336 * 2) {
            sink.write(chunk).unwrap();
        }
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let mut dec = OggOpusDecoder::new(48_000, Some(2)).unwrap();
        let mut pcm = Vec::new();
        dec.feed(&bytes);
        dec.end_of_input();
        dec.read(&mut pcm).unwrap();
        assert_eq!(pcm.len(), tone.len(), "decoded length equals written length");
        let energy: f32 = pcm[9600..38400].iter().map(|x| x * x).sum::<f32>() / 28_800.0;
        assert!(energy > 0.05, "the tone is there: mean square {energy}");
    }
}
