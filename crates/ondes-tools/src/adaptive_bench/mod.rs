//! `ondes bench adaptive`: one stream through a simulated link, twice — the legacy setting
//! (balanced profile, top rung, no adaptation) and the adaptation controller — side by side.
//!
//! Everything runs in simulated time in this process ([`ondes_sim::abr`]): the link
//! model, the server's per-listener send loop, TCP, the controller and the client's jitter
//! buffer. A minute of streaming takes milliseconds and the same seed gives the same table,
//! so the figures measure the algorithms, not this machine's load. What the simulation
//! leaves out (real sockets, the real server's scheduling) is what `ondes netsim` is for.

mod report;

use ondes_core::abr::{ProfileRequest, UnknownProfile};
use ondes_sim::abr::{Adaptation, SimConfig, run};
use ondes_sim::netmodel::{
    LinkParams, NetmodelError, SCENARIO_NAMES, Schedule, parse_script, schedule_by_name,
};

pub use report::{AdaptiveReport, Side};

/// Errors of the adaptive benchmark's options.
#[derive(Debug, thiserror::Error)]
pub enum AdaptiveBenchError {
    #[error("scenario {0:?}: {1}")]
    Scenario(String, NetmodelError),
    #[error(transparent)]
    Profile(#[from] UnknownProfile),
    #[error("cannot read the script {path}: {source}")]
    Script {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--duration must be longer than the 5 s start-up, got {0} s")]
    Duration(f64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct AdaptiveOptions {
    /// A link profile (`3g`, `wifi`, `fiber`, `satellite`), `drop`, or `all`.
    pub scenario: String,
    /// A script file to run instead of a named scenario (its name is the file name).
    pub script: Option<String>,
    pub seed: u64,
    /// Simulated time per run, µs (default 65 s: 5 s of start-up and a measured minute).
    pub duration_us: u64,
    /// What the adaptive listener asks for (`auto`, a profile or a scenario).
    pub profile: String,
    /// The server socket's unsent-bytes limit (`TCP_NOTSENT_LOWAT`), bytes.
    pub socket_lowat: u64,
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        AdaptiveOptions {
            scenario: "drop".into(),
            script: None,
            seed: 1,
            duration_us: 65_000_000,
            profile: "auto".into(),
            socket_lowat: 4_096,
        }
    }
}

/// The scenarios `opts` names, with their schedules.
pub fn scenarios(opts: &AdaptiveOptions) -> Result<Vec<(String, Schedule)>, AdaptiveBenchError> {
    if let Some(path) = &opts.script {
        let text = std::fs::read_to_string(path)
            .map_err(|source| AdaptiveBenchError::Script { path: path.clone(), source })?;
        let schedule = parse_script(&text).map_err(|e| AdaptiveBenchError::Scenario(path.clone(), e))?;
        return Ok(vec![(path.clone(), schedule)]);
    }
    let names: Vec<&str> =
        if opts.scenario == "all" { SCENARIO_NAMES.to_vec() } else { vec![&opts.scenario] };
    names
        .into_iter()
        .map(|n| {
            schedule_by_name(n)
                .map(|s| (n.to_string(), s))
                .map_err(|e| AdaptiveBenchError::Scenario(n.into(), e))
        })
        .collect()
}

/// Runs the legacy and the adaptive listener on each scenario.
pub fn run_adaptive_bench(opts: &AdaptiveOptions) -> Result<Vec<AdaptiveReport>, AdaptiveBenchError> {
    let request = ProfileRequest::parse(&opts.profile)?;
    let settle_us = SimConfig::new(Schedule::constant(LinkParams::ideal()), Adaptation::Legacy).settle_us;
    if opts.duration_us <= settle_us {
        return Err(AdaptiveBenchError::Duration(opts.duration_us as f64 / 1e6));
    }
    let mut reports = Vec::new();
    for (name, schedule) in scenarios(opts)? {
        let side = |adaptation| {
            let mut cfg = SimConfig::new(schedule.clone(), adaptation);
            cfg.seed = opts.seed;
            cfg.duration_us = opts.duration_us;
            cfg.socket_lowat = opts.socket_lowat;
            run(&cfg)
        };
        let legacy = side(Adaptation::Legacy);
        let adaptive = side(Adaptation::Adaptive(request));
        reports.push(AdaptiveReport::new(name, opts, &legacy, &adaptive));
    }
    Ok(reports)
}
