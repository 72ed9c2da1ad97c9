//! The decoder fuzz harness: a byte string read as a script of decoder calls, shared by the
//! fuzz targets in `fuzz/` and by the test that replays their checked-in reproducers.
//!
//! Packets from publishers (WHIP, WebSocket, Icecast) are strangers' bytes, so every decoder
//! entry point is driven with them — decode, concealment of any length, FEC from any packet —
//! and its promises checked: no panic, the output is exactly what the call reports (nothing on
//! error), never more than 120 ms per call, and finite samples.

use super::{OpusDecoder, OpusEngine, SAMPLE_RATES};

/// Runs the script `data` against a fresh decoder of `engine`. Panics (which the fuzzer
/// reports) only when a promise is broken.
///
/// The first byte picks the output rate and channel count; then each step is an operation
/// byte (decode, conceal, FEC), a length byte and, for decode and FEC, that many packet bytes.
pub fn decode_script(engine: OpusEngine, data: &[u8]) {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let rate = SAMPLE_RATES[usize::from(setup % 5)];
    let channels = 1 + u16::from(setup >> 7);
    let Ok(mut dec) = OpusDecoder::with_engine(rate, channels, engine) else {
        return;
    };
    let quantum = rate as usize / 400;
    let mut out = Vec::new();
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len) * if op & 0x80 != 0 { 8 } else { 1 };
        let (packet, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        out.clear();
        out.push(0.25); // a sample from before the call, which must survive it
        let result = match op % 4 {
            0 | 1 => dec.decode(packet, &mut out),
            2 => dec.conceal(quantum * (1 + usize::from(op >> 2) % 48), &mut out),
            _ => dec.decode_fec(packet, quantum * (1 + usize::from(op >> 2) % 48), &mut out),
        };
        assert_eq!(out[0], 0.25, "{engine}: a decoder call overwrote audio before it");
        match result {
            Ok(n) => {
                assert_eq!(
                    out.len(),
                    1 + n * usize::from(channels),
                    "{engine}: output length differs from the count"
                );
                assert!(n <= quantum * 48, "{engine}: {n} samples from one call (over 120 ms)");
                assert!(out.iter().all(|s| s.is_finite()), "{engine}: non-finite samples");
            }
            Err(_) => assert_eq!(out.len(), 1, "{engine}: audio appended by a failed call"),
        }
    }
}
