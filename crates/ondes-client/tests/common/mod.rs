//! Helpers shared by the client's integration tests: a real in-process server on loopback.
#![allow(dead_code)]

use ondes_server::{Config, RunningServer};
use serde_json::Value;

/// Starts a server from TOML on `bind` (use `127.0.0.1:0` for an ephemeral port).
pub async fn start_on(toml: &str, bind: &str) -> RunningServer {
    let mut config = Config::from_toml_and_env(toml, &[]).expect("test config");
    config.server.bind = bind.into();
    ondes_server::start(config).await.expect("server starts")
}

/// Starts a server from TOML on an ephemeral loopback port.
pub async fn start(toml: &str) -> RunningServer {
    start_on(toml, "127.0.0.1:0").await
}

/// GETs a JSON document over real HTTP.
pub async fn get_json(url: &str) -> Value {
    ondes_client::tls::http_builder()
        .no_proxy()
        .build()
        .expect("http client")
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}
