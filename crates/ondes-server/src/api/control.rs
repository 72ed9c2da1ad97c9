//! `POST /api/streams/{id}/control` (and `/api/audio/control`): pause, resume, adjust_quality.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ondes_core::quality::{QualityCap, QualityLevel};
use serde_json::{Value, json};

use crate::auth::Permission;
use crate::clock::now_ms;
use crate::egress::ws::{RungChoice, effective_rung};
use crate::http::error::ApiError;
use crate::http::{QueryMap, StreamId};
use crate::state::SharedState;

/// Reads a request body up to the configured limit; over it is a JSON 413.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes (server.max_body_bytes)"),
        )
    })
}

pub async fn control(
    State(app): State<SharedState>,
    StreamId(id): StreamId,
    headers: HeaderMap,
    q: QueryMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let hub = app.hub(&id)?;
    let claims = crate::http::admission::authorize(&app, &headers, &q, Permission::StreamControl, Some(&id))?;
    let bytes = read_body(body, app.config.server.max_body_bytes).await?;
    let req: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("the body is not valid JSON ({e}); send {{\"action\": \"pause\"|\"resume\"|\"adjust_quality\", \"params\": {{...}}}}"),
        )
    })?;
    let action = req.get("action").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(
            "missing_action",
            "the body needs a string field \"action\": pause, resume or adjust_quality",
        )
    })?;
    let message = match action {
        "pause" => {
            if hub.pause() {
                "stream paused".to_string()
            } else {
                "stream was already paused".to_string()
            }
        }
        "resume" => {
            if hub.resume() {
                "stream resumed".to_string()
            } else {
                "stream was not paused".to_string()
            }
        }
        "adjust_quality" => {
            let param = req.get("params").and_then(|p| p.get("quality"));
            let level = param.and_then(Value::as_str).map(str::parse::<QualityLevel>).transpose();
            let level =
                level.map_err(|e| ApiError::bad_request("bad_quality", format!("adjust_quality: {e}")))?;
            let quality = match (level, param.and_then(Value::as_f64)) {
                (Some(l), _) => QualityCap::Level(l),
                // kept as f32: a value that rounds to 0 there (1e-50) is not in (0, 1]
                (None, Some(x)) if x <= 1.0 && (x as f32) > 0.0 => QualityCap::Share(x as f32),
                _ => {
                    return Err(ApiError::bad_request(
                        "bad_quality",
                        "adjust_quality needs params.quality: low, medium, high or lossless, or a number in (0, 1] (1.0 full rate, 0.5 half, 0.25 quarter)",
                    ));
                }
            };
            hub.set_quality(quality);
            let factor = hub.quality_factor(quality);
            let named = match level {
                Some(l) => format!("{l} ({})", quality.pcm_share()),
                None => quality.pcm_share().to_string(),
            };
            let best = match effective_rung(&hub, RungChoice::Auto, quality) {
                Some(i) => format!(", best rung {} kbit/s", hub.ladder.rungs[i].kbps),
                None => String::new(),
            };
            format!("quality set to {named}: {} Hz delivered{best}", hub.spec.sample_rate / factor as u32)
        }
        other => {
            return Err(ApiError::bad_request(
                "unknown_action",
                format!("unknown action '{other}'; use pause, resume or adjust_quality"),
            ));
        }
    };
    tracing::info!(stream = %id, user = %claims.sub, action, "control");
    Ok(axum::Json(json!({"success": true, "message": message, "timestamp": now_ms()})))
}
