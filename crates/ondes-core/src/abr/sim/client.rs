//! The listener's side: messages reassembled from the byte stream, frames into the real
//! client jitter buffer ([`crate::jitter::JitterBuffer`]), a playout clock polling it once
//! per frame, and what the listener experienced (latency of each played frame, underruns).
//!
//! When the server moves the listener to a profile with another jitter floor, the client
//! rebuilds its buffer with the new bounds and re-inserts the frames it holds (the buffer
//! has no setter for its bounds); the new one prebuffers to its target once, a deliberate
//! pause rather than an underrun.

use std::collections::VecDeque;

use crate::abr::ClientReport;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};

use super::server::SentMessage;

/// A frame in the buffer: (capture time, payload bytes).
type Payload = (u64, usize);

#[derive(Debug)]
pub(crate) struct Client {
    jb: JitterBuffer<Payload>,
    frame_us: u64,
    next_poll_us: u64,
    /// Frames received and possibly not yet played: (seq, capture, arrival, bytes).
    held: VecDeque<(u64, u64, u64, usize)>,
    /// Counters of the buffers replaced so far.
    carried: JitterStats,
    /// Capture-to-playout latency of every played frame, µs.
    pub latencies_us: Vec<u64>,
    pub played_bytes: u64,
    /// Time of each new underrun episode.
    pub underrun_at_us: Vec<u64>,
}

fn buffer(frame_us: u64, min_delay_us: u64, max_delay_us: u64) -> JitterBuffer<Payload> {
    let cfg = JitterConfig { min_delay_us, max_delay_us, ..JitterConfig::for_frame(frame_us) };
    // the bounds come from the profile table and a measured RTT: all valid
    JitterBuffer::new(cfg).unwrap_or_else(|e| panic!("invalid jitter settings: {e}"))
}

impl Client {
    pub fn new(frame_us: u64, min_delay_us: u64, max_delay_us: u64) -> Self {
        Client {
            jb: buffer(frame_us, min_delay_us, max_delay_us),
            frame_us,
            next_poll_us: 0,
            held: VecDeque::new(),
            carried: JitterStats::default(),
            latencies_us: Vec::new(),
            played_bytes: 0,
            underrun_at_us: Vec::new(),
        }
    }

    /// A complete message arrived at `at_us`.
    pub fn receive(&mut self, m: &SentMessage, at_us: u64) {
        for i in 0..m.count as u64 {
            let seq = m.first_seq + i;
            let capture = seq * self.frame_us;
            self.jb.insert(seq, capture as i64, (capture, m.frame_bytes), at_us as i64);
            self.held.push_back((seq, capture, at_us, m.frame_bytes));
        }
    }

    /// New jitter bounds (a profile change): a fresh buffer holding the frames not yet played.
    pub fn set_bounds(&mut self, min_delay_us: u64, max_delay_us: u64) {
        let cfg = self.jb.config();
        if cfg.min_delay_us == min_delay_us && cfg.max_delay_us == max_delay_us {
            return;
        }
        let next = self.jb.next_seq().unwrap_or(0);
        let old = std::mem::replace(&mut self.jb, buffer(self.frame_us, min_delay_us, max_delay_us));
        add(&mut self.carried, &old.stats());
        for &(seq, capture, arrival, bytes) in self.held.iter().filter(|h| h.0 >= next) {
            self.jb.insert(seq, capture as i64, (capture, bytes), arrival as i64);
        }
    }

    /// Runs the playout clock up to `now_us`.
    pub fn play_until(&mut self, now_us: u64) {
        while self.next_poll_us <= now_us {
            let t = self.next_poll_us;
            let before = self.jb.stats().underruns;
            if let Playout::Frame((capture, bytes)) = self.jb.poll(t as i64) {
                self.latencies_us.push(t - capture);
                self.played_bytes += bytes as u64;
            }
            if self.jb.stats().underruns > before {
                self.underrun_at_us.push(t);
            }
            self.next_poll_us += self.frame_us;
        }
        let next = self.jb.next_seq().unwrap_or(0);
        while self.held.front().is_some_and(|h| h.0 < next) {
            self.held.pop_front();
        }
    }

    /// Counters over the whole run (all buffers).
    pub fn stats(&self) -> JitterStats {
        let mut s = self.carried;
        add(&mut s, &self.jb.stats());
        s
    }

    pub fn report(&self) -> ClientReport {
        let s = self.stats();
        ClientReport {
            buffer_ms: self.jb.buffer_us() as f64 / 1000.0,
            target_ms: self.jb.target_us() as f64 / 1000.0,
            underruns: s.underruns,
            lost_frames: s.lost,
            late_frames: s.late,
            received_frames: s.received,
            rtt_ms: None,
        }
    }
}

/// Adds the counters of a replaced buffer.
fn add(total: &mut JitterStats, s: &JitterStats) {
    total.received += s.received;
    total.played += s.played;
    total.lost += s.lost;
    total.late += s.late;
    total.duplicates += s.duplicates;
    total.underruns += s.underruns;
    total.underrun_frames += s.underrun_frames;
    total.stretched += s.stretched;
    total.dropped += s.dropped;
    total.skipped += s.skipped;
    total.fec_recovered += s.fec_recovered;
    total.concealed += s.concealed;
}
