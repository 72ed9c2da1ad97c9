//! Opus passthrough: which rung of the ladder a source's own Opus packets fill.
//!
//! A source that already sends Opus at the stream's layout (a WebSocket publisher sending
//! Opus, an Icecast source sending Ogg/Opus in frames of the stream's duration) has done the
//! encoding: re-encoding its decoded audio for the rung of about the same bitrate would cost
//! CPU and a generation of quality. That rung carries the source's packets instead, unchanged;
//! the other rungs are encoded from the decoded PCM as usual.
//!
//! The rung is the one nearest the source's bitrate (a moving average of its packet sizes,
//! silence packets left out), within a factor of [`MAX_RATIO`]: a 256 kbit/s source does not
//! fill a 128 kbit/s rung, whose listeners chose it for its cost. A rung once chosen is kept
//! until another is clearly nearer ([`SWITCH_MARGIN`]), so VBR does not make listeners hop
//! between encoders.

use bytes::Bytes;

/// A source bitrate this far from every rung (either way) is not passed through.
pub const MAX_RATIO: f64 = 1.5;
/// The chosen rung is kept until another is nearer the source's bitrate by this factor.
pub const SWITCH_MARGIN: f64 = 1.3;
/// Packets this small are silence (DTX, or a comfort-noise update): not counted in the bitrate.
const SILENCE_BYTES: usize = 8;
/// Weight of each new packet in the bitrate average (about a second at 20 ms frames).
const ALPHA: f64 = 0.05;

/// What the producer knows about a frame's Opus packet from its source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceOpus {
    /// The source does not send Opus (or not at this stream's layout): encode every rung.
    None,
    /// The source's packet for this frame (one frame of the stream's duration and channels).
    Packet(Bytes),
    /// The source sends Opus but lost this frame: the passthrough rung carries no packet,
    /// so its listeners conceal it themselves (with the next packet's in-band FEC if any).
    Lost,
}

/// The passthrough rung decision for one stream.
#[derive(Debug, Clone, Default)]
pub struct PassthroughChoice {
    avg_bps: Option<f64>,
    rung: Option<usize>,
}

impl PassthroughChoice {
    /// Takes one source packet of `frame_us` µs; returns the rung (index into `rungs_kbps`)
    /// its packets fill now, if any.
    pub fn on_packet(&mut self, packet_bytes: usize, frame_us: u32, rungs_kbps: &[u32]) -> Option<usize> {
        if packet_bytes < SILENCE_BYTES && self.avg_bps.is_some() {
            return self.rung;
        }
        let bps = packet_bytes as f64 * 8.0 * 1e6 / f64::from(frame_us.max(1));
        let avg = match self.avg_bps {
            Some(a) => a + ALPHA * (bps - a),
            None => bps,
        };
        self.avg_bps = Some(avg);
        // how far (as a factor, either way) the source is from rung i
        let ratio = |i: usize| {
            let r = avg / (f64::from(rungs_kbps[i]) * 1000.0);
            if r >= 1.0 { r } else { 1.0 / r.max(1e-9) }
        };
        let Some(best) = (0..rungs_kbps.len()).min_by(|&a, &b| ratio(a).total_cmp(&ratio(b))) else {
            self.rung = None;
            return None;
        };
        if let Some(i) = self.rung
            && i < rungs_kbps.len()
            && ratio(i) <= MAX_RATIO
            && ratio(i) <= ratio(best) * SWITCH_MARGIN
        {
            return self.rung;
        }
        self.rung = (ratio(best) <= MAX_RATIO).then_some(best);
        self.rung
    }

    /// The rung chosen by the last packet.
    pub fn rung(&self) -> Option<usize> {
        self.rung
    }

    /// The source's average bitrate, once a packet was seen.
    pub fn source_kbps(&self) -> Option<f64> {
        self.avg_bps.map(|b| b / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [u32; 5] = [16, 32, 64, 128, 256];

    fn bytes_for(kbps: u32) -> usize {
        (kbps * 1000 / 8 / 50) as usize // 20 ms packets
    }

    #[test]
    fn source_fills_the_nearest_rung() {
        let mut c = PassthroughChoice::default();
        assert_eq!(c.on_packet(bytes_for(64), 20_000, &LADDER), Some(2));
        let mut c = PassthroughChoice::default();
        assert_eq!(c.on_packet(bytes_for(100), 20_000, &LADDER), Some(3));
    }

    #[test]
    fn source_far_from_every_rung_is_not_passed_through() {
        let mut c = PassthroughChoice::default();
        assert_eq!(c.on_packet(bytes_for(510), 20_000, &[16, 32, 64]), None);
        assert_eq!(c.on_packet(bytes_for(6), 20_000, &[64, 128]), None);
    }

    #[test]
    fn chosen_rung_is_kept_through_silence_and_vbr() {
        let mut c = PassthroughChoice::default();
        for _ in 0..50 {
            assert_eq!(c.on_packet(bytes_for(64), 20_000, &LADDER), Some(2));
        }
        // silence (DTX) does not count
        for _ in 0..100 {
            assert_eq!(c.on_packet(3, 20_000, &LADDER), Some(2));
        }
        // VBR around the rung does not move it
        for i in 0..100 {
            let kbps = if i % 2 == 0 { 50 } else { 90 };
            assert_eq!(c.on_packet(bytes_for(kbps), 20_000, &LADDER), Some(2));
        }
        // a lasting change moves it
        for _ in 0..200 {
            c.on_packet(bytes_for(256), 20_000, &LADDER);
        }
        assert_eq!(c.rung(), Some(4));
        assert!((c.source_kbps().unwrap() - 256.0).abs() < 5.0);
    }
}
