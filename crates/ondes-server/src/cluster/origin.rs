//! The origin side: a tap on every stream of this node publishes its frames in groups of
//! `cluster.batch_frames`, and its notices; the origin answers edges' discovery, listing and
//! backlog requests.
//!
//! With `cluster.takeover`, a stream is published (and answered for) only while its source
//! is present on this node: several origins can hold a publisher-fed stream, and the one
//! its publisher is connected to is the live one. A standby origin's silence never reaches
//! edges, and when the publisher moves to it, it takes the stream over (a new epoch, and one
//! reported gap for the listeners).
//!
//! The tap reads the stream like a listener, through its own cursor, so the stream's
//! producer never waits for it; the NATS publisher is a separate task behind a bounded queue
//! (`cluster.publish_queue` messages): when NATS is slow or away the queue fills and further
//! groups are dropped and counted (`publish_dropped_*`), never buffered without bound.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use ondes_core::cluster_wire::{self, GroupHeader, PcmFormat, WireFrame};
use tokio::sync::{mpsc, watch};

use super::{Announce, BacklogRequest, Cluster, ClusterStats, ControlEnvelope, ControlMessage, StreamInfo};
use crate::hub::{HubFrame, HubRead, StreamHub};
use crate::state::SharedState;

/// Largest backlog answer, bytes (NATS's default payload limit is 1 MiB).
pub const MAX_BACKLOG_BYTES: usize = 900 * 1024;

/// Taps every stream of this node (new ones as they appear) and answers requests, until
/// shutdown.
pub async fn run(app: SharedState, cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(answer_requests(app.clone(), cluster.clone(), shutdown.clone()));
    let mut tapped: HashSet<usize> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let mut live = HashSet::new();
        for s in app.streams.list() {
            if s.entry.cluster_linger.is_some() {
                continue; // an edge's copy of another origin's stream
            }
            let key = Arc::as_ptr(&s.entry.hub) as usize;
            live.insert(key);
            if tapped.insert(key) {
                s.entry.hub.ladder.pin_all();
                tokio::spawn(tap(s.entry.hub.clone(), cluster.clone(), app.shutdown.clone()));
            }
        }
        tapped.retain(|k| live.contains(k));
    }
}

/// Whether this node publishes `hub` now: always, or with `takeover` only while its source
/// is present (a publisher-fed stream with no publisher is some other origin's to publish).
fn publishes(cluster: &Cluster, hub: &StreamHub) -> bool {
    !cluster.config.takeover || !hub.control().source_lost
}

/// The layout header of `hub`'s messages.
fn header(cluster: &Cluster, hub: &StreamHub, first_seq: u64) -> GroupHeader {
    GroupHeader {
        pcm: cluster.config.pcm,
        channels: hub.spec.channels as u8,
        sample_rate: hub.spec.sample_rate,
        frame_us: hub.spec.duration.as_us(),
        epoch: cluster.epoch,
        first_seq,
        rungs_kbps: hub.ladder.kbps().iter().map(|k| (*k).min(u16::MAX as u32) as u16).collect(),
    }
}

/// One message for consecutive `frames` of `hub`.
pub fn encode_group(cluster: &Cluster, hub: &StreamHub, frames: &[Arc<HubFrame>]) -> Option<Bytes> {
    let first = frames.first()?.frame.seq;
    let h = header(cluster, hub, first);
    let pcm: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = Vec::new();
            match h.pcm {
                PcmFormat::None => {}
                PcmFormat::S16 => cluster_wire::f32_to_s16le(&f.frame.samples, &mut b),
                PcmFormat::F32 => cluster_wire::f32_to_f32le(&f.frame.samples, &mut b),
            }
            b
        })
        .collect();
    let wire: Vec<WireFrame<'_>> = frames
        .iter()
        .zip(&pcm)
        .map(|(f, p)| WireFrame {
            capture_us: f.frame.capture_us,
            packets: f.opus.iter().map(|(i, b)| (*i, &b[..])).collect(),
            pcm: p,
        })
        .collect();
    let mut out = Vec::new();
    match cluster_wire::encode(&h, &wire, &mut out) {
        Ok(()) => Some(Bytes::from(out)),
        Err(e) => {
            tracing::warn!(stream = %hub.id, error = %e, "cluster: cannot encode a frame group");
            None
        }
    }
}

/// Publishes one stream's frame groups and notices until it ends.
///
/// A stream that ends because this server stops is announced as `source-lost`, not as its
/// end: a restarted or standby origin may take the stream over, and edges keep their
/// listeners for it.
async fn tap(hub: Arc<StreamHub>, cluster: Arc<Cluster>, stopping: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::channel::<(String, Bytes)>(cluster.config.publish_queue);
    tokio::spawn(publisher(cluster.clone(), rx));
    let frames_subject = cluster.subjects.frames(&hub.id);
    let control_subject = cluster.subjects.control(&hub.id);
    let batch = cluster.config.batch_frames.max(1) as usize;
    let mut wake = hub.group_watch(1);
    let mut control = hub.watch_control();
    let mut last_control = control.borrow_and_update().clone();
    // a stream that just began is published from its first frame (edges that found it at
    // once would otherwise miss the frames made before the tap started), others from live
    let mut cursor =
        if hub.uptime_secs() < 2.0 { hub.cursor_with_burst(u64::MAX) } else { hub.cursor_at_live() };
    let mut pending: Vec<Arc<HubFrame>> = Vec::with_capacity(batch);
    let mut read = Vec::new();
    let send = |subject: &str, body: Bytes, frames: u64| {
        if tx.try_send((subject.to_string(), body)).is_err() {
            ClusterStats::add(&cluster.stats.publish_dropped_messages, 1);
            ClusterStats::add(&cluster.stats.publish_dropped_frames, frames);
        }
    };
    tracing::info!(stream = %hub.id, batch, "cluster: publishing stream");
    loop {
        tokio::select! {
            r = wake.changed() => if r.is_err() { break },
            r = control.changed() => {
                if r.is_err() { break }
                let now = control.borrow_and_update().clone();
                // with takeover, a node without the source says nothing, except that it lost it
                let quiet = cluster.config.takeover && now.source_lost && last_control.source_lost;
                for n in now.notices_since(&last_control).into_iter().filter(|_| !quiet) {
                    let m = match n {
                        crate::hub::Notice::Ended(_) if *stopping.borrow() => ControlMessage::SourceLost,
                        n => match ControlMessage::from_notice(&n) {
                            Some(m) => m,
                            None => continue,
                        },
                    };
                    if let Ok(body) = serde_json::to_vec(&ControlEnvelope { epoch: cluster.epoch, notice: m }) {
                        send(&control_subject, body.into(), 0);
                    }
                }
                last_control = now;
                if hub.is_ended() { break }
            }
        }
        read.clear();
        hub.read(&mut cursor, 256, &mut read);
        let live = publishes(&cluster, &hub);
        for item in read.drain(..) {
            match item {
                // the silence of a standby: not this node's to publish (not a loss)
                HubRead::Frame(_) if !live => {}
                HubRead::Frame(f) => {
                    // a group holds consecutive frames only
                    if pending.last().is_some_and(|p| p.frame.seq + 1 != f.frame.seq)
                        && let Some(body) = encode_group(&cluster, &hub, &pending)
                    {
                        send(&frames_subject, body, pending.len() as u64);
                        pending.clear();
                    }
                    pending.push(f);
                    if pending.len() >= batch {
                        if let Some(body) = encode_group(&cluster, &hub, &pending) {
                            send(&frames_subject, body, pending.len() as u64);
                        }
                        pending.clear();
                    }
                }
                HubRead::Skipped(n) => ClusterStats::add(&cluster.stats.tap_skipped_frames, n),
            }
        }
    }
    if let Some(body) = encode_group(&cluster, &hub, &pending) {
        send(&frames_subject, body, pending.len() as u64);
    }
    tracing::info!(stream = %hub.id, "cluster: stream ended; no longer published");
}

/// Hands queued messages to NATS, counting what went out.
async fn publisher(cluster: Arc<Cluster>, mut rx: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, body)) = rx.recv().await {
        let len = body.len() as u64;
        if !cluster.is_connected() {
            // live audio delivered seconds late is useless and would arrive before edges
            // have resubscribed: while NATS is away the groups are dropped and counted, and
            // edges see (and report) the gap
            ClusterStats::add(&cluster.stats.publish_dropped_messages, 1);
            continue;
        }
        match cluster.client.publish(subject, body).await {
            Ok(()) => {
                ClusterStats::add(&cluster.stats.messages_out, 1);
                ClusterStats::add(&cluster.stats.bytes_out, len);
            }
            Err(_) => ClusterStats::add(&cluster.stats.publish_errors, 1),
        }
    }
}

/// A stream of this node as edges see it.
pub fn info(cluster: &Cluster, hub: &StreamHub) -> StreamInfo {
    StreamInfo {
        id: hub.id.clone(),
        sample_rate: hub.spec.sample_rate,
        channels: hub.spec.channels,
        frame_us: hub.spec.duration.as_us(),
        rungs_kbps: hub.ladder.kbps(),
        next_seq: hub.next_seq(),
        origin: cluster.node_id.clone(),
        epoch: cluster.epoch,
    }
}

/// This node's own streams (not the copies it holds as an edge), live ones only, and with
/// `takeover` only those it publishes now.
fn own_streams(app: &SharedState, cluster: &Cluster) -> Vec<Arc<StreamHub>> {
    app.streams
        .list()
        .into_iter()
        .filter(|s| s.entry.cluster_linger.is_none() && !s.entry.hub.is_ended())
        .map(|s| s.entry.hub.clone())
        .filter(|h| publishes(cluster, h))
        .collect()
}

/// Answers discovery (only for a stream this node has), listing, and backlog requests.
async fn answer_requests(app: SharedState, cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let subs = async {
        let d = cluster.client.subscribe(cluster.subjects.discover()).await?;
        let l = cluster.client.subscribe(cluster.subjects.streams()).await?;
        let b = cluster.client.subscribe(cluster.subjects.backlog_all()).await?;
        Ok::<_, async_nats::SubscribeError>((d, l, b))
    };
    let (mut discover, mut listing, mut backlog) = match subs.await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cluster: cannot subscribe to requests; edges will not find this origin's streams");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            Some(m) = discover.next() => {
                let id = String::from_utf8_lossy(&m.payload).trim().to_string();
                let Some(reply) = m.reply else { continue };
                if let Some(hub) = own_streams(&app, &cluster).into_iter().find(|h| h.id == id) {
                    let a = Announce { node_id: cluster.node_id.clone(), epoch: cluster.epoch, streams: vec![info(&cluster, &hub)] };
                    if let Ok(body) = serde_json::to_vec(&a) {
                        let _ = cluster.client.publish(reply, body.into()).await;
                    }
                }
            }
            Some(m) = listing.next() => {
                let Some(reply) = m.reply else { continue };
                let streams = own_streams(&app, &cluster).iter().map(|h| info(&cluster, h)).collect();
                let a = Announce { node_id: cluster.node_id.clone(), epoch: cluster.epoch, streams };
                if let Ok(body) = serde_json::to_vec(&a) {
                    let _ = cluster.client.publish(reply, body.into()).await;
                }
            }
            Some(m) = backlog.next() => {
                let Some(reply) = m.reply else { continue };
                let Some(id) = cluster.subjects.stream_of(m.subject.as_str()) else { continue };
                let Ok(req) = serde_json::from_slice::<BacklogRequest>(&m.payload) else { continue };
                let Some(hub) = own_streams(&app, &cluster).into_iter().find(|h| h.id == id) else { continue };
                let body = backlog_answer(&cluster, &hub, &req);
                let _ = cluster.client.publish(reply, body).await;
            }
        }
    }
}

/// The frames after `req.after` (and before `req.before`) still in the ring, newest kept
/// when they do not all fit in
/// [`MAX_BACKLOG_BYTES`]; an empty body when there are none.
fn backlog_answer(cluster: &Cluster, hub: &StreamHub, req: &BacklogRequest) -> Bytes {
    let mut frames = match req.before {
        Some(before) => hub.frames_between(req.after, before, req.max_frames as usize),
        None => hub.frames_after(req.after, req.max_frames as usize),
    };
    loop {
        match encode_group(cluster, hub, &frames) {
            Some(b) if b.len() <= MAX_BACKLOG_BYTES || frames.len() <= 1 => return b,
            Some(b) => {
                // drop the oldest frames in proportion to the excess
                let keep = (frames.len() * MAX_BACKLOG_BYTES / b.len()).max(1);
                frames.drain(..frames.len() - keep);
            }
            None => return Bytes::new(),
        }
    }
}
