//! `ondes probe`: a diagnostic listener that measures loss, delay and jitter, pulls the
//! server's per-stage counters over the same window, and attributes every lost frame and
//! millisecond to the stage where it went (see [`ondes_sim::attribution`]).

mod arrivals;
pub mod plot;
pub mod recovery;
mod sender_log;
mod server;

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use ondes_sim::attribution::{JitterEstimator, ProbeCounters, attribute, total_loss_percent};
use serde::Serialize;
use tokio::sync::mpsc;

use arrivals::{Event, now_us};
pub use sender_log::{SenderLogOptions, fetch_trace, parse_log, run_sender_log};

/// Why a probe could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("bad URL: {0}")]
    Url(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the server answered HTTP {0}: {1}")]
    Http(u16, String),
    #[error("no audio arrived within 10 s")]
    NoAudio,
}

/// Probe settings.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub url: String,
    pub duration: Duration,
    pub token: Option<String>,
    /// Read at most this many bytes per second (emulates a slow listener).
    pub throttle_bytes_per_sec: Option<f64>,
    /// Frames later than this (capture → arrival) count as late.
    pub late_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: &'static str,
    pub loss_percent: f64,
    pub delay_ms: f64,
    pub cause: String,
}

/// What `ondes probe --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub url: String,
    pub transport: &'static str,
    pub duration_secs: f64,
    pub frames_expected: f64,
    pub frames_received: u64,
    pub gaps: u64,
    pub loss_percent: f64,
    pub latency_ms: Percentiles,
    pub jitter_ms: f64,
    pub clock_offset_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub attribution: Vec<StageReport>,
    /// Episodes of latency above its usual level, and how long each took to recover.
    pub time_to_recover: recovery::ProbeRecovery,
    pub ended: Option<String>,
    /// (seconds since start, latency ms) per message, for plots.
    #[serde(skip)]
    pub latency_series: Vec<(f64, f64)>,
    #[serde(skip)]
    pub loss_times: Vec<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs a probe for `opts.duration` after the first frame arrives.
pub async fn run_probe(opts: ProbeOptions, progress: Option<ProgressBar>) -> Result<ProbeReport, ProbeError> {
    let ws = opts.url.starts_with("ws://") || opts.url.starts_with("wss://");
    let whep = !ws && opts.url.split('?').next().unwrap_or("").trim_end_matches('/').ends_with("/whep");
    if whep && opts.throttle_bytes_per_sec.is_some() {
        return Err(ProbeError::Url(
            "--throttle-kbps slows a TCP reader; WHEP is UDP (use ondes netsim --udp)".into(),
        ));
    }
    let (base, stats_url) = server::stats_url(&opts.url)?;
    let (offset_ms, rtt_ms) = match server::clock_offset(&base).await {
        Some((o, r)) => (Some(o), Some(r)),
        None => (None, None),
    };
    let offset_us = (offset_ms.unwrap_or(0.0) * 1000.0) as i64;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (url, token, throttle) = (opts.url.clone(), opts.token.clone(), opts.throttle_bytes_per_sec);
    let reader = if whep {
        // RTP carries frame numbers modulo 2³²: the stream's current number finds the rest
        let near = server::get_json(&stats_url, opts.token.as_deref())
            .await
            .ok()
            .and_then(|v| v["next_frame"].as_u64());
        tokio::spawn(arrivals::read_whep(url, token, near, tx))
    } else if ws {
        tokio::spawn(arrivals::read_ws(url, token, throttle, tx))
    } else {
        tokio::spawn(arrivals::read_sse(url, token, throttle, tx))
    };

    // wait for the connection and the first frame
    let mut conn_id = None;
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Event::Hello(h))) => conn_id = h.connection_id,
            Ok(Some(Event::Arrival(a))) => break a,
            Ok(Some(Event::Ended(m))) => return Err(ProbeError::Connect(m)),
            Ok(None) => {
                return Err(match reader.await {
                    Ok(Err(e)) => e,
                    _ => ProbeError::NoAudio,
                });
            }
            Err(_) => return Err(ProbeError::NoAudio),
        }
    };
    let before = server::get_json(&stats_url, opts.token.as_deref()).await.ok();
    let started = Instant::now();
    let start_us = now_us();
    let mut arrivals = vec![first];
    let mut ended = None;
    if let Some(pb) = &progress {
        pb.set_length(opts.duration.as_secs());
    }
    let on_event = |ev: Event,
                    arrivals: &mut Vec<arrivals::Arrival>,
                    conn_id: &mut Option<String>,
                    ended: &mut Option<String>| match ev {
        Event::Hello(h) => {
            *conn_id = h.connection_id.or(conn_id.take());
            true
        }
        Event::Ended(m) => {
            *ended = Some(m);
            false
        }
        Event::Arrival(a) => {
            arrivals.push(a);
            if let Some(pb) = &progress {
                pb.set_position(started.elapsed().as_secs());
                pb.set_message(format!("{} messages", arrivals.len()));
            }
            true
        }
    };
    while started.elapsed() < opts.duration {
        let left = opts.duration.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(ev)) => {
                if !on_event(ev, &mut arrivals, &mut conn_id, &mut ended) {
                    break;
                }
            }
            _ => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // read the server's counters while this connection is still registered
    let after = server::get_json(&stats_url, opts.token.as_deref()).await.ok();
    // the window is the sequence range the server produced between the two snapshots;
    // keep reading until the frames in flight (socket buffers) up to its end have arrived
    let seq_range = match (&before, &after) {
        (Some(b), Some(a)) => {
            // `next_frame` is the number the stream's next frame gets (numbers come from the
            // wall clock); a server without it numbered from 0, so its frame count is that
            let next =
                |v: &serde_json::Value| v["next_frame"].as_u64().or(v["total_frames"].as_u64()).unwrap_or(0);
            let (s0, s1) = (next(b), next(a));
            let deadline = Instant::now() + Duration::from_secs(3);
            while ended.is_none() && arrivals.last().is_some_and(|l| l.first_seq + l.frames < s1) {
                match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), rx.recv())
                    .await
                {
                    Ok(Some(ev)) => {
                        if !on_event(ev, &mut arrivals, &mut conn_id, &mut ended) {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            Some((s0, s1))
        }
        _ => None,
    };
    // frames of the window may be skipped for this listener after the wall-clock window
    // (its cursor trails live): read this connection's skip count once it has caught up
    let caught_up = server::get_json(&stats_url, opts.token.as_deref()).await.ok();
    drop(rx);
    if whep {
        // the WHEP reader sees nobody reads any more and DELETEs its session
        let _ = tokio::time::timeout(Duration::from_secs(3), reader).await;
    } else {
        reader.abort();
    }
    let (lo, hi) = seq_range.unwrap_or((0, u64::MAX));
    let mut next_seq: Option<u64> = None;
    let (mut received, mut gaps, mut late) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut series = Vec::new();
    let mut loss_times = Vec::new();
    let mut jitter = JitterEstimator::default();
    let mut frame_us = first.frame_us.max(1);
    for a in &arrivals {
        frame_us = a.frame_us.max(1);
        let (a_lo, a_hi) = (a.first_seq, a.first_seq + a.frames);
        let t = (a.arrival_us - start_us) as f64 / 1e6;
        if let Some(n) = next_seq {
            // missing sequence numbers inside the window
            let (g_lo, g_hi) = (n.max(lo), a_lo.min(hi));
            if g_hi > g_lo {
                gaps += g_hi - g_lo;
                loss_times.push(t);
            }
        }
        next_seq = Some(next_seq.map_or(a_hi, |n| n.max(a_hi)));
        let in_window = a_lo.max(lo) < a_hi.min(hi);
        if !in_window {
            continue;
        }
        received += a_hi.min(hi) - a_lo.max(lo);
        let capture_last = a.capture_us + (a.frames as i64 - 1) * a.frame_us as i64;
        let transit = a.arrival_us + offset_us - capture_last;
        let latency = transit as f64 / 1000.0;
        if latency > opts.late_ms {
            late += a.frames;
        }
        jitter.update(transit);
        latencies.push(latency);
        series.push((t, latency));
    }
    let (b, a) = match (&before, &after) {
        (Some(b), Some(a)) => {
            let mut a = server::counters(a, conn_id.as_deref());
            if let Some(c) = &caught_up {
                a.conn_skipped = server::counters(c, conn_id.as_deref()).conn_skipped;
            }
            (server::counters(b, conn_id.as_deref()), a)
        }
        _ => Default::default(),
    };
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 50.0);
    let counters = ProbeCounters {
        duration_secs: elapsed,
        frames_per_second: 1e6 / frame_us as f64,
        received,
        probe_gaps: gaps,
        late,
        produced: a.produced.saturating_sub(b.produced),
        publisher_gaps: a.publisher_gaps.saturating_sub(b.publisher_gaps),
        publisher_out_of_order: a.publisher_out_of_order.saturating_sub(b.publisher_out_of_order),
        publisher_underruns: a.publisher_underruns.saturating_sub(b.publisher_underruns),
        publisher_idle: a.publisher_idle.saturating_sub(b.publisher_idle),
        hub_skipped: a.conn_skipped.saturating_sub(b.conn_skipped),
        send_failed: 0,
        server_latency_ms: a.conn_latency_ms,
        probe_latency_p50_ms: p50,
    };
    let attribution = attribute(&counters);
    Ok(ProbeReport {
        url: opts.url,
        transport: if whep {
            "whep"
        } else if ws {
            "ws"
        } else {
            "sse"
        },
        duration_secs: elapsed,
        frames_expected: ondes_sim::attribution::expected_frames(&counters),
        frames_received: received,
        gaps,
        loss_percent: total_loss_percent(&attribution),
        latency_ms: Percentiles {
            p50,
            p99: percentile(&latencies, 99.0),
            max: latencies.last().copied().unwrap_or(0.0),
        },
        jitter_ms: jitter.jitter_ms(),
        clock_offset_ms: offset_ms,
        rtt_ms,
        attribution: attribution
            .into_iter()
            .map(|s| StageReport {
                stage: s.stage,
                loss_percent: s.loss_percent,
                delay_ms: s.delay_ms,
                cause: s.cause,
            })
            .collect(),
        time_to_recover: recovery::recovery(&series, frame_us as f64 / 1000.0),
        ended,
        latency_series: series,
        loss_times,
    })
}

impl ProbeReport {
    /// A table for people.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "probe {} ({}) for {:.1} s\n  frames received {} of {:.0} expected, {} missing\n  loss {:.2}%   latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms   jitter {:.2} ms\n",
            self.url,
            self.transport,
            self.duration_secs,
            self.frames_received,
            self.frames_expected,
            self.gaps,
            self.loss_percent,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.jitter_ms
        );
        if let (Some(o), Some(r)) = (self.clock_offset_ms, self.rtt_ms) {
            s += &format!("  clock offset {o:+.2} ms (rtt {r:.2} ms)\n");
        }
        s += &format!("  time to recover: {}\n", self.time_to_recover.summary());
        s += "\n  stage       loss %   delay ms  cause\n";
        for a in &self.attribution {
            s += &format!("  {:<10} {:>7.2}  {:>9.2}  {}\n", a.stage, a.loss_percent, a.delay_ms, a.cause);
        }
        if let Some(e) = &self.ended {
            s += &format!("\n  the stream ended: {e}\n");
        }
        s
    }

    /// SLA breaches, as messages (empty when met).
    pub fn breaches(&self, max_loss: Option<f64>, max_p99: Option<f64>) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(m) = max_loss
            && self.loss_percent > m
        {
            v.push(format!("loss {:.2}% > {m}%", self.loss_percent));
        }
        if let Some(m) = max_p99
            && self.latency_ms.p99 > m
        {
            v.push(format!("p99 latency {:.1} ms > {m} ms", self.latency_ms.p99));
        }
        v
    }
}
