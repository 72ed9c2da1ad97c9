//! Span timing for applications: measure your own stages (STT, LLM, TTS, …) and ship them
//! to the server's performance monitor (`POST /api/perf/spans`), so one report covers the
//! whole voice pipeline.
//!
//! ```no_run
//! # async fn demo() -> Result<(), std::io::Error> {
//! use ondes_client::spans::Spans;
//! let spans = Spans::new("http://127.0.0.1:8080", "TOKEN-with-publish");
//! // an async block, ok/err from its Result
//! let text = spans
//!     .measure("stt_processing", &[("model", "small")], async { Ok::<_, std::io::Error>("hello") })
//!     .await?;
//! // a sync block: recorded when the guard drops (call `fail()` to mark an error)
//! {
//!     let _g = spans.start("llm_response", &[("model", "large")]);
//!     // … call the model …
//! }
//! spans.flush().await; // before exiting: ship what is queued
//! # let _ = text; Ok(()) }
//! ```
//!
//! The caller's thread only reads two clocks and queues the record (`try_send` on a bounded
//! channel: it never waits; a full queue drops the span and counts it, [`SpanCounts`]). A
//! background task batches the records and posts them; a failed post is counted, never
//! retried forever. `Spans::new` must be called inside a tokio runtime.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Tuning of the shipper.
#[derive(Debug, Clone)]
pub struct SpansOptions {
    /// Spans queued at most; beyond, new spans are dropped and counted.
    pub queue: usize,
    /// Spans per POST at most (the server's `perf.max_spans_per_request` defaults to 1000).
    pub batch: usize,
    /// A partial batch is posted after this long.
    pub flush_every: Duration,
}

impl Default for SpansOptions {
    fn default() -> Self {
        SpansOptions { queue: 4096, batch: 200, flush_every: Duration::from_millis(250) }
    }
}

/// What happened to the spans so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpanCounts {
    /// Posted and accepted by the server.
    pub accepted: u64,
    /// Posted and refused by the server (a bad name, the client's share of names).
    pub rejected: u64,
    /// Dropped on the caller's side because the queue was full.
    pub dropped: u64,
    /// Lost because a post failed (server unreachable, bad token, …).
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// One span as posted.
#[derive(Debug, Clone, Serialize)]
struct Record {
    name: String,
    start_us: u64,
    duration_us: u64,
    ok: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_object")]
    attributes: Vec<(String, String)>,
}

fn as_object<S: serde::Serializer>(attrs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(attrs.iter().map(|(k, v)| (k, v)))
}

enum Msg {
    Span(Record),
    Flush(oneshot::Sender<()>),
}

/// The span client (see the module docs). Cheap to share by reference; drop it to stop
/// the background task (what is queued is posted first).
pub struct Spans {
    tx: mpsc::Sender<Msg>,
    counts: Arc<Counters>,
}

fn wall_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn attrs_of(attrs: &[(&str, &str)]) -> Vec<(String, String)> {
    attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Spans {
    /// A client posting to `server` (`http://HOST:PORT`) with a token that has `publish`.
    pub fn new(server: &str, token: impl Into<String>) -> Spans {
        Spans::with_options(server, token, SpansOptions::default())
    }

    pub fn with_options(server: &str, token: impl Into<String>, opts: SpansOptions) -> Spans {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let counts = Arc::new(Counters::default());
        let url = format!("{}/api/perf/spans", server.trim_end_matches('/'));
        tokio::spawn(ship(rx, url, token.into(), opts, counts.clone()));
        Spans { tx, counts }
    }

    /// Starts timing `name`; recorded when the guard drops (ok unless [`SpanGuard::fail`]).
    pub fn start(&self, name: &str, attrs: &[(&str, &str)]) -> SpanGuard<'_> {
        SpanGuard {
            spans: self,
            name: name.to_string(),
            attrs: attrs_of(attrs),
            start: Instant::now(),
            start_us: wall_us(),
            ok: true,
            armed: true,
        }
    }

    /// Times `fut`; the span is ok when it returns `Ok`.
    pub async fn measure<T, E, F>(&self, name: &str, attrs: &[(&str, &str)], fut: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut g = self.start(name, attrs);
        let out = fut.await;
        if out.is_err() {
            g.fail();
        }
        out
    }

    /// Records a duration measured by the caller, ending now.
    pub fn record(&self, name: &str, attrs: &[(&str, &str)], duration: Duration, ok: bool) {
        let duration_us = duration.as_micros() as u64;
        self.push(Record {
            name: name.to_string(),
            start_us: wall_us().saturating_sub(duration_us),
            duration_us,
            ok,
            attributes: attrs_of(attrs),
        });
    }

    fn push(&self, r: Record) {
        if self.tx.try_send(Msg::Span(r)).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Posts everything queued so far and waits for the answer.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn counts(&self) -> SpanCounts {
        let c = &self.counts;
        SpanCounts {
            accepted: c.accepted.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// A span being timed; recorded on drop.
#[must_use = "the span is recorded when the guard drops; binding it to `_` drops it at once"]
pub struct SpanGuard<'a> {
    spans: &'a Spans,
    name: String,
    attrs: Vec<(String, String)>,
    start: Instant,
    start_us: u64,
    ok: bool,
    armed: bool,
}

impl SpanGuard<'_> {
    /// Marks the span as failed.
    pub fn fail(&mut self) {
        self.ok = false;
    }

    /// Drops the span without recording it.
    pub fn cancel(mut self) {
        self.armed = false;
    }
}

impl Drop for SpanGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let record = Record {
            name: std::mem::take(&mut self.name),
            start_us: self.start_us,
            duration_us: self.start.elapsed().as_micros() as u64,
            ok: self.ok,
            attributes: std::mem::take(&mut self.attrs),
        };
        self.spans.push(record);
    }
}

/// The background task: batches of up to `opts.batch`, at least every `flush_every`.
async fn ship(
    mut rx: mpsc::Receiver<Msg>,
    url: String,
    token: String,
    opts: SpansOptions,
    counts: Arc<Counters>,
) {
    let client = match crate::tls::http_builder().no_proxy().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("spans: cannot build an HTTP client, spans are dropped: {e}");
            return;
        }
    };
    let mut batch: Vec<Record> = Vec::with_capacity(opts.batch);
    // a server that is down would otherwise be reported four times a second
    let mut last_warning: Option<Instant> = None;
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let deadline = tokio::time::sleep(opts.flush_every);
        tokio::pin!(deadline);
        let mut closed = false;
        while batch.len() < opts.batch && waiting.is_empty() {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Msg::Span(r)) => batch.push(r),
                    Some(Msg::Flush(done)) => waiting.push(done),
                    None => { closed = true; break; }
                },
                _ = &mut deadline => break,
            }
        }
        if !batch.is_empty() {
            if let Err(why) = post(&client, &url, &token, &batch, &counts).await
                && last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10))
            {
                last_warning = Some(Instant::now());
                tracing::warn!("spans: {why} (the next such warning in 10 s at the earliest)");
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if closed {
            return;
        }
    }
}

/// Posts one batch and counts the outcome; the error says why the batch was lost.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    batch: &[Record],
    counts: &Counters,
) -> Result<(), String> {
    let n = batch.len() as u64;
    let body = match serde_json::to_vec(&serde_json::json!({ "spans": batch })) {
        Ok(b) => b,
        Err(e) => {
            counts.failed.fetch_add(n, Ordering::Relaxed);
            return Err(format!("cannot serialise a batch of {n}: {e}"));
        }
    };
    let resp = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let answer = match resp {
        Ok(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .map_err(|e| format!("unreadable answer to a batch of {n}: {e}")),
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            Err(format!("the server refused a batch of {n} (HTTP {status}): {body:.300}"))
        }
        Err(e) => Err(format!("posting a batch of {n} failed: {e}")),
    };
    match answer {
        Ok(v) => {
            let accepted = v["accepted"].as_u64().unwrap_or(0);
            counts.accepted.fetch_add(accepted, Ordering::Relaxed);
            counts.rejected.fetch_add(n.saturating_sub(accepted), Ordering::Relaxed);
            Ok(())
        }
        Err(why) => {
            counts.failed.fetch_add(n, Ordering::Relaxed);
            Err(why)
        }
    }
}
