//! A stream's own consumers (the recorder, the HLS/DASH segmenters) read it as a listener
//! does, through their own cursor: [`HubReader`] is that loop's waiting and reading, so that
//! each of them only says what it does with a frame.

use std::sync::Arc;
use std::time::Duration;

use ondes_core::Cursor;
use tokio::sync::watch;

use super::{HubRead, StreamHub};

/// Reads `hub` from live, woken at each frame and at least once a second (so that a consumer
/// with its own timers — an idle segmenter — runs them on a quiet stream).
pub struct HubReader {
    hub: Arc<StreamHub>,
    frames: watch::Receiver<u64>,
    cursor: Cursor,
    out: Vec<HubRead>,
}

/// Most items one wake-up reads.
const MAX_READ: usize = 256;

impl HubReader {
    pub fn at_live(hub: &Arc<StreamHub>) -> HubReader {
        HubReader {
            hub: hub.clone(),
            frames: hub.group_watch(1),
            cursor: hub.cursor_at_live(),
            out: Vec::new(),
        }
    }

    /// What arrived since the last call (possibly nothing, after a quiet second); `None` once
    /// the stream has ended or the server is stopping.
    pub async fn next(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<&[HubRead]> {
        tokio::select! {
            r = self.frames.changed() => if r.is_err() { return None },
            _ = shutdown.changed() => return None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if *shutdown.borrow() || self.hub.control().ended.is_some() {
            return None;
        }
        self.out.clear();
        self.hub.read(&mut self.cursor, MAX_READ, &mut self.out);
        Some(&self.out)
    }
}
