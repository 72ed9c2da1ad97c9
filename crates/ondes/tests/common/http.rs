//! Plain blocking HTTP for the binary's tests: a GET that returns the body, and an SSE
//! reader that keeps its connection and yields events one by one.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ondes_core::proto::sse::{SseEvent, SseParser};

fn split(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    (addr.to_string(), format!("/{path}"))
}

/// `GET url` over HTTP/1.0; the body as text.
pub fn get(url: &str) -> String {
    let (addr, path) = split(url);
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the response");
    let text = String::from_utf8_lossy(&out).to_string();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// `GET url` parsed as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    let body = get(url);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} is not JSON ({e}): {body}"))
}

/// An open SSE connection.
pub struct SseReader {
    s: TcpStream,
    parser: SseParser,
    head: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl SseReader {
    pub fn open(url: &str) -> SseReader {
        Self::open_with_headers(url, &[])
    }

    /// [`open`](Self::open) with extra request headers (e.g. `Last-Event-ID`).
    pub fn open_with_headers(url: &str, headers: &[(&str, &str)]) -> SseReader {
        let (addr, path) = split(url);
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
        SseReader { s, parser: SseParser::new(), head: Some(Vec::new()), buf: vec![0; 1 << 16] }
    }

    /// The next event within `secs`, or `None` (timeout or end of stream).
    pub fn next(&mut self, secs: f64) -> Option<SseEvent> {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(e) = self.parser.next_event() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let n = match self.s.read(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(_) => continue,
            };
            match self.head.as_mut() {
                Some(head) => {
                    head.extend_from_slice(&self.buf[..n]);
                    if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        let rest = head[p + 4..].to_vec();
                        self.head = None;
                        self.parser.feed(&rest);
                    }
                }
                None => self.parser.feed(&self.buf[..n]),
            }
        }
    }

    /// The next event of type `kind` whose data contains `needle`, within `secs`.
    pub fn wait_for(&mut self, kind: &str, needle: &str, secs: f64) -> SseEvent {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
            assert!(left > 0.0, "no '{kind}' event with '{needle}' within {secs} s");
            if let Some(e) = self.next(left)
                && e.event.as_deref() == Some(kind)
                && e.data.contains(needle)
            {
                return e;
            }
        }
    }
}
