//! Connections that have not yet sent a whole request head ("half-open": accepted, nobody
//! known behind them), bounded in number.
//!
//! Each costs a file descriptor and a task while it dawdles; a slowloris sends a byte now
//! and then to keep hundreds of them open until the process runs out of descriptors and
//! stops accepting anyone. Every half-open connection is closed at the head timeout
//! (`server.header_timeout_secs`), and at most `server.max_pending_connections` are kept:
//! when a new one arrives at the limit, the **oldest** is closed to make room. New clients
//! therefore always get in (an attacker has to outpace every new client to keep its
//! connections), and the attacker's connections are the ones that go.
//!
//! Only a connection that has been half-open for [`MIN_AGE`] is closed to make room: a
//! burst of real clients (a thousand listeners joining at once) is briefly over the limit
//! while their heads are read, and none of them is cut for it. A slowloris' connections
//! are old by the time they matter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// How long a connection must have been half-open before it may be closed to make room.
pub const MIN_AGE: Duration = Duration::from_secs(1);

/// The half-open connections of a server.
pub struct Pending {
    max: usize,
    /// By arrival (ids grow): when it arrived, and the sender that closes it.
    open: Mutex<BTreeMap<u64, (Instant, oneshot::Sender<()>)>>,
    next: AtomicU64,
    evicted: AtomicU64,
    timed_out: AtomicU64,
}

/// One half-open connection; leaves the count when dropped (its head arrived, or it closed).
pub struct PendingGuard {
    pending: Arc<Pending>,
    id: u64,
    /// Fires when the connection is closed to make room for a newer one.
    pub evicted: oneshot::Receiver<()>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.open.lock().remove(&self.id);
    }
}

impl Pending {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Pending {
            max: max.max(1),
            open: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// Counts a new connection in, closing the oldest when at the limit.
    pub fn enter(self: &Arc<Self>) -> PendingGuard {
        self.enter_at(Instant::now())
    }

    /// [`enter`](Self::enter) at an explicit time, for tests.
    pub fn enter_at(self: &Arc<Self>, now: Instant) -> PendingGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock();
        while open.len() >= self.max {
            let Some(entry) = open.first_entry() else { break };
            if now.saturating_duration_since(entry.get().0) < MIN_AGE {
                break; // a burst of new clients: over the limit for a moment
            }
            let (_, oldest) = entry.remove();
            // the receiver is gone when that connection is finishing anyway
            let _ = oldest.send(());
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        open.insert(id, (now, tx));
        PendingGuard { pending: self.clone(), id, evicted: rx }
    }

    /// Closes the oldest half-open connection whatever its age (the process ran out of
    /// file descriptors: one must go for anyone else to get in). False when there is none.
    pub fn evict_oldest(&self) -> bool {
        let Some((_, (_, oldest))) = self.open.lock().pop_first() else { return false };
        let _ = oldest.send(());
        self.evicted.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Notes a connection closed at the head timeout.
    pub fn timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Half-open connections now.
    pub fn count(&self) -> usize {
        self.open.lock().len()
    }

    /// Closed to make room for newer ones, since start.
    pub fn evicted_total(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Closed at the head timeout, since start.
    pub fn timed_out_total(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_goes_when_full() {
        let p = Pending::new(2);
        let t0 = Instant::now();
        let mut a = p.enter_at(t0);
        let mut b = p.enter_at(t0 + Duration::from_millis(100));
        assert_eq!(p.count(), 2);
        // a burst: nobody is old enough to go
        let burst = p.enter_at(t0 + Duration::from_millis(200));
        assert_eq!(p.count(), 3);
        assert!(a.evicted.try_recv().is_err());
        drop(burst);
        let mut c = p.enter_at(t0 + MIN_AGE);
        assert_eq!(a.evicted.try_recv(), Ok(()), "the oldest is told to close");
        assert!(b.evicted.try_recv().is_err());
        assert!(c.evicted.try_recv().is_err());
        assert!(p.evict_oldest(), "out of descriptors: the oldest goes whatever its age");
        assert_eq!(b.evicted.try_recv(), Ok(()));
        drop(a);
        assert_eq!(p.count(), 1);
        drop(b);
        assert_eq!(p.count(), 1);
        assert_eq!(p.evicted_total(), 2);
    }
}
