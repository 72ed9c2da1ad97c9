//! `POST /api/streams/{id}/say`: speak text into a stream (see docs/say.md).
//!
//! The answer comes once the utterance's first frame is in the stream (200, `state:
//! "playing"`), or, when it waits behind another utterance, once its first audio is
//! synthesised (202, `state: "queued"`): either way an engine that cannot speak is reported
//! to the caller, and a caller never waits for speech ahead of its own to finish. Listeners
//! learn when it really starts from the `utterance-start` notice.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::now_us;
use crate::http::admission::authorize_publisher;
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::ingest::say::run::{Job, run};
use crate::ingest::say::{SayPhase, UtteranceTiming};
use crate::state::SharedState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SayRequest {
    text: String,
    #[serde(default)]
    voice: Option<String>,
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    interrupt: bool,
}

pub async fn say(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let arrival_us = now_us();
    let user = authorize_publisher(&app, &id, &headers, &q)?;
    let hub = app.hub(&id)?;
    let cfg = &app.config.tts;
    let req: SayRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!(r#"the body must be JSON like {{"text": "Hello", "voice": "en", "engine": "espeak-ng", "interrupt": false}}: {e}"#),
        )
    })?;
    if req.text.trim().is_empty() {
        return Err(ApiError::bad_request("empty_text", "`text` is empty: give the words to speak"));
    }
    let chars = req.text.chars().count();
    if chars > cfg.max_text_chars {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
            format!(
                "`text` has {chars} characters; at most {} are accepted (tts.max_text_chars): split it into several utterances",
                cfg.max_text_chars
            ),
        ));
    }
    let engine_name = req.engine.clone().unwrap_or_else(|| cfg.default_engine.clone());
    let Some(engine) = cfg.engine(&engine_name) else {
        return Err(ApiError::bad_request(
            "unknown_engine",
            format!("no TTS engine '{engine_name}'; this server has: {}", cfg.engine_names().join(", ")),
        ));
    };
    if let Some(v) = &req.voice
        && (v.is_empty()
            || v.len() > 64
            || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.' | '/')))
    {
        return Err(ApiError::bad_request(
            "bad_voice",
            "`voice` must be 1 to 64 characters of letters, digits and - _ + . / (e.g. \"en-us\")",
        ));
    }
    if let Some(reason) = hub.control().ended {
        return Err(ApiError::new(
            StatusCode::GONE,
            "stream_ended",
            format!("stream '{id}' has ended: {reason}"),
        ));
    }
    let timing = hub.speech.enqueue(req.interrupt, arrival_us, cfg.max_queued).map_err(|e| {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", e.to_string()).with_retry_after(1)
    })?;
    let uid = timing.id;
    tracing::info!(stream = %id, %user, utterance = uid, engine = %engine_name, chars, interrupt = req.interrupt, "say");
    let frames_per_sec = hub.spec.frames_per_second();
    let job = Job {
        hub: hub.clone(),
        timing: timing.clone(),
        engine,
        text: req.text,
        voice: req.voice,
        max_buffered_frames: (cfg.max_buffered_secs as f64 * frames_per_sec).ceil().max(1.0) as usize,
    };
    tokio::spawn(run(job));
    let timeout = Duration::from_millis(cfg.first_audio_timeout_ms);
    let outcome = tokio::time::timeout(timeout, wait(&hub, &timing)).await;
    let ms =
        |a: i64, b: i64| if a > 0 && b > 0 { json!((b - a).max(0) as f64 / 1000.0) } else { Value::Null };
    let first_pcm = timing.first_pcm_us.load(Ordering::Relaxed);
    let pushed = timing.pushed_us.load(Ordering::Relaxed);
    let mut answer = json!({
        "utterance": uid,
        "stream": id,
        "engine": engine_name,
        "first_pcm_ms": ms(arrival_us, first_pcm),
        "queued_ms": ms(first_pcm, pushed),
        "first_frame_ms": ms(arrival_us, pushed),
        "position": hub.speech.position(uid),
    });
    let status = match outcome {
        Err(_) => {
            hub.speech.fail(uid, "timed out");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_timeout",
                format!(
                    "engine '{engine_name}' produced no audio within {} ms (tts.first_audio_timeout_ms); check that it runs and writes audio to its output",
                    cfg.first_audio_timeout_ms
                ),
            ));
        }
        Ok(SayPhase::Failed(message)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_failed",
                format!(
                    "{message}; the stream goes on without this utterance: fix the engine (or its [[tts.engine]] entry) and try again"
                ),
            ));
        }
        Ok(SayPhase::Playing) => (StatusCode::OK, "playing"),
        Ok(SayPhase::Dropped) => (StatusCode::OK, "interrupted"),
        Ok(_) => (StatusCode::ACCEPTED, "queued"),
    };
    answer["state"] = json!(status.1);
    Ok((status.0, Json(answer)))
}

/// Waits until the utterance plays, is queued behind another with its audio ready, is
/// dropped, or fails; returns that phase.
async fn wait(hub: &crate::hub::StreamHub, timing: &Arc<UtteranceTiming>) -> SayPhase {
    let mut rx = timing.phase();
    loop {
        let phase = rx.borrow_and_update().clone();
        match phase {
            SayPhase::Playing | SayPhase::Dropped | SayPhase::Failed(_) => return phase,
            SayPhase::FirstPcm if hub.speech.position(timing.id).is_some_and(|p| p > 0) => return phase,
            _ => {}
        }
        // the desk changes the phase at the next frame period; also look again then, as
        // an utterance ahead may end meanwhile
        let period = Duration::from_micros(u64::from(hub.spec.duration.as_us()));
        let _ = tokio::time::timeout(period, rx.changed()).await;
    }
}
