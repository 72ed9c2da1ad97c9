//! [`OggOpusDecoder`]: Ogg/Opus bytes in, PCM out, with the RFC 7845 timing rules applied.

use super::head::OpusHead;
use super::reader::{OggOpusEvent, OggOpusReader};
use crate::CodecError;
use crate::ogg::OggDemuxStats;
use crate::opus::{OpusDecoder, OpusEngine, packet_samples};

/// Decodes an Ogg/Opus stream fed in arbitrary chunks (a file, an HTTP ingest body) to
/// interleaved `f32` at a chosen rate.
///
/// It applies what RFC 7845 asks of a player: drops the pre-skip at the start (§4.2), trims
/// the end to the last granule position (§4.5), applies the header's output gain (§5.1). The
/// channel count is the first header's (or the one asked for) for the whole stream; chained
/// streams with another count are up/down-mixed by the Opus decoder. Pages lost in transit are
/// not concealed (Ogg is carried over reliable transports): the audio skips over them and the
/// demuxer counts the gap ([`demux_stats`](Self::demux_stats)).
#[derive(Debug)]
pub struct OggOpusDecoder {
    reader: OggOpusReader,
    engine: OpusEngine,
    rate: u32,
    forced_channels: Option<u16>,
    decoder: Option<OpusDecoder>,
    gain: f32,
    /// Samples per channel still to drop at the output rate (pre-skip).
    to_skip: usize,
    /// 48 kHz samples decoded in the current chained stream, pre-skip included.
    decoded_48k: u64,
    /// The same at the output rate (what was actually produced, before any trimming).
    decoded_out: u64,
    /// Granule position at which the current stream's first packet starts (non-zero for a
    /// stream joined live).
    start_granule: Option<u64>,
    /// Packets the Opus decoder rejected (each replaced by concealment of its duration).
    corrupt_packets: u64,
}

impl OggOpusDecoder {
    /// Decodes to `sample_rate` (8/12/16/24/48 kHz); `channels` forces 1 or 2 output channels,
    /// `None` takes the stream's.
    pub fn new(sample_rate: u32, channels: Option<u16>) -> Result<Self, CodecError> {
        Self::with_engine(sample_rate, channels, OpusEngine::DEFAULT)
    }

    /// The same with the Opus decoder of `engine`.
    pub fn with_engine(
        sample_rate: u32,
        channels: Option<u16>,
        engine: OpusEngine,
    ) -> Result<Self, CodecError> {
        // Checks the engine, rate and channel count now rather than at the first header.
        OpusDecoder::with_engine(sample_rate, channels.unwrap_or(1), engine)?;
        Ok(OggOpusDecoder {
            engine,
            reader: OggOpusReader::new(),
            rate: sample_rate,
            forced_channels: channels,
            decoder: None,
            gain: 1.0,
            to_skip: 0,
            decoded_48k: 0,
            decoded_out: 0,
            start_granule: None,
            corrupt_packets: 0,
        })
    }

    /// Adds input bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.reader.feed(bytes);
    }

    /// Declares the end of input.
    pub fn end_of_input(&mut self) {
        self.reader.end_of_input();
    }

    /// Decodes every complete packet fed so far, appending the audio to `out`; returns
    /// samples per channel appended.
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<usize, CodecError> {
        let start = out.len();
        while let Some(event) = self.reader.pop()? {
            match event {
                OggOpusEvent::Head(head) => self.start_stream(&head)?,
                OggOpusEvent::Tags(_) => {}
                OggOpusEvent::Audio(packet) => {
                    self.decode_packet(&packet.data, packet.granule, packet.eos, out)?
                }
            }
        }
        Ok((out.len() - start) / usize::from(self.channels().unwrap_or(1)))
    }

    /// Output channel count, known once the first header is read (or forced).
    pub fn channels(&self) -> Option<u16> {
        self.decoder.as_ref().map(OpusDecoder::channels).or(self.forced_channels)
    }

    /// Output rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// The current stream's identification header.
    pub fn head(&self) -> Option<&OpusHead> {
        self.reader.head()
    }

    /// Packets the Opus decoder rejected.
    pub fn corrupt_packets(&self) -> u64 {
        self.corrupt_packets
    }

    /// The demuxer's counters.
    pub fn demux_stats(&self) -> OggDemuxStats {
        self.reader.demux_stats()
    }

    fn start_stream(&mut self, head: &OpusHead) -> Result<(), CodecError> {
        let channels = self.channels().unwrap_or(u16::from(head.channels).min(2));
        // A fresh decoder per chained stream: its state belongs to the previous encoder.
        self.decoder = Some(OpusDecoder::with_engine(self.rate, channels, self.engine)?);
        self.gain = head.gain_factor();
        self.to_skip = self.to_output_rate(u64::from(head.pre_skip));
        self.decoded_48k = 0;
        self.decoded_out = 0;
        self.start_granule = None;
        Ok(())
    }

    fn to_output_rate(&self, samples_48k: u64) -> usize {
        (samples_48k * u64::from(self.rate) / 48_000) as usize
    }

    fn decode_packet(
        &mut self,
        data: &[u8],
        granule: Option<u64>,
        eos: bool,
        out: &mut Vec<f32>,
    ) -> Result<(), CodecError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(()); // the reader yields audio only after a header
        };
        let channels = usize::from(decoder.channels());
        let duration_48k = packet_samples(data, 48_000).map_or(0, |n| n as u64);
        let start = out.len();
        if decoder.decode(data, out).is_err() {
            // A damaged packet: keep the timeline with concealment of its duration.
            self.corrupt_packets += 1;
            let lost = (duration_48k.max(960) * u64::from(self.rate) / 48_000) as usize;
            decoder.conceal(lost - lost % (self.rate as usize / 400), out)?;
        }
        self.decoded_48k += duration_48k;
        if let Some(g) = granule
            && self.start_granule.is_none()
        {
            self.start_granule = Some(g.saturating_sub(self.decoded_48k));
        }
        let mut produced = (out.len() - start) / channels;
        self.decoded_out += produced as u64;
        // End trimming: the last granule position marks the last sample to play; at the
        // output rate, everything past floor(position × rate / 48000) goes.
        if eos && let (Some(g), Some(first)) = (granule, self.start_granule) {
            let keep_total = self.to_output_rate(g.saturating_sub(first)) as u64;
            let trim = (self.decoded_out.saturating_sub(keep_total) as usize).min(produced);
            produced -= trim;
            out.truncate(start + produced * channels);
        }
        // Pre-skip: drop the encoder's look-ahead from the start of the stream.
        let skip = self.to_skip.min(produced);
        if skip > 0 {
            out.drain(start..start + skip * channels);
            self.to_skip -= skip;
        }
        if self.gain != 1.0 {
            out[start..].iter_mut().for_each(|s| *s *= self.gain);
        }
        Ok(())
    }
}
