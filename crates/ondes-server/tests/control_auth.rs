//! Control, auth, limits, CORS, compression and debug endpoints, over real HTTP.

mod common;

use std::time::Duration;

use common::*;
use ondes_server::auth::{Authenticator, Permission};

#[tokio::test]
async fn control_error_paths() {
    let s = start("").await;
    let url = format!("{}/api/audio/control", s.url());
    let ctl = token(&s, &[Permission::StreamControl]);
    let sub = token(&s, &[Permission::Subscribe]);

    let (st, b) = post_json(&url, None, r#"{"action":"pause"}"#).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "missing_token");
    assert!(b["message"].as_str().unwrap().contains("Authorization"));

    let (st, b) = post_json(&url, Some(&sub), r#"{"action":"pause"}"#).await;
    assert_eq!(st, 403);
    assert!(b["message"].as_str().unwrap().contains("stream_control"));

    let (st, b) = post_json(&url, Some(&ctl), "{not json").await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "bad_json");

    let (st, b) = post_json(&url, Some(&ctl), r#"{"action":"explode"}"#).await;
    assert_eq!(st, 400);
    assert_eq!(b["error"], "unknown_action");
    assert!(b["message"].as_str().unwrap().contains("explode"));

    for bad in
        [r#"{"quality":0}"#, r#"{"quality":1.5}"#, r#"{"quality":"best"}"#, r#"{"quality":true}"#, "{}"]
    {
        let body = format!(r#"{{"action":"adjust_quality","params":{bad}}}"#);
        let (st, b) = post_json(&url, Some(&ctl), &body).await;
        assert_eq!(st, 400, "{bad}");
        assert_eq!(b["error"], "bad_quality");
    }

    let huge = format!(r#"{{"action":"pause","pad":"{}"}}"#, "x".repeat(2 << 20));
    let (st, b) = post_json(&url, Some(&ctl), &huge).await;
    assert_eq!(st, 413);
    assert_eq!(b["error"], "body_too_large");

    let (st, b) =
        post_json(&format!("{}/api/streams/nope/control", s.url()), Some(&ctl), r#"{"action":"pause"}"#)
            .await;
    assert_eq!(st, 404);
    assert_eq!(b["error"], "not_found");
    s.shutdown().await;
}

#[tokio::test]
async fn expired_and_forged_tokens_say_which() {
    let s = start("").await;
    let url = format!("{}/api/audio/control", s.url());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = s.state.auth.mint("x", &[Permission::Admin], 60, now - 7200);
    let (st, b) = post_json(&url, Some(&expired), r#"{"action":"pause"}"#).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "token_expired");
    let forged = Authenticator::new(b"not the server secret").mint("x", &[Permission::Admin], 60, now);
    let (st, b) = post_json(&url, Some(&forged), r#"{"action":"pause"}"#).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "invalid_signature");
    let (st, b) = post_json(&url, Some("garbage"), r#"{"action":"pause"}"#).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "invalid_token");
    s.shutdown().await;
}

#[tokio::test]
async fn pause_stops_frames_and_resume_restarts_at_live() {
    let s = start("").await;
    let stream = format!("{}/api/audio/stream", s.url());
    let url = format!("{}/api/audio/control", s.url());
    let ctl = token(&s, &[Permission::StreamControl]);
    let mut sse = Sse::open(&stream, &[]).await;
    let before = sse.next_audio().await["frame_number"].as_u64().unwrap();

    let (st, b) = post_json(&url, Some(&ctl), r#"{"action":"pause"}"#).await;
    assert_eq!(st, 200);
    assert_eq!(b["success"], true);
    assert!(b["timestamp"].as_i64().unwrap() > 0);
    let status = sse.next_of("status", 2.0).await;
    assert!(status.data.contains("\"paused\""));
    // nothing but heartbeats while paused
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(1_000) {
        if let Some(e) = sse.try_next(0.2).await {
            assert_ne!(e.event.as_deref(), Some("audio-frame"), "no frames while paused");
        }
    }
    // a listener joining now is told the stream is paused
    let mut late = Sse::open(&stream, &[]).await;
    late.next_within(2.0).await.unwrap();
    assert!(late.next_of("status", 2.0).await.data.contains("paused"));

    let (st, _) = post_json(&url, Some(&ctl), r#"{"action":"resume"}"#).await;
    assert_eq!(st, 200);
    let status = sse.next_of("status", 2.0).await;
    let v: serde_json::Value = serde_json::from_str(&status.data).unwrap();
    assert_eq!(v["status"], "resumed");
    let after = sse.next_audio().await["frame_number"].as_u64().unwrap();
    assert!(after >= before + 45, "delivery restarts at live ({before} -> {after})");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(stats["dropped_frames"], 0, "a deliberate pause is not a drop");
    s.shutdown().await;
}

#[tokio::test]
async fn adjust_quality_lowers_delivered_rate() {
    let s = start("").await;
    let ctl = token(&s, &[Permission::StreamControl]);
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    assert_eq!(sse.next_audio().await["sample_rate"], 48_000);
    let (st, b) = post_json(
        &format!("{}/api/audio/control", s.url()),
        Some(&ctl),
        r#"{"action":"adjust_quality","params":{"quality":0.25}}"#,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let q = sse.next_of("status", 2.0).await;
    assert!(q.data.contains("\"quality\""));
    let f = sse.next_audio().await;
    assert_eq!(f["sample_rate"], 12_000);
    assert_eq!(samples(&f, "channel_a").len(), 240);
    s.shutdown().await;
}

#[tokio::test]
async fn listening_can_require_a_token() {
    let s = start("[auth]\nrequired_for_stream = true\n").await;
    let url = format!("{}/api/audio/stream", s.url());
    let (st, b) = get_json(&url, None).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "missing_token");
    let wrong = token(&s, &[Permission::DebugAccess]);
    let (st, _) = get_json(&format!("{url}?access_token={wrong}"), None).await;
    assert_eq!(st, 403);
    let sub = token(&s, &[Permission::Subscribe]);
    let mut sse = Sse::open(&format!("{url}?access_token={sub}"), &[]).await;
    assert_eq!(sse.status, 200);
    sse.next_audio().await;
    // stats need a token too when listening does; who listens is for debug_access only
    let (st, _) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(st, 401);
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), Some(&sub)).await;
    assert!(stats["connections"][0]["user_id"].is_null(), "{stats}");
    let (_, stats) = get_json(&format!("{}/api/audio/stats", s.url()), Some(&wrong)).await;
    assert_eq!(stats["connections"][0]["user_id"], "tester");
    s.shutdown().await;
}

#[tokio::test]
async fn connection_limits_answer_503_and_429_with_retry_after() {
    let s = start("[server]\nmax_connections = 2\n").await;
    let url = format!("{}/api/audio/stream", s.url());
    let _a = Sse::open(&url, &[]).await;
    let _b = Sse::open(&url, &[]).await;
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let b: serde_json::Value = resp.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("max_connections"));
    s.shutdown().await;

    let s = start("[server]\nmax_connections_per_ip = 1\n").await;
    let url = format!("{}/api/audio/stream", s.url());
    let mut a = Sse::open(&url, &[]).await;
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // the refused client did not disturb the admitted one
    a.next_audio().await;
    drop(a);
    // the slot is freed when the connection closes
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = client().get(&url).send().await.unwrap();
        if r.status() == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "closing a connection frees its slot");
    s.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_errors_carry_headers() {
    let s = start("[cors]\nallowed_origins = [\"http://app.example:3000\"]\n").await;
    let c = client();
    let pre = c
        .request(reqwest::Method::OPTIONS, format!("{}/api/audio/control", s.url()))
        .header("origin", "http://app.example:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "preflight needs no token: {}", pre.status());
    assert_eq!(pre.headers()["access-control-allow-origin"], "http://app.example:3000");
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");
    let allowed = pre.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));

    let err = c
        .post(format!("{}/api/audio/control", s.url()))
        .header("origin", "http://app.example:3000")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(err.status(), 401);
    assert_eq!(err.headers()["access-control-allow-origin"], "http://app.example:3000");

    let other = c
        .get(format!("{}/api/audio/stats", s.url()))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn json_is_gzipped_sse_is_not() {
    let s = start("").await;
    let r = client()
        .get(format!("{}/api/audio/stats", s.url()))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    s.shutdown().await;
}

#[tokio::test]
async fn stats_have_every_field() {
    let s = start("").await;
    let mut sse =
        Sse::open(&format!("{}/api/audio/stream", s.url()), &[("user-agent", "stats-test/1")]).await;
    for _ in 0..60 {
        sse.next_audio().await;
    }
    // identity fields are shown to debug_access (the public reply has them null)
    let debug = token(&s, &[Permission::DebugAccess]);
    // a feed writer adds up its listeners' counts on its tick (every 100 ms), not per frame
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let (st, v) = loop {
        let (st, v) = get_json(&format!("{}/api/audio/stats", s.url()), Some(&debug)).await;
        if v["connections"][0]["frames_sent"].as_u64() >= Some(60) || std::time::Instant::now() > deadline {
            break (st, v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(st, 200);
    for k in [
        "total_frames",
        "frames_per_second",
        "active_subscribers",
        "dropped_frames",
        "connection_count",
        "connections",
        "memory_usage",
        "cpu_usage",
        "uptime_seconds",
        "average_latency_ms",
        "bandwidth_usage_mbps",
        "error_rate_percent",
    ] {
        assert!(!v[k].is_null(), "stats field {k} missing: {v}");
    }
    assert!(v["total_frames"].as_u64().unwrap() >= 60);
    let fps = v["frames_per_second"].as_f64().unwrap();
    assert!((40.0..=60.0).contains(&fps), "fps {fps}");
    assert_eq!(v["active_subscribers"], 1);
    assert!(v["bandwidth_usage_mbps"].as_f64().unwrap() > 0.5);
    assert!(v["memory_usage"]["used_bytes"].as_u64().unwrap() > 0);
    assert!(v["memory_usage"]["available_bytes"].as_u64().unwrap() > 0);
    let c = &v["connections"][0];
    for k in [
        "id",
        "user_id",
        "ip_address",
        "user_agent",
        "connected_at",
        "last_heartbeat",
        "frames_sent",
        "bytes_sent",
        "errors_count",
    ] {
        assert!(c.get(k).is_some(), "connection field {k} missing: {c}");
    }
    assert_eq!(c["ip_address"], "127.0.0.1");
    assert_eq!(c["user_agent"], "stats-test/1");
    assert!(c["frames_sent"].as_u64().unwrap() >= 60);
    let lat = v["average_latency_ms"].as_f64().unwrap();
    assert!(lat > 0.0 && lat < 1000.0, "latency {lat}");
    // serialisation is shared: one per frame, not one per listener
    assert!(v["serializations_total"].as_u64().unwrap() <= v["total_frames"].as_u64().unwrap());
    drop(sse);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, v) = get_json(&format!("{}/api/audio/stats", s.url()), None).await;
    assert_eq!(v["connection_count"], 0, "closed connections are removed");
    assert_eq!(v["active_subscribers"], 0);
    s.shutdown().await;
}

#[tokio::test]
async fn debug_connections_need_permission_and_analyse_health() {
    let s = start("").await;
    let url = format!("{}/api/audio/debug/connections", s.url());
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    sse.next_audio().await;
    let (st, _) = get_json(&url, None).await;
    assert_eq!(st, 401);
    let (st, _) = get_json(&url, Some(&token(&s, &[Permission::StreamControl]))).await;
    assert_eq!(st, 403);
    let (st, v) = get_json(&url, Some(&token(&s, &[Permission::DebugAccess]))).await;
    assert_eq!(st, 200);
    let c = &v["connections"][0];
    assert_eq!(c["status"], "healthy", "{c}");
    for k in ["latency_ms", "throughput_mbps", "error_rate", "last_activity", "warnings"] {
        assert!(c.get(k).is_some(), "{k} missing: {c}");
    }
    assert!(c["warnings"].as_array().unwrap().is_empty());
    // the system diagnostics: figures read from /proc, per-stage drops, alerts
    let sys = &v["system"];
    assert!(sys["open_files"].as_u64().unwrap() > 3 && sys["max_open_files"].as_u64().unwrap() > 0, "{sys}");
    assert!(sys["memory"]["rss_bytes"].as_u64().unwrap() > 1_000_000, "{sys}");
    assert!(sys["ms_since_last_frame"].as_i64().unwrap() < 1_000, "a live stream: {sys}");
    for stage in ["hub_lag", "send", "source", "publisher_queue"] {
        assert!(sys["dropped_frames"][stage].is_u64(), "{stage}: {sys}");
    }
    let alerts = sys["alerts"].as_array().unwrap();
    assert!(!alerts.iter().any(|a| a["kind"] == "stalled_pipeline"), "the demo stream flows: {sys}");
    s.shutdown().await;
}

/// `/metrics` parses with a real Prometheus text parser and its counters move as frames flow.
#[tokio::test]
async fn metrics_parse_and_move() {
    let s = start("").await;
    let mut sse = Sse::open(&format!("{}/api/audio/stream", s.url()), &[]).await;
    sse.next_audio().await;
    let scrape = || async {
        let r = client().get(format!("{}/metrics", s.url())).send().await.unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text exposition")
    };
    let value = |scrape: &prometheus_parse::Scrape, name: &str, label: (&str, &str)| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|x| x.metric == name && x.labels.get(label.0) == Some(label.1))
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                _ => 0.0,
            })
            .sum()
    };
    let a = scrape().await;
    for _ in 0..10 {
        sse.next_audio().await;
    }
    let produced = |x: &prometheus_parse::Scrape| value(x, "ondes_frames_produced_total", ("stream", "main"));
    let delivered =
        |x: &prometheus_parse::Scrape| value(x, "ondes_frames_delivered_total", ("transport", "sse"));
    // a feed writer adds up its listeners' counts on its tick (every 100 ms), not per frame
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let b = loop {
        let b = scrape().await;
        if delivered(&b) >= delivered(&a) + 10.0 || std::time::Instant::now() > deadline {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(produced(&b) >= produced(&a) + 10.0, "produced {} -> {}", produced(&a), produced(&b));
    assert!(delivered(&b) >= delivered(&a) + 10.0);
    assert_eq!(value(&b, "ondes_active_sessions", ("transport", "sse")), 1.0);
    assert!(
        value(&b, "ondes_send_latency_seconds", ("transport", "sse")) >= 10.0,
        "latency histogram counts events"
    );
    assert!(value(&b, "ondes_stage_duration_seconds", ("stage", "capture")) > 0.0);
    for family in ["ondes_frames_dropped_total", "ondes_bytes_sent_total", "ondes_client_underruns_total"] {
        assert!(b.docs.contains_key(family), "{family} is documented");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_get_json_404() {
    let s = start("").await;
    let (st, b) = get_json(&format!("{}/api/nothing", s.url()), None).await;
    assert_eq!(st, 404);
    assert_eq!(b["error"], "not_found");
    let r = client().delete(format!("{}/api/audio/stats", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 405);
    s.shutdown().await;
}

/// The shipped Grafana dashboard only queries metric families the server exposes.
#[tokio::test]
async fn grafana_dashboard_matches_the_metrics() {
    let s = start("").await;
    let text = client().get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap();
    let dash =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/grafana-dashboard.json"))
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&dash).unwrap();
    let mut names = Vec::new();
    for p in v["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("ondes_") {
                let name: String =
                    rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[i + name.len()..];
                names.push(name.trim_end_matches("_bucket").to_string());
            }
        }
    }
    assert!(names.len() >= 10);
    for n in names {
        assert!(
            text.contains(&format!("# TYPE {n} ")),
            "the dashboard queries {n}, which /metrics does not expose"
        );
    }
    s.shutdown().await;
}
