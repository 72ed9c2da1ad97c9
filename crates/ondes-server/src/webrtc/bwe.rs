//! WebRTC bandwidth estimation driving a `rung=auto` WHEP listener's rung.
//!
//! UDP takes every datagram, so the signals the WebSocket listener's controller reads — a
//! backlog at the server, a socket draining slower than we write — never appear; the
//! network drops what does not fit instead. What a WebRTC sender has is the receiver's
//! transport-wide congestion control feedback (TWCC), from which str0m's estimator (GCC)
//! derives the path's available bandwidth, probing with padding up to a desired rate. Its
//! estimates go into the same [`Controller`] as every other listener's inputs
//! ([`Controller::handle_bandwidth_estimate`]); the decisions (down at once, up one rung at
//! a time after a calm period) stay the controller's, in ondes-core.

use ondes_core::abr::{AbrConfig, Controller, Decision, ProfileName, ProfileRequest, cost};
use str0m::bwe::Bitrate;

/// Bytes an RTP packet of ours carries besides the Opus payload: the RTP header (12), the
/// SRTP authentication tag (10) and the header extensions (MID, transport-wide sequence
/// number, abs-send-time, abs-capture-time, with their one-byte headers and padding: ~24).
pub const RTP_OVERHEAD_BYTES: usize = 46;

/// RED's own bytes in a packet with `levels` redundant blocks (RFC 2198): a 4-byte header
/// per redundant block and a 1-byte one for the primary; none without RED.
fn red_header_bytes(levels: usize) -> usize {
    if levels == 0 { 0 } else { 4 * levels + 1 }
}

/// The rate str0m probes towards: the top rung's RTP rate (with `red_levels` RED levels) and
/// a quarter more, so that an estimate can clear the controller's margin for the top rung.
pub fn desired_bitrate(top_kbps: u32, frame_us: u32, red_levels: usize) -> Bitrate {
    let rtp_bps = rtp_bps(top_kbps, frame_us, red_levels);
    Bitrate::bps((rtp_bps * 1.25) as u64)
}

/// RTP bit/s of a rung sent one frame per packet, each packet carrying `red_levels` earlier
/// frames too (a frame is about the same size as the next).
fn rtp_bps(kbps: u32, frame_us: u32, red_levels: usize) -> f64 {
    let bytes = cost::frame_bytes(kbps, frame_us) * (1 + red_levels)
        + RTP_OVERHEAD_BYTES
        + red_header_bytes(red_levels);
    bytes as f64 * 8.0 * 1e6 / f64::from(frame_us.max(1))
}

/// str0m's estimate (RTP bit/s) in the controller's units (the bit/s of one-frame
/// WebSocket messages carrying the same audio): the per-packet overhead differs, and with
/// `red_levels` RED levels only a share `1 / (1 + red_levels)` of the payload is new audio.
pub fn controller_bps(estimate_bps: f64, frame_us: u32, red_levels: usize) -> f64 {
    let ws_overhead = cost::message_bytes(0, 1) as f64;
    let per_s = 1e6 / f64::from(frame_us.max(1));
    let rtp_overhead = (RTP_OVERHEAD_BYTES + red_header_bytes(red_levels)) as f64;
    let audio = (estimate_bps - rtp_overhead * 8.0 * per_s).max(0.0) / (1 + red_levels) as f64;
    if audio == 0.0 { 0.0 } else { audio + ws_overhead * 8.0 * per_s }
}

/// One adaptive WHEP listener's controller, on the µs since its session started.
pub struct ListenerBwe {
    controller: Controller,
    frame_us: u32,
    red_levels: usize,
    /// The latest estimate, bit/s (for logs).
    pub last_estimate_bps: Option<u64>,
}

impl ListenerBwe {
    /// A controller for `ladder` (kbit/s, ascending) with the server's `[abr]` tuning
    /// (`cfg`: margins, hold, interval), starting at rung `start` (where the listener is).
    /// A WebRTC listener gets one frame per packet, which is the `ultra_performance`
    /// profile's framing: the costs are counted so. `red_levels`: the RED levels sent (0:
    /// none), paid for out of the estimate.
    pub fn new(
        cfg: AbrConfig,
        ladder_kbps: &[u32],
        start: usize,
        frame_us: u32,
        red_levels: usize,
    ) -> Option<Self> {
        let start_kbps = *ladder_kbps.get(start)?;
        let cfg = AbrConfig { stream_frame_us: frame_us, start_kbps, ..cfg };
        let request = ProfileRequest::Fixed(ProfileName::UltraPerformance);
        let controller = Controller::new(cfg, ladder_kbps, request, 0).ok()?;
        Some(ListenerBwe { controller, frame_us, red_levels, last_estimate_bps: None })
    }

    /// The rung the controller is on.
    #[cfg(test)]
    pub fn rung(&self) -> usize {
        self.controller.rung()
    }

    pub fn estimate(&mut self, estimate: Bitrate, now_us: u64) {
        let bps = estimate.as_f64();
        self.last_estimate_bps = Some(bps as u64);
        self.controller
            .handle_bandwidth_estimate(controller_bps(bps, self.frame_us, self.red_levels), now_us);
    }

    pub fn poll(&mut self, now_us: u64) -> Option<Decision> {
        self.controller.poll(now_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_rates_convert_to_the_controllers_units() {
        // 64 kbit/s in 20 ms packets: 160 B of Opus + 46 B = 82.4 kbit/s of RTP
        assert!((rtp_bps(64, 20_000, 0) - 82_400.0).abs() < 1.0);
        let ws = cost::socket_bps(64, 20_000, 1);
        // the rung's own RTP rate is worth the rung's cost to the controller (within the
        // 2 bytes by which a WebSocket header grows past 125-byte messages), with or without
        // RED levels riding along
        for levels in 0..=3 {
            let c = controller_bps(rtp_bps(64, 20_000, levels), 20_000, levels);
            assert!((c - ws).abs() <= 800.0 + 1.0, "{levels} levels: {c} against {ws}");
        }
        assert_eq!(controller_bps(1_000.0, 20_000, 0), 0.0);
        assert_eq!(controller_bps(1_000.0, 20_000, 2), 0.0);
        assert_eq!(desired_bitrate(128, 20_000, 0).as_u64(), ((320.0 + 46.0) * 8.0 * 50.0 * 1.25) as u64);
        // two RED levels: three payloads and 9 bytes of RED headers per packet
        assert_eq!(
            desired_bitrate(128, 20_000, 2).as_u64(),
            ((3.0 * 320.0 + 46.0 + 9.0) * 8.0 * 50.0 * 1.25) as u64
        );
    }

    #[test]
    fn a_low_estimate_moves_the_listener_down() {
        for levels in [0, 2] {
            let mut b =
                ListenerBwe::new(AbrConfig::default(), &[16, 32, 64, 96, 128], 2, 20_000, levels).unwrap();
            assert_eq!(b.rung(), 2);
            b.estimate(Bitrate::bps(rtp_bps(64, 20_000, levels) as u64 * 3), 250_000);
            assert!(b.poll(250_000).is_none());
            b.estimate(Bitrate::bps(rtp_bps(40, 20_000, levels) as u64), 500_000);
            let d = b.poll(500_000).expect("a switch down");
            assert_eq!((d.kbps, d.reason.code()), (32, "bandwidth_estimate"), "{levels} RED levels");
        }
    }

    #[test]
    fn red_levels_are_paid_for_out_of_the_estimate() {
        // 100 kbit/s of RTP carries the 64 kbit/s rung without RED, not with two levels
        // (three payloads a packet): there it is worth less than the 32 kbit/s rung's cost
        let (plain, red) = (controller_bps(100_000.0, 20_000, 0), controller_bps(100_000.0, 20_000, 2));
        assert!(plain > cost::socket_bps(64, 20_000, 1), "{plain}");
        assert!(red < cost::socket_bps(32, 20_000, 1), "{red}");
    }

    #[test]
    fn the_servers_abr_tuning_applies() {
        // a 10 s interval between switches (`[abr] interval_ms`): the second drop waits
        let cfg = AbrConfig { interval_us: 10_000_000, ..AbrConfig::default() };
        let mut b = ListenerBwe::new(cfg, &[16, 32, 64, 96, 128], 3, 20_000, 0).unwrap();
        b.estimate(Bitrate::bps(rtp_bps(70, 20_000, 0) as u64), 250_000);
        assert_eq!(b.poll(250_000).map(|d| d.kbps), Some(32));
        b.estimate(Bitrate::bps(rtp_bps(12, 20_000, 0) as u64), 1_000_000);
        assert!(b.poll(1_000_000).is_none(), "within the configured interval");
        let short = AbrConfig { interval_us: 200_000, ..AbrConfig::default() };
        let mut fast = ListenerBwe::new(short, &[16, 32, 64, 96, 128], 3, 20_000, 0).unwrap();
        fast.estimate(Bitrate::bps(rtp_bps(70, 20_000, 0) as u64), 250_000);
        fast.poll(250_000);
        fast.estimate(Bitrate::bps(rtp_bps(12, 20_000, 0) as u64), 1_000_000);
        assert_eq!(fast.poll(1_000_000).map(|d| d.kbps), Some(16), "a 200 ms interval has passed");
    }
}
