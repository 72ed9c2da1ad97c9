//! `ondes bench say`: text → first audio at a WebSocket listener, over many utterances.
//!
//! One WebSocket listener (`rung=pcm16&batch=1`, so no batching adds to the figure) stays on
//! the stream. For each utterance the clock starts just before `POST …/say` is sent and stops
//! when the listener has the first audio frame after that utterance's `utterance-start`
//! notice: what a person at the listener would wait. Unless `interrupt` is set, each utterance
//! is let play to its `utterance-end` before the next, so every one starts on an idle queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::Events;
use futures_util::StreamExt;
use ondes_client::say::{SayRequest, say};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

/// What to measure.
pub struct SayBenchOptions {
    pub server: String,
    pub stream: String,
    pub token: Option<String>,
    pub count: usize,
    pub text: String,
    pub engine: Option<String>,
    pub interrupt: bool,
}

/// The figures, ms.
#[derive(Debug, Serialize)]
pub struct SayBenchReport {
    pub utterances: usize,
    pub engine: String,
    pub text: String,
    pub interrupt: bool,
    /// Request sent → first audio frame at the listener.
    pub first_audio_ms: Quantiles,
    /// As the server measured it: request arrival → first frame synthesised.
    pub server_first_pcm_ms: Quantiles,
    /// As the server measured it: request arrival → first frame in the stream.
    pub server_first_frame_ms: Quantiles,
}

#[derive(Debug, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

impl Quantiles {
    fn of(mut v: Vec<f64>) -> Quantiles {
        if v.is_empty() {
            return Quantiles { p50: f64::NAN, p95: f64::NAN, max: f64::NAN, mean: f64::NAN };
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
        Quantiles {
            p50: q(0.5),
            p95: q(0.95),
            max: v[v.len() - 1],
            mean: v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum SayBenchError {
    #[error("WebSocket listener on {url}: {message}")]
    Listener { url: String, message: String },
    #[error(transparent)]
    Say(#[from] ondes_client::say::SayError),
    #[error("utterance {0}: the listener got no audio within 10 s")]
    NoAudio(u64),
}

mod events {
    //! What the listener task saw, shared with the request loop.
    use std::collections::HashMap;
    use std::time::Instant;

    #[derive(Default)]
    pub struct Events {
        /// utterance → when its first audio frame arrived.
        pub first_audio: HashMap<u64, Instant>,
        /// utterances that ended.
        pub ended: HashMap<u64, Instant>,
    }
}

pub async fn run_say_bench(o: &SayBenchOptions) -> Result<SayBenchReport, SayBenchError> {
    let ws_url = format!(
        "{}/api/streams/{}/ws?rung=pcm16&batch=1{}",
        o.server.trim_end_matches('/').replacen("http", "ws", 1),
        o.stream,
        o.token.as_ref().map(|t| format!("&access_token={t}")).unwrap_or_default()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .map_err(|e| SayBenchError::Listener { url: ws_url.clone(), message: e.to_string() })?;
    let events = Arc::new(std::sync::Mutex::new(Events::default()));
    let notify = Arc::new(tokio::sync::Notify::new());
    let (ev, nt) = (events.clone(), notify.clone());
    let reader = tokio::spawn(async move {
        let mut started: Option<u64> = None;
        while let Some(Ok(m)) = ws.next().await {
            let at = Instant::now();
            match m {
                Message::Binary(_) => {
                    if let Some(id) = started.take() {
                        // a poisoned lock means the request loop panicked: stop listening
                        let Ok(mut e) = ev.lock() else { return };
                        e.first_audio.insert(id, at);
                        nt.notify_waiters();
                    }
                }
                Message::Text(t) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    match v["status"].as_str() {
                        Some("utterance-start") => started = v["id"].as_u64(),
                        Some("utterance-end") => {
                            if let (Some(id), Ok(mut e)) = (v["id"].as_u64(), ev.lock()) {
                                e.ended.insert(id, at);
                                nt.notify_waiters();
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    });
    let client = ondes_client::tls::http_builder()
        .no_proxy()
        .build()
        .map_err(|e| SayBenchError::Listener { url: o.server.clone(), message: e.to_string() })?;
    // let the listener settle on the stream
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut first_audio = Vec::new();
    let (mut first_pcm, mut first_frame) = (Vec::new(), Vec::new());
    let mut engine = String::new();
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    for i in 0..o.count {
        let req = SayRequest {
            text: o.text.replace("{n}", &(i + 1).to_string()),
            voice: None,
            engine: o.engine.clone(),
            interrupt: o.interrupt,
        };
        let sent = Instant::now();
        let a = say(&client, &o.server, &o.stream, o.token.as_deref(), &req).await?;
        engine = a.engine.clone();
        sent_at.insert(a.utterance, sent);
        first_pcm.extend(a.first_pcm_ms);
        first_frame.extend(a.first_frame_ms);
        let id = a.utterance;
        let deadline = Instant::now() + Duration::from_secs(10);
        let heard = loop {
            let waiter = notify.notified();
            {
                let e = events.lock().map_err(|_| SayBenchError::NoAudio(id))?;
                let done = e.first_audio.get(&id).copied();
                if let Some(t) = done
                    && (o.interrupt || e.ended.contains_key(&id))
                {
                    break t;
                }
            }
            if Instant::now() > deadline {
                return Err(SayBenchError::NoAudio(id));
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), waiter).await;
        };
        first_audio.push((heard - sent).as_secs_f64() * 1000.0);
    }
    reader.abort();
    Ok(SayBenchReport {
        utterances: first_audio.len(),
        engine,
        text: o.text.clone(),
        interrupt: o.interrupt,
        first_audio_ms: Quantiles::of(first_audio),
        server_first_pcm_ms: Quantiles::of(first_pcm),
        server_first_frame_ms: Quantiles::of(first_frame),
    })
}

/// The report as a table.
pub fn render_table(r: &SayBenchReport) -> String {
    let row = |name: &str, q: &Quantiles| {
        format!("{name:<34} {:>8.1} {:>8.1} {:>8.1} {:>8.1}\n", q.p50, q.p95, q.max, q.mean)
    };
    let mut s = format!(
        "{} utterances, engine {}, {}\n{:<34} {:>8} {:>8} {:>8} {:>8}\n",
        r.utterances,
        r.engine,
        if r.interrupt { "each one interrupting the last" } else { "each on an idle queue" },
        "ms",
        "p50",
        "p95",
        "max",
        "mean"
    );
    s += &row("text → first audio at listener", &r.first_audio_ms);
    s += &row("server: arrival → first PCM", &r.server_first_pcm_ms);
    s += &row("server: arrival → frame in stream", &r.server_first_frame_ms);
    s
}
