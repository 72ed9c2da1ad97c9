//! `ondes_client::spans` against a real in-process server over loopback: spans measured
//! by a Rust program reach `/api/perf` with their attributes, and a slowed stage is flagged
//! with the attribute value that goes with it.

mod common;

use std::time::Duration;

use ondes_client::spans::Spans;
use ondes_server::auth::Permission;
use serde_json::Value;

const SECRET: &str = "spans-test-secret";

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_report_with_their_attributes_and_a_slow_stage_is_flagged() {
    // tts_synthesis gets a 40 ms threshold so that a "slow" model is quick to simulate
    let s = common::start(&format!(
        "[auth]\nsecret = \"{SECRET}\"\n[perf]\nspan_log = \"info\"\n[perf.thresholds]\ntts_synthesis = 0.04\n"
    ))
    .await;
    let token = s.state.auth.mint("voice-app", &[Permission::Publish], 3600, now_secs());
    let spans = Spans::new(&format!("http://{}", s.addr), token);

    for i in 0..20 {
        // the async form, ok from the Result
        let out = spans
            .measure("tts_synthesis", &[("voice", "fast-voice"), ("lang", "en")], async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok::<_, std::io::Error>(i)
            })
            .await
            .unwrap();
        assert_eq!(out, i);
        // the guard form, recorded on drop
        {
            let _g = spans.start("tts_synthesis", &[("voice", "slow-voice"), ("lang", "en")]);
            tokio::time::sleep(Duration::from_millis(90)).await;
        }
    }
    // a failed block is recorded as a failure
    let failed: Result<(), &str> =
        spans.measure("stt_processing", &[("model", "tiny")], async { Err("no audio") }).await;
    assert!(failed.is_err());
    spans.flush().await;
    let c = spans.counts();
    assert_eq!((c.accepted, c.rejected, c.dropped, c.failed), (41, 0, 0, 0), "{c:?}");

    let report = common::get_json(&format!("http://{}/api/perf", s.addr)).await;
    let op = |name: &str| -> Value {
        report["operations"].as_array().unwrap().iter().find(|o| o["name"] == name).cloned().unwrap()
    };
    let tts = op("tts_synthesis");
    assert_eq!(tts["stats"]["count"], 40, "{tts}");
    // half the spans take twice the threshold: the stage is over its threshold
    assert!(matches!(tts["level"].as_str(), Some("SLOW" | "BOTTLENECK")), "{tts}");
    assert!(report["bottlenecks"].as_array().unwrap().iter().any(|b| b["op"] == "tts_synthesis"), "{report}");
    assert_eq!(op("stt_processing")["stats"]["success_rate"], 0.0);

    // which attribute value goes with the slow spans: slow-voice, first, all over threshold
    let attrs = &report["attributes"]["tts_synthesis"];
    let voice = attrs.as_array().unwrap().iter().find(|k| k["key"] == "voice").unwrap();
    let worst = &voice["values"][0];
    assert_eq!(worst["value"], "slow-voice", "{attrs}");
    assert_eq!((worst["count"].as_u64(), worst["over_threshold"].as_u64()), (Some(20), Some(20)), "{attrs}");
    assert!(worst["p95_us"].as_u64().unwrap() >= 90_000, "{attrs}");
    let fast = &voice["values"][1];
    assert_eq!(
        (fast["value"].as_str(), fast["over_threshold"].as_u64()),
        (Some("fast-voice"), Some(0)),
        "{attrs}"
    );
    let lang = attrs.as_array().unwrap().iter().find(|k| k["key"] == "lang").unwrap();
    assert_eq!(lang["values"][0]["count"], 40);
    assert_eq!(report["attributes"]["stt_processing"][0]["values"][0]["value"], "tiny");

    // the voice pipeline's SLAs are there by default
    let slas: Vec<String> = report["slas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["description"].as_str().unwrap().to_string())
        .collect();
    assert!(slas.iter().any(|d| d.contains("98% of tts_synthesis")), "{slas:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_without_blocking_the_caller() {
    // nothing listens on this port: every post fails, and a queue of 4 fills at once
    let spans = Spans::with_options(
        "http://127.0.0.1:9",
        "t",
        ondes_client::spans::SpansOptions { queue: 4, batch: 2, flush_every: Duration::from_secs(60) },
    );
    let t0 = std::time::Instant::now();
    for _ in 0..1000 {
        spans.record("llm_response", &[], Duration::from_millis(5), true);
    }
    assert!(t0.elapsed() < Duration::from_millis(500), "recording never waits");
    spans.flush().await;
    let c = spans.counts();
    assert!(c.dropped >= 990, "{c:?}");
    assert_eq!(c.dropped + c.failed, 1000, "every span is accounted for: {c:?}");
}
