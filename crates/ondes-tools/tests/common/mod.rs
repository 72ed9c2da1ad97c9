//! Helpers shared by the tools' integration tests: a real in-process server on loopback.

use ondes_server::{Config, RunningServer};

/// Starts a server from TOML on an ephemeral loopback port.
pub async fn start(toml: &str) -> RunningServer {
    let mut config = Config::from_toml_and_env(toml, &[]).expect("test config");
    config.server.bind = "127.0.0.1:0".into();
    ondes_server::start(config).await.expect("server starts")
}
