//! `ondes bench fanout --transport hls` against a real in-process server on loopback: LL-HLS
//! clients (blocking playlist reloads and parts on keep-alive connections) get every part.

mod common;

use std::time::Duration;

use ondes_tools::bench::fanout::{FanoutOptions, Transport, run_fanout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_clients_get_every_part_and_the_counts_add_up() {
    let s = common::start("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n").await;
    let mut opts = FanoutOptions::new(format!("{}/api/audio/hls/index.m3u8", s.url()));
    opts.transport = Transport::Hls;
    opts.listeners = 20;
    opts.duration = Duration::from_secs(3);
    opts.hls_rung = Some("64".into());
    let r = run_fanout(opts, None).await.unwrap();
    let table = r.to_table();
    assert_eq!((r.listeners_connected, r.listeners_alive), (20, 20), "{table}");
    assert!(r.url.ends_with("/api/audio/hls/index.m3u8"), "the alias lists variants that resolve: {table}");
    // 200 ms parts: about 15 per listener in 3 s
    assert!(r.parts_received >= 20 * 10, "{table}");
    assert_eq!(r.parts_missed, 0, "{table}");
    assert_eq!(r.gaps, 0, "{table}");
    // every part is 10 frames of 20 ms
    assert_eq!(r.frames_received, r.parts_received * 10, "{table}");
    assert!(r.playlist_reload_ms.samples >= r.parts_received / 2, "{table}");
    // a blocking reload waits for the next part: at most about one part (200 ms) on loopback
    assert!(r.playlist_reload_ms.p50.is_some_and(|p| p < 400.0), "{table}");
    assert!(r.bytes_received > r.parts_received * 1000, "64 kbit/s parts are ~1.6 KB: {table}");
    assert!(table.contains("parts") && table.contains("reload ms"), "{table}");
    s.shutdown().await;
}
