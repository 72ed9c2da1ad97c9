//! Loss and delay attribution for `ondes probe`: which stage lost which frames, and why.
//!
//! Pure arithmetic over counters measured in two places: what the probe itself saw (frames
//! received, sequence gaps, latency) and the server's per-stage counters over the same
//! window (source production, publisher gaps and underruns, frames the hub skipped for this
//! very connection). Each stage's loss is expressed as a share of the frames real time
//! called for during the window, so the shares add up and can be compared with an SLA.
//!
//! | stage | loss means | measured by |
//! |---|---|---|
//! | `source` | audio real time called for but never produced, or silence played because the publisher's own source is slower than real time | server: frames produced vs wall clock; publisher underrun frames |
//! | `publisher` | frames the publisher never sent (gaps in its sequence numbers) or sent out of order | server: publisher gap and out-of-order counters |
//! | `hub` | frames skipped for this listener because it fell behind | server: this connection's skipped frames |
//! | `transport` | frames lost in a failed socket write | server: send failures |
//! | `network` | gaps only the probe saw (not explained by the hub) | probe sequence gaps − hub skips |
//! | `client` | frames that reached the probe too late to be useful | probe: late arrivals |

/// The measurements over one probe window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProbeCounters {
    /// Window length in seconds.
    pub duration_secs: f64,
    /// Nominal frames per second of the stream.
    pub frames_per_second: f64,
    /// Frames the probe received.
    pub received: u64,
    /// Missing sequence numbers the probe saw.
    pub probe_gaps: u64,
    /// Frames that arrived later than the lateness bound.
    pub late: u64,
    /// Server: frames the source produced in the window.
    pub produced: u64,
    /// Server: frames the publisher never sent (sequence gaps).
    pub publisher_gaps: u64,
    /// Server: frames the publisher sent out of order (refused).
    pub publisher_out_of_order: u64,
    /// Server: silence frames played while the publisher was connected but behind.
    pub publisher_underruns: u64,
    /// Server: silence frames played with no publisher at all.
    pub publisher_idle: u64,
    /// Server: frames skipped for this connection.
    pub hub_skipped: u64,
    /// Server: frames lost in failed sends (stream-wide; attributed as an upper bound).
    pub send_failed: u64,
    /// Delay figures (ms): server-side hand-off latency, and the probe's end-to-end p50.
    pub server_latency_ms: f64,
    pub probe_latency_p50_ms: f64,
}

/// One stage's share of the loss and the delay.
#[derive(Debug, Clone, PartialEq)]
pub struct StageAttribution {
    pub stage: &'static str,
    pub loss_percent: f64,
    pub delay_ms: f64,
    pub cause: String,
}

/// The expected number of frames in the window (by the wall clock).
pub fn expected_frames(c: &ProbeCounters) -> f64 {
    (c.duration_secs * c.frames_per_second).max(1.0)
}

/// Attributes the window's loss and delay to stages, largest loss first. Stages with
/// nothing to report are still listed (with 0) so that a reader sees they were checked.
pub fn attribute(c: &ProbeCounters) -> Vec<StageAttribution> {
    let expected = expected_frames(c);
    let pct = |frames: f64| (frames.max(0.0) / expected * 100.0 * 1000.0).round() / 1000.0;
    let shortfall = (expected - c.produced as f64).max(0.0);
    // tolerate scheduling noise: a frame or two short over the window is not a slow source
    let shortfall = if shortfall <= 2.0 { 0.0 } else { shortfall };
    let source_loss = shortfall + c.publisher_underruns as f64;
    let publisher_loss = (c.publisher_gaps + c.publisher_out_of_order) as f64;
    // A gap at the probe is either a hub skip or a loss on the way (TCP loses nothing, so a
    // reconnect): the server's skip count bounds the hub's share. It is read after the probe
    // has caught up with its window, so it may include skips of frames just past the window,
    // which the probe did not count as gaps — hence the bound.
    let hub_skipped = c.hub_skipped.min(c.probe_gaps);
    let network = c.probe_gaps.saturating_sub(hub_skipped) as f64;
    let network_delay = (c.probe_latency_p50_ms - c.server_latency_ms).max(0.0);
    let mut v = vec![
        StageAttribution {
            stage: "source",
            loss_percent: pct(source_loss),
            delay_ms: 0.0,
            cause: if c.publisher_underruns > 0 {
                format!(
                    "the publisher delivered audio slower than real time: {} frames of silence were played \
                     while it was connected; pace the publisher at real time or let it burst ahead (TTS: stream \
                     chunks as they are synthesised)",
                    c.publisher_underruns
                )
            } else if shortfall > 0.0 {
                format!(
                    "the source produced {} frames where real time called for {:.0}: it is slower than real \
                     time (a starved pipe, a slow decoder or an overloaded machine)",
                    c.produced, expected
                )
            } else {
                "the source kept real time".into()
            },
        },
        StageAttribution {
            stage: "publisher",
            loss_percent: pct(publisher_loss),
            delay_ms: 0.0,
            cause: if publisher_loss > 0.0 {
                format!(
                    "the publisher skipped {} sequence numbers and sent {} frames out of order: frames were lost \
                     before reaching the server (check its send loop: every frame sent once, awaited, in order)",
                    c.publisher_gaps, c.publisher_out_of_order
                )
            } else {
                "no publisher loss".into()
            },
        },
        StageAttribution {
            stage: "hub",
            loss_percent: pct(hub_skipped as f64),
            delay_ms: 0.0,
            cause: if hub_skipped > 0 {
                format!(
                    "this listener read too slowly and the hub skipped {} frames to keep it live: a slow link or \
                     a busy client (use a lower rung, format=lightweight, max_fps, or batch)",
                    hub_skipped
                )
            } else {
                "the hub skipped nothing for this listener".into()
            },
        },
        StageAttribution {
            stage: "transport",
            loss_percent: pct(c.send_failed as f64),
            delay_ms: (c.server_latency_ms * 1000.0).round() / 1000.0,
            cause: if c.send_failed > 0 {
                format!("{} frames were lost in failed socket writes on this stream", c.send_failed)
            } else {
                "capture to hand-off to the socket, inside the server".into()
            },
        },
        StageAttribution {
            stage: "network",
            loss_percent: pct(network),
            delay_ms: (network_delay * 1000.0).round() / 1000.0,
            cause: if network > 0.0 {
                format!(
                    "{network:.0} frames missing at the probe that the server did not skip: lost in transit or on reconnect"
                )
            } else {
                "hand-off to arrival at the probe".into()
            },
        },
        StageAttribution {
            stage: "client",
            loss_percent: pct(c.late as f64),
            delay_ms: 0.0,
            cause: if c.late > 0 {
                format!("{} frames arrived too late to play", c.late)
            } else {
                "nothing arrived too late".into()
            },
        },
    ];
    v.sort_by(|a, b| b.loss_percent.total_cmp(&a.loss_percent));
    v
}

/// Total loss: the share of real-time audio that did not reach the probe as real audio.
pub fn total_loss_percent(attribution: &[StageAttribution]) -> f64 {
    attribution.iter().map(|a| a.loss_percent).sum::<f64>().min(100.0)
}

/// RFC 3550 interarrival jitter: a running estimate of the mean deviation of transit time.
#[derive(Debug, Clone, Copy, Default)]
pub struct JitterEstimator {
    last_transit_us: Option<i64>,
    jitter_us: f64,
}

impl JitterEstimator {
    /// Feeds one frame's transit time (arrival − capture, on any consistent clocks).
    pub fn update(&mut self, transit_us: i64) {
        if let Some(last) = self.last_transit_us {
            let d = (transit_us - last).abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit_us);
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ProbeCounters {
        ProbeCounters {
            duration_secs: 10.0,
            frames_per_second: 50.0,
            received: 500,
            produced: 500,
            server_latency_ms: 2.0,
            probe_latency_p50_ms: 3.0,
            ..Default::default()
        }
    }

    fn loss(v: &[StageAttribution], stage: &str) -> f64 {
        v.iter().find(|a| a.stage == stage).unwrap().loss_percent
    }

    #[test]
    fn clean_window_blames_nobody() {
        let v = attribute(&base());
        assert!(v.iter().all(|a| a.loss_percent == 0.0));
        assert_eq!(v.len(), 6);
        assert_eq!(total_loss_percent(&v), 0.0);
        assert_eq!(v.iter().find(|a| a.stage == "network").unwrap().delay_ms, 1.0);
    }

    #[test]
    fn each_fault_lands_on_its_stage() {
        let v = attribute(&ProbeCounters { publisher_gaps: 100, ..base() });
        assert_eq!(loss(&v, "publisher"), 20.0);
        assert_eq!(v[0].stage, "publisher");
        assert!(v[0].cause.contains("skipped 100"));

        let v = attribute(&ProbeCounters { produced: 400, received: 400, ..base() });
        assert_eq!(loss(&v, "source"), 20.0);
        assert_eq!(loss(&v, "network"), 0.0);

        let v = attribute(&ProbeCounters { publisher_underruns: 100, ..base() });
        assert_eq!(loss(&v, "source"), 20.0);

        let v = attribute(&ProbeCounters { hub_skipped: 75, probe_gaps: 75, received: 425, ..base() });
        assert_eq!(loss(&v, "hub"), 15.0);
        assert_eq!(loss(&v, "network"), 0.0, "gaps explained by the hub are not the network's");

        // skips of frames just past the window are not this window's loss
        let v = attribute(&ProbeCounters { hub_skipped: 90, probe_gaps: 75, received: 425, ..base() });
        assert_eq!(loss(&v, "hub"), 15.0);
        assert_eq!(loss(&v, "network"), 0.0);

        let v = attribute(&ProbeCounters { probe_gaps: 10, ..base() });
        assert_eq!(loss(&v, "network"), 2.0);
    }

    #[test]
    fn tiny_shortfalls_are_noise() {
        let v = attribute(&ProbeCounters { produced: 499, ..base() });
        assert_eq!(loss(&v, "source"), 0.0);
    }

    #[test]
    fn jitter_of_constant_transit_is_zero() {
        let mut j = JitterEstimator::default();
        for _ in 0..100 {
            j.update(5_000);
        }
        assert_eq!(j.jitter_ms(), 0.0);
        for i in 0..1000 {
            j.update(if i % 2 == 0 { 0 } else { 10_000 });
        }
        assert!((j.jitter_ms() - 10.0).abs() < 0.5);
    }
}
