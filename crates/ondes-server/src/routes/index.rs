//! `GET /`: a small page listing the streams and how to open them, until the dashboard lands.

use axum::extract::State;
use axum::response::Html;

use crate::state::SharedState;

pub async fn index(State(app): State<SharedState>) -> Html<String> {
    let mut rows = String::new();
    for h in &app.hubs {
        rows.push_str(&format!(
            "<li><b>{id}</b> — {src}, {rate} Hz, {ch} ch, {ms} ms frames: \
             <a href=\"/api/streams/{id}/stream?max_fps=5\">SSE</a> · \
             <a href=\"/api/streams/{id}/stats\">stats</a></li>",
            id = h.id,
            src = html_escape(&h.source_description()),
            rate = h.spec.sample_rate,
            ch = h.spec.channels,
            ms = h.spec.duration.as_ms_f64()
        ));
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>ondes</title>\
         <style>body{{font:16px system-ui;max-width:50em;margin:2em auto;padding:0 1em}}</style>\
         <h1>ondes</h1><p>Streams on this server:</p><ul>{rows}</ul>\
         <p>Try <code>curl -N http://HOST/api/audio/stream?max_fps=2</code>. API: <a href=\"/api/streams\">/api/streams</a>, \
         <a href=\"/metrics\">/metrics</a>.</p>"
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
