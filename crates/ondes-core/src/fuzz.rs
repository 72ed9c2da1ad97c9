//! Fuzz harnesses of the parsers in this crate that read strangers' bytes, shared by the fuzz
//! targets in `fuzz/` and by the test that replays their checked-in reproducers (so a fault
//! once found stays fixed, and `cargo test` runs each harness on random inputs too).
//!
//! Each harness feeds its input to a parser and checks the parser's promises beyond "no
//! panic": what decodes re-encodes, and what a parser holds stays bounded. A broken promise
//! panics, which is what the fuzzer reports.

use std::path::{Path, PathBuf};

use crate::cluster_wire;
use crate::proto::audio::decode_audio;
use crate::proto::control::{FromListener, ToListener, ToPublisher};
use crate::proto::sse::SseParser;

/// The binary audio message (WebSocket listeners and publishers). The first 8 bytes, when
/// there are more, are the receiver's last sequence number (the 32 → 64-bit extension).
pub fn wire_audio(data: &[u8]) {
    let last = data.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    for (msg, last) in [(data, None), (data.get(8..).unwrap_or(&[]), last)] {
        if let Ok(m) = decode_audio(msg, last) {
            let bytes: usize = m.frames.iter().map(|f| f.len()).sum();
            assert!(bytes <= msg.len(), "frames point past the message");
        }
    }
}

/// The JSON control messages both ways: whatever parses serialises again.
pub fn control_json(data: &[u8]) {
    if let Ok(m) = serde_json::from_slice::<FromListener>(data) {
        serde_json::to_string(&m).expect("a parsed listener message serialises");
    }
    if let Ok(m) = serde_json::from_slice::<ToListener>(data) {
        serde_json::to_string(&m).expect("a parsed server message serialises");
    }
    if let Ok(m) = serde_json::from_slice::<ToPublisher>(data) {
        serde_json::to_string(&m).expect("a parsed publisher message serialises");
    }
}

/// The cluster's frame groups (NATS payloads from other nodes).
pub fn cluster_wire(data: &[u8]) {
    if let Ok(g) = cluster_wire::decode(data) {
        for f in &g.frames {
            let samples = cluster_wire::pcm_to_f32(g.header.pcm, f.pcm);
            assert!(samples.len() <= f.pcm.len(), "more samples than PCM bytes");
        }
    }
}

/// The SSE parser (a client reading a server it does not control), fed in chunks whose
/// sizes come from the input's first byte; what it buffers stays within what it was fed.
pub fn sse(data: &[u8]) {
    let Some((&step, body)) = data.split_first() else { return };
    let mut p = SseParser::new();
    let mut fed = 0;
    for chunk in body.chunks(usize::from(step).max(1)) {
        p.feed(chunk);
        fed += chunk.len();
        while p.next_event().is_some() {}
        assert!(p.pending_bytes() <= fed, "the parser holds more than it was fed");
    }
}

/// The checked-in reproducers of `target` (`fuzz/reproducers/<target>/`, its README aside),
/// for the tests that replay them; `manifest_dir` is the test crate's `CARGO_MANIFEST_DIR`.
pub fn reproducers(manifest_dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(manifest_dir).join("../../fuzz/reproducers").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
}

/// A small deterministic generator (xorshift64) for the replay tests' random inputs.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.max(1);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
