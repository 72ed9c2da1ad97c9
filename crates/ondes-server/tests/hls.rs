//! LL-HLS and DASH egress over real loopback HTTP: ffmpeg plays the HLS playlist and the
//! DASH manifest (the decoded audio must be the source's tone), blocking playlist reloads
//! and preload hints are timed, delta updates and errors checked.
//!
//! ffmpeg must be installed (scripts/test.sh installs it); these tests fail loudly without it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const TONE_HZ: f64 = 440.0;

fn config(extra: &str) -> String {
    format!(
        "[[stream]]\nid = \"main\"\nsource = \"tone:sine?freq=440\"\nchannels = 1\nrungs = \"32,64\"\n{extra}"
    )
}

fn ffmpeg() -> Command {
    let probe = Command::new("ffmpeg").arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "ffmpeg is required for the HLS tests (scripts/test.sh installs it)"
    );
    let mut c = Command::new("ffmpeg");
    c.args([
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        if std::env::var("HLS_DEBUG").is_ok() { "verbose" } else { "error" },
    ]);
    c
}

/// ffmpeg reading `url` for `secs`, decoded to mono f32 at 48 kHz. Panics on any error.
async fn play(url: String, secs: f64) -> Vec<f32> {
    let out = tokio::task::spawn_blocking(move || {
        ffmpeg()
            .args([
                "-xerror",
                "-i",
                &url,
                "-t",
                &secs.to_string(),
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
    let debug = std::env::var("HLS_DEBUG").is_ok();
    if debug {
        eprintln!("{stderr}");
    }
    assert!(
        out.status.success() && (debug || stderr.trim().is_empty()),
        "ffmpeg could not play {}: {stderr}",
        "the stream"
    );
    out.stdout.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// How much of `x` is the tone (any phase): the normalised correlation with the best-matching
/// sinusoid of `hz`, 1.0 for a pure tone.
fn tone_correlation(x: &[f32], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 48_000.0;
    let (mut a, mut b, mut e) = (0.0f64, 0.0f64, 0.0f64);
    for (i, v) in x.iter().enumerate() {
        let v = f64::from(*v);
        a += v * (w * i as f64).sin();
        b += v * (w * i as f64).cos();
        e += v * v;
    }
    if e == 0.0 { 0.0 } else { (2.0 * (a * a + b * b) / (x.len() as f64 * e)).sqrt() }
}

fn check_tone(decoded: &[f32], what: &str) {
    assert!(decoded.len() >= 2 * 48_000, "{what}: only {} samples decoded", decoded.len());
    // every 100 ms window of the middle: a gap or a glitch anywhere would show
    let mid = &decoded[decoded.len() / 4..decoded.len() * 3 / 4];
    let worst = mid.chunks_exact(4_800).map(|c| tone_correlation(c, TONE_HZ)).fold(1.0, f64::min);
    let whole = tone_correlation(&decoded[decoded.len() / 4..decoded.len() / 4 + 48_000], TONE_HZ);
    eprintln!(
        "{what}: correlation with the 440 Hz source {whole:.3} over 1 s, worst 100 ms window {worst:.3}"
    );
    assert!(worst >= 0.9, "{what}: decoded audio correlates only {worst:.3} with the source tone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_hls_and_dash() {
    // ffmpeg's DASH reader opens every representation and leaves holes in the one it maps
    // when several are offered, so DASH is played from a one-rung stream
    let s = start(&config(
        "[[stream]]\nid = \"radio\"\nsource = \"tone:sine?freq=440\"\nchannels = 1\nrungs = \"64\"\n",
    ))
    .await;
    let hls = play(format!("{}/api/streams/main/hls/index.m3u8", s.url()), 3.0).await;
    check_tone(&hls, "HLS");
    let dash = play(format!("{}/api/streams/radio/dash/manifest.mpd", s.url()), 3.0).await;
    check_tone(&dash, "DASH");
}

async fn get(url: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, bytes::Bytes) {
    let r = client().get(url).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap())
}

fn text(b: &bytes::Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The (msn, part) the playlist's preload hint names.
fn hint(playlist: &str) -> (u64, u64) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg"))
        .unwrap_or_else(|| panic!("no preload hint in:\n{playlist}"));
    let name = line.split('"').nth(1).unwrap().trim_start_matches("seg").trim_end_matches(".m4s");
    let (m, p) = name.split_once('.').unwrap();
    (m.parse().unwrap(), p.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reload_preload_hint_and_errors() {
    let s = start(&config("[hls]\nsegment_ms = 1000\npart_ms = 200\n")).await;
    let base = format!("{}/api/streams/main/hls", s.url());

    let (st, h, body) = get(&format!("{base}/index.m3u8")).await;
    assert_eq!(st, 200);
    assert_eq!(h["cache-control"], "no-cache");
    let index = text(&body);
    assert!(
        index.contains("CODECS=\"opus\"")
            && index.contains("32/media.m3u8")
            && index.contains("64/media.m3u8")
    );
    assert!(index.contains("BANDWIDTH=84800"), "{index}");

    let (st, h, body) = get(&format!("{base}/64/media.m3u8")).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(h["cache-control"], "no-cache");
    let pl = text(&body);
    assert!(
        pl.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=6.0"),
        "{pl}"
    );
    let (m, p) = hint(&pl);

    // the hinted part and the playlist that contains it, asked together: both held until
    // the part is complete, then released at once
    let t0 = Instant::now();
    let part_url = format!("{base}/64/seg{m}.{p}.m4s");
    let reload_url = format!("{base}/64/media.m3u8?_HLS_msn={m}&_HLS_part={p}");
    let part = async {
        let r = get(&part_url).await;
        (r, t0.elapsed())
    };
    let reload = async {
        let r = get(&reload_url).await;
        (r, t0.elapsed())
    };
    let (((pst, ph, pbody), pt), ((rst, _, rbody), rt)) = tokio::join!(part, reload);
    assert_eq!(pst, 200, "{}", text(&pbody));
    assert_eq!(rst, 200, "{}", text(&rbody));
    assert_eq!(ph["content-type"], "audio/mp4");
    assert_eq!(ph["cache-control"], "public, max-age=60");
    assert_eq!(&pbody[4..8], b"moof");
    let reloaded = text(&rbody);
    assert!(reloaded.contains(&format!("URI=\"seg{m}.{p}.m4s\"")), "{reloaded}");
    assert_ne!(hint(&reloaded), (m, p), "the hint moved on");
    eprintln!("hinted part after {pt:?}, blocking reload after {rt:?}");
    assert!(pt < Duration::from_millis(200 + 150), "the next part came after {pt:?} (parts are 200 ms)");
    let apart = pt.abs_diff(rt);
    assert!(apart < Duration::from_millis(50), "part and playlist released {apart:?} apart");

    // a part that exists is sent at once
    let t1 = Instant::now();
    let (st, _, _) = get(&part_url).await;
    assert_eq!(st, 200);
    assert!(t1.elapsed() < Duration::from_millis(100), "an existing part took {:?}", t1.elapsed());

    // far in the future: 400 with a JSON error
    let (st, h, body) = get(&format!("{base}/64/media.m3u8?_HLS_msn={}&_HLS_part=0", m + 100)).await;
    assert_eq!(st, 400);
    assert_eq!(h["content-type"], "application/json");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["error"], "too_far_ahead", "{err}");
    let max = u64::MAX;
    let (st, _, _) = get(&format!("{base}/64/media.m3u8?_HLS_msn={max}&_HLS_part={max}")).await;
    assert_eq!(st, 400, "the largest numbers are refused, not a crash");
    let (st, _, _) = get(&format!("{base}/64/seg{max}.{max}.m4s")).await;
    assert_eq!(st, 404);
    let (st, _, body) = get(&format!("{base}/64/media.m3u8?_HLS_part=1")).await;
    assert_eq!(st, 400, "{}", text(&body));
    let (st, _, _) = get(&format!("{base}/64/media.m3u8?_HLS_msn=x")).await;
    assert_eq!(st, 400);

    // unknown stream, unknown rung, unknown file
    let (st, _, body) = get(&format!("{}/api/streams/nope/hls/index.m3u8", s.url())).await;
    assert_eq!(st, 404, "{}", text(&body));
    let (st, _, body) = get(&format!("{base}/48/media.m3u8")).await;
    assert_eq!(st, 404);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"], "unknown_rung");
    let (st, _, _) = get(&format!("{base}/64/seg.m4s")).await;
    assert_eq!(st, 404);

    // init segment: ftyp + moov with the Opus entry
    let (st, h, init) = get(&format!("{base}/64/init.mp4")).await;
    assert_eq!(st, 200);
    assert_eq!(h["cache-control"], "public, max-age=60");
    assert_eq!(&init[4..8], b"ftyp");
    assert!(init.windows(4).any(|w| w == b"dOps"));

    // every LL playlist has the hint; the plain one has no LL tags
    for _ in 0..3 {
        let (_, _, b) = get(&format!("{base}/64/media.m3u8")).await;
        hint(&text(&b));
    }
    let (_, _, b) = get(&format!("{base}/64/media.m3u8?ll=0")).await;
    let plain = text(&b);
    assert!(
        !plain.contains("EXT-X-PART") && !plain.contains("PRELOAD-HINT") && plain.contains("#EXTINF:"),
        "{plain}"
    );

    // delta update: once more than CAN-SKIP-UNTIL (6 s) is listed, old segments are skipped
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, _, b) = get(&format!("{base}/64/media.m3u8?_HLS_skip=YES")).await;
        assert_eq!(st, 200);
        let d = text(&b);
        if d.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=") {
            assert!(d.contains("#EXT-X-VERSION:9"));
            hint(&d);
            break;
        }
        assert!(Instant::now() < deadline, "no EXT-X-SKIP after 15 s:\n{d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_manifest_and_segment_written_as_it_grows() {
    let s = start(&config("")).await;
    let (st, h, body) = get(&format!("{}/api/streams/main/dash/manifest.mpd", s.url())).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/dash+xml");
    let mpd = text(&body);
    for want in [
        r#"type="dynamic""#,
        "availabilityStartTime=",
        r#"availabilityTimeOffset="0.800""#,
        "$Number$",
        r#"codecs="opus""#,
        r#"<Representation id="32""#,
        r#"schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="/api/time/iso""#,
    ] {
        assert!(mpd.contains(want), "no {want} in:\n{mpd}");
    }
    // media time 0 is where frame numbering starts (2000-01-01): not in the first second of
    // 1970, which ffmpeg's DASH reader takes for "no time given"
    assert!(mpd.contains(r#"availabilityStartTime="2000-01-01T00:0"#), "{mpd}");
    // the clock players sync to: ISO 8601 with milliseconds, now, not cached
    let (st, h, body) = get(&format!("{}/api/time/iso", s.url())).await;
    assert_eq!((st.as_u16(), h["cache-control"].to_str().unwrap()), (200, "no-cache"));
    let t = text(&body);
    assert!(t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (y, rest) = t.split_once('-').unwrap();
    assert_eq!(y.parse::<u64>().unwrap(), 1970 + now_s / 31_556_952, "this year: {t} ({rest})");
    // the segment after the newest complete one: its first bytes come before it is complete
    let (_, _, b) = get(&format!("{}/api/streams/main/hls/64/media.m3u8", s.url())).await;
    let (m, _) = hint(&text(&b));
    let t0 = Instant::now();
    let mut r =
        client().get(format!("{}/api/streams/main/hls/64/seg{}.m4s", s.url(), m + 1)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut chunks = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        chunks.push((t0.elapsed(), c));
    }
    let first = chunks.first().expect("a body").0;
    let last = chunks.last().unwrap().0;
    eprintln!("segment in progress: {} chunks, first after {first:?}, last after {last:?}", chunks.len());
    assert!(chunks.len() >= 5, "the segment came in {} chunks", chunks.len());
    assert!(last - first >= Duration::from_millis(600), "sent as it grew: {first:?} .. {last:?}");
    let body: Vec<u8> = chunks.iter().flat_map(|(_, c)| c.to_vec()).collect();
    let moofs = body.windows(4).filter(|w| w == b"moof").count();
    assert_eq!(moofs, 5, "one fragment per part");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_segmenter_per_rung_shared_and_stopped_after_linger() {
    let s = start(&config("[hls]\nlinger_secs = 1\n")).await;
    let hub = s.state.hub("main").unwrap();
    let (st, _, _) = get(&format!("{}/api/streams/main/hls/64/media.m3u8", s.url())).await;
    assert_eq!(st, 200);
    let a = s.state.hls.get(&hub, 64).unwrap();
    let b = s.state.hls.get(&hub, 64).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "one segmenter per (stream, rung)");
    assert_eq!(s.state.hls.running(), 1, "only the rung asked for runs");
    let ll = ondes_core::hls::playlist::PlaylistOptions { low_latency: true, skip: false };
    let (m, p) = hint(&a.playlist(ll));
    a.wait_for(m, Some(p), Duration::from_secs(3)).await.unwrap();
    let (x, y) = (a.part(m, p).unwrap(), b.part(m, p).unwrap());
    assert_eq!(x.as_ptr(), y.as_ptr(), "every client is handed the same bytes");
    assert_eq!(hub.ladder.listeners(1), 1, "the segmenter keeps its rung encoding");
    drop((a, b));
    let deadline = Instant::now() + Duration::from_secs(6);
    while s.state.hls.running() > 0 {
        assert!(Instant::now() < deadline, "the segmenter still runs 6 s after the last request");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hub.ladder.listeners(1), 0, "and its rung is released");
}
