//! Per-connection frame traces: for each publisher connection, the last N frames that
//! arrived (sequence, arrival time, bytes, gap before it); for each listener connection, the
//! last N frames written. `GET /api/streams/{id}/debug/connections/{conn}/trace` returns
//! one; `ondes probe --sender-log` joins it with a sender's frame log to tell frames the
//! sender never sent from frames the network lost.
//!
//! Memory is bounded: a trace is a ring of `server.trace_frames` entries for a publisher
//! and `server.trace_listener_frames` for a listener (24 bytes each; 0 turns that kind
//! off — listeners are off by default, as 20,000 of them would hold 24 bytes × N each), one
//! per open connection, and the traces of the last
//! `server.trace_keep_closed` closed connections are kept so that a sender can fetch its
//! trace after it disconnected. Recording takes one uncontended lock of the connection's own
//! trace per frame.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ondes_core::frame_trace::{ArrivedFrame, ConnectionTrace, WrittenFrame};
use parking_lot::Mutex;

use crate::clock::now_us;

/// Which side of the stream a connection is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Publisher,
    Listener,
}

impl TraceKind {
    fn name(self) -> &'static str {
        match self {
            TraceKind::Publisher => "publisher",
            TraceKind::Listener => "listener",
        }
    }
}

#[derive(Default)]
struct Ring {
    arrived: VecDeque<ArrivedFrame>,
    written: VecDeque<WrittenFrame>,
    recorded: u64,
    last_seq: Option<u64>,
}

/// One connection's trace.
pub struct FrameTrace {
    pub connection: u64,
    pub stream: String,
    pub kind: TraceKind,
    capacity: usize,
    open: AtomicBool,
    ring: Mutex<Ring>,
}

impl FrameTrace {
    /// Frame `seq` of `bytes` arrived from the publisher now.
    pub fn arrived(&self, seq: u64, bytes: usize) {
        let mut r = self.ring.lock();
        let gap = match r.last_seq {
            Some(last) if seq > last + 1 => seq - last - 1,
            _ => 0,
        };
        r.last_seq = Some(r.last_seq.map_or(seq, |l| l.max(seq)));
        if r.arrived.len() == self.capacity {
            r.arrived.pop_front();
        }
        r.arrived.push_back(ArrivedFrame { seq, at_us: now_us(), bytes: bytes as u32, gap });
        r.recorded += 1;
    }

    /// An audio message of `frames` frames from `first_seq`, `bytes` long, was handed whole
    /// to the listener's socket at `at_us`: one entry per frame, the message's bytes shared
    /// out between its frames (the last one takes the remainder).
    pub fn written(&self, first_seq: u64, frames: u32, bytes: usize, at_us: i64) {
        let frames = frames.max(1);
        let share = bytes / frames as usize;
        let mut r = self.ring.lock();
        for i in 0..frames {
            if r.written.len() == self.capacity {
                r.written.pop_front();
            }
            let b = if i + 1 == frames { bytes - share * (frames as usize - 1) } else { share };
            r.written.push_back(WrittenFrame { seq: first_seq + u64::from(i), at_us, bytes: b as u32 });
            r.recorded += 1;
        }
    }

    pub fn snapshot(&self) -> ConnectionTrace {
        let r = self.ring.lock();
        ConnectionTrace {
            connection: self.connection,
            stream: self.stream.clone(),
            kind: self.kind.name().into(),
            open: self.open.load(Ordering::Relaxed),
            capacity: self.capacity,
            recorded: r.recorded,
            arrived: r.arrived.iter().copied().collect(),
            written: r.written.iter().copied().collect(),
        }
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<u64, Arc<FrameTrace>>,
    /// Closed connections whose traces are still kept, oldest first.
    closed: VecDeque<u64>,
}

/// Every connection's trace.
pub struct Traces {
    /// Ring size of a publisher's trace.
    capacity: usize,
    /// Ring size of a listener's trace (0: listeners are not traced).
    listener_capacity: usize,
    keep_closed: usize,
    inner: Mutex<Inner>,
}

/// Keeps a trace open; on drop it is marked closed and kept among the recent closed ones.
pub struct TraceGuard {
    traces: Arc<Traces>,
    pub trace: Arc<FrameTrace>,
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        self.trace.open.store(false, Ordering::Relaxed);
        let mut inner = self.traces.inner.lock();
        inner.closed.push_back(self.trace.connection);
        while inner.closed.len() > self.traces.keep_closed {
            if let Some(old) = inner.closed.pop_front() {
                inner.map.remove(&old);
            }
        }
    }
}

impl Traces {
    /// Rings of `capacity` frames for publishers and `listener_capacity` for listeners
    /// (0: none of that kind), `keep_closed` closed traces kept.
    pub fn new(capacity: usize, listener_capacity: usize, keep_closed: usize) -> Arc<Self> {
        Arc::new(Traces { capacity, listener_capacity, keep_closed, inner: Mutex::new(Inner::default()) })
    }

    /// Starts the trace of connection `connection`, or `None` when traces of its kind are off.
    pub fn open(self: &Arc<Self>, connection: u64, stream: &str, kind: TraceKind) -> Option<TraceGuard> {
        let capacity = match kind {
            TraceKind::Publisher => self.capacity,
            TraceKind::Listener => self.listener_capacity,
        };
        if capacity == 0 {
            return None;
        }
        let trace = Arc::new(FrameTrace {
            connection,
            stream: stream.to_string(),
            kind,
            capacity,
            open: AtomicBool::new(true),
            ring: Mutex::new(Ring::default()),
        });
        self.inner.lock().map.insert(connection, trace.clone());
        Some(TraceGuard { traces: self.clone(), trace })
    }

    /// The trace of `connection` on `stream`, open or recently closed.
    pub fn get(&self, stream: &str, connection: u64) -> Option<Arc<FrameTrace>> {
        self.inner.lock().map.get(&connection).filter(|t| t.stream == stream).cloned()
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0 || self.listener_capacity > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_latest_frames_and_counts_gaps() {
        let traces = Traces::new(3, 3, 1);
        let g = traces.open(7, "voice", TraceKind::Publisher).unwrap();
        for seq in [0, 1, 4, 5, 6] {
            g.trace.arrived(seq, 10);
        }
        let t = traces.get("voice", 7).unwrap().snapshot();
        assert_eq!(t.recorded, 5);
        let seqs: Vec<(u64, u64)> = t.arrived.iter().map(|a| (a.seq, a.gap)).collect();
        assert_eq!(seqs, [(4, 2), (5, 0), (6, 0)]);
        assert!(t.open && traces.get("other", 7).is_none());
    }

    #[test]
    fn closed_traces_are_kept_up_to_the_limit() {
        let traces = Traces::new(3, 3, 1);
        drop(traces.open(1, "s", TraceKind::Listener));
        assert!(!traces.get("s", 1).unwrap().snapshot().open);
        drop(traces.open(2, "s", TraceKind::Listener));
        assert!(traces.get("s", 1).is_none(), "only the last closed one is kept");
        assert!(traces.get("s", 2).is_some());
        assert!(Traces::new(0, 0, 1).open(3, "s", TraceKind::Publisher).is_none());
        assert!(Traces::new(5, 0, 1).open(3, "s", TraceKind::Listener).is_none());
    }

    #[test]
    fn a_listener_message_is_one_entry_per_frame() {
        let traces = Traces::new(3, 4, 1);
        let g = traces.open(1, "s", TraceKind::Listener).unwrap();
        g.trace.written(10, 3, 100, 7);
        g.trace.written(13, 2, 50, 9);
        let t = g.trace.snapshot();
        let w: Vec<(u64, u32, i64)> = t.written.iter().map(|w| (w.seq, w.bytes, w.at_us)).collect();
        assert_eq!(w, [(11, 33, 7), (12, 34, 7), (13, 25, 9), (14, 25, 9)]);
        assert_eq!((t.recorded, t.kind.as_str()), (5, "listener"));
    }
}
