//! Prometheus metrics (`GET /metrics`), one registry per server (no global state, so
//! several servers in one process — as in the tests — do not mix their figures).
//!
//! Hot-path figures are atomics the server keeps anyway (hub and publisher counters);
//! they are copied into the Prometheus counters when `/metrics` is scraped, so the
//! per-frame cost of exposing them is zero. Histograms (stage durations, latency) are
//! observed where the time is measured, through handles resolved once per session.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::perf::{DefaultOp, ServerPerf};
use crate::state::AppState;

/// The stages ondes times itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Capture,
    Decode,
    Encode,
    Fanout,
    Send,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Decode => "decode",
            Stage::Encode => "encode",
            Stage::Fanout => "fanout",
            Stage::Send => "send",
        }
    }

    fn op(self) -> DefaultOp {
        match self {
            Stage::Capture => DefaultOp::Capture,
            Stage::Decode => DefaultOp::Decode,
            Stage::Encode => DefaultOp::Encode,
            Stage::Fanout => DefaultOp::Fanout,
            Stage::Send => DefaultOp::Send,
        }
    }
}

/// All metric families of one server.
pub struct Metrics {
    registry: Registry,
    stage_seconds: HistogramVec,
    latency_seconds: HistogramVec,
    e2e_latency_seconds: HistogramVec,
    frames_produced: IntCounterVec,
    frames_delivered: IntCounterVec,
    frames_dropped: IntCounterVec,
    silence_frames: IntCounterVec,
    bytes_sent: IntCounterVec,
    sessions: IntGaugeVec,
    client_underruns: IntCounterVec,
    client_concealed_ms: IntCounterVec,
    pub bitrate_switches: IntCounterVec,
    /// Canary rollbacks of adaptive delivery to legacy, by stream.
    pub delivery_rollbacks: IntCounterVec,
    webrtc_lost: IntCounterVec,
    connections_rejected: IntCounter,
    tts_first_audio_seconds: HistogramVec,
    perf: Arc<ServerPerf>,
    stages_enabled: bool,
    /// Serialises rendering and forgetting a removed stream.
    render_lock: parking_lot::Mutex<()>,
}

/// Listener transports, as connections name them.
const TRANSPORTS: [&str; 4] = ["sse", "ws", "http", "whep"];
const STAGES: [Stage; 5] = [Stage::Capture, Stage::Decode, Stage::Encode, Stage::Fanout, Stage::Send];
/// Stages where frames are lost (`ondes_frames_dropped_total{stage}`).
const DROP_HUB_LAG: &str = "hub_lag";
const DROP_SEND: &str = "send";
const DROP_SOURCE: &str = "source";
const DROP_PUBLISHER_QUEUE: &str = "publisher_queue";
/// Frames a stream's recorder did not write (a failed write, or it fell behind).
const DROP_RECORDING: &str = "recording";
/// Why a publish stream played silence (`ondes_silence_frames_total{reason}`).
const SILENCE_UNDERRUN: &str = "underrun";
const SILENCE_IDLE: &str = "idle";
const SILENCE_DEVICE_LOST: &str = "device_lost";

/// Frames a stream lost so far, per stage (`ondes_frames_dropped_total{stage}`): listeners
/// skipped to live (`hub_lag`), failed sends, the source's gaps and a capture device's
/// overruns (`source`), a publisher's frames out of order (`publisher_queue`), and frames the
/// recorder did not write.
pub fn frame_drops(s: &crate::stream::Stream) -> Vec<(&'static str, u64)> {
    let hub = &s.hub.stats;
    let queue = s.publisher.as_ref().map(|p| p.stats().queue);
    // a capture source's overruns are frames lost at the source too
    let source = queue.as_ref().map_or(0, |q| q.gap_frames)
        + s.capture.as_ref().map_or(0, |c| c.snapshot().dropped_frames);
    let mut v = vec![
        (DROP_HUB_LAG, hub.dropped_frames.load(Ordering::Relaxed)),
        (DROP_SEND, hub.send_failed_frames.load(Ordering::Relaxed)),
        (DROP_SOURCE, source),
        (DROP_PUBLISHER_QUEUE, queue.as_ref().map_or(0, |q| q.out_of_order_frames)),
    ];
    if let Some(r) = &s.recorder {
        v.push((DROP_RECORDING, r.stats().frames_dropped));
    }
    v
}

/// Latency buckets: 1 ms … 10 s.
const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];
/// Stage buckets: 10 µs … 1 s.
const STAGE_BUCKETS: [f64; 14] =
    [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

// Metric names and label sets below are literals registered once into a fresh registry:
// definition and registration cannot fail, so the `expect`s document an impossibility.
fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(c.clone())).expect("unique metric name");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .expect("valid metric definition");
    r.register(Box::new(h.clone())).expect("unique metric name");
    h
}

/// A stage timer bound to one stream (labels resolved once).
#[derive(Clone)]
pub struct StageHandle {
    hist: Option<Histogram>,
    perf: Arc<ServerPerf>,
    op: DefaultOp,
}

impl StageHandle {
    pub fn record(&self, d: Duration) {
        if let Some(h) = &self.hist {
            h.observe(d.as_secs_f64());
            self.perf.record_id(self.op.id(), d, true);
        }
    }
}

/// Records time to first audio of an utterance (`tts_first_audio` in the perf monitor,
/// `ondes_tts_first_audio_seconds` in `/metrics`): the total and each stage, by name.
#[derive(Clone)]
pub struct TtsFirstAudioHandle {
    hist: HistogramVec,
    stream: String,
    perf: Arc<ServerPerf>,
}

impl TtsFirstAudioHandle {
    /// `stages`: `(name, µs)`; `total` is recorded as the operation `tts_first_audio`, each
    /// stage as `tts_first_audio.<stage>`.
    pub fn record(&self, stages: &[(&str, u64)]) {
        let now = crate::clock::now_us().max(0) as u64;
        for (stage, us) in stages {
            self.hist.with_label_values(&[self.stream.as_str(), stage]).observe(*us as f64 / 1e6);
            let name = if *stage == "total" {
                "tts_first_audio".to_string()
            } else {
                format!("tts_first_audio.{stage}")
            };
            // a refused name (the table is full) loses this figure only, never the audio
            let _ = self.perf.record(&name, *us, true, now);
        }
    }
}

/// Per-session handle for the sampled delivery latency. Frames and bytes delivered are
/// not counted per send: `render` sums them from the connections when `/metrics` is read.
#[derive(Clone)]
pub struct DeliveryHandles {
    pub latency: Histogram,
}

impl Metrics {
    pub fn new(perf: Arc<ServerPerf>, stages_enabled: bool) -> Self {
        let r = Registry::new();
        Metrics {
            stage_seconds: histogram(
                &r,
                "ondes_stage_duration_seconds",
                "Time spent per stage (capture, decode, encode per frame; fanout, send per message).",
                &["stage", "stream"],
                &STAGE_BUCKETS,
            ),
            latency_seconds: histogram(
                &r,
                "ondes_send_latency_seconds",
                "Capture time to hand-off to the listener's socket.",
                &["stream", "transport"],
                &LATENCY_BUCKETS,
            ),
            e2e_latency_seconds: histogram(
                &r,
                "ondes_end_to_end_latency_seconds",
                "Capture to playout, as reported by clients.",
                &["stream"],
                &LATENCY_BUCKETS,
            ),
            frames_produced: counter(
                &r,
                "ondes_frames_produced_total",
                "Frames produced by the source.",
                &["stream"],
            ),
            frames_delivered: counter(
                &r,
                "ondes_frames_delivered_total",
                "Frames handed to listeners' sockets.",
                &["stream", "transport"],
            ),
            frames_dropped: counter(
                &r,
                "ondes_frames_dropped_total",
                "Frames lost, by the stage where they were lost: source (never sent by the publisher), \
                 publisher_queue (refused: out of order), hub_lag (skipped for a slow listener), send (socket failed).",
                &["stream", "stage"],
            ),
            silence_frames: counter(
                &r,
                "ondes_silence_frames_total",
                "Silence played in place of audio: underrun (publisher slower than real time), idle (no publisher), device_lost (capture device gone).",
                &["stream", "reason"],
            ),
            bytes_sent: counter(
                &r,
                "ondes_bytes_sent_total",
                "Bytes handed to listeners.",
                &["stream", "transport"],
            ),
            sessions: {
                let g = IntGaugeVec::new(
                    Opts::new("ondes_active_sessions", "Live listener sessions."),
                    &["stream", "transport"],
                )
                .expect("valid metric definition");
                r.register(Box::new(g.clone())).expect("unique metric name");
                g
            },
            client_underruns: counter(
                &r,
                "ondes_client_underruns_total",
                "Playout underruns reported by clients.",
                &["stream"],
            ),
            client_concealed_ms: counter(
                &r,
                "ondes_client_concealed_ms_total",
                "Milliseconds of audio concealed by clients (loss or underrun).",
                &["stream"],
            ),
            webrtc_lost: counter(
                &r,
                "ondes_webrtc_packets_lost_total",
                "WebRTC packets lost, by where: publisher (on a WHIP publisher's way in; concealed or \
                 recovered from FEC), fec_recovered (the part of those rebuilt from in-band FEC), \
                 red_recovered (lost on a WHIP publisher's way in but rebuilt from RED, not in publisher), \
                 listener (on WHEP listeners' way out, from their RTCP receiver reports, live sessions).",
                &["stream", "where"],
            ),
            bitrate_switches: counter(
                &r,
                "ondes_bitrate_switches_total",
                "Rung changes of listeners, by direction.",
                &["stream", "direction"],
            ),
            delivery_rollbacks: counter(
                &r,
                "ondes_delivery_rollbacks_total",
                "Times a stream's canary rolled adaptive delivery back to legacy.",
                &["stream"],
            ),
            connections_rejected: {
                let c = IntCounter::new("ondes_connections_rejected_total", "Connections refused by limits.")
                    .expect("valid metric definition");
                r.register(Box::new(c.clone())).expect("unique metric name");
                c
            },
            tts_first_audio_seconds: histogram(
                &r,
                "ondes_tts_first_audio_seconds",
                "Text to speech (POST /say): request arrival to the utterance's first frame written to a listener (stage=total), and its stages (synthesis, queue, hub, transport).",
                &["stream", "stage"],
                &LATENCY_BUCKETS,
            ),
            registry: r,
            perf,
            stages_enabled,
            render_lock: parking_lot::Mutex::new(()),
        }
    }

    /// Where a listener session records an utterance's time to first audio.
    pub fn tts_first_audio(&self, stream: &str) -> TtsFirstAudioHandle {
        TtsFirstAudioHandle {
            hist: self.tts_first_audio_seconds.clone(),
            stream: stream.into(),
            perf: self.perf.clone(),
        }
    }

    /// A timer for `stage` of `stream` (a no-op when stage timing is off).
    pub fn stage(&self, stage: Stage, stream: &str) -> StageHandle {
        StageHandle {
            hist: self.stages_enabled.then(|| self.stage_seconds.with_label_values(&[stage.name(), stream])),
            perf: self.perf.clone(),
            op: stage.op(),
        }
    }

    /// Delivery counters for a listener session.
    pub fn delivery(&self, stream: &str, transport: &str) -> DeliveryHandles {
        DeliveryHandles { latency: self.latency_seconds.with_label_values(&[stream, transport]) }
    }

    /// Accounts a client report's cumulative counters (deltas against the previous report).
    pub fn client_report(
        &self,
        stream: &str,
        underruns_delta: u64,
        concealed_ms_delta: u64,
        e2e_ms: Option<f64>,
    ) {
        self.client_underruns.with_label_values(&[stream]).inc_by(underruns_delta);
        self.client_concealed_ms.with_label_values(&[stream]).inc_by(concealed_ms_delta);
        if let Some(ms) = e2e_ms.filter(|m| m.is_finite() && *m >= 0.0) {
            self.e2e_latency_seconds.with_label_values(&[stream]).observe(ms / 1000.0);
        }
    }

    /// Drops every series of a stream that was removed, so that a server creating and
    /// removing streams on demand does not accumulate them.
    pub fn forget_stream(&self, id: &str) {
        for stage in crate::ingest::say::FIRST_AUDIO_STAGES {
            let _ = self.tts_first_audio_seconds.remove_label_values(&[id, stage]);
        }
        let _render = self.render_lock.lock();
        // `remove_label_values` fails only for a series that was never created: nothing to do
        for stage in STAGES {
            let _ = self.stage_seconds.remove_label_values(&[stage.name(), id]);
        }
        for transport in TRANSPORTS {
            let _ = self.latency_seconds.remove_label_values(&[id, transport]);
            let _ = self.frames_delivered.remove_label_values(&[id, transport]);
            let _ = self.bytes_sent.remove_label_values(&[id, transport]);
            let _ = self.sessions.remove_label_values(&[id, transport]);
        }
        for stage in [DROP_HUB_LAG, DROP_SEND, DROP_SOURCE, DROP_PUBLISHER_QUEUE, DROP_RECORDING] {
            let _ = self.frames_dropped.remove_label_values(&[id, stage]);
        }
        for w in ["publisher", "fec_recovered", "red_recovered", "listener"] {
            let _ = self.webrtc_lost.remove_label_values(&[id, w]);
        }
        for reason in [SILENCE_UNDERRUN, SILENCE_IDLE, SILENCE_DEVICE_LOST] {
            let _ = self.silence_frames.remove_label_values(&[id, reason]);
        }
        for direction in ["up", "down"] {
            let _ = self.bitrate_switches.remove_label_values(&[id, direction]);
        }
        let _ = self.e2e_latency_seconds.remove_label_values(&[id]);
        let _ = self.delivery_rollbacks.remove_label_values(&[id]);
        let _ = self.frames_produced.remove_label_values(&[id]);
        let _ = self.client_underruns.remove_label_values(&[id]);
        let _ = self.client_concealed_ms.remove_label_values(&[id]);
    }

    /// Copies the server's atomics into counters and renders the text exposition.
    pub fn render(&self, app: &AppState) -> String {
        let catch_up = |c: IntCounter, value: u64| {
            let have = c.get();
            if value > have {
                c.inc_by(value - have);
            }
        };
        // one render at a time, and never beside `forget_stream`: a stream removed while this
        // runs is forgotten after it, not brought back by it
        let _render = self.render_lock.lock();
        let conns = app.connections.list(None);
        let streams = app.streams.list();
        for s in &streams {
            for transport in TRANSPORTS {
                let n = conns.iter().filter(|c| c.stream_id == s.id && c.transport == transport).count();
                self.sessions.with_label_values(&[&s.id, transport]).set(n as i64);
            }
        }
        for s in &streams {
            let hub = &s.entry.hub;
            let id = s.id.as_str();
            // make every family visible from the start, at zero
            self.client_underruns.with_label_values(&[id]);
            self.client_concealed_ms.with_label_values(&[id]);
            self.bitrate_switches.with_label_values(&[id, "up"]);
            self.bitrate_switches.with_label_values(&[id, "down"]);
            self.e2e_latency_seconds.with_label_values(&[id]);
            for transport in TRANSPORTS {
                self.frames_delivered.with_label_values(&[id, transport]);
                self.bytes_sent.with_label_values(&[id, transport]);
                self.latency_seconds.with_label_values(&[id, transport]);
            }
            if self.stages_enabled {
                for stage in STAGES {
                    self.stage_seconds.with_label_values(&[stage.name(), id]);
                }
            }
            for transport in TRANSPORTS {
                let d = app.connections.delivered(Some(id), Some(transport));
                catch_up(self.frames_delivered.with_label_values(&[id, transport]), d.frames);
                catch_up(self.bytes_sent.with_label_values(&[id, transport]), d.bytes);
            }
            catch_up(
                self.frames_produced.with_label_values(&[id]),
                hub.stats.total_frames.load(Ordering::Relaxed),
            );
            let dropped = |stage: &str| self.frames_dropped.with_label_values(&[id, stage]);
            for (stage, n) in frame_drops(&s.entry) {
                catch_up(dropped(stage), n);
            }
            let (underrun, idle) = s
                .entry
                .publisher
                .as_ref()
                .map_or((0, 0), |p| (p.stats().queue.underrun_frames, p.stats().queue.idle_frames));
            let device_lost = s.entry.capture.as_ref().map_or(0, |c| c.snapshot().lost_frames);
            let (concealed, fec, red) = s.entry.publisher.as_ref().map_or((0, 0, 0), |p| {
                let st = p.stats();
                (st.concealed_frames, st.fec_recovered, st.red_recovered)
            });
            let lost = |w: &str| self.webrtc_lost.with_label_values(&[id, w]);
            catch_up(lost("publisher"), concealed + fec);
            catch_up(lost("fec_recovered"), fec);
            catch_up(lost("red_recovered"), red);
            let to_listeners: u64 = conns
                .iter()
                .filter(|c| c.stream_id == s.id && c.transport == "whep")
                .filter_map(|c| c.webrtc.lock().map(|w| w.packets_lost))
                .sum();
            catch_up(lost("listener"), to_listeners);
            catch_up(self.silence_frames.with_label_values(&[id, SILENCE_UNDERRUN]), underrun);
            catch_up(self.silence_frames.with_label_values(&[id, SILENCE_IDLE]), idle);
            if s.entry.capture.is_some() {
                catch_up(self.silence_frames.with_label_values(&[id, SILENCE_DEVICE_LOST]), device_lost);
            }
        }
        catch_up(self.connections_rejected.clone(), app.connections.rejected());
        let mut buf = Vec::new();
        // encoding our own registry's families into a Vec cannot fail
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
