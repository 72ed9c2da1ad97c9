//! The publisher's playout queue: bounded, paced out at real time, never dropping silently.
//!
//! A publisher (a TTS engine, a remote capture) pushes frames at whatever pace it can —
//! often in bursts faster than real time. The queue holds up to `capacity` frames; the
//! server's playout clock pops one per frame period. Everything that is not a clean hand-
//! over is counted where it happens:
//!
//! * a gap in the publisher's sequence numbers → `gap_frames` (lost before reaching us),
//! * a frame older than one already queued → refused and counted in `out_of_order_frames`,
//! * the queue is full → the push is refused with [`Push::Full`]; the caller must stop
//!   reading its input (backpressure) and retry the same frame — nothing is dropped,
//! * the clock ticks with an empty queue while a publisher is connected → silence is played
//!   and counted in `underrun_frames` (the publisher is slower than real time),
//! * no publisher at all → silence counted in `idle_frames` (not a loss; listeners are told
//!   `source-lost`).
//!
//! After an underrun the queue waits for `prebuffer` frames before playing again, so a
//! publisher running at exactly real time does not flip between audio and silence on
//! every frame of jitter.

use std::collections::VecDeque;

/// Result of offering a frame to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push<T> {
    /// Queued.
    Accepted,
    /// The queue is full: the frame is handed back; apply backpressure and offer it again later.
    Full(T),
    /// The frame's sequence number is not after the last accepted one; it was refused.
    OutOfOrder { expected: u64 },
}

/// What the playout clock gets on a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Pop<T> {
    Frame(T),
    /// Play silence in place of a frame the publisher never sent (already counted in
    /// `gap_frames`); its neighbours keep their timing.
    Missing,
    /// Play silence: the publisher is connected but has nothing queued (or is prebuffering).
    Underrun,
    /// Play silence: no publisher.
    Idle,
}

/// Counters of the publisher stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlayoutStats {
    pub frames_accepted: u64,
    pub frames_played: u64,
    /// Frames the publisher never sent (gaps in its sequence numbers).
    pub gap_frames: u64,
    /// Frames refused because they came after a later one.
    pub out_of_order_frames: u64,
    /// Silence played while a publisher was connected but had nothing queued.
    pub underrun_frames: u64,
    /// Silence played with no publisher connected (not a loss; listeners see `source-lost`).
    pub idle_frames: u64,
    /// Times the queue became full (each a backpressure episode).
    pub full_events: u64,
}

#[derive(Debug)]
pub struct PlayoutQueue<T> {
    items: VecDeque<(u64, T)>,
    /// Publisher sequence number of the next frame to play.
    play_seq: Option<u64>,
    capacity: usize,
    prebuffer: usize,
    buffering: bool,
    connected: bool,
    next_seq: Option<u64>,
    was_full: bool,
    stats: PlayoutStats,
}

impl<T> PlayoutQueue<T> {
    /// `capacity` frames at most; `prebuffer` frames needed before playing (≤ capacity).
    pub fn new(capacity: usize, prebuffer: usize) -> Self {
        let capacity = capacity.max(1);
        PlayoutQueue {
            items: VecDeque::with_capacity(capacity),
            play_seq: None,
            capacity,
            prebuffer: prebuffer.clamp(1, capacity),
            buffering: true,
            connected: false,
            next_seq: None,
            was_full: false,
            stats: PlayoutStats::default(),
        }
    }

    /// A publisher connected; its sequence numbers start fresh.
    pub fn connect(&mut self) {
        self.connected = true;
        self.next_seq = None;
        self.buffering = true;
        // a new session numbers its frames afresh; what is queued plays first
        self.play_seq = None;
    }

    /// The publisher left; what it queued still plays out.
    pub fn disconnect(&mut self) {
        self.connected = false;
        self.next_seq = None;
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Offers frame `seq` (the publisher's own sequence number).
    pub fn push(&mut self, seq: u64, item: T) -> Push<T> {
        if let Some(expected) = self.next_seq
            && seq < expected
        {
            self.stats.out_of_order_frames += 1;
            return Push::OutOfOrder { expected };
        }
        if self.items.len() >= self.capacity {
            if !self.was_full {
                self.was_full = true;
                self.stats.full_events += 1;
            }
            return Push::Full(item);
        }
        self.was_full = false;
        if let Some(expected) = self.next_seq {
            self.stats.gap_frames += seq - expected;
        }
        self.next_seq = Some(seq + 1);
        self.items.push_back((seq, item));
        self.stats.frames_accepted += 1;
        Push::Accepted
    }

    /// One tick of the playout clock.
    pub fn pop(&mut self) -> Pop<T> {
        if self.buffering && self.items.len() >= self.prebuffer {
            self.buffering = false;
        }
        // a departed publisher's last frames play out without waiting for a prebuffer
        if !self.connected && !self.items.is_empty() {
            self.buffering = false;
        }
        if !self.buffering
            && let Some(&(seq, _)) = self.items.front()
        {
            match self.play_seq {
                Some(p) if seq > p && seq - p <= self.capacity as u64 => {
                    self.play_seq = Some(p + 1);
                    return Pop::Missing;
                }
                _ => {}
            }
            self.play_seq = Some(seq + 1);
            self.stats.frames_played += 1;
            if let Some((_, item)) = self.items.pop_front() {
                return Pop::Frame(item);
            }
        }
        if self.connected {
            self.buffering = true;
            self.stats.underrun_frames += 1;
            Pop::Underrun
        } else {
            self.stats.idle_frames += 1;
            Pop::Idle
        }
    }

    /// Frames queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether a refused (full) publisher may send again: the queue drained to half.
    pub fn has_room_to_resume(&self) -> bool {
        self.items.len() <= self.capacity / 2
    }

    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_refused_not_dropped_and_plays_out_in_order() {
        let mut q = PlayoutQueue::new(10, 3);
        q.connect();
        let mut sent = 0u64;
        let mut played = Vec::new();
        let mut refusals = 0;
        // the publisher offers 100 frames as fast as it can; the clock ticks once per 10 offers
        for tick in 0..1000 {
            if sent < 100 {
                match q.push(sent, sent) {
                    Push::Accepted => sent += 1,
                    Push::Full(_) => refusals += 1,
                    Push::OutOfOrder { .. } => unreachable!(),
                }
            }
            if tick % 10 == 9
                && let Pop::Frame(f) = q.pop()
            {
                played.push(f);
            }
        }
        assert_eq!(played, (0..100).collect::<Vec<_>>());
        assert!(refusals > 0);
        let s = q.stats();
        assert_eq!(s.frames_accepted, 100);
        assert_eq!(s.gap_frames + s.out_of_order_frames, 0);
        assert!(s.full_events >= 1);
    }

    #[test]
    fn gaps_and_out_of_order_are_counted_separately() {
        let mut q = PlayoutQueue::new(10, 1);
        q.connect();
        assert_eq!(q.push(0, 'a'), Push::Accepted);
        assert_eq!(q.push(3, 'b'), Push::Accepted); // 1 and 2 never arrived
        assert_eq!(q.push(2, 'c'), Push::OutOfOrder { expected: 4 });
        let s = q.stats();
        assert_eq!((s.gap_frames, s.out_of_order_frames), (2, 1));
    }

    #[test]
    fn slow_publisher_underruns_are_counted_and_prebuffered() {
        let mut q = PlayoutQueue::new(10, 2);
        q.connect();
        assert_eq!(q.pop(), Pop::Underrun);
        q.push(0, 0);
        assert_eq!(q.pop(), Pop::Underrun, "prebuffering: one frame is not enough");
        q.push(1, 1);
        assert_eq!(q.pop(), Pop::Frame(0));
        assert_eq!(q.pop(), Pop::Frame(1));
        assert_eq!(q.pop(), Pop::Underrun);
        assert_eq!(q.stats().underrun_frames, 3);
        q.disconnect();
        assert_eq!(q.pop(), Pop::Idle);
        assert_eq!(q.stats().idle_frames, 1);
    }

    #[test]
    fn gaps_play_as_missing_without_underrun_or_rebuffering() {
        let mut q = PlayoutQueue::new(10, 2);
        q.connect();
        // a publisher at real time that never sends every 5th frame
        let mut out = Vec::new();
        for seq in 0..50u64 {
            if seq % 5 != 4 {
                q.push(seq, seq);
            }
            out.push(q.pop());
        }
        let s = q.stats();
        assert_eq!(s.gap_frames, 9, "frame 49 is not yet known to be missing");
        assert!(s.underrun_frames <= 2, "only the initial prebuffer: {}", s.underrun_frames);
        assert!(out.iter().filter(|p| **p == Pop::Missing).count() >= 8);
    }

    #[test]
    fn departed_publisher_drains_without_prebuffer() {
        let mut q = PlayoutQueue::new(10, 5);
        q.connect();
        q.push(0, 0);
        q.disconnect();
        assert_eq!(q.pop(), Pop::Frame(0));
        assert_eq!(q.pop(), Pop::Idle);
        q.connect();
        assert_eq!(q.push(0, 9), Push::Accepted, "a new publisher starts its own numbering");
    }
}
