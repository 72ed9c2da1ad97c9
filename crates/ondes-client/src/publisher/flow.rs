//! When the publisher may take its next frame: pacing, the in-flight window and the
//! server's backpressure, as one sans-IO state machine.
//!
//! The user report behind issue 3 — a TTS sender seeing 20% "loss" — came from senders that
//! pushed faster than real time into a small queue, fired overlapping un-awaited sends, or
//! fell behind real time. [`SendFlow`] makes the sender's side of that explicit:
//!
//! - **Real time** ([`Pacing::RealTime`]): frame `n` is released at `origin + n × frame`
//!   (absolute deadlines, [`ondes_core::Pacer`]), minus a small `lead` so the server's playout
//!   queue holds a cushion against network and scheduling jitter. No drift, however long.
//! - **Burst** ([`Pacing::Burst`]): frames are released as fast as the server takes them;
//!   the server's playout queue paces them out and its `backpressure`/`resume` messages (and
//!   TCP flow control) hold us back. This is what a TTS engine producing faster than real time
//!   wants: lowest latency to first audio, no sender-side buffering.
//! - **Window**: in both modes at most `window` frames may be unacknowledged. It bounds what
//!   sits in kernel buffers (so a disconnect leaves few frames unconfirmed) and is sized above
//!   the server's queue, so in burst mode the server's backpressure — not our window — is what
//!   normally stops us.
//! - **Backpressure**: between a `backpressure` message and the following `resume`, nothing
//!   is released. Each such wait is counted with its duration.
//!
//! Time is an argument (µs on a monotonic clock); nothing here sleeps.

use ondes_core::{Pacer, PacerPoll};

/// How frames are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// At real time by absolute deadlines, `lead_us` ahead of the wall clock.
    RealTime { lead_us: u64 },
    /// As fast as the server accepts (its backpressure paces us).
    Burst,
}

/// What the sender should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take the next frame from the source (its sequence number is `seq`).
    Take { seq: u64 },
    /// Nothing is due before this time (µs).
    WaitUntil(u64),
    /// Too many frames are unacknowledged: wait for an `ack`.
    WaitForAck,
    /// The server asked us to stop: wait for `resume`.
    WaitForResume,
}

/// Backpressure and window counters, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// `backpressure` messages received (each one a wait until `resume`).
    pub backpressure_waits: u64,
    /// Total time between `backpressure` and `resume`, µs (an open wait counts up to now).
    pub backpressure_wait_us: u64,
    /// Times the in-flight window was full when a frame was due.
    pub window_waits: u64,
    /// Frames sent on a connection that dropped before they were acknowledged: they may or
    /// may not have reached the server's queue.
    pub unconfirmed_frames: u64,
    /// Times the pacer gave up catching up after a stall and re-anchored to the present.
    pub pacer_reanchors: u64,
}

/// The sender's flow-control state machine (see the module docs).
#[derive(Debug, Clone)]
pub struct SendFlow {
    pacer: Option<Pacer>,
    lead_us: u64,
    window: u64,
    /// Next sequence number to take from the source.
    next_seq: u64,
    /// Frames whose send completed (sequence numbers below this were handed to the socket).
    sent: u64,
    /// Frames acknowledged (or written off as unconfirmed after a disconnect).
    acked: u64,
    paused_since: Option<u64>,
    waiting_for_window: bool,
    stats: FlowStats,
}

impl SendFlow {
    /// A flow starting at `now_us` with frames of `frame_us` and at most `window` frames in
    /// flight (raised to at least two batches so a batch can always be completed).
    pub fn new(pacing: Pacing, now_us: u64, frame_us: u32, window: u64, batch: u64) -> Self {
        let (pacer, lead_us) = match pacing {
            Pacing::RealTime { lead_us } => (Some(Pacer::new(now_us, frame_us)), lead_us),
            Pacing::Burst => (None, 0),
        };
        SendFlow {
            pacer,
            lead_us,
            window: window.max(2 * batch.max(1)),
            next_seq: 0,
            sent: 0,
            acked: 0,
            paused_since: None,
            waiting_for_window: false,
            stats: FlowStats::default(),
        }
    }

    /// Decides, at `now_us`, whether the next frame may be taken. A `Take` consumes the
    /// frame's slot: the caller must take it (or end the stream).
    pub fn poll(&mut self, now_us: u64) -> Step {
        if self.paused_since.is_some() {
            return Step::WaitForResume;
        }
        if self.next_seq - self.acked >= self.window {
            if !self.waiting_for_window {
                self.waiting_for_window = true;
                self.stats.window_waits += 1;
            }
            return Step::WaitForAck;
        }
        self.waiting_for_window = false;
        if let Some(pacer) = &mut self.pacer {
            // Polling at `now + lead` releases each frame `lead` before its deadline.
            match pacer.poll(now_us + self.lead_us) {
                PacerPoll::Wait { until_us } => {
                    return Step::WaitUntil(until_us.saturating_sub(self.lead_us));
                }
                PacerPoll::Due { .. } => self.stats.pacer_reanchors = pacer.reanchors(),
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Step::Take { seq }
    }

    /// The send of frames up to (excluding) `end_seq` completed.
    pub fn on_sent(&mut self, end_seq: u64) {
        self.sent = self.sent.max(end_seq.min(self.next_seq));
    }

    /// The server acknowledged every frame up to and including `seq`.
    pub fn on_ack(&mut self, seq: u64) {
        self.acked = self.acked.max((seq + 1).min(self.sent));
    }

    /// The server said its queue is full.
    pub fn on_backpressure(&mut self, now_us: u64) {
        if self.paused_since.is_none() {
            self.paused_since = Some(now_us);
            self.stats.backpressure_waits += 1;
        }
    }

    /// The server said we may send again.
    pub fn on_resume(&mut self, now_us: u64) {
        if let Some(since) = self.paused_since.take() {
            self.stats.backpressure_wait_us += now_us.saturating_sub(since);
        }
    }

    /// The connection dropped. Frames sent but not acknowledged are written off as
    /// unconfirmed (the next connection continues with the next frame, not a resend: a
    /// resent frame the old session had queued would play twice), and a pending
    /// backpressure wait ends.
    pub fn on_disconnect(&mut self, now_us: u64) {
        self.stats.unconfirmed_frames += self.sent - self.acked;
        self.acked = self.sent;
        self.on_resume(now_us);
    }

    /// Sequence numbers below this are acknowledged (or written off).
    pub fn acked_through(&self) -> u64 {
        self.acked
    }

    /// Frames whose send completed (the next sequence number to be sent).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Frames sent and not yet acknowledged.
    pub fn in_flight(&self) -> u64 {
        self.sent - self.acked
    }

    /// Frames acknowledged by the server (not counting written-off ones).
    pub fn acked_frames(&self) -> u64 {
        self.acked - self.stats.unconfirmed_frames
    }

    /// Whether every frame sent so far is acknowledged (or written off).
    pub fn all_acked(&self) -> bool {
        self.acked == self.sent
    }

    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Counters; an ongoing backpressure wait counts up to `now_us`.
    pub fn stats(&self, now_us: u64) -> FlowStats {
        let mut s = self.stats;
        if let Some(since) = self.paused_since {
            s.backpressure_wait_us += now_us.saturating_sub(since);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 20_000;

    /// Drives a flow whose frames are acknowledged at once, for `until_us`, waking exactly
    /// when asked; returns the release times.
    fn releases(flow: &mut SendFlow, until_us: u64) -> Vec<(u64, u64)> {
        let mut now = 0;
        let mut out = Vec::new();
        while now < until_us {
            match flow.poll(now) {
                Step::Take { seq } => {
                    out.push((seq, now));
                    flow.on_sent(seq + 1);
                    flow.on_ack(seq);
                }
                Step::WaitUntil(t) => {
                    assert!(t > now);
                    now = t + 700; // late wake-ups do not accumulate
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn real_time_releases_each_frame_lead_before_its_deadline_without_drift() {
        let mut flow = SendFlow::new(Pacing::RealTime { lead_us: 100_000 }, 0, F, 100, 1);
        let out = releases(&mut flow, 60_000_000);
        // the first 100 ms are released at once, then one frame per 20 ms
        assert_eq!(out.iter().filter(|(_, t)| *t == 0).count(), 6);
        for (seq, t) in &out {
            let deadline = (seq * F as u64).saturating_sub(100_000);
            assert!(*t >= deadline && *t < deadline + 1_000, "frame {seq} at {t}, due {deadline}");
        }
        // every frame due (deadline − lead) within the 60 s, and no more: no drift
        assert_eq!(out.len() as u64, (60_000_000 + 100_000) / F as u64);
    }

    #[test]
    fn burst_releases_until_the_window_then_waits_for_acks() {
        let mut flow = SendFlow::new(Pacing::Burst, 0, F, 10, 2);
        for seq in 0..10 {
            assert_eq!(flow.poll(0), Step::Take { seq });
            flow.on_sent(seq + 1);
        }
        assert_eq!(flow.poll(0), Step::WaitForAck);
        assert_eq!(flow.poll(5), Step::WaitForAck);
        flow.on_ack(3);
        for seq in 10..14 {
            assert_eq!(flow.poll(10), Step::Take { seq });
        }
        assert_eq!(flow.poll(10), Step::WaitForAck);
        assert_eq!(flow.stats(10).window_waits, 2);
        // frames 10..14 are taken (a batch being built) but not sent yet
        assert_eq!(flow.in_flight(), 6);
    }

    #[test]
    fn backpressure_stops_releases_and_is_timed() {
        let mut flow = SendFlow::new(Pacing::Burst, 0, F, 1000, 1);
        assert!(matches!(flow.poll(0), Step::Take { .. }));
        flow.on_backpressure(1_000);
        flow.on_backpressure(2_000); // a repeat does not open a second wait
        assert_eq!(flow.poll(3_000), Step::WaitForResume);
        assert_eq!(flow.stats(5_000).backpressure_wait_us, 4_000);
        flow.on_resume(301_000);
        assert!(matches!(flow.poll(301_000), Step::Take { .. }));
        let s = flow.stats(400_000);
        assert_eq!((s.backpressure_waits, s.backpressure_wait_us), (1, 300_000));
    }

    #[test]
    fn disconnect_writes_off_unacked_frames_and_sequence_continues() {
        let mut flow = SendFlow::new(Pacing::Burst, 0, F, 1000, 1);
        for seq in 0..5 {
            assert_eq!(flow.poll(0), Step::Take { seq });
            flow.on_sent(seq + 1);
        }
        flow.on_ack(2);
        flow.on_backpressure(10);
        flow.on_disconnect(50);
        assert_eq!(flow.stats(60).unconfirmed_frames, 2);
        assert_eq!(flow.acked_frames(), 3);
        assert!(flow.all_acked() && !flow.is_paused());
        assert_eq!(flow.poll(60), Step::Take { seq: 5 });
    }

    #[test]
    fn an_ack_beyond_what_was_sent_is_not_trusted() {
        let mut flow = SendFlow::new(Pacing::Burst, 0, F, 1000, 1);
        assert!(matches!(flow.poll(0), Step::Take { .. }));
        flow.on_sent(1);
        flow.on_ack(99);
        assert_eq!(flow.acked_frames(), 1);
    }
}
