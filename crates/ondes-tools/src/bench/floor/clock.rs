//! The floor's clock thread: every `page_ms` it makes the next page, once, and hands the
//! same bytes to every writer.
//!
//! Pages are due at fixed instants from the start (`start + k × page_ms`), not `page_ms`
//! after the previous one, so the stream keeps real time: a late tick is made up at once
//! instead of drifting, as a live source would.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::pages::PageSource;
use super::stats::FloorStats;
use super::writer::ToWriter;

/// Makes a page each `page` interval after `start` until `stop` gets a message or is
/// dropped, or every writer is gone.
pub fn run(
    mut source: PageSource,
    page: Duration,
    start: Instant,
    writers: Vec<Sender<ToWriter>>,
    stop: Receiver<()>,
    stats: Arc<FloorStats>,
) {
    let mut due = start;
    loop {
        due += page;
        let wait = due.saturating_duration_since(Instant::now());
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let next = source.next_page();
        stats.on_page_made();
        for w in &writers {
            if w.send(ToWriter::Page(next.clone())).is_err() {
                return;
            }
        }
    }
}
