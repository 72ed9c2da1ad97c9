//! The canary on a real impaired link: `ondes serve` in canary mode with a deliberately bad
//! adaptive configuration (it starts at the top rung and climbs with no hysteresis), a real
//! `ondes netsim` link of 48 kbit/s per connection, and two real `ondes listen` clients —
//! one delivered legacy (the 16 kbit/s rung), one adaptive. The adaptive listener's stalls
//! must roll the stream back to legacy on its own, the report must say why, and the
//! listener moved to legacy must then play without stalls.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netsim::Netsim;
use common::{BIN, http::get_json, serve, tmp};
use serde_json::Value;

const CONFIG: &str = r#"
[abr]
mode = "canary"
# the bad adaptive configuration: start at the top, climb with no hysteresis or hold
start_kbps = 128
up_margin = 0.5
stable_ms = 0
hold_ms = 0
interval_ms = 500
growth_per_s = 2.0
headroom = 1.0
[abr.legacy]
rung_kbps = 16
[abr.canary]
fraction = 0.5
rollback_after_secs = 4.0
window_secs = 6.0
[[stream]]
id = "main"
source = "tone:demo"
rungs = "16,32,64,128"
"#;

struct Listener(Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listen(url: &str) -> Listener {
    Listener(
        Command::new(BIN)
            .args(["listen", url, "--duration", "40s", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ondes listen starts"),
    )
}

#[test]
fn a_worse_adaptive_group_on_a_slow_link_is_rolled_back_to_legacy() {
    let config = tmp("canary.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = serve(
        &["-c", config.to_str().unwrap(), "--bind", "127.0.0.1:0", "--log", "warn"],
        &[],
        Stdio::null(),
    );
    let upstream = server.url.trim_start_matches("http://").to_string();
    let netsim =
        Netsim::start(&upstream, &["--profile", "custom", "--set", "bw=48kbps", "--set", "delay=20ms"]);
    let url = format!("ws://{}/api/streams/main/ws?rung=auto", netsim.addr);
    let _legacy = listen(&url);
    std::thread::sleep(Duration::from_millis(500));
    let _adaptive = listen(&url);

    let report_url = format!("{}/api/streams/main/report", server.url);
    let started = Instant::now();
    let mut seen_worse = false;
    let rolled_back: Value = loop {
        assert!(started.elapsed() < Duration::from_secs(35), "no rollback within 35 s");
        std::thread::sleep(Duration::from_millis(500));
        let r = get_json(&report_url);
        let d = &r["delivery_mode"];
        seen_worse |= d["verdict"]["state"] == "adaptive_worse";
        if d["mode"] == "legacy" {
            break r;
        }
        assert_eq!(d["mode"], "canary", "{r}");
    };
    assert!(seen_worse, "the report showed adaptive as worse before the rollback");
    let d = &rolled_back["delivery_mode"];
    let reason = d["rollback"]["reason"].as_str().expect("a rollback reason");
    assert!(reason.contains("adaptive listeners") && reason.contains("rolled back to legacy"), "{reason}");
    assert!(d["adaptive"]["concealed_ms_per_min"].as_f64().unwrap() > 1000.0, "{d}");
    assert_eq!(d["legacy"]["concealed_ms_per_min"].as_f64(), Some(0.0), "legacy fits the link: {d}");
    assert!(rolled_back["improvement_factor"].as_f64().unwrap() < 0.5, "{rolled_back}");

    // both listeners are legacy now, on the 16 kbit/s rung, and the moved one plays cleanly
    let r = get_json(&report_url);
    assert_eq!(r["adaptive"]["delivery_groups"]["legacy"], 2, "{r}");
    std::thread::sleep(Duration::from_secs(8));
    let r = get_json(&report_url);
    let legacy = &r["delivery_mode"]["legacy"];
    assert_eq!(legacy["listeners"], 2, "{r}");
    assert!(legacy["concealed_ms_per_min"].as_f64().unwrap() < 500.0, "after the rollback both play: {r}");
    let metrics = common::http::get(&format!("{}/metrics", server.url));
    assert!(metrics.contains("ondes_delivery_rollbacks_total{stream=\"main\"} 1"), "rollback counted");
    drop(netsim);
}
