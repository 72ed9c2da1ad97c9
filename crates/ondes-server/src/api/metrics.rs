//! `GET /metrics`: Prometheus text exposition (see [`crate::metrics`]).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::SharedState;

pub async fn metrics(State(app): State<SharedState>) -> impl IntoResponse {
    let mut body = app.metrics.render(&app);
    if let Some(c) = &app.cluster {
        crate::api::cluster::render_metrics(c, &mut body);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
