//! The round trip through real processes: speech made by espeak-ng, published with
//! `ondes send`, served by `ondes serve`, recorded by two WebSocket listeners (PCM and
//! Opus 64 kbit/s). PCM must come back bit-exact, Opus must correlate ≥ 0.9, and neither
//! listener may miss a sequence number.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, serve, tmp};
use futures_util::StreamExt;
use ondes_codec::{FileDecoder, OpusDecoder, SampleFormat, decode_interleaved, encode_s16le};
use ondes_core::proto::audio::{Codec, decode_audio};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "roundtrip-secret";
const FRAME: usize = 960; // 20 ms at 48 kHz mono
/// What one listener received: the sequence number and coded bytes of every frame.
struct Recording {
    seqs: Vec<u64>,
    frames: Vec<Vec<u8>>,
}

async fn record(
    url: String,
    codec: Codec,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Recording {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("listener connects");
    let mut rec = Recording { seqs: Vec::new(), frames: Vec::new() };
    let mut ready = Some(ready);
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(Ok(msg)) = msg else { panic!("listener {url} lost its connection") };
        if let Message::Binary(b) = msg {
            let m = decode_audio(&b, rec.seqs.last().copied()).expect("valid audio message");
            assert_eq!(m.header.codec, codec, "{url}");
            for (i, f) in m.frames.iter().enumerate() {
                rec.seqs.push(m.header.first_seq + i as u64);
                rec.frames.push(f.to_vec());
            }
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
        }
    }
    rec
}

fn assert_no_gaps(name: &str, seqs: &[u64]) {
    assert!(seqs.len() > 100, "{name}: only {} frames", seqs.len());
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{name}: gap between frames {} and {}", w[0], w[1]);
    }
}

fn to_i16(pcm: &[f32]) -> Vec<i16> {
    let mut bytes = Vec::new();
    encode_s16le(pcm, &mut bytes);
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// Normalised cross-correlation of `reference` with `signal` starting at `at`.
fn correlation(reference: &[f32], signal: &[f32], at: usize) -> f64 {
    let s = &signal[at..at + reference.len()];
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in reference.iter().zip(s) {
        xy += f64::from(x) * f64::from(y);
        xx += f64::from(x) * f64::from(x);
        yy += f64::from(y) * f64::from(y);
    }
    xy / (xx * yy).sqrt().max(1e-12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_survives_the_round_trip() {
    // 1. speech from a real TTS engine
    let wav = tmp("speech.wav");
    let status = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg("The quick brown fox jumps over the lazy dog. Audio streaming with ondes, end to end.")
        .status()
        .expect("espeak-ng must be installed for this test (Debian: apt-get install espeak-ng)");
    assert!(status.success(), "espeak-ng failed");
    let mut reference = Vec::new();
    let mut dec = FileDecoder::open(&wav, 48_000, 1).unwrap();
    while dec.read(48_000, &mut reference).unwrap() > 0 {}
    let reference_i16 = to_i16(&reference);
    assert!(reference.len() > 48_000 * 2, "at least 2 s of speech, got {} samples", reference.len());

    // 2. a server with a 48 kHz mono publish stream
    let config = tmp("roundtrip.toml");
    std::fs::write(
        &config,
        "[[stream]]\nid = \"main\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n",
    )
    .unwrap();
    let server = serve(
        &["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()],
        &[("ONDES_AUTH_SECRET", SECRET)],
        Stdio::null(),
    );
    let url = server.url.clone();
    let ws_base = url.replace("http://", "ws://");

    // 3. two listeners, connected before the publisher starts
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pcm_ready, pcm_ready_rx) = oneshot::channel();
    let (opus_ready, opus_ready_rx) = oneshot::channel();
    let pcm = tokio::spawn(record(
        format!("{ws_base}/api/streams/main/ws?rung=pcm16&batch=4"),
        Codec::Pcm16,
        pcm_ready,
        stop_rx.clone(),
    ));
    let opus = tokio::spawn(record(
        format!("{ws_base}/api/streams/main/ws?rung=64&batch=4"),
        Codec::Opus,
        opus_ready,
        stop_rx,
    ));
    tokio::time::timeout(Duration::from_secs(10), async {
        pcm_ready_rx.await.unwrap();
        opus_ready_rx.await.unwrap();
    })
    .await
    .expect("both listeners receive the stream");

    // 4. ondes token + ondes send
    let token = Command::new(BIN).args(["token", "--secret", SECRET, "--perm", "publish"]).output().unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let publish = format!("{ws_base}/api/streams/main/publish");
    let source = format!("file:{}", wav.display());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["send", &source, "--to", &publish, "--token", &token, "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "ondes send failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    let expected_frames = reference.len().div_ceil(FRAME) as u64;
    assert_eq!(report["completed"], true, "{report}");
    assert_eq!(report["frames_sent"], expected_frames, "{report}");
    assert_eq!(report["frames_acked"], expected_frames, "{report}");

    // 5. the server's queue plays out, then the listeners stop
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop_tx.send_replace(true);
    let (pcm, opus) = (pcm.await.unwrap(), opus.await.unwrap());
    assert_no_gaps("pcm16 listener", &pcm.seqs);
    assert_no_gaps("opus listener", &opus.seqs);

    // 6. PCM: bit-exact after alignment on where the speech starts
    let mut heard = Vec::new();
    for f in &pcm.frames {
        decode_interleaved(f, SampleFormat::S16Le, &mut heard).unwrap();
    }
    let heard = to_i16(&heard);
    let start = reference_i16.iter().position(|&s| s != 0).expect("the speech is not silent");
    let probe = &reference_i16[start..start + 480];
    let at = heard
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the start of the speech is in the PCM recording, bit-exact");
    let offset = at - start;
    assert!(offset + reference_i16.len() <= heard.len(), "the recording holds the whole speech");
    let received = &heard[offset..offset + reference_i16.len()];
    let differing = received.iter().zip(&reference_i16).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} of {} samples differ", reference_i16.len());

    // 7. Opus 64 kbit/s: correlation ≥ 0.9 at the best lag around where PCM put the speech
    let mut decoder = OpusDecoder::new(48_000, 1).unwrap();
    let mut decoded = Vec::new();
    for f in &opus.frames {
        decoder.decode(f, &mut decoded).unwrap();
    }
    // both listeners number the stream's frames alike: align by sequence number first
    let speech_at = (pcm.seqs[0] as i64 - opus.seqs[0] as i64) * FRAME as i64 + offset as i64;
    let mut best = (f64::MIN, 0i64);
    for lag in -1500..=1500i64 {
        let at = speech_at + lag;
        if at < 0 || at as usize + reference.len() > decoded.len() {
            continue;
        }
        let c = correlation(&reference, &decoded, at as usize);
        if c > best.0 {
            best = (c, lag);
        }
    }
    println!("opus 64 kbit/s: correlation {:.4} at lag {} samples", best.0, best.1);
    assert!(best.0 >= 0.9, "Opus 64 kbit/s correlates only {:.3} with the original", best.0);
}
