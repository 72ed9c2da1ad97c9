//! Per-listener counters: frames, gaps, stalls, bytes. Driven with explicit instants so the
//! rules are tested without clocks.

use std::time::{Duration, Instant};

use super::sse_scan::AudioMeta;

/// What one listener counted during the measured window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Audio events.
    pub events: u64,
    /// Source frames in those events (an event may carry several).
    pub frames: u64,
    /// Frames missing between consecutive events.
    pub gaps: u64,
    /// Events whose first frame number was below the expected one (duplicate, restart).
    pub out_of_order: u64,
    pub stalls: u64,
    pub bytes: u64,
    pub heartbeats: u64,
    pub status_events: u64,
    pub error_events: u64,
    /// `audio-frame` events whose metadata could not be read.
    pub unparsed: u64,
    /// HLS: parts received.
    pub parts: u64,
    /// HLS: parts that rolled out of the playlist (or answered 404) before the listener got them.
    pub parts_missed: u64,
}

/// Where a listener is relative to the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    Before,
    In,
    After,
}

#[derive(Debug)]
pub(crate) struct ListenerStats {
    pub counters: Counters,
    pub window: Window,
    next_frame: Option<u64>,
    last_audio_at: Option<Instant>,
    /// Audio duration carried by the last event: the next one is due that much later.
    last_audio_span: Duration,
    stall_threshold: Duration,
}

impl ListenerStats {
    pub fn new(stall_threshold: Duration) -> Self {
        Self {
            counters: Counters::default(),
            window: Window::Before,
            next_frame: None,
            last_audio_at: None,
            last_audio_span: Duration::ZERO,
            stall_threshold,
        }
    }

    /// Starts the measured window: what was counted before (warm-up) is discarded; the frame
    /// sequence and the time of the last event are kept, so a gap or stall spanning the start
    /// counts.
    pub fn begin_window(&mut self) {
        self.counters = Counters::default();
        self.window = Window::In;
    }

    /// Ends the measured window: counters are frozen from here on.
    pub fn end_window(&mut self) {
        self.window = Window::After;
    }

    /// Follows the run's window (`shared`) on each read; returns whether this read counts.
    pub fn follow_window(&mut self, shared: Window) -> bool {
        match (self.window, shared) {
            (Window::Before, Window::In) => self.begin_window(),
            (Window::Before | Window::In, Window::After) => self.end_window(),
            _ => {}
        }
        self.window == Window::In
    }

    /// Accounts one audio event received at `now`.
    ///
    /// Gap rule: the next event should start at `frame_number + frames`; a higher number means
    /// the difference is missing, a lower one is counted as out of order (and the sequence
    /// restarts from it). Stall rule: an event that arrives more than `stall_threshold` after
    /// the previous one was due (its arrival plus the audio it carried) ends a stall.
    pub fn on_audio(&mut self, meta: &AudioMeta, now: Instant) {
        if self.window == Window::After {
            return;
        }
        if let Some(expected) = self.next_frame {
            if meta.frame_number > expected {
                self.counters.gaps += meta.frame_number - expected;
            } else if meta.frame_number < expected {
                self.counters.out_of_order += 1;
            }
        }
        if self.overdue(now) {
            self.counters.stalls += 1;
        }
        self.next_frame = Some(meta.frame_number.saturating_add(u64::from(meta.frames)));
        self.last_audio_at = Some(now);
        self.last_audio_span = meta
            .duration_ms
            .and_then(|d| Duration::try_from_secs_f64(d * f64::from(meta.frames) / 1000.0).ok())
            .unwrap_or(Duration::ZERO);
        self.counters.events += 1;
        self.counters.frames += u64::from(meta.frames);
    }

    fn overdue(&self, now: Instant) -> bool {
        self.last_audio_at.is_some_and(|last| {
            now.saturating_duration_since(last) > self.stall_threshold.saturating_add(self.last_audio_span)
        })
    }

    /// Closes the books at the end of the window (`end`). A listener that saw nothing of the
    /// window counts nothing; an open connection without audio for longer than the stall
    /// threshold counts one (ongoing) stall. Returns whether the listener is alive: its
    /// connection is `open` and it received audio within `alive_window` before `end`.
    pub fn finish(&mut self, end: Instant, open: bool, alive_window: Duration) -> bool {
        if self.window == Window::Before {
            self.begin_window();
        }
        let ongoing_stall = self.last_audio_at.is_none() || self.overdue(end);
        if open && ongoing_stall {
            self.counters.stalls += 1;
        }
        self.window = Window::After;
        open && self.last_audio_at.is_some_and(|t| end.saturating_duration_since(t) <= alive_window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u64, frames: u32) -> AudioMeta {
        AudioMeta { frame_number: n, timestamp_ms: 0.0, frames, duration_ms: Some(20.0) }
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn counts_missing_frames_with_merged_events() {
        let t0 = Instant::now();
        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.begin_window();
        // 0 (1 frame), 1..=3 (3 frames merged), 4 (1), then 7: frames 5 and 6 missing.
        for (i, (n, f)) in [(0, 1), (1, 3), (4, 1), (7, 2), (9, 1)].into_iter().enumerate() {
            s.on_audio(&meta(n, f), ms(t0, 20 * i as u64));
        }
        assert_eq!(s.counters.gaps, 2);
        assert_eq!(s.counters.frames, 8);
        assert_eq!(s.counters.events, 5);
        assert_eq!(s.counters.out_of_order, 0);
        // A restart from a lower number is not a gap; counting resumes from it.
        s.on_audio(&meta(3, 1), ms(t0, 120));
        s.on_audio(&meta(5, 1), ms(t0, 140));
        assert_eq!((s.counters.gaps, s.counters.out_of_order), (3, 1));
    }

    #[test]
    fn warm_up_is_discarded_but_a_gap_across_the_start_counts() {
        let t0 = Instant::now();
        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.on_audio(&meta(0, 1), t0);
        s.on_audio(&meta(5, 1), ms(t0, 20));
        assert_eq!(s.counters.gaps, 4);
        s.begin_window();
        assert_eq!(s.counters, Counters::default());
        s.on_audio(&meta(7, 1), ms(t0, 40));
        assert_eq!((s.counters.gaps, s.counters.frames), (1, 1));
        s.end_window();
        s.on_audio(&meta(20, 1), ms(t0, 60));
        assert_eq!((s.counters.gaps, s.counters.frames), (1, 1), "frozen after the window");
    }

    #[test]
    fn stalls_account_for_the_audio_an_event_carries() {
        let t0 = Instant::now();
        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.begin_window();
        s.on_audio(&meta(0, 1), t0);
        s.on_audio(&meta(1, 1), ms(t0, 519)); // 519 ms after: within 500 + 20
        assert_eq!(s.counters.stalls, 0);
        s.on_audio(&meta(2, 50), ms(t0, 1100)); // 581 ms: a stall
        assert_eq!(s.counters.stalls, 1);
        s.on_audio(&meta(52, 1), ms(t0, 2500)); // 1400 ms after an event of 1 s of audio: fine
        assert_eq!(s.counters.stalls, 1);
    }

    #[test]
    fn finish_decides_alive_and_counts_an_ongoing_stall() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);

        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.begin_window();
        s.on_audio(&meta(0, 1), t0);
        assert!(s.finish(ms(t0, 300), true, second));
        assert_eq!(s.counters.stalls, 0);

        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.begin_window();
        s.on_audio(&meta(0, 1), t0);
        assert!(!s.finish(ms(t0, 1500), true, second), "silent for 1.5 s");
        assert_eq!(s.counters.stalls, 1);

        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.begin_window();
        s.on_audio(&meta(0, 1), t0);
        assert!(!s.finish(ms(t0, 10), false, second), "closed connection");
        assert_eq!(s.counters.stalls, 0);

        // Nothing received in the window: warm-up counts are dropped, one stall.
        let mut s = ListenerStats::new(Duration::from_millis(500));
        s.on_audio(&meta(0, 1), t0);
        assert!(!s.finish(ms(t0, 5000), true, second));
        assert_eq!(s.counters, Counters { stalls: 1, ..Counters::default() });
    }
}
