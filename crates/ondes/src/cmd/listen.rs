//! `ondes listen URL`: play a stream through the adaptive jitter buffer, optionally into a
//! file, and summarise what was heard (thin wrapper over `ondes_client::listener`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::parse_duration;
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ondes_client::listener::{self, ListenOptions, ListenProgress};

#[derive(Args)]
pub struct ListenArgs {
    /// ws://HOST:PORT/api/streams/ID/ws?rung=auto|pcm16|KBPS&batch=N (Opus or PCM), or
    /// http://HOST:PORT/api/streams/ID/stream[?format=pcm16] (Server-Sent Events), or
    /// http://HOST:PORT/api/streams/ID/whep[?rung=auto|KBPS] (WebRTC); wss:// and https://
    /// over TLS.
    url: String,
    /// ws, sse or whep: the transport, whatever the URL's scheme and route say (the URL's
    /// route is changed to the transport's: …/ws, …/stream, …/whep).
    #[arg(long)]
    transport: Option<listener::TransportKind>,
    /// WHEP: send the media through this UDP address, HOST:PORT (a proxy such as
    /// `ondes netsim --udp` in front of the server's WebRTC port) instead of the server's
    /// own candidates.
    #[arg(long, value_name = "HOST:PORT")]
    via: Option<std::net::SocketAddr>,
    /// PEM file of a CA to trust besides the system's (a server with a private certificate).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Write what is played to a file: .wav (16-bit PCM) or .ogg (Ogg/Opus, re-encoded).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop after this long, e.g. 30s or 2m (default: until the stream ends or Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Bearer token, when the server requires one for listening.
    #[arg(long, env = "ONDES_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Lower bound of the jitter buffer's target delay, on top of the server's advice (over
    /// WebSocket the server advises a floor from the listener's profile and the handshake's
    /// round trip).
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    min_jitter: Duration,
    /// Upper bound of the jitter buffer's target delay [default: the server's advice, else 1s].
    #[arg(long, value_parser = parse_duration)]
    max_jitter: Option<Duration>,
    /// Opus bitrate of .ogg output, kbit/s.
    #[arg(long, default_value_t = 96)]
    ogg_bitrate: u32,
    /// Print one JSON object instead of the table (and no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn run(args: ListenArgs) -> anyhow::Result<()> {
    let mut opts = ListenOptions::new(args.url);
    opts.transport = args.transport;
    opts.rtc_via = args.via;
    opts.out = args.out;
    opts.duration = args.duration;
    opts.token = args.token;
    opts.tls = ondes_client::tls::TlsOptions::with_ca(args.ca);
    opts.min_jitter = args.min_jitter;
    opts.max_jitter = args.max_jitter;
    opts.ogg_bitrate_bps = args.ogg_bitrate.saturating_mul(1000);
    // Ctrl-C ends the listen; the file is completed and the summary printed.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    opts.stop = Some(stop_rx);

    // The bar goes to stderr, so that stdout carries only the result.
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| progress_bar(args.duration));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(async move {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop_tx.send_replace(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        listener::listen(opts, &mut |p| {
            if let Some(bar) = &bar {
                show(bar, p);
            }
        })
        .await
    });
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("ondes listen");
        print!("{}", report.to_table());
    }
    Ok(())
}

fn progress_bar(duration: Option<Duration>) -> ProgressBar {
    let bar = match duration {
        Some(d) => {
            let bar = ProgressBar::new(d.as_secs().max(1));
            let style = ProgressStyle::with_template("{bar:20} {pos}/{len} s {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        }
        None => ProgressBar::new_spinner(),
    };
    bar.set_message("connecting…");
    bar
}

fn show(bar: &ProgressBar, p: &ListenProgress) {
    bar.set_position(p.elapsed.as_secs());
    let state = if p.playing { "playing" } else { "buffering" };
    let latency = p.latency_p50_ms.map_or_else(|| "-".into(), |l| format!("{l:.0} ms"));
    bar.set_message(format!(
        "{state} recv {} lost {} underruns {} buf {:.0}/{:.0} ms p50 {latency}",
        p.frames_received, p.frames_lost, p.underruns, p.buffer_ms, p.target_ms
    ));
    bar.tick();
}
