//! Slowloris over real loopback TCP: 500 connections that send one header byte every 10 s
//! must neither stop a new listener from connecting and playing nor disturb one already
//! playing, and each is closed by the header timeout (or sooner, to make room).

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLOW: usize = 500;

/// One slow client: a byte of a request head every 10 s. Returns how long the server kept
/// it open (until a read sees the close), or `None` if it was still open after `limit`.
async fn slow_client(addr: std::net::SocketAddr, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let head = b"GET /api/audio/stream HTTP/1.1\r\nHost: x\r\n";
    let mut buf = [0u8; 256];
    for byte in head.iter().cycle() {
        if tcp.write_all(&[*byte]).await.is_err() {
            return Some(t0.elapsed());
        }
        match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => return Some(t0.elapsed()), // an answer: the server let go of it
            Err(_) if t0.elapsed() > limit => return None,
            Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_senders_are_closed_and_listeners_play_on() {
    let s = start("[server]\nheader_timeout_secs = 10\nmax_pending_connections = 256\n").await;
    let url = s.url();
    // the canary plays from before the attack to after it
    let mut canary = Sse::open(&format!("{url}/api/audio/stream"), &[]).await;
    assert_eq!(canary.status, 200);
    let mut last = canary.next_audio().await["frame_number"].as_u64().unwrap();

    let attack: Vec<_> =
        (0..SLOW).map(|_| tokio::spawn(slow_client(s.addr, Duration::from_secs(25)))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // a new listener connects during the attack and plays
    let mut newcomer = Sse::open(&format!("{url}/api/audio/stream"), &[]).await;
    assert_eq!(newcomer.status, 200, "a new listener gets in during the attack");
    let mut n_last = newcomer.next_audio().await["frame_number"].as_u64().unwrap();
    let (st, _) = get_json(&format!("{url}/api/time"), None).await;
    assert_eq!(st, 200, "a plain request is answered during the attack");

    // both play without a gap while the slow connections are timed out (10 s)
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        let f = canary.next_audio().await["frame_number"].as_u64().unwrap();
        assert_eq!(f, last + 1, "the canary lost frames during the attack");
        last = f;
        let g = newcomer.next_audio().await["frame_number"].as_u64().unwrap();
        assert_eq!(g, n_last + 1, "the newcomer lost frames during the attack");
        n_last = g;
    }

    let mut kept = Vec::new();
    for t in attack {
        kept.push(t.await.unwrap().expect("every slow connection is closed within 25 s"));
    }
    let longest = kept.iter().max().unwrap();
    assert!(*longest < Duration::from_secs(15), "the header timeout is 10 s; one was kept {longest:?}");
    let (_, stats) = get_json(&format!("{url}/api/audio/stats"), None).await;
    let timed_out = stats["pending_timed_out_total"].as_u64().unwrap();
    let evicted = stats["pending_evicted_total"].as_u64().unwrap();
    assert!(timed_out + evicted >= SLOW as u64, "{timed_out} timed out + {evicted} evicted");
    assert!(evicted > 0, "500 slow connections against a limit of 256: the oldest made room");
    assert_eq!(stats["pending_connections"], 0, "{stats}");
    assert_eq!(stats["dropped_frames"], 0, "{stats}");
    s.shutdown().await;
}
