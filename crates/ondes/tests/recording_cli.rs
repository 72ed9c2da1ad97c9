//! Recording with a real `ondes serve`: files rotated at wall-clock multiples of
//! `segment_secs`, listed by `/api/streams/{id}/recordings`, decoded by ffmpeg (also the
//! file a `kill -9` cut short), and a full disk (a small tmpfs, so these tests run as root,
//! as scripts/test.sh does) counted and retried while listeners keep their audio.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{SseReader, get, get_json};
use common::{serve, tmp};
use serde_json::Value;

const FREQ: f64 = 440.0;

fn config(dir: &Path, streams: &[(&str, &str, u64)]) -> PathBuf {
    // no WebRTC port: tests run side by side
    let mut toml = String::from("[webrtc]\nudp_port = 0\n");
    for (id, format, secs) in streams {
        toml.push_str(&format!(
            "[[stream]]\nid = \"{id}\"\nsource = \"tone:sine?freq={FREQ}&amp=0.5\"\nchannels = 1\nrungs = \"64\"\n\
             record = {{ format = \"{format}\", path = \"{}\", segment_secs = {secs} }}\n",
            dir.display()
        ));
    }
    let path = dir.with_extension("toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// ffmpeg's decoding of `file` as 48 kHz mono f32, failing on any error ffmpeg reports.
fn ffmpeg_decode(file: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "f32le", "-ac", "1", "-ar", "48000", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg runs (scripts/test.sh installs it)");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "ffmpeg on {}: {errors}", file.display());
    out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The correlation of `x` with the best-fitting sine at [`FREQ`] (1.0: a pure tone).
fn sine_correlation(x: &[f32]) -> f64 {
    // leave out the decoder's start-up
    let x = &x[x.len().min(4800)..];
    let w = 2.0 * std::f64::consts::PI * FREQ / 48_000.0;
    let (mut s, mut c, mut e) = (0.0, 0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let v = f64::from(*v);
        s += v * (w * i as f64).sin();
        c += v * (w * i as f64).cos();
        e += v * v;
    }
    let n = x.len() as f64;
    let fitted = 2.0 * (s * s + c * c) / n;
    (fitted / e.max(1e-12)).sqrt()
}

/// Seconds since the epoch of a file name `{id}-YYYYmmddTHHMMSSZ.ext`.
fn name_secs(name: &str) -> u64 {
    let t = name.rsplit_once('-').unwrap().1.split('.').next().unwrap();
    let n = |r: std::ops::Range<usize>| t[r].parse::<u64>().unwrap();
    // within one day is enough for these tests
    n(9..11) * 3600 + n(11..13) * 60 + n(13..15)
}

fn files(url: &str, id: &str) -> Vec<Value> {
    get_json(&format!("{url}/api/streams/{id}/recordings"))["files"].as_array().unwrap().clone()
}

#[test]
fn recordings_rotate_on_the_clock_are_listed_and_survive_kill_9() {
    let dir = tmp("rec-rotate");
    let cfg = config(&dir, &[("ogg", "ogg-opus", 2), ("mp4", "fmp4", 2), ("fl", "flac", 2)]);
    let mut server = serve(&["--bind", "127.0.0.1:0", "--config", cfg.to_str().unwrap()], &[], Stdio::null());
    // until each stream has two whole files and is into a third
    let deadline = Instant::now() + Duration::from_secs(15);
    while ["ogg", "mp4", "fl"].iter().any(|id| files(&server.url, id).len() < 3) {
        assert!(Instant::now() < deadline, "no third file: {:?}", files(&server.url, "ogg"));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(700));
    let listed = get_json(&format!("{}/api/streams/ogg/recordings", server.url));
    assert_eq!(listed["recorder"]["write_errors"], 0, "{listed}");
    assert_eq!(listed["recorder"]["frames_dropped"], 0, "{listed}");
    let (st, none) = {
        let body = get(&format!("{}/api/streams/nope/recordings", server.url));
        (body.contains("not_found"), body)
    };
    assert!(st, "{none}");
    // kill -9 in the middle of a file
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    for (id, ext) in [("ogg", "opus"), ("mp4", "mp4"), ("fl", "flac")] {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{id}-")) && n.ends_with(ext))
            .collect();
        names.sort();
        assert!(names.len() >= 3, "{id}: {names:?}");
        // files start at multiples of 2 s, one slot after another
        let starts: Vec<u64> = names.iter().map(|n| name_secs(n)).collect();
        assert!(starts[1..].iter().all(|s| s % 2 == 0), "{id}: {names:?}");
        assert!(starts[1..].windows(2).all(|w| w[1] == w[0] + 2), "{id}: {names:?}");
        assert!(starts[1] - starts[0] <= 2, "{id}: {names:?}");
        // a whole file holds its 2 s of the tone
        let whole = ffmpeg_decode(&dir.join(&names[1]));
        let secs = whole.len() as f64 / 48_000.0;
        assert!((1.75..=2.25).contains(&secs), "{id}: {} holds {secs} s", names[1]);
        let r = sine_correlation(&whole);
        assert!(r >= 0.9, "{id}: correlation {r}");
        // the file cut by kill -9 decodes without an error, up to its last whole unit
        let last = names.last().unwrap();
        let cut = ffmpeg_decode(&dir.join(last));
        let secs = cut.len() as f64 / 48_000.0;
        assert!(secs >= 0.3, "{id}: {last} holds only {secs} s");
        assert!(sine_correlation(&cut) >= 0.9, "{id}: {last}");
    }
}

/// A tmpfs of `kb` KB at `dir` (unmounted when dropped).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, kb: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs to fill (the full-disk test runs as root, as scripts/test.sh does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_counted_and_retried_and_listeners_keep_their_audio() {
    let dir = tmp("rec-full");
    let disk = Tmpfs::mount(&dir, 256);
    // fill it
    let filler = dir.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
    let cfg = config(&dir, &[("full", "ogg-opus", 3600)]);
    let server = serve(&["--bind", "127.0.0.1:0", "--config", cfg.to_str().unwrap()], &[], Stdio::null());
    let mut sse = SseReader::open(&format!("{}/api/streams/full/stream", server.url));
    let stats = || get_json(&format!("{}/api/streams/full/recordings", server.url))["recorder"].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats()["frames_dropped"].as_u64().unwrap_or(0) < 50 {
        assert!(Instant::now() < deadline, "no frames counted as dropped: {}", stats());
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = stats();
    assert!(s["write_errors"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["last_error"].as_str().unwrap().contains("No space left"), "{s}");
    let metrics = get(&format!("{}/metrics", server.url));
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("ondes_frames_dropped_total") && l.contains("stage=\"recording\""))
        .unwrap_or_else(|| panic!("no recording drops in /metrics"));
    assert!(!dropped.ends_with(" 0"), "{dropped}");
    // the listener heard every frame meanwhile: 1 s of audio events in about 1 s
    let start = Instant::now();
    let mut audio = 0;
    while audio < 50 {
        let e = sse.next(2.0).expect("the listener keeps getting events");
        if e.event.as_deref() == Some("audio-frame") {
            audio += 1;
        }
    }
    assert!(start.elapsed() < Duration::from_secs(3), "50 frames took {:?}", start.elapsed());

    // space again: the recorder writes again after its back-off
    std::fs::remove_file(&filler).unwrap();
    let written = s["bytes_written"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let now = stats();
        if now["bytes_written"].as_u64().unwrap() > written + 4000 && now["current_file"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "the recorder did not recover: {now}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    let names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "opus"))
        .collect();
    let recovered = names.iter().max().expect("a recording file");
    assert!(sine_correlation(&ffmpeg_decode(recovered)) >= 0.9);
    drop(disk);
}
