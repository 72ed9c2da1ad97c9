//! MP3 over plain HTTP (`/{id}.mp3`), for players that know nothing newer: the bytes of
//! one MP3 rung of the stream, as LAME made them.
//!
//! A message is the concatenation of its frames' MP3 bytes, made once per (stream, bitrate,
//! group of frames) and shared ([`crate::hub::wire`]). MP3 has no container to renumber:
//! a listener's first message — and its first after being skipped ahead — starts at the
//! first MP3 frame header in it, so a player never starts on the middle of a frame.

use std::sync::Arc;

use bytes::Bytes;
use ondes_codec::mp3::first_frame_start;
use ondes_core::egress::Framer;

use super::session::{SessionNotice, SkipAction, Transport};
use crate::hub::{CodedRung, CodedUse, HubFrame, StreamHub, WireBuilder, WireGuard, WireKey};

/// The wire format id of MP3 bytes ([`WireKey::format`]).
const WIRE_MP3: u8 = 6;

#[derive(Debug, Clone, Copy)]
struct Mp3Bytes {
    kbps: u32,
}

impl Mp3Bytes {
    fn build(&self, frames: &[Arc<HubFrame>]) -> Bytes {
        let rung = CodedRung::Mp3(self.kbps);
        let parts: Vec<&Bytes> = frames.iter().filter_map(|f| f.coded_bytes(rung)).collect();
        match parts.as_slice() {
            [] => Bytes::new(),
            [one] => (*one).clone(),
            many => Bytes::from(many.iter().flat_map(|b| b.iter().copied()).collect::<Vec<u8>>()),
        }
    }
}

impl WireBuilder for Mp3Bytes {
    fn build(&self, _hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        Mp3Bytes::build(self, frames)
    }
}

/// One HTTP listener of an MP3 rung.
pub struct Mp3Transport {
    bytes: Mp3Bytes,
    wire: WireGuard,
    /// The next message must start on a frame header (first message, after a skip).
    resync: bool,
    disconnect_lagging: bool,
    _rung: CodedUse,
    hub: Arc<StreamHub>,
}

impl Mp3Transport {
    /// A listener of the `kbps` rung, `frames_per_message` stream frames per write; `None`
    /// when `kbps` is not an MP3 bitrate.
    pub fn new(
        hub: &Arc<StreamHub>,
        kbps: u32,
        frames_per_message: u64,
        disconnect_lagging: bool,
    ) -> Option<Self> {
        let rung = hub.use_coded(CodedRung::Mp3(kbps))?;
        let bytes = Mp3Bytes { kbps };
        let key = WireKey { format: WIRE_MP3, variant: kbps, group: frames_per_message.max(1) };
        let wire = hub.wire_keys.join(key, || Arc::new(bytes));
        Some(Mp3Transport { bytes, wire, resync: true, disconnect_lagging, _rung: rung, hub: hub.clone() })
    }
}

impl Framer<Arc<HubFrame>> for Mp3Transport {
    type Bytes = Bytes;

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        frames
            .iter()
            .filter_map(|f| f.coded_bytes(CodedRung::Mp3(self.bytes.kbps)))
            .map(|b| b.len() as u64)
            .sum()
    }

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let last = &frames[frames.len() - 1];
        let bytes = self.bytes;
        let (shared, made) = last.wire(self.wire.key, frames[0].frame.seq, || bytes.build(frames));
        if made {
            self.hub.stats.serializations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if !self.resync {
            return shared;
        }
        match first_frame_start(&shared) {
            Some(at) => {
                self.resync = false;
                shared.slice(at..)
            }
            None => Bytes::new(),
        }
    }
}

impl Transport for Mp3Transport {
    fn notice(&mut self, _hub: &StreamHub, _notice: &SessionNotice) -> Option<Bytes> {
        // a bare MP3 stream has no channel for notices
        None
    }

    fn on_skip(&mut self, _skipped_frames: u64, _last_sent: Option<&Bytes>) -> SkipAction {
        if self.disconnect_lagging {
            return SkipAction::Disconnect;
        }
        self.resync = true;
        SkipAction::Continue
    }
}
