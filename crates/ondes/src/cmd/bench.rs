//! `ondes bench ...`: load generators that measure a running server.

use std::io::IsTerminal;
use std::time::Duration;

use super::duration::parse_duration;
use anyhow::Context;
use indicatif::ProgressBar;
use ondes_tools::adaptive_bench::{AdaptiveOptions, run_adaptive_bench};
use ondes_tools::bench::fanout::{FanoutOptions, Transport, run_fanout};
use ondes_tools::codec_bench::{CodecBenchOptions, render_table, run_codec_bench};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Many concurrent listeners against a running server: frames, gaps, stalls, latency,
    /// and the server's CPU and memory (when it runs on this machine).
    Fanout(FanoutArgs),
    /// One stream through a simulated link (in-process, simulated time), with the legacy
    /// setting and with adaptation, side by side.
    Adaptive(AdaptiveArgs),
    /// Serve the floor: the least a server can do to fan a live Ogg/Opus stream out over HTTP,
    /// to run beside ondes and Icecast under the same `bench fanout --transport http`.
    ///
    /// One accept thread reads each request and hands the socket to one of --threads writer
    /// threads; every --page-ms a clock thread makes one real Ogg/Opus page (64 kbit/s stereo
    /// 48 kHz, a tone encoded once at start by ondes's Opus encoder, pages numbered
    /// consecutively with continuous granule positions), and each writer writes those same
    /// bytes to each of its sockets with one non-blocking write. A socket that cannot take a
    /// page finishes it at the next one or has that page left out; a failed one is dropped;
    /// a writer that falls behind sends the pages that piled up in one write per socket.
    /// Any request gets `HTTP/1.0 200 OK`, `Content-Type: audio/ogg`, the header pages, the
    /// latest page at once, then every page. Its CPU per listener-second is the kernel's cost
    /// of one write per listener per page: divide a server's by it.
    Floor(super::bench_floor::FloorArgs),
    /// The Opus engines (libopus, opus-rs) side by side on the same inputs, in-process: CPU per
    /// frame of the speech and music ladders at complexity 5 and 10, quality of every rung
    /// (SNR, correlation, log-spectral distance) on espeak-ng speech and sox music, recovery
    /// of 5/10/20/30 % random loss with in-band FEC, DTX savings, every frame duration mono
    /// and stereo, and interop both ways with ffmpeg, opusenc and opusdec.
    Codec(CodecArgs),
    /// Text → first audio at a WebSocket listener (`POST …/say`), over many utterances:
    /// p50/p95 as the listener saw it, beside the server's own first-PCM and first-frame
    /// times. Needs a token with `publish` and the server's TTS engine (espeak-ng).
    Say(SayArgs),
    /// Listeners (SSE, WebSocket, Ogg, LL-HLS) and publishers coming and going for a long time
    /// (default 1 h, 1000 listeners), sampling the server's RSS, open files, threads and
    /// dropped frames; FAILS (exit 1) when RSS or open files grow beyond noise after the
    /// warm-up, or frames are lost by the server itself. Starts its own server unless --url.
    Soak(super::bench_soak::SoakArgs),
}

#[derive(clap::Args)]
pub struct SayArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[arg(long, default_value = "main")]
    stream: String,
    #[arg(long, env = "ONDES_TOKEN")]
    token: Option<String>,
    /// Utterances to time.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// The text; `{n}` becomes the utterance's number.
    #[arg(long, default_value = "Test {n}.")]
    text: String,
    #[arg(long)]
    engine: Option<String>,
    /// Each utterance interrupts the previous one instead of waiting for its end.
    #[arg(long)]
    interrupt: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn say(args: SayArgs) -> anyhow::Result<()> {
    use ondes_tools::say_bench::{SayBenchOptions, render_table, run_say_bench};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let o = SayBenchOptions {
        server: args.server,
        stream: args.stream,
        token: args.token,
        count: args.count,
        text: args.text,
        engine: args.engine,
        interrupt: args.interrupt,
    };
    let r = rt.block_on(run_say_bench(&o)).context("ondes bench say")?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print!("{}", render_table(&r));
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CodecArgs {
    /// CPU time spent timing each ladder per direction: 2s, 500ms, or seconds.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    cpu_time: Duration,
    /// Seed of the random loss patterns.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct AdaptiveArgs {
    /// Link scenario: 3g, wifi, fiber, satellite, drop (wifi → 64 kbit/s for 20 s → wifi), or all.
    #[arg(long, default_value = "drop")]
    scenario: String,
    /// A link script to run instead of a named scenario (lines `DURATION PROFILE [key=value ...]`).
    #[arg(long)]
    script: Option<String>,
    /// What the adaptive listener asks for: auto, a profile (ultra_performance, balanced,
    /// high_throughput, emergency_fallback) or a scenario (conversation, realtime,
    /// presentation, training).
    #[arg(long, default_value = "auto")]
    profile: String,
    /// Seed of the link's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time per run: 5 s of start-up, then the measured window.
    #[arg(long, default_value = "65s", value_parser = parse_duration)]
    duration: Duration,
    /// The server socket's limit of unsent bytes (TCP_NOTSENT_LOWAT), bytes.
    #[arg(long, default_value_t = 4096)]
    socket_lowat: u64,
    /// Print JSON (one object per scenario, one per line) instead of the table.
    #[arg(long)]
    json: bool,
    /// Run through real sockets instead: an in-process server, the `ondes netsim` proxy with
    /// the scenario's link, and `ondes listen` (takes --duration of real time per side).
    #[arg(long)]
    real: bool,
}

#[derive(clap::Args)]
pub struct FanoutArgs {
    /// Server URL: http://HOST:PORT (the transport's default route, /api/audio/stream for sse)
    /// or a full stream URL with a query, e.g. http://127.0.0.1:8080/api/audio/stream?max_fps=10.
    /// https:// (or wss://) for a server that serves TLS: every listener makes its own TLS
    /// connection.
    #[arg(long)]
    url: String,
    /// PEM file of a CA to trust besides the system's (an https:// server with a private
    /// certificate), as for `ondes listen`.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// How listeners receive the stream: sse, ws, whep (WebRTC: one session and UDP socket
    /// per listener), http (an Icecast-style Ogg mount, ondes's `/{stream}` or an Icecast
    /// server's, e.g. --url http://127.0.0.1:8000/live), or hls (LL-HLS clients like hls.js
    /// in low-latency mode: blocking playlist reloads and parts on one keep-alive connection).
    #[arg(long, default_value = "sse")]
    transport: Transport,
    /// Number of concurrent listeners.
    #[arg(long, default_value_t = 100)]
    listeners: usize,
    /// Measured window once all listeners are connected: 20s, 500ms, 2m, or seconds.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Pause between the last connection and the measured window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Server process to sample for CPU and RSS [default: the local process listening on the URL's port].
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of the table (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Bearer token (JWT) sent with every request.
    #[arg(long)]
    token: Option<String>,
    /// Spread connections over this many seconds [default: min(listeners/500, 10)].
    #[arg(long)]
    ramp_secs: Option<f64>,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 200)]
    max_connecting: usize,
    /// ws: the rung to listen to (auto, pcm16 or a bitrate in kbit/s); added to the URL's query.
    /// hls: the variant to play (a bitrate in kbit/s, or flac) [default: the first listed].
    #[arg(long)]
    rung: Option<String>,
    /// ws: frames per message; added to the URL's query.
    #[arg(long)]
    batch: Option<u32>,
    /// whep: take every media packet through str0m (SRTP decryption, depacketizing, receiver
    /// statistics), as `ondes listen` does. By default a listener reads the packets by their
    /// plaintext RTP header (frame number, capture time, payload length) and decrypts one in
    /// 50; ICE, DTLS, the data channel and RTCP go through str0m either way.
    #[arg(long)]
    whep_full: bool,
}

/// Runs a bench subcommand on its own multi-threaded tokio runtime.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Fanout(args) => fanout(args),
        BenchCommand::Adaptive(args) => adaptive(args),
        BenchCommand::Floor(args) => super::bench_floor::run(args),
        BenchCommand::Codec(args) => codec(args),
        BenchCommand::Say(args) => say(args),
        BenchCommand::Soak(args) => super::bench_soak::run(args),
    }
}

fn codec(args: CodecArgs) -> anyhow::Result<()> {
    let opts = CodecBenchOptions { cpu_seconds: args.cpu_time.as_secs_f64(), seed: args.seed };
    let report = run_codec_bench(&opts, |step| eprintln!("  {step}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("ondes bench codec (engines: {})", report.engines.join(", "));
        print!("{}", render_table(&report));
    }
    Ok(())
}

fn adaptive(args: AdaptiveArgs) -> anyhow::Result<()> {
    let opts = AdaptiveOptions {
        scenario: args.scenario,
        script: args.script,
        seed: args.seed,
        duration_us: args.duration.as_micros() as u64,
        profile: args.profile,
        socket_lowat: args.socket_lowat,
    };
    if args.real {
        return super::adaptive_real::run(&opts, args.json);
    }
    let reports = run_adaptive_bench(&opts)?;
    if !args.json {
        println!("ondes bench adaptive (simulated time; legacy = balanced profile, top rung, no adaptation)");
    }
    for r in &reports {
        if args.json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            println!();
            print!("{}", r.to_table());
        }
    }
    Ok(())
}

fn fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let ramp = match args.ramp_secs {
        None => None,
        Some(s) => Some(
            Duration::try_from_secs_f64(s)
                .ok()
                .with_context(|| format!("--ramp-secs {s}: expected a non-negative number of seconds"))?,
        ),
    };
    let mut url = args.url.clone();
    // hls picks its rung from the multivariant playlist; ws asks for it in the query
    let query_rung = if args.transport == Transport::Hls { None } else { args.rung.clone() };
    for (k, v) in [("rung", query_rung), ("batch", args.batch.map(|b| b.to_string()))] {
        if let Some(v) = v {
            if !url.contains("/api/") {
                url = format!("{}{}", url.trim_end_matches('/'), args.transport.default_path());
            }
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{k}={v}"));
        }
    }
    let mut opts = FanoutOptions::new(url);
    opts.tls = ondes_client::tls::TlsOptions::with_ca(args.ca);
    opts.transport = args.transport;
    opts.listeners = args.listeners;
    opts.duration = args.duration;
    opts.warmup = args.warmup;
    opts.ramp = ramp;
    opts.server_pid = args.server_pid;
    opts.token = args.token;
    opts.max_concurrent_connects = args.max_connecting;
    opts.whep_light = !args.whep_full;
    if args.transport == Transport::Hls {
        opts.hls_rung = args.rung;
    }

    // The bar goes to stderr, so that stdout carries only the result.
    let progress = (!args.json && std::io::stderr().is_terminal()).then(ProgressBar::no_length);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(run_fanout(opts, progress))?;

    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("ondes bench fanout");
        print!("{}", report.to_table());
    }
    if report.listeners_connected == 0 {
        anyhow::bail!("no listener could connect to {}", report.url);
    }
    Ok(())
}
