//! `ondes probe`: measure a stream and attribute its loss and delay to stages.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ondes_tools::probe::{ProbeOptions, SenderLogOptions, parse_log, plot, run_probe};

#[derive(Args)]
pub struct ProbeArgs {
    /// Stream URL: http://HOST/api/streams/ID/stream (SSE), ws://HOST/api/streams/ID/ws or
    /// http://HOST/api/streams/ID/whep (WebRTC). Not needed with --sender-log.
    #[arg(required_unless_present = "sender_log")]
    url: Option<String>,
    /// ws, sse or whep: the transport, whatever the URL's scheme and route say (the route
    /// is changed to the transport's: …/ws, …/stream, …/whep).
    #[arg(long)]
    transport: Option<ondes_client::listener::TransportKind>,
    /// How long to measure, e.g. 10s, 1m.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Bearer token (for streams that need one; also read for the stats).
    #[arg(long, env = "ONDES_TOKEN")]
    token: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Write an SVG plot of latency and loss over time.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// Fail (exit 1) when the loss exceeds this percentage, e.g. 1 or 1%.
    #[arg(long)]
    max_loss: Option<String>,
    /// Fail (exit 1) when the p99 latency exceeds this, e.g. 150ms.
    #[arg(long)]
    max_p99: Option<String>,
    /// Frames later than this count as late (client stage), e.g. 1s.
    #[arg(long, default_value = "1s")]
    late: String,
    /// Read at most this many kilobytes per second (to reproduce a slow listener).
    #[arg(long)]
    throttle_kbps: Option<f64>,
    /// Instead of listening: classify each frame of a sender's frame log (`ondes send
    /// --frame-log`) as never sent, sent late, lost on the network or delivered, against
    /// the server's per-connection traces.
    #[arg(long, value_name = "FILE")]
    sender_log: Option<std::path::PathBuf>,
    /// With --sender-log: the server, http://HOST:PORT (its traces need a token with
    /// `debug_access`).
    #[arg(long, requires = "sender_log")]
    server: Option<String>,
    /// With --sender-log: the stream the sender published to.
    #[arg(long, default_value = "main", requires = "sender_log")]
    stream: String,
    /// With --sender-log: the server's connection id(s) to fetch (default: every connection
    /// the log names).
    #[arg(long, requires = "sender_log")]
    conn: Vec<u64>,
    /// With --sender-log: a trace saved from …/debug/connections/CONN/trace, instead of
    /// fetching (repeat for several connections).
    #[arg(long, value_name = "FILE", requires = "sender_log")]
    trace: Vec<std::path::PathBuf>,
    /// With --sender-log: a frame handed to the socket more than this after its due time
    /// (its place in the real-time schedule) was sent late.
    #[arg(long, default_value = "100ms", requires = "sender_log")]
    send_late: String,
}

/// Parses `500ms`, `10s`, `2m` or plain seconds.
fn duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().with_context(|| format!("'{s}' is not a duration like 10s or 500ms"))?;
    Ok(Duration::from_secs_f64(v * mult))
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.sender_log {
        return run_sender_log(&args, path);
    }
    let Some(url) = args.url.clone() else {
        anyhow::bail!("give the stream URL to probe, or --sender-log FILE");
    };
    let url = match args.transport {
        Some(t) => ondes_client::listener::Endpoint::parse_as(&url, Some(t))?.url().to_string(),
        None => url,
    };
    let max_loss = args
        .max_loss
        .as_deref()
        .map(|s| s.trim_end_matches('%').parse::<f64>().with_context(|| format!("--max-loss '{s}'")))
        .transpose()?;
    let max_p99 =
        args.max_p99.as_deref().map(|s| duration(s).map(|d| d.as_secs_f64() * 1000.0)).transpose()?;
    let opts = ProbeOptions {
        url,
        duration: duration(&args.duration)?,
        token: args.token.clone(),
        throttle_bytes_per_sec: args.throttle_kbps.map(|k| k * 1000.0),
        late_ms: duration(&args.late)?.as_secs_f64() * 1000.0,
    };
    let progress = (!args.json && console_is_terminal()).then(|| {
        let pb = ProgressBar::new(opts.duration.as_secs());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} s  {msg}") {
            pb.set_style(style);
        }
        pb
    });
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(run_probe(opts, progress.clone()))?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(path) = &args.plot {
        let svg =
            plot::svg(&report.latency_series, &report.loss_times, &format!("ondes probe {}", report.url));
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    let breaches = report.breaches(max_loss, max_p99);
    if !breaches.is_empty() {
        eprintln!("SLA breached: {}", breaches.join("; "));
        std::process::exit(1);
    }
    Ok(())
}

/// `ondes probe --sender-log`: a sender's log against the server's traces.
fn run_sender_log(args: &ProbeArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let log = parse_log(&text)?;
    let mut traces = Vec::new();
    for t in &args.trace {
        let text = std::fs::read_to_string(t).with_context(|| format!("cannot read {}", t.display()))?;
        traces.push(
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a connection trace", t.display()))?,
        );
    }
    let opts = SenderLogOptions {
        server: args.server.clone(),
        stream: args.stream.clone(),
        token: args.token.clone(),
        conns: args.conn.clone(),
        traces,
        late_ms: duration(&args.send_late)?.as_secs_f64() * 1000.0,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(ondes_tools::probe::run_sender_log(log, opts))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_table(40));
    }
    Ok(())
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
