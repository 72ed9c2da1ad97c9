//! Does an Opus packet carry in-band FEC (SILK "LBRR") for the frame before it?
//!
//! The listener reports how many lost frames FEC rebuilt. Calling `decode_fec` on a packet
//! without LBRR data silently falls back to concealment (as in libopus), so the count must
//! come from the packet itself. The flags are the first symbols of the SILK layer, coded
//! with probability ½ each, which a range coder writes as the leading bits of the first
//! byte of the frame: per SILK channel, one voice-activity bit per 20 ms SILK frame, then the
//! LBRR bit (RFC 6716 §4.2.3; libopus's `opus_packet_has_lbrr` reads them the same way).

use ondes_codec::opus::{OpusMode, OpusToc};

/// Whether `packet` carries LBRR data. CELT-only packets never do; packets of several
/// frames with code 3 (not produced by ondes) are reported as not carrying it.
pub fn has_lbrr(packet: &[u8]) -> bool {
    let Some((&toc_byte, rest)) = packet.split_first() else { return false };
    let toc = OpusToc::parse(toc_byte);
    if toc.mode == OpusMode::Celt {
        return false;
    }
    let first = match toc.code {
        // one frame, or two of equal size: the first starts right after the TOC
        0 | 1 => rest.first(),
        // two frames, the first one's length in one or two bytes
        2 => match rest {
            [len, tail @ ..] if *len < 252 => tail.first(),
            [_, _, tail @ ..] => tail.first(),
            _ => None,
        },
        _ => None,
    };
    let Some(&byte) = first else { return false };
    // SILK frames per Opus frame: 20 ms each (a 10 ms Opus frame holds one 10 ms SILK frame)
    let silk_frames = (toc.frame_us / 20_000).max(1);
    let mid = (byte >> (7 - silk_frames)) & 1 == 1;
    let side = toc.stereo && (byte >> (6 - 2 * silk_frames)) & 1 == 1;
    mid || side
}

/// A speech-like signal: a 150 Hz buzz with decaying harmonics and a syllable envelope
/// (for tests of FEC, which SILK codes only for frames its voice detector finds active).
#[cfg(test)]
pub(super) fn speech_like(rate: u32, secs: f64) -> Vec<f32> {
    let n = (rate as f64 * secs) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let env = (0.5 + 0.5 * (t * 2.0 * std::f64::consts::PI * 3.0).sin()).powi(2);
            let tone: f64 =
                (1..12).map(|h| (t * 150.0 * h as f64 * 2.0 * std::f64::consts::PI).sin() / h as f64).sum();
            (0.3 * env * tone) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEncoder};

    use super::speech_like as buzz;

    fn packets(fec: bool) -> Vec<Vec<u8>> {
        let cfg = OpusConfig {
            sample_rate: 16_000,
            channels: 1,
            bitrate_bps: 24_000,
            application: OpusApplication::Voip,
            fec,
            expected_loss_percent: if fec { 20 } else { 0 },
            ..OpusConfig::default()
        };
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let frame = enc.frame_samples();
        buzz(16_000, 2.0)
            .chunks_exact(frame)
            .map(|pcm| {
                let mut out = Vec::new();
                enc.encode(pcm, &mut out).unwrap();
                out
            })
            .collect()
    }

    #[test]
    fn fec_packets_carry_lbrr_and_others_do_not() {
        let with = packets(true).iter().filter(|p| has_lbrr(p)).count();
        let without = packets(false).iter().filter(|p| has_lbrr(p)).count();
        assert!(with >= 40, "only {with} of 100 packets carry LBRR with FEC on");
        assert_eq!(without, 0);
    }

    #[test]
    fn reads_the_flag_bits() {
        // SILK wideband 20 ms mono (config 9, code 0): VAD bit 7, LBRR bit 6
        let toc = 9 << 3;
        assert!(has_lbrr(&[toc, 0b0100_0000]));
        assert!(!has_lbrr(&[toc, 0b1011_1111]));
        // 40 ms (config 10): two VAD bits, LBRR is bit 5
        assert!(has_lbrr(&[10 << 3, 0b0010_0000]));
        assert!(!has_lbrr(&[10 << 3, 0b0100_0000]));
        // stereo 20 ms: side channel's LBRR is bit 4
        assert!(has_lbrr(&[toc | 0x04, 0b0001_0000]));
        // CELT never, empty never
        assert!(!has_lbrr(&[31 << 3, 0xff]));
        assert!(!has_lbrr(&[]));
        assert!(!has_lbrr(&[toc]));
    }
}
