//! Opening a WebSocket publish connection and reading the server's `info`.
//!
//! Failures are sorted into those worth retrying (the server is restarting, another
//! publisher still holds the slot, a network error) and those that will not change by
//! waiting (wrong token, no such stream, a stream that is not a publish stream).

use std::time::Duration;

use ondes_core::proto::control::{ErrorMessage, ToPublisher};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use futures_util::StreamExt;

use super::source::Layout;
use crate::tls::{TlsOptions, explain, is_tls_url};

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The playout queue a server's `info` implies when it does not say (`server.publish_queue_ms`'s
/// default).
const DEFAULT_MAX_QUEUE_MS: f64 = 1000.0;

/// What the server's `info` message says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerInfo {
    pub layout: Layout,
    pub max_queue_ms: f64,
    /// The server's id for the connection (for its frame trace), when it says.
    pub connection: Option<u64>,
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Worth another attempt after a backoff delay.
    Retry(String),
    /// Will not succeed by retrying.
    Fatal(String),
}

/// The JSON error body of a refused handshake, as (code, message); empty when there is none.
fn error_body(body: Option<&Vec<u8>>) -> (String, String) {
    match body.and_then(|b| serde_json::from_slice::<ErrorMessage>(b).ok()) {
        Some(e) => (e.error, e.message),
        None => (String::new(), String::new()),
    }
}

/// Connects to `url` with `token` and waits for `info` (each step bounded by `timeout`).
pub async fn connect(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
    tls: &TlsOptions,
) -> Result<(WsStream, ServerInfo), ConnectError> {
    // the connector is used for wss:// only
    let connector = match is_tls_url(url) {
        true => Some(tls.ws_connector().map_err(|e| ConnectError::Fatal(e.to_string()))?),
        false => None,
    };
    let mut req =
        url.into_client_request().map_err(|e| ConnectError::Fatal(format!("bad URL {url}: {e}")))?;
    if let Some(t) = token {
        let value = format!("Bearer {t}").parse().map_err(|_| {
            ConnectError::Fatal("the token contains characters not allowed in a header".into())
        })?;
        req.headers_mut().insert("authorization", value);
    }
    let handshake = tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector);
    let (mut ws, _) = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => return Err(ConnectError::Retry(format!("no handshake within {timeout:?}"))),
        Ok(Ok(ok)) => ok,
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let (code, message) = error_body(resp.body().as_ref());
            let what = format!("HTTP {status} {code}: {message}");
            // 409 publisher_busy: the previous session (ours, after a network failure) may not
            // have been noticed by the server yet. 5xx and 429: the server is overloaded or
            // restarting.
            return Err(if code == "publisher_busy" || status >= 500 || status == 429 {
                ConnectError::Retry(what)
            } else {
                ConnectError::Fatal(what)
            });
        }
        Ok(Err(tungstenite::Error::Url(e))) => {
            return Err(ConnectError::Fatal(format!("bad URL {url}: {e}")));
        }
        // an untrusted certificate will not become trusted by retrying
        Ok(Err(e @ tungstenite::Error::Tls(_))) => return Err(ConnectError::Fatal(explain(&e))),
        Ok(Err(e)) => return Err(ConnectError::Retry(explain(&e))),
    };
    let info = loop {
        match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => return Err(ConnectError::Retry("no info message from the server".into())),
            Ok(None) | Ok(Some(Err(_))) => {
                return Err(ConnectError::Retry("the connection closed before the info message".into()));
            }
            Ok(Some(Ok(Message::Text(t)))) => break parse_info(&t)?,
            Ok(Some(Ok(_))) => continue,
        }
    };
    Ok((ws, info))
}

fn parse_info(text: &str) -> Result<ServerInfo, ConnectError> {
    match serde_json::from_str::<ToPublisher>(text) {
        Ok(ToPublisher::Info(i)) => Ok(ServerInfo {
            layout: Layout {
                sample_rate: i.sample_rate,
                channels: i.channels,
                frame_us: (i.frame_ms * 1000.0).round() as u32,
            },
            max_queue_ms: i.max_queue_ms.unwrap_or(DEFAULT_MAX_QUEUE_MS),
            connection: i.connection,
        }),
        Ok(ToPublisher::Error(e)) => Err(ConnectError::Fatal(format!("{}: {}", e.error, e.message))),
        Ok(_) | Err(_) => Err(ConnectError::Fatal(format!(
            "expected the server's info message with the stream layout, got {text:.200}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_gives_the_layout() {
        let i = parse_info(
            r#"{"type":"info","protocol":1,"stream":"main","sample_rate":48000,"channels":2,"frame_ms":2.5,"max_queue_ms":400}"#,
        )
        .unwrap();
        assert_eq!(i.layout, Layout { sample_rate: 48_000, channels: 2, frame_us: 2_500 });
        assert_eq!(i.max_queue_ms, 400.0);
        assert!(matches!(parse_info(r#"{"type":"info"}"#), Err(ConnectError::Fatal(_))));
    }
}
