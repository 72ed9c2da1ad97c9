//! The perf monitor's HTTP API over real HTTP: spans in, report and summary out.

mod common;

use common::*;
use ondes_server::auth::Permission;
use serde_json::Value;

fn op<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["operations"]
        .as_array()
        .expect("operations array")
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no operation {name} in {report}"))
}

async fn get_text(url: &str) -> (reqwest::StatusCode, String, String) {
    let resp = client().get(url).send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn spans_show_up_in_the_report_with_their_level() {
    let s = start("[perf]\nsummary_log_secs = 0\n").await;
    let publish = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/perf/spans", s.url());
    // 420 ms and 440 ms against tts_synthesis' 500 ms: avg 430 ms = 86 % → GOOD
    let body = r#"{"spans":[
        {"name":"tts_synthesis","start_us":1763700000000000,"duration_us":420000,"ok":true,"attributes":{"voice":"a"}},
        {"name":"tts_synthesis","duration_us":440000,"ok":true}
    ]}"#;
    let (st, b) = post_json(&url, Some(&publish), body).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["accepted"], 2);
    // a bare array works too; an unknown name gets the default threshold (1 s)
    let (st, b) = post_json(&url, Some(&publish), r#"[{"name":"rag.retrieval","duration_us":100000}]"#).await;
    assert_eq!((st.as_u16(), b["accepted"].as_u64()), (200, Some(1)), "{b}");

    let (st, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    assert_eq!(st, 200);
    let tts = op(&report, "tts_synthesis");
    assert_eq!(tts["level"], "GOOD");
    assert_eq!(tts["threshold_us"], 500_000);
    assert_eq!(tts["stats"]["count"], 2);
    assert_eq!(tts["stats"]["avg_us"], 430_000.0);
    assert_eq!(tts["stats"]["p95_us"], 440_000);
    assert_eq!(tts["stats"]["success_rate"], 1.0);
    let rag = op(&report, "rag.retrieval");
    assert_eq!((rag["level"].as_str(), rag["threshold_us"].as_u64()), (Some("EXCELLENT"), Some(1_000_000)));
    // built-ins without data are listed too, with no level
    assert!(op(&report, "encode")["level"].is_null());
    assert!(report["bottlenecks"].as_array().unwrap().is_empty());

    let (st, ct, text) = get_text(&format!("{}/api/perf/summary", s.url())).await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("text/plain"), "{ct}");
    let line = text.lines().find(|l| l.contains("tts_synthesis")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("GOOD"), "{line}");
    assert!(
        line.contains("avg 430 ms") && line.contains("p95 440 ms") && line.contains("threshold 500 ms"),
        "{line}"
    );
    assert!(line.contains("success 100.0%"), "{line}");
    s.shutdown().await;
}

#[tokio::test]
async fn spans_need_a_publish_token() {
    let s = start("").await;
    let url = format!("{}/api/perf/spans", s.url());
    let body = r#"[{"name":"tts_synthesis","duration_us":1000}]"#;
    let (st, b) = post_json(&url, None, body).await;
    assert_eq!(st, 401);
    assert_eq!(b["error"], "missing_token");
    let sub = token(&s, &[Permission::Subscribe, Permission::StreamControl]);
    let (st, b) = post_json(&url, Some(&sub), body).await;
    assert_eq!(st, 403);
    assert!(b["message"].as_str().unwrap().contains("publish"), "{b}");
    // refused spans were not recorded
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    assert!(op(&report, "tts_synthesis")["stats"].is_null());
    let admin = token(&s, &[Permission::Admin]);
    assert_eq!(post_json(&url, Some(&admin), body).await.0, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn malformed_spans_get_400_naming_the_field() {
    let s = start("[perf]\nmax_spans_per_request = 5\n").await;
    let t = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/perf/spans", s.url());
    let ok = r#"{"name":"stt_processing","duration_us":1000}"#;
    let cases = [
        (
            format!(r#"{{"spans":[{ok},{ok},{{"name":"stt_processing","duration_us":-3}}]}}"#),
            "bad_span",
            "spans[2].duration_us must be a non-negative integer",
        ),
        (
            format!(r#"[{ok},{{"name":"stt_processing","duration_us":"fast"}}]"#),
            "bad_span",
            "spans[1].duration_us",
        ),
        (r#"[{"duration_us":5}]"#.to_string(), "bad_span", "spans[0].name is required"),
        (
            r#"[{"name":"Bad Name!","duration_us":5}]"#.to_string(),
            "bad_span",
            "spans[0].name 'Bad Name!' must use only",
        ),
        (
            format!(r#"[{}]"#, r#"{"name":"x","duration_us":5,"ok":"yes"}"#),
            "bad_span",
            "spans[0].ok must be true or false",
        ),
        (r#"[{"name":"x","duration_us":5,"start_us":-1}]"#.to_string(), "bad_span", "spans[0].start_us"),
        (
            r#"[{"name":"x","duration_us":5,"attributes":"a"}]"#.to_string(),
            "bad_span",
            "spans[0].attributes must be an object",
        ),
        (r#"[17]"#.to_string(), "bad_span", "spans[0] must be an object"),
        (r#"{"events":[]}"#.to_string(), "bad_spans", "the body must be"),
        ("{not json".to_string(), "bad_json", "not valid JSON"),
    ];
    for (body, code, message) in &cases {
        let (st, b) = post_json(&url, Some(&t), body).await;
        assert_eq!(st, 400, "{body}: {b}");
        assert_eq!(b["error"], *code, "{body}: {b}");
        assert!(b["message"].as_str().unwrap().contains(message), "{body}: {b}");
    }
    let six = format!("[{}]", [ok; 6].join(","));
    let (st, b) = post_json(&url, Some(&t), &six).await;
    assert_eq!(st, 413, "{b}");
    assert_eq!(b["error"], "too_many_spans");
    assert!(b["message"].as_str().unwrap().contains("at most 5"), "{b}");
    // a batch with one bad span records none of it
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    assert!(op(&report, "stt_processing")["stats"].is_null(), "{report}");
    s.shutdown().await;
}

#[tokio::test]
async fn three_slow_spans_in_a_row_raise_a_bottleneck_alert() {
    let s = start("[perf.thresholds]\nllm_response = 2.0\n").await;
    let t = token(&s, &[Permission::Publish]);
    let url = format!("{}/api/perf/spans", s.url());
    let slow = r#"{"name":"llm_response","duration_us":3500000}"#; // 175 % of the configured 2 s
    let (st, _) = post_json(&url, Some(&t), &format!("[{slow},{slow}]")).await;
    assert_eq!(st, 200);
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    assert!(report["alerts"].as_array().unwrap().is_empty(), "two in a row is not three: {report}");
    let (st, _) = post_json(&url, Some(&t), &format!("[{slow}]")).await;
    assert_eq!(st, 200);

    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    let llm = op(&report, "llm_response");
    assert_eq!(llm["level"], "BOTTLENECK");
    assert_eq!(llm["threshold_us"], 2_000_000);
    let alert = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["op"] == "llm_response" && a["kind"] == "consecutive_slow")
        .unwrap_or_else(|| panic!("no consecutive_slow alert: {report}"));
    assert_eq!(alert["count"], 3);
    assert!(
        alert["suggestions"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("streaming"))
    );
    assert_eq!(report["bottlenecks"][0]["op"], "llm_response");

    let (_, _, text) = get_text(&format!("{}/api/perf/summary", s.url())).await;
    assert!(text.lines().any(|l| l.starts_with("BOTTLENECK") && l.contains("llm_response")), "{text}");
    assert!(text.contains("the last 3 measurements were all over the 2000 ms threshold"), "{text}");
    s.shutdown().await;
}

#[tokio::test]
async fn the_server_measures_its_own_stages_through_the_shared_monitor() {
    let s = start("").await;
    let perf = &s.state.perf;
    {
        let _t = perf.measure_id(ondes_server::perf::DefaultOp::Fanout.id());
    }
    perf.record_id(ondes_server::perf::DefaultOp::Send.id(), std::time::Duration::from_millis(45), false);
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    assert_eq!(op(&report, "fanout")["stats"]["count"], 1);
    let send = op(&report, "send");
    assert_eq!(send["level"], "BOTTLENECK"); // 45 ms against 20 ms
    assert_eq!(send["stats"]["success_rate"], 0.0);
    s.shutdown().await;
}
