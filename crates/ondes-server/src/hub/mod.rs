//! The stream hub: one per stream.
//!
//! The hub owns the ring of recent frames and never waits for a listener: `push` takes a
//! write lock for the time of a `VecDeque` push and wakes the listeners through a `watch`
//! channel. Listeners read through their own [`Cursor`]; a slow one is skipped ahead to
//! live and its skipped frames are counted in `dropped_frames`.
//!
//! Per-frame serialisations (SSE events, WebSocket messages, Ogg pages) are made once per
//! group of frames, by the producer when it pushes the frame that completes the group, for
//! every key a listener uses ([`wire`]); every listener gets the same `Bytes`.

pub mod codec_rungs;
pub mod delivery;
mod frame;
pub mod ladder;
pub mod passthrough;
mod reader;
pub mod registry;
mod stats;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use ondes_core::dsp::{ChannelLevel, Decimator, LevelMeter};
use ondes_core::quality::QualityCap;
use ondes_core::ring::Resume;
use ondes_core::{Cursor, CursorRead, Frame, FrameSpec, Ring};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

pub use codec_rungs::{CodecRungs, CodedRung};
pub use delivery::{Delivery, DeliveryPolicy};
pub use frame::HubFrame;
pub use ladder::Ladder;
pub use passthrough::SourceOpus;
pub use reader::HubReader;
pub use stats::HubStats;
pub use wire::{WireBuilder, WireGuard, WireKey, WireKeys};

use crate::clock::now_us;

/// The longest gap a resuming listener is told the size of (see [`StreamHub::cursor_resume`]).
pub const MAX_RESUME_GAP_SECS: u64 = 3600;

/// Delivery state shared by all listeners of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlState {
    pub paused: bool,
    /// The quality cap: what listeners who made no choice get (`adjust_quality`).
    pub quality: QualityCap,
    /// Set once when the stream ends for good (source exhausted, server stopping).
    pub ended: Option<String>,
    /// The source (a publisher) is gone; the hub is filling with silence until it returns.
    pub source_lost: bool,
    /// Gaps the source reported (samples it lost, filled with silence), and the latest one.
    pub source_gaps: u64,
    pub last_source_gap: SourceGap,
    /// Legacy, adaptive or canary delivery, and forced profiles.
    pub delivery: DeliveryPolicy,
}

/// A run of frames the source lost (e.g. a capture overrun) and filled with silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceGap {
    /// The first frame that carries the silence.
    pub from_frame: u64,
    /// Frames of audio lost (rounded up).
    pub frames: u64,
}

/// A change of [`ControlState`] that listeners are told about, whatever their transport.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The stream ended for good (the reason).
    Ended(String),
    Paused,
    Resumed,
    SourceLost,
    SourceRestored,
    /// The source lost audio (an overrun) and filled it with silence.
    SourceGap(SourceGap),
    /// The quality cap changed.
    Quality(QualityCap),
    /// The delivery mode or a forced profile changed (WebSocket and WHEP listeners move).
    Delivery(DeliveryPolicy),
}

impl Notice {
    /// The JSON body of the `status` notice (transports add their own framing and fields).
    pub fn status(&self) -> serde_json::Value {
        match self {
            Notice::Ended(reason) => serde_json::json!({"status": "ended", "message": reason}),
            Notice::Paused => serde_json::json!({"status": "paused"}),
            Notice::Resumed => serde_json::json!({"status": "resumed"}),
            Notice::SourceLost => serde_json::json!({"status": "source-lost"}),
            Notice::SourceRestored => serde_json::json!({"status": "source-restored"}),
            Notice::SourceGap(g) => {
                serde_json::json!({"status": "gap", "from_frame": g.from_frame, "missed_frames": g.frames})
            }
            Notice::Quality(q) => match q.level() {
                Some(l) => {
                    serde_json::json!({"status": "quality", "quality": q.pcm_share(), "level": l.name()})
                }
                None => serde_json::json!({"status": "quality", "quality": q.pcm_share()}),
            },
            Notice::Delivery(p) => serde_json::json!({"status": "delivery", "mode": p.mode.as_str()}),
        }
    }
}

impl ControlState {
    /// What changed since `old`, in the order listeners should hear it. An ended stream
    /// reports only that.
    pub fn notices_since(&self, old: &ControlState) -> Vec<Notice> {
        if let Some(reason) = &self.ended {
            return if old.ended.is_none() { vec![Notice::Ended(reason.clone())] } else { vec![] };
        }
        let mut v = Vec::new();
        if self.paused != old.paused {
            v.push(if self.paused { Notice::Paused } else { Notice::Resumed });
        }
        if self.source_lost != old.source_lost {
            v.push(if self.source_lost { Notice::SourceLost } else { Notice::SourceRestored });
        }
        if self.source_gaps != old.source_gaps {
            v.push(Notice::SourceGap(self.last_source_gap));
        }
        if self.quality != old.quality {
            v.push(Notice::Quality(self.quality));
        }
        if self.delivery != old.delivery {
            v.push(Notice::Delivery(self.delivery.clone()));
        }
        v
    }

    /// The notices a listener joining now needs (why it hears nothing).
    pub fn notices_on_join(&self) -> Vec<Notice> {
        let mut v = Vec::new();
        if self.paused {
            v.push(Notice::Paused);
        }
        if self.source_lost {
            v.push(Notice::SourceLost);
        }
        v
    }
}

/// What [`StreamHub::push_relayed`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    Pushed,
    /// Older than the newest frame (a duplicate): not pushed.
    Stale,
    /// Pushed after this many missing frames (counted and reported).
    Gap(u64),
}

/// One item read for a listener.
pub enum HubRead {
    Frame(Arc<HubFrame>),
    /// The listener was behind and skipped this many frames to reach live.
    Skipped(u64),
}

/// Keeps a rung of the stream's ladder encoding while held.
pub struct RungUse {
    hub: Arc<StreamHub>,
    idx: usize,
}

impl Drop for RungUse {
    fn drop(&mut self) {
        self.hub.ladder.remove_listener(self.idx);
    }
}

/// Keeps a FLAC or MP3 rung encoding while held.
pub struct CodedUse {
    hub: Arc<StreamHub>,
    rung: CodedRung,
}

impl Drop for CodedUse {
    fn drop(&mut self) {
        self.hub.codecs.remove_listener(self.rung);
    }
}

/// The live state of one stream.
pub struct StreamHub {
    pub id: String,
    pub spec: FrameSpec,
    source: Mutex<String>,
    ring: RwLock<Ring<Arc<HubFrame>>>,
    latest: watch::Sender<u64>,
    /// Wake-ups for listeners that consume frames in aligned groups of `n` (WebSocket
    /// batches, SSE `max_fps` merging): they are woken once per group, not once per frame.
    group_watches: Mutex<Vec<(u64, watch::Sender<u64>)>>,
    control: watch::Sender<ControlState>,
    pub stats: HubStats,
    /// Opus encoders, one per active rung.
    pub ladder: Ladder,
    /// FLAC and MP3 encoders, one per active rung.
    pub codecs: CodecRungs,
    /// The wire formats listeners use now, made once per group at push time.
    pub wire_keys: Arc<WireKeys>,
    decimators: Mutex<HashMap<usize, Arc<Decimator>>>,
    /// Per-channel DC offset, RMS, peak and clipping of the stream's own samples, over one
    /// second windows (the acquisition figures of `…/stats`). Only the producer writes it.
    levels: Mutex<LevelMeter>,
    /// Speech queued by `POST …/say`, played in place of the source's frames.
    pub speech: crate::ingest::say::SpeechDesk,
    /// The canary comparing legacy and adaptive listeners ([`delivery`]).
    delivery: Delivery,
    /// Times the ladder's encoding of each frame (set once the metrics exist).
    pub encode_timer: std::sync::OnceLock<crate::metrics::StageHandle>,
    max_lag_frames: u64,
    started: Instant,
    started_at_ms: i64,
}

/// A listener's handle: wake-ups for new frames and control changes. Dropping it
/// decrements the stream's subscriber count.
pub struct Subscription {
    pub hub: Arc<StreamHub>,
    pub frames: watch::Receiver<u64>,
    pub control: watch::Receiver<ControlState>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.stats.active_subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl StreamHub {
    /// A hub keeping `ring_secs` of frames; listeners more than `max_lag_ms` behind skip to
    /// live. `rungs_kbps` is the Opus ladder.
    pub fn new(
        id: impl Into<String>,
        spec: FrameSpec,
        ring_secs: u64,
        max_lag_ms: u64,
        rungs_kbps: &[u32],
    ) -> Arc<Self> {
        let fps = spec.frames_per_second();
        let capacity = (ring_secs as f64 * fps).ceil() as usize;
        let max_lag_frames = ((max_lag_ms as f64 / 1000.0) * fps).ceil().max(1.0) as u64;
        Arc::new(StreamHub {
            id: id.into(),
            spec,
            source: Mutex::new(String::new()),
            ring: RwLock::new(Ring::new(capacity)),
            latest: watch::channel(0).0,
            group_watches: Mutex::new(Vec::new()),
            control: watch::channel(ControlState {
                paused: false,
                quality: QualityCap::FULL,
                ended: None,
                source_lost: false,
                source_gaps: 0,
                last_source_gap: SourceGap::default(),
                delivery: DeliveryPolicy::default(),
            })
            .0,
            stats: HubStats::default(),
            ladder: Ladder::new(spec, rungs_kbps),
            codecs: CodecRungs::new(spec),
            wire_keys: Arc::new(WireKeys::default()),
            decimators: Mutex::new(HashMap::new()),
            levels: Mutex::new(LevelMeter::new(spec.channels as usize, spec.sample_rate as usize)),
            speech: crate::ingest::say::SpeechDesk::default(),
            delivery: Delivery::default(),
            encode_timer: std::sync::OnceLock::new(),
            max_lag_frames,
            started: Instant::now(),
            started_at_ms: now_us() / 1000,
        })
    }

    /// Appends a frame of interleaved PCM captured at `capture_us`, encoding it at every
    /// active rung first; returns its sequence number. Never blocks on listeners.
    ///
    /// A stream has a single producer (its source thread or publisher playout task), so
    /// reading the previous frame and pushing need not be one critical section.
    pub fn push(&self, samples: Arc<[f32]>, capture_us: i64) -> u64 {
        self.push_with_opus(samples, capture_us, &SourceOpus::None)
    }

    /// [`push`](Self::push) for a source that sent this frame as Opus: the rung nearest the
    /// source's bitrate carries `source`'s packet instead of a re-encoding.
    ///
    /// While an utterance plays ([`crate::ingest::say`]) its frame replaces `samples` (and the
    /// source's Opus packet, which no longer matches).
    pub fn push_with_opus(&self, samples: Arc<[f32]>, capture_us: i64, source: &SourceOpus) -> u64 {
        let (samples, speech, replaced) = self.speech.substitute(samples, now_us());
        let source = if replaced { &SourceOpus::None } else { source };
        self.levels.lock().push(&samples);
        let t0 = Instant::now();
        let opus = self.ladder.encode(&samples, source);
        if !opus.is_empty()
            && let Some(t) = self.encode_timer.get()
        {
            t.record(t0.elapsed());
        }
        self.push_frame(samples, capture_us, opus, speech)
    }

    /// Appends a frame whose Opus packets are given (every rung's) and numbers it `seq`:
    /// how a cluster edge keeps its origin's numbering and bytes. A stream fed this way has
    /// this as its only producer (the single-producer rule holds). A frame older than the
    /// newest is a duplicate and is not pushed; a jump forward is a gap: up to half the ring
    /// is filled with silent frames (no Opus: listeners conceal them) so that numbering stays
    /// gap-free for resuming listeners, a longer one restarts the ring; either way the gap is
    /// counted and listeners get a `gap` status.
    pub fn push_relayed(
        &self,
        seq: u64,
        samples: Arc<[f32]>,
        capture_us: i64,
        opus: Vec<(u8, Bytes)>,
    ) -> Relayed {
        let (next, empty, capacity) = {
            let ring = self.ring.read();
            (ring.next_seq(), ring.is_empty(), ring.capacity() as u64)
        };
        let mut outcome = Relayed::Pushed;
        if empty && seq != next {
            self.ring.write().restart_at(seq);
            self.latest.send_replace(seq);
        } else if seq < next {
            return Relayed::Stale;
        } else if seq > next {
            let missing = seq - next;
            if missing <= capacity / 2 {
                let silence: Arc<[f32]> = vec![0.0; samples.len()].into();
                let step = i64::from(self.spec.duration.as_us());
                for k in 0..missing {
                    let at = capture_us - step * (missing - k) as i64;
                    self.push_frame(silence.clone(), at, Vec::new(), Vec::new());
                }
            } else {
                self.ring.write().restart_at(seq);
            }
            self.report_source_gap(next, missing);
            outcome = Relayed::Gap(missing);
        }
        self.levels.lock().push(&samples);
        self.push_frame(samples, capture_us, opus, Vec::new());
        outcome
    }

    /// Numbers the first frame `seq` (before anything was pushed): an origin numbers its
    /// frames from the wall clock so that a restarted or standby origin goes on from where
    /// the old one stopped, and an edge starts at its origin's position.
    pub fn start_at(&self, seq: u64) {
        let mut ring = self.ring.write();
        if ring.is_empty() {
            ring.restart_at(seq);
            self.latest.send_replace(seq);
        }
    }

    fn push_frame(
        &self,
        samples: Arc<[f32]>,
        capture_us: i64,
        opus: Vec<(u8, Bytes)>,
        speech: Vec<crate::ingest::say::SpeechMark>,
    ) -> u64 {
        let mut due = Vec::new();
        let (seq, prev, mut group) = {
            let ring = self.ring.read();
            let seq = ring.next_seq();
            let prev = ring.newest_seq().and_then(|s| ring.get(s)).map(|f| f.frame.samples.clone());
            self.wire_keys.due(seq, &mut due);
            // the frames before this one in the longest group due now
            let longest = due.iter().map(|(k, _)| k.group).max().unwrap_or(1);
            let from = (seq + 1).saturating_sub(longest).max(ring.oldest_seq());
            let group: Vec<Arc<HubFrame>> = (from..seq).filter_map(|s| ring.get(s).cloned()).collect();
            (seq, prev, group)
        };
        let t0 = Instant::now();
        let coded = self.codecs.encode(&samples, seq);
        if !coded.is_empty()
            && let Some(t) = self.encode_timer.get()
        {
            t.record(t0.elapsed());
        }
        let mut frame = HubFrame::new(Frame { seq, capture_us, samples }, prev, opus);
        frame.speech = speech;
        frame.coded = coded;
        let frame = Arc::new(frame);
        group.push(frame.clone());
        if !due.is_empty() {
            let mut made = Vec::with_capacity(due.len());
            for (key, builder) in &due {
                let n = key.group.max(1) as usize;
                // a group missing its start (the stream just began) is made by listeners
                if group.len() >= n && group[group.len() - n].frame.seq + n as u64 == seq + 1 {
                    made.push((*key, builder.build(self, &group[group.len() - n..])));
                }
            }
            self.stats.serializations.fetch_add(made.len() as u64, Ordering::Relaxed);
            frame.set_made(made);
        }
        self.ring.write().push(frame);
        self.stats.total_frames.fetch_add(1, Ordering::Relaxed);
        self.stats.last_push_ms.store(now_us() / 1000, Ordering::Relaxed);
        self.latest.send_replace(seq + 1);
        // a group size nobody watches any more is forgotten here, so that listeners coming
        // and going with many sizes leave nothing behind
        self.group_watches.lock().retain(|(n, tx)| {
            if (seq + 1).is_multiple_of(*n) {
                tx.send_replace(seq + 1);
            }
            tx.receiver_count() > 0
        });
        seq
    }

    /// Per-channel levels over the last complete second, and the window in samples.
    pub fn levels(&self) -> (Vec<ChannelLevel>, usize) {
        let m = self.levels.lock();
        (m.levels(), m.window())
    }

    pub fn set_source_description(&self, s: String) {
        *self.source.lock() = s;
    }

    pub fn source_description(&self) -> String {
        self.source.lock().clone()
    }

    /// Registers a listener.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        self.stats.active_subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription { hub: self.clone(), frames: self.latest.subscribe(), control: self.control.subscribe() }
    }

    /// Frame wake-ups for a listener that consumes aligned groups of `n` frames: the receiver
    /// changes when a group is complete (every frame for `n == 1`).
    pub fn group_watch(&self, n: u64) -> watch::Receiver<u64> {
        if n <= 1 {
            return self.latest.subscribe();
        }
        let mut w = self.group_watches.lock();
        if let Some((_, tx)) = w.iter().find(|(k, _)| *k == n) {
            return tx.subscribe();
        }
        let tx = watch::channel(*self.latest.borrow()).0;
        let rx = tx.subscribe();
        w.push((n, tx));
        rx
    }

    /// Group sizes with a wake-up channel now (listeners' `max_fps` merging, WebSocket
    /// batches); sizes no one watches are dropped at the next frame.
    pub fn group_watch_count(&self) -> usize {
        self.group_watches.lock().len()
    }

    /// Keeps rung `idx` encoding while the returned value lives (`None`: no such rung).
    pub fn use_rung(self: &Arc<Self>, idx: usize) -> Option<RungUse> {
        self.ladder.add_listener(idx).then(|| RungUse { hub: self.clone(), idx })
    }

    /// Keeps FLAC or MP3 rung `rung` encoding while the returned value lives (`None`: the
    /// stream has no such rung).
    pub fn use_coded(self: &Arc<Self>, rung: CodedRung) -> Option<CodedUse> {
        self.codecs.add_listener(rung).then(|| CodedUse { hub: self.clone(), rung })
    }

    /// A cursor that starts with the newest `frames` frames already in the ring.
    pub fn cursor_with_burst(&self, frames: u64) -> Cursor {
        Cursor::with_burst(&self.ring.read(), self.max_lag_frames, frames)
    }

    /// Newest sequence number + 1 (the sequence number the next frame will get).
    pub fn next_seq(&self) -> u64 {
        self.ring.read().next_seq()
    }

    /// Moves a lagging listener's cursor to live and counts the frames it skipped.
    pub fn skip_to_live(&self, cursor: &mut Cursor) -> u64 {
        let n = cursor.jump_to_live(&self.ring.read());
        self.stats.dropped_frames.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// A cursor at live.
    pub fn cursor_at_live(&self) -> Cursor {
        Cursor::at_live(&self.ring.read(), self.max_lag_frames)
    }

    /// A cursor resuming after `last_seen`, and whether that was possible without a gap.
    ///
    /// Frame numbers come from the wall clock, so any old number is a valid place in time:
    /// a gap longer than [`MAX_RESUME_GAP_SECS`] is not a connection coming back but a
    /// number from another day (or a stranger's), and is answered as unknown — continuing at
    /// live without a count, so that nobody can add years of "missed" frames to the counters.
    pub fn cursor_resume(&self, last_seen: u64) -> (Cursor, Resume) {
        let (cursor, outcome) = Cursor::resume_after(&self.ring.read(), self.max_lag_frames, last_seen);
        let max_gap = MAX_RESUME_GAP_SECS * 1_000_000 / u64::from(self.spec.duration.as_us().max(1));
        match outcome {
            Resume::Gap { missed } if missed > max_gap => (cursor, Resume::Unknown),
            other => (cursor, other),
        }
    }

    /// Reads up to `max` items for a listener. Skips are counted in `dropped_frames`.
    pub fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<HubRead>) {
        let ring = self.ring.read();
        for _ in 0..max {
            match cursor.read(&ring) {
                CursorRead::Item { item, .. } => out.push(HubRead::Frame(item.clone())),
                CursorRead::Skipped { count } => {
                    self.stats.dropped_frames.fetch_add(count, Ordering::Relaxed);
                    out.push(HubRead::Skipped(count));
                }
                CursorRead::Pending => break,
            }
        }
    }

    /// Frames ready for a listener but not yet read by it.
    pub fn backlog_frames(&self, cursor: &Cursor) -> u64 {
        cursor.backlog(&self.ring.read())
    }

    /// Moves a cursor to live without counting a drop (after a deliberate pause).
    pub fn jump_to_live(&self, cursor: &mut Cursor) -> u64 {
        cursor.jump_to_live(&self.ring.read())
    }

    /// Up to `max` frames after `after` still in the ring, oldest first (the newest ones when
    /// more are there): what an origin answers an edge's backlog request with.
    pub fn frames_after(&self, after: u64, max: usize) -> Vec<Arc<HubFrame>> {
        let ring = self.ring.read();
        let next = ring.next_seq();
        let from = after.saturating_add(1).max(ring.oldest_seq()).max(next.saturating_sub(max as u64));
        (from..next).filter_map(|s| ring.get(s).cloned()).collect()
    }

    /// The frames numbered after `after` and before `before` still in the ring, at most
    /// `max` (the oldest of them: they continue the asker's numbering).
    pub fn frames_between(&self, after: u64, before: u64, max: usize) -> Vec<Arc<HubFrame>> {
        let ring = self.ring.read();
        let from = after.saturating_add(1).max(ring.oldest_seq());
        let until = before.min(ring.next_seq()).min(from.saturating_add(max as u64));
        (from..until).filter_map(|s| ring.get(s).cloned()).collect()
    }

    /// Frames currently held in the ring.
    pub fn ring_len(&self) -> usize {
        self.ring.read().len()
    }

    pub fn control(&self) -> ControlState {
        self.control.borrow().clone()
    }

    /// Changes of the control state, for the stream's own tasks (not a listener: the
    /// subscriber count is left alone).
    pub fn watch_control(&self) -> watch::Receiver<ControlState> {
        self.control.subscribe()
    }

    /// Whether the stream has ended for good.
    pub fn is_ended(&self) -> bool {
        self.control.borrow().ended.is_some()
    }

    /// Stops delivering frames to listeners (the source keeps running; sequence numbers stay gap-free).
    pub fn pause(&self) -> bool {
        self.control.send_if_modified(|c| !std::mem::replace(&mut c.paused, true))
    }

    /// Restarts delivery at live.
    pub fn resume(&self) -> bool {
        self.control.send_if_modified(|c| std::mem::replace(&mut c.paused, false))
    }

    pub fn set_quality(&self, quality: QualityCap) {
        self.control.send_if_modified(|c| {
            let changed = c.quality != quality;
            c.quality = quality;
            changed
        });
    }

    /// Marks the source as lost or back (listeners get `source-lost` / `source-restored`).
    pub fn set_source_lost(&self, lost: bool) -> bool {
        self.control.send_if_modified(|c| std::mem::replace(&mut c.source_lost, lost) != lost)
    }

    /// The source lost `frames` frames of audio, filled with silence from `from_frame` on:
    /// listeners are told (a `gap` status), never left to guess.
    pub fn report_source_gap(&self, from_frame: u64, frames: u64) {
        self.control.send_modify(|c| {
            c.source_gaps += 1;
            c.last_source_gap = SourceGap { from_frame, frames };
        });
    }

    /// Ends the stream for good; listeners get an `error` event and close.
    pub fn end(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.control.send_if_modified(|c| {
            if c.ended.is_some() {
                return false;
            }
            c.ended = Some(reason);
            true
        });
    }

    /// Decimation factor for PCM under a quality cap whose share of the rate is 1.0 → 1,
    /// 0.5 → 2, 0.25 → 4 … (never below 2 kHz).
    pub fn quality_factor(&self, quality: QualityCap) -> usize {
        let max_factor = (self.spec.sample_rate / 2_000).max(1) as usize;
        ((1.0 / quality.pcm_share() as f64) + 1e-6).floor().clamp(1.0, max_factor as f64) as usize
    }

    /// The shared decimator for a factor.
    pub fn decimator(&self, factor: usize) -> Arc<Decimator> {
        self.decimators.lock().entry(factor).or_insert_with(|| Arc::new(Decimator::new(factor))).clone()
    }

    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn started_at_ms(&self) -> i64 {
        self.started_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_core::FrameDuration;

    fn hub() -> Arc<StreamHub> {
        let spec = FrameSpec::new(48_000, 2, FrameDuration::DEFAULT).unwrap();
        StreamHub::new("t", spec, 1, 200, &[16, 64]) // 50 frames of ring, 10 frames of lag
    }

    #[test]
    fn slow_reader_is_skipped_and_counted() {
        let h = hub();
        let mut c = h.cursor_at_live();
        let samples: Arc<[f32]> = vec![0.0; 1920].into();
        for _ in 0..30 {
            h.push(samples.clone(), 0);
        }
        let mut out = Vec::new();
        h.read(&mut c, 100, &mut out);
        assert!(matches!(out[0], HubRead::Skipped(29)));
        assert_eq!(out.len(), 2);
        assert_eq!(h.stats.dropped_frames.load(Ordering::Relaxed), 29);
    }

    #[test]
    fn frames_carry_previous_samples_for_filters() {
        let h = hub();
        let a: Arc<[f32]> = vec![0.5; 1920].into();
        h.push(a.clone(), 1);
        h.push(vec![0.0; 1920].into(), 2);
        let (mut c, r) = h.cursor_resume(0);
        assert_eq!(r, Resume::Exact);
        let mut out = Vec::new();
        h.read(&mut c, 10, &mut out);
        let HubRead::Frame(f) = &out[0] else { panic!("expected a frame") };
        assert_eq!(f.frame.seq, 1);
        assert!(Arc::ptr_eq(f.prev.as_ref().unwrap(), &a));
    }

    #[test]
    fn a_resume_from_more_than_an_hour_back_is_unknown_not_counted() {
        let h = hub();
        let hour = MAX_RESUME_GAP_SECS * 50; // 20 ms frames
        h.start_at(10 * hour);
        for _ in 0..60 {
            h.push(vec![0.0; 1920].into(), 0);
        }
        // a listener back after a restart a minute ago: told exactly what it missed
        let (_, r) = h.cursor_resume(10 * hour - 3_000);
        assert_eq!(r, Resume::Gap { missed: 3_000 - 1 + 60 });
        // a number from a day ago (or made up): no count, live
        let (c, r) = h.cursor_resume(10 * hour - hour - 100);
        assert_eq!(r, Resume::Unknown);
        assert_eq!(c.position(), h.next_seq());
        let (_, r) = h.cursor_resume(0);
        assert_eq!(r, Resume::Unknown);
    }

    #[test]
    fn quality_factor_maps_fraction_of_rate() {
        let h = hub();
        assert_eq!(h.quality_factor(QualityCap::Share(1.0)), 1);
        assert_eq!(h.quality_factor(QualityCap::Share(0.5)), 2);
        assert_eq!(h.quality_factor(QualityCap::Share(0.25)), 4);
        assert_eq!(h.quality_factor(QualityCap::Share(0.3)), 3);
        assert_eq!(h.quality_factor(QualityCap::Share(0.001)), 24);
    }

    #[test]
    fn pause_resume_report_changes_once() {
        let h = hub();
        assert!(h.pause());
        assert!(!h.pause());
        assert!(h.control().paused);
        assert!(h.resume());
        assert!(!h.resume());
    }
}
