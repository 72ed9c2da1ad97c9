//! One direction of a proxied TCP connection through the link model.
//!
//! The reader takes bytes from one socket only while the model's bottleneck buffer has room
//! for another full segment, so a fast sender is held back by TCP flow control exactly as a
//! slow link would hold it back; it cuts them into MSS-sized segments and asks the model
//! when each arrives. The writer sleeps until then and writes the bytes, in order (the model
//! is in stream mode: arrivals never go backwards, a late segment holds back the ones
//! behind it). TCP cannot lose bytes, so a loss in the model is a late arrival: the
//! retransmission penalty of [`ondes_sim::netmodel::LinkParams::retransmit_penalty_us`].
//!
//! The model counts TCP/IP headers ([`TCP_IP_OVERHEAD`] per segment) against the link's
//! rate, so the payload throughput through the proxy is the profile's rate × 1448/1500.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use ondes_sim::netmodel::{Link, Outcome, SenderView, TCP_IP_OVERHEAD, TCP_MSS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, sleep_until};

use super::stats::NetsimStats;
use super::ws_drop::WsMessageDropper;

/// Which way the bytes go (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    Up,
    Down,
}

/// Microseconds since the proxy started: the model's clock.
pub(crate) fn now_us(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

fn at(origin: Instant, us: u64) -> Instant {
    origin + Duration::from_micros(us)
}

/// Moves bytes from `rd` to `wr` through `link` until `rd` ends or either side fails; then
/// shuts `wr` down for writing (a half-close travels through the proxy). `view`, if any,
/// learns what became of each segment (the modelled sender's `TCP_INFO`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn pump(
    mut rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    mut link: Link,
    origin: Instant,
    way: Way,
    stats: Arc<NetsimStats>,
    mut filter: Option<WsMessageDropper>,
    view: Option<Arc<Mutex<SenderView>>>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<(u64, Bytes)>();
    let writer = tokio::spawn(deliver(rx, wr, origin, way, stats.clone()));
    let mut buf = vec![0u8; 64 * 1024];
    let mut filtered = Vec::new();
    let full = TCP_MSS + TCP_IP_OVERHEAD;
    'read: loop {
        if !wait_for_room(&link, full, origin, &stats).await {
            break;
        }
        // take what the buffer has room for (at least one segment), as a TCP window would
        let room = link.room(now_us(origin)).min(buf.len() as u64) as usize;
        let want = (room / full * TCP_MSS).clamp(TCP_MSS, buf.len());
        let n = match rd.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data: &[u8] = match &mut filter {
            Some(f) => {
                let before = (f.dropped, f.passed);
                filtered.clear();
                f.feed(&buf[..n], &mut filtered);
                NetsimStats::add(&stats.ws_messages_dropped, f.dropped - before.0);
                NetsimStats::add(&stats.ws_messages_passed, f.passed - before.1);
                &filtered
            }
            None => &buf[..n],
        };
        for seg in data.chunks(TCP_MSS) {
            if !wait_for_room(&link, seg.len() + TCP_IP_OVERHEAD, origin, &stats).await {
                break 'read;
            }
            let sent = now_us(origin);
            let Outcome::Delivered(d) = link.send(seg.len() + TCP_IP_OVERHEAD, sent) else {
                break 'read; // the link is down for good
            };
            NetsimStats::add(&stats.segments, 1);
            if let Some(v) = &view {
                v.lock().unwrap_or_else(PoisonError::into_inner).sent(sent, &d, link.params_at(sent));
            }
            if d.retransmissions > 0 {
                NetsimStats::add(&stats.retransmitted, 1);
                let clean = d.departed_us + link.params_at(d.departed_us).delay_us;
                NetsimStats::add(&stats.penalty_us, d.at_us.saturating_sub(clean));
            }
            if tx.send((d.at_us, Bytes::copy_from_slice(seg))).is_err() {
                break 'read; // the writer failed: the other side is gone
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Sleeps until `len` bytes fit in the bottleneck buffer; false if they never will.
async fn wait_for_room(link: &Link, len: usize, origin: Instant, stats: &NetsimStats) -> bool {
    let now = now_us(origin);
    match link.room_at(len, now) {
        Some(t) if t <= now => true,
        Some(t) => {
            sleep_until(at(origin, t)).await;
            NetsimStats::add(&stats.throttled_us, t - now);
            true
        }
        None => false,
    }
}

/// Writes each segment at its arrival time, in order; then shuts the socket down.
async fn deliver(
    mut rx: mpsc::UnboundedReceiver<(u64, Bytes)>,
    mut wr: OwnedWriteHalf,
    origin: Instant,
    way: Way,
    stats: Arc<NetsimStats>,
) {
    let counter = match way {
        Way::Up => &stats.bytes_up,
        Way::Down => &stats.bytes_down,
    };
    let mut next: Option<(u64, Bytes)> = None;
    loop {
        let (due, data) = match next.take() {
            Some(segment) => segment,
            None => match rx.recv().await {
                Some(segment) => segment,
                None => break,
            },
        };
        sleep_until(at(origin, due)).await;
        // everything else already due goes out in the same write
        let mut batch = data.to_vec();
        while let Ok((d, more)) = rx.try_recv() {
            if d > now_us(origin) {
                next = Some((d, more));
                break;
            }
            batch.extend_from_slice(&more);
        }
        if wr.write_all(&batch).await.is_err() {
            return;
        }
        NetsimStats::add(counter, batch.len() as u64);
    }
    let _ = wr.shutdown().await;
}
