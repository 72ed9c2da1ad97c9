//! The listener's side: messages reassembled from the byte stream, frames into the real
//! client jitter buffer ([`ondes_core::jitter::JitterBuffer`]), a playout clock polling it once
//! per frame, and what the listener experienced (latency of each played frame, underruns).
//!
//! When the server moves the listener to another jitter floor, the client sets the buffer's
//! new bounds ([`JitterBuffer::set_bounds`]), as `ondes listen` does: a raised floor is
//! reached by stretching (a deliberate pause, not an underrun).

use ondes_core::abr::ClientReport;
use ondes_core::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};

use super::server::SentMessage;

/// A frame in the buffer: (capture time, payload bytes).
type Payload = (u64, usize);

#[derive(Debug)]
pub(crate) struct Client {
    jb: JitterBuffer<Payload>,
    frame_us: u64,
    next_poll_us: u64,
    /// (play time, capture-to-playout latency) of every played frame, µs.
    pub played_at_us: Vec<(u64, u64)>,
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
            played_at_us: Vec::new(),
            played_bytes: 0,
            underrun_at_us: Vec::new(),
        }
    }

    /// A complete message arrived at `at_us`.
    pub fn receive(&mut self, m: &SentMessage, at_us: u64) {
        if m.after_skip {
            self.jb.sender_skipped();
        }
        for i in 0..m.count as u64 {
            let seq = m.first_seq + i;
            let capture = seq * self.frame_us;
            self.jb.insert(seq, capture as i64, (capture, m.frame_bytes), at_us as i64);
        }
    }

    /// New jitter bounds (the server's `rung` message asked for them).
    pub fn set_bounds(&mut self, min_delay_us: u64, max_delay_us: u64) {
        // the bounds come from the profile table and a measured RTT: valid
        if let Err(e) = self.jb.set_bounds(min_delay_us, max_delay_us) {
            panic!("invalid jitter settings: {e}");
        }
    }

    /// Runs the playout clock up to `now_us`.
    pub fn play_until(&mut self, now_us: u64) {
        while self.next_poll_us <= now_us {
            let t = self.next_poll_us;
            let before = self.jb.stats().underruns;
            // a shortened frame is taken as cut as far as allowed (a real player cuts whole
            // pitch periods, about as much on average) and plays for less than a period
            let mut cut = 0;
            match self.jb.poll(t as i64) {
                Playout::Frame((capture, bytes)) => {
                    self.played_at_us.push((t, t - capture));
                    self.played_bytes += bytes as u64;
                }
                Playout::Accelerate { payload: (capture, bytes), max_remove_us } => {
                    self.played_at_us.push((t, t - capture));
                    self.played_bytes += bytes as u64;
                    self.jb.record_accelerated(max_remove_us);
                    cut = max_remove_us;
                }
                _ => {}
            }
            if self.jb.stats().underruns > before {
                self.underrun_at_us.push(t);
            }
            self.next_poll_us += self.frame_us - cut;
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.jb.stats()
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
