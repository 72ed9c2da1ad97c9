//! Server-Sent Events: a pure, incremental parser (bytes in, events out).
//!
//! Used by the Rust client, the load generator and the tests. It follows the WHATWG
//! event-stream rules that matter here: `event`, `data` (joined with `\n`), `id`, comment
//! lines starting with `:`, CRLF/LF line endings, dispatch on a blank line.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field; `None` means the default type (`message`).
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
    /// `retry:` field in milliseconds, if given.
    pub retry_ms: Option<u64>,
}

/// Incremental SSE parser: feed it chunks as they arrive, pop complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: SseEvent,
    has_field: bool,
    data_lines: usize,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next complete event, if one has been fully received.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let nl = self.buf.iter().position(|&b| b == b'\n')?;
            let mut line_end = nl;
            if line_end > 0 && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..=nl);
            if line.is_empty() {
                if self.has_field {
                    self.has_field = false;
                    self.data_lines = 0;
                    return Some(std::mem::take(&mut self.current));
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            self.has_field = true;
            match field {
                "event" => self.current.event = Some(value.to_string()),
                "id" => self.current.id = Some(value.to_string()),
                "retry" => self.current.retry_ms = value.parse().ok(),
                "data" => {
                    if self.data_lines > 0 {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.data_lines += 1;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_chunks_and_multiline_data() {
        let mut p = SseParser::new();
        p.feed(b"id: 7\ndata: connected\n\nevent: audio-frame\r\nid: frame-1\r\nda");
        assert_eq!(
            p.next_event(),
            Some(SseEvent { event: None, id: Some("7".into()), data: "connected".into(), retry_ms: None })
        );
        assert_eq!(p.next_event(), None);
        p.feed(b"ta: {\"a\":1}\r\ndata: x\r\n\r\n: comment\n\nretry: 500\n\n");
        let e = p.next_event().unwrap();
        assert_eq!(e.event.as_deref(), Some("audio-frame"));
        assert_eq!(e.id.as_deref(), Some("frame-1"));
        assert_eq!(e.data, "{\"a\":1}\nx");
        assert_eq!(p.next_event().unwrap().retry_ms, Some(500));
        assert_eq!(p.next_event(), None);
    }
}
