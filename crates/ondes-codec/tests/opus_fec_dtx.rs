//! Loss resilience and silence suppression: in-band FEC recovers a lost frame better than
//! concealment, and DTX sends near-empty packets during silence that decoders (ours and
//! ffmpeg's libopus) turn back into a continuous timeline. Needs espeak-ng and ffmpeg.

mod common;

use common::{decode_all, encode_all, encode_ogg, ffmpeg_decode, scratch, source, speech};
use ondes_codec::opus::{OpusApplication, OpusConfig, OpusDecoder, OpusEncoder};

/// Squared error of `decoded` against `reference` (already aligned) over `range`.
fn error(reference: &[f32], decoded: &[f32], range: std::ops::Range<usize>) -> f64 {
    range.map(|i| f64::from(reference[i] - decoded[i]).powi(2)).sum()
}

/// Decodes `packets` losing each of `lost` in turn (one loss at a time, the rest intact),
/// replacing it by FEC from the next packet (`fec`) or by concealment, and returns the summed
/// squared error of the lost frames against the original input.
fn loss_error(cfg: &OpusConfig, packets: &[Vec<u8>], pcm: &[f32], lost: &[usize], fec: bool) -> f64 {
    let enc = OpusEncoder::new(cfg.clone()).expect("encoder");
    let ch = usize::from(cfg.channels);
    let frame = cfg.frame_samples();
    // The decoded audio lags the input by the look-ahead: compare with the input delayed.
    let mut reference = vec![0.0; enc.lookahead() * ch];
    reference.extend_from_slice(pcm);
    let mut total = 0.0;
    for &k in lost {
        let mut dec = OpusDecoder::new(cfg.sample_rate, cfg.channels).expect("decoder");
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
        total += error(&reference, &out, k * frame * ch..(k + 1) * frame * ch);
    }
    total
}

#[test]
fn fec_recovers_a_lost_frame_better_than_concealment() {
    for (rate, channels, bitrate, app) in
        [(16_000, 1, 24_000, OpusApplication::Voip), (48_000, 2, 32_000, OpusApplication::Voip)]
    {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels,
            bitrate_bps: bitrate,
            application: app,
            fec: true,
            expected_loss_percent: 20,
            ..OpusConfig::default()
        };
        let pcm = source(rate, channels);
        let packets = encode_all(&cfg, &pcm);
        // Frames in the speech (it starts after ~0.1 s and lasts over a second).
        let lost: Vec<usize> = (10..70).step_by(3).collect();
        let with_fec = loss_error(&cfg, &packets, &pcm, &lost, true);
        let concealed = loss_error(&cfg, &packets, &pcm, &lost, false);
        // Control: without FEC in the stream, decode_fec can only conceal.
        let plain_cfg = OpusConfig { fec: false, ..cfg.clone() };
        let plain = encode_all(&plain_cfg, &pcm);
        let no_fec_data = loss_error(&plain_cfg, &plain, &pcm, &lost, true);
        let no_fec_conceal = loss_error(&plain_cfg, &plain, &pcm, &lost, false);
        println!(
            "{rate} Hz {channels} ch: lost-frame error FEC {with_fec:.3}, concealment {concealed:.3}; \
             stream without FEC: decode_fec {no_fec_data:.3}, concealment {no_fec_conceal:.3}"
        );
        assert!(
            with_fec < 0.5 * concealed,
            "FEC error {with_fec:.3} not well below concealment {concealed:.3}"
        );
        assert!(
            (no_fec_data - no_fec_conceal).abs() <= 0.05 * no_fec_conceal,
            "without FEC data decode_fec must equal concealment ({no_fec_data:.3} vs {no_fec_conceal:.3})"
        );
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

#[test]
fn dtx_sends_tiny_packets_during_silence_and_decoders_keep_the_timeline() {
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
        let packets = encode_all(&cfg, &pcm);
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
        let plain = encode_all(&OpusConfig { dtx: false, ..cfg.clone() }, &pcm);
        assert!(plain.iter().all(|p| p.len() > 2), "without DTX no packet is empty");

        // Our decoder keeps the timeline: one frame of audio per packet, tiny or not.
        let decoded = decode_all(&packets, 48_000, 1);
        assert_eq!(decoded.len(), packets.len() * cfg.frame_samples());
        // ... and so does libopus, through ffmpeg, from an Ogg file.
        let path = scratch().join(format!("dtx-{frame_us}-{app:?}.opus"));
        std::fs::write(&path, encode_ogg(&cfg, &pcm, 5)).expect("write");
        let by_ffmpeg = ffmpeg_decode(&path, 48_000, 1);
        assert!(by_ffmpeg.len().abs_diff(pcm.len()) <= 48, "{} vs {}", by_ffmpeg.len(), pcm.len());
        // The speech after the silence comes back intact.
        let tail = 2_600 * 48..pcm.len() - 4800;
        let (corr, _) = common::best_correlation(&pcm[tail.clone()], &by_ffmpeg[tail], 48_000, 50);
        assert!(corr >= 0.85, "speech after DTX: correlation {corr:.3}");
    }
}
