//! Ogg/Opus interoperability with the reference implementation, both ways:
//!
//! - files from our encoder + muxer are decoded by ffmpeg (libopus), checked by ffprobe and
//!   validated by opusinfo (page sequence, granule positions, headers);
//! - files from `ffmpeg -c:a libopus` and from `opusenc` are decoded by our demuxer + decoder.
//!
//! In both directions the decoded audio must correlate ≥ 0.9 with the source and line up
//! with it (pre-skip applied: lag ≈ 0), and have its length (end trimming applied).
//! Every compiled Opus engine runs both directions. ffmpeg, ffprobe, opusinfo, opusenc and
//! espeak-ng are required.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};

use common::{
    channel, decode_ogg_with, encode_all, encode_ogg_with, ffmpeg_decode, multichannel_correlation, path_str,
    run, scratch, source,
};
use ondes_codec::ogg::PageRenumberer;
use ondes_codec::ogg_opus::{FIRST_AUDIO_PAGE, OggOpusEvent, OggOpusReader, VENDOR};
use ondes_codec::opus::{OpusApplication, OpusConfig, OpusEncoder, OpusEngine};

engine_tests!(ffmpeg_decodes_our_ogg_opus_files, we_decode_ffmpeg_libopus_files, we_decode_opusenc_files);
use ondes_codec::{OggOpusMuxer, encode_f32le};

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("write file");
    path
}

/// `opusinfo`'s report, which must not contain a warning or an error.
fn opusinfo(path: &Path) -> String {
    let out = run("opusinfo", &[path_str(path)]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let lower = text.to_lowercase();
    assert!(!lower.contains("warning") && !lower.contains("error"), "opusinfo complains:\n{text}");
    text
}

/// ffprobe's `key=value` lines for the stream and container.
fn ffprobe(path: &Path) -> String {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,channels:format=duration",
            "-of",
            "default=nw=1",
            path_str(path),
        ],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn probe_duration(probe: &str) -> f64 {
    probe
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration in ffprobe output: {probe}"))
}

fn ffmpeg_decodes_our_ogg_opus_files(engine: OpusEngine) {
    let cases = [
        // (rate, channels, frame_us, bitrate, application)
        (48_000, 2, 20_000, 96_000, OpusApplication::Audio),
        (48_000, 1, 10_000, 64_000, OpusApplication::Audio),
        (16_000, 1, 20_000, 24_000, OpusApplication::Voip),
        (24_000, 2, 60_000, 64_000, OpusApplication::Audio),
        (8_000, 1, 40_000, 16_000, OpusApplication::Voip),
        (48_000, 2, 5_000, 128_000, OpusApplication::LowDelay),
    ];
    for (i, (rate, channels, frame_us, bitrate_bps, application)) in cases.into_iter().enumerate() {
        let cfg = OpusConfig {
            sample_rate: rate,
            channels,
            frame_us,
            bitrate_bps,
            application,
            ..OpusConfig::default()
        };
        let pcm = source(rate, channels);
        let path = write(
            &format!("ours-{engine}-{i}.opus"),
            &encode_ogg_with(engine, &cfg, &pcm, 0x0DE5_0000 + i as u32),
        );

        let decoded = ffmpeg_decode(&path, rate, channels);
        let ch = usize::from(channels);
        let (corr, lag) = multichannel_correlation(&pcm, &decoded, ch, rate);
        println!(
            "{engine} {cfg:?}: ffmpeg corr {corr:.3}, lag {lag}, {} of {} samples",
            decoded.len() / ch,
            pcm.len() / ch
        );
        assert!(corr >= 0.9, "case {i}: correlation {corr:.3} < 0.9");
        // Pre-skip honoured: libopus's output lines up with the input within 1 ms.
        assert!(lag.unsigned_abs() <= rate as usize / 1000, "case {i}: lag {lag} samples");
        // End trimming honoured: the decoded length is the input length (±1 ms of resampling).
        let len_diff = (decoded.len() / ch).abs_diff(pcm.len() / ch);
        assert!(
            len_diff <= rate as usize / 1000,
            "case {i}: {} samples vs {}",
            decoded.len() / ch,
            pcm.len() / ch
        );

        let probe = ffprobe(&path);
        assert!(probe.contains("codec_name=opus"), "{probe}");
        assert!(probe.contains(&format!("channels={channels}")), "{probe}");
        assert!((probe_duration(&probe) - 2.0).abs() < 0.03, "case {i}: {probe}");

        let info = opusinfo(&path);
        assert!(info.contains(&format!("Channels: {channels}")), "{info}");
        assert!(info.contains(&format!("Original sample rate: {rate} Hz")), "{info}");
        assert!(info.contains(&format!("Encoded with {VENDOR}")), "{info}");
        assert!(info.contains("Playback length: 0m:02.0"), "case {i}: {info}");
    }
}

/// A live listener joins mid-stream: it gets the header pages, then copies of the shared audio
/// pages renumbered to follow them, and the result is a valid stream for ffmpeg and opusinfo.
#[test]
fn a_listener_joining_mid_stream_gets_a_valid_stream() {
    let cfg = OpusConfig::default(); // 48 kHz stereo 20 ms
    let pcm = source(48_000, 2);
    let enc = OpusEncoder::new(cfg.clone()).expect("encoder");
    let mut mux = OggOpusMuxer::new(7, 2, 48_000, enc.pre_skip_48k()).expect("muxer");
    let packets = encode_all(&cfg, &pcm);
    let join_at = 40; // 0.8 s in
    let mut late = Vec::new();
    let mut renumber = PageRenumberer::new(FIRST_AUDIO_PAGE);
    for (i, p) in packets.iter().enumerate() {
        if i == join_at {
            late = mux.headers();
        }
        let shared = mux.push(p, 960);
        if i >= join_at {
            let mut mine = shared.clone();
            assert_eq!(renumber.renumber(&mut mine), 1);
            late.extend(mine);
        }
    }
    let mut end = mux.finish(); // the stream ends with an empty EOS page
    renumber.renumber(&mut end);
    late.extend(end);
    let path = write("joined.opus", &late);
    let decoded = ffmpeg_decode(&path, 48_000, 2);
    let tail = &pcm[join_at * 1920..];
    let (corr, lag) = multichannel_correlation(tail, &decoded, 2, 48_000);
    println!("joined stream: corr {corr:.3}, lag {lag}, {} samples", decoded.len() / 2);
    assert!(corr >= 0.9, "correlation {corr:.3}");
    let info = opusinfo(&path);
    assert!(info.contains("Channels: 2"), "{info}");

    // Our own reader accepts it too, with the header first.
    let mut reader = OggOpusReader::new();
    reader.feed(&late);
    assert!(matches!(reader.pop(), Ok(Some(OggOpusEvent::Head(_)))));
    assert!(matches!(reader.pop(), Ok(Some(OggOpusEvent::Tags(_)))));
    assert_eq!(reader.demux_stats().sequence_gaps, 0);
}

#[test]
fn several_packets_per_page_and_comments_are_valid_too() {
    let cfg = OpusConfig { channels: 1, ..OpusConfig::default() };
    let pcm = source(48_000, 1);
    let enc = OpusEncoder::new(cfg.clone()).expect("encoder");
    let mut mux =
        OggOpusMuxer::new(9, 1, 44_100, enc.pre_skip_48k()).expect("muxer").with_packets_per_page(7);
    mux.add_comment("TITLE=ondes test");
    let mut file = mux.headers();
    let mut pages_with_audio = 0;
    for p in encode_all(&cfg, &pcm) {
        let bytes = mux.push_opus(&p).expect("valid packet");
        pages_with_audio += usize::from(!bytes.is_empty());
        file.extend(bytes);
    }
    file.extend(mux.finish());
    assert_eq!(pages_with_audio, 100 / 7, "a page every 7 packets");
    let path = write("grouped.opus", &file);
    let info = opusinfo(&path);
    assert!(info.contains("TITLE=ondes test") && info.contains("Original sample rate: 44100 Hz"), "{info}");
    let (corr, _) = multichannel_correlation(&pcm, &ffmpeg_decode(&path, 48_000, 1), 1, 48_000);
    assert!(corr >= 0.9, "correlation {corr:.3}");
}

/// Writes the source as a 16-bit WAV for the reference encoders.
fn source_wav(rate: u32, channels: u16) -> (Vec<f32>, PathBuf) {
    // a file of its own per call: tests (one per engine) run in parallel
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pcm = source(rate, channels);
    let raw = scratch().join(format!("src-{rate}-{channels}-{n}.f32"));
    let mut bytes = Vec::new();
    encode_f32le(&pcm, &mut bytes);
    std::fs::write(&raw, bytes).expect("write raw");
    let wav = scratch().join(format!("src-{rate}-{channels}-{n}.wav"));
    let (r, c) = (rate.to_string(), channels.to_string());
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            &r,
            "-ac",
            &c,
            "-i",
            path_str(&raw),
            "-c:a",
            "pcm_s16le",
            path_str(&wav),
        ],
    );
    (pcm, wav)
}

fn check_ours_decodes(
    engine: OpusEngine,
    label: &str,
    file: &[u8],
    reference: &[f32],
    rate: u32,
    channels: u16,
    pre_skip: u16,
) {
    let label = format!("{engine}: {label}");
    let (decoded, dec) = decode_ogg_with(engine, file, rate, None);
    let head = dec.head().expect("an OpusHead was read");
    assert_eq!(head.channels, channels as u8, "{label}");
    assert_eq!(head.pre_skip, pre_skip, "{label}");
    assert_eq!(dec.channels(), Some(channels));
    let stats = dec.demux_stats();
    assert_eq!(
        (stats.corrupt_pages, stats.sequence_gaps, stats.dropped_packets),
        (0, 0, 0),
        "{label}: {stats:?}"
    );
    assert_eq!(dec.corrupt_packets(), 0);
    let ch = usize::from(channels);
    let (corr, lag) = multichannel_correlation(reference, &decoded, ch, rate);
    println!(
        "{label}: corr {corr:.3}, lag {lag}, {} of {} samples",
        decoded.len() / ch,
        reference.len() / ch
    );
    assert!(corr >= 0.9, "{label}: correlation {corr:.3} < 0.9");
    assert!(lag.unsigned_abs() <= rate as usize / 1000, "{label}: lag {lag} (pre-skip not applied?)");
    let len_diff = (decoded.len() / ch).abs_diff(reference.len() / ch);
    assert!(
        len_diff <= rate as usize / 1000,
        "{label}: {} samples vs {}",
        decoded.len() / ch,
        reference.len() / ch
    );
    // Both channels carry their own signal (speech left, tones right), not a mix.
    if ch == 2 {
        let (l, r) = (channel(&decoded, 2, 0), channel(&decoded, 2, 1));
        let (cross, _) = common::best_correlation(&l, &r, rate, 0);
        assert!(cross.abs() < 0.5, "{label}: channels look mixed (corr {cross:.2})");
    }
}

fn we_decode_ffmpeg_libopus_files(engine: OpusEngine) {
    for (rate, channels, bitrate, frame_ms, app) in [
        (48_000, 2, "96k", "20", "audio"),
        (48_000, 1, "32k", "60", "voip"),
        (48_000, 2, "128k", "10", "lowdelay"),
    ] {
        let (pcm, wav) = source_wav(rate, channels);
        let out = scratch().join(format!("ffmpeg-{engine}-{channels}-{bitrate}-{frame_ms}.opus"));
        run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-y",
                "-i",
                path_str(&wav),
                "-c:a",
                "libopus",
                "-b:a",
                bitrate,
                "-frame_duration",
                frame_ms,
                "-application",
                app,
                path_str(&out),
            ],
        );
        let pre_skip = if app == "lowdelay" { 120 } else { 312 };
        let bytes = std::fs::read(&out).expect("read");
        check_ours_decodes(
            engine,
            &format!("ffmpeg {bitrate} {frame_ms} ms {app}"),
            &bytes,
            &pcm,
            rate,
            channels,
            pre_skip,
        );
    }
}

fn we_decode_opusenc_files(engine: OpusEngine) {
    for (channels, bitrate) in [(2, "96"), (1, "24")] {
        let (pcm, wav) = source_wav(48_000, channels);
        let out = scratch().join(format!("opusenc-{engine}-{channels}.opus"));
        run("opusenc", &["--quiet", "--bitrate", bitrate, path_str(&wav), path_str(&out)]);
        let bytes = std::fs::read(&out).expect("read");
        check_ours_decodes(
            engine,
            &format!("opusenc {bitrate}k {channels} ch"),
            &bytes,
            &pcm,
            48_000,
            channels,
            312,
        );
    }
    // A 16 kHz input: opusenc resamples it to 48 kHz and records the original rate in OpusHead.
    let (_, wav) = source_wav(16_000, 1);
    let out = scratch().join(format!("opusenc-{engine}-16k.opus"));
    run("opusenc", &["--quiet", path_str(&wav), path_str(&out)]);
    let (decoded, dec) = decode_ogg_with(engine, &std::fs::read(&out).expect("read"), 16_000, None);
    assert_eq!(dec.head().map(|h| h.input_sample_rate), Some(16_000));
    let (corr, _) = multichannel_correlation(&source(16_000, 1), &decoded, 1, 16_000);
    assert!(corr >= 0.9, "opusenc from 16 kHz decoded at 16 kHz: {corr:.3}");
}
