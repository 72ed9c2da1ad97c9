//! `POST /api/streams/{id}/control` (and `/api/audio/control`): pause, resume, adjust_quality,
//! set_mode (legacy, adaptive or canary delivery) and set_profile (for the stream or one
//! connection).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ondes_core::abr::{DeliveryMode, ProfileRequest};
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

/// The actions, for error messages.
const ACTIONS: &str = "pause, resume, adjust_quality, set_mode or set_profile";

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
            format!("the body is not valid JSON ({e}); send {{\"action\": \"pause\"|\"resume\"|\"adjust_quality\"|\"set_mode\"|\"set_profile\", \"params\": {{...}}}}"),
        )
    })?;
    let action = req.get("action").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(
            "missing_action",
            format!("the body needs a string field \"action\": {ACTIONS}"),
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
        "set_mode" => set_mode(&hub, req.get("params"))?,
        "set_profile" => set_profile(&app, &hub, req.get("params"))?,
        other => {
            return Err(ApiError::bad_request(
                "unknown_action",
                format!("unknown action '{other}'; use {ACTIONS}"),
            ));
        }
    };
    tracing::info!(stream = %id, user = %claims.sub, action, "control");
    Ok(axum::Json(json!({"success": true, "message": message, "timestamp": now_ms()})))
}

/// `set_mode`: `{"mode": "legacy"|"adaptive"|"canary", "fraction"?: 0.1}`.
fn set_mode(hub: &crate::hub::StreamHub, params: Option<&Value>) -> Result<String, ApiError> {
    const HINT: &str = "set_mode needs params.mode: legacy, adaptive or canary (and for canary optionally \
                        params.fraction in (0, 1), the share of new listeners delivered adaptively)";
    let mode = params
        .and_then(|p| p.get("mode"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("bad_mode", HINT))?;
    let mode: DeliveryMode =
        mode.parse().map_err(|e| ApiError::bad_request("bad_mode", format!("{e}; {HINT}")))?;
    let fraction = match params.and_then(|p| p.get("fraction")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| ApiError::bad_request("bad_fraction", HINT))?),
    };
    hub.set_delivery_mode(mode, fraction)
        .map_err(|e| ApiError::bad_request("bad_fraction", e.to_string()))?;
    let r = hub.delivery_report_now();
    Ok(match mode {
        DeliveryMode::Canary => format!(
            "delivery set to canary: {:.0}% of new listeners adaptive, rolled back to legacy when worse",
            r.canary_fraction * 100.0
        ),
        m => format!("delivery set to {m}"),
    })
}

/// `set_profile`: `{"profile": "<profile or scenario>"|"auto", "connection"?: "<id>"}`;
/// `auto` lifts a forced profile.
fn set_profile(
    app: &SharedState,
    hub: &crate::hub::StreamHub,
    params: Option<&Value>,
) -> Result<String, ApiError> {
    const HINT: &str = "set_profile needs params.profile: ultra_performance, balanced, high_throughput, \
                        emergency_fallback (or a scenario), or auto to lift a forced profile; optionally \
                        params.connection, a connection id from /debug/connections";
    let name = params
        .and_then(|p| p.get("profile"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("bad_profile", HINT))?;
    let profile = match ProfileRequest::parse(name) {
        Ok(ProfileRequest::Fixed(p)) => Some(p),
        Ok(ProfileRequest::Auto) => None,
        Err(e) => return Err(ApiError::bad_request("bad_profile", format!("{e}; {HINT}"))),
    };
    let conn = match params.and_then(|p| p.get("connection")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_connection",
                    format!("params.connection is not a connection id; {HINT}"),
                )
            })?;
            let listens =
                app.connections.list(Some(&hub.id)).iter().any(|c| c.id == id && c.transport == "ws");
            if !listens {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_connection",
                    format!(
                        "no WebSocket listener {id} on stream '{}' (profiles apply to WebSocket listeners; \
                         see /debug/connections)",
                        hub.id
                    ),
                ));
            }
            Some(id)
        }
    };
    let changed = hub.force_profile(profile, conn);
    let whom = conn.map_or_else(|| "the stream's listeners".to_string(), |c| format!("connection {c}"));
    Ok(match (profile, changed) {
        (Some(p), true) => format!("profile {p} forced for {whom}"),
        (Some(p), false) => format!("profile {p} was already forced for {whom}"),
        (None, true) => format!("forced profile lifted for {whom}"),
        (None, false) => format!("no profile was forced for {whom}"),
    })
}
