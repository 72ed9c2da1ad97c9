//! Listeners that come and go: `N` slots, each a loop of one listener at a time — a transport
//! and a lifetime drawn from the slot's seeded RNG, connect, listen until the lifetime is over
//! (or the server ends it), leave, and the next one joins at once. The count of open
//! listeners stays near `N`; every listener is one of fan-out's own clients
//! ([`crate::bench::fanout`]'s SSE, WebSocket, Ogg and LL-HLS readers).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ondes_sim::netmodel::SimRng;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::bench::fanout::{Target, Transport};
use crate::bench::reader::RunShared;
use crate::bench::stats::ListenerStats;

/// A silence longer than this (beyond the audio last received) is a stall.
const STALL_THRESHOLD: Duration = Duration::from_millis(500);
/// Pause after a failed connection attempt before the slot tries again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The listeners' counters, read by the sampler while they run.
#[derive(Debug, Default)]
pub struct ChurnCounters {
    /// Listeners connected right now.
    pub open: AtomicUsize,
    /// Connections made so far.
    pub joined: AtomicU64,
    /// Listeners that left at the end of their lifetime.
    pub left: AtomicU64,
    /// Listeners whose connection the server ended, or that failed, before their lifetime.
    pub ended_early: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Finished listeners that saw at least one missing frame (or missed an HLS part).
    pub with_gaps: AtomicU64,
    /// Missing frames (HLS: 20 ms units of the parts missed), summed.
    pub gap_frames: AtomicU64,
    pub stalls: AtomicU64,
    /// Bytes received by finished listeners.
    pub bytes: AtomicU64,
    /// Why connections failed or ended early: `connect:<reason>`, `ended:<reason>`.
    pub reasons: Reasons,
}

/// Counts by reason behind a mutex (a poisoned lock is taken anyway: it only holds counts).
#[derive(Debug, Default)]
pub struct Reasons(Mutex<BTreeMap<String, u64>>);

impl Reasons {
    pub fn add(&self, reason: String) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A snapshot of [`ChurnCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChurnSnapshot {
    pub open: usize,
    pub joined: u64,
    pub left: u64,
    pub ended_early: u64,
    pub connect_failures: u64,
    pub with_gaps: u64,
    pub gap_frames: u64,
    pub stalls: u64,
    pub bytes: u64,
}

impl ChurnCounters {
    pub fn snapshot(&self) -> ChurnSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ChurnSnapshot {
            open: self.open.load(Ordering::Relaxed),
            joined: l(&self.joined),
            left: l(&self.left),
            ended_early: l(&self.ended_early),
            connect_failures: l(&self.connect_failures),
            with_gaps: l(&self.with_gaps),
            gap_frames: l(&self.gap_frames),
            stalls: l(&self.stalls),
            bytes: l(&self.bytes),
        }
    }
}

/// What every slot shares.
pub(crate) struct ChurnCtx {
    /// One target per transport in the mix.
    pub targets: Vec<(Transport, Target)>,
    pub shared: RunShared,
    pub counters: ChurnCounters,
    pub connect_limit: Semaphore,
    pub connect_timeout: Duration,
    /// Lifetime range of a listener.
    pub lifetime: (Duration, Duration),
    pub seed: u64,
}

/// One slot: listeners one after another until `stop`. The first starts at `start_at`.
pub(crate) async fn slot(ctx: Arc<ChurnCtx>, index: u64, start_at: Instant, mut stop: watch::Receiver<bool>) {
    let mut rng = SimRng::new(ctx.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => return,
        () = sleep_until(start_at) => {}
    }
    while !*stop.borrow() {
        let (transport, target) = &ctx.targets[(rng.next_u64() % ctx.targets.len() as u64) as usize];
        let (lo, hi) = ctx.lifetime;
        let lifetime = lo + (hi.saturating_sub(lo)).mul_f64(rng.unit());
        let connected = {
            // The semaphore is never closed, so acquiring only waits.
            let Ok(_permit) = ctx.connect_limit.acquire().await else { return };
            match timeout(ctx.connect_timeout, target.connect()).await {
                Ok(r) => r,
                Err(_) => Err("timeout".to_string()),
            }
        };
        let c = &ctx.counters;
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(reason) => {
                c.connect_failures.fetch_add(1, Ordering::Relaxed);
                c.reasons.add(format!("connect:{transport}:{reason}"));
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = sleep(RETRY_PAUSE) => continue,
                }
            }
        };
        c.open.fetch_add(1, Ordering::Relaxed);
        c.joined.fetch_add(1, Ordering::Relaxed);
        let mut stats = ListenerStats::new(STALL_THRESHOLD);
        let end = tokio::select! {
            end = conn.run(&ctx.shared, &mut stats, &mut stop) => Some(end),
            () = sleep(lifetime) => None,
        };
        drop(conn);
        c.open.fetch_sub(1, Ordering::Relaxed);
        let k = &stats.counters;
        // an HLS part missed shows as a gap of its 20 ms units too
        let missing = k.gaps;
        if missing > 0 {
            c.with_gaps.fetch_add(1, Ordering::Relaxed);
            c.gap_frames.fetch_add(missing, Ordering::Relaxed);
        }
        c.stalls.fetch_add(k.stalls, Ordering::Relaxed);
        c.bytes.fetch_add(k.bytes, Ordering::Relaxed);
        match end {
            None => {
                c.left.fetch_add(1, Ordering::Relaxed);
            }
            Some(crate::bench::reader::ReadEnd::Stopped) => return,
            Some(crate::bench::reader::ReadEnd::Closed) => {
                c.ended_early.fetch_add(1, Ordering::Relaxed);
                c.reasons.add(format!("ended:{transport}:closed"));
            }
            Some(crate::bench::reader::ReadEnd::Failed(reason)) => {
                c.ended_early.fetch_add(1, Ordering::Relaxed);
                c.reasons.add(format!("ended:{transport}:{reason}"));
            }
        }
    }
}
