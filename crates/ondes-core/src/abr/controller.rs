//! The per-listener adaptation controller: a sans-IO state machine.
//!
//! The server feeds it what it observes and polls it for decisions:
//!
//! * [`Controller::handle_send_state`] — every write or every ~50–100 ms: the socket's
//!   cumulative written bytes and how much audio waits at the server (the backlog);
//! * [`Controller::handle_rtt`] — each round-trip sample (WebSocket ping/pong);
//! * [`Controller::handle_report`] — each client report (buffer, target, underruns,
//!   received frames);
//! * [`Controller::handle_bandwidth_estimate`] — a transport that estimates the path's
//!   bandwidth itself (WebRTC's transport-wide congestion control, where there is no socket
//!   backlog to watch: UDP takes every datagram and the network drops what does not fit);
//! * [`Controller::handle_tcp_info`] — every second or so, the sending TCP stack's view of
//!   the connection (Linux `TCP_INFO`: round trip, its variation, retransmissions), which
//!   sizes the client's jitter floor ([`super::tcp_floor`]);
//! * [`Controller::poll`] — after any of these (or on a timer): at most one
//!   [`Decision`] per adaptation interval;
//! * [`Controller::poll_jitter`] — a new jitter advice for the client when the TCP sizing
//!   moved the floor (not a rung change: no interval, no hold).
//!
//! Down fast: any congestion signal (backlog, standing queue, a starving client) moves down
//! at the next allowed moment, straight to the best rung the measured capacity carries with
//! headroom — several rungs at once if need be — and below the lowest rung to the
//! `emergency_fallback` profile. Up slowly: one rung at a time, after a calm period, only
//! when the estimate clears the next rung's cost by the margin.

use std::collections::VecDeque;

use serde::Serialize;

use super::advice::JitterAdvice;
use super::config::AbrConfig;
use super::cost::socket_bps;
use super::estimator::{RttFilter, ThroughputEstimator};
use super::profile::{ProfileName, ProfileRequest, StreamingProfile};
use super::reason::{Decision, Direction, Reason};
use super::tcp_floor::{TcpFloor, TcpInfo};

/// What a client says about itself (the `report` message of docs/protocol.md). Counters are
/// cumulative since the connection started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientReport {
    pub buffer_ms: f64,
    pub target_ms: f64,
    pub underruns: u64,
    pub lost_frames: u64,
    pub late_frames: u64,
    pub received_frames: u64,
    pub rtt_ms: Option<f64>,
}

/// What the server's sending side observes for this listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendState {
    /// Bytes the socket has accepted since the connection started.
    pub written_bytes: u64,
    /// Audio ready to send that the socket would not take yet, µs.
    pub backlog_us: u64,
}

/// Counters of one controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AbrStats {
    pub switches_up: u64,
    pub switches_down: u64,
    pub profile_changes: u64,
    /// Switches down within three intervals of a switch up (a probe that did not fit).
    pub failed_probes: u64,
}

/// A ladder the controller cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbrError {
    #[error("the quality ladder is empty: nothing to adapt")]
    EmptyLadder,
    #[error("the quality ladder must be strictly ascending, got {0:?}")]
    Unsorted(Vec<u32>),
}

/// Consecutive round-trip evaluations above the threshold needed to call it congestion.
const DELAY_STRIKES: u32 = 2;
/// After a switch down, round trips still show the old queue draining for this long.
const DELAY_QUIET_US: u64 = 3_000_000;
/// An underrun within this long after a switch down may be the switch's own drain.
const LATE_SETTLE_US: u64 = 5_000_000;
/// Underruns closer than this are one stall event (as `ondes_sim::abr::STALL_MERGE_US` counts them).
const LATE_MERGE_US: u64 = 2_000_000;
/// Window of the round-trip minimum that validates a probe: shorter than the general one,
/// since a false alarm there only reverts a probe.
const PROBE_RTT_WINDOW_US: u64 = 1_000_000;
/// Shortest backlogged stretch whose drained rate is taken when audio piles up fast.
const COARSE_SPAN_US: u64 = 100_000;
/// The span over which the backlog's growth bounds the link's rate at a switch down, µs.
const BACKLOG_GROWTH_SPAN_US: u64 = 500_000;
/// How long a capacity measured at a switch down bars probes above it.
const CEILING_MEMORY_US: u64 = 60_000_000;
/// Calm (no congestion signal) after which that bar is lifted early: a capacity measured
/// while a lost segment held the connection up (a TCP retransmission stall looks like a link
/// carrying nearly nothing for a moment) must not pin a listener to the lowest rung for a
/// minute. A link that really is that slow fails the next probe, which backs off.
const CEILING_CALM_US: u64 = 8_000_000;
/// Least time between two switches up, in intervals.
const UP_SPACING_INTERVALS: u64 = 2;
/// How long after a switch up, in intervals, round trips alone may reverse it.
const PROBE_WINDOW_INTERVALS: u64 = 3;
/// A client complaint older than this is stale.
const CLIENT_SIGNAL_TTL_US: u64 = 2_000_000;
/// Two skips to live this close together are a shortage (see [`Controller::handle_skip`]).
const SKIP_PAIR_US: u64 = 3_000_000;
/// Most probe holds in a row: the hold doubles with each failed probe up to 2³ × `hold`.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;
/// A recent minimum round trip below this share of the one measured at the last switch
/// down means the path changed (faster link, shorter route): probing may start again.
const PATH_CHANGE_RTT_RATIO: f64 = 0.75;
/// Round-trip windows: "recent" (a standing queue shows in its minimum) and "base".
const RTT_RECENT_US: u64 = 2_000_000;
/// A recent minimum round trip under this share of the minimum of the seconds before it:
/// the path got much faster (see [`Controller::watch_path_speed`]).
const PATH_FASTER_RTT_RATIO: f64 = 0.5;
/// How long a capacity measured after a switch down bounds the estimate's growth (see
/// [`Controller::measured_cap_bps`]).
const MEASURED_CAP_US: u64 = 20_000_000;
/// The least move of the jitter floor worth a new advice, µs (see [`Controller::poll_jitter`]).
const FLOOR_STEP_MIN_US: u64 = 10_000;
const RTT_BASE_US: u64 = 10_000_000;

/// The adaptation controller of one listener; see the module documentation.
#[derive(Debug, Clone)]
pub struct Controller {
    cfg: AbrConfig,
    ladder: Vec<u32>,
    request: ProfileRequest,
    profile: StreamingProfile,
    rung: usize,
    est: ThroughputEstimator,
    rtt: RttFilter,
    /// Available-bandwidth estimate in socket bit/s.
    avail_bps: f64,
    hold_until_us: u64,
    last_change_us: Option<u64>,
    last_down_us: Option<u64>,
    last_up_us: Option<u64>,
    /// Failed probes in a row (each doubles the hold).
    failures: u32,
    /// Last switch down for a shortage measured here (backlog, standing queue): its drain
    /// starves the client for a while and says nothing about late packets.
    last_shortage_us: Option<u64>,
    /// Socket bytes written, as last reported.
    written_bytes: u64,
    /// (time, written bytes) when audio started to wait, while it still does.
    backlog_since: Option<(u64, u64)>,
    /// Last time anything signalled congestion.
    calm_since_us: u64,
    backlog: VecDeque<(u64, u64)>,
    /// (time, µs of audio) of the skips to live of the last [`BACKLOG_GROWTH_SPAN_US`].
    skipped: VecDeque<(u64, u64)>,
    delay_strikes: u32,
    /// Queueing delay at the last strike (for the reason).
    strike_queue_us: u64,
    /// When the queue left by the last switch down had drained (the delay signal re-armed).
    drained_us: Option<u64>,
    /// Capacity measured at the last switch down, and when: no probe to a rung costing
    /// more until it is [`CEILING_MEMORY_US`] old or the path changes.
    ceiling: Option<(u64, f64)>,
    /// Round trips may signal congestion: off after a switch down until the queue it left
    /// behind has drained (a draining queue is no new shortage).
    delay_armed: bool,
    client_signal: Option<(u64, Reason)>,
    /// The last skip to live, and a shortage signal from a second one soon after it.
    last_skip_us: Option<u64>,
    /// The last switch to a lower rung or profile (a deeper jitter floor is no such switch).
    last_rung_down_us: Option<u64>,
    skip_signal: Option<(u64, Reason)>,
    /// The retransmission protection of the jitter floor, sized from TCP's own view of the
    /// connection (full until a sample says otherwise).
    tcp: TcpFloor,
    /// The TCP sizing moved the floor since the last advice ([`Controller::poll_jitter`]).
    floor_moved: bool,
    /// The floor the client was last advised, µs (see [`Controller::poll_jitter`]); unknown
    /// until a round trip is: the first advice asks for round trips the client counts in its
    /// own measurement, which is the server's first one too.
    advised_floor_us: Option<u64>,
    /// When the round trip last fell to a much faster path ([`Controller::watch_path_speed`]).
    last_path_change_us: Option<u64>,
    /// Round trips the floor was deepened to after late-packet underruns (0: not deepened;
    /// the TCP sizing alone).
    late_rtts: u32,
    /// Last underrun the client reported while nothing showed a shortage.
    last_late_us: Option<u64>,
    late_signal: bool,
    reports: VecDeque<(u64, ClientReport)>,
    /// The transport's latest bandwidth estimate, socket bit/s, and when it came.
    bwe: Option<(u64, f64)>,
    last_poll_us: u64,
    stats: AbrStats,
}

impl Controller {
    /// A controller for a listener that connected at `now_us`, on an ascending ladder of
    /// Opus rungs (kbit/s).
    pub fn new(
        cfg: AbrConfig,
        ladder_kbps: &[u32],
        request: ProfileRequest,
        now_us: u64,
    ) -> Result<Controller, AbrError> {
        if ladder_kbps.is_empty() {
            return Err(AbrError::EmptyLadder);
        }
        if ladder_kbps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(AbrError::Unsorted(ladder_kbps.to_vec()));
        }
        let profile = request.initial().params();
        let allowed = profile.allowed(ladder_kbps);
        let start = ladder_kbps.iter().rposition(|k| *k <= cfg.start_kbps).unwrap_or(0);
        let rung = start.clamp(*allowed.start(), *allowed.end());
        let mut c = Controller {
            est: ThroughputEstimator::new(cfg.sample_window_us),
            rtt: RttFilter::new(RTT_RECENT_US, RTT_BASE_US),
            ladder: ladder_kbps.to_vec(),
            request,
            profile,
            rung,
            avail_bps: 0.0,
            hold_until_us: 0,
            last_change_us: None,
            last_down_us: None,
            last_up_us: None,
            failures: 0,
            last_shortage_us: None,
            written_bytes: 0,
            backlog_since: None,
            calm_since_us: now_us,
            backlog: VecDeque::new(),
            skipped: VecDeque::new(),
            delay_strikes: 0,
            strike_queue_us: 0,
            drained_us: None,
            ceiling: None,
            delay_armed: true,
            client_signal: None,
            last_skip_us: None,
            last_rung_down_us: None,
            skip_signal: None,
            tcp: TcpFloor::new(cfg.jitter_rtts, now_us),
            floor_moved: false,
            advised_floor_us: None,
            last_path_change_us: None,
            late_rtts: 0,
            last_late_us: None,
            late_signal: false,
            reports: VecDeque::new(),
            bwe: None,
            last_poll_us: now_us,
            stats: AbrStats::default(),
            cfg,
        };
        c.avail_bps = c.cost_bps(c.profile, c.rung);
        Ok(c)
    }

    pub fn rung(&self) -> usize {
        self.rung
    }

    pub fn kbps(&self) -> u32 {
        self.ladder[self.rung]
    }

    pub fn profile(&self) -> &StreamingProfile {
        &self.profile
    }

    /// Frames per message the server should use now (the profile's message duration in the
    /// stream's frames).
    pub fn batch(&self) -> usize {
        self.profile.batch_for(self.cfg.stream_frame_us)
    }

    /// The jitter-buffer floor the client should keep, µs: the profile's target, but at
    /// least one message plus the retransmission protection — what TCP's retransmissions
    /// call for ([`super::tcp_floor`]), or the round trips a late-packet underrun deepened it
    /// to, whichever is more (0 before any round trip is known).
    pub fn jitter_target_us(&self) -> u64 {
        let rtt = self.rtt_us();
        let protection = self.tcp.protection_us(rtt).max(self.late_rtts as u64 * rtt);
        self.profile.jitter_floor_with_us(self.cfg.stream_frame_us, protection)
    }

    /// The round trip the protection is counted in: the path's, without a queue — the
    /// smallest ping's over the last 10 s (TCP's smoothed one before any ping). A standing
    /// queue delays a retransmission no more than the packets around it, which the buffer's
    /// quantile follows anyway; a floor counted in queued round trips (seconds, during a
    /// drop in rate) would hold the listener that far behind for a minute.
    fn rtt_us(&self) -> u64 {
        self.rtt.min_rtt_us().or_else(|| self.tcp.last().map(|i| i.rtt_us as u64)).unwrap_or(0)
    }

    /// Whole round trips of protection the floor has now: the TCP sizing's or the late
    /// deepening's.
    pub fn jitter_rtts(&self) -> u32 {
        self.tcp.whole_rtts().max(self.late_rtts)
    }

    /// The advice for the client now (`jitter` of the `rung` message, docs/protocol.md): the
    /// floor in ms, and the whole round trips it covers — rounded down, so that a client
    /// multiplying them by its own round trip never asks for more than planned here.
    pub fn jitter_advice(&self) -> JitterAdvice {
        JitterAdvice {
            target_ms: (self.jitter_target_us() / 1000) as u32,
            max_ms: self.profile.max_delay_ms,
            rtts: self.jitter_rtts(),
        }
    }

    /// The TCP sizing's state: what it protects against now.
    pub fn tcp_floor(&self) -> &TcpFloor {
        &self.tcp
    }

    pub fn config(&self) -> &AbrConfig {
        &self.cfg
    }

    pub fn stats(&self) -> AbrStats {
        self.stats
    }

    /// Available-bandwidth estimate, socket bit/s.
    pub fn estimate_bps(&self) -> f64 {
        self.avail_bps
    }

    /// Measured link-limited throughput, socket bit/s, if any.
    pub fn capacity_bps(&self) -> Option<f64> {
        self.est.capacity_bps()
    }

    /// Standing queueing delay seen in round trips, µs.
    pub fn queue_delay_us(&self, now_us: u64) -> u64 {
        self.rtt.queue_delay_us(now_us)
    }

    /// Socket bit rate of `rung` under `profile`.
    pub fn cost_bps(&self, profile: StreamingProfile, rung: usize) -> f64 {
        let frame = self.cfg.stream_frame_us;
        socket_bps(self.ladder[rung], frame, profile.batch_for(frame))
    }

    pub fn handle_send_state(&mut self, s: SendState, now_us: u64) {
        self.written_bytes = s.written_bytes;
        match (s.backlog_us > 0, self.backlog_since) {
            (true, None) => self.backlog_since = Some((now_us, s.written_bytes)),
            (false, Some(_)) => self.backlog_since = None,
            _ => {}
        }
        self.backlog.push_back((now_us, s.backlog_us));
        while self.backlog.front().is_some_and(|(t, _)| *t + 1_000_000 < now_us) {
            self.backlog.pop_front();
        }
        if let Some(sample) = self.est.observe(now_us, s.written_bytes, s.backlog_us > 0) {
            if sample.link_limited {
                // the link was the limit: this is what it carries now
                if let Some(c) = self.est.capacity_bps() {
                    self.avail_bps = c;
                }
            } else {
                // App-limited: what we sent went through, so the link carries at least the
                // current rung. Not more: the written rate of a window also counts bursts the
                // socket merely buffered (catching up after a switch), not what was delivered.
                let current = self.cost_bps(self.profile, self.rung);
                self.avail_bps = self.avail_bps.max(sample.bps.min(current));
            }
        }
    }

    /// The transport's own estimate of the path's available bandwidth, in the controller's
    /// socket bit/s (the caller converts its packet overhead to a rung's
    /// [`Controller::cost_bps`]). A transport estimates continuously, up and down (str0m
    /// reports a new value when it changes): the latest one is the available bandwidth
    /// until the next, and a rung costing more than it is a congestion signal.
    pub fn handle_bandwidth_estimate(&mut self, bps: f64, now_us: u64) {
        self.bwe = Some((now_us, bps));
        self.avail_bps = bps;
    }

    /// The server skipped this listener to live past `skipped_frames` frames: audio waited
    /// here longer than the listener's latency budget. With a budget as short as a
    /// conversation's (150 ms), the backlog signal has little room below it: a link a little
    /// slower than the rung fills the bottleneck's queue and the socket first, then builds a
    /// backlog that is skipped as soon as it passes the budget, and the next sample sees
    /// none. One skip may be a single retransmission stall (which a lower rung would not
    /// help); a second within [`SKIP_PAIR_US`] is a shortage, acted on as a large backlog.
    /// Skips soon after a switch down are what is left of the shortage it answered (the
    /// backlog drains or is skipped): they count for nothing.
    pub fn handle_skip(&mut self, skipped_frames: u64, now_us: u64) {
        // what the skip threw away had piled up too: the backlog's growth counts it
        self.skipped.push_back((now_us, skipped_frames * u64::from(self.cfg.stream_frame_us)));
        while self.skipped.front().is_some_and(|(t, _)| *t + BACKLOG_GROWTH_SPAN_US < now_us) {
            self.skipped.pop_front();
        }
        if self.last_rung_down_us.is_some_and(|d| now_us < d + SKIP_PAIR_US) {
            self.last_skip_us = None;
            return;
        }
        if self.last_skip_us.is_some_and(|t| now_us < t + SKIP_PAIR_US) {
            let skipped_ms = (skipped_frames * u64::from(self.cfg.stream_frame_us) / 1000) as u32;
            self.skip_signal = Some((now_us, Reason::Lagged { skipped_ms }));
        }
        self.last_skip_us = Some(now_us);
    }

    /// A sample of the sending TCP stack's view of the connection (`TCP_INFO`): sizes the
    /// retransmission protection of the client's jitter floor.
    pub fn handle_tcp_info(&mut self, info: TcpInfo, now_us: u64) {
        if self.tcp.observe(info, now_us) {
            self.floor_moved = true;
        }
    }

    /// New jitter advice for the client, when the TCP sizing moved the floor since the last
    /// one (a raise as soon as retransmissions show, a step down after a calm stretch). The
    /// rung stays; the server sends it in a `rung` message.
    ///
    /// Also when the floor has moved by a fifth (and at least [`FLOOR_STEP_MIN_US`]) from
    /// the one advised last: the protection is counted in the path's round trip, which
    /// changes with the path. A round trip measured through a standing queue (a drop in
    /// capacity fills the bottleneck) is far longer than the path's; once the queue drains
    /// the floor falls, and a floor advised at the height of a drop would otherwise hold a
    /// conversation's listener a second behind until the next change of level. The other
    /// way, a path that became slower (the link changed under the listener) needs the
    /// longer cover a retransmission takes on it.
    pub fn poll_jitter(&mut self, _now_us: u64) -> Option<JitterAdvice> {
        let floor = self.jitter_target_us();
        if self.advised_floor_us.is_none() && self.rtt_us() > 0 {
            self.advised_floor_us = Some(floor);
        }
        let moved = self
            .advised_floor_us
            .is_some_and(|advised| floor.abs_diff(advised) >= (advised / 5).max(FLOOR_STEP_MIN_US));
        if !(std::mem::take(&mut self.floor_moved) || moved) {
            return None;
        }
        self.advised_floor_us = Some(floor);
        Some(self.jitter_advice())
    }

    pub fn handle_rtt(&mut self, rtt_us: u64, now_us: u64) {
        self.rtt.observe(now_us, rtt_us);
        self.watch_path_speed(now_us);
        let threshold = self.cfg.queue_delay_us + self.profile_message_us();
        let queue = self.rtt.queue_delay_us(now_us);
        if queue < threshold / 2 && !self.delay_armed {
            self.delay_armed = true;
            self.drained_us = Some(now_us);
        }
        let quiet = self.last_down_us.is_some_and(|t| now_us < t + DELAY_QUIET_US);
        // On its own, a standing queue in round trips only condemns a recent switch up (a
        // probe that does not fit shows there first, long before audio waits at the server).
        // Elsewhere a retransmission that is lost again holds pings back for seconds and looks
        // the same; there it only backs a client's complaint (see handle_report).
        let probing = self.probing(now_us);
        let probe_queue = self.rtt.recent_min_over(now_us, PROBE_RTT_WINDOW_US).zip(self.rtt.min_rtt_us());
        let queue = probe_queue.map_or(queue, |(r, b)| r - b);
        // a probe changes the message size a little, not by a whole message: the plain threshold
        if queue > self.cfg.queue_delay_us && self.delay_armed && !quiet && probing {
            self.delay_strikes += 1;
            self.strike_queue_us = queue;
        } else {
            self.delay_strikes = 0;
        }
    }

    /// What the link was measured to carry since the last switch down, while that holds:
    /// the estimate does not grow past it. A probe above a capacity just measured (the
    /// backlog a shortage left drains at the link's rate) fails, and on a link that is
    /// still short it costs the listener a stall. The measurement holds for
    /// [`MEASURED_CAP_US`], or until the round trip shows a faster path (the link
    /// recovered: [`Controller::watch_path_speed`]).
    fn measured_cap_bps(&self, now_us: u64) -> Option<f64> {
        let at = self.est.last_limited_us()?;
        let after_down = self.last_down_us.is_some_and(|d| at >= d);
        let since_path = self.last_path_change_us.is_none_or(|p| at >= p);
        (after_down && since_path && now_us < at + MEASURED_CAP_US).then(|| self.est.capacity_bps()).flatten()
    }

    /// Retransmissions are evidence about the path as it was when they happened. When the
    /// round trip falls to well under what it was a few seconds before — a standing queue
    /// drained, or the link itself changed (a capacity drop that recovered, a handover) —
    /// that path is gone: its drop-tail overflows and its losses say little about this one,
    /// and holding the protection they called for would keep the listener late for a
    /// minute after the link recovered. The TCP sizing forgets them
    /// ([`TcpFloor::forget_history`]).
    fn watch_path_speed(&mut self, now_us: u64) {
        if self.last_path_change_us.is_some_and(|t| now_us < t + RTT_BASE_US) {
            return;
        }
        let before =
            self.rtt.min_between(now_us.saturating_sub(RTT_BASE_US), now_us.saturating_sub(RTT_RECENT_US));
        let (Some(before), Some(recent)) = (before, self.rtt.recent_min_us(now_us)) else { return };
        if (recent as f64) < PATH_FASTER_RTT_RATIO * before as f64 {
            self.last_path_change_us = Some(now_us);
            if self.tcp.forget_history(now_us) {
                self.floor_moved = true;
            }
        }
    }

    /// Whether a switch up is being validated: within the probe window after it, and not yet
    /// reverted. Only then do round trips count as evidence of a shortage: elsewhere a
    /// retransmission that is lost again holds every ping back for seconds, which a minimum
    /// filter cannot tell from a standing queue.
    fn probing(&self, now_us: u64) -> bool {
        let window = PROBE_WINDOW_INTERVALS * self.cfg.interval_us;
        self.last_up_us
            .is_some_and(|up| now_us < up + window && self.last_down_us.is_none_or(|down| down < up))
    }

    pub fn handle_report(&mut self, r: &ClientReport, now_us: u64) {
        let prev_underruns = self.reports.back().map_or(0, |(_, p)| p.underruns);
        self.reports.push_back((now_us, *r));
        // keep two seconds and a bit: a late packet shifts frames across one report boundary
        while self.reports.len() > 2 && self.reports[1].0 + 2_000_000 <= now_us {
            self.reports.pop_front();
        }
        let ratio = self.receive_ratio();
        let starving = r.underruns > prev_underruns || (r.target_ms > 0.0 && r.buffer_ms < 0.5 * r.target_ms);
        // Only with evidence on our side of the link: over TCP a late (retransmitted) segment
        // starves the client for an RTT without any lack of bandwidth, and a lower rung would
        // not help it. A real shortage shows as a backlog here or as a queue in round trips.
        let threshold = self.cfg.queue_delay_us + self.profile_message_us();
        let quiet = self.last_down_us.is_some_and(|t| now_us < t + DELAY_QUIET_US);
        let probing = self.probing(now_us);
        let queued = probing && !quiet && self.delay_armed && self.rtt.queue_delay_us(now_us) > threshold / 2;
        let short = self.backlog_growing(now_us) || queued;
        // a client receiving faster than real time is already catching up
        let short = short && ratio.is_none_or(|q| q < 1.0);
        // Late rather than short: little waits here, no probe is under way, and no switch down
        // for a shortage recently (whose drain also starves the client). One stall event counts
        // once, however many times the buffer ran dry in it.
        let settled = self.last_shortage_us.is_none_or(|t| now_us >= t + LATE_SETTLE_US);
        let new_event = self.last_late_us.is_none_or(|t| now_us >= t + LATE_MERGE_US);
        // (a backlog below the congestion threshold is the retransmissions of a loss burst
        // taking link time, not a rung that does not fit)
        let small_backlog = self.backlog_now() < self.cfg.backlog_us;
        if r.underruns > prev_underruns && small_backlog && !probing && settled && new_event {
            self.last_late_us = Some(now_us);
            self.late_signal = self.jitter_rtts() < self.cfg.max_jitter_rtts;
        }
        if starving && short {
            let reason = Reason::ClientStarving {
                buffer_ms: r.buffer_ms.max(0.0) as u32,
                target_ms: r.target_ms.max(0.0) as u32,
                underruns: r.underruns,
                receive_ratio: ratio.unwrap_or(1.0) as f32,
            };
            self.client_signal = Some((now_us, reason));
        }
    }

    /// Share of real time the client received over the reports kept (≈ 2 s).
    fn receive_ratio(&self) -> Option<f64> {
        let (t0, a) = self.reports.front()?;
        let (t1, b) = self.reports.back()?;
        (t1 > t0).then(|| {
            let audio = b.received_frames.saturating_sub(a.received_frames) * self.cfg.stream_frame_us as u64;
            audio as f64 / (t1 - t0) as f64
        })
    }

    fn backlog_now(&self) -> u64 {
        self.backlog.back().map_or(0, |b| b.1)
    }

    /// Audio is waiting and not draining (compared with half a second ago): a backlog left
    /// over from before a switch down drains and is no new signal.
    fn backlog_growing(&self, now_us: u64) -> bool {
        let then = self.backlog.iter().find(|(t, _)| *t + 500_000 >= now_us).map_or(0, |b| b.1);
        let now = self.backlog_now();
        now > 0 && now >= then
    }

    /// What the link carries at most, by how fast audio piles up at the server: at a rung
    /// costing `r` on a link carrying `c`, the backlog grows by `1 − c/r` seconds each
    /// second — counting what skips to live threw away of it (a profile with a small latency
    /// budget skips before the backlog can grow). Over the last half second; infinite when
    /// it does not grow.
    fn backlog_growth_bound(&self, now_us: u64) -> f64 {
        let growth = || {
            let &(t0, b0) = self.backlog.iter().find(|(t, _)| *t + BACKLOG_GROWTH_SPAN_US >= now_us)?;
            let &(t1, b1) = self.backlog.back()?;
            let span = t1.checked_sub(t0).filter(|s| *s >= BACKLOG_GROWTH_SPAN_US / 2)?;
            let skipped: u64 = self.skipped.iter().filter(|(t, _)| *t > t0 && *t <= t1).map(|s| s.1).sum();
            Some((b1 + skipped).checked_sub(b0)? as f64 / span as f64).filter(|g| *g > 0.0)
        };
        growth().map_or(f64::INFINITY, |g| self.cost_bps(self.profile, self.rung) * (1.0 - g.min(1.0)))
    }

    fn profile_message_us(&self) -> u64 {
        self.batch() as u64 * self.cfg.stream_frame_us as u64
    }

    /// The strongest current congestion signal, if any.
    fn congestion(&mut self, now_us: u64) -> Option<Reason> {
        let backlog = self.backlog_now();
        if backlog >= self.cfg.backlog_us + self.profile_message_us() && self.backlog_growing(now_us) {
            let growth = self.backlog_growth_bound(now_us);
            let capacity_kbps = self.fresh_capacity(now_us, false).map(|c| (c.min(growth) / 1000.0) as u32);
            return Some(Reason::Backlog { backlog_ms: (backlog / 1000) as u32, capacity_kbps });
        }
        if self.delay_strikes >= DELAY_STRIKES {
            return Some(Reason::QueueDelay { queue_delay_ms: (self.strike_queue_us / 1000) as u32 });
        }
        if let Some((_, bps)) = self.bwe
            && self.cost_bps(self.profile, self.rung) > bps
        {
            return Some(Reason::Estimate { estimate_kbps: (bps / 1000.0) as u32 });
        }
        if let Some((at, reason)) = self.skip_signal
            && at + CLIENT_SIGNAL_TTL_US >= now_us
        {
            return Some(reason);
        }
        match self.client_signal {
            Some((at, reason)) if at + CLIENT_SIGNAL_TTL_US >= now_us => Some(reason),
            _ => None,
        }
    }

    /// The link-limited throughput measured in the last two windows, or over the open window
    /// when audio has been waiting for most of it (`coarse`: however few bytes it holds).
    fn fresh_capacity(&self, now_us: u64, coarse: bool) -> Option<f64> {
        let window = self.cfg.sample_window_us;
        let closed = self.est.last_limited_us().is_some_and(|t| t + 2 * window + 50_000 >= now_us);
        let open = self.est.open_window_bps(now_us, self.written_bytes, window / 2, false);
        // coarse: what the socket drained since audio started to wait, however short
        let drained = self.backlog_since.and_then(|(t, b)| {
            let span = now_us.checked_sub(t).filter(|s| *s >= COARSE_SPAN_US)?;
            let bytes = self.written_bytes.saturating_sub(b);
            (bytes > 0).then(|| bytes as f64 * 8.0 * 1e6 / span as f64)
        });
        let open = open.or(drained.filter(|_| coarse));
        let measured = match (closed.then(|| self.est.capacity_bps()).flatten(), open) {
            (Some(c), Some(o)) => Some(c.min(o)),
            (c, o) => c.or(o),
        };
        // the transport's own estimate bounds what the socket measured
        match (measured, self.bwe.map(|(_, b)| b)) {
            (Some(m), Some(b)) => Some(m.min(b)),
            (m, b) => m.or(b),
        }
    }

    fn can_change(&self, now_us: u64) -> bool {
        self.last_change_us.is_none_or(|t| now_us >= t + self.cfg.interval_us)
    }

    /// The change to apply now, if any; at most one per adaptation interval.
    pub fn poll(&mut self, now_us: u64) -> Option<Decision> {
        let dt = now_us.saturating_sub(self.last_poll_us);
        self.last_poll_us = now_us;
        let signal = self.congestion(now_us);
        self.update_backoff(now_us);
        if signal.is_some() {
            self.calm_since_us = now_us;
        } else if now_us >= self.hold_until_us && now_us >= self.calm_since_us + 1_000_000 {
            let top = self.cost_bps(self.profile, self.ladder.len() - 1);
            let grown = self.avail_bps * (1.0 + self.cfg.growth_per_s).powf(dt as f64 / 1e6);
            let cap = self.measured_cap_bps(now_us).unwrap_or(f64::INFINITY);
            self.avail_bps = grown.min(2.0 * top).min(cap).max(self.avail_bps);
        }
        if !self.can_change(now_us) {
            return None;
        }
        // a late-packet signal waits for its turn behind a congestion signal
        let decision = match (signal, self.late_signal) {
            (Some(reason), _) => self.switch_down(reason, now_us),
            (None, true) => {
                self.late_signal = false;
                // double the protection the floor has now, at least to the full one
                let rtts = (self.jitter_rtts() * 2).max(self.cfg.jitter_rtts).min(self.cfg.max_jitter_rtts);
                self.late_rtts = rtts;
                // the decision carries the advice: a pending TCP one is superseded
                self.floor_moved = false;
                Some(self.decide(
                    now_us,
                    Direction::Down,
                    (self.profile, self.rung),
                    Reason::LateFrames { rtts },
                ))
            }
            (None, false) => self.relax(now_us).or_else(|| {
                (now_us >= self.calm_since_us + self.cfg.stable_us).then(|| self.switch_up(now_us)).flatten()
            }),
        }?;
        self.last_change_us = Some(now_us);
        if decision.retargets_jitter() {
            self.advised_floor_us = Some(self.jitter_target_us());
        }
        self.client_signal = None;
        self.skip_signal = None;
        self.delay_strikes = 0;
        if decision.profile_changed {
            self.stats.profile_changes += 1;
        }
        match decision.direction {
            Direction::Up => {
                self.stats.switches_up += 1;
                self.last_up_us = Some(now_us);
                // let this probe show its effect before the estimate grows towards the next
                self.hold_until_us = self.hold_until_us.max(now_us + self.cfg.interval_us);
            }
            Direction::Down => {
                self.stats.switches_down += 1;
                // the first switch down soon after a switch up fails that probe; a second one
                // in the same trouble is the same failure (counting it again would double the
                // hold: after a one-second outage, half a minute pinned to a low rung)
                let probe = self.last_up_us.filter(|t| now_us < t + 3 * self.cfg.interval_us);
                let first_down_since = probe.is_some_and(|up| self.last_down_us.is_none_or(|d| d < up));
                if first_down_since {
                    self.stats.failed_probes += 1;
                    self.failures = (self.failures + 1).min(MAX_BACKOFF_DOUBLINGS + 1);
                } else if probe.is_none() {
                    self.failures = 0;
                }
                self.last_down_us = Some(now_us);
                if decision.rung < decision.from_rung || decision.profile_changed {
                    self.last_rung_down_us = Some(now_us);
                }
                if matches!(
                    decision.reason,
                    Reason::Backlog { .. } | Reason::QueueDelay { .. } | Reason::Lagged { .. }
                ) {
                    self.last_shortage_us = Some(now_us);
                }
                self.delay_armed = false;
                let doublings = self.failures.saturating_sub(1);
                self.hold_until_us = now_us + (self.cfg.hold_us << doublings);
            }
        }
        Some(decision)
    }

    /// Forgets failed probes once a probe held for three intervals, and lifts the hold when
    /// round trips show the path changed.
    fn update_backoff(&mut self, now_us: u64) {
        let held_up = match (self.last_up_us, self.last_down_us) {
            (Some(up), down) => down.is_none_or(|d| d < up) && now_us >= up + 3 * self.cfg.interval_us,
            (None, _) => false,
        };
        if held_up {
            self.failures = 0;
        }
        // the path's round trip once the queue of the last switch down had drained, against the
        // latest (a draining queue would make any later round trip look like a faster path)
        let drained = self.drained_us.filter(|t| self.last_down_us.is_some_and(|d| *t > d));
        // at least a recent window's worth of settled samples: a few pings held back by a
        // retransmission would otherwise pass for the path's round trip
        let drained = drained.filter(|t| now_us >= t + 2 * RTT_RECENT_US);
        let settled = drained.and_then(|t| self.rtt.min_between(t, now_us.saturating_sub(RTT_RECENT_US)));
        if self.ceiling.is_some_and(|(t, _)| now_us >= t + CEILING_CALM_US)
            && now_us >= self.calm_since_us + CEILING_CALM_US
        {
            self.ceiling = None;
        }
        if (now_us < self.hold_until_us || self.ceiling.is_some())
            && let (Some(then), Some(recent)) = (settled, self.rtt.recent_min_us(now_us))
            && (recent as f64) < PATH_CHANGE_RTT_RATIO * then as f64
        {
            self.hold_until_us = now_us;
            self.failures = 0;
            self.ceiling = None;
        }
    }

    fn decide(
        &mut self,
        now_us: u64,
        dir: Direction,
        to: (StreamingProfile, usize),
        reason: Reason,
    ) -> Decision {
        let from_rung = self.rung;
        let profile_changed = to.0.name != self.profile.name;
        self.profile = to.0;
        self.rung = to.1;
        Decision {
            at_us: now_us,
            direction: dir,
            from_rung,
            rung: self.rung,
            kbps: self.ladder[self.rung],
            profile: self.profile.name,
            profile_changed,
            jitter_target_ms: (self.jitter_target_us() / 1000) as u32,
            reason,
        }
    }

    fn switch_down(&mut self, reason: Reason, now_us: u64) -> Option<Decision> {
        let current = self.cost_bps(self.profile, self.rung);
        // audio thrown away for lag waited longer than any backlog threshold: severe too
        let severe = self.backlog_now() >= 2 * (self.cfg.backlog_us + self.profile_message_us())
            || matches!(reason, Reason::Lagged { .. });
        // audio has just started to wait: a measurement of the link is at most a window away,
        // and switching on a guess now could land one rung down and cost another interval
        let fresh = self.fresh_capacity(now_us, severe);
        if fresh.is_none() && self.backlog_growing(now_us) && !severe {
            return None;
        }
        // a fresh measurement with room for the current rung: the signal is what is left of a
        // queue that is draining (round trips lag by their window), not a new shortage
        if fresh.is_some_and(|c| current <= self.cfg.headroom * c) {
            return None;
        }
        // trust a fresh measurement; without one, assume the current rung is too much. Either
        // way, no more than the growth of the backlog allows: buffers between the socket and
        // the bottleneck can make the socket's rate look higher than the link's for a while
        let budget = fresh
            .unwrap_or_else(|| self.avail_bps.min(0.85 * current))
            .min(self.backlog_growth_bound(now_us));
        self.avail_bps = budget;
        // the rung being left did not fit: nothing costing as much fits until proven otherwise
        // (a coarse figure is no bound: it may be far too low)
        let precise = if severe { None } else { fresh };
        self.ceiling = Some((now_us, precise.map_or(current, |c| c.min(current)) * 0.99));
        let allowed = self.profile.allowed(&self.ladder);
        let lowest = *allowed.start();
        let fits =
            allowed.clone().rev().find(|r| self.cost_bps(self.profile, *r) <= self.cfg.headroom * budget);
        match fits {
            Some(r) if r < self.rung => Some(self.decide(now_us, Direction::Down, (self.profile, r), reason)),
            _ if self.rung > lowest => {
                Some(self.decide(now_us, Direction::Down, (self.profile, self.rung - 1), reason))
            }
            _ if self.profile.name != ProfileName::EmergencyFallback => {
                let emergency = ProfileName::EmergencyFallback.params();
                let reason = Reason::Fallback { budget_kbps: (budget / 1000.0) as u32 };
                Some(self.decide(now_us, Direction::Down, (emergency, 0), reason))
            }
            _ => None,
        }
    }

    /// Halves a deepened jitter floor after a long calm; below the full protection, the TCP
    /// sizing alone decides again.
    fn relax(&mut self, now_us: u64) -> Option<Decision> {
        let calm = self.last_late_us.is_some_and(|t| now_us >= t + self.cfg.late_calm_us);
        if self.late_rtts == 0 || !calm {
            return None;
        }
        let before = self.jitter_target_us();
        self.late_rtts /= 2;
        if self.late_rtts < self.cfg.jitter_rtts {
            self.late_rtts = 0;
        }
        self.last_late_us = Some(now_us);
        // back at a floor the TCP sizing holds anyway (a connection without samples): nothing
        // to tell the client
        if self.jitter_target_us() == before {
            return None;
        }
        self.floor_moved = false;
        let rtts = self.jitter_rtts();
        Some(self.decide(now_us, Direction::Up, (self.profile, self.rung), Reason::Calm { rtts }))
    }

    fn switch_up(&mut self, now_us: u64) -> Option<Decision> {
        let margin = self.cfg.up_margin;
        let estimate_kbps = (self.avail_bps / 1000.0) as u32;
        if self.profile.name == ProfileName::EmergencyFallback && self.request.initial() != self.profile.name
        {
            let wanted = self.request.initial().params();
            let allowed = wanted.allowed(&self.ladder);
            let lowest = *allowed.start();
            if self.avail_bps < margin * self.cost_bps(wanted, lowest) {
                return None;
            }
            let best = allowed.rev().find(|r| margin * self.cost_bps(wanted, *r) <= self.avail_bps)?;
            return Some(self.decide(
                now_us,
                Direction::Up,
                (wanted, best),
                Reason::Recovered { estimate_kbps },
            ));
        }
        let next = self.rung + 1;
        if !self.profile.allowed(&self.ladder).contains(&next) {
            return None;
        }
        // a rung the link was just measured not to carry
        if self
            .ceiling
            .is_some_and(|(t, c)| now_us < t + CEILING_MEMORY_US && self.cost_bps(self.profile, next) > c)
        {
            return None;
        }
        // one probe at a time: the last one must have had its chance to show a queue
        if self.last_up_us.is_some_and(|t| now_us < t + UP_SPACING_INTERVALS * self.cfg.interval_us) {
            return None;
        }
        // a queue that is building but not yet a signal is no time to add load
        if self.rtt.queue_delay_us(now_us) > self.cfg.queue_delay_us / 2 {
            return None;
        }
        let cost = self.cost_bps(self.profile, next);
        if self.avail_bps < margin * cost {
            return None;
        }
        let reason = Reason::Probe {
            estimate_kbps,
            next_kbps: self.ladder[next],
            next_cost_kbps: (cost / 1000.0) as u32,
        };
        Some(self.decide(now_us, Direction::Up, (self.profile, next), reason))
    }
}
