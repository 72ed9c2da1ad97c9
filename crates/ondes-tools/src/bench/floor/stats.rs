//! Counters of a floor run, shared by its threads; each writer adds once per page, not once
//! per listener, so counting costs nothing next to the writes.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the floor has done so far.
#[derive(Debug, Default)]
pub struct FloorStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    listeners: AtomicU64,
    closed: AtomicU64,
    pages: AtomicU64,
    skipped: AtomicU64,
    coalesced: AtomicU64,
    bytes: AtomicU64,
}

/// A copy of [`FloorStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FloorSnapshot {
    /// Connections whose request was read and that were handed to a writer.
    pub accepted: u64,
    /// Connections closed before their request was read (timeout, error, no request).
    pub refused: u64,
    /// Listeners held by the writers now.
    pub listeners: u64,
    /// Listeners dropped on a write error (most often: the client closed).
    pub closed: u64,
    /// Pages made.
    pub pages: u64,
    /// Page sends left out because the listener's socket still held the previous one: each
    /// is a gap for that listener.
    pub skipped: u64,
    /// Pages that a writer sent in one write with the page after them, because its pass over
    /// its sockets took longer than a page interval; summed over the writers.
    pub coalesced: u64,
    /// Bytes written to listeners.
    pub bytes: u64,
}

impl FloorStats {
    pub(crate) fn on_accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn on_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn on_page_made(&self) {
        self.pages.fetch_add(1, Ordering::Relaxed);
    }

    /// One writer's pass: listeners joined (`joined`) and lost (`closed`), sends skipped and
    /// bytes written.
    pub(crate) fn on_pass(&self, joined: u64, closed: u64, skipped: u64, bytes: u64) {
        if joined != closed {
            self.listeners.fetch_add(joined.wrapping_sub(closed), Ordering::Relaxed);
        }
        if closed > 0 {
            self.closed.fetch_add(closed, Ordering::Relaxed);
        }
        if skipped > 0 {
            self.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn on_coalesced(&self, pages: u64) {
        if pages > 0 {
            self.coalesced.fetch_add(pages, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> FloorSnapshot {
        FloorSnapshot {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            listeners: self.listeners.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_go_up_and_down_with_passes() {
        let s = FloorStats::default();
        s.on_pass(3, 0, 0, 10);
        s.on_pass(0, 2, 1, 5);
        let snap = s.snapshot();
        assert_eq!((snap.listeners, snap.closed, snap.skipped, snap.bytes), (1, 2, 1, 15));
    }
}
