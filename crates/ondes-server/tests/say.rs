//! `POST /api/streams/{id}/say` over real loopback: real espeak-ng, a command engine, an HTTP
//! engine, real SSE and WebSocket listeners.
//!
//! The stream is a publish stream with no publisher, so it carries silence until speech
//! takes its place: audio between `utterance-start` and `utterance-end` must be loud, the
//! rest silent, and frame numbers never skip. Needs espeak-ng (scripts/test.sh installs it).

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use ondes_core::dsp::rms;
use ondes_core::proto::audio::decode_audio;
use ondes_server::auth::Permission;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const STREAM: &str = "[[stream]]\nid = \"main\"\nsource = \"publish\"\nsample_rate = 16000\nchannels = 1\n";

/// What a listener saw, with when it saw it.
#[derive(Debug, Clone)]
enum Ev {
    Start(u64),
    End(u64, bool),
    Audio { seq: u64, rms: f32 },
}

#[derive(Debug, Default)]
struct Timeline(Vec<(Instant, Ev)>);

impl Timeline {
    fn position(&self, f: impl Fn(&Ev) -> bool) -> Option<usize> {
        self.0.iter().position(|(_, e)| f(e))
    }

    fn start(&self, id: u64) -> usize {
        self.position(|e| matches!(e, Ev::Start(i) if *i == id))
            .unwrap_or_else(|| panic!("no start of {id}: {self:?}"))
    }

    fn end(&self, id: u64) -> (usize, bool) {
        let i = self
            .position(|e| matches!(e, Ev::End(i, _) if *i == id))
            .unwrap_or_else(|| panic!("no end of {id}"));
        let Ev::End(_, interrupted) = self.0[i].1 else { unreachable!() };
        (i, interrupted)
    }

    /// Loudest frame between two events.
    fn loudest(&self, from: usize, to: usize) -> f32 {
        self.0[from..to]
            .iter()
            .filter_map(|(_, e)| if let Ev::Audio { rms, .. } = e { Some(*rms) } else { None })
            .fold(0.0, f32::max)
    }

    /// The first frame louder than `level` after event `from`.
    fn first_loud(&self, from: usize, level: f32) -> Instant {
        self.0[from..]
            .iter()
            .find(|(_, e)| matches!(e, Ev::Audio { rms, .. } if *rms > level))
            .expect("loud audio")
            .0
    }

    fn assert_gap_free(&self) {
        let seqs: Vec<u64> = self
            .0
            .iter()
            .filter_map(|(_, e)| if let Ev::Audio { seq, .. } = e { Some(*seq) } else { None })
            .collect();
        assert!(seqs.len() > 10, "too few frames: {}", seqs.len());
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0] + 1, "frame numbers skip");
        }
    }
}

fn status_event(v: &Value) -> Option<Ev> {
    match v["status"].as_str()? {
        "utterance-start" => Some(Ev::Start(v["id"].as_u64()?)),
        "utterance-end" => Some(Ev::End(v["id"].as_u64()?, v["interrupted"].as_bool()?)),
        _ => None,
    }
}

/// Collects an SSE listener's timeline until utterance `stop` ends (or `secs` pass).
async fn sse_timeline(url: String, stop: u64, secs: f64) -> Timeline {
    let mut sse = Sse::open(&url, &[]).await;
    assert_eq!(sse.status, 200);
    let mut t = Timeline::default();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        let Some(e) = sse.try_next(0.5).await else { continue };
        let at = Instant::now();
        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
        match e.event.as_deref() {
            Some("audio-frame") => {
                let s = samples(&data, "channel_a");
                t.0.push((at, Ev::Audio { seq: data["frame_number"].as_u64().unwrap(), rms: rms(&s) }));
            }
            Some("status") => {
                if let Some(ev) = status_event(&data) {
                    let done = matches!(ev, Ev::End(id, _) if id == stop);
                    t.0.push((at, ev));
                    if done {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    t
}

/// The same for a WebSocket listener (pcm16, one frame per message).
async fn ws_timeline(url: String, stop: u64, secs: f64) -> Timeline {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("WebSocket handshake");
    let mut t = Timeline::default();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut last = None;
    while Instant::now() < deadline {
        let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await else {
            continue;
        };
        let at = Instant::now();
        match m {
            Message::Binary(b) => {
                let msg = decode_audio(&b, last).expect("audio message");
                for (i, f) in msg.frames.iter().enumerate() {
                    let s: Vec<f32> = f
                        .chunks_exact(2)
                        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                        .collect();
                    let seq = msg.header.first_seq + i as u64;
                    last = Some(seq);
                    t.0.push((at, Ev::Audio { seq, rms: rms(&s) }));
                }
            }
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["type"] == "status"
                    && let Some(ev) = status_event(&v)
                {
                    let done = matches!(ev, Ev::End(id, _) if id == stop);
                    t.0.push((at, ev));
                    if done {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    t
}

async fn say(s: &ondes_server::RunningServer, token: Option<&str>, body: Value) -> (u16, Value) {
    let (st, v) = post_json(&format!("{}/api/streams/main/say", s.url()), token, &body.to_string()).await;
    (st.as_u16(), v)
}

fn publisher_token(s: &ondes_server::RunningServer) -> String {
    token(s, &[Permission::Publish])
}

#[tokio::test]
async fn speech_reaches_sse_and_websocket_listeners_between_its_notices() {
    let s = start(STREAM).await;
    let t = publisher_token(&s);
    let sse = tokio::spawn(sse_timeline(format!("{}/api/streams/main/stream", s.url()), 1, 20.0));
    let ws =
        tokio::spawn(ws_timeline(format!("ws://{}/api/streams/main/ws?rung=pcm16&batch=1", s.addr), 1, 20.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (st, v) = say(&s, Some(&t), json!({"text": "Hello listeners, this is ondes speaking."})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["utterance"], 1);
    assert_eq!(v["state"], "playing");
    assert!(v["first_pcm_ms"].as_f64().unwrap() >= 0.0 && v["first_frame_ms"].as_f64().is_some(), "{v}");
    for (name, tl) in [("sse", sse.await.unwrap()), ("ws", ws.await.unwrap())] {
        let start = tl.start(1);
        let (end, interrupted) = tl.end(1);
        assert!(!interrupted, "{name}");
        assert!(start < end, "{name}");
        assert!(tl.loudest(0, start) < 0.001, "{name}: the stream was silent before the speech");
        assert!(tl.loudest(start, end) > 0.02, "{name}: the speech is audible");
        // the words last well over a second of audio
        assert!(tl.0[end].0 - tl.0[start].0 > Duration::from_millis(1000), "{name}");
        tl.assert_gap_free();
    }
    // the first listener to get the first frame recorded the time to first audio
    let (_, report) = get_json(&format!("{}/api/perf", s.url()), None).await;
    let ops = report["operations"].as_array().unwrap();
    for name in [
        "tts_first_audio",
        "tts_first_audio.synthesis",
        "tts_first_audio.queue",
        "tts_first_audio.hub",
        "tts_first_audio.transport",
    ] {
        let op = ops.iter().find(|o| o["name"] == name).unwrap_or_else(|| panic!("no {name} in {report}"));
        assert_eq!(op["stats"]["count"], 1, "{name}: one utterance, one figure: {op}");
    }
    let metrics = client().get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("ondes_tts_first_audio_seconds_count{stage=\"total\",stream=\"main\"} 1"),
        "{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn the_first_frame_is_heard_before_a_slow_engine_finishes() {
    // a command engine writing raw PCM: a first word, then 1.5 s of nothing, then more
    let toml = format!(
        "{STREAM}[[tts.engine]]\nname = \"slow\"\nrate = 22050\nchannels = 1\ncommand = \"espeak-ng --stdout 'first words' | tail -c +45; sleep 1.5; espeak-ng --stdout 'and the rest' | tail -c +45\"\n"
    );
    let s = start(&toml).await;
    let t = publisher_token(&s);
    let sse = tokio::spawn(sse_timeline(format!("{}/api/streams/main/stream", s.url()), 1, 20.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let asked = Instant::now();
    let (st, v) = say(&s, Some(&t), json!({"text": "ignored by this engine", "engine": "slow"})).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        asked.elapsed() < Duration::from_millis(1200),
        "answered after the first frame, not the synthesis"
    );
    let tl = sse.await.unwrap();
    let start = tl.start(1);
    let (end, interrupted) = tl.end(1);
    assert!(!interrupted);
    let first_loud = tl.first_loud(start, 0.02);
    assert!(
        first_loud - asked < Duration::from_millis(1200),
        "first audio {:?} after the request",
        first_loud - asked
    );
    // synthesis took 1.5 s longer than that: the end comes well after
    assert!(tl.0[end].0 - first_loud > Duration::from_millis(1500));
    tl.assert_gap_free();
    s.shutdown().await;
}

#[tokio::test]
async fn interrupt_cuts_the_current_utterance_and_the_new_one_plays() {
    let s = start(STREAM).await;
    let t = publisher_token(&s);
    let sse = tokio::spawn(sse_timeline(format!("{}/api/streams/main/stream", s.url()), 3, 30.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let long = "This is a long announcement that goes on and on, so that it is still playing when somebody barges in.";
    let (st, v) = say(&s, Some(&t), json!({"text": long})).await;
    assert_eq!((st, v["utterance"].as_u64()), (200, Some(1)), "{v}");
    // queued behind it: answered as queued once its audio is ready
    let (st, v) = say(&s, Some(&t), json!({"text": "I wait my turn."})).await;
    assert_eq!((st, v["state"].as_str()), (202, Some("queued")), "{v}");
    assert_eq!(v["position"], 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (st, v) = say(&s, Some(&t), json!({"text": "Stop.", "interrupt": true})).await;
    assert_eq!((st, v["utterance"].as_u64(), v["state"].as_str()), (200, Some(3), Some("playing")), "{v}");
    let tl = sse.await.unwrap();
    let (end1, interrupted) = tl.end(1);
    assert!(interrupted, "the first utterance was cut");
    let start3 = tl.start(3);
    assert!(end1 < start3);
    assert!(tl.position(|e| matches!(e, Ev::Start(2))).is_none(), "the queued one was dropped");
    let (end3, interrupted) = tl.end(3);
    assert!(!interrupted);
    assert!(tl.loudest(start3, end3) > 0.02);
    tl.assert_gap_free();
    s.shutdown().await;
}

#[tokio::test]
async fn bad_requests_and_broken_engines_are_refused_and_the_stream_goes_on() {
    let toml = format!(
        "{STREAM}[tts]\nmax_text_chars = 40\n[[tts.engine]]\nname = \"broken\"\ncommand = \"echo 'no voice model' >&2; exit 3\"\n[[tts.engine]]\nname = \"missing\"\ncommand = \"/nonexistent/tts-binary\"\n"
    );
    let s = start(&toml).await;
    let t = publisher_token(&s);
    // the two failing engines take ids 1 and 2: the good utterance is 3
    let sse = tokio::spawn(sse_timeline(format!("{}/api/streams/main/stream", s.url()), 3, 20.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (st, v) = say(&s, None, json!({"text": "hello"})).await;
    assert_eq!((st, v["error"].as_str()), (401, Some("missing_token")), "{v}");
    let listener = token(&s, &[Permission::Subscribe]);
    assert_eq!(say(&s, Some(&listener), json!({"text": "hello"})).await.0, 403);
    let (st, v) = say(&s, Some(&t), json!({"text": "   "})).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("empty_text")), "{v}");
    let (st, v) = say(&s, Some(&t), json!({"text": "hi", "engine": "nope"})).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("unknown_engine")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("espeak-ng"), "the message lists the engines: {v}");
    let (st, v) = say(&s, Some(&t), json!({"text": "x".repeat(41)})).await;
    assert_eq!((st, v["error"].as_str()), (422, Some("text_too_long")), "{v}");
    let (st, v) = post_json(&format!("{}/api/streams/main/say", s.url()), Some(&t), "{not json").await;
    assert_eq!((st.as_u16(), v["error"].as_str()), (400, Some("bad_json")), "{v}");
    let (st, v) = say(&s, Some(&t), json!({"text": "hi", "engine": "broken"})).await;
    assert_eq!((st, v["error"].as_str()), (503, Some("engine_failed")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("no voice model"), "the engine's own words: {v}");
    let (st, v) = say(&s, Some(&t), json!({"text": "hi", "engine": "missing"})).await;
    assert_eq!((st, v["error"].as_str()), (503, Some("engine_failed")), "{v}");
    let (st, _) = post_json(
        &format!("{}/api/streams/nope/say", s.url()),
        Some(&token(&s, &[Permission::Admin])),
        r#"{"text":"hi"}"#,
    )
    .await;
    assert_eq!(st, 404);
    // after all that the stream plays on, and speech still works (utterance ids go on)
    let (st, v) = say(&s, Some(&t), json!({"text": "Still here."})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["utterance"], 3);
    let tl = sse.await.unwrap();
    assert!(
        tl.position(|e| matches!(e, Ev::Start(i) if *i != 3)).is_none(),
        "failed utterances never started"
    );
    let (start, (end, _)) = (tl.start(3), tl.end(3));
    assert!(tl.loudest(start, end) > 0.02);
    tl.assert_gap_free();
    s.shutdown().await;
}

/// A tiny HTTP TTS service: answers every POST with `wav`, written in small pieces over
/// 600 ms (a streamed body), and closes.
async fn wav_service(wav: Vec<u8>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tts", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        // head and body: the JSON body ends with '}'
        while !req.ends_with(b"}") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            req.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&req).to_string();
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        for piece in wav.chunks(wav.len() / 6 + 1) {
            sock.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        vec![text]
    });
    (url, task)
}

#[tokio::test]
async fn an_http_engine_streams_wav_into_the_stream() {
    let out = std::process::Command::new("espeak-ng")
        .args(["--stdout", "Speech from a web service."])
        .output()
        .expect("espeak-ng is installed (scripts/test.sh installs it)");
    assert!(out.status.success() && out.stdout.len() > 1000);
    let (url, service) = wav_service(out.stdout).await;
    let toml = format!("{STREAM}[[tts.engine]]\nname = \"web\"\nurl = \"{url}\"\n");
    let s = start(&toml).await;
    let t = publisher_token(&s);
    let ws =
        tokio::spawn(ws_timeline(format!("ws://{}/api/streams/main/ws?rung=pcm16&batch=1", s.addr), 1, 20.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (st, v) =
        say(&s, Some(&t), json!({"text": "Speech from a web service.", "engine": "web", "voice": "en"}))
            .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["engine"], "web");
    let request = service.await.unwrap().remove(0);
    assert!(request.starts_with("POST /tts "), "{request}");
    assert!(
        request.contains(r#""text":"Speech from a web service.""#) && request.contains(r#""voice":"en""#),
        "{request}"
    );
    let tl = ws.await.unwrap();
    let (start, (end, interrupted)) = (tl.start(1), tl.end(1));
    assert!(!interrupted);
    assert!(tl.loudest(start, end) > 0.02);
    tl.assert_gap_free();
    s.shutdown().await;
}

#[tokio::test]
async fn speech_replaces_a_tone_while_it_plays() {
    let s = start("[[stream]]\nid = \"main\"\nsource = \"tone:sine?freq=440&amp=0.5\"\nsample_rate = 16000\nchannels = 1\n").await;
    let t = publisher_token(&s);
    let sse = tokio::spawn(sse_timeline(format!("{}/api/streams/main/stream", s.url()), 1, 20.0));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (st, v) = say(&s, Some(&t), json!({"text": "A short break."})).await;
    assert_eq!(st, 200, "{v}");
    let tl = sse.await.unwrap();
    let (start, (end, _)) = (tl.start(1), tl.end(1));
    // the tone (RMS 0.35) before; speech in its place, quieter on average and with pauses
    assert!(tl.loudest(0, start) > 0.3);
    let quiet =
        tl.0[start..end].iter().filter(|(_, e)| matches!(e, Ev::Audio { rms, .. } if *rms < 0.3)).count();
    assert!(quiet > 5, "the tone does not play under the speech");
    tl.assert_gap_free();
    s.shutdown().await;
}
