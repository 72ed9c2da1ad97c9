//! The per-listener egress state machine: what one listener is sent next, in which order,
//! how much of it the socket has taken, and when the listener is skipped to live.
//!
//! Every transport (SSE, WebSocket, Ogg over HTTP, …) drives one [`ListenerEgress`] per
//! listener; the transport only frames. The machine is sans-IO, like the ABR controller:
//!
//! - **Batching.** Frames go out in messages of `batch` frames aligned on sequence numbers
//!   (a message starts at `seq % batch == 0`), so every listener of the same key (stream,
//!   format, rung, batch) is sent the same messages and each message's bytes are made once
//!   ([`Framer`] is asked for them; a caching framer hands back shared bytes).
//! - **Order.** A control message (a notice, a pong, a rung change) first closes the batch
//!   being gathered, so a listener hears frames and notices in the order they happened.
//! - **Partial writes.** [`ListenerEgress::poll_transmit`] gives the bytes to write next;
//!   [`ListenerEgress::handle_written`] takes how many the socket accepted. A message the
//!   socket took in part is resumed at its offset on the next write.
//! - **Skip to live.** When the audio waiting for a listener (in the hub's ring and queued
//!   here) passes `max_lag_us`, [`ListenerEgress::skip_to_live`] drops the queued audio at
//!   a message boundary — a message already started is finished, so the byte stream stays
//!   well-formed — and counts every frame skipped. The caller moves its ring cursor to live
//!   and tells the listener (the `lagged` notice).
//! - **Counting.** Frames, messages and bytes are counted when the socket has taken them,
//!   in plain fields of this machine (one owner, no shared cache line); latency from the
//!   capture timestamp is sampled, not measured for every message.
//!
//! Time is an argument (µs on the caller's clock, the same clock as the frames' capture
//! timestamps), so the tests run in simulated time.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

/// What the machine needs to know of a frame.
pub trait EgressFrame {
    /// Gap-free sequence number.
    fn seq(&self) -> u64;
    /// Capture time, µs (the clock `now_us` is given in).
    fn capture_us(&self) -> i64;
}

/// Frames shared between listeners are held by reference count.
impl<T: EgressFrame + ?Sized> EgressFrame for std::sync::Arc<T> {
    fn seq(&self) -> u64 {
        (**self).seq()
    }

    fn capture_us(&self) -> i64 {
        (**self).capture_us()
    }
}

/// Makes the bytes of one audio message from consecutive frames (a transport's framing).
/// A framer that caches by key returns the same shared bytes to every listener.
pub trait Framer<F> {
    type Bytes: AsRef<[u8]> + Clone;
    fn audio(&mut self, frames: &[F]) -> Self::Bytes;

    /// The audio these frames carry in this framing, in bytes, before any framing: Opus
    /// packets, or 16-bit samples for PCM. With the bytes written it gives a listener's
    /// efficiency (payload ÷ bytes on the wire). 0 when the framing does not say.
    fn payload_bytes(&self, _frames: &[F]) -> u64 {
        0
    }
}

/// How a listener's audio is cut and how far behind it may fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressConfig {
    /// Frames per audio message (1..), messages aligned on `seq % batch == 0`.
    pub batch: u64,
    /// Audio waiting for the listener beyond which it is skipped to live, µs.
    pub max_lag_us: u64,
    /// Duration of one frame, µs.
    pub frame_us: u64,
    /// Latency is sampled on one completed audio message in this many (1 = every one).
    pub latency_sample_every: u32,
    /// Keep a record of every audio message written whole, for the caller to take
    /// ([`ListenerEgress::take_writes`]): the connection's frame trace.
    pub record_writes: bool,
}

impl EgressConfig {
    pub fn new(batch: u64, max_lag_us: u64, frame_us: u64) -> Self {
        EgressConfig {
            batch: batch.max(1),
            max_lag_us,
            frame_us: frame_us.max(1),
            latency_sample_every: 8,
            record_writes: false,
        }
    }
}

/// An audio message the socket took whole (with [`EgressConfig::record_writes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenMessage {
    pub first_seq: u64,
    pub frames: u32,
    pub bytes: usize,
    /// When its last byte was handed to the socket, µs.
    pub at_us: i64,
}

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Audio: `frames` consecutive frames from `first_seq`; `capture_us` of the last one;
    /// `payload`: the audio bytes in it ([`Framer::payload_bytes`]).
    Audio { frames: u32, first_seq: u64, capture_us: i64, payload: u32 },
    /// Anything else (notices, pongs, heartbeats, headers): never skipped.
    Control,
}

/// One message waiting to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<B> {
    pub bytes: B,
    pub kind: MessageKind,
}

/// What the socket has taken, counted by the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressStats {
    /// Audio frames whose message was written whole.
    pub frames_sent: u64,
    /// Messages (audio and control) written whole.
    pub messages_sent: u64,
    /// Bytes the socket accepted.
    pub bytes_sent: u64,
    /// Audio bytes of the audio messages written whole ([`Framer::payload_bytes`]).
    pub payload_sent: u64,
    /// Frames this listener never got because it was skipped to live.
    pub skipped_frames: u64,
    /// Times it was skipped to live.
    pub skips: u64,
    /// Latency (now − capture) of the last sampled audio message, µs.
    pub last_latency_us: Option<i64>,
}

/// A latency measurement the caller may forward (to a histogram, an average).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySample {
    pub latency_us: i64,
    /// Frames in the message measured.
    pub frames: u32,
}

/// One listener's egress (see the module docs).
#[derive(Debug)]
pub struct ListenerEgress<F, B> {
    cfg: EgressConfig,
    /// Frames of the batch being gathered.
    group: Vec<F>,
    queue: VecDeque<Outgoing<B>>,
    /// Bytes of `queue.front()` already written.
    offset: usize,
    /// Audio frames in `queue`.
    queued_frames: u64,
    stats: EgressStats,
    audio_done: u32,
    /// Latency samples since the caller last took them.
    samples: Vec<LatencySample>,
    /// The last audio message written whole.
    last_audio: Option<B>,
    /// Audio messages written since the caller last took them (`record_writes` only).
    writes: Vec<WrittenMessage>,
    /// Framed audio messages the last skip dropped unsent (always the newest ones).
    last_skip_dropped: usize,
}

impl<F: EgressFrame, B: AsRef<[u8]> + Clone> ListenerEgress<F, B> {
    pub fn new(cfg: EgressConfig) -> Self {
        ListenerEgress {
            cfg: EgressConfig { batch: cfg.batch.max(1), ..cfg },
            group: Vec::new(),
            queue: VecDeque::new(),
            offset: 0,
            queued_frames: 0,
            stats: EgressStats::default(),
            audio_done: 0,
            samples: Vec::new(),
            last_audio: None,
            writes: Vec::new(),
            last_skip_dropped: 0,
        }
    }

    /// Audio messages written whole since the last call (empty unless `record_writes`).
    pub fn take_writes(&mut self) -> std::vec::Drain<'_, WrittenMessage> {
        self.writes.drain(..)
    }

    pub fn config(&self) -> EgressConfig {
        self.cfg
    }

    pub fn batch(&self) -> u64 {
        self.cfg.batch
    }

    /// Changes the batch size; the batch being gathered is sent first.
    pub fn set_batch<R: Framer<F, Bytes = B>>(&mut self, batch: u64, framer: &mut R) {
        self.flush(framer);
        self.cfg.batch = batch.max(1);
    }

    /// Changes how far behind the listener may fall before it is skipped to live (its
    /// profile's latency budget); takes effect at the next [`is_lagging`](Self::is_lagging).
    pub fn set_max_lag_us(&mut self, max_lag_us: u64) {
        self.cfg.max_lag_us = max_lag_us;
    }

    /// Adds the next frame. A batch is closed when its last aligned frame arrives, or
    /// early when this frame does not follow the previous one (a gap).
    pub fn push_frame<R: Framer<F, Bytes = B>>(&mut self, frame: F, framer: &mut R) {
        if let Some(last) = self.group.last()
            && last.seq() + 1 != frame.seq()
        {
            self.flush(framer);
        }
        let due = (frame.seq() + 1).is_multiple_of(self.cfg.batch);
        self.group.push(frame);
        if due {
            self.flush(framer);
        }
    }

    /// Sends the batch being gathered now, even if short (before a notice, a rung change,
    /// a pause, the end).
    pub fn flush<R: Framer<F, Bytes = B>>(&mut self, framer: &mut R) {
        let (Some(first), Some(last)) = (self.group.first(), self.group.last()) else { return };
        let kind = MessageKind::Audio {
            frames: self.group.len() as u32,
            first_seq: first.seq(),
            capture_us: last.capture_us(),
            payload: framer.payload_bytes(&self.group).min(u64::from(u32::MAX)) as u32,
        };
        let bytes = framer.audio(&self.group);
        let frames = self.group.len() as u64;
        self.group.clear();
        // a framing with nothing to say (no packet at this rung yet) is not a message
        if bytes.as_ref().is_empty() {
            return;
        }
        self.queued_frames += frames;
        self.queue.push_back(Outgoing { bytes, kind });
    }

    /// Queues a control message after everything that came before it (the batch being
    /// gathered is sent first).
    pub fn push_control<R: Framer<F, Bytes = B>>(&mut self, bytes: B, framer: &mut R) {
        self.flush(framer);
        self.push_control_now(bytes);
    }

    /// Queues a control message ahead of the batch being gathered (for messages that do not
    /// describe the audio, such as pongs and heartbeats, which should not wait for a batch).
    pub fn push_control_now(&mut self, bytes: B) {
        if !bytes.as_ref().is_empty() {
            self.queue.push_back(Outgoing { bytes, kind: MessageKind::Control });
        }
    }

    /// Audio frames waiting here (queued and gathered), not yet written whole.
    pub fn waiting_frames(&self) -> u64 {
        self.queued_frames + self.group.len() as u64
    }

    /// Whether a listener with `ring_backlog` frames still unread in the hub's ring is past
    /// its lag budget. The message being written does not count: it is on its way.
    pub fn is_lagging(&self, ring_backlog: u64) -> bool {
        let started = match self.queue.front() {
            Some(Outgoing { kind: MessageKind::Audio { frames, .. }, .. }) if self.offset > 0 => {
                u64::from(*frames)
            }
            _ => 0,
        };
        let waiting = ring_backlog + self.waiting_frames() - started;
        waiting.saturating_mul(self.cfg.frame_us) > self.cfg.max_lag_us
    }

    /// Skips the listener to live: drops the audio queued here that the socket has not begun
    /// (a message already started is finished first) and the batch being gathered; the
    /// caller has moved its ring cursor past `ring_skipped` frames. Returns every frame
    /// skipped, which the caller announces (a `lagged` notice).
    pub fn skip_to_live(&mut self, ring_skipped: u64) -> u64 {
        let mut dropped = self.group.len() as u64;
        self.group.clear();
        let keep_head = self.offset > 0;
        let mut i = 0usize;
        let mut dropped_messages = 0;
        self.queue.retain(|m| {
            let first = i == 0;
            i += 1;
            match m.kind {
                MessageKind::Audio { frames, .. } if !(first && keep_head) => {
                    dropped += u64::from(frames);
                    dropped_messages += 1;
                    false
                }
                _ => true,
            }
        });
        self.queued_frames = self
            .queue
            .iter()
            .map(|m| match m.kind {
                MessageKind::Audio { frames, .. } => u64::from(frames),
                MessageKind::Control => 0,
            })
            .sum();
        self.last_skip_dropped = dropped_messages;
        let total = dropped + ring_skipped;
        if total > 0 {
            self.stats.skipped_frames += total;
            self.stats.skips += 1;
        }
        total
    }

    /// How many framed audio messages the last [`Self::skip_to_live`] dropped before the
    /// socket began them: the newest ones the framer made (a framer that keeps per-listener
    /// byte state, such as in-band ICY metadata, rewinds past them).
    pub fn dropped_at_last_skip(&self) -> usize {
        self.last_skip_dropped
    }

    /// Counts frames the listener lost before they reached this machine (e.g. a resume
    /// whose frames had left the ring).
    pub fn count_missed(&mut self, frames: u64) {
        self.stats.skipped_frames += frames;
    }

    /// The bytes to write next (the rest of the current message), if any.
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        self.queue.front().map(|m| &m.bytes.as_ref()[self.offset..])
    }

    /// Fills `out` with the slices to write next, in order; returns how many (for vectored
    /// writes without an allocation).
    pub fn poll_transmit_slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (slot, m) in out.iter_mut().zip(self.queue.iter()) {
            let b = m.bytes.as_ref();
            *slot = if n == 0 { &b[self.offset..] } else { b };
            n += 1;
        }
        n
    }

    /// Up to `max` slices to write next, in order (for vectored writes).
    pub fn poll_transmit_vectored<'a>(&'a self, out: &mut Vec<&'a [u8]>, max: usize) {
        for (i, m) in self.queue.iter().take(max).enumerate() {
            let b = m.bytes.as_ref();
            out.push(if i == 0 { &b[self.offset..] } else { b });
        }
    }

    /// The next whole message, taken off the queue as written (for writers that take
    /// messages, not bytes, such as a WebSocket sink or an HTTP body stream).
    pub fn poll_message(&mut self, now_us: i64) -> Option<Outgoing<B>> {
        let m = self.queue.front()?.clone();
        let rest = m.bytes.as_ref().len() - self.offset;
        self.handle_written(rest, now_us);
        Some(m)
    }

    /// The socket accepted `n` bytes of what [`poll_transmit`](Self::poll_transmit) (or the
    /// vectored variant) offered, at `now_us`.
    pub fn handle_written(&mut self, mut n: usize, now_us: i64) {
        self.stats.bytes_sent += n as u64;
        while let Some(front) = self.queue.front() {
            let rest = front.bytes.as_ref().len() - self.offset;
            if n < rest {
                self.offset += n;
                return;
            }
            n -= rest;
            self.offset = 0;
            let Some(done) = self.queue.pop_front() else { return };
            self.stats.messages_sent += 1;
            if let MessageKind::Audio { frames, capture_us, first_seq, payload } = done.kind {
                self.stats.payload_sent += u64::from(payload);
                if self.cfg.record_writes {
                    let bytes = done.bytes.as_ref().len();
                    self.writes.push(WrittenMessage { first_seq, frames, bytes, at_us: now_us });
                }
                self.last_audio = Some(done.bytes);
                self.queued_frames -= u64::from(frames);
                self.stats.frames_sent += u64::from(frames);
                if self.audio_done.is_multiple_of(self.cfg.latency_sample_every.max(1)) {
                    let latency_us = now_us - capture_us;
                    self.stats.last_latency_us = Some(latency_us);
                    self.samples.push(LatencySample { latency_us, frames });
                }
                self.audio_done = self.audio_done.wrapping_add(1);
            }
            if n == 0 && self.offset == 0 {
                return;
            }
        }
    }

    /// The last audio message the socket took whole (e.g. to continue a numbering from it).
    pub fn last_audio_sent(&self) -> Option<&B> {
        self.last_audio.as_ref()
    }

    /// Latency samples taken since the last call.
    pub fn take_latency_samples(&mut self) -> impl Iterator<Item = LatencySample> + '_ {
        self.samples.drain(..)
    }

    /// Whether nothing waits to be written (frames being gathered may still wait).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn stats(&self) -> &EgressStats {
        &self.stats
    }
}
