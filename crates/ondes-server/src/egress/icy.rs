//! In-band ICY metadata (the Shoutcast/Icecast `icy-metaint` convention) for MP3 listeners
//! that ask for it with `Icy-MetaData: 1`.
//!
//! After every `metaint` bytes of audio the listener gets one metadata block: a length byte
//! `n`, then `n × 16` bytes — `StreamTitle='…';` padded with NULs — when the title changed
//! since the listener's last block (or on its first block), else `n = 0` alone. The audio
//! bytes stay the shared ones ([`crate::hub::wire`]); per listener there is only a byte
//! counter, and a message that crosses a block boundary is copied once with the block put
//! in (once per `metaint` bytes: about once a second at 128 kbit/s).
//!
//! A listener skipped to live loses the newest messages it was given but never began; the
//! counter is rewound past them ([`IcyInserter::rewind`]), so the blocks stay at the
//! listener's own byte offsets.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use ondes_core::egress::Framer;

use super::session::{SessionNotice, SkipAction, Transport};
use crate::hub::{HubFrame, StreamHub};
use crate::stream_title::StreamTitle;

/// Audio bytes between metadata blocks, as `icy-metaint` announces (Icecast's default).
pub const ICY_METAINT: usize = 16_000;

/// States remembered for rewinding: more than a lagging listener ever has queued.
const MAX_LOG: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    /// Audio bytes before the next block.
    until_meta: usize,
    /// Version of the title in the last block with a title; `None` before the first block.
    sent_version: Option<u64>,
}

/// One listener's metadata insertion.
#[derive(Debug)]
pub struct IcyInserter {
    metaint: usize,
    state: State,
    /// The state before each message handed out, newest last.
    log: VecDeque<State>,
}

impl IcyInserter {
    pub fn new(metaint: usize) -> Self {
        let metaint = metaint.max(1);
        IcyInserter {
            metaint,
            state: State { until_meta: metaint, sent_version: None },
            log: VecDeque::new(),
        }
    }

    /// `audio` as this listener receives it: unchanged (shared) when no block falls in it,
    /// else a copy with the blocks put in at the listener's offsets.
    pub fn frame(&mut self, audio: Bytes, title: &StreamTitle) -> Bytes {
        if audio.is_empty() {
            return audio;
        }
        if self.log.len() == MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(self.state);
        if audio.len() < self.state.until_meta {
            self.state.until_meta -= audio.len();
            return audio;
        }
        let mut out = Vec::with_capacity(audio.len() + 64);
        let mut rest = &audio[..];
        while rest.len() >= self.state.until_meta {
            let (before, after) = rest.split_at(self.state.until_meta);
            out.extend_from_slice(before);
            rest = after;
            self.push_block(&mut out, title);
            self.state.until_meta = self.metaint;
        }
        out.extend_from_slice(rest);
        self.state.until_meta -= rest.len();
        Bytes::from(out)
    }

    fn push_block(&mut self, out: &mut Vec<u8>, title: &StreamTitle) {
        let version = title.version();
        if self.state.sent_version == Some(version) {
            out.push(0);
            return;
        }
        self.state.sent_version = Some(version);
        out.extend_from_slice(&metadata_block(title.get().as_deref().unwrap_or("")));
    }

    /// Forgets the `messages` newest messages handed out (a skip dropped them unsent).
    /// `false` when they are older than it remembers (the stream's offsets are lost).
    pub fn rewind(&mut self, messages: usize) -> bool {
        if messages > self.log.len() {
            return false;
        }
        for _ in 0..messages {
            if let Some(s) = self.log.pop_back() {
                self.state = s;
            }
        }
        true
    }
}

/// One metadata block with `title`: the length byte and `StreamTitle='…';` padded to a
/// multiple of 16 with NULs. Titles are at most [`crate::stream_title::MAX_TITLE_BYTES`]
/// ([`StreamTitle::set`] refuses longer ones); a longer one is cut at a character boundary.
pub fn metadata_block(title: &str) -> Vec<u8> {
    let mut cut = title.len().min(crate::stream_title::MAX_TITLE_BYTES);
    while !title.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = format!("StreamTitle='{}';", &title[..cut]);
    let blocks = text.len().div_ceil(16);
    let mut out = Vec::with_capacity(1 + blocks * 16);
    // at most 255: the text is at most 4080 bytes
    out.push(blocks as u8);
    out.extend_from_slice(text.as_bytes());
    out.resize(1 + blocks * 16, 0);
    out
}

/// A byte-stream transport (MP3) with ICY metadata put in.
pub struct IcyTransport<T> {
    inner: T,
    icy: IcyInserter,
    title: Arc<StreamTitle>,
    /// A skip dropped more than the inserter remembers: the listener is disconnected.
    lost_offsets: bool,
}

impl<T> IcyTransport<T> {
    pub fn new(inner: T, title: Arc<StreamTitle>, metaint: usize) -> Self {
        IcyTransport { inner, icy: IcyInserter::new(metaint), title, lost_offsets: false }
    }
}

impl<T: Transport> Framer<Arc<HubFrame>> for IcyTransport<T> {
    type Bytes = Bytes;

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let audio = self.inner.audio(frames);
        self.icy.frame(audio, &self.title)
    }

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        self.inner.payload_bytes(frames)
    }
}

impl<T: Transport> Transport for IcyTransport<T> {
    fn notice(&mut self, _hub: &StreamHub, _notice: &SessionNotice) -> Option<Bytes> {
        // the byte stream carries only audio and metadata blocks: bytes the inserter did not
        // count would shift every block after them
        None
    }

    fn unsent_dropped(&mut self, messages: usize) {
        if !self.icy.rewind(messages) {
            self.lost_offsets = true;
        }
    }

    fn on_skip(&mut self, skipped_frames: u64, last_sent: Option<&Bytes>) -> SkipAction {
        if self.lost_offsets {
            return SkipAction::Disconnect;
        }
        self.inner.on_skip(skipped_frames, last_sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a received ICY stream into (audio, titles seen in blocks, empty blocks).
    fn parse(stream: &[u8], metaint: usize) -> (Vec<u8>, Vec<String>, usize) {
        let (mut audio, mut titles, mut empty) = (Vec::new(), Vec::new(), 0);
        let mut rest = stream;
        while rest.len() > metaint {
            audio.extend_from_slice(&rest[..metaint]);
            let n = rest[metaint] as usize * 16;
            let block = &rest[metaint + 1..metaint + 1 + n];
            if n == 0 {
                empty += 1;
            } else {
                let text = std::str::from_utf8(block).unwrap().trim_end_matches('\0');
                titles.push(text.to_string());
            }
            rest = &rest[metaint + 1 + n..];
        }
        audio.extend_from_slice(rest);
        (audio, titles, empty)
    }

    #[test]
    fn blocks_at_the_offsets_with_the_title_only_when_it_changed() {
        let title = StreamTitle::default();
        title.set("A - One").unwrap();
        let mut icy = IcyInserter::new(100);
        let audio: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        for (i, chunk) in audio.chunks(37).enumerate() {
            if i == 15 {
                title.set("B - Two").unwrap();
            }
            let b = Bytes::copy_from_slice(chunk);
            let framed = icy.frame(b.clone(), &title);
            if framed.len() == chunk.len() {
                assert_eq!(framed.as_ptr(), b.as_ptr(), "no block in it: the same bytes");
            }
            out.extend_from_slice(&framed);
        }
        let (got, titles, empty) = parse(&out, 100);
        assert_eq!(got, audio);
        assert_eq!(titles, ["StreamTitle='A - One';", "StreamTitle='B - Two';"]);
        assert_eq!(empty, 8);
        assert_eq!(metadata_block("x").len(), 17);
        assert_eq!(metadata_block("x")[0], 1);
        assert_eq!(metadata_block(&"é".repeat(3000)).len(), 1 + 255 * 16);
    }

    #[test]
    fn rewinding_past_dropped_messages_keeps_the_offsets() {
        let title = StreamTitle::default();
        let mut icy = IcyInserter::new(50);
        let mut out = Vec::new();
        let mut audio = Vec::new();
        for i in 0..4u8 {
            let chunk = vec![i; 30];
            audio.extend_from_slice(&chunk);
            out.extend_from_slice(&icy.frame(Bytes::from(chunk), &title));
        }
        // two more made, then dropped by a skip
        icy.frame(Bytes::from(vec![9u8; 30]), &title);
        icy.frame(Bytes::from(vec![9u8; 30]), &title);
        assert!(icy.rewind(2));
        for i in 4..8u8 {
            let chunk = vec![i; 30];
            audio.extend_from_slice(&chunk);
            out.extend_from_slice(&icy.frame(Bytes::from(chunk), &title));
        }
        let (got, titles, empty) = parse(&out, 50);
        assert_eq!(got, audio);
        assert_eq!(titles, ["StreamTitle='';"]);
        assert_eq!(empty, 3);
        assert!(!icy.rewind(MAX_LOG + 1));
    }
}
