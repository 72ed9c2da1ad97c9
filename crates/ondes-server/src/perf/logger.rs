//! The background task that puts the monitor in the log: the summary table every
//! `perf.summary_log_secs`, and each new bottleneck or alert once, as a warning.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ondes_core::perf::Announcement;
use tokio::sync::watch;

use super::ServerPerf;

/// How often new problems are looked for. Short enough that a bottleneck shows in the log
/// within seconds; each check builds one report (a few hundred µs of work, with the
/// monitor's lock held only for one operation's copy at a time).
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Runs until `shutdown` becomes true.
pub async fn run(perf: Arc<ServerPerf>, summary_log_secs: u64, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: nothing to say yet
    let summary_every = Duration::from_secs(summary_log_secs);
    let mut last_summary = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let report = perf.report();
        for a in perf.new_problems(&report) {
            log_announcement(&a);
        }
        if summary_log_secs > 0
            && last_summary.elapsed() >= summary_every
            && report.operations.iter().any(|o| o.stats.is_some())
        {
            last_summary = Instant::now();
            tracing::info!(target: "ondes::perf", "performance summary\n{}", report.summary_table());
        }
    }
}

fn log_announcement(a: &Announcement) {
    match a {
        Announcement::Bottleneck(b) => tracing::warn!(
            target: "ondes::perf",
            op = %b.op,
            ratio = b.ratio,
            "bottleneck: {} averages {:.0}% of its threshold; {}",
            b.op,
            b.ratio * 100.0,
            b.suggestions.first().map(String::as_str).unwrap_or("")
        ),
        Announcement::Alert(al) => tracing::warn!(
            target: "ondes::perf",
            op = %al.op,
            rule = al.kind.rule(),
            "{}; {}",
            al.message,
            al.suggestions.first().map(String::as_str).unwrap_or("")
        ),
    }
}
