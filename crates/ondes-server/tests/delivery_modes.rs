//! Delivery modes over real WebSocket connections: legacy (one fixed rung and profile),
//! adaptive, canary (a share of new listeners adaptive, compared with the rest), the run-time
//! `set_mode` and `set_profile` actions, and the canary's rollback with its reason in the
//! stream's report. (The rollback on a real impaired link, with real listeners, is in the
//! binary's `canary_cli` test.)

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use ondes_server::auth::Permission;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const DEMO: &str = "[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\nrungs = \"16,32,64\"\n";

async fn connect(s: &ondes_server::RunningServer, query: &str) -> (Ws, Value) {
    let url = format!("ws://{}/api/streams/main/ws?{query}", s.addr);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url))
        .await
        .expect("connect within 5 s")
        .expect("handshake");
    let info = next_text(&mut ws, "info", 5.0).await;
    (ws, info)
}

/// The next text message of `kind`, skipping audio and other messages.
async fn next_text(ws: &mut Ws, kind: &str, secs: f64) -> Value {
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    loop {
        let m = tokio::time::timeout_at(until, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within {secs} s"))
            .expect("connection open")
            .expect("a message");
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn control(s: &ondes_server::RunningServer, body: Value) -> (u16, Value) {
    let t = token(s, &[Permission::StreamControl]);
    let (st, v) =
        post_json(&format!("{}/api/streams/main/control", s.url()), Some(&t), &body.to_string()).await;
    (st.as_u16(), v)
}

async fn report(s: &ondes_server::RunningServer) -> Value {
    get_json(&format!("{}/api/streams/main/report", s.url()), None).await.1
}

#[tokio::test]
async fn legacy_delivery_is_one_fixed_rung_and_profile_and_canary_splits_new_listeners() {
    let s = start(&format!(
        "[abr]\nmode = \"legacy\"\n[abr.legacy]\nrung_kbps = 32\nprofile = \"high_throughput\"\n{DEMO}"
    ))
    .await;
    let (_a, info) = connect(&s, "rung=auto").await;
    assert_eq!((info["rung"].as_str(), info["adaptive"].as_bool()), (Some("32"), Some(false)), "{info}");
    // high_throughput's 480 ms messages on a 20 ms stream
    assert_eq!(info["batch"], 24, "{info}");
    // a listener that chose its rung is in no group
    let (_b, info) = connect(&s, "rung=64").await;
    assert_eq!(info["rung"], "64");
    let r = report(&s).await;
    assert_eq!(r["delivery_mode"]["mode"], "legacy", "{r}");
    assert_eq!(r["adaptive"]["delivery_groups"], json!({"legacy": 1}), "{r}");

    let (st, v) =
        control(&s, json!({"action": "set_mode", "params": {"mode": "canary", "fraction": 0.5}})).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["message"].as_str().unwrap().contains("50%"), "{v}");
    // new listeners alternate: legacy, adaptive, legacy, adaptive
    let mut adaptive = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..4 {
        let (ws, info) = connect(&s, "rung=auto").await;
        adaptive.push(info["adaptive"].as_bool().unwrap());
        keep.push(ws);
    }
    assert_eq!(adaptive, [false, true, false, true]);
    let r = report(&s).await;
    assert_eq!(r["adaptive"]["delivery_groups"], json!({"legacy": 3, "adaptive": 2}), "{r}");
    s.shutdown().await;
}

#[tokio::test]
async fn set_mode_and_set_profile_move_connected_listeners() {
    let s = start(DEMO).await;
    let (mut ws, info) = connect(&s, "rung=auto").await;
    assert_eq!(info["adaptive"], true, "adaptive is the default mode: {info}");

    let (st, v) = control(&s, json!({"action": "set_mode", "params": {"mode": "legacy"}})).await;
    assert_eq!(st, 200, "{v}");
    let m = next_text(&mut ws, "rung", 5.0).await;
    assert_eq!((m["code"].as_str(), m["rung"].as_str()), (Some("delivery_mode"), Some("64")), "{m}");
    assert_eq!(m["profile"], "balanced", "legacy's default profile: {m}");

    // a profile forced for the stream, then lifted
    let (st, v) = control(&s, json!({"action": "set_profile", "params": {"profile": "conversation"}})).await;
    assert_eq!(st, 200, "{v}");
    let m = next_text(&mut ws, "rung", 5.0).await;
    assert_eq!(
        (m["code"].as_str(), m["profile"].as_str()),
        (Some("profile_forced"), Some("ultra_performance"))
    );
    assert_eq!(m["batch"], 1, "ultra_performance's 10 ms messages on a 20 ms stream: one frame: {m}");
    let (_, v) = control(&s, json!({"action": "set_profile", "params": {"profile": "auto"}})).await;
    assert!(v["message"].as_str().unwrap().contains("lifted"), "{v}");
    let m = next_text(&mut ws, "rung", 5.0).await;
    assert_eq!(m["code"], "profile_released", "{m}");

    // back to adaptive, then one connection's profile
    control(&s, json!({"action": "set_mode", "params": {"mode": "adaptive"}})).await;
    let m = next_text(&mut ws, "rung", 5.0).await;
    assert_eq!(m["code"], "delivery_mode", "{m}");
    let t = token(&s, &[Permission::DebugAccess]);
    let conns = get_json(&format!("{}/api/streams/main/debug/connections", s.url()), Some(&t)).await.1;
    let conn = conns["connections"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(conns["connections"][0]["delivery"], "adaptive", "{conns}");
    let (st, v) = control(
        &s,
        json!({"action": "set_profile", "params": {"profile": "high_throughput", "connection": conn}}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let m = next_text(&mut ws, "rung", 5.0).await;
    assert_eq!(
        (m["code"].as_str(), m["profile"].as_str()),
        (Some("profile_forced"), Some("high_throughput"))
    );
    assert_eq!(report(&s).await["delivery_mode"]["forced_connection_profiles"], 1);
    drop(ws);
    // the connection's forced profile goes with it
    let mut gone = false;
    for _ in 0..50 {
        if report(&s).await["delivery_mode"]["forced_connection_profiles"] == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the forced profile of a closed connection is dropped");
    s.shutdown().await;
}

#[tokio::test]
async fn bad_mode_and_profile_requests_are_clear_errors() {
    let s = start(DEMO).await;
    for (body, code) in [
        (json!({"action": "set_mode"}), "bad_mode"),
        (json!({"action": "set_mode", "params": {"mode": "turbo"}}), "bad_mode"),
        (json!({"action": "set_mode", "params": {"mode": "canary", "fraction": 1.5}}), "bad_fraction"),
        (json!({"action": "set_mode", "params": {"mode": "canary", "fraction": "half"}}), "bad_fraction"),
        (json!({"action": "set_profile", "params": {"profile": "fastest"}}), "bad_profile"),
        (
            json!({"action": "set_profile", "params": {"profile": "balanced", "connection": "x"}}),
            "bad_connection",
        ),
    ] {
        let (st, v) = control(&s, body.clone()).await;
        assert_eq!((st, v["error"].as_str()), (400, Some(code)), "{body}: {v}");
        assert!(v["message"].as_str().unwrap().len() > 20, "{v}");
    }
    let (st, v) = control(
        &s,
        json!({"action": "set_profile", "params": {"profile": "balanced", "connection": "999999"}}),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (404, Some("unknown_connection")), "{v}");
    // nothing changed
    assert_eq!(report(&s).await["delivery_mode"]["mode"], "adaptive");
    s.shutdown().await;
}

/// A listener's report, cumulative.
fn client_report(concealed_ms: f64, underruns: u64, latency_ms: f64) -> Message {
    Message::text(
        json!({"type": "report", "buffer_ms": 60, "target_ms": 60, "underruns": underruns,
               "concealed_ms": concealed_ms, "received_frames": 100, "e2e_latency_ms": latency_ms})
        .to_string(),
    )
}

#[tokio::test]
async fn the_canary_rolls_adaptive_back_when_its_listeners_fare_worse() {
    let s = start(&format!(
        "[abr]\nmode = \"canary\"\n[abr.canary]\nfraction = 0.5\nrollback_after_secs = 1.0\nwindow_secs = 3.0\n{DEMO}"
    ))
    .await;
    let (mut legacy, info) = connect(&s, "rung=auto").await;
    assert_eq!(info["adaptive"], false);
    let (mut adaptive, info) = connect(&s, "rung=auto").await;
    assert_eq!(info["adaptive"], true);
    // both report every 200 ms; the adaptive listener conceals 100 ms each time
    let mut rolled_back = None;
    for i in 0..40u64 {
        legacy.send(client_report(0.0, 0, 80.0)).await.unwrap();
        adaptive.send(client_report(i as f64 * 100.0, i, 85.0)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = report(&s).await;
        if i == 3 {
            assert_eq!(r["delivery_mode"]["verdict"]["state"], "adaptive_worse", "{r}");
        }
        if r["delivery_mode"]["mode"] == "legacy" {
            rolled_back = Some(r);
            break;
        }
    }
    let r = rolled_back.expect("rolled back to legacy within 8 s");
    let reason = r["delivery_mode"]["rollback"]["reason"].as_str().unwrap();
    assert!(reason.contains("concealed") && reason.contains("rolled back to legacy"), "{reason}");
    assert!(r["improvement_factor"].as_f64().unwrap() < 0.1, "{r}");
    // the adaptive listener was moved to legacy delivery and told why (after the decisions
    // its own controller made on those reports)
    loop {
        let m = next_text(&mut adaptive, "rung", 5.0).await;
        if m["code"] == "delivery_mode" {
            assert!(m["reason"].as_str().unwrap().contains("legacy"), "{m}");
            break;
        }
    }
    let metrics = client().get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ondes_delivery_rollbacks_total{stream=\"main\"} 1"), "rollback counted");
    s.shutdown().await;
}
