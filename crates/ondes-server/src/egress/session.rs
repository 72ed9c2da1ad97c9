//! The one listener session every transport runs (see the module docs of [`super`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ondes_core::Cursor;
use ondes_core::egress::{EgressConfig, Framer, ListenerEgress, Outgoing};
use ondes_core::quality::QualityCap;
use ondes_core::ring::Resume;
use tokio::sync::watch;

use crate::clock::now_us;
use crate::connections::ConnectionGuard;
use crate::hub::{ControlState, DeliveryPolicy, HubFrame, HubRead, Notice, StreamHub, Subscription};
use crate::metrics::{DeliveryHandles, StageHandle};

/// Where a new listener starts in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the next frame produced.
    Live,
    /// Right after frame `n` (an SSE `Last-Event-ID`), when it is still in the ring.
    ResumeAfter(u64),
    /// With the most recent `frames` frames already in the ring (a burst to start playing).
    Burst(u64),
}

/// What a session tells its listener, in the transport's own words.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionNotice {
    Paused,
    /// Delivery restarted at live; `skipped_while_paused` frames were not sent.
    Resumed {
        skipped_while_paused: u64,
    },
    SourceLost,
    SourceRestored,
    /// The source lost audio and filled it with silence (a capture overrun).
    SourceGap {
        from_frame: u64,
        missed_frames: u64,
    },
    /// The stream's quality cap changed.
    Quality(QualityCap),
    /// This listener fell behind and was moved to live.
    Lagged {
        skipped_frames: u64,
    },
    /// The outcome of a resume request ([`Start::ResumeAfter`]).
    ResumeOutcome {
        last_seen: u64,
        outcome: Resume,
    },
    /// Speech (`POST …/say`) begins: utterance `id`'s first frame is next.
    UtteranceStart {
        id: u64,
    },
    /// Utterance `id`'s audio ended (`interrupted`: cut short).
    UtteranceEnd {
        id: u64,
        interrupted: bool,
    },
    /// The stream ended for good.
    Ended(String),
    /// The server is stopping.
    ShuttingDown,
}

/// What to do with a listener that was skipped to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipAction {
    /// Tell it (the `lagged` notice) and go on at live.
    Continue,
    /// Close its connection (Icecast's behaviour, when configured).
    Disconnect,
}

/// A transport's framing: audio through [`Framer`] (shared bytes per key), notices here.
pub trait Transport: Framer<Arc<HubFrame>, Bytes = Bytes> + Send {
    /// The first message of the session (before any notice), if the transport has one.
    fn hello(&mut self, _hub: &StreamHub, _connection_id: u64) -> Option<Bytes> {
        None
    }

    /// Frames per message, when the transport changes it during the session (adaptation);
    /// `None` keeps the batch the session started with.
    /// How far behind live this listener may fall, µs, when its transport knows better than
    /// `server.max_listener_lag_ms` (a WebSocket listener's profile budget).
    fn lag_budget_us(&self) -> Option<u64> {
        None
    }

    fn batch(&self) -> Option<u64> {
        None
    }

    /// The notice as this transport sends it; `None` when it has no way to say it.
    fn notice(&mut self, hub: &StreamHub, notice: &SessionNotice) -> Option<Bytes>;

    /// The stream's quality cap changed (the batch being gathered was sent first):
    /// transports whose format depends on it switch here.
    /// Returns a message to send about it, if any.
    fn set_quality(&mut self, _hub: &StreamHub, _quality: QualityCap) -> Option<Bytes> {
        None
    }

    /// The stream's delivery mode or forced profiles changed (the batch being gathered was
    /// sent first): adaptive transports move to their new group or profile here.
    /// Returns a message to send about it, if any.
    fn set_delivery(&mut self, _hub: &StreamHub, _policy: &DeliveryPolicy) -> Option<Bytes> {
        None
    }

    /// The listener was skipped to live past `skipped_frames` frames; `last_sent` is the
    /// last audio message it got whole.
    fn on_skip(&mut self, _skipped_frames: u64, _last_sent: Option<&Bytes>) -> SkipAction {
        SkipAction::Continue
    }
}

/// Most ring items read per update: a listener catching up is bounded per wake-up.
const MAX_READS: usize = 64;

/// One listener of one stream, over any transport.
pub struct ListenerSession<T: Transport> {
    pub hub: Arc<StreamHub>,
    pub transport: T,
    pub egress: ListenerEgress<Arc<HubFrame>, Bytes>,
    pub guard: ConnectionGuard,
    sub: Subscription,
    /// Wake-ups once per batch of the current size.
    frames: watch::Receiver<u64>,
    watched_batch: u64,
    cursor: Cursor,
    control: ControlState,
    control_dirty: bool,
    shutdown: watch::Receiver<bool>,
    /// The server is shutting down (read from `shutdown` only when its version moved: a
    /// version load per update, not a lock on a line every listener shares).
    stopping: bool,
    /// A final notice is queued (or the transport disconnects): done once the queue drains.
    ending: bool,
    reads: Vec<HubRead>,
    delivery: DeliveryHandles,
    fanout: StageHandle,
    /// The time of the current update, µs since the epoch (one clock read per wake-up).
    now_us: i64,
    latency_samples: u64,
    tts: crate::metrics::TtsFirstAudioHandle,
    /// An utterance whose first frame this session queued and not yet wrote: its timing,
    /// when the session read it, and the `frames_sent` count that means it was written.
    first_audio: Option<(Arc<crate::ingest::say::UtteranceTiming>, i64, u64)>,
    /// This listener's frame trace (`server.trace_listener_frames` > 0).
    trace: Option<crate::trace::TraceGuard>,
}

impl<T: Transport> ListenerSession<T> {
    /// A session sending `batch` frames per message (aligned), starting at `start`.
    pub fn new(
        app: &crate::state::AppState,
        hub: Arc<StreamHub>,
        guard: ConnectionGuard,
        transport: T,
        batch: u64,
        start: Start,
    ) -> Self {
        let mut sub = hub.subscribe();
        let control = sub.control.borrow_and_update().clone();
        let max_lag_us = app.config.server.max_listener_lag_ms * 1000;
        let mut cfg = EgressConfig::new(batch, max_lag_us, u64::from(hub.spec.duration.as_us()));
        // every message's latency feeds the delivery histogram (one shared histogram per
        // stream and transport); the perf monitor's fan-out stage takes one in eight
        cfg.latency_sample_every = 1;
        let mut resume = None;
        let cursor = match start {
            Start::Live => hub.cursor_at_live(),
            Start::Burst(frames) => hub.cursor_with_burst(frames),
            Start::ResumeAfter(last_seen) => {
                let (cursor, outcome) = hub.cursor_resume(last_seen);
                resume = Some(SessionNotice::ResumeOutcome { last_seen, outcome });
                cursor
            }
        };
        let transport_name = guard.info.transport;
        let trace = app.traces.open(guard.info.id, &hub.id, crate::trace::TraceKind::Listener);
        cfg.record_writes = trace.is_some();
        let mut s = ListenerSession {
            trace,
            frames: hub.group_watch(cfg.batch),
            watched_batch: cfg.batch,
            delivery: app.metrics.delivery(&hub.id, transport_name),
            fanout: app.metrics.stage(crate::metrics::Stage::Fanout, &hub.id),
            tts: app.metrics.tts_first_audio(&hub.id),
            first_audio: None,
            hub,
            transport,
            egress: ListenerEgress::new(cfg),
            guard,
            sub,
            cursor,
            control,
            control_dirty: false,
            stopping: *app.shutdown.borrow(),
            shutdown: app.shutdown.clone(),
            ending: false,
            reads: Vec::new(),
            now_us: now_us(),
            latency_samples: 0,
        };
        if let Some(b) = s.transport.hello(&s.hub, s.guard.info.id) {
            s.egress.push_control_now(b);
        }
        if let Some(n) = resume {
            if let SessionNotice::ResumeOutcome { outcome: Resume::Gap { missed }, .. } = n {
                s.egress.count_missed(missed);
            }
            s.notify(&n);
        }
        // tell a listener joining a paused or source-less stream why it hears nothing
        for notice in s.control.notices_on_join() {
            let n = match notice {
                Notice::Paused => SessionNotice::Paused,
                _ => SessionNotice::SourceLost,
            };
            s.notify(&n);
        }
        s.publish_counts();
        s
    }

    /// The control state the listener has been told about.
    pub fn control(&self) -> &ControlState {
        &self.control
    }

    /// Frames in the ring not yet read by this listener.
    /// Everything queued is written and frames wait in the ring (see
    /// [`crate::egress::writer::WriterSession::more_ready`]).
    pub fn more_ready(&self) -> bool {
        !self.ending && !self.control.paused && self.egress.is_idle() && self.ring_backlog() > 0
    }

    pub fn ring_backlog(&self) -> u64 {
        self.hub.backlog_frames(&self.cursor)
    }

    /// Queues a notice after everything before it.
    pub fn notify(&mut self, n: &SessionNotice) {
        if let Some(b) = self.transport.notice(&self.hub, n) {
            self.egress.push_control(b, &mut self.transport);
        }
    }

    /// Ends the session with a last notice (sent after what is queued).
    pub fn end(&mut self, n: &SessionNotice) {
        if self.ending {
            return;
        }
        self.notify(n);
        self.egress.flush(&mut self.transport);
        self.ending = true;
    }

    /// Whether the session is over and everything it had to say was taken.
    pub fn is_finished(&self) -> bool {
        self.ending && self.egress.is_idle()
    }

    /// Whether the session is ending (no more audio will be queued).
    pub fn is_ending(&self) -> bool {
        self.ending
    }

    /// Brings the session up to date: the server's state, control changes, then frames
    /// from the ring (at most about one message's worth when the listener is keeping up).
    pub fn update(&mut self) {
        self.now_us = now_us();
        if self.ending {
            return;
        }
        if !self.stopping && self.shutdown.has_changed().unwrap_or(true) {
            self.stopping = *self.shutdown.borrow_and_update();
        }
        if self.stopping {
            self.end(&SessionNotice::ShuttingDown);
            return;
        }
        self.apply_control();
        self.sync_batch();
        if self.ending || self.control.paused {
            return;
        }
        self.read_frames();
    }

    /// Follows the transport's batch size (the batch being gathered is sent first) and lag
    /// budget.
    pub fn sync_batch(&mut self) {
        if let Some(us) = self.transport.lag_budget_us() {
            self.egress.set_max_lag_us(us);
        }
        if let Some(b) = self.transport.batch()
            && b != self.egress.batch()
        {
            self.egress.set_batch(b, &mut self.transport);
        }
    }

    fn read_frames(&mut self) {
        // seen, without taking the channel's lock (the value is not used)
        self.frames.mark_unchanged();
        if self.egress.is_lagging(self.ring_backlog()) {
            let n = self.hub.skip_to_live(&mut self.cursor);
            self.skipped(n);
            if self.ending {
                return;
            }
        }
        let mut budget = MAX_READS;
        while budget > 0 && self.egress.is_idle() {
            self.reads.clear();
            let want = (self.egress.batch() as usize).clamp(1, budget);
            self.hub.read(&mut self.cursor, want, &mut self.reads);
            if self.reads.is_empty() {
                break;
            }
            budget -= self.reads.len();
            let reads = std::mem::take(&mut self.reads);
            for r in &reads {
                match r {
                    HubRead::Frame(f) if !f.speech.is_empty() => self.push_speech_frame(f.clone()),
                    HubRead::Frame(f) => self.egress.push_frame(f.clone(), &mut self.transport),
                    HubRead::Skipped(n) => self.skipped(*n),
                }
            }
            self.reads = reads;
            if self.ending {
                return;
            }
        }
    }

    /// A frame with utterance marks: the notices go right before it; an utterance's first
    /// frame is followed until it is written, for its time to first audio.
    fn push_speech_frame(&mut self, f: Arc<HubFrame>) {
        let mut start = None;
        for m in &f.speech {
            let n = match m.mark {
                ondes_core::utterance::UtteranceMark::Start { id } => {
                    start = m.timing.clone();
                    SessionNotice::UtteranceStart { id }
                }
                ondes_core::utterance::UtteranceMark::End { id, interrupted } => {
                    SessionNotice::UtteranceEnd { id, interrupted }
                }
            };
            self.notify(&n);
        }
        self.egress.push_frame(f, &mut self.transport);
        if let Some(t) = start
            && !t.delivered.load(Ordering::Relaxed)
        {
            let written_at = self.egress.stats().frames_sent + self.egress.waiting_frames();
            self.first_audio = Some((t, self.now_us, written_at));
        }
    }

    /// Records time to first audio once the utterance's first frame is written (by the
    /// first listener to write it: one figure per utterance).
    fn check_first_audio(&mut self, frames_sent: u64) {
        let Some((t, read_us, written_at)) = &self.first_audio else { return };
        if frames_sent < *written_at {
            return;
        }
        if !t.delivered.swap(true, Ordering::Relaxed) {
            let us = |a: i64, b: i64| (b - a).max(0) as u64;
            let first_pcm = t.first_pcm_us.load(Ordering::Relaxed);
            let pushed = t.pushed_us.load(Ordering::Relaxed);
            self.tts.record(&[
                ("total", us(t.arrival_us, self.now_us)),
                ("synthesis", us(t.arrival_us, first_pcm)),
                ("queue", us(first_pcm, pushed)),
                ("hub", us(pushed, *read_us)),
                ("transport", us(*read_us, self.now_us)),
            ]);
        }
        self.first_audio = None;
    }

    fn skipped(&mut self, ring_skipped: u64) {
        let total = self.egress.skip_to_live(ring_skipped);
        // the ring's part is counted by the hub as it skips; the queued audio dropped here too
        self.hub.stats.dropped_frames.fetch_add(total - ring_skipped, Ordering::Relaxed);
        match self.transport.on_skip(total, self.egress.last_audio_sent()) {
            SkipAction::Continue => self.notify(&SessionNotice::Lagged { skipped_frames: total }),
            SkipAction::Disconnect => self.ending = true,
        }
        // a listener that is not reading would otherwise show its old count
        self.publish_counts();
    }

    /// Tells the listener what changed in the stream's control state.
    fn apply_control(&mut self) {
        if !self.control_dirty && !self.sub.control.has_changed().unwrap_or(true) {
            return;
        }
        self.control_dirty = false;
        let c = self.sub.control.borrow_and_update().clone();
        if c == self.control {
            return;
        }
        let old = std::mem::replace(&mut self.control, c.clone());
        for notice in c.notices_since(&old) {
            let n = match notice {
                Notice::Ended(reason) => {
                    self.end(&SessionNotice::Ended(format!("stream ended: {reason}")));
                    return;
                }
                Notice::Paused => SessionNotice::Paused,
                Notice::Resumed => {
                    let skipped_while_paused = self.hub.jump_to_live(&mut self.cursor);
                    SessionNotice::Resumed { skipped_while_paused }
                }
                Notice::SourceLost => SessionNotice::SourceLost,
                Notice::SourceRestored => SessionNotice::SourceRestored,
                Notice::SourceGap(g) => {
                    SessionNotice::SourceGap { from_frame: g.from_frame, missed_frames: g.frames }
                }
                Notice::Quality(q) => {
                    self.notify(&SessionNotice::Quality(q));
                    self.egress.flush(&mut self.transport);
                    if let Some(b) = self.transport.set_quality(&self.hub, q) {
                        self.egress.push_control(b, &mut self.transport);
                    }
                    continue;
                }
                Notice::Delivery(p) => {
                    self.egress.flush(&mut self.transport);
                    if let Some(b) = self.transport.set_delivery(&self.hub, &p) {
                        self.egress.push_control(b, &mut self.transport);
                    }
                    self.sync_batch();
                    continue;
                }
            };
            self.notify(&n);
        }
    }

    /// The next message for the writer, taken as written.
    pub fn next_message(&mut self) -> Option<Outgoing<Bytes>> {
        let m = self.egress.poll_message(self.now_us)?;
        self.publish_counts();
        Some(m)
    }

    /// The socket took `n` more bytes of what the machine offered.
    pub fn written(&mut self, n: usize) {
        self.egress.handle_written(n, self.now_us);
        self.publish_counts();
    }

    /// Copies this listener's counters where `/stats`, `/debug/connections` and `/metrics`
    /// read them (plain stores to this connection's own record), and forwards the sampled
    /// latencies.
    fn publish_counts(&mut self) {
        let s = *self.egress.stats();
        if self.first_audio.is_some() {
            self.check_first_audio(s.frames_sent);
        }
        let info = &self.guard.info;
        info.frames_sent.store(s.frames_sent, Ordering::Relaxed);
        info.events_sent.store(s.messages_sent, Ordering::Relaxed);
        info.bytes_sent.store(s.bytes_sent, Ordering::Relaxed);
        info.payload_sent.store(s.payload_sent, Ordering::Relaxed);
        info.skipped_frames.store(s.skipped_frames, Ordering::Relaxed);
        info.last_activity_ms.store(self.now_us / 1000, Ordering::Relaxed);
        if let Some(t) = &self.trace {
            for w in self.egress.take_writes() {
                t.trace.written(w.first_seq, w.frames, w.bytes, w.at_us);
            }
        }
        for sample in self.egress.take_latency_samples() {
            info.record_latency(sample.latency_us);
            let latency = Duration::from_micros(sample.latency_us.max(0) as u64);
            self.delivery.latency.observe(latency.as_secs_f64());
            self.latency_samples += 1;
            if self.latency_samples.is_multiple_of(8) {
                self.fanout.record(latency);
            }
        }
    }

    /// Waits until there may be something to do: a batch completed, the control state or
    /// the server's state changed.
    pub async fn changed(&mut self) {
        if self.egress.batch() != self.watched_batch {
            self.watched_batch = self.egress.batch();
            self.frames = self.hub.group_watch(self.watched_batch);
        }
        tokio::select! {
            r = self.frames.changed() => {
                if r.is_err() { self.end(&SessionNotice::Ended("the stream was removed".into())); }
            }
            r = self.sub.control.changed() => {
                // changed() marked the value seen: make apply_control look at it
                self.control_dirty = true;
                if r.is_err() { self.end(&SessionNotice::Ended("the stream was removed".into())); }
            }
            _ = self.shutdown.changed() => self.stopping = *self.shutdown.borrow(),
        }
    }

    /// Records a failed write of the message being sent (the socket broke).
    pub fn send_failed(&self, frames: u64) {
        self.hub.stats.send_failed_frames.fetch_add(frames, Ordering::Relaxed);
    }
}
