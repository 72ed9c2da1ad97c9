//! One HTTP/1.1 keep-alive connection that sends `GET`s one after another and reads whole
//! responses (`Content-Length` or chunked), as a segment-streaming player does. A request on
//! a connection the server closed while idle is sent again once on a new connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Conn, Dialer, io_reason};
use crate::bench::http1::{BodyDecoder, parse_response_head};

/// Longest response accepted (a playlist or a part is a few KB).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Bytes read from the socket for it (head included).
    pub wire_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct KeepAlive {
    dialer: Dialer,
    host_header: String,
    auth: Option<String>,
    stream: Option<Conn>,
    /// Bytes read past the end of the previous response.
    buf: Vec<u8>,
    /// New connections opened after the first.
    pub reconnects: u64,
}

impl KeepAlive {
    pub fn new(dialer: Dialer, host_header: &str, token: Option<&str>) -> Self {
        Self {
            dialer,
            host_header: host_header.to_string(),
            auth: token.map(|t| format!("Authorization: Bearer {t}\r\n")),
            stream: None,
            buf: Vec::new(),
            reconnects: 0,
        }
    }

    /// `GET path`; the error is a failure reason (`refused`, `reset`, `bad_response`, ...).
    pub async fn get(&mut self, path: &str) -> Result<Response, String> {
        let reused = self.stream.is_some();
        match self.try_get(path).await {
            Ok(r) => Ok(r),
            // the server may close an idle keep-alive connection: one retry on a new one
            Err(e) if reused && (e == "closed" || e == "reset" || e == "io: BrokenPipe") => {
                self.stream = None;
                self.reconnects += 1;
                self.try_get(path).await
            }
            Err(e) => Err(e),
        }
    }

    async fn try_get(&mut self, path: &str) -> Result<Response, String> {
        let fresh = self.stream.is_none();
        if fresh {
            self.buf.clear();
            self.stream = Some(self.dialer.connect().await?);
        }
        let r = self.exchange(path).await;
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn exchange(&mut self, path: &str) -> Result<Response, String> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n{}User-Agent: ondes-bench/{}\r\n\r\n",
            self.host_header,
            self.auth.as_deref().unwrap_or(""),
            env!("CARGO_PKG_VERSION")
        );
        let Some(stream) = self.stream.as_mut() else { return Err("closed".into()) };
        stream.write_all(request.as_bytes()).await.map_err(|e| io_reason(&e))?;
        stream.flush().await.map_err(|e| io_reason(&e))?;
        let mut wire = 0u64;
        let head = loop {
            if let Some(head) = parse_response_head(&self.buf).map_err(|_| "bad_response".to_string())? {
                break head;
            }
            if self.buf.len() > MAX_RESPONSE {
                return Err("bad_response".into());
            }
            self.buf.reserve(4096);
            let n = stream.read_buf(&mut self.buf).await.map_err(|e| io_reason(&e))?;
            if n == 0 {
                return Err("closed".into());
            }
            wire += n as u64;
        };
        let mut decoder = BodyDecoder::for_head(&head);
        if matches!(decoder, BodyDecoder::UntilClose) {
            return Err("response_without_length".into());
        }
        let mut body = Vec::new();
        let mut pending = self.buf.split_off(head.head_len);
        self.buf.clear();
        loop {
            let mut consumed = 0usize;
            // body bytes are sub-slices of `pending`; what follows the body stays for the next
            // response (a server does not pipeline, but be exact)
            let base = pending.as_ptr() as usize;
            decoder
                .decode(&pending, &mut |piece: &[u8]| {
                    body.extend_from_slice(piece);
                    consumed = piece.as_ptr() as usize - base + piece.len();
                })
                .map_err(|_| "bad_chunked_encoding".to_string())?;
            if decoder.is_done() {
                if let BodyDecoder::Length(_) = decoder {
                    self.buf = pending.split_off(consumed.min(pending.len()));
                }
                break;
            }
            if body.len() > MAX_RESPONSE {
                return Err("bad_response".into());
            }
            pending.clear();
            pending.reserve(8192);
            let n = stream.read_buf(&mut pending).await.map_err(|e| io_reason(&e))?;
            if n == 0 {
                return Err("closed".into());
            }
            wire += n as u64;
        }
        Ok(Response { status: head.status, body, wire_bytes: wire })
    }
}
