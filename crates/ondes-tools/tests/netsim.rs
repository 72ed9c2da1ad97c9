//! The netsim proxy on real loopback traffic: what comes out matches the link it models.
//!
//! Delay and loss are measured one way with small timestamped pings (the sender and the
//! receiver share this process's clock); throughput and the loss rate with bulk transfers.
//! Each test runs 30 s of real traffic (the measure) and is bounded by a timeout.

use std::time::Duration;

use ondes_sim::netmodel::{LinkParams, Schedule, TCP_IP_OVERHEAD, TCP_MSS};
use ondes_tools::netsim::{NetsimOptions, NetsimProxy, NetsimSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

async fn proxy_to(upstream: &TcpListener, params: LinkParams, seed: u64) -> NetsimProxy {
    let opts = NetsimOptions {
        listen: "127.0.0.1:0".into(),
        upstream: upstream.local_addr().unwrap().to_string(),
        schedule: Schedule::constant(params),
        seed,
        drop_ws_messages: 0.0,
    };
    NetsimProxy::start(opts).await.unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Sends `n` 16-byte pings `gap` apart through a proxy; returns (send, arrival) offsets in ms.
async fn pings(params: LinkParams, n: u64, gap: Duration) -> (Vec<(f64, f64)>, u64) {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = proxy_to(&upstream, params, 7).await;
    let origin = Instant::now();
    let receiver = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut out = Vec::new();
        let mut rec = [0u8; 16];
        while s.read_exact(&mut rec).await.is_ok() {
            let sent_us = u64::from_le_bytes(rec[8..].try_into().unwrap());
            out.push((sent_us as f64 / 1e3, origin.elapsed().as_micros() as f64 / 1e3));
        }
        out
    });
    let mut s = TcpStream::connect(proxy.local_addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    for i in 0..n {
        tokio::time::sleep_until(origin + gap * i as u32).await;
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&i.to_le_bytes());
        rec[8..].copy_from_slice(&(origin.elapsed().as_micros() as u64).to_le_bytes());
        s.write_all(&rec).await.unwrap();
    }
    s.shutdown().await.unwrap();
    let out = receiver.await.unwrap();
    let retransmitted = proxy.stats.snapshot().retransmitted;
    proxy.stop().await;
    (out, retransmitted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsim_delay_and_loss_penalty_match_the_profile() {
    let params = LinkParams::parse_spec("custom bw=1mbps delay=100ms loss=15%").unwrap();
    let penalty_ms = params.retransmit_penalty_us() as f64 / 1e3; // 1.25 × 200 ms
    assert_eq!(penalty_ms, 250.0);
    let n = 100; // 30 s
    let (out, retransmitted) =
        timeout(Duration::from_secs(60), pings(params, n, Duration::from_millis(300))).await.unwrap();
    assert_eq!(out.len() as u64, n, "TCP through the proxy lost pings");

    // a ping held back behind a late one arrives with it: classify by arrival gaps
    let mut clean = Vec::new();
    let mut penalties = Vec::new();
    let mut late = 0;
    let mut prev_arrival = f64::MIN;
    for &(sent, arrived) in &out {
        let latency = arrived - sent;
        let held = arrived - prev_arrival < 5.0;
        if latency < 100.0 + penalty_ms / 2.0 {
            clean.push(latency);
        } else if !held {
            late += 1;
            penalties.push(latency);
        }
        prev_arrival = arrived;
    }
    let delay = median(&mut clean);
    println!("netsim: one-way delay {delay:.1} ms (profile 100 ms), {late} of {n} pings retransmitted");
    assert!((delay - 100.0).abs() <= 10.0, "one-way delay {delay:.1} ms, profile 100 ms");
    let penalty = median(&mut penalties) - delay;
    println!("netsim: loss penalty {penalty:.1} ms (model {penalty_ms} ms)");
    assert!(
        (penalty - penalty_ms).abs() <= 0.1 * penalty_ms,
        "loss penalty {penalty:.1} ms, model {penalty_ms} ms"
    );
    // every segment the model lost shows up as a late ping, and only those
    assert_eq!(late, retransmitted, "late pings {late}, retransmissions {retransmitted}");
    // and the model's losses are the profile's 15% (3 standard deviations of a binomial)
    let sigma = (n as f64 * 0.15 * 0.85).sqrt();
    assert!((late as f64 - 0.15 * n as f64).abs() <= 3.0 * sigma, "{late} late of {n}");
}

/// A sender writing as fast as the proxy takes it for `span`: (ms, total bytes received)
/// after each read, and the proxy's counters. What the kernel's loopback buffers still hold
/// at the end would take minutes to drain on a slow link, so the receiver just stops.
async fn bulk(params: LinkParams, seed: u64, span: Duration) -> (Vec<(f64, u64)>, NetsimSnapshot) {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = proxy_to(&upstream, params, seed).await;
    let origin = Instant::now();
    let receiver = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut marks = Vec::new();
        let mut total = 0u64;
        while let Ok(Ok(n)) = tokio::time::timeout_at(origin + span, s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            total += n as u64;
            marks.push((origin.elapsed().as_secs_f64() * 1e3, total));
        }
        marks
    });
    let addr = proxy.local_addr;
    let sender = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let chunk = vec![7u8; 16 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    });
    let marks = timeout(span + Duration::from_secs(30), receiver).await.unwrap().unwrap();
    sender.abort();
    let stats = proxy.stats.snapshot();
    proxy.stop().await;
    (marks, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsim_throughput_matches_the_profile() {
    let params = LinkParams::profile("3g").unwrap(); // 200 kbit/s
    let (marks, _) = bulk(params, 3, Duration::from_millis(30_200)).await;
    // steady state: from 2 s (the 500 ms bottleneck buffer has filled) to 30 s
    let at = |ms: f64| marks.iter().take_while(|m| m.0 <= ms).last().map_or(0, |m| m.1);
    let rate = (at(30_000.0) - at(2_000.0)) as f64 * 8.0 / 28.0;
    let expected = 200_000.0 * TCP_MSS as f64 / (TCP_MSS + TCP_IP_OVERHEAD) as f64;
    println!("netsim: payload rate {rate:.0} bit/s through 3g (profile payload {expected:.0} bit/s)");
    assert!(
        (rate - expected).abs() <= 0.1 * expected,
        "payload rate {rate:.0} bit/s, profile {expected:.0} bit/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsim_keeps_every_byte_in_order_both_ways() {
    let params = LinkParams::parse_spec("fiber loss=5% reorder=5%").unwrap();
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = proxy_to(&upstream, params, 11).await;
    let echo = tokio::spawn(async move {
        let (s, _) = upstream.accept().await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let s = TcpStream::connect(proxy.local_addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&sent).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    timeout(Duration::from_secs(30), rd.read_to_end(&mut back)).await.unwrap().unwrap();
    writer.await.unwrap();
    echo.await.unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes changed or reordered through the proxy");
    let stats = proxy.stats.snapshot();
    assert!(stats.retransmitted > 0, "the profile's loss was not applied: {stats:?}");
    assert_eq!((stats.bytes_up, stats.bytes_down), (data.len() as u64, data.len() as u64));
    proxy.stop().await;
}

/// The loss rate the proxy applies to real traffic: a 30 s bulk transfer at 5 Mbit/s is
/// ~12,000 segments, so 15% loss is ~1,800 ± 40 (one binomial σ) and 10% of it is 4.5 σ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsim_loss_rate_matches_the_profile() {
    let params = LinkParams::parse_spec("custom bw=5mbps delay=20ms loss=15%").unwrap();
    let (_, stats) = bulk(params, 5, Duration::from_secs(30)).await;
    let rate = stats.retransmitted as f64 / stats.segments.max(1) as f64;
    println!(
        "netsim: {} of {} segments lost ({:.2}%, profile 15%)",
        stats.retransmitted,
        stats.segments,
        rate * 100.0
    );
    assert!(stats.segments > 8_000, "too little traffic to measure: {stats:?}");
    assert!((rate - 0.15).abs() <= 0.1 * 0.15, "loss {:.2}%, profile 15%", rate * 100.0);
}
