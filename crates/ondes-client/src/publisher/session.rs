//! One WebSocket publish connection: a writer that takes, codes and sends frames as
//! [`SendFlow`] allows, and a reader that turns the server's `ack`, `backpressure`, `resume`
//! and `error` messages into flow events.
//!
//! Both halves run in one task (`select!`), so each send is awaited before the next frame is
//! taken — there are never overlapping sends — and the state they share sits behind a mutex
//! that is never held across an `.await`.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use indicatif::ProgressBar;
use ondes_core::proto::audio::{Codec, extend_seq};
use ondes_core::proto::control::ToPublisher;
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::connect::WsStream;
use super::encode::{Batch, FrameEncoder};
use super::fault::DropBeforeSend;
use super::flow::{SendFlow, Step};
use super::frame_log::FrameLog;
use super::report::SendReport;
use super::source::{Layout, SourceItem};
use ondes_core::frame_trace::SentFrame;

/// The start of the send: report times and flow time (µs) are measured from it.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    pub fn now_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }

    pub fn ms_since_start(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.0).as_secs_f64() * 1000.0
    }
}

/// State both halves touch.
pub struct Shared {
    pub flow: SendFlow,
    pub report: SendReport,
    /// Acks received on the current connection (progress resets the reconnect backoff).
    pub acks_this_session: u64,
    /// `--frame-log`: one line per frame, written when its fate is known.
    pub frame_log: Option<FrameLog>,
    /// Sequence numbers dropped before sending (fault injection): the server's cumulative
    /// acks cover them, the acknowledged count must not.
    pub skipped: Vec<u64>,
}

pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding the lock; if something did, the counters are still
    // the best account we have, so keep using them.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What only the writer touches; it outlives connections.
pub struct Writer {
    pub source: mpsc::Receiver<SourceItem>,
    pub source_done: bool,
    pub taken: u64,
    pub max_frames: Option<u64>,
    pub encoder: FrameEncoder,
    /// Frames taken but not yet sent; a failed send leaves them here for the next connection.
    pub pending: Batch,
    pub batch: usize,
    pub codec: Codec,
    pub layout: Layout,
    pub stop: Option<watch::Receiver<bool>>,
    pub ack_timeout: Duration,
    /// Fault injection (`drop_before_send`).
    pub dropper: DropBeforeSend,
    /// A frame was dropped after the pending batch: send the batch before taking the next
    /// frame (a message carries consecutive sequence numbers only).
    pub cut: bool,
    /// Dropped frames waiting for the pending batch to be logged first (log order).
    pub held: Vec<SentFrame>,
    /// The server's id of the current connection.
    pub conn: Option<u64>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The source ended and every frame was sent and acknowledged.
    Finished,
    /// The connection was lost; reconnecting may help.
    Lost(String),
    /// The server refused our audio, or the source failed; retrying will not help.
    Fatal(String),
}

/// Runs one connection until the send finishes or the connection ends.
pub async fn run(
    ws: WsStream,
    shared: &Mutex<Shared>,
    w: &mut Writer,
    clock: Clock,
    progress: Option<&ProgressBar>,
) -> SessionEnd {
    let (mut sink, mut stream) = ws.split();
    let notify = Notify::new();
    let end = tokio::select! {
        end = read(&mut stream, shared, &notify, clock) => end,
        end = write(&mut sink, shared, &notify, w, clock, progress) => end,
    };
    if end == SessionEnd::Finished {
        // the closing handshake: the server drops the session, its queue still plays out
        let _ = sink.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
    end
}

async fn read(
    stream: &mut SplitStream<WsStream>,
    shared: &Mutex<Shared>,
    notify: &Notify,
    clock: Clock,
) -> SessionEnd {
    loop {
        let msg = match stream.next().await {
            None => return SessionEnd::Lost("the server closed the connection".into()),
            Some(Err(e)) => return SessionEnd::Lost(format!("connection error: {e}")),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(t) => {
                let end = handle_text(&t, &mut lock(shared), clock);
                notify.notify_one();
                if let Some(end) = end {
                    return end;
                }
            }
            Message::Close(frame) => {
                let why = frame.map(|f| format!(" ({})", f.reason)).unwrap_or_default();
                return SessionEnd::Lost(format!("the server closed the connection{why}"));
            }
            _ => {}
        }
    }
}

/// Applies one server text message; returns how the session ends if it does. A message this
/// client does not know (or cannot read) changes nothing.
fn handle_text(text: &str, s: &mut Shared, clock: Clock) -> Option<SessionEnd> {
    match serde_json::from_str::<ToPublisher>(text).ok()? {
        ToPublisher::Ack(ack) => {
            // the server's 64-bit sequence restarts from the 32-bit wire value each session
            let seq = extend_seq(ack.seq as u32, s.flow.sent().checked_sub(1));
            s.flow.on_ack(seq);
            if let Some(log) = &mut s.frame_log {
                log.acked(seq, wall_us());
            }
            s.acks_this_session += 1;
            if s.report.time_to_first_ack_ms.is_none() {
                s.report.time_to_first_ack_ms = Some(clock.now_us() as f64 / 1000.0);
            }
        }
        ToPublisher::Backpressure(_) => s.flow.on_backpressure(clock.now_us()),
        ToPublisher::Resume(_) => s.flow.on_resume(clock.now_us()),
        ToPublisher::Error(e) => {
            *s.report.server_errors.entry(e.error.clone()).or_default() += 1;
            // every error a publish endpoint sends is about our messages, which would all
            // be refused the same way: stop rather than send audio that is thrown away
            return Some(SessionEnd::Fatal(format!(
                "the server refused our audio: {}: {}",
                e.error, e.message
            )));
        }
        ToPublisher::Info(_) => {}
    }
    None
}

/// Resolves when the stop signal is (or becomes) true; never without one.
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

fn wall_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Logs the frames of the batch just handed to the socket, then any frame dropped after it.
fn log_sent(log: &mut FrameLog, w: &mut Writer, send_us: i64) {
    for (i, (frame, capture_us)) in w.pending.frames.iter().zip(&w.pending.captures).enumerate() {
        log.sent(SentFrame {
            seq: w.pending.first_seq + i as u64,
            conn: w.conn,
            frame_us: w.layout.frame_us,
            capture_us: *capture_us,
            send_us: Some(send_us),
            ack_us: None,
            bytes: frame.len() as u32,
            queue_wait_ms: Some((send_us - capture_us) as f64 / 1000.0),
            sent: true,
            why: None,
        });
    }
    for f in w.held.drain(..) {
        log.not_sent(f);
    }
}

/// Fault injection: frame `seq` is not sent. It is counted and logged (after the pending
/// batch, which must go out first so that messages keep consecutive sequence numbers).
fn drop_frame(shared: &Mutex<Shared>, w: &mut Writer, seq: u64, capture_us: i64, bytes: usize) {
    let mut s = lock(shared);
    s.report.frames_dropped_before_send += 1;
    s.skipped.push(seq);
    let Some(log) = &mut s.frame_log else {
        w.cut = !w.pending.is_empty();
        return;
    };
    let frame = SentFrame {
        seq,
        conn: None,
        frame_us: w.layout.frame_us,
        capture_us,
        send_us: None,
        ack_us: None,
        bytes: bytes as u32,
        queue_wait_ms: None,
        sent: false,
        why: Some("fault_injection".into()),
    };
    if w.pending.is_empty() {
        log.not_sent(frame);
    } else {
        w.cut = true;
        w.held.push(frame);
    }
}

async fn write(
    sink: &mut SplitSink<WsStream, Message>,
    shared: &Mutex<Shared>,
    notify: &Notify,
    w: &mut Writer,
    clock: Clock,
    progress: Option<&ProgressBar>,
) -> SessionEnd {
    let no_ack = |w: &Writer| {
        SessionEnd::Lost(format!("no acknowledgement or resume from the server within {:?}", w.ack_timeout))
    };
    loop {
        if w.pending.len() >= w.batch || ((w.source_done || w.cut) && !w.pending.is_empty()) {
            let msg = match w.pending.message(w.codec, w.layout) {
                Ok(m) => m,
                Err(e) => return SessionEnd::Fatal(format!("cannot encode an audio message: {e}")),
            };
            let bytes = msg.len() as u64;
            if let Err(e) = sink.send(Message::Binary(msg.into())).await {
                return SessionEnd::Lost(format!("send failed: {e}"));
            }
            let mut guard = lock(shared);
            let s = &mut *guard;
            s.flow.on_sent(w.pending.end_seq());
            if let Some(log) = &mut s.frame_log {
                log_sent(log, w, wall_us());
            }
            w.cut = false;
            let r = &mut s.report;
            r.frames_sent += w.pending.len() as u64;
            r.messages_sent += 1;
            r.bytes_sent += bytes;
            r.time_to_first_frame_ms.get_or_insert(clock.now_us() as f64 / 1000.0);
            if let Some(p) = progress {
                let secs = r.frames_sent as f64 * f64::from(w.layout.frame_us) / 1e6;
                p.set_message(format!(
                    "{secs:.1} s sent, {} frames, {} backpressure wait(s)",
                    r.frames_sent,
                    s.flow.stats(0).backpressure_waits
                ));
            }
            w.pending = Batch::default();
            continue;
        }
        if w.source_done {
            if lock(shared).flow.all_acked() {
                return SessionEnd::Finished;
            }
            if tokio::time::timeout(w.ack_timeout, notify.notified()).await.is_err() {
                return no_ack(w);
            }
            continue;
        }
        let step = lock(shared).flow.poll(clock.now_us());
        match step {
            Step::Take { seq } => {
                let item = tokio::select! {
                    item = w.source.recv() => item,
                    _ = stopped(&mut w.stop) => None,
                };
                match item {
                    None => w.source_done = true,
                    Some(Err(e)) => return SessionEnd::Fatal(format!("source failed: {e}")),
                    Some(Ok((pcm, at))) => {
                        lock(shared).report.source_first_frame_ms.get_or_insert(clock.ms_since_start(at));
                        let coded = match w.encoder.encode(&pcm) {
                            Ok(c) => c,
                            Err(e) => return SessionEnd::Fatal(format!("encoding failed: {e}")),
                        };
                        let capture_us = wall_us();
                        if w.dropper.drop_next() {
                            drop_frame(shared, w, seq, capture_us, coded.len());
                        } else {
                            w.pending.push(seq, capture_us, coded);
                        }
                        w.taken += 1;
                        if w.max_frames.is_some_and(|m| w.taken >= m) {
                            w.source_done = true;
                        }
                    }
                }
            }
            Step::WaitUntil(t) => {
                let at = tokio::time::Instant::from_std(clock.0 + Duration::from_micros(t));
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = stopped(&mut w.stop) => w.source_done = true,
                }
            }
            Step::WaitForAck | Step::WaitForResume => {
                if tokio::time::timeout(w.ack_timeout, notify.notified()).await.is_err() {
                    return no_ack(w);
                }
            }
        }
    }
}
