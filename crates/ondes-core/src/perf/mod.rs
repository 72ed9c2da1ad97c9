//! Per-stage performance monitor (sans-IO).
//!
//! Every stage of the pipeline — ondes' own (capture, decode, resample, encode, fanout,
//! send, client-reported receive and playout) and the voice-AI stages around it that an
//! application reports as spans (STT, LLM, TTS, …) — is a named **operation** with a
//! **threshold**. The monitor keeps, per operation, a count window of the latest
//! measurements (1000 by default) for the statistics, and one-second buckets over a long
//! time window (600 s) for trends and timeouts-per-minute. A [`PerfReport`] gives each
//! operation's statistics and [`Level`], ranks the bottlenecks, raises [`Alert`]s with
//! suggestions, and checks [`Sla`]s.
//!
//! The module owns no clock: every call takes `now_us`. The server wraps it in a lock and
//! feeds it `Instant`-measured durations; tests drive it in simulated time.
//!
//! ```
//! use ondes_core::perf::{DefaultOp, Level, PerfMonitor};
//! let mut m = PerfMonitor::default();
//! m.record("tts_synthesis", 420_000, true, 1_000_000).unwrap();
//! m.record_id(DefaultOp::Fanout.id(), 900, true, 1_000_000); // hot path: no name lookup
//! let report = m.report(2_000_000);
//! assert_eq!(report.op("tts_synthesis").unwrap().level, Some(Level::Good));
//! ```

pub mod alerts;
pub mod announce;
pub mod attrs;
pub mod level;
pub mod monitor;
pub mod ops;
pub mod report;
pub mod sla;
pub mod stats;
pub mod suggest;
pub mod table;
pub mod window;

#[cfg(test)]
mod tests;

pub use alerts::{Alert, AlertKind, AlertRules};
pub use announce::{Announcement, Announcer};
pub use attrs::{AttrKeyReport, AttrLimits, AttrStats, AttrValueReport};
pub use level::Level;
pub use monitor::{OpId, PerfConfig, PerfError, PerfMonitor};
pub use ops::{DefaultOp, MAX_NAME_LEN, validate_name};
pub use report::{Bottleneck, OpReport, PerfReport};
pub use sla::{Sla, SlaResult, SlaStatus};
pub use stats::{OpStats, Trend, TrendInfo, percentile};
pub use suggest::{Problem, suggestions};
pub use table::fmt_us;
pub use window::{MAX_DURATION_US, OpSnapshot, Outcome};
