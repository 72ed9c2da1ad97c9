//! WebRTC from the command line, as a user runs it: a real `ondes serve` with WebRTC on
//! loopback (`webrtc.ips = ["127.0.0.1"]`, an ephemeral UDP port), the real binary as the
//! WHEP listener (`ondes listen --transport whep`) and as the WHIP publisher
//! (`ondes send --to …/whip`), and the server's refusals shown as clear CLI errors.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, Server, tmp};
use serde_json::Value;

const SECRET: &str = "whep-cli-secret";

/// `ondes serve` with a 440 Hz stream `tone` and a publish stream `voice` (48 kHz mono), and
/// WebRTC on loopback; `extra` is appended to the config.
fn serve(name: &str, extra: &str) -> Server {
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[webrtc]\nudp_port = 0\nips = [\"127.0.0.1\"]\n\
             [[stream]]\nid = \"tone\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 48000\nchannels = 1\n\
             [[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n{extra}"
        ),
    )
    .unwrap();
    common::serve(
        &["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()],
        &[("ONDES_AUTH_SECRET", SECRET)],
        Stdio::null(),
    )
}

fn token(perm: &str) -> String {
    let out = Command::new(BIN).args(["token", "--secret", SECRET, "--perm", perm]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("ondes runs")
}

fn json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ondes failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON object on stdout ({e}): {stderr}"))
}

/// 16-bit PCM WAV → the first channel's samples (a 44-byte canonical header).
fn wav_left(path: &std::path::Path, channels: usize) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("WAV written");
    assert_eq!(&bytes[..4], b"RIFF");
    bytes[44..]
        .chunks_exact(2 * channels)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect()
}

/// Power of `freq` in `x` (Goertzel), per sample.
fn power(x: &[f32], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
}

/// The loudest second of `x` holds a 440 Hz tone: far more power there than an octave off.
fn assert_440(x: &[f32], rate: usize) {
    let best = x.chunks(rate).max_by(|a, b| power(a, 440.0, 48_000.0).total_cmp(&power(b, 440.0, 48_000.0)));
    let second = best.expect("some audio");
    let (on, off) =
        (power(second, 440.0, 48_000.0), power(second, 880.0, 48_000.0).max(power(second, 220.0, 48_000.0)));
    assert!(on > 0.01 && on > 100.0 * off, "440 Hz power {on}, an octave off {off}");
}

#[test]
fn listen_over_whep_plays_the_tone_with_its_capture_latency() {
    let s = serve("listen", "");
    let wav = tmp("whep.wav");
    // the SSE URL of the stream: --transport whep takes its WHEP route
    let out = run(&[
        "listen",
        &format!("{}/api/streams/tone/stream", s.url),
        "--transport",
        "whep",
        "--duration",
        "3s",
        "--min-jitter",
        "250ms",
        "--json",
        "--out",
        wav.to_str().unwrap(),
    ]);
    let v = json(&out);
    assert_eq!(v["transport"], "whep", "{v:#}");
    assert_eq!(v["codec"], "opus", "{v:#}");
    assert!(v["url"].as_str().unwrap().ends_with("/api/streams/tone/whep"), "{v:#}");
    assert_eq!(v["end_reason"], "duration", "{v:#}");
    assert!(v["frames_received"].as_u64().unwrap() >= 100, "{v:#}");
    assert_eq!(v["frames_lost"], 0, "{v:#}");
    // the latency is measured from the capture time the server sends (abs-capture-time):
    // above zero, which a stamp taken at arrival would not be
    let p50 = v["latency_ms"]["p50"].as_f64().expect("p50");
    assert!(0.5 < p50 && p50 < 1000.0, "{v:#}");
    assert_440(&wav_left(&wav, 2), 48_000);
}

#[test]
fn probe_over_whep_reports_loss_and_latency() {
    let s = serve("probe", "");
    let out = run(&["probe", &format!("{}/api/streams/tone/whep", s.url), "--duration", "2s", "--json"]);
    let v = json(&out);
    assert_eq!(v["transport"], "whep", "{v:#}");
    assert!(v["frames_received"].as_u64().unwrap() >= 80, "{v:#}");
    assert_eq!(v["gaps"], 0, "{v:#}");
    let p50 = v["latency_ms"]["p50"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 < 500.0, "{v:#}");
}

#[test]
fn bench_fanout_over_whep_counts_every_frame_light_and_full() {
    let s = serve("fanout", "");
    let url = format!("{}/api/streams/tone/whep", s.url);
    for full in [false, true] {
        let mut args = vec![
            "bench",
            "fanout",
            "--url",
            &url,
            "--transport",
            "whep",
            "--listeners",
            "4",
            "--duration",
            "2s",
        ];
        args.extend(["--warmup", "500ms", "--json"]);
        if full {
            args.push("--whep-full");
        }
        let v = json(&run(&args));
        assert_eq!(v["listeners_connected"], 4, "{v:#}");
        assert_eq!(v["disconnects"], 0, "{v:#}");
        assert!(v["frames_received"].as_u64().unwrap() > 0, "{v:#}");
        assert_eq!(v["gaps"], 0, "{v:#}");
        assert_eq!(v["out_of_order"], 0, "{v:#}");
        assert_eq!(v["unparsed_events"], 0, "{v:#}");
        assert!(v["bytes_received"].as_u64().unwrap() > 0, "{v:#}");
        // the latency comes from the abs-capture-time extension, read from the header in
        // the light mode
        let p50 = v["latency_ms"]["p50"].as_f64().expect("p50");
        assert!(0.0 < p50 && p50 < 1000.0, "{v:#}");
        let w = &v["whep_light"];
        if full {
            assert!(w.is_null(), "{v:#}");
        } else {
            // the first packet of each session and one in 50 after it are decrypted, and
            // they matched their headers; the others were counted by header
            assert!(w["by_header"].as_u64().unwrap() > 0, "{v:#}");
            assert!(w["decrypted"].as_u64().unwrap() >= 4, "{v:#}");
            assert_eq!(w["undecrypted"], 0, "{v:#}");
            assert_eq!(w["mismatched"], 0, "{v:#}");
        }
    }
}

#[test]
fn send_over_whip_is_heard_by_a_websocket_listener() {
    let s = serve("whip", "");
    let wav = tmp("whip.wav");
    // the listener first: silence until the publisher comes, then its tone
    let listener = Command::new(BIN)
        .args([
            "listen",
            &format!("{}/api/streams/voice/ws?rung=pcm16", s.ws()),
            "--duration",
            "6s",
            "--min-jitter",
            "200ms",
            "--json",
            "--out",
            wav.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let out = run(&[
        "send",
        "tone:sine?freq=440&amp=0.5",
        "--to",
        &format!("{}/api/streams/voice/whip", s.url),
        "--token",
        &token("publish"),
        "--duration",
        "3s",
        "--json",
    ]);
    let r = json(&out);
    assert_eq!(r["codec"], "opus", "{r}");
    assert_eq!(r["frames_sent"], 150, "{r}");
    assert_eq!(r["completed"], true, "{r}");
    assert_eq!(r["frames_acked"], 150, "the server's receiver reports count no loss: {r}");
    let heard = json(&listener.wait_with_output().unwrap());
    assert_eq!(heard["transport"], "ws", "{heard:#}");
    assert_440(&wav_left(&wav, 1), 48_000);
}

#[test]
fn refusals_are_clear_errors() {
    let s = serve("refusals", "[auth]\nrequired_for_stream = true\n");
    // no such stream
    let out = run(&["listen", &format!("{}/api/streams/nope/whep", s.url), "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("404") && !stderr.contains("panicked"), "{stderr}");
    // listening needs a token here; a wrong one is refused with the server's words
    let out = run(&[
        "listen",
        &format!("{}/api/streams/tone/whep", s.url),
        "--token",
        "not-a-jwt",
        "--duration",
        "1s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    // publishing without a token
    let out =
        run(&["send", "tone:sine", "--to", &format!("{}/api/streams/voice/whip", s.url), "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("HTTP 401") && !stderr.contains("panicked"), "{stderr}");
    // a URL that is no WHEP route
    let out = run(&["listen", &format!("{}/elsewhere", s.url), "--transport", "whep", "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/whep") && !stderr.contains("panicked"), "{stderr}");
}

/// A free UDP port on loopback (bound and released: the server takes it a moment later).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process killed when dropped, however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_rung_auto_listener_behind_a_narrow_link_is_switched_down_by_the_bandwidth_estimate() {
    // the server's WebRTC port is known, so that the proxy can stand in front of it
    let rtc_port = free_udp_port();
    let config = tmp("bwe.toml");
    std::fs::write(
        &config,
        format!(
            "[webrtc]\nudp_port = {rtc_port}\nips = [\"127.0.0.1\"]\n\
             [[stream]]\nid = \"tone\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 48000\nchannels = 1\n"
        ),
    )
    .unwrap();
    let s =
        common::serve(&["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()], &[], Stdio::null());
    // A link in front of the WebRTC port: wide for the first 3 s (ICE, DTLS and the data
    // channel's SCTP association come through), then 48 kbit/s each way, where the stream's
    // top rung, 64 kbit/s of Opus (about 90 kbit/s with RTP, SRTP, UDP and IP), does not fit.
    // (A link that is saturated from the first packet can keep SCTP from associating for
    // many seconds: the audio still adapts, but the `rung` notices have no channel.)
    let script = tmp("narrowing.txt");
    std::fs::write(&script, "3s custom bw=10mbps delay=5ms\n1s custom bw=48kbps delay=20ms\n").unwrap();
    let proxy_port = free_udp_port();
    let mut proxy = Child(
        Command::new(BIN)
            .args(["netsim", "--udp", "--listen", &format!("127.0.0.1:{proxy_port}")])
            .args(["--upstream", &format!("127.0.0.1:{rtc_port}"), "--script", script.to_str().unwrap()])
            .args(["--report-secs", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ondes netsim starts"),
    );
    // it prints its first line once it listens; the rest is read (and dropped) so that
    // its writes never meet a closed pipe
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(proxy.0.stderr.take().unwrap()));
    let first = lines.next().expect("a line from ondes netsim").unwrap();
    assert!(first.contains("netsim"), "{first}");
    std::thread::spawn(move || lines.for_each(drop));
    let out = run(&[
        "listen",
        &format!("{}/api/streams/tone/whep?rung=auto", s.url),
        "--via",
        &format!("127.0.0.1:{proxy_port}"),
        "--duration",
        "10s",
        "--json",
    ]);
    let v = json(&out);
    let notices: Vec<&str> =
        v["server_notices"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    // down, for the estimate, to a rung below the top (64 kbit/s)
    let down = notices
        .iter()
        .find(|n| n.contains("bandwidth_estimate"))
        .unwrap_or_else(|| panic!("no switch for the bandwidth estimate: {v:#}"));
    assert!(down.contains("→ 16") || down.contains("→ 32"), "{v:#}");
    assert!(v["frames_received"].as_u64().unwrap() > 200, "{v:#}");
}

/// A free TCP port on loopback.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_whip_publisher_reconnects_when_the_server_restarts() {
    let (http, rtc) = (free_tcp_port(), free_udp_port());
    let start = || {
        let config = tmp("whip-restart.toml");
        std::fs::write(
            &config,
            format!(
                "[webrtc]\nudp_port = {rtc}\nips = [\"127.0.0.1\"]\n\
                 [[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n"
            ),
        )
        .unwrap();
        common::serve(
            &["--bind", &format!("127.0.0.1:{http}"), "--config", config.to_str().unwrap()],
            &[("ONDES_AUTH_SECRET", SECRET)],
            Stdio::null(),
        )
    };
    let first = start();
    let sender = Command::new(BIN)
        .args(["send", "tone:sine?freq=440&amp=0.5", "--to"])
        .arg(format!("{}/api/streams/voice/whip", first.url))
        .args(["--token", &token("publish"), "--duration", "20s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    drop(first); // killed: no goodbye
    std::thread::sleep(Duration::from_millis(500));
    let second = start();
    // the publisher finds the new server: its stream has a publisher again
    let stats = format!("{}/api/streams/voice/stats", second.url);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let v = common::http::get_json(&stats);
        if v["source_lost"] == false {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the publisher did not come back: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = sender.wait_with_output().unwrap();
    let r = json(&out);
    assert!(r["reconnects"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["failure"].is_null(), "{r}");
    // every frame of the 20 s is accounted for: sent (and confirmed by the second server's
    // receiver reports, or sent into the dead one's silence and left unconfirmed), or made
    // while reconnecting and dropped
    let (sent, acked) = (r["frames_sent"].as_u64().unwrap(), r["frames_acked"].as_u64().unwrap());
    assert!(sent + r["frames_lost_reconnecting"].as_u64().unwrap() >= 990, "{r}");
    assert!(acked > 0 && acked < sent, "the dead server confirmed nothing after the kill: {r}");
    assert_eq!(r["frames_unconfirmed"].as_u64().unwrap(), sent - acked, "{r}");
    drop(second);
}

/// `ondes listen` over WHEP for `secs`, through `ondes netsim --udp` in front of a server
/// whose `[webrtc]` section ends with `red`: 3 s lossless (ICE, DTLS and the data channel get
/// through), then 20 % independent loss each way.
/// `ondes netsim --udp` in front of the server's WebRTC port: 3 s clean, then 20 % loss each
/// way (10 Mbit/s, 5 ms, seed 7); the proxy (stopped when dropped) and its port.
fn udp_netsim_at_20_percent_loss(name: &str, rtc_port: u16) -> (Child, u16) {
    let script = tmp(&format!("{name}-loss.txt"));
    std::fs::write(&script, "3s custom bw=10mbps delay=5ms\n1s custom bw=10mbps delay=5ms loss=20%\n")
        .unwrap();
    let proxy_port = free_udp_port();
    let mut proxy = Child(
        Command::new(BIN)
            .args(["netsim", "--udp", "--listen", &format!("127.0.0.1:{proxy_port}")])
            .args(["--upstream", &format!("127.0.0.1:{rtc_port}"), "--script", script.to_str().unwrap()])
            .args(["--seed", "7", "--report-secs", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ondes netsim starts"),
    );
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(proxy.0.stderr.take().unwrap()));
    let first = lines.next().expect("a line from ondes netsim").unwrap();
    assert!(first.contains("netsim"), "{first}");
    std::thread::spawn(move || lines.for_each(drop));
    (proxy, proxy_port)
}

fn listen_at_20_percent_loss(name: &str, red: &str, secs: u32) -> Value {
    let rtc_port = free_udp_port();
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[webrtc]\nudp_port = {rtc_port}\nips = [\"127.0.0.1\"]\n{red}\n\
             [[stream]]\nid = \"tone\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 48000\nchannels = 1\n"
        ),
    )
    .unwrap();
    let s =
        common::serve(&["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()], &[], Stdio::null());
    let (_proxy, proxy_port) = udp_netsim_at_20_percent_loss(name, rtc_port);
    let out = run(&[
        "listen",
        &format!("{}/api/streams/tone/whep?rung=64", s.url),
        "--via",
        &format!("127.0.0.1:{proxy_port}"),
        "--duration",
        &format!("{secs}s"),
        "--json",
    ]);
    json(&out)
}

#[test]
fn red_with_two_levels_rebuilds_most_of_what_20_percent_loss_takes() {
    // both listens at once, each with its own server and lossy link
    let (with, without) = std::thread::scope(|t| {
        let with = t.spawn(|| listen_at_20_percent_loss("red2", "red_distances = [1, 2]", 12));
        let without = t.spawn(|| listen_at_20_percent_loss("nored", "red = false", 12));
        (with.join().unwrap(), without.join().unwrap())
    });
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v:#}"));
    // without RED a lost packet is gone: about a fifth of the ~9 lossy seconds' 450 frames
    assert_eq!(n(&without, "red_recovered"), 0, "{without:#}");
    assert!(n(&without, "frames_lost") >= 40, "the link lost too little to compare: {without:#}");
    // with RED, most come back from the next two packets' redundancy
    assert!(n(&with, "frames_received") >= 500, "{with:#}");
    assert!(n(&with, "red_recovered") >= 40, "frames rebuilt from RED: {with:#}");
    assert!(
        n(&with, "frames_lost") * 3 < n(&without, "frames_lost"),
        "lost at play time with RED {} against {} without:\n{with:#}\n{without:#}",
        n(&with, "frames_lost"),
        n(&without, "frames_lost")
    );
    // and far less of the audio is concealed (lost frames, and the underruns and stretches
    // the buffer plays while it waits for frames that will not come)
    let concealed = |v: &Value| v["concealed_ms"].as_f64().expect("concealed_ms");
    assert!(
        concealed(&with) * 3.0 < concealed(&without),
        "concealed with RED {} ms against {} ms without",
        concealed(&with),
        concealed(&without)
    );
    // a rebuilt frame is dated from the frames around it: no latency reads as zero
    assert!(with["latency_ms"]["p50"].as_f64().expect("p50") > 0.5, "{with:#}");
}

/// `ondes send` over WHIP for 12 s through `ondes netsim --udp` in front of a server (3 s
/// lossless for ICE and DTLS, then 20 % independent loss each way), with `send_args` added;
/// returns the sender's report and the server's `/stats` of the stream after it.
fn send_at_20_percent_loss(name: &str, send_args: &[&str]) -> (Value, Value) {
    let rtc_port = free_udp_port();
    let config = tmp(&format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[webrtc]\nudp_port = {rtc_port}\nips = [\"127.0.0.1\"]\n\
             [[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n"
        ),
    )
    .unwrap();
    let s = common::serve(
        &["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()],
        &[("ONDES_AUTH_SECRET", SECRET)],
        Stdio::null(),
    );
    let (_proxy, proxy_port) = udp_netsim_at_20_percent_loss(name, rtc_port);
    let (publish, to, via) =
        (token("publish"), format!("{}/api/streams/voice/whip", s.url), format!("127.0.0.1:{proxy_port}"));
    let mut args = vec!["send", "tone:sine?freq=440&amp=0.5", "--to", &to, "--token", &publish];
    args.extend(["--via", &via, "--duration", "12s", "--json"]);
    args.extend_from_slice(send_args);
    let report = json(&run(&args));
    let stats = common::http::get_json(&format!("{}/api/streams/voice/stats", s.url));
    (report, stats)
}

#[test]
fn send_over_whip_sends_red_and_the_server_rebuilds_what_20_percent_loss_takes() {
    // both sends at once, each with its own server and lossy link
    let ((with, with_stats), (without, without_stats)) = std::thread::scope(|t| {
        let with = t.spawn(|| send_at_20_percent_loss("whip-red", &[]));
        let without = t.spawn(|| send_at_20_percent_loss("whip-nored", &["--no-red"]));
        (with.join().unwrap(), without.join().unwrap())
    });
    assert_eq!(with["red_levels"], serde_json::json!([1, 2]), "the server accepted RED: {with:#}");
    assert!(without.get("red_levels").is_none(), "{without:#}");
    assert_eq!(with["frames_sent"], 600, "{with:#}");
    let p =
        |v: &Value, k: &str| v["publisher"][k].as_u64().unwrap_or_else(|| panic!("publisher.{k} in {v:#}"));
    // lost at the server: concealed, or the last packet-length of a gap from in-band FEC
    let lost = |v: &Value| p(v, "concealed_frames") + p(v, "fec_recovered");
    // without RED a lost packet is gone: about a fifth of the ~9 lossy seconds' 450 packets
    assert_eq!(p(&without_stats, "red_recovered"), 0, "{without_stats:#}");
    assert!(lost(&without_stats) >= 40, "the link lost too little to compare: {without_stats:#}");
    // with RED most come back from the next two packets' redundancy
    assert!(p(&with_stats, "red_recovered") >= 40, "packets rebuilt from RED: {with_stats:#}");
    assert!(
        lost(&with_stats) * 3 < lost(&without_stats),
        "lost at the server with RED {} against {} without:\n{with_stats:#}\n{without_stats:#}",
        lost(&with_stats),
        lost(&without_stats)
    );
}
