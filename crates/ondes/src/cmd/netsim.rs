//! `ondes netsim`: a TCP proxy (or with `--udp`, a UDP one) that puts a simulated link (3G,
//! Wi-Fi, fibre, satellite, or a script of them) between any client and a real server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ondes_sim::netmodel::{LinkParams, Schedule, parse_script, schedule_by_name};
use ondes_tools::netsim::{NetsimOptions, NetsimProxy, NetsimUdpOptions, NetsimUdpProxy};

#[derive(clap::Args)]
pub struct NetsimArgs {
    /// Address clients connect to, e.g. 127.0.0.1:8090.
    #[arg(long)]
    listen: String,
    /// The real server, HOST:PORT.
    #[arg(long)]
    upstream: String,
    /// Link profile: 3g, wifi, fiber, satellite, custom; or drop (the built-in script:
    /// 20 s wifi, 20 s at 64 kbit/s, then wifi).
    #[arg(long, default_value = "wifi")]
    profile: String,
    /// Override a profile parameter, e.g. --set loss=2% --set delay=80ms. Keys: bw, delay,
    /// jitter, jitter_dist, loss, burst, queue, reorder, reorder_delay.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A time-varying link instead of --profile: one segment per line,
    /// `DURATION PROFILE [key=value ...]` (e.g. `20s custom bw=64kbps delay=50ms loss=1%`);
    /// the last line holds. Time starts when the proxy starts.
    #[arg(long, conflicts_with_all = ["profile", "set"])]
    script: Option<PathBuf>,
    /// Seed of the link's random choices (jitter, loss, reordering).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the counters (JSON, stderr) every N seconds (0: only when stopped, on stdout).
    #[arg(long, default_value_t = 10)]
    report_secs: u64,
    /// Proxy UDP instead of TCP: one flow per client address (at most 1024, closed after
    /// 60 s without a datagram), loss and reordering reach the application.
    #[arg(long)]
    udp: bool,
    /// Lose this fraction (0-1) of the client's whole WebSocket binary messages on the way
    /// to the server (TCP only): how a publisher's frames get lost "on the network" over
    /// TCP, to check `ondes probe --sender-log`. Control messages always pass.
    #[arg(long, default_value_t = 0.0, conflicts_with = "udp")]
    drop_ws_messages: f64,
}

/// The running proxy, either kind.
enum Proxy {
    Tcp(NetsimProxy),
    Udp(NetsimUdpProxy),
}

impl Proxy {
    async fn start(args: &NetsimArgs, schedule: Schedule) -> anyhow::Result<Proxy> {
        let (listen, upstream) = (args.listen.clone(), args.upstream.clone());
        Ok(if args.udp {
            let opts = NetsimUdpOptions::new(listen, upstream, schedule, args.seed);
            Proxy::Udp(NetsimUdpProxy::start(opts).await?)
        } else {
            let opts = NetsimOptions {
                listen,
                upstream,
                schedule,
                seed: args.seed,
                drop_ws_messages: args.drop_ws_messages,
            };
            Proxy::Tcp(NetsimProxy::start(opts).await?)
        })
    }

    fn local_addr(&self) -> SocketAddr {
        match self {
            Proxy::Tcp(p) => p.local_addr,
            Proxy::Udp(p) => p.local_addr,
        }
    }

    /// The counters as one line of JSON.
    fn report(&self) -> serde_json::Result<String> {
        match self {
            Proxy::Tcp(p) => serde_json::to_string(&p.stats.snapshot()),
            Proxy::Udp(p) => serde_json::to_string(&p.stats.snapshot()),
        }
    }

    async fn stop(self) {
        match self {
            Proxy::Tcp(p) => p.stop().await,
            Proxy::Udp(p) => p.stop().await,
        }
    }
}

fn schedule(args: &NetsimArgs) -> anyhow::Result<Schedule> {
    if let Some(path) = &args.script {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return parse_script(&text).with_context(|| format!("in {}", path.display()));
    }
    if args.set.is_empty() {
        return Ok(schedule_by_name(&args.profile)?);
    }
    let mut params = LinkParams::profile(&args.profile)?;
    for kv in &args.set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
        params.set(k, v)?;
    }
    Ok(Schedule::constant(params))
}

pub fn run(args: NetsimArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.drop_ws_messages) {
        anyhow::bail!(
            "--drop-ws-messages {} is outside 0..=1 (a fraction of the messages)",
            args.drop_ws_messages
        );
    }
    let schedule = schedule(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let proxy = Proxy::start(&args, schedule.clone()).await?;
        let kind = if args.udp { "UDP" } else { "TCP" };
        eprintln!("ondes netsim ({kind}): {} → {}", proxy.local_addr(), args.upstream);
        for (start, p) in schedule.segments() {
            eprintln!("  from {:>5.1} s: {}", *start as f64 / 1e6, p.describe());
        }
        let mut tick = tokio::time::interval(Duration::from_secs(args.report_secs.max(1)));
        tick.tick().await;
        // stop on SIGINT or SIGTERM (a background job may have SIGINT ignored)
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install the SIGTERM handler")?;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = tick.tick(), if args.report_secs > 0 => {
                    eprintln!("{}", proxy.report()?);
                }
            }
        }
        println!("{}", proxy.report()?);
        proxy.stop().await;
        anyhow::Ok(())
    })
}
