//! `ondes serve`: run the server until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Args;
use ondes_server::Config;

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file (see the README for the keys).
    #[arg(long, short)]
    config: Option<String>,
    /// Address to listen on (overrides server.bind).
    #[arg(long)]
    bind: Option<String>,
    /// Add the demo stream `main` (a sweep left, a chord right) unless the config declares `main`.
    #[arg(long)]
    demo: bool,
    /// JWT secret (overrides auth.secret; prefer the ONDES_AUTH_SECRET variable to keep it out of `ps`).
    #[arg(long)]
    secret: Option<String>,
    /// Check the configuration (values, sources, files) and exit: 0 when it would start,
    /// 1 with the reason when it would not. Nothing is bound or started.
    #[arg(long)]
    check_config: bool,
    /// Log filter, e.g. `info` or `ondes_server=debug` (RUST_LOG works too).
    #[arg(long, default_value = "info")]
    log: String,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut filter = std::env::var("RUST_LOG").unwrap_or(args.log.clone());
    if !filter.contains("symphonia") {
        // the decoders log a warning per bad frame of a source (a flood from one bad
        // stream); the server counts them in the mount's decode_errors instead
        filter.push_str(",symphonia=error");
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("ONDES_")).collect();
    let mut config = Config::load(args.config.as_deref(), &env)?;
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(secret) = args.secret {
        config.auth.secret = secret;
    }
    if args.demo || args.config.is_none() && config.streams.is_empty() {
        config.add_demo_stream();
    }
    config.validate()?;
    // a cluster edge has no streams of its own: it receives its origins'
    let edge = config.cluster.as_ref().is_some_and(|c| c.role.is_edge());
    if config.streams.is_empty() && !edge {
        anyhow::bail!("no streams: declare a [[stream]] in the config file or pass --demo");
    }
    if args.check_config {
        let lines = ondes_server::check(&config)?;
        println!("configuration OK: would listen on {}", config.server.bind);
        for l in lines {
            println!("  {l}");
        }
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async move {
        let server = ondes_server::start(config).await?;
        let url = server.url();
        eprintln!("ondes is serving on {url}");
        for s in server.state.streams.list() {
            eprintln!(
                "  stream {:<10} {}/api/streams/{}/stream   ({})",
                s.id,
                url,
                s.id,
                s.entry.hub.source_description()
            );
        }
        for t in server.state.streams.templates() {
            eprintln!(
                "  on demand {:<7} created when a publisher connects ({}), e.g. {}/api/streams/{}/publish",
                t.pattern.as_str(),
                t.config.source.trim(),
                url.replacen("http", "ws", 1),
                t.pattern.as_str().replace('*', "name")
            );
        }
        eprintln!("  try: curl -N '{url}/api/audio/stream?max_fps=1'");
        if let Some(token) = &server.generated_admin_token {
            eprintln!(
                "  no auth.secret configured: using a random secret for this run; an admin token valid 24 h:"
            );
            eprintln!("  {token}");
        }
        // SIGHUP: read the certificate and key again (e.g. after a renewal); open connections
        // keep theirs. Handled without TLS too, where the default action would stop the server.
        #[cfg(unix)]
        {
            if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                let tls = server.state.tls.clone();
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        match tls.as_ref().map(|t| t.reload()) {
                            Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                            Some(Err(e)) => {
                                tracing::error!(error = %e, "SIGHUP: TLS reload failed; the previous certificate stays")
                            }
                            None => tracing::info!("SIGHUP: no TLS configured; nothing to reload"),
                        }
                    }
                });
            }
        }
        shutdown_signal().await;
        server.shutdown().await;
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
