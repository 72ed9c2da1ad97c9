//! WebSocket listeners: binary audio messages per docs/protocol.md, decoded with the one
//! wire decoder in `ondes_core::proto::audio`. Only the header is needed for the counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use ondes_core::proto::audio::decode_audio;
use ondes_core::proto::control::ToListener;
use tokio::sync::watch;
use tokio_rustls::rustls::ClientConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{ReadEnd, RunShared};
use crate::bench::sse_scan::AudioMeta;
use crate::bench::stats::{ListenerStats, Window};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug)]
pub(crate) struct WsTarget {
    url: String,
    token: Option<String>,
    /// `wss://`: the one client configuration (see `super::Dialer`).
    tls: Option<Arc<ClientConfig>>,
}

impl WsTarget {
    /// `host_header` is the `host:port` part, `path_and_query` the rest; with `tls`, the URL
    /// is `wss://`.
    pub fn new(
        host_header: &str,
        path_and_query: &str,
        token: Option<&str>,
        tls: Option<Arc<ClientConfig>>,
    ) -> Self {
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        Self {
            url: format!("{scheme}://{host_header}{path_and_query}"),
            token: token.map(str::to_string),
            tls,
        }
    }
}

pub(crate) struct WsConnection {
    ws: Ws,
    last_seq: Option<u64>,
}

pub(crate) async fn connect(target: &WsTarget) -> Result<WsConnection, String> {
    let mut req = target.url.as_str().into_client_request().map_err(|e| format!("bad_url: {e}"))?;
    if let Some(t) = &target.token {
        let v = format!("Bearer {t}").parse().map_err(|_| "bad_token".to_string())?;
        req.headers_mut().insert("authorization", v);
    }
    // small buffers: thousands of listeners share one process
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024).write_buffer_size(0);
    let connector = target.tls.as_ref().map(|c| tokio_tungstenite::Connector::Rustls(Arc::clone(c)));
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, connector)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => format!("http_{}", resp.status().as_u16()),
            // a TLS failure is an I/O error holding the rustls error (see `super::io_reason`)
            tokio_tungstenite::tungstenite::Error::Io(e)
                if target.tls.is_some() && e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                "tls_handshake".to_string()
            }
            tokio_tungstenite::tungstenite::Error::Io(e) => super::io_reason(&e),
            e => format!("ws: {e}"),
        })?;
    Ok(WsConnection { ws, last_seq: None })
}

impl WsConnection {
    pub async fn run(
        &mut self,
        shared: &RunShared,
        stats: &mut ListenerStats,
        stop: &mut watch::Receiver<bool>,
    ) -> ReadEnd {
        loop {
            let msg = tokio::select! {
                biased;
                _ = stop.changed() => return ReadEnd::Stopped,
                m = self.ws.next() => m,
            };
            let msg = match msg {
                None => return ReadEnd::Closed,
                Some(Err(e)) => return ReadEnd::Failed(format!("ws: {e}")),
                Some(Ok(m)) => m,
            };
            let counting = stats.follow_window(shared.window());
            match msg {
                Message::Binary(b) => {
                    if counting {
                        stats.counters.bytes += b.len() as u64;
                    }
                    let Ok(m) = decode_audio(&b, self.last_seq) else {
                        stats.counters.unparsed += 1;
                        continue;
                    };
                    let h = m.header;
                    self.last_seq = Some(h.first_seq + u64::from(h.frame_count) - 1);
                    if stats.window == Window::After {
                        continue;
                    }
                    let meta = AudioMeta {
                        frame_number: h.first_seq,
                        timestamp_ms: h.capture_us as f64 / 1000.0,
                        frames: u32::from(h.frame_count),
                        duration_ms: Some(h.frame_us as f64 / 1000.0),
                    };
                    let now = Instant::now();
                    stats.on_audio(&meta, now);
                    if counting {
                        let wall_ms = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                        // latency of the newest frame in the message: what the server adds,
                        // not the batching a listener asked for
                        let newest =
                            meta.timestamp_ms + (f64::from(meta.frames) - 1.0) * h.frame_us as f64 / 1000.0;
                        shared.latency.record_ms(wall_ms - newest);
                        shared.frames.fetch_add(u64::from(meta.frames), Ordering::Relaxed);
                    }
                    if shared.frame_duration_us.load(Ordering::Relaxed) == 0 {
                        shared.frame_duration_us.store(u64::from(h.frame_us), Ordering::Relaxed);
                    }
                }
                Message::Text(t) => match serde_json::from_str::<ToListener>(&t) {
                    Ok(ToListener::Status(_)) => stats.counters.status_events += 1,
                    Ok(ToListener::Error(_)) => stats.counters.error_events += 1,
                    // info, rung, pong, or a message this load generator does not know
                    _ => {}
                },
                Message::Close(_) => return ReadEnd::Closed,
                _ => {}
            }
        }
    }
}
