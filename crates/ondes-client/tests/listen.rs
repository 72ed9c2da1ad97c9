//! `ondes_client::listener` against a real in-process server over loopback: the demo stream
//! over WebSocket (PCM and Opus rungs) and SSE, played through the jitter buffer into WAV
//! and Ogg files.
//!
//! These tests check the pipeline — transport, decoding, playout clock, files, reports — not
//! the buffer's adaptation, which the simulated-time tests of `ondes_core::jitter` cover. So
//! they give the jitter buffer a 250 ms floor: on a loaded two-core host (load 8 while other
//! builds run) the server's source thread and our own tasks stall for 40–150 ms at times —
//! real delay spikes, which an adaptive buffer starting at one frame answers with an
//! underrun before it grows, and "zero underruns" would then test the host rather than the
//! code. Loss cannot hide behind the floor: a frame the client or the transport drops never
//! arrives and is counted lost whatever the buffer. One server is shared by all tests (one
//! demo source instead of five competing for the CPU).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ondes_client::listener::{ListenOptions, ListenReport, listen};

/// The demo server, started once on its own runtime thread for the whole test binary.
/// The test server's token secret (listeners' reports are shown to `debug_access` only).
const SECRET: &str = "listen-test-secret";

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let server = common::start(&format!(
                    "[auth]\nsecret = \"{SECRET}\"\n[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n"
                ))
                .await;
                tx.send(server.addr).expect("test waiting");
                std::future::pending::<()>().await;
            });
        });
        rx.recv_timeout(Duration::from_secs(30)).expect("server address")
    })
}

fn options(url: String) -> ListenOptions {
    let mut o = ListenOptions::new(url);
    o.min_jitter = Duration::from_millis(250);
    o
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ondes-listen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `(sample_rate, channels, samples)` of a 16-bit PCM WAV with the canonical 44-byte header.
fn read_wav(path: &Path) -> (u32, u16, Vec<i16>) {
    let b = std::fs::read(path).expect("WAV written");
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(&b[8..16], b"WAVEfmt ");
    assert_eq!(&b[36..40], b"data");
    let channels = u16::from_le_bytes([b[22], b[23]]);
    let rate = u32::from_le_bytes(b[24..28].try_into().unwrap());
    let data = u32::from_le_bytes(b[40..44].try_into().unwrap()) as usize;
    assert_eq!(data, b.len() - 44, "the header states the data size");
    let samples = b[44..].chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    (rate, channels, samples)
}

async fn listen_for(url: String, secs: f64, out: &Path) -> ListenReport {
    let mut o = options(url);
    o.duration = Some(Duration::from_secs_f64(secs));
    o.out = Some(out.to_path_buf());
    let mut ticks = 0;
    let report = listen(o, &mut |_| ticks += 1).await.expect("listen succeeds");
    assert!(ticks >= 2, "progress is reported about once a second");
    report
}

/// What every clean loopback listen must show.
fn assert_clean(r: &ListenReport, secs: f64, out: &Path) {
    let json = serde_json::to_string_pretty(r).unwrap();
    assert_eq!(r.end_reason, "duration", "{json}");
    assert_eq!(r.frames_lost, 0, "{json}");
    assert_eq!(r.frames_late, 0, "{json}");
    assert_eq!(r.underruns, 0, "{json}");
    assert_eq!(r.frames_skipped, 0, "{json}");
    let p99 = r.latency_ms.p99.expect("latency measured");
    assert!(p99 < 1000.0, "capture→play p99 {p99} ms\n{json}");
    assert!(r.latency_ms.p50.unwrap() > 0.0 && r.network_latency_ms.p50.is_some());
    assert_eq!((r.sample_rate, r.channels, r.frame_ms), (48_000, 2, 20.0), "{json}");
    // about the duration's worth of frames arrived (connection set-up and start-up aside)
    let expected = secs * 50.0;
    assert!(r.frames_received as f64 >= expected - 30.0, "{} frames received\n{json}", r.frames_received);
    // what was received was played, but for what was still in the buffer at the end
    let buffered = (r.buffer_target_ms.max / r.frame_ms) as u64 + 5;
    assert!(r.frames_played + buffered >= r.frames_received, "{json}");
    assert!(r.buffer_target_ms.min >= 250.0 && r.buffer_target_ms.max <= 1000.0, "{json}");
    assert!(r.bytes_received > 0 && r.messages_received > 0);

    let (rate, channels, samples) = read_wav(out);
    assert_eq!((rate, channels), (48_000, 2));
    let frames_in_file = samples.len() as f64 / (2.0 * 960.0);
    let periods = r.played_secs / 0.02;
    assert!(
        (frames_in_file - periods).abs() <= 1.0,
        "file holds {frames_in_file} frames, played {periods}\n{json}"
    );
    assert!(frames_in_file >= expected - 30.0, "file holds {frames_in_file} frames\n{json}");
    let rms =
        (samples.iter().map(|&s| (s as f64 / 32768.0).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(rms > 0.05, "the demo is audible in the file: rms {rms}");
    // no stretch of silence longer than a frame: the audio is continuous
    let mut silent_run = 0;
    let mut longest = 0;
    for pair in samples.chunks_exact(2) {
        silent_run = if pair[0] == 0 && pair[1] == 0 { silent_run + 1 } else { 0 };
        longest = longest.max(silent_run);
    }
    assert!(longest < 960, "{longest} silent samples in a row\n{json}");
}

#[tokio::test]
async fn websocket_pcm16_plays_without_loss() {
    let out = scratch("ws-pcm16.wav");
    let r = listen_for(format!("ws://{}/api/streams/main/ws?rung=pcm16", server()), 3.0, &out).await;
    assert_eq!((r.transport.as_str(), r.codec.as_str(), r.rung.as_str()), ("ws", "pcm16", "pcm16"));
    assert_clean(&r, 3.0, &out);
    assert!(r.rtt_ms.is_some_and(|rtt| rtt < 500.0), "pings answered: {:?}", r.rtt_ms);
}

#[tokio::test]
async fn websocket_opus_64_plays_without_loss_and_reports_to_the_server() {
    let out = scratch("ws-opus.wav");
    let url = format!("ws://{}/api/audio/ws?rung=64&batch=2", server());
    let addr = server();
    // watch the server's view of this connection while listening
    let watcher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let debug = ondes_server::auth::Authenticator::new(SECRET.as_bytes()).mint(
            "listen-test",
            &[ondes_server::auth::Permission::DebugAccess],
            600,
            now,
        );
        common::get_json(&format!("http://{addr}/api/audio/stats?access_token={debug}")).await
    });
    let r = listen_for(url, 3.5, &out).await;
    assert_eq!((r.transport.as_str(), r.codec.as_str(), r.rung.as_str()), ("ws", "opus", "64"));
    assert_clean(&r, 3.5, &out);
    let stats = watcher.await.unwrap();
    let report = stats["connections"]
        .as_array()
        .and_then(|c| c.iter().find_map(|c| c.get("client_report").filter(|r| !r.is_null())))
        .unwrap_or_else(|| panic!("the server keeps the listener's report: {stats:#}"));
    assert_eq!(report["type"], "report");
    assert!(report["received_frames"].as_u64().unwrap() > 50, "{report}");
    assert_eq!(report["lost_frames"], 0);
}

#[tokio::test]
async fn sse_json_plays_without_loss() {
    let out = scratch("sse-json.wav");
    let r = listen_for(format!("http://{}/api/streams/main/stream", server()), 3.0, &out).await;
    assert_eq!((r.transport.as_str(), r.codec.as_str()), ("sse", "json"));
    assert_clean(&r, 3.0, &out);
}

#[tokio::test]
async fn sse_pcm16_to_ogg() {
    let out = scratch("sse-pcm16.ogg");
    let mut o = options(format!("http://{}/api/audio/stream?format=pcm16", server()));
    o.duration = Some(Duration::from_secs(2));
    o.out = Some(out.clone());
    let r = listen(o, &mut |_| {}).await.expect("listen succeeds");
    assert_eq!((r.transport.as_str(), r.codec.as_str(), r.frames_lost, r.underruns), ("sse", "pcm16", 0, 0));
    let bytes = std::fs::read(&out).unwrap();
    let mut dec = ondes_codec::OggOpusDecoder::new(48_000, Some(2)).unwrap();
    let mut pcm = Vec::new();
    dec.feed(&bytes);
    dec.end_of_input();
    dec.read(&mut pcm).unwrap();
    let played = (r.played_secs * 48_000.0).round() as usize * 2;
    assert_eq!(pcm.len(), played, "the Ogg file holds exactly what was played");
    assert!(pcm.len() >= 2 * 48_000 * 3 / 2, "{} samples", pcm.len());
}

#[tokio::test]
async fn refusals_and_bad_urls_are_errors() {
    let o = ListenOptions::new(format!("ws://{}/api/streams/nope/ws", server()));
    let e = listen(o, &mut |_| {}).await.expect_err("no such stream");
    assert!(e.to_string().contains("404"), "{e}");
    let o = ListenOptions::new(format!("ws://{}/api/audio/ws?rung=7", server()));
    let e = listen(o, &mut |_| {}).await.expect_err("no such rung");
    assert!(e.to_string().contains("bad_rung"), "{e}");
    let o = ListenOptions::new("https://example.invalid/stream");
    assert!(listen(o, &mut |_| {}).await.is_err());
    let mut o = ListenOptions::new(format!("ws://{}/api/audio/ws", server()));
    o.out = Some(scratch("x.mp3"));
    o.duration = Some(Duration::from_secs(2));
    let e = listen(o, &mut |_| {}).await.expect_err("unknown extension");
    assert!(e.to_string().contains(".wav or .ogg"), "{e}");
}
