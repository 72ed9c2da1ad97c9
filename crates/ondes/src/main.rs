//! The `ondes` command line: thin wrappers over the library crates.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ondes", version, about = "Real-time audio streaming server and toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the streaming server.
    Serve(cmd::serve::ServeArgs),
    /// List the input devices a `capture:` source can read (rates, channels, formats).
    Devices(cmd::devices::DevicesArgs),
    /// Mint a JWT for the server's API.
    Token(cmd::token::TokenArgs),
    /// Publish audio (a file, a tone, raw PCM, or speech) to a stream declared with source = "publish".
    Send(cmd::send::SendArgs),
    /// Speak text into a stream (text to speech) and print how fast its first audio went out.
    Say(cmd::say::SayArgs),
    /// Play a stream (ws:// or http:// SSE) through an adaptive jitter buffer; report loss and latency.
    Listen(cmd::listen::ListenArgs),
    /// Measure a stream: loss, latency, jitter, and which stage is to blame.
    Probe(cmd::probe::ProbeArgs),
    /// Benchmarks (load generators that measure a running server).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// A TCP (or --udp) proxy that puts a simulated link (3g, wifi, fiber, satellite, a
    /// script) between a client and a server.
    Netsim(cmd::netsim::NetsimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Devices(args) => cmd::devices::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Send(args) => cmd::send::run(args),
        Command::Say(args) => cmd::say::run(args),
        Command::Listen(args) => cmd::listen::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Netsim(args) => cmd::netsim::run(args),
    }
}
