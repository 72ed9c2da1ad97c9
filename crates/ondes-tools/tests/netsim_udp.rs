//! The UDP netsim proxy on real loopback traffic: delay, loss, reordering and the rate cap
//! that come out match the link it models, and its counters match what the endpoints saw.
//!
//! Datagrams carry their sequence number and send time; the sender, the upstream server and
//! the client's receiver share this process's clock, so one-way delays are measured
//! directly. The tests take 1–6 s of wall time each (they run in parallel) and are bounded
//! by timeouts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ondes_sim::netmodel::{LinkParams, Schedule, UDP_IP_OVERHEAD};
use ondes_tools::netsim::{NetsimUdpOptions, NetsimUdpProxy};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

/// Payload of every test datagram: sequence number, send time (µs), padding.
const SIZE: usize = 200;

async fn proxy_to(upstream: SocketAddr, params: LinkParams, seed: u64) -> NetsimUdpProxy {
    let opts =
        NetsimUdpOptions::new("127.0.0.1:0".into(), upstream.to_string(), Schedule::constant(params), seed);
    NetsimUdpProxy::start(opts).await.unwrap()
}

fn us_since(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

fn datagram(seq: u64, origin: Instant) -> [u8; SIZE] {
    let mut d = [0u8; SIZE];
    d[..8].copy_from_slice(&seq.to_le_bytes());
    d[8..16].copy_from_slice(&us_since(origin).to_le_bytes());
    d
}

/// (sequence number, send time µs) of a test datagram.
fn header(d: &[u8]) -> (u64, u64) {
    (u64::from_le_bytes(d[..8].try_into().unwrap()), u64::from_le_bytes(d[8..16].try_into().unwrap()))
}

/// One arrival: (sequence number, send µs, arrival µs).
type Arrival = (u64, u64, u64);

/// What an upstream server saw: each arrival and where it came from.
type ServerLog = Arc<Mutex<Vec<(Arrival, SocketAddr)>>>;

/// An upstream server that records every datagram's arrival and, if `echo`, sends it back.
async fn server(echo: bool, origin: Instant) -> (SocketAddr, ServerLog, JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let (seq, sent) = header(&buf[..n]);
            log2.lock().unwrap().push(((seq, sent, us_since(origin)), from));
            if echo {
                let _ = sock.send_to(&buf[..n], from).await;
            }
        }
    });
    (addr, log, task)
}

/// Sends `n` datagrams `gap` apart through the proxy from one socket; returns what came back
/// until `linger` after the last send.
async fn send_paced(
    proxy: SocketAddr,
    n: u64,
    gap: Duration,
    linger: Duration,
    origin: Instant,
) -> Vec<Arrival> {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    sock.connect(proxy).await.unwrap();
    let start = Instant::now();
    let end = start + gap * n as u32 + linger;
    let rx = sock.clone();
    let receiver = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        while let Ok(Ok(n)) = timeout_at(end, rx.recv(&mut buf)).await {
            let (seq, sent) = header(&buf[..n]);
            out.push((seq, sent, us_since(origin)));
        }
        out
    });
    for i in 0..n {
        sleep_until(start + gap * i as u32).await;
        sock.send(&datagram(i, origin)).await.unwrap();
    }
    receiver.await.unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Datagrams that arrived after one with a higher sequence number (RFC 4737).
fn reordered(arrivals: &[Arrival]) -> u64 {
    let mut max = None;
    let mut count = 0;
    for &(seq, _, _) in arrivals {
        match max {
            Some(m) if seq < m => count += 1,
            _ => max = Some(seq),
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_delay_and_loss_match_the_profile() {
    let p = 0.05;
    let params = LinkParams::parse_spec("custom bw=10mbps delay=50ms loss=5%").unwrap();
    let origin = Instant::now();
    let (upstream, at_server, server) = server(true, origin).await;
    let proxy = proxy_to(upstream, params, 5).await;
    // 2,000 × 228 bytes every 2 ms: 912 kbit/s on a 10 Mbit/s link, so no queue forms
    let n = 2_000u64;
    let back = timeout(
        Duration::from_secs(20),
        send_paced(proxy.local_addr, n, Duration::from_millis(2), Duration::from_millis(600), origin),
    )
    .await
    .unwrap();
    server.abort();
    let at_server: Vec<Arrival> = at_server.lock().unwrap().iter().map(|a| a.0).collect();
    let stats = proxy.stats.snapshot();
    proxy.stop().await;

    let one_way = median(at_server.iter().map(|&(_, s, a)| (a - s) as f64 / 1e3).collect());
    let rtt = median(back.iter().map(|&(_, s, a)| (a - s) as f64 / 1e3).collect());
    let lost = n - back.len() as u64;
    let loss = lost as f64 / n as f64;
    let expected_loss = 1.0 - (1.0 - p) * (1.0 - p);
    println!(
        "netsim udp: one-way {one_way:.2} ms (model 50), round trip {rtt:.2} ms (model 100), \
         round-trip loss {:.2}% (model {:.2}%; {} lost up, {} down)",
        loss * 100.0,
        expected_loss * 100.0,
        stats.up.losses,
        stats.down.losses
    );
    println!("netsim udp: {stats:?}");
    assert!((one_way - 50.0).abs() <= 5.0, "one-way delay {one_way:.2} ms, model 50 ms");
    assert!((rtt - 100.0).abs() <= 10.0, "round trip {rtt:.2} ms, model 100 ms");
    // A round trip survives each direction independently: lost ~ Binomial(n, 1 − (1 − p)²),
    // σ = √(n·q·(1 − q)) ≈ 13.3 datagrams (0.66 points) for n = 2000, q = 9.75%. Four σ
    // (2.65 points) is exceeded with probability < 10⁻⁴ whatever the seed, while loss
    // applied one way only (5%) or twice each way (18.5%) is 7 σ or more away.
    let sigma = (n as f64 * expected_loss * (1.0 - expected_loss)).sqrt();
    assert!(
        (lost as f64 - n as f64 * expected_loss).abs() <= 4.0 * sigma,
        "round-trip loss {lost} of {n}, expected {:.0} ± {:.0}",
        n as f64 * expected_loss,
        4.0 * sigma
    );
    // the counters account for every datagram the endpoints saw
    assert_eq!(stats.up.datagrams, n);
    assert_eq!(stats.up.delivered, at_server.len() as u64);
    assert_eq!(stats.down.datagrams, at_server.len() as u64);
    assert_eq!(stats.down.delivered, back.len() as u64);
    assert_eq!(stats.up.losses + stats.down.losses, lost, "{stats:?}");
    assert_eq!(
        (stats.up.queue_drops, stats.up.overflow, stats.down.queue_drops, stats.down.overflow),
        (0, 0, 0, 0)
    );
    // no reordering in the profile: none reaches either end
    assert_eq!((reordered(&at_server), reordered(&back)), (0, 0));
    assert_eq!((stats.up.reordered, stats.down.reordered, stats.flows), (0, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_rate_cap_holds_and_the_excess_is_dropped_at_the_queue() {
    let cap = 200_000.0;
    let params = LinkParams::parse_spec("custom bw=200kbps delay=20ms").unwrap(); // 200 ms buffer
    let origin = Instant::now();
    let (upstream, at_server, server) = server(false, origin).await;
    let proxy = proxy_to(upstream, params, 9).await;
    // twice the cap, headers included: a 228-byte datagram every 4.56 ms, for 5 s
    let wire_bits = ((SIZE + UDP_IP_OVERHEAD) * 8) as f64;
    let gap = Duration::from_secs_f64(wire_bits / (2.0 * cap));
    let n = (5.0 / gap.as_secs_f64()) as u64;
    timeout(
        Duration::from_secs(20),
        send_paced(proxy.local_addr, n, gap, Duration::from_millis(500), origin),
    )
    .await
    .unwrap();
    server.abort();
    let at_server: Vec<Arrival> = at_server.lock().unwrap().iter().map(|a| a.0).collect();
    let stats = proxy.stats.snapshot();
    proxy.stop().await;

    // steady state at the server: from 1 s (the buffer has filled) to 5 s (the sender stops)
    let window: Vec<_> = at_server.iter().filter(|a| (1_000_000..5_000_000).contains(&a.2)).collect();
    let rate = window.len() as f64 * wire_bits / 4.0;
    // what the sender offered beyond what the link carried while it sent, less what the
    // bottleneck buffer (200 ms at the cap: ~22 datagrams) held when it stopped and
    // delivered after
    let sent_for = (n - 1) as f64 * gap.as_secs_f64();
    let buffered = (cap * 0.2 / wire_bits).floor();
    let excess = n as f64 - cap * sent_for / wire_bits - buffered;
    println!(
        "netsim udp: {rate:.0} bit/s delivered (cap {cap}, offered {:.0}); {} of {n} dropped at the \
         queue (excess {excess:.0})",
        2.0 * cap,
        stats.up.queue_drops
    );
    assert!((rate - cap).abs() <= 0.1 * cap, "delivered {rate:.0} bit/s, cap {cap} bit/s");
    let drops = stats.up.queue_drops as f64;
    assert!((drops - excess).abs() <= 0.1 * excess, "{drops} queue drops, excess {excess:.0}");
    // every datagram the server did not get was a queue drop, and nothing else was lost
    assert_eq!(stats.up.queue_drops, n - at_server.len() as u64, "{stats:?}");
    assert_eq!((stats.up.losses, stats.up.overflow, stats.up.delivered), (0, 0, at_server.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_reordering_reaches_the_receiver() {
    let p = 0.1;
    let params = LinkParams::parse_spec("custom delay=10ms reorder=10% reorder_delay=30ms").unwrap();
    let origin = Instant::now();
    let (upstream, at_server, server) = server(false, origin).await;
    let proxy = proxy_to(upstream, params, 21).await;
    let n = 500u64;
    timeout(
        Duration::from_secs(10),
        send_paced(proxy.local_addr, n, Duration::from_millis(2), Duration::from_millis(200), origin),
    )
    .await
    .unwrap();
    server.abort();
    let at_server: Vec<Arrival> = at_server.lock().unwrap().iter().map(|a| a.0).collect();
    let stats = proxy.stats.snapshot();
    proxy.stop().await;
    let seen = reordered(&at_server);
    println!("netsim udp: {seen} of {n} datagrams reordered (model {:.0})", p * n as f64);
    assert_eq!(at_server.len() as u64, n, "the profile loses nothing");
    // a held datagram is 30 ms late, overtaken by the ~15 sent after it: each one held is
    // one reordered arrival. Held ~ Binomial(500, 0.1), σ ≈ 6.7; 4 σ as above.
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!((seen as f64 - p * n as f64).abs() <= 4.0 * sigma, "{seen} reordered of {n}");
    assert_eq!(stats.up.reordered, seen, "proxy counted {} reordered", stats.up.reordered);
}

/// Sends one datagram; whether it came back within 200 ms.
async fn ping(s: &UdpSocket, seq: u64, origin: Instant) -> bool {
    s.send(&datagram(seq, origin)).await.unwrap();
    let mut buf = [0u8; SIZE];
    matches!(timeout(Duration::from_millis(200), s.recv(&mut buf)).await, Ok(Ok(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flows_are_bounded_and_idle_ones_close() {
    let origin = Instant::now();
    let (upstream, at_server, server) = server(true, origin).await;
    let mut opts = NetsimUdpOptions::new(
        "127.0.0.1:0".into(),
        upstream.to_string(),
        Schedule::constant(LinkParams::ideal()),
        1,
    );
    opts.max_flows = 2;
    opts.idle_timeout = Duration::from_millis(300);
    let proxy = NetsimUdpProxy::start(opts).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.connect(proxy.local_addr).await.unwrap();
        clients.push(s);
    }
    let answered = [
        ping(&clients[0], 0, origin).await,
        ping(&clients[1], 1, origin).await,
        ping(&clients[2], 2, origin).await,
    ];
    let stats = proxy.stats.snapshot();
    println!("netsim udp: answered {answered:?} with 2 flows allowed; {stats:?}");
    assert_eq!(answered, [true, true, false]);
    assert_eq!((stats.flows, stats.active, stats.refused), (2, 2, 1));
    // each flow reaches the server from its own upstream socket
    let seen: Vec<_> = at_server.lock().unwrap().iter().map(|&((seq, _, _), from)| (seq, from)).collect();
    assert_eq!(seen.iter().map(|a| a.0).collect::<Vec<_>>(), [0, 1]);
    assert_ne!(seen[0].1, seen[1].1, "two clients share an upstream socket");

    // quiet for longer than the idle timeout: both flows close, and the third client gets in
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.stats.snapshot().active, 0);
    assert!(
        ping(&clients[2], 3, origin).await,
        "the refused client still has no flow after the others idled out"
    );
    let stats = proxy.stats.snapshot();
    assert_eq!((stats.flows, stats.active, stats.refused), (3, 1, 1));
    // stopping closes the remaining flow
    let live = proxy.stats.clone();
    proxy.stop().await;
    server.abort();
    assert_eq!(live.snapshot().active, 0);
}
