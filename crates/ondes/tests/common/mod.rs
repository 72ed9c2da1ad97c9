//! Helpers shared by the binary's end-to-end tests: temp files and a real `ondes serve`.
#![allow(dead_code)]

pub mod http;
pub mod netsim;
pub mod pulse;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_ondes");

/// A path in this test process's own temp directory.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ondes-bin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A running `ondes serve`; killed when dropped, however the test ends.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub url: String,
}

impl Server {
    /// The same address as a `ws://` base.
    pub fn ws(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ondes serve ARGS` with extra environment variables and waits for the URL it prints.
pub fn serve(args: &[&str], env: &[(&str, &str)], stdin: Stdio) -> Server {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ondes serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ondes is serving on ") {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(30)).expect("the server prints its URL");
    Server { child, url }
}
