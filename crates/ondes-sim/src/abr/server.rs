//! The server's side of one listener: frames from the live source, batched into messages at
//! the listener's rung, written to the socket while it is below its low-water mark, and
//! skipped ahead to live when the listener falls too far behind (as `ondes serve` does with
//! `max_listener_lag_ms`).

use std::collections::VecDeque;

use ondes_core::abr::cost::{frame_bytes, message_bytes};

/// A message written to the socket, for the client to reassemble.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentMessage {
    /// Stream offset of its last byte + 1.
    pub end: u64,
    pub first_seq: u64,
    pub count: usize,
    pub frame_bytes: usize,
    /// Frames were skipped just before this message (the server's `lagged` notice, which
    /// travels right before it).
    pub after_skip: bool,
}

#[derive(Debug)]
pub(crate) struct Server {
    pub frame_us: u64,
    /// Frames produced by the source and not yet written for this listener.
    pub pending: VecDeque<u64>,
    pub kbps: u32,
    pub batch: usize,
    pub skipped_frames: u64,
    pub payload_bytes: u64,
    pub message_bytes: u64,
    /// A skip not yet announced to the client.
    skip_unannounced: bool,
}

impl Server {
    pub fn new(frame_us: u64, kbps: u32, batch: usize) -> Self {
        Server {
            frame_us,
            pending: VecDeque::new(),
            kbps,
            batch,
            skipped_frames: 0,
            payload_bytes: 0,
            message_bytes: 0,
            skip_unannounced: false,
        }
    }

    /// Drops the backlog (keeping the newest partial batch) when its oldest frame is older
    /// than `max_lag_us`; returns the frames dropped (0: none).
    pub fn skip_if_lagging(&mut self, now_us: u64, max_lag_us: u64) -> u64 {
        let Some(&oldest) = self.pending.front() else { return 0 };
        if now_us.saturating_sub(oldest * self.frame_us) <= max_lag_us {
            return 0;
        }
        let keep = self.pending.len() % self.batch;
        let drop = self.pending.len() - keep;
        self.pending.drain(..drop);
        self.skipped_frames += drop as u64;
        self.skip_unannounced |= drop > 0;
        drop as u64
    }

    /// Takes the next full batch as a message of `bytes`, if one is pending.
    pub fn next_message(&mut self) -> Option<(SentMessage, usize)> {
        if self.pending.len() < self.batch {
            return None;
        }
        let first_seq = *self.pending.front()?;
        self.pending.drain(..self.batch);
        let fb = frame_bytes(self.kbps, self.frame_us as u32);
        let bytes = message_bytes(fb, self.batch);
        self.payload_bytes += (fb * self.batch) as u64;
        self.message_bytes += bytes as u64;
        let after_skip = std::mem::take(&mut self.skip_unannounced);
        Some((SentMessage { end: 0, first_seq, count: self.batch, frame_bytes: fb, after_skip }, bytes))
    }

    /// Audio in complete batches that is still waiting (the socket would not take it), µs.
    pub fn backlog_us(&self) -> u64 {
        (self.pending.len() / self.batch * self.batch) as u64 * self.frame_us
    }
}
