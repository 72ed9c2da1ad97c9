//! The ring of recent frames and the per-listener cursor into it.
//!
//! The hub appends to a [`Ring`] and never waits for anyone. Each listener owns a
//! [`Cursor`]: a sequence number and a lag policy. Reading through the cursor either yields
//! the next frame, says nothing is new yet, or — when the listener has fallen too far
//! behind — skips it ahead to live and says how many frames it skipped, so the caller can
//! count them. A slow listener therefore costs nobody else anything.

use std::collections::VecDeque;

/// A bounded window of the most recent items, addressed by gap-free sequence numbers.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    first_seq: u64,
    capacity: usize,
}

impl<T> Ring<T> {
    /// A ring holding at most `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring { items: VecDeque::with_capacity(capacity), first_seq: 0, capacity }
    }

    /// Appends an item, evicting the oldest when full; returns the item's sequence number.
    pub fn push(&mut self, item: T) -> u64 {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.first_seq += 1;
        }
        self.items.push_back(item);
        self.next_seq() - 1
    }

    /// Empties the ring and numbers the next item `seq`: for a ring that takes another
    /// producer's numbering (a cluster edge follows its origin's), at the start and after a
    /// jump too long to fill. Cursors behind `seq` are skipped to live at their next read.
    pub fn restart_at(&mut self, seq: u64) {
        self.items.clear();
        self.first_seq = seq;
    }

    /// Sequence number the next pushed item will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.items.len() as u64
    }

    /// Oldest sequence number still held (equals `next_seq` when empty).
    pub fn oldest_seq(&self) -> u64 {
        self.first_seq
    }

    /// Newest item's sequence number, if any.
    pub fn newest_seq(&self) -> Option<u64> {
        self.next_seq().checked_sub(1).filter(|_| !self.items.is_empty())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The item with sequence number `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<&T> {
        let idx = seq.checked_sub(self.first_seq)?;
        self.items.get(idx as usize)
    }
}

/// Result of reading through a [`Cursor`].
#[derive(Debug, PartialEq, Eq)]
pub enum CursorRead<'a, T> {
    /// The next item, in order.
    Item { seq: u64, item: &'a T },
    /// The listener was too far behind (or its frames were evicted): it now points at the
    /// newest item, and `count` items were skipped for it.
    Skipped { count: u64 },
    /// Nothing new yet.
    Pending,
}

/// Where a resumed listener starts, relative to what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Every requested item is still in the ring: no gap.
    Exact,
    /// Some requested items were already evicted; the cursor starts at live and `missed`
    /// items are lost to this listener.
    Gap { missed: u64 },
    /// The requested position is in the future, or (as the server decides) too far back
    /// to be a connection coming back: start at live, the gap's size unknown.
    Unknown,
}

/// One listener's position in a ring, with its lag policy.
#[derive(Debug, Clone)]
pub struct Cursor {
    next: u64,
    max_lag: u64,
    skipped_total: u64,
}

impl Cursor {
    /// A cursor that will yield the next item pushed (joins at live, no burst).
    /// `max_lag` is the backlog (in items) beyond which the listener is skipped to live.
    pub fn at_live<T>(ring: &Ring<T>, max_lag: u64) -> Self {
        Cursor { next: ring.next_seq(), max_lag: max_lag.max(1), skipped_total: 0 }
    }

    /// A cursor that starts with the newest `burst` items already in the ring.
    pub fn with_burst<T>(ring: &Ring<T>, max_lag: u64, burst: u64) -> Self {
        let next = ring.next_seq().saturating_sub(burst).max(ring.oldest_seq());
        Cursor { next, max_lag: max_lag.max(1), skipped_total: 0 }
    }

    /// A cursor resuming right after `last_seen` (as from an SSE `Last-Event-ID`).
    pub fn resume_after<T>(ring: &Ring<T>, max_lag: u64, last_seen: u64) -> (Self, Resume) {
        let wanted = last_seen.saturating_add(1);
        let mut cursor = Cursor::at_live(ring, max_lag);
        let outcome = if wanted > ring.next_seq() {
            Resume::Unknown
        } else if wanted >= ring.oldest_seq() && ring.next_seq() - wanted <= cursor.max_lag {
            cursor.next = wanted;
            Resume::Exact
        } else {
            Resume::Gap { missed: ring.next_seq() - wanted }
        };
        (cursor, outcome)
    }

    /// Sequence number this cursor reads next.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// All items ever skipped for this listener.
    pub fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    /// Items available to this listener right now.
    pub fn backlog<T>(&self, ring: &Ring<T>) -> u64 {
        ring.next_seq().saturating_sub(self.next)
    }

    /// Moves to live without counting a skip (used when delivery was paused on purpose).
    pub fn jump_to_live<T>(&mut self, ring: &Ring<T>) -> u64 {
        let jumped = self.backlog(ring);
        self.next = ring.next_seq();
        jumped
    }

    /// Reads the next item, or skips to live if the listener is too far behind.
    pub fn read<'a, T>(&mut self, ring: &'a Ring<T>) -> CursorRead<'a, T> {
        let backlog = self.backlog(ring);
        if backlog == 0 {
            return CursorRead::Pending;
        }
        if self.next < ring.oldest_seq() || backlog > self.max_lag {
            // skip to the newest item, which the next read returns
            let newest = ring.next_seq() - 1;
            let count = newest - self.next;
            self.next = newest;
            self.skipped_total += count;
            return CursorRead::Skipped { count };
        }
        let seq = self.next;
        // in range: oldest <= next < next_seq was checked above
        match ring.get(seq) {
            Some(item) => {
                self.next += 1;
                CursorRead::Item { seq, item }
            }
            None => CursorRead::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(n: u64, cap: usize) -> Ring<u64> {
        let mut r = Ring::new(cap);
        for i in 0..n {
            assert_eq!(r.push(i), i);
        }
        r
    }

    #[test]
    fn restart_takes_a_new_numbering_and_skips_old_cursors() {
        let mut r = ring_with(5, 10);
        let mut c = Cursor::at_live(&r, 100);
        r.push(5);
        r.restart_at(1_000);
        assert!(r.is_empty());
        assert_eq!(r.next_seq(), 1_000);
        assert_eq!(r.push(7), 1_000);
        assert_eq!(r.get(1_000), Some(&7));
        assert_eq!(c.read(&r), CursorRead::Skipped { count: 1_000 - 5 });
        assert_eq!(c.read(&r), CursorRead::Item { seq: 1_000, item: &7 });
    }

    #[test]
    fn evicts_oldest() {
        let r = ring_with(15, 10);
        assert_eq!(r.oldest_seq(), 5);
        assert_eq!(r.next_seq(), 15);
        assert_eq!(r.get(4), None);
        assert_eq!(r.get(5), Some(&5));
        assert_eq!(r.get(14), Some(&14));
        assert_eq!(r.get(15), None);
        assert_eq!(r.newest_seq(), Some(14));
    }

    #[test]
    fn live_cursor_reads_in_order_then_pending() {
        let mut r = ring_with(3, 10);
        let mut c = Cursor::at_live(&r, 5);
        assert_eq!(c.read(&r), CursorRead::Pending);
        r.push(3);
        r.push(4);
        assert_eq!(c.read(&r), CursorRead::Item { seq: 3, item: &3 });
        assert_eq!(c.read(&r), CursorRead::Item { seq: 4, item: &4 });
        assert_eq!(c.read(&r), CursorRead::Pending);
        assert_eq!(c.skipped_total(), 0);
    }

    #[test]
    fn lagging_cursor_skips_to_live_and_counts() {
        let mut r = ring_with(1, 100);
        let mut c = Cursor::at_live(&r, 5);
        for i in 1..=20 {
            r.push(i);
        }
        // backlog 20 > 5: skip to newest (20), 19 skipped (1..=19)
        assert_eq!(c.read(&r), CursorRead::Skipped { count: 19 });
        assert_eq!(c.read(&r), CursorRead::Item { seq: 20, item: &20 });
        assert_eq!(c.skipped_total(), 19);
        // within the lag budget nothing is skipped
        for i in 21..=24 {
            r.push(i);
        }
        for i in 21..=24 {
            assert_eq!(c.read(&r), CursorRead::Item { seq: i, item: &i });
        }
    }

    #[test]
    fn evicted_position_skips_even_under_lag_budget() {
        let r = ring_with(30, 10);
        let mut c = Cursor { next: 12, max_lag: 1000, skipped_total: 0 };
        assert_eq!(c.read(&r), CursorRead::Skipped { count: 17 });
        assert_eq!(c.read(&r), CursorRead::Item { seq: 29, item: &29 });
    }

    #[test]
    fn resume_exact_gap_unknown() {
        let r = ring_with(30, 10); // holds 20..=29
        let (mut c, o) = Cursor::resume_after(&r, 50, 24);
        assert_eq!(o, Resume::Exact);
        assert_eq!(c.read(&r), CursorRead::Item { seq: 25, item: &25 });
        let (c, o) = Cursor::resume_after(&r, 50, 10);
        assert_eq!(o, Resume::Gap { missed: 19 });
        assert_eq!(c.position(), 30);
        let (c, o) = Cursor::resume_after(&r, 50, 29);
        assert_eq!(o, Resume::Exact);
        assert_eq!(c.position(), 30);
        let (_, o) = Cursor::resume_after(&r, 50, 500);
        assert_eq!(o, Resume::Unknown);
        // in the ring but beyond the lag budget: a gap, not a 9-frame burst
        let (_, o) = Cursor::resume_after(&r, 3, 20);
        assert_eq!(o, Resume::Gap { missed: 9 });
    }

    #[test]
    fn burst_and_jump() {
        let r = ring_with(30, 10);
        let mut c = Cursor::with_burst(&r, 50, 3);
        assert_eq!(c.position(), 27);
        assert_eq!(c.jump_to_live(&r), 3);
        assert_eq!(c.read(&r), CursorRead::Pending);
        assert_eq!(c.skipped_total(), 0);
    }
}
