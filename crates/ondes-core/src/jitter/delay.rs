//! The target-delay estimator: how much buffering the recent arrival jitter calls for.
//!
//! Each frame's *transit* is `arrival − capture`. The two clocks may belong to different
//! machines, so a transit alone means nothing; what matters is how much later than the
//! fastest recent frame a frame arrives. That *relative delay* (transit minus the smallest
//! transit in the window) is what a buffer must absorb: a frame with relative delay `d` is
//! on time if the playout runs at least `d` behind the fastest path. The offset between the
//! clocks cancels out, and so does a constant network delay.
//!
//! The target is the `quantile` (NetEQ uses 0.97) of the relative delays seen in the last
//! `window` plus one frame — the frame is the margin that lets the playout see the *next*
//! packet when one is lost (for FEC) and absorbs the phase between the playout ticks and the
//! arrivals. It rises at once when the quantile does and decays with a half-life when the
//! jitter calms down, so a burst that comes back every few seconds does not make the buffer
//! oscillate.
//!
//! The decaying target is held in transit terms (`base + relative target`), not relative to
//! the base: when a burst ends, the fastest frames of the burst leave the window and the base
//! rises. A target held relative to the old base would then ask the buffer to *grow* after
//! the burst; held in transit terms it asks for the same playout offset as before, which
//! then decays.
//!
//! The exception is a *faster path*: the fastest transit falls back to the fastest of the
//! last half minute after a slower stretch (a capacity drop's queue drained, the link
//! recovered). Held in transit terms the target would keep the slower path's delay for tens
//! of seconds; instead the slower path's frames leave the estimate and the target drains
//! to the link's need within a few seconds ([`DelayEstimator::path_faster`]).

use std::collections::VecDeque;

use super::peaks::Peaks;

/// Half-life of the target while it drains what the slower path left, µs: the delay
/// follows within a few seconds, as NetEQ's accelerate brings it down.
const DRAIN_HALF_LIFE_US: f64 = 1_000_000.0;

/// A fall of the fastest transit this large within a window (and more than half the
/// jitter before it) is a faster path, not a lucky frame, µs: see
/// [`DelayEstimator::path_faster`].
const PATH_FALL_US: i64 = 50_000;

/// A path slower than the fastest for this long is a path, and a fall back from it no
/// early frame, whatever its jitter, µs: see [`DelayEstimator::path_faster`].
const SLOW_PATH_US: i64 = 5_000_000;
/// How much slower than the fastest such a path is, and how much the fastest transit must
/// fall from it, µs.
const SLOW_PATH_FALL_US: i64 = 30_000;

/// How far back the calm level before an episode is looked for, µs.
const CALM_MEMORY_US: i64 = 30_000_000;

#[derive(Debug, Clone)]
pub(super) struct DelayEstimator {
    frame_us: i64,
    min_us: i64,
    max_us: i64,
    quantile: f64,
    window_us: i64,
    half_life_us: f64,
    /// `(arrival, transit)` of the frames that arrived within the window, oldest first.
    samples: VecDeque<(i64, i64)>,
    scratch: Vec<i64>,
    /// Smallest transit in the window; kept when the window empties (a pause) so that the
    /// delay of the playout can still be expressed.
    base_us: Option<i64>,
    /// The quantile of the relative delays in the window.
    jitter_us: i64,
    /// Target in transit terms: the transit a frame may have and still be on time.
    target_transit_us: Option<f64>,
    updated_at: Option<i64>,
    peaks: Peaks,
    /// The recurring peaks' floor of the target (relative), while they recur.
    peak_floor_us: Option<i64>,
    /// The target once a second over [`CALM_MEMORY_US`] (relative, µs): its least is the
    /// calm level a drain goes back to.
    calm_samples: VecDeque<CalmSample>,
    /// Since when the target drains what a slower path left (see [`Self::path_faster`]).
    draining_since_us: Option<i64>,
    /// The calm level the current drain stops at (relative, µs).
    drain_floor_us: i64,
    /// The target restarts at the next quantile (a faster path: see [`Self::path_faster`]).
    restart_target: bool,
    /// The fall of the fastest transit under way (see [`Self::path_faster`]).
    fall: Option<Fall>,
}

/// One second's target and fastest transit (both µs; the target relative to the transit).
#[derive(Debug, Clone, Copy)]
struct CalmSample {
    at_us: i64,
    target_us: i64,
    base_us: i64,
}

/// A fall of the fastest transit: since when, from what, and the jitter before it, µs.
#[derive(Debug, Clone, Copy)]
struct Fall {
    since_us: i64,
    from_us: i64,
    jitter_us: i64,
    /// The fall has been taken for a faster path.
    faster: bool,
}

impl DelayEstimator {
    pub(super) fn new(
        frame_us: i64,
        (min_us, max_us): (i64, i64),
        quantile: f64,
        window_us: i64,
        half_life_us: i64,
    ) -> Self {
        DelayEstimator {
            frame_us,
            min_us,
            max_us,
            quantile,
            window_us,
            half_life_us: half_life_us.max(1) as f64,
            samples: VecDeque::new(),
            scratch: Vec::new(),
            base_us: None,
            jitter_us: 0,
            target_transit_us: None,
            updated_at: None,
            peaks: Peaks::default(),
            peak_floor_us: None,
            fall: None,
            draining_since_us: None,
            drain_floor_us: 0,
            restart_target: false,
            calm_samples: VecDeque::new(),
        }
    }

    /// A frame arrived at `arrival_us` with `transit_us = arrival − capture`.
    pub(super) fn observe(&mut self, transit_us: i64, arrival_us: i64) {
        self.samples.push_back((arrival_us, transit_us));
        self.prune(arrival_us);
        self.recompute();
        if let Some(base) = self.base_us
            && transit_us - base > self.jitter_us + self.frame_us
        {
            self.peaks.record(arrival_us, transit_us - base);
        }
        self.advance(arrival_us);
    }

    /// Moves the estimator's clock to `now_us`: drops samples older than the window and lets
    /// the target decay.
    pub(super) fn advance(&mut self, now_us: i64) {
        if self.prune(now_us) {
            self.recompute();
        }
        let Some(base) = self.base_us else { return };
        let base = base as f64;
        let (lo, hi) = (base + self.min_us as f64, base + self.max_us as f64);
        let wanted = base + (self.jitter_us + self.frame_us) as f64;
        let mut target = self.target_transit_us.unwrap_or(wanted);
        let calm = base + self.drain_floor_us as f64;
        if self
            .draining_since_us
            .is_some_and(|since| now_us - since > self.window_us && target <= wanted.max(calm))
        {
            self.draining_since_us = None;
        }
        if let Some(at) = self.updated_at
            && now_us > at
        {
            let draining = self.draining_since_us.is_some();
            let half_life = if draining { DRAIN_HALF_LIFE_US } else { self.half_life_us };
            let keep = 0.5f64.powf((now_us - at) as f64 / half_life);
            let before = target;
            // towards the floor (a target under it, while draining, stays where it is)
            let toward = lo.min(target);
            target = toward + (target - toward) * keep;
            if draining {
                // back to the calm level of before the slower path, no further this fast
                target = target.max(calm.min(before));
            }
        }
        if self.calm_samples.back().is_none_or(|c| now_us >= c.at_us + 1_000_000) {
            let rel = self
                .target_transit_us
                .map_or(self.min_us, |t| (t - base) as i64)
                .max(self.peak_floor_us.unwrap_or(0));
            self.calm_samples.push_back(CalmSample { at_us: now_us, target_us: rel, base_us: base as i64 });
            while self.calm_samples.front().is_some_and(|c| c.at_us < now_us - CALM_MEMORY_US) {
                self.calm_samples.pop_front();
            }
        }
        self.updated_at = Some(self.updated_at.map_or(now_us, |at| at.max(now_us)));
        // the floor holds the decaying target up, except while it drains what a slower
        // path left: the floor the server counted in that path's round trips falls too
        let floor = if self.draining_since_us.is_some() { f64::MIN } else { lo };
        self.target_transit_us = Some(target.max(wanted).max(floor).min(hi));
        // recurring peaks hold the target up while they recur, and no longer: the floor
        // is not folded into the decaying target, so when the pattern stops (the link
        // changed) the target falls back at once to what the link's jitter asks for
        self.peak_floor_us =
            self.peaks.floor(now_us).map(|peak| (peak + self.frame_us).clamp(self.min_us, self.max_us));
    }

    /// A frame with `transit_us` arrived after its play time: the target was too small for
    /// it. Raise the target at once to cover it (plus the frame of margin); it then decays as
    /// usual. The quantile alone would tolerate such a frame as one of the 3% of outliers — but
    /// it already cost an underrun or a concealment, and spikes tend to come back (a source
    /// thread that stalls, a Wi-Fi scan), so one is reason enough to grow.
    pub(super) fn cover(&mut self, transit_us: i64, arrival_us: i64) {
        let Some(base) = self.base_us else { return };
        self.peaks.record(arrival_us, transit_us - base);
        let base = base as f64;
        let wanted = (transit_us + self.frame_us) as f64;
        let target = self.target_transit_us.unwrap_or(wanted).max(wanted);
        self.target_transit_us = Some(target.min(base + self.max_us as f64));
    }

    /// Target delay in µs, relative to the fastest recent frame.
    pub(super) fn target_us(&self) -> i64 {
        match (self.target_transit_us, self.base_us) {
            (Some(t), Some(base)) => ((t - base as f64).round() as i64)
                .max(self.peak_floor_us.unwrap_or(0))
                .clamp(self.min_us, self.max_us.max(self.min_us)),
            // before the first frame: one frame of margin, within the bounds
            _ => self.frame_us.clamp(self.min_us, self.max_us),
        }
    }

    /// Frames that arrived at or after `since_us` (within the window).
    pub(super) fn arrivals_since(&self, since_us: i64) -> usize {
        self.samples.iter().rev().take_while(|&&(arrival, _)| arrival >= since_us).count()
    }

    /// Smallest transit in the window (or the last one known).
    pub(super) fn base_us(&self) -> Option<i64> {
        self.base_us
    }

    /// The quantile of recent relative delays, without the frame of margin.
    pub(super) fn jitter_us(&self) -> i64 {
        self.jitter_us
    }

    /// New bounds of the target; it is clamped into them at the next [`Self::advance`].
    pub(super) fn set_bounds(&mut self, min_us: i64, max_us: i64) {
        self.min_us = min_us;
        self.max_us = max_us;
    }

    /// Forgets the spikes of a congestion episode that began at `since_us` and is over: the
    /// peaks it recorded and the target they raised. The next [`Self::advance`] sets the
    /// target from the window's quantile and the peaks from before the episode — the jitter
    /// of the link as it is now, not the queue it drained.
    pub(super) fn forget_spikes(&mut self, since_us: i64) {
        self.peaks.forget_since(since_us);
        self.target_transit_us = None;
        self.peak_floor_us = None;
    }

    /// Forgets everything (the stream restarted, perhaps on another clock).
    pub(super) fn reset(&mut self) {
        self.samples.clear();
        self.base_us = None;
        self.jitter_us = 0;
        self.target_transit_us = None;
        self.peaks.clear();
        self.peak_floor_us = None;
        self.fall = None;
        self.draining_since_us = None;
    }

    /// Drops samples that arrived more than a window before `now_us`; true if any went.
    fn prune(&mut self, now_us: i64) -> bool {
        let before = self.samples.len();
        while let Some(&(arrival, _)) = self.samples.front()
            && arrival < now_us - self.window_us
        {
            self.samples.pop_front();
        }
        self.samples.len() != before
    }

    /// A frame faster than any in the window: the fastest transit fell from `old_us` to
    /// `base_us` (a queue drained, the link recovered, or only a lucky frame). A fall of
    /// [`PATH_FALL_US`] or more within a window, and more than half the jitter before it,
    /// from a path slower than the fastest of the last [`CALM_MEMORY_US`] back to that one,
    /// is a faster path. Then the target is no longer held in transit terms (it would keep
    /// the slower path's delay): the slower path's frames leave the estimate, its spikes are
    /// forgotten, the target restarts from what is left (no lower than the calm level) and
    /// falls with [`DRAIN_HALF_LIFE_US`] for a window; further falls in the same episode
    /// move it down with the base. Any other fall keeps the target in transit terms.
    fn path_faster(&mut self, old_us: i64, base_us: i64) {
        let now = self.samples.back().map_or(0, |s| s.0);
        let mut fall = match self.fall {
            Some(f) if now - f.since_us <= self.window_us => f,
            _ => Fall { since_us: now, from_us: old_us, jitter_us: self.jitter_us, faster: false },
        };
        let fastest = self.calm_samples.iter().map(|c| c.base_us).min().unwrap_or(base_us);
        let fell_us = fall.from_us - base_us;
        let back_to_fastest = base_us <= fastest + PATH_FALL_US / 2;
        // from a path slower than the fastest of the last half minute back to that one: by a
        // fall as large as half the jitter before it (no early frame), or by a smaller one
        // after a path that stayed slower for seconds (whose own losses may make its jitter
        // larger)
        let sudden =
            fall.from_us >= fastest + PATH_FALL_US && fell_us >= PATH_FALL_US.max(fall.jitter_us / 2);
        let after_slow =
            fell_us >= SLOW_PATH_FALL_US && self.slower_for(fastest + SLOW_PATH_FALL_US, now) >= SLOW_PATH_US;
        if !fall.faster && back_to_fastest && (sudden || after_slow) {
            fall.faster = true;
            self.draining_since_us = Some(now);
            self.drain_floor_us = self.calm_samples.iter().map(|c| c.target_us).min().unwrap_or(0);
            self.peaks.clear();
            self.peak_floor_us = None;
            self.forget_slower_path(base_us);
            self.restart_target = true;
        } else if fall.faster {
            self.shift_target(old_us - base_us);
            self.forget_slower_path(base_us);
        }
        self.fall = Some(fall);
    }

    /// How long the fastest transit has stayed at or above `slow_us`, by the samples of once
    /// a second, µs.
    fn slower_for(&self, slow_us: i64, now_us: i64) -> i64 {
        let slower = self.calm_samples.iter().rev().take_while(|c| c.base_us >= slow_us);
        slower.last().map_or(0, |c| now_us - c.at_us)
    }

    /// Drops the frames of the slower path from the window: those later than the calm level
    /// above the new fastest transit `base_us` — the slower path's own, and its queue's that
    /// came with the fall. Kept, they would hold the target at the queue's delay for a
    /// window.
    fn forget_slower_path(&mut self, base_us: i64) {
        let latest = base_us + self.drain_floor_us.max(self.frame_us);
        self.samples.retain(|&(_, transit)| transit <= latest);
    }

    /// Moves the target in transit terms down by `by_us` (it keeps its height above a base
    /// that fell by as much).
    fn shift_target(&mut self, by_us: i64) {
        if let Some(target) = self.target_transit_us {
            self.target_transit_us = Some(target - by_us as f64);
        }
    }

    fn recompute(&mut self) {
        let Some(base) = self.samples.iter().map(|&(_, t)| t).min() else {
            self.jitter_us = 0;
            return;
        };
        if let Some(old) = self.base_us
            && base < old
        {
            self.path_faster(old, base);
        }
        self.base_us = Some(base);
        self.scratch.clear();
        self.scratch.extend(self.samples.iter().map(|&(_, t)| t - base));
        // nearest-rank quantile: the smallest value with at least `quantile` of the samples
        // at or below it
        let n = self.scratch.len();
        let rank = ((self.quantile * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (_, q, _) = self.scratch.select_nth_unstable(rank);
        self.jitter_us = *q;
        if std::mem::take(&mut self.restart_target) {
            let rel = (self.jitter_us + self.frame_us).max(self.drain_floor_us);
            self.target_transit_us = Some((base + rel) as f64);
        }
    }
}
