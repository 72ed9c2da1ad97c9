//! One shared Ogg/Opus stream per stream and rung: pages made once, sent to every listener.
//!
//! A feed is a task that reads the hub's frames, takes each frame's Opus packet at its rung
//! (the hub's ladder encodes once per frame whatever the number of listeners) and muxes them
//! into Ogg pages of `page_ms` of audio. Pages go into the feed's own ring; listeners hold a
//! cursor into it and are woken once per page, not once per frame.
//!
//! A listener gets the feed's two header pages (`OpusHead`, `OpusTags`), then shared pages
//! from where the stream is. Joining mid-stream, it would see a jump in page sequence numbers
//! after the headers — Icecast sends exactly that, but libogg-based players (VLC, opusfile,
//! Firefox) report it as lost data — so the listener's header pages are numbered to end right
//! before its first audio page (see `listen.rs`) and the shared pages go out as they are; only
//! a listener skipped ahead renumbers its copies ([`PageRenumberer`](ondes_codec::ogg::PageRenumberer),
//! which updates the CRC in O(log n) without rereading the page). Granule positions continue
//! from the feed's start, which players take as a start offset.
//!
//! A feed starts with its first listener and stops [`IDLE_SECS`] after its last one left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ondes_codec::OggOpusMuxer;
use ondes_core::{Cursor, CursorRead, Ring};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::hub::{HubRead, StreamHub};

/// Seconds a feed keeps running without listeners (a reconnecting player finds it warm).
pub const IDLE_SECS: u64 = 5;

/// One shared Ogg page.
pub struct OggPage {
    pub bytes: Bytes,
    /// Frames (Opus packets) on the page.
    pub frames: u32,
    /// Capture time of the page's last frame, µs since the epoch (for latency accounting).
    pub capture_us: i64,
}

/// What a listener reads from a feed.
pub enum FeedRead {
    Page(Arc<OggPage>),
    /// The listener was too far behind: this many pages were skipped to reach live.
    Skipped(u64),
}

/// The shared Ogg stream of one rung.
pub struct OggFeed {
    pub rung: usize,
    pub kbps: u32,
    pub frames_per_page: u32,
    /// `OpusHead` and `OpusTags` pages (sequence 0 and 1).
    pub headers: Bytes,
    ring: RwLock<Ring<Arc<OggPage>>>,
    /// Next page number; also changed (to wake listeners) when the feed stops.
    latest: watch::Sender<u64>,
    listeners: AtomicUsize,
    max_lag_pages: u64,
    stopped: AtomicBool,
    /// Frames that had no packet at this rung (the rung was just starting).
    pub missing_packets: AtomicU64,
}

/// Counts a listener on a feed while held.
pub struct FeedGuard(pub Arc<OggFeed>);

impl Drop for FeedGuard {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How pages are cut and how far a listener may fall behind.
#[derive(Debug, Clone, Copy)]
pub struct FeedParams {
    pub frames_per_page: u32,
    pub max_lag_pages: u64,
    pub ring_pages: usize,
}

impl OggFeed {
    pub fn new(hub: &StreamHub, rung: usize, params: FeedParams) -> Arc<Self> {
        let kbps = hub.ladder.rungs.get(rung).map_or(0, |r| r.kbps);
        // the ladder's encoders look ahead 6.5 ms (2.5 ms when CELT-only, below 10 ms frames);
        // as 48 kHz samples that is OpusHead's pre-skip
        let pre_skip = if hub.spec.duration.as_us() < 10_000 { 120 } else { 312 };
        let serial = rand::random::<u32>();
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
        Arc::new(OggFeed {
            rung,
            kbps,
            frames_per_page: params.frames_per_page.max(1),
            headers,
            ring: RwLock::new(Ring::new(params.ring_pages.max(2))),
            latest: watch::channel(0).0,
            listeners: AtomicUsize::new(0),
            max_lag_pages: params.max_lag_pages.max(1),
            stopped: AtomicBool::new(false),
            missing_packets: AtomicU64::new(0),
        })
    }

    /// The serial number of the feed's logical stream, from its header page.
    fn serial(&self) -> u32 {
        self.headers.get(14..18).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Adds a listener (the caller holds the mount's feed lock, so a stopping feed is not
    /// joined).
    pub fn join(self: &Arc<Self>) -> FeedGuard {
        self.listeners.fetch_add(1, Ordering::AcqRel);
        FeedGuard(self.clone())
    }

    pub fn listeners(&self) -> usize {
        self.listeners.load(Ordering::Acquire)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Wake-ups for new pages and for the end of the feed: one receiver, so a listener
    /// registers one waker per page.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// A cursor starting `burst_pages` complete pages back from live.
    pub fn cursor(&self, burst_pages: u64) -> Cursor {
        Cursor::with_burst(&self.ring.read(), self.max_lag_pages, burst_pages)
    }

    /// Reads up to `max` items for a listener.
    pub fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<FeedRead>) {
        let ring = self.ring.read();
        for _ in 0..max {
            match cursor.read(&ring) {
                CursorRead::Item { item, .. } => out.push(FeedRead::Page(item.clone())),
                CursorRead::Skipped { count } => out.push(FeedRead::Skipped(count)),
                CursorRead::Pending => break,
            }
        }
    }

    fn publish(&self, page: OggPage) {
        let next = {
            let mut ring = self.ring.write();
            ring.push(Arc::new(page));
            ring.next_seq()
        };
        self.latest.send_replace(next);
    }

    /// Marks the feed stopped: listeners finish what they have and end. The feed stops when
    /// its stream ends or the server shuts down, so listeners need watch nothing else.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.latest.send_modify(|_| {});
    }
}

/// Runs `feed` until the stream ends, the server stops, or nobody listened for
/// [`IDLE_SECS`]; `remove` is called (under the owner's lock) to decide whether an idle feed
/// may stop (it returns false when a listener joined meanwhile).
pub async fn run_feed(
    hub: Arc<StreamHub>,
    feed: Arc<OggFeed>,
    mut shutdown: watch::Receiver<bool>,
    remove: impl Fn(&Arc<OggFeed>) -> bool,
) {
    let _rung = hub.ladder.listen(feed.rung);
    // cloned receivers, not a Subscription: the feed is not a listener in the stream's counts
    let (mut frames, mut control) = {
        let sub = hub.subscribe();
        (sub.frames.clone(), sub.control.clone())
    };
    let mut cursor = hub.cursor_at_live();
    let channels = hub.spec.channels.min(2);
    let mut muxer = match OggOpusMuxer::new(feed.serial(), channels, hub.spec.sample_rate, 0) {
        Ok(m) => m.with_packets_per_page(feed.frames_per_page as usize),
        Err(e) => {
            tracing::error!(stream = %hub.id, error = %e, "cannot start the Ogg feed");
            feed.stop();
            return;
        }
    };
    let samples_48k = (u64::from(hub.spec.duration.as_us()) * 48 / 1000) as u32;
    let mut reads = Vec::new();
    let mut on_page = 0u32;
    let mut idle_since: Option<tokio::time::Instant> = None;
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    loop {
        let c = control.borrow_and_update().clone();
        if c.ended.is_some() || *shutdown.borrow() {
            break;
        }
        frames.borrow_and_update();
        reads.clear();
        hub.read(&mut cursor, 64, &mut reads);
        for r in reads.drain(..) {
            let HubRead::Frame(f) = r else { continue };
            if c.paused {
                continue;
            }
            let Some(packet) = f.opus_packet(feed.rung) else {
                feed.missing_packets.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let bytes = muxer.push(packet, samples_48k);
            on_page += 1;
            if !bytes.is_empty() {
                feed.publish(OggPage {
                    bytes: Bytes::from(bytes),
                    frames: std::mem::take(&mut on_page),
                    capture_us: f.frame.capture_us,
                });
            }
        }
        tokio::select! {
            r = frames.changed() => if r.is_err() { break },
            r = control.changed() => if r.is_err() { break },
            _ = shutdown.changed() => {}
            now = idle_check.tick() => {
                if feed.listeners() > 0 {
                    idle_since = None;
                } else if idle_since.is_none() {
                    idle_since = Some(now);
                } else if idle_since.is_some_and(|t| now - t >= Duration::from_secs(IDLE_SECS)) && remove(&feed) {
                    break;
                }
            }
        }
    }
    feed.stop();
    let _ = remove(&feed);
}
