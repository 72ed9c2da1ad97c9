//! `ondes bench soak`: listeners and publishers coming and going for a long time against a
//! server (one it starts itself, or `--url`), and a verdict from the trend of the server's
//! memory and open files. Exits 1 when the verdict is FAIL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use ondes_server::auth::{Authenticator, Permission};
use ondes_tools::bench::fanout::Transport;
use ondes_tools::bench::soak::{SoakOptions, report::sample_line, run_soak};

use super::duration::parse_duration;

#[derive(clap::Args)]
pub struct SoakArgs {
    /// The server, http://HOST:PORT or https://HOST:PORT [default: start `ondes serve` (this
    /// binary) on a free loopback port with the demo stream and --publishers publish streams,
    /// and stop it after].
    #[arg(long)]
    url: Option<String>,
    /// PEM file of a CA to trust besides the system's (an https:// server with a private
    /// certificate), as for `ondes listen`.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// The whole run, warm-up included: 1h, 90m, 60s.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    duration: Duration,
    /// Listeners kept connected (each replaced when it leaves).
    #[arg(long, default_value_t = 1000)]
    listeners: usize,
    /// Samples before this are shown but not judged.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    warmup: Duration,
    /// Time between samples.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample_every: Duration,
    /// Transports the listeners are spread over (comma-separated): sse, ws, http, hls.
    #[arg(long, default_value = "sse,ws,http,hls", value_delimiter = ',')]
    transports: Vec<Transport>,
    /// Shortest and longest listener lifetime.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    min_lifetime: Duration,
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    max_lifetime: Duration,
    /// The first listeners are spread over this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ramp: Duration,
    /// Seed of the lifetimes, transports and publisher schedules.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The stream listeners play.
    #[arg(long, default_value = "main")]
    stream: String,
    /// Publishers coming and going, each on its own stream (`soak-pub-N`), alternately over
    /// WebSocket (Opus) and HTTP ingest (pcm16). With --url, name the streams with
    /// --publish-stream and give a --token with permission publish.
    #[arg(long, default_value_t = 2)]
    publishers: usize,
    /// With --url: a `source = "publish"` stream to publish into (repeatable).
    #[arg(long = "publish-stream")]
    publish_streams: Vec<String>,
    /// With --url: a token with permission publish (for the publishers) and subscribe.
    #[arg(long, env = "ONDES_TOKEN")]
    token: Option<String>,
    /// Shortest and longest publisher session, and pause between sessions.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    min_publish: Duration,
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    max_publish: Duration,
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    min_pause: Duration,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_pause: Duration,
    /// The server process to sample [default: the one started, or the local process listening
    /// on the URL's port].
    #[arg(long)]
    pid: Option<u32>,
    /// A deliberate leak, to prove the verdict can fail: open this many listener connections
    /// per second that never read and never close.
    #[arg(long, default_value_t = 0.0)]
    leak: f64,
    /// Print one JSON object (every sample, the trends, the verdict) instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file (with the table on stdout).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// No progress line per sample on stderr.
    #[arg(long)]
    quiet: bool,
}

/// A server started for the run; killed when dropped.
struct Spawned {
    child: Child,
    url: String,
    secret: String,
    _config: TempConfig,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The generated config file, removed when dropped.
struct TempConfig(std::path::PathBuf);

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts `ondes serve` with the demo stream and `publishers` publish streams.
fn spawn_server(publishers: usize) -> anyhow::Result<Spawned> {
    let mut toml = String::from("[server]\nbind = \"127.0.0.1:0\"\n");
    for i in 1..=publishers {
        toml.push_str(&format!("\n[[stream]]\nid = \"soak-pub-{i}\"\nsource = \"publish\"\n"));
    }
    let path = std::env::temp_dir().join(format!("ondes-soak-{}.toml", std::process::id()));
    std::fs::write(&path, toml).with_context(|| format!("cannot write {}", path.display()))?;
    let config = TempConfig(path);
    let secret = format!("soak-{}-{:x}", std::process::id(), now_secs().wrapping_mul(0x9E37_79B9));
    let exe = std::env::current_exe().context("cannot find this executable to start `ondes serve`")?;
    let mut child = Command::new(exe)
        .args(["serve", "--demo", "--log", "warn", "--config"])
        .arg(&config.0)
        .env("ONDES_AUTH_SECRET", &secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `ondes serve`")?;
    let stderr = child.stderr.take().context("no stderr from `ondes serve`")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // The server's log is read to the end so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ondes is serving on ") {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    let mut spawned = Spawned { child, url: String::new(), secret, _config: config };
    spawned.url = rx
        .recv_timeout(Duration::from_secs(30))
        .context("`ondes serve` did not print its address within 30 s")?;
    Ok(spawned)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn run(args: SoakArgs) -> anyhow::Result<()> {
    let mut spawned = match &args.url {
        Some(_) => None,
        None => Some(spawn_server(args.publishers)?),
    };
    let (url, pid, publish_streams, token) = match &spawned {
        Some(s) => {
            let ttl = args.duration.as_secs() + 3600;
            let token = Authenticator::new(s.secret.as_bytes()).mint(
                "ondes-bench-soak",
                &[Permission::Publish, Permission::Subscribe],
                ttl,
                now_secs(),
            );
            let streams: Vec<String> = (1..=args.publishers).map(|i| format!("soak-pub-{i}")).collect();
            (s.url.clone(), args.pid.or(Some(s.child.id())), streams, Some(token))
        }
        // `url` is Some in this arm: `spawned` is None only when --url was given.
        None => {
            (args.url.clone().unwrap_or_default(), args.pid, args.publish_streams.clone(), args.token.clone())
        }
    };
    let mut o = SoakOptions::new(url);
    o.stream = args.stream;
    o.listeners = args.listeners;
    o.duration = args.duration;
    o.warmup = args.warmup;
    o.sample_every = args.sample_every;
    o.seed = args.seed;
    o.transports = args.transports;
    o.lifetime = (args.min_lifetime, args.max_lifetime);
    o.ramp = args.ramp;
    o.server_pid = pid;
    o.listen_token = if spawned.is_some() { None } else { token.clone() };
    o.publish_streams = publish_streams;
    o.publish_token = token;
    o.publish_on = (args.min_publish, args.max_publish);
    o.publish_off = (args.min_pause, args.max_pause);
    o.leak_per_sec = args.leak;
    o.tls = ondes_client::tls::TlsOptions::with_ca(args.ca);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let quiet = args.quiet;
    let mut report = runtime
        .block_on(run_soak(o, |s| {
            if !quiet {
                eprintln!("{}", sample_line(s));
            }
        }))
        .context("ondes bench soak")?;
    if let Some(s) = &mut spawned
        && let Ok(Some(status)) = s.child.try_wait()
    {
        report.verdict.pass = false;
        report.verdict.reasons.push(format!("the server exited during the run ({status})"));
    }
    drop(spawned);
    if let Some(path) = &args.save {
        std::fs::write(path, serde_json::to_string(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("ondes bench soak");
        print!("{}", report.to_table());
    }
    if !report.verdict.pass {
        // the table or JSON above says why
        std::process::exit(1);
    }
    Ok(())
}
