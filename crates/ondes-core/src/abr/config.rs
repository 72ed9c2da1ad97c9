//! Tuning of the adaptation controller, with the reason for each default.

/// Settings of a [`super::Controller`].
#[derive(Debug, Clone, PartialEq)]
pub struct AbrConfig {
    /// At most one change per interval: a switch needs time to show its effect (the old
    /// rung's bytes must drain), and a listener hearing the quality flip every second is
    /// worse off than one hearing a lower steady quality.
    pub interval_us: u64,
    /// Going up needs an estimate of at least `up_margin` × the next rung's cost (20%
    /// hysteresis): an estimate that only just clears it would oscillate.
    pub up_margin: f64,
    /// Going up needs this long without any congestion signal.
    pub stable_us: u64,
    /// Audio waiting at the server beyond one message that signals the link cannot keep up.
    /// Small, because it comes after the socket's own buffer and the bottleneck's queue have
    /// filled: by then the client's buffer is already draining.
    pub backlog_us: u64,
    /// Standing queueing delay (from round trips) that signals congestion, on top of one
    /// message's worth (its own serialisation).
    pub queue_delay_us: u64,
    /// A switch down picks the best rung costing at most this share of the measured
    /// capacity, so that the backlog drains.
    pub headroom: f64,
    /// While the sender is app-limited it cannot measure spare capacity, so — as WebRTC's
    /// GCC does — the estimate grows by this share per second while nothing signals
    /// congestion; the margin, the calm period and the hold below bound the cost of a
    /// wrong guess.
    pub growth_per_s: f64,
    /// After a switch down, the estimate does not grow for this long (the link was just
    /// measured; probing again at once would fail again); it doubles with each failed probe.
    /// A link that gets faster usually shows it sooner in round trips (less serialisation,
    /// a shorter path), which lifts the hold.
    pub hold_us: u64,
    /// Rung a listener starts on (the highest at or below it): a middle rung, so that a
    /// slow link is not flooded before the first measurement and a fast one is at the top
    /// within a few intervals.
    pub start_kbps: u32,
    /// Round trips of jitter floor a listener starts with (see
    /// [`super::StreamingProfile::jitter_floor_us`]) and the most it is deepened to.
    pub jitter_rtts: u32,
    pub max_jitter_rtts: u32,
    /// Calm (no late underrun) after which a deepened floor halves again.
    pub late_calm_us: u64,
    /// Duration of the stream's frames.
    pub stream_frame_us: u32,
    /// Window of the throughput estimator.
    pub sample_window_us: u64,
}

impl Default for AbrConfig {
    fn default() -> Self {
        AbrConfig {
            interval_us: 2_000_000,
            up_margin: 1.2,
            stable_us: 4_000_000,
            backlog_us: 100_000,
            queue_delay_us: 60_000,
            headroom: 0.9,
            growth_per_s: 0.15,
            hold_us: 8_000_000,
            jitter_rtts: 3,
            max_jitter_rtts: 8,
            late_calm_us: 60_000_000,
            start_kbps: 64,
            stream_frame_us: 20_000,
            sample_window_us: 500_000,
        }
    }
}
