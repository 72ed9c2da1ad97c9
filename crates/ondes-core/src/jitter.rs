//! Adaptive jitter buffer (sans-IO), after the delay manager of WebRTC's NetEQ.
//!
//! Frames arrive with a sequence number, a capture time (the sender's clock) and an arrival
//! time (the receiver's clock), in any order, some twice, some never. A playout clock calls
//! [`JitterBuffer::poll`] once per frame period and gets what to play: the next frame, a
//! frame to conceal, or nothing (underrun). All times are µs arguments; nothing here reads a
//! clock.
//!
//! # Time base
//!
//! Frames are placed on a *media clock*: `media(seq) = capture₀ + (seq − seq₀) × frame`,
//! anchored at the first frame (as NetEQ uses RTP timestamps, not wall-clock stamps). The
//! sender's capture stamps themselves are not used for timing: a server stamps a frame when
//! its source thread gets to it, so under load the stamps jitter too, and a frame stamped
//! 30 ms late is still due when its sequence number says. The *transit* of a frame is
//! `arrival − media(seq)`; it includes every irregularity between the sender's frame clock
//! and our arrival stamps (source scheduling, encoding, batching, network).
//!
//! The *delay* of the playout is how far behind the fastest recent frame it runs:
//! `now − media(next frame) − min transit`, the minimum taken over the estimator's window. A
//! frame whose relative delay (its transit minus that minimum) is below the playout delay is
//! in the buffer when its turn comes; one above it is late. The clock offset between sender
//! and receiver cancels out; a slow drift between them shows up as a drifting delay, which
//! the stretch and shrink below correct.
//!
//! The *target* delay is the 0.97 quantile of the relative delays of the last ~2 s plus one
//! frame, bounded by `[min_delay, max_delay]` (see `delay.rs`). Playback starts once the
//! delay of the first frame reaches the target. Then:
//!
//! * **grows fast**: the target follows a rising quantile at once, and a frame that arrives
//!   after its play time raises it at once to cover that frame; when the playout delay falls
//!   half a frame below the target the buffer holds the next frame back for one period
//!   ([`Playout::Stretch`]: the caller plays concealment), until the delay is back;
//! * **remembers recurring spikes**: two delay spikes above what the quantile covers within
//!   20 s (a source thread that stalls every few seconds) hold the target at the highest
//!   of them while they recur — until the last is older than twice their longest period,
//!   at most 20 s — and the target falls back at once when they stop (see `peaks.rs`,
//!   after NetEQ's peak detector);
//! * **shrinks**: the target decays with a half-life (8 s by default; 1 s for a window
//!   after a faster path — the fastest transit back to that of the last half minute after a
//!   slower stretch — when the slower path's frames also leave the estimate, see
//!   `delay.rs`); a delay more than a
//!   dead band (half a frame, or a tenth of the target) above it is drained by handing out
//!   frames to be played shortened ([`Playout::Accelerate`]: the caller cuts up to half a
//!   frame with the pitch kept, [`crate::stretch`]), as NetEQ's accelerate does — about
//!   2 s per second of excess; more than `jump_excess` (600 ms) above the target, or above
//!   `max_delay`, the excess is dropped at once (a flood after a stall). A caller that
//!   cannot shorten frames sets `accelerate_share` to 0: frames are then dropped, one at
//!   most every `frame / shrink_rate` (2% of the playout time);
//! * an **underrun** (nothing buffered when a frame is due) plays concealment and does not
//!   advance, so the delay grows by the stalled time; the frame that was waited for is
//!   counted late but still played. One underrun counts once however long it lasts;
//! * **rebuffers when starved**: while it waits, if the frames that trickle in amount to a
//!   share `r` < 0.9 of real time over the last 500 ms, the link has lost rate; resuming with
//!   each frame would stall again a few frames later, a dozen break-ups a second. The buffer
//!   instead waits until its delay is the target plus `rebuffer_window × (1 − r)` (2 s × the
//!   shortfall): one longer stall instead of many short ones (what video players do), while
//!   the sender's adaptation catches up. A late packet (a TCP retransmission) looks different
//!   — nothing, then everything at once — and resumes at once. An underrun that starts within
//!   `rebuffer_window` of the previous one's end waits at least twice the cluster's stalled
//!   time so far, at most `rebuffer_window`.
//!
//! # Counters
//!
//! `lost` counts frames absent at their play time (concealed, [`Playout::Missing`]); `late`
//! counts frames that arrived after their play time — dropped if their slot was already
//! concealed (so such a frame is both lost and late), played if the buffer was waiting for
//! it in an underrun. A gap longer than `max_delay` (the server skipped ahead) is jumped over
//! at once and counted as `skipped`, not lost; the media clock is re-anchored after it. A
//! frame more than 1024 frames behind the playout starts the buffer over (the sender
//! restarted its sequence numbers).

mod delay;
mod history;
mod peaks;
pub mod recovery;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use delay::DelayEstimator;
use history::TargetHistory;
pub use history::TargetSample;
use peaks::MEMORY_US as PEAK_MEMORY_US;

/// Over how long the arrival rate is measured when the buffer runs dry, µs.
const RATE_WINDOW_US: i64 = 500_000;

/// How long after an underrun or a stretch the delay is left alone before it shrinks, µs.
const RESIZE_HOLD_US: i64 = 500_000;

/// Over how long arrivals are counted to tell a congested link (see [`CONGESTED_SHARE`]), µs.
const CONGESTION_WINDOW_US: i64 = 1_000_000;

/// Below this share of real time received over [`CONGESTION_WINDOW_US`], the link is
/// congested: it carries well under the stream's rate (a capacity drop, before the sender's
/// adaptation catches up). Far below [`STARVING_SHARE`] so that bursty arrivals (large
/// batches) never look like it.
const CONGESTED_SHARE: f64 = 0.5;

/// Below this share of real time received, the link is short of throughput.
const STARVING_SHARE: f64 = 0.9;

/// How many past slots are remembered to tell a duplicate from a late frame. A frame older
/// than that is taken as the start of a new stream (a restarted server).
const OUTCOMES_KEPT: usize = 1024;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, PartialEq)]
pub struct JitterConfig {
    /// Duration of one frame, µs: the playout clock polls once per frame.
    pub frame_us: u64,
    /// Lower bound of the target delay, µs (margin for a loaded host, say).
    pub min_delay_us: u64,
    /// Upper bound of the target delay, µs; above it the buffer drops frames at once.
    pub max_delay_us: u64,
    /// Quantile of the relative delays the target covers (NetEQ: 0.97).
    pub quantile: f64,
    /// How far back arrivals count for the quantile and the minimum transit, µs.
    pub window_us: u64,
    /// Half-life of the target's decay towards `min_delay` once the jitter calms, µs.
    pub target_half_life_us: u64,
    /// Largest share of playout time removed by dropping frames to shrink the delay, when
    /// the caller cannot play frames shortened (`accelerate_share` = 0).
    pub shrink_rate: f64,
    /// Largest share of a frame the caller may cut out when it plays a frame shortened
    /// ([`Playout::Accelerate`]) to drain a delay above the target; 0 turns acceleration off
    /// (the buffer then drops whole frames, at most `shrink_rate` of the time).
    pub accelerate_share: f64,
    /// A delay this far above the target is cut at once (frames dropped down to the
    /// target) instead of drained by acceleration, µs: draining it would take too long.
    pub jump_excess_us: u64,
    /// Interval of the target history, µs (it doubles when the history is full).
    pub history_interval_us: u64,
    /// Points kept in the target history.
    pub history_len: usize,
    /// An underrun that starts within this long after the previous one ended is a *repeat*:
    /// the buffer then rebuffers before it resumes (see the module documentation), µs.
    pub rebuffer_window_us: u64,
}

impl JitterConfig {
    /// Defaults for frames of `frame_us`: target in [0, 1 s], quantile 0.97 over 2 s,
    /// half-life 8 s, shrink ≤ 2%, one history point per second, up to 512 points.
    pub fn for_frame(frame_us: u64) -> Self {
        JitterConfig {
            frame_us,
            min_delay_us: 0,
            max_delay_us: 1_000_000,
            quantile: 0.97,
            window_us: 2_000_000,
            target_half_life_us: 8_000_000,
            shrink_rate: 0.02,
            accelerate_share: 0.5,
            jump_excess_us: 600_000,
            history_interval_us: 1_000_000,
            history_len: 512,
            rebuffer_window_us: 2_000_000,
        }
    }

    fn validate(&self) -> Result<(), JitterConfigError> {
        if self.frame_us == 0 || self.frame_us > 1_000_000 {
            return Err(JitterConfigError::FrameUs(self.frame_us));
        }
        if self.min_delay_us > self.max_delay_us || self.max_delay_us > 60_000_000 {
            return Err(JitterConfigError::Bounds { min_us: self.min_delay_us, max_us: self.max_delay_us });
        }
        if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            return Err(JitterConfigError::Quantile(self.quantile));
        }
        if self.window_us < self.frame_us || self.window_us > 60_000_000 {
            return Err(JitterConfigError::Window(self.window_us));
        }
        if self.rebuffer_window_us > 60_000_000 {
            return Err(JitterConfigError::RebufferWindow(self.rebuffer_window_us));
        }
        if !(self.shrink_rate > 0.0 && self.shrink_rate < 1.0) {
            return Err(JitterConfigError::ShrinkRate(self.shrink_rate));
        }
        if !(0.0..=0.5).contains(&self.accelerate_share) {
            return Err(JitterConfigError::AccelerateShare(self.accelerate_share));
        }
        if self.jump_excess_us > 60_000_000 {
            return Err(JitterConfigError::JumpExcess(self.jump_excess_us));
        }
        Ok(())
    }
}

/// A [`JitterConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JitterConfigError {
    #[error("frame duration {0} µs must be between 1 µs and 1 s")]
    FrameUs(u64),
    #[error("jitter delay bounds [{min_us}, {max_us}] µs: min must not exceed max, max at most 60 s")]
    Bounds { min_us: u64, max_us: u64 },
    #[error("rebuffer window {0} µs must be at most 60 s")]
    RebufferWindow(u64),
    #[error("quantile {0} must be in (0, 1]")]
    Quantile(f64),
    #[error("jitter window {0} µs must be between one frame and 60 s")]
    Window(u64),
    #[error("shrink rate {0} must be in (0, 1)")]
    ShrinkRate(f64),
    #[error("accelerate share {0} must be in [0, 0.5]")]
    AccelerateShare(f64),
    #[error("jump excess {0} µs must be at most 60 s")]
    JumpExcess(u64),
}

/// What to play for one frame period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<T> {
    /// The next frame.
    Frame(T),
    /// The next frame, to be played shortened by up to `max_remove_us` with the pitch kept
    /// (time compression: [`crate::stretch::compress`]) because the delay is above the
    /// target. The caller polls again when what it played has played (the delay drains by
    /// what it cut) and reports the cut with [`JitterBuffer::record_accelerated`].
    Accelerate { payload: T, max_remove_us: u64 },
    /// Frame `seq` did not arrive in time: conceal it, or rebuild it from the FEC of the
    /// next packet ([`JitterBuffer::peek_next`]) and say so with
    /// [`JitterBuffer::record_fec_recovered`].
    Missing { seq: u64 },
    /// Nothing is buffered: conceal one frame; the timeline waits.
    Underrun,
    /// The next frame is here but the delay is below the target: conceal one frame (or play
    /// it stretched) so that the buffer grows; the timeline waits.
    Stretch,
    /// Playback has not started (waiting for the first frame or for the target delay):
    /// play nothing.
    Buffering,
}

impl<T> Playout<T> {
    /// The frame to play, whole or shortened.
    pub fn into_frame(self) -> Option<T> {
        match self {
            Playout::Frame(p) | Playout::Accelerate { payload: p, .. } => Some(p),
            _ => None,
        }
    }
}

/// What happened to an inserted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Kept for playout (possibly counted late, when the buffer was waiting for it).
    Buffered,
    /// Already received: dropped.
    Duplicate,
    /// Its play time has passed: dropped.
    Late,
}

/// Counters since the buffer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JitterStats {
    /// Distinct frames received (late ones included, duplicates not).
    pub received: u64,
    /// Frames played from their own packet.
    pub played: u64,
    /// Frames absent at their play time.
    pub lost: u64,
    /// Frames that arrived after their play time.
    pub late: u64,
    /// Copies of frames already received.
    pub duplicates: u64,
    /// Times the buffer ran dry while playing (one per episode).
    pub underruns: u64,
    /// Frame periods spent in underrun.
    pub underrun_frames: u64,
    /// Frame periods inserted to grow the delay to the target.
    pub stretched: u64,
    /// Frames dropped to shrink the delay.
    pub dropped: u64,
    /// Frames handed out to be played shortened, and the time the caller cut from them (µs).
    pub accelerated: u64,
    pub accelerated_us: u64,
    /// Frames jumped over in gaps longer than the maximum delay (the sender skipped ahead).
    pub skipped: u64,
    /// Lost frames rebuilt from the next packet's FEC (reported by the caller).
    pub fec_recovered: u64,
    /// Frame periods filled by concealment: lost (minus FEC-recovered), underrun, stretched.
    pub concealed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing received yet.
    Empty,
    /// Frames received; waiting until the delay reaches the target.
    Prebuffering,
    Playing,
}

/// The adaptive jitter buffer; see the module documentation.
#[derive(Debug, Clone)]
pub struct JitterBuffer<T> {
    cfg: JitterConfig,
    frame_us: i64,
    frames: BTreeMap<u64, T>,
    state: State,
    /// The next sequence number to play (while prebuffering: the lowest received).
    next_seq: u64,
    /// `(seq, capture)` the media clock is anchored at.
    anchor: Option<(u64, i64)>,
    /// The highest sequence number received.
    newest: Option<u64>,
    estimator: DelayEstimator,
    in_underrun: bool,
    /// When the current underrun began.
    stall_started_us: i64,
    /// When the last underrun ended, and the stalled time of the cluster of repeats it
    /// belonged to.
    last_stall_end_us: Option<i64>,
    cluster_stall_us: i64,
    /// Delay above the target this underrun waits for before resuming (0: resume with the
    /// next frame).
    resume_extra_us: i64,
    /// The sender said it skipped frames: the next gap is a jump, whatever its length.
    expect_jump: bool,
    /// First frame after a jump the sender announced; playout moves to it at once.
    jump_to: Option<u64>,
    /// When the delay last grew or shrank: shrinking waits `frame / shrink_rate` after
    /// either, so a frame waited for in an underrun is not dropped the moment it arrives.
    last_resize_us: Option<i64>,
    /// Outcome of the slots just before `next_seq` (true: the frame arrived), oldest first.
    outcomes: VecDeque<bool>,
    history: TargetHistory,
    target_range_us: Option<(i64, i64)>,
    /// `(start, last seen)` of a congestion episode (arrivals under [`CONGESTED_SHARE`] of
    /// real time for a while): once the link has carried the stream for a whole window
    /// since, the delay spikes of the episode are forgotten (a queue that drained is not
    /// jitter that will recur).
    congested_us: Option<(i64, i64)>,
    /// When the previous congestion episode ended: episodes that recur (a link that a
    /// sender's probing overloads every few seconds) are a pattern whose spikes stay.
    last_congestion_end_us: Option<i64>,
    /// Since when arrivals have been under [`CONGESTED_SHARE`] of real time without a break.
    short_since_us: Option<i64>,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    pub fn new(cfg: JitterConfig) -> Result<Self, JitterConfigError> {
        cfg.validate()?;
        // validate() bounds every value well inside i64
        let us = |v: u64| v as i64;
        let estimator = DelayEstimator::new(
            us(cfg.frame_us),
            (us(cfg.min_delay_us), us(cfg.max_delay_us)),
            cfg.quantile,
            us(cfg.window_us),
            us(cfg.target_half_life_us),
        );
        Ok(JitterBuffer {
            frame_us: us(cfg.frame_us),
            frames: BTreeMap::new(),
            state: State::Empty,
            next_seq: 0,
            anchor: None,
            newest: None,
            estimator,
            in_underrun: false,
            stall_started_us: 0,
            last_stall_end_us: None,
            cluster_stall_us: 0,
            resume_extra_us: 0,
            expect_jump: false,
            jump_to: None,
            last_resize_us: None,
            outcomes: VecDeque::new(),
            history: TargetHistory::new(us(cfg.history_interval_us), cfg.history_len),
            target_range_us: None,
            congested_us: None,
            last_congestion_end_us: None,
            short_since_us: None,
            stats: JitterStats::default(),
            cfg,
        })
    }

    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// New bounds of the target delay (the server asked for a deeper or shallower floor).
    ///
    /// The buffer keeps its frames and its clock: a raised floor raises the target at the next
    /// poll and the buffer stretches ([`Playout::Stretch`]) until the delay is there; a
    /// lowered one lets the target decay as usual. Bounds are checked as in [`Self::new`].
    pub fn set_bounds(&mut self, min_delay_us: u64, max_delay_us: u64) -> Result<(), JitterConfigError> {
        let cfg = JitterConfig { min_delay_us, max_delay_us, ..self.cfg.clone() };
        cfg.validate()?;
        // validate() bounds both well inside i64
        self.estimator.set_bounds(min_delay_us as i64, max_delay_us as i64);
        self.cfg = cfg;
        Ok(())
    }

    /// The sender says it skipped frames (a listener that fell behind moved to live: the
    /// server's `lagged` notice, which comes before the frames after the skip). The next gap
    /// in sequence numbers is then a jump, however short: the buffer moves past it at once
    /// and re-anchors, counting it as `skipped` — rather than concealing up to `max_delay`
    /// of frames that will never come, and keeping the delay that made the sender skip.
    pub fn sender_skipped(&mut self) {
        self.expect_jump = true;
    }

    /// Offers frame `seq`, captured at `capture_us` (sender's clock; it anchors the media
    /// clock at the first frame), received at `arrival_us` (the clock `poll` is driven by).
    pub fn insert(&mut self, seq: u64, capture_us: i64, payload: T, arrival_us: i64) -> Inserted {
        if self.state == State::Playing && seq < self.next_seq {
            let back = (self.next_seq - seq) as usize;
            if back <= self.outcomes.len() {
                let i = self.outcomes.len() - back;
                if self.outcomes[i] {
                    self.stats.duplicates += 1;
                    return Inserted::Duplicate;
                }
                self.outcomes[i] = true;
            } else if back <= OUTCOMES_KEPT {
                // older than the remembered slots only at the very start of playback
            } else {
                self.restart();
                return self.insert(seq, capture_us, payload, arrival_us);
            }
            self.stats.received += 1;
            self.stats.late += 1;
            let transit = arrival_us - self.media_us(seq);
            self.estimator.observe(transit, arrival_us);
            self.estimator.cover(transit, arrival_us);
            return Inserted::Late;
        }
        if self.frames.contains_key(&seq) {
            self.stats.duplicates += 1;
            return Inserted::Duplicate;
        }
        let late = self.state == State::Playing && self.in_underrun && seq == self.next_seq;
        match self.state {
            State::Empty => {
                self.state = State::Prebuffering;
                self.next_seq = seq;
            }
            State::Prebuffering => self.next_seq = self.next_seq.min(seq),
            State::Playing => {}
        }
        self.stats.received += 1;
        let announced = self.expect_jump && self.newest.is_some_and(|newest| seq > newest);
        if announced {
            self.expect_jump = false;
        }
        let jumped = self.newest.is_some_and(|newest| {
            let gap = seq.saturating_sub(newest + 1);
            seq > newest
                && (gap.saturating_mul(self.cfg.frame_us) > self.cfg.max_delay_us || announced && gap > 0)
        });
        if jumped && announced {
            self.jump_to = Some(seq);
        }
        if jumped || self.anchor.is_none() {
            // a first frame, or the sender skipped ahead (a lagging listener moved to live):
            // anchor the media clock here; the transits before a jump describe another regime
            // and would inflate the target
            self.anchor = Some((seq, capture_us));
            self.estimator.reset();
        }
        let transit = arrival_us - self.media_us(seq);
        self.estimator.observe(transit, arrival_us);
        if late {
            // the buffer ran dry waiting for this frame
            self.stats.late += 1;
            self.estimator.cover(transit, arrival_us);
        }
        self.newest = Some(self.newest.map_or(seq, |n| n.max(seq)));
        self.frames.insert(seq, payload);
        Inserted::Buffered
    }

    /// One frame period of the playout clock, at `now_us`. Call it once per frame duration.
    pub fn poll(&mut self, now_us: i64) -> Playout<T> {
        self.estimator.advance(now_us);
        let target = self.estimator.target_us();
        self.history.offer(TargetSample { at_us: now_us, target_us: target, buffer_us: self.buffer_us() });
        match self.state {
            State::Empty => return Playout::Buffering,
            State::Prebuffering => {
                if self.delay_us(now_us).is_none_or(|d| d < target) {
                    return Playout::Buffering;
                }
                self.state = State::Playing;
                self.outcomes.clear();
            }
            State::Playing => {}
        }
        self.watch_congestion(now_us);
        let target = self.estimator.target_us();
        let (lo, hi) = self.target_range_us.unwrap_or((target, target));
        self.target_range_us = Some((lo.min(target), hi.max(target)));

        let rebuffering = self.in_underrun && {
            let extra = self.rebuffer_extra_us(now_us);
            extra > 0 && self.delay_us(now_us).is_some_and(|d| d < target + extra)
        };
        let Some(&first) = self.frames.keys().next().filter(|_| !rebuffering) else {
            if !self.in_underrun {
                self.start_underrun(now_us);
            }
            self.stats.underrun_frames += 1;
            self.stats.concealed += 1;
            self.last_resize_us = Some(now_us);
            return Playout::Underrun;
        };
        if first > self.next_seq {
            let gap = first - self.next_seq;
            let announced = self.jump_to.take_if(|j| first >= *j).is_some();
            if announced || gap.saturating_mul(self.cfg.frame_us) > self.cfg.max_delay_us {
                self.stats.skipped += gap;
                self.next_seq = first;
                self.outcomes.clear();
            } else {
                let seq = self.next_seq;
                self.end_underrun(now_us);
                self.advance(false);
                self.stats.lost += 1;
                self.stats.concealed += 1;
                return Playout::Missing { seq };
            }
        }
        self.end_underrun(now_us);
        // the next frame is here: adjust the delay towards the target, then play it
        let delay = self.delay_us(now_us).unwrap_or(target);
        if delay < target - self.frame_us / 2 {
            self.stats.stretched += 1;
            self.stats.concealed += 1;
            self.last_resize_us = Some(now_us);
            return Playout::Stretch;
        }
        let max_remove_us = self.shrink(now_us, delay, target);
        match self.frames.remove(&self.next_seq) {
            Some(payload) => {
                self.advance(true);
                self.stats.played += 1;
                if max_remove_us > 0 {
                    self.stats.accelerated += 1;
                    Playout::Accelerate { payload, max_remove_us }
                } else {
                    Playout::Frame(payload)
                }
            }
            // shrink() only drops a frame when the one after it is buffered
            None => Playout::Underrun,
        }
    }

    /// The buffer ran dry. A repeat (within `rebuffer_window` of the last underrun's end)
    /// will wait for at least twice the cluster's stalled time so far before resuming.
    fn start_underrun(&mut self, now_us: i64) {
        self.in_underrun = true;
        self.stats.underruns += 1;
        self.stall_started_us = now_us;
        let repeat =
            self.last_stall_end_us.is_some_and(|end| now_us - end <= self.cfg.rebuffer_window_us as i64);
        if !repeat {
            self.cluster_stall_us = 0;
        }
        let cap = self.cfg.rebuffer_window_us as i64;
        self.resume_extra_us = if repeat { (2 * self.cluster_stall_us).min(cap) } else { 0 };
    }

    /// Notes a congested link, and forgets the episode's delay spikes once the link has
    /// carried the stream for a whole estimator window after it: the target then comes from
    /// the jitter of the link as it is, not from the queue the episode built, and the excess
    /// delay drains (acceleration, or a jump) instead of being held by the peaks for
    /// [`PEAK_MEMORY_US`]. Episodes that recur within that memory (a sender whose probing
    /// overloads the link every few seconds) are a pattern: their spikes stay, like
    /// recurring peaks.
    fn watch_congestion(&mut self, now_us: i64) {
        let received = self.estimator.arrivals_since(now_us - CONGESTION_WINDOW_US) as i64 * self.frame_us;
        if (received as f64) < CONGESTED_SHARE * CONGESTION_WINDOW_US as f64 {
            // a stall (nothing, then everything at once) ends before this: only a link that
            // stays short of the stream's rate is congested
            let since = *self.short_since_us.get_or_insert(now_us);
            if now_us - since >= CONGESTION_WINDOW_US {
                // arrivals were already short over the window before `since`
                let start = self.congested_us.map_or(since - CONGESTION_WINDOW_US, |(start, _)| start);
                self.congested_us = Some((start, now_us));
            }
            return;
        }
        self.short_since_us = None;
        let Some((start, last)) = self.congested_us else { return };
        if now_us - last < self.cfg.window_us as i64 {
            return;
        }
        self.congested_us = None;
        let recurring = self.last_congestion_end_us.is_some_and(|end| start - end < PEAK_MEMORY_US);
        self.last_congestion_end_us = Some(last);
        if !recurring {
            self.estimator.forget_spikes(start);
            self.estimator.advance(now_us);
        }
    }

    /// Media time received over the last [`RATE_WINDOW_US`] ÷ that window, at most 1.
    fn received_share(&self, now_us: i64) -> f64 {
        let received = self.estimator.arrivals_since(now_us - RATE_WINDOW_US) as i64 * self.frame_us;
        (received as f64 / RATE_WINDOW_US as f64).min(1.0)
    }

    /// While in an underrun: how far above the target the delay must be before playout
    /// resumes. When frames keep arriving slower than real time — a share `r` < 0.9 of the
    /// last [`RATE_WINDOW_US`] — the link has lost rate: resuming with each frame that
    /// trickles in would stall again a few frames later, so the buffer waits until it can
    /// play `rebuffer_window × (1 − r)` longer at that rate. A late packet (a TCP
    /// retransmission) is different: nothing arrives, then everything at once, the share is
    /// back near 1 and playout resumes at once.
    fn rebuffer_extra_us(&self, now_us: i64) -> i64 {
        let rate = self.received_share(now_us);
        let starving = if rate < STARVING_SHARE {
            (self.cfg.rebuffer_window_us as f64 * (1.0 - rate)) as i64
        } else {
            0
        };
        starving.max(self.resume_extra_us)
    }

    /// Playout resumes (a frame, or a lost one to conceal, is due).
    fn end_underrun(&mut self, now_us: i64) {
        if std::mem::take(&mut self.in_underrun) {
            self.cluster_stall_us += now_us - self.stall_started_us;
            self.last_stall_end_us = Some(now_us);
            self.resume_extra_us = 0;
        }
    }

    /// Brings a delay above the target down, and returns how much of the next frame the
    /// caller may cut (0: play it whole).
    ///
    /// * Far above — more than `max_delay`, or `jump_excess` over the target — the excess
    ///   is dropped at once, down to the target (a flood after a stall; draining seconds of
    ///   audio by playing it faster would keep the listener late for as long).
    /// * With acceleration on, a delay more than a dead band over the target (half a frame,
    ///   or a tenth of the target if more) is drained by cutting up to `accelerate_share`
    ///   of each frame until it is back within half the band: a second of excess goes in
    ///   about two seconds at the default 50%, where dropping a frame a second took fifty.
    /// * Without it, one frame is dropped at most every `frame / shrink_rate`.
    ///
    /// Either waits [`RESIZE_HOLD_US`] after an underrun or a stretch, so that a frame
    /// waited for is not cut the moment it arrives and the estimator sees the new regime.
    fn shrink(&mut self, now_us: i64, mut delay: i64, target: i64) -> u64 {
        let max = self.cfg.max_delay_us as i64;
        let excess = delay - target;
        let held = self.last_resize_us.is_some_and(|t| now_us - t < RESIZE_HOLD_US);
        let flood = delay > max + self.frame_us || (!held && excess > self.cfg.jump_excess_us as i64);
        let accelerate = self.cfg.accelerate_share > 0.0;
        let interval = (self.frame_us as f64 / self.cfg.shrink_rate) as i64;
        let due = !accelerate && self.last_resize_us.is_none_or(|t| now_us - t >= interval);
        if flood || due && excess >= self.frame_us {
            while delay - self.frame_us >= target && self.frames.contains_key(&(self.next_seq + 1)) {
                self.frames.remove(&self.next_seq);
                self.advance(true);
                self.stats.dropped += 1;
                delay -= self.frame_us;
                self.last_resize_us = Some(now_us);
                if !flood {
                    break;
                }
            }
            return 0;
        }
        let band = (self.frame_us / 2).max(target / 10);
        if !accelerate || held || delay - target <= band {
            return 0;
        }
        let room = delay - target - band / 2;
        let most = (self.frame_us as f64 * self.cfg.accelerate_share) as i64;
        room.min(most).max(0) as u64
    }

    /// The caller played the frame of a [`Playout::Accelerate`] `removed_us` shorter.
    pub fn record_accelerated(&mut self, removed_us: u64) {
        self.stats.accelerated_us += removed_us;
    }

    /// Moves past the slot `next_seq`, remembering whether its frame arrived.
    fn advance(&mut self, arrived: bool) {
        self.outcomes.push_back(arrived);
        if self.outcomes.len() > OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
        self.next_seq += 1;
    }

    /// A frame far older than anything played: the sender restarted its sequence numbers.
    fn restart(&mut self) {
        self.stats.skipped += self.frames.len() as u64;
        self.frames.clear();
        self.state = State::Empty;
        self.anchor = None;
        self.newest = None;
        self.outcomes.clear();
        self.in_underrun = false;
        self.last_stall_end_us = None;
        self.expect_jump = false;
        self.jump_to = None;
        self.estimator.reset();
    }

    /// The frame that plays next, if it is here: after [`Playout::Missing`], the packet whose
    /// FEC may rebuild the missing frame.
    pub fn peek_next(&self) -> Option<&T> {
        self.frames.get(&self.next_seq)
    }

    /// The caller rebuilt the frame of the last [`Playout::Missing`] from FEC.
    pub fn record_fec_recovered(&mut self) {
        self.stats.fec_recovered += 1;
        self.stats.concealed = self.stats.concealed.saturating_sub(1);
    }

    /// Sequence number of the next frame to play (`None` before the first frame).
    pub fn next_seq(&self) -> Option<u64> {
        (self.state != State::Empty).then_some(self.next_seq)
    }

    /// Whether playback has started.
    pub fn is_playing(&self) -> bool {
        self.state == State::Playing
    }

    /// How far the playout runs behind the fastest recent frame at `now_us` (µs); `None`
    /// before the first frame.
    pub fn delay_us(&self, now_us: i64) -> Option<i64> {
        self.anchor?;
        Some(now_us - self.media_us(self.next_seq) - self.estimator.base_us()?)
    }

    /// Where frame `seq` sits on the media clock (0 before the first frame).
    fn media_us(&self, seq: u64) -> i64 {
        let (seq0, capture0) = self.anchor.unwrap_or((seq, 0));
        capture0 + (seq as i64 - seq0 as i64) * self.frame_us
    }

    /// Current target delay, µs.
    pub fn target_us(&self) -> i64 {
        self.estimator.target_us()
    }

    /// The quantile of recent relative delays (the jitter), µs, without the frame of margin.
    pub fn jitter_us(&self) -> i64 {
        self.estimator.jitter_us()
    }

    /// Audio buffered from the next frame to play to the newest received, µs.
    pub fn buffer_us(&self) -> i64 {
        match self.frames.keys().next_back() {
            Some(&last) if self.state != State::Empty && last >= self.next_seq => {
                (last + 1 - self.next_seq) as i64 * self.frame_us
            }
            _ => 0,
        }
    }

    /// Frames waiting in the buffer.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Smallest and largest target seen while playing, µs.
    pub fn target_range_us(&self) -> Option<(i64, i64)> {
        self.target_range_us
    }

    /// The target and buffer level over time (about one point per `history_interval`).
    pub fn history(&self) -> &[TargetSample] {
        self.history.samples()
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Total concealed time, µs.
    pub fn concealed_us(&self) -> u64 {
        self.stats.concealed * self.cfg.frame_us
    }
}
