//! The monitor end to end, in simulated time.

use super::*;

const MS: u64 = 1_000;
const S: u64 = 1_000_000;

fn monitor_with(f: impl FnOnce(&mut PerfConfig)) -> PerfMonitor {
    let mut c = PerfConfig::default();
    f(&mut c);
    PerfMonitor::new(c).unwrap()
}

fn rules_fired(r: &PerfReport, op: &str) -> Vec<&'static str> {
    r.alerts.iter().filter(|a| a.op == op).map(|a| a.kind.rule()).collect()
}

#[test]
fn builtins_have_fixed_ids_and_default_thresholds() {
    let m = PerfMonitor::default();
    assert_eq!(m.op_count(), DefaultOp::ALL.len());
    for op in DefaultOp::ALL {
        assert_eq!(m.id(op.name()), Some(op.id()));
        assert_eq!(m.threshold_us(op.id()), Some(op.default_threshold_us()));
    }
    let r = m.report(0);
    assert_eq!(r.operations.len(), 19);
    assert!(r.operations.iter().all(|o| o.level.is_none() && o.stats.is_none()));
    assert!(r.alerts.is_empty() && r.bottlenecks.is_empty());
}

#[test]
fn levels_at_the_boundaries_through_the_monitor() {
    // tts_synthesis: 500 ms threshold
    for (d, level) in [
        (249_999, Level::Excellent),
        (250_000, Level::Good),
        (500_000, Level::Good),
        (500_001, Level::Slow),
        (750_000, Level::Slow),
        (750_001, Level::Bottleneck),
    ] {
        let mut m = PerfMonitor::default();
        m.record("tts_synthesis", d, true, S).unwrap();
        assert_eq!(m.report(S).op("tts_synthesis").unwrap().level, Some(level), "{d} µs");
    }
    // the level is the average's: 400 + 600 = avg 500 = exactly the threshold → GOOD
    let mut m = PerfMonitor::default();
    m.record("tts_synthesis", 400 * MS, true, S).unwrap();
    m.record("tts_synthesis", 600 * MS, true, S).unwrap();
    let r = m.report(S);
    let op = r.op("tts_synthesis").unwrap();
    assert_eq!(op.level, Some(Level::Good));
    assert_eq!(op.ratio, Some(1.0));
}

#[test]
fn percentiles_of_uniform_1_to_1000() {
    let mut m = PerfMonitor::default();
    let id = m.intern("uniform").unwrap();
    for d in (1..=1000).rev() {
        m.record_id(id, d, true, S);
    }
    let r = m.report(S);
    let s = r.op("uniform").unwrap().stats.clone().unwrap();
    assert_eq!((s.count, s.min_us, s.max_us), (1000, 1, 1000));
    assert_eq!((s.median_us, s.p95_us, s.p99_us), (500, 950, 990));
    assert!((s.avg_us - 500.5).abs() < 1e-9);
    assert!((s.std_dev_us - 288.67).abs() < 0.01, "{}", s.std_dev_us);
}

#[test]
fn window_eviction_keeps_the_latest_measurements() {
    let mut m = monitor_with(|c| c.window = 10);
    for d in 1..=25 {
        m.record("encode", d * MS, d % 5 != 0, S).unwrap();
    }
    let r = m.report(S);
    let s = r.op("encode").unwrap().stats.clone().unwrap();
    assert_eq!((s.count, s.min_us, s.max_us), (10, 16 * MS, 25 * MS));
    assert_eq!(s.success_rate, 0.8); // 20 and 25 failed
    assert_eq!((s.total_count, s.total_failed), (25, 5));
}

#[test]
fn unknown_names_get_the_default_threshold_and_appear() {
    let mut m = PerfMonitor::default();
    m.record("rag.retrieval", 300 * MS, true, S).unwrap();
    let r = m.report(S);
    let op = r.op("rag.retrieval").unwrap();
    assert_eq!(op.threshold_us, 1_000_000);
    assert_eq!(op.level, Some(Level::Excellent));
    assert!(matches!(m.record("Bad Name", 1, true, S), Err(PerfError::BadName { .. })));
    assert!(matches!(m.record(&"x".repeat(65), 1, true, S), Err(PerfError::BadName { .. })));
}

#[test]
fn operations_are_bounded() {
    let mut m = monitor_with(|c| c.max_operations = 20);
    m.record("one_more", 1, true, S).unwrap();
    let e = m.record("two_more", 1, true, S).unwrap_err();
    assert!(matches!(e, PerfError::TooManyOperations { max: 20, .. }), "{e}");
    assert!(m.record("one_more", 1, true, S).is_ok(), "known names still record");
}

#[test]
fn idle_client_operations_give_their_slot_to_new_names() {
    let mut m = monitor_with(|c| c.max_operations = 21);
    m.record("junk_a", 1, true, S).unwrap();
    m.record("junk_b", 1, true, 2 * S).unwrap();
    assert!(matches!(m.record("wanted", 1, true, 3 * S), Err(PerfError::TooManyOperations { .. })));
    // nothing idle since before 1.5 s but junk_a: it goes, the built-ins stay
    let (id, gone) = m.intern_or_replace_idle("wanted", S + S / 2).unwrap();
    assert_eq!(gone.as_deref(), Some("junk_a"));
    assert!(!m.is_pinned(id));
    assert_eq!(m.id("wanted"), Some(id));
    assert_eq!(m.id("junk_a"), None);
    m.record_id(id, 7, true, 4 * S);
    // junk_b was filed at 2 s: not idle before 1.5 s, so no slot for another name
    assert!(m.intern_or_replace_idle("another", S + S / 2).is_err());
    assert!(DefaultOp::ALL.iter().all(|op| m.id(op.name()).is_some_and(|id| m.is_pinned(id))));
}

#[test]
fn configured_thresholds_override_and_add() {
    let m = monitor_with(|c| {
        c.thresholds_us.insert("encode".into(), 5 * MS);
        c.thresholds_us.insert("rerank".into(), 200 * MS);
    });
    assert_eq!(m.threshold_us(DefaultOp::Encode.id()), Some(5 * MS));
    assert_eq!(m.threshold_us(m.id("rerank").unwrap()), Some(200 * MS));
    assert_eq!(m.id("rerank").unwrap().index(), DefaultOp::ALL.len(), "built-ins keep their ids");
}

#[test]
fn bad_configs_name_the_key() {
    type Change = Box<dyn Fn(&mut PerfConfig)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|c| c.window = 0), "window"),
        (Box::new(|c| c.long_window_secs = 30), "long_window_secs"),
        (Box::new(|c| c.recent_window_secs = 600), "long_window_secs"),
        (Box::new(|c| c.timeout_factor = 0.5), "timeout_factor"),
        (
            Box::new(|c| {
                c.thresholds_us.insert("Bad".into(), 1);
            }),
            "thresholds.Bad",
        ),
        (
            Box::new(|c| {
                c.thresholds_us.insert("x".into(), 0);
            }),
            "thresholds.x",
        ),
        (Box::new(|c| c.max_operations = 5), "max_operations"),
    ];
    for (f, key) in cases {
        let mut c = PerfConfig::default();
        f(&mut c);
        let e = PerfMonitor::new(c).unwrap_err().to_string();
        assert!(e.starts_with(key), "{key}: {e}");
    }
}

#[test]
fn consecutive_slow_alert_fires_at_three_and_clears() {
    let mut m = PerfMonitor::default();
    let t = 500 * MS; // tts_synthesis
    m.record("tts_synthesis", 100 * MS, true, S).unwrap();
    m.record("tts_synthesis", t + 1, true, S).unwrap();
    m.record("tts_synthesis", t + 1, true, S).unwrap();
    assert!(rules_fired(&m.report(S), "tts_synthesis").is_empty(), "two in a row is not three");
    m.record("tts_synthesis", t + 1, true, S).unwrap();
    let r = m.report(S);
    assert_eq!(rules_fired(&r, "tts_synthesis"), vec!["consecutive_slow"]);
    let a = &r.alerts[0];
    assert_eq!(a.kind, AlertKind::ConsecutiveSlow { count: 3 });
    assert!(a.suggestions.iter().any(|s| s.contains("smaller chunks")), "{:?}", a.suggestions);
    // a measurement exactly at the threshold is not over it: the streak ends
    m.record("tts_synthesis", t, true, S).unwrap();
    assert!(rules_fired(&m.report(S), "tts_synthesis").is_empty());
}

#[test]
fn timeout_alert_needs_more_than_five_in_a_minute() {
    let mut m = PerfMonitor::default();
    let id = DefaultOp::NetworkRequest.id(); // 1 s threshold, timeout at ≥ 3 s
    for i in 0..5 {
        m.record_id(id, 3 * S, true, 100 * S + i * S);
    }
    m.record_id(id, 2_999_999, true, 105 * S); // just under the timeout: not one
    assert!(rules_fired(&m.report(106 * S), "network_request").iter().all(|r| *r != "timeouts"));
    // a flagged timeout counts whatever its duration
    m.record_outcome(id, 10 * MS, Outcome::TimedOut, 110 * S);
    let r = m.report(110 * S);
    assert!(rules_fired(&r, "network_request").contains(&"timeouts"));
    let a = r.alerts.iter().find(|a| a.kind.rule() == "timeouts").unwrap();
    assert_eq!(a.kind, AlertKind::Timeouts { last_minute: 6 });
    assert!(a.suggestions.iter().any(|s| s.contains("ondes probe")));
    // a minute later the first ones have left the last minute
    assert!(rules_fired(&m.report(165 * S), "network_request").iter().all(|r| *r != "timeouts"));
}

#[test]
fn success_rate_alert_below_90_percent_with_enough_samples() {
    let mut m = PerfMonitor::default();
    m.record("llm_api_call", 100 * MS, false, S).unwrap();
    assert!(rules_fired(&m.report(S), "llm_api_call").is_empty(), "one sample is not enough to judge");
    for _ in 0..9 {
        m.record("llm_api_call", 100 * MS, true, S).unwrap();
    }
    assert!(rules_fired(&m.report(S), "llm_api_call").is_empty(), "exactly 90% is not below 90%");
    m.record("llm_api_call", 100 * MS, false, S).unwrap(); // 9 of 11 = 81.8 %
    let r = m.report(S);
    assert_eq!(rules_fired(&r, "llm_api_call"), vec!["low_success_rate"]);
    assert!(r.alerts[0].message.contains("81.8%"), "{}", r.alerts[0].message);
}

#[test]
fn degrading_trend_is_detected_against_the_window_before() {
    let mut m = PerfMonitor::default();
    let id = DefaultOp::SttProcessing.id();
    // baseline: 10 measurements of 1 s between t = 100 s and 190 s
    for i in 0..10 {
        m.record_id(id, S, true, 100 * S + i * 10 * S);
    }
    // recent (last 60 s before t = 400 s): 1.2 s — 1.2× is stable
    for i in 0..10 {
        m.record_id(id, 1_200 * MS, true, 350 * S + i * S);
    }
    let r = m.report(400 * S);
    assert_eq!(r.op("stt_processing").unwrap().trend.trend, Trend::Stable);
    assert!(rules_fired(&r, "stt_processing").is_empty());

    let mut m = PerfMonitor::default();
    for i in 0..10 {
        m.record_id(id, S, true, 100 * S + i * 10 * S);
    }
    for i in 0..10 {
        m.record_id(id, 1_500 * MS, true, 350 * S + i * S);
    }
    let r = m.report(400 * S);
    let op = r.op("stt_processing").unwrap();
    assert_eq!(op.trend.trend, Trend::Degrading);
    assert!((op.trend.ratio.unwrap() - 1.5).abs() < 1e-9);
    assert_eq!(rules_fired(&r, "stt_processing"), vec!["degrading"]);
    // ten minutes later the baseline has expired: unknown, no alert
    let r = m.report(1_000 * S);
    assert_eq!(r.op("stt_processing").unwrap().trend.trend, Trend::Unknown);
    assert!(rules_fired(&r, "stt_processing").is_empty());
}

#[test]
fn bottlenecks_are_ranked_by_ratio_with_suggestions() {
    let mut m = PerfMonitor::default();
    m.record_id(DefaultOp::Encode.id(), 12 * MS, true, S); // 120 %
    m.record_id(DefaultOp::Fanout.id(), 20 * MS, true, S); // 200 %
    m.record_id(DefaultOp::Send.id(), MS, true, S); // 5 %
    let r = m.report(S);
    let names: Vec<&str> = r.bottlenecks.iter().map(|b| b.op.as_str()).collect();
    assert_eq!(names, vec!["fanout", "encode"]);
    assert_eq!(r.bottlenecks[0].level, Level::Bottleneck);
    assert_eq!(r.bottlenecks[1].level, Level::Slow);
    assert!(r.bottlenecks[0].suggestions.iter().any(|s| s.contains("larger batch")));
    assert!(r.bottlenecks[1].suggestions.iter().any(|s| s.contains("complexity")));
    let order: Vec<&str> = r.operations.iter().take(3).map(|o| o.name.as_str()).collect();
    assert_eq!(order, vec!["fanout", "encode", "send"]);
}

#[test]
fn slas_in_the_report() {
    let mut m = monitor_with(|c| {
        c.slas.push(Sla::new("tts_synthesis", 95.0, 500 * MS).unwrap());
        c.slas.push(Sla::new("llm_response", 99.0, 4 * S).unwrap());
    });
    for i in 0..100 {
        m.record("tts_synthesis", if i < 94 { 400 * MS } else { 600 * MS }, true, S).unwrap();
    }
    let r = m.report(S);
    assert_eq!(r.slas[0].status, SlaStatus::Fail);
    assert_eq!(r.slas[0].measured_us, Some(600 * MS));
    assert_eq!(r.slas[1].status, SlaStatus::NoData);
    assert_eq!(r.failed_slas().count(), 1);
    let mut m2 = monitor_with(|c| c.slas.push(Sla::new("tts_synthesis", 95.0, 500 * MS).unwrap()));
    for i in 0..100 {
        m2.record("tts_synthesis", if i < 95 { 400 * MS } else { 600 * MS }, true, S).unwrap();
    }
    assert_eq!(m2.report(S).slas[0].status, SlaStatus::Pass);
}

#[test]
fn announcer_says_each_problem_once_and_again_after_it_clears() {
    let mut m = PerfMonitor::default();
    let mut ann = Announcer::default();
    for _ in 0..3 {
        m.record("encode", 20 * MS, true, S).unwrap(); // 200 %: bottleneck + 3 in a row
    }
    let first = ann.update(&m.report(S));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(matches!(&first[0], Announcement::Bottleneck(b) if b.op == "encode"));
    assert!(matches!(&first[1], Announcement::Alert(a) if a.kind.rule() == "consecutive_slow"));
    m.record("encode", 20 * MS, true, S).unwrap();
    assert!(ann.update(&m.report(S)).is_empty(), "still the same problems");
    m.record("encode", MS, true, S).unwrap(); // streak ends; average still a bottleneck
    assert!(ann.update(&m.report(S)).is_empty());
    for _ in 0..3 {
        m.record("encode", 20 * MS, true, S).unwrap();
    }
    let again = ann.update(&m.report(S));
    assert_eq!(again.len(), 1);
    assert!(matches!(&again[0], Announcement::Alert(a) if a.kind.rule() == "consecutive_slow"));
}

#[test]
fn summary_table_has_a_line_per_operation() {
    let mut m = monitor_with(|c| c.slas.push(Sla::new("tts_synthesis", 95.0, 500 * MS).unwrap()));
    for d in [400 * MS, 420 * MS, 480 * MS] {
        m.record("tts_synthesis", d, true, S).unwrap();
    }
    m.record("fanout", 30 * MS, true, S).unwrap();
    let t = m.report(S).summary_table();
    let line = t.lines().find(|l| l.contains("tts_synthesis") && l.starts_with("GOOD")).unwrap();
    assert!(line.contains("avg 433.3 ms") && line.contains("p95 480 ms"), "{line}");
    assert!(line.contains("threshold 500 ms") && line.contains("success 100.0%"), "{line}");
    assert!(t.lines().next().unwrap().starts_with("BOTTLENECK  fanout"), "worst first:\n{t}");
    assert!(t.contains("larger batch"), "{t}");
    assert!(t.contains("PASS     95% of tts_synthesis ≤ 500 ms"), "{t}");
    assert!(t.contains("no data yet: capture, decode"), "{t}");
    assert_eq!(PerfMonitor::default().report(0).summary_table().lines().next(), Some("no measurements yet"));
}

#[test]
fn report_serialises_to_json() {
    let mut m = PerfMonitor::default();
    for _ in 0..3 {
        m.record("tts_synthesis", 800 * MS, true, S).unwrap();
    }
    let v = serde_json::to_value(m.report(S)).unwrap();
    let op = v["operations"].as_array().unwrap().iter().find(|o| o["name"] == "tts_synthesis").unwrap();
    assert_eq!(op["level"], "BOTTLENECK");
    assert_eq!(op["stats"]["p95_us"], 800_000);
    assert_eq!(op["trend"]["trend"], "unknown");
    assert_eq!(v["alerts"][0]["kind"], "consecutive_slow");
    assert_eq!(v["alerts"][0]["count"], 3);
    assert_eq!(v["bottlenecks"][0]["op"], "tts_synthesis");
    let idle = v["operations"].as_array().unwrap().iter().find(|o| o["name"] == "capture").unwrap();
    assert!(idle["level"].is_null() && idle["stats"].is_null());
}

#[test]
fn ids_from_elsewhere_are_counted_not_recorded() {
    let mut m = PerfMonitor::default();
    m.record_id(OpId(999), 1, true, S);
    assert_eq!(m.unknown_ids(), 1);
    assert!(m.report(S).operations.iter().all(|o| o.stats.is_none()));
}
