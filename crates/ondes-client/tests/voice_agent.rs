//! The `voice_agent` example, run as a user runs it, against a real server with espeak-ng:
//! every turn's reply is spoken into the stream (a listener hears each utterance start),
//! its stages arrive as spans, and the stage it slows is the one flagged.

mod common;

use std::process::Command;
use std::time::Duration;

use ondes_server::auth::Permission;
use serde_json::Value;

/// Builds the example (a `--test` run builds only its own target) and returns its path.
fn example() -> std::path::PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "ondes-client", "--example", "voice_agent"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the voice_agent example builds");
    // this test is target/<profile>/deps/voice_agent-…; the example is target/<profile>/examples/
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join("voice_agent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_agent_speaks_times_its_stages_and_its_slowed_stage_is_flagged() {
    // llm_response gets a 150 ms threshold so that "slow" (6 × 60 ms) is quick to reach
    let s = common::start(
        "[auth]\nsecret = \"agent-test\"\n[perf.thresholds]\nllm_response = 0.15\n\
         [[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n",
    )
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let token = s.state.auth.mint("agent", &[Permission::Publish], 3600, now);
    let server = format!("http://{}", s.addr);

    // a listener of the stream counts the utterances it hears start
    ondes_client::tls::install_crypto_provider();
    let mut sse =
        reqwest::Client::new().get(format!("{server}/api/streams/main/stream")).send().await.unwrap();
    let heard = tokio::spawn(async move {
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, sse.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.matches("utterance-start").count() >= 6 {
                break;
            }
        }
        text.matches("utterance-start").count()
    });

    let exe = example();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args([
                "--server", &server, "--token", &token, "--turns", "6", "--stt-ms", "20", "--llm-ms", "60",
            ])
            .args(["--slow", "llm", "--json"])
            .output()
            .expect("the example runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let turns: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(turns.len(), 6, "{stdout}");
    for t in &turns {
        assert!(matches!(t["state"].as_str(), Some("playing" | "queued")), "{t}");
        // time to first audio: espeak-ng starts speaking well within a second
        assert!(t["tts_first_audio_ms"].as_f64().unwrap() < 2000.0, "{t}");
    }
    // the model is slowed from the fourth turn on
    assert!(turns[4]["llm_ms"].as_f64().unwrap() >= 300.0, "{stdout}");
    assert!(turns[1]["llm_ms"].as_f64().unwrap() < 300.0, "{stdout}");
    assert_eq!(heard.await.unwrap(), 6, "every reply was heard starting");

    let report = common::get_json(&format!("http://{}/api/perf", s.addr)).await;
    let op = |name: &str| -> Value {
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    for name in ["stt_processing", "llm_response", "tts_synthesis", "end_to_end"] {
        assert_eq!(op(name)["stats"]["count"], 6, "{name}: {}", op(name));
    }
    assert!(report["bottlenecks"].as_array().unwrap().iter().any(|b| b["op"] == "llm_response"), "{report}");
    assert!(
        !report["bottlenecks"].as_array().unwrap().iter().any(|b| b["op"] == "stt_processing"),
        "{report}"
    );
}
