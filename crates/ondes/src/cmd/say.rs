//! `ondes say`: speak text into a stream and print how fast its first audio went out.

use anyhow::Context;
use clap::Args;
use ondes_client::say::{SayRequest, say};

#[derive(Args)]
pub struct SayArgs {
    /// The words to speak.
    text: String,
    /// Server base URL, e.g. http://127.0.0.1:8080 (https:// over TLS).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// PEM file of a CA to trust besides the system's, for an https:// server with a private
    /// certificate.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// The stream to speak into.
    #[arg(long, default_value = "main")]
    stream: String,
    /// Bearer token with the `publish` permission (`ondes token --perm publish`).
    #[arg(long, env = "ONDES_TOKEN")]
    token: Option<String>,
    /// Cut what is being said and drop the queue (barge-in).
    #[arg(long)]
    interrupt: bool,
    /// Voice, as the engine names it (espeak-ng: en, en-us, fr, ...).
    #[arg(long)]
    voice: Option<String>,
    /// Engine: espeak-ng or a `[[tts.engine]]` of the server's config.
    #[arg(long)]
    engine: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SayArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let req =
        SayRequest { text: args.text, voice: args.voice, engine: args.engine, interrupt: args.interrupt };
    let client = ondes_client::tls::TlsOptions::with_ca(args.ca).http_client(&args.server)?;
    let a = rt
        .block_on(say(&client, &args.server, &args.stream, args.token.as_deref(), &req))
        .context("ondes say")?;
    if args.json {
        println!("{}", serde_json::to_string(&a)?);
        return Ok(());
    }
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
    println!("utterance      {} ({}, engine {})", a.utterance, a.state, a.engine);
    println!("first PCM      {}   request arrival → first frame synthesised", ms(a.first_pcm_ms));
    println!("queued         {}   → its turn and the next frame period", ms(a.queued_ms));
    println!("first frame    {}   request arrival → first frame in the stream", ms(a.first_frame_ms));
    if let Some(p) = a.position.filter(|p| *p > 0) {
        println!("position       {p} utterance(s) ahead");
    }
    println!("round trip     {:.1} ms   as this client measured it", a.round_trip_ms);
    println!("(time to first audio at listeners: tts_first_audio in /api/perf)");
    Ok(())
}
