//! Helpers shared by the codec integration tests: external tools (which must be installed —
//! a missing tool fails the test with an install hint, never skips it), test signals, and
//! waveform comparison.

#![allow(dead_code, unused_macros)] // each test binary uses a different subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use ondes_codec::ogg_opus::OggOpusDecoder;
use ondes_codec::opus::{OpusConfig, OpusDecoder, OpusEncoder, OpusEngine};

/// Runs each named test function (`fn name(engine: OpusEngine)`) once per compiled Opus
/// engine, as `libopus::name` and `opus_rs::name`: both engines pass the same suite.
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "libopus")]
        mod libopus {
            $(#[test]
            fn $name() {
                super::$name(ondes_codec::opus::OpusEngine::Libopus)
            })*
        }
        #[cfg(feature = "opus-rs")]
        mod opus_rs {
            $(#[test]
            fn $name() {
                super::$name(ondes_codec::opus::OpusEngine::OpusRs)
            })*
        }
    };
}
use ondes_codec::{OggOpusMuxer, SampleFormat, decode_interleaved};

/// The Debian package providing each external tool.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "ffmpeg" | "ffprobe" => "ffmpeg",
        "opusenc" | "opusdec" | "opusinfo" => "opus-tools",
        "espeak-ng" => "espeak-ng",
        _ => "?",
    }
}

/// Runs `tool args`, panicking with an install hint if it is missing and with its stderr if
/// it fails.
pub fn run(tool: &str, args: &[&str]) -> Output {
    let out = match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{tool} not found: these tests need it; install it with `apt-get install {}` \
             (scripts/test.sh does this)",
            package_of(tool)
        ),
        Err(e) => panic!("cannot run {tool}: {e}"),
    };
    assert!(
        out.status.success(),
        "{tool} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A per-process scratch directory.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("ondes-codec-opus-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    })
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Decodes any file ffmpeg reads to interleaved f32 at `rate` and `channels`.
pub fn ffmpeg_decode(input: &Path, rate: u32, channels: u16) -> Vec<f32> {
    let (r, c) = (rate.to_string(), channels.to_string());
    let out = run(
        "ffmpeg",
        &["-hide_banner", "-v", "error", "-i", path_str(input), "-f", "f32le", "-ar", &r, "-ac", &c, "-"],
    );
    assert!(out.stderr.is_empty(), "ffmpeg reported problems: {}", String::from_utf8_lossy(&out.stderr));
    let mut pcm = Vec::new();
    decode_interleaved(&out.stdout, SampleFormat::F32Le, &mut pcm).expect("whole f32 samples");
    pcm
}

/// Two seconds (padded or cut) of espeak-ng speech, mono, at `rate`: a real, non-stationary
/// signal with voiced and unvoiced parts and pauses. Made once per rate.
pub fn speech(rate: u32) -> Vec<f32> {
    static CACHE: OnceLock<Mutex<HashMap<u32, Vec<f32>>>> = OnceLock::new();
    // held while the speech is made: two tests asking at once would otherwise both write the
    // same file, and one ffmpeg would read it half rewritten ("Invalid argument", seen in CI)
    let mut cache = CACHE.get_or_init(Default::default).lock().expect("cache");
    if let Some(s) = cache.get(&rate) {
        return s.clone();
    }
    let wav = scratch().join(format!("speech-{rate}.wav"));
    run("espeak-ng", &["-w", path_str(&wav), "Streaming audio to many listeners, in real time."]);
    let mut pcm = ffmpeg_decode(&wav, rate, 1);
    pcm.resize(2 * rate as usize, 0.0);
    cache.insert(rate, pcm.clone());
    pcm
}

/// A multi-tone with a slow amplitude envelope, mono, `seconds` long at `rate`; partials
/// below 3.6 kHz so that every Opus bandwidth carries them.
pub fn tones(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let env = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 1.5 * t).sin();
            let s: f64 = [(220.0, 0.3), (523.0, 0.2), (1250.0, 0.12), (3100.0, 0.05)]
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (env * s) as f32
        })
        .collect()
}

/// Interleaves per-channel signals.
pub fn interleave(chans: &[&[f32]]) -> Vec<f32> {
    let n = chans.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..n).flat_map(|i| chans.iter().map(move |c| c[i])).collect()
}

/// Channel `ch` of an interleaved signal.
pub fn channel(pcm: &[f32], channels: usize, ch: usize) -> Vec<f32> {
    pcm.iter().skip(ch).step_by(channels).copied().collect()
}

/// The test signal: speech on the left, tones on the right (so a channel swap shows).
pub fn source(rate: u32, channels: u16) -> Vec<f32> {
    let speech = speech(rate);
    if channels == 1 {
        return speech;
    }
    let tones = tones(rate, 2.0);
    interleave(&[&speech, &tones])
}

/// Normalised correlation of `reference` with `test` delayed by `lag` samples, over the
/// overlap (ignoring the first and last 20 ms of the reference, where codecs ramp).
fn correlation_at(reference: &[f32], test: &[f32], lag: isize, margin: usize) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    let end = reference.len().saturating_sub(margin);
    for (i, &x) in reference.iter().enumerate().take(end).skip(margin) {
        let j = i as isize + lag;
        if j < 0 || j as usize >= test.len() {
            continue;
        }
        let (x, y) = (f64::from(x), f64::from(test[j as usize]));
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    if xx == 0.0 || yy == 0.0 { 0.0 } else { xy / (xx * yy).sqrt() }
}

/// Best normalised correlation of `test` against `reference` over lags -max_lag..=max_lag,
/// with the lag (positive: `test` is late).
pub fn best_correlation(reference: &[f32], test: &[f32], rate: u32, max_lag: isize) -> (f64, isize) {
    let margin = rate as usize / 50;
    (-max_lag..=max_lag)
        .map(|lag| (correlation_at(reference, test, lag, margin), lag))
        .fold((f64::MIN, 0), |best, c| if c.0 > best.0 { c } else { best })
}

/// Correlation at the best lag found on the first channel, applied to every channel (so the
/// channels are compared with one common alignment), the worst of them, and the lag.
pub fn multichannel_correlation(reference: &[f32], test: &[f32], channels: usize, rate: u32) -> (f64, isize) {
    let r0 = channel(reference, channels, 0);
    let t0 = channel(test, channels, 0);
    let (_, lag) = best_correlation(&r0, &t0, rate, 1000);
    let margin = rate as usize / 50;
    let worst = (0..channels)
        .map(|c| correlation_at(&channel(reference, channels, c), &channel(test, channels, c), lag, margin))
        .fold(f64::MAX, f64::min);
    (worst, lag)
}

/// Encodes `pcm` (whole frames; a partial last frame is zero-padded) with `cfg`, returning
/// the packets.
pub fn encode_all(cfg: &OpusConfig, pcm: &[f32]) -> Vec<Vec<u8>> {
    encode_all_with(OpusEngine::DEFAULT, cfg, pcm)
}

/// [`encode_all`] with the encoder of `engine`.
pub fn encode_all_with(engine: OpusEngine, cfg: &OpusConfig, pcm: &[f32]) -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::with_engine(cfg.clone(), engine).expect("valid config");
    let frame = enc.frame_samples() * usize::from(cfg.channels);
    pcm.chunks(frame)
        .map(|chunk| {
            let mut f = chunk.to_vec();
            f.resize(frame, 0.0);
            let mut out = Vec::new();
            let n = enc.encode(&f, &mut out).expect("encode");
            assert_eq!(n, out.len());
            out
        })
        .collect()
}

/// Decodes packets with our decoder at `rate`/`channels`.
pub fn decode_all(packets: &[Vec<u8>], rate: u32, channels: u16) -> Vec<f32> {
    decode_all_with(OpusEngine::DEFAULT, packets, rate, channels)
}

/// [`decode_all`] with the decoder of `engine`.
pub fn decode_all_with(engine: OpusEngine, packets: &[Vec<u8>], rate: u32, channels: u16) -> Vec<f32> {
    let mut dec = OpusDecoder::with_engine(rate, channels, engine).expect("decoder");
    let mut out = Vec::new();
    for p in packets {
        dec.decode(p, &mut out).expect("decode");
    }
    out
}

/// Encodes `pcm` into an Ogg/Opus byte stream with our encoder and muxer, as a file writer
/// should: zeros appended to flush the encoder's look-ahead, the end trimmed by the last
/// granule position, so the file decodes to exactly `pcm`.
pub fn encode_ogg(cfg: &OpusConfig, pcm: &[f32], serial: u32) -> Vec<u8> {
    encode_ogg_with(OpusEngine::DEFAULT, cfg, pcm, serial)
}

/// [`encode_ogg`] with the encoder of `engine`.
pub fn encode_ogg_with(engine: OpusEngine, cfg: &OpusConfig, pcm: &[f32], serial: u32) -> Vec<u8> {
    let enc = OpusEncoder::with_engine(cfg.clone(), engine).expect("valid config");
    let ch = usize::from(cfg.channels);
    let mut mux =
        OggOpusMuxer::new(serial, cfg.channels, cfg.sample_rate, enc.pre_skip_48k()).expect("muxer");
    let mut file = mux.headers();
    let frame_48k = (u64::from(cfg.frame_us) * 48 / 1000) as u32;
    let mut padded = pcm.to_vec();
    padded.resize(pcm.len() + enc.lookahead() * ch, 0.0);
    let packets = encode_all_with(engine, cfg, &padded);
    let (last, body) = packets.split_last().expect("at least one packet");
    for p in body {
        file.extend(mux.push(p, frame_48k));
    }
    let input_48k = (pcm.len() / ch) as u64 * 48_000 / u64::from(cfg.sample_rate);
    let end_granule = u64::from(enc.pre_skip_48k()) + input_48k;
    let keep = end_granule - mux.granule_position();
    file.extend(mux.push_last(last, frame_48k, keep as u32));
    file
}

/// Decodes a whole Ogg/Opus byte stream with our demuxer and decoder.
pub fn decode_ogg(bytes: &[u8], rate: u32, channels: Option<u16>) -> (Vec<f32>, OggOpusDecoder) {
    decode_ogg_with(OpusEngine::DEFAULT, bytes, rate, channels)
}

/// [`decode_ogg`] with the decoder of `engine`.
pub fn decode_ogg_with(
    engine: OpusEngine,
    bytes: &[u8],
    rate: u32,
    channels: Option<u16>,
) -> (Vec<f32>, OggOpusDecoder) {
    let mut dec = OggOpusDecoder::with_engine(rate, channels, engine).expect("decoder");
    let mut pcm = Vec::new();
    // Feed in uneven chunks, as a network would.
    for chunk in bytes.chunks(1777) {
        dec.feed(chunk);
        dec.read(&mut pcm).expect("decode");
    }
    dec.end_of_input();
    dec.read(&mut pcm).expect("decode");
    (pcm, dec)
}
