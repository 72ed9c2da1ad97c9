//! One TCP direction in simulated time: bytes the application wrote, cut into MSS segments,
//! pushed into the link model only while its bottleneck buffer has room (an idealised
//! congestion control: the queue stays full rather than overflowing), delivered in order.
//!
//! The sender's view of the connection, as Linux reports it in `TCP_INFO`
//! ([`TcpPipe::tcp_info`], [`SenderView`]): smoothed round trip, its variation, segments
//! retransmitted.

use std::collections::VecDeque;

use ondes_core::abr::TcpInfo;

use crate::netmodel::{Link, Outcome, SenderView, TCP_IP_OVERHEAD, TCP_MSS};

#[derive(Debug)]
pub(crate) struct TcpPipe {
    pub link: Link,
    /// Stream offset written by the application.
    pub written: u64,
    /// Stream offset handed to the link.
    sent: u64,
    /// (end offset, arrival) of segments in flight, in arrival order (stream mode is FIFO).
    in_flight: VecDeque<(u64, u64)>,
    /// Bytes on the link: segments with TCP/IP headers, retransmissions included.
    pub wire_bytes: u64,
    pub segments: u64,
    view: SenderView,
}

impl TcpPipe {
    pub fn new(link: Link) -> Self {
        TcpPipe {
            link,
            written: 0,
            sent: 0,
            in_flight: VecDeque::new(),
            wire_bytes: 0,
            segments: 0,
            view: SenderView::new(),
        }
    }

    /// Bytes written but not yet sent (what `TCP_NOTSENT_LOWAT` limits).
    pub fn unsent(&self) -> u64 {
        self.written - self.sent
    }

    pub fn write(&mut self, bytes: usize) -> u64 {
        self.written += bytes as u64;
        self.written
    }

    /// Sends what the bottleneck buffer has room for.
    pub fn pump(&mut self, now_us: u64) {
        while self.sent < self.written {
            let seg = (self.written - self.sent).min(TCP_MSS as u64) as usize;
            let len = seg + TCP_IP_OVERHEAD;
            if !self.link.has_room(len, now_us) {
                break;
            }
            let at = match self.link.send(len, now_us) {
                Outcome::Delivered(d) => {
                    self.wire_bytes += len as u64 * (1 + d.retransmissions as u64);
                    self.view.sent(now_us, &d, self.link.params_at(now_us));
                    d.at_us
                }
                // only an outage that never ends: the bytes never arrive
                Outcome::Dropped(_) => u64::MAX,
            };
            self.segments += 1;
            self.sent += seg as u64;
            self.in_flight.push_back((self.sent, at));
        }
    }

    /// What the sender's TCP stack reports at `now_us` (`TCP_INFO`).
    pub fn tcp_info(&mut self, now_us: u64) -> TcpInfo {
        self.view.info(now_us)
    }

    /// The next in-order arrival due by `now_us`: (contiguous offset delivered, arrival time).
    pub fn next_arrival(&mut self, now_us: u64) -> Option<(u64, u64)> {
        match self.in_flight.front() {
            Some(&(end, at)) if at <= now_us => {
                self.in_flight.pop_front();
                Some((end, at))
            }
            _ => None,
        }
    }
}
