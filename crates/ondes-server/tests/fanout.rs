//! Fan-out behaviour: many listeners, slow listeners, over real HTTP on loopback.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads `n` audio events and returns (frame numbers, max latency in ms).
async fn read_frames(sse: &mut Sse, n: usize) -> (Vec<u64>, i64) {
    let mut nums = Vec::with_capacity(n);
    let mut max_latency = 0i64;
    while nums.len() < n {
        let e = sse.next_within(5.0).await.expect("stream ended");
        if e.event.as_deref() != Some("audio-frame") {
            continue;
        }
        // the id carries the frame number; the timestamp is near the start of the data
        let id = e.id.unwrap();
        nums.push(id.strip_prefix("frame-").unwrap().parse().unwrap());
        let ts_at = e.data.find("\"timestamp\":").unwrap() + 12;
        let ts: i64 = e.data[ts_at..].split(',').next().unwrap().parse().unwrap();
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        max_latency = max_latency.max(now - ts);
    }
    (nums, max_latency)
}

fn assert_consecutive(nums: &[u64]) {
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "missing frames between {} and {}", w[0], w[1]);
    }
}

/// 50 concurrent SSE clients each receive 100 consecutive frames: zero missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_lose_nothing() {
    let s = start("").await;
    let url = format!("{}/api/audio/stream", s.url());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut sse = Sse::open(&url, &[]).await;
            read_frames(&mut sse, 100).await.0
        }));
    }
    for t in tasks {
        let nums = t.await.unwrap();
        assert_eq!(nums.len(), 100);
        assert_consecutive(&nums);
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(stats["dropped_frames"], 0);
    // one serialisation per frame for 50 listeners
    let ser = stats["serializations_total"].as_u64().unwrap();
    let frames = stats["total_frames"].as_u64().unwrap();
    let events = stats["events_sent_total"].as_u64().unwrap();
    assert!(ser <= frames, "{ser} serialisations for {frames} frames");
    assert!(events >= 50 * 100, "{events} events sent");
    s.shutdown().await;
}

/// A listener that reads nothing for 5 s is skipped ahead (and counted) while 10 fast
/// listeners lose nothing and see no extra latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_listener_costs_nobody_else() {
    let s = start("[server]\nmax_listener_lag_ms = 500\n").await;
    let url = format!("{}/api/audio/stream", s.url());

    // the slow one: a raw socket with a small receive buffer that stops reading
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut slow = sock.connect(s.addr).await.unwrap();
    slow.write_all(b"GET /api/audio/stream HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n").await.unwrap();
    let mut head = [0u8; 512];
    let n = slow.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));

    let mut fast = Vec::new();
    for _ in 0..10 {
        let url = url.clone();
        fast.push(tokio::spawn(async move {
            let mut sse = Sse::open(&url, &[]).await;
            // 6 s of frames, spanning the slow listener's stall
            read_frames(&mut sse, 300).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;

    // the slow listener now drains its socket: it must find a "lagged" notice
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), slow.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => {}
        }
        if seen.windows(8).any(|w| w == b"\"lagged\"") {
            break;
        }
    }
    assert!(seen.windows(8).any(|w| w == b"\"lagged\""), "the slow listener is told it was skipped to live");

    for t in fast {
        let (nums, max_latency) = t.await.unwrap();
        assert_consecutive(&nums);
        assert!(max_latency < 500, "a fast listener saw {max_latency} ms latency");
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    let dropped = stats["dropped_frames"].as_u64().unwrap();
    assert!(dropped > 0, "the slow listener's skipped frames are counted");
    // the slow listener is the one that skipped (public stats do not name user agents)
    let slow_conn = stats["connections"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|c| c["skipped_frames"].as_u64().unwrap())
        .unwrap();
    assert_eq!(slow_conn["skipped_frames"].as_u64().unwrap(), dropped, "all drops are the slow listener's");
    s.shutdown().await;
}
