//! The floor's accept thread: blocking `accept`, read the request head, hand the socket to
//! the writers in turn.
//!
//! The request is read here, blocking, with a timeout: the load client sends its request
//! right after connecting, so this costs one `read` per listener, and keeping it out of the
//! writers keeps their loop to writes alone. A client that connects and sends nothing holds
//! up the next accept for at most [`REQUEST_TIMEOUT`]; that is acceptable for a benchmark
//! run on loopback, not for a server facing the internet.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use super::stats::FloorStats;
use super::writer::ToWriter;

/// Longest wait for a request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest request head read; anything longer is refused.
const MAX_REQUEST: usize = 16 * 1024;

/// Accepts until `stop` is set (and one more connection wakes the blocking `accept`) or
/// every writer is gone.
pub fn run(
    listener: TcpListener,
    writers: Vec<Sender<ToWriter>>,
    stop: Arc<AtomicBool>,
    stats: Arc<FloorStats>,
    send_buffer: Option<usize>,
) {
    let mut next = 0;
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(_) => {
                // e.g. out of file descriptors: back off instead of spinning on the error
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if prepare(&stream, send_buffer).is_err() {
            stats.on_refused();
            continue;
        }
        stats.on_accept();
        if writers[next].send(ToWriter::Join(stream)).is_err() {
            break;
        }
        next = (next + 1) % writers.len();
    }
}

/// Reads the request head, then makes the socket ready for the writers: no Nagle delay on
/// page writes, non-blocking, and the send buffer asked for.
fn prepare(stream: &TcpStream, send_buffer: Option<usize>) -> std::io::Result<()> {
    read_request_head(stream)?;
    stream.set_nodelay(true)?;
    if let Some(bytes) = send_buffer {
        set_send_buffer(stream, bytes)?;
    }
    stream.set_nonblocking(true)
}

/// Reads until the blank line that ends a request head; the request itself is not looked
/// at: every request gets the stream.
fn read_request_head(mut stream: &TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 2048];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // look again from just before the new bytes: the blank line may straddle two reads
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") || head[from..].windows(2).any(|w| w == b"\n\n")
        {
            return Ok(());
        }
        if head.len() > MAX_REQUEST {
            return Err(ErrorKind::InvalidData.into());
        }
    }
}

/// Queue of connections waiting for `accept`, as tokio's listeners (ondes's) have: std's 128
/// would drop the SYNs of a load client that opens hundreds at once, and the retries (1 s and
/// more) would show in time to first byte as the floor's, not as the kernel's.
pub const BACKLOG: i32 = 1024;

/// Calls `listen` again with [`BACKLOG`] (Linux updates the queue of a listening socket);
/// best effort: std's queue stays if it fails.
#[cfg(unix)]
pub fn widen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is a bound, listening socket owned by `listener`.
    let _ = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
}

#[cfg(not(unix))]
pub fn widen_backlog(_listener: &TcpListener) {}

/// Sets `SO_SNDBUF` (the kernel doubles it and enforces a minimum).
#[cfg(unix)]
fn set_send_buffer(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is open (owned by `stream`), and the option value points to a
    // live c_int whose size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(unix))]
fn set_send_buffer(_stream: &TcpStream, _bytes: usize) -> std::io::Result<()> {
    Err(std::io::Error::new(ErrorKind::Unsupported, "SO_SNDBUF is set on unix only"))
}
