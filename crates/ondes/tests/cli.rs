//! The `ondes` binary end to end: real processes, real signals, real HTTP.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, serve, tmp};
use ondes_core::proto::sse::SseParser;
use ondes_server::auth::{Authenticator, Permission};

/// Reads SSE from `url` until `stop` returns true or `secs` pass; returns the events seen.
fn read_sse(
    url: &str,
    secs: u64,
    mut stop: impl FnMut(&ondes_core::proto::sse::SseEvent) -> bool,
) -> Vec<ondes_core::proto::sse::SseEvent> {
    use std::io::Read;
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/').map(|x| x.1).unwrap_or(""));
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut header_done = false;
    let mut head = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => continue,
        };
        if !header_done {
            head.extend_from_slice(&buf[..n]);
            if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                header_done = true;
                // HTTP/1.0: the body is not chunked, just the event stream until close
                parser.feed(&head[p + 4..]);
            }
        } else {
            parser.feed(&buf[..n]);
        }
        while let Some(e) = parser.next_event() {
            let done = stop(&e);
            events.push(e);
            if done {
                return events;
            }
        }
    }
    events
}

#[test]
fn token_command_mints_a_verifiable_token() {
    let out = Command::new(BIN)
        .args([
            "token",
            "--secret",
            "S3cret",
            "--sub",
            "bob",
            "--perm",
            "stream_control",
            "--perm",
            "debug_access",
        ])
        .args(["--ttl", "1h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = Authenticator::new(b"S3cret").verify(token.trim()).unwrap();
    assert_eq!(claims.sub, "bob");
    assert!(claims.has(Permission::StreamControl) && claims.has(Permission::DebugAccess));
    assert!(!claims.has(Permission::Publish));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!((claims.exp as i64 - (now + 3600) as i64).abs() < 10);

    let bad = Command::new(BIN).args(["token", "--secret", "s", "--perm", "root"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown permission 'root'"));
}

#[test]
fn bad_config_fails_at_start_naming_the_key() {
    let cfg = tmp("bad.toml");
    std::fs::write(&cfg, "[server]\nheartbeat_secs = 0\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.heartbeat_secs"), "{err}");

    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("ONDES_SERVER_MAX_CONNECTIONS", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ONDES_SERVER_MAX_CONNECTIONS"));
}

#[test]
fn check_config_says_whether_the_server_would_start_without_starting_it() {
    let good = tmp("check-good.toml");
    // the port is taken by nothing: --check-config binds nothing, so a port in use is fine too
    std::fs::write(
        &good,
        "[server]\nbind = \"127.0.0.1:1\"\n[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n\
         [[stream]]\nid = \"room-*\"\nsource = \"publish\"\n",
    )
    .unwrap();
    let out = Command::new(BIN).args(["serve", "--check-config", "--config"]).arg(&good).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("configuration OK") && text.contains("stream main") && text.contains("room-*"),
        "{text}"
    );

    let missing = tmp("check-missing.toml");
    std::fs::write(&missing, "[[stream]]\nid = \"music\"\nsource = \"file:/nonexistent/ondes-check.flac\"\n")
        .unwrap();
    let out = Command::new(BIN).args(["serve", "--check-config", "--config"]).arg(&missing).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("music") && err.contains("/nonexistent/ondes-check.flac"), "{err}");
}

/// A self-signed certificate for localhost, as (certificate PEM, key PEM).
fn self_signed(cn: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[test]
fn tls_files_are_checked_and_reloaded_on_sighup() {
    use std::io::BufRead;
    let (cert, key) = (tmp("tls-cert.pem"), tmp("tls-key.pem"));
    let (c1, k1) = self_signed("first");
    std::fs::write(&cert, &c1).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let cfg = tmp("tls.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN).args(["serve", "--check-config", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.tls_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&key, &k1).unwrap();
    let out = Command::new(BIN).args(["serve", "--check-config", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("TLS:"));

    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let wait_for = |what: &str| loop {
        let l = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no line with '{what}'"));
        if l.contains(what) {
            return l;
        }
    };
    assert!(wait_for("ondes is serving on").contains("https://"));
    let pid = child.id().to_string();
    let (c2, k2) = self_signed("second");
    std::fs::write(&cert, c2).unwrap();
    std::fs::write(&key, k2).unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    wait_for("TLS certificate and key reloaded");
    std::fs::write(&key, "broken").unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    assert!(wait_for("TLS reload failed").contains("server.tls_key"));
    assert!(child.try_wait().unwrap().is_none(), "a failed reload does not stop the server");
    let _ = child.kill();
    let _ = child.wait();
}

/// Raw PCM piped into `stdin:` comes out of the SSE endpoint; SIGTERM ends the stream
/// with an `error` event and the process exits cleanly.
#[test]
fn stdin_source_and_graceful_sigterm() {
    let cfg = tmp("stdin.toml");
    std::fs::write(
        &cfg,
        "[server]\nbind = \"127.0.0.1:0\"\n[[stream]]\nid = \"main\"\nsource = \"stdin:s16le?rate=16000&channels=1\"\nchannels = 1\nsample_rate = 16000\n",
    )
    .unwrap();
    let mut server = serve(&["--config", cfg.to_str().unwrap()], &[], Stdio::piped());
    let url = server.url.clone();
    let child = &mut server.child;
    let mut stdin = child.stdin.take().unwrap();
    // 30 s of a 500 Hz square-ish ramp, written by a thread as fast as the pipe takes it
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for i in 0..16_000 * 30 {
            let v: i16 = if (i / 16) % 2 == 0 { 8000 } else { -8000 };
            buf.extend_from_slice(&v.to_le_bytes());
        }
        let _ = stdin.write_all(&buf);
    });
    let events =
        read_sse(&format!("{url}/api/audio/stream"), 10, |e| e.event.as_deref() == Some("audio-frame"));
    let frame = events.last().expect("an audio frame");
    let v: serde_json::Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(v["sample_rate"], 16_000);
    let a: Vec<f64> = v["channel_a"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(a.len(), 320);
    assert!(a.iter().any(|x| (x - 8000.0 / 32768.0).abs() < 1e-3));

    // SIGTERM while a listener is connected
    let pid = child.id().to_string();
    let listener = std::thread::spawn({
        let url = url.clone();
        move || read_sse(&format!("{url}/api/audio/stream"), 15, |e| e.event.as_deref() == Some("error"))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let seen = listener.join().unwrap();
    let last = seen.last().expect("events before shutdown");
    assert_eq!(last.event.as_deref(), Some("error"));
    assert!(last.data.contains("shutting down"));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit after SIGTERM: {status}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(writer);
}

#[test]
fn demo_flag_adds_main_next_to_configured_streams() {
    let cfg = tmp("lab.toml");
    std::fs::write(
        &cfg,
        "[server]\nbind = \"127.0.0.1:0\"\n[[stream]]\nid = \"lab\"\nsource = \"tone:noise\"\n",
    )
    .unwrap();
    let server = serve(&["--config", cfg.to_str().unwrap(), "--demo"], &[], Stdio::null());
    let url = server.url.clone();
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /api/streams HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    assert!(body.contains("\"id\":\"lab\"") && body.contains("\"id\":\"main\""), "{body}");
    drop(server);
}
