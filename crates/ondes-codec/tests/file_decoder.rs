//! FileDecoder against real files made by ffmpeg: WAV, FLAC, MP3 (LAME) and Ogg Vorbis holding
//! a 2 s, 1 kHz, 44.1 kHz stereo sine, decoded to 48 kHz stereo and mono.
//!
//! ffmpeg is required: without it these tests fail (they must not pass vacuously).

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ondes_codec::{CodecError, FileDecoder};

const SOURCE_RATE: u32 = 44_100;
const TARGET_RATE: u32 = 48_000;
const SECONDS: f64 = 2.0;
const TONE_HZ: f64 = 1000.0;
/// ffmpeg's `sine` source has amplitude 1/8.
const AMPLITUDE: f64 = 0.125;
/// Frames read per call: 20 ms at 48 kHz, what a file source asks for.
const CHUNK: usize = 960;

fn ffmpeg(args: &[&str]) {
    let status =
        match Command::new("ffmpeg").args(["-hide_banner", "-loglevel", "error", "-y"]).args(args).status() {
            Ok(status) => status,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("ffmpeg not found: install it with apt-get install ffmpeg")
            }
            Err(e) => panic!("cannot run ffmpeg: {e}"),
        };
    assert!(status.success(), "ffmpeg {args:?} failed: {status}");
}

/// A per-process scratch directory holding the generated files (made once, shared by tests).
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("ondes-codec-test-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create fixture dir");
        let sine = format!("sine=frequency={TONE_HZ}:sample_rate={SOURCE_RATE}:duration={SECONDS}");
        for (name, codec) in [
            ("tone.wav", &["-c:a", "pcm_s16le"][..]),
            ("tone.flac", &["-c:a", "flac"]),
            ("tone.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"]),
            ("tone.ogg", &["-c:a", "libvorbis", "-q:a", "5"]),
        ] {
            let out = dir.join(name);
            // `pan` copies the mono tone to both channels at full level; `-ac 2` would apply
            // swresample's -3 dB centre-to-front-pair mix.
            let mut args = vec!["-f", "lavfi", "-i", &sine, "-af", "pan=stereo|c0=c0|c1=c0"];
            args.extend_from_slice(codec);
            args.push(out.to_str().expect("utf-8 temp path"));
            ffmpeg(&args);
        }
        let mono = format!("sine=frequency={TONE_HZ}:sample_rate=22050:duration={SECONDS}");
        ffmpeg(&["-f", "lavfi", "-i", &mono, "-ac", "1", dir.join("mono22k.wav").to_str().expect("utf-8")]);
        dir
    })
}

/// Reads the whole file in `CHUNK`-frame calls, checking that only the end is short.
fn read_all(dec: &mut FileDecoder) -> Vec<f32> {
    let channels = usize::from(dec.target_channels());
    let mut out = Vec::new();
    let mut ended = false;
    loop {
        let before = out.len();
        let n = dec.read(CHUNK, &mut out).expect("read");
        assert_eq!(out.len() - before, n * channels, "returned count matches appended samples");
        if n == 0 {
            break;
        }
        assert!(!ended, "a short read must be followed only by 0 (end of file)");
        ended = n < CHUNK;
    }
    assert_eq!(dec.read(CHUNK, &mut out).expect("read after end"), 0, "end of file is sticky");
    out
}

fn channel(x: &[f32], channels: usize, ch: usize) -> Vec<f32> {
    x.chunks_exact(channels).map(|f| f[ch]).collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

fn zero_crossings(x: &[f32]) -> usize {
    x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count()
}

/// Amplitude of the `freq` component by projection on sin/cos: insensitive to codec delay.
fn tone_amplitude(x: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let w = 2.0 * PI * freq * i as f64 / f64::from(rate);
        s += f64::from(v) * w.sin();
        c += f64::from(v) * w.cos();
    }
    2.0 * (s * s + c * c).sqrt() / x.len() as f64
}

/// Decodes `name` to 48 kHz with `channels` and checks length, pitch and level.
fn check_tone(name: &str, channels: u16, length_tolerance_ms: f64) {
    let path = fixtures().join(name);
    let mut dec = FileDecoder::open(&path, TARGET_RATE, channels).expect("open");
    assert_eq!(dec.source_rate(), SOURCE_RATE, "{name}");
    assert_eq!(dec.source_channels(), 2, "{name}");
    let duration = dec.duration_secs();
    if let Some(d) = duration {
        assert!((d - SECONDS).abs() < 0.06, "{name}: declared duration {d}");
    }
    let out = read_all(&mut dec);
    let ch = usize::from(channels);
    let frames = out.len() / ch;
    let expected = (SECONDS * f64::from(TARGET_RATE)) as usize;
    let diff_ms = (frames as f64 - expected as f64) * 1000.0 / f64::from(TARGET_RATE);
    eprintln!(
        "{name} -> {channels} ch: {frames} frames ({diff_ms:+.2} ms), declared {duration:?} s, {} decode errors",
        dec.decode_errors()
    );
    assert!(diff_ms.abs() <= length_tolerance_ms, "{name}: {frames} frames, {diff_ms:+.2} ms off {expected}");
    assert_eq!(dec.decode_errors(), 0, "{name}");

    // Analyse the middle 1.5 s: clear of start-up transients and of codec delay at either end.
    let mid = |x: &[f32]| x[TARGET_RATE as usize / 4..TARGET_RATE as usize * 7 / 4].to_vec();
    let left = mid(&channel(&out, ch, 0));
    let crossings = zero_crossings(&left);
    assert!(
        (crossings as i64 - 3000).abs() <= 3,
        "{name}: {crossings} zero crossings in 1.5 s, want 3000 (1 kHz)"
    );
    let amp = tone_amplitude(&left, TARGET_RATE, TONE_HZ);
    assert!((amp / AMPLITUDE - 1.0).abs() < 0.05, "{name}: 1 kHz amplitude {amp}, want {AMPLITUDE}");
    let level = rms(&left);
    let want = AMPLITUDE / 2f64.sqrt();
    assert!((level / want - 1.0).abs() < 0.05, "{name}: RMS {level}, want {want}");
    // All the energy is in the tone: nothing else (aliasing, noise, a wrong rate) is audible.
    assert!(amp / 2f64.sqrt() / level > 0.99, "{name}: tone is {:.4} of the RMS", amp / 2f64.sqrt() / level);
    if ch == 2 {
        let right = mid(&channel(&out, ch, 1));
        let max_diff = left.iter().zip(&right).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(max_diff < 0.01, "{name}: left and right differ by {max_diff}");
    }
}

#[test]
fn wav_stereo() {
    check_tone("tone.wav", 2, 0.05);
}

#[test]
fn wav_mono() {
    check_tone("tone.wav", 1, 0.05);
}

#[test]
fn flac_stereo() {
    check_tone("tone.flac", 2, 0.05);
}

#[test]
fn flac_mono() {
    check_tone("tone.flac", 1, 0.05);
}

#[test]
fn mp3_stereo() {
    check_tone("tone.mp3", 2, 5.0);
}

#[test]
fn mp3_mono() {
    check_tone("tone.mp3", 1, 5.0);
}

#[test]
fn ogg_vorbis_stereo() {
    check_tone("tone.ogg", 2, 5.0);
}

#[test]
fn ogg_vorbis_mono() {
    check_tone("tone.ogg", 1, 5.0);
}

#[test]
fn mono_22k_source_upmixes_to_stereo_48k() {
    let mut dec = FileDecoder::open(&fixtures().join("mono22k.wav"), TARGET_RATE, 2).expect("open");
    assert_eq!((dec.source_rate(), dec.source_channels()), (22_050, 1));
    let out = read_all(&mut dec);
    assert_eq!(out.len(), 2 * 96_000);
    assert!(out.chunks_exact(2).all(|f| f[0] == f[1]), "mono is duplicated to both channels");
    let left = channel(&out, 2, 0);
    let amp = tone_amplitude(&left[12_000..84_000], TARGET_RATE, TONE_HZ);
    assert!((amp / AMPLITUDE - 1.0).abs() < 0.02, "amplitude {amp}");
}

#[test]
fn native_format_is_passed_through_exactly() {
    // 44.1 kHz stereo out of a 44.1 kHz stereo WAV: no resampling and no remix, so the samples
    // must be the file's s16 data scaled by 1/32768, bit for bit.
    let path = fixtures().join("tone.wav");
    let bytes = std::fs::read(&path).expect("read wav");
    let data = bytes.windows(4).position(|w| w == b"data").expect("data chunk") + 8;
    let mut want = Vec::new();
    ondes_codec::decode_interleaved(&bytes[data..], ondes_codec::SampleFormat::S16Le, &mut want)
        .expect("pcm");
    let mut dec = FileDecoder::open(&path, SOURCE_RATE, 2).expect("open");
    let out = read_all(&mut dec);
    assert_eq!(out.len(), 2 * 88_200);
    assert!(out == want, "pass-through altered the samples");
}

#[test]
fn rewind_reads_the_file_again_identically() {
    for name in ["tone.wav", "tone.mp3", "tone.ogg"] {
        let mut dec = FileDecoder::open(&fixtures().join(name), TARGET_RATE, 2).expect("open");
        let first = read_all(&mut dec);
        dec.rewind().expect("rewind");
        let second = read_all(&mut dec);
        assert!(!first.is_empty());
        assert!(first == second, "{name}: second pass differs");
        // Rewinding mid-file restarts from the beginning too.
        let mut partial = Vec::new();
        dec.rewind().expect("rewind");
        dec.read(5_000, &mut partial).expect("read");
        dec.rewind().expect("rewind");
        let third = read_all(&mut dec);
        assert!(first == third, "{name}: pass after a mid-file rewind differs");
    }
}

#[test]
fn chunk_size_does_not_change_the_output() {
    let path = fixtures().join("tone.ogg");
    let mut a = FileDecoder::open(&path, TARGET_RATE, 1).expect("open");
    let whole = read_all(&mut a);
    let mut b = FileDecoder::open(&path, TARGET_RATE, 1).expect("open");
    let mut pieces = Vec::new();
    for size in [1usize, 7, 480, 1, 4096].iter().cycle() {
        if b.read(*size, &mut pieces).expect("read") == 0 {
            break;
        }
    }
    assert!(whole == pieces);
}

#[test]
fn missing_file_error_names_the_path() {
    let path = fixtures().join("no-such-file.mp3");
    let err = FileDecoder::open(&path, TARGET_RATE, 2).expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, CodecError::Open { .. }), "{err:?}");
    assert!(msg.starts_with(&format!("cannot open {}: ", path.display())), "{msg}");
    assert!(msg.contains("No such file or directory"), "{msg}");
}

#[test]
fn text_file_error_names_the_path_and_formats() {
    let path = fixtures().join("notes.wav");
    std::fs::write(&path, "these are not the samples you are looking for\n".repeat(100)).expect("write");
    let err = FileDecoder::open(&path, TARGET_RATE, 2).expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, CodecError::UnrecognisedFormat { .. }), "{err:?}");
    assert_eq!(
        msg,
        format!(
            "cannot decode {}: not a recognised audio format (supported: WAV, FLAC, MP3, Ogg Vorbis)",
            path.display()
        )
    );
}

#[test]
fn empty_file_is_not_audio() {
    let path = fixtures().join("empty.flac");
    std::fs::write(&path, b"").expect("write");
    let msg = FileDecoder::open(&path, TARGET_RATE, 2).expect_err("must fail").to_string();
    assert!(msg.starts_with(&format!("cannot decode {}", path.display())), "{msg}");
}

#[test]
fn directory_is_reported_as_unopenable() {
    let err = FileDecoder::open(fixtures(), TARGET_RATE, 2).expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains(&fixtures().display().to_string()), "{msg}");
}

#[test]
fn truncated_and_corrupted_mp3_still_plays() {
    let bytes = std::fs::read(fixtures().join("tone.mp3")).expect("read mp3");
    // Overwrite 4 KB in the middle with garbage and cut the last 10 KB off.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    for (i, b) in bad[mid..mid + 4096].iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    bad.truncate(bytes.len() - 10_000);
    let path = fixtures().join("damaged.mp3");
    std::fs::write(&path, &bad).expect("write");
    let mut dec = FileDecoder::open(&path, TARGET_RATE, 2).expect("open");
    let out = read_all(&mut dec);
    let secs = out.len() as f64 / 2.0 / f64::from(TARGET_RATE);
    assert!(secs > 1.2 && secs < 1.9, "decoded {secs} s");
}

/// Byte offsets of the MPEG-1 Layer III frames in `mp3` (after any ID3v2 tag).
fn mp3_frames(mp3: &[u8]) -> Vec<usize> {
    let mut pos = 0;
    if mp3.starts_with(b"ID3") {
        let size = mp3[6..10].iter().fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F));
        pos = 10 + size;
    }
    const KBPS: [usize; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    const RATES: [usize; 3] = [44_100, 48_000, 32_000];
    let mut frames = Vec::new();
    while pos + 4 <= mp3.len() && mp3[pos] == 0xFF && mp3[pos + 1] & 0xFE == 0xFA {
        let h = mp3[pos + 2];
        let (kbps, rate) = (KBPS[usize::from(h >> 4) % 15], RATES[usize::from((h >> 2) & 3) % 3]);
        let len = 144_000 * kbps / rate + usize::from((h >> 1) & 1);
        assert!(len > 4, "bad frame header at {pos}");
        frames.push(pos);
        pos += len;
    }
    frames
}

#[test]
fn undecodable_mp3_frames_are_skipped_and_counted() {
    // Keep every frame header intact, so the demuxer still delivers the packets, but fill the
    // start of the side info of a few frames with ones: big_values = 511 > 288 makes the codec
    // reject those packets, and the decoder must carry on after them.
    let mut bytes = std::fs::read(fixtures().join("tone.mp3")).expect("read mp3");
    let frames = mp3_frames(&bytes);
    assert!(frames.len() > 70, "found {} frames", frames.len());
    for &f in &frames[30..35] {
        bytes[f + 4..f + 12].fill(0xFF);
    }
    let path = fixtures().join("bad-frames.mp3");
    std::fs::write(&path, &bytes).expect("write");
    let mut dec = FileDecoder::open(&path, TARGET_RATE, 2).expect("open");
    let out = read_all(&mut dec);
    let secs = out.len() as f64 / 2.0 / f64::from(TARGET_RATE);
    eprintln!("bad-frames.mp3: {secs:.3} s, {} decode errors", dec.decode_errors());
    assert_eq!(dec.decode_errors(), 5, "one per damaged frame");
    // Five frames of 1152 samples are missing; the rest plays.
    assert!(secs > 1.8, "decoded {secs} s");
}

#[test]
fn video_only_file_has_no_audio_track() {
    let path = fixtures().join("video-only.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=1:size=32x32:rate=5",
        "-c:v",
        "mjpeg",
        path.to_str().expect("utf-8"),
    ]);
    let err = FileDecoder::open(&path, TARGET_RATE, 2).expect_err("must fail");
    assert_eq!(err.to_string(), format!("{}: no audio track", path.display()), "{err:?}");
}

#[test]
fn decoder_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<FileDecoder>();
    assert_send::<ondes_codec::StreamResampler>();
    assert_send::<CodecError>();
}
