//! The parameters of a link at one moment, and the named profiles.

use super::NetmodelError;
use super::jitter::{Jitter, JitterShape};
use super::units::{parse_bytes, parse_fraction, parse_number, parse_rate, parse_time_us};

/// How much the bottleneck may hold before it drops (drop-tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// As a time at the link's rate: what a router or a radio scheduler typically buffers
    /// (and why a slow link has seconds of "bufferbloat" with a fixed byte buffer).
    Time {
        us: u64,
    },
    Bytes(u64),
}

/// Smallest bottleneck buffer in bytes: two full-size packets, so a slow link can still
/// hold one packet while transmitting another.
pub const MIN_QUEUE_BYTES: u64 = 3_000;

impl QueueLimit {
    /// The limit in bytes at bandwidth `bps` (unlimited bandwidth → no queue forms).
    pub fn bytes(&self, bps: Option<u64>) -> u64 {
        match (*self, bps) {
            (QueueLimit::Bytes(b), _) => b.max(MIN_QUEUE_BYTES),
            (QueueLimit::Time { us }, Some(bps)) => (bps as u128 * us as u128 / 8_000_000) as u64,
            (QueueLimit::Time { .. }, None) => u64::MAX,
        }
        .max(MIN_QUEUE_BYTES)
    }
}

/// What a link does to packets at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkParams {
    /// Bottleneck rate in bit/s, counting every byte handed to [`super::Link::send`]
    /// (callers include their IP/TCP/UDP headers); `None` = unlimited; `Some(0)` = outage.
    pub bandwidth_bps: Option<u64>,
    /// Fixed one-way propagation delay.
    pub delay_us: u64,
    /// Extra random delay per packet.
    pub jitter: Jitter,
    /// Average fraction of packets lost (0..1), after the bottleneck.
    pub loss: f64,
    /// Mean length of a loss burst in packets. 1 = independent losses; > 1 = Gilbert–Elliott
    /// two-state model with the same average loss (radio fades, Wi-Fi interference).
    pub burst: f64,
    /// Bottleneck buffer.
    pub queue: QueueLimit,
    /// Probability that a packet is held back by `reorder_us` and overtaken by later ones.
    pub reorder: f64,
    pub reorder_us: u64,
}

/// The link profile names accepted by [`LinkParams::profile`].
pub const PROFILE_NAMES: [&str; 5] = ["3g", "wifi", "fiber", "satellite", "custom"];

impl LinkParams {
    /// A perfect link: no limit, no delay, no loss. `custom` starts from this.
    pub fn ideal() -> LinkParams {
        LinkParams {
            bandwidth_bps: None,
            delay_us: 0,
            jitter: Jitter::NONE,
            loss: 0.0,
            burst: 1.0,
            queue: QueueLimit::Time { us: 200_000 },
            reorder: 0.0,
            reorder_us: 10_000,
        }
    }

    /// A named profile. The issue fixes rate, delay and loss; jitter, burstiness, buffer and
    /// reordering are our choices for each kind of link (see docs/adaptive.md):
    ///
    /// | name | rate | delay | loss | jitter (mean, Pareto) | loss bursts | buffer | reorder |
    /// |---|---|---|---|---|---|---|---|
    /// | `3g` | 200 kbit/s | 50 ms | 1% | 15 ms | 3 packets | 500 ms | 0.5% |
    /// | `wifi` | 1 Mbit/s | 20 ms | 0.1% | 5 ms | 2 packets | 100 ms | 0.1% |
    /// | `fiber` | 5 Mbit/s | 5 ms | 0.01% | 0.5 ms | independent | 50 ms | 0 |
    /// | `satellite` | 100 kbit/s | 200 ms | 5% | 10 ms | 4 packets | 300 ms | 0 |
    pub fn profile(name: &str) -> Result<LinkParams, NetmodelError> {
        let base = LinkParams::ideal();
        Ok(match name.to_ascii_lowercase().as_str() {
            "3g" => LinkParams {
                bandwidth_bps: Some(200_000),
                delay_us: 50_000,
                jitter: Jitter::pareto(15_000),
                loss: 0.01,
                burst: 3.0,
                queue: QueueLimit::Time { us: 500_000 },
                reorder: 0.005,
                ..base
            },
            "wifi" => LinkParams {
                bandwidth_bps: Some(1_000_000),
                delay_us: 20_000,
                jitter: Jitter::pareto(5_000),
                loss: 0.001,
                burst: 2.0,
                queue: QueueLimit::Time { us: 100_000 },
                reorder: 0.001,
                ..base
            },
            "fiber" => LinkParams {
                bandwidth_bps: Some(5_000_000),
                delay_us: 5_000,
                jitter: Jitter::pareto(500),
                loss: 0.0001,
                queue: QueueLimit::Time { us: 50_000 },
                ..base
            },
            "satellite" => LinkParams {
                bandwidth_bps: Some(100_000),
                delay_us: 200_000,
                jitter: Jitter::pareto(10_000),
                loss: 0.05,
                burst: 4.0,
                queue: QueueLimit::Time { us: 300_000 },
                ..base
            },
            "custom" => base,
            _ => return Err(NetmodelError::UnknownProfile(name.to_string())),
        })
    }

    /// Applies one `key=value` override (`bw`, `delay`, `jitter`, `jitter_dist`, `loss`,
    /// `burst`, `queue`, `reorder`, `reorder_delay`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), NetmodelError> {
        match key {
            "bw" | "bandwidth" | "rate" => self.bandwidth_bps = parse_rate(key, value)?,
            "delay" => self.delay_us = parse_time_us(key, value)?,
            "jitter" => self.jitter.mean_us = parse_time_us(key, value)?,
            "jitter_dist" => {
                self.jitter.shape = match value {
                    "pareto" => JitterShape::Pareto { alpha: 3.0 },
                    "exponential" | "exp" => JitterShape::Exponential,
                    "lognormal" => JitterShape::LogNormal { sigma: 1.0 },
                    _ => {
                        return Err(NetmodelError::BadValue {
                            key: key.into(),
                            value: value.into(),
                            expected: "pareto, exponential or lognormal",
                        });
                    }
                }
            }
            "loss" => self.loss = parse_fraction(key, value)?,
            "burst" => self.burst = parse_number(key, value)?.max(1.0),
            "queue" => {
                self.queue = match parse_time_us(key, value) {
                    Ok(us) if value.trim_end().ends_with('s') => QueueLimit::Time { us },
                    _ => QueueLimit::Bytes(parse_bytes(key, value)?),
                }
            }
            "reorder" => self.reorder = parse_fraction(key, value)?,
            "reorder_delay" => self.reorder_us = parse_time_us(key, value)?,
            _ => return Err(NetmodelError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// A profile name followed by `key=value` overrides, e.g. `custom bw=64kbps delay=50ms`.
    pub fn parse_spec(spec: &str) -> Result<LinkParams, NetmodelError> {
        let mut words = spec.split_whitespace();
        let name = words.next().ok_or_else(|| NetmodelError::UnknownProfile(String::new()))?;
        let mut p = LinkParams::profile(name)?;
        for kv in words {
            let (k, v) = kv.split_once('=').ok_or_else(|| NetmodelError::BadValue {
                key: kv.to_string(),
                value: String::new(),
                expected: "key=value",
            })?;
            p.set(k, v)?;
        }
        Ok(p)
    }

    /// Extra delay of a TCP segment that the link loses, when the loss is repaired by a
    /// retransmission (stream mode): the sender learns of the loss about one RTT plus a
    /// reordering window (RTT/4, as RACK-TLP) after sending, and the retransmission then
    /// arrives where the original would have — so ≈ 1.25 × RTT, at least 10 ms (Linux's
    /// timer floor for tail-loss probes). RTT here is the base round trip: 2 × (delay +
    /// mean jitter), assuming a symmetric path.
    pub fn retransmit_penalty_us(&self) -> u64 {
        let rtt = 2 * (self.delay_us + self.jitter.mean_us);
        (rtt + rtt / 4).max(10_000)
    }

    /// One-line summary for logs and tables.
    pub fn describe(&self) -> String {
        let bw = match self.bandwidth_bps {
            None => "unlimited".to_string(),
            Some(b) if b >= 1_000_000 => format!("{} Mbit/s", b as f64 / 1e6),
            Some(b) => format!("{} kbit/s", b as f64 / 1e3),
        };
        format!(
            "{bw}, delay {} ms, jitter {} ms, loss {}% (bursts {}), reorder {}%",
            self.delay_us as f64 / 1e3,
            self.jitter.mean_us as f64 / 1e3,
            self.loss * 100.0,
            self.burst,
            self.reorder * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_have_the_issue_figures() {
        let p = LinkParams::profile("3g").unwrap();
        assert_eq!((p.bandwidth_bps, p.delay_us, p.loss), (Some(200_000), 50_000, 0.01));
        let p = LinkParams::profile("wifi").unwrap();
        assert_eq!((p.bandwidth_bps, p.delay_us, p.loss), (Some(1_000_000), 20_000, 0.001));
        let p = LinkParams::profile("fiber").unwrap();
        assert_eq!((p.bandwidth_bps, p.delay_us, p.loss), (Some(5_000_000), 5_000, 0.0001));
        let p = LinkParams::profile("satellite").unwrap();
        assert_eq!((p.bandwidth_bps, p.delay_us, p.loss), (Some(100_000), 200_000, 0.05));
        assert!(LinkParams::profile("carrier-pigeon").is_err());
    }

    #[test]
    fn spec_overrides() {
        let p = LinkParams::parse_spec("custom bw=64kbps delay=50ms loss=1%").unwrap();
        assert_eq!(p.bandwidth_bps, Some(64_000));
        assert_eq!(p.delay_us, 50_000);
        assert!((p.loss - 0.01).abs() < 1e-12);
        let q = LinkParams::parse_spec("wifi queue=32kb").unwrap();
        assert_eq!(q.queue, QueueLimit::Bytes(32_000));
        let q = LinkParams::parse_spec("wifi queue=250ms").unwrap();
        assert_eq!(q.queue, QueueLimit::Time { us: 250_000 });
        assert!(matches!(LinkParams::parse_spec("wifi speed=3"), Err(NetmodelError::UnknownKey(_))));
        assert!(LinkParams::parse_spec("wifi loss").is_err());
    }

    #[test]
    fn queue_limit_scales_with_rate() {
        assert_eq!(QueueLimit::Time { us: 100_000 }.bytes(Some(1_000_000)), 12_500);
        assert_eq!(QueueLimit::Time { us: 100_000 }.bytes(Some(64_000)), MIN_QUEUE_BYTES);
    }
}
