//! Letting Icecast source clients through the HTTP/1.1 server.
//!
//! Source clients do not speak quite HTTP/1.1. ffmpeg's `icecast://` sends
//! `PUT /mount HTTP/1.1` with `Expect: 100-continue` and then streams the body with **neither
//! `Content-Length` nor `Transfer-Encoding`** (the body ends when the connection closes);
//! libshout-era clients send `SOURCE /mount HTTP/1.0` (or `ICE/1.0`) the same way. hyper,
//! correctly for HTTP/1.1, reads such a request as having an empty body and would then try to
//! parse the audio as the next request.
//!
//! The connection router (`crate::http::accept`) passes every connection that is not a
//! listener's to hyper as a [`SourceAwareStream`], which looks at the first request head of
//! the connection only. When it is `SOURCE`, or a `PUT`
//! with no body framing, it rewrites the head to `PUT … HTTP/1.1` with
//! `Transfer-Encoding: chunked` (and `x-ondes-source-method: SOURCE` for the legacy method)
//! and frames the rest of the connection's bytes as chunks, ending with the last chunk when
//! the client closes. The router then sees an ordinary streaming `PUT`, and hyper's own
//! handling of `Expect: 100-continue`, body streaming and backpressure applies.
//!
//! Every other connection is passed through after its first read: one copy of the first
//! bytes, then plain delegation. A source client must open its own connection for its
//! request, as every known client does (only the first request of a connection is looked at).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The header added to a rewritten legacy `SOURCE` request, so the handler can log it.
pub const SOURCE_METHOD_HEADER: &str = "x-ondes-source-method";

/// Longest request head examined; longer heads are passed through untouched.
const MAX_HEAD: usize = 16 * 1024;

enum Mode {
    /// Reading the first request head, which may be a source request.
    Sniff(Vec<u8>),
    /// Handing prepared bytes to the reader, then continuing in `then`.
    Replay { out: Vec<u8>, pos: usize, then: Box<Mode> },
    /// Plain delegation.
    Pass,
    /// Chunk-framing the body of a rewritten source request.
    Chunk,
    /// The rewritten body has ended (last chunk sent).
    Eof,
}

impl Mode {
    /// What to do next with the bytes `seen` so far, given the verdict on them.
    fn after(seen: Vec<u8>, verdict: Verdict) -> Mode {
        match verdict {
            Verdict::NeedMore => Mode::Sniff(seen),
            Verdict::Pass if seen.is_empty() => Mode::Pass,
            Verdict::Pass => Mode::Replay { out: seen, pos: 0, then: Box::new(Mode::Pass) },
            Verdict::Rewrite { mut head, body_at, chunked } => {
                if chunked {
                    push_chunk(&mut head, &seen[body_at..]);
                } else {
                    head.extend_from_slice(&seen[body_at..]);
                }
                let then = if chunked { Mode::Chunk } else { Mode::Pass };
                Mode::Replay { out: head, pos: 0, then: Box::new(then) }
            }
        }
    }
}

/// A connection (plain TCP, or TLS over it) that turns unframed source bodies into chunked
/// ones (see the module docs).
pub struct SourceAwareStream<S = TcpStream> {
    inner: S,
    mode: Mode,
}

impl<S> SourceAwareStream<S> {
    pub fn new(inner: S) -> Self {
        SourceAwareStream { inner, mode: Mode::Sniff(Vec::new()) }
    }

    /// A connection whose first bytes, `seen`, were already read (by the connection router).
    pub fn with_prefix(inner: S, seen: Vec<u8>) -> Self {
        let verdict = if seen.is_empty() { Verdict::NeedMore } else { examine(&seen) };
        SourceAwareStream { inner, mode: Mode::after(seen, verdict) }
    }

    /// The underlying stream (e.g. to set socket options).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// What to do with a (possibly partial) first request head.
#[derive(Debug, PartialEq)]
enum Verdict {
    NeedMore,
    Pass,
    /// The rewritten head, and where the body starts in the input.
    Rewrite {
        head: Vec<u8>,
        body_at: usize,
        chunked: bool,
    },
}

fn could_be_source(buf: &[u8]) -> bool {
    [&b"PUT "[..], &b"SOURCE "[..]].iter().any(|p| {
        let n = p.len().min(buf.len());
        buf[..n] == p[..n]
    })
}

/// Decides about the first request head in `buf` (pure, for tests).
fn examine(buf: &[u8]) -> Verdict {
    if !could_be_source(buf) {
        return Verdict::Pass;
    }
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD { Verdict::Pass } else { Verdict::NeedMore };
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else { return Verdict::Pass };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let Some(request_line) = lines.next() else { return Verdict::Pass };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(_version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Verdict::Pass;
    };
    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let has = |name: &str| {
        headers.iter().any(|h| h.split_once(':').is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name)))
    };
    let framed = has("content-length") || has("transfer-encoding");
    let legacy = method == "SOURCE";
    if !legacy && framed {
        return Verdict::Pass;
    }
    let mut out = format!("PUT {target} HTTP/1.1\r\n");
    for h in &headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    if legacy {
        out.push_str(SOURCE_METHOD_HEADER);
        out.push_str(": SOURCE\r\n");
    }
    if !framed {
        out.push_str("transfer-encoding: chunked\r\n");
    }
    out.push_str("\r\n");
    Verdict::Rewrite { head: out.into_bytes(), body_at: end, chunked: !framed }
}

pub(crate) fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Appends `data` as one HTTP/1.1 chunk.
fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SourceAwareStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.mode {
                Mode::Pass => return Pin::new(&mut this.inner).poll_read(cx, buf),
                Mode::Eof => return Poll::Ready(Ok(())),
                Mode::Replay { out, pos, then } => {
                    let n = (out.len() - *pos).min(buf.remaining());
                    buf.put_slice(&out[*pos..*pos + n]);
                    *pos += n;
                    if *pos == out.len() {
                        this.mode = std::mem::replace(then.as_mut(), Mode::Pass);
                    }
                    return Poll::Ready(Ok(()));
                }
                Mode::Sniff(seen) => {
                    let mut tmp = [0u8; 4096];
                    let mut rb = ReadBuf::new(&mut tmp);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                    let got = rb.filled();
                    let eof = got.is_empty();
                    seen.extend_from_slice(got);
                    let verdict = if eof { Verdict::Pass } else { examine(seen) };
                    let seen = std::mem::take(seen);
                    this.mode = Mode::after(seen, verdict);
                }
                Mode::Chunk => {
                    let mut tmp = vec![0u8; buf.remaining().clamp(64, 16 * 1024)];
                    let mut rb = ReadBuf::new(&mut tmp);
                    match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb)) {
                        Ok(()) => {}
                        // a source ends its body by closing the connection; closing with our
                        // unread response in its buffer makes that a reset: still the end
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    let got = rb.filled();
                    let mut out = Vec::with_capacity(got.len() + 16);
                    let then = if got.is_empty() {
                        out.extend_from_slice(b"0\r\n\r\n");
                        Mode::Eof
                    } else {
                        push_chunk(&mut out, got);
                        Mode::Chunk
                    };
                    this.mode = Mode::Replay { out, pos: 0, then: Box::new(then) };
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SourceAwareStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(input: &[u8]) -> (String, Vec<u8>) {
        match examine(input) {
            Verdict::Rewrite { head, body_at, .. } => {
                (String::from_utf8(head).unwrap(), input[body_at..].to_vec())
            }
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }

    #[test]
    fn ordinary_requests_pass_at_once() {
        assert_eq!(examine(b"GET /main HTTP/1.1\r\n"), Verdict::Pass);
        assert_eq!(examine(b"POST /api"), Verdict::Pass);
        assert_eq!(examine(b"PU"), Verdict::NeedMore);
        assert_eq!(examine(b"PUT /x HTTP/1.1\r\nHost: a\r\n"), Verdict::NeedMore);
        let framed = b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(examine(framed), Verdict::Pass);
        let chunked = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(examine(chunked), Verdict::Pass);
    }

    #[test]
    fn an_unframed_put_becomes_chunked() {
        let (head, body) = rewrite(b"PUT /main HTTP/1.1\r\nExpect: 100-continue\r\nHost: h\r\n\r\nOggS");
        assert!(head.starts_with("PUT /main HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Expect: 100-continue\r\n"));
        assert!(head.ends_with("transfer-encoding: chunked\r\n\r\n"), "{head}");
        assert_eq!(body, b"OggS");
    }

    #[test]
    fn legacy_source_becomes_put_over_http_1_1() {
        let (head, _) = rewrite(b"SOURCE /live ICE/1.0\nAuthorization: Basic eA==\n\n");
        assert!(head.starts_with("PUT /live HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("x-ondes-source-method: SOURCE\r\n"));
        assert!(head.contains("transfer-encoding: chunked"));
    }

    #[test]
    fn chunks_are_framed() {
        let mut out = Vec::new();
        push_chunk(&mut out, &[7u8; 26]);
        assert_eq!(&out[..4], b"1a\r\n");
        assert_eq!(&out[out.len() - 2..], b"\r\n");
        push_chunk(&mut out, &[]);
        assert_eq!(out.len(), 4 + 26 + 2, "an empty read is not a last chunk");
    }
}
