//! Publishing: audio pushed into a stream declared with `source = "publish"` (or created on
//! demand from such a template, see [`crate::stream`]), over WebSocket (`/publish`) or a
//! chunked HTTP body (`/ingest`). Text to speech (`/say`, [`say`]) enters any stream too, in
//! place of its source's frames while it speaks.
//!
//! Each publish stream has one [`Publisher`]: a bounded playout queue
//! ([`ondes_core::playout::PlayoutQueue`]) and a playout task that pops one frame per
//! frame period, by absolute deadlines, and feeds the hub. A publisher may burst faster
//! than real time; when the queue is full it gets backpressure (a WebSocket message, or
//! TCP flow control for HTTP) and nothing is dropped. Every frame that does not make it
//! is counted at the stage where it was lost (see [`PublisherStats`]).

pub mod decode;
pub mod format;
pub mod http;
pub mod icecast;
pub mod playout;
pub mod say;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ondes_core::playout::{PlayoutQueue, PlayoutStats, Push};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

/// A frame waiting in the playout queue: its PCM and, from a source that sent Opus, its packet.
pub struct QueuedFrame {
    pub pcm: Vec<f32>,
    pub opus: crate::hub::SourceOpus,
}

impl QueuedFrame {
    /// A frame from a source that does not send Opus.
    pub fn pcm(pcm: Vec<f32>) -> Self {
        QueuedFrame { pcm, opus: crate::hub::SourceOpus::None }
    }
}

/// The publish side of one stream.
pub struct Publisher {
    pub stream_id: String,
    queue: Mutex<PlayoutQueue<QueuedFrame>>,
    /// Woken on every playout tick, so a publisher under backpressure can check for room.
    pub space: Notify,
    busy: AtomicBool,
    pub frame_us: u32,
    pub backpressure_events: AtomicU64,
    pub decode_errors: AtomicU64,
    pub rejected_messages: AtomicU64,
    pub concealed_frames: AtomicU64,
    /// Lost packets recovered from the next packet's in-band FEC (WHIP publishers).
    pub fec_recovered: AtomicU64,
    /// Lost packets rebuilt from a later packet's RED redundancy (WHIP publishers sending RED).
    pub red_recovered: AtomicU64,
    pub sessions: AtomicU64,
}

/// Publisher-stage counters, as `/stats` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct PublisherStats {
    pub connected: bool,
    pub queue_frames: usize,
    pub queue_ms: f64,
    pub max_queue_ms: f64,
    /// The playout queue's own counters (accepted, played, gaps, out of order, underrun, idle).
    #[serde(flatten)]
    pub queue: PlayoutStats,
    pub backpressure_events: u64,
    pub decode_errors: u64,
    pub rejected_messages: u64,
    /// Frames the publisher marked lost (empty Opus packets), concealed by the decoder.
    pub concealed_frames: u64,
    /// Lost packets recovered from in-band FEC (WHIP publishers; the rest were concealed).
    pub fec_recovered: u64,
    /// Packets lost on the way in but rebuilt from a later packet's RED redundancy (WHIP
    /// publishers sending RED): not concealed, and not counted in `concealed_frames`.
    pub red_recovered: u64,
    pub sessions: u64,
}

/// Holds the publisher slot of a stream; frees it on drop.
pub struct PublishSession {
    pub publisher: Arc<Publisher>,
}

impl Drop for PublishSession {
    fn drop(&mut self) {
        self.publisher.queue.lock().disconnect();
        self.publisher.busy.store(false, Ordering::Release);
    }
}

/// Outcome of waiting to enqueue a frame.
pub enum Enqueue {
    Accepted,
    OutOfOrder { expected: u64 },
}

impl Publisher {
    pub fn new(stream_id: &str, frame_us: u32, queue_ms: u64) -> Arc<Self> {
        // start playing once 60 ms (at least two frames) are queued
        Self::with_prebuffer(stream_id, frame_us, queue_ms, 60)
    }

    /// A publisher that starts playing (and restarts after an underrun) only once
    /// `prebuffer_ms` are queued: for bursty sources, e.g. Icecast clients that send one
    /// Ogg page per second. The queue holds at least `prebuffer_ms` + 1 s.
    pub fn with_prebuffer(stream_id: &str, frame_us: u32, queue_ms: u64, prebuffer_ms: u64) -> Arc<Self> {
        let queue_ms = queue_ms.max(if prebuffer_ms > 60 { prebuffer_ms + 1_000 } else { 0 });
        let capacity = ((queue_ms * 1000) / frame_us as u64).max(2) as usize;
        let prebuffer = ((prebuffer_ms * 1000 / frame_us as u64) as usize).max(2).min(capacity);
        Arc::new(Publisher {
            stream_id: stream_id.into(),
            queue: Mutex::new(PlayoutQueue::new(capacity, prebuffer)),
            space: Notify::new(),
            busy: AtomicBool::new(false),
            frame_us,
            backpressure_events: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            rejected_messages: AtomicU64::new(0),
            concealed_frames: AtomicU64::new(0),
            fec_recovered: AtomicU64::new(0),
            red_recovered: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
        })
    }

    /// Takes the publisher slot, or `None` when another publisher holds it.
    pub fn try_begin(self: &Arc<Self>) -> Option<PublishSession> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.queue.lock().connect();
        self.sessions.fetch_add(1, Ordering::Relaxed);
        Some(PublishSession { publisher: self.clone() })
    }

    /// Whether no publisher holds the slot and nothing is left to play.
    pub fn is_idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire) && self.queue.lock().is_empty()
    }

    /// Offers frame `seq` to the queue (see [`Push`]).
    pub fn offer(&self, seq: u64, frame: QueuedFrame) -> Push<QueuedFrame> {
        self.queue.lock().push(seq, frame)
    }

    /// Whether a publisher under backpressure may send again.
    pub fn has_room(&self) -> bool {
        self.queue.lock().has_room_to_resume()
    }

    /// One playout tick.
    pub fn pop(&self) -> ondes_core::playout::Pop<QueuedFrame> {
        let p = self.queue.lock().pop();
        self.space.notify_waiters();
        p
    }

    pub fn is_connected(&self) -> bool {
        self.queue.lock().is_connected()
    }

    pub fn queue_ms(&self) -> f64 {
        self.queue.lock().len() as f64 * self.frame_us as f64 / 1000.0
    }

    pub fn stats(&self) -> PublisherStats {
        let (q, connected, len, cap): (PlayoutStats, bool, usize, usize) = {
            let q = self.queue.lock();
            (q.stats(), q.is_connected(), q.len(), q.capacity())
        };
        let ms = |frames: usize| frames as f64 * self.frame_us as f64 / 1000.0;
        PublisherStats {
            connected,
            queue_frames: len,
            queue_ms: ms(len),
            max_queue_ms: ms(cap),
            queue: q,
            backpressure_events: self.backpressure_events.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            rejected_messages: self.rejected_messages.load(Ordering::Relaxed),
            concealed_frames: self.concealed_frames.load(Ordering::Relaxed),
            fec_recovered: self.fec_recovered.load(Ordering::Relaxed),
            red_recovered: self.red_recovered.load(Ordering::Relaxed),
            sessions: self.sessions.load(Ordering::Relaxed),
        }
    }

    /// Waits until a publisher under backpressure may send again (the queue drained to half).
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.space.notified();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// Queues a frame, waiting (without reading more input) while the queue is full. Used
    /// by HTTP ingest, where not reading the body is the backpressure.
    pub async fn enqueue(&self, seq: u64, mut frame: QueuedFrame) -> Enqueue {
        loop {
            match self.offer(seq, frame) {
                Push::Accepted => return Enqueue::Accepted,
                Push::OutOfOrder { expected } => return Enqueue::OutOfOrder { expected },
                Push::Full(back) => {
                    frame = back;
                    self.backpressure_events.fetch_add(1, Ordering::Relaxed);
                    self.wait_for_room().await;
                }
            }
        }
    }
}
