//! Loss resilience and silence suppression, for every compiled engine: in-band FEC recovers a
//! lost frame better than concealment, and DTX sends near-empty packets during silence that
//! decoders (ours and ffmpeg's libopus) turn back into a continuous timeline. Needs espeak-ng
//! and ffmpeg.

#[macro_use]
mod common;

use common::{decode_all_with, encode_all_with, encode_ogg_with, ffmpeg_decode, scratch, source, speech};
use ondes_codec::opus::{OpusApplication, OpusConfig, OpusDecoder, OpusEncoder, OpusEngine, OpusToc};

engine_tests!(
    fec_recovers_a_lost_frame_better_than_concealment,
    at_20_percent_random_loss_fec_recovers_most_lost_frames,
    fec_at_a_bitrate_too_low_for_it_keeps_the_audio_intact,
    dtx_sends_tiny_packets_during_silence_and_decoders_keep_the_timeline,
);

/// Squared error of `decoded` against `reference` (already aligned) over `range`.
fn error(reference: &[f32], decoded: &[f32], range: std::ops::Range<usize>) -> f64 {
    range.map(|i| f64::from(reference[i] - decoded[i]).powi(2)).sum()
}

/// For each frame of `lost` in turn (one loss at a time, the rest intact), the squared error
/// against the original input of that frame rebuilt by FEC from the next packet and of that
/// frame concealed: `(fec_error, concealment_error)` per lost frame.
fn loss_errors(
    engine: OpusEngine,
    cfg: &OpusConfig,
    packets: &[Vec<u8>],
    pcm: &[f32],
    lost: &[usize],
) -> Vec<(f64, f64)> {
    let enc = OpusEncoder::with_engine(cfg.clone(), engine).expect("encoder");
    let ch = usize::from(cfg.channels);
    let frame = cfg.frame_samples();
    // The decoded audio lags the input by the look-ahead: compare with the input delayed.
    let mut reference = vec![0.0; enc.lookahead() * ch];
    reference.extend_from_slice(pcm);
    lost.iter()
        .map(|&k| {
            let mut errors = [0.0; 2];
            for (fec, err) in [true, false].into_iter().zip(&mut errors) {
                let mut dec =
                    OpusDecoder::with_engine(cfg.sample_rate, cfg.channels, engine).expect("decoder");
                let mut out = Vec::new();
                for p in &packets[..k] {
                    dec.decode(p, &mut out).expect("decode");
                }
                let n = if fec {
                    dec.decode_fec(&packets[k + 1], frame, &mut out).expect("fec")
                } else {
                    dec.conceal(frame, &mut out).expect("conceal")
                };
                assert_eq!(n, frame);
                // The next packet decodes normally after a FEC recovery.
                dec.decode(&packets[k + 1], &mut out).expect("decode after loss");
                *err = error(&reference, &out, k * frame * ch..(k + 1) * frame * ch);
            }
            (errors[0], errors[1])
        })
        .collect()
}

fn fec_recovers_a_lost_frame_better_than_concealment(engine: OpusEngine) {
    // (rate, channels, bitrate, max FEC error / concealment error). SILK (up to 16 kHz)
    // recovers the lost frame from its LBRR copy. Hybrid (48 kHz speech rates) recovers only
    // the SILK band and conceals the CELT band, as libopus does: about even with concealment
    // in waveform terms (±10 % either way between runs of this test), so for it only the
    // presence of FEC data is checked.
    for (rate, channels, bitrate, max_ratio) in [
        (16_000, 1, 24_000, Some(0.8)),
        // libopus codes no FEC data at 8 kHz and 16 kbit/s with 20 % expected loss (measured:
        // none in 24 losses); at 24 kbit/s both engines do
        (8_000, 1, 24_000, Some(0.85)),
        (16_000, 2, 48_000, Some(0.8)),
        (48_000, 1, 32_000, None),
    ] {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels,
            bitrate_bps: bitrate,
            application: OpusApplication::Voip,
            fec: true,
            expected_loss_percent: 20,
            ..OpusConfig::default()
        };
        let pcm = if channels == 1 {
            speech(rate)
        } else {
            // Speech on both channels, the right one quieter and 3 ms later.
            let s = speech(rate);
            let d = rate as usize * 3 / 1000;
            let right: Vec<f32> = (0..s.len()).map(|i| if i >= d { 0.6 * s[i - d] } else { 0.0 }).collect();
            common::interleave(&[&s, &right])
        };
        let packets = encode_all_with(engine, &cfg, &pcm);
        // Frames in the speech (it starts after ~0.1 s and lasts over a second).
        let lost: Vec<usize> = (10..80).step_by(3).collect();
        let errors = loss_errors(engine, &cfg, &packets, &pcm, &lost);
        let (fec, concealed): (f64, f64) = errors.iter().fold((0.0, 0.0), |a, e| (a.0 + e.0, a.1 + e.1));
        // Frames where the next packet carried FEC data (the recovery differs from concealment)
        // and, of those, the ones FEC rebuilt more faithfully.
        let with_data: Vec<&(f64, f64)> = errors.iter().filter(|(f, c)| f != c).collect();
        let better = with_data.iter().filter(|(f, c)| f < c).count();
        println!(
            "{rate} Hz {channels} ch: lost-frame error FEC {fec:.2}, concealment {concealed:.2}; \
             FEC data for {} of {} losses, better in {better}",
            with_data.len(),
            lost.len()
        );
        assert!(
            with_data.len() * 4 >= lost.len() * 3,
            "FEC data in only {} of {} packets",
            with_data.len(),
            lost.len()
        );
        if let Some(max_ratio) = max_ratio {
            assert!(fec < max_ratio * concealed, "FEC error {fec:.2} vs concealment {concealed:.2}");
            assert!(better * 2 >= with_data.len(), "FEC better in only {better} of {}", with_data.len());
        }

        // Control: a stream coded without FEC has nothing to recover from, so decode_fec
        // gives exactly the concealment.
        let plain_cfg = OpusConfig { fec: false, ..cfg.clone() };
        let plain = encode_all_with(engine, &plain_cfg, &pcm);
        for (f, c) in loss_errors(engine, &plain_cfg, &plain, &pcm, &lost) {
            assert_eq!(f, c, "without FEC data decode_fec must equal concealment");
        }
    }
}

/// A seeded pattern of `n` packets, each lost with probability `percent` %.
fn random_losses(n: usize, percent: u64, seed: u64) -> Vec<bool> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 100 < percent
        })
        .collect()
}

/// Decodes `packets` as a receiver would with the packets of `lost` missing: with `fec`, a lost
/// frame whose next packet arrived is rebuilt from that packet's FEC data, any other lost
/// frame is concealed. Stops before frame `until`.
fn receive(
    engine: OpusEngine,
    cfg: &OpusConfig,
    packets: &[Vec<u8>],
    lost: &[bool],
    fec: bool,
    until: usize,
) -> (OpusDecoder, Vec<f32>) {
    let mut dec = OpusDecoder::with_engine(cfg.sample_rate, cfg.channels, engine).expect("decoder");
    let mut out = Vec::new();
    let frame = cfg.frame_samples();
    for k in 0..until {
        if !lost[k] {
            dec.decode(&packets[k], &mut out).expect("decode");
        } else if fec && k + 1 < packets.len() && !lost[k + 1] {
            dec.decode_fec(&packets[k + 1], frame, &mut out).expect("fec");
        } else {
            dec.conceal(frame, &mut out).expect("conceal");
        }
    }
    (dec, out)
}

fn at_20_percent_random_loss_fec_recovers_most_lost_frames(engine: OpusEngine) {
    // The speech rungs of the ladder (48 kHz `voip` with FEC) and a wideband voice stream,
    // told to expect the 20 % loss they get.
    for (rate, bitrate) in [(48_000, 32_000), (16_000, 24_000)] {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels: 1,
            bitrate_bps: bitrate,
            application: OpusApplication::Voip,
            fec: true,
            expected_loss_percent: 20,
            ..OpusConfig::default()
        };
        let s = speech(rate);
        let pcm: Vec<f32> = s.iter().chain(&s).chain(&s).copied().collect();
        let packets = encode_all_with(engine, &cfg, &pcm);
        let lost = random_losses(packets.len(), 20, 0x9E37_79B9_7F4A_7C15);
        let frame = cfg.frame_samples();
        let lookahead = OpusEncoder::with_engine(cfg.clone(), engine).expect("encoder").lookahead();
        let mut reference = vec![0.0; lookahead];
        reference.extend_from_slice(&pcm);
        let (_, with_fec) = receive(engine, &cfg, &packets, &lost, true, packets.len());
        let (_, without) = receive(engine, &cfg, &packets, &lost, false, packets.len());
        let lost_frames: Vec<usize> = (0..packets.len()).filter(|&k| lost[k]).collect();
        let (mut signal, mut err_fec, mut err_plc) = (0.0, 0.0, 0.0);
        for &k in &lost_frames {
            let range = k * frame..(k + 1) * frame;
            signal += range.clone().map(|i| f64::from(reference[i]).powi(2)).sum::<f64>();
            err_fec += error(&reference, &with_fec, range.clone());
            err_plc += error(&reference, &without, range);
        }
        // A lost frame is recovered when the FEC data of the next packet rebuilt it: from the
        // same decoder state, decode_fec then gives other audio than concealment.
        let recovered = lost_frames
            .iter()
            .filter(|&&k| k + 1 < packets.len() && !lost[k + 1])
            .filter(|&&k| {
                let (mut a, _) = receive(engine, &cfg, &packets, &lost, true, k);
                let (mut b, _) = receive(engine, &cfg, &packets, &lost, true, k);
                let (mut fa, mut fb) = (Vec::new(), Vec::new());
                a.decode_fec(&packets[k + 1], frame, &mut fa).expect("fec");
                b.conceal(frame, &mut fb).expect("conceal");
                fa != fb
            })
            .count();
        let share = recovered as f64 / lost_frames.len() as f64;
        let snr = |e: f64| 10.0 * (signal / e).log10();
        println!(
            "{engine} {rate} Hz {bitrate} bit/s: {} of {} packets lost, {recovered} rebuilt from FEC \
             ({:.0} %); lost-frame SNR with FEC {:.1} dB, concealment only {:.1} dB",
            lost_frames.len(),
            packets.len(),
            share * 100.0,
            snr(err_fec),
            snr(err_plc)
        );
        assert!(lost_frames.len() >= 40, "the seeded pattern loses about 20 %");
        assert!(share >= 0.5, "{engine}: only {:.0} % of the lost frames rebuilt from FEC", share * 100.0);
        // opus-rs rebuilds as many frames, but under random loss its rebuilt audio ends up
        // further from the source than concealment (measured: SNR -1.2 dB against 0.3 dB at
        // 48 kHz, -0.5 against 0.7 at 16 kHz), though a single isolated loss is rebuilt well
        // (see fec_recovers_a_lost_frame_better_than_concealment). libopus gains 3 dB.
        if engine == OpusEngine::Libopus {
            assert!(err_fec < 0.8 * err_plc, "{engine}: FEC error {err_fec:.1} vs concealment {err_plc:.1}");
        }
    }
}

fn fec_at_a_bitrate_too_low_for_it_keeps_the_audio_intact(engine: OpusEngine) {
    // libopus would lower the bandwidth to fit FEC here; opus-rs gets that wrong (noise at
    // 16 kHz, a panic at 48 kHz), so the encoder keeps the bandwidth and drops FEC instead.
    for (rate, bitrate) in [(16_000, 16_000), (48_000, 16_000), (8_000, 8_000)] {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels: 1,
            bitrate_bps: bitrate,
            application: OpusApplication::Voip,
            fec: true,
            expected_loss_percent: 20,
            ..OpusConfig::default()
        };
        let pcm = source(rate, 1);
        let packets = encode_all_with(engine, &cfg, &pcm);
        let full =
            OpusToc::parse(encode_all_with(engine, &OpusConfig { fec: false, ..cfg.clone() }, &pcm)[20][0])
                .bandwidth_hz;
        assert!(
            packets.iter().all(|p| OpusToc::parse(p[0]).bandwidth_hz == full),
            "{rate} Hz: bandwidth changed"
        );
        let decoded = decode_all_with(engine, &packets, rate, 1);
        let (corr, _) = common::multichannel_correlation(&pcm, &decoded, 1, rate);
        assert!(corr >= 0.85, "{rate} Hz {bitrate} bit/s with FEC: correlation {corr:.3}");
    }
}

/// Speech, 1.5 s of digital silence, speech.
fn speech_silence_speech(rate: u32) -> Vec<f32> {
    let s = speech(rate);
    let mut pcm = s[..rate as usize].to_vec();
    pcm.extend(std::iter::repeat_n(0.0, rate as usize * 3 / 2));
    pcm.extend_from_slice(&s[..rate as usize]);
    pcm
}

fn dtx_sends_tiny_packets_during_silence_and_decoders_keep_the_timeline(engine: OpusEngine) {
    for (frame_us, app, bitrate) in [
        (20_000, OpusApplication::Voip, 24_000),
        (20_000, OpusApplication::Audio, 64_000),
        (60_000, OpusApplication::Audio, 64_000),
    ] {
        let cfg = OpusConfig {
            channels: 1,
            frame_us,
            application: app,
            bitrate_bps: bitrate,
            dtx: true,
            ..OpusConfig::default()
        };
        let pcm = speech_silence_speech(48_000);
        let packets = encode_all_with(engine, &cfg, &pcm);
        let frame_ms = (frame_us / 1000) as usize;
        // The silence runs from 1.0 s to 2.5 s; after 200 ms of hangover DTX starts.
        let silent = (1200 + frame_ms) / frame_ms..2500 / frame_ms;
        let tiny = packets[silent.clone()].iter().filter(|p| p.len() <= 2).count();
        let refresh = packets[silent.clone()].iter().filter(|p| p.len() > 2).count();
        let speech_tiny = packets[..1000 / frame_ms].iter().filter(|p| p.len() <= 2).count();
        let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
        println!(
            "{frame_us} µs {app:?}: {tiny} tiny + {refresh} refresh packets in the silence; sizes {sizes:?}"
        );
        // One refresh packet per 400 ms of DTX at most (plus one at the edge).
        assert!(refresh <= silent.len() * frame_ms / 400 + 1, "{refresh} refresh packets");
        assert!(tiny >= silent.len() - refresh, "silence not suppressed");
        assert_eq!(speech_tiny, 0, "speech must never be suppressed");
        let plain = encode_all_with(engine, &OpusConfig { dtx: false, ..cfg.clone() }, &pcm);
        assert!(plain.iter().all(|p| p.len() > 2), "without DTX no packet is empty");

        // Our decoder keeps the timeline: one frame of audio per packet, tiny or not.
        let decoded = decode_all_with(engine, &packets, 48_000, 1);
        assert_eq!(decoded.len(), packets.len() * cfg.frame_samples());
        // ... and so does libopus, through ffmpeg, from an Ogg file.
        let path = scratch().join(format!("dtx-{frame_us}-{app:?}.opus"));
        std::fs::write(&path, encode_ogg_with(engine, &cfg, &pcm, 5)).expect("write");
        let by_ffmpeg = ffmpeg_decode(&path, 48_000, 1);
        assert!(by_ffmpeg.len().abs_diff(pcm.len()) <= 48, "{} vs {}", by_ffmpeg.len(), pcm.len());
        // The speech after the silence comes back intact.
        let tail = 2_600 * 48..pcm.len() - 4800;
        let (corr, _) = common::best_correlation(&pcm[tail.clone()], &by_ffmpeg[tail], 48_000, 50);
        assert!(corr >= 0.85, "speech after DTX: correlation {corr:.3}");
    }
}
