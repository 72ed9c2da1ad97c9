//! One listener's stream through a simulated link, in simulated time.
//!
//! The pieces are the real ones where they exist — the link model, the adaptation
//! controller, the client's jitter buffer, the wire format's byte counts — and small models
//! where the real thing is IO: the server's per-listener send loop ([`server`]) and a TCP
//! direction ([`pipe`]). A millisecond clock drives them; a minute of streaming takes a few
//! milliseconds of CPU and the same seed gives the same result.
//!
//! What travels: 20 ms Opus frames (constant bitrate: bytes = rate × duration) batched into
//! protocol-v1 messages, written to a socket that accepts data while less than
//! `socket_lowat` bytes are unsent (the server should set `TCP_NOTSENT_LOWAT`, otherwise the
//! kernel buffers seconds of audio out of the controller's reach), a WebSocket ping every
//! `ping_interval` riding the same stream right behind an audio message (its pong, and the client's report every second,
//! come back over a reverse link with the same profile).

mod client;
pub mod link_cost;
mod pipe;
mod result;
mod server;

use std::collections::VecDeque;

use crate::netmodel::{Link, Mode, Outcome, Schedule, TCP_IP_OVERHEAD};
use ondes_core::abr::{
    AbrConfig, ClientReport, Controller, DEFAULT_LADDER_KBPS, Decision, Direction, JitterAdvice, ProfileName,
    ProfileRequest, SendState,
};

pub use result::{LatencyMs, RECOVERED_HOLD_US, STALL_MERGE_US, SimResult, stall_events, time_to_recover};

use client::Client;
use pipe::TcpPipe;
use server::{SentMessage, Server};

/// How the listener's rung is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adaptation {
    /// The setting before adaptation: balanced profile, top rung, never changed.
    Legacy,
    /// The controller, with the listener's profile request.
    Adaptive(ProfileRequest),
}

/// A simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub schedule: Schedule,
    pub seed: u64,
    pub duration_us: u64,
    pub ladder_kbps: Vec<u32>,
    pub frame_us: u32,
    pub adaptation: Adaptation,
    pub abr: AbrConfig,
    /// Unsent bytes above which the socket stops accepting writes.
    pub socket_lowat: u64,
    /// Backlog after which the server skips the listener ahead to live.
    pub max_lag_us: u64,
    pub report_interval_us: u64,
    pub ping_interval_us: u64,
    /// Start-up period excluded from `underruns_per_minute`.
    pub settle_us: u64,
}

impl SimConfig {
    /// A 65 s run (5 s of start-up, then a measured minute) with the default ladder and
    /// 20 ms frames.
    pub fn new(schedule: Schedule, adaptation: Adaptation) -> SimConfig {
        SimConfig {
            schedule,
            seed: 1,
            duration_us: 65_000_000,
            ladder_kbps: DEFAULT_LADDER_KBPS.to_vec(),
            frame_us: 20_000,
            adaptation,
            abr: AbrConfig::default(),
            socket_lowat: 4_096,
            max_lag_us: 2_000_000,
            report_interval_us: 1_000_000,
            ping_interval_us: 250_000,
            settle_us: 5_000_000,
        }
    }
}

/// Something on its way back from the client.
#[derive(Debug, Clone, Copy)]
enum Upstream {
    Report(ClientReport),
    Pong { sent_us: u64 },
}

const TICK_US: u64 = 1_000;
const SEND_STATE_EVERY_US: u64 = 50_000;
/// How often the server samples the connection's TCP state (`TCP_INFO`), as `ondes serve` does.
const TCP_INFO_EVERY_US: u64 = 1_000_000;
/// Bytes of a report text message with its WebSocket header (masked, client → server).
const REPORT_BYTES: usize = 160;
/// A WebSocket ping or pong with a 4-byte payload (server: 2-byte header; client: +4 mask).
const PING_BYTES: usize = 6;
const PONG_BYTES: usize = 10;

/// The round trip the client measures when it connects (the WebSocket upgrade request up,
/// the 101 response down), on links of their own so the stream's random draws stay the same.
fn handshake_rtt(cfg: &SimConfig) -> u64 {
    let mut up = Link::new(cfg.schedule.clone(), Mode::Stream, cfg.seed ^ 0x4A4D_5348);
    let mut down = Link::new(cfg.schedule.clone(), Mode::Stream, cfg.seed ^ 0x4A4D_5349);
    let Outcome::Delivered(request) = up.send(300 + TCP_IP_OVERHEAD, 0) else { return 0 };
    match down.send(200 + TCP_IP_OVERHEAD, request.at_us) {
        Outcome::Delivered(response) => response.at_us,
        Outcome::Dropped(_) => request.at_us * 2,
    }
}

/// Runs one listener for `cfg.duration_us` of simulated time.
pub fn run(cfg: &SimConfig) -> SimResult {
    let frame_us = cfg.frame_us as u64;
    let mut controller = match cfg.adaptation {
        Adaptation::Legacy => None,
        Adaptation::Adaptive(request) => {
            let abr = AbrConfig { stream_frame_us: cfg.frame_us, ..cfg.abr.clone() };
            // an invalid ladder is a programming error of the caller (the bench's is fixed)
            Some(Controller::new(abr, &cfg.ladder_kbps, request, 0).unwrap_or_else(|e| panic!("{e}")))
        }
    };
    let (profile, kbps, batch) = match &controller {
        Some(c) => (*c.profile(), c.kbps(), c.batch()),
        None => {
            let p = ProfileName::Balanced.params();
            (p, *cfg.ladder_kbps.last().unwrap_or(&64), p.batch_for(cfg.frame_us))
        }
    };
    let mut server = Server::new(frame_us, kbps, batch);
    let mut pipe = TcpPipe::new(Link::new(cfg.schedule.clone(), Mode::Stream, cfg.seed));
    let mut reverse = Link::new(cfg.schedule.clone(), Mode::Stream, cfg.seed ^ 0x5EED_0FBA_C4C4);
    let rtt = handshake_rtt(cfg);
    let (min, max) =
        JitterAdvice::for_profile(&profile, cfg.abr.jitter_rtts).bounds_us(batch as u64 * frame_us, rtt);
    let mut client = Client::new(frame_us, min, max);

    let mut messages: VecDeque<SentMessage> = VecDeque::new();
    let mut pings: VecDeque<(u64, u64)> = VecDeque::new();
    let mut upstream: VecDeque<(u64, Upstream)> = VecDeque::new();
    let mut decisions: Vec<Decision> = Vec::new();
    let mut jitter_changes: Vec<(u64, u64)> = Vec::new();
    let mut next_frame = 0u64;
    let mut pings_bytes = 0u64;
    let mut ping_due = false;

    let mut now = 0u64;
    while now <= cfg.duration_us {
        // the source
        while next_frame * frame_us <= now {
            server.pending.push_back(next_frame);
            next_frame += 1;
        }
        // the server's send loop for this listener
        let skipped = server.skip_if_lagging(now, cfg.max_lag_us);
        if skipped > 0
            && let Some(c) = controller.as_mut()
        {
            c.handle_skip(skipped, now);
        }
        if controller.is_some() && now.is_multiple_of(cfg.ping_interval_us) && now > 0 {
            ping_due = true;
        }
        while pipe.unsent() < cfg.socket_lowat {
            let Some((mut m, bytes)) = server.next_message() else { break };
            m.end = pipe.write(bytes);
            messages.push_back(m);
            // the ping goes out right behind a message, in the same TCP segment
            if std::mem::take(&mut ping_due) {
                pings.push_back((pipe.write(PING_BYTES), now));
                pings_bytes += PING_BYTES as u64;
            }
        }
        pipe.pump(now);
        // arrivals at the client
        while let Some((offset, at)) = pipe.next_arrival(now) {
            while messages.front().is_some_and(|m| m.end <= offset) {
                if let Some(m) = messages.pop_front() {
                    client.receive(&m, at);
                }
            }
            while pings.front().is_some_and(|p| p.0 <= offset) {
                if let Some((_, sent_us)) = pings.pop_front()
                    && let Outcome::Delivered(d) = reverse.send(PONG_BYTES + TCP_IP_OVERHEAD, at)
                {
                    upstream.push_back((d.at_us, Upstream::Pong { sent_us }));
                }
            }
        }
        client.play_until(now);
        if now.is_multiple_of(cfg.report_interval_us)
            && now > 0
            && let Outcome::Delivered(d) = reverse.send(REPORT_BYTES + TCP_IP_OVERHEAD, now)
        {
            upstream.push_back((d.at_us, Upstream::Report(client.report())));
        }
        // the controller
        if let Some(c) = controller.as_mut() {
            while upstream.front().is_some_and(|u| u.0 <= now) {
                match upstream.pop_front() {
                    Some((at, Upstream::Report(r))) => c.handle_report(&r, at),
                    Some((at, Upstream::Pong { sent_us })) => c.handle_rtt(at - sent_us, at),
                    None => {}
                }
            }
            if now.is_multiple_of(TCP_INFO_EVERY_US) && now > 0 {
                c.handle_tcp_info(pipe.tcp_info(now), now);
            }
            if now.is_multiple_of(SEND_STATE_EVERY_US) {
                let s = SendState { written_bytes: pipe.written, backlog_us: server.backlog_us() };
                c.handle_send_state(s, now);
                if let Some(d) = c.poll(now) {
                    server.kbps = d.kbps;
                    server.batch = c.batch();
                    // the `rung` message carries the new advice when the client should take it
                    if d.retargets_jitter() {
                        let (min, max) = c.jitter_advice().bounds_us(c.batch() as u64 * frame_us, rtt);
                        client.set_bounds(min, max);
                        jitter_changes.push((now, min));
                    }
                    decisions.push(d);
                }
                // the TCP sizing moved the floor: a `rung` message with the same rung and the
                // new advice
                if let Some(advice) = c.poll_jitter(now) {
                    let (min, max) = advice.bounds_us(c.batch() as u64 * frame_us, rtt);
                    client.set_bounds(min, max);
                    jitter_changes.push((now, min));
                }
            }
        }
        now += TICK_US;
    }

    let duration_s = cfg.duration_us as f64 / 1e6;
    let settled_min = cfg.duration_us.saturating_sub(cfg.settle_us) as f64 / 60e6;
    let stats = client.stats();
    let drop_at = cfg.schedule.next_rate_drop(0);
    let reaction_ms = drop_at.and_then(|t| {
        decisions
            .iter()
            .find(|d| d.at_us >= t && d.direction == Direction::Down)
            .map(|d| (d.at_us - t) as f64 / 1e3)
    });
    let back_at = drop_at.and_then(|t| cfg.schedule.segments().iter().map(|s| s.0).find(|s| *s > t));
    let recover_ms = drop_at
        .zip(back_at)
        .and_then(|(drop, back)| result::time_to_recover(&client.played_at_us, drop, back));
    let underruns_after = client.underrun_at_us.iter().filter(|t| **t >= cfg.settle_us).count();
    SimResult {
        link_efficiency_percent: 100.0 * server.payload_bytes as f64 / pipe.wire_bytes.max(1) as f64,
        efficiency_percent: 100.0 * server.payload_bytes as f64
            / (server.message_bytes + pings_bytes).max(1) as f64,
        latency_ms: result::latency(client.played_at_us.iter().map(|p| p.1).collect()),
        latency_by_second_ms: result::latency_by_second(&client.played_at_us, cfg.duration_us),
        underruns_per_minute: if settled_min > 0.0 { underruns_after as f64 / settled_min } else { 0.0 },
        underruns: stats.underruns,
        stall_events: stall_events(
            &client.underrun_at_us.iter().copied().filter(|t| *t >= cfg.settle_us).collect::<Vec<_>>(),
        ),
        stalled_ms: (stats.underrun_frames * frame_us) as f64 / 1e3,
        avg_bitrate_kbps: client.played_bytes as f64 * 8.0 / duration_s / 1e3,
        switches: decisions.len(),
        reaction_ms,
        recover_ms,
        link_back_at_s: back_at.map(|t| t as f64 / 1e6),
        skipped_frames: server.skipped_frames,
        concealed_ms: (stats.concealed * frame_us) as f64 / 1e3,
        dropped_frames: stats.dropped,
        final_kbps: server.kbps,
        final_profile: controller.as_ref().map_or(ProfileName::Balanced, |c| c.profile().name),
        final_jitter_floor_ms: jitter_changes.last().map_or(min, |c| c.1) as f64 / 1e3,
        tcp_retransmissions: pipe.link.stats().retransmissions,
        jitter_floor_changes: jitter_changes.len(),
        settle_s: cfg.settle_us as f64 / 1e6,
        duration_s,
        decisions,
        underrun_at_us: client.underrun_at_us,
    }
}
