//! `ondes listen` as a user runs it: a real `ondes serve` with the demo stream, the real
//! binary listening over WebSocket and SSE, JSON on stdout, a WAV file on disk.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Server, tmp};
use serde_json::Value;

/// `ondes serve` (the demo stream) on an ephemeral port; killed on drop.
fn serve() -> Server {
    common::serve(&["--bind", "127.0.0.1:0"], &[], Stdio::null())
}

fn listen(args: &[&str]) -> (Value, String) {
    let out = Command::new(BIN).arg("listen").args(args).output().expect("ondes listen runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ondes listen failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert_eq!(stdout.lines().count(), 1, "--json prints exactly one line: {stdout}");
    (serde_json::from_str(&stdout).expect("stdout is one JSON object"), stderr)
}

#[test]
fn listen_over_websocket_prints_json_and_writes_a_wav() {
    let server = serve();
    let ws = server.url.replace("http://", "ws://");
    let wav = tmp("x.wav");
    let (v, stderr) = listen(&[
        &format!("{ws}/api/streams/main/ws?rung=pcm16"),
        "--duration",
        "2s",
        // a floor for the jitter target, so that a loaded CI host's stalls are not underruns
        // (adaptation itself is tested in simulated time in ondes-core)
        "--min-jitter",
        "250ms",
        "--json",
        "--out",
        wav.to_str().unwrap(),
    ]);
    assert!(stderr.is_empty(), "no progress bar or noise with --json: {stderr}");
    for key in ["frames_received", "frames_lost", "frames_late", "concealed_ms", "underruns", "fec_recovered"]
    {
        assert!(v[key].is_number(), "{key} in {v:#}");
    }
    assert_eq!(v["transport"], "ws");
    assert_eq!(v["codec"], "pcm16");
    assert_eq!(v["end_reason"], "duration");
    assert_eq!(v["frames_lost"], 0, "{v:#}");
    assert_eq!(v["underruns"], 0, "{v:#}");
    assert!(v["frames_received"].as_u64().unwrap() >= 75, "{v:#}");
    let p50 = v["latency_ms"]["p50"].as_f64().expect("p50");
    let p99 = v["latency_ms"]["p99"].as_f64().expect("p99");
    assert!(0.0 < p50 && p50 <= p99 && p99 < 1000.0, "{v:#}");
    let target = &v["buffer_target_ms"];
    assert!(target["min"].as_f64().unwrap() <= target["final"].as_f64().unwrap());
    assert!(target["final"].as_f64().unwrap() <= target["max"].as_f64().unwrap());
    // the WAV holds what was played
    let bytes = std::fs::read(&wav).expect("WAV written");
    assert_eq!(&bytes[..4], b"RIFF");
    let played = v["played_secs"].as_f64().unwrap();
    let seconds = (bytes.len() - 44) as f64 / (48_000.0 * 2.0 * 2.0);
    assert!((seconds - played).abs() <= 0.0201, "{seconds} s in the file, {played} s played");
    assert!(seconds > 1.5, "{seconds} s");
}

#[test]
fn listen_over_sse_prints_a_table() {
    let server = serve();
    let out = Command::new(BIN)
        .args(["listen", &format!("{}/api/audio/stream?format=pcm16", server.url), "--duration", "2s"])
        .output()
        .expect("ondes listen runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for row in ["frames received", "frames lost", "underruns", "latency (capture→play)", "target over time"]
    {
        assert!(stdout.contains(row), "{row} missing from:\n{stdout}");
    }
    assert!(stdout.contains("sse pcm16"), "{stdout}");
}

#[test]
fn listen_to_a_missing_stream_fails_with_the_reason() {
    let server = serve();
    let out = Command::new(BIN)
        .args(["listen", &format!("{}/api/streams/nope/stream", server.url), "--duration", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404"), "{stderr}");
}
