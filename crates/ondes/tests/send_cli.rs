//! `ondes send` as a user runs it: real `ondes serve`, real processes, stdin pipes.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{BIN, Server, tmp};
use serde_json::Value;

const SECRET: &str = "send-cli-secret";

/// `ondes serve` with one publish stream `voice` at `rate` Hz, mono.
fn serve(name: &str, rate: u32) -> Server {
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("[[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = {rate}\nchannels = 1\n"),
    )
    .unwrap();
    common::serve(
        &["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()],
        &[("ONDES_AUTH_SECRET", SECRET)],
        Stdio::null(),
    )
}

fn token() -> String {
    let out = Command::new(BIN).args(["token", "--secret", SECRET, "--perm", "publish"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn send(server: &Server, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(BIN)
        .arg("send")
        .args(args)
        .args(["--to", &format!("{}/api/streams/voice/publish", server.ws()), "--token", &token()])
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            pipe.write_all(&bytes).unwrap();
        });
    }
    child.wait_with_output().unwrap()
}

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "ondes send failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

#[test]
fn an_opus_tone_burst_is_sent_and_acknowledged() {
    let s = serve("opus", 48_000);
    let out = send(
        &s,
        &[
            "tone:sine?freq=440",
            "--duration",
            "3s",
            "--codec",
            "opus",
            "--bitrate",
            "48",
            "--batch",
            "4",
            "--burst",
            "--json",
        ],
        None,
    );
    let r = report(&out);
    assert_eq!(r["completed"], true, "{r}");
    assert_eq!(r["frames_sent"], 150);
    assert_eq!(r["frames_acked"], 150);
    assert_eq!(r["codec"], "opus");
    assert_eq!(r["bitrate_kbps"], 48);
    assert_eq!(r["messages_sent"], 38, "150 frames in batches of 4");
    assert!(r["backpressure_waits"].as_u64().unwrap() >= 1, "3 s burst into a 1 s queue: {r}");
    // 48 kbit/s Opus: far smaller than the 288 KB of pcm16
    assert!(r["bytes_sent"].as_u64().unwrap() < 40_000, "{r}");
}

#[test]
fn raw_pcm_from_stdin_is_resampled_to_the_stream() {
    let s = serve("stdin", 48_000);
    // one second of a 16 kHz tone, sent to a 48 kHz stream
    let pcm: Vec<u8> =
        (0..16_000).flat_map(|i| (((i as f64 * 0.2).sin() * 10_000.0) as i16).to_le_bytes()).collect();
    let out = send(&s, &["stdin:s16le?rate=16000&channels=1", "--burst", "--json"], Some(pcm));
    let r = report(&out);
    assert_eq!(r["frames_sent"], 50, "{r}");
    assert_eq!(r["frames_acked"], 50, "{r}");
    assert_eq!(r["sample_rate"], 48_000);
}

#[test]
fn speech_starts_within_a_second_and_the_table_says_what_happened() {
    let s = serve("tts", 24_000);
    let out = send(&s, &["tts:Testing one two three."], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("completed"), "{table}");
    let line = table.lines().find(|l| l.contains("first frame sent")).expect("a first-frame row");
    let ms: f64 = line.split_whitespace().rev().nth(1).unwrap().parse().unwrap();
    assert!(ms < 1000.0, "time to first frame {ms} ms");
}

#[test]
fn bad_invocations_fail_with_a_clear_message() {
    let s = serve("bad", 16_000);
    let bad_token = Command::new(BIN)
        .args(["send", "tone:sine", "--duration", "1s", "--token", "not-a-jwt", "--to"])
        .arg(format!("{}/api/streams/voice/publish", s.ws()))
        .output()
        .unwrap();
    assert!(!bad_token.status.success());
    assert!(
        String::from_utf8_lossy(&bad_token.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&bad_token.stderr)
    );

    let out = send(&s, &["mic:0"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown source kind 'mic'"));

    let out = send(&s, &["tts:hello", "--rate", "44100", "--channels", "1"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("16000 Hz"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
