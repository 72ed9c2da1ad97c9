//! `ondes send --frame-log` + `ondes probe --sender-log` as a user runs them: a real
//! `ondes serve`, real `ondes send` processes and, for network loss, a real `ondes netsim`
//! proxy between them. A sender that drops a fifth of its own frames and a sender whose
//! network loses a fifth of its messages look alike to a listener (20% gaps); the probe
//! must tell them apart, frame by frame.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::netsim::Netsim;
use common::{BIN, Server, tmp};
use serde_json::Value;

const SECRET: &str = "sender-log-secret";

fn serve() -> Server {
    let config = tmp("sender-log.toml");
    std::fs::write(
        &config,
        "[server]\ntrace_listener_frames = 1000\n\n\
         [[stream]]\nid = \"voice\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n",
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

/// `ondes send` of 4 s of tone at real time to `ws_base`, logging frames to `log`.
fn send(ws_base: &str, log: &std::path::Path, extra: &[&str]) -> Output {
    send_to(&format!("{ws_base}/api/streams/voice/publish"), log, extra)
}

/// `ondes send` of 4 s of tone at real time to the publish or ingest URL `to`.
fn send_to(to: &str, log: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["send", "tone:sine?freq=300", "--duration", "4s", "--json", "--ack-timeout", "2s"])
        .args(["--frame-log", log.to_str().unwrap()])
        .args(extra)
        .args(["--to", to, "--token", &token("publish")])
        .output()
        .unwrap()
}

fn read_log(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `ondes probe --sender-log` against the server's traces; its JSON report.
fn probe(server: &Server, log: &std::path::Path) -> Value {
    let out = Command::new(BIN)
        .args(["probe", "--sender-log", log.to_str().unwrap(), "--server", &server.url, "--stream", "voice"])
        .args(["--token", &token("debug_access"), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(report: &Value, class: &str) -> u64 {
    report["counts"][class].as_u64().unwrap_or_else(|| panic!("no count {class}: {report}"))
}

/// The sequence numbers the probe put in `class`.
fn seqs(report: &Value, class: &str) -> Vec<u64> {
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["class"] == class)
        .map(|v| v["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn frames_the_sender_dropped_itself_are_not_blamed_on_the_network() {
    let server = serve();
    let listener = Listener::start(&server);
    let log = tmp("self-drop.jsonl");
    let out = send(&server.ws(), &log, &["--drop-before-send", "0.2", "--fault-seed", "5"]);
    let (listener_conn, heard) = listener.stop();
    assert!(out.status.success(), "send failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // the log: one line per frame, 200 frames, about a fifth not sent, with the reason
    let lines = read_log(&log);
    assert_eq!(lines.len(), 200, "4 s of 20 ms frames");
    let dropped: Vec<u64> =
        lines.iter().filter(|l| l["sent"] == false).map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!((25..=55).contains(&dropped.len()), "{} dropped", dropped.len());
    assert_eq!(report["frames_dropped_before_send"], dropped.len() as u64, "{report}");
    assert_eq!(report["frames_sent"].as_u64().unwrap() + dropped.len() as u64, 200, "{report}");
    assert_eq!(report["frames_acked"], report["frames_sent"], "{report}");
    for l in &lines {
        if l["sent"] == true {
            assert!(l["send_us"].as_i64().unwrap() >= l["capture_us"].as_i64().unwrap(), "{l}");
            assert!(l["ack_us"].as_i64().unwrap() >= l["send_us"].as_i64().unwrap(), "{l}");
            assert!(l["bytes"].as_u64().unwrap() == 640 && l["conn"].is_u64(), "{l}");
        } else {
            assert_eq!(l["why"], "fault_injection", "{l}");
        }
    }

    let r = probe(&server, &log);
    let not_sent = seqs(&r, "not_sent");
    let right = dropped.iter().filter(|s| not_sent.contains(s)).count();
    assert!(
        right * 100 >= dropped.len() * 95,
        "{right} of {} dropped frames classified not_sent: {r}",
        dropped.len()
    );
    assert_eq!(count(&r, "lost_in_network"), 0, "{r}");
    assert_eq!(count(&r, "delivered") + count(&r, "sent_late"), 200 - dropped.len() as u64, "{r}");

    // the server saw the same gaps, as gaps, in its trace of the connection
    let conn = lines.iter().find_map(|l| l["conn"].as_u64()).unwrap();
    let trace_url = format!("{}/api/streams/voice/debug/connections/{conn}/trace", server.url);
    let trace: Value = http_get(&trace_url, Some(&token("debug_access"))).1;
    assert_eq!(trace["kind"], "publisher");
    assert_eq!(trace["open"], false, "the publisher has left");
    let gaps: u64 = trace["arrived"].as_array().unwrap().iter().map(|a| a["gap"].as_u64().unwrap()).sum();
    let trailing = dropped.iter().rev().zip((0..200u64).rev()).take_while(|(d, s)| *d == s).count() as u64;
    assert_eq!(gaps + trailing, dropped.len() as u64, "{trace}");

    // the listener's trace holds what the server wrote to it: the frames it heard
    let url = format!("{}/api/streams/voice/debug/connections/{listener_conn}/trace", server.url);
    let (status, lt) = http_get(&url, Some(&token("debug_access")));
    assert_eq!((status, lt["kind"].as_str()), (200, Some("listener")), "{lt}");
    let written: Vec<u64> =
        lt["written"].as_array().unwrap().iter().map(|w| w["seq"].as_u64().unwrap()).collect();
    assert!(written.len() >= 150 && written.windows(2).all(|w| w[1] == w[0] + 1), "{lt}");
    assert!(lt["written"].as_array().unwrap().iter().all(|w| w["bytes"].as_u64().unwrap() > 0));
    let first = written[0];
    let heard_in_trace: Vec<u64> = heard.iter().copied().filter(|s| *s >= first).collect();
    assert_eq!(heard_in_trace, written[..heard_in_trace.len()], "the listener heard what was written");

    // the route's refusals are JSON that says what to fix
    let (status, body) = http_get(&trace_url, None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = http_get(
        &format!("{}/api/streams/voice/debug/connections/99999/trace", server.url),
        Some(&token("debug_access")),
    );
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains("99999"), "{body}");
}

/// An SSE listener on `voice`, in a thread: its connection id, then the frame numbers it heard.
struct Listener {
    conn: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl Listener {
    fn start(server: &Server) -> Listener {
        let mut sse = common::http::SseReader::open(&format!("{}/api/streams/voice/stream", server.url));
        let connected = sse.next(10.0).expect("the connected event");
        assert_eq!(connected.data, "connected");
        let conn = connected.id.expect("the connection id").parse().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut heard = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(e) = sse.next(0.5)
                    && e.event.as_deref() == Some("audio-frame")
                {
                    let v: Value = serde_json::from_str(&e.data).unwrap();
                    heard.push(v["frame_number"].as_u64().unwrap());
                }
            }
            heard
        });
        Listener { conn, stop, thread }
    }

    fn stop(self) -> (u64, Vec<u64>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (self.conn, self.thread.join().unwrap())
    }
}

#[test]
fn frames_the_network_lost_are_not_blamed_on_the_sender() {
    let server = serve();
    let upstream = server.url.trim_start_matches("http://").to_string();
    let netsim =
        Netsim::start(&upstream, &["--profile", "fiber", "--set", "loss=0%", "--drop-ws-messages", "0.2"]);
    let log = tmp("net-loss.jsonl");
    // a lost last message is never acknowledged: the send may end by giving up on it
    let out = send(&format!("ws://{}", netsim.addr), &log, &[]);
    let counters = netsim.stop();
    let lost = counters["ws_messages_dropped"].as_u64().unwrap();
    assert!((25..=55).contains(&lost), "netsim dropped {lost} of 200: {counters}");
    assert_eq!(counters["ws_messages_passed"].as_u64().unwrap() + lost, 200, "{counters}");

    let lines = read_log(&log);
    assert_eq!(lines.len(), 200, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines.iter().all(|l| l["sent"] == true), "the sender sent every frame");

    let r = probe(&server, &log);
    let classified = count(&r, "lost_in_network");
    assert_eq!(count(&r, "not_sent"), 0, "{r}");
    assert!(
        classified * 100 >= lost * 95 && classified <= lost,
        "{classified} frames classified lost in the network, netsim dropped {lost}: {r}"
    );
    assert_eq!(count(&r, "delivered") + count(&r, "sent_late") + classified, 200, "{r}");
}

/// `GET url` with an optional bearer token: status and JSON body.
fn http_get(url: &str, token: Option<&str>) -> (u16, Value) {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    std::io::Write::write_all(
        &mut s,
        format!("GET /{path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}")))
}

#[test]
fn an_http_ingest_sender_is_logged_traced_and_diagnosed_too() {
    let server = serve();
    let log = tmp("http-ingest.jsonl");
    let out = send_to(&format!("{}/api/streams/voice/ingest", server.url), &log, &[]);
    assert!(out.status.success(), "send failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["frames_acked"], 200, "{report}");

    // one line per frame, on the connection the server's reply named, acknowledged by it
    let lines = read_log(&log);
    assert_eq!(lines.len(), 200, "4 s of 20 ms frames");
    let conn = lines[0]["conn"].as_u64().expect("the connection from the reply");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i as u64, "{l}");
        assert_eq!((l["sent"].as_bool(), l["conn"].as_u64()), (Some(true), Some(conn)), "{l}");
        assert!(l["send_us"].as_i64().unwrap() >= l["capture_us"].as_i64().unwrap(), "{l}");
        assert!(l["ack_us"].as_i64().unwrap() >= l["send_us"].as_i64().unwrap(), "{l}");
        assert_eq!(l["bytes"], 640, "16 kHz mono L16, 20 ms: {l}");
    }

    // the server traced the request like a WebSocket publisher: every frame arrived, no gap
    let trace_url = format!("{}/api/streams/voice/debug/connections/{conn}/trace", server.url);
    let trace: Value = http_get(&trace_url, Some(&token("debug_access"))).1;
    assert_eq!(
        (trace["kind"].as_str(), trace["open"].as_bool()),
        (Some("publisher"), Some(false)),
        "{trace}"
    );
    let arrived = trace["arrived"].as_array().unwrap();
    assert_eq!(arrived.len(), 200, "{trace}");
    assert!(arrived.iter().enumerate().all(|(i, a)| a["seq"] == i as u64 && a["gap"] == 0), "{trace}");
    let bytes: u64 = arrived.iter().map(|a| a["bytes"].as_u64().unwrap()).sum();
    assert!(
        (200 * 640 - 1_000..=200 * 640).contains(&bytes),
        "the body's bytes, shared among frames: {bytes}"
    );

    // and the probe finds nothing lost and nothing unsent
    let r = probe(&server, &log);
    assert_eq!(count(&r, "delivered") + count(&r, "sent_late"), 200, "{r}");
    assert_eq!(count(&r, "lost_in_network") + count(&r, "not_sent"), 0, "{r}");
}
