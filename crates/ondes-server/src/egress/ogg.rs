//! Ogg/Opus over plain HTTP (Icecast-style listening): pages made from the hub's frames.
//!
//! A page carries the Opus packets of an aligned group of frames at one rung (`page_ms` of
//! audio), so its bytes are the same for every listener of the (stream, rung, page size)
//! and are made once ([`crate::hub::wire`]). Page numbers and granule positions are
//! functions of the frames' sequence numbers — group `g` is page `2 + g × P + i` (`P` pages
//! per group, only more than one when a group holds more than [`PACKETS_PER_PAGE`] packets),
//! the granule position is `(seq + 1) × samples per frame` at 48 kHz — so no state is shared
//! between listeners and a listener joining mid-group gets a short first page that still
//! fits the numbering.
//!
//! A listener's two header pages (`OpusHead`, `OpusTags`) are numbered to end right before
//! its first audio page: Ogg does not require a stream to start at page 0 (libogg, ffmpeg
//! and our demuxer take the BOS page's number as the start), and libogg-based players
//! (VLC, opusfile, Firefox) report a jump in numbers as lost data. Only a listener that was
//! skipped ahead renumbers its copies from then on, to stay gapless.

use std::sync::Arc;

use bytes::Bytes;
use ondes_codec::OggOpusMuxer;
use ondes_codec::ogg::{OggPageWriter, PageRenumberer, page_sequence};
use ondes_codec::ogg_opus::FIRST_AUDIO_PAGE;
use ondes_core::egress::Framer;

use super::session::{SessionNotice, SkipAction, Transport};
use crate::hub::RungUse;
use crate::hub::{HubFrame, StreamHub, WireBuilder, WireGuard, WireKey};

/// The wire format id of Ogg pages ([`WireKey::format`]).
const WIRE_OGG: u8 = 3;

/// Most packets on one page: an Opus packet is at most 1275 bytes, 6 lacing values, and a
/// page holds 255 of them.
pub const PACKETS_PER_PAGE: u64 = 42;

/// How one rung's pages are cut.
#[derive(Debug, Clone, Copy)]
struct Pages {
    rung: usize,
    serial: u32,
    frames_per_page: u64,
    samples_48k: u64,
}

impl Pages {
    fn pages_per_group(&self) -> u64 {
        self.frames_per_page.div_ceil(PACKETS_PER_PAGE)
    }

    /// The pages of consecutive frames within one aligned group.
    fn build(&self, frames: &[Arc<HubFrame>]) -> Bytes {
        let mut out = Vec::new();
        let mut writer = OggPageWriter::new(self.serial);
        let fpp = self.frames_per_page;
        let mut i = 0;
        while i < frames.len() {
            let seq = frames[i].frame.seq;
            let group = seq / fpp;
            let chunk = (seq % fpp) / PACKETS_PER_PAGE;
            // frames up to the end of this page's chunk of the group
            let chunk_end = group * fpp + ((chunk + 1) * PACKETS_PER_PAGE).min(fpp);
            let n = frames[i..].iter().take_while(|f| f.frame.seq < chunk_end).count().max(1);
            let packets: Vec<(&[u8], u64)> = frames[i..i + n]
                .iter()
                .filter_map(|f| {
                    let p = f.opus_packet(self.rung)?;
                    Some((&p[..], (f.frame.seq + 1) * self.samples_48k))
                })
                .collect();
            if !packets.is_empty() {
                let number = FIRST_AUDIO_PAGE as u64 + group * self.pages_per_group() + chunk;
                writer.set_sequence(number as u32);
                writer.write_packets(&packets, false, false, &mut out);
            }
            i += n;
        }
        Bytes::from(out)
    }
}

impl WireBuilder for Pages {
    fn build(&self, _hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes {
        Pages::build(self, frames)
    }
}

/// What the Ogg transport keeps per (stream, rung): the header pages, made once.
pub struct OggHeaders {
    pub bytes: Bytes,
}

/// One listener's view of shared Ogg pages (Opus or FLAC): its header pages first, numbered
/// to end right before its first audio page, and after a skip its own renumbered copies.
pub struct OggListenerPages {
    headers: Bytes,
    headers_sent: bool,
    /// Set after a skip: this listener renumbers its copies to stay gapless.
    renumber: Option<PageRenumberer>,
    disconnect_lagging: bool,
}

impl OggListenerPages {
    pub fn new(headers: Bytes, disconnect_lagging: bool) -> Self {
        OggListenerPages { headers, headers_sent: false, renumber: None, disconnect_lagging }
    }

    /// What this listener is sent for the `shared` pages (nothing yet: the headers wait for
    /// the first page).
    pub fn deliver(&mut self, shared: Bytes) -> Bytes {
        let Some(first) = page_sequence(&shared) else { return shared };
        let mut out = match self.renumber.as_mut() {
            None => shared,
            Some(r) => {
                let mut copy = shared.to_vec();
                r.renumber(&mut copy);
                Bytes::from(copy)
            }
        };
        if !self.headers_sent {
            self.headers_sent = true;
            let first = page_sequence(&out).unwrap_or(first);
            out = Bytes::from([headers_before(&self.headers, first), out].concat());
        }
        out
    }

    pub fn on_skip(&mut self, last_sent: Option<&Bytes>) -> SkipAction {
        if self.disconnect_lagging {
            return SkipAction::Disconnect;
        }
        // continue right after the last page the listener got (after a first skip, the
        // pages it gets are this listener's renumbered copies: the numbers continue)
        if let Some(last) = last_sent.and_then(|m| last_page_sequence(m)) {
            self.renumber = Some(PageRenumberer::new(last.wrapping_add(1)));
        }
        SkipAction::Continue
    }
}

/// One HTTP listener's framing.
pub struct OggTransport {
    pages: Pages,
    wire: WireGuard,
    listener: OggListenerPages,
    /// Keeps the rung's encoder running while this listener is connected.
    _rung: Option<RungUse>,
    hub: Arc<StreamHub>,
}

impl OggTransport {
    /// A listener of rung `rung` with pages of `frames_per_page` frames.
    pub fn new(hub: &Arc<StreamHub>, rung: usize, frames_per_page: u64, disconnect_lagging: bool) -> Self {
        let pre_skip = hub.ladder.pre_skip_48k();
        // one serial per stream run and rung, the same for every listener
        let serial = (hub.started_at_ms() as u32).wrapping_mul(0x9E37_79B9) ^ (rung as u32 + 1);
        let channels = hub.spec.channels.min(2);
        let headers = match OggOpusMuxer::new(serial, channels, hub.spec.sample_rate, pre_skip) {
            Ok(mut m) => {
                m.add_comment(format!("TITLE={}", hub.id));
                Bytes::from(m.headers())
            }
            Err(e) => {
                tracing::error!(stream = %hub.id, error = %e, "cannot make Ogg/Opus headers");
                Bytes::new()
            }
        };
        let pages = Pages {
            rung,
            serial,
            frames_per_page: frames_per_page.max(1),
            samples_48k: u64::from(hub.spec.duration.as_us()) * 48 / 1000,
        };
        let key = WireKey { format: WIRE_OGG, variant: rung as u32, group: pages.frames_per_page };
        let wire = hub.wire_keys.join(key, || Arc::new(pages));
        OggTransport {
            pages,
            wire,
            listener: OggListenerPages::new(headers, disconnect_lagging),
            _rung: hub.use_rung(rung),
            hub: hub.clone(),
        }
    }

    /// Frames per page (the session's batch).
    pub fn frames_per_page(&self) -> u64 {
        self.pages.frames_per_page
    }
}

impl Framer<Arc<HubFrame>> for OggTransport {
    type Bytes = Bytes;

    fn payload_bytes(&self, frames: &[Arc<HubFrame>]) -> u64 {
        HubFrame::opus_bytes(frames, self.pages.rung)
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

impl Transport for OggTransport {
    fn notice(&mut self, _hub: &StreamHub, _notice: &SessionNotice) -> Option<Bytes> {
        // an Ogg stream has no channel for notices: the player just hears what comes
        None
    }

    fn on_skip(&mut self, _skipped_frames: u64, last_sent: Option<&Bytes>) -> SkipAction {
        self.listener.on_skip(last_sent)
    }
}

/// The number of the last page in `pages` (one or more whole pages).
pub(super) fn last_page_sequence(pages: &[u8]) -> Option<u32> {
    let mut at = 0;
    let mut last = None;
    while let Some(seq) = page_sequence(&pages[at..]) {
        last = Some(seq);
        match page_len(&pages[at..]) {
            Some(len) if len > 0 && at + len <= pages.len() => at += len,
            _ => break,
        }
    }
    last
}

/// Length of the complete page at the start of `b`.
fn page_len(b: &[u8]) -> Option<usize> {
    let segments = *b.get(26)? as usize;
    let lacing = b.get(27..27 + segments)?;
    Some(27 + segments + lacing.iter().map(|&x| x as usize).sum::<usize>())
}

/// The two header pages (`OpusHead` and `OpusTags`, or Ogg FLAC's), numbered to end right
/// before page `first_audio`.
pub(super) fn headers_before(headers: &Bytes, first_audio: u32) -> Bytes {
    if first_audio == FIRST_AUDIO_PAGE {
        return headers.clone();
    }
    let mut copy = headers.to_vec();
    PageRenumberer::new(first_audio.wrapping_sub(FIRST_AUDIO_PAGE)).renumber(&mut copy);
    Bytes::from(copy)
}
