//! Sources end to end: real files (made by ffmpeg) streamed over SSE, and start-up errors.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use ondes_core::dsp::rms;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ondes-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Makes a test file with ffmpeg (the test fails loudly without it).
fn ffmpeg_tone(path: &PathBuf, freq: u32, rate: u32, secs: f64, channels: u32) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={freq}:sample_rate={rate}:duration={secs}"))
        .args(["-ac", &channels.to_string()])
        .arg(path)
        .status()
        .expect("ffmpeg not found: install it with apt-get install ffmpeg (the test command does this)");
    assert!(status.success());
}

fn zero_crossings(x: &[f32]) -> usize {
    x.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count()
}

#[tokio::test]
async fn flac_file_is_resampled_and_streamed() {
    let path = tmp("tone.flac");
    ffmpeg_tone(&path, 1000, 44_100, 3.0, 1);
    let s =
        start(&format!("[[stream]]\nid = \"main\"\nsource = \"file:{}?loop=true\"\n", path.display())).await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream?max_fps=5", s.url()), &[]).await;
    sse.next_audio().await;
    let f = sse.next_audio().await;
    assert_eq!(f["sample_rate"], 48_000);
    let a = samples(&f, "channel_a");
    assert_eq!(a.len(), 960 * 10);
    // 200 ms of a 1 kHz tone: 200 cycles
    let zc = zero_crossings(&a);
    assert!((198..=202).contains(&zc), "{zc} zero crossings");
    assert!(rms(&a) > 0.05);
    assert_eq!(samples(&f, "channel_b"), a, "mono file mapped to both channels");
    let (_, list) = get_json(&format!("{}/api/streams", s.url()), None).await;
    assert!(list["streams"][0]["source"].as_str().unwrap().contains("tone.flac"));
    s.shutdown().await;
}

#[tokio::test]
async fn file_end_ends_the_stream_with_an_error_event() {
    let path = tmp("short.wav");
    ffmpeg_tone(&path, 440, 48_000, 0.5, 2);
    let s = start(&format!("[[stream]]\nid = \"main\"\nsource = \"file:{}\"\n", path.display())).await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    let e = sse.next_of("error", 5.0).await;
    assert!(e.data.contains("end of its input"), "{}", e.data);
    assert!(sse.next_within(3.0).await.is_none());
    let (status, body) = get_json(&format!("{}/api/audio/stream", s.url()), None).await;
    assert_eq!(status, 410);
    assert_eq!(body["error"], "stream_ended");
    s.shutdown().await;
}

#[tokio::test]
async fn undecodable_files_fail_at_start_up_naming_the_file() {
    let missing = tmp("does-not-exist.mp3");
    let mut config = ondes_server::Config::from_toml_and_env(
        &format!("[[stream]]\nid = \"main\"\nsource = \"file:{}\"\n", missing.display()),
        &[],
    )
    .unwrap();
    config.server.bind = "127.0.0.1:0".into();
    let e = ondes_server::start(config).await.err().expect("start fails").to_string();
    assert!(e.contains("does-not-exist.mp3") && e.contains("main"), "{e}");

    let junk = tmp("junk.wav");
    std::fs::write(&junk, b"this is not audio at all, just text pretending").unwrap();
    let mut config = ondes_server::Config::from_toml_and_env(
        &format!("[[stream]]\nid = \"main\"\nsource = \"file:{}\"\n", junk.display()),
        &[],
    )
    .unwrap();
    config.server.bind = "127.0.0.1:0".into();
    let e = ondes_server::start(config).await.err().expect("start fails").to_string();
    assert!(e.contains("junk.wav"), "{e}");
}
