//! What a rung costs on the wire: the bytes of our audio messages (protocol v1 header,
//! length prefixes, the server's WebSocket frame header).
//!
//! The controller compares rungs with the throughput the server's socket achieves, so its
//! costs are in *socket* bytes (message bytes; the kernel adds TCP/IP). What TCP/IP adds on
//! the link is a matter for the link model (`ondes_sim::abr::link_cost`): the controller
//! never sees those bytes.

use crate::proto::audio::HEADER_LEN;

/// Opus payload bytes of one frame at `kbps` (constant bitrate).
pub fn frame_bytes(kbps: u32, frame_us: u32) -> usize {
    (kbps as u64 * frame_us as u64 / 8_000) as usize
}

/// Bytes of the WebSocket frame header the server puts before a binary message of `len`.
pub fn ws_header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

/// Bytes on the socket for one audio message carrying `batch` frames of `frame_bytes`.
pub fn message_bytes(frame_bytes: usize, batch: usize) -> usize {
    let message = HEADER_LEN + batch * (2 + frame_bytes);
    message + ws_header_len(message)
}

/// Socket bit rate (bit/s) of a rung sent in messages of `batch` frames of `frame_us`.
pub fn socket_bps(kbps: u32, frame_us: u32, batch: usize) -> f64 {
    let bytes = message_bytes(frame_bytes(kbps, frame_us), batch);
    bytes as f64 * 8.0 * 1e6 / (frame_us as f64 * batch as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_protocol_table() {
        // docs/protocol.md: 64 kbit/s, 20 ms, batch 4 → 95.2% of the message is payload
        let payload = 4 * frame_bytes(64, 20_000);
        let eff = payload as f64 / message_bytes(160, 4) as f64;
        assert!((eff - crate::proto::audio::efficiency(160, 4)).abs() < 1e-9);
        assert_eq!(frame_bytes(128, 20_000), 320);
        // 128 kbit/s in 80 ms messages: 1312 socket bytes → 131.2 kbit/s
        assert!((socket_bps(128, 20_000, 4) - 131_200.0).abs() < 1.0);
    }
}
