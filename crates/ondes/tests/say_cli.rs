//! `ondes say` as a user runs it: real `ondes serve` with a publish stream, real espeak-ng.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Server, tmp};
use serde_json::Value;

const SECRET: &str = "say-cli-secret";

fn serve() -> Server {
    let config = tmp("say.toml");
    std::fs::write(
        &config,
        "[[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n",
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

fn say(server: &Server, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["say", "--server", &server.url, "--stream", "voice", "--token", &token()])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn say_prints_the_timings_as_json_and_as_a_table() {
    let server = serve();
    let out = say(&server, &["--json", "Hello from the command line."]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["utterance"], 1);
    assert_eq!(v["state"], "playing");
    assert!(v["first_pcm_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["first_frame_ms"].as_f64().unwrap() >= v["first_pcm_ms"].as_f64().unwrap(), "{v}");
    let out = say(&server, &["--interrupt", "Barging in."]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("utterance      2 (playing, engine espeak-ng)"), "{table}");
    assert!(table.contains("first PCM") && table.contains("first frame"), "{table}");
}

#[test]
fn a_refused_request_fails_with_the_servers_reason() {
    let server = serve();
    let out = say(&server, &["--engine", "nope", "hi"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("400") && err.contains("unknown_engine") && err.contains("espeak-ng"), "{err}");
    let out =
        Command::new(BIN).args(["say", "--server", &server.url, "--stream", "voice", "hi"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));
}
