//! Recording decisions, with time given by the caller: when a recording starts its next
//! file ([`Rotation`]) and when it tries again after a failed write ([`WriteRetry`]).
//!
//! Files are cut at wall-clock multiples of the segment length (13:00:00, 13:10:00 …), so
//! the files of two servers, or of two days, line up and a file's name says what it holds.
//! A failed write (a full disk, a removed directory) must not disturb listeners and must
//! not spin: the recorder drops frames, counts them, and tries a new file after a delay
//! that doubles up to a ceiling; one success resets it.

/// When a recording starts its next file.
#[derive(Debug, Clone)]
pub struct Rotation {
    segment_us: i64,
    /// The wall-clock µs at which the current file ends (none before the first frame).
    current_end_us: Option<i64>,
}

impl Rotation {
    /// Files of `segment_secs` (at least 1) each.
    pub fn new(segment_secs: u64) -> Self {
        Rotation { segment_us: segment_secs.max(1) as i64 * 1_000_000, current_end_us: None }
    }

    /// The start of the slot holding `capture_us` (a multiple of the segment length).
    pub fn slot_start(&self, capture_us: i64) -> i64 {
        capture_us.div_euclid(self.segment_us) * self.segment_us
    }

    /// Whether the frame captured at `capture_us` starts a new file: the first frame, and
    /// the first frame of each later slot. A clock that steps back starts no new file.
    pub fn starts_file(&mut self, capture_us: i64) -> bool {
        match self.current_end_us {
            Some(end) if capture_us < end => false,
            _ => {
                self.current_end_us = Some(self.slot_start(capture_us) + self.segment_us);
                true
            }
        }
    }

    /// Forgets the current file: the next frame starts a new one (after a failed write).
    pub fn reset(&mut self) {
        self.current_end_us = None;
    }
}

/// When to try writing again after a failure.
#[derive(Debug, Clone)]
pub struct WriteRetry {
    first_delay_us: i64,
    max_delay_us: i64,
    delay_us: i64,
    /// Set while failing: the earliest time of the next attempt.
    retry_at_us: Option<i64>,
}

impl WriteRetry {
    /// A first retry after `first_delay_us`, doubling up to `max_delay_us`.
    pub fn new(first_delay_us: i64, max_delay_us: i64) -> Self {
        let first = first_delay_us.max(1);
        WriteRetry {
            first_delay_us: first,
            max_delay_us: max_delay_us.max(first),
            delay_us: first,
            retry_at_us: None,
        }
    }

    /// A write failed at `now_us`.
    pub fn failed(&mut self, now_us: i64) {
        self.retry_at_us = Some(now_us + self.delay_us);
        self.delay_us = (self.delay_us * 2).min(self.max_delay_us);
    }

    /// A write succeeded: the next failure waits the first delay again.
    pub fn succeeded(&mut self) {
        self.retry_at_us = None;
        self.delay_us = self.first_delay_us;
    }

    /// Whether writing may be tried at `now_us` (always, unless waiting after a failure).
    pub fn may_try(&self, now_us: i64) -> bool {
        self.retry_at_us.is_none_or(|at| now_us >= at)
    }

    /// Whether the last attempt failed (frames are being dropped).
    pub fn failing(&self) -> bool {
        self.retry_at_us.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn files_are_cut_at_wall_clock_multiples_of_the_segment() {
        let mut r = Rotation::new(10);
        let t0 = 1_700_000_003 * S; // 3 s into a 10 s slot
        assert!(r.starts_file(t0), "the first frame starts a file");
        let mut starts = vec![];
        // 25 s of 20 ms frames
        for i in 1..1250 {
            let t = t0 + i * 20_000;
            if r.starts_file(t) {
                starts.push(t);
            }
        }
        assert_eq!(starts, vec![1_700_000_010 * S, 1_700_000_020 * S]);
        assert_eq!(r.slot_start(t0), 1_700_000_000 * S);
    }

    #[test]
    fn a_clock_stepping_back_starts_no_file_and_a_reset_starts_one() {
        let mut r = Rotation::new(60);
        assert!(r.starts_file(100 * S));
        assert!(!r.starts_file(90 * S));
        assert!(!r.starts_file(119 * S));
        r.reset();
        assert!(r.starts_file(119 * S));
        assert!(r.starts_file(120 * S));
    }

    #[test]
    fn retries_back_off_and_a_success_resets_them() {
        let mut w = WriteRetry::new(S, 8 * S);
        assert!(w.may_try(0) && !w.failing());
        w.failed(0);
        assert!(w.failing());
        assert!(!w.may_try(S - 1));
        assert!(w.may_try(S));
        let mut t = S;
        let mut waits = vec![];
        for _ in 0..5 {
            w.failed(t);
            let mut next = t;
            while !w.may_try(next) {
                next += S / 10;
            }
            waits.push((next - t) / (S / 10));
            t = next;
        }
        // 2, 4, 8 s, then the 8 s ceiling (in tenths of a second)
        assert_eq!(waits, vec![20, 40, 80, 80, 80]);
        w.succeeded();
        assert!(!w.failing());
        w.failed(t);
        assert!(w.may_try(t + S), "back to the first delay");
    }
}
