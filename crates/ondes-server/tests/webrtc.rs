//! WHEP and WHIP with real peers over loopback: aiortc (an independent WebRTC stack, run
//! from Python) listens and publishes; error cases over real HTTP.
//!
//! The Python interpreter with aiortc is `$ONDES_PYTHON` (scripts/test.sh makes a virtual
//! environment from scripts/webrtc/requirements.txt), else `python3`; a missing aiortc fails
//! the test with what to install.

mod common;

use std::time::Duration;

use common::{client, start, token};
use ondes_server::auth::Permission;
use serde_json::Value;

/// Loopback candidates only, on an ephemeral UDP port.
const RTC: &str = "[webrtc]\nudp_port = 0\nips = [\"127.0.0.1\"]\n";

fn python() -> String {
    std::env::var("ONDES_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs the aiortc peer with `args`; returns its JSON line.
async fn aiortc(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/webrtc/aiortc_peer.py");
    let out =
        tokio::process::Command::new(python()).arg(script).args(args).output().await.unwrap_or_else(|e| {
            panic!("cannot run {} ({e}): set ONDES_PYTHON or run scripts/test.sh", python())
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named"),
        "aiortc is missing: pip install -r scripts/webrtc/requirements.txt (or run scripts/test.sh)\n{stderr}"
    );
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| panic!("aiortc peer failed: {stdout}\n{stderr}"))
}

async fn post_offer(url: &str, content_type: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client().post(url).header("content-type", content_type).body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_listens_over_whep_and_hears_the_tone() {
    let server = start(&format!(
        "{RTC}[[stream]]\nid = \"tone\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 48000\nchannels = 1\n"
    ))
    .await;
    let url = format!("http://{}/api/streams/tone/whep", server.addr);
    let r = aiortc(&["whep", &url, "--seconds", "3", "--freq", "440", "--datachannel"]).await;
    assert!(r["samples"].as_u64().is_some_and(|n| n >= 48_000 * 2), "received audio: {r}");
    let corr = r["correlation"].as_f64().unwrap();
    assert!(corr >= 0.9, "the received audio is the 440 Hz tone (correlation {corr}): {r}");
    assert_eq!(r["delete_status"], 200, "DELETE ends the session: {r}");
    // the session is gone: a second DELETE is 404, and the connection left /stats
    let loc = format!(
        "http://{}{}",
        server.addr,
        r["location"].as_str().unwrap().split_once("/api/").map(|(_, p)| format!("/api/{p}")).unwrap()
    );
    let resp = client().delete(&loc).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unknown_session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_that_cannot_be_answered_get_clear_errors() {
    let server = start(&format!("{RTC}[auth]\nsecret = \"s\"\n")).await;
    let base = format!("http://{}/api/streams", server.addr);
    let audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let (s, b) = post_offer(&format!("{base}/main/whep"), "application/sdp", audio, None).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("no_opus")), "{b}");
    let video = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
    let (s, b) = post_offer(&format!("{base}/main/whep"), "application/sdp", video, None).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("no_audio")), "{b}");
    let (s, b) = post_offer(&format!("{base}/main/whep"), "application/sdp", "hello", None).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("bad_sdp")), "{b}");
    let (s, b) = post_offer(&format!("{base}/main/whep"), "application/json", "{}", None).await;
    assert_eq!((s, b["error"].as_str()), (415, Some("not_sdp")), "{b}");
    let (s, b) = post_offer(&format!("{base}/nope/whep"), "application/sdp", audio, None).await;
    assert_eq!(s, 404, "{b}");
    let r = client().delete(format!("{base}/main/whep/0123")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .patch(format!("{base}/main/whep/0123"))
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body("a=candidate:1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "DELETE", "a 405 names the methods the session takes");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "trickle_not_supported", "{b}");
    let r = client().request(reqwest::Method::OPTIONS, format!("{base}/main/whep")).send().await.unwrap();
    assert_eq!(r.headers()["accept-post"], "application/sdp");
    // WHIP needs a publish token
    let (s, _) = post_offer(&format!("{base}/main/whip"), "application/sdp", audio, None).await;
    assert_eq!(s, 401);
    let listen_only = token(&server, &[Permission::Subscribe]);
    let (s, _) = post_offer(&format!("{base}/main/whip"), "application/sdp", audio, Some(&listen_only)).await;
    assert_eq!(s, 403);
    // the server still serves: the stats answer
    let (s, _) = common::get_json(&format!("{base}/main/stats"), None).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Correlation of `x` with the best-fitting sine of `freq` Hz at `rate` (least squares on
/// sin, cos and a constant).
fn sine_correlation(x: &[f32], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut ss, mut sc, mut cc, mut xs, mut xc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mean = x.iter().map(|v| *v as f64).sum::<f64>() / x.len() as f64;
    for (i, v) in x.iter().enumerate() {
        let (s, c, v) = ((w * i as f64).sin(), (w * i as f64).cos(), *v as f64 - mean);
        ss += s * s;
        sc += s * c;
        cc += c * c;
        xs += v * s;
        xc += v * c;
    }
    let det = ss * cc - sc * sc;
    let (a, b) = ((xs * cc - xc * sc) / det, (xc * ss - xs * sc) / det);
    let fit: Vec<f64> = (0..x.len()).map(|i| a * (w * i as f64).sin() + b * (w * i as f64).cos()).collect();
    let xv: Vec<f64> = x.iter().map(|v| *v as f64 - mean).collect();
    let dot: f64 = xv.iter().zip(&fit).map(|(p, q)| p * q).sum();
    let nx: f64 = xv.iter().map(|p| p * p).sum::<f64>().sqrt();
    let nf: f64 = fit.iter().map(|q| q * q).sum::<f64>().sqrt();
    if nx == 0.0 || nf == 0.0 { 0.0 } else { dot / (nx * nf) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiortc_publishes_over_whip_into_the_stream_and_a_second_publisher_gets_409() {
    let server = start(&format!(
        "{RTC}[auth]\nsecret = \"s\"\n[[stream]]\nid = \"live\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n"
    ))
    .await;
    let publish = token(&server, &[Permission::Publish]);
    let url = format!("http://{}/api/streams/live/whip", server.addr);
    let peer = {
        let (url, publish) = (url.clone(), publish.clone());
        tokio::spawn(async move {
            aiortc(&["whip", &url, "--seconds", "4", "--freq", "440", "--token", &publish]).await
        })
    };
    // wait until the publisher is connected and its audio plays (source-lost cleared)
    let mut sse = common::Sse::open(&format!("http://{}/api/streams/live/stream", server.addr), &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut heard = Vec::new();
    while heard.len() < 48_000 && tokio::time::Instant::now() < deadline {
        let f = sse.next_audio().await;
        let s = common::samples(&f, "channel_a");
        let rms = (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt();
        if rms > 0.1 || !heard.is_empty() {
            heard.extend(s);
        }
    }
    assert!(
        heard.len() >= 48_000,
        "one second of the publisher's audio reached the stream ({} samples)",
        heard.len()
    );
    // a second publisher while the first holds the stream
    let audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n";
    let (s, b) = post_offer(&url, "application/sdp", audio, Some(&publish)).await;
    assert_eq!(s, 409, "{b}");
    let corr = sine_correlation(&heard[4_800..48_000], 440.0, 48_000.0);
    assert!(corr >= 0.9, "the stream carries the publisher's 440 Hz tone (correlation {corr})");
    let r = peer.await.unwrap();
    assert_eq!(r["delete_status"], 200, "{r}");
    let (_, stats) = common::get_json(&format!("http://{}/api/streams/live/stats", server.addr), None).await;
    assert!(stats.to_string().contains("publisher"), "{stats}");
}

/// Opus passthrough for WHIP: aiortc publishes (stereo Opus, 20 ms packets: the layout of
/// the stream) and the rung nearest its bitrate carries its packets byte for byte, no decode
/// and re-encode; `/stats` counts them as passed through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_publishers_packets_pass_through_to_the_matching_rung_unchanged() {
    use base64::Engine as _;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let server = start(&format!(
        "{RTC}[auth]\nsecret = \"s\"\n[[stream]]\nid = \"live\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 2\nrungs = \"32,64,96,128,192\"\n"
    ))
    .await;
    let publish = token(&server, &[Permission::Publish]);
    let url = format!("http://{}/api/streams/live/whip", server.addr);
    let peer = tokio::spawn(async move {
        aiortc(&["whip", &url, "--seconds", "8", "--freq", "440", "--token", &publish, "--record"]).await
    });
    // the rung nearest the publisher's bitrate becomes the passthrough rung; the bitrate is a
    // moving average of about a second, which starts at the first packet's: read the rung
    // once it has settled
    let stats_url = format!("http://{}/api/streams/live/stats", server.addr);
    let passthrough = |stats: &Value| {
        stats["ladder"]["rungs"].as_array().and_then(|r| {
            r.iter().position(|x| x["passthrough"] == true).map(|i| (i, r[i]["kbps"].as_u64().unwrap()))
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stats) = common::get_json(&stats_url, None).await;
        if passthrough(&stats).is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no passthrough rung: {stats}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, stats) = common::get_json(&stats_url, None).await;
    let (rung, kbps) = passthrough(&stats).unwrap_or_else(|| panic!("no passthrough rung: {stats}"));
    // a WebSocket listener of that rung, for 100 frames (2 s)
    let ws_url = format!("ws://{}/api/streams/live/ws?rung={kbps}&batch=1", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("listener connects");
    let mut received: Vec<Vec<u8>> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.len() < 100 && tokio::time::Instant::now() < deadline {
        let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(1), ws.next()).await else { continue };
        if let Message::Binary(b) = m {
            let m = ondes_core::proto::audio::decode_audio(&b, None).unwrap();
            received.extend(m.frames.iter().filter(|f| !f.is_empty()).map(|f| f.to_vec()));
        }
    }
    let (_, during) = common::get_json(&stats_url, None).await;
    let r = peer.await.unwrap();
    let sent: Vec<Vec<u8>> = r["packets"]
        .as_array()
        .unwrap_or_else(|| panic!("the peer recorded its packets: {r}"))
        .iter()
        .map(|p| base64::engine::general_purpose::STANDARD.decode(p.as_str().unwrap()).unwrap())
        .collect();
    assert!(sent.len() >= 350, "aiortc sent 8 s of 20 ms packets: {}", sent.len());
    assert!(received.len() >= 100, "the listener received 2 s of the rung: {}", received.len());
    // every packet the listener got is one aiortc sent, in the order sent (a frame the
    // playout missed would be absent: the rung's listeners conceal it)
    let mut next = 0;
    for (i, p) in received.iter().enumerate() {
        let k = sent[next..].iter().position(|s| s == p).unwrap_or_else(|| {
            panic!(
                "packet {i} of the {kbps} kbit/s rung is not the publisher's next one (re-encoded?): {stats}"
            )
        });
        next += k + 1;
    }
    let r = &during["ladder"]["rungs"][rung];
    assert_eq!(r["passthrough"], true, "{during}");
    assert!(r["frames_passed_through"].as_u64().unwrap() >= 100, "passed through, not encoded: {during}");
    assert_eq!(during["publisher"]["concealed_frames"], 0, "{during}");
}

/// 20% of a WHIP publisher's RTP packets dropped on the way in (a UDP relay in the peer):
/// every lost packet-length is concealed or recovered, counted at the publisher stage, and
/// the stream's audio goes on at real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_whip_publisher_is_concealed_and_its_loss_counted() {
    let server = start(&format!(
        "{RTC}[auth]\nsecret = \"s\"\n[[stream]]\nid = \"live\"\nsource = \"publish\"\nsample_rate = 48000\nchannels = 1\n"
    ))
    .await;
    let publish = token(&server, &[Permission::Publish]);
    let url = format!("http://{}/api/streams/live/whip", server.addr);
    let r = aiortc(&["whip", &url, "--seconds", "4", "--freq", "440", "--token", &publish, "--loss", "0.2"])
        .await;
    let dropped = r["relay_dropped"].as_u64().unwrap_or(0);
    assert!(dropped >= 20, "the relay dropped about 20% of ~200 packets: {r}");
    let (_, stats) = common::get_json(&format!("http://{}/api/streams/live/stats", server.addr), None).await;
    let p = &stats["publisher"];
    let lost = p["concealed_frames"].as_u64().unwrap() + p["fec_recovered"].as_u64().unwrap();
    // the last packets before the publisher left may be lost with nothing after them to
    // show the gap: those are not counted
    assert!(
        lost + 5 >= dropped && lost <= dropped,
        "every dropped packet was concealed or recovered: dropped {dropped}, counted {p}"
    );
    let metrics =
        client().get(format!("http://{}/metrics", server.addr)).send().await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("ondes_webrtc_packets_lost_total") && l.contains("where=\"publisher\""))
        .unwrap_or_else(|| panic!("no publisher loss in /metrics:\n{metrics}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(n as u64, lost, "/metrics counts the publisher's loss: {line}");
}

/// 20% of a WHEP listener's RTP packets dropped on the way out: its RTCP receiver reports
/// show the loss per connection in /debug/connections (the listener's link, not the hub).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_whep_listener_link_shows_in_its_receiver_reports() {
    let server = start(&format!(
        "{RTC}[auth]\nsecret = \"s\"\n[[stream]]\nid = \"tone\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 48000\nchannels = 1\n"
    ))
    .await;
    let debug = token(&server, &[Permission::DebugAccess]);
    let url = format!("http://{}/api/streams/tone/whep", server.addr);
    let peer = tokio::spawn(async move { aiortc(&["whep", &url, "--seconds", "6", "--loss", "0.2"]).await });
    let mut seen = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, d) = common::get_json(
            &format!("http://{}/api/streams/tone/debug/connections", server.addr),
            Some(&debug),
        )
        .await;
        if let Some(c) = d["connections"].as_array().and_then(|v| {
            v.iter().find(|c| c["webrtc"]["packets_lost"].as_u64().is_some_and(|n| n > 0)).cloned()
        }) {
            seen = c;
            break;
        }
    }
    let r = peer.await.unwrap();
    assert!(r["relay_dropped"].as_u64().unwrap() > 0, "{r}");
    assert!(
        seen["webrtc"]["packets_lost"].as_u64().is_some_and(|n| n > 0),
        "receiver reports show the loss: {seen}"
    );
    assert_eq!(seen["transport"], "whep");
    assert!(
        seen["warnings"].to_string().contains("lost on the way to the listener"),
        "the connection's health names the listener's network: {seen}"
    );
}

/// A real offer (aiortc's, recorded): str0m answers it; nobody connects.
const RECORDED_OFFER: &str = "v=0\r\no=- 4005427795 4005427795 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\nm=audio 33783 UDP/TLS/RTP/SAVPF 96 9 0 8\r\nc=IN IP4 127.0.0.1\r\na=recvonly\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=mid:0\r\na=msid:437f0c2f-59ea-450b-84ce-e5110adeee14 71d526ae-8bdd-467e-b630-f4d2854eb882\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-mux\r\na=ssrc:1251631772 cname:9f8073f0-bd3a-46d4-b066-8466195b201c\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 33783 typ host\r\na=end-of-candidates\r\na=ice-ufrag:3JJf\r\na=ice-pwd:gc3gmQX8w7s0I9mfmRb7VV\r\na=fingerprint:sha-256 2B:EE:C3:A4:EA:1E:F2:FC:AD:C9:9F:54:EC:F9:56:AC:CF:C0:EC:34:15:13:23:94:95:FD:47:D6:47:71:C3:C3\r\na=setup:actpass\r\nm=application 45905 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\na=mid:1\r\na=sctp-port:5000\r\na=max-message-size:262144\r\na=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 45905 typ host\r\na=end-of-candidates\r\na=ice-ufrag:3JJf\r\na=ice-pwd:gc3gmQX8w7s0I9mfmRb7VV\r\na=fingerprint:sha-256 2B:EE:C3:A4:EA:1E:F2:FC:AD:C9:9F:54:EC:F9:56:AC:CF:C0:EC:34:15:13:23:94:95:FD:47:D6:47:71:C3:C3\r\na=setup:actpass\r\n";

/// More offers than `max_sessions`: 503 with Retry-After for the extra ones, and the stream's
/// other listeners notice nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_offers_over_the_limit_gets_503_and_disturbs_nobody() {
    let server = start("[webrtc]\nudp_port = 0\nips = [\"127.0.0.1\"]\nmax_sessions = 3\n").await;
    let url = format!("http://{}/api/streams/main/whep", server.addr);
    let mut sse = common::Sse::open(&format!("http://{}/api/streams/main/stream", server.addr), &[]).await;
    let first = sse.next_audio().await["frame_number"].as_u64().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = client()
            .post(&url)
            .header("content-type", "application/sdp")
            .body(RECORDED_OFFER)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status == 503 {
            assert!(r.headers().contains_key("retry-after"));
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["error"], "too_many_sessions", "{b}");
        } else {
            assert_eq!(status, 201);
            assert!(r.headers()["location"].to_str().unwrap().starts_with("/api/streams/main/whep/"));
            assert!(r.text().await.unwrap().contains("opus/48000/2"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 5, "{statuses:?}");
    // the SSE listener went on without a gap
    let mut last = first;
    for _ in 0..10 {
        let n = sse.next_audio().await["frame_number"].as_u64().unwrap();
        assert_eq!(n, last + 1, "no frame lost by the other listener");
        last = n;
    }
}

/// A receive-only audio offer in Chromium's form (what a browser's `addTransceiver('audio',
/// {direction: 'recvonly'})` offers): Opus with in-band FEC, RED, and the transport-wide
/// sequence number extension with its `transport-cc` feedback.
const CHROMIUM_OFFER: &str = "v=0\r\no=- 6543245829141290011 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xk9p\r\na=ice-pwd:c3Wn1bT0a8fLq2RkYx7sVZpD\r\na=ice-options:trickle\r\na=fingerprint:sha-256 4F:1A:9C:22:E0:7B:35:C8:91:6D:AE:10:52:F3:8B:67:D4:0E:29:B5:73:C1:8A:F6:3D:90:4E:17:B2:65:DA:08\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n";

const TRANSPORT_CC_URI: &str = "transport-wide-cc-extensions";

/// A listener at a fixed rung gets an answer without the transport-wide sequence number (its
/// peer then sends no transport-wide feedback for the server to process); `rung=auto` keeps
/// it, because its bandwidth estimate drives the rung. Both answers keep Opus and the other
/// extensions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_adaptive_listeners_negotiate_transport_wide_congestion_control() {
    let server = start(RTC).await;
    let base = format!("http://{}", server.addr);
    let mut answers = Vec::new();
    for rung in ["64", "auto"] {
        let r = client()
            .post(format!("{base}/api/streams/main/whep?rung={rung}"))
            .header("content-type", "application/sdp")
            .body(CHROMIUM_OFFER)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "rung={rung}");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let answer = r.text().await.unwrap();
        assert!(answer.contains("opus/48000/2"), "rung={rung}: {answer}");
        assert!(answer.contains("urn:ietf:params:rtp-hdrext:sdes:mid"), "rung={rung}: {answer}");
        let resp = client().delete(format!("{base}{location}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "rung={rung}: DELETE ends the session");
        answers.push(answer);
    }
    let (fixed, auto) = (&answers[0], &answers[1]);
    assert!(!fixed.contains(TRANSPORT_CC_URI), "a fixed rung leaves transport-cc out: {fixed}");
    assert!(!fixed.contains("transport-cc"), "and its feedback: {fixed}");
    assert!(auto.contains(TRANSPORT_CC_URI), "rung=auto keeps transport-cc: {auto}");
}
