//! `ondes bench floor`: serve the floor until stopped, printing its counters now and then.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::duration::parse_duration;
use ondes_tools::bench::floor::{FloorOptions, FloorServer};
use ondes_tools::bench::proc_stats::raise_nofile_limit;

#[derive(clap::Args)]
pub struct FloorArgs {
    /// Where to accept listeners.
    #[arg(long, default_value = "127.0.0.1:8095")]
    listen: SocketAddr,
    /// Audio per Ogg page, in ms: a multiple of 20, at most 2000 (one page per interval).
    #[arg(long, default_value_t = 100)]
    page_ms: u32,
    /// Writer threads, each owning a share of the sockets [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// SO_SNDBUF of each listener's socket, bytes [default: the kernel's, which grows on its own].
    #[arg(long)]
    sndbuf: Option<usize>,
    /// Stop after this long (20s, 2m, ...) [default: run until killed].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Seconds between two lines of counters on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    report_secs: u64,
}

/// Runs the floor in this thread's place until `--duration` ends (or forever).
pub fn run(args: FloorArgs) -> anyhow::Result<()> {
    // one socket per listener: thousands of them
    let files = raise_nofile_limit().unwrap_or(0);
    let mut opts = FloorOptions::new(args.listen);
    opts.page_ms = args.page_ms;
    if let Some(t) = args.threads {
        opts.threads = t;
    }
    opts.send_buffer = args.sndbuf;
    let threads = opts.threads;
    let floor = FloorServer::start(opts)?;
    eprintln!(
        "floor: http://{}/ (any path), {} ms pages, {threads} writer thread(s), open-file limit {files}",
        floor.local_addr(),
        args.page_ms
    );
    let started = Instant::now();
    let tick = match args.report_secs {
        0 => Duration::from_secs(3600),
        s => Duration::from_secs(s),
    };
    loop {
        let left = args.duration.map(|d| d.saturating_sub(started.elapsed()));
        if left == Some(Duration::ZERO) {
            break;
        }
        std::thread::sleep(left.map_or(tick, |l| l.min(tick)));
        if args.report_secs > 0 {
            let s = floor.stats();
            eprintln!(
                "floor: {:.0} s, {} listeners ({} accepted, {} refused, {} closed), {} pages, {} skipped, {} coalesced, {:.1} MB written",
                started.elapsed().as_secs_f64(),
                s.listeners,
                s.accepted,
                s.refused,
                s.closed,
                s.pages,
                s.skipped,
                s.coalesced,
                s.bytes as f64 / 1e6
            );
        }
    }
    floor.stop();
    Ok(())
}
