//! Publishing over WebSocket and HTTP ingest, over real loopback connections.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use ondes_core::dsp::rms;
use ondes_core::proto::audio::{AudioHeader, Codec, encode_audio};
use ondes_server::auth::Permission;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const PUBLISH_STREAM: &str =
    "[[stream]]\nid = \"main\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n";

async fn publisher(s: &ondes_server::RunningServer, token: Option<&str>) -> Result<Ws, u16> {
    common::ws_publisher(&format!("ws://{}/api/audio/publish", s.addr), token).await
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("message")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn publishing_needs_a_publish_token_and_a_publish_stream() {
    let s = start(PUBLISH_STREAM).await;
    assert_eq!(publisher(&s, None).await.err(), Some(401));
    let sub = token(&s, &[Permission::Subscribe]);
    assert_eq!(publisher(&s, Some(&sub)).await.err(), Some(403));
    let publ = token(&s, &[Permission::Publish]);
    let _first = publisher(&s, Some(&publ)).await.unwrap();
    assert_eq!(publisher(&s, Some(&publ)).await.err(), Some(409), "one publisher at a time");
    s.shutdown().await;

    let s = start("").await;
    let publ = token(&s, &[Permission::Publish]);
    let (st, b) = post_json(&format!("{}/api/audio/ingest", s.url()), Some(&publ), "").await;
    assert_eq!(st, 409);
    assert_eq!(b["error"], "not_a_publish_stream");
    s.shutdown().await;
}

/// A TTS-like publisher bursts 5 s of audio at 10× real time: backpressure, no loss, and
/// listeners hear it continuously.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_publisher_gets_backpressure_and_loses_nothing() {
    let s = start(PUBLISH_STREAM).await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let publ = token(&s, &[Permission::Publish]);
    let mut ws = publisher(&s, Some(&publ)).await.unwrap();
    let info = next_text(&mut ws).await;
    assert_eq!(info["type"], "info");
    assert_eq!(info["sample_rate"], 16_000);

    // writer: 250 frames (5 s) in batches of 5, one batch every 10 ms (10× real time)
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for b in 0..50u64 {
            let frames: Vec<Vec<u8>> = (0..5).map(|i| tone_frame(b * 5 + i)).collect();
            sink.send(Message::Binary(message(b * 5, &frames, 16_000).into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sink
    });
    let reader = tokio::spawn(async move {
        let mut kinds = Vec::new();
        let mut last_ack = 0;
        while last_ack < 249 {
            let m =
                tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ack" {
                    last_ack = v["seq"].as_u64().unwrap();
                }
                kinds.push(v["type"].as_str().unwrap().to_string());
            }
        }
        kinds
    });
    // the listener: count audible frames in a row once the publisher's audio starts
    let mut audible = 0;
    let mut started = false;
    let mut prev: Option<u64> = None;
    while audible < 240 {
        let f = sse.next_audio().await;
        let n = f["frame_number"].as_u64().unwrap();
        if let Some(p) = prev {
            assert_eq!(n, p + 1);
        }
        prev = Some(n);
        let loud = rms(&samples(&f, "channel_a")) > 0.2;
        if loud {
            started = true;
            audible += 1;
        } else if started {
            panic!("silence after {audible} frames of published audio: the listener heard a gap");
        }
    }
    let kinds = reader.await.unwrap();
    drop(writer.await.unwrap());
    assert!(kinds.iter().any(|k| k == "backpressure"), "explicit backpressure: {kinds:?}");
    assert!(kinds.iter().any(|k| k == "resume"));
    assert!(!kinds.iter().any(|k| k == "error"));
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    let p = &stats["publisher"];
    assert_eq!(p["frames_accepted"], 250, "{p}");
    assert_eq!(p["gap_frames"], 0);
    assert_eq!(p["out_of_order_frames"], 0);
    assert!(p["backpressure_events"].as_u64().unwrap() >= 1);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_publishers_get_clear_errors_and_listeners_are_unaffected() {
    let s = start(PUBLISH_STREAM).await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let publ = token(&s, &[Permission::Publish]);
    let mut ws = publisher(&s, Some(&publ)).await.unwrap();
    next_text(&mut ws).await;

    ws.send(Message::Binary(b"garbage that is not an audio message".to_vec().into())).await.unwrap();
    let e = next_text(&mut ws).await;
    assert_eq!(e["error"], "bad_message", "{e}");

    ws.send(Message::Binary(message(0, &[vec![0u8; 1764]], 44_100).into())).await.unwrap();
    let e = next_text(&mut ws).await;
    assert_eq!(e["error"], "bad_sample_rate");
    assert!(e["message"].as_str().unwrap().contains("16000"));

    ws.send(Message::Binary(message(0, &[vec![0u8; 100]], 16_000).into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await["error"], "bad_frame_size");

    ws.send(Message::Binary(message(10, &[tone_frame(10)], 16_000).into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await["type"], "ack");
    ws.send(Message::Binary(message(5, &[tone_frame(5)], 16_000).into())).await.unwrap();
    let e = next_text(&mut ws).await;
    assert_eq!(e["error"], "out_of_order");

    // the listener kept receiving consecutive frames throughout
    let mut prev: Option<u64> = None;
    for _ in 0..20 {
        let n = sse.next_audio().await["frame_number"].as_u64().unwrap();
        if let Some(p) = prev {
            assert_eq!(n, p + 1);
        }
        prev = Some(n);
    }
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(stats["publisher"]["out_of_order_frames"], 1);
    assert_eq!(stats["publisher"]["rejected_messages"], 3);
    assert_eq!(stats["dropped_frames"], 0);
    s.shutdown().await;
}

#[tokio::test]
async fn listeners_see_source_lost_and_restored() {
    let s = start(PUBLISH_STREAM).await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let lost = sse.next_of("status", 3.0).await;
    assert!(lost.data.contains("source-lost"), "{}", lost.data);
    let publ = token(&s, &[Permission::Publish]);
    let mut ws = publisher(&s, Some(&publ)).await.unwrap();
    next_text(&mut ws).await;
    let frames: Vec<Vec<u8>> = (0..10).map(tone_frame).collect();
    ws.send(Message::Binary(message(0, &frames, 16_000).into())).await.unwrap();
    let restored = sse.next_of("status", 3.0).await;
    assert!(restored.data.contains("source-restored"), "{}", restored.data);
    ws.close(None).await.unwrap();
    let lost = sse.next_of("status", 3.0).await;
    assert!(lost.data.contains("source-lost"), "{}", lost.data);
    s.shutdown().await;
}

#[tokio::test]
async fn http_ingest_of_l16_wav_and_ogg_opus() {
    let s = start(PUBLISH_STREAM).await;
    let publ = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/audio/ingest", s.url());
    // 1 s of big-endian L16, sent as a chunked body in 10 pieces
    let mut body = Vec::new();
    for seq in 0..50 {
        for pair in tone_frame(seq).chunks(2) {
            body.extend_from_slice(&i16::from_le_bytes([pair[0], pair[1]]).to_be_bytes());
        }
    }
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(body.len() / 10).map(|c| Ok(c.to_vec())).collect();
    let resp = client()
        .post(&url)
        .bearer_auth(&publ)
        .header("content-type", "audio/L16;rate=16000;channels=1")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["frames_accepted"], 50);

    let resp = client()
        .post(&url)
        .bearer_auth(&publ)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("audio/L16"));

    let resp = client()
        .post(&url)
        .bearer_auth(&publ)
        .header("content-type", "audio/L16;rate=8000;channels=1")
        .body("xx")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // WAV and Ogg/Opus made by ffmpeg (the test fails loudly without it)
    let dir = std::env::temp_dir().join(format!("ondes-publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, ct, codec) in [("t.wav", "audio/wav", "pcm_s16le"), ("t.opus", "audio/ogg", "libopus")] {
        let path = dir.join(file);
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=16000:duration=1",
            ])
            .args(["-ac", "1", "-c:a", codec])
            .arg(&path)
            .status()
            .expect("ffmpeg not found: install it with apt-get install ffmpeg");
        assert!(ok.success());
        let resp = client()
            .post(&url)
            .bearer_auth(&publ)
            .header("content-type", ct)
            .body(std::fs::read(&path).unwrap())
            .send()
            .await
            .unwrap();
        let st = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(st, 200, "{file}: {v}");
        let frames = v["frames_accepted"].as_u64().unwrap();
        assert!((49..=52).contains(&frames), "{file}: {frames} frames for 1 s");
    }
    s.shutdown().await;
}

/// A publisher that sends Opus at about a rung's bitrate: that rung carries the publisher's
/// packets byte for byte (no decode and re-encode), the other rungs are encoded as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_publisher_packets_pass_through_to_the_matching_rung() {
    use ondes_codec::{OpusConfig, OpusEncoder};
    let s = start(
        "[[stream]]\nid = \"main\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\nrungs = \"16,64\"\n",
    )
    .await;
    let listen = |rung: &str| {
        let url = format!("ws://{}/api/audio/ws?rung={rung}&batch=1", s.addr);
        async move { tokio_tungstenite::connect_async(url).await.expect("listener connects").0 }
    };
    let mut on_64 = listen("64").await;
    let mut on_16 = listen("16").await;
    let publ = token(&s, &[Permission::Publish]);
    let mut ws = publisher(&s, Some(&publ)).await.unwrap();
    assert_eq!(next_text(&mut ws).await["type"], "info");

    // 4 s of a 440 Hz tone, Opus 64 kbit/s, 20 ms frames, sent at real time in messages of 5
    let mut enc = OpusEncoder::new(OpusConfig {
        sample_rate: 48_000,
        channels: 1,
        bitrate_bps: 64_000,
        ..OpusConfig::default()
    })
    .unwrap();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for seq in 0..200u64 {
        let pcm: Vec<f32> = (0..960u64)
            .map(|i| 0.4 * (2.0 * std::f32::consts::PI * 440.0 * (seq * 960 + i) as f32 / 48_000.0).sin())
            .collect();
        let mut packet = Vec::new();
        enc.encode(&pcm, &mut packet).unwrap();
        sent.push(packet);
    }
    let (mut sink, _acks) = ws.split();
    let frames = sent.clone();
    let writer = tokio::spawn(async move {
        for b in 0..40u64 {
            let h = AudioHeader {
                codec: Codec::Opus,
                channels: 1,
                frame_count: 5,
                frame_us: 20_000,
                sample_rate: 48_000,
                first_seq: b * 5,
                capture_us: 0,
            };
            let refs: Vec<&[u8]> =
                frames[b as usize * 5..b as usize * 5 + 5].iter().map(|f| &f[..]).collect();
            let mut msg = Vec::new();
            encode_audio(&h, &refs, &mut msg).unwrap();
            sink.send(Message::Binary(msg.into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sink
    });

    // the 64 kbit/s listener receives the publisher's packets, in order, unchanged
    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut from_16 = 0usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while received.len() < 100 {
        assert!(std::time::Instant::now() < deadline, "100 passed-through frames within 15 s");
        tokio::select! {
            m = on_64.next() => if let Message::Binary(b) = m.unwrap().unwrap() {
                let m = ondes_core::proto::audio::decode_audio(&b, None).unwrap();
                received.extend(m.frames.iter().filter(|f| !f.is_empty()).map(|f| f.to_vec()));
            },
            m = on_16.next() => if let Message::Binary(b) = m.unwrap().unwrap() {
                let m = ondes_core::proto::audio::decode_audio(&b, None).unwrap();
                from_16 += m.frames.iter().filter(|f| !f.is_empty() && !sent.contains(&f.to_vec())).count();
            },
        }
    }
    // skip the silence the stream carried before the publisher connected (encoded packets)
    let first =
        received.iter().position(|p| sent.contains(p)).expect("a published packet reaches the listener");
    let at = sent.iter().position(|p| *p == received[first]).unwrap();
    let run = received[first..].iter().zip(&sent[at..]).take_while(|(a, b)| a == b).count();
    assert!(run >= 50, "the rung carries the publisher's packets in order: {run} in a row from frame {at}");
    assert!(from_16 > 0, "the 16 kbit/s rung is encoded from the decoded audio");
    drop(writer.await.unwrap());

    let (_, stats) = get_json(&format!("{}/api/streams/main/stats", s.url()), None).await;
    let rungs = &stats["ladder"]["rungs"];
    assert_eq!(rungs[1]["kbps"], 64);
    assert_eq!(rungs[1]["passthrough"], true, "{stats}");
    assert!(rungs[1]["frames_passed_through"].as_u64().unwrap() >= 100, "{stats}");
    assert!(rungs[0]["frames_encoded"].as_u64().unwrap() >= 100, "{stats}");
    let kbps = stats["ladder"]["source_opus_kbps"].as_f64().unwrap();
    assert!((40.0..100.0).contains(&kbps), "the source's bitrate is measured: {kbps}");
    s.shutdown().await;
}
