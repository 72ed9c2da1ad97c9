//! A lean incremental Server-Sent Events scanner for the load generator.
//!
//! [`ondes_core::proto::sse::SseParser`] builds a `String` per event, which is right for a client
//! that uses the audio. A load generator with a thousand listeners sharing two cores with the
//! server cannot afford that for ~20 KB events at 50 events/s each, so this scanner:
//!
//! - keeps no event body: it remembers the event name (up to 32 bytes) and the first
//!   [`META_WINDOW`] bytes of the data, and skips the rest of each line with `memchr`;
//! - reads the audio metadata (`frame_number`, `timestamp`, `frames`, `duration_ms`) from that
//!   window — the server writes these fields before the big sample arrays;
//! - is fed arbitrary slices (lines and events may be split anywhere) and allocates nothing.
//!
//! Line endings: LF and CRLF. A lone CR is not treated as a line ending (the ondes server never
//! sends one). An event is dispatched on a blank line if it had at least one `data` field, as
//! in the WHATWG rules.

use memchr::memchr;

/// How many bytes at the start of an event's data are kept for the metadata lookup.
pub const META_WINDOW: usize = 256;
const EVENT_NAME_MAX: usize = 32;
const FIELD_NAME_MAX: usize = 8;

/// Metadata of one `audio-frame` event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioMeta {
    /// Number of the first source frame the event carries.
    pub frame_number: u64,
    /// Capture time of that frame, milliseconds since the Unix epoch.
    pub timestamp_ms: f64,
    /// How many consecutive source frames the event carries (`max_fps` merging); at least 1.
    pub frames: u32,
    /// Duration of one source frame, if the event says.
    pub duration_ms: Option<f64>,
}

/// What the scanner found: one item per dispatched event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScanEvent {
    Audio(AudioMeta),
    /// An `audio-frame` event whose `frame_number`/`timestamp` were not in the first
    /// [`META_WINDOW`] bytes of its data (or were not numbers).
    AudioUnparsed,
    /// The unnamed first event, `data: connected`.
    Connected,
    Heartbeat,
    Status,
    /// `event: error`: the server is ending the stream.
    Error,
    /// Any other event.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Event,
    Data,
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a field name (at most [`FIELD_NAME_MAX`] bytes are kept).
    Name,
    /// Just after the `:`; one leading space of the value is dropped.
    ValueStart(Field),
    Value(Field),
    /// Comment or unknown field: discard up to the end of the line.
    Skip,
}

/// Incremental SSE scanner; see the module documentation.
#[derive(Debug, Clone)]
pub struct SseScanner {
    state: State,
    name: [u8; FIELD_NAME_MAX],
    name_len: usize,
    name_too_long: bool,
    event: [u8; EVENT_NAME_MAX],
    event_len: usize,
    event_too_long: bool,
    data: [u8; META_WINDOW],
    data_len: usize,
    /// The current data line did not fit the window (so a trailing CR was not seen).
    data_truncated: bool,
    data_lines: u32,
}

impl Default for SseScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl SseScanner {
    pub fn new() -> Self {
        Self {
            state: State::Name,
            name: [0; FIELD_NAME_MAX],
            name_len: 0,
            name_too_long: false,
            event: [0; EVENT_NAME_MAX],
            event_len: 0,
            event_too_long: false,
            data: [0; META_WINDOW],
            data_len: 0,
            data_truncated: false,
            data_lines: 0,
        }
    }

    /// Scans the next piece of the event stream, calling `on_event` for every event completed
    /// by it.
    pub fn feed(&mut self, mut input: &[u8], on_event: &mut impl FnMut(ScanEvent)) {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                State::Name => {
                    input = rest;
                    match byte {
                        b'\n' => self.end_name_line(on_event),
                        b'\r' => {}
                        b':' if self.name_len == 0 && !self.name_too_long => self.state = State::Skip,
                        b':' => {
                            let field = self.field();
                            self.begin_value(field);
                            self.state = State::ValueStart(field);
                        }
                        _ if self.name_len < FIELD_NAME_MAX => {
                            self.name[self.name_len] = byte;
                            self.name_len += 1;
                        }
                        _ => self.name_too_long = true,
                    }
                }
                State::ValueStart(field) => {
                    if byte == b' ' {
                        input = rest;
                    }
                    self.state = State::Value(field);
                }
                State::Value(field) => {
                    let (value, line_done) = match memchr(b'\n', input) {
                        Some(i) => (&input[..i], true),
                        None => (input, false),
                    };
                    self.take_value(field, value);
                    input = &input[value.len()..];
                    if line_done {
                        input = &input[1..];
                        self.end_value_line(field);
                    }
                }
                State::Skip => match memchr(b'\n', input) {
                    Some(i) => {
                        input = &input[i + 1..];
                        self.reset_name();
                    }
                    None => input = &[],
                },
            }
        }
    }

    fn field(&self) -> Field {
        if self.name_too_long {
            return Field::Ignored;
        }
        match &self.name[..self.name_len] {
            b"data" => Field::Data,
            b"event" => Field::Event,
            _ => Field::Ignored,
        }
    }

    fn reset_name(&mut self) {
        self.state = State::Name;
        self.name_len = 0;
        self.name_too_long = false;
    }

    /// A line ended while still reading the name: a blank line, or a field without a value.
    fn end_name_line(&mut self, on_event: &mut impl FnMut(ScanEvent)) {
        if self.name_len == 0 && !self.name_too_long {
            self.dispatch(on_event);
            return;
        }
        let field = self.field();
        self.begin_value(field);
        self.end_value_line(field);
    }

    fn begin_value(&mut self, field: Field) {
        match field {
            Field::Event => {
                self.event_len = 0;
                self.event_too_long = false;
            }
            Field::Data => {
                // Several data lines are joined with '\n', as in the SSE rules.
                if self.data_lines > 0 {
                    self.push_data(b"\n");
                }
                self.data_truncated = false;
            }
            Field::Ignored => {}
        }
    }

    fn take_value(&mut self, field: Field, value: &[u8]) {
        match field {
            Field::Event => {
                let room = EVENT_NAME_MAX - self.event_len;
                if value.len() > room {
                    self.event_too_long = true;
                }
                let n = value.len().min(room);
                self.event[self.event_len..self.event_len + n].copy_from_slice(&value[..n]);
                self.event_len += n;
            }
            Field::Data => self.push_data(value),
            Field::Ignored => {}
        }
    }

    fn push_data(&mut self, bytes: &[u8]) {
        let room = META_WINDOW - self.data_len;
        if bytes.len() > room {
            self.data_truncated = true;
        }
        let n = bytes.len().min(room);
        self.data[self.data_len..self.data_len + n].copy_from_slice(&bytes[..n]);
        self.data_len += n;
    }

    fn end_value_line(&mut self, field: Field) {
        match field {
            Field::Event => {
                if !self.event_too_long && self.event[..self.event_len].last() == Some(&b'\r') {
                    self.event_len -= 1;
                }
            }
            Field::Data => {
                if !self.data_truncated && self.data[..self.data_len].last() == Some(&b'\r') {
                    self.data_len -= 1;
                }
                self.data_lines += 1;
            }
            Field::Ignored => {}
        }
        self.reset_name();
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(ScanEvent)) {
        if self.data_lines > 0 {
            let data = &self.data[..self.data_len];
            let event = if self.event_too_long {
                ScanEvent::Other
            } else {
                match &self.event[..self.event_len] {
                    b"audio-frame" => {
                        parse_audio_meta(data).map_or(ScanEvent::AudioUnparsed, ScanEvent::Audio)
                    }
                    b"heartbeat" => ScanEvent::Heartbeat,
                    b"status" => ScanEvent::Status,
                    b"error" => ScanEvent::Error,
                    b"" | b"message" if data == b"connected" => ScanEvent::Connected,
                    _ => ScanEvent::Other,
                }
            };
            on_event(event);
        }
        self.event_len = 0;
        self.event_too_long = false;
        self.data_len = 0;
        self.data_truncated = false;
        self.data_lines = 0;
    }
}

/// Reads the audio metadata from the start of an `audio-frame` event's JSON data.
///
/// Only `"key":<number>` is recognised (optional spaces after the colon). A number that runs
/// to the end of `window` may be cut off, so it counts as missing.
pub fn parse_audio_meta(window: &[u8]) -> Option<AudioMeta> {
    let frame_number = find_u64(window, b"\"frame_number\":")?;
    let timestamp_ms = find_f64(window, b"\"timestamp\":")?;
    let frames = find_u64(window, b"\"frames\":").map_or(1, |f| f.clamp(1, u64::from(u32::MAX)) as u32);
    let duration_ms = find_f64(window, b"\"duration_ms\":").filter(|d| *d > 0.0);
    Some(AudioMeta { frame_number, timestamp_ms, frames, duration_ms })
}

/// The number token following `key` in `window`, if it is complete.
fn number_after<'a>(window: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(window, key)? + key.len();
    let rest = &window[start..];
    let skip = rest.iter().take_while(|b| **b == b' ').count();
    let rest = &rest[skip..];
    let len = rest.iter().take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')).count();
    // The token must be followed by something (',', '}', ' ') inside the window.
    if len == 0 || len == rest.len() { None } else { Some(&rest[..len]) }
}

fn find_u64(window: &[u8], key: &[u8]) -> Option<u64> {
    let digits = number_after(window, key)?;
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn find_f64(window: &[u8], key: &[u8]) -> Option<f64> {
    let token = number_after(window, key)?;
    // The token is ASCII by construction; it is at most a few dozen bytes.
    std::str::from_utf8(token).ok()?.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(chunks: &[&[u8]]) -> Vec<ScanEvent> {
        let mut scanner = SseScanner::new();
        let mut out = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, &mut |e| out.push(e));
        }
        out
    }

    fn audio_event(n: u64, frames: u32, samples: usize) -> String {
        let floats = vec!["0.123456"; samples].join(",");
        format!(
            "event: audio-frame\nid: frame-{n}\ndata: {{\"frame_number\":{n},\"timestamp\":1700000000{n:03},\
             \"sample_rate\":48000,\"channels\":2,\"duration_ms\":20.0,\"frames\":{frames},\
             \"format\":\"json\",\"channel_a\":[{floats}],\"channel_b\":[{floats}]}}\n\n"
        )
    }

    fn sample_stream() -> String {
        let mut s = String::from("retry: 1000\nid: conn-7\ndata: connected\n\n");
        s.push_str(&audio_event(0, 1, 960));
        s.push_str(": keep-alive comment\n\n");
        s.push_str("event: heartbeat\ndata: heartbeat-1\n\n");
        s.push_str(&audio_event(1, 2, 3));
        s.push_str("event: status\r\ndata: {\"status\":\"paused\"}\r\n\r\n");
        s.push_str(&audio_event(3, 1, 960));
        s.push_str("event: error\ndata: error: stream ended\n\n");
        s
    }

    fn meta(n: u64, frames: u32) -> ScanEvent {
        ScanEvent::Audio(AudioMeta {
            frame_number: n,
            timestamp_ms: 1_700_000_000_000.0 + n as f64,
            frames,
            duration_ms: Some(20.0),
        })
    }

    fn expected() -> Vec<ScanEvent> {
        vec![
            ScanEvent::Connected,
            meta(0, 1),
            ScanEvent::Heartbeat,
            meta(1, 2),
            ScanEvent::Status,
            meta(3, 1),
            ScanEvent::Error,
        ]
    }

    #[test]
    fn scans_a_whole_stream() {
        let stream = sample_stream();
        assert_eq!(scan_all(&[stream.as_bytes()]), expected());
    }

    #[test]
    fn split_at_every_byte_boundary_gives_the_same_events() {
        let stream = sample_stream();
        let bytes = stream.as_bytes();
        // Every single split point, and every split of the small events at two points.
        for i in 0..=bytes.len() {
            assert_eq!(scan_all(&[&bytes[..i], &bytes[i..]]), expected(), "split at {i}");
        }
        let small = "data: connected\n\nevent: heartbeat\ndata: x\n\n".to_string() + &audio_event(5, 1, 2);
        let small = small.as_bytes();
        for i in 0..=small.len() {
            for j in i..=small.len() {
                let got = scan_all(&[&small[..i], &small[i..j], &small[j..]]);
                assert_eq!(got.len(), 3, "split at {i},{j}");
                assert_eq!(got[2], meta(5, 1), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let stream = sample_stream();
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
        assert_eq!(scan_all(&chunks), expected());
    }

    #[test]
    fn crlf_line_endings() {
        let stream = sample_stream().replace("\r\n", "\n").replace('\n', "\r\n");
        assert_eq!(scan_all(&[stream.as_bytes()]), expected());
    }

    #[test]
    fn metadata_outside_the_window_is_reported_unparsed() {
        let pad = "x".repeat(META_WINDOW);
        let s =
            format!("event: audio-frame\ndata: {{\"pad\":\"{pad}\",\"frame_number\":1,\"timestamp\":2}}\n\n");
        assert_eq!(scan_all(&[s.as_bytes()]), vec![ScanEvent::AudioUnparsed]);
    }

    #[test]
    fn number_cut_by_the_window_is_not_trusted() {
        // `frame_number` digits reach the end of the window: they may be truncated.
        let prefix = "{\"timestamp\":5,\"frame_number\":";
        let digits = "1".repeat(META_WINDOW - prefix.len());
        let s = format!("event: audio-frame\ndata: {prefix}{digits}999}}\n\n");
        assert_eq!(scan_all(&[s.as_bytes()]), vec![ScanEvent::AudioUnparsed]);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_names_reset() {
        let s = "event: audio-frame\nid: 1\n\ndata: connected\n\nevent: a-very-long-event-name-that-does-not-fit-in-32\ndata: 1\n\ndata\n\n";
        assert_eq!(scan_all(&[s.as_bytes()]), vec![ScanEvent::Connected, ScanEvent::Other, ScanEvent::Other]);
    }

    #[test]
    fn field_order_does_not_matter_and_defaults_apply() {
        let s = "data: {\"timestamp\": 12.5, \"frame_number\": 42, \"x\":1}\nevent: audio-frame\n\n";
        assert_eq!(
            scan_all(&[s.as_bytes()]),
            vec![ScanEvent::Audio(AudioMeta {
                frame_number: 42,
                timestamp_ms: 12.5,
                frames: 1,
                duration_ms: None
            })]
        );
    }

    #[test]
    fn pcm16_events_are_scanned_the_same_way() {
        let s = "event: audio-frame\ndata: {\"frame_number\":9,\"timestamp\":100,\"frames\":3,\"duration_ms\":10,\"format\":\"pcm16\",\"pcm16\":\"AAAA+/8=\"}\n\n";
        assert_eq!(
            scan_all(&[s.as_bytes()]),
            vec![ScanEvent::Audio(AudioMeta {
                frame_number: 9,
                timestamp_ms: 100.0,
                frames: 3,
                duration_ms: Some(10.0)
            })]
        );
    }

    #[test]
    fn malformed_numbers_are_rejected() {
        assert_eq!(parse_audio_meta(b"{\"frame_number\":-1,\"timestamp\":1}"), None);
        assert_eq!(parse_audio_meta(b"{\"frame_number\":1,\"timestamp\":\"x\"}"), None);
        assert_eq!(parse_audio_meta(b"{\"frame_number\":99999999999999999999999,\"timestamp\":1}"), None);
        let m = parse_audio_meta(b"{\"frame_number\":7,\"timestamp\":1,\"frames\":0}").unwrap();
        assert_eq!(m.frames, 1, "frames is at least 1");
    }
}
