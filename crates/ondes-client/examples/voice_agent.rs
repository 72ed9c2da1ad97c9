//! A voice agent you can watch: a scripted STT → LLM → TTS loop speaking into an ondes
//! stream, with every stage timed as a span.
//!
//! Speech recognition and the language model are stand-ins that take a set time (so their
//! cost is yours to choose); text to speech is real: espeak-ng on the server, through
//! `POST /api/streams/{id}/say`. Each turn is measured with `ondes_client::spans` —
//! `stt_processing`, `llm_response`, `tts_synthesis` (the request until the first frame is in
//! the stream) and `end_to_end` — so the dashboard's Perf panel and `/api/perf` show where
//! the time goes, and `--slow llm` makes the model slow from the fourth turn on to watch it
//! get flagged as the bottleneck.
//!
//! ```sh
//! cargo run --release -- serve --demo            # prints an admin token
//! cargo run -p ondes-client --example voice_agent -- --token TOKEN --slow llm
//! ```
//! Open http://127.0.0.1:8080, press Listen, and watch the Perf panel.

use std::time::{Duration, Instant};

use ondes_client::say::{SayRequest, say};
use ondes_client::spans::Spans;

/// The conversation: what the user says (recognised by the STT stand-in) and the reply.
const SCRIPT: [(&str, &str); 6] = [
    ("what's the weather like", "It is sunny and twenty two degrees."),
    ("will it rain tomorrow", "Tomorrow stays dry, with clouds in the evening."),
    ("book a table for two", "I booked a table for two at eight."),
    ("at which restaurant", "At the bistro on the corner of the square."),
    ("remind me at seven", "I will remind you at seven."),
    ("thank you", "You are welcome. Have a nice evening."),
];

struct Options {
    server: String,
    stream: String,
    token: String,
    turns: usize,
    stt_ms: u64,
    llm_ms: u64,
    /// The stage made slow (×6) from the fourth turn on.
    slow: Option<String>,
    voice: Option<String>,
    json: bool,
}

const USAGE: &str = "voice_agent [--server URL] [--stream ID] --token TOKEN [--turns N (0: forever)] \
[--stt-ms MS] [--llm-ms MS] [--slow stt|llm] [--voice NAME] [--json]";

fn options() -> Result<Options, String> {
    let mut o = Options {
        server: "http://127.0.0.1:8080".into(),
        stream: "main".into(),
        token: std::env::var("ONDES_TOKEN").unwrap_or_default(),
        turns: 6,
        stt_ms: 300,
        llm_ms: 700,
        slow: None,
        voice: None,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value; usage: {USAGE}"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{a} takes a number, not '{v}'"));
        match a.as_str() {
            "--server" => o.server = value()?,
            "--stream" => o.stream = value()?,
            "--token" => o.token = value()?,
            "--turns" => o.turns = number(value()?)? as usize,
            "--stt-ms" => o.stt_ms = number(value()?)?,
            "--llm-ms" => o.llm_ms = number(value()?)?,
            "--slow" => match value()?.as_str() {
                s @ ("stt" | "llm") => o.slow = Some(s.to_string()),
                s => return Err(format!("--slow takes stt or llm, not '{s}'")),
            },
            "--voice" => o.voice = Some(value()?),
            "--json" => o.json = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'; usage: {USAGE}")),
        }
    }
    if o.token.is_empty() {
        return Err(format!(
            "give a token with publish permission (--token or ONDES_TOKEN; `ondes serve` prints an admin token); usage: {USAGE}"
        ));
    }
    Ok(o)
}

/// A stand-in stage: `ms` of waiting (a model call).
async fn stand_in(ms: u64) -> Result<(), std::convert::Infallible> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[tokio::main]
async fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    ondes_client::tls::install_crypto_provider();
    let http = match ondes_client::tls::TlsOptions::default().http_client(&o.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let spans = Spans::new(&o.server, o.token.clone());
    let mut turn = 0;
    while o.turns == 0 || turn < o.turns {
        let (heard, reply) = SCRIPT[turn % SCRIPT.len()];
        turn += 1;
        let slowed = |stage: &str| turn > 3 && o.slow.as_deref() == Some(stage);
        let stt_ms = if slowed("stt") { o.stt_ms * 6 } else { o.stt_ms };
        let llm_ms = if slowed("llm") { o.llm_ms * 6 } else { o.llm_ms };
        let started = Instant::now();
        let e2e = spans.start("end_to_end", &[("agent", "voice_agent")]);

        let t = Instant::now();
        let _ = spans.measure("stt_processing", &[("model", "stand-in")], stand_in(stt_ms)).await;
        let stt = t.elapsed();
        let t = Instant::now();
        let _ = spans.measure("llm_response", &[("model", "stand-in")], stand_in(llm_ms)).await;
        let llm = t.elapsed();
        let req =
            SayRequest { text: reply.to_string(), voice: o.voice.clone(), engine: None, interrupt: false };
        let t = Instant::now();
        let answer = spans
            .measure(
                "tts_synthesis",
                &[("engine", "espeak-ng")],
                say(&http, &o.server, &o.stream, Some(&o.token), &req),
            )
            .await;
        let tts = t.elapsed();
        drop(e2e);
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                eprintln!("turn {turn}: say failed: {e}");
                std::process::exit(1);
            }
        };
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
        if o.json {
            println!(
                "{}",
                serde_json::json!({
                    "turn": turn, "heard": heard, "reply": reply, "utterance": answer.utterance,
                    "state": answer.state, "stt_ms": ms(stt), "llm_ms": ms(llm),
                    "tts_first_audio_ms": ms(tts), "end_to_end_ms": ms(started.elapsed()),
                })
            );
        } else {
            println!(
                "turn {turn}: heard \"{heard}\" → stt {:.0} ms, llm {:.0} ms, tts first audio {:.0} ms, end to end {:.0} ms",
                ms(stt),
                ms(llm),
                ms(tts),
                ms(started.elapsed())
            );
        }
        // let the reply play out before the next question (about 70 ms per character)
        tokio::time::sleep(Duration::from_millis(reply.len() as u64 * 70)).await;
    }
    spans.flush().await;
    let c = spans.counts();
    if !o.json {
        println!(
            "spans: {} accepted, {} rejected, {} dropped; see {}/api/perf",
            c.accepted, c.rejected, c.dropped, o.server
        );
    }
    if c.rejected > 0 || c.failed > 0 {
        eprintln!("the server did not take every span: {c:?} (does the token have publish?)");
        std::process::exit(1);
    }
}
