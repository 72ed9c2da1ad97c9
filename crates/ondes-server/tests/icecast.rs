//! Icecast compatibility over real loopback connections, with ffmpeg as the source client
//! and as the player: Ogg/Opus and MP3 in, Ogg/Opus out, refusals, status JSON.
//!
//! ffmpeg must be installed (scripts/test.sh installs it); these tests fail loudly without it.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::signal::{RATE, best_correlation, f32s};
use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "hackme";

/// The test signal: a chirp from 200 Hz rising 300 Hz per second, so that every stretch of it
/// matches the source at one offset only.
const CHIRP: &str = "aevalsrc=0.5*sin(2*PI*(200*t+150*t*t)):s=48000:d=";

fn icecast_streams(ids: &[&str]) -> String {
    let mut toml = String::from("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n");
    for id in ids {
        toml.push_str(&format!(
            "[[stream]]\nid = \"{id}\"\nsource = \"icecast\"\nsource_password = \"{PASSWORD}\"\nchannels = 1\nrungs = \"64\"\n"
        ));
    }
    toml
}

fn ffmpeg() -> Command {
    let probe = Command::new("ffmpeg").arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "ffmpeg is required for the Icecast tests (scripts/test.sh installs it)"
    );
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    c
}

/// ffmpeg pushing `secs` of the chirp to `mount` as an Icecast source.
fn push(addr: std::net::SocketAddr, mount: &str, codec: &str, secs: u32, password: &str) -> Child {
    push_at(addr, mount, codec, "96k", secs, password)
}

/// [`push`] at an Opus bitrate of ffmpeg's `-b:a` form (constant bitrate: libopus's VBR
/// spends up to half as much again on this pure chirp).
fn push_at(
    addr: std::net::SocketAddr,
    mount: &str,
    codec: &str,
    opus_rate: &str,
    secs: u32,
    password: &str,
) -> Child {
    let mut c = ffmpeg();
    c.args(["-re", "-f", "lavfi", "-i", &format!("{CHIRP}{secs}")]);
    match codec {
        "opus" => c.args([
            "-c:a",
            "libopus",
            "-b:a",
            opus_rate,
            "-vbr",
            "off",
            "-f",
            "ogg",
            "-content_type",
            "audio/ogg",
        ]),
        "mp3" => c.args(["-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3", "-content_type", "audio/mpeg"]),
        other => panic!("no codec {other}"),
    };
    c.args(["-ice_name", "Test Radio", "-ice_genre", "testing", "-ice_description", "a chirp"]);
    c.arg(format!("icecast://source:{password}@{addr}/{mount}"));
    c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("ffmpeg starts")
}

/// The chirp as ffmpeg makes it, mono f32 at 48 kHz.
fn reference(secs: u32) -> Vec<f32> {
    let out = ffmpeg()
        .args(["-f", "lavfi", "-i", &format!("{CHIRP}{secs}"), "-f", "f32le", "-ac", "1", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    f32s(&out.stdout)
}

/// ffmpeg playing `url` for `secs`, decoded to mono f32 at 48 kHz. Panics on any decode error.
async fn play(url: String, secs: f64) -> Vec<f32> {
    let out = tokio::task::spawn_blocking(move || {
        ffmpeg()
            .args([
                "-xerror",
                "-t",
                &secs.to_string(),
                "-i",
                &url,
                "-f",
                "f32le",
                "-ac",
                "1",
                "-ar",
                "48000",
                "-",
            ])
            .output()
            .expect("ffmpeg runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "ffmpeg could not play the mount: {stderr}");
    f32s(&out.stdout)
}

async fn wait_for_source(url: &str, mount: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = get_json(&format!("{url}/status-json.xsl"), None).await;
        let sources = match &v["icestats"]["source"] {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        if let Some(s) = sources.iter().find(|s| s["listenurl"].as_str().is_some_and(|u| u.ends_with(mount)))
        {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no source on {mount} within 30 s (ffmpeg starts slowly on a loaded machine): {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `mount` has no source; returns the stream stats' `icecast` section.
async fn wait_for_source_gone(url: &str, mount: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = get_json(&format!("{url}/api/streams{mount}/stats"), None).await;
        if v["publisher"]["connected"] == false {
            return v["icecast"].clone();
        }
        assert!(Instant::now() < deadline, "the source on {mount} did not end within 10 s: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn round_trip(codec: &str) {
    let s = start(&icecast_streams(&["radio"])).await;
    let mut sse = Sse::open(&format!("{}/api/streams/radio/stream?max_fps=5", s.url()), &[]).await;
    sse.next_of("status", 5.0).await; // source-lost: nobody is publishing yet
    let source = push(s.addr, "radio", codec, 8, PASSWORD);
    let status = wait_for_source(&s.url(), "/radio").await;
    assert_eq!(status["server_name"], "Test Radio");
    assert_eq!(status["genre"], "testing");
    assert_eq!(status["server_description"], "a chirp");
    let restored = sse.next_of("status", 5.0).await;
    assert!(restored.data.contains("source-restored"), "{}", restored.data);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let decoded = play(format!("{}/radio.ogg", s.url()), 3.0).await;
    let st = wait_for_source(&s.url(), "/radio").await;
    assert!(st["listener_peak"].as_u64().unwrap() >= 1, "{st}");
    let (corr, at) = best_correlation(&decoded, &reference(8));
    eprintln!("{codec}: correlation {corr:.3} at {at:.3} s of the source");
    assert!(corr >= 0.9, "{codec}: decoded audio correlates {corr:.3} with the source (best at {at:.3} s)");
    assert!((1.0..8.0).contains(&at), "{codec}: matched the source at {at:.3} s");
    let ended = tokio::task::spawn_blocking(move || source.wait_with_output()).await.unwrap().unwrap();
    assert!(ended.status.success(), "the source failed: {}", String::from_utf8_lossy(&ended.stderr));
    let st = wait_for_source_gone(&s.url(), "/radio").await;
    assert_eq!(st["ondes"]["last_source_error"], Value::Null, "{st}");
    // (after "lagged": this SSE listener was not read while ffmpeg played)
    loop {
        let e = sse.next_of("status", 6.0).await;
        if e.data.contains("source-lost") {
            break;
        }
        assert!(e.data.contains("lagged"), "{}", e.data);
    }
    let (_, stats) = get_json(&format!("{}/api/streams/radio/stats", s.url()), None).await;
    let accepted = stats["publisher"]["frames_accepted"].as_u64().unwrap();
    assert!(accepted >= 350, "8 s of audio is 400 frames; {accepted} were accepted");
    assert_eq!(stats["publisher"]["out_of_order_frames"], 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_source_plays_back_through_ffmpeg() {
    round_trip("opus").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_source_plays_back_through_ffmpeg() {
    round_trip("mp3").await;
}

/// A raw source request; returns the status and the JSON body.
/// An Ogg/Opus source at the rung's bitrate and the stream's layout: the rung carries the
/// source's packets (no decode and re-encode), and listeners hear the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_source_packets_pass_through_to_the_matching_rung() {
    let s = start(&icecast_streams(&["radio"])).await;
    // long enough to outlast a slow start of the player on a loaded machine; stopped at the end
    let mut source = push_at(s.addr, "radio", "opus", "64k", 30, PASSWORD);
    wait_for_source(&s.url(), "/radio").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // a listener on the rung: while it plays, the rung carries the source's packets and
    // encodes nothing (before the first packet, silence was encoded)
    let listener = tokio::spawn(play(format!("{}/radio.ogg", s.url()), 6.0));
    let rung = |v: &Value| (v["ladder"]["rungs"][0].clone(), v.to_string());
    let listening = |v: &Value| v["ladder"]["rungs"][0]["listeners"].as_u64() == Some(1);
    // the source's packets reach the rung once its playout queue has started
    let passing = |v: &Value| v["ladder"]["rungs"][0]["frames_passed_through"].as_u64() > Some(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let before = loop {
        let (_, v) = get_json(&format!("{}/api/streams/radio/stats", s.url()), None).await;
        if listening(&v) && passing(&v) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no listener or no passthrough on the rung: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, after) = get_json(&format!("{}/api/streams/radio/stats", s.url()), None).await;
    assert!(listening(&after), "the listener left before the measurement ended: {after}");
    let ((a, _), (b, stats)) = (rung(&before), rung(&after));
    assert_eq!(b["kbps"], 64);
    assert_eq!(b["passthrough"], true, "{stats}");
    let count = |r: &Value, k: &str| r[k].as_u64().unwrap();
    let through = count(&b, "frames_passed_through") - count(&a, "frames_passed_through");
    let encoded = count(&b, "frames_encoded") - count(&a, "frames_encoded");
    assert!(through >= 40, "a second is 50 frames; {through} passed through: {stats}");
    assert_eq!(encoded, 0, "the rung was not re-encoded: {stats}");
    assert_eq!(after["ladder"]["source_opus_kbps"], 64.0, "{stats}");
    assert!(source.try_wait().unwrap().is_none(), "the source was still playing while measured");
    // and what the listener heard is the source
    let decoded = listener.await.unwrap();
    let (corr, at) = best_correlation(&decoded, &reference(30));
    assert!(corr >= 0.9, "decoded audio correlates {corr:.3} with the source (best at {at:.3} s)");
    source.kill().unwrap();
    let _ = source.wait();
    s.shutdown().await;
}

async fn raw_put(addr: std::net::SocketAddr, head: &str) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // the body may be chunked: take the JSON object inside it
    let json = body.find('{').and_then(|a| body.rfind('}').map(|b| &body[a..=b])).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn source_head(mount: &str, user_pass: &str, content_type: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(user_pass);
    format!(
        "PUT /{mount} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: {content_type}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sources_get_json_errors_and_other_listeners_play_on() {
    let s = start(&icecast_streams(&["a", "b"])).await;
    // a listener on another mount, reading the whole time
    let mut listener = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    listener.write_all(b"GET /main HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let reader = tokio::spawn(async move {
        let (mut bytes, mut longest_silence, mut last) = (0usize, Duration::ZERO, Instant::now());
        let mut buf = vec![0u8; 65536];
        let end = Instant::now() + Duration::from_secs(6);
        while Instant::now() < end {
            match tokio::time::timeout(Duration::from_secs(2), listener.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    bytes += n;
                    longest_silence = longest_silence.max(last.elapsed());
                    last = Instant::now();
                }
                _ => return (bytes, Duration::from_secs(99)),
            }
        }
        (bytes, longest_silence)
    });

    let source = push(s.addr, "a", "opus", 6, PASSWORD);
    wait_for_source(&s.url(), "/a").await;

    let (st, b) = raw_put(s.addr, &source_head("b", "source:wrong", "audio/ogg")).await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["error"], "invalid_credentials");
    assert!(b["message"].as_str().unwrap().contains("password"), "{b}");
    let (st, b) = raw_put(s.addr, "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Type: audio/ogg\r\n\r\n").await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["error"], "missing_credentials");

    let (st, b) = raw_put(s.addr, &source_head("a", &format!("source:{PASSWORD}"), "audio/ogg")).await;
    assert_eq!(st, 403, "{b}");
    assert_eq!(b["error"], "mount_busy");
    assert!(b["message"].as_str().unwrap().contains("already has a source"), "{b}");

    let (st, b) = raw_put(s.addr, &source_head("b", &format!("source:{PASSWORD}"), "audio/aac")).await;
    assert_eq!(st, 415, "{b}");
    assert_eq!(b["error"], "unsupported_media_type");
    assert!(b["message"].as_str().unwrap().contains("audio/aac"), "{b}");

    let (st, b) = raw_put(s.addr, &source_head("main", &format!("source:{PASSWORD}"), "audio/ogg")).await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(b["error"], "not_an_icecast_mount");
    let (st, b) = raw_put(s.addr, &source_head("nope", &format!("source:{PASSWORD}"), "audio/ogg")).await;
    assert_eq!(st, 404, "{b}");

    // the refusals left the connected source and the other mount's listener alone
    let st = wait_for_source(&s.url(), "/a").await;
    assert_eq!(st["server_name"], "Test Radio");
    let (bytes, silence) = reader.await.unwrap();
    assert!(bytes > 20_000, "the /main listener got only {bytes} bytes in 6 s");
    assert!(silence < Duration::from_millis(700), "the /main listener waited {silence:?} for data");
    let ended = tokio::task::spawn_blocking(move || source.wait_with_output()).await.unwrap().unwrap();
    assert!(ended.status.success(), "{}", String::from_utf8_lossy(&ended.stderr));
    s.shutdown().await;
}

/// A listener asking for a format the server does not make (AAC) gets a 406 naming what is
/// served, not another format under that name; Ogg, FLAC and MP3 names play.
#[tokio::test]
async fn an_unserved_listening_format_is_refused_with_what_is_served() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n").await;
    for ext in ["aac", "m4a"] {
        let (st, v) = get_json(&format!("{}/main.{ext}", s.url()), None).await;
        assert_eq!(st, 406, "{v}");
        assert_eq!(v["error"], "format_unavailable", "{v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(&ext.to_uppercase()) && msg.contains("/main.ogg"), "{v}");
    }
    let (st, _) = get_json(&format!("{}/nothing.mp3", s.url()), None).await;
    assert_eq!(st, 404, "an unknown stream is still unknown");
    for (ext, content_type) in [("ogg", "audio/ogg"), ("flac", "audio/ogg"), ("mp3", "audio/mpeg")] {
        let resp = client().get(format!("{}/main.{ext}", s.url())).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{ext}");
        assert_eq!(resp.headers()["content-type"], content_type, "{ext}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn status_json_has_icecasts_shape() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n").await;
    let (st, v) = get_json(&format!("{}/status-json.xsl", s.url()), None).await;
    assert_eq!(st, 200);
    let ice = &v["icestats"];
    for key in ["admin", "host", "location", "server_id", "server_start", "server_start_iso8601"] {
        assert!(ice.get(key).is_some(), "icestats.{key} missing: {v}");
    }
    let src = &ice["source"];
    assert!(src.is_object(), "one live mount is an object, as in Icecast: {v}");
    assert_eq!(src["listenurl"], format!("http://{}/main", s.addr));
    assert_eq!(src["listeners"], 0);
    assert_eq!(src["server_type"], "audio/ogg");
    assert_eq!(src["bitrate"], 64);
    let iso = src["stream_start_iso8601"].as_str().unwrap();
    assert_eq!(iso.len(), 24, "{iso}");
    assert!(iso.ends_with("+0000") && iso.as_bytes()[10] == b'T', "{iso}");
    for key in ["listener_peak", "server_name", "server_description", "genre", "audio_info"] {
        assert!(src.get(key).is_some(), "source.{key} missing: {v}");
    }

    // a listener shows up in the counts
    let mut l = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    l.write_all(b"GET /main.opus?rung=32 HTTP/1.1\r\nHost: x\r\nIcy-MetaData: 1\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = l.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: audio/ogg") && head.contains("icy-br: 32"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    let (_, v) = get_json(&format!("{}/status-json.xsl", s.url()), None).await;
    assert_eq!(v["icestats"]["source"]["listeners"], 1, "{v}");
    assert_eq!(v["icestats"]["source"]["listener_peak"], 1, "{v}");
    drop(l);

    // several mounts are an array; a mount without a source is not listed
    let s2 = start(&icecast_streams(&["radio"])).await;
    let (_, v) = get_json(&format!("{}/status-json.xsl", s2.url()), None).await;
    assert!(v["icestats"]["source"].is_object(), "the idle Icecast mount is not listed: {v}");
    let s3 = start("[[stream]]\nid = \"a\"\n[[stream]]\nid = \"b\"\n").await;
    let (_, v) = get_json(&format!("{}/status-json.xsl", s3.url()), None).await;
    assert_eq!(v["icestats"]["source"].as_array().map(Vec::len), Some(2), "{v}");
    let (st, v) = get_json(&format!("{}/main?rung=7", s.url()), None).await;
    assert_eq!((st.as_u16(), v["error"].as_str()), (400, Some("bad_rung")));
    for srv in [s, s2, s3] {
        srv.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_replaces_the_connected_source_when_configured() {
    let s = start(&format!("[icecast]\ntakeover = true\n{}", icecast_streams(&["radio"]))).await;
    let first = push(s.addr, "radio", "opus", 30, PASSWORD);
    let st = wait_for_source(&s.url(), "/radio").await;
    let first_since = st["stream_start_iso8601"].clone();
    tokio::time::sleep(Duration::from_millis(1100)).await; // a different start second
    let second = push(s.addr, "radio", "opus", 30, PASSWORD);
    // the first source is cut off and ends; the second holds the mount
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || first.wait_with_output()),
    )
    .await
    .expect("the replaced source ends within 10 s")
    .unwrap()
    .unwrap();
    assert!(!ended.status.success(), "the replaced source should see its connection cut");
    let st = wait_for_source(&s.url(), "/radio").await;
    assert_ne!(st["stream_start_iso8601"], first_since, "{st}");
    let (_, stats) = get_json(&format!("{}/api/streams/radio/stats", s.url()), None).await;
    assert_eq!(stats["icecast"]["source_connected"], true, "{stats}");
    assert_eq!(stats["publisher"]["sessions"], 2, "{stats}");
    let mut second = second;
    let _ = second.kill();
    s.shutdown().await;
}

/// `secs` of the raw bytes of an HTTP listener at `url`.
async fn raw_listen(url: &str, secs: f64) -> Vec<u8> {
    let mut resp = client().get(url).send().await.expect("the listener connects");
    assert_eq!(resp.status(), 200);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), resp.chunk()).await
    {
        out.extend_from_slice(&chunk);
    }
    out
}

/// Ogg pages of a byte stream: (sequence number, granule position, the whole page).
fn pages(bytes: &[u8]) -> Vec<(u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 27 && &bytes[at..at + 4] == b"OggS" {
        let segments = bytes[at + 26] as usize;
        let Some(lacing) = bytes.get(at + 27..at + 27 + segments) else { break };
        let len = 27 + segments + lacing.iter().map(|&l| l as usize).sum::<usize>();
        let Some(page) = bytes.get(at..at + len) else { break };
        let sequence = u32::from_le_bytes(page[18..22].try_into().unwrap());
        let granule = u64::from_le_bytes(page[6..14].try_into().unwrap());
        out.push((sequence, granule, page.to_vec()));
        at += len;
    }
    out
}

/// A listener joining a running feed gets the stream's own pages — byte for byte the ones an
/// earlier listener got, not a per-listener copy — behind header pages numbered so that its
/// stream has no gap in sequence numbers (as libogg-based players require).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiners_get_the_shared_pages_behind_renumbered_headers() {
    let s = start("").await;
    let url = format!("{}/main.ogg?rung=64", s.url());
    let first = tokio::spawn({
        let url = url.clone();
        async move { raw_listen(&url, 3.0).await }
    });
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let second = raw_listen(&url, 1.5).await;
    let first = first.await.unwrap();
    for (name, bytes) in [("first", &first), ("second", &second)] {
        let mut d = ondes_codec::ogg::OggDemuxer::new();
        d.feed(bytes);
        let mut packets = 0;
        while d.pop().is_some() {
            packets += 1;
        }
        let st = d.stats();
        assert!(packets > 10, "{name}: {packets} packets");
        assert_eq!((st.sequence_gaps, st.corrupt_pages), (0, 0), "{name}: {st:?}");
    }
    let (a, b) = (pages(&first), pages(&second));
    assert!(&a[0].2[28..36] == b"OpusHead" && &b[0].2[28..36] == b"OpusHead");
    // the late joiner's stream does not start at 0: its headers were numbered to fit
    assert!(b[0].0 > 0, "second listener's first page is {}", b[0].0);
    assert_eq!(b[2].0, b[0].0 + 2, "headers end right before the first audio page");
    // every audio page the second listener got that the first also got is the same bytes
    let shared = b[2..].iter().filter(|p| a.iter().any(|q| q.1 == p.1 && q.2 == p.2)).count();
    assert!(shared + 1 >= b.len() - 2 && shared > 5, "{shared} of {} audio pages shared", b.len() - 2);
    // and ffmpeg decodes the late joiner's stream without a complaint
    let path = std::env::temp_dir().join(format!("ondes-late-joiner-{}.ogg", std::process::id()));
    std::fs::write(&path, &second).unwrap();
    let out = ffmpeg().args(["-i", path.to_str().unwrap(), "-f", "f32le", "-ac", "1", "-"]).output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let seconds = out.stdout.len() as f64 / 4.0 / RATE as f64;
    assert!(seconds > 1.0, "decoded {seconds:.2} s");
    s.shutdown().await;
}
