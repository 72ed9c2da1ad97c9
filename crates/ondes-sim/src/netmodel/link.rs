//! One direction of a link, as a sans-IO state machine: hand it a packet and the time, it says
//! when the packet arrives or why it never will.
//!
//! The order of effects follows a real path: the packet queues at the bottleneck (drop-tail
//! when the buffer is full), is serialised at the link rate, then on the far side of the
//! bottleneck it may be lost (independently or in Gilbert–Elliott bursts), gets the base
//! delay plus a random jitter, and may be held back and overtaken (reordering).
//!
//! In [`Mode::Stream`] (a TCP connection) nothing is lost for the application: a loss costs
//! a retransmission delay ([`LinkParams::retransmit_penalty_us`], doubling for each further
//! loss of the same segment, as the RTO backs off; a retransmission meets the average loss
//! rate, since a burst has usually passed an RTT later), the retransmitted bytes use the
//! bottleneck again, and delivery is in order, so a late segment holds back every later one
//! (head-of-line blocking).

use super::params::LinkParams;
use super::rng::SimRng;
use super::schedule::Schedule;

/// Datagrams (UDP: loss and reordering reach the application) or a byte stream (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Datagram,
    Stream,
}

/// Why a datagram never arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The bottleneck buffer was full (drop-tail).
    QueueFull,
    /// Lost on the link; `burst` when the Gilbert–Elliott model was in its bad state.
    Loss { burst: bool },
}

/// What happens to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered(Delivery),
    Dropped(DropReason),
}

/// A packet that arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Arrival time at the far end.
    pub at_us: u64,
    /// When its last bit left the bottleneck (the first transmission).
    pub departed_us: u64,
    /// How many times it was retransmitted (stream mode).
    pub retransmissions: u32,
}

/// Counters of a link direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub packets: u64,
    pub bytes: u64,
    pub delivered: u64,
    /// Packets that found the bottleneck buffer full.
    pub queue_drops: u64,
    /// Packets lost on the link (each retransmission that is lost again counts too).
    pub losses: u64,
    /// Of `losses`, those in a Gilbert–Elliott burst.
    pub burst_losses: u64,
    pub retransmissions: u64,
    pub reordered: u64,
}

/// Retransmissions of one segment before the model gives up adding delay (the penalty then
/// exceeds a minute; a real TCP would have reset the connection).
const MAX_RETRANSMISSIONS: u32 = 8;

/// One direction of a simulated link.
#[derive(Debug, Clone)]
pub struct Link {
    schedule: Schedule,
    mode: Mode,
    rng: SimRng,
    /// When the last admitted bit leaves the bottleneck.
    busy_until_us: u64,
    /// Gilbert–Elliott state.
    bad_state: bool,
    /// Latest arrival of an in-order packet (FIFO clamp).
    last_at_us: u64,
    stats: LinkStats,
}

impl Link {
    pub fn new(schedule: impl Into<Schedule>, mode: Mode, seed: u64) -> Link {
        Link {
            schedule: schedule.into(),
            mode,
            rng: SimRng::new(seed),
            busy_until_us: 0,
            bad_state: false,
            last_at_us: 0,
            stats: LinkStats::default(),
        }
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn params_at(&self, now_us: u64) -> &LinkParams {
        self.schedule.params_at(now_us)
    }

    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Bytes waiting in (or being serialised by) the bottleneck at `now_us`.
    pub fn queued_bytes(&self, now_us: u64) -> u64 {
        if self.busy_until_us <= now_us {
            return 0;
        }
        self.schedule.capacity_bits(now_us, self.busy_until_us).div_ceil(8)
    }

    /// Time a packet sent now waits before its first bit is serialised.
    pub fn queue_delay_us(&self, now_us: u64) -> u64 {
        self.busy_until_us.saturating_sub(now_us)
    }

    fn limit_bytes(&self, now_us: u64) -> u64 {
        let p = self.schedule.params_at(now_us);
        p.queue.bytes(p.bandwidth_bps)
    }

    /// Bytes the bottleneck buffer can take now without dropping (`u64::MAX` when unlimited).
    pub fn room(&self, now_us: u64) -> u64 {
        self.limit_bytes(now_us).saturating_sub(self.queued_bytes(now_us))
    }

    /// Whether a packet of `len` bytes would be admitted now (an empty queue admits any size).
    pub fn has_room(&self, len: usize, now_us: u64) -> bool {
        let queued = self.queued_bytes(now_us);
        queued == 0 || queued + len as u64 <= self.limit_bytes(now_us)
    }

    /// The earliest time at or after `now_us` when `len` bytes fit in the buffer — what a
    /// TCP sender (or the netsim proxy) waits for instead of overflowing it. `None` if the
    /// link never drains (an outage that lasts forever).
    pub fn room_at(&self, len: usize, now_us: u64) -> Option<u64> {
        if self.has_room(len, now_us) {
            return Some(now_us);
        }
        let limit = self.limit_bytes(now_us);
        let queued = self.queued_bytes(now_us);
        let must_drain = if len as u64 >= limit { queued } else { queued + len as u64 - limit };
        self.schedule.transmit_end(now_us, must_drain * 8).map(|t| t.max(now_us + 1))
    }

    fn draw_loss(&mut self, p: &LinkParams) -> Option<DropReason> {
        if p.burst <= 1.0 {
            return self.rng.chance(p.loss).then_some(DropReason::Loss { burst: false });
        }
        // Gilbert–Elliott with loss only in the bad state: leave it with probability
        // r = 1/burst (mean sojourn = burst packets), enter it with q chosen so that the
        // stationary share of the bad state, q / (q + r), is the average loss.
        let r = 1.0 / p.burst;
        let loss = p.loss.min(0.999);
        let q = (loss * r / (1.0 - loss)).min(1.0);
        let u = self.rng.unit();
        self.bad_state = if self.bad_state { u >= r } else { u < q };
        self.bad_state.then_some(DropReason::Loss { burst: true })
    }

    fn count_loss(&mut self, reason: DropReason) {
        self.stats.losses += 1;
        if reason == (DropReason::Loss { burst: true }) {
            self.stats.burst_losses += 1;
        }
    }

    /// Offers a packet of `len` bytes (headers included) at `now_us`. Times must not go
    /// backwards between calls.
    pub fn send(&mut self, len: usize, now_us: u64) -> Outcome {
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        let full = !self.has_room(len, now_us);
        if full {
            self.stats.queue_drops += 1;
            if self.mode == Mode::Datagram {
                return Outcome::Dropped(DropReason::QueueFull);
            }
        }
        let start = now_us.max(self.busy_until_us);
        let Some(departed) = self.schedule.transmit_end(start, len as u64 * 8) else {
            // the link is down for good: the packet waits forever
            self.busy_until_us = u64::MAX;
            return Outcome::Dropped(DropReason::QueueFull);
        };
        self.busy_until_us = departed;
        let p = self.schedule.params_at(departed).clone();
        let jitter = p.jitter.sample(&mut self.rng);
        let held = self.rng.chance(p.reorder);
        let lost = self.draw_loss(&p);
        let mut at = departed.saturating_add(p.delay_us + jitter);
        if held {
            self.stats.reordered += 1;
            at = at.saturating_add(p.reorder_us);
        }
        let mut retransmissions = 0;
        match self.mode {
            Mode::Datagram => {
                if let Some(reason) = lost {
                    self.count_loss(reason);
                    return Outcome::Dropped(reason);
                }
                // jitter from queues keeps order; only held-back packets are overtaken
                if !held {
                    at = at.max(self.last_at_us);
                    self.last_at_us = at;
                }
            }
            Mode::Stream => {
                let mut lost = lost.or(full.then_some(DropReason::QueueFull));
                let mut penalty = p.retransmit_penalty_us();
                while let Some(reason) = lost {
                    if reason != DropReason::QueueFull {
                        self.count_loss(reason);
                    }
                    retransmissions += 1;
                    at = at.saturating_add(penalty);
                    // the copy crosses the bottleneck again
                    self.busy_until_us =
                        self.schedule.transmit_end(self.busy_until_us, len as u64 * 8).unwrap_or(u64::MAX);
                    if retransmissions >= MAX_RETRANSMISSIONS {
                        break;
                    }
                    penalty = penalty.saturating_mul(2);
                    // the copy goes out about an RTT later, when a loss burst has usually
                    // passed: it meets the average loss rate, not the burst state
                    lost = self.rng.chance(p.loss).then_some(DropReason::Loss { burst: false });
                }
                self.stats.retransmissions += retransmissions as u64;
                at = at.max(self.last_at_us);
                self.last_at_us = at;
            }
        }
        self.stats.delivered += 1;
        Outcome::Delivered(Delivery { at_us: at, departed_us: departed, retransmissions })
    }
}
