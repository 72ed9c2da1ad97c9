//! Ogg FLAC over plain HTTP (`/{id}.flac`): the stream's lossless rung, one FLAC frame per
//! Ogg page.
//!
//! Pages are made once per (stream, group of frames) and shared by every listener
//! ([`crate::hub::wire`]). As for Ogg/Opus ([`super::ogg`]) page numbers and granule
//! positions are functions of the frames' sequence numbers — frame `seq` is page
//! `2 + seq` with granule position `(seq + 1) × samples per frame` at the stream's rate —
//! so no state is shared between listeners; a listener's two header pages are numbered to
//! end right before its first audio page, and one that was skipped ahead renumbers its
//! copies to stay gapless. One frame per page costs 28 bytes per 20 ms (11 kbit/s) beside
//! FLAC's several hundred kbit/s, and lets a page never wait for the next frame.

use std::sync::Arc;

use bytes::Bytes;
use ondes_codec::flac::FlacFormat;
use ondes_codec::ogg::OggPageWriter;
use ondes_codec::ogg_flac::{FLAC_FIRST_AUDIO_PAGE, ogg_flac_headers};
use ondes_core::egress::Framer;

use super::ogg::OggListenerPages;
use super::session::{SessionNotice, SkipAction, Transport};
use crate::hub::{CodedRung, CodedUse, HubFrame, StreamHub, WireBuilder, WireGuard, WireKey};

/// The wire format id of Ogg FLAC pages ([`WireKey::format`]).
const WIRE_OGG_FLAC: u8 = 5;

/// How the lossless rung's pages are cut.
#[derive(Debug, Clone, Copy)]
struct FlacPages {
    serial: u32,
    block_samples: u64,
}

impl FlacPages {
    fn build(&self, frames: &[Arc<HubFrame>]) -> Bytes {
        let mut out = Vec::new();
        let mut writer = OggPageWriter::new(self.serial);
        for f in frames {
            let Some(p) = f.coded_bytes(CodedRung::Flac) else { continue };
            let seq = f.frame.seq;
            writer.set_sequence(FLAC_FIRST_AUDIO_PAGE.wrapping_add(seq as u32));
            writer.write_packets(&[(&p[..], (seq + 1) * self.block_samples)], false, false, &mut out);
        }
        Bytes::from(out)
    }
}

impl WireBuilder for FlacPages {
    fn build(&self, _hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        FlacPages::build(self, frames)
    }
}

/// One HTTP listener of the lossless rung.
pub struct OggFlacTransport {
    pages: FlacPages,
    wire: WireGuard,
    listener: OggListenerPages,
    _rung: CodedUse,
    hub: Arc<StreamHub>,
}

impl OggFlacTransport {
    /// A listener getting `frames_per_message` frames (pages) per write; `None` when the
    /// stream has no lossless rung.
    pub fn new(hub: &Arc<StreamHub>, frames_per_message: u64, disconnect_lagging: bool) -> Option<Self> {
        let format: FlacFormat = hub.codecs.flac_format()?;
        let rung = hub.use_coded(CodedRung::Flac)?;
        // one serial per stream run, the same for every listener (and not an Opus rung's)
        let serial = (hub.started_at_ms() as u32).wrapping_mul(0x9E37_79B9) ^ 0x464C_4143;
        let headers = Bytes::from(ogg_flac_headers(
            serial,
            &format,
            ondes_codec::ogg_opus::VENDOR,
            &[format!("TITLE={}", hub.id)],
        ));
        let pages = FlacPages { serial, block_samples: u64::from(format.block_samples) };
        let key = WireKey { format: WIRE_OGG_FLAC, variant: 0, group: frames_per_message.max(1) };
        let wire = hub.wire_keys.join(key, || Arc::new(pages));
        Some(OggFlacTransport {
            pages,
            wire,
            listener: OggListenerPages::new(headers, disconnect_lagging),
            _rung: rung,
            hub: hub.clone(),
        })
    }
}

impl Framer<Arc<HubFrame>> for OggFlacTransport {
    type Bytes = Bytes;

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        frames.iter().filter_map(|f| f.coded_bytes(CodedRung::Flac)).map(|b| b.len() as u64).sum()
    }

    fn audio(&mut self, frames: &[Arc<HubFrame>]) -> Bytes {
        let last = &frames[frames.len() - 1];
        let pages = self.pages;
        let (shared, made) = last.wire(self.wire.key, frames[0].frame.seq, || pages.build(frames));
        if made {
            self.hub.stats.serializations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.listener.deliver(shared)
    }
}

impl Transport for OggFlacTransport {
    fn notice(&mut self, _hub: &StreamHub, _notice: &SessionNotice) -> Option<Bytes> {
        // Ogg has no channel for notices
        None
    }

    fn on_skip(&mut self, _skipped_frames: u64, last_sent: Option<&Bytes>) -> SkipAction {
        self.listener.on_skip(last_sent)
    }
}
