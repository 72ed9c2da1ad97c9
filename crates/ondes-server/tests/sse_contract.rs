//! The SSE endpoint's contract, over real HTTP on loopback.

mod common;

use common::*;
use ondes_core::dsp::rms;

#[tokio::test]
async fn connected_event_then_consecutive_audio_frames() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[("accept-encoding", "gzip")]).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    assert!(sse.headers.get("content-encoding").is_none(), "SSE must never be compressed");
    let first = sse.next_within(2.0).await.unwrap();
    assert_eq!(first.event, None);
    assert_eq!(first.data, "connected");
    assert!(first.id.as_deref().is_some_and(|id| !id.is_empty()));
    let mut prev: Option<u64> = None;
    for _ in 0..20 {
        let f = sse.next_audio().await;
        let n = f["frame_number"].as_u64().unwrap();
        if let Some(p) = prev {
            assert_eq!(n, p + 1, "consecutive frame numbers");
        }
        prev = Some(n);
        assert_eq!(f["sample_rate"], 48_000);
        assert_eq!(f["duration_ms"], 20.0);
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let ts = f["timestamp"].as_i64().unwrap();
        assert!((now_ms - ts).abs() < 2_000, "timestamp is ms since epoch and recent");
        let a = samples(&f, "channel_a");
        let b = samples(&f, "channel_b");
        assert_eq!(a.len(), 960);
        assert_eq!(b.len(), 960);
        assert!(rms(&a) > 0.05 && rms(&b) > 0.01, "the demo signal is audible on both channels");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn audio_event_ids_name_the_frame() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    sse.next_within(2.0).await.unwrap();
    let e = sse.next_of("audio-frame", 3.0).await;
    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
    assert_eq!(e.id.unwrap(), format!("frame-{}", v["frame_number"]));
    s.shutdown().await;
}

#[tokio::test]
async fn mono_stream_repeats_channel_a() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:sine?freq=440\"\nchannels = 1\n").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let f = sse.next_audio().await;
    assert_eq!(samples(&f, "channel_a"), samples(&f, "channel_b"));
    s.shutdown().await;
}

#[tokio::test]
async fn heartbeats_are_sent_on_schedule() {
    let s = start("[server]\nheartbeat_secs = 1\n").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let hb = sse.next_of("heartbeat", 3.0).await;
    assert_eq!(hb.data, "heartbeat-1");
    let hb = sse.next_of("heartbeat", 3.0).await;
    assert_eq!(hb.data, "heartbeat-2");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert!(stats["connections"][0]["last_heartbeat"].as_i64().unwrap() > 0);
    s.shutdown().await;
}

/// `max_fps` merges consecutive frames: fewer events, the same audio.
#[tokio::test]
async fn max_fps_merges_frames_without_losing_samples() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream?max_fps=10", s.url()), &[]).await;
    let mut next_expected: Option<u64> = None;
    let mut total_samples = 0usize;
    let mut total_ms = 0.0;
    let mut events = 0;
    // skip the first (possibly partial) group
    let first = sse.next_audio().await;
    next_expected =
        next_expected.or(Some(first["frame_number"].as_u64().unwrap() + first["frames"].as_u64().unwrap()));
    while total_ms < 2_000.0 {
        let f = sse.next_audio().await;
        let n = f["frame_number"].as_u64().unwrap();
        let k = f["frames"].as_u64().unwrap();
        assert_eq!(Some(n), next_expected, "no frame lost between merged events");
        next_expected = Some(n + k);
        assert_eq!(k, 5, "50 frames/s capped at 10 events/s");
        let a = samples(&f, "channel_a");
        assert_eq!(a.len(), 960 * k as usize);
        assert_eq!(samples(&f, "channel_b").len(), a.len());
        total_samples += a.len();
        total_ms += f["duration_ms"].as_f64().unwrap();
        events += 1;
    }
    assert_eq!(events, 20);
    assert_eq!(total_samples, 96_000, "2 s of 48 kHz audio");
    s.shutdown().await;
}

#[tokio::test]
async fn formats_lightweight_and_pcm16() {
    use base64::Engine;
    let s = start("").await;
    let mut light = Sse::open(&format!("{}/api/audio/stream?format=lightweight", s.url()), &[]).await;
    let f = light.next_audio().await;
    assert_eq!(f["sample_rate"], 24_000);
    assert_eq!(f["format"], "lightweight");
    assert_eq!(samples(&f, "channel_a").len(), 480);
    let mut pcm = Sse::open(&format!("{}/api/audio/stream?format=pcm16", s.url()), &[]).await;
    let f = pcm.next_audio().await;
    assert_eq!(f["format"], "pcm16");
    let bytes = base64::engine::general_purpose::STANDARD.decode(f["pcm16"].as_str().unwrap()).unwrap();
    assert_eq!(bytes.len(), 960 * 2 * 2, "960 stereo s16 samples");
    let left: Vec<f32> = bytes.chunks(4).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0).collect();
    assert!(rms(&left) > 0.05);
    let (status, body) = get_json(&format!("{}/api/audio/stream?format=mp3", s.url()), None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_format");
    let (status, body) = get_json(&format!("{}/api/audio/stream?max_fps=-1", s.url()), None).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("max_fps"));
    s.shutdown().await;
}

/// A 15 kHz tone is above the 12 kHz Nyquist of the lightweight (24 kHz) rate: it must be
/// filtered out, not folded down to 9 kHz.
#[tokio::test]
async fn lightweight_does_not_alias() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:sine?freq=15000&amp=0.5\"\n").await;
    let mut full = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let mut light = Sse::open(&format!("{}/api/audio/stream?format=lightweight", s.url()), &[]).await;
    let f = full.next_audio().await;
    assert!(rms(&samples(&f, "channel_a")) > 0.3, "the tone is there at full rate");
    for _ in 0..3 {
        light.next_audio().await; // filter warm-up
    }
    let mut worst = 0.0f32;
    for _ in 0..10 {
        let f = light.next_audio().await;
        worst = worst.max(rms(&samples(&f, "channel_a")));
    }
    assert!(worst < 0.005, "aliased energy rms {worst} (input rms 0.35)");
    s.shutdown().await;
}

#[tokio::test]
async fn resume_with_last_event_id_has_no_gap() {
    let s = start("").await;
    let url = format!("{}/api/audio/stream", s.url());
    let mut sse = Sse::open(&url, &[]).await;
    let mut last = 0;
    for _ in 0..5 {
        last = sse.next_audio().await["frame_number"].as_u64().unwrap();
    }
    drop(sse);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let id = format!("frame-{last}");
    let mut sse = Sse::open(&url, &[("last-event-id", &id)]).await;
    let status = sse.next_of("status", 2.0).await;
    let v: serde_json::Value = serde_json::from_str(&status.data).unwrap();
    assert_eq!(v["status"], "resumed");
    assert_eq!(v["missed_frames"], 0);
    let f = sse.next_audio().await;
    assert_eq!(f["frame_number"].as_u64().unwrap(), last + 1, "resumes exactly after the last seen frame");
    s.shutdown().await;
}

#[tokio::test]
async fn resume_reports_gap_when_frames_left_the_ring() {
    // a 1 s ring: the first frame heard is long gone after 2 s
    let s = start("[server]\nring_secs = 1\n").await;
    let url = format!("{}/api/audio/stream", s.url());
    let mut sse = Sse::open(&url, &[]).await;
    let first = sse.next_audio().await["frame_number"].as_u64().unwrap();
    drop(sse);
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let id = format!("frame-{first}");
    let mut sse = Sse::open(&url, &[("last-event-id", &id)]).await;
    let status = sse.next_of("status", 2.0).await;
    let v: serde_json::Value = serde_json::from_str(&status.data).unwrap();
    assert_eq!(v["status"], "gap");
    let missed = v["missed_frames"].as_u64().unwrap();
    assert!((80..=150).contains(&missed), "about 2 s of frames missed, got {missed}");
    let f = sse.next_audio().await;
    assert_eq!(f["frame_number"].as_u64().unwrap(), first + 1 + missed, "live, right after the gap");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(stats["connections"][0]["skipped_frames"].as_u64().unwrap(), missed);
    s.shutdown().await;
}

#[tokio::test]
async fn several_streams_and_listing() {
    let s = start(
        "[[stream]]\nid = \"main\"\n[[stream]]\nid = \"lab\"\nsource = \"tone:sine?freq=1000\"\nsample_rate = 16000\nchannels = 1\nframe_ms = 10\n",
    )
    .await;
    let (status, list) = get_json(&format!("{}/api/streams", s.url()), None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        list["streams"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["main", "lab"]);
    let mut lab = Sse::open(&format!("{}/api/streams/lab/stream", s.url()), &[]).await;
    let f = lab.next_audio().await;
    assert_eq!(f["sample_rate"], 16_000);
    assert_eq!(f["duration_ms"], 10.0);
    assert_eq!(samples(&f, "channel_a").len(), 160);
    let (status, body) = get_json(&format!("{}/api/streams/nope/stream", s.url()), None).await;
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().contains("main, lab"));
    let (status, stats) = get_json(&format!("{}/api/streams/lab/stats", s.url()), None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["stream"], "lab");
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_listeners_and_closes() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    sse.next_audio().await;
    let shutdown = tokio::spawn(s.shutdown());
    let e = sse.next_of("error", 5.0).await;
    assert!(e.data.starts_with("error: ") && e.data.contains("shutting down"), "{}", e.data);
    assert!(sse.next_within(5.0).await.is_none(), "the stream closes after the error event");
    tokio::time::timeout(std::time::Duration::from_secs(10), shutdown).await.unwrap().unwrap();
}
