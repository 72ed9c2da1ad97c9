//! `ondes bench adaptive --real`: the same comparison as the simulation, through real
//! sockets — an in-process `ondes serve`, the `ondes netsim` proxy applying the scenario's
//! link, and the real `ondes listen` client — to show that the simulation holds.
//!
//! Legacy listens at the top rung with batch 4 (balanced, no adaptation); adaptive listens
//! at `rung=auto`. Both run one after the other through a fresh proxy with the same seed.

use std::time::Duration;

use anyhow::Context;
use ondes_client::listener::{ListenOptions, ListenReport, listen};
use ondes_client::netsim::{NetsimOptions, NetsimProxy};
use ondes_core::netmodel::{Schedule, parse_script, schedule_by_name};
use serde_json::json;

/// The ladder the simulation uses.
const RUNGS: &str = "16,32,64,96,128";

fn side(r: &ListenReport, switches: f64) -> serde_json::Value {
    let secs = r.duration_secs.max(1e-3);
    json!({
        "underruns_per_minute": r.underruns as f64 * 60.0 / secs,
        "stalled_ms": r.underrun_ms,
        "concealed_ms": r.concealed_ms,
        "frames_lost": r.frames_lost,
        "latency_ms": {"p50": r.latency_ms.p50, "p99": r.latency_ms.p99},
        "avg_bitrate_kbps": r.bytes_received as f64 * 8.0 / secs / 1000.0,
        "final_rung": r.rung,
        "switches": switches,
        "duration_secs": secs,
    })
}

async fn one_side(
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
    let proxy = NetsimProxy::start(NetsimOptions {
        listen: "127.0.0.1:0".into(),
        upstream: server.addr.to_string(),
        schedule: schedule.clone(),
        seed,
    })
    .await?;
    let mut opts = ListenOptions::new(format!("ws://{}/api/audio/ws?{query}", proxy.local_addr));
    opts.duration = Some(duration);
    let report = listen(opts, &mut |_| {}).await?;
    proxy.stop().await;
    Ok((report, switches(server) - before))
}

pub fn run(
    scenario: &str,
    script: Option<&str>,
    profile: &str,
    seed: u64,
    duration: Duration,
    json_out: bool,
) -> anyhow::Result<()> {
    let schedule = match script {
        Some(path) => {
            parse_script(&std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?)?
        }
        None => schedule_by_name(scenario)?,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let toml = format!("[[stream]]\nid = \"main\"\nsource = \"tone:demo\"\nrungs = \"{RUNGS}\"\n");
        let mut config = ondes_server::Config::from_toml_and_env(&toml, &[])?;
        config.server.bind = "127.0.0.1:0".into();
        let server = ondes_server::start(config).await?;
        if !json_out {
            eprintln!("real run: {scenario}, {} s per side (legacy, then adaptive)…", duration.as_secs());
        }
        let (legacy, ls) = one_side(&server, &schedule, seed, "rung=128&batch=4", duration).await?;
        let (adaptive, a_s) = one_side(&server, &schedule, seed, &format!("rung=auto&profile={profile}"), duration).await?;
        server.shutdown().await;
        let out = json!({"scenario": scenario, "mode": "real", "legacy": side(&legacy, ls), "adaptive": side(&adaptive, a_s)});
        if json_out {
            println!("{out}");
        } else {
            println!("ondes bench adaptive --real ({scenario}, seed {seed}: in-process server → ondes netsim → ondes listen)");
            println!("{:<28} {:>12} {:>12}", "", "legacy", "adaptive");
            for (label, key, unit) in [
                ("underruns per minute", "underruns_per_minute", ""),
                ("stalled", "stalled_ms", " ms"),
                ("concealed", "concealed_ms", " ms"),
                ("frames lost", "frames_lost", ""),
                ("average bitrate", "avg_bitrate_kbps", " kbit/s"),
                ("switches", "switches", ""),
            ] {
                let f = |v: &serde_json::Value| format!("{:.1}{unit}", v[key].as_f64().unwrap_or(0.0));
                println!("{label:<28} {:>12} {:>12}", f(&out["legacy"]), f(&out["adaptive"]));
            }
            let lat = |v: &serde_json::Value| {
                format!("{:.0}/{:.0} ms", v["latency_ms"]["p50"].as_f64().unwrap_or(0.0), v["latency_ms"]["p99"].as_f64().unwrap_or(0.0))
            };
            println!("{:<28} {:>12} {:>12}", "latency p50/p99", lat(&out["legacy"]), lat(&out["adaptive"]));
        }
        anyhow::Ok(())
    })
}
