//! The command-line clients over TLS, as a user runs them against a server with a private
//! certificate: `ondes listen` over https:// (SSE) and wss:// (WebSocket Opus), `ondes send`
//! over wss:// and https:// (HTTP ingest), each trusting the private CA with `--ca`; and the
//! clear refusal of a client that was not told to trust it.

mod common;

use std::process::{Command, Output, Stdio};

use common::tls::{base, private_ca};
use common::{BIN, Server, tmp};
use serde_json::Value;

const SECRET: &str = "tls-cli-secret";

/// `ondes serve` over TLS (a private CA made at test time); the CA file.
fn serve_tls(name: &str) -> (Server, std::path::PathBuf) {
    common::tls::serve_tls(
        name,
        "[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\n[[stream]]\nid = \"voice\"\nsource = \"publish\"\n",
        &[("ONDES_AUTH_SECRET", SECRET)],
    )
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("ondes runs")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

fn token() -> String {
    let out = run(&["token", "--secret", SECRET, "--perm", "publish"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn listen_over_https_and_wss_with_a_private_ca() {
    let (server, ca) = serve_tls("listen");
    assert!(server.url.starts_with("https://"), "the server says it serves TLS: {}", server.url);
    let ca = ca.to_str().unwrap();
    for url in [
        format!("{}/api/audio/stream?format=pcm16", base(&server, "https")),
        format!("{}/api/audio/ws?rung=64", base(&server, "wss")),
    ] {
        let r = json(&run(&["listen", &url, "--ca", ca, "--duration", "2s", "--json"]));
        assert!(r["frames_received"].as_u64().unwrap() >= 60, "{url}: {r}");
        assert_eq!(r["frames_lost"], 0, "{url}: {r}");
    }
}

#[test]
fn a_client_that_does_not_trust_the_ca_is_refused_clearly() {
    let (server, _) = serve_tls("untrusted");
    for url in [
        format!("{}/api/audio/stream", base(&server, "https")),
        format!("{}/api/audio/ws", base(&server, "wss")),
    ] {
        let out = run(&["listen", &url, "--duration", "2s"]);
        assert!(!out.status.success(), "{url}: listening succeeded without trusting the CA");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--ca"), "{url}: the error says how to fix it: {err}");
    }
    let wrong = tmp("untrusted-other-ca.pem");
    std::fs::write(&wrong, private_ca().0).unwrap();
    let url = format!("{}/api/audio/ws", base(&server, "wss"));
    let out = run(&["listen", &url, "--ca", wrong.to_str().unwrap(), "--duration", "2s"]);
    assert!(!out.status.success(), "another CA does not vouch for this server");
    // and send gives up at once instead of retrying a certificate that will not change
    let to = format!("{}/api/streams/voice/publish", base(&server, "wss"));
    let out = run(&["send", "tone:sine", "--duration", "1s", "--to", &to, "--token", &token()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--ca"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn send_over_wss_and_https_with_a_private_ca() {
    let (server, ca) = serve_tls("send");
    let ca = ca.to_str().unwrap();
    let token = token();
    for (to, codec) in [
        (format!("{}/api/streams/voice/publish", base(&server, "wss")), "opus"),
        (format!("{}/api/streams/voice/ingest", base(&server, "https")), "pcm16"),
    ] {
        let r = json(&run(&[
            "send",
            "tone:sine?freq=440",
            "--duration",
            "1s",
            "--codec",
            codec,
            "--burst",
            "--to",
            &to,
            "--token",
            &token,
            "--ca",
            ca,
            "--json",
        ]));
        assert_eq!(r["frames_sent"], 50, "{to}: {r}");
        assert_eq!(r["completed"], true, "{to}: {r}");
    }
}
