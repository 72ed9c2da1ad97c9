//! `GET /api/streams/{id}/publish` (alias `/api/audio/publish`): a WebSocket publisher.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{State, ws::rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use super::decode::MessageDecoder;
use super::{PublishSession, QueuedFrame};
use crate::http::admission::authorize_publisher;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::hub::StreamHub;
use crate::state::SharedState;
use ondes_core::playout::Push;

pub async fn publish(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // a bad or unknown id is told before the token is checked, as on every route
    app.streams.check_publishable(&id)?;
    let user = authorize_publisher(&app, &id, &headers, &q)?;
    app.publish_layout(&id)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request("not_websocket", format!("this endpoint speaks WebSocket (ws://…): {e}"))
    })?;
    // creates the stream when its id matches a template
    let (stream, session) = app.claim_publisher(&id)?;
    let hub = stream.hub.clone();
    tracing::info!(stream = %id, %user, "publisher connected");
    let decode_timer = app.metrics.stage(crate::metrics::Stage::Decode, &id);
    let shutdown = app.shutdown.clone();
    let connection = app.connections.allocate_id();
    let trace = app.traces.open(connection, &id, crate::trace::TraceKind::Publisher);
    let conn = Conn { id: connection, trace };
    Ok(upgrade.on_upgrade(move |socket| run(socket, hub, session, conn, decode_timer, shutdown)))
}

/// The publisher connection's id and frame trace.
struct Conn {
    id: u64,
    trace: Option<crate::trace::TraceGuard>,
}

/// Serves the publisher until it leaves or the server stops. A stopping server closes the
/// socket with 1001 (going away) at once, even while the publisher is held back by
/// backpressure, so that it knows to reconnect and the shutdown waits for nothing.
async fn run(
    socket: WebSocket,
    hub: Arc<StreamHub>,
    session: PublishSession,
    conn: Conn,
    decode_timer: crate::metrics::StageHandle,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (mut tx, rx) = socket.split();
    let stopping = tokio::select! {
        _ = pump(&mut tx, rx, &hub, &session, &conn, &decode_timer) => false,
        _ = async {
            if shutdown.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await // no server to stop: serve on
            }
        } => true,
    };
    if stopping {
        let close = axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::AWAY,
            reason: "the server is shutting down; reconnect in a few seconds".into(),
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), tx.send(Message::Close(Some(close))))
            .await;
    }
    tracing::info!(stream = %hub.id, "publisher disconnected");
    drop(session);
}

type WsSink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Reads the publisher's messages into its playout queue, with acks, errors and
/// backpressure notices, until it leaves.
async fn pump(
    tx: &mut WsSink,
    mut rx: futures_util::stream::SplitStream<WebSocket>,
    hub: &Arc<StreamHub>,
    session: &PublishSession,
    conn: &Conn,
    decode_timer: &crate::metrics::StageHandle,
) {
    let publisher = session.publisher.clone();
    let info = json!({
        "type": "info", "protocol": ondes_core::proto::audio::VERSION, "stream": hub.id,
        "sample_rate": hub.spec.sample_rate, "channels": hub.spec.channels,
        "frame_ms": hub.spec.duration.as_ms_f64(),
        "max_queue_ms": publisher.stats().max_queue_ms,
        "connection": conn.id,
    });
    if tx.send(Message::Text(info.to_string().into())).await.is_err() {
        return;
    }
    let mut decoder = MessageDecoder::new(hub.spec);
    while let Some(Ok(msg)) = rx.next().await {
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            Message::Text(_) => {
                publisher.rejected_messages.fetch_add(1, Ordering::Relaxed);
                let e = json!({"type": "error", "error": "unexpected_text",
                    "message": "publishers send binary audio messages (docs/protocol.md)"});
                if tx.send(Message::Text(e.to_string().into())).await.is_err() {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        let t0 = std::time::Instant::now();
        let decoded = decoder.decode(&bytes);
        decode_timer.record(t0.elapsed());
        let frames = match decoded {
            Ok(f) => f,
            Err(e) => {
                publisher.rejected_messages.fetch_add(1, Ordering::Relaxed);
                publisher.decode_errors.fetch_add(1, Ordering::Relaxed);
                let msg = json!({"type": "error", "error": e.code(), "message": e.to_string()});
                if tx.send(Message::Text(msg.to_string().into())).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let mut last_seq = None;
        for f in frames {
            if f.concealed {
                publisher.concealed_frames.fetch_add(1, Ordering::Relaxed);
            }
            let seq = f.seq;
            if let Some(t) = &conn.trace {
                t.trace.arrived(seq, f.bytes);
            }
            let mut frame = QueuedFrame { pcm: f.pcm, opus: f.opus };
            loop {
                match publisher.offer(seq, frame) {
                    Push::Accepted => {
                        last_seq = Some(seq);
                        break;
                    }
                    Push::OutOfOrder { expected } => {
                        let msg = json!({"type": "error", "error": "out_of_order",
                            "message": format!("frame {seq} arrived after frame {}; send frames in order", expected - 1)});
                        if tx.send(Message::Text(msg.to_string().into())).await.is_err() {
                            return;
                        }
                        break;
                    }
                    Push::Full(back) => {
                        // say so now, then stop reading the socket until the queue has drained
                        // to half: TCP flow control holds the publisher back meanwhile
                        frame = back;
                        publisher.backpressure_events.fetch_add(1, Ordering::Relaxed);
                        let stats = publisher.stats();
                        let msg = json!({"type": "backpressure", "queue_ms": stats.queue_ms,
                            "max_queue_ms": stats.max_queue_ms, "resume_below_ms": stats.max_queue_ms / 2.0});
                        if tx.send(Message::Text(msg.to_string().into())).await.is_err() {
                            return;
                        }
                        publisher.wait_for_room().await;
                        let msg = json!({"type": "resume", "queue_ms": publisher.queue_ms()});
                        if tx.send(Message::Text(msg.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if let Some(seq) = last_seq {
            let ack = json!({"type": "ack", "seq": seq, "queue_ms": publisher.queue_ms()});
            if tx.send(Message::Text(ack.to_string().into())).await.is_err() {
                break;
            }
        }
    }
}
