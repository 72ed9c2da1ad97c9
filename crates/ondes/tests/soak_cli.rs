//! `ondes bench soak` as a user runs it: it starts a real `ondes serve`, listeners over SSE,
//! WebSocket, Ogg and LL-HLS come and go, publishers publish on and off. A short run must
//! pass, and the same run with the deliberate leak (connections that never read nor close)
//! must fail, naming what grew. Both run at once (about 50 s).

mod common;

use std::process::{Command, Output};

use common::BIN;
use serde_json::Value;

/// A 45 s soak with a 15 s warm-up, 16 listeners living 3–10 s, publishers 4–8 s on, 2–4 s off.
fn soak(extra: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "bench",
            "soak",
            "--duration",
            "45s",
            "--warmup",
            "15s",
            "--sample-every",
            "2s",
            "--listeners",
            "16",
            "--ramp",
            "2s",
            "--min-lifetime",
            "3s",
            "--max-lifetime",
            "10s",
            "--min-publish",
            "4s",
            "--max-publish",
            "8s",
            "--min-pause",
            "2s",
            "--max-pause",
            "4s",
            "--json",
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("ondes bench soak runs")
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--json prints one JSON object ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_steady_server_passes_and_a_leaking_one_fails_naming_what_grew() {
    let leaking = std::thread::spawn(|| soak(&["--leak", "5", "--seed", "2"]));
    let steady = soak(&[]);
    let leaking = leaking.join().expect("the leaking run's thread");

    let r = report(&steady);
    let v = &r["verdict"];
    assert_eq!(v["pass"], true, "the steady run fails: {}", v["reasons"]);
    assert!(steady.status.success(), "PASS exits 0");
    // it really soaked: listeners came and went on every transport, publishers came back
    let joined = r["listeners"]["joined"].as_u64().unwrap();
    assert!(joined >= 16 * 3, "listeners were replaced: {joined} joined");
    assert!(r["listeners"]["left"].as_u64().unwrap() >= 16, "{}", r["listeners"]);
    assert_eq!(r["listeners"]["connect_failures"], 0, "{}", r["listener_reasons"]);
    assert_eq!(r["transports"], serde_json::json!(["sse", "ws", "http", "hls"]));
    let p = &r["publishers"];
    assert!(p["sessions"].as_u64().unwrap() >= 4, "each publisher came back: {p}");
    assert_eq!(p["failed"], 0, "{}", r["publisher_failures"]);
    assert!(p["frames_acked"].as_u64().unwrap() > 0, "{p}");
    // the server process was sampled, and its counters were read
    let samples = r["samples"].as_array().unwrap();
    assert!(samples.len() >= 20, "{} samples", samples.len());
    let last = samples.last().unwrap();
    assert!(last["rss_kb"].as_u64().unwrap() > 1000, "{last}");
    assert!(last["fds"].as_u64().unwrap() >= 10, "{last}");
    assert!(last["threads"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["sessions"].as_u64().is_some(), "{last}");
    assert!(last["drops"].as_object().unwrap().contains_key("main:source"), "{last}");
    assert!(v["fds"]["samples"].as_u64().unwrap() >= 10, "{v}");

    let r = report(&leaking);
    let v = &r["verdict"];
    assert_eq!(v["pass"], false, "the leaking run passes: {v}");
    assert_eq!(leaking.status.code(), Some(1), "FAIL exits 1");
    let reasons = v["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|x| x.as_str().unwrap().starts_with("open fds grows")),
        "the reason names the open files: {reasons:?}"
    );
    assert!(r["samples"].as_array().unwrap().last().unwrap()["leaked"].as_u64().unwrap() >= 100);
}
