//! `ondes bench adaptive --real`: the same comparison as the simulation, through real
//! sockets — an in-process `ondes serve`, the `ondes netsim` proxy applying the scenario's
//! link, and the real `ondes listen` client — printed next to the simulation of the same
//! scenario, seed and duration, to show whether the simulation holds.
//!
//! Legacy listens at the top rung with batch 4 (balanced, no adaptation); adaptive listens
//! at `rung=auto`. Both run one after the other through a fresh proxy with the same seed.
//! Both clients take the server's jitter advice (docs/protocol.md), as the simulated one does.
//!
//! The server's sockets lead to the proxy over loopback, so the kernel's `TCP_INFO` would
//! show none of the emulated link's round trip and retransmissions. The server here asks the
//! proxy's model of the sending TCP instead ([`ondes_tools::netsim::TcpViews`]), the same
//! model the simulation feeds its controller from: both size the jitter floor from the same
//! kind of evidence.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ondes_client::listener::{ListenOptions, ListenReport, listen};
use ondes_sim::abr::{SimResult, time_to_recover};
use ondes_sim::netmodel::Schedule;
use ondes_tools::adaptive_bench::{AdaptiveOptions, run_adaptive_bench, scenarios};
use ondes_tools::netsim::{NetsimOptions, NetsimProxy, TcpViews};
use serde_json::{Value, json};

/// The ladder the simulation uses.
const RUNGS: &str = "16,32,64,96,128";

/// The figures both worlds measure, under the same keys.
/// The sim's time to recover (latency back within 20% of before the drop, and holding),
/// from the listener's latency by second: each second's mean at its middle, on the clock of
/// the connection (the proxy's schedule starts with it, within a round trip).
fn real_recover_ms(r: &ListenReport, schedule: &Schedule) -> Option<f64> {
    let drop_at = schedule.next_rate_drop(0)?;
    let back_at = schedule.segments().iter().map(|s| s.0).find(|s| *s > drop_at)?;
    let start = r.latency_series_start_secs?;
    let played: Vec<(u64, u64)> = r
        .latency_by_second_ms
        .iter()
        .enumerate()
        .filter_map(|(i, ms)| Some((((start + i as f64 + 0.5) * 1e6) as u64, (ms.as_ref()? * 1000.0) as u64)))
        .collect();
    time_to_recover(&played, drop_at, back_at)
}

fn real_side(r: &ListenReport, switches: f64, schedule: &Schedule) -> Value {
    let secs = r.duration_secs.max(1e-3);
    json!({
        "underruns": r.underruns,
        "stalled_ms": r.underrun_ms,
        "concealed_ms": r.concealed_ms,
        "skipped_frames": r.server_skipped_frames,
        "latency_ms": {"p50": r.latency_ms.p50, "p99": r.latency_ms.p99},
        "avg_bitrate_kbps": r.audio_payload_bytes as f64 * 8.0 / secs / 1000.0,
        "final_kbps": r.rung.parse::<u32>().ok(),
        "switches": switches,
        "jitter_floor_ms": r.jitter_bounds_ms[0],
        "handshake_rtt_ms": r.handshake_rtt_ms,
        "recover_ms": real_recover_ms(r, schedule),
        "time_to_recover_ms": {
            "episodes": r.time_to_recover.episodes,
            "last": r.time_to_recover.last.map(|x| x.duration_ms),
            "worst": r.time_to_recover.worst.map(|x| x.duration_ms),
        },
        "duration_secs": secs,
        "server_notices": r.server_notices,
    })
}

fn sim_side(r: &SimResult) -> Value {
    json!({
        "underruns": r.underruns,
        "stalled_ms": r.stalled_ms,
        "concealed_ms": r.concealed_ms,
        "skipped_frames": r.skipped_frames,
        "latency_ms": {"p50": r.latency_ms.p50, "p95": r.latency_ms.p95},
        "avg_bitrate_kbps": r.avg_bitrate_kbps,
        "final_kbps": r.final_kbps,
        "switches": r.switches,
        "jitter_floor_ms": r.final_jitter_floor_ms,
        "tcp_retransmissions": r.tcp_retransmissions,
        "recover_ms": r.recover_ms,
        "duration_secs": r.duration_s,
    })
}

/// The three parts each on a runtime of their own, as the separate processes of `ondes
/// serve`, `ondes netsim` and `ondes listen` would be: on one shared runtime the proxy's
/// per-segment timers, the server's sends and the listener's playout clock delay each other,
/// and a first version of this benchmark measured stalls a separate-process run never shows.
struct Worlds {
    server: tokio::runtime::Runtime,
    proxy: tokio::runtime::Runtime,
    listener: tokio::runtime::Runtime,
    /// The running proxy's model of the server's TCP, which answers the server's `TCP_INFO`
    /// samples.
    views: Arc<Mutex<Option<TcpViews>>>,
}

impl Worlds {
    fn new() -> anyhow::Result<Self> {
        let rt = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
        };
        let views: Arc<Mutex<Option<TcpViews>>> = Arc::default();
        let current = views.clone();
        // the one source of this process: the benchmark is all it runs
        ondes_server::egress::tcp_info::set_source(Box::new(move |peer| {
            current.lock().unwrap_or_else(PoisonError::into_inner).as_ref()?.info(peer)
        }));
        Ok(Worlds {
            server: rt("bench-server")?,
            proxy: rt("bench-netsim")?,
            listener: rt("bench-listen")?,
            views,
        })
    }

    /// One listen of `duration` at `query` through a fresh proxy applying `schedule`; returns
    /// the listener's report and the switches the server counted meanwhile.
    fn side(
        &self,
        server: &ondes_server::RunningServer,
        schedule: &Schedule,
        seed: u64,
        query: &str,
        duration: Duration,
    ) -> anyhow::Result<(ListenReport, f64)> {
        let switches = |s: &ondes_server::RunningServer| -> f64 {
            let text = s.state.metrics.render(&s.state);
            text.lines()
                .filter(|l| l.starts_with("ondes_bitrate_switches_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let before = switches(server);
        let proxy = self.proxy.block_on(NetsimProxy::start(NetsimOptions {
            listen: "127.0.0.1:0".into(),
            upstream: server.addr.to_string(),
            schedule: schedule.clone(),
            seed,
            drop_ws_messages: 0.0,
        }))?;
        *self.views.lock().unwrap_or_else(PoisonError::into_inner) = Some(proxy.tcp_views.clone());
        let mut opts = ListenOptions::new(format!("ws://{}/api/audio/ws?{query}", proxy.local_addr));
        opts.duration = Some(duration);
        let report = self.listener.block_on(listen(opts, &mut |_| {}));
        self.proxy.block_on(proxy.stop());
        *self.views.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok((report?, switches(server) - before))
    }
}

/// Runs every scenario of `opts` in simulation and for real; prints the comparison.
pub fn run(opts: &AdaptiveOptions, json_out: bool) -> anyhow::Result<()> {
    let sims = run_adaptive_bench(opts)?;
    let duration = Duration::from_micros(opts.duration_us);
    let worlds = Worlds::new()?;
    let toml = format!("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\nrungs = \"{RUNGS}\"\n");
    let mut config = ondes_server::Config::from_toml_and_env(&toml, &[])?;
    config.server.bind = "127.0.0.1:0".into();
    let server = worlds.server.block_on(ondes_server::start(config))?;
    for ((name, schedule), sim) in scenarios(opts)?.into_iter().zip(&sims) {
        if !json_out {
            eprintln!("real run: {name}, {} s per side (legacy, then adaptive)…", duration.as_secs());
        }
        let (legacy, ls) = worlds.side(&server, &schedule, opts.seed, "rung=128&batch=4", duration)?;
        let query = format!("rung=auto&profile={}", opts.profile);
        let (adaptive, a_s) = worlds.side(&server, &schedule, opts.seed, &query, duration)?;
        let out = json!({
            "scenario": name, "mode": "real", "seed": opts.seed, "profile": opts.profile,
            "legacy": {"sim": sim_side(&sim.legacy.result), "real": real_side(&legacy, ls, &schedule)},
            "adaptive": {"sim": sim_side(&sim.adaptive.result), "real": real_side(&adaptive, a_s, &schedule)},
        });
        if json_out {
            println!("{out}");
        } else {
            print!("{}", table(&out));
        }
    }
    worlds.server.block_on(server.shutdown());
    Ok(())
}

/// The human table: for each side, the simulation's figure next to the real one.
fn table(out: &Value) -> String {
    let mut s = format!(
        "\nondes bench adaptive --real ({}, seed {}: in-process server → ondes netsim → ondes listen)\n",
        out["scenario"].as_str().unwrap_or(""),
        out["seed"]
    );
    s += &format!("{:<24} {:>10} {:>10}   {:>10} {:>10}\n", "", "legacy sim", "real", "adapt. sim", "real");
    let num = |v: &Value| v.as_f64().map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    // (label, JSON pointer into one side's figures)
    let rows = [
        ("stalled, ms", "/stalled_ms"),
        ("underruns", "/underruns"),
        ("concealed, ms", "/concealed_ms"),
        ("skipped by server", "/skipped_frames"),
        ("payload kbit/s", "/avg_bitrate_kbps"),
        ("switches", "/switches"),
        ("final rung, kbit/s", "/final_kbps"),
        ("latency p50, ms", "/latency_ms/p50"),
        ("time to recover, ms", "/recover_ms"),
        ("jitter floor, ms", "/jitter_floor_ms"),
    ];
    for (label, path) in rows {
        let cell = |side: &str, world: &str| num(out[side][world].pointer(path).unwrap_or(&Value::Null));
        s += &format!(
            "{label:<24} {:>10} {:>10}   {:>10} {:>10}\n",
            cell("legacy", "sim"),
            cell("legacy", "real"),
            cell("adaptive", "sim"),
            cell("adaptive", "real")
        );
    }
    s
}
