//! `ondes_client::publisher` against a real in-process server over loopback: pacing,
//! backpressure, TTS latency, reconnects, HTTP ingest.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ondes_client::publisher::{self, Pacing, SendCodec, SendError, SendOptions, SendReport};
use ondes_core::dsp::rms;
use ondes_core::proto::audio::{Codec, decode_audio};
use ondes_server::RunningServer;
use ondes_server::auth::Permission;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "send-test-secret";

fn toml(rate: u32, queue_ms: u32) -> String {
    format!(
        "[server]\npublish_queue_ms = {queue_ms}\n[auth]\nsecret = \"{SECRET}\"\n\
         [[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = {rate}\nchannels = 1\n"
    )
}

async fn start(toml: &str, bind: &str) -> RunningServer {
    common::start_on(toml, bind).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn publish_token(s: &RunningServer) -> String {
    s.state.auth.mint("t", &[Permission::Publish], 3600, now_secs())
}

fn options(source: &str, addr: SocketAddr, token: &str) -> SendOptions {
    let mut o = SendOptions::new(source, format!("ws://{addr}/api/streams/voice/publish"));
    o.token = Some(token.to_string());
    o
}

async fn publisher_stats(addr: SocketAddr) -> Value {
    common::get_json(&format!("http://{addr}/api/streams/voice/stats")).await["publisher"].clone()
}

/// Every frame sent was acknowledged, nothing is unaccounted for, the server saw no loss.
fn assert_lossless(r: &SendReport, expected_frames: u64, server: &Value) {
    assert!(r.completed, "{r:?}");
    assert_eq!(r.frames_sent, expected_frames, "{r:?}");
    assert_eq!(r.frames_acked, r.frames_sent, "{r:?}");
    assert_eq!(r.frames_unconfirmed, 0);
    assert!(r.server_errors.is_empty(), "{:?}", r.server_errors);
    assert_eq!(server["frames_accepted"], expected_frames, "{server}");
    assert_eq!(server["gap_frames"], 0, "{server}");
    assert_eq!(server["out_of_order_frames"], 0, "{server}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_at_real_time_is_paced_acknowledged_and_lossless() {
    let s = start(&toml(16_000, 1000), "127.0.0.1:0").await;
    let mut o = options("tone:sine?freq=440&amp=0.5", s.addr, &publish_token(&s));
    o.max_duration = Some(Duration::from_secs(3));
    let r = publisher::send(o, None).await.expect("send completes");
    assert_lossless(&r, 150, &publisher_stats(s.addr).await);
    // real time: 3 s of audio cannot go out in much less than 3 s (100 ms lead)
    assert!(r.duration_secs >= 2.85, "sent 3 s of audio in {} s", r.duration_secs);
    assert!(r.duration_secs < 6.0, "{} s", r.duration_secs);
    assert_eq!(r.backpressure_waits, 0);
    assert_eq!((r.sample_rate, r.channels, r.frame_ms), (16_000, 1, 20.0));
    assert_eq!(r.messages_sent, 150);
    assert_eq!(r.bytes_sent, 150 * (20 + 2 + 640));
    // the server never ran dry once the audio had started: at most the start-up ticks
    // before the first frames arrived count as underruns
    let stats = publisher_stats(s.addr).await;
    assert!(stats["underrun_frames"].as_u64().unwrap() <= 3, "{stats}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_meets_backpressure_and_loses_nothing() {
    let s = start(&toml(16_000, 400), "127.0.0.1:0").await;
    let mut o = options("tone:sine?freq=300", s.addr, &publish_token(&s));
    o.max_duration = Some(Duration::from_secs(5));
    o.pacing = Pacing::Burst;
    o.batch = 5;
    o.codec = SendCodec::Opus { bitrate_bps: 32_000 };
    let r = publisher::send(o, None).await.expect("send completes");
    assert_lossless(&r, 250, &publisher_stats(s.addr).await);
    assert!(r.backpressure_waits > 0, "{r:?}");
    assert!(r.backpressure_wait_ms > 0.0);
    assert_eq!(r.messages_sent, 50);
    // bursting: it finished well before 5 s of real time (the queue holds 400 ms)
    assert!(r.duration_secs < 4.9, "{} s", r.duration_secs);
    s.shutdown().await;
}

/// Records what a listener at `rung=pcm16` hears for `secs`: (sequence numbers, samples).
async fn listen_pcm(addr: SocketAddr, secs: f64) -> (Vec<u64>, Vec<f32>) {
    let url = format!("ws://{addr}/api/streams/voice/ws?rung=pcm16&batch=1");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("listener connects");
    let (mut seqs, mut pcm) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Binary(b) = msg {
            let m = decode_audio(&b, seqs.last().copied()).expect("valid audio message");
            assert_eq!(m.header.codec, Codec::Pcm16);
            for (i, f) in m.frames.iter().enumerate() {
                seqs.push(m.header.first_seq + i as u64);
                ondes_codec::decode_interleaved(f, ondes_codec::SampleFormat::S16Le, &mut pcm).unwrap();
            }
        }
    }
    (seqs, pcm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tts_audio_starts_within_a_second_and_is_speech() {
    let s = start(&toml(48_000, 1000), "127.0.0.1:0").await;
    let listener = tokio::spawn(listen_pcm(s.addr, 6.0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let o = options(
        "tts:\"Hello from ondes. This sentence is spoken as it is synthesised.\"",
        s.addr,
        &publish_token(&s),
    );
    let r = publisher::send(o, None).await.expect("tts send completes (is espeak-ng installed?)");
    let ttff = r.time_to_first_frame_ms.expect("a first frame");
    println!(
        "tts: first frame sent after {ttff:.1} ms, source's first frame after {:.1} ms, first ack after {:.1} ms, {:.2} s of speech",
        r.source_first_frame_ms.unwrap(),
        r.time_to_first_ack_ms.unwrap(),
        r.audio_secs
    );
    assert!(ttff < 1000.0, "time to first frame {ttff} ms");
    assert!(r.audio_secs > 1.5 && r.audio_secs < 10.0, "{} s of speech", r.audio_secs);
    assert_lossless(&r, r.frames_sent, &publisher_stats(s.addr).await);

    let (seqs, pcm) = listener.await.unwrap();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "the listener saw a gap");
    let loud = pcm.chunks(960).filter(|f| rms(f) > 0.02).count();
    assert!(loud >= 50, "only {loud} audible 20 ms frames: the speech did not reach the listener");
    s.shutdown().await;
}

/// A server on its own runtime, so that it can be killed outright (every task and socket
/// dropped at once, as when the process dies).
struct Killable {
    addr: SocketAddr,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Value>>,
}

impl Killable {
    fn start(toml: String, bind: String) -> Killable {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let server = rt.block_on(start(&toml, &bind));
            addr_tx.send(server.addr).unwrap();
            let _ = kill_rx.recv();
            let stats = rt.block_on(publisher_stats(server.addr));
            // dropping the runtime drops every connection without a closing handshake
            drop(rt);
            stats
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(20)).expect("server started");
        Killable { addr, kill: Some(kill), thread: Some(thread) }
    }

    /// Kills the server; returns its publisher stats just before.
    fn kill(mut self) -> Value {
        let _ = self.kill.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_send_is_survived_by_reconnecting() {
    let first = Killable::start(toml(16_000, 1000), "127.0.0.1:0".into());
    let addr = first.addr;
    let token = ondes_server::auth::Authenticator::new(SECRET.as_bytes()).mint(
        "t",
        &[Permission::Publish],
        3600,
        now_secs(),
    );
    let mut o = options("tone:sine?freq=500", addr, &token);
    o.max_duration = Some(Duration::from_secs(4));
    let send = tokio::spawn(publisher::send(o, None));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = tokio::task::spawn_blocking(move || first.kill()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Killable::start(toml(16_000, 1000), addr.to_string());

    let r = tokio::time::timeout(Duration::from_secs(30), send).await.expect("send ends").unwrap();
    let r = r.expect("the send completes after reconnecting");
    let after = tokio::task::spawn_blocking(move || second.kill()).await.unwrap();
    println!("report {r:?}\nfirst server {before}\nsecond server {after}");
    assert!(r.reconnects >= 1, "{r:?}");
    assert!(r.connect_failures >= 1, "the restart gap made at least one attempt fail: {r:?}");
    // every frame of the 4 s was sent once; each is acknowledged or reported unconfirmed
    assert_eq!(r.frames_sent, 200, "{r:?}");
    assert_eq!(r.frames_acked + r.frames_unconfirmed, r.frames_sent, "{r:?}");
    // nothing was sent twice: the two servers together accepted no more than was sent (the
    // first server's count is read just before it dies, so it may miss its last frame or so)
    let accepted = before["frames_accepted"].as_u64().unwrap() + after["frames_accepted"].as_u64().unwrap();
    assert!(accepted <= r.frames_sent && accepted + 5 >= r.frames_acked, "before {before}, after {after}");
    assert!(after["frames_accepted"].as_u64().unwrap() > 50, "{after}");
    assert_eq!(after["gap_frames"], 0, "{after}");
    assert_eq!(after["out_of_order_frames"], 0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_that_retrying_cannot_fix_fail_at_once() {
    let s = start(&toml(16_000, 1000), "127.0.0.1:0").await;
    let t0 = Instant::now();
    let wrong = ondes_server::auth::Authenticator::new(b"another secret").mint(
        "t",
        &[Permission::Publish],
        60,
        now_secs(),
    );
    let err = publisher::send(options("tone:sine", s.addr, &wrong), None).await.unwrap_err();
    assert!(matches!(&err, SendError::Connect(m) if m.contains("401")), "{err}");

    let sub = s.state.auth.mint("t", &[Permission::Subscribe], 60, now_secs());
    let err = publisher::send(options("tone:sine", s.addr, &sub), None).await.unwrap_err();
    assert!(matches!(&err, SendError::Connect(m) if m.contains("403")), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2), "no retries for 401/403");

    let mut o = options("tone:sine", s.addr, &publish_token(&s));
    o.layout = Some(ondes_client::publisher::Layout { sample_rate: 44_100, channels: 1, frame_us: 20_000 });
    let err = publisher::send(o, None).await.unwrap_err();
    assert!(err.to_string().contains("16000 Hz"), "{err}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_listening_on_the_port_gives_up_after_the_retries() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut o = options("tone:sine", unused, "x");
    o.max_retries = 3;
    o.initial_backoff = Duration::from_millis(10);
    let t0 = Instant::now();
    let err = publisher::send(o, None).await.unwrap_err();
    assert!(matches!(&err, SendError::Connect(m) if m.contains("4 failed connection attempt")), "{err}");
    // 3 backoff delays of 5-10, 10-20, 20-40 ms
    assert!(t0.elapsed() >= Duration::from_millis(35), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_learns_the_layout_and_is_lossless() {
    let s = start(&toml(16_000, 400), "127.0.0.1:0").await;
    let mut o = SendOptions::new("tone:sine?freq=700", format!("http://{}/api/streams/voice/ingest", s.addr));
    o.token = Some(publish_token(&s));
    o.max_duration = Some(Duration::from_secs(2));
    o.pacing = Pacing::Burst;
    o.batch = 4;
    let r = publisher::send(o, None).await.expect("ingest completes");
    assert_lossless(&r, 100, &publisher_stats(s.addr).await);
    assert_eq!(r.sample_rate, 16_000);
    s.shutdown().await;
}

/// A publisher told to stop before its first frame (a soak's last session, a user's Ctrl-C
/// at once) ends cleanly, having sent nothing: no empty body for the server to refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_stopped_before_the_first_frame_ends_cleanly() {
    let s = start(&toml(16_000, 400), "127.0.0.1:0").await;
    let mut o = SendOptions::new("tone:sine?freq=700", format!("http://{}/api/streams/voice/ingest", s.addr));
    o.token = Some(publish_token(&s));
    o.max_duration = Some(Duration::from_secs(2));
    let (stop, rx) = tokio::sync::watch::channel(true);
    o.stop = Some(rx);
    let r = publisher::send(o, None).await.expect("a stop is no failure");
    assert_eq!((r.frames_sent, r.frames_acked), (0, 0));
    assert!(r.server_errors.is_empty(), "{:?}", r.server_errors);
    drop(stop);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_fails_over_to_its_fallback_url_when_the_server_dies() {
    let first = Killable::start(toml(16_000, 1000), "127.0.0.1:0".into());
    let second = start(&toml(16_000, 1000), "127.0.0.1:0").await;
    let token = ondes_server::auth::Authenticator::new(SECRET.as_bytes()).mint(
        "t",
        &[Permission::Publish],
        3600,
        now_secs(),
    );
    let mut o = options("tone:sine?freq=500", first.addr, &token);
    let fallback = format!("ws://{}/api/streams/voice/publish", second.addr);
    o.fallback = vec![fallback.clone()];
    o.max_duration = Some(Duration::from_secs(4));
    let send = tokio::spawn(publisher::send(o, None));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = tokio::task::spawn_blocking(move || first.kill()).await.unwrap();
    // the first server stays dead: the publisher moves to the fallback and finishes there
    let r = tokio::time::timeout(Duration::from_secs(30), send).await.expect("send ends").unwrap();
    let r = r.expect("the send completes on the fallback");
    let after = publisher_stats(second.addr).await;
    assert_eq!((r.reconnects, r.failovers), (1, 1), "{r:?}");
    assert_eq!(r.connected_to, fallback);
    assert_eq!(r.frames_sent, 200, "{r:?}");
    assert_eq!(r.frames_acked + r.frames_unconfirmed, r.frames_sent, "{r:?}");
    let accepted = before["frames_accepted"].as_u64().unwrap() + after["frames_accepted"].as_u64().unwrap();
    assert!(accepted <= r.frames_sent && accepted + 5 >= r.frames_acked, "before {before}, after {after}");
    assert!(after["frames_accepted"].as_u64().unwrap() > 50, "{after}");
    assert_eq!(after["out_of_order_frames"], 0, "{after}");
    second.shutdown().await;
}

#[test]
fn fallbacks_are_for_websocket_publishing() {
    let mut o = SendOptions::new("tone:sine", "http://127.0.0.1:1/api/streams/voice/ingest");
    o.fallback = vec!["ws://127.0.0.1:2/api/streams/voice/publish".into()];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(publisher::send(o, None)).unwrap_err();
    assert!(err.to_string().contains("--fallback") && err.to_string().contains("ws[s]://"), "{err}");
}
