//! The HTTP ingest send: one chunked `POST …/ingest` with an `audio/L16` body.
//!
//! There are no acks or backpressure messages over HTTP: TCP flow control is the
//! backpressure (the server stops reading the body while its queue is full), and the final
//! response says how many frames the server accepted. Pacing is the same as over WebSocket.
//! A lost connection is not resumed (a new POST would be a new session anyway); the report
//! says how far it got. With `--frame-log`, every frame is logged when its piece of the body
//! is handed to the request; the response is the one acknowledgement (`ack_us` of every frame
//! it accepted) and names the server's connection, whose trace holds the frames' arrivals.

use std::time::Duration;

use indicatif::ProgressBar;
use serde_json::Value;
use tokio::sync::mpsc;

use ondes_core::frame_trace::SentFrame;

use super::SendError;
use super::encode::SendCodec;
use super::flow::{SendFlow, Step};
use super::frame_log::FrameLog;
use super::options::SendOptions;
use super::report::SendReport;
use super::send::{finish, set_layout};
use super::session::Clock;
use super::source::{self, Layout, PreparedSource};

/// Learns the stream's layout from `GET /api/streams`.
pub(super) async fn fetch_layout(
    client: &reqwest::Client,
    base: &str,
    stream: &str,
) -> Result<Layout, SendError> {
    let url = format!("{base}/api/streams");
    let fail = |why: String| {
        SendError::Connect(format!("GET {url}: {why} (or give the layout with --rate/--channels)"))
    };
    let v: Value = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?
        .json()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let s = v["streams"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == stream))
        .ok_or_else(|| fail(format!("no stream '{stream}'")))?;
    let (Some(rate), Some(ch), Some(ms)) =
        (s["sample_rate"].as_u64(), s["channels"].as_u64(), s["frame_ms"].as_f64())
    else {
        return Err(fail("the stream's layout is missing".into()));
    };
    Ok(Layout { sample_rate: rate as u32, channels: ch as u16, frame_us: (ms * 1000.0).round() as u32 })
}

fn wall_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Signed 16-bit big-endian, as `audio/L16` (RFC 2586) requires.
fn l16(pcm: &[f32], out: &mut Vec<u8>) {
    let start = out.len();
    ondes_codec::encode_s16le(pcm, out);
    for pair in out[start..].chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn send(
    url: &str,
    base: &str,
    stream: &str,
    opts: &SendOptions,
    prepared: PreparedSource,
    clock: Clock,
    mut report: SendReport,
    progress: Option<&ProgressBar>,
) -> Result<SendReport, SendError> {
    if opts.codec != SendCodec::Pcm16 {
        return Err(SendError::Options(
            "HTTP ingest sends audio/L16 (pcm16); use a ws:// URL for Opus".into(),
        ));
    }
    let client = opts
        .tls
        .http_client(url)
        .map_err(|e| SendError::Connect(format!("cannot build an HTTP client: {e}")))?;
    let layout = match opts.layout {
        Some(l) => l,
        None => fetch_layout(&client, base, stream).await?,
    };
    set_layout(&mut report, layout);
    let mut frame_log = match &opts.frame_log {
        Some(path) => Some(FrameLog::create(path).map_err(|e| {
            SendError::Options(format!("cannot create the frame log {}: {e}", path.display()))
        })?),
        None => None,
    };
    // (capture time, bytes) of the frames in the chunk being built
    let mut in_chunk_log: Vec<(i64, u32)> = Vec::new();
    let mut frames = source::spawn(prepared.open(layout)?, 8)?;

    // the body: chunks handed over one at a time, so a chunk is "sent" when the request
    // has taken it, and TCP backpressure reaches us
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let mut req = client
        .post(url)
        .header("content-type", format!("audio/L16;rate={};channels={}", layout.sample_rate, layout.channels))
        .body(body);
    if let Some(t) = &opts.token {
        req = req.bearer_auth(t);
    }
    let response = tokio::spawn(req.send());

    let max_frames = opts.max_duration.map(|d| (d.as_micros() as u64).div_ceil(u64::from(layout.frame_us)));
    let mut flow = SendFlow::new(opts.pacing, clock.now_us(), layout.frame_us, u64::MAX, opts.batch as u64);
    let mut stop = opts.stop.clone();
    let mut chunk = Vec::new();
    let mut in_chunk = 0usize;
    let mut taken = 0u64;
    let mut done = max_frames == Some(0);
    let mut failure = None;
    while !done || in_chunk > 0 {
        if in_chunk > 0 && (in_chunk >= opts.batch || done) {
            if tx.send(Ok(std::mem::take(&mut chunk))).await.is_err() {
                failure = Some("the server ended the request early".to_string());
                break;
            }
            if let Some(log) = &mut frame_log {
                let send_us = wall_us();
                let first = taken - in_chunk_log.len() as u64;
                for (i, (capture_us, bytes)) in in_chunk_log.drain(..).enumerate() {
                    log.sent(SentFrame {
                        seq: first + i as u64,
                        conn: None,
                        frame_us: layout.frame_us,
                        capture_us,
                        send_us: Some(send_us),
                        ack_us: None,
                        bytes,
                        queue_wait_ms: Some((send_us - capture_us) as f64 / 1000.0),
                        sent: true,
                        why: None,
                    });
                }
            }
            report.frames_sent += in_chunk as u64;
            report.messages_sent += 1;
            report.time_to_first_frame_ms.get_or_insert(clock.now_us() as f64 / 1000.0);
            flow.on_sent(taken);
            in_chunk = 0;
            if let Some(p) = progress {
                p.set_message(format!("{} frames sent", report.frames_sent));
            }
            continue;
        }
        match flow.poll(clock.now_us()) {
            Step::Take { .. } => {
                let stopped = stop.as_ref().is_some_and(|s| *s.borrow());
                match if stopped { None } else { frames.recv().await } {
                    None => done = true,
                    Some(Err(e)) => {
                        failure = Some(format!("source failed: {e}"));
                        break;
                    }
                    Some(Ok((pcm, at))) => {
                        report.source_first_frame_ms.get_or_insert(clock.ms_since_start(at));
                        let before = chunk.len();
                        l16(&pcm, &mut chunk);
                        report.bytes_sent += (chunk.len() - before) as u64;
                        if frame_log.is_some() {
                            in_chunk_log.push((wall_us(), (chunk.len() - before) as u32));
                        }
                        in_chunk += 1;
                        taken += 1;
                        done = max_frames.is_some_and(|m| taken >= m);
                    }
                }
            }
            Step::WaitUntil(t) => {
                let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(
                    clock.0 + Duration::from_micros(t),
                ));
                match &mut stop {
                    Some(rx) => {
                        tokio::select! {
                            _ = sleep => {}
                            _ = rx.changed() => {}
                        }
                    }
                    None => sleep.await,
                }
            }
            // without acks the window never fills, and there is no resume message
            Step::WaitForAck | Step::WaitForResume => tokio::task::yield_now().await,
        }
    }
    if report.frames_sent == 0 && failure.is_none() && stop.as_ref().is_some_and(|s| *s.borrow()) {
        // stopped before the first frame: there is no session to finish, and an empty body
        // would only be refused (`no_audio`); the request is abandoned instead
        response.abort();
        if let Some(log) = frame_log
            && let Err(e) = log.finish()
        {
            failure = Some(format!("writing the frame log failed: {e}"));
        }
        return finish(report, clock, failure);
    }
    drop(tx);
    let outcome = match response.await {
        Err(e) => Err(format!("the request task failed: {e}")),
        Ok(Err(e)) => Err(format!("POST {url}: {e}")),
        Ok(Ok(resp)) => {
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                Ok((v["frames_accepted"].as_u64().unwrap_or(0), v["connection"].as_u64()))
            } else {
                let code = v["error"].as_str().unwrap_or("http_error").to_string();
                *report.server_errors.entry(code.clone()).or_default() += 1;
                Err(format!("HTTP {status} {code}: {}", v["message"].as_str().unwrap_or("")))
            }
        }
    };
    match outcome {
        Ok((accepted, conn)) => {
            report.frames_acked = accepted;
            report.time_to_first_ack_ms = Some(clock.now_us() as f64 / 1000.0);
            if let Some(log) = &mut frame_log {
                if let Some(conn) = conn {
                    log.on_connection(conn);
                }
                if accepted > 0 {
                    log.acked(accepted - 1, wall_us());
                }
            }
        }
        Err(why) => failure = Some(why),
    }
    if let Some(log) = frame_log
        && let Err(e) = log.finish()
    {
        failure.get_or_insert(format!("writing the frame log failed: {e}"));
    }
    if failure.is_none() && report.frames_acked != report.frames_sent {
        failure =
            Some(format!("the server accepted {} of {} frames", report.frames_acked, report.frames_sent));
    }
    finish(report, clock, failure)
}

#[cfg(test)]
mod tests {
    #[test]
    fn l16_is_big_endian() {
        let mut out = Vec::new();
        super::l16(&[0.5, -1.0], &mut out);
        assert_eq!(out, [0x40, 0x00, 0x80, 0x00]);
    }
}
