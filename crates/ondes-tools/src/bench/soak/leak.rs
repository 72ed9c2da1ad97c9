//! The deliberate leak (`--leak RATE`): listeners that connect, ask for the stream, and then
//! neither read nor close. The server keeps each one (a socket, its session, the kernel's
//! send buffer it fills) — exactly what a soak must catch if the server did it on its own.
//! It exists to prove that the verdict can fail; a real run leaves it off.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

/// Opens `per_sec` stuck connections per second to `addr` with `request` until `stop`;
/// holds them all until then. `opened` counts those whose request was written.
pub async fn run_leak(
    addr: SocketAddr,
    request: Box<[u8]>,
    per_sec: f64,
    opened: &AtomicU64,
    mut stop: watch::Receiver<bool>,
) {
    if per_sec <= 0.0 {
        return;
    }
    let every = Duration::from_secs_f64(1.0 / per_sec);
    let mut held: Vec<TcpStream> = Vec::new();
    let mut next = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            () = sleep_until(next) => {}
        }
        next += every;
        if let Ok(mut s) = TcpStream::connect(addr).await
            && s.write_all(&request).await.is_ok()
        {
            opened.fetch_add(1, Ordering::Relaxed);
            held.push(s);
        }
    }
    drop(held);
}
