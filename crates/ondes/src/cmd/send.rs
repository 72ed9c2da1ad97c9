//! `ondes send SOURCE --to URL`: publish audio to a stream (thin wrapper over
//! `ondes_client::publisher`).

use std::io::IsTerminal;
use std::time::Duration;

use super::duration::parse_duration;
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use ondes_client::publisher::{self, Layout, Pacing, SendCodec, SendError, SendOptions, SendReport};

#[derive(Clone, Copy, ValueEnum)]
enum CodecArg {
    Pcm16,
    Opus,
}

#[derive(Args)]
pub struct SendArgs {
    /// What to send: file:PATH (WAV, FLAC, MP3, Ogg Vorbis), tone:sine?freq=440&amp=0.5,
    /// stdin:s16le?rate=16000&channels=1 (raw PCM; also f32le), tts:"text" (espeak-ng).
    source: String,
    /// Where: ws://HOST:PORT/api/streams/ID/publish (or /api/audio/publish),
    /// http://HOST:PORT/api/streams/ID/ingest (pcm16 only, no reconnect), or
    /// http://HOST:PORT/api/streams/ID/whip (WebRTC: Opus at --bitrate, real time).
    #[arg(long)]
    to: String,
    /// Another WebSocket publish URL of the same stream (a standby origin), tried after --to
    /// when a connection cannot be made or is lost; repeat for more.
    #[arg(long, value_name = "URL")]
    fallback: Vec<String>,
    /// `whip`: publish over WebRTC whatever the route of --to (…/publish becomes …/whip).
    #[arg(long, value_parser = ["whip"])]
    transport: Option<String>,
    /// WHIP: send the media through this UDP address, HOST:PORT (a proxy such as
    /// `ondes netsim --udp` in front of the server's WebRTC port) instead of the server's
    /// own candidates.
    #[arg(long, value_name = "HOST:PORT")]
    via: Option<std::net::SocketAddr>,
    /// WHIP: send no RED (redundant audio, RFC 2198), only plain Opus.
    #[arg(long)]
    no_red: bool,
    /// WHIP: the earlier packets each RED packet carries again, in packets back, when the
    /// server's answer accepts RED: `1,2` the two before it (a packet is lost for good only
    /// when it and both of those are lost); each level adds one Opus payload per packet.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_name = "N,N")]
    red_distances: Vec<u32>,
    /// PEM file of a CA to trust besides the system's, for a wss:// or https:// server with a
    /// private certificate.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Bearer token with permission `publish` (mint one with `ondes token --perm publish`).
    #[arg(long, env = "ONDES_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How frames are coded on the wire.
    #[arg(long, value_enum, default_value = "pcm16")]
    codec: CodecArg,
    /// Opus bitrate in kbit/s (6-510).
    #[arg(long, default_value_t = 64)]
    bitrate: u32,
    /// Frames per message (1-255): fewer bytes of overhead, a little more latency.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Send as fast as the server accepts (its playout queue paces the audio out and its
    /// backpressure holds us back), instead of at real time.
    #[arg(long)]
    burst: bool,
    /// At real time, send each frame this long before its deadline (a cushion in the
    /// server's queue against network jitter).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    lead: Duration,
    /// Stop after this much audio (needed for an endless tone), e.g. 10s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Failed connection attempts in a row before giving up (backoff doubles from 100 ms to 5 s).
    #[arg(long, default_value_t = 10)]
    max_retries: u32,
    /// The stream's sample rate, for HTTP ingest when /api/streams is not available; over
    /// WebSocket it is checked against what the server says.
    #[arg(long, requires = "channels")]
    rate: Option<u32>,
    /// The stream's channel count (with --rate).
    #[arg(long, requires = "rate")]
    channels: Option<u16>,
    /// The stream's frame duration in ms (with --rate).
    #[arg(long, default_value_t = 20.0)]
    frame_ms: f64,
    /// Print one JSON object instead of the table (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Write one JSON line per frame to this file: sequence, capture, send and ack times,
    /// bytes, queue wait; frames not sent with why. Read it with `ondes probe --sender-log`.
    #[arg(long)]
    frame_log: Option<std::path::PathBuf>,
    /// Fault injection, for testing diagnosis: drop this fraction (0-1) of the frames before
    /// sending them (logged as not sent, reason `fault_injection`).
    #[arg(long, default_value_t = 0.0)]
    drop_before_send: f64,
    /// Seed of the fault injection's random choices.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// A connection that neither acknowledges nor resumes for this long is considered lost.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ack_timeout: Duration,
}

pub fn run(args: SendArgs) -> anyhow::Result<()> {
    let route = args.to.split('?').next().unwrap_or("").trim_end_matches('/').to_string();
    let mut opts = SendOptions::new(args.source, args.to);
    opts.fallback = args.fallback;
    opts.whip = args.transport.is_some();
    opts.rtc_via = args.via;
    opts.red_distances = if args.no_red { Vec::new() } else { args.red_distances };
    opts.token = args.token;
    opts.tls = ondes_client::tls::TlsOptions::with_ca(args.ca);
    opts.codec = match args.codec {
        // WebRTC audio is Opus whatever --codec says
        CodecArg::Pcm16 if !(opts.whip || route.ends_with("/whip")) => SendCodec::Pcm16,
        _ => SendCodec::Opus { bitrate_bps: args.bitrate.saturating_mul(1000) },
    };
    opts.batch = args.batch;
    opts.pacing =
        if args.burst { Pacing::Burst } else { Pacing::RealTime { lead_us: args.lead.as_micros() as u64 } };
    opts.max_duration = args.duration;
    opts.max_retries = args.max_retries;
    opts.frame_log = args.frame_log;
    opts.drop_before_send = args.drop_before_send;
    opts.fault_seed = args.fault_seed;
    opts.ack_timeout = args.ack_timeout;
    if let (Some(sample_rate), Some(channels)) = (args.rate, args.channels) {
        opts.layout =
            Some(Layout { sample_rate, channels, frame_us: (args.frame_ms * 1000.0).round() as u32 });
    }
    // The first Ctrl-C ends the source (what was taken is still sent and acknowledged, and
    // the report printed); a second one exits at once.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    opts.stop = Some(stop_rx);

    // The bar goes to stderr, so that stdout carries only the result.
    let progress = (!args.json && std::io::stderr().is_terminal()).then(ProgressBar::no_length);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let result = runtime.block_on(async move {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop_tx.send_replace(true);
                eprintln!("stopping: sending what was taken (Ctrl-C again to quit now)");
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        publisher::send(opts, progress).await
    });
    match result {
        Ok(report) => {
            print_report(&report, args.json)?;
            Ok(())
        }
        Err(SendError::Failed { reason, report }) => {
            print_report(&report, args.json)?;
            anyhow::bail!("send failed: {reason}")
        }
        Err(e) => Err(e.into()),
    }
}

fn print_report(report: &SendReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("ondes send");
        print!("{}", report.to_table());
    }
    Ok(())
}
