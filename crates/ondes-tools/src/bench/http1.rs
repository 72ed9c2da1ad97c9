//! The minimal HTTP/1.1 client pieces the load generator needs: `http://` and `https://` URLs, the response
//! head, and body framing (chunked transfer coding, `Content-Length`, or read-to-close).
//!
//! Decoding is incremental and copy-free: body bytes are handed out as sub-slices of the
//! input, whatever the read boundaries are.

use super::BenchError;

/// A parsed `http://host[:port]/path?query` (or `https://`) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: the listeners speak TLS (see `reader::Dialer`).
    pub tls: bool,
    /// Host name or address, without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`; empty if the URL had no path (or just `/`).
    pub path_and_query: String,
    /// Value for the `Host` header (`host` or `host:port`, IPv6 in brackets).
    pub host_header: String,
}

/// Parses an `http://` or `https://` URL.
pub fn parse_http_url(url: &str) -> Result<HttpUrl, BenchError> {
    let invalid = |reason: &str| BenchError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let (tls, rest) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
        Some(_) => return Err(invalid("only http:// and https:// URLs are supported")),
        None => return Err(invalid("expected http://host:port/path")),
    };
    let default_port = if tls { 443 } else { 80 };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(invalid("user information in the URL is not supported; use --token"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed '[' in host"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| invalid("junk after ']'"))?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| invalid("bad port"))?,
    };
    let path_and_query = match path {
        "" | "/" => String::new(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if path_and_query.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(invalid("spaces or control characters in the path"));
    }
    let host_header = match (host.contains(':'), port == default_port) {
        (true, true) => format!("[{host}]"),
        (true, false) => format!("[{host}]:{port}"),
        (false, true) => host.to_string(),
        (false, false) => format!("{host}:{port}"),
    };
    Ok(HttpUrl { tls, host: host.to_string(), port, path_and_query, host_header })
}

/// The parts of a response head the listeners use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub chunked: bool,
    pub content_length: Option<u64>,
    /// `Content-Type` value, lower-cased.
    pub content_type: Option<String>,
    /// Length of the head in the input, including the blank line.
    pub head_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("malformed status line")]
    StatusLine,
    #[error("malformed header line")]
    Header,
}

/// Parses a response head from the start of `buf`; `Ok(None)` if the blank line has not arrived.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, HeadError> {
    let Some(end) = memchr::memmem::find(buf, b"\n\r\n")
        .map(|i| i + 3)
        .or_else(|| memchr::memmem::find(buf, b"\n\n").map(|i| i + 2))
    else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::Header)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let status_line = lines.next().ok_or(HeadError::StatusLine)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::StatusLine);
    }
    let status = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(HeadError::StatusLine)?;
    let mut out =
        ResponseHead { status, chunked: false, content_length: None, content_type: None, head_len: end };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::Header)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked =
                value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            out.content_length = Some(value.parse().map_err(|_| HeadError::Header)?);
        } else if name.eq_ignore_ascii_case("content-type") {
            out.content_type = Some(value.to_ascii_lowercase());
        }
    }
    Ok(Some(out))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    InvalidSize,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size; `digits` so far.
    Size {
        value: u64,
        digits: u8,
    },
    /// Chunk extension or whitespace after the size: skip to the end of the line.
    SizeLineRest {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    /// Expecting CRLF (or LF) after chunk data.
    DataEnd {
        seen_cr: bool,
    },
    /// After the last chunk: trailer lines until a blank line.
    Trailer {
        line_empty: bool,
    },
    Done,
}

/// Incremental decoder of the chunked transfer coding.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self { state: ChunkState::Size { value: 0, digits: 0 } }
    }

    /// The last chunk and the trailers have been received.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, handing each piece of body data to `out` as a sub-slice of `input`.
    /// Bytes after the end of the body are ignored.
    pub fn decode<'a>(
        &mut self,
        mut input: &'a [u8],
        out: &mut impl FnMut(&'a [u8]),
    ) -> Result<(), ChunkError> {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                ChunkState::Data { remaining } => {
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len());
                    out(&input[..n]);
                    input = &input[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        ChunkState::DataEnd { seen_cr: false }
                    } else {
                        ChunkState::Data { remaining }
                    };
                }
                ChunkState::Size { value, digits } => {
                    input = rest;
                    self.state = match (byte as char).to_digit(16) {
                        Some(d) if digits < 15 => {
                            ChunkState::Size { value: value << 4 | u64::from(d), digits: digits + 1 }
                        }
                        Some(_) => return Err(ChunkError::InvalidSize),
                        None if digits == 0 => return Err(ChunkError::InvalidSize),
                        None => match byte {
                            b'\n' => Self::after_size(value),
                            b';' | b' ' | b'\t' | b'\r' => ChunkState::SizeLineRest { value },
                            _ => return Err(ChunkError::InvalidSize),
                        },
                    };
                }
                ChunkState::SizeLineRest { value } => match memchr::memchr(b'\n', input) {
                    Some(i) => {
                        input = &input[i + 1..];
                        self.state = Self::after_size(value);
                    }
                    None => input = &[],
                },
                ChunkState::DataEnd { seen_cr } => {
                    input = rest;
                    self.state = match byte {
                        b'\r' if !seen_cr => ChunkState::DataEnd { seen_cr: true },
                        b'\n' => ChunkState::Size { value: 0, digits: 0 },
                        _ => return Err(ChunkError::MissingCrlf),
                    };
                }
                ChunkState::Trailer { line_empty } => {
                    input = rest;
                    self.state = match byte {
                        b'\n' if line_empty => ChunkState::Done,
                        b'\n' => ChunkState::Trailer { line_empty: true },
                        b'\r' => ChunkState::Trailer { line_empty },
                        _ => ChunkState::Trailer { line_empty: false },
                    };
                }
                ChunkState::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn after_size(value: u64) -> ChunkState {
        if value == 0 {
            ChunkState::Trailer { line_empty: true }
        } else {
            ChunkState::Data { remaining: value }
        }
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    Chunked(ChunkedDecoder),
    /// `Content-Length`: bytes still to come.
    Length(u64),
    /// Neither: the body ends when the connection closes.
    UntilClose,
}

impl BodyDecoder {
    pub fn for_head(head: &ResponseHead) -> Self {
        if head.chunked {
            Self::Chunked(ChunkedDecoder::new())
        } else if let Some(len) = head.content_length {
            Self::Length(len)
        } else {
            Self::UntilClose
        }
    }

    /// The whole body has been received.
    pub fn is_done(&self) -> bool {
        match self {
            Self::Chunked(d) => d.is_done(),
            Self::Length(remaining) => *remaining == 0,
            Self::UntilClose => false,
        }
    }

    /// Decodes `input`, handing body data to `out` (see [`ChunkedDecoder::decode`]).
    pub fn decode<'a>(&mut self, input: &'a [u8], out: &mut impl FnMut(&'a [u8])) -> Result<(), ChunkError> {
        match self {
            Self::Chunked(d) => d.decode(input, out),
            Self::Length(remaining) => {
                let n = usize::try_from(*remaining).unwrap_or(usize::MAX).min(input.len());
                if n > 0 {
                    out(&input[..n]);
                }
                *remaining -= n as u64;
                Ok(())
            }
            Self::UntilClose => {
                if !input.is_empty() {
                    out(input);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_http_url("http://127.0.0.1:8080/api/audio/stream?max_fps=10").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8080);
        assert_eq!(u.path_and_query, "/api/audio/stream?max_fps=10");
        assert_eq!(u.host_header, "127.0.0.1:8080");

        let u = parse_http_url("http://[::1]:9000").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path_and_query.as_str()), ("::1", 9000, ""));
        assert_eq!(u.host_header, "[::1]:9000");

        let u = parse_http_url("HTTP://example.org/").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path_and_query.as_str()), ("example.org", 80, ""));
        assert_eq!(u.host_header, "example.org");

        let u = parse_http_url("http://h:1?format=pcm16").unwrap();
        assert_eq!(u.path_and_query, "/?format=pcm16");

        let u = parse_http_url("https://localhost:8443/api/audio/stream").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host_header.as_str(), u.path_and_query.as_str()),
            ("localhost:8443", "/api/audio/stream")
        );
        let u = parse_http_url("HTTPS://example.org").unwrap();
        assert_eq!((u.tls, u.port, u.host_header.as_str()), (true, 443, "example.org"));
        assert!(!parse_http_url("http://h:443/").unwrap().tls);
        assert_eq!(parse_http_url("http://h:443/").unwrap().host_header, "h:443");

        for bad in [
            "ftp://h/",
            "h:80/x",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://[::1/",
            "http://u@h/",
            "http://h/a b",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn parses_response_heads() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello";
        let head = parse_response_head(raw).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert!(head.chunked);
        assert_eq!(head.content_type.as_deref(), Some("text/event-stream"));
        assert_eq!(&raw[head.head_len..], b"5\r\nhello");

        assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n").unwrap(), None);
        let head = parse_response_head(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.status, head.chunked, head.content_length), (503, false, Some(12)));
        assert_eq!(parse_response_head(b"HTTP/1.1 429\n\n").unwrap().unwrap().status, 429);

        assert_eq!(parse_response_head(b"SSH-2.0-x\r\n\r\n"), Err(HeadError::StatusLine));
        assert_eq!(parse_response_head(b"HTTP/1.1 2000 OK\r\n\r\n"), Err(HeadError::StatusLine));
        assert_eq!(parse_response_head(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"), Err(HeadError::Header));
    }

    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            // Vary the spelling: upper/lower hex, an extension on some chunks.
            if i % 2 == 0 {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{n:X};ext=1\r\n").as_bytes());
            }
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        out.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        out
    }

    fn decode_pieces(pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        for p in pieces {
            d.decode(p, &mut |b| body.extend_from_slice(b)).unwrap();
        }
        (body, d.is_done())
    }

    #[test]
    fn chunked_decoding_split_anywhere() {
        let body: Vec<u8> = b"event: audio-frame\ndata: {\"frame_number\":1}\n\n".repeat(3);
        let wire = chunked(&body, &[7, 1, 30, 17]);
        for i in 0..=wire.len() {
            for j in i..=wire.len() {
                let (got, done) = decode_pieces(&[&wire[..i], &wire[i..j], &wire[j..]]);
                assert_eq!(got, body, "split at {i},{j}");
                assert!(done, "split at {i},{j}");
            }
        }
        let (got, done) = decode_pieces(&wire.chunks(1).collect::<Vec<_>>());
        assert_eq!((got, done), (body.clone(), true));
        let (got, done) = decode_pieces(&[&wire[..wire.len() - 1]]);
        assert_eq!((got, done), (body, false), "missing final CRLF: not done");
    }

    #[test]
    fn chunked_decoding_rejects_garbage() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.decode(b"zz\r\n", &mut |_| {}), Err(ChunkError::InvalidSize));
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.decode(b"\r\n", &mut |_| {}), Err(ChunkError::InvalidSize));
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.decode(b"3\r\nabcX", &mut |_| {}), Err(ChunkError::MissingCrlf));
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.decode(b"1234567890abcdef0\r\n", &mut |_| {}), Err(ChunkError::InvalidSize));
    }

    #[test]
    fn content_length_and_until_close_bodies() {
        let mut d = BodyDecoder::Length(5);
        let mut body = Vec::new();
        d.decode(b"abc", &mut |b| body.extend_from_slice(b)).unwrap();
        assert!(!d.is_done());
        d.decode(b"defgh", &mut |b| body.extend_from_slice(b)).unwrap();
        assert_eq!(body, b"abcde");
        assert!(d.is_done());

        let mut d = BodyDecoder::UntilClose;
        let mut body = Vec::new();
        d.decode(b"xyz", &mut |b| body.extend_from_slice(b)).unwrap();
        assert_eq!(body, b"xyz");
        assert!(!d.is_done());
    }
}
