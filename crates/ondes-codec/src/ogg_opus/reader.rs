//! [`OggOpusReader`]: an Ogg byte stream in, Opus headers and audio packets out.

use super::head::{OpusHead, OpusTags};
use crate::CodecError;
use crate::ogg::{OggDemuxStats, OggDemuxer, OggPacket};

/// One item of an Ogg/Opus stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OggOpusEvent {
    /// A (new) stream starts: configure a decoder for it. Chained streams (one after another,
    /// as Icecast sources send at track changes) each start with one.
    Head(OpusHead),
    /// The stream's comments.
    Tags(OpusTags),
    /// One Opus packet.
    Audio(OpusAudioPacket),
}

/// An Opus packet with its Ogg timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusAudioPacket {
    pub data: Vec<u8>,
    /// Granule position (48 kHz samples, pre-skip included) at the end of this packet, when
    /// it is the last packet on its page.
    pub granule: Option<u64>,
    /// The stream's last packet; its granule position may end before the packet's last sample
    /// (RFC 7845 §4.5 end trimming).
    pub eos: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHead,
    AwaitTags,
    Audio,
}

/// Reads Ogg/Opus (RFC 7845) incrementally: the first logical stream that starts with
/// `OpusHead` is followed, other multiplexed streams (video, Vorbis...) are skipped and
/// counted; after its end, the next Opus stream in the chain is followed.
#[derive(Debug)]
pub struct OggOpusReader {
    demux: OggDemuxer,
    serial: Option<u32>,
    state: State,
    head: Option<OpusHead>,
    tags: Option<OpusTags>,
    /// Whether the followed stream has yielded audio: a new `OpusHead` after that is a chain
    /// boundary, before it a multiplexed second stream.
    audio_seen: bool,
    ignored_packets: u64,
}

impl Default for OggOpusReader {
    fn default() -> Self {
        Self::new()
    }
}

impl OggOpusReader {
    pub fn new() -> Self {
        OggOpusReader {
            demux: OggDemuxer::new(),
            serial: None,
            state: State::AwaitHead,
            head: None,
            tags: None,
            audio_seen: false,
            ignored_packets: 0,
        }
    }

    /// Adds input bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.demux.feed(bytes);
    }

    /// Declares the end of input (see [`OggDemuxer::end_of_input`]).
    pub fn end_of_input(&mut self) {
        self.demux.end_of_input();
    }

    /// The next header or audio packet; `Ok(None)` when more input is needed.
    ///
    /// An error (a malformed header) concerns only the stream it came from: the reader skips
    /// that stream and can still be polled for the next one.
    pub fn pop(&mut self) -> Result<Option<OggOpusEvent>, CodecError> {
        while let Some(packet) = self.demux.pop() {
            if let Some(event) = self.handle(packet)? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    fn handle(&mut self, packet: OggPacket) -> Result<Option<OggOpusEvent>, CodecError> {
        let OggPacket { data, granule, serial, bos, eos, .. } = packet;
        let ours = self.serial == Some(serial);
        // A new stream: none followed yet, or the followed one has played and a new stream
        // starts (a chain whose end-of-stream page was empty, lost, or never sent, as when an
        // Icecast source reconnects). A second Opus stream multiplexed next to the first (its
        // header before any audio) is not followed.
        if bos && !ours && data.starts_with(b"OpusHead") && (self.serial.is_none() || self.audio_seen) {
            // Stop following the old stream first, so that a bad header leaves no stream followed.
            self.serial = None;
            self.state = State::AwaitHead;
            let head = OpusHead::parse(&data)?;
            self.serial = (!eos).then_some(serial);
            self.state = State::AwaitTags;
            self.head = Some(head.clone());
            self.tags = None;
            self.audio_seen = false;
            return Ok(Some(OggOpusEvent::Head(head)));
        }
        if !ours {
            self.ignored_packets += 1;
            return Ok(None);
        }
        if eos {
            self.serial = None;
        }
        match std::mem::replace(&mut self.state, if eos { State::AwaitHead } else { State::Audio }) {
            State::AwaitTags => match OpusTags::parse(&data) {
                Ok(tags) => {
                    self.tags = Some(tags.clone());
                    Ok(Some(OggOpusEvent::Tags(tags)))
                }
                Err(e) => {
                    self.serial = None;
                    self.state = State::AwaitHead;
                    Err(e)
                }
            },
            _ => {
                self.audio_seen = true;
                Ok(Some(OggOpusEvent::Audio(OpusAudioPacket { data, granule, eos })))
            }
        }
    }

    /// The header of the stream being read (or last read).
    pub fn head(&self) -> Option<&OpusHead> {
        self.head.as_ref()
    }

    /// The comments of the stream being read, once seen.
    pub fn tags(&self) -> Option<&OpusTags> {
        self.tags.as_ref()
    }

    /// Packets skipped: other logical streams, or audio before any `OpusHead` (a stream
    /// joined mid-way without its headers).
    pub fn ignored_packets(&self) -> u64 {
        self.ignored_packets
    }

    /// The demuxer's counters (corrupt pages, gaps, dropped packets...).
    pub fn demux_stats(&self) -> OggDemuxStats {
        self.demux.stats()
    }
}
