//! `run_fanout` against tiny in-test SSE servers on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ondes_tools::bench::fanout::{FanoutOptions, FanoutPhase, Transport, run_fanout};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// An `audio-frame` event as the server writes it; `samples` floats per channel.
fn audio_event(n: u64, frames: u32, samples: usize, timestamp_ms: u64) -> String {
    let floats = vec!["-0.0123"; samples].join(",");
    format!(
        "event: audio-frame\nid: frame-{n}\ndata: {{\"frame_number\":{n},\"timestamp\":{timestamp_ms},\
         \"sample_rate\":48000,\"channels\":2,\"duration_ms\":20.0,\"frames\":{frames},\"format\":\"json\",\
         \"channel_a\":[{floats}],\"channel_b\":[{floats}]}}\n\n"
    )
}

/// Frames `body` with the chunked transfer coding, cutting it into chunks of cycling sizes.
fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, piece) in split_cycling(body, sizes).into_iter().enumerate() {
        let ext = if i % 3 == 0 { ";x=y" } else { "" };
        out.extend_from_slice(format!("{:x}{ext}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn split_cycling<'a>(mut bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while !bytes.is_empty() {
        let n = sizes[i % sizes.len()].min(bytes.len());
        out.push(&bytes[..n]);
        bytes = &bytes[n..];
        i += 1;
    }
    out
}

/// Reads a request head; returns it as text.
async fn read_request(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut tmp).await.unwrap();
        assert!(n > 0, "client closed before sending its request");
        buf.extend_from_slice(&tmp[..n]);
    }
    String::from_utf8(buf).unwrap()
}

/// Writes `bytes` in pieces of cycling sizes, yielding in between so reads split them.
async fn write_in_pieces(sock: &mut TcpStream, bytes: &[u8], sizes: &[usize]) -> std::io::Result<()> {
    for piece in split_cycling(bytes, sizes) {
        sock.write_all(piece).await?;
        sock.flush().await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}

const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";

/// The stream each listener of the gap test gets once the window has started: frames
/// 100..=139, where 105 carries two frames (so 106 is not missing) and 120 is missing.
/// 38 events, 39 frames, 1 missing frame.
fn planned_events() -> String {
    let ts = now_ms() - 50;
    let mut s = String::new();
    let mut n = 100;
    while n < 140 {
        match n {
            105 => {
                s.push_str(&audio_event(n, 2, 4, ts));
                n += 2;
                continue;
            }
            120 => {}
            110 => s.push_str(&audio_event(n, 1, 960, ts)),
            _ => s.push_str(&audio_event(n, 1, 4, ts)),
        }
        if n == 115 {
            s.push_str("event: heartbeat\ndata: heartbeat-1\n\n: comment\n\n");
        }
        n += 1;
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_exactly_the_missing_frame_on_every_listener() {
    const N: usize = 8;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (phase_tx, phase_rx) = watch::channel(FanoutPhase::Connecting);
    let requests = Arc::new(Mutex::new(Vec::new()));

    let server_requests = Arc::clone(&requests);
    let server = tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut phase = phase_rx.clone();
            let requests = Arc::clone(&server_requests);
            tokio::spawn(async move {
                requests.lock().await.push(read_request(&mut sock).await);
                sock.write_all(SSE_HEAD).await.unwrap();
                // Frames before the window: not counted, and no gap across the start.
                let early = format!(
                    "retry: 1000\nid: conn-1\ndata: connected\n\n{}",
                    audio_event(99, 1, 4, now_ms())
                );
                sock.write_all(&chunked(early.as_bytes(), &[usize::MAX])).await.unwrap();
                phase.wait_for(|p| *p == FanoutPhase::Measuring).await.unwrap();
                let wire = chunked(planned_events().as_bytes(), &[1, 13, 700, 4096, 3, 20_000]);
                write_in_pieces(&mut sock, &wire, &[5000, 17, 1, 9000]).await.unwrap();
                // Stay open (silent) until the bench disconnects.
                let mut rest = [0u8; 64];
                while sock.read(&mut rest).await.is_ok_and(|n| n > 0) {}
            });
        }
    });

    let mut opts = FanoutOptions::new(format!("http://{addr}"));
    opts.transport = Transport::Sse;
    opts.listeners = N;
    opts.duration = Duration::from_millis(1500);
    opts.warmup = Duration::ZERO;
    opts.ramp = Some(Duration::ZERO);
    opts.token = Some("t0k".into());
    // The fake server sends a burst then goes quiet: make neither count here.
    opts.stall_threshold = Duration::from_secs(30);
    opts.alive_window = Duration::from_secs(30);
    opts.phase = Some(phase_tx);
    let report = run_fanout(opts, None).await.unwrap();
    server.abort();

    assert_eq!(report.listeners_requested, N);
    assert_eq!(report.listeners_connected, N, "{report:#?}");
    assert_eq!(report.listeners_alive, N, "{report:#?}");
    assert!(report.connect_failures.is_empty(), "{report:#?}");
    assert_eq!(report.gaps, N as u64, "one missing frame per listener: {report:#?}");
    assert_eq!(report.listeners_with_gaps, N);
    assert_eq!(report.frames_received, 39 * N as u64, "{report:#?}");
    assert_eq!(report.events_received, 38 * N as u64);
    assert_eq!(report.out_of_order, 0);
    assert_eq!(report.heartbeats, N as u64);
    assert_eq!(report.unparsed_events, 0);
    assert_eq!(report.disconnects, 0);
    assert_eq!(report.stalls, 0);
    assert_eq!(report.frames_per_second, Some(50.0));
    assert_eq!(report.latency_ms.samples, 38 * N as u64);
    let p50 = report.latency_ms.p50.unwrap();
    assert!((49.0..5000.0).contains(&p50), "timestamps were 50 ms old: p50 {p50}");
    assert!(report.bytes_received > 38 * N as u64 * 200, "{}", report.bytes_received);
    assert!(report.duration_secs >= 1.5);
    assert_eq!(report.url, format!("http://{addr}/api/audio/stream"));
    let table = report.to_table();
    assert!(table.contains("8 requested, 8 connected, 8 alive"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["transport"], "sse");
    assert_eq!(json["gaps"], 8);

    let requests = requests.lock().await;
    assert_eq!(requests.len(), N);
    for r in requests.iter() {
        assert!(r.starts_with("GET /api/audio/stream HTTP/1.1\r\n"), "{r}");
        assert!(r.contains("\r\nAccept: text/event-stream\r\n"), "{r}");
        assert!(r.contains("\r\nAuthorization: Bearer t0k\r\n"), "{r}");
        assert!(r.contains(&format!("\r\nHost: {addr}\r\n")), "{r}");
    }
}

/// Accepts connections; every second one is refused with 503, the others get a live stream
/// of 20 ms frames. One of the live ones is ended by the server during the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_http_failures_disconnects_and_alive_listeners() {
    const N: usize = 6;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (phase_tx, phase_rx) = watch::channel(FanoutPhase::Connecting);
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let i = accepted.fetch_add(1, Ordering::Relaxed);
            let mut phase = phase_rx.clone();
            tokio::spawn(async move {
                read_request(&mut sock).await;
                if i % 2 == 1 {
                    let body = "{\"error\":\"overloaded\"}";
                    let resp = format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    return;
                }
                sock.write_all(SSE_HEAD).await.unwrap();
                let mut n = 0u64;
                loop {
                    let ev = audio_event(n, 1, 16, now_ms());
                    if sock.write_all(&chunked(ev.as_bytes(), &[usize::MAX])).await.is_err() {
                        return;
                    }
                    n += 1;
                    if i == 0 && *phase.borrow_and_update() == FanoutPhase::Measuring {
                        // The first listener's stream ends: error event, last chunk, close.
                        let end = "event: error\ndata: error: stream ending\n\n";
                        let mut wire = chunked(end.as_bytes(), &[usize::MAX]);
                        wire.extend_from_slice(b"0\r\n\r\n");
                        let _ = sock.write_all(&wire).await;
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });

    let mut opts = FanoutOptions::new(format!("http://{addr}/api/streams/main/stream?max_fps=50"));
    opts.listeners = N;
    opts.duration = Duration::from_millis(1200);
    opts.warmup = Duration::from_millis(100);
    opts.ramp = Some(Duration::from_millis(100));
    opts.phase = Some(phase_tx);
    let report = run_fanout(opts, None).await.unwrap();
    server.abort();

    assert_eq!(report.listeners_connected, N / 2, "{report:#?}");
    assert_eq!(report.connect_failures.get("http_503"), Some(&(N as u64 / 2)), "{report:#?}");
    assert_eq!(report.connect_failures.len(), 1);
    assert_eq!(report.disconnects, 1, "{report:#?}");
    assert_eq!(report.disconnect_reasons.get("closed"), Some(&1));
    assert_eq!(report.error_events, 1);
    assert_eq!(report.listeners_alive, N / 2 - 1, "{report:#?}");
    assert_eq!(report.out_of_order, 0);
    assert!(report.frames_received > 0);
    // Two live listeners for the whole window, one for (almost) none of it.
    assert!(report.listener_seconds > 2.0 * 1.2 && report.listener_seconds < 3.0 * 1.2, "{report:#?}");
    assert_eq!(report.url, format!("http://{addr}/api/streams/main/stream?max_fps=50"));
}

#[tokio::test]
async fn refused_connections_are_counted_not_fatal() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut opts = FanoutOptions::new(format!("http://{addr}/"));
    opts.listeners = 3;
    opts.duration = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let report = run_fanout(opts, None).await.unwrap();
    assert_eq!(report.listeners_connected, 0);
    assert_eq!(report.connect_failures.get("refused"), Some(&3), "{report:#?}");
    assert_eq!(report.frames_received, 0);
    assert_eq!(report.latency_ms.p50, None);
    assert!(started.elapsed() < Duration::from_secs(5), "no window is measured without listeners");
}

#[tokio::test]
async fn rejects_bad_options() {
    let mut opts = FanoutOptions::new("ftp://127.0.0.1:1/");
    assert!(run_fanout(opts.clone(), None).await.is_err());
    opts.url = "http://127.0.0.1:1/".into();
    opts.listeners = 0;
    assert!(run_fanout(opts, None).await.is_err());
    assert!("smoke-signals".parse::<Transport>().is_err());
    assert_eq!("ws".parse::<Transport>().unwrap(), Transport::Ws);
    assert_eq!("SSE".parse::<Transport>().unwrap(), Transport::Sse);
}
