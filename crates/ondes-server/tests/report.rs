//! `GET /api/streams/{id}/report` with real listeners over loopback: the efficiency the
//! server reports is the one a client counts from the bytes it received; a listener's time to
//! recover from excess delay, from its reports, in `/debug/connections`.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use ondes_core::proto::audio::decode_audio;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a WebSocket client counts over its first `messages` audio messages: (audio payload
/// bytes, bytes of the messages on the wire including the WebSocket frame header). The
/// connection is handed back open, so that the server still counts it as a listener.
async fn count_ws(url: String, messages: usize) -> (Ws, u64, u64) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("handshake");
    let (mut payload, mut wire, mut n) = (0u64, 0u64, 0);
    while n < messages {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        let len = m.len() as u64;
        // a server frame's header: 2 bytes, 4 from 126 bytes, 10 from 64 KiB
        wire += len
            + if len < 126 {
                2
            } else if len < 65_536 {
                4
            } else {
                10
            };
        if let Message::Binary(b) = m {
            let a = decode_audio(&b, None).expect("an audio message");
            payload += a.frames.iter().map(|f| f.len() as u64).sum::<u64>();
            n += 1;
        }
    }
    (ws, payload, wire)
}

#[tokio::test]
async fn efficiency_matches_what_the_client_counts_and_latency_is_reported() {
    let s = start("").await;
    let url = format!("ws://{}/api/streams/main/ws?rung=32&batch=1", s.addr);
    let (mut ws, payload, wire) = count_ws(url, 100).await;
    // the report while the listener is on
    let (st, r) = get_json(&format!("{}/api/streams/main/report", s.url()), None).await;
    assert_eq!(st, 200, "{r}");
    let _ = ws.close(None).await;
    assert_eq!(r["listeners"], 1, "{r}");
    let server = r["global_efficiency_percent"].as_f64().unwrap();
    let counted = payload as f64 * 100.0 / wire as f64;
    // the same kind of messages, a few more on the server (written since) and its info and pings
    assert!((server - counted).abs() < 3.0, "server {server}% vs client {counted}% ({r})");
    assert!(server > 50.0 && server < 100.0, "{r}");
    let link = r["link_efficiency_percent"].as_f64().unwrap();
    assert!(link < server, "headers on the link lower it: {r}");
    assert!(r["payload_sent_bytes"].as_u64().unwrap() > 0, "{r}");
    assert!(r["current_latency_ms"]["p50"].as_f64().is_some(), "{r}");
    assert_eq!(r["error_rate_percent"], 0.0, "{r}");

    // PCM: 16-bit samples in big messages, efficiency close to 100%
    let url = format!("ws://{}/api/streams/main/ws?rung=pcm16&batch=4", s.addr);
    let (mut ws, _, _) = count_ws(url, 25).await;
    // once the first listener has gone
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let r = loop {
        let (_, r) = get_json(&format!("{}/api/audio/report", s.url()), None).await;
        if r["listeners"] == 1 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r["by_transport"]["ws"], 1, "{r}");
    let _ = ws.close(None).await;
    let server = r["global_efficiency_percent"].as_f64().unwrap();
    assert!(server > 95.0, "{r}");

    let (st, r) = get_json(&format!("{}/api/streams/nope/report", s.url()), None).await;
    assert_eq!(st, 404, "{r}");
    s.shutdown().await;
}

/// A listener's reports of its buffer against its target: an excess-delay episode and its
/// time to recover appear in `/debug/connections`, and one that lasts is a warning.
#[tokio::test]
async fn time_to_recover_from_a_listeners_reports() {
    use futures_util::SinkExt;
    let s = start("").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/audio/ws?rung=64", s.addr)).await.unwrap();
    let report = |buffer: f64| {
        Message::text(
            serde_json::json!({"type": "report", "buffer_ms": buffer, "target_ms": 100, "received_frames": 10})
                .to_string(),
        )
    };
    let t = token(&s, &[ondes_server::auth::Permission::DebugAccess]);
    let conn = || async { get_json(&format!("{}/api/audio/debug/connections", s.url()), Some(&t)).await.1 };
    ws.send(report(100.0)).await.unwrap();
    ws.send(report(900.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    ws.send(report(300.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    ws.send(report(110.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = conn().await;
    let r = &v["connections"][0]["time_to_recover"];
    assert_eq!(r["episodes"], 1, "{v}");
    let last = r["last_ms"].as_u64().unwrap();
    assert!((700..2_000).contains(&last), "about 800 ms above target: {r}");
    assert!(r["in_excess_ms"].is_null(), "{r}");
    // a delay that stays above target for more than 3 s is a warning
    ws.send(report(2_000.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    ws.send(report(1_900.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = conn().await;
    let w = v["connections"][0]["warnings"].to_string();
    assert!(w.contains("above its target"), "{v}");
    s.shutdown().await;
}
