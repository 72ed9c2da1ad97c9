//! The edge side: a listener asks for a stream this node does not have; the edge asks the
//! cluster who has it (`<prefix>.discover`), creates the stream as an on-demand stream fed
//! from NATS, subscribes to its frames and notices, fetches the origin's recent frames
//! (so a listener moving here from another edge resumes without a gap), and unsubscribes
//! when the stream is removed `cluster.linger_ms` after its last listener left.
//!
//! Frames keep the origin's numbers, capture times and Opus packets
//! ([`StreamHub::push_relayed`]). A jump in numbers is a gap, counted and reported to
//! listeners; frames older than the newest are duplicates (a backlog overlapping live
//! frames) and are dropped.
//!
//! Origin epochs: a message from another epoch than the last one means the origin
//! restarted (or a standby took over). Its numbers come from the wall clock, so they go on
//! past the old ones: the edge announces the change (a `gap` status covering the frames
//! missed) and goes on. A new epoch whose numbers are *behind* this edge's (a clock set
//! back) cannot be followed: the edge ends the stream, and listeners reconnect to a fresh
//! copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use ondes_codec::OpusDecoder;
use ondes_core::cluster_wire::{self, PcmFormat};
use ondes_core::quality::{QualityCap, QualityLevel};
use ondes_core::{FrameDuration, FrameSpec};

use super::{Announce, BacklogRequest, Cluster, ClusterStats, ControlEnvelope, ControlMessage, StreamInfo};
use crate::hub::{Relayed, StreamHub};
use crate::icecast::mount::Mount;
use crate::state::SharedState;
use crate::stream::Stream;

/// Makes sure stream `id` exists on this node when the cluster has it. A listener resuming
/// after `resume_after` gets the origin's frames from there on, when the origin still has
/// them. Does nothing when the stream exists here, this node is not an edge, or no origin
/// answers (the caller's lookup then says what it says without a cluster).
pub async fn ensure_stream(app: &SharedState, id: &str, resume_after: Option<u64>) {
    let Some(cluster) = app.cluster.clone() else { return };
    if !cluster.config.role.is_edge()
        || app.streams.get(id).is_ok()
        || crate::hub::registry::validate_id(id).is_err()
    {
        return;
    }
    let _one_at_a_time = cluster.creating.lock().await;
    if app.streams.get(id).is_ok() {
        return;
    }
    let timeout = Duration::from_millis(cluster.config.request_timeout_ms);
    let answer = tokio::time::timeout(
        timeout,
        cluster.client.request(cluster.subjects.discover(), Bytes::from(id.to_string())),
    )
    .await;
    let info = match answer {
        Ok(Ok(m)) => match serde_json::from_slice::<Announce>(&m.payload) {
            Ok(a) => match a.streams.into_iter().find(|s| s.id == id) {
                Some(s) => s,
                None => return,
            },
            Err(e) => {
                tracing::warn!(stream = %id, error = %e, "cluster: unreadable discovery answer");
                return;
            }
        },
        // no origin has it (or NATS is away): the stream does not exist here
        Ok(Err(_)) | Err(_) => return,
    };
    if let Err(e) = create(app, &cluster, info, resume_after).await {
        tracing::warn!(stream = %id, error = %e, "cluster: cannot receive stream");
    }
}

async fn create(
    app: &SharedState,
    cluster: &Arc<Cluster>,
    info: StreamInfo,
    resume_after: Option<u64>,
) -> Result<(), String> {
    let duration = FrameDuration::from_ms(f64::from(info.frame_us) / 1000.0).map_err(|e| e.to_string())?;
    let spec = FrameSpec::new(info.sample_rate, info.channels, duration).map_err(|e| e.to_string())?;
    let server = &app.config.server;
    let hub = StreamHub::new(&info.id, spec, server.ring_secs, server.max_listener_lag_ms, &info.rungs_kbps);
    hub.configure_delivery(app.config.abr.mode, app.config.abr.canary);
    hub.set_source_description(format!("cluster (origin {})", info.origin));
    let capacity = (server.ring_secs as f64 * spec.frames_per_second()).ceil() as u64;
    // from the listener's next frame when it resumes (within the ring), else from live
    // the origin's recent frames, as far back as a listener may resume (max_listener_lag_ms),
    // or from the resuming listener's next frame when that is further back (within the ring):
    // listeners moving here from another edge find their frames
    let lag = (server.max_listener_lag_ms as f64 / 1000.0 * spec.frames_per_second()).ceil() as u64;
    let recent = info.next_seq.saturating_sub(lag);
    let from = resume_after
        .map(|s| s.saturating_add(1))
        .filter(|f| *f <= info.next_seq && info.next_seq - f < capacity)
        .map_or(recent, |f| f.min(recent));
    hub.start_at(from);
    // subscribe first, then fetch the backlog: live frames that arrive meanwhile wait in
    // the subscription, and those the backlog already had are dropped as duplicates
    let frames =
        cluster.client.subscribe(cluster.subjects.frames(&info.id)).await.map_err(|e| e.to_string())?;
    let control =
        cluster.client.subscribe(cluster.subjects.control(&info.id)).await.map_err(|e| e.to_string())?;
    let mut feed = Feed::new(hub.clone(), cluster.clone(), info.epoch, capacity);
    let req = BacklogRequest {
        after: from.saturating_sub(1),
        max_frames: capacity.min(u32::MAX as u64) as u32,
        before: None,
    };
    if let Ok(body) = serde_json::to_vec(&req) {
        let timeout = Duration::from_millis(cluster.config.request_timeout_ms);
        let answer = tokio::time::timeout(
            timeout,
            cluster.client.request(cluster.subjects.backlog(&info.id), body.into()),
        )
        .await;
        match answer {
            Ok(Ok(m)) if !m.payload.is_empty() => {
                let n = feed.take(&m.payload, true);
                ClusterStats::add(&cluster.stats.backlog_frames, n);
            }
            // no answer: the stream starts with live frames only (a moving listener is told its gap)
            _ => {}
        }
    }
    let stream = Stream {
        id: info.id.clone(),
        hub: hub.clone(),
        publisher: None,
        mount: Mount::new(hub.clone(), None),
        capture: None,
        cluster_linger: Some(Duration::from_millis(cluster.config.linger_ms)),
        recorder: None,
    };
    app.streams.insert_cluster(stream, "cluster").map_err(|e| e.to_string())?;
    ClusterStats::add(&cluster.stats.edge_streams_created, 1);
    tracing::info!(stream = %info.id, origin = %info.origin, from, "cluster: receiving stream");
    tokio::spawn(feed.run(app.clone(), frames, control));
    Ok(())
}

/// What feeds one edge stream.
struct Feed {
    hub: Arc<StreamHub>,
    cluster: Arc<Cluster>,
    epoch: u64,
    /// Decodes the top rung when messages carry no PCM.
    decoder: Option<OpusDecoder>,
    /// Frames the ring holds.
    capacity: u64,
    last_message: Instant,
    /// The edge (not the origin) declared the source lost: no message for a while, or NATS away.
    lost_here: bool,
}

impl Feed {
    fn new(hub: Arc<StreamHub>, cluster: Arc<Cluster>, epoch: u64, capacity: u64) -> Self {
        Feed { hub, cluster, epoch, decoder: None, capacity, last_message: Instant::now(), lost_here: false }
    }

    /// Pushes a message's frames; returns how many were new.
    fn take(&mut self, payload: &[u8], backlog: bool) -> u64 {
        let stats = self.cluster.stats.clone();
        if !backlog {
            ClusterStats::add(&stats.messages_in, 1);
            ClusterStats::add(&stats.bytes_in, payload.len() as u64);
        }
        let group = match cluster_wire::decode(payload) {
            Ok(g) => g,
            Err(e) => {
                ClusterStats::add(&stats.bad_messages, 1);
                static BAD: crate::log_limit::WarnLimit = crate::log_limit::WarnLimit::per_secs(10);
                if let Some(suppressed) = BAD.check() {
                    tracing::warn!(stream = %self.hub.id, error = %e, suppressed, "cluster: undecodable frame group");
                }
                return 0;
            }
        };
        let h = &group.header;
        if h.sample_rate != self.hub.spec.sample_rate || u16::from(h.channels) != self.hub.spec.channels {
            ClusterStats::add(&stats.bad_messages, 1);
            return 0;
        }
        if h.epoch != self.epoch {
            ClusterStats::add(&stats.epoch_changes, 1);
            tracing::warn!(stream = %self.hub.id, old = self.epoch, new = h.epoch, first_seq = h.first_seq,
                "cluster: the origin restarted (new epoch)");
            self.epoch = h.epoch;
            // numbers already used here (a fast takeover overlapping the old origin's last
            // frames) are dropped as duplicates until the new origin passes them; numbers far
            // behind (a clock set back) cannot be followed
            let overlap = self.hub.next_seq().saturating_sub(h.first_seq);
            if overlap * 2 > self.capacity {
                self.hub.end("the origin restarted with earlier frame numbers; reconnect");
                return 0;
            }
            if overlap > 0 {
                // the new origin's first frames are lost to listeners: said and counted
                ClusterStats::add(&stats.gaps, 1);
                ClusterStats::add(&stats.gap_frames, overlap);
                self.hub.report_source_gap(self.hub.next_seq(), overlap);
            }
            // the new origin's own notices say whether its source is lost; its frames are here
            self.lost_here = false;
            self.hub.set_source_lost(false);
        }
        let top = h.rungs_kbps.len().checked_sub(1);
        let samples_len = h.frame_samples();
        let mut new = 0;
        for (i, f) in group.frames.iter().enumerate() {
            let seq = h.first_seq + i as u64;
            let samples: Arc<[f32]> = match h.pcm {
                PcmFormat::None => self.decode_top(top, &f.packets, samples_len).into(),
                fmt => cluster_wire::pcm_to_f32(fmt, f.pcm).into(),
            };
            let opus: Vec<(u8, Bytes)> =
                f.packets.iter().map(|(r, p)| (*r, Bytes::copy_from_slice(p))).collect();
            match self.hub.push_relayed(seq, samples, f.capture_us, opus) {
                Relayed::Stale => continue,
                Relayed::Pushed => {}
                Relayed::Gap(n) => {
                    ClusterStats::add(&stats.gaps, 1);
                    ClusterStats::add(&stats.gap_frames, n);
                    tracing::info!(stream = %self.hub.id, missed = n, at = seq, "cluster: gap in the origin's frames");
                }
            }
            new += 1;
            if !backlog {
                let delay_ms = (crate::clock::now_us() - f.capture_us) as f64 / 1000.0;
                self.cluster.delays.lock().entry(self.hub.id.clone()).or_default().record(delay_ms);
            }
        }
        new
    }

    /// Before a message that jumps ahead of the ring — messages lost on the way (core NATS
    /// delivers at most once) or while NATS was away — asks the origin for the frames in
    /// between, which its ring still holds: a lost message then costs a round trip to the
    /// origin (the frames arrive late, in order, and are counted as `refetched_frames`), not
    /// a gap. What the origin no longer has, or does not answer within the request timeout,
    /// stays a gap, reported as before. Live messages wait in the subscription meanwhile.
    async fn refetch_gap(&mut self, payload: &[u8]) {
        let Ok(group) = cluster_wire::decode(payload) else { return };
        let (first, next) = (group.header.first_seq, self.hub.next_seq());
        if group.header.epoch != self.epoch || first <= next {
            return;
        }
        let missing = (first - next).min(self.capacity);
        let req = BacklogRequest {
            after: next.saturating_sub(1),
            max_frames: missing.min(u32::MAX as u64) as u32,
            before: Some(first),
        };
        let Ok(body) = serde_json::to_vec(&req) else { return };
        let timeout = Duration::from_millis(self.cluster.config.request_timeout_ms);
        let subject = self.cluster.subjects.backlog(&self.hub.id);
        let answer = tokio::time::timeout(timeout, self.cluster.client.request(subject, body.into())).await;
        if let Ok(Ok(m)) = answer
            && !m.payload.is_empty()
        {
            let n = self.take(&m.payload, true);
            ClusterStats::add(&self.cluster.stats.refetched_frames, n);
            tracing::info!(stream = %self.hub.id, frames = n, missing, "cluster: fetched a gap again from the origin");
        }
    }

    /// PCM for listeners of PCM formats when messages carry none: the top rung decoded
    /// (concealed when that rung has no packet for the frame).
    fn decode_top(&mut self, top: Option<usize>, packets: &[(u8, &[u8])], len: usize) -> Vec<f32> {
        if self.decoder.is_none() {
            self.decoder = OpusDecoder::new(self.hub.spec.sample_rate, self.hub.spec.channels).ok();
        }
        let mut out = Vec::with_capacity(len);
        if let Some(d) = self.decoder.as_mut() {
            let packet = top.and_then(|t| packets.iter().find(|(r, _)| *r as usize == t)).map(|(_, p)| *p);
            let ok = match packet {
                Some(p) => d.decode(p, &mut out).is_ok(),
                None => d.conceal(len / self.hub.spec.channels.max(1) as usize, &mut out).is_ok(),
            };
            if !ok {
                out.clear();
            }
        }
        out.resize(len, 0.0);
        out
    }

    fn apply(&self, msg: ControlMessage) {
        match msg {
            ControlMessage::Paused => {
                self.hub.pause();
            }
            ControlMessage::Resumed => {
                self.hub.resume();
            }
            ControlMessage::SourceLost => {
                self.hub.set_source_lost(true);
            }
            ControlMessage::SourceRestored => {
                self.hub.set_source_lost(false);
            }
            ControlMessage::Gap { from_frame, frames } => self.hub.report_source_gap(from_frame, frames),
            ControlMessage::Quality { quality, level } => {
                // a level this edge does not know (a newer origin) falls back to its share
                let level = level.and_then(|l| l.parse::<QualityLevel>().ok());
                self.hub.set_quality(level.map_or(QualityCap::Share(quality), QualityCap::Level))
            }
            ControlMessage::Ended { reason } => self.hub.end(reason),
        }
    }

    fn set_lost_here(&mut self, lost: bool) {
        if self.lost_here != lost {
            self.lost_here = lost;
            self.hub.set_source_lost(lost);
        }
    }

    /// Feeds the stream until it is removed or ends; unsubscribes then.
    async fn run(
        mut self,
        app: SharedState,
        mut frames: async_nats::Subscriber,
        mut control: async_nats::Subscriber,
    ) {
        let mut ended = self.hub.watch_control();
        let mut connected = self.cluster.connected.clone();
        let timeout = Duration::from_millis(self.cluster.config.source_timeout_ms);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = frames.next() => match m {
                    Some(m) => {
                        self.last_message = Instant::now();
                        self.set_lost_here(false);
                        self.refetch_gap(&m.payload).await;
                        self.take(&m.payload, false);
                    }
                    None => break,
                },
                m = control.next() => match m {
                    // only the notices of the origin whose frames this edge takes: a stopping
                    // origin's last word must not overrule the standby that took over
                    Some(m) => match serde_json::from_slice::<ControlEnvelope>(&m.payload) {
                        Ok(c) if c.epoch == self.epoch => self.apply(c.notice),
                        Ok(_) => {}
                        Err(_) => ClusterStats::add(&self.cluster.stats.bad_messages, 1),
                    },
                    None => break,
                },
                r = ended.changed() => {
                    if r.is_err() || self.hub.is_ended() { break }
                }
                r = connected.changed() => {
                    if r.is_err() { break }
                    if !*connected.borrow_and_update() {
                        self.set_lost_here(true);
                    }
                }
                _ = tick.tick() => {
                    if self.last_message.elapsed() >= timeout {
                        self.set_lost_here(true);
                    }
                }
            }
        }
        let _ = frames.unsubscribe().await;
        let _ = control.unsubscribe().await;
        // a stream that ended (its origin's ended) goes now, so the next listener asks again
        app.streams.remove_if_same(&self.hub.id, &self.hub, "the stream ended at its origin");
        tracing::info!(stream = %self.hub.id, "cluster: stream no longer received");
    }
}
