//! Streams created on demand by publishers and removed after they leave, over real loopback
//! connections: the registry seen through /api/streams, /status-json.xsl and /metrics, and the
//! listeners of a removed stream told that it ended.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};
use ondes_server::RunningServer;
use ondes_server::auth::Permission;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A demo stream, a publish stream and two templates (16 kHz mono publish, 48 kHz mono Icecast).
fn config(linger_secs: u64, max_streams: usize) -> String {
    format!(
        "[server]\non_demand_linger_secs = {linger_secs}\nmax_streams = {max_streams}\n\
         [[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n\
         [[stream]]\nid = \"studio\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n\
         [[stream]]\nid = \"live-*\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n\
         [[stream]]\nid = \"radio-*\"\nsource = \"icecast\"\nsource_password = \"hackme\"\nchannels = 1\nrungs = \"64\"\n"
    )
}

async fn publisher(s: &RunningServer, id: &str, token: Option<&str>) -> Result<Ws, u16> {
    common::ws_publisher(&format!("ws://{}/api/streams/{id}/publish", s.addr), token).await
}

/// `n` frames of a 16 kHz mono 500 Hz tone from `first`, as one pcm16 message.
fn tone(first: u64, n: u64) -> Message {
    let frames: Vec<Vec<u8>> = (first..first + n)
        .map(|seq| {
            (0..320u64)
                .flat_map(|i| {
                    let t = (seq * 320 + i) as f64 / 16_000.0;
                    ((0.5 * (2.0 * std::f64::consts::PI * 500.0 * t).sin() * 32767.0) as i16).to_le_bytes()
                })
                .collect()
        })
        .collect();
    let h = AudioHeader {
        codec: Codec::Pcm16,
        channels: 1,
        frame_count: n as u8,
        frame_us: 20_000,
        sample_rate: 16_000,
        first_seq: first,
        capture_us: 0,
    };
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let mut out = Vec::new();
    encode_audio(&h, &refs, &mut out).unwrap();
    Message::Binary(out.into())
}

/// The next JSON text message, skipping audio and pings.
async fn next_text(ws: &mut Ws, secs: u64) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(secs), ws.next())
            .await
            .expect("a text message in time")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Publishes `frames` frames (in batches of 5) and waits for the last ack.
async fn publish_frames(ws: &mut Ws, first: u64, frames: u64) {
    for b in (first..first + frames).step_by(5) {
        ws.send(tone(b, 5)).await.unwrap();
    }
    loop {
        let v = next_text(ws, 10).await;
        if v["type"] == "ack" && v["seq"].as_u64() == Some(first + frames - 1) {
            return;
        }
    }
}

async fn stream_ids(s: &RunningServer) -> Vec<String> {
    let (st, v) = get_json(&format!("{}/api/streams", s.url()), None).await;
    assert_eq!(st, 200);
    v["streams"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

async fn stream_entry(s: &RunningServer, id: &str) -> Option<Value> {
    let (_, v) = get_json(&format!("{}/api/streams", s.url()), None).await;
    v["streams"].as_array().unwrap().iter().find(|s| s["id"] == id).cloned()
}

/// Waits until `id` is gone from /api/streams; returns how long that took.
async fn wait_until_removed(s: &RunningServer, id: &str, secs: u64) -> Duration {
    let t0 = Instant::now();
    while stream_ids(s).await.iter().any(|x| x == id) {
        assert!(t0.elapsed() < Duration::from_secs(secs), "stream '{id}' still listed after {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t0.elapsed()
}

async fn metrics(s: &RunningServer) -> String {
    client().get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap()
}

/// The sources of /status-json.xsl (absent, one object or an array, as Icecast has it).
async fn icecast_sources(s: &RunningServer) -> Vec<Value> {
    let (_, v) = get_json(&format!("{}/status-json.xsl", s.url()), None).await;
    match &v["icestats"]["source"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

fn lists_mount(sources: &[Value], mount: &str) -> bool {
    sources.iter().any(|s| s["listenurl"].as_str().is_some_and(|u| u.ends_with(mount)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_added_and_removed_at_run_time_tells_its_listeners() {
    let s = start(&config(1, 10)).await;
    let url = s.url();
    let publ = token(&s, &[Permission::Publish]);
    assert_eq!(stream_ids(&s).await, ["main", "studio"]);
    let (st, v) = get_json(&format!("{url}/api/streams"), None).await;
    assert_eq!(st, 200);
    assert_eq!(v["on_demand"]["templates"][0]["id"], "live-*");
    assert_eq!(v["on_demand"]["max_streams"], 10);
    let (st, v) = get_json(&format!("{url}/api/streams/live-a/stats"), None).await;
    assert_eq!((st.as_u16(), v["error"].as_str()), (404, Some("stream_not_live")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("live-*"), "{v}");

    // a publisher appears: the stream exists, made from the template
    let mut ws = publisher(&s, "live-a", Some(&publ)).await.expect("publisher accepted");
    let info = next_text(&mut ws, 5).await;
    assert_eq!((info["type"].as_str(), info["stream"].as_str()), (Some("info"), Some("live-a")), "{info}");
    assert_eq!(info["sample_rate"], 16_000);
    let entry = stream_entry(&s, "live-a").await.expect("live-a is listed");
    assert_eq!(entry["origin"], "on_demand");
    assert_eq!(entry["on_demand"], true);
    assert_eq!(entry["template"], "live-*");
    assert_eq!((entry["sample_rate"].as_u64(), entry["channels"].as_u64()), (Some(16_000), Some(1)));
    assert_eq!(stream_entry(&s, "main").await.unwrap()["origin"], "declared");

    // listeners on every transport
    let mut sse = Sse::open(&format!("{url}/api/streams/live-a/stream"), &[]).await;
    assert_eq!(sse.status, 200);
    let (mut listener, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/streams/live-a/ws?rung=pcm16", s.addr))
            .await
            .expect("WebSocket listener");
    let ogg = client().get(format!("{url}/live-a")).send().await.unwrap();
    assert_eq!(ogg.status(), 200);
    let ogg_reader = tokio::spawn(async move {
        let mut body = ogg.bytes_stream();
        let mut bytes = 0usize;
        let t0 = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(15), body.next()).await {
                Ok(Some(Ok(chunk))) => bytes += chunk.len(),
                Ok(None) | Ok(Some(Err(_))) => return (bytes, t0.elapsed()),
                Err(_) => panic!("the Ogg body neither sent nor ended for 15 s"),
            }
        }
    });

    publish_frames(&mut ws, 0, 50).await;
    let audio = sse.next_audio().await;
    assert_eq!(audio["sample_rate"], 16_000);
    let (st, stats) = get_json(&format!("{url}/api/streams/live-a/stats"), None).await;
    assert_eq!(st, 200, "{stats}");
    assert_eq!(stats["publisher"]["connected"], true, "{stats}");
    assert!(metrics(&s).await.contains("stream=\"live-a\""), "/metrics has the on-demand stream");
    assert!(lists_mount(&icecast_sources(&s).await, "/live-a"), "/status-json.xsl lists it");

    // the publisher leaves: after its queue played out and the linger, the stream goes
    ws.close(None).await.unwrap();
    let left = Instant::now();
    let error = sse.next_of("error", 10.0).await;
    assert!(error.data.contains("publisher left"), "{}", error.data);
    assert!(sse.try_next(2.0).await.is_none(), "the SSE body ends after the error event");
    assert!(
        left.elapsed() >= Duration::from_millis(900),
        "removed before the 1 s linger: {:?}",
        left.elapsed()
    );
    loop {
        let v = next_text(&mut listener, 10).await;
        if v["type"] == "error" {
            assert_eq!(v["error"], "stream_ended", "{v}");
            break;
        }
    }
    let (ogg_bytes, _) = ogg_reader.await.unwrap();
    assert!(ogg_bytes > 0, "the Ogg listener got audio before its body ended");

    assert!(!stream_ids(&s).await.contains(&"live-a".to_string()));
    for path in ["/api/streams/live-a/stats", "/api/streams/live-a/stream", "/live-a"] {
        let (st, v) = get_json(&format!("{url}{path}"), None).await;
        assert_eq!((st.as_u16(), v["error"].as_str()), (404, Some("stream_not_live")), "{path}: {v}");
    }
    assert!(!lists_mount(&icecast_sources(&s).await, "/live-a"), "/status-json.xsl no longer lists it");
    let m = metrics(&s).await;
    assert!(!m.contains("stream=\"live-a\""), "/metrics forgot the removed stream");
    assert!(m.contains("stream=\"main\""));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_back_within_the_linger_finds_its_stream() {
    let s = start(&config(3, 10)).await;
    let publ = token(&s, &[Permission::Publish]);
    let mut ws = publisher(&s, "live-b", Some(&publ)).await.unwrap();
    next_text(&mut ws, 5).await;
    publish_frames(&mut ws, 0, 10).await;
    // a listener reading all along: (event, frame number) of everything it gets
    let mut sse = Sse::open(&format!("{}/api/streams/live-b/stream", s.url()), &[]).await;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while !*stop_rx.borrow_and_update() {
            tokio::select! {
                e = sse.next_within(5.0) => {
                    let e = e.expect("the listener's stream goes on");
                    let frame = serde_json::from_str::<Value>(&e.data).ok().and_then(|v| v["frame_number"].as_u64());
                    seen.push((e.event.unwrap_or_default(), frame, e.data));
                }
                _ = stop_rx.changed() => {}
            }
        }
        seen
    });
    ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut ws = publisher(&s, "live-b", Some(&publ)).await.expect("the stream is still there");
    next_text(&mut ws, 5).await;
    publish_frames(&mut ws, 0, 10).await;
    let (_, stats) = get_json(&format!("{}/api/streams/live-b/stats", s.url()), None).await;
    assert_eq!(stats["publisher"]["sessions"], 2, "the same stream, a second publisher session: {stats}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send_replace(true);
    let seen = reader.await.unwrap();
    // the listener kept its stream: no error, frames consecutive across both publishers
    assert!(seen.iter().all(|(event, _, _)| event != "error"), "{seen:?}");
    let frames: Vec<u64> =
        seen.iter().filter(|(event, _, _)| event == "audio-frame").filter_map(|(_, n, _)| *n).collect();
    // ≥ 2 s of sleeps between the reader's start and its stop: 100 frames, less a margin for
    // a loaded machine's late wake-ups (continuity is checked exactly below)
    assert!(frames.len() >= 80, "{} frames in ≥ 2 s", frames.len());
    assert!(frames.windows(2).all(|w| w[1] == w[0] + 1), "{frames:?}");
    assert!(seen.iter().any(|(_, _, data)| data.contains("source-restored")), "{seen:?}");
    drop(ws);
    wait_until_removed(&s, "live-b", 10).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_limits_and_declared_streams() {
    let s = start(&config(1, 1)).await;
    let url = s.url();
    let publ = token(&s, &[Permission::Publish]);

    // ids are URL path segments: anything else is a 400 that says so
    let long = "a".repeat(65);
    for path in [
        "/api/streams/bad%20id/stats".to_string(),
        format!("/api/streams/{long}/stream"),
        "/api/streams/live-%C3%A9/ws".to_string(),
        "/bad%21id".to_string(),
    ] {
        let (st, v) = get_json(&format!("{url}{path}"), None).await;
        assert_eq!((st.as_u16(), v["error"].as_str()), (400, Some("bad_stream_id")), "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("A-Z, a-z, 0-9")
                || v["message"].as_str().unwrap().contains("64"),
            "{v}"
        );
    }
    assert_eq!(publisher(&s, "live-%20x", Some(&publ)).await.err(), Some(400));
    let (st, v) = get_json(&format!("{url}/api/streams/nope/stats"), None).await;
    assert_eq!((st.as_u16(), v["error"].as_str()), (404, Some("not_found")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("main, studio"), "{v}");
    assert_eq!(publisher(&s, "nope", Some(&publ)).await.err(), Some(404));

    // no token, no stream
    assert_eq!(publisher(&s, "live-a", None).await.err(), Some(401));
    assert_eq!(stream_ids(&s).await, ["main", "studio"]);

    // max_streams = 1: the second stream made on demand is refused
    let mut a = publisher(&s, "live-a", Some(&publ)).await.unwrap();
    next_text(&mut a, 5).await;
    assert_eq!(publisher(&s, "live-a", Some(&publ)).await.err(), Some(409), "one publisher per stream");
    assert_eq!(publisher(&s, "live-b", Some(&publ)).await.err(), Some(503));
    let resp = client()
        .post(format!("{url}/api/streams/live-c/ingest"))
        .bearer_auth(&publ)
        .header("content-type", "audio/L16;rate=16000;channels=1")
        .body(vec![0u8; 6400])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "too_many_streams", "{v}");
    assert!(v["message"].as_str().unwrap().contains("server.max_streams"), "{v}");
    assert_eq!(stream_ids(&s).await, ["main", "studio", "live-a"]);

    // the declared publish stream's publisher leaves too; only the on-demand stream goes
    let mut studio = publisher(&s, "studio", Some(&publ)).await.unwrap();
    next_text(&mut studio, 5).await;
    publish_frames(&mut studio, 0, 5).await;
    publish_frames(&mut a, 0, 5).await;
    drop(studio);
    drop(a);
    wait_until_removed(&s, "live-a", 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // well past the linger
    assert_eq!(stream_ids(&s).await, ["main", "studio"], "declared streams are never removed");
    let (st, _) = get_json(&format!("{url}/api/streams/studio/stats"), None).await;
    assert_eq!(st, 200);

    // the place is free again
    let mut b = publisher(&s, "live-b", Some(&publ)).await.expect("room for one stream again");
    next_text(&mut b, 5).await;
    assert_eq!(stream_ids(&s).await, ["main", "studio", "live-b"]);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_creates_a_stream_for_its_body() {
    let s = start(&config(1, 10)).await;
    let publ = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/streams/live-i/ingest", s.url());
    // a body we cannot read creates nothing
    let (st, v) = post_json(&url, Some(&publ), "{}").await;
    assert_eq!(st, 415, "{v}");
    assert_eq!(stream_ids(&s).await, ["main", "studio"]);
    // 1 s of big-endian L16, as a chunked body: the stream exists while it plays
    let pcm: Vec<u8> =
        (0..16_000u32).flat_map(|i| (((i as f64 * 0.2).sin() * 8000.0) as i16).to_be_bytes()).collect();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = pcm.chunks(3200).map(|c| Ok(c.to_vec())).collect();
    let post = client()
        .post(&url)
        .bearer_auth(&publ)
        .header("content-type", "audio/L16;rate=16000;channels=1")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send();
    let resp = tokio::time::timeout(Duration::from_secs(10), post).await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["frames_accepted"], 50, "{v}");
    let entry = stream_entry(&s, "live-i").await.expect("live-i exists after its body (the linger)");
    assert_eq!(entry["origin"], "on_demand");
    wait_until_removed(&s, "live-i", 10).await;
    s.shutdown().await;
}

/// ffmpeg pushing `secs` of a tone as Ogg/Opus to `mount` as an Icecast source.
fn ffmpeg_source(addr: std::net::SocketAddr, mount: &str, secs: u32, password: &str) -> std::process::Child {
    let probe = Command::new("ffmpeg").arg("-version").output();
    assert!(probe.is_ok_and(|o| o.status.success()), "ffmpeg is required for this test");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={secs}"))
        .args(["-c:a", "libopus", "-b:a", "64k", "-f", "ogg", "-content_type", "audio/ogg"])
        .args(["-ice_name", "On Demand"])
        .arg(format!("icecast://source:{password}@{addr}/{mount}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_icecast_source_creates_its_mount_from_a_template() {
    let s = start(&config(1, 10)).await;
    let put = |mount: &str, auth: &str| {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(auth);
        client()
            .put(format!("{}/{mount}", s.url()))
            .header("authorization", format!("Basic {auth}"))
            .header("content-type", "audio/ogg")
            .body(Vec::new())
            .send()
    };
    // refused before anything is created: wrong password, a template for other publishers
    let resp = put("radio-x", "source:wrong").await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = put("live-x", "source:hackme").await.unwrap();
    assert_eq!(resp.status(), 409);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "not_an_icecast_mount", "{v}");
    assert_eq!(stream_ids(&s).await, ["main", "studio"]);

    // the mount's extension is not part of the id
    let source = ffmpeg_source(s.addr, "radio-x.ogg", 5, "hackme");
    let t0 = Instant::now();
    while !lists_mount(&icecast_sources(&s).await, "/radio-x") {
        assert!(t0.elapsed() < Duration::from_secs(10), "no source on /radio-x within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entry = stream_entry(&s, "radio-x").await.expect("radio-x listed");
    assert_eq!((entry["origin"].as_str(), entry["template"].as_str()), (Some("on_demand"), Some("radio-*")));
    let (st, stats) = get_json(&format!("{}/api/streams/radio-x/stats", s.url()), None).await;
    assert_eq!(st, 200);
    assert_eq!(stats["icecast"]["source_connected"], true, "{stats}");
    let ended = tokio::task::spawn_blocking(move || source.wait_with_output()).await.unwrap().unwrap();
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    wait_until_removed(&s, "radio-x", 10).await;
    assert!(!lists_mount(&icecast_sources(&s).await, "/radio-x"));
    s.shutdown().await;
}
