//! A link whose parameters change over time: a list of segments, each holding from its start
//! until the next one starts; the last holds forever.
//!
//! Transmission times are integrated across segment boundaries, so a packet that starts
//! serialising at 1 Mbit/s and finishes after a drop to 64 kbit/s takes exactly as long as
//! it would on the real link.

use super::params::LinkParams;

/// Time-varying link parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// (start µs, params), sorted by start; the first starts at 0.
    segments: Vec<(u64, LinkParams)>,
}

impl From<LinkParams> for Schedule {
    fn from(p: LinkParams) -> Self {
        Schedule::constant(p)
    }
}

impl Schedule {
    pub fn constant(params: LinkParams) -> Schedule {
        Schedule { segments: vec![(0, params)] }
    }

    /// Segments given as (duration µs, params), played one after another from t = 0.
    pub fn sequence(parts: impl IntoIterator<Item = (u64, LinkParams)>) -> Schedule {
        let mut segments = Vec::new();
        let mut t = 0u64;
        for (dur, p) in parts {
            segments.push((t, p));
            t = t.saturating_add(dur);
        }
        if segments.is_empty() {
            segments.push((0, LinkParams::ideal()));
        }
        Schedule { segments }
    }

    fn index_at(&self, t_us: u64) -> usize {
        self.segments.partition_point(|(start, _)| *start <= t_us).saturating_sub(1)
    }

    pub fn params_at(&self, t_us: u64) -> &LinkParams {
        &self.segments[self.index_at(t_us)].1
    }

    /// Every (start, params) pair, in order.
    pub fn segments(&self) -> &[(u64, LinkParams)] {
        &self.segments
    }

    /// The first moment at or after `after_us` where the bandwidth falls, if any (used to
    /// measure how fast a controller reacts).
    pub fn next_rate_drop(&self, after_us: u64) -> Option<u64> {
        let rate = |p: &LinkParams| p.bandwidth_bps.unwrap_or(u64::MAX);
        self.segments.windows(2).find(|w| w[1].0 >= after_us && rate(&w[1].1) < rate(&w[0].1)).map(|w| w[1].0)
    }

    fn segment_end(&self, i: usize) -> u64 {
        self.segments.get(i + 1).map_or(u64::MAX, |s| s.0)
    }

    /// When `bits` finish transmitting if transmission starts at `t0_us`; `None` if never
    /// (the link is down from some point on forever).
    pub fn transmit_end(&self, t0_us: u64, bits: u64) -> Option<u64> {
        let mut i = self.index_at(t0_us);
        let mut t = t0_us;
        let mut left = bits as u128;
        loop {
            let end = self.segment_end(i);
            match self.segments[i].1.bandwidth_bps {
                None => return Some(t),
                Some(0) => {}
                Some(bps) => {
                    let span = (end - t) as u128;
                    let cap = span.saturating_mul(bps as u128) / 1_000_000;
                    if left <= cap || end == u64::MAX {
                        let us = (left * 1_000_000).div_ceil(bps as u128);
                        return Some(t.saturating_add(us.min(u64::MAX as u128) as u64));
                    }
                    left -= cap;
                }
            }
            if end == u64::MAX {
                return None;
            }
            t = end;
            i += 1;
        }
    }

    /// Bits the link can carry between `t0_us` and `t1_us` (`u64::MAX` if unlimited).
    pub fn capacity_bits(&self, t0_us: u64, t1_us: u64) -> u64 {
        let mut i = self.index_at(t0_us);
        let mut t = t0_us;
        let mut total: u128 = 0;
        while t < t1_us {
            let end = self.segment_end(i).min(t1_us);
            match self.segments[i].1.bandwidth_bps {
                None => return u64::MAX,
                Some(bps) => total += (end - t) as u128 * bps as u128 / 1_000_000,
            }
            t = end;
            i += 1;
        }
        total.min(u64::MAX as u128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(bps: u64) -> LinkParams {
        LinkParams { bandwidth_bps: Some(bps), ..LinkParams::ideal() }
    }

    #[test]
    fn transmit_end_integrates_across_a_drop() {
        let s = Schedule::sequence([(1_000_000, rate(1_000_000)), (1_000_000, rate(64_000))]);
        // 1000 bits at 1 Mbit/s: 1 ms
        assert_eq!(s.transmit_end(0, 1000), Some(1000));
        // starting 0.5 ms before the drop: 500 bits fast, 500 bits at 64 kbit/s (7.8125 ms)
        assert_eq!(s.transmit_end(999_500, 1000), Some(1_000_000 + 7_813));
        assert_eq!(s.capacity_bits(500_000, 1_500_000), 500_000 + 32_000);
        assert_eq!(s.next_rate_drop(0), Some(1_000_000));
        assert_eq!(s.params_at(5_000_000).bandwidth_bps, Some(64_000));
    }

    #[test]
    fn outage_and_unlimited() {
        let s = Schedule::sequence([(1_000, rate(0)), (1_000, rate(8_000_000))]);
        assert_eq!(s.transmit_end(0, 8), Some(1_001));
        let down = Schedule::constant(rate(0));
        assert_eq!(down.transmit_end(0, 8), None);
        let fast = Schedule::constant(LinkParams::ideal());
        assert_eq!(fast.transmit_end(7, 1 << 40), Some(7));
        assert_eq!(fast.capacity_bits(0, 1), u64::MAX);
    }
}
