//! What a stranger (or a careless client) can send, over real loopback HTTP: every case
//! answers with a clear status and JSON error, and leaves nothing behind in the server.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use ondes_server::auth::Permission;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const PUBLISH_STREAM: &str =
    "[[stream]]\nid = \"main\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n";

async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = client().request(method.parse().unwrap(), url).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Writes `raw` on a fresh connection and reads the whole reply (the server closes it).
async fn raw_exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_stream_id_that_is_not_utf8_is_refused_not_taken_for_main() {
    let s = start("").await;
    let admin = token(&s, &[Permission::Admin]);
    let base = s.url();
    for (method, path) in [
        ("GET", "/api/streams/%ff/stats"),
        ("GET", "/api/streams/%ff/stream"),
        ("GET", "/api/streams/%ff/debug/connections"),
        ("POST", "/api/streams/%ff/control"),
        ("POST", "/api/streams/%ff/ingest"),
        ("GET", "/%ff"),
    ] {
        let (st, b) = request(
            method,
            &format!("{base}{path}"),
            Some(&admin),
            Some("application/json"),
            b"{\"action\":\"pause\"}".to_vec(),
        )
        .await;
        assert_eq!(st, 400, "{method} {path}: {b}");
        assert_eq!(b["error"], "bad_stream_id", "{method} {path}: {b}");
    }
    let (_, stats) = get_json(&format!("{base}/api/audio/stats"), None).await;
    assert_eq!(stats["paused"], false, "main was not paused by a request for another stream");
    s.shutdown().await;
}

#[tokio::test]
async fn public_stats_do_not_tell_who_listens() {
    let s = start("").await;
    let sub = token(&s, &[Permission::Subscribe]);
    let mut sse = Sse::open(
        &format!("{}/api/audio/stream?access_token={sub}", s.url()),
        &[("user-agent", "private-agent/1")],
    )
    .await;
    sse.next_audio().await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/audio/ws?rung=pcm16", s.addr)).await.unwrap();
    ws.send(Message::Text(r#"{"type":"report","underruns":3,"received_frames":10}"#.into())).await.unwrap();
    let debug = token(&s, &[Permission::DebugAccess]);
    let stats_url = format!("{}/api/audio/stats", s.url());
    // wait until the report is in (the debug view shows it)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, v) = get_json(&stats_url, Some(&debug)).await;
        let conns = v["connections"].as_array().unwrap().clone();
        if conns.iter().any(|c| c["client_report"]["underruns"] == 3) {
            assert!(
                conns.iter().any(|c| c["user_id"] == "tester" && c["user_agent"] == "private-agent/1"),
                "{v}"
            );
            assert!(conns.iter().all(|c| c["ip_address"] == "127.0.0.1"), "{v}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the report never arrived: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for who in [None, Some(sub.as_str())] {
        let (st, v) = get_json(&stats_url, who).await;
        assert_eq!(st, 200);
        let conns = v["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 2, "{v}");
        for c in conns {
            for k in ["user_id", "ip_address", "user_agent", "client_report"] {
                assert!(c[k].is_null(), "{k} shown without debug_access: {c}");
            }
            assert!(c["frames_sent"].as_u64().is_some(), "counters stay public: {c}");
        }
        assert!(!v.to_string().contains("private-agent"), "{v}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn listeners_with_many_max_fps_values_leave_nothing_behind() {
    let s = start("").await;
    let hub = s.state.hub("main").unwrap();
    let mut listeners = Vec::new();
    // 50 frames/s: each of these merges a different number of frames per event
    for max_fps in [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 9.0, 12.0, 20.0, 30.0] {
        let sse = Sse::open(&format!("{}/api/audio/stream?max_fps={max_fps}", s.url()), &[]).await;
        assert_eq!(sse.status, 200, "max_fps={max_fps}");
        listeners.push(sse);
    }
    assert!(hub.group_watch_count() >= 10, "one wake-up channel per group size: {}", hub.group_watch_count());
    drop(listeners);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while hub.group_watch_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} group sizes left behind",
            hub.group_watch_count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn max_fps_below_what_merging_can_hold_is_refused() {
    let s = start("").await;
    for bad in ["0.4", "0.001", "0.99"] {
        let (st, b) = get_json(&format!("{}/api/audio/stream?max_fps={bad}", s.url()), None).await;
        assert_eq!(st, 400, "max_fps={bad}: {b}");
        assert_eq!(b["error"], "bad_parameter");
        assert!(b["message"].as_str().unwrap().contains("max_fps >= 1.000"), "{b}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn max_fps_at_the_lowest_rate_allowed_merges_without_loss() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream?max_fps=1", s.url()), &[]).await;
    assert_eq!(sse.status, 200);
    let mut frames = Vec::new();
    while frames.len() < 3 {
        let e = sse.next_within(3.0).await.expect("stream open");
        match e.event.as_deref() {
            Some("audio-frame") => {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                frames.push((v["frame_number"].as_u64().unwrap(), v["channel_a"].as_array().unwrap().len()));
            }
            Some("status") => assert!(!e.data.contains("lagged"), "merging lost audio: {}", e.data),
            _ => {}
        }
    }
    // one event per second holds 50 frames; the first may be short (joined mid-group)
    for w in frames.windows(2).skip(1) {
        assert_eq!(w[1].0 - w[0].0, 50, "{frames:?}");
        assert_eq!(w[1].1, w[0].1, "{frames:?}");
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(stats["dropped_frames"], 0, "{stats}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_wav_chunk_claiming_gigabytes_is_refused_before_it_is_buffered() {
    let s = start(PUBLISH_STREAM).await;
    let publish = token(&s, &[Permission::Publish]);
    let mut head = Vec::new();
    head.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVE");
    head.extend_from_slice(b"LIST");
    head.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    head.extend_from_slice(&[0u8; 4096]);
    // a chunked body that never ends: the answer must come from its first chunk alone
    let mut raw = format!(
        "POST /api/audio/ingest HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {publish}\r\n\
         content-type: audio/wav\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
        head.len()
    )
    .into_bytes();
    raw.extend_from_slice(&head);
    raw.extend_from_slice(b"\r\n");
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(&raw).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer while the body is still open")
        .unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("bad_wav") && reply.contains("at most 1 MB"), "{reply}");
    s.shutdown().await;
}

#[tokio::test]
async fn ingest_bodies_that_are_not_audio_get_clear_errors() {
    let s = start(PUBLISH_STREAM).await;
    let publish = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/audio/ingest", s.url());
    for (ct, body, code) in [
        ("audio/L16;rate=abc;channels=1", vec![0u8; 640], "bad_content_type"),
        ("audio/L16;rate=16000;channels=65536", vec![0u8; 640], "bad_content_type"),
        ("audio/L16;rate=16000;channels=0", vec![0u8; 640], "bad_content_type"),
        ("audio/wav", b"RIFF".to_vec(), "no_audio"),
        ("audio/ogg", b"this is not an ogg stream at all, only text".to_vec(), "no_audio"),
        ("audio/L16;rate=16000;channels=1", Vec::new(), "no_audio"),
    ] {
        let (st, b) = request("POST", &url, Some(&publish), Some(ct), body).await;
        assert_eq!(st, 400, "{ct}: {b}");
        assert_eq!(b["error"], code, "{ct}: {b}");
    }
    // a good body: the reply counts this request only
    let (st, b) =
        request("POST", &url, Some(&publish), Some("audio/L16;rate=16000;channels=1"), vec![0u8; 6400]).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["frames_accepted"], 10);
    assert_eq!(b["backpressure_events"], 0);
    s.shutdown().await;
}

#[tokio::test]
async fn quality_that_rounds_to_zero_is_refused() {
    let s = start("").await;
    let ctl = token(&s, &[Permission::StreamControl]);
    let url = format!("{}/api/audio/control", s.url());
    for q in ["1e-50", "0", "-0.5", "1.5"] {
        let body = format!(r#"{{"action":"adjust_quality","params":{{"quality":{q}}}}}"#);
        let (st, b) = post_json(&url, Some(&ctl), &body).await;
        assert_eq!(st, 400, "quality {q}: {b}");
        assert_eq!(b["error"], "bad_quality");
    }
    let (st, _) =
        post_json(&url, Some(&ctl), r#"{"action":"adjust_quality","params":{"quality":0.5}}"#).await;
    assert_eq!(st, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn token_errors_say_what_is_wrong_in_words() {
    let s = start("[auth]\nsecret = \"hostile-secret\"\n").await;
    let url = format!("{}/api/audio/debug/connections", s.url());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"sub": "x", "exp": now + 600, "permissions": ["admin"]});
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"hostile-secret"),
    )
    .unwrap();
    let mut later = claims.clone();
    later["nbf"] = json!(now + 3600);
    let not_yet = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &later,
        &jsonwebtoken::EncodingKey::from_secret(b"hostile-secret"),
    )
    .unwrap();
    // alg "none": nothing to check a signature with
    let none = format!("eyJhbGciOiJub25lIn0.{}.", "eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ");
    for (tok, code, words) in [
        (hs384.as_str(), "invalid_token", "not signed with HS256"),
        (none.as_str(), "invalid_token", "not valid"),
        ("eyJhbGciOiJIUzI1NiJ9.e%%%.abc", "invalid_signature", "signature"),
        ("garbage", "invalid_token", "three base64url parts"),
        (not_yet.as_str(), "token_not_yet_valid", "nbf"),
    ] {
        let (st, b) = get_json(&url, Some(tok)).await;
        assert_eq!(st, 401, "{tok}: {b}");
        assert_eq!(b["error"], code, "{b}");
        let msg = b["message"].as_str().unwrap();
        assert!(msg.contains(words), "{msg}");
        for internal in ["InvalidAlgorithm", "Base64(", "InvalidLastSymbol", "Json("] {
            assert!(!msg.contains(internal), "{msg}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn basic_credentials_on_an_open_stream_are_not_taken_for_a_bad_token() {
    let s = start("").await;
    let sse =
        Sse::open(&format!("{}/api/audio/stream", s.url()), &[("authorization", "Basic dXNlcjpwYXNz")]).await;
    assert_eq!(sse.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn a_last_event_id_past_the_end_starts_at_live() {
    let s = start("").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    let live = stats["total_frames"].as_u64().unwrap();
    assert!(live >= 50);
    let mut sse =
        Sse::open(&format!("{}/api/audio/stream?last_event_id=frame-18446744073709551615", s.url()), &[])
            .await;
    assert_eq!(sse.status, 200);
    let first = sse.next_audio().await["frame_number"].as_u64().unwrap();
    assert!(first + 5 >= live, "started at frame {first}, live was {live}");
    s.shutdown().await;
}

#[tokio::test]
async fn perf_spans_cannot_crowd_out_other_clients_or_poison_a_stage() {
    let s =
        start("[perf]\nmax_operations = 40\nmax_operations_per_client = 8\noperation_idle_secs = 1\n").await;
    let url = format!("{}/api/perf/spans", s.url());
    let mint = |sub: &str| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        s.state.auth.mint(sub, &[Permission::Publish], 600, now)
    };
    let (a, b) = (mint("junk-client"), mint("good-client"));
    let junk: Vec<Value> = (0..12).map(|i| json!({"name": format!("junk_{i}"), "duration_us": 5})).collect();
    let (st, r) = post_json(&url, Some(&a), &json!({ "spans": junk }).to_string()).await;
    assert_eq!(st, 200);
    assert_eq!(r["accepted"], 8, "{r}");
    assert_eq!(r["rejected"].as_array().unwrap().len(), 4);
    assert!(r["rejected"][0]["message"].as_str().unwrap().contains("max_operations_per_client"), "{r}");
    let (_, r) = post_json(&url, Some(&b), r#"[{"name":"tts_synthesis","duration_us":1000}]"#).await;
    assert_eq!(r["accepted"], 1, "another client still records: {r}");
    let (st, r) =
        post_json(&url, Some(&b), &format!(r#"[{{"name":"llm","duration_us":{}}}]"#, u64::MAX)).await;
    assert_eq!(st, 400, "{r}");
    assert!(r["message"].as_str().unwrap().contains("one hour"), "{r}");
    s.shutdown().await;
}

#[tokio::test]
async fn idle_span_names_give_their_place_to_new_ones() {
    // 19 built-in operations + 2 slots for clients
    let s = start("[perf]\nmax_operations = 21\noperation_idle_secs = 1\n").await;
    let url = format!("{}/api/perf/spans", s.url());
    let t = token(&s, &[Permission::Publish]);
    let (_, r) =
        post_json(&url, Some(&t), r#"[{"name":"old_a","duration_us":5},{"name":"old_b","duration_us":5}]"#)
            .await;
    assert_eq!(r["accepted"], 2, "{r}");
    let (_, r) = post_json(&url, Some(&t), r#"[{"name":"fresh","duration_us":5}]"#).await;
    assert_eq!(r["accepted"], 0, "the table is full and nothing is idle yet: {r}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, r) = post_json(&url, Some(&t), r#"[{"name":"fresh","duration_us":5}]"#).await;
    assert_eq!(r["accepted"], 1, "{r}");
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    let text = report.to_string();
    assert!(text.contains("\"fresh\""), "{text}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_publisher_held_by_backpressure_is_told_when_the_server_stops() {
    let s = start(PUBLISH_STREAM).await;
    let publish = token(&s, &[Permission::Publish]);
    let mut ws = ws_publisher(&format!("ws://{}/api/audio/publish", s.addr), Some(&publish)).await.unwrap();
    // far faster than real time, until the server holds us back
    let frame = vec![0u8; 640];
    let mut seq = 0u64;
    let held = async {
        loop {
            let h = ondes_core::proto::audio::AudioHeader {
                codec: ondes_core::proto::audio::Codec::Pcm16,
                channels: 1,
                frame_count: 10,
                frame_us: 20_000,
                sample_rate: 16_000,
                first_seq: seq,
                capture_us: 0,
            };
            let frames: Vec<&[u8]> = (0..10).map(|_| &frame[..]).collect();
            let mut msg = Vec::new();
            ondes_core::proto::audio::encode_audio(&h, &frames, &mut msg).unwrap();
            seq += 10;
            ws.send(Message::Binary(msg.into())).await.unwrap();
            while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(1), ws.next()).await {
                if let Message::Text(t) = m
                    && t.contains("\"backpressure\"")
                {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), held).await.expect("backpressure within 10 s");
    let t0 = std::time::Instant::now();
    let stop = tokio::spawn(s.shutdown());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await.expect("told within 3 s") {
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(_)) => continue,
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    assert!(close.reason.contains("shutting down"), "{close:?}");
    stop.await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4), "shutdown took {:?} (grace is 5 s)", t0.elapsed());
}

#[tokio::test]
async fn raw_http_garbage_gets_json_errors() {
    let s = start("").await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(20_000));
    let many_headers = format!(
        "GET /api/time HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
    );
    let big_header = format!("GET /api/time HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "b".repeat(70_000));
    for (raw, status) in [
        (b"GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n".to_vec(), "400"),
        (long_uri.into_bytes(), "414"),
        (many_headers.into_bytes(), "431"),
        (big_header.into_bytes(), "431"),
    ] {
        let reply = raw_exchange(s.addr, &raw).await;
        let start = String::from_utf8_lossy(&raw[..40.min(raw.len())]).into_owned();
        assert!(reply.starts_with(&format!("HTTP/1.1 {status}")), "{start}: {reply}");
        assert!(reply.contains("content-type: application/json"), "{reply}");
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or("");
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"));
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    }
    s.shutdown().await;
}

/// How long the server keeps `tcp` open while it sends nothing (reads until the close).
async fn open_for(tcp: &mut tokio::net::TcpStream) -> Duration {
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after 10 s"),
        }
    }
}

#[tokio::test]
async fn silent_and_idle_kept_alive_connections_are_closed_at_the_head_timeout() {
    let s = start("[server]\nheader_timeout_secs = 2\n").await;
    // sends nothing at all
    let mut silent = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let kept = open_for(&mut silent).await;
    assert!(kept >= Duration::from_millis(1500) && kept < Duration::from_secs(4), "{kept:?}");
    // one request answered on a kept-alive connection, then nothing
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /api/time HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let kept = open_for(&mut idle).await;
    assert!(kept >= Duration::from_millis(1500) && kept < Duration::from_secs(4), "{kept:?}");
    // a second head sent a byte at a time, too slowly, on a kept-alive connection
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /api/time HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let _ = slow.read(&mut buf).await.unwrap();
    let t0 = std::time::Instant::now();
    for b in b"GET /api/time HTTP/1.1\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if t0.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let kept = t0.elapsed() + open_for(&mut slow).await;
    assert!(kept < Duration::from_secs(6), "{kept:?}");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert!(stats["pending_timed_out_total"].as_u64().unwrap() >= 1, "{stats}");
    s.shutdown().await;
}
