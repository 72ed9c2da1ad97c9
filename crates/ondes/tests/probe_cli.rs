//! `ondes probe` through a real impaired link: a real `ondes netsim` whose capacity drops
//! for 2 s and comes back. The probe's latency rises while the link is short and falls back
//! once the queue drains; the report times that as one recovery episode.

mod common;

use std::process::{Command, Stdio};

use common::netsim::Netsim;
use common::{BIN, serve, tmp};
use serde_json::Value;

const CONFIG: &str = r#"
[[stream]]
id = "main"
source = "tone:sine?freq=440"
sample_rate = 16000
channels = 1
"#;

#[test]
fn the_probe_times_the_recovery_after_a_capacity_drop() {
    let config = tmp("probe-recovery.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server =
        serve(&["-c", config.to_str().unwrap(), "--bind", "127.0.0.1:0", "--log", "warn"], &[], Stdio::null());
    let upstream = server.url.trim_start_matches("http://").to_string();
    // pcm16 SSE of 16 kHz mono is ~350 kbit/s: 96 kbit/s for 2 s builds a queue of seconds
    let script = tmp("probe-recovery.script");
    std::fs::write(&script, "4s fiber\n2s custom bw=96kbps delay=10ms\n60s fiber\n").unwrap();
    let netsim = Netsim::start(&upstream, &["--script", script.to_str().unwrap()]);
    let out = Command::new(BIN)
        .args(["probe", "--json", "--duration", "12s"])
        .arg(format!("http://{}/api/streams/main/stream?format=pcm16", netsim.addr))
        .output()
        .expect("ondes probe runs");
    assert!(out.status.success(), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ttr = &report["time_to_recover"];
    assert!(ttr["episodes"].as_u64().unwrap() >= 1, "the drop is an episode: {ttr}");
    let worst = ttr["worst"]["duration_ms"].as_u64().unwrap();
    assert!((500..8_000).contains(&worst), "recovered within the run, after the drop: {ttr}");
    assert!(ttr["worst"]["peak_excess_ms"].as_f64().unwrap() > 300.0, "{ttr}");
    assert!(ttr["in_excess_at_end_ms"].is_null(), "back on target at the end: {ttr}");
    assert!(report["latency_ms"]["max"].as_f64().unwrap() > 300.0, "{report}");
    drop(netsim);
}
