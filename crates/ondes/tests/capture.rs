//! Sound-card capture end to end, on a real paced virtual sound card: a private PulseAudio
//! daemon's null sink plays a known signal (from its sample cache); `ondes serve` captures the sink's
//! monitor through ALSA's `pulse` device (cpal); a listener receives it over SSE on loopback.
//! Built only with `--features capture` (scripts/test.sh runs it so).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{SseReader, get, get_json};
use common::pulse::{Pulse, SINK, write_wav};
use common::{BIN, Server, serve, tmp};

const RATE: u32 = 48_000;

/// One capture test at a time: each runs a sound daemon, a player and a server in real time,
/// and two side by side on a two-core machine starve each other's real-time threads.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The known signal: left a 12 s linear chirp 200 → 2,000 Hz (every instant is unique, so
/// the alignment is unambiguous), right a two-tone chord with a slow swell.
fn reference(secs: f64) -> (Vec<f32>, Vec<f32>) {
    let n = (secs * RATE as f64) as usize;
    let (f0, f1) = (200.0, 2_000.0);
    let mut l = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 / RATE as f64;
        let phase = std::f64::consts::TAU * (f0 * t + (f1 - f0) / (2.0 * secs) * t * t);
        l.push((0.5 * phase.sin()) as f32);
        let swell = 0.6 + 0.4 * (std::f64::consts::TAU * 0.7 * t).sin();
        let chord = (std::f64::consts::TAU * 330.0 * t).sin() + (std::f64::consts::TAU * 523.0 * t).sin();
        r.push((0.2 * swell * chord) as f32);
    }
    (l, r)
}

fn signal_file(name: &str, secs: f64) -> (std::path::PathBuf, Vec<f32>, Vec<f32>) {
    let (l, r) = reference(secs);
    let inter: Vec<f32> = l.iter().zip(&r).flat_map(|(a, b)| [*a, *b]).collect();
    let path = tmp(name);
    write_wav(&path, RATE, 2, &inter);
    // what comes back is 16-bit, as played
    let q = |x: &f32| (x.clamp(-1.0, 1.0) * 32767.0).round() / 32767.0;
    (path, l.iter().map(q).collect(), r.iter().map(q).collect())
}

/// `ondes serve` capturing the virtual card with `source`.
fn serve_capture(pulse: &Pulse, name: &str, source: &str) -> Server {
    let cfg = tmp(&format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!("[server]\nbind = \"127.0.0.1:0\"\n[[stream]]\nid = \"main\"\nsource = \"{source}\"\n"),
    )
    .unwrap();
    let env = pulse.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serve(&["--config", cfg.to_str().unwrap()], &env, Stdio::null())
}

fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) =
        (a.iter().map(|&x| x as f64).sum::<f64>() / n, b.iter().map(|&x| x as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64 - ma, *y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}

/// Where `probe` starts in `reference`: a coarse search on every 8th sample, then exact.
fn align(probe: &[f32], reference: &[f32]) -> usize {
    let p: Vec<f32> = probe.iter().step_by(8).copied().collect();
    let r: Vec<f32> = reference.iter().step_by(8).copied().collect();
    let score = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let coarse =
        (0..r.len() - p.len()).max_by(|&i, &j| score(&p, &r[i..]).total_cmp(&score(&p, &r[j..]))).unwrap();
    let lo = (coarse * 8).saturating_sub(16);
    let hi = (coarse * 8 + 16).min(reference.len() - probe.len());
    (lo..=hi)
        .max_by(|&i, &j| score(probe, &reference[i..]).total_cmp(&score(probe, &reference[j..])))
        .unwrap()
}

/// For a failure message: each 100 ms block of `probe` aligned on its own near where the one
/// before it ended, so a jump (samples lost or inserted) shows where it happened and by how much.
fn blocks(probe: &[f32], reference: &[f32], mut at: usize) -> Vec<(usize, f64)> {
    const BLOCK: usize = 4_800;
    let mut out = Vec::new();
    for b in probe.chunks_exact(BLOCK) {
        let lo = at.saturating_sub(BLOCK);
        let hi = (at + 2 * BLOCK).min(reference.len().saturating_sub(BLOCK));
        let score = |i: usize| b.iter().zip(&reference[i..]).map(|(x, y)| x * y).sum::<f32>();
        let Some(best) = (lo..=hi).step_by(2).max_by(|&i, &j| score(i).total_cmp(&score(j))) else { break };
        out.push((best, (pearson(b, &reference[best..best + BLOCK]) * 1e4).round() / 1e4));
        at = best + BLOCK;
    }
    out
}

fn samples(v: &serde_json::Value, key: &str) -> Vec<f32> {
    v[key].as_array().expect("samples").iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

#[test]
fn a_captured_signal_reaches_an_sse_listener_intact_at_real_time() {
    let _serial = one_at_a_time();
    let pulse = Pulse::start("signal");
    let (wav, ref_l, ref_r) = signal_file("signal.wav", 12.0);
    let _player = pulse.play(&wav);
    let server = serve_capture(&pulse, "signal", "capture:pulse?channels=2&rate=48000&period_ms=10");
    let mut sse = SseReader::open(&format!("{}/api/audio/stream?max_fps=10", server.url));
    // let the capture settle (PulseAudio tunes its latency in the first second)
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(1500) {
        sse.next(1.0);
    }
    let (mut l, mut r) = (Vec::new(), Vec::new());
    let mut frames = Vec::new(); // (first frame number, frames in event, timestamp ms, received ms)
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let Some(e) = sse.next(2.0) else { continue };
        if e.event.as_deref() != Some("audio-frame") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        let a = samples(&v, "channel_a");
        frames.push((
            v["frame_number"].as_u64().unwrap(),
            (a.len() / 960) as u64,
            v["timestamp"].as_f64().unwrap(),
            now_ms(),
        ));
        l.extend(a);
        r.extend(samples(&v, "channel_b"));
    }
    assert!(frames.len() >= 20, "only {} events in 4 s", frames.len());
    // gap-free
    for w in frames.windows(2) {
        assert_eq!(w[1].0, w[0].0 + w[0].1, "frame numbers jump: {:?} → {:?}", w[0], w[1]);
    }
    // the same signal, sample for sample
    let at = align(&l[..24_000], &ref_l);
    let n = l.len().min(ref_l.len() - at);
    let cl = pearson(&l[..n], &ref_l[at..at + n]);
    let cr = pearson(&r[..n], &ref_r[at..at + n]);
    assert!(
        cl >= 0.99 && cr >= 0.99,
        "correlation left {cl:.4}, right {cr:.4} over {n} samples at offset {at}; \
         per 100 ms block (offset into the reference, correlation): {:?}",
        blocks(&l, &ref_l, at)
    );
    // at real time, timed by the device: the audio received spans the wall time it took, the
    // capture timestamps advance by the audio's duration and sit near the wall clock
    let (first, last) = (frames[0], frames[frames.len() - 1]);
    let audio_ms = ((last.0 + last.1) - first.0) as f64 * 20.0;
    let wall_ms = last.3 - first.3 + 100.0;
    assert!((audio_ms / wall_ms - 1.0).abs() < 0.1, "{audio_ms} ms of audio in {wall_ms} ms");
    let ts_ms = last.2 - first.2 + last.1 as f64 * 20.0;
    assert!((ts_ms / audio_ms - 1.0).abs() < 0.01, "timestamps span {ts_ms} ms for {audio_ms} ms of audio");
    for f in &frames {
        assert!((f.3 - f.2).abs() < 1_000.0, "frame {} timestamp {} ms from its arrival", f.0, f.3 - f.2);
    }
    let stats = get_json(&format!("{}/api/audio/stats", server.url));
    let c = &stats["capture"];
    assert_eq!(c["state"], "running", "{c}");
    assert_eq!(c["device"], "pulse");
    assert!(c["callback_to_hub_us"]["count"].as_u64().unwrap() > 100, "{c}");
    // the acquisition figures of the signal: left is a 0.5 sine (RMS 0.354, peak 0.5, no DC)
    let lv = &stats["levels"]["channels"][0];
    assert!((lv["rms"].as_f64().unwrap() - 0.3536).abs() < 0.01, "{lv}");
    assert!((lv["peak"].as_f64().unwrap() - 0.5).abs() < 0.01, "{lv}");
    assert!(lv["dc"].as_f64().unwrap().abs() < 0.01, "{lv}");
    assert_eq!(lv["clipped_samples"], 0);
}

#[test]
fn an_overrun_is_a_gap_counted_at_the_source() {
    let _serial = one_at_a_time();
    let pulse = Pulse::start("overrun");
    let (wav, _, _) = signal_file("overrun.wav", 20.0);
    let _player = pulse.play(&wav);
    let server = serve_capture(&pulse, "overrun", "capture:pulse?period_ms=10");
    let mut sse = SseReader::open(&format!("{}/api/audio/stream?max_fps=10", server.url));
    sse.wait_for("audio-frame", "channel_a", 10.0);
    std::thread::sleep(Duration::from_millis(2_000));
    // the card stops delivering for 600 ms (PulseAudio suspends the sink) and then goes on:
    // 600 ms of samples never reach the reader, as when a card overruns
    let pactl = |arg: &str| {
        let ok = Command::new("pactl")
            .args(["suspend-sink", SINK, arg])
            .envs(pulse.env())
            .status()
            .expect("pactl (pulseaudio-utils)")
            .success();
        assert!(ok, "pactl suspend-sink {arg}");
    };
    pactl("1");
    std::thread::sleep(Duration::from_millis(600));
    pactl("0");
    let e = sse.wait_for("status", "\"gap\"", 10.0);
    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
    let missed = v["missed_frames"].as_u64().unwrap();
    assert!((20..=40).contains(&missed), "600 ms is ~30 frames of 20 ms; the notice says {missed}: {v}");
    assert!(v["message"].as_str().unwrap().contains("source"), "{v}");
    let stats = get_json(&format!("{}/api/audio/stats", server.url));
    let c = &stats["capture"];
    assert!(c["gaps"].as_u64().unwrap() >= 1, "{c}");
    let dropped = c["dropped_frames"].as_u64().unwrap();
    assert!(dropped >= missed, "{c}");
    assert_eq!(c["state"], "running", "the device is still there: {c}");
    let metrics = get(&format!("{}/metrics", server.url));
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("ondes_frames_dropped_total")
                && l.contains("stage=\"source\"")
                && l.contains("stream=\"main\"")
        })
        .unwrap_or_else(|| panic!("no source drops in /metrics:\n{metrics}"));
    let counted: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(counted as u64, dropped, "{line}");
}

#[test]
fn a_device_gone_mid_stream_is_source_lost_then_recovers() {
    let _serial = one_at_a_time();
    let mut pulse = Pulse::start("gone");
    let (wav, _, _) = signal_file("gone.wav", 30.0);
    let player = pulse.play(&wav);
    let server = serve_capture(&pulse, "gone", "capture:pulse?period_ms=10&retry_ms=300");
    let mut sse = SseReader::open(&format!("{}/api/audio/stream?max_fps=10", server.url));
    sse.wait_for("audio-frame", "channel_a", 10.0);
    // the sound card goes away
    drop(player);
    pulse.kill();
    sse.wait_for("status", "source-lost", 10.0);
    // the stream goes on (silence, same timing) while the device is away; the first event
    // after the notice may still hold the audio captured before the loss
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let e = sse.wait_for("audio-frame", "channel_a", 5.0);
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        if samples(&v, "channel_a").iter().all(|&x| x == 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no silence while the device was away");
    }
    // and comes back
    pulse.restart();
    let _player = pulse.play(&wav);
    sse.wait_for("status", "source-restored", 15.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = sse.wait_for("audio-frame", "channel_a", 5.0);
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        if samples(&v, "channel_a").iter().any(|x| x.abs() > 0.1) {
            break;
        }
        assert!(Instant::now() < deadline, "no audio from the device after it came back");
    }
    let c = get_json(&format!("{}/api/audio/stats", server.url))["capture"].clone();
    assert!(c["lost_events"].as_u64().unwrap() >= 1 && c["restored_events"].as_u64().unwrap() >= 1, "{c}");
    assert!(c["lost_frames"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["state"], "running", "{c}");
}

#[test]
fn a_missing_device_fails_at_start_naming_it_and_what_exists() {
    let _serial = one_at_a_time();
    let cfg = tmp("missing.toml");
    std::fs::write(&cfg, "[[stream]]\nid = \"lab\"\nsource = \"capture:no-such-card\"\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-card") && err.contains("lab"), "{err}");
    assert!(err.contains("input devices here") && err.contains("default") && err.contains("pulse"), "{err}");
    assert!(err.contains("ondes devices"), "{err}");
}

#[test]
fn an_unsupported_format_fails_at_start_saying_what_the_device_supports() {
    let _serial = one_at_a_time();
    let pulse = Pulse::start("format");
    let cfg = tmp("format.toml");
    std::fs::write(&cfg, "[[stream]]\nid = \"lab\"\nsource = \"capture:pulse?channels=40\"\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&cfg).envs(pulse.env()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'pulse' cannot record 40 ch at 48000 Hz"), "{err}");
    assert!(err.contains("1–32 ch"), "names what it supports: {err}");
}

#[test]
fn devices_lists_the_virtual_card_for_people_and_machines() {
    let _serial = one_at_a_time();
    let pulse = Pulse::start("devices");
    let out = Command::new(BIN).args(["devices", "--json"]).envs(pulse.env()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pulse_dev = list.as_array().unwrap().iter().find(|d| d["name"] == "pulse").expect("pulse is listed");
    assert!(
        pulse_dev["configs"].as_array().unwrap().iter().any(|c| c["channels"] == 2
            && c["min_rate"].as_u64().unwrap() <= 48_000
            && c["max_rate"].as_u64().unwrap() >= 48_000),
        "{pulse_dev}"
    );
    let out = Command::new(BIN).arg("devices").envs(pulse.env()).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().any(|l| l.starts_with("pulse ") && l.contains("Hz")), "{table}");
    assert!(table.contains("capture:<device>"), "{table}");
}
