//! How much of a TCP listener's jitter floor protects against retransmissions, sized from
//! what the sender's TCP stack reports about the connection (Linux `TCP_INFO`: smoothed
//! round trip, its variation, and the segments retransmitted so far) — sans-IO: samples and
//! the time are arguments.
//!
//! Over TCP nothing is lost, but a lost segment arrives about 1.25 round trips late (the
//! sender learns of the loss an RTT after sending, plus RACK's reordering window of RTT/4)
//! and holds back everything behind it. A floor that covers that costs the round trips all
//! the time, on links that never lose a segment too. So the protection follows the evidence:
//!
//! | level | when | protection (beyond one message) |
//! |---|---|---|
//! | [`Level::Full`] | a new connection (no history yet); or a lossy link: [`BURST_RETRANS`] retransmissions within [`BURST_WINDOW_US`], or [`LOSSY_RETRANS`] within [`MEMORY_US`] | `full_rtts` round trips (3 by default: a burst's retransmissions queue behind each other, and on a lossy link some retransmissions are lost again) |
//! | [`Level::Single`] | some retransmission within [`MEMORY_US`] | 1.25 RTT + margin: one retransmission |
//! | [`Level::Clean`] | none for [`MEMORY_US`] | margin only |
//!
//! The margin is `4 × rttvar` (the variation TCP's own retransmission timer allows for), at
//! least half a round trip and at most one (and at least [`MIN_MARGIN_US`]): the delay
//! variation of a link whose packets are never lost still has a tail — a packet now and
//! then several times the mean jitter late — that the buffer's quantile estimator learns
//! only after it happened; half a round trip covers it on the simulated links (with a
//! margin of `2 × rttvar` alone, Wi-Fi and 3G listeners underran every few minutes). A
//! queue that comes and goes inflates rttvar; above one round trip the quantile covers it
//! better than a floor held for a minute. Evidence raises the level at once; only a clean stretch lowers it, one
//! level at a time ([`STEP_DOWN_US`] after the last raise or step, hysteresis against a link
//! whose losses come every half minute).
//!
//! A retransmission the floor did not cover is an underrun the controller sees too (a
//! late-packet underrun, [`super::Reason::LateFrames`]), which deepens the floor on top of
//! this sizing.

use std::collections::VecDeque;

/// What the sending TCP stack reports about a connection (a subset of Linux's `struct
/// tcp_info`, in its units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// Smoothed round trip (`tcpi_rtt`), µs.
    pub rtt_us: u32,
    /// Its mean deviation (`tcpi_rttvar`), µs.
    pub rttvar_us: u32,
    /// Segments retransmitted since the connection started (`tcpi_total_retrans`).
    pub total_retrans: u32,
}

/// How much retransmission protection the floor carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No retransmission for a long while: one message and the margin.
    Clean,
    /// Occasional retransmissions: room for one (1.25 RTT).
    Single,
    /// A new connection, or retransmissions in bursts: `full_rtts` round trips.
    Full,
}

/// How long a retransmission is remembered: the link is "clean" only after this long
/// without one. A minute: the budget is at most one underrun per minute, and a link that
/// loses a segment every half minute must keep the cover.
pub const MEMORY_US: u64 = 60_000_000;
/// Least time between two steps down (and after a raise): a new connection reaches
/// [`Level::Single`] after this long without a retransmission.
pub const STEP_DOWN_US: u64 = 5_000_000;
/// Retransmissions within [`BURST_WINDOW_US`] that call for the full protection.
pub const BURST_RETRANS: u32 = 3;
pub const BURST_WINDOW_US: u64 = 10_000_000;
/// Retransmissions within [`MEMORY_US`] that call for the full protection: a link this
/// lossy also loses retransmissions, each another 2.5 round trips late.
pub const LOSSY_RETRANS: u32 = 6;
/// After a path change, retransmissions for this long are of segments the old path lost
/// (sent before the change, or queued behind its losses: a retransmission timer backed off
/// on a slow path fires seconds later) and are no evidence about the new one, µs.
pub const OLD_PATH_RETRANS_US: u64 = 5_000_000;
/// Least margin above one message, µs.
pub const MIN_MARGIN_US: u64 = 5_000;
/// One retransmission's delay, in thousandths of a round trip (RTT + RACK's RTT/4).
pub const SINGLE_MILLI_RTTS: u64 = 1_250;

/// The sizing state of one connection; see the module documentation.
#[derive(Debug, Clone)]
pub struct TcpFloor {
    full_rtts: u32,
    level: Level,
    /// When the level last went up or stepped down.
    changed_us: u64,
    last_total: Option<u32>,
    /// Each sample that showed retransmissions, within [`MEMORY_US`].
    retrans: VecDeque<Retrans>,
    last: Option<TcpInfo>,
    /// When the history was last forgotten (a path change).
    forgot_us: Option<u64>,
}

/// Segments retransmitted between two samples.
#[derive(Debug, Clone, Copy)]
struct Retrans {
    at_us: u64,
    segments: u32,
    /// Within [`OLD_PATH_RETRANS_US`] of a path change: the old path's.
    old_path: bool,
}

impl TcpFloor {
    /// A connection that started at `now_us`, at the full protection of `full_rtts` round
    /// trips until its TCP state says otherwise.
    pub fn new(full_rtts: u32, now_us: u64) -> TcpFloor {
        TcpFloor {
            full_rtts,
            level: Level::Full,
            changed_us: now_us,
            last_total: None,
            retrans: VecDeque::new(),
            last: None,
            forgot_us: None,
        }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// The latest sample, if any.
    pub fn last(&self) -> Option<TcpInfo> {
        self.last
    }

    /// Segments retransmitted within the last [`MEMORY_US`] (as of the latest sample).
    pub fn recent_retrans(&self) -> u32 {
        self.retrans.iter().map(|r| r.segments).sum()
    }

    /// Takes a sample of the connection's TCP state; returns whether the level changed.
    pub fn observe(&mut self, info: TcpInfo, now_us: u64) -> bool {
        self.last = Some(info);
        // the first sample is the baseline (what the handshake cost is no evidence of loss);
        // a counter that goes backwards (a new socket) starts a new baseline
        let new = match self.last_total {
            Some(prev) if info.total_retrans >= prev => info.total_retrans - prev,
            _ => 0,
        };
        self.last_total = Some(info.total_retrans);
        // retransmissions just after a path change are of segments the old path lost: they
        // keep one retransmission's cover, but say nothing of bursts on the new path
        if new > 0 {
            let old_path = self.forgot_us.is_some_and(|t| now_us < t + OLD_PATH_RETRANS_US);
            self.retrans.push_back(Retrans { at_us: now_us, segments: new, old_path });
        }
        while self.retrans.front().is_some_and(|r| r.at_us + MEMORY_US <= now_us) {
            self.retrans.pop_front();
        }
        let this_path = self.retrans.iter().filter(|r| !r.old_path);
        let burst: u32 =
            this_path.clone().filter(|r| r.at_us + BURST_WINDOW_US > now_us).map(|r| r.segments).sum();
        let lossy: u32 = this_path.map(|r| r.segments).sum();
        let evidence = if burst >= BURST_RETRANS || lossy >= LOSSY_RETRANS {
            Level::Full
        } else if !self.retrans.is_empty() {
            Level::Single
        } else {
            Level::Clean
        };
        let before = self.level;
        if evidence > self.level {
            self.level = evidence;
            self.changed_us = now_us;
        } else if evidence < self.level && now_us >= self.changed_us + STEP_DOWN_US {
            // one level at a time, each after a calm step
            let since_last = self.retrans.back().map_or(u64::MAX, |r| now_us - r.at_us);
            if since_last >= STEP_DOWN_US {
                self.level = match self.level {
                    Level::Full => Level::Single,
                    _ => Level::Clean,
                };
                self.changed_us = now_us;
            }
        }
        self.level != before
    }

    /// The path changed (the round trip fell to well under what it was): the
    /// retransmissions seen so far are evidence about the old path. They are forgotten, and
    /// the full protection steps down to one retransmission's at once — as a connection with
    /// a little history would have; the usual calm step leads on to [`Level::Clean`].
    /// Retransmissions within [`OLD_PATH_RETRANS_US`] after it are the old path's too: they
    /// keep one retransmission's cover and do not count towards the full protection.
    /// Returns whether the level changed.
    pub fn forget_history(&mut self, now_us: u64) -> bool {
        self.retrans.clear();
        self.forgot_us = Some(now_us);
        if self.level != Level::Full {
            return false;
        }
        self.level = Level::Single;
        self.changed_us = now_us;
        true
    }

    /// The protection in thousandths of a round trip, and the margin in µs.
    fn protection(&self, rtt_us: u64) -> (u64, u64) {
        let rttvar = self.last.map_or(0, |i| i.rttvar_us as u64);
        let margin = (4 * rttvar).clamp((rtt_us / 2).max(MIN_MARGIN_US), rtt_us.max(MIN_MARGIN_US));
        match self.level {
            Level::Full => (self.full_rtts as u64 * 1000, 0),
            Level::Single => (SINGLE_MILLI_RTTS, margin),
            Level::Clean => (0, margin),
        }
    }

    /// The floor above one message of `message_us`, µs, for a round trip of `rtt_us`.
    pub fn protection_us(&self, rtt_us: u64) -> u64 {
        let (milli, margin) = self.protection(rtt_us);
        milli * rtt_us / 1000 + margin
    }

    /// Why the floor is what it is (the `reason` of the `rung` message that announces it).
    pub fn describe(&self) -> String {
        let n = self.recent_retrans();
        match self.level {
            Level::Full if n == 0 => {
                format!("no TCP history yet: the jitter floor covers {} round trips", self.full_rtts)
            }
            Level::Full => format!(
                "TCP retransmitted {n} segments within the last minute, in bursts: the jitter floor \
                 covers {} round trips",
                self.full_rtts
            ),
            Level::Single if n == 0 => "no TCP retransmission so far: the jitter floor covers one \
                                        retransmission (1.25 round trips)"
                .to_string(),
            Level::Single => format!(
                "TCP retransmitted {n} segment(s) within the last minute: the jitter floor covers one \
                 retransmission (1.25 round trips)"
            ),
            Level::Clean => "no TCP retransmission for a minute: the jitter floor is one message and \
                             the round trip's variation"
                .to_string(),
        }
    }

    /// Whole round trips the protection covers (the `rtts` of the client's advice, which
    /// the client multiplies by the round trip it measured itself: rounded down, so that it
    /// never asks for more than the server planned).
    pub fn whole_rtts(&self) -> u32 {
        (self.protection(0).0 / 1000) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn info(total: u32) -> TcpInfo {
        TcpInfo { rtt_us: 50_000, rttvar_us: 4_000, total_retrans: total }
    }

    /// Samples every second from `from` to `to` (exclusive) with a constant counter.
    fn run(f: &mut TcpFloor, total: u32, from: u64, to: u64) {
        let mut t = from;
        while t < to {
            f.observe(info(total), t * S);
            t += 1;
        }
    }

    #[test]
    fn a_new_connection_starts_with_the_full_protection() {
        let f = TcpFloor::new(3, 0);
        assert_eq!(f.level(), Level::Full);
        assert_eq!(f.protection_us(50_000), 150_000);
        assert_eq!(f.whole_rtts(), 3);
    }

    #[test]
    fn a_clean_link_gets_a_small_floor() {
        let mut f = TcpFloor::new(3, 0);
        let step = STEP_DOWN_US / S;
        // the handshake's retransmission is the baseline, not evidence
        run(&mut f, 1, 0, step);
        assert_eq!(f.level(), Level::Full, "not before a calm step");
        run(&mut f, 1, step, 2 * step);
        assert_eq!(f.level(), Level::Single, "one step after a calm step");
        run(&mut f, 1, 2 * step, 30);
        assert_eq!(f.level(), Level::Clean);
        // one message + 4 × rttvar (16 ms), at least half the 50 ms round trip
        assert_eq!(f.protection_us(50_000), 25_000);
        // a jittery link's margin: 4 × 20 ms, at most one round trip
        f.observe(TcpInfo { rtt_us: 50_000, rttvar_us: 20_000, total_retrans: 1 }, 30 * S);
        assert_eq!(f.protection_us(50_000), 50_000);
        assert_eq!(f.whole_rtts(), 0);
        // a quiet link's rttvar under 2.5 ms: the least margin
        f.observe(TcpInfo { rtt_us: 400, rttvar_us: 100, total_retrans: 1 }, 32 * S);
        assert_eq!(f.protection_us(400), MIN_MARGIN_US);
    }

    #[test]
    fn a_retransmission_raises_the_floor_at_once_and_is_remembered_for_a_minute() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 0, 0, 30);
        assert_eq!(f.level(), Level::Clean);
        assert!(f.observe(info(1), 30 * S), "raised at the first sample that shows it");
        assert_eq!(f.level(), Level::Single);
        assert_eq!(f.protection_us(50_000), 62_500 + 25_000);
        assert_eq!(f.whole_rtts(), 1);
        // still remembered 59 s later, forgotten after a minute
        run(&mut f, 1, 31, 90);
        assert_eq!(f.level(), Level::Single);
        run(&mut f, 1, 90, 91);
        assert_eq!(f.level(), Level::Clean);
    }

    #[test]
    fn a_burst_of_retransmissions_keeps_the_full_floor() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 0, 0, 30);
        assert_eq!(f.level(), Level::Clean);
        // a lossy 3g link: a retransmission every few seconds
        let mut total = 0;
        for t in 30..120 {
            if t % 3 == 0 {
                total += 1;
            }
            f.observe(info(total), t * S);
            if t >= 36 {
                assert_eq!(f.level(), Level::Full, "at {t} s");
            }
        }
        assert_eq!(f.protection_us(50_000), 150_000);
        // two segments lost again in one sample also count as a burst
        let mut g = TcpFloor::new(3, 0);
        run(&mut g, 0, 0, 30);
        g.observe(info(3), 30 * S);
        assert_eq!(g.level(), Level::Full);
    }

    #[test]
    fn hysteresis_steps_down_one_level_per_calm_step() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 0, 0, 30);
        f.observe(info(5), 30 * S);
        assert_eq!(f.level(), Level::Full);
        // the burst leaves the 10 s window: single after 10 s of calm, not clean
        run(&mut f, 5, 31, 41);
        assert_eq!(f.level(), Level::Single);
        // and clean only once the minute's memory has passed
        run(&mut f, 5, 41, 90);
        assert_eq!(f.level(), Level::Single);
        run(&mut f, 5, 90, 91);
        assert_eq!(f.level(), Level::Clean);
        // a single retransmission right after a step down raises it again at once
        f.observe(info(6), 91 * S);
        assert_eq!(f.level(), Level::Single);
    }

    #[test]
    fn a_counter_that_goes_backwards_is_a_new_baseline() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 7, 0, 30);
        assert_eq!(f.level(), Level::Clean);
        f.observe(info(2), 30 * S);
        assert_eq!(f.level(), Level::Clean);
        f.observe(info(3), 31 * S);
        assert_eq!(f.level(), Level::Single);
    }

    #[test]
    fn a_changed_path_forgets_the_old_ones_retransmissions() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 0, 0, 30);
        f.observe(info(6), 30 * S);
        assert_eq!(f.level(), Level::Full);
        // the path changes: its history goes, the full cover steps down at once
        assert!(f.forget_history(31 * S));
        assert_eq!((f.level(), f.recent_retrans()), (Level::Single, 0));
        // and on to clean after a calm step, not after the minute the old ones would take
        run(&mut f, 6, 31, 37);
        assert_eq!(f.level(), Level::Clean);
        // nothing to forget: no change
        assert!(!f.forget_history(40 * S));
    }

    #[test]
    fn retransmissions_just_after_a_path_change_are_the_old_paths() {
        let mut f = TcpFloor::new(3, 0);
        run(&mut f, 0, 0, 30);
        f.observe(info(6), 30 * S);
        assert!(f.forget_history(31 * S));
        // a burst two seconds later (segments the old path lost): one retransmission's cover,
        // not the full one
        f.observe(info(9), 33 * S);
        assert_eq!((f.level(), f.recent_retrans()), (Level::Single, 3));
        // the same burst on the new path, later, is evidence about it
        run(&mut f, 9, 34, 40);
        f.observe(info(12), 40 * S);
        assert_eq!(f.level(), Level::Full);
    }
}
