//! Publishers that come and go: each publishes a tone into its own stream with the client
//! library's publisher (`ondes send`'s, over WebSocket or HTTP ingest) for a while, stops,
//! pauses, and comes back — each time a new publisher session on the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ondes_client::publisher::{SendCodec, SendOptions, send};
use ondes_sim::netmodel::SimRng;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::sleep;

use super::churn::Reasons;

/// One publisher's plan.
#[derive(Debug, Clone)]
pub struct PublisherPlan {
    /// `ws://HOST/api/streams/ID/publish` or `http://HOST/api/streams/ID/ingest` (`wss://`,
    /// `https://` over TLS).
    pub to: String,
    pub codec: SendCodec,
    /// Tone frequency, Hz (each publisher its own).
    pub freq_hz: u32,
    pub token: Option<String>,
    /// What a `wss://`/`https://` publisher trusts.
    pub tls: ondes_client::tls::TlsOptions,
    /// How long a session publishes, and how long the pause after it lasts (drawn uniformly).
    pub on: (Duration, Duration),
    pub off: (Duration, Duration),
    pub seed: u64,
}

/// All publishers' counters.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    /// Sessions started (each `send`).
    pub sessions: AtomicU64,
    /// Sessions that ended with an error.
    pub failed: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_acked: AtomicU64,
    pub reasons: Reasons,
}

/// A snapshot of [`PublisherCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublisherSnapshot {
    pub sessions: u64,
    pub failed: u64,
    pub frames_sent: u64,
    pub frames_acked: u64,
}

impl PublisherCounters {
    pub fn snapshot(&self) -> PublisherSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PublisherSnapshot {
            sessions: l(&self.sessions),
            failed: l(&self.failed),
            frames_sent: l(&self.frames_sent),
            frames_acked: l(&self.frames_acked),
        }
    }
}

fn draw(rng: &mut SimRng, (lo, hi): (Duration, Duration)) -> Duration {
    lo + hi.saturating_sub(lo).mul_f64(rng.unit())
}

/// Publishes on and off until `stop`.
pub async fn run_publisher(
    plan: PublisherPlan,
    counters: &PublisherCounters,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = SimRng::new(plan.seed);
    while !*stop.borrow() {
        let mut opts = SendOptions::new(format!("tone:sine?freq={}", plan.freq_hz), plan.to.clone());
        opts.codec = plan.codec;
        opts.token = plan.token.clone();
        opts.tls = plan.tls.clone();
        opts.max_duration = Some(draw(&mut rng, plan.on));
        opts.stop = Some(stop.clone());
        opts.max_retries = 3;
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        match send(opts, None).await {
            Ok(r) => {
                counters.frames_sent.fetch_add(r.frames_sent, Ordering::Relaxed);
                counters.frames_acked.fetch_add(r.frames_acked, Ordering::Relaxed);
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if let ondes_client::publisher::SendError::Failed { report, .. } = &e {
                    counters.frames_sent.fetch_add(report.frames_sent, Ordering::Relaxed);
                    counters.frames_acked.fetch_add(report.frames_acked, Ordering::Relaxed);
                }
                counters.reasons.add(format!("{}: {e}", plan.to));
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = sleep(draw(&mut rng, plan.off)) => {}
        }
    }
}
