//! A server restarted with the same configuration (as a process manager does) comes back with
//! its streams, and its listeners resume where they were: SSE with `Last-Event-ID`, WebSocket
//! with `last_seq`. Frame numbers come from the wall clock, so the restarted server numbers
//! past every frame the old one sent: each listener is told the gap once, exactly (the first
//! frame it gets is the one right after the frames it was told it missed), and never gets
//! other audio under numbers it already had.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::SseReader;
use common::{Server, serve, tmp};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// SIGTERM, as a process manager stops a service, then waits for the exit.
fn stop(mut server: Server) {
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the server did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The next SSE audio frame's number (its `id: frame-N`), passing over other events.
fn next_frame(sse: &mut SseReader) -> u64 {
    loop {
        let e = sse.next(5.0).expect("an SSE event within 5 s");
        if e.event.as_deref() == Some("audio-frame") {
            let id = e.id.as_deref().unwrap_or_default();
            if let Some(n) = id.strip_prefix("frame-") {
                return n.parse().expect("frame id");
            }
        }
    }
}

/// The first `status` event of an SSE connection, which must come before any audio.
fn first_status(sse: &mut SseReader) -> Value {
    loop {
        let e = sse.next(5.0).expect("an SSE event within 5 s");
        match e.event.as_deref() {
            Some("status") => return serde_json::from_str(&e.data).expect("status JSON"),
            Some("audio-frame") => panic!("audio before the status: {}", e.data),
            _ => continue, // the `connected` event
        }
    }
}

/// A WebSocket listener: (first status, 32-bit numbers of the first `frames` frames).
async fn ws_listen(url: &str, frames: usize) -> (Option<Value>, Vec<u32>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket connects");
    let mut status = None;
    let mut seqs = Vec::new();
    use futures_util::StreamExt;
    while seqs.len() < frames {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("the connection stays open")
            .expect("a message");
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).expect("JSON");
                if v["type"] == "status" && status.is_none() {
                    status = Some(v);
                }
            }
            Message::Binary(b) => {
                let msg = ondes_core::proto::audio::decode_audio(&b, None).expect("audio message");
                let first = msg.header.first_seq as u32;
                seqs.extend((0..msg.frames.len() as u32).map(|i| first.wrapping_add(i)));
            }
            _ => {}
        }
    }
    (status, seqs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_resume_across_a_restart_told_the_gap_once_and_exactly() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = tmp("restart.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n\n[[stream]]\nid = \"radio\"\n\
             source = \"tone:sine?freq=440\"\nchannels = 1\nrungs = \"64\"\n"
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let start = || serve(&["--config", &cfg], &[], Stdio::null());

    let server = start();
    let base = server.url.clone();
    let ws_base = server.ws();
    // an SSE listener and a WebSocket listener hear the stream
    let mut sse = SseReader::open(&format!("{base}/api/streams/radio/stream"));
    let mut sse_last = 0;
    for _ in 0..25 {
        let n = next_frame(&mut sse);
        assert!(sse_last == 0 || n == sse_last + 1, "SSE frames {sse_last} then {n}");
        sse_last = n;
    }
    let (_, before) = ws_listen(&format!("{ws_base}/api/streams/radio/ws?rung=64&batch=1"), 25).await;
    let ws_last = *before.last().unwrap();
    drop(sse);

    // the process manager stops the server and starts it again with the same configuration
    let down = Instant::now();
    stop(server);
    std::thread::sleep(Duration::from_millis(500));
    let server = start();
    let downtime_frames = down.elapsed().as_millis() as u64 / 20;

    // SSE resumes with Last-Event-ID: one gap status, then audio right after what it says
    let mut sse = SseReader::open_with_headers(
        &format!("{}/api/streams/radio/stream", server.url),
        &[("Last-Event-ID", &format!("frame-{sse_last}"))],
    );
    let status = first_status(&mut sse);
    assert_eq!(status["status"], "gap", "{status}");
    assert_eq!(status["from_frame"], sse_last + 1, "{status}");
    let missed = status["missed_frames"].as_u64().unwrap_or_else(|| panic!("a count: {status}"));
    assert!(missed > 0, "{status}");
    // the gap is at least the time the server was away (the old one sent nothing since)
    assert!(missed + 50 >= downtime_frames / 2, "missed {missed} frames of ~{downtime_frames} down");
    let first = next_frame(&mut sse);
    assert_eq!(first, sse_last + 1 + missed, "the first frame follows the reported gap exactly");
    let mut prev = first;
    for _ in 0..25 {
        let n = next_frame(&mut sse);
        assert_eq!(n, prev + 1, "contiguous after the gap");
        prev = n;
    }

    // WebSocket resumes with last_seq (the 32 bits audio messages carry): the same
    let (status, after) =
        ws_listen(&format!("{}/api/streams/radio/ws?rung=64&batch=1&last_seq={ws_last}", server.ws()), 10)
            .await;
    let status = status.expect("a status before audio");
    assert_eq!(status["status"], "gap", "{status}");
    let missed = status["missed_frames"].as_u64().unwrap_or_else(|| panic!("a count: {status}"));
    assert!(missed > 0, "{status}");
    assert_eq!(
        after[0],
        ws_last.wrapping_add(1).wrapping_add(missed as u32),
        "the first WebSocket frame follows the reported gap exactly ({status})"
    );
    stop(server);
}
