//! [`OggOpusMuxer`]: Opus packets in, Ogg/Opus pages out as bytes, for files and live HTTP.

use super::head::{OpusHead, OpusTags};
use crate::CodecError;
use crate::ogg::OggPageWriter;
use crate::opus::packet_samples;

/// Vendor string written in `OpusTags`.
pub const VENDOR: &str = "ondes";

/// Page sequence number of the first audio page (after `OpusHead` and `OpusTags`): where a
/// joining listener's [`PageRenumberer`](crate::ogg::PageRenumberer) starts.
pub const FIRST_AUDIO_PAGE: u32 = 2;

/// Builds one Ogg/Opus logical stream (RFC 7845) incrementally.
///
/// Made for live egress: each call returns the bytes to send, made once and shared by every
/// listener. By default every packet gets its own page, so nothing waits in the muxer (one
/// 20 ms packet ≈ 28 bytes of page overhead); [`with_packets_per_page`](Self::with_packets_per_page)
/// trades latency for overhead.
///
/// Granule positions count 48 kHz samples from the start of the stream including the
/// pre-skip, as RFC 7845 §4 requires, whatever the coding rate.
#[derive(Debug, Clone)]
pub struct OggOpusMuxer {
    writer: OggPageWriter,
    head: OpusHead,
    tags: OpusTags,
    granule: u64,
    packets_per_page: usize,
    /// Packets waiting for a full page, with their end granule positions.
    pending: Vec<(Vec<u8>, u64)>,
    finished: bool,
}

impl OggOpusMuxer {
    /// A muxer for stream `serial` holding `channels` (1 or 2) channels; `input_sample_rate`
    /// is informational (the source's rate), `pre_skip` is the encoder's look-ahead in 48 kHz
    /// samples ([`OpusEncoder::pre_skip_48k`](crate::opus::OpusEncoder::pre_skip_48k)).
    pub fn new(
        serial: u32,
        channels: u16,
        input_sample_rate: u32,
        pre_skip: u16,
    ) -> Result<Self, CodecError> {
        if !(1..=2).contains(&channels) {
            return Err(CodecError::InvalidParameter(format!(
                "Ogg/Opus channels {channels}: only mono and stereo (mapping family 0) are written"
            )));
        }
        let mut writer = OggPageWriter::new(serial);
        writer.set_sequence(FIRST_AUDIO_PAGE);
        Ok(OggOpusMuxer {
            writer,
            // Checked above: 1 or 2 fits in u8.
            head: OpusHead::new(channels as u8, input_sample_rate, pre_skip),
            tags: OpusTags { vendor: VENDOR.to_owned(), comments: Vec::new() },
            granule: 0,
            packets_per_page: 1,
            pending: Vec::new(),
            finished: false,
        })
    }

    /// Puts up to `n` (at least 1) packets on each page.
    pub fn with_packets_per_page(mut self, n: usize) -> Self {
        self.packets_per_page = n.max(1);
        self
    }

    /// Adds a `KEY=value` comment to `OpusTags` (e.g. `TITLE=…`); takes effect in the headers
    /// produced afterwards.
    pub fn add_comment(&mut self, comment: impl Into<String>) {
        self.tags.comments.push(comment.into());
    }

    /// The identification header this muxer writes.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The two header pages, numbered 0 and 1: `OpusHead` alone on a beginning-of-stream page,
    /// then `OpusTags`. Send them first, before any page from [`push`](Self::push).
    ///
    /// A listener joining a live stream gets these, then the shared pages from where the
    /// stream is, each copied and renumbered by its own
    /// [`PageRenumberer::new(2)`](crate::ogg::PageRenumberer) so that it sees no sequence gap
    /// (which libogg-based players report as lost data). Granule positions then start where
    /// the stream is, which players treat as a start offset.
    pub fn headers(&self) -> Vec<u8> {
        let mut w = OggPageWriter::new(self.writer.serial());
        let mut out = Vec::new();
        w.write_packets(&[(&self.head.to_bytes(), 0)], true, false, &mut out);
        w.write_packets(&[(&self.tags.to_bytes(), 0)], false, false, &mut out);
        out
    }

    /// Adds one packet holding `samples_48k` samples (its duration in 48 kHz units, e.g. 960
    /// for 20 ms) and returns the page(s) completed by it: one page per packet by default,
    /// or nothing while a multi-packet page is filling.
    pub fn push(&mut self, packet: &[u8], samples_48k: u32) -> Vec<u8> {
        let mut out = Vec::new();
        self.push_into(packet, samples_48k, &mut out);
        out
    }

    /// [`push`](Self::push) taking the duration from the packet's TOC byte.
    pub fn push_opus(&mut self, packet: &[u8]) -> Result<Vec<u8>, CodecError> {
        // At most 120 ms = 5760 samples: fits in u32.
        let samples = packet_samples(packet, 48_000)? as u32;
        Ok(self.push(packet, samples))
    }

    /// [`push`](Self::push) appending to a caller's buffer.
    pub fn push_into(&mut self, packet: &[u8], samples_48k: u32, out: &mut Vec<u8>) {
        self.granule += u64::from(samples_48k);
        self.pending.push((packet.to_vec(), self.granule));
        if self.pending.len() >= self.packets_per_page {
            self.write_pending(false, out);
        }
    }

    /// Ends the stream with its last packet, of which only the first `keep_48k` samples are
    /// audio (the rest is padding of the last frame): the page's granule position says so,
    /// and players trim it (RFC 7845 §4.5), so a file decodes to exactly its input length.
    pub fn push_last(&mut self, packet: &[u8], samples_48k: u32, keep_48k: u32) -> Vec<u8> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        self.granule += u64::from(keep_48k.min(samples_48k));
        self.pending.push((packet.to_vec(), self.granule));
        self.write_pending(true, &mut out);
        out
    }

    /// Writes the packets waiting for a full page now (e.g. on a timer, to bound latency).
    pub fn flush(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_pending(false, &mut out);
        out
    }

    /// Ends the stream: the waiting packets, or an empty page, flagged end-of-stream. Later
    /// calls return nothing; nothing may be pushed afterwards.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        if self.pending.is_empty() {
            self.writer.write_empty_eos(&mut out);
        } else {
            self.write_pending(true, &mut out);
        }
        out
    }

    /// Granule position after the last packet pushed (48 kHz samples, pre-skip included).
    pub fn granule_position(&self) -> u64 {
        self.granule
    }

    /// Sequence number the next page will carry.
    pub fn next_page_sequence(&self) -> u32 {
        self.writer.sequence()
    }

    fn write_pending(&mut self, eos: bool, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        let packets: Vec<(&[u8], u64)> = self.pending.iter().map(|(p, g)| (p.as_slice(), *g)).collect();
        self.writer.write_packets(&packets, false, eos, out);
        self.pending.clear();
    }
}
