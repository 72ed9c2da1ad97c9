//! A real `ondes netsim` between a test's clients and its server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::BIN;

/// A started `ondes netsim`, stopped (SIGTERM) to read its counters.
pub struct Netsim {
    child: Child,
    /// `127.0.0.1:PORT` clients connect to.
    pub addr: String,
}

impl Netsim {
    /// `ondes netsim` in front of `upstream` with the link `args` (`--profile …`, `--set …`).
    pub fn start(upstream: &str, args: &[&str]) -> Netsim {
        let mut child = Command::new(BIN)
            .args(["netsim", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(["--report-secs", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ondes netsim starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ondes netsim (TCP): ") {
                    let _ = tx.send(rest.split(' ').next().unwrap_or("").to_string());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(20)).expect("netsim prints its address");
        Netsim { child, addr }
    }

    /// Stops the proxy; its final counters.
    pub fn stop(mut self) -> Value {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        self.child.wait().unwrap();
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("netsim report ({e}): {out}"))
    }
}

impl Drop for Netsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
