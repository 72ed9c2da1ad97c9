//! Real-time pacing by absolute deadlines.
//!
//! A source that can produce audio faster than real time (a file, a TTS burst) must release
//! frame `n` at `origin + n × frame_duration`, computed by multiplication from a fixed origin.
//! Summing sleeps instead drifts by the oversleep of every wake-up (typically 50–1000 µs each,
//! i.e. seconds per hour); absolute deadlines keep the stream within one frame of the wall
//! clock for as long as it runs.

/// What the pacer wants the caller to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerPoll {
    /// Frame `seq` is due now: produce and publish it, then poll again.
    Due { seq: u64 },
    /// Nothing is due before `until_us`; sleep until then.
    Wait { until_us: u64 },
}

/// Deadline scheduler for a stream of fixed-duration frames.
///
/// Time is an argument (µs on any monotonic clock). If the caller falls more than
/// `max_late_us` behind (process stopped, machine suspended), the pacer re-anchors at the
/// current time instead of bursting out the backlog; every re-anchor is counted.
#[derive(Debug, Clone)]
pub struct Pacer {
    origin_us: u64,
    frame_us: u64,
    next_seq: u64,
    /// Frames already released before the current origin (after re-anchoring).
    seq_base: u64,
    max_late_us: u64,
    reanchors: u64,
    skipped_deadlines: u64,
}

impl Pacer {
    /// A pacer whose frame 0 is due at `origin_us`.
    pub fn new(origin_us: u64, frame_us: u32) -> Self {
        Pacer {
            origin_us,
            frame_us: frame_us as u64,
            next_seq: 0,
            seq_base: 0,
            max_late_us: 1_000_000,
            reanchors: 0,
            skipped_deadlines: 0,
        }
    }

    /// How far behind the caller may fall before the pacer re-anchors instead of catching up.
    pub fn with_max_late(mut self, max_late_us: u64) -> Self {
        self.max_late_us = max_late_us;
        self
    }

    /// Deadline of frame `seq` (which must be at or after the last re-anchor).
    pub fn deadline_of(&self, seq: u64) -> u64 {
        self.origin_us + (seq - self.seq_base) * self.frame_us
    }

    /// The next sequence number the pacer will release.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Times the pacer gave up catching up and re-anchored to the present.
    pub fn reanchors(&self) -> u64 {
        self.reanchors
    }

    /// Deadlines that were abandoned by re-anchoring (released late rather than lost: the
    /// frames are still produced, just not at their original time).
    pub fn skipped_deadlines(&self) -> u64 {
        self.skipped_deadlines
    }

    /// Decides, at time `now_us`, whether the next frame is due.
    pub fn poll(&mut self, now_us: u64) -> PacerPoll {
        let deadline = self.deadline_of(self.next_seq);
        if now_us < deadline {
            return PacerPoll::Wait { until_us: deadline };
        }
        if now_us - deadline > self.max_late_us {
            let behind = (now_us - deadline) / self.frame_us;
            self.skipped_deadlines += behind;
            self.reanchors += 1;
            self.origin_us = now_us;
            self.seq_base = self.next_seq;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        PacerPoll::Due { seq }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Simulates a thread that sleeps until each deadline but always wakes up late by a
    /// random 0–2 ms (a realistic, pessimistic scheduler), for one hour of 20 ms frames.
    #[test]
    fn no_drift_over_an_hour_with_jittery_wakeups() {
        let frame_us = 20_000u32;
        let mut rng = StdRng::seed_from_u64(7);
        let start = 1_000_000u64;
        let mut pacer = Pacer::new(start, frame_us);
        let mut now = start;
        let mut released = 0u64;
        let hour = 3_600_000_000u64;
        while now < start + hour {
            match pacer.poll(now) {
                PacerPoll::Due { seq } => {
                    assert_eq!(seq, released);
                    released += 1;
                    // producing the frame takes a little time too
                    now += rng.random_range(0..300);
                }
                PacerPoll::Wait { until_us } => {
                    assert!(until_us > now);
                    now = until_us + rng.random_range(0..2_000);
                }
            }
        }
        let elapsed = now - start;
        let stream_time = released * frame_us as u64;
        let drift = stream_time as i64 - elapsed as i64;
        assert!(drift.unsigned_abs() <= frame_us as u64, "drift {drift} µs after an hour");
        assert_eq!(pacer.reanchors(), 0);
    }

    /// The naive approach (sleep a frame duration after each frame) drifts by seconds; this
    /// is what the pacer exists to prevent, and shows the test above can fail.
    #[test]
    fn summed_sleeps_would_drift() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut now = 0u64;
        let frames = 180_000u64; // one hour of 20 ms
        for _ in 0..frames {
            now += 20_000 + rng.random_range(0..2_000);
        }
        assert!(now - frames * 20_000 > 60_000_000);
    }

    #[test]
    fn catches_up_small_delays_by_bursting() {
        let mut p = Pacer::new(0, 20_000);
        assert_eq!(p.poll(0), PacerPoll::Due { seq: 0 });
        // stalled 100 ms: frames 1..=5 are due at once, then it waits for frame 6
        for seq in 1..=5 {
            assert_eq!(p.poll(100_000), PacerPoll::Due { seq });
        }
        assert_eq!(p.poll(100_000), PacerPoll::Wait { until_us: 120_000 });
    }

    #[test]
    fn reanchors_after_a_long_stall() {
        let mut p = Pacer::new(0, 20_000).with_max_late(500_000);
        assert_eq!(p.poll(0), PacerPoll::Due { seq: 0 });
        // suspended for 10 s
        assert_eq!(p.poll(10_000_000), PacerPoll::Due { seq: 1 });
        assert_eq!(p.reanchors(), 1);
        assert!(p.skipped_deadlines() >= 499);
        // next frame is one frame after the new origin, not a burst of 500 frames
        assert_eq!(p.poll(10_000_000), PacerPoll::Wait { until_us: 10_020_000 });
    }
}
