//! The server's performance monitor: [`ondes_core::perf::PerfMonitor`] behind a lock, fed
//! with `Instant`-measured durations and with clients' spans.
//!
//! One `parking_lot::Mutex` guards the monitor. Recording holds it for the record itself
//! (tens of ns: see `crates/ondes-core/benches/perf_record.rs`); a report holds it once
//! per operation for a short copy ([`PerfMonitor::snapshot_into`]) and sorts, checks and
//! formats outside it, so `GET /api/perf` never stalls a stage that is recording.
//!
//! Hot paths use the built-in ids, which are constants:
//!
//! ```
//! # use ondes_server::perf::{DefaultOp, ServerPerf, PerfSection};
//! # let perf = ServerPerf::new(&PerfSection::default()).unwrap();
//! # let elapsed = std::time::Duration::from_micros(120);
//! let _t = perf.measure_id(DefaultOp::Fanout.id()); // recorded when dropped
//! perf.record_id(DefaultOp::Send.id(), elapsed, true); // or explicitly
//! ```
//!
//! Timestamps (`now_us`) are µs since the Unix epoch, the clock clients' spans use.

mod config;
mod logger;
mod span;

use std::time::{Duration, Instant};

use ondes_core::perf::{
    Announcement, Announcer, AttrKeyReport, AttrLimits, AttrStats, Level, OpId, OpSnapshot, Outcome,
    PerfConfig, PerfError, PerfMonitor, PerfReport,
};
use parking_lot::Mutex;

pub use config::{PerfSection, SlaSection};
pub use logger::run as run_logger;
pub use ondes_core::perf::DefaultOp;
pub use span::{Span, SpanError, parse_batch};

/// The monitor shared by every part of the server.
pub struct ServerPerf {
    monitor: Mutex<PerfMonitor>,
    /// A copy of the monitor's configuration, to build reports without the lock.
    config: PerfConfig,
    announcer: Mutex<Announcer>,
    max_spans: usize,
    /// Operation names added by clients' spans, with the client (token subject) that added
    /// each: one client may add at most `max_per_client`.
    client_ops: Mutex<ClientOps>,
    max_per_client: usize,
    idle_us: u64,
    /// Attribute statistics per operation name (at most `max_operations` names).
    attrs: Mutex<std::collections::HashMap<String, AttrStats>>,
    attr_limits: AttrLimits,
    /// Each client span logged in one line at this level (`perf.span_log`), or not.
    span_log: Option<tracing::Level>,
}

#[derive(Default)]
struct ClientOps {
    owner: std::collections::HashMap<std::sync::Arc<str>, String>,
    per_client: std::collections::HashMap<String, usize>,
}

/// Why a client's span was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum SpanRefused {
    #[error(transparent)]
    Monitor(#[from] PerfError),
    #[error(
        "'{name}' was not recorded: this client already added {max} operation names (perf.max_operations_per_client); reuse names"
    )]
    ClientLimit { name: String, max: usize },
}

fn now_us() -> u64 {
    crate::clock::now_us().max(0) as u64
}

impl ServerPerf {
    /// The monitor for a `[perf]` section (validated already by [`crate::Config::validate`]).
    pub fn new(section: &PerfSection) -> Result<ServerPerf, crate::config::ConfigError> {
        let config = section.to_core()?;
        let monitor = PerfMonitor::new(config.clone()).map_err(|e| crate::config::ConfigError::Invalid {
            key: "perf".into(),
            message: e.to_string(),
        })?;
        Ok(ServerPerf {
            monitor: Mutex::new(monitor),
            config,
            announcer: Mutex::new(Announcer::default()),
            max_spans: section.max_spans_per_request,
            client_ops: Mutex::new(ClientOps::default()),
            max_per_client: section.max_operations_per_client,
            idle_us: section.operation_idle_secs.saturating_mul(1_000_000),
            attrs: Mutex::new(std::collections::HashMap::new()),
            attr_limits: AttrLimits::default(),
            span_log: section.span_log_level()?,
        })
    }

    /// Spans accepted in one request.
    pub fn max_spans(&self) -> usize {
        self.max_spans
    }

    /// The id of `name`, registering it (default threshold) if new.
    pub fn intern(&self, name: &str) -> Result<OpId, PerfError> {
        self.monitor.lock().intern(name)
    }

    /// Times `name` until the guard is dropped. A name the monitor refuses (invalid, or
    /// past `perf.max_operations`) gives a guard that records nothing: measuring must
    /// never fail the work being measured.
    pub fn measure(&self, name: &str) -> Measure<'_> {
        let id = self.intern(name).ok();
        Measure { perf: self, id, start: Instant::now(), outcome: Outcome::Ok }
    }

    /// Times an interned operation until the guard is dropped (no name lookup).
    pub fn measure_id(&self, id: OpId) -> Measure<'_> {
        Measure { perf: self, id: Some(id), start: Instant::now(), outcome: Outcome::Ok }
    }

    /// Records a duration measured by the caller, now.
    pub fn record_id(&self, id: OpId, duration: Duration, ok: bool) {
        let us = duration.as_micros().min(u64::MAX as u128) as u64;
        self.record_outcome(id, us, Outcome::from_ok(ok), now_us());
    }

    /// Records a measurement with an explicit outcome and time.
    pub fn record_outcome(&self, id: OpId, duration_us: u64, outcome: Outcome, now_us: u64) {
        self.monitor.lock().record_outcome(id, duration_us, outcome, now_us);
    }

    /// Records by name (registering it if new).
    pub fn record(&self, name: &str, duration_us: u64, ok: bool, now_us: u64) -> Result<OpId, PerfError> {
        self.monitor.lock().record(name, duration_us, ok, now_us)
    }

    /// Records a span of `client` (a token subject), filed at its end time (never later
    /// than `now_us`). A name new to the monitor counts against the client's share of
    /// names; when the table is full, the operation idle longest (past
    /// `perf.operation_idle_secs`) gives its slot.
    pub fn record_span(&self, span: &Span, client: &str, now_us: u64) -> Result<OpId, SpanRefused> {
        let outcome = match (span.ok, span.timeout) {
            (_, true) => Outcome::TimedOut,
            (true, false) => Outcome::Ok,
            (false, false) => Outcome::Failed,
        };
        let mut m = self.monitor.lock();
        let id = match m.id(&span.name) {
            Some(id) => id,
            None => {
                let mut owners = self.client_ops.lock();
                let mine = owners.per_client.get(client).copied().unwrap_or(0);
                if mine >= self.max_per_client {
                    return Err(SpanRefused::ClientLimit {
                        name: span.name.clone(),
                        max: self.max_per_client,
                    });
                }
                let (id, forgotten) =
                    m.intern_or_replace_idle(&span.name, now_us.saturating_sub(self.idle_us))?;
                if let Some(old) = forgotten
                    && let Some(c) = owners.owner.remove(&old)
                    && let Some(n) = owners.per_client.get_mut(&c)
                {
                    *n -= 1;
                    if *n == 0 {
                        owners.per_client.remove(&c);
                    }
                }
                owners.owner.insert(span.name.as_str().into(), client.to_string());
                *owners.per_client.entry(client.to_string()).or_default() += 1;
                id
            }
        };
        m.record_outcome(id, span.duration_us, outcome, span.end_us(now_us));
        let threshold_us = m.threshold_us(id).unwrap_or(self.config.default_threshold_us);
        drop(m);
        if !span.attributes.is_empty() {
            let mut attrs = self.attrs.lock();
            let room = attrs.len() < self.config.max_operations;
            if let Some(stats) = attrs.get_mut(&span.name) {
                stats.record(&span.attributes, span.duration_us, threshold_us, &self.attr_limits);
            } else if room {
                let mut stats = AttrStats::default();
                stats.record(&span.attributes, span.duration_us, threshold_us, &self.attr_limits);
                attrs.insert(span.name.clone(), stats);
            }
        }
        if let Some(level) = self.span_log {
            log_span(level, &span.name, span.duration_us, threshold_us);
        }
        Ok(id)
    }

    /// Per operation with attributed spans: per key, the values with the worst p95 first.
    pub fn attributes(&self) -> std::collections::BTreeMap<String, Vec<AttrKeyReport>> {
        let attrs = self.attrs.lock();
        attrs.iter().map(|(name, s)| (name.clone(), s.report(&self.attr_limits))).collect()
    }

    /// The report now.
    pub fn report(&self) -> PerfReport {
        self.report_at(now_us())
    }

    /// The report at `now_us`, taking the lock once per operation for a short copy.
    pub fn report_at(&self, now_us: u64) -> PerfReport {
        let count = self.monitor.lock().op_count();
        let mut snaps = Vec::with_capacity(count);
        for i in 0..count {
            let mut s =
                OpSnapshot { durations: Vec::with_capacity(self.config.window), ..Default::default() };
            if self.monitor.lock().snapshot_into(OpId::from_index(i), now_us, &mut s) {
                snaps.push(s);
            }
        }
        PerfReport::build(&self.config, &snaps, now_us)
    }

    /// The summary table now.
    pub fn summary(&self) -> String {
        self.report().summary_table()
    }

    /// The bottlenecks and alerts of `report` not seen in the previous call.
    pub fn new_problems(&self, report: &PerfReport) -> Vec<Announcement> {
        self.announcer.lock().update(report)
    }
}

/// One line per measurement: `PERF: stt_processing 1250.5 ms GOOD threshold 2000 ms`.
fn log_span(level: tracing::Level, name: &str, duration_us: u64, threshold_us: u64) {
    let label = Level::of_duration(duration_us, threshold_us).label();
    let (ms, thr) = (duration_us as f64 / 1000.0, threshold_us as f64 / 1000.0);
    match level {
        tracing::Level::ERROR | tracing::Level::WARN => {
            tracing::warn!("PERF: {name} {ms:.1} ms {label} threshold {thr} ms")
        }
        tracing::Level::INFO => tracing::info!("PERF: {name} {ms:.1} ms {label} threshold {thr} ms"),
        tracing::Level::DEBUG => tracing::debug!("PERF: {name} {ms:.1} ms {label} threshold {thr} ms"),
        tracing::Level::TRACE => tracing::trace!("PERF: {name} {ms:.1} ms {label} threshold {thr} ms"),
    }
}

/// Times one operation; records on drop (success unless marked otherwise).
#[must_use = "the measurement is recorded when the guard is dropped; binding it to `_` drops it at once"]
pub struct Measure<'a> {
    perf: &'a ServerPerf,
    id: Option<OpId>,
    start: Instant,
    outcome: Outcome,
}

impl Measure<'_> {
    /// Marks the operation as failed.
    pub fn fail(&mut self) {
        self.outcome = Outcome::Failed;
    }

    /// Marks the operation as timed out (counts as a failure and a timeout).
    pub fn timed_out(&mut self) {
        self.outcome = Outcome::TimedOut;
    }

    /// Records now with the given success.
    pub fn finish(mut self, ok: bool) {
        if !ok {
            self.fail();
        }
    }

    /// Drops the measurement without recording it.
    pub fn cancel(mut self) {
        self.id = None;
    }
}

impl Drop for Measure<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let us = self.start.elapsed().as_micros().min(u64::MAX as u128) as u64;
            self.perf.record_outcome(id, us, self.outcome, now_us());
        }
    }
}
