//! A frame as the hub holds it: the PCM, the previous frame's PCM (filter history for
//! decimation), and the cache of its serialisations.

use std::sync::Arc;

use bytes::Bytes;
use ondes_core::Frame;
use parking_lot::Mutex;

/// Identifies one serialisation of a frame (or of a group of frames ending at this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKey {
    /// Which wire format (e.g. SSE JSON, SSE lightweight, SSE pcm16).
    pub format: u8,
    /// Decimation factor applied.
    pub factor: u8,
    /// First sequence number of the group this event carries (its own seq when not merged).
    pub first_seq: u64,
}

pub struct HubFrame {
    pub frame: Frame,
    /// The previous frame's samples (same layout), or `None` for a stream's first frame.
    pub prev: Option<Arc<[f32]>>,
    /// Opus packets of this frame: `(rung index, packet)` for every rung active when it was made.
    pub opus: Vec<(u8, Bytes)>,
    cache: Mutex<Vec<(EventKey, Bytes)>>,
}

impl HubFrame {
    pub fn new(frame: Frame, prev: Option<Arc<[f32]>>, opus: Vec<(u8, Bytes)>) -> Self {
        HubFrame { frame, prev, opus, cache: Mutex::new(Vec::new()) }
    }

    /// This frame's packet at rung `idx`, if that rung was encoding.
    pub fn opus_packet(&self, idx: usize) -> Option<&Bytes> {
        self.opus.iter().find(|(i, _)| *i as usize == idx).map(|(_, p)| p)
    }

    /// The serialisation for `key`, made by `make` the first time only. Returns the bytes
    /// and whether this call made them. The lock is held while making, so concurrent
    /// listeners wait for the one encode instead of repeating it.
    pub fn cached(&self, key: EventKey, make: impl FnOnce() -> Bytes) -> (Bytes, bool) {
        let mut cache = self.cache.lock();
        if let Some((_, b)) = cache.iter().find(|(k, _)| *k == key) {
            return (b.clone(), false);
        }
        let b = make();
        cache.push((key, b.clone()));
        (b, true)
    }
}
