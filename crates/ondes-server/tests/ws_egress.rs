//! WebSocket egress over real loopback connections.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use ondes_core::dsp::rms;
use ondes_core::proto::audio::{Codec, decode_audio};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(url))
        .await
        .expect("connect within 5 s")
        .expect("WebSocket handshake");
    ws
}

async fn next_msg(ws: &mut Ws) -> Message {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("stream open")
            .expect("no error");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        if let Message::Text(t) = next_msg(ws).await {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    loop {
        if let Message::Binary(b) = next_msg(ws).await {
            return b.to_vec();
        }
    }
}

fn ws_url(s: &ondes_server::RunningServer, query: &str) -> String {
    format!("ws://{}/api/audio/ws?{query}", s.addr)
}

#[tokio::test]
async fn pcm16_batches_are_consecutive_and_exact() {
    let s = start("").await;
    let mut ws = connect(&ws_url(&s, "rung=pcm16&batch=2")).await;
    let info = next_text(&mut ws).await;
    assert_eq!(info["type"], "info");
    assert_eq!(info["codec"], "pcm16");
    assert_eq!(info["batch"], 2);
    assert_eq!(info["rungs"], serde_json::json!(["pcm16", "16", "32", "64"]));
    let mut next: Option<u64> = None;
    let mut last_seq = None;
    for _ in 0..10 {
        let msg = next_binary(&mut ws).await;
        let m = decode_audio(&msg, last_seq).unwrap();
        assert_eq!(m.header.codec, Codec::Pcm16);
        assert_eq!(m.header.channels, 2);
        assert_eq!(m.header.sample_rate, 48_000);
        assert_eq!(m.header.frame_us, 20_000);
        if let Some(n) = next {
            assert_eq!(m.header.first_seq, n, "no frame missing between messages");
            assert_eq!(m.frames.len(), 2);
            assert_eq!(m.header.first_seq % 2, 0, "batches are aligned");
        }
        for f in &m.frames {
            assert_eq!(f.len(), 960 * 2 * 2);
        }
        next = Some(m.header.first_seq + m.frames.len() as u64);
        last_seq = Some(m.header.first_seq);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        assert!((now - m.header.capture_us).abs() < 2_000_000);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn opus_rung_decodes_to_the_demo_signal() {
    let s = start("").await;
    let mut ws = connect(&ws_url(&s, "rung=64&batch=1")).await;
    let info = next_text(&mut ws).await;
    assert_eq!(info["codec"], "opus");
    assert_eq!(info["rung"], "64");
    let mut dec = ondes_codec::OpusDecoder::new(48_000, 2).unwrap();
    let mut pcm = Vec::new();
    let mut bytes = 0;
    let mut frames = 0;
    while frames < 50 {
        let msg = next_binary(&mut ws).await;
        let m = decode_audio(&msg, None).unwrap();
        assert_eq!(m.header.codec, Codec::Opus);
        for f in m.frames {
            bytes += f.len();
            frames += 1;
            if f.is_empty() {
                dec.conceal(960, &mut pcm).unwrap();
            } else {
                assert_eq!(dec.decode(f, &mut pcm).unwrap(), 960);
            }
        }
    }
    let kbps = bytes as f64 * 8.0 / (frames as f64 * 0.02) / 1000.0;
    assert!((32.0..=96.0).contains(&kbps), "about 64 kbit/s, got {kbps:.1}");
    let left: Vec<f32> = pcm.iter().step_by(2).copied().collect();
    assert!(rms(&left[left.len() / 2..]) > 0.05, "decoded audio is the demo signal, not silence");
    s.shutdown().await;
}

#[tokio::test]
async fn reports_pings_and_bad_messages() {
    let s = start("").await;
    let mut ws = connect(&ws_url(&s, "rung=pcm16")).await;
    next_text(&mut ws).await;
    ws.send(Message::Text(
        r#"{"type":"report","buffer_ms":60,"target_ms":40,"underruns":1,"concealed_ms":20,"late_frames":0,"lost_frames":2,"received_frames":99,"rtt_ms":1.5}"#.into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(r#"{"type":"ping","id":7,"client_ts_us":123}"#.into())).await.unwrap();
    let pong = next_text(&mut ws).await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["id"], 7);
    assert_eq!(pong["client_ts_us"], 123);
    assert!(pong["server_ts_us"].as_i64().unwrap() > 0);
    ws.send(Message::Text("{garbage".into())).await.unwrap();
    let err = next_text(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"], "bad_json");
    // still streaming after bad input
    next_binary(&mut ws).await;
    // the report is the listener's own words: shown to debug_access only
    let debug = token(&s, &[ondes_server::auth::Permission::DebugAccess]);
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), Some(&debug)).await;
    let c = &stats["connections"][0];
    assert_eq!(c["transport"], "ws");
    assert_eq!(c["client_report"]["underruns"], 1);
    assert_eq!(c["client_report"]["lost_frames"], 2);
    assert_eq!(c["errors_count"], 1);
    s.shutdown().await;
}

/// A listener that sends a huge message (an 8 MB "report") is closed; the server keeps no
/// copy of it and every other listener plays on.
#[tokio::test]
async fn an_oversized_listener_message_closes_only_that_connection() {
    let s = start("").await;
    let mut other = connect(&ws_url(&s, "rung=pcm16")).await;
    next_text(&mut other).await;
    let mut big = connect(&ws_url(&s, "rung=pcm16")).await;
    next_text(&mut big).await;
    let padding = "x".repeat(8 << 20);
    let _ = big.send(Message::Text(format!(r#"{{"type":"report","pad":"{padding}"}}"#).into())).await;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match big.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "the connection that sent 8 MB is closed");
    for _ in 0..10 {
        next_binary(&mut other).await;
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert!(
        stats["connections"].as_array().unwrap().iter().all(|c| c["client_report"].is_null()),
        "nothing of the oversized message is kept"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_get_json_errors() {
    let s = start("").await;
    let (st, b) = get_json(&format!("{}/api/audio/ws?rung=48", s.url()), None).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "bad_rung");
    assert!(b["message"].as_str().unwrap().contains("pcm16, 16, 32, 64"));
    let (st, b) = get_json(&format!("{}/api/audio/ws?batch=0", s.url()), None).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "bad_batch");
    let (st, b) = get_json(&format!("{}/api/audio/ws", s.url()), None).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "not_websocket");
    s.shutdown().await;
}

#[tokio::test]
async fn listeners_share_messages_and_quality_caps_auto() {
    let s = start("").await;
    let mut a = connect(&ws_url(&s, "rung=auto&batch=4")).await;
    let mut b = connect(&ws_url(&s, "rung=auto&batch=4")).await;
    assert_eq!(next_text(&mut a).await["rung"], "64");
    next_text(&mut b).await;
    for _ in 0..5 {
        let ma = next_binary(&mut a).await;
        let mb = loop {
            let mb = next_binary(&mut b).await;
            if decode_audio(&mb, None).unwrap().header.first_seq
                >= decode_audio(&ma, None).unwrap().header.first_seq
            {
                break mb;
            }
        };
        if decode_audio(&mb, None).unwrap().header.first_seq
            == decode_audio(&ma, None).unwrap().header.first_seq
        {
            assert_eq!(ma, mb, "same rung and batch: identical bytes");
        }
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    let ser = stats["serializations_total"].as_u64().unwrap();
    let events = stats["events_sent_total"].as_u64().unwrap();
    assert!(ser * 2 <= events + 2, "messages are made once for both listeners ({ser} made, {events} sent)");

    let ctl = token(&s, &[ondes_server::auth::Permission::StreamControl]);
    let (st, _) = post_json(
        &format!("{}/api/audio/control", s.url()),
        Some(&ctl),
        r#"{"action":"adjust_quality","params":{"quality":0.3}}"#,
    )
    .await;
    assert_eq!(st, 200);
    let rung = loop {
        let v = next_text(&mut a).await;
        if v["type"] == "rung" {
            break v;
        }
    };
    assert_eq!(rung["rung"], "16", "quality 0.3 of a 3-rung ladder caps auto at the lowest rung");
    s.shutdown().await;
}

/// A listener on `rung=auto` whose link carries less than its rung is switched down by the
/// per-listener controller, with the reason, and the switch is counted; once the link
/// carries more again, it is switched back up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_auto_listener_is_switched_down() {
    let s = start("").await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(s.addr).await.unwrap();
    let url = ws_url(&s, "rung=auto&profile=balanced");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.unwrap();
    let info = next_text(&mut ws).await;
    assert_eq!(info["adaptive"], true, "{info}");
    // the jitter advice of the balanced profile (docs/protocol.md)
    assert_eq!(info["jitter"]["target_ms"], 60, "{info}");
    assert_eq!(info["jitter"]["max_ms"], 2000, "{info}");
    assert!(info["jitter"]["rtts"].as_u64().unwrap() >= 1, "{info}");
    let start_rung = info["rung"].as_str().unwrap().parse::<u32>().unwrap();
    // read at ~2.5 KB/s (20 kbit/s): below every rung but the lowest (16 kbit/s)
    let t0 = tokio::time::Instant::now();
    let mut bytes = 0usize;
    let mut switched = None;
    while t0.elapsed() < Duration::from_secs(20) {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        match m {
            Message::Binary(b) => bytes += b.len(),
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "rung" && v["direction"] == "down" {
                    switched = Some(v);
                    break;
                }
            }
            _ => {}
        }
        let due = Duration::from_secs_f64(bytes as f64 / 2_500.0);
        if due > t0.elapsed() {
            tokio::time::sleep(due - t0.elapsed()).await;
        }
    }
    let v = switched.expect("the controller switched the slow listener down");
    let to = v["rung"].as_str().unwrap().parse::<u32>().unwrap();
    assert!(to < start_rung, "down from {start_rung} to {to}");
    assert!(!v["reason"].as_str().unwrap().is_empty() && !v["code"].as_str().unwrap().is_empty());
    let text = client().get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap();
    let down = text
        .lines()
        .find(|l| l.starts_with("ondes_bitrate_switches_total") && l.contains("direction=\"down\""))
        .unwrap();
    assert!(down.ends_with(" 1") || down.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0);
    // the connection's adaptation state is in /debug/connections, with the last decision
    let debug = token(&s, &[ondes_server::auth::Permission::DebugAccess]);
    let (st, dbg) = get_json(&format!("{}/api/audio/debug/connections", s.url()), Some(&debug)).await;
    assert_eq!(st, 200, "{dbg}");
    let conns = dbg["connections"].as_array().unwrap_or_else(|| panic!("{dbg}"));
    let abr = conns.iter().find_map(|c| c["abr"].as_object().cloned()).unwrap_or_else(|| panic!("{dbg}"));
    assert_eq!(abr["profile"], "balanced", "{abr:?}");
    assert!(abr["switches_down"].as_u64().unwrap() >= 1, "{abr:?}");
    assert_eq!(abr["last_decision"]["direction"], "down", "{abr:?}");
    assert!(abr["last_decision"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{abr:?}");
    assert!(abr["rung_kbps"].as_u64().unwrap() < u64::from(start_rung), "{abr:?}");
    // the link recovers (the client reads as fast as audio comes): the controller probes
    // and switches the listener back up. This once never happened on a real socket: the
    // writer sampled the frame it was about to write as waiting, so every window looked
    // link-limited and the rung's own rate passed for the link's capacity.
    // (while this test read /metrics above, audio waited: it may have gone down further)
    let t1 = tokio::time::Instant::now();
    let mut rung = to;
    loop {
        assert!(t1.elapsed() < Duration::from_secs(40), "no switch up within 40 s of the link recovering");
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] != "rung" {
            continue;
        }
        let next = v["rung"].as_str().unwrap().parse::<u32>().unwrap();
        if v["direction"] == "up" && v["code"] == "probe_up" {
            assert!(next > rung, "up from {rung} to {next}: {v}");
            break;
        }
        rung = next;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_profile_is_rejected() {
    let s = start("").await;
    let (st, b) = get_json(&format!("{}/api/audio/ws?profile=turbo", s.url()), None).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "bad_profile");
    s.shutdown().await;
}

/// A listener's profile sets how far behind it may fall: a conversation listener
/// (`ultra_performance`, 150 ms by default) that stops reading is skipped to live and told,
/// although the server-wide `max_listener_lag_ms` (10 s here) is far from reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_budget_skips_a_stalled_listener_early() {
    let s = start("[server]\nmax_listener_lag_ms = 10000\n").await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(s.addr).await.unwrap();
    let url = ws_url(&s, "rung=pcm16&batch=1&profile=ultra_performance");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.unwrap();
    assert_eq!(next_text(&mut ws).await["type"], "info");
    // 3 s without reading: 576 KB of pcm16, more than the sockets' buffers hold
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lagged = loop {
        assert!(tokio::time::Instant::now() < deadline, "no lagged notice within 10 s");
        if let Message::Text(t) = next_msg(&mut ws).await {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["status"] == "lagged" {
                break v;
            }
        }
    };
    let skipped = lagged["skipped_frames"].as_u64().unwrap();
    assert!(skipped >= 5, "skipped to live past the 150 ms budget: {lagged}");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert!(stats["dropped_frames"].as_u64().unwrap() >= skipped, "{stats}");
    s.shutdown().await;
}

/// An adaptive listener's jitter floor follows what TCP reports about its connection
/// (`TCP_INFO`): a clean loopback connection retransmits nothing, so after a calm step the
/// server lowers the floor from three round trips to one retransmission's cover (and later to
/// one message and a margin), each time in a `rung` message with the same rung and the new
/// advice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_connection_gets_a_small_jitter_floor_from_tcp_info() {
    let s = start("").await;
    let mut ws = connect(&ws_url(&s, "rung=auto&profile=conversation")).await;
    let info = next_text(&mut ws).await;
    assert_eq!(info["adaptive"], true, "{info}");
    // a new connection: no TCP history, three round trips (the client multiplies them)
    assert_eq!(info["jitter"]["rtts"], 3, "{info}");
    let message_ms = info["frame_ms"].as_f64().unwrap() * info["batch"].as_f64().unwrap();
    let mut floors = vec![];
    let t0 = tokio::time::Instant::now();
    while floors.len() < 2 && t0.elapsed() < Duration::from_secs(30) {
        let v = next_text(&mut ws).await;
        if v["type"] == "rung" && v["code"] == "tcp_floor" {
            floors.push(v);
        }
    }
    assert_eq!(floors.len(), 2, "two steps down: {floors:?}");
    let (single, clean) = (&floors[0], &floors[1]);
    // one retransmission's cover (1.25 round trips, rounded down to 1), then none
    assert_eq!(single["jitter"]["rtts"], 1, "{single}");
    assert_eq!(clean["jitter"]["rtts"], 0, "{clean}");
    assert!(clean["reason"].as_str().unwrap().contains("no TCP retransmission"), "{clean}");
    // the rung is the listener's own: the floor changed, not the audio
    assert_eq!(clean["rung"], info["rung"], "{clean}");
    // on loopback the round trip is well under a millisecond: one message and a few ms of
    // margin, the profile's own 20 ms target at least
    let floor = clean["jitter"]["target_ms"].as_f64().unwrap();
    assert!(
        (20.0..=message_ms.max(20.0) + 10.0).contains(&floor),
        "floor {floor} ms, message {message_ms} ms"
    );
    assert_eq!(clean["jitter_target_ms"], clean["jitter"]["target_ms"], "{clean}");
    s.shutdown().await;
}
