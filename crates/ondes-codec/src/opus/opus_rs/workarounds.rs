//! Settings adjusted before they reach opus-rs, where opus-rs 0.1.40 is measurably wrong.
//!
//! Each adjustment is keyed on the exact conditions that trigger the defect, so every other
//! configuration reaches opus-rs untouched. The measurements are waveform correlations of
//! espeak-ng speech decoded by libopus (ffmpeg) and by opus-rs alike: when both decoders agree
//! and libopus's own encoder does well, the opus-rs encoder is at fault.

use crate::opus::config::OpusConfig;

/// The complexity actually given to opus-rs: the configured one, lowered where opus-rs's
/// higher-complexity CELT analysis damages short frames:
///
/// - 2.5 ms: any complexity above 0 (transient, TF and spreading analysis) drops 64–256 kbit/s
///   mono from 0.99–1.00 to 0.5–0.7, where libopus's own encoder reaches 1.00. Capped at 0.
/// - stereo below 10 ms: complexity ≥ 8 (theta RDO, second MDCT) drops 5 ms at 64 kbit/s from
///   0.94 to 0.78 (libopus: 0.99). Capped at 7.
pub(crate) fn effective_complexity(cfg: &OpusConfig) -> u8 {
    match (cfg.frame_us, cfg.channels) {
        (2_500, _) => 0,
        (f, 2) if f < 10_000 => cfg.complexity.min(7),
        _ => cfg.complexity,
    }
}

/// The largest packet to let opus-rs write in VBR mode after a Hybrid packet, in bytes: the
/// packet's share of the target bitrate (plus the code-3 header of a 40/60 ms packet).
///
/// opus-rs's Hybrid mode (SILK + CELT, what 24/48 kHz input gets at speech bitrates) has no
/// VBR rate control: it fills the buffer it is given. With libopus's usual 4000-byte buffer a
/// 16 kbit/s stereo stream came out at 55 kbit/s and 32 kbit/s at 68 kbit/s. Capping the
/// buffer at the nominal size brings the rate to the target, at the same waveform quality
/// (0.62 against 0.63 at 16 kbit/s, 0.84 against 0.89 at 32 kbit/s stereo; 0.89 against 0.92
/// at 16 kbit/s mono). SILK-only and CELT-only VBR follow the target by themselves and keep
/// the full buffer, so their peaks are not clipped.
pub(crate) fn hybrid_vbr_cap(cfg: &OpusConfig) -> usize {
    let bits = u64::from(cfg.bitrate_bps) * u64::from(cfg.frame_us) / 1_000_000;
    // A 40/60 ms Hybrid packet is 2/3 frames of 20 ms in a code-3 packet: count byte and
    // frame lengths.
    let header = if cfg.frame_us > 20_000 { 2 + 2 * (cfg.frame_us / 20_000) as usize } else { 0 };
    (bits as usize + 4) / 8 + header
}

/// libopus's `fec_thresholds`: (bit/s needed for LBRR, hysteresis) per bandwidth NB..FB.
const FEC_THRESHOLDS: [(i64, i64); 5] =
    [(12_000, 1_000), (14_000, 1_000), (16_000, 1_000), (20_000, 1_000), (22_000, 1_000)];

/// The expected loss given to opus-rs.
///
/// With in-band FEC on, a loss above 5 % and a bitrate too low for FEC at the input's
/// bandwidth, libopus's `decide_fec` lowers the bandwidth of the frame until FEC fits. opus-rs
/// ports that decision but not its consequences: the TOC announces the narrower bandwidth
/// while SILK still codes at the old internal rate (16 kHz at 16 kbit/s, 20 % loss: every
/// decoder, libopus included, outputs noise, correlation 0.03), and a Hybrid frame lowered to
/// wideband is not switched to SILK-only and panics in CELT's bit allocation (division by
/// zero in `rate.rs`; 48 kHz, 16 kbit/s, 20 % loss). At a loss of 5 % or less `decide_fec`
/// never lowers the bandwidth, so in exactly those conditions the loss given to opus-rs is
/// capped at 5 %: FEC is then not coded at that bitrate, as libopus decides when it cannot
/// lower the bandwidth. The check mirrors opus-rs's `compute_equiv_rate` and `decide_fec`,
/// taking the hysteresis on the side that lowers the bandwidth more readily.
pub(crate) fn opus_rs_loss_percent(cfg: &OpusConfig) -> u8 {
    let loss = cfg.expected_loss_percent;
    if !cfg.fec || loss <= 5 {
        return loss;
    }
    let band = match cfg.sample_rate {
        8_000 => 0,
        12_000 => 1,
        16_000 => 2,
        24_000 => 3,
        _ => 4,
    };
    let (threshold, hysteresis) = FEC_THRESHOLDS[band];
    let loss = i64::from(loss);
    let needed = ((threshold + hysteresis) * (125 - loss.min(25)) * 655) >> 16;
    if equivalent_rate(cfg, loss) > needed { cfg.expected_loss_percent } else { 5 }
}

/// opus-rs's `compute_equiv_rate`: the bitrate adjusted for frame rate, VBR, complexity, loss.
fn equivalent_rate(cfg: &OpusConfig, loss: i64) -> i64 {
    let frame_rate = 1_000_000 / i64::from(cfg.frame_us);
    let channels = i64::from(cfg.channels);
    let mut equiv = i64::from(cfg.bitrate_bps);
    if frame_rate > 50 {
        equiv -= (40 * channels + 20) * (frame_rate - 50);
    }
    if !cfg.vbr {
        equiv -= equiv / 12;
    }
    equiv = equiv * (90 + i64::from(effective_complexity(cfg))) / 100;
    if loss > 0 {
        equiv -= equiv * loss / (12 * loss + 20);
    }
    equiv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opus::OpusApplication;

    fn cfg(sample_rate: u32, bitrate_bps: u32, loss: u8) -> OpusConfig {
        OpusConfig {
            sample_rate,
            channels: 1,
            bitrate_bps,
            fec: true,
            expected_loss_percent: loss,
            application: OpusApplication::Voip,
            ..OpusConfig::default()
        }
    }

    #[test]
    fn loss_is_capped_only_where_decide_fec_would_lower_the_bandwidth() {
        // 16 kHz: FEC needs (16000 + 1000) × 1.05 ≈ 17.8 kbit/s of equivalent rate at 20 %.
        assert_eq!(opus_rs_loss_percent(&cfg(16_000, 16_000, 20)), 5);
        assert_eq!(opus_rs_loss_percent(&cfg(16_000, 24_000, 20)), 20);
        assert_eq!(opus_rs_loss_percent(&cfg(48_000, 16_000, 20)), 5);
        assert_eq!(opus_rs_loss_percent(&cfg(48_000, 32_000, 20)), 20);
        // Never touched at ≤ 5 % or without FEC.
        assert_eq!(opus_rs_loss_percent(&cfg(16_000, 8_000, 5)), 5);
        assert_eq!(opus_rs_loss_percent(&OpusConfig { fec: false, ..cfg(16_000, 8_000, 30) }), 30);
    }
}
