//! The device clock of a capture source: timestamps from the device's sample count.
//!
//! A sound card runs on its own crystal. Its 48,000 Hz is really 47,995 or 48,004 Hz (tens to
//! a hundred ppm off), so a stream timed by a wall-clock pacer would either starve or pile up
//! the device's samples (an hour at 100 ppm is 360 ms). ondes therefore lets the device set
//! the pace: a frame is ready when the device has delivered its samples, and its capture
//! timestamp is computed from the device's sample count, not read from the wall clock when
//! the samples happen to arrive.
//!
//! **The decision: the samples are never touched; the timestamps are steered.** Resampling
//! to the system clock would alter the measured signal (an acquisition system wants the
//! card's own samples) and costs CPU for a correction of a few samples per minute. Instead
//! the timestamp of sample `n` is a continuous, piecewise-linear function of `n` whose slope
//! is the nominal sample period corrected by
//!
//! * the measured **drift** (ppm) of the device against the system clock: the slope of a
//!   least-squares line through the lower envelope of (wall time − nominal device time),
//!   sampled once per second (the lower envelope, because a callback can be delayed by the
//!   scheduler but never early), over the last two minutes; and
//! * a **phase correction** that slews the remaining offset away over ~5 s, bounded to ±1 %
//!   (10 ms per second), so timestamps never jump: consecutive frames' timestamps differ from
//!   the nominal frame duration by at most 1 % while a large offset is being taken up, and by
//!   a few µs once it has been.
//!
//! The drift is used once ten windows are in, and bounded to ±500 ppm: real crystals are
//! within ±100 ppm, and what looks like more is a driver settling its latency (PulseAudio
//! drains its start-up buffer faster than real time for a few seconds), not a clock.
//!
//! The anchor is the first callback's time; if that one was late, the phase correction takes
//! the difference up like any other offset (a device that starts by draining a backlog in a
//! burst, as PulseAudio's does, would make a one-off jump to the first second's envelope
//! land far from where the callbacks settle).
//!
//! Listeners therefore see frames `duration_ms` of audio apart whose timestamps stay within a
//! millisecond or so of the wall clock, however long the stream runs (the simulated-time test
//! runs an hour at ±100 ppm and checks one frame as the bound).
//!
//! **Lost samples are never hidden.** When the callbacks' wall time runs further ahead of the
//! model than the device buffer can hold, for several periods in a row (an overrun: the reader
//! stalled, the device dropped data; one late callback is only the scheduler), the samples
//! that were lost are counted and returned as a gap, which the caller fills
//! with silence and reports, so that the timeline stays true: the samples after the gap carry
//! the timestamps they were captured at. Samples dropped on purpose by the caller (a full
//! ring) are reported with [`DeviceClock::handle_dropped`] and handled the same way.
//!
//! Time is an argument (wall-clock µs since the Unix epoch in production, anything monotonic
//! in tests).

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

/// How a [`DeviceClock`] is tuned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceClockConfig {
    /// The rate the device was opened at.
    pub nominal_rate: u32,
    /// The device's buffer, in samples per channel: a callback later than this behind the
    /// model means samples were lost.
    pub buffer_frames: u64,
    /// Wall time over which one point of the lower envelope is taken.
    pub window_us: u64,
    /// Points of the envelope kept for the drift regression (at one per window).
    pub history_windows: usize,
    /// Time constant of the phase correction.
    pub phase_time_constant_us: u64,
    /// Bound of the phase correction, as a fraction of the nominal rate.
    pub max_correction: f64,
    /// How long (wall time) every callback must stay later than the buffer allows before
    /// samples are declared lost. A reader that was only late drains its backlog in a burst of
    /// back-to-back callbacks, each less late than the one before, within far less than this.
    pub confirm_us: u64,
}

impl DeviceClockConfig {
    /// Defaults for a device opened at `rate` with a buffer of `buffer_frames`.
    pub fn new(nominal_rate: u32, buffer_frames: u64) -> Self {
        DeviceClockConfig {
            nominal_rate,
            buffer_frames,
            window_us: 1_000_000,
            history_windows: 120,
            phase_time_constant_us: 5_000_000,
            max_correction: 1e-2,
            confirm_us: 60_000,
        }
    }
}

/// What the caller must do with the period it just reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodTiming {
    /// Samples (per channel) lost before this period: insert this much silence first.
    pub gap_before: u64,
    /// Index of the period's first sample on the device timeline (gaps included).
    pub first_sample: u64,
}

/// Counters of a [`DeviceClock`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DeviceClockStats {
    /// Samples (per channel) delivered by the device.
    pub delivered_samples: u64,
    /// Samples (per channel) lost to overruns and filled with silence.
    pub gap_samples: u64,
    /// Gaps (each a run of lost samples).
    pub gaps: u64,
    /// Overruns the device reported itself (an xrun; may or may not have lost samples).
    pub xruns: u64,
    /// Times the model was re-anchored (device restarted, or ran far ahead of the wall clock).
    pub reanchors: u64,
    /// Measured drift of the device clock against the system clock, in ppm (positive: the
    /// device is fast, i.e. it delivers more samples per wall-clock second than nominal).
    pub drift_ppm: f64,
    /// The lower envelope of the latest window: callback wall time minus the model's
    /// timestamp of the period's end, µs (the device buffering plus the best-case wake-up).
    pub offset_us: f64,
}

/// The timestamp model of one capture device; see the module documentation.
#[derive(Debug, Clone)]
pub struct DeviceClock {
    cfg: DeviceClockConfig,
    nominal_us: f64,
    /// Index of the next sample (per channel) on the device timeline, gaps included.
    next_sample: u64,
    /// The model: timestamp(n) = base_ts + (n − base_n) × slope_us.
    anchored: bool,
    base_n: u64,
    base_ts: f64,
    slope_us: f64,
    /// Wall time at the start of the current envelope window, and its minimum so far.
    window_start: i64,
    window_min: f64,
    window_min_raw: Option<(f64, f64)>,
    /// (device seconds, wall − nominal device time in µs): lower envelope points.
    history: VecDeque<(f64, f64)>,
    /// Wall time minus nominal device time at the anchor, to keep regression numbers small.
    raw_origin: f64,
    drift: f64,
    /// Since when (wall µs) callbacks have been later than the buffer allows, and the least
    /// late of them.
    suspect: Option<(i64, f64)>,
    stats: DeviceClockStats,
}

impl DeviceClock {
    pub fn new(cfg: DeviceClockConfig) -> Self {
        let nominal_us = 1e6 / cfg.nominal_rate as f64;
        DeviceClock {
            cfg,
            nominal_us,
            next_sample: 0,
            anchored: false,
            base_n: 0,
            base_ts: 0.0,
            slope_us: nominal_us,
            window_start: 0,
            window_min: f64::INFINITY,
            window_min_raw: None,
            history: VecDeque::new(),
            raw_origin: 0.0,
            drift: 0.0,
            suspect: None,
            stats: DeviceClockStats::default(),
        }
    }

    pub fn config(&self) -> &DeviceClockConfig {
        &self.cfg
    }

    /// The device delivered `frames` samples per channel in a callback at wall time `now_us`
    /// (the moment the period became available). Returns where they go on the timeline and
    /// how many lost samples come before them.
    pub fn handle_period(&mut self, frames: u64, now_us: i64) -> PeriodTiming {
        self.stats.delivered_samples += frames;
        if !self.anchored {
            self.anchor(frames, now_us);
            let first = self.next_sample;
            self.next_sample += frames;
            return PeriodTiming { gap_before: 0, first_sample: first };
        }
        let end = self.next_sample + frames;
        let lag = now_us as f64 - self.timestamp_f(end);
        let offset = self.stats.offset_us.max(0.0);
        let slack_us = (self.cfg.buffer_frames + frames) as f64 * self.nominal_us;
        let mut gap = 0;
        if lag > slack_us + offset {
            // later than the device could have held these samples. One late callback may
            // only be the scheduler (the backlog then drains in a burst); samples were lost
            // only if every callback of the confirmation run stays that late
            let (since, min) = self.suspect.unwrap_or((now_us, f64::INFINITY));
            let min = min.min(lag);
            if (now_us - since) as u64 >= self.cfg.confirm_us {
                self.suspect = None;
                gap = ((min - offset) / self.slope_us).round() as u64;
                if gap > 0 {
                    self.stats.gaps += 1;
                    self.stats.gap_samples += gap;
                }
            } else {
                self.suspect = Some((since, min));
                let first = self.next_sample;
                self.next_sample = end;
                return PeriodTiming { gap_before: 0, first_sample: first };
            }
        } else {
            self.suspect = None;
            if lag < -slack_us {
                // the device ran ahead of the wall clock by more than a buffer: the system
                // clock stepped, or the device restarted without telling; start the model again
                self.stats.reanchors += 1;
                self.anchor_at(self.next_sample, frames, now_us);
            }
        }
        let first = self.next_sample + gap;
        self.next_sample = first + frames;
        self.observe(now_us);
        PeriodTiming { gap_before: gap, first_sample: first }
    }

    /// The caller dropped `frames` samples per channel the device delivered (its queue was
    /// full): they are a gap of known length before the next period.
    pub fn handle_dropped(&mut self, frames: u64) -> u64 {
        if frames == 0 {
            return 0;
        }
        self.stats.delivered_samples += frames;
        self.stats.gaps += 1;
        self.stats.gap_samples += frames;
        self.next_sample += frames;
        frames
    }

    /// The device reported an overrun (xrun). The lost samples, if any, show up as a gap in
    /// the next [`handle_period`](Self::handle_period).
    pub fn handle_xrun(&mut self) {
        self.stats.xruns += 1;
    }

    /// The device was reopened (after it was lost): the next period starts a new anchor at
    /// its wall time; the drift estimate is kept (same crystal), the envelope history is not.
    pub fn restart(&mut self) {
        if self.anchored {
            self.stats.reanchors += 1;
        }
        self.anchored = false;
        self.history.clear();
    }

    /// Skips `samples` of the timeline without counting them as lost (e.g. the caller filled
    /// a lost device's absence with its own silence and continues after it).
    pub fn skip_to(&mut self, sample: u64) {
        self.next_sample = self.next_sample.max(sample);
    }

    /// The wall-clock timestamp (µs) of sample `n` of the timeline.
    pub fn timestamp_of(&self, n: u64) -> i64 {
        self.timestamp_f(n).round() as i64
    }

    /// Index of the next sample on the timeline.
    pub fn next_sample(&self) -> u64 {
        self.next_sample
    }

    /// Measured drift of the device against the system clock in ppm: positive when the
    /// device delivers more samples per wall-clock second than its nominal rate (0 until
    /// three windows have been seen).
    pub fn drift_ppm(&self) -> f64 {
        (1.0 / (1.0 + self.drift) - 1.0) * 1e6
    }

    pub fn stats(&self) -> DeviceClockStats {
        DeviceClockStats { drift_ppm: self.drift_ppm(), ..self.stats }
    }

    fn timestamp_f(&self, n: u64) -> f64 {
        self.base_ts + (n as f64 - self.base_n as f64) * self.slope_us
    }

    /// Starts the model so that the period just delivered ends at `now_us`.
    fn anchor(&mut self, frames: u64, now_us: i64) {
        self.anchor_at(self.next_sample, frames, now_us);
    }

    fn anchor_at(&mut self, first: u64, frames: u64, now_us: i64) {
        self.anchored = true;
        self.slope_us = self.nominal_us * (1.0 + self.drift);
        self.base_n = first + frames;
        self.base_ts = now_us as f64;
        self.window_start = now_us;
        self.window_min = f64::INFINITY;
        self.window_min_raw = None;
        self.history.clear();
        self.raw_origin = now_us as f64 - (first + frames) as f64 * self.nominal_us;
        self.stats.offset_us = 0.0;
        self.suspect = None;
    }

    /// Feeds the lower envelope with the period that ended at `self.next_sample`; once a
    /// window is complete, updates the drift and the slope.
    fn observe(&mut self, now_us: i64) {
        let end = self.next_sample;
        let lag = now_us as f64 - self.timestamp_f(end);
        let raw = now_us as f64 - end as f64 * self.nominal_us - self.raw_origin;
        if lag < self.window_min {
            self.window_min = lag;
            self.window_min_raw = Some((end as f64 / self.cfg.nominal_rate as f64, raw));
        }
        if ((now_us - self.window_start) as u64) < self.cfg.window_us {
            return;
        }
        let phase = self.window_min;
        if let Some(point) = self.window_min_raw.take() {
            self.history.push_back(point);
            while self.history.len() > self.cfg.history_windows {
                self.history.pop_front();
            }
        }
        self.window_start = now_us;
        self.window_min = f64::INFINITY;
        self.stats.offset_us = phase;
        if self.history.len() >= MIN_DRIFT_WINDOWS
            && let Some(slope) = regression_slope(&self.history)
        {
            // µs of wall time per second of nominal device time, minus the nominal 1e6
            self.drift = (slope / 1e6).clamp(-MAX_DRIFT, MAX_DRIFT);
        }
        let correction = (phase / self.cfg.phase_time_constant_us as f64)
            .clamp(-self.cfg.max_correction, self.cfg.max_correction);
        // re-base at the current end so the timestamps stay continuous, then change the slope
        self.base_ts = self.timestamp_f(end);
        self.base_n = end;
        self.slope_us = self.nominal_us * (1.0 + self.drift + correction);
    }
}

/// Envelope points needed before the drift is estimated.
const MIN_DRIFT_WINDOWS: usize = 10;
/// The largest drift believed (500 ppm).
const MAX_DRIFT: f64 = 500e-6;

/// Least-squares slope of y over x (None below three points).
fn regression_slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}
