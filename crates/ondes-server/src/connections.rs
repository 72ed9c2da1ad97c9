//! Registry of streaming connections, with the global and per-IP limits.
//!
//! Registration and removal take one short lock; the per-connection counters are written
//! only by the connection's own session (plain stores to its own record: no cache line is
//! shared between listeners). Totals per stream — events, bytes, frames delivered — are
//! summed when they are read (`/stats`, `/metrics`, the sampler), over the live connections
//! and what closed connections delivered ([`Delivered`], added once when a connection ends).
//! A [`ConnectionGuard`] removes its entry when the connection's session is dropped,
//! however the connection ended.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use ondes_core::abr::{AbrStats, Decision, Direction, ProfileName, Reason};
use ondes_core::proto::control::{FromListener, Report};
use parking_lot::Mutex;
use serde::Serialize;

use crate::clock::now_ms;

/// One live connection and its counters.
#[derive(Debug)]
pub struct ConnectionInfo {
    pub id: u64,
    pub stream_id: String,
    pub transport: &'static str,
    pub user_id: Option<String>,
    pub ip: IpAddr,
    pub user_agent: String,
    pub connected_at_ms: i64,
    pub last_heartbeat_ms: AtomicI64,
    pub last_activity_ms: AtomicI64,
    pub frames_sent: AtomicU64,
    pub events_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// The audio in what was written (Opus packets, or 16-bit samples): payload ÷ bytes is
    /// this listener's efficiency.
    pub payload_sent: AtomicU64,
    pub errors: AtomicU64,
    pub skipped_frames: AtomicU64,
    /// Exponentially weighted average of (hand-off time − capture time), in µs.
    pub latency_ewma_us: AtomicU64,
    /// The client's latest report (WebSocket listeners send one about every second), in
    /// its fixed schema: numbers only, whatever the client sent.
    pub client_report: Mutex<Option<Report>>,
    pub reports_received: AtomicU64,
    /// The adaptation controller's state (WebSocket `rung=auto` listeners), refreshed about
    /// once a second and at each decision: plain numbers, turned into JSON only when read.
    pub abr: Mutex<Option<AbrSnapshot>>,
    /// The delivery group of a `rung=auto` listener (legacy or adaptive; see the stream's
    /// delivery mode), `None` for listeners that chose their rung.
    pub delivery_arm: Mutex<Option<ondes_core::abr::Arm>>,
    /// A WebRTC listener's RTP view of its link (receiver reports, NACKs, bandwidth
    /// estimate), refreshed about once a second.
    pub webrtc: Mutex<Option<RtcSnapshot>>,
}

/// What RTCP says about a WebRTC listener's link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RtcSnapshot {
    pub packets_sent: u64,
    /// Cumulative packets the listener reported lost (RTCP receiver reports).
    pub packets_lost: u64,
    /// Fraction lost in the last reports, 0..1.
    pub loss: Option<f32>,
    /// Interarrival jitter the listener reported, ms.
    pub jitter_ms: f64,
    pub rtt_ms: Option<f64>,
    /// Retransmission requests received.
    pub nacks: u64,
    /// The send-side bandwidth estimate, when estimation runs.
    pub bwe_kbps: Option<u64>,
}

/// What connections delivered, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Delivered {
    pub frames: u64,
    pub events: u64,
    pub bytes: u64,
    pub skipped_frames: u64,
}

impl std::ops::AddAssign for Delivered {
    fn add_assign(&mut self, o: Delivered) {
        self.frames += o.frames;
        self.events += o.events;
        self.bytes += o.bytes;
        self.skipped_frames += o.skipped_frames;
    }
}

impl ConnectionInfo {
    /// What this connection has delivered so far.
    pub fn delivered(&self) -> Delivered {
        Delivered {
            frames: self.frames_sent.load(Ordering::Relaxed),
            events: self.events_sent.load(Ordering::Relaxed),
            bytes: self.bytes_sent.load(Ordering::Relaxed),
            skipped_frames: self.skipped_frames.load(Ordering::Relaxed),
        }
    }

    /// Folds a sampled delivery latency (hand-off − capture, µs) into the average.
    pub fn record_latency(&self, latency_us: i64) {
        let l = latency_us.max(0) as u64;
        let old = self.latency_ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { l } else { (old * 7 + l) / 8 };
        self.latency_ewma_us.store(new, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ConnectionSnapshot {
        ConnectionSnapshot {
            id: self.id.to_string(),
            stream: self.stream_id.clone(),
            transport: self.transport,
            user_id: self.user_id.clone(),
            ip_address: Some(self.ip.to_string()),
            user_agent: Some(self.user_agent.clone()),
            connected_at: self.connected_at_ms,
            last_heartbeat: self.last_heartbeat_ms.load(Ordering::Relaxed),
            last_activity: self.last_activity_ms.load(Ordering::Relaxed),
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            payload_sent: self.payload_sent.load(Ordering::Relaxed),
            errors_count: self.errors.load(Ordering::Relaxed),
            skipped_frames: self.skipped_frames.load(Ordering::Relaxed),
            latency_ms: self.latency_ewma_us.load(Ordering::Relaxed) as f64 / 1000.0,
            client_report: self.client_report.lock().map(FromListener::Report),
            reports_received: self.reports_received.load(Ordering::Relaxed),
            abr: *self.abr.lock(),
            delivery: *self.delivery_arm.lock(),
            webrtc: *self.webrtc.lock(),
        }
    }
}

/// A listener's adaptation controller as `/stats` and `/debug/connections` show it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AbrSnapshot {
    pub profile: ProfileName,
    pub rung_kbps: u32,
    pub batch: u64,
    pub estimate_kbps: u32,
    pub capacity_kbps: Option<u32>,
    pub queue_delay_ms: u64,
    pub jitter_target_ms: u64,
    #[serde(flatten)]
    pub stats: AbrStats,
    pub last_decision: Option<LastDecision>,
}

/// The last switch: when (ms into the session), where to, and why.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LastDecision {
    pub at_ms: u64,
    pub direction: Direction,
    pub kbps: u32,
    pub profile: ProfileName,
    pub code: &'static str,
    #[serde(serialize_with = "display")]
    pub reason: Reason,
}

impl LastDecision {
    pub fn of(d: &Decision) -> Self {
        LastDecision {
            at_ms: d.at_us / 1000,
            direction: d.direction,
            kbps: d.kbps,
            profile: d.profile,
            code: d.reason.code(),
            reason: d.reason,
        }
    }
}

fn display<S: serde::Serializer>(r: &Reason, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

/// A connection as `/stats` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionSnapshot {
    pub id: String,
    pub stream: String,
    pub transport: &'static str,
    /// Identity fields: who the listener is. `None` in public replies ([`Self::redacted`]).
    pub user_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// ms since the epoch
    pub connected_at: i64,
    pub last_heartbeat: i64,
    pub last_activity: i64,
    pub frames_sent: u64,
    pub events_sent: u64,
    pub bytes_sent: u64,
    /// Audio bytes in what was written (Opus packets, or 16-bit samples).
    pub payload_sent: u64,
    pub errors_count: u64,
    pub skipped_frames: u64,
    pub latency_ms: f64,
    /// Latest client report (buffer, underruns, loss, RTT), if the transport carries them.
    /// As the client sent it (`"type": "report"`), in its fixed schema.
    pub client_report: Option<FromListener>,
    pub reports_received: u64,
    /// Adaptation state: profile, rung, batch, estimates, jitter floor, switch counts, the
    /// last decision and its reason (`null` for listeners without adaptation).
    pub abr: Option<AbrSnapshot>,
    /// The delivery group (`legacy`, `adaptive`) of a `rung=auto` listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<ondes_core::abr::Arm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<RtcSnapshot>,
}

impl ConnectionSnapshot {
    /// The snapshot without what identifies the listener (token subject, address, user
    /// agent) or what the listener itself wrote (its report): what a caller without
    /// `debug_access` may see. The counters stay.
    pub fn redacted(self) -> Self {
        ConnectionSnapshot { user_id: None, ip_address: None, user_agent: None, client_report: None, ..self }
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<u64, Arc<ConnectionInfo>>,
    per_ip: HashMap<IpAddr, usize>,
    /// What closed connections delivered, by (stream, transport).
    retired: HashMap<(String, &'static str), Delivered>,
}

/// Why a streaming connection was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    #[error(
        "the server is at its limit of {limit} streaming connections (server.max_connections); retry later"
    )]
    ServerFull { limit: usize },
    #[error(
        "{ip} already has {count} streaming connections, the limit per IP (server.max_connections_per_ip); close one or retry later"
    )]
    TooManyFromIp { ip: IpAddr, count: usize },
}

/// All streaming connections of the server.
pub struct Connections {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    total_ever: AtomicU64,
    rejected: AtomicU64,
    max_total: usize,
    max_per_ip: usize,
}

/// Keeps a connection registered; removes it on drop.
pub struct ConnectionGuard {
    conns: Arc<Connections>,
    pub info: Arc<ConnectionInfo>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let delivered = self.info.delivered();
        let mut inner = self.conns.inner.lock();
        inner.map.remove(&self.info.id);
        *inner.retired.entry((self.info.stream_id.clone(), self.info.transport)).or_default() += delivered;
        if let Some(n) = inner.per_ip.get_mut(&self.info.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&self.info.ip);
            }
        }
    }
}

/// Who is connecting.
pub struct NewConnection {
    pub stream_id: String,
    pub transport: &'static str,
    pub user_id: Option<String>,
    pub ip: IpAddr,
    pub user_agent: String,
}

impl Connections {
    /// `max_per_ip == 0` disables the per-IP limit.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Connections {
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(1),
            total_ever: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            max_total,
            max_per_ip,
        })
    }

    /// Registers a connection, or refuses it when the server or this IP is at its limit.
    pub fn register(self: &Arc<Self>, c: NewConnection) -> Result<ConnectionGuard, RegisterError> {
        let mut inner = self.inner.lock();
        if inner.map.len() >= self.max_total {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(RegisterError::ServerFull { limit: self.max_total });
        }
        let from_ip = inner.per_ip.get(&c.ip).copied().unwrap_or(0);
        if self.max_per_ip > 0 && from_ip >= self.max_per_ip {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(RegisterError::TooManyFromIp { ip: c.ip, count: from_ip });
        }
        let now = now_ms();
        let info = Arc::new(ConnectionInfo {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            stream_id: c.stream_id,
            transport: c.transport,
            user_id: c.user_id,
            ip: c.ip,
            user_agent: c.user_agent,
            connected_at_ms: now,
            last_heartbeat_ms: AtomicI64::new(0),
            last_activity_ms: AtomicI64::new(now),
            frames_sent: AtomicU64::new(0),
            events_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            payload_sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped_frames: AtomicU64::new(0),
            latency_ewma_us: AtomicU64::new(0),
            client_report: Mutex::new(None),
            reports_received: AtomicU64::new(0),
            abr: Mutex::new(None),
            delivery_arm: Mutex::new(None),
            webrtc: Mutex::new(None),
        });
        inner.map.insert(info.id, info.clone());
        *inner.per_ip.entry(c.ip).or_default() += 1;
        self.total_ever.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionGuard { conns: self.clone(), info })
    }

    /// Live connections, optionally of one stream, ordered by id.
    pub fn list(&self, stream: Option<&str>) -> Vec<Arc<ConnectionInfo>> {
        let inner = self.inner.lock();
        let mut v: Vec<_> =
            inner.map.values().filter(|c| stream.is_none_or(|s| c.stream_id == s)).cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// What connections of `stream` (all streams: `None`) over `transport` (all: `None`)
    /// delivered since the server started, the live ones included.
    pub fn delivered(&self, stream: Option<&str>, transport: Option<&str>) -> Delivered {
        let inner = self.inner.lock();
        let mut total = Delivered::default();
        let matches = |s: &str, t: &str| stream.is_none_or(|x| x == s) && transport.is_none_or(|x| x == t);
        for ((s, t), d) in &inner.retired {
            if matches(s, t) {
                total += *d;
            }
        }
        for c in inner.map.values() {
            if matches(&c.stream_id, c.transport) {
                total += c.delivered();
            }
        }
        total
    }

    /// A fresh connection id for a connection that is not registered here (a publisher),
    /// from the same sequence, so that ids never collide.
    pub fn allocate_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn count(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn total_ever(&self) -> u64 {
        self.total_ever.load(Ordering::Relaxed)
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(ip: &str) -> NewConnection {
        NewConnection {
            stream_id: "main".into(),
            transport: "sse",
            user_id: None,
            ip: ip.parse().unwrap(),
            user_agent: "t".into(),
        }
    }

    #[test]
    fn limits_and_cleanup() {
        // the refusals as the HTTP layer answers them
        use crate::http::error::ApiError;
        use axum::http::StatusCode;
        let c = Connections::new(3, 2);
        let a = c.register(conn("10.0.0.1")).unwrap();
        let _b = c.register(conn("10.0.0.1")).unwrap();
        let e = ApiError::from(c.register(conn("10.0.0.1")).err().unwrap());
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        let _d = c.register(conn("10.0.0.2")).unwrap();
        let e = ApiError::from(c.register(conn("10.0.0.3")).err().unwrap());
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(5));
        drop(a);
        assert_eq!(c.count(), 2);
        assert!(c.register(conn("10.0.0.1")).is_ok());
        assert_eq!(c.rejected(), 2);
    }
}
