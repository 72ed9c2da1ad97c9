//! The speech desk of one stream: the [`UtteranceQueue`] behind a lock, consulted by the
//! hub for every frame it is given, plus what each utterance's request and listeners need
//! to know about it (its timings and phase).
//!
//! Speech enters at the hub's one push point, so it works the same in front of every
//! source: the source's producer (a tone, a file, a publisher's playout task) keeps its own
//! pace and numbering, and during speech its frame is replaced by the utterance's. A
//! publisher's audio of those periods is dropped, not delayed: when speech ends the
//! publisher is heard live again, not seconds late.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use ondes_core::utterance::{Phase, Play, QueueError, UtteranceMark, UtteranceQueue};
use parking_lot::Mutex;
use tokio::sync::watch;

/// How far an utterance's request has got (what the `say` handler waits on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayPhase {
    /// The engine runs; no audio yet.
    Synthesising,
    /// The first frame of speech is ready (waiting for its turn or the next period).
    FirstPcm,
    /// Its first frame is in the stream.
    Playing,
    /// Cut or dropped by a barge-in before its first frame.
    Dropped,
    /// The engine failed (the message says why).
    Failed(String),
}

/// The timeline of one utterance, µs since the Unix epoch (0: not yet).
pub struct UtteranceTiming {
    pub id: u64,
    pub arrival_us: i64,
    pub first_pcm_us: AtomicI64,
    pub pushed_us: AtomicI64,
    /// A listener has recorded the time to first audio (the first listener to get it).
    pub delivered: AtomicBool,
    phase: watch::Sender<SayPhase>,
}

impl UtteranceTiming {
    pub fn phase(&self) -> watch::Receiver<SayPhase> {
        self.phase.subscribe()
    }

    pub fn set_phase(&self, p: SayPhase) {
        self.phase.send_replace(p);
    }
}

/// A mark travelling with a frame to listeners; a start carries the utterance's timing.
#[derive(Clone)]
pub struct SpeechMark {
    pub mark: UtteranceMark,
    pub timing: Option<Arc<UtteranceTiming>>,
}

struct Inner {
    queue: UtteranceQueue<Arc<[f32]>>,
    timings: HashMap<u64, Arc<UtteranceTiming>>,
}

/// See the module docs.
#[derive(Default)]
pub struct SpeechDesk {
    inner: Mutex<Inner>,
    /// Whether anything is queued or pending: the hub's per-frame check without the lock.
    active: AtomicBool,
}

impl Default for Inner {
    fn default() -> Self {
        Inner { queue: UtteranceQueue::new(8), timings: HashMap::new() }
    }
}

impl SpeechDesk {
    pub fn new() -> Self {
        SpeechDesk {
            inner: Mutex::new(Inner { queue: UtteranceQueue::new(8), timings: HashMap::new() }),
            active: AtomicBool::new(false),
        }
    }

    /// Queues an utterance that arrived at `arrival_us` (with `interrupt`: barge-in).
    pub fn enqueue(
        &self,
        interrupt: bool,
        arrival_us: i64,
        max_queued: usize,
    ) -> Result<Arc<UtteranceTiming>, QueueError> {
        let mut g = self.inner.lock();
        g.queue.set_max_waiting(max_queued);
        let id = g.queue.enqueue(interrupt, arrival_us.max(0) as u64)?;
        if interrupt {
            let Inner { queue, timings } = &mut *g;
            timings.retain(|_, t| {
                let keep = queue.phase(t.id) != Phase::Gone;
                if !keep && *t.phase.borrow() != SayPhase::Playing {
                    t.set_phase(SayPhase::Dropped);
                }
                keep
            });
        }
        let timing = Arc::new(UtteranceTiming {
            id,
            arrival_us,
            first_pcm_us: AtomicI64::new(0),
            pushed_us: AtomicI64::new(0),
            delivered: AtomicBool::new(false),
            phase: watch::channel(SayPhase::Synthesising).0,
        });
        g.timings.insert(id, timing.clone());
        self.active.store(true, Ordering::Release);
        Ok(timing)
    }

    /// A frame of speech for `id`; `false` when the utterance is gone (stop synthesising).
    pub fn push_frame(&self, id: u64, frame: Arc<[f32]>) -> bool {
        self.inner.lock().queue.push_frame(id, frame)
    }

    /// Synthesis of `id` is complete.
    pub fn complete(&self, id: u64) {
        self.inner.lock().queue.complete(id);
    }

    /// Synthesis of `id` failed (or its request gave up): it is removed.
    pub fn fail(&self, id: u64, why: &str) {
        let mut g = self.inner.lock();
        g.queue.fail(id);
        if let Some(t) = g.timings.remove(&id) {
            t.set_phase(SayPhase::Failed(why.into()));
        }
    }

    /// Frames synthesised for `id` and not played yet.
    pub fn buffered_frames(&self, id: u64) -> usize {
        self.inner.lock().queue.buffered_frames(id)
    }

    /// Utterances ahead of `id`.
    pub fn position(&self, id: u64) -> Option<usize> {
        self.inner.lock().queue.position(id)
    }

    /// Utterances playing or waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> ondes_core::utterance::QueueStats {
        self.inner.lock().queue.stats()
    }

    /// The frame the hub publishes for this period: the source's `samples`, or speech in
    /// their place (`true`), with the marks listeners hear before it.
    pub fn substitute(&self, samples: Arc<[f32]>, now_us: i64) -> (Arc<[f32]>, Vec<SpeechMark>, bool) {
        if !self.active.load(Ordering::Acquire) {
            return (samples, Vec::new(), false);
        }
        let mut g = self.inner.lock();
        let poll = g.queue.poll_frame(now_us.max(0) as u64);
        let mut marks = Vec::with_capacity(poll.marks.len());
        for mark in poll.marks {
            let timing = match mark {
                UtteranceMark::Start { id } => g.timings.get(&id).cloned().inspect(|t| {
                    t.pushed_us.store(now_us, Ordering::Relaxed);
                    t.set_phase(SayPhase::Playing);
                }),
                UtteranceMark::End { id, .. } => {
                    g.timings.remove(&id);
                    None
                }
            };
            marks.push(SpeechMark { mark, timing });
        }
        if g.queue.is_empty() {
            // utterances that ended without a start (no audio) leave no timing behind
            g.timings.clear();
            self.active.store(false, Ordering::Release);
        }
        match poll.play {
            Play::Source => (samples, marks, false),
            Play::Speech(f) if f.len() == samples.len() => (f, marks, true),
            Play::Speech(_) | Play::Silence => (vec![0.0; samples.len()].into(), marks, true),
        }
    }
}
