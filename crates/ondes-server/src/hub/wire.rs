//! Wire bytes made once, where the frame is produced.
//!
//! Everything that is the same for every listener of a key — an SSE event, a WebSocket
//! audio message, an Ogg page — is built once per group of frames and shared as `Bytes`.
//! A transport registers the key it sends (with a [`WireBuilder`] that knows its framing)
//! while it has listeners; the hub's producer builds every registered key's message when
//! the frame that completes its group is pushed, before the frame becomes visible, and
//! stores them on that frame ([`HubFrame::wire`]). Listeners then read them without a lock.
//!
//! A message a listener needs that was not made at push time (its key was registered after
//! the frame was pushed, or the listener joined mid-group and needs a short first message)
//! is made by the first listener that needs it and cached on the frame under a lock; every
//! later listener of that key shares it. Those are the exceptions: one per key per join.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::{HubFrame, StreamHub};

/// Identifies one serialisation (a transport's framing of a group of frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireKey {
    /// The transport and format (each transport picks its own values).
    pub format: u8,
    /// A variant within the format: a rung index, a decimation factor.
    pub variant: u32,
    /// Frames per message; messages start at `seq % group == 0`.
    pub group: u64,
}

/// A transport's framing of a group of consecutive frames.
pub trait WireBuilder: Send + Sync {
    fn build(&self, hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Bytes;
}

struct Entry {
    key: WireKey,
    builder: Arc<dyn WireBuilder>,
    users: usize,
}

/// The keys a stream's listeners use now.
#[derive(Default)]
pub struct WireKeys {
    entries: RwLock<Vec<Entry>>,
}

/// Keeps a key registered while held.
pub struct WireGuard {
    keys: Arc<WireKeys>,
    pub key: WireKey,
}

impl Drop for WireGuard {
    fn drop(&mut self) {
        let mut e = self.keys.entries.write();
        if let Some(i) = e.iter().position(|x| x.key == self.key) {
            e[i].users -= 1;
            if e[i].users == 0 {
                e.swap_remove(i);
            }
        }
    }
}

impl WireKeys {
    /// Registers a listener of `key` (made by `builder` when nobody else uses it yet).
    pub fn join(self: &Arc<Self>, key: WireKey, builder: impl FnOnce() -> Arc<dyn WireBuilder>) -> WireGuard {
        let mut e = self.entries.write();
        match e.iter_mut().find(|x| x.key == key) {
            Some(x) => x.users += 1,
            None => e.push(Entry { key, builder: builder(), users: 1 }),
        }
        WireGuard { keys: self.clone(), key }
    }

    /// Keys whose group ends with frame `seq`, with their builders.
    pub(super) fn due(&self, seq: u64, out: &mut Vec<(WireKey, Arc<dyn WireBuilder>)>) {
        for x in self.entries.read().iter() {
            if (seq + 1).is_multiple_of(x.key.group.max(1)) {
                out.push((x.key, x.builder.clone()));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
