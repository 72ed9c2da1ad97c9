//! Named quality levels (`quality=low|medium|high|lossless`) on every transport that offers
//! a rung, and in `adjust_quality`, over real loopback connections.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use ondes_server::auth::Permission;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const MUSIC: &str = "[webrtc]\nudp_port = 0\nips = [\"127.0.0.1\"]\n[[stream]]\nid = \"radio\"\nsource = \"tone:demo\"\nrungs = \"music\"\n";

/// The rung named in a WebSocket listener's first `info` message.
async fn ws_rung(s: &ondes_server::RunningServer, stream: &str, query: &str) -> String {
    let url = format!("ws://{}/api/streams/{stream}/ws?{query}", s.addr);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url))
        .await
        .expect("connect within 5 s")
        .expect("handshake");
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "info" {
                return v["rung"].as_str().unwrap().to_string();
            }
        }
    }
}

/// The response head of an Icecast-style GET.
async fn icecast_head(s: &ondes_server::RunningServer, path: &str) -> String {
    let mut l = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    l.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nIcy-MetaData: 1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), l.read(&mut buf)).await.unwrap().unwrap();
    String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase()
}

#[tokio::test]
async fn levels_map_onto_each_streams_ladder_over_websocket() {
    let s = start(MUSIC).await;
    // the music ladder is 64 … 320 kbit/s
    assert_eq!(ws_rung(&s, "radio", "quality=low").await, "64");
    assert_eq!(ws_rung(&s, "radio", "quality=medium").await, "128");
    assert_eq!(ws_rung(&s, "radio", "quality=high").await, "320");
    assert_eq!(ws_rung(&s, "radio", "quality=lossless").await, "pcm16");
    // the demo stream's speech ladder is 16, 32, 64
    let d = start("").await;
    assert_eq!(ws_rung(&d, "main", "quality=low").await, "32");
    assert_eq!(ws_rung(&d, "main", "quality=HIGH").await, "64");
    d.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_bad_or_doubled_choice_is_a_json_error_naming_the_levels() {
    let s = start(MUSIC).await;
    let base = s.url();
    let (st, b) = get_json(&format!("{base}/api/streams/radio/ws?quality=best"), None).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (400, Some("bad_quality")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("low, medium, high or lossless"), "{b}");
    let (st, b) = get_json(&format!("{base}/api/streams/radio/ws?quality=low&rung=64"), None).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (400, Some("rung_and_quality")), "{b}");
    // Ogg/Opus and WebRTC carry Opus only: lossless is refused and the message says where it is
    let (st, b) = get_json(&format!("{base}/radio?quality=lossless"), None).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (406, Some("lossless_not_offered")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("/api/streams/radio/ws?quality=lossless"), "{b}");
    let r = client()
        .post(format!("{base}/api/streams/radio/whep?quality=lossless"))
        .header("content-type", "application/sdp")
        .body("v=0\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "lossless_not_offered", "{b}");
    // the server still serves everyone else
    assert_eq!(ws_rung(&s, "radio", "quality=medium").await, "128");
    s.shutdown().await;
}

#[tokio::test]
async fn icecast_and_hls_take_levels() {
    let s = start(MUSIC).await;
    let head = icecast_head(&s, "/radio.opus?quality=medium").await;
    assert!(head.starts_with("http/1.1 200") && head.contains("icy-br: 128"), "{head}");
    let head = icecast_head(&s, "/radio?quality=high").await;
    assert!(head.contains("icy-br: 320"), "{head}");
    // an HLS rung path may be a level: hls/low/ is the 64 kbit/s rung's
    let r = client().get(format!("{}/api/streams/radio/hls/low/media.m3u8", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let playlist = r.text().await.unwrap();
    assert!(playlist.contains("#EXT-X-PART-INF"), "{playlist}");
    let (st, b) = get_json(&format!("{}/api/streams/radio/hls/best/media.m3u8", s.url()), None).await;
    assert_eq!(st, 404);
    assert!(b["message"].as_str().unwrap().contains("low, medium, high"), "{b}");
    s.shutdown().await;
}

#[tokio::test]
async fn adjust_quality_takes_a_level_and_caps_listeners_without_a_choice() {
    let s = start(MUSIC).await;
    let ctl = token(&s, &[Permission::StreamControl]);
    let url = format!("{}/api/streams/radio/control", s.url());
    assert!(icecast_head(&s, "/radio").await.contains("icy-br: 320"), "the top rung without a cap");
    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream", s.url()), &[]).await;
    assert_eq!(sse.next_audio().await["sample_rate"], 48_000);
    let (st, b) =
        post_json(&url, Some(&ctl), r#"{"action":"adjust_quality","params":{"quality":"low"}}"#).await;
    assert_eq!(st, 200, "{b}");
    assert!(b["message"].as_str().unwrap().contains("low (0.25): 12000 Hz"), "{b}");
    assert!(b["message"].as_str().unwrap().contains("best rung 64 kbit/s"), "{b}");
    // PCM listeners get a quarter of the rate, not a sixth (the low rung's place on the ladder)
    let q: Value = serde_json::from_str(&sse.next_of("status", 2.0).await.data).unwrap();
    assert_eq!((q["level"].as_str(), q["sample_rate"].as_u64()), (Some("low"), Some(12_000)), "{q}");
    assert_eq!(sse.next_audio().await["sample_rate"], 12_000);
    let (_, stats) = get_json(&format!("{}/api/streams/radio/stats", s.url()), None).await;
    assert_eq!(stats["quality_level"], "low", "{stats}");
    // an Icecast listener without a choice (the top rung before) now gets the low rung
    assert!(icecast_head(&s, "/radio").await.contains("icy-br: 64"));
    let (st, b) =
        post_json(&url, Some(&ctl), r#"{"action":"adjust_quality","params":{"quality":"medium"}}"#).await;
    assert_eq!(st, 200, "{b}");
    assert!(icecast_head(&s, "/radio").await.contains("icy-br: 128"));
    let (st, b) =
        post_json(&url, Some(&ctl), r#"{"action":"adjust_quality","params":{"quality":"loud"}}"#).await;
    assert_eq!((st.as_u16(), b["error"].as_str()), (400, Some("bad_quality")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("loud"), "{b}");
    s.shutdown().await;
}
