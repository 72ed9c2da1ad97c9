//! What a TCP sender's stack knows about a [`Mode::Stream`](super::Mode::Stream) link, as
//! Linux reports it in `TCP_INFO`: a smoothed round trip and its variation, and the segments
//! retransmitted so far — the server's view that sizes a listener's jitter floor
//! (`ondes_core::abr::tcp_floor`). The simulation's TCP and the `ondes netsim` proxy feed
//! it every segment they hand to the link, so both report what the model did.
//!
//! * Round trips (RFC 6298: `srtt ← 7/8 srtt + 1/8 r`, `rttvar ← 3/4 rttvar + 1/4 |srtt − r|`)
//!   from the acknowledgement of each segment sent once (Karn's rule: a retransmitted
//!   segment's acknowledgement says nothing about the round trip). The acknowledgement
//!   comes back one base delay plus the mean jitter after the segment arrived (the reverse
//!   path of the same profile, without drawing from the link's random numbers).
//! * Retransmissions count when the retransmission goes out — one penalty after the first
//!   transmission left the bottleneck, as a real stack counts them — not when the model
//!   decided the loss.

use std::collections::VecDeque;

use ondes_core::abr::TcpInfo;

use super::link::Delivery;
use super::params::LinkParams;

/// The sender's view of one direction; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SenderView {
    /// (acknowledgement time, round-trip sample) of segments sent once, in time order.
    acks: VecDeque<(u64, u64)>,
    /// (time the retransmission goes out, segments) of lost segments, in time order.
    retransmits: VecDeque<(u64, u32)>,
    srtt_us: Option<f64>,
    rttvar_us: f64,
    total_retrans: u32,
}

impl SenderView {
    pub fn new() -> SenderView {
        SenderView::default()
    }

    /// A segment handed to the link at `sent_us` (under `params`, the link's at that time)
    /// and what became of it.
    pub fn sent(&mut self, sent_us: u64, d: &Delivery, params: &LinkParams) {
        if d.retransmissions == 0 {
            let back = params.delay_us + params.jitter.mean_us;
            let ack = d.at_us.saturating_add(back);
            self.acks.push_back((ack, ack.saturating_sub(sent_us)));
        } else {
            let first = d.departed_us.saturating_add(params.retransmit_penalty_us());
            self.retransmits.push_back((first, d.retransmissions));
        }
    }

    /// What the stack reports at `now_us`.
    pub fn info(&mut self, now_us: u64) -> TcpInfo {
        while let Some(&(_, sample)) = self.acks.front().filter(|a| a.0 <= now_us) {
            self.acks.pop_front();
            let r = sample as f64;
            match self.srtt_us {
                None => {
                    self.srtt_us = Some(r);
                    self.rttvar_us = r / 2.0;
                }
                Some(srtt) => {
                    self.rttvar_us = 0.75 * self.rttvar_us + 0.25 * (srtt - r).abs();
                    self.srtt_us = Some(0.875 * srtt + 0.125 * r);
                }
            }
        }
        while let Some(&(_, n)) = self.retransmits.front().filter(|r| r.0 <= now_us) {
            self.retransmits.pop_front();
            self.total_retrans = self.total_retrans.saturating_add(n);
        }
        TcpInfo {
            rtt_us: self.srtt_us.unwrap_or(0.0) as u32,
            rttvar_us: self.rttvar_us as u32,
            total_retrans: self.total_retrans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netmodel::{Link, Mode, Outcome};

    #[test]
    fn reports_the_round_trip_and_the_retransmissions_the_link_made() {
        let params = LinkParams::profile("3g").unwrap();
        let mut link = Link::new(params.clone(), Mode::Stream, 7);
        let mut view = SenderView::new();
        let mut t = 0;
        for _ in 0..3000 {
            if let Outcome::Delivered(d) = link.send(300, t) {
                view.sent(t, &d, &params);
            }
            t += 20_000;
        }
        let info = view.info(t + 10_000_000);
        // 3g: 50 ms each way plus 15 ms of mean jitter: ~130 ms, queueing aside
        assert!((120_000..200_000).contains(&info.rtt_us), "{info:?}");
        assert!(info.rttvar_us > 0, "{info:?}");
        assert_eq!(info.total_retrans as u64, link.stats().retransmissions, "{info:?}");
        // none counted before the retransmission goes out
        let mut early = SenderView::new();
        let mut l2 = Link::new(params.clone(), Mode::Stream, 7);
        let mut first = None;
        let mut t = 0;
        while first.is_none() {
            if let Outcome::Delivered(d) = l2.send(300, t) {
                early.sent(t, &d, &params);
                if d.retransmissions > 0 {
                    first = Some(d);
                }
            }
            t += 20_000;
        }
        let d = first.unwrap();
        let before = early.info(d.departed_us).total_retrans;
        let after = early.info(d.departed_us + params.retransmit_penalty_us()).total_retrans;
        assert_eq!(after - before, d.retransmissions);
    }
}
