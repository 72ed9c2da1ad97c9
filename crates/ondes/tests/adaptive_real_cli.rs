//! Recovery after a capacity drop through real sockets: `ondes bench adaptive --real` runs an
//! in-process server, a real `ondes netsim` proxy applying a link that falls from Wi-Fi to
//! 64 kbit/s (1 % loss) for 10 s and comes back, and the real `ondes listen` client — once
//! legacy (top rung, no adaptation), once adaptive. The adaptive listener's latency must be
//! back within 20 % of where it was before the drop (and hold for 5 s) within 8 s of the
//! link's recovery, with less latency over the run and less time stalled than legacy. (The
//! stalls' size is a benchmark, `ondes bench adaptive --real`, on a release build: this test
//! runs the debug build beside the rest of the suite.)

mod common;

use std::process::Command;

use common::{BIN, tmp};
use serde_json::Value;

#[test]
fn after_a_ten_second_drop_a_real_listener_is_back_on_its_latency_within_seconds() {
    let script = tmp("ten-second-drop.script");
    std::fs::write(&script, "20s wifi\n10s custom bw=64kbps delay=50ms loss=1%\n20s wifi\n").unwrap();
    let out = Command::new(BIN)
        .args(["bench", "adaptive", "--real", "--json", "--duration", "50s", "--script"])
        .arg(&script)
        .output()
        .expect("ondes bench runs");
    assert!(out.status.success(), "bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (adaptive, legacy) = (&report["adaptive"]["real"], &report["legacy"]["real"]);
    let recover = adaptive["recover_ms"].as_f64();
    assert!(recover.is_some_and(|ms| ms <= 8_000.0), "recovered after {recover:?} ms: {adaptive}");
    let p50 = |side: &Value| side["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50(adaptive) < p50(legacy), "adaptive {} ms, legacy {} ms", p50(adaptive), p50(legacy));
    let stalled = |side: &Value| side["stalled_ms"].as_f64().unwrap();
    assert!(
        stalled(adaptive) < stalled(legacy),
        "adaptive stalled {} ms, legacy {} ms",
        stalled(adaptive),
        stalled(legacy)
    );
}
