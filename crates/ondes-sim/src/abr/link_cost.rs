//! What a rung costs on the link: the socket bytes of `ondes_core::abr::cost` plus the
//! TCP/IP headers of each segment.
//!
//! The controller never sees these bytes (the kernel adds them below the socket), but they
//! use the link too: the benchmark's link efficiency and the simulated link count them.

use ondes_core::abr::cost::{frame_bytes, message_bytes};

use crate::netmodel::{TCP_IP_OVERHEAD, TCP_MSS};

/// Bytes on the link for `socket_bytes` written in one go: TCP/IP headers per MSS segment.
pub fn link_bytes(socket_bytes: usize) -> usize {
    socket_bytes + socket_bytes.div_ceil(TCP_MSS).max(1) * TCP_IP_OVERHEAD
}

/// Link bit rate (bit/s) of a rung sent in messages of `batch` frames of `frame_us`, with
/// TCP/IP headers.
pub fn link_bps(kbps: u32, frame_us: u32, batch: usize) -> f64 {
    let bytes = link_bytes(message_bytes(frame_bytes(kbps, frame_us), batch));
    bytes as f64 * 8.0 * 1e6 / (frame_us as f64 * batch as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_protocol_table() {
        // 128 kbit/s in 80 ms messages: 1312 socket bytes, one segment → 136.4 kbit/s
        assert!((link_bps(128, 20_000, 4) - 136_400.0).abs() < 1.0);
        assert_eq!(link_bytes(3000), 3000 + 3 * 52);
    }
}
