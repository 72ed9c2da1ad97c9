//! Rate-limited warnings: input from strangers (a wrong source password, a garbage body)
//! can repeat as fast as they can send it, and one log line each would flood the log.
//!
//! A [`WarnLimit`] lets one line through per interval and counts what it held back; the
//! next line that passes says how many were held back, so nothing is lost from the count.
//!
//! ```
//! # use ondes_server::log_limit::WarnLimit;
//! static REFUSED: WarnLimit = WarnLimit::per_secs(10);
//! if let Some(suppressed) = REFUSED.check() {
//!     tracing::warn!(suppressed, "source refused");
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One log site's budget: a line per `interval_ms`.
pub struct WarnLimit {
    interval_ms: u64,
    /// ms since the epoch when the last line passed (0: never).
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl WarnLimit {
    pub const fn per_secs(secs: u64) -> Self {
        WarnLimit { interval_ms: secs * 1000, last_ms: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` when a line may be logged now (`n`: lines held back since the last one),
    /// `None` when this one is to be held back (and is counted).
    pub fn check(&self) -> Option<u64> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.check_at(now)
    }

    /// [`check`](Self::check) at an explicit time (ms), for tests.
    pub fn check_at(&self, now_ms: u64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        if (last == 0 || now_ms >= last.saturating_add(self.interval_ms))
            && self
                .last_ms
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_count_of_the_rest() {
        let l = WarnLimit::per_secs(10);
        assert_eq!(l.check_at(1_000), Some(0));
        assert_eq!(l.check_at(1_001), None);
        assert_eq!(l.check_at(5_000), None);
        assert_eq!(l.check_at(10_999), None);
        assert_eq!(l.check_at(11_000), Some(3), "the line after the interval tells of the 3 held back");
        assert_eq!(l.check_at(11_500), None);
    }
}
