//! In-band ICY metadata (`icy-metaint`) on `/{id}.mp3` over real loopback connections:
//! an HTTP/1.1 listener that parses the blocks itself, ffmpeg as a player (its http
//! protocol sends `Icy-MetaData: 1` and strips the blocks), and ffmpeg as the Icecast source
//! client whose credentials set the title through `/admin/metadata`.
//!
//! ffmpeg must be installed (scripts/test.sh installs it); these tests fail loudly without it.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ondes_server::auth::Permission;
use serde_json::Value;

const PASSWORD: &str = "hackme";
const METAINT: usize = 16_000;

fn ffmpeg_cmd(name: &str) -> Command {
    let probe = Command::new(name).arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is required for the ICY metadata tests (scripts/test.sh installs ffmpeg)"
    );
    let mut c = Command::new(name);
    c.args(["-hide_banner", "-loglevel", "error"]);
    if name == "ffmpeg" {
        c.arg("-nostdin");
    }
    c
}

/// ffmpeg pushing `secs` of a tone to `mount` as an Icecast source (Ogg/Opus).
fn push(addr: std::net::SocketAddr, mount: &str, secs: u32) -> Child {
    let mut c = ffmpeg_cmd("ffmpeg");
    c.args(["-re", "-f", "lavfi", "-i", &format!("sine=f=440:r=48000:d={secs}")]);
    c.args(["-c:a", "libopus", "-b:a", "96k", "-f", "ogg", "-content_type", "audio/ogg"]);
    c.arg(format!("icecast://source:{PASSWORD}@{addr}/{mount}"));
    c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("ffmpeg starts")
}

async fn wait_for_source(url: &str, mount: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = get_json(&format!("{url}/status-json.xsl"), None).await;
        let found = match &v["icestats"]["source"] {
            Value::Array(a) => a.iter().any(|s| s["listenurl"].as_str().is_some_and(|u| u.ends_with(mount))),
            Value::Null => false,
            one => one["listenurl"].as_str().is_some_and(|u| u.ends_with(mount)),
        };
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "no source on {mount} within 30 s: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /admin/metadata` with `song`; returns the status and body.
async fn set_song(url: &str, mount: &str, song: &str, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut req =
        client().get(format!("{url}/admin/metadata?mount=/{mount}&mode=updinfo&song={}", encode(song)));
    if let Some((user, pass)) = auth {
        req = req.basic_auth(user, Some(pass));
    }
    let r = req.send().await.expect("the admin route answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Splits a listener's bytes at `METAINT`: the audio and the metadata texts in order
/// (`None` for an empty block). Stops at an incomplete block.
fn split_icy(stream: &[u8]) -> (Vec<u8>, Vec<Option<String>>) {
    let (mut audio, mut blocks) = (Vec::new(), Vec::new());
    let mut rest = stream;
    while rest.len() > METAINT {
        let n = rest[METAINT] as usize * 16;
        if rest.len() < METAINT + 1 + n {
            break;
        }
        audio.extend_from_slice(&rest[..METAINT]);
        let block = &rest[METAINT + 1..METAINT + 1 + n];
        blocks.push(
            (n > 0).then(|| String::from_utf8(block.to_vec()).unwrap().trim_end_matches('\0').to_string()),
        );
        rest = &rest[METAINT + 1 + n..];
    }
    (audio, blocks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_arrive_in_band_at_the_metaint_offsets() {
    let s = start(&format!(
        "[[stream]]\nid = \"live\"\nsource = \"icecast\"\nsource_password = \"{PASSWORD}\"\nchannels = 1\nrungs = \"64\"\n"
    ))
    .await;
    let url = s.url();
    let mut source = push(s.addr, "live", 40);
    wait_for_source(&url, "live").await;

    // credentials: the source's, as for its PUT
    let (status, _) = set_song(&url, "live", "First Song", Some(("source", "wrong"))).await;
    assert_eq!(status, 401, "a wrong source password is refused");
    let (status, _) = set_song(&url, "live", "First Song", None).await;
    assert_eq!(status, 401, "no credentials are refused");
    let (status, body) = set_song(&url, "live", "First Song", Some(("source", PASSWORD))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<return>1</return>"), "Icecast's XML answer: {body}");
    let (status, body) = set_song(&url, "live", &"x".repeat(4081), Some(("source", PASSWORD))).await;
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(v["error"], "title_too_long", "{v}");

    // the listener asks for metadata: icy-metaint, and blocks at its byte offsets
    let mut resp = client().get(format!("{url}/live.mp3")).header("Icy-MetaData", "1").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["icy-metaint"], "16000");
    let mut bytes = Vec::new();
    let mut changed = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), resp.chunk())
            .await
            .expect("the listener keeps receiving")
            .unwrap()
            .expect("the stream goes on");
        bytes.extend_from_slice(&chunk);
        let (_, blocks) = split_icy(&bytes);
        let titles: Vec<&String> = blocks.iter().flatten().collect();
        if !changed && !titles.is_empty() {
            let (status, _) = set_song(&url, "live", "Second Song", Some(("source", PASSWORD))).await;
            assert_eq!(status, 200);
            changed = true;
        }
        if titles.len() >= 2 && blocks.len() >= 4 {
            break;
        }
    }
    drop(resp);
    let (audio, blocks) = split_icy(&bytes);
    let titles: Vec<&String> = blocks.iter().flatten().collect();
    assert_eq!(titles[0], "StreamTitle='First Song';", "the first block carries the title: {blocks:?}");
    assert_eq!(titles[1], "StreamTitle='Second Song';", "{blocks:?}");
    assert!(blocks.iter().filter(|b| b.is_none()).count() >= 1, "unchanged: empty blocks {blocks:?}");
    // with the blocks taken out at those offsets, what is left is clean MP3: ffmpeg decodes it
    let path = std::env::temp_dir().join(format!("ondes-icy-{}.mp3", std::process::id()));
    std::fs::write(&path, &audio).unwrap();
    let out = ffmpeg_cmd("ffmpeg")
        .args(["-i", path.to_str().unwrap(), "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg runs");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "ffmpeg failed");
    assert!(
        out.stderr.is_empty(),
        "the audio between the blocks decodes cleanly: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.len() > 48_000, "seconds of audio decoded");

    // status JSON shows the title, as Icecast's does
    let (_, v) = get_json(&format!("{url}/status-json.xsl"), None).await;
    let src = match &v["icestats"]["source"] {
        Value::Array(a) => a[0].clone(),
        one => one.clone(),
    };
    assert_eq!(src["title"], "Second Song", "{v}");

    // the control API sets the same title
    let t = token(&s, &[ondes_server::auth::Permission::StreamControl]);
    let body = r#"{"action": "set_title", "params": {"title": "Third Song"}}"#;
    let (st, r) = post_json(&format!("{url}/api/streams/live/control"), Some(&t), body).await;
    assert_eq!(st, 200, "{r}");
    let (_, v) = get_json(&format!("{url}/status-json.xsl"), None).await;
    assert!(v.to_string().contains("Third Song"), "{v}");
    let (st, r) =
        post_json(&format!("{url}/api/streams/live/control"), Some(&t), r#"{"action": "set_title"}"#).await;
    assert_eq!((st.as_u16(), r["error"].as_str()), (400, Some("bad_title")), "{r}");

    // Ogg listeners never get ICY blocks
    let resp = client().get(format!("{url}/live.ogg")).header("Icy-MetaData", "1").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("icy-metaint").is_none());
    assert!(resp.headers().get("icy-name").is_some(), "the other icy headers stay");
    drop(resp);

    source.kill().unwrap();
    let _ = source.wait();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_the_icy_stream_and_reports_the_title() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n").await;
    let url = s.url();
    // a stream without a source password: a controller's token sets the title
    let (status, _) = set_song(&url, "main", "Demo Tone", Some(("source", "anything"))).await;
    assert_eq!(status, 401, "no source password on this stream: Basic credentials do not do");
    let token = token(&s, &[Permission::StreamControl]);
    let r = client()
        .get(format!("{url}/admin/metadata?mount=/main&mode=updinfo&song=Demo%20Tone"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mp3 = format!("{url}/main.mp3");
    // ffmpeg's http protocol asks for metadata (icy=1 is its default) and strips the blocks
    let decode = tokio::task::spawn_blocking({
        let mp3 = mp3.clone();
        move || {
            ffmpeg_cmd("ffmpeg")
                .args(["-icy", "1", "-i", &mp3, "-t", "4", "-f", "s16le", "-ac", "1", "-"])
                .output()
                .expect("ffmpeg runs")
        }
    });
    let out = decode.await.unwrap();
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "ffmpeg decodes without a complaint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.len() >= 3 * 2 * 44_100, "about 4 s of audio: {} bytes", out.stdout.len());

    // ffprobe reports the in-band title among the format's tags
    let probe = tokio::task::spawn_blocking(move || {
        ffmpeg_cmd("ffprobe")
            .args(["-icy", "1", "-show_entries", "format_tags", "-of", "json", &mp3])
            .output()
            .expect("ffprobe runs")
    });
    let out = probe.await.unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        v["format"]["tags"]["StreamTitle"],
        "Demo Tone",
        "ffprobe: {v} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.shutdown().await;
}
