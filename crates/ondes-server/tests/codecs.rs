//! FLAC (lossless) and MP3 listening over real loopback HTTP, decoded by ffmpeg: Ogg FLAC at
//! `/{id}.flac` and the HLS lossless variant must give back the stream's own 16-bit samples
//! bit for bit (compared with what an SSE `pcm16` listener got for the same frames), MP3 at
//! `/{id}.mp3` must correlate with them; formats nobody serves are refused.
//!
//! ffmpeg must be installed (scripts/test.sh installs it); these tests fail loudly without it.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::signal::{best_correlation, f32s, i16s};
use common::*;

/// A sweep: no stretch of it repeats within the test, so an exact match has one place only.
const SWEEP: &str = "tone:sweep?from=200&to=3000&period=7";

fn config() -> String {
    format!(
        "[[stream]]\nid = \"main\"\nsource = \"{SWEEP}\"\nchannels = 2\nrungs = \"32,64\"\n\
         [[stream]]\nid = \"cd\"\nsource = \"{SWEEP}\"\nsample_rate = 44100\nchannels = 2\n"
    )
}

fn ffmpeg() -> Command {
    let probe = Command::new("ffmpeg").arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "ffmpeg is required for the codec tests (scripts/test.sh installs it)"
    );
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    c
}

/// ffmpeg reading `url` for `secs` and decoding it to `format` (`s16le`, `f32le`) with
/// `extra` output options. Panics on any error or warning.
async fn decode(url: String, secs: f64, format: &'static str, extra: &'static [&'static str]) -> Vec<u8> {
    let out = tokio::task::spawn_blocking(move || {
        ffmpeg()
            .args(["-xerror", "-i", &url, "-t", &secs.to_string(), "-f", format])
            .args(extra)
            .arg("-")
            .output()
            .expect("ffmpeg runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "ffmpeg could not decode the stream: {stderr}");
    out.stdout
}

/// The stream's 16-bit samples by frame number, as an SSE `pcm16` listener gets them,
/// gathered in the background for `secs`.
fn gather_pcm16(url: String, secs: f64) -> tokio::task::JoinHandle<BTreeMap<u64, Vec<i16>>> {
    tokio::spawn(async move {
        let mut sse = Sse::open(&format!("{url}?format=pcm16"), &[]).await;
        let mut frames = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        while tokio::time::Instant::now() < deadline {
            let v = sse.next_audio().await;
            let pcm = base64::engine::general_purpose::STANDARD
                .decode(v["pcm16"].as_str().expect("pcm16 field"))
                .expect("pcm16 is base64");
            frames.insert(v["frame_number"].as_u64().expect("frame_number"), i16s(&pcm));
        }
        frames
    })
}

/// The gathered frames as one run of samples (they must be gap-free).
fn contiguous(frames: &BTreeMap<u64, Vec<i16>>) -> Vec<i16> {
    let first = *frames.keys().next().expect("SSE frames");
    for (i, seq) in frames.keys().enumerate() {
        assert_eq!(*seq, first + i as u64, "the SSE listener missed frames");
    }
    frames.values().flatten().copied().collect()
}

/// Asserts that `decoded` (interleaved, `channels`) is an exact stretch of `source`, at
/// least `min_secs` long at `rate`.
fn assert_bit_exact(
    decoded: &[i16],
    source: &[i16],
    channels: usize,
    rate: usize,
    min_secs: f64,
    what: &str,
) {
    let min = (min_secs * rate as f64) as usize * channels;
    assert!(decoded.len() >= min, "{what}: only {} samples decoded", decoded.len());
    let probe = &decoded[..rate / 50 * channels];
    let at = (0..source.len().saturating_sub(probe.len()))
        .step_by(channels)
        .find(|&k| &source[k..k + probe.len()] == probe)
        .unwrap_or_else(|| panic!("{what}: the first decoded frame is nowhere in the stream's PCM"));
    let n = decoded.len().min(source.len() - at);
    assert!(n >= min, "{what}: the SSE listener's PCM covers only {n} of the decoded samples");
    if let Some(i) = (0..n).find(|&i| decoded[i] != source[at + i]) {
        panic!(
            "{what}: sample {i} differs ({} decoded, {} in the stream) after {:.3} s bit-exact",
            decoded[i],
            source[at + i],
            i as f64 / (rate * channels) as f64
        );
    }
    eprintln!("{what}: {:.3} s bit-exact with the stream's PCM", n as f64 / (rate * channels) as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_ogg_flac_bit_exact() {
    let s = start(&config()).await;
    let pcm = gather_pcm16(format!("{}/api/streams/main/stream", s.url()), 6.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client().get(format!("{}/main.flac", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/ogg");
    drop(r);
    let decoded = i16s(&decode(format!("{}/main.flac", s.url()), 3.0, "s16le", &[]).await);
    let source = contiguous(&pcm.await.unwrap());
    // (ffmpeg's `-t` counts from the Ogg demuxer's start time, a little after the first page)
    assert_bit_exact(&decoded, &source, 2, 48_000, 2.0, "Ogg FLAC at 48 kHz");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_hls_flac_bit_exact_at_44k1() {
    let s = start(&config()).await;
    // a 44.1 kHz stream has no Opus rungs: the multivariant playlist offers the lossless one
    let (status, index) = {
        let r = client().get(format!("{}/api/streams/cd/hls/index.m3u8", s.url())).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200, "{index}");
    assert!(index.contains("CODECS=\"fLaC\"") && index.contains("flac/media.m3u8"), "{index}");
    assert!(!index.contains("opus"), "{index}");
    let pcm = gather_pcm16(format!("{}/api/streams/cd/stream", s.url()), 9.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let decoded =
        i16s(&decode(format!("{}/api/streams/cd/hls/index.m3u8", s.url()), 3.0, "s16le", &[]).await);
    let source = contiguous(&pcm.await.unwrap());
    assert_bit_exact(&decoded, &source, 2, 44_100, 2.5, "HLS fLaC at 44.1 kHz");

    // the 48 kHz stream lists its Opus rungs and the lossless variant with a bandwidth above 16-bit PCM's
    let r = client().get(format!("{}/api/streams/main/hls/index.m3u8", s.url())).send().await.unwrap();
    let index = r.text().await.unwrap();
    let flac =
        index.lines().find(|l| l.contains("fLaC")).unwrap_or_else(|| panic!("no FLAC variant: {index}"));
    let bw: u64 = flac.split("BANDWIDTH=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((1_536_000..2_000_000).contains(&bw), "{flac}");
    assert_eq!(index.matches("CODECS=\"opus\"").count(), 2, "{index}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_dash_flac_bit_exact() {
    let s = start(&config()).await;
    let pcm = gather_pcm16(format!("{}/api/streams/cd/stream", s.url()), 9.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("{}/api/streams/cd/dash/manifest.mpd", s.url());
    let mpd = client().get(&url).send().await.unwrap().text().await.unwrap();
    assert!(mpd.contains(r#"codecs="flac""#) && mpd.contains(r#"timescale="44100""#), "{mpd}");
    // a stream with Opus rungs lists the lossless one when asked
    let main = format!("{}/api/streams/main/dash/manifest.mpd", s.url());
    let mpd = client().get(&main).send().await.unwrap().text().await.unwrap();
    assert!(!mpd.contains("flac"), "{mpd}");
    let mpd = client().get(format!("{main}?lossless=1")).send().await.unwrap().text().await.unwrap();
    assert!(mpd.contains(r#"<Representation id="flac""#) && mpd.contains(r#"codecs="opus""#), "{mpd}");
    let decoded = i16s(&decode(url, 3.0, "s16le", &[]).await);
    let source = contiguous(&pcm.await.unwrap());
    assert_bit_exact(&decoded, &source, 2, 44_100, 2.5, "DASH fLaC at 44.1 kHz");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_mp3_close_to_the_source() {
    let s = start(&config()).await;
    let pcm = gather_pcm16(format!("{}/api/streams/main/stream", s.url()), 7.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client().get(format!("{}/main.mp3", s.url())).header("icy-metadata", "1").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    assert_eq!(r.headers()["icy-br"], "128");
    drop(r);
    let bad = client().get(format!("{}/main.mp3?rung=100", s.url())).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("128"), "{body}");

    let decoded = f32s(
        &decode(format!("{}/main.mp3?rung=192", s.url()), 3.0, "f32le", &["-ac", "1", "-ar", "48000"]).await,
    );
    let source = contiguous(&pcm.await.unwrap());
    // the source as mono f32, as ffmpeg's downmix makes it
    let reference: Vec<f32> =
        source.chunks_exact(2).map(|c| (f32::from(c[0]) + f32::from(c[1])) / 2.0 / 32768.0).collect();
    let (corr, at) = best_correlation(&decoded, &reference);
    eprintln!("MP3: correlation {corr:.3} at {at:.3} s of the stream's PCM");
    assert!(corr >= 0.9, "MP3: decoded audio correlates {corr:.3} with the stream's PCM");
    // the rung encoded while ffmpeg listened, and the stats say so
    let (_, stats) = get_json(&format!("{}/api/streams/main/stats", s.url()), None).await;
    let rungs = stats["codec_rungs"].as_array().unwrap_or_else(|| panic!("no codec_rungs: {stats}"));
    let mp3 = rungs.iter().find(|r| r["rung"] == "mp3-192").unwrap_or_else(|| panic!("{stats}"));
    assert!(mp3["frames_encoded"].as_u64().unwrap() >= 100, "{mp3}");
    assert_eq!(mp3["errors"], 0, "{mp3}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_nobody_serves_are_refused_with_json() {
    let s = start(&config()).await;
    for path in ["/main.aac", "/main.m4a"] {
        let r = client().get(format!("{}{path}", s.url())).send().await.unwrap();
        assert_eq!(r.status(), 406, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "format_unavailable", "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("/main.flac"), "{body}");
    }
    let r = client().get(format!("{}/api/streams/main/hls/alac/media.m3u8", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // a 44.1 kHz stream has no Opus: /cd.ogg says so, /cd.flac and /cd.mp3 play
    let r = client().get(format!("{}/cd.ogg", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let mp3 = decode(format!("{}/cd.mp3", s.url()), 1.5, "s16le", &[]).await;
    assert!(mp3.len() >= 44_100 * 4, "{} bytes of 44.1 kHz stereo decoded from /cd.mp3", mp3.len());
    s.shutdown().await;
}
