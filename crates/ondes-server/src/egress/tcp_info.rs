//! The sending TCP stack's view of a listener's connection: Linux's `TCP_INFO` socket option
//! (smoothed round trip, its variation, segments retransmitted so far), which sizes the
//! retransmission protection of an adaptive WebSocket listener's jitter floor
//! ([`ondes_core::abr::tcp_floor`]). The one place the server calls `getsockopt` for it:
//! neither `socket2` nor tokio exposes the option.
//!
//! Elsewhere than Linux there is no sample, and the floor keeps its full protection.
//!
//! A process whose listeners reach it through a link emulator on the same machine (`ondes
//! bench adaptive --real`: server → `ondes netsim` → client, all on loopback) would only see
//! loopback in its sockets' state — no loss, a round trip of microseconds. Such a process
//! installs a [`Source`] once ([`set_source`]): the emulator's model of the sender's TCP,
//! looked up by the listener's peer address, answers instead of the kernel.

use std::net::SocketAddr;
use std::sync::OnceLock;

use ondes_core::abr::TcpInfo;

/// Answers for the kernel: the TCP state of the connection from this peer address, if known.
pub type Source = Box<dyn Fn(SocketAddr) -> Option<TcpInfo> + Send + Sync>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Makes `source` answer every later sample of this process instead of the kernel; false
/// (and `source` unused) if one was installed already.
pub fn set_source(source: Source) -> bool {
    SOURCE.set(source).is_ok()
}

/// The TCP state of a listener's connection: the installed [`Source`]'s answer for its peer,
/// else the kernel's ([`sample`]).
pub fn sample_stream(tcp: &tokio::net::TcpStream) -> Option<TcpInfo> {
    match SOURCE.get() {
        Some(source) => tcp.peer_addr().ok().and_then(source),
        None => sample(tcp),
    }
}

/// How often a listener's connection is sampled (a system call per adaptive listener).
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The connection's TCP state now, or `None` when the system cannot tell (not Linux, not a
/// TCP socket, a kernel older than `tcpi_total_retrans`).
#[cfg(target_os = "linux")]
pub fn sample(socket: &impl std::os::fd::AsRawFd) -> Option<TcpInfo> {
    use std::mem::{offset_of, size_of};
    // SAFETY: `tcp_info` is a plain struct of integers, for which all-zero bytes are a valid
    // value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call; the kernel
    // writes at most `len` bytes and sets `len` to what it wrote. A closed or non-TCP
    // descriptor makes the call fail, which is handled below.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast::<libc::c_void>(),
            &mut len,
        )
    };
    // an older kernel fills a shorter struct: the fields we read must all be in it
    let needed = offset_of!(libc::tcp_info, tcpi_total_retrans) + size_of::<u32>();
    if rc != 0 || (len as usize) < needed {
        return None;
    }
    Some(TcpInfo {
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        total_retrans: info.tcpi_total_retrans,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn sample<S>(_socket: &S) -> Option<TcpInfo> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_connection_reports_a_short_round_trip_and_no_retransmission() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        use std::io::{Read, Write};
        // a few round trips so that the kernel has measured one
        let mut buf = [0u8; 4];
        for _ in 0..5 {
            server.write_all(b"ping").unwrap();
            client.read_exact(&mut buf).unwrap();
            client.write_all(b"pong").unwrap();
            server.read_exact(&mut buf).unwrap();
        }
        let info = sample(&server).expect("TCP_INFO of a TCP socket");
        assert!(info.rtt_us > 0 && info.rtt_us < 100_000, "{info:?}");
        assert_eq!(info.total_retrans, 0, "{info:?}");
        // not a TCP socket: no sample
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(sample(&udp), None);
    }
}
