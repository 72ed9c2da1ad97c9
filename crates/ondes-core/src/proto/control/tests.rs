//! The control messages against their contract: the examples of docs/protocol.md, the exact
//! shapes the server sends today, round trips, and what a client's odd input becomes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::abr::{Direction, JitterAdvice, ProfileName};
use crate::proto::audio::Codec;

/// docs/protocol.md, read at build time: its examples are the contract, so they are tested
/// as written there.
const PROTOCOL_MD: &str = include_str!("../../../../../docs/protocol.md");

/// The lines of each ```json block of docs/protocol.md, in order.
fn doc_examples() -> Vec<Vec<&'static str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in PROTOCOL_MD.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), l) if !l.is_empty() => block.push(l),
            _ => {}
        }
    }
    blocks
}

fn parse<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(m: &T) {
    let text = serde_json::to_string(m).unwrap();
    assert_eq!(&parse::<T>(&text), m, "{text}");
}

fn listener_info() -> ListenerInfo {
    ListenerInfo {
        protocol: 1,
        stream: "main".into(),
        connection_id: "17".into(),
        codec: Codec::Opus,
        rung: "64".into(),
        rungs: vec!["pcm16".into(), "16".into(), "32".into(), "64".into()],
        sample_rate: 48_000,
        channels: 2,
        frame_ms: 20.0,
        batch: 4,
        paused: false,
        source_lost: false,
        adaptive: true,
        profile: Some(ProfileName::Balanced),
        jitter: Some(JitterAdvice { target_ms: 60, max_ms: 2_000, rtts: 3 }),
    }
}

fn every_status() -> Vec<Status> {
    vec![
        Status::Paused,
        Status::Resumed { skipped_while_paused: None, from_frame: None, missed_frames: None },
        Status::Resumed { skipped_while_paused: Some(12), from_frame: None, missed_frames: None },
        Status::Resumed { skipped_while_paused: None, from_frame: Some(101), missed_frames: Some(0) },
        Status::SourceLost,
        Status::SourceRestored,
        Status::Quality { quality: 0.5, sample_rate: None, level: None },
        Status::Quality { quality: 0.5, sample_rate: Some(24_000), level: None },
        Status::Quality { quality: 0.25, sample_rate: Some(12_000), level: Some("low".into()) },
        Status::Lagged { skipped_frames: 40, message: None },
        Status::Lagged { skipped_frames: 40, message: Some("moved to live".into()) },
        Status::Gap { from_frame: 101, missed_frames: Some(600), message: "gone".into() },
        Status::Gap { from_frame: 101, missed_frames: None, message: "unknown id".into() },
        Status::UtteranceStart { id: 3 },
        Status::UtteranceEnd { id: 3, interrupted: true },
        Status::Ended { message: "source finished".into() },
    ]
}

#[test]
fn the_documented_examples_parse() {
    let blocks = doc_examples();
    assert_eq!(blocks.len(), 3, "docs/protocol.md: to listener, from listener, to publisher");
    let to_listener: Vec<ToListener> = blocks[0].iter().map(|l| parse(l)).collect();
    let from_listener: Vec<FromListener> = blocks[1].iter().map(|l| parse(l)).collect();
    let to_publisher: Vec<ToPublisher> = blocks[2].iter().map(|l| parse(l)).collect();

    let ToListener::Info(info) = &to_listener[0] else { panic!("{:?}", to_listener[0]) };
    assert_eq!(info.jitter, Some(JitterAdvice { target_ms: 60, max_ms: 2_000, rtts: 3 }));
    assert_eq!((info.codec, info.batch, info.frame_ms), (Codec::Opus, 4, 20.0));
    assert!(to_listener.contains(&ToListener::Status(Status::Paused)));
    assert!(to_listener.contains(&ToListener::Status(Status::Resumed {
        skipped_while_paused: Some(12),
        from_frame: None,
        missed_frames: None
    })));
    assert!(to_listener.contains(&ToListener::Status(Status::Lagged { skipped_frames: 40, message: None })));
    assert!(to_listener.contains(&ToListener::Status(Status::SourceLost)));
    assert!(to_listener.contains(&ToListener::Status(Status::SourceRestored)));
    let rungs: Vec<&Rung> =
        to_listener.iter().filter_map(|m| if let ToListener::Rung(r) = m { Some(r) } else { None }).collect();
    assert_eq!(rungs.len(), 3);
    assert_eq!(rungs[0].direction, Some(Direction::Down));
    assert_eq!(rungs[0].jitter, None);
    assert_eq!(rungs[1].jitter, Some(JitterAdvice { target_ms: 680, max_ms: 2_000, rtts: 6 }));
    // the TCP sizing's new floor: the same rung, no direction
    assert_eq!(rungs[2].jitter, Some(JitterAdvice { target_ms: 45, max_ms: 400, rtts: 0 }));
    assert_eq!((rungs[2].direction, rungs[2].code.as_deref()), (None, Some("tcp_floor")));
    assert!(to_listener.contains(&ToListener::Pong(Pong {
        id: Some(7),
        client_ts_us: Some(1_763_700_000_123_456),
        server_ts_us: 1_763_700_000_124_000
    })));
    assert!(matches!(to_listener.last(), Some(ToListener::Error(e)) if e.ends_stream()));

    let FromListener::Report(r) = from_listener[0] else { panic!("{:?}", from_listener[0]) };
    assert_eq!((r.buffer_ms, r.target_ms, r.received_frames), (60.0, 40.0, 500));
    assert_eq!((r.rtt_ms, r.e2e_latency_ms), (Some(1.2), Some(38.5)));
    assert_eq!(
        from_listener[1],
        FromListener::Ping(Ping { id: Some(7), client_ts_us: Some(1_763_700_000_123_456) })
    );

    assert!(matches!(&to_publisher[0], ToPublisher::Info(i) if i.max_queue_ms == Some(1000.0)));
    assert_eq!(to_publisher[1], ToPublisher::Ack(Ack { seq: 1234, queue_ms: 340.0 }));
    assert_eq!(
        to_publisher[2],
        ToPublisher::Backpressure(Backpressure {
            queue_ms: 1000.0,
            max_queue_ms: 1000.0,
            resume_below_ms: 500.0
        })
    );
    assert_eq!(to_publisher[3], ToPublisher::Resume(Resume { queue_ms: 480.0 }));
    assert!(matches!(&to_publisher[4], ToPublisher::Error(e) if e.error == "bad_sample_rate"));
}

#[test]
fn every_message_round_trips() {
    let mut fixed = listener_info();
    (fixed.adaptive, fixed.profile, fixed.paused, fixed.source_lost) = (false, None, true, true);
    let mut to_listener = vec![
        ToListener::Info(listener_info()),
        ToListener::Info(fixed),
        ToListener::Rung(Rung {
            rung: "32".into(),
            profile: Some(ProfileName::Balanced),
            batch: Some(4),
            jitter_target_ms: Some(680),
            jitter: Some(JitterAdvice { target_ms: 680, max_ms: 2_000, rtts: 6 }),
            direction: Some(Direction::Down),
            code: Some("late_frames".into()),
            reason: "late packets".into(),
        }),
        ToListener::Rung(Rung {
            rung: "pcm16".into(),
            profile: None,
            batch: None,
            jitter_target_ms: None,
            jitter: None,
            direction: None,
            code: None,
            reason: "stream quality set to 0.5".into(),
        }),
        ToListener::Pong(Pong { id: Some(7), client_ts_us: Some(-5), server_ts_us: 9 }),
        ToListener::Pong(Pong { id: None, client_ts_us: None, server_ts_us: 9 }),
        ToListener::Error(ErrorMessage::new("bad_json", "not JSON")),
    ];
    to_listener.extend(every_status().into_iter().map(ToListener::Status));
    to_listener.iter().for_each(round_trip);
    every_status().iter().for_each(round_trip);

    let report = Report {
        buffer_ms: 61.5,
        target_ms: 40.0,
        underruns: 1,
        concealed_ms: 12.5,
        late_frames: 2,
        lost_frames: 3,
        received_frames: 500,
        accelerated_ms: 120.5,
        dropped_ms: 0.0,
        rtt_ms: Some(1.2),
        e2e_latency_ms: None,
    };
    for m in [
        FromListener::Report(report),
        FromListener::Report(Report::default()),
        FromListener::Ping(Ping { id: Some(7), client_ts_us: Some(1_763_700_000_123_456) }),
        FromListener::Ping(Ping::default()),
    ] {
        round_trip(&m);
    }

    for m in [
        ToPublisher::Info(PublisherInfo {
            protocol: 1,
            stream: "voice".into(),
            sample_rate: 48_000,
            channels: 1,
            frame_ms: 2.5,
            max_queue_ms: Some(400.0),
            connection: Some(7),
        }),
        ToPublisher::Ack(Ack { seq: 1 << 40, queue_ms: 340.0 }),
        ToPublisher::Backpressure(Backpressure {
            queue_ms: 1000.0,
            max_queue_ms: 1000.0,
            resume_below_ms: 500.0,
        }),
        ToPublisher::Resume(Resume { queue_ms: 480.0 }),
        ToPublisher::Error(ErrorMessage::new("out_of_order", "frame 3 arrived after frame 4")),
    ] {
        round_trip(&m);
    }
}

/// The server builds these with `serde_json::json!` today; the types must produce the very
/// same JSON (names, nulls, absent fields, number kinds) for the clients that read it.
#[test]
fn shapes_are_those_on_the_wire() {
    fn v<T: Serialize>(m: &T) -> Value {
        serde_json::to_value(m).unwrap()
    }
    assert_eq!(
        v(&ToListener::Info(listener_info())),
        json!({"type": "info", "protocol": 1u8, "stream": "main", "connection_id": "17", "codec": "opus",
            "rung": "64", "rungs": ["pcm16", "16", "32", "64"], "sample_rate": 48000u32, "channels": 2u16,
            "frame_ms": 20.0f64, "batch": 4u64, "paused": false, "source_lost": false, "adaptive": true,
            "profile": "balanced", "jitter": {"target_ms": 60, "max_ms": 2000, "rtts": 3}})
    );
    let mut fixed = listener_info();
    (fixed.codec, fixed.adaptive, fixed.profile) = (Codec::Pcm16, false, None);
    assert_eq!(v(&ToListener::Info(fixed))["profile"], Value::Null, "a fixed rung says profile: null");
    assert_eq!(v(&ToListener::Status(Status::Paused)), json!({"type": "status", "status": "paused"}));
    assert_eq!(
        v(&ToListener::Status(Status::Lagged { skipped_frames: 40, message: None })),
        json!({"type": "status", "status": "lagged", "skipped_frames": 40u64})
    );
    assert_eq!(
        v(&ToListener::Rung(Rung {
            rung: "32".into(),
            profile: Some(ProfileName::Balanced),
            batch: Some(4),
            jitter_target_ms: Some(184),
            jitter: None,
            direction: Some(Direction::Down),
            code: Some("backlog".into()),
            reason: "…".into(),
        })),
        json!({"type": "rung", "rung": "32", "profile": "balanced", "batch": 4u64, "jitter_target_ms": 184u32,
            "direction": "down", "code": "backlog", "reason": "…"})
    );
    let quality = Rung {
        rung: "pcm16".into(),
        profile: None,
        batch: None,
        jitter_target_ms: None,
        jitter: None,
        direction: None,
        code: None,
        reason: "stream quality set to 0.5".into(),
    };
    assert_eq!(
        v(&ToListener::Rung(quality)),
        json!({"type": "rung", "rung": "pcm16", "reason": "stream quality set to 0.5"})
    );
    assert_eq!(
        v(&ToListener::Pong(Ping { id: None, client_ts_us: Some(5) }.pong(9))),
        json!({"type": "pong", "id": null, "client_ts_us": 5, "server_ts_us": 9i64})
    );
    assert_eq!(
        v(&ToListener::Error(ErrorMessage::new("stream_ended", "stream ended: eof"))),
        json!({"type": "error", "error": "stream_ended", "message": "stream ended: eof"})
    );
    // SSE `status` bodies, as the SSE route and the hub's notices write them
    assert_eq!(
        v(&Status::Resumed { skipped_while_paused: None, from_frame: Some(101), missed_frames: Some(0) }),
        json!({"status": "resumed", "from_frame": 101u64, "missed_frames": 0})
    );
    assert_eq!(
        v(&Status::Gap { from_frame: 101, missed_frames: None, message: "unknown".into() }),
        json!({"status": "gap", "from_frame": 101u64, "missed_frames": null, "message": "unknown"})
    );
    assert_eq!(
        v(&Status::Quality { quality: 0.5f32, sample_rate: Some(24_000), level: None }),
        json!({"status": "quality", "quality": 0.5f32, "sample_rate": 24000u32})
    );
    assert_eq!(v(&Status::SourceLost), json!({"status": "source-lost"}));
    assert_eq!(v(&Status::UtteranceStart { id: 3 }), json!({"status": "utterance-start", "id": 3}));
    assert_eq!(
        v(&Status::UtteranceEnd { id: 3, interrupted: false }),
        json!({"status": "utterance-end", "id": 3, "interrupted": false})
    );
    assert_eq!(v(&Status::Ended { message: "eof".into() }), json!({"status": "ended", "message": "eof"}));

    assert_eq!(
        v(&ToPublisher::Info(PublisherInfo {
            protocol: 1,
            stream: "main".into(),
            sample_rate: 48_000,
            channels: 2,
            frame_ms: 20.0,
            max_queue_ms: Some(1000.0),
            connection: None,
        })),
        json!({"type": "info", "protocol": 1u8, "stream": "main", "sample_rate": 48000u32, "channels": 2u16,
            "frame_ms": 20.0f64, "max_queue_ms": 1000.0f64})
    );
    assert_eq!(
        v(&ToPublisher::Ack(Ack { seq: 1234, queue_ms: 340.0 })),
        json!({"type": "ack", "seq": 1234u64, "queue_ms": 340.0f64})
    );
    assert_eq!(
        v(&ToPublisher::Backpressure(Backpressure {
            queue_ms: 1000.0,
            max_queue_ms: 1000.0,
            resume_below_ms: 500.0
        })),
        json!({"type": "backpressure", "queue_ms": 1000.0, "max_queue_ms": 1000.0, "resume_below_ms": 500.0})
    );
    assert_eq!(
        v(&ToPublisher::Resume(Resume { queue_ms: 480.0 })),
        json!({"type": "resume", "queue_ms": 480.0})
    );
}

#[test]
fn client_messages_keep_only_known_numbers() {
    let FromListener::Report(r) = parse(
        r#"{"type":"report","buffer_ms":"lots","target_ms":-4,"underruns":3.9,"concealed_ms":null,
        "late_frames":{"nested":[1,2,{"deep":true}]},"lost_frames":[7],"received_frames":18446744073709551615,
        "rtt_ms":true,"e2e_latency_ms":1e3,"extra":{"anything":["a","b"]},"type2":"x"}"#,
    ) else {
        panic!()
    };
    assert_eq!(
        r,
        Report {
            buffer_ms: 0.0,
            target_ms: 0.0,
            underruns: 3,
            concealed_ms: 0.0,
            late_frames: 0,
            lost_frames: 0,
            received_frames: u64::MAX,
            accelerated_ms: 0.0,
            dropped_ms: 0.0,
            rtt_ms: None,
            e2e_latency_ms: Some(1000.0),
        }
    );
    // nothing beyond the schema survives a round trip through the type
    let back: Value = serde_json::to_value(FromListener::Report(r)).unwrap();
    let mut keys: Vec<&str> = back.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let schema = [
        "accelerated_ms",
        "buffer_ms",
        "concealed_ms",
        "dropped_ms",
        "e2e_latency_ms",
        "late_frames",
        "lost_frames",
        "received_frames",
        "target_ms",
        "type",
        "underruns",
    ];
    assert_eq!(keys, schema, "only the schema's fields");

    assert_eq!(
        parse::<FromListener>(r#"{"type":"report"}"#),
        FromListener::Report(Report::default()),
        "an empty report counts zeros"
    );
    assert_eq!(
        parse::<FromListener>(r#"{"type":"ping","id":"seven","client_ts_us":-12.7,"nonce":[1,2,3]}"#),
        FromListener::Ping(Ping { id: None, client_ts_us: Some(-12) })
    );
    assert_eq!(
        parse::<FromListener>(r#"{"id":1,"type":"ping"}"#),
        FromListener::Ping(Ping { id: Some(1), client_ts_us: None })
    );
    for bad in
        [r#"{"type":"hello"}"#, r#"{"id":1}"#, r#"[1,2]"#, "not json", r#"{"type":"report","buffer_ms":1"#]
    {
        assert!(serde_json::from_str::<FromListener>(bad).is_err(), "{bad}");
    }
}

#[test]
fn report_feeds_the_controller() {
    let r = Report {
        buffer_ms: 61.5,
        target_ms: 40.0,
        underruns: 1,
        concealed_ms: 12.5,
        late_frames: 2,
        lost_frames: 3,
        received_frames: 500,
        accelerated_ms: 120.5,
        dropped_ms: 0.0,
        rtt_ms: Some(1.2),
        e2e_latency_ms: Some(38.5),
    };
    let c = r.client_report();
    assert_eq!((c.buffer_ms, c.target_ms, c.rtt_ms), (61.5, 40.0, Some(1.2)));
    assert_eq!((c.underruns, c.late_frames, c.lost_frames, c.received_frames), (1, 2, 3, 500));
}

#[test]
fn statuses_name_themselves_and_their_skips() {
    for s in every_status() {
        assert_eq!(serde_json::to_value(&s).unwrap()["status"], s.name());
    }
    assert_eq!(Status::Lagged { skipped_frames: 40, message: None }.skipped_frames(), 40);
    let resumed = Status::Resumed { skipped_while_paused: Some(12), from_frame: None, missed_frames: None };
    assert_eq!(resumed.skipped_frames(), 12);
    assert_eq!(
        Status::Gap { from_frame: 1, missed_frames: Some(9), message: String::new() }.skipped_frames(),
        0
    );
    assert!(ErrorMessage::new("shutting_down", "").ends_stream());
    assert!(!ErrorMessage::new("bad_json", "").ends_stream());
}
