//! Fuzz harnesses of the server's own parsers of strangers' bytes, shared by the fuzz targets
//! in `fuzz/` and by the test that replays their checked-in reproducers (as
//! `ondes_core::fuzz` does for the core's parsers).
//!
//! Each harness checks promises beyond "no panic": a refusal is a 4xx, never a 5xx; an Icecast
//! source's body reaches the HTTP layer byte for byte; every frame a body decodes to has the
//! stream's layout and finite samples; what a parser holds stays bounded.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use ondes_core::{FrameDuration, FrameSpec};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::api::hls::PlaylistQuery;
use crate::auth::{Authenticator, Permission};
use crate::config::Config;
use crate::http::QueryMap;
use crate::http::error::ApiError;
use crate::http::rung_query::{RungOffer, rung_choice};
use crate::hub::StreamHub;
use crate::icecast::conn::{SourceAwareStream, find_head_end};
use crate::ingest::QueuedFrame;
use crate::ingest::format::IngestParser;
use crate::ingest::icecast::auth::check_source_auth;
use crate::ingest::icecast::format::BodyFormat;
use crate::ingest::icecast::{decode, pipe};

/// The layout every harness's stream has: 48 kHz stereo, 20 ms frames.
fn spec() -> FrameSpec {
    // a layout Opus and the frame type accept: cannot fail
    FrameSpec::new(48_000, 2, FrameDuration::DEFAULT).expect("48 kHz stereo 20 ms is a valid layout")
}

/// Splits `data` at its first byte `sep`: (before, after); no `sep`: (all, empty).
fn split_at_byte(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn assert_client_error(e: &ApiError) {
    assert!(e.status.is_client_error(), "bad input answered {}: {}", e.status, e.message);
    assert!(!e.message.is_empty(), "a refusal says what to fix");
}

/// The configuration file (TOML, then `ONDES_*` overrides): NUL separates the TOML text from
/// `KEY=VALUE` lines. Whatever loads, validates, and its streams' ladders and layouts parse.
pub fn config(data: &[u8]) {
    let (toml, env) = split_at_byte(data, 0);
    let Ok(text) = std::str::from_utf8(toml) else { return };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    if let Ok(c) = Config::from_toml_and_env(text, &env) {
        for s in &c.streams {
            let _ = s.rung_list();
            let _ = s.frame_spec();
        }
    }
}

/// An HTTP ingest body: the first byte sets the chunk size, the first line is the
/// `Content-Type` (`audio/L16;rate=…`, `audio/wav`, `audio/ogg`), the rest the body.
pub fn http_ingest(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let (ct, body) = split_at_byte(rest, b'\n');
    let spec = spec();
    let Ok(mut parser) = IngestParser::new(&String::from_utf8_lossy(ct), spec) else { return };
    let check = |f: Vec<f32>| {
        assert_eq!(f.len(), spec.samples_per_frame(), "a frame of another size");
        assert!(f.iter().all(|s| s.is_finite() && s.abs() <= 1.0), "a sample out of range");
    };
    for chunk in body.chunks(usize::from(step).max(1)) {
        if parser.feed(chunk).is_err() {
            return;
        }
        // the WAV header is bounded (1 MB), audio is taken as it comes
        assert!(parser.held_bytes() <= (1 << 20) + chunk.len(), "the parser holds the body");
        while let Some(f) = parser.pop_frame() {
            check(f);
        }
    }
    let _ = parser.check_complete();
    while let Some(f) = parser.finish() {
        check(f);
    }
}

/// Bytes read from a slice in steps, as a socket would deliver them; writes are accepted.
struct SliceStream<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for SliceStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.step).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SliceStream<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Undoes HTTP/1.1 chunked framing; `None` when it is not exactly well-formed chunks ending
/// with the last chunk.
fn dechunk(mut s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = s.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&s[..line_end]).ok()?, 16).ok()?;
        s = &s[line_end + 2..];
        if size == 0 {
            return (s == b"\r\n").then_some(out);
        }
        out.extend_from_slice(s.get(..size)?);
        s = s.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// An Icecast source connection's bytes through the layer that lets source clients into the
/// HTTP server (`SOURCE`, or `PUT` with an unframed body, become a chunked `PUT`). The first
/// byte sets the read size. What comes out is the input untouched, or one well-formed
/// `PUT … HTTP/1.1` head (no second end of head inside it: nothing smuggled) followed by the
/// body, byte for byte.
pub fn icecast_source(data: &[u8]) {
    let Some((&step, input)) = data.split_first() else { return };
    let mut stream = SourceAwareStream::new(SliceStream { data: input, step: usize::from(step).max(1) });
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    // every read makes progress (the slice stream never pends), the last one is empty
    for _ in 0..=input.len() * 2 + 8 {
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut stream).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
            Poll::Ready(Ok(())) => out.extend_from_slice(rb.filled()),
            other => panic!("a read of a slice gave {other:?}"),
        }
    }
    if out == input {
        return;
    }
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a rewritten head ends") + 4;
    let (head, body) = out.split_at(end);
    assert!(head.starts_with(b"PUT "), "a rewrite is a PUT");
    assert!(!head[..end - 2].windows(2).any(|w| w == b"\n\n"), "a second end inside the head");
    let body_at = find_head_end(input).expect("a rewrite follows a whole head");
    let sent = &input[body_at..];
    if head.ends_with(b"transfer-encoding: chunked\r\n\r\n") {
        assert_eq!(dechunk(body).as_deref(), Some(sent), "the chunked body is not the source's body");
    } else {
        assert_eq!(body, sent, "the body is not the source's body");
    }
}

/// An Icecast source's body (Ogg Opus/Vorbis/FLAC, MP3, FLAC) through the decoders into the
/// stream's frames. The first byte: bits 0–1 the announced `Content-Type` (none, Ogg, MP3,
/// FLAC), the rest the chunk size. Every frame has the stream's layout and finite samples.
pub fn icecast_body(data: &[u8]) {
    let Some((&ctl, body)) = data.split_first() else { return };
    let announced =
        [None, Some(BodyFormat::Ogg), Some(BodyFormat::Mp3), Some(BodyFormat::Flac)][usize::from(ctl & 3)];
    let (tx, reader) = pipe::pipe();
    // the pipe holds PIPE_CHUNKS chunks: the body in at most that many, all queued at once
    let step = (usize::from(ctl >> 2) + 1).max(body.len().div_ceil(pipe::PIPE_CHUNKS));
    for chunk in body.chunks(step) {
        tx.try_send(Bytes::copy_from_slice(chunk)).expect("the pipe holds the whole body");
    }
    drop(tx);
    let spec = spec();
    let (frames_tx, mut frames_rx) = mpsc::channel::<QueuedFrame>(16);
    let drain = std::thread::spawn(move || {
        while let Some(f) = frames_rx.blocking_recv() {
            assert_eq!(f.pcm.len(), spec.samples_per_frame(), "a frame of another size");
            assert!(f.pcm.iter().all(|s| s.is_finite()), "a sample that is not a number");
        }
    });
    let _ = decode::run(reader, announced, spec, frames_tx, &mut |_| {});
    if let Err(panic) = drain.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A WHEP or WHIP offer's SDP, as checked before it reaches the WebRTC engine.
pub fn sdp_offer(data: &[u8]) {
    if let Ok(sdp) = std::str::from_utf8(data) {
        let _ = crate::webrtc::sdp::check_offer(sdp);
    }
}

/// A hub with a two-rung ladder, for the query parsers that name rungs.
fn query_hub() -> &'static Arc<StreamHub> {
    static HUB: OnceLock<Arc<StreamHub>> = OnceLock::new();
    HUB.get_or_init(|| StreamHub::new("fuzz", spec(), 1, 2000, &[32, 96]))
}

/// A listener's query string, through every parser of its parameters: rung and quality on
/// each transport, SSE options, WebSocket batch and resume, HLS blocking requests, the
/// token. Each answers a value or a 4xx.
pub fn query(data: &[u8]) {
    let Ok(q) = std::str::from_utf8(data) else { return };
    let q = match QueryMap::parse(q) {
        Ok(q) => q,
        Err(e) => return assert_client_error(&e),
    };
    let hub = query_hub();
    let offers = [
        RungOffer { transport: "WebSocket", pcm: true, lossless_elsewhere: None },
        RungOffer { transport: "WebRTC", pcm: false, lossless_elsewhere: Some("/{id}.flac") },
    ];
    for offer in offers {
        if let Err(e) = rung_choice(hub, &q, offer) {
            assert_client_error(&e);
        }
    }
    match crate::api::sse::parse_options(&q, 50.0, 2000) {
        Ok(o) => assert!(o.group >= 1, "an SSE event merges at least one frame"),
        Err(e) => assert_client_error(&e),
    }
    let _ = crate::api::sse::last_event_frame(&HeaderMap::new(), &q);
    for r in [crate::api::ws::parse_batch(&q), crate::api::ws::parse_last_seq(&q)] {
        if let Err(e) = r {
            assert_client_error(&e);
        }
    }
    match PlaylistQuery::parse(&q) {
        Ok(p) => assert!(p.part.is_none() || p.msn.is_some(), "a part without its segment"),
        Err(e) => assert_client_error(&e),
    }
    let _ = crate::http::admission::bearer_token(&HeaderMap::new(), &q);
}

/// Credentials: a bearer token (JWT) checked for a permission on a stream, and an Icecast
/// source's `Authorization: Basic` header. NUL separates the two. A token that verifies was
/// signed with the secret; the fuzzer cannot forge one.
pub fn auth(data: &[u8]) {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    let auth = AUTH.get_or_init(|| Authenticator::new(b"fuzzing secret"));
    let (token, basic) = split_at_byte(data, 0);
    if let Ok(token) = std::str::from_utf8(token) {
        // a forged token verifying would be a broken signature check
        assert!(auth.verify(token).is_err(), "a token the fuzzer made verified");
        let _ = auth.authorize(Some(token), Permission::Subscribe, Some("main"));
    }
    if let Ok(value) = HeaderValue::from_bytes(basic) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        let _ = check_source_auth(&headers, "hackme");
    }
}
