//! The WebSocket send: connect, learn the stream's layout, open the source, run sessions,
//! reconnect with backoff when a connection is lost, and account for every frame.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::backoff::{Backoff, Jitter};
use super::connect::{ConnectError, ServerInfo, WsStream, connect};
use super::encode::{Batch, FrameEncoder, SendCodec};
use super::fault::DropBeforeSend;
use super::flow::{Pacing, SendFlow};
use super::frame_log::FrameLog;
use super::options::{SendOptions, Target};
use super::report::SendReport;
use super::session::{self, Clock, SessionEnd, Shared, Writer, lock};
use super::source::{self, Layout, PreparedSource, SourceSpec};
use super::{SendError, ingest, whip};

/// Sends `opts.source` to `opts.to` and returns the report.
///
/// `progress`, if given, shows what has been sent (the caller decides whether it is drawn).
/// A send that stops early (the server refused our audio, the connection could not be
/// re-established, frames were left unacknowledged) returns [`SendError::Failed`] with the
/// report of what did happen.
pub async fn send(opts: SendOptions, progress: Option<ProgressBar>) -> Result<SendReport, SendError> {
    opts.validate()?;
    let clock = Clock(Instant::now());
    let spec = SourceSpec::parse(&opts.source)?;
    let target = if opts.whip { Target::whip(&opts.to)? } else { Target::parse(&opts.to)? };
    // starts a TTS engine now, so it synthesises while we connect
    let prepared = PreparedSource::prepare(&spec)?;
    let report = SendReport {
        target: opts.to.clone(),
        source: opts.source.clone(),
        codec: opts.codec.wire().name().to_string(),
        bitrate_kbps: match opts.codec {
            SendCodec::Opus { bitrate_bps } => bitrate_bps / 1000,
            SendCodec::Pcm16 => 0,
        },
        batch: opts.batch,
        pacing: match opts.pacing {
            Pacing::RealTime { .. } => "real-time".into(),
            Pacing::Burst => "burst".into(),
        },
        ..SendReport::default()
    };
    if let Some(p) = &progress {
        p.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").unwrap_or_else(|_| {
            // the template is a constant known to parse; the default style is a fine fallback
            ProgressStyle::default_spinner()
        }));
        p.enable_steady_tick(std::time::Duration::from_millis(200));
        p.set_message("connecting");
    }
    let result = match target {
        Target::WebSocket(url) => send_ws(&url, &opts, prepared, clock, report, progress.as_ref()).await,
        Target::Ingest { url, base, stream } => {
            ingest::send(&url, &base, &stream, &opts, prepared, clock, report, progress.as_ref()).await
        }
        Target::Whip { url, base, stream } => {
            whip::send(&url, &base, &stream, &opts, prepared, clock, report, progress.as_ref()).await
        }
    };
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    result
}

/// The publish URLs of a send, the one in use first: `--to`, then the fallbacks.
struct Urls {
    all: Vec<String>,
    current: usize,
}

impl Urls {
    fn new(to: &str, fallback: &[String]) -> Self {
        Urls { all: std::iter::once(to.to_string()).chain(fallback.iter().cloned()).collect(), current: 0 }
    }

    fn current(&self) -> &str {
        &self.all[self.current]
    }

    /// Moves to the next URL; true when that starts a new round (back at the first tried).
    fn advance(&mut self, round_start: usize) -> bool {
        self.current = (self.current + 1) % self.all.len();
        self.current == round_start
    }
}

/// Connects, retrying with backoff on failures worth retrying, to the current URL and then
/// each fallback in turn (a failed URL is left for the next at once; the backoff delay comes
/// between rounds). `delay_first` waits a backoff delay before the first attempt (after a
/// lost connection, not at the start).
async fn connect_retrying(
    urls: &mut Urls,
    opts: &SendOptions,
    backoff: &mut Backoff,
    jitter: &mut Jitter,
    failures: &mut u64,
    delay_first: bool,
) -> Result<(WsStream, ServerInfo), String> {
    let mut rounds = 0u32;
    let mut delay = delay_first;
    let mut round_start = urls.current;
    loop {
        if delay {
            tokio::time::sleep(backoff.next_delay(jitter.sample())).await;
        }
        match connect(urls.current(), opts.token.as_deref(), opts.ack_timeout, &opts.tls).await {
            Ok(ok) => return Ok(ok),
            Err(ConnectError::Fatal(why)) => return Err(why),
            Err(ConnectError::Retry(why)) => {
                *failures += 1;
                tracing::info!(%why, url = urls.current(), attempt = rounds + 1, "publish connection failed; retrying");
                delay = urls.advance(round_start);
                if delay {
                    rounds += 1;
                    round_start = urls.current;
                    if rounds > opts.max_retries {
                        let n = urls.all.len();
                        let tried = if n == 1 { String::new() } else { format!(" to each of {n} URLs") };
                        return Err(format!(
                            "gave up after {rounds} failed connection attempt(s){tried}: {why}"
                        ));
                    }
                }
            }
        }
    }
}

fn check_layout(given: Option<Layout>, server: Layout) -> Result<(), SendError> {
    match given {
        Some(g) if g != server => Err(SendError::Options(format!(
            "the stream is {} Hz, {} channel(s), {} µs frames, not {} Hz, {} channel(s), {} µs as given",
            server.sample_rate, server.channels, server.frame_us, g.sample_rate, g.channels, g.frame_us
        ))),
        _ => Ok(()),
    }
}

async fn send_ws(
    url: &str,
    opts: &SendOptions,
    prepared: PreparedSource,
    clock: Clock,
    mut report: SendReport,
    progress: Option<&ProgressBar>,
) -> Result<SendReport, SendError> {
    let mut backoff = Backoff::new(opts.initial_backoff, opts.max_backoff);
    let mut jitter = Jitter::from_clock();
    let mut urls = Urls::new(url, &opts.fallback);
    let (mut ws, info) =
        connect_retrying(&mut urls, opts, &mut backoff, &mut jitter, &mut report.connect_failures, false)
            .await
            .map_err(SendError::Connect)?;
    report.connected_to = urls.current().to_string();
    let layout = info.layout;
    check_layout(opts.layout, layout)?;
    set_layout(&mut report, layout);
    let frame_log = match &opts.frame_log {
        Some(path) => Some(FrameLog::create(path).map_err(|e| {
            SendError::Options(format!("cannot create the frame log {}: {e}", path.display()))
        })?),
        None => None,
    };
    let source = source::spawn(prepared.open(layout)?, 8)?;
    let frame_us = u64::from(layout.frame_us);
    let max_frames = opts.max_duration.map(|d| (d.as_micros() as u64).div_ceil(frame_us));
    // above the server's queue, so that its backpressure is what stops a burst
    let window = (info.max_queue_ms * 1000.0) as u64 / frame_us + 2 * opts.batch as u64;
    let mut writer = Writer {
        source,
        source_done: max_frames == Some(0),
        taken: 0,
        max_frames,
        encoder: FrameEncoder::new(opts.codec, layout)?,
        pending: Batch::default(),
        batch: opts.batch,
        codec: opts.codec.wire(),
        layout,
        stop: opts.stop.clone(),
        ack_timeout: opts.ack_timeout,
        dropper: DropBeforeSend::new(opts.drop_before_send, opts.fault_seed),
        cut: false,
        held: Vec::new(),
        conn: info.connection,
    };
    let flow = SendFlow::new(opts.pacing, clock.now_us(), layout.frame_us, window, opts.batch as u64);
    let shared = Mutex::new(Shared { flow, report, acks_this_session: 0, frame_log, skipped: Vec::new() });
    let failure = loop {
        match session::run(ws, &shared, &mut writer, clock, progress).await {
            SessionEnd::Finished => break None,
            SessionEnd::Fatal(why) => break Some(why),
            SessionEnd::Lost(why) => {
                let nothing_left = {
                    let mut s = lock(&shared);
                    let unconfirmed = s.flow.in_flight();
                    s.flow.on_disconnect(clock.now_us());
                    if let Some(log) = &mut s.frame_log {
                        log.disconnected();
                    }
                    if s.acks_this_session > 0 {
                        backoff.reset();
                    }
                    s.acks_this_session = 0;
                    tracing::warn!(%why, unconfirmed, "publish connection lost");
                    (writer.source_done && writer.pending.is_empty()).then_some(unconfirmed)
                };
                if nothing_left == Some(0) {
                    break None;
                }
                if let Some(unconfirmed) = nothing_left {
                    break Some(format!(
                        "the connection was lost with {unconfirmed} frame(s) unacknowledged and nothing left to send: {why}"
                    ));
                }
                if let Some(p) = progress {
                    p.set_message(format!("reconnecting ({why})"));
                }
                let mut failures = 0;
                let was = urls.current;
                let next =
                    connect_retrying(&mut urls, opts, &mut backoff, &mut jitter, &mut failures, true).await;
                let mut s = lock(&shared);
                s.report.connect_failures += failures;
                match next {
                    Err(why) => break Some(why),
                    Ok((_, info)) if info.layout != layout => {
                        break Some(format!(
                            "after reconnecting, the stream is {} Hz, {} ch, {} µs frames instead of {} Hz, {} ch, {} µs",
                            info.layout.sample_rate,
                            info.layout.channels,
                            info.layout.frame_us,
                            layout.sample_rate,
                            layout.channels,
                            layout.frame_us
                        ));
                    }
                    Ok((new_ws, info)) => {
                        writer.conn = info.connection;
                        s.report.reconnects += 1;
                        if urls.current != was {
                            s.report.failovers += 1;
                            s.report.connected_to = urls.current().to_string();
                            tracing::warn!(url = urls.current(), "publishing to a fallback URL");
                        }
                        ws = new_ws;
                    }
                }
            }
        }
    };
    let Shared { flow, mut report, frame_log, skipped, .. } =
        shared.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut failure = failure;
    if let Some(log) = frame_log
        && let Err(e) = log.finish()
    {
        failure.get_or_insert(format!("writing the frame log failed: {e}"));
    }
    let stats = flow.stats(clock.now_us());
    // the server's cumulative acks cover the sequence numbers we skipped
    let skipped_acked = skipped.iter().filter(|&&s| s < flow.acked_through()).count() as u64;
    report.frames_acked = flow.acked_frames().saturating_sub(skipped_acked);
    report.frames_unconfirmed = stats.unconfirmed_frames;
    report.backpressure_waits = stats.backpressure_waits;
    report.backpressure_wait_ms = stats.backpressure_wait_us as f64 / 1000.0;
    report.window_waits = stats.window_waits;
    report.pacer_reanchors = stats.pacer_reanchors;
    finish(report, clock, failure)
}

pub(super) fn set_layout(report: &mut SendReport, layout: Layout) {
    report.sample_rate = layout.sample_rate;
    report.channels = layout.channels;
    report.frame_ms = f64::from(layout.frame_us) / 1000.0;
}

/// Fills the totals and turns a failure into [`SendError::Failed`].
pub(super) fn finish(
    mut report: SendReport,
    clock: Clock,
    failure: Option<String>,
) -> Result<SendReport, SendError> {
    report.audio_secs = report.frames_sent as f64 * report.frame_ms / 1000.0;
    report.duration_secs = clock.0.elapsed().as_secs_f64();
    report.completed = failure.is_none() && report.frames_acked == report.frames_sent;
    match failure {
        None => Ok(report),
        Some(reason) => {
            report.failure = Some(reason.clone());
            Err(SendError::Failed { reason, report: Box::new(report) })
        }
    }
}
