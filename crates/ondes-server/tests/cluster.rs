//! The NATS cluster over real loopback connections: a real `nats-server` (Debian's package;
//! started here on free ports, with its monitoring port to see who subscribes to what) and
//! real ondes servers as origin and edges; listeners over SSE, WebSocket, Icecast-style HTTP,
//! LL-HLS and DASH (ffmpeg).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use ondes_core::proto::audio::decode_audio;
use ondes_server::RunningServer;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A `nats-server` process on loopback, killed when dropped.
struct Nats {
    child: Child,
    port: u16,
    monitor: u16,
}

/// A free loopback port below Linux's ephemeral range (32768–60999): while NATS is down during
/// its restart, an outgoing connection of another test must not take its port.
fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Nats {
    fn start() -> Nats {
        Nats::start_on(free_port(), free_port())
    }

    fn start_on(port: u16, monitor: u16) -> Nats {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (scripts/test.sh installs Debian's nats-server package)");
        // the monitoring port opens after the client port: wait for both
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in [port, monitor] {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(Instant::now() < deadline, "nats-server did not listen on {p} within 10 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Nats { child, port, monitor }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The subjects each ondes node's connection subscribes to, by node id.
    async fn subscriptions(&self) -> HashMap<String, Vec<String>> {
        let (_, v) = get_json(&format!("http://127.0.0.1:{}/connz?subs=1", self.monitor), None).await;
        let mut out = HashMap::new();
        for c in v["connections"].as_array().cloned().unwrap_or_default() {
            let name = c["name"].as_str().unwrap_or("").trim_start_matches("ondes ").to_string();
            let subs = c["subscriptions_list"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            out.insert(name, subs);
        }
        out
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An origin with a 48 kHz stereo tone stream `radio` and a four-rung ladder.
async fn origin(nats: &Nats, node: &str) -> RunningServer {
    origin_with_ring(nats, node, 12).await
}

/// An origin whose ring holds `ring_secs` of frames (what edges can fetch again).
async fn origin_with_ring(nats: &Nats, node: &str, ring_secs: u64) -> RunningServer {
    start(&format!(
        "[server]\nring_secs = {ring_secs}\n\
         [cluster]\nnats_url = \"{}\"\nrole = \"origin\"\nnode_id = \"{node}\"\nbatch_frames = 3\n\
         [[stream]]\nid = \"radio\"\nsource = \"tone:demo\"\nrungs = \"16,32,64,128\"\n",
        nats.url()
    ))
    .await
}

/// An edge (no streams of its own).
async fn edge(nats: &Nats, node: &str) -> RunningServer {
    edge_with_lag(nats, node, 2_000).await
}

/// An edge whose listeners may fall `max_lag_ms` behind live before they are skipped ahead.
async fn edge_with_lag(nats: &Nats, node: &str, max_lag_ms: u64) -> RunningServer {
    let mut config = ondes_server::Config::from_toml_and_env(
        &format!(
            "[cluster]\nnats_url = \"{}\"\nrole = \"edge\"\nnode_id = \"{node}\"\nlinger_ms = 500\n\
             source_timeout_ms = 500\n",
            nats.url()
        ),
        &[],
    )
    .unwrap();
    config.server.bind = "127.0.0.1:0".into();
    config.server.max_listener_lag_ms = max_lag_ms;
    ondes_server::start(config).await.expect("edge starts")
}

/// Waits until the origin answers discovery (its request subscriptions are in place).
async fn wait_origin(nats: &Nats, node: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let subs = nats.subscriptions().await;
        if subs.get(node).is_some_and(|s| s.iter().any(|x| x.ends_with(".discover"))) {
            return;
        }
        assert!(Instant::now() < deadline, "origin {node} never subscribed to discovery: {subs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_frames_sub(subs: &HashMap<String, Vec<String>>, node: &str) -> bool {
    subs.get(node).is_some_and(|s| s.iter().any(|x| x == "ondes.stream.radio.frames"))
}

/// A WebSocket listener on `url`.
async fn ws_listen(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url))
        .await
        .expect("WebSocket handshake within 10 s")
        .expect("WebSocket listener accepted");
    ws
}

/// What a WebSocket listener got: Opus packets by (32-bit) sequence number, and statuses.
#[derive(Default)]
struct WsLog {
    packets: BTreeMap<u64, Vec<u8>>,
    statuses: Vec<Value>,
}

/// Reads `ws` until it has `n` more audio frames.
async fn ws_collect(ws: &mut Ws, log: &mut WsLog, n: usize) {
    let want = log.packets.len() + n;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while log.packets.len() < want {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("WebSocket audio in time")
            .expect("socket open")
            .expect("no socket error");
        match m {
            Message::Binary(b) => {
                let a = decode_audio(&b, None).expect("a valid audio message");
                for (i, f) in a.frames.iter().enumerate() {
                    log.packets.insert((a.header.first_seq + i as u64) & 0xffff_ffff, f.to_vec());
                }
            }
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "status" {
                    log.statuses.push(v);
                }
            }
            _ => {}
        }
    }
}

/// A WebSocket listener on `url`, read from the moment it connects until it has 100 frames.
async fn ws_task(url: String) -> tokio::task::JoinHandle<(Ws, WsLog)> {
    let mut ws = ws_listen(&url).await;
    tokio::spawn(async move {
        let mut log = WsLog::default();
        ws_collect(&mut ws, &mut log, 100).await;
        (ws, log)
    })
}

/// Reads `n` audio frames from an SSE listener; returns their frame numbers.
async fn sse_frames(sse: &mut Sse, n: usize, statuses: &mut Vec<Value>) -> Vec<u64> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = sse.next_within(10.0).await.expect("SSE stream open");
        match e.event.as_deref() {
            Some("audio-frame") => {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                out.push(v["frame_number"].as_u64().unwrap());
            }
            Some("status") => statuses.push(serde_json::from_str(&e.data).unwrap()),
            _ => {}
        }
    }
    out
}

/// Reads one SSE event (up to `secs`), sorting it into frame numbers and statuses.
async fn sse_event(sse: &mut Sse, frames: &mut Vec<u64>, statuses: &mut Vec<Value>, secs: f64) {
    let Some(e) = sse.try_next(secs).await else { return };
    match e.event.as_deref() {
        Some("audio-frame") => {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            frames.push(v["frame_number"].as_u64().unwrap());
        }
        Some("status") => statuses.push(serde_json::from_str(&e.data).unwrap()),
        Some("error") => panic!("the stream ended: {}", e.data),
        _ => {}
    }
}

fn assert_contiguous(frames: &[u64], what: &str) {
    for w in frames.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{what}: frame numbers jump from {} to {}", w[0], w[1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edges_deliver_the_origins_frame_numbers_and_opus_bytes() {
    let nats = Nats::start();
    let origin = origin(&nats, "origin-1").await;
    let a = edge(&nats, "edge-a").await;
    let b = edge(&nats, "edge-b").await;
    wait_origin(&nats, "origin-1").await;

    // nobody listens on the edges yet: neither receives anything for the stream
    tokio::time::sleep(Duration::from_millis(300)).await;
    let subs = nats.subscriptions().await;
    assert!(!has_frames_sub(&subs, "edge-a") && !has_frames_sub(&subs, "edge-b"), "{subs:?}");
    // … but the stream is listed there, from the origin
    let (_, list) = get_json(&format!("{}/api/streams", a.url()), None).await;
    let ids: Vec<&str> =
        list["cluster_streams"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, ["radio"], "{list}");

    // an SSE and a WebSocket listener on edge A, a WebSocket listener on edge B and on the origin;
    // each is read from the moment it connects (one left unread would fall behind and skip)
    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?format=pcm16", a.url()), &[]).await;
    assert_eq!(sse.status, 200);
    let sse_task = tokio::spawn(async move {
        let mut statuses = Vec::new();
        let frames = sse_frames(&mut sse, 100, &mut statuses).await;
        (sse, frames, statuses)
    });
    let ws_a =
        ws_task(format!("ws://{}/api/streams/radio/ws?rung=64&batch=1&profile=high_throughput", a.addr))
            .await;
    let subs = nats.subscriptions().await;
    assert!(has_frames_sub(&subs, "edge-a"), "edge A subscribes once it has listeners: {subs:?}");
    assert!(!has_frames_sub(&subs, "edge-b"), "edge B has no listener yet: {subs:?}");
    let ws_b =
        ws_task(format!("ws://{}/api/streams/radio/ws?rung=64&batch=1&profile=high_throughput", b.addr))
            .await;
    let ws_o =
        ws_task(format!("ws://{}/api/streams/radio/ws?rung=64&batch=1&profile=high_throughput", origin.addr))
            .await;
    let (sse, frames, statuses) = sse_task.await.unwrap();
    let (ws_a, la) = ws_a.await.unwrap();
    let (ws_b, lb) = ws_b.await.unwrap();
    let (ws_o, lo) = ws_o.await.unwrap();
    assert_contiguous(&frames, &format!("SSE on edge A {statuses:?}"));
    // the origin numbers frames from the wall clock (frames of 20 ms since 2000-01-01)
    let now_frames = ondes_server::clock::stream_start_seq(ondes_server::clock::now_us(), 20_000);
    assert!(frames[0].abs_diff(now_frames) < 3_000, "frame {} vs clock {now_frames}", frames[0]);

    let (_, cb) = get_json(&format!("{}/api/cluster", b.url()), None).await;
    for (name, log) in [("edge A", &la), ("edge B", &lb), ("origin", &lo)] {
        let seqs: Vec<u64> = log.packets.keys().copied().collect();
        assert_contiguous(&seqs, &format!("{name} (statuses {:?}, edge B {})", log.statuses, cb["counters"]));
        assert!(log.statuses.iter().all(|s| s["status"] != "gap"), "{name}: {:?}", log.statuses);
    }
    // the same numbers on every node (SSE and WebSocket), and the same Opus bytes
    let sse_low: Vec<u64> = frames.iter().map(|f| f & 0xffff_ffff).collect();
    assert!(sse_low.iter().any(|f| la.packets.contains_key(f)), "SSE and WebSocket numbers overlap");
    let mut compared = 0;
    for (seq, p) in &lo.packets {
        for other in [&la, &lb] {
            if let Some(q) = other.packets.get(seq) {
                assert_eq!(p, q, "Opus packet of frame {seq} differs between origin and an edge");
                compared += 1;
            }
        }
    }
    assert!(compared >= 100, "only {compared} packets were compared");

    let (_, c) = get_json(&format!("{}/api/cluster", a.url()), None).await;
    assert_eq!(c["role"], "edge");
    assert_eq!(c["counters"]["gaps"], 0, "{c}");
    assert!(c["counters"]["messages_in"].as_u64().unwrap() > 10, "{c}");
    let delay = c["delay"].as_array().unwrap();
    assert_eq!(delay[0]["stream"], "radio");
    assert!(delay[0]["p50_ms"].as_f64().unwrap() < 1_000.0, "{c}");
    let nodes: Vec<&str> =
        c["nodes"].as_array().unwrap().iter().filter_map(|n| n["node_id"].as_str()).collect();
    assert!(nodes.contains(&"origin-1") && nodes.contains(&"edge-b"), "{c}");
    let metrics = client().get(format!("{}/metrics", a.url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ondes_cluster_delay_seconds_count{stream=\"radio\"}"), "{metrics}");
    assert!(metrics.contains("ondes_cluster_gaps_total 0"));

    // the last listener of edge B leaves: after the linger, B no longer receives the stream
    drop(ws_b);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let subs = nats.subscriptions().await;
        if !has_frames_sub(&subs, "edge-b") {
            assert!(has_frames_sub(&subs, "edge-a"), "edge A still has listeners: {subs:?}");
            break;
        }
        assert!(Instant::now() < deadline, "edge B kept its subscription with no listener: {subs:?}");
    }
    drop((sse, ws_a, ws_o));
    for s in [a, b, origin] {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listeners_of_a_lost_edge_resume_on_another_without_a_gap() {
    let nats = Nats::start();
    let origin = origin(&nats, "origin-1").await;
    let a = edge(&nats, "edge-a").await;
    let b = edge(&nats, "edge-b").await;
    wait_origin(&nats, "origin-1").await;

    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?format=pcm16", a.url()), &[]).await;
    let mut ws =
        ws_listen(&format!("ws://{}/api/streams/radio/ws?rung=32&batch=2&profile=high_throughput", a.addr))
            .await;
    let mut statuses = Vec::new();
    let mut log = WsLog::default();
    let (before, ()) =
        tokio::join!(sse_frames(&mut sse, 50, &mut statuses), ws_collect(&mut ws, &mut log, 50));
    let last_sse = *before.last().unwrap();
    let last_ws = *log.packets.keys().last().unwrap();

    // edge A goes away; B has never had a listener for the stream
    a.shutdown().await;
    drop((sse, ws));
    assert!(!has_frames_sub(&nats.subscriptions().await, "edge-b"));

    // both reconnect to edge B at once, each with the last frame it has
    let sse_url = format!("{}/api/streams/radio/stream?format=pcm16", b.url());
    let last_event_id = format!("frame-{last_sse}");
    let ws_url = format!(
        "ws://{}/api/streams/radio/ws?rung=32&batch=2&profile=high_throughput&last_seq={last_ws}",
        b.addr
    );
    let headers = [("Last-Event-ID", last_event_id.as_str())];
    let (mut sse, mut ws) = tokio::join!(Sse::open(&sse_url, &headers), ws_listen(&ws_url));
    assert_eq!(sse.status, 200);
    let mut statuses = Vec::new();
    let mut moved = WsLog::default();
    let (after, ()) =
        tokio::join!(sse_frames(&mut sse, 30, &mut statuses), ws_collect(&mut ws, &mut moved, 30));
    assert_eq!(after[0], last_sse + 1, "SSE resumes right after its last frame; statuses {statuses:?}");
    assert_contiguous(&after, "SSE after moving");
    let resumed = statuses.iter().find(|s| s["status"] == "resumed").expect("a resumed status");
    assert_eq!(resumed["missed_frames"], 0, "{resumed}");

    let first = *moved.packets.keys().next().unwrap();
    assert_eq!(
        first,
        (last_ws + 1) & 0xffff_ffff,
        "WebSocket resumes right after its last frame: {:?}",
        moved.statuses
    );
    let seqs: Vec<u64> = moved.packets.keys().copied().collect();
    assert_contiguous(&seqs, "WebSocket after moving");
    let resumed = moved.statuses.iter().find(|s| s["status"] == "resumed").expect("a resumed status");
    assert_eq!(resumed["missed_frames"], 0, "{resumed}");

    let (_, c) = get_json(&format!("{}/api/cluster", b.url()), None).await;
    assert!(c["counters"]["backlog_frames"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["counters"]["gaps"], 0, "{c}");
    drop((sse, ws));
    b.shutdown().await;
    origin.shutdown().await;
}

/// What an edge's SSE listener saw through a NATS restart of `outage`: its statuses and
/// frames, and the edge's cluster counters.
async fn through_a_nats_restart(origin_ring_secs: u64, outage: Duration) -> (Vec<Value>, Vec<u64>, Value) {
    let mut nats = Nats::start();
    let origin = origin_with_ring(&nats, "origin-1", origin_ring_secs).await;
    // after the outage the edge has the outage's frames to send at once (fetched again or
    // silence): with the default 2 s of lag allowed, a slow restart on a loaded machine skips
    // the listener ahead, which is another behaviour than the one under test
    let a = edge_with_lag(&nats, "edge-a", 10_000).await;
    wait_origin(&nats, "origin-1").await;

    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?format=pcm16", a.url()), &[]).await;
    let mut statuses = Vec::new();
    let mut frames = sse_frames(&mut sse, 25, &mut statuses).await;

    let (port, monitor) = (nats.port, nats.monitor);
    nats.stop();
    // the listener stays connected and is told the source is lost
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !statuses.iter().any(|s| s["status"] == "source-lost") {
        assert!(tokio::time::Instant::now() < deadline, "no source-lost status: {statuses:?}");
        sse_event(&mut sse, &mut frames, &mut statuses, 0.5).await;
    }
    tokio::time::sleep(outage).await;
    let _nats = Nats::start_on(port, monitor);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !statuses.iter().any(|s| s["status"] == "source-restored") {
        assert!(tokio::time::Instant::now() < deadline, "no source-restored status: {statuses:?}");
        sse_event(&mut sse, &mut frames, &mut statuses, 0.5).await;
    }
    frames.extend(sse_frames(&mut sse, 50, &mut statuses).await);
    let (_, c) = get_json(&format!("{}/api/cluster", a.url()), None).await;
    // a gap's status reaches the listener in order with its frames: behind the frames sent
    // before it, on a loaded machine after the 50 above; read on until every frame the edge
    // counted missing has been reported (or the deadline says it never will be)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let reported = |st: &[Value]| -> u64 {
        st.iter().filter(|s| s["status"] == "gap").map(|s| s["missed_frames"].as_u64().unwrap_or(0)).sum()
    };
    while reported(&statuses) < c["counters"]["gap_frames"].as_u64().unwrap_or(0)
        && tokio::time::Instant::now() < deadline
    {
        sse_event(&mut sse, &mut frames, &mut statuses, 0.5).await;
    }
    assert!(c["counters"]["reconnects"].as_u64().unwrap() >= 1, "{c}");
    assert_eq!(c["connected"], true);
    drop(sse);
    a.shutdown().await;
    origin.shutdown().await;
    (statuses, frames, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_restart_is_fetched_again_from_the_origin_and_listeners_stay() {
    let (statuses, frames, c) = through_a_nats_restart(12, Duration::from_millis(500)).await;
    // the frames NATS lost are still in the origin's ring: the edge fetched them again, so
    // the listener hears the origin's audio late instead of a gap
    assert_contiguous(&frames, "SSE through a NATS restart");
    assert!(c["counters"]["refetched_frames"].as_u64().unwrap() > 0, "{c}");
    assert_eq!(c["counters"]["gap_frames"], 0, "{c}");
    assert!(!statuses.iter().any(|s| s["status"] == "gap"), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_restart_longer_than_the_origins_ring_is_a_reported_gap() {
    // the origin keeps 1 s of frames; NATS is away for longer
    let (statuses, frames, c) = through_a_nats_restart(1, Duration::from_millis(1_500)).await;
    // numbering stays continuous for the listener (what the origin no longer had is
    // filled with silence and reported)
    assert_contiguous(&frames, "SSE through a long NATS restart");
    let counted = c["counters"]["gap_frames"].as_u64().unwrap();
    let reported: u64 =
        statuses.iter().filter(|s| s["status"] == "gap").map(|s| s["missed_frames"].as_u64().unwrap()).sum();
    assert!(counted > 0, "{c}");
    assert_eq!(counted, reported, "every frame counted missing was reported to the listener: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn icecast_and_hls_listeners_bring_the_stream_to_an_edge() {
    let nats = Nats::start();
    let origin = origin(&nats, "origin-1").await;
    let a = edge(&nats, "edge-a").await;
    wait_origin(&nats, "origin-1").await;
    let http = client();

    // an Icecast-style player on the edge gets the origin's stream as Ogg/Opus
    let mut r = http.get(format!("{}/radio.opus", a.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut body = Vec::new();
    while body.len() < 4096 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), r.chunk()).await.unwrap().unwrap().unwrap();
        body.extend_from_slice(&chunk);
    }
    assert_eq!(&body[..4], b"OggS");
    assert!(has_frames_sub(&nats.subscriptions().await, "edge-a"));
    drop(r);

    // an HLS player too: the playlist lists the origin's rungs, and parts appear
    let m = http.get(format!("{}/api/streams/radio/hls/index.m3u8", a.url())).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(m.text().await.unwrap().contains("64/media.m3u8"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = http.get(format!("{}/api/streams/radio/hls/64/media.m3u8", a.url())).send().await.unwrap();
        if p.text().await.unwrap().contains("#EXT-X-PART:") {
            break;
        }
        assert!(Instant::now() < deadline, "no part on the edge's playlist");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // and a DASH player: ffmpeg plays the edge's manifest, whose timeline starts where the
    // origin's frame numbering does (2000-01-01; in 1970 ffmpeg would ask for segments 13 h
    // ahead and wait for them)
    let mpd = http.get(format!("{}/api/streams/radio/dash/manifest.mpd", a.url())).send().await.unwrap();
    let mpd = mpd.text().await.unwrap();
    assert!(mpd.contains(r#"availabilityStartTime="2000-01-01T00:0"#), "{mpd}");
    let url = format!("{}/api/streams/radio/dash/manifest.mpd", a.url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["30", "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", &url])
            .args(["-map", "0:a:0", "-t", "2", "-f", "f32le", "-ac", "1", "-ar", "48000", "-"])
            .output()
            .expect("ffmpeg runs (scripts/test.sh installs it)")
    })
    .await
    .unwrap();
    let seconds = out.stdout.len() as f64 / 4.0 / 48_000.0;
    assert!(
        out.status.success() && seconds >= 1.9,
        "ffmpeg played {seconds:.2} s of the edge's DASH ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // no SSE or WebSocket listener is left, but the segmenter reads the stream: past the
    // edge's linger (500 ms) the stream stays
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, list) = get_json(&format!("{}/api/streams", a.url()), None).await;
    let ids: Vec<&str> =
        list["streams"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(ids.contains(&"radio"), "{list}");
    a.shutdown().await;
    origin.shutdown().await;
}

/// An origin holding the publisher-fed stream `radio` (16 kHz mono) with `takeover`: it
/// publishes the stream only while a publisher feeds it here.
async fn publish_origin(nats: &Nats, node: &str) -> RunningServer {
    start(&format!(
        "[cluster]\nnats_url = \"{}\"\nrole = \"origin\"\nnode_id = \"{node}\"\nbatch_frames = 3\ntakeover = true\n\
         [[stream]]\nid = \"radio\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\nrungs = \"16,32\"\n",
        nats.url()
    ))
    .await
}

/// A publisher sending a 500 Hz tone to `server`'s `radio` in real time (one 20 ms frame per
/// 20 ms) until its connection closes.
async fn publish_tone(server: &RunningServer) -> tokio::task::JoinHandle<()> {
    use futures_util::SinkExt;
    let t = token(server, &[ondes_server::auth::Permission::Publish]);
    let mut ws = ws_publisher(&format!("ws://{}/api/streams/radio/publish", server.addr), Some(&t))
        .await
        .expect("publisher accepted");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for seq in 0u64.. {
            tick.tick().await;
            let msg = message(seq, &[tone_frame(seq)], 16_000);
            if ws.send(Message::Binary(msg.into())).await.is_err() {
                return;
            }
            // acknowledgements and notices are not needed here
            while let Some(Some(Ok(_))) = futures_util::FutureExt::now_or_never(ws.next()) {}
        }
    })
}

/// The RMS of an SSE `pcm16` audio frame's samples.
fn frame_rms(v: &Value) -> f64 {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(v["pcm16"].as_str().unwrap_or(""))
        .unwrap_or_default();
    let s = common::signal::i16s(&b);
    (s.iter().map(|x| (*x as f64 / 32768.0).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_origin_takes_the_stream_over_when_the_publisher_moves_to_it() {
    let nats = Nats::start();
    let primary = publish_origin(&nats, "origin-1").await;
    let standby = publish_origin(&nats, "origin-2").await;
    let a = edge(&nats, "edge-a").await;
    wait_origin(&nats, "origin-1").await;
    wait_origin(&nats, "origin-2").await;
    let first = publish_tone(&primary).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?format=pcm16", a.url()), &[]).await;
    let mut statuses = Vec::new();
    let mut frames = sse_frames(&mut sse, 50, &mut statuses).await;
    assert_contiguous(&frames, "SSE from the primary");
    // the standby's silence never reached the edge: one origin, one epoch
    let (_, c) = get_json(&format!("{}/api/cluster", a.url()), None).await;
    assert_eq!(c["counters"]["epoch_changes"], 0, "{c}");
    let (_, sc) = get_json(&format!("{}/api/cluster", standby.url()), None).await;
    assert_eq!(sc["counters"]["messages_out"], 0, "a standby publishes nothing: {sc}");

    // the primary dies; the publisher reconnects to the standby
    primary.shutdown().await;
    first.abort();
    let second = publish_tone(&standby).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut heard = 0;
    while heard < 25 {
        assert!(tokio::time::Instant::now() < deadline, "no audio from the standby: {statuses:?}");
        let e = sse.next_within(5.0).await.expect("the listener stays connected");
        match e.event.as_deref() {
            Some("audio-frame") => {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                frames.push(v["frame_number"].as_u64().unwrap());
                if frame_rms(&v) > 0.2 && statuses.iter().any(|s| s["status"] == "gap") {
                    heard += 1;
                }
            }
            Some("status") => statuses.push(serde_json::from_str(&e.data).unwrap()),
            Some("error") => panic!("the stream ended: {}", e.data),
            _ => {}
        }
    }
    // numbering stays continuous for the listener, the switch is one reported gap
    assert_contiguous(&frames, "SSE through the takeover");
    let gaps: Vec<&Value> = statuses.iter().filter(|s| s["status"] == "gap").collect();
    assert_eq!(gaps.len(), 1, "one reported gap: {statuses:?}");
    assert!(gaps[0]["missed_frames"].as_u64().unwrap() > 0);
    let (_, c) = get_json(&format!("{}/api/cluster", a.url()), None).await;
    assert_eq!(c["counters"]["epoch_changes"], 1, "{c}");
    second.abort();
    drop(sse);
    a.shutdown().await;
    standby.shutdown().await;
}
