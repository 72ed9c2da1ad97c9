//! [`PerfMonitor`]: named operations interned to indices, each with its own window.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::alerts::AlertRules;
use super::ops::{DefaultOp, validate_name};
use super::report::PerfReport;
use super::sla::Sla;
use super::window::{OpSnapshot, OpState, Outcome};

/// An interned operation: an index into the monitor's table.
///
/// The built-in operations have fixed ids ([`DefaultOp::id`]); others get theirs from
/// [`PerfMonitor::intern`] or [`PerfMonitor::register`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub(crate) u32);

impl OpId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id at `index`. Ids are dense: a monitor's operations are `0..op_count()`, so a
    /// caller can walk them (e.g. to snapshot one at a time). An id out of range for a
    /// monitor is harmless: it is counted and ignored.
    pub fn from_index(index: usize) -> OpId {
        OpId(index.min(u32::MAX as usize) as u32)
    }
}

/// Why the monitor refused something.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PerfError {
    #[error("operation name '{name}' {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("'{name}' was not recorded: the monitor already tracks {max} operations (the maximum)")]
    TooManyOperations { name: String, max: usize },
    #[error("{key}: {message}")]
    BadConfig { key: String, message: String },
    #[error("SLA for '{op}': {message}")]
    BadSla { op: String, message: String },
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> PerfError {
    PerfError::BadConfig { key: key.into(), message: message.into() }
}

/// How the monitor is set up. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfConfig {
    /// Measurements kept per operation for the statistics (count window).
    pub window: usize,
    /// The recent time window of the trend, in seconds.
    pub recent_window_secs: u64,
    /// The long time window the recent one is compared with (it includes it), in seconds.
    pub long_window_secs: u64,
    /// Threshold of operations that are neither built in nor in `thresholds_us`.
    pub default_threshold_us: u64,
    /// A measurement taking at least this many times its threshold is a timeout.
    pub timeout_factor: f64,
    /// Operations tracked at most (names come from clients; this bounds the memory).
    pub max_operations: usize,
    /// Thresholds by operation name (µs): overrides for the built-ins, or new operations.
    pub thresholds_us: BTreeMap<String, u64>,
    pub slas: Vec<Sla>,
    pub rules: AlertRules,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            window: 1000,
            recent_window_secs: 60,
            long_window_secs: 600,
            // an unknown span is most likely a network or model call; one second is the
            // budget of `network_request`, the most generic of the built-ins
            default_threshold_us: 1_000_000,
            timeout_factor: 3.0,
            max_operations: 256,
            thresholds_us: BTreeMap::new(),
            slas: Vec::new(),
            rules: AlertRules::default(),
        }
    }
}

impl PerfConfig {
    /// Checks every value, naming the bad one.
    pub fn validate(&self) -> Result<(), PerfError> {
        if !(1..=100_000).contains(&self.window) {
            return Err(bad("window", "must be between 1 and 100000 measurements"));
        }
        if self.recent_window_secs == 0 {
            return Err(bad("recent_window_secs", "must be at least 1"));
        }
        if !(60..=3600).contains(&self.long_window_secs) || self.long_window_secs <= self.recent_window_secs {
            return Err(bad(
                "long_window_secs",
                "must be between 60 and 3600 and longer than recent_window_secs",
            ));
        }
        if self.default_threshold_us == 0 {
            return Err(bad("default_threshold", "must be more than 0"));
        }
        if !(self.timeout_factor.is_finite() && self.timeout_factor >= 1.0) {
            return Err(bad("timeout_factor", "must be a number ≥ 1"));
        }
        let extra = self.thresholds_us.keys().filter(|k| DefaultOp::from_name(k).is_none()).count();
        if self.max_operations < DefaultOp::ALL.len() + extra || self.max_operations > 10_000 {
            return Err(bad(
                "max_operations",
                format!(
                    "must be between {} (the built-ins and the configured thresholds) and 10000",
                    DefaultOp::ALL.len() + extra
                ),
            ));
        }
        for (name, &t) in &self.thresholds_us {
            validate_name(name).map_err(|reason| bad(format!("thresholds.{name}"), reason))?;
            if t == 0 {
                return Err(bad(format!("thresholds.{name}"), "must be more than 0"));
            }
        }
        for sla in &self.slas {
            Sla::new(&sla.op, sla.percentile, sla.max_us)?;
        }
        let r = &self.rules;
        if !(r.min_success_rate >= 0.0 && r.min_success_rate <= 1.0) {
            return Err(bad("min_success_rate", "must be between 0 and 1"));
        }
        if !(r.degrading_ratio.is_finite() && r.degrading_ratio > 1.0) {
            return Err(bad("degrading_ratio", "must be a number > 1"));
        }
        Ok(())
    }
}

/// The performance monitor: sans-IO, time is an argument.
///
/// Record with [`record`](Self::record) (by name: one hash lookup) or
/// [`record_id`](Self::record_id) (by interned id: no lookup); both are O(1), allocate
/// nothing once the operation exists, and cost well under a microsecond (see
/// `benches/perf_record.rs`). Everything else — sorting for percentiles, alerts, formatting
/// — happens in [`report`](Self::report).
///
/// `now_us` may come from any clock that mostly goes forward (the server uses µs since
/// the Unix epoch, so that client spans line up). A measurement stamped earlier than the
/// latest one still counts in the statistics; it only misses the time-based trend and
/// timeouts-per-minute views when it is older than their span.
#[derive(Debug, Clone)]
pub struct PerfMonitor {
    config: PerfConfig,
    names: HashMap<Arc<str>, OpId>,
    ops: Vec<OpState>,
    unknown_ids: u64,
    /// Operations below this index (built-ins and configured ones) are never forgotten.
    pinned: usize,
}

impl Default for PerfMonitor {
    fn default() -> Self {
        // the default configuration is valid (tested), so this cannot fail
        Self::new(PerfConfig::default()).unwrap_or_else(|e| unreachable!("default perf config: {e}"))
    }
}

impl PerfMonitor {
    /// A monitor with the built-in operations (thresholds overridden by the config), the
    /// configured extra operations, and the configured SLAs.
    pub fn new(config: PerfConfig) -> Result<PerfMonitor, PerfError> {
        config.validate()?;
        let mut m = PerfMonitor {
            names: HashMap::with_capacity(config.max_operations),
            ops: Vec::with_capacity(config.max_operations),
            unknown_ids: 0,
            pinned: 0,
            config,
        };
        for op in DefaultOp::ALL {
            let t = m.config.thresholds_us.get(op.name()).copied().unwrap_or(op.default_threshold_us());
            m.register(op.name(), t)?;
        }
        let extra: Vec<(String, u64)> = m.config.thresholds_us.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (name, t) in extra {
            m.register(&name, t)?;
        }
        m.pinned = m.ops.len();
        Ok(m)
    }

    /// The id of `name` like [`intern`](Self::intern), but when the table is full the
    /// operation that has been idle longest — nothing filed since `idle_before_us`, and
    /// neither built in nor configured — is forgotten and its slot given to `name`.
    /// Returns the id and the name forgotten, if one was. Ids of forgotten operations
    /// then mean the new name: callers that keep ids keep only pinned ones.
    pub fn intern_or_replace_idle(
        &mut self,
        name: &str,
        idle_before_us: u64,
    ) -> Result<(OpId, Option<Arc<str>>), PerfError> {
        match self.intern(name) {
            Ok(id) => Ok((id, None)),
            Err(PerfError::TooManyOperations { .. }) => {
                let victim = (self.pinned..self.ops.len())
                    .filter(|&i| self.ops[i].last_us() < idle_before_us)
                    .min_by_key(|&i| self.ops[i].last_us());
                let Some(i) = victim else {
                    return Err(PerfError::TooManyOperations {
                        name: name.into(),
                        max: self.config.max_operations,
                    });
                };
                let new_name: Arc<str> = name.into();
                let old = std::mem::replace(
                    &mut self.ops[i],
                    OpState::new(
                        new_name.clone(),
                        self.config.default_threshold_us,
                        self.config.timeout_factor,
                        self.config.window,
                        self.config.long_window_secs as usize,
                    ),
                );
                self.names.remove(&old.name);
                self.names.insert(new_name, OpId(i as u32));
                Ok((OpId(i as u32), Some(old.name)))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `id` is a built-in or configured operation (never forgotten).
    pub fn is_pinned(&self, id: OpId) -> bool {
        id.index() < self.pinned
    }

    pub fn config(&self) -> &PerfConfig {
        &self.config
    }

    /// The id of a known operation.
    pub fn id(&self, name: &str) -> Option<OpId> {
        self.names.get(name).copied()
    }

    /// The id of `name`, registering it with the default threshold if it is new.
    pub fn intern(&mut self, name: &str) -> Result<OpId, PerfError> {
        match self.names.get(name) {
            Some(&id) => Ok(id),
            None => self.register(name, self.config.default_threshold_us),
        }
    }

    /// Registers `name` with a threshold, or changes the threshold of a known operation.
    pub fn register(&mut self, name: &str, threshold_us: u64) -> Result<OpId, PerfError> {
        if let Some(&id) = self.names.get(name) {
            self.ops[id.index()].set_threshold(threshold_us, self.config.timeout_factor);
            return Ok(id);
        }
        validate_name(name).map_err(|reason| PerfError::BadName { name: name.into(), reason })?;
        if self.ops.len() >= self.config.max_operations {
            return Err(PerfError::TooManyOperations { name: name.into(), max: self.config.max_operations });
        }
        let id = OpId(self.ops.len() as u32);
        let name: Arc<str> = name.into();
        self.ops.push(OpState::new(
            name.clone(),
            threshold_us,
            self.config.timeout_factor,
            self.config.window,
            self.config.long_window_secs as usize,
        ));
        self.names.insert(name, id);
        Ok(id)
    }

    /// Records one measurement by name (registering the name if it is new).
    pub fn record(&mut self, name: &str, duration_us: u64, ok: bool, now_us: u64) -> Result<OpId, PerfError> {
        let id = self.intern(name)?;
        self.record_id(id, duration_us, ok, now_us);
        Ok(id)
    }

    /// Records one measurement of an interned operation: the hot path.
    #[inline]
    pub fn record_id(&mut self, id: OpId, duration_us: u64, ok: bool, now_us: u64) {
        self.record_outcome(id, duration_us, Outcome::from_ok(ok), now_us);
    }

    /// Records one measurement with an explicit outcome (e.g. [`Outcome::TimedOut`]).
    ///
    /// An id from another monitor that is out of range here is counted in
    /// [`unknown_ids`](Self::unknown_ids) and otherwise ignored.
    #[inline]
    pub fn record_outcome(&mut self, id: OpId, duration_us: u64, outcome: Outcome, now_us: u64) {
        match self.ops.get_mut(id.index()) {
            Some(op) => op.record(duration_us, outcome, now_us),
            None => self.unknown_ids += 1,
        }
    }

    /// Measurements dropped because their id was not one of this monitor's.
    pub fn unknown_ids(&self) -> u64 {
        self.unknown_ids
    }

    /// Number of operations, built-ins included.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    pub fn name(&self, id: OpId) -> Option<&str> {
        self.ops.get(id.index()).map(|o| &*o.name)
    }

    pub fn threshold_us(&self, id: OpId) -> Option<u64> {
        self.ops.get(id.index()).map(|o| o.threshold_us)
    }

    /// Copies one operation's state into `out` (reusing its buffers); `false` for an
    /// unknown id. Lets a caller that shares the monitor behind a lock hold the lock for
    /// one short copy at a time and build the report outside it.
    pub fn snapshot_into(&self, id: OpId, now_us: u64, out: &mut OpSnapshot) -> bool {
        match self.ops.get(id.index()) {
            Some(op) => {
                op.snapshot_into(now_us, self.config.recent_window_secs, out);
                true
            }
            None => false,
        }
    }

    /// The full report at `now_us`.
    pub fn report(&self, now_us: u64) -> PerfReport {
        let snaps: Vec<OpSnapshot> = (0..self.ops.len())
            .map(|i| {
                let mut s = OpSnapshot::default();
                self.snapshot_into(OpId(i as u32), now_us, &mut s);
                s
            })
            .collect();
        PerfReport::build(&self.config, &snaps, now_us)
    }
}
