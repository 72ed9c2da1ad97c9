//! The writer for transports whose response body is a stream of messages (SSE, Ogg/HTTP).
//!
//! hyper polls the body when the socket can take more, so a listener that stops reading
//! stops being polled; when it reads again its session finds it behind and skips it to live
//! (counted). Each poll hands hyper one whole message — a shared `Bytes`, never copied.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Interval, MissedTickBehavior};

use super::session::{ListenerSession, Transport};

/// A transport that says something on a quiet connection now and then (SSE heartbeats).
pub trait Heartbeat {
    /// The next heartbeat message.
    fn heartbeat(&mut self) -> Bytes;
}

/// The body of a listener's response: its session's messages, as they come.
pub fn body_stream<T: Transport + Heartbeat + 'static>(
    session: ListenerSession<T>,
    heartbeat: Option<Duration>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let ticker = heartbeat.map(|period| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    futures_util::stream::unfold((session, ticker), |(mut s, mut t)| async move {
        next_chunk(&mut s, &mut t).await.map(|b| (Ok(b), (s, t)))
    })
}

async fn next_chunk<T: Transport + Heartbeat>(
    s: &mut ListenerSession<T>,
    ticker: &mut Option<Interval>,
) -> Option<Bytes> {
    loop {
        while let Some(m) = s.next_message() {
            if !m.bytes.is_empty() {
                return Some(m.bytes);
            }
        }
        if s.is_finished() {
            return None;
        }
        s.update();
        if !s.egress.is_idle() || s.is_finished() {
            continue;
        }
        tokio::select! {
            _ = s.changed() => {}
            _ = tick(ticker) => {
                s.guard.info.last_heartbeat_ms.store(crate::clock::now_ms(), std::sync::atomic::Ordering::Relaxed);
                let hb = s.transport.heartbeat();
                s.egress.push_control_now(hb);
            }
        }
    }
}

async fn tick(t: &mut Option<Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
