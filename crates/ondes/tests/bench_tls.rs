//! `ondes bench fanout` over TLS against a real `ondes serve` with a private certificate:
//! a handful of listeners per transport (SSE, WebSocket, Ogg over HTTP, LL-HLS) over
//! https:// and wss:// trusting the private CA with `--ca`, every one receiving audio with no
//! failure; and without `--ca`, or against a plain server, a run that ends with a clear error.

mod common;

use std::process::{Command, Output, Stdio};

use common::tls::{base, private_ca};
use common::{BIN, Server, tmp};
use serde_json::Value;

/// `ondes serve` over TLS (a private CA made at test time); the CA file.
fn serve_tls(name: &str) -> (Server, std::path::PathBuf) {
    common::tls::serve_tls(name, "[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n", &[])
}

fn fanout(url: &str, transport: &str, listeners: usize, extra: &[&str]) -> Output {
    let n = listeners.to_string();
    Command::new(BIN)
        .args(["bench", "fanout", "--url", url, "--transport", transport, "--listeners", &n])
        .args(["--duration", "3s", "--warmup", "1s", "--json"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("ondes runs")
}

#[test]
fn fanout_over_https_and_wss_every_listener_gets_audio() {
    let (server, ca) = serve_tls("fanout");
    let ca = ca.to_str().unwrap();
    let n = 5;
    for (scheme, transport) in [("https", "sse"), ("wss", "ws"), ("https", "http"), ("https", "hls")] {
        let url = base(&server, scheme);
        let out = fanout(&url, transport, n, &["--ca", ca]);
        assert!(out.status.success(), "{transport}: {}", String::from_utf8_lossy(&out.stderr));
        let r: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
        assert!(r["url"].as_str().unwrap().starts_with("https://localhost:"), "{transport}: {r}");
        assert_eq!(r["connect_failures"], serde_json::json!({}), "{transport}: {r}");
        assert_eq!(r["listeners_connected"], n, "{transport}: {r}");
        // alive: still open at the end and received audio in its last second
        assert_eq!(r["listeners_alive"], n, "{transport}: {r}");
        assert_eq!(r["disconnects"], 0, "{transport}: {r}");
        // 50 frames/s for 3 s each: well above one frame per listener whatever the batching
        assert!(r["frames_received"].as_u64().unwrap() >= (n as u64) * 50, "{transport}: {r}");
        assert!(r["bytes_received"].as_u64().unwrap() > 0, "{transport}: {r}");
    }
}

#[test]
fn fanout_without_the_ca_or_against_a_plain_server_fails_clearly() {
    let (server, _) = serve_tls("fanout-untrusted");
    for (scheme, transport) in [("https", "sse"), ("wss", "ws"), ("https", "hls")] {
        let out = fanout(&base(&server, scheme), transport, 3, &[]);
        assert!(!out.status.success(), "{transport}: the run succeeded without trusting the CA");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("tls_untrusted") && err.contains("--ca"), "{transport}: {err}");
    }
    // another CA does not vouch for this server either
    let wrong = tmp("fanout-other-ca.pem");
    std::fs::write(&wrong, private_ca().0).unwrap();
    let out = fanout(&base(&server, "https"), "http", 3, &["--ca", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_untrusted"));

    // https:// to a server that speaks plain HTTP on that port
    let config = tmp("fanout-plain.toml");
    std::fs::write(&config, "[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n").unwrap();
    let plain =
        common::serve(&["--bind", "127.0.0.1:0", "--config", config.to_str().unwrap()], &[], Stdio::null());
    let url = plain.url.replacen("http://", "https://", 1);
    let out = fanout(&url, "sse", 3, &[]);
    assert!(!out.status.success(), "a plain server cannot pass for TLS");
    let err = String::from_utf8_lossy(&out.stderr);
    // (the plain server waits for a request head: the handshake times out, or fails on its answer)
    assert!(err.contains("tls_handshake") && err.contains("http://"), "{err}");
}
