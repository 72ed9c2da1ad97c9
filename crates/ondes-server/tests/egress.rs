//! The egress layer end to end: shared bytes, and slow listeners that cost nobody else —
//! one test per transport (SSE, WebSocket, Ogg/HTTP), each with 1,000 other listeners on
//! real loopback sockets.

mod common;

use std::time::Duration;

use common::{get_json, start};
use futures_util::StreamExt;
use ondes_core::abr::ProfileRequest;
use ondes_core::egress::MessageKind;
use ondes_server::connections::NewConnection;
use ondes_server::egress::ogg::OggTransport;
use ondes_server::egress::sse::SseTransport;
use ondes_server::egress::sse_event::SseFormat;
use ondes_server::egress::ws::{RungChoice, WsOptions, WsTransport};
use ondes_server::egress::{ListenerSession, Start, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The heavy tests run one at a time (each has a thousand listeners).
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn register(
    app: &ondes_server::state::AppState,
    transport: &'static str,
) -> ondes_server::connections::ConnectionGuard {
    app.connections
        .register(NewConnection {
            stream_id: "main".into(),
            transport,
            user_id: None,
            ip: "127.0.0.1".parse().unwrap(),
            user_agent: "test".into(),
        })
        .unwrap()
}

/// Audio messages a session offers over `secs`, as (first seq, pointer, length).
async fn audio_of<T: Transport>(s: &mut ListenerSession<T>, secs: f64) -> Vec<(u64, usize, usize)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while tokio::time::Instant::now() < deadline {
        s.update();
        while let Some(m) = s.next_message() {
            if let MessageKind::Audio { first_seq, .. } = m.kind {
                out.push((first_seq, m.bytes.as_ptr() as usize, m.bytes.len()));
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), s.changed()).await;
    }
    out
}

/// Pointer-equal: every listener of a key is handed the very same `Bytes`.
fn assert_shared(a: &[(u64, usize, usize)], b: &[(u64, usize, usize)], what: &str) {
    let mut common = 0;
    for x in a {
        if let Some(y) = b.iter().find(|y| y.0 == x.0) {
            assert_eq!((x.1, x.2), (y.1, y.2), "{what}: message at frame {} is not shared", x.0);
            common += 1;
        }
    }
    assert!(common >= 5, "{what}: only {common} messages in common");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_of_a_key_gets_the_same_bytes() {
    let s = start("[icecast]\npage_ms = 100\n").await;
    let app = s.state.clone();
    let hub = app.hub("main").unwrap().clone();

    let ws = |batch| {
        let guard = register(&app, "ws");
        let opts = WsOptions {
            choice: RungChoice::Opus(0),
            batch: Some(batch),
            profile: ProfileRequest::parse("auto").unwrap(),
            framed: true,
            abr: Default::default(),
        };
        let t = WsTransport::new(hub.clone(), guard.info.clone(), app.metrics.clone(), opts);
        ListenerSession::new(&app, hub.clone(), guard, t, batch, Start::Live)
    };
    let made = || hub.stats.serializations.load(std::sync::atomic::Ordering::Relaxed);
    let produced = || hub.stats.total_frames.load(std::sync::atomic::Ordering::Relaxed);
    // made once per group (and once more for each listener's short first group), not per listener
    let check_made = |what: &str, before: (u64, u64), group: u64| {
        let (m, f) = (made() - before.0, produced() - before.1);
        assert!(
            m <= f / group + 3,
            "{what}: {m} serialisations for {f} frames in groups of {group}, 2 listeners"
        );
    };

    let before = (made(), produced());
    let (mut a, mut b) = (ws(2), ws(2));
    let (ra, rb) = tokio::join!(audio_of(&mut a, 1.0), audio_of(&mut b, 1.0));
    assert_shared(&ra, &rb, "WebSocket");
    drop((a, b));
    check_made("WebSocket", before, 2);

    let sse = || {
        let t = SseTransport::new(hub.clone(), SseFormat::Pcm16, 1);
        ListenerSession::new(&app, hub.clone(), register(&app, "sse"), t, 1, Start::Live)
    };
    let before = (made(), produced());
    let (mut a, mut b) = (sse(), sse());
    let (ra, rb) = tokio::join!(audio_of(&mut a, 1.0), audio_of(&mut b, 1.0));
    assert_shared(&ra, &rb, "SSE");
    drop((a, b));
    check_made("SSE", before, 1);

    let ogg = || {
        let t = OggTransport::new(&hub, 0, 5, false);
        ListenerSession::new(&app, hub.clone(), register(&app, "http"), t, 5, Start::Live)
    };
    let before = (made(), produced());
    let (mut a, mut b) = (ogg(), ogg());
    let (ra, rb) = tokio::join!(audio_of(&mut a, 2.0), audio_of(&mut b, 2.0));
    // each listener's first page carries its own header pages; the rest are shared
    assert_shared(&ra[1..], &rb[1..], "Ogg");
    drop((a, b));
    check_made("Ogg", before, 5);
    s.shutdown().await;
}

/// A light stream (8 kHz mono) so that a thousand listeners are cheap for the test itself.
const LIGHT: &str = r#"
[server]
max_listener_lag_ms = 2000
max_connections = 5000
socket_send_buffer_kb = 8

[icecast]
page_ms = 100

[[stream]]
id = "main"
source = "tone:sine?freq=440&amp=0.5"
sample_rate = 8000
channels = 1
frame_ms = 20
rungs = "16"
"#;

const LISTENERS: usize = 1000;
/// How long each of the thousand listens; the slow one stalls for 5 s inside it.
const LISTEN_SECS: f64 = 9.0;

/// What one of the thousand saw: sequence numbers (or page numbers) in order, the worst
/// latency from capture (µs, when the transport carries it), the longest silence (ms).
#[derive(Debug, Default)]
struct Seen {
    seqs: Vec<u64>,
    worst_latency_us: i64,
    longest_gap_ms: u128,
}

impl Seen {
    fn check(&self, what: &str, max_latency_ms: i64) {
        assert!(self.seqs.len() > 10, "{what}: only {} messages", self.seqs.len());
        for w in self.seqs.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{what}: a gap between {} and {}", w[0], w[1]);
        }
        assert!(
            self.worst_latency_us < max_latency_ms * 1000,
            "{what}: latency {} µs",
            self.worst_latency_us
        );
        assert!(self.longest_gap_ms < 700, "{what}: {} ms without a message", self.longest_gap_ms);
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Opens a raw HTTP GET and returns the socket after the response head, with what followed it.
async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    agent: &str,
    rcvbuf: Option<u32>,
) -> (TcpStream, Vec<u8>) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(b) = rcvbuf {
        sock.set_recv_buffer_size(b).unwrap();
    }
    let mut tcp = sock.connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(buf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf));
            return (tcp, buf.split_off(end + 4));
        }
    }
}

/// Reads a raw HTTP body for `secs`, feeding `parse` what arrived (and the arrival time).
async fn read_body(
    mut tcp: TcpStream,
    mut rest: Vec<u8>,
    secs: f64,
    mut parse: impl FnMut(&mut Vec<u8>, &mut Seen),
) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let mut last = std::time::Instant::now();
    let mut chunk = vec![0u8; 16 * 1024];
    parse(&mut rest, &mut seen);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                seen.longest_gap_ms = seen.longest_gap_ms.max(last.elapsed().as_millis());
                last = std::time::Instant::now();
                rest.extend_from_slice(&chunk[..n]);
                parse(&mut rest, &mut seen);
            }
            Ok(_) => panic!("the server closed a listener that kept up"),
            Err(_) => break,
        }
    }
    seen
}

/// The slow one: reads its response head, then nothing for 5 s, then drains what is there
/// and returns it.
async fn stall_then_drain(addr: std::net::SocketAddr, path: &str) -> (Vec<u8>, TcpStream) {
    let (tcp, seen) = http_get(addr, path, "slow", Some(4096)).await;
    stall_then_read(tcp, seen).await
}

/// Reads nothing for 5 s, then for up to 3 s what arrives; returns it after `seen`.
async fn stall_then_read(mut tcp: TcpStream, mut seen: Vec<u8>) -> (Vec<u8>, TcpStream) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    (seen, tcp)
}

/// The slow listener's record in `/stats`, and the stream's dropped frames.
async fn slow_record(url: &str) -> (u64, u64) {
    let (_, stats) = get_json(&format!("{url}/api/audio/stats"), None).await;
    let dropped = stats["dropped_frames"].as_u64().unwrap();
    // the slow listener is the one that skipped (public stats do not name user agents)
    let slow =
        stats["connections"].as_array().unwrap().iter().map(|c| c["skipped_frames"].as_u64().unwrap()).max();
    (slow.unwrap_or(0), dropped)
}

/// SSE events (chunked): `id: frame-N` and the capture time of each event.
fn parse_sse(buf: &mut Vec<u8>, seen: &mut Seen) {
    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
        let event = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 2);
        if !event.contains("event: audio-frame") {
            continue;
        }
        let first: u64 = field(&event, "\"frame_number\":").unwrap();
        let frames: u64 = field(&event, "\"frames\":").unwrap();
        let capture: i64 = field(&event, "\"capture_us\":").unwrap();
        seen.worst_latency_us = seen.worst_latency_us.max(now_us() - capture - (frames as i64 - 1) * 20_000);
        // one entry per frame: merged events must cover consecutive frames
        for f in first..first + frames {
            seen.seqs.push(f);
        }
    }
}

fn field<T: std::str::FromStr>(s: &str, key: &str) -> Option<T> {
    let at = s.find(key)? + key.len();
    let end = s[at..].find(|c: char| !(c.is_ascii_digit() || c == '-')).map_or(s.len(), |e| at + e);
    s[at..end].parse().ok()
}

/// Ogg pages: their sequence numbers.
fn parse_ogg(buf: &mut Vec<u8>, seen: &mut Seen) {
    loop {
        let Some(at) = buf.windows(4).position(|w| w == b"OggS") else { return };
        if buf.len() < at + 27 {
            return;
        }
        let segments = buf[at + 26] as usize;
        if buf.len() < at + 27 + segments {
            return;
        }
        let body: usize = buf[at + 27..at + 27 + segments].iter().map(|&x| x as usize).sum();
        let len = 27 + segments + body;
        if buf.len() < at + len {
            return;
        }
        let seq = u32::from_le_bytes([buf[at + 18], buf[at + 19], buf[at + 20], buf[at + 21]]);
        seen.seqs.push(u64::from(seq));
        buf.drain(..at + len);
    }
}

async fn thousand_and_one_slow(
    config: &str,
    path: &'static str,
    parse: fn(&mut Vec<u8>, &mut Seen),
    lagged_marker: Option<&[u8]>,
) {
    let _one_at_a_time = HEAVY.lock().await;
    let s = start(config).await;
    let addr = s.addr;
    let mut others = Vec::new();
    for i in 0..LISTENERS {
        others.push(tokio::spawn(async move {
            let (tcp, rest) = http_get(addr, path, &format!("fast-{i}"), None).await;
            read_body(tcp, rest, LISTEN_SECS, parse).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slow = tokio::spawn(stall_then_drain(addr, path));
    let (slow_bytes, _still_connected) = slow.await.unwrap();
    if let Some(marker) = lagged_marker {
        assert!(
            slow_bytes.windows(marker.len()).any(|w| w == marker),
            "the slow listener is told it was skipped"
        );
    }
    let (slow_skipped, dropped) = slow_record(&s.url()).await;
    assert!(slow_skipped > 0, "the slow listener's skipped frames are counted for it");
    assert_eq!(slow_skipped, dropped, "every dropped frame is the slow listener's");
    for (i, t) in others.into_iter().enumerate() {
        let seen = t.await.unwrap();
        seen.check(&format!("listener {i} of {path}"), 500);
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_slow_listener_is_skipped_while_a_thousand_lose_nothing() {
    thousand_and_one_slow(LIGHT, "/api/audio/stream?format=pcm16&max_fps=10", parse_sse, Some(b"\"lagged\""))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_slow_listener_is_skipped_while_a_thousand_lose_nothing() {
    // Ogg has no notice channel: the skip shows in the counts (and in renumbered pages).
    // 128 kbit/s, so that 5 s of pages overflow the socket buffers
    let config = LIGHT
        .replace("sample_rate = 8000\nchannels = 1", "sample_rate = 48000\nchannels = 2")
        .replace("rungs = \"16\"", "rungs = \"128\"");
    thousand_and_one_slow(&config, "/main", parse_ogg, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_slow_listener_is_skipped_while_a_thousand_lose_nothing() {
    let _one_at_a_time = HEAVY.lock().await;
    let s = start(LIGHT).await;
    let url = format!("ws://{}/api/audio/ws?rung=pcm16&batch=5", s.addr);
    let mut others = Vec::new();
    for _ in 0..LISTENERS {
        let url = url.clone();
        others.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let mut seen = Seen::default();
            let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(LISTEN_SECS);
            let mut last = std::time::Instant::now();
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline, ws.next()).await {
                let m = m.expect("a listener that keeps up is not closed");
                if let tokio_tungstenite::tungstenite::Message::Binary(b) = m {
                    seen.longest_gap_ms = seen.longest_gap_ms.max(last.elapsed().as_millis());
                    last = std::time::Instant::now();
                    let msg = ondes_core::proto::audio::decode_audio(&b, seen.seqs.last().copied()).unwrap();
                    let h = msg.header;
                    let latency = now_us() - h.capture_us - (i64::from(h.frame_count) - 1) * 20_000;
                    seen.worst_latency_us = seen.worst_latency_us.max(latency);
                    for f in h.first_seq..h.first_seq + u64::from(h.frame_count) {
                        seen.seqs.push(f);
                    }
                }
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // the slow one: a WebSocket handshake on a raw socket with a small receive buffer
    let slow = tokio::spawn(stall_then_drain_ws(s.addr));
    let (slow_bytes, _still_connected) = slow.await.unwrap();
    assert!(slow_bytes.windows(8).any(|w| w == b"\"lagged\""), "the slow listener is told it was skipped");
    let (slow_skipped, dropped) = slow_record(&s.url()).await;
    assert!(slow_skipped > 0, "the slow listener's skipped frames are counted for it");
    assert_eq!(slow_skipped, dropped, "every dropped frame is the slow listener's");
    for (i, t) in others.into_iter().enumerate() {
        t.await.unwrap().check(&format!("WebSocket listener {i}"), 500);
    }
    s.shutdown().await;
}

async fn stall_then_drain_ws(addr: std::net::SocketAddr) -> (Vec<u8>, TcpStream) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut tcp = sock.connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /api/audio/ws?rung=pcm16&batch=5 HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\nConnection: Upgrade\r\n\
          Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = [0u8; 1024];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head[..n]));
    stall_then_read(tcp, Vec::new()).await
}
