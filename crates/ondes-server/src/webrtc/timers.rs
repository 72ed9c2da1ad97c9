//! The sessions' timeouts, ordered: the engine drives only the sessions whose timeout is
//! due, and sleeps until the earliest, without looking at every session on each wake-up.
//!
//! Each session has at most one deadline (the `Output::Timeout` its `Rtc` last returned).
//! Setting a new one replaces the old; a removed session has none. Ordered by (deadline,
//! session), so that sessions due at the same instant come out in a stable order.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Deadlines of sessions keyed by `u64`.
#[derive(Debug, Default)]
pub struct Timers {
    order: BTreeSet<(Instant, u64)>,
    by_key: HashMap<u64, Instant>,
}

impl Timers {
    /// Arms session `key` for `at`, replacing its previous deadline.
    pub fn set(&mut self, key: u64, at: Instant) {
        match self.by_key.insert(key, at) {
            Some(old) if old == at => return,
            Some(old) => {
                self.order.remove(&(old, key));
            }
            None => {}
        }
        self.order.insert((at, key));
    }

    /// Forgets session `key` (it is gone).
    pub fn remove(&mut self, key: u64) {
        if let Some(old) = self.by_key.remove(&key) {
            self.order.remove(&(old, key));
        }
    }

    /// The earliest deadline, if any session has one.
    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Takes the sessions due at `now` (deadline ≤ `now`) into `out`, earliest first; they
    /// have no deadline until set again.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<u64>) {
        while let Some(&(at, key)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.by_key.remove(&key);
            out.push(key);
        }
    }

    /// Sessions with a deadline.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        debug_assert_eq!(self.order.len(), self.by_key.len());
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn due(t: &mut Timers, now: Instant) -> Vec<u64> {
        let mut v = Vec::new();
        t.take_due(now, &mut v);
        v
    }

    #[test]
    fn only_due_sessions_come_out_earliest_first() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        assert!(due(&mut t, ms(1_000)).is_empty());
        t.set(1, ms(30));
        t.set(2, ms(10));
        t.set(3, ms(20));
        t.set(4, ms(20));
        assert_eq!(t.next(), Some(ms(10)));
        assert!(due(&mut t, ms(9)).is_empty(), "nothing is due before the earliest deadline");
        assert_eq!(due(&mut t, ms(10)), vec![2], "a deadline equal to now is due");
        assert_eq!(due(&mut t, ms(25)), vec![3, 4], "same deadline: by session");
        assert_eq!(t.next(), Some(ms(30)));
        assert_eq!(t.len(), 1);
        // taken sessions have no deadline until re-armed
        assert!(due(&mut t, ms(25)).is_empty());
        assert_eq!(due(&mut t, ms(30)), vec![1]);
        assert_eq!((t.next(), t.len()), (None, 0));
    }

    #[test]
    fn rearming_replaces_the_deadline_and_removal_forgets_it() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        t.set(1, ms(10));
        t.set(2, ms(20));
        t.set(3, ms(30));
        // later: session 1 is no longer due at 10
        t.set(1, ms(40));
        // earlier: session 3 is due before 2
        t.set(3, ms(15));
        // the same deadline again changes nothing
        t.set(2, ms(20));
        assert_eq!(t.len(), 3);
        assert_eq!(t.next(), Some(ms(15)));
        assert!(due(&mut t, ms(12)).is_empty(), "session 1's old deadline is gone");
        t.remove(2);
        t.remove(2);
        t.remove(99);
        assert_eq!(due(&mut t, ms(39)), vec![3], "session 2 was removed");
        assert_eq!(due(&mut t, ms(1_000)), vec![1]);
        // a taken session re-armed in the past is due at once
        t.set(1, ms(5));
        assert_eq!(due(&mut t, ms(1_000)), vec![1]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn many_sessions_rearmed_in_turn_keep_one_deadline_each() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        for k in 0..500u64 {
            t.set(k, t0 + Duration::from_millis(k % 50));
        }
        // every session moves 100 ms on, twice
        for round in 1..=2u64 {
            for k in 0..500u64 {
                t.set(k, t0 + Duration::from_millis(k % 50 + 100 * round));
            }
        }
        assert_eq!(t.len(), 500);
        assert!(due(&mut t, t0 + Duration::from_millis(199)).is_empty());
        let first = due(&mut t, t0 + Duration::from_millis(200));
        assert_eq!(first, (0..500u64).filter(|k| k % 50 == 0).collect::<Vec<_>>());
        assert_eq!(due(&mut t, t0 + Duration::from_millis(300)).len(), 490);
    }
}
