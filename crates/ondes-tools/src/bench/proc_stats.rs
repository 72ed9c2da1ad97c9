//! Process statistics from `/proc` (Linux): CPU time, resident memory, which process owns a
//! listening socket, and the open-file limit.
//!
//! Everything here is best effort: on another OS, for a process of another user, or for a
//! server on another machine, the lookups return `None` and the report shows nulls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// Clock ticks per second for `/proc/*/stat` CPU times (`sysconf(_SC_CLK_TCK)`, 100 if
/// unavailable).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit; returns the soft limit
/// now in force.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is u64 on Linux but not on every unix.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur as u64);
        }
    }
    Ok(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no RLIMIT_NOFILE on this OS"))
}

/// User + system CPU time of a process (`None` = this process), in clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    parse_stat_cpu_ticks(&std::fs::read_to_string(proc_path(pid, "stat")).ok()?)
}

/// Resident set size of a process (`None` = this process), in KiB.
pub fn rss_kb(pid: Option<u32>) -> Option<u64> {
    parse_status_rss_kb(&std::fs::read_to_string(proc_path(pid, "status")).ok()?)
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// `utime + stime` from the text of `/proc/PID/stat`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces and parentheses:
    // fields are counted after the last ')'. There, index 0 is field 3 (state), so utime
    // (field 14) is index 11 and stime (field 15) index 12.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` from the text of `/proc/PID/status`, in KiB.
pub fn parse_status_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..].split_ascii_whitespace().next()?.parse().ok()
}

/// CPU use over a wall-clock interval in percent of one core (can exceed 100).
pub fn cpu_percent(ticks: u64, ticks_per_sec: u64, wall: Duration) -> Option<f64> {
    let wall = wall.as_secs_f64();
    (wall > 0.0 && ticks_per_sec > 0).then(|| ticks as f64 / ticks_per_sec as f64 / wall * 100.0)
}

/// A listening TCP socket from `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSocket {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The sockets in LISTEN state in the text of `/proc/net/tcp` (`v6 = false`) or `tcp6`.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<ListenSocket> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 10 || f[3] != LISTEN {
                return None;
            }
            let (addr, port) = f[1].split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let addr = if v6 { IpAddr::V6(parse_hex_v6(addr)?) } else { IpAddr::V4(parse_hex_v4(addr)?) };
            Some(ListenSocket { addr, port, inode: f[9].parse().ok()? })
        })
        .collect()
}

// The kernel prints each 32-bit word of the address as a native-endian integer.
fn parse_hex_v4(hex: &str) -> Option<Ipv4Addr> {
    (hex.len() == 8).then_some(())?;
    Some(Ipv4Addr::from(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes()))
}

fn parse_hex_v6(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32).then_some(())?;
    let mut bytes = [0u8; 16];
    for (i, word) in bytes.chunks_exact_mut(4).enumerate() {
        let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        word.copy_from_slice(&w.to_ne_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

/// Whether a socket listening on `sock` accepts connections to `target`: same port, and the
/// same address, or a wildcard address while the target is a loopback address.
pub fn serves(sock: &ListenSocket, target: SocketAddr) -> bool {
    let target_ip = match target.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    };
    let sock_ip = match sock.addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    };
    sock.port == target.port()
        && (sock_ip == target_ip || (sock_ip.is_unspecified() && target_ip.is_loopback()))
}

/// Finds the process whose socket listens for `target` on this machine, via `/proc/net/tcp*`
/// and the `socket:[inode]` links in `/proc/*/fd`. `None` if the target is not local, or the
/// process belongs to another user.
pub fn find_listening_pid(target: SocketAddr) -> Option<u32> {
    let mut inodes = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(file) {
            inodes
                .extend(parse_proc_net_tcp(&text, v6).iter().filter(|s| serves(s, target)).map(|s| s.inode));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid != me && owns_socket(&entry.path(), &wanted) {
            return Some(pid);
        }
    }
    None
}

fn owns_socket(proc_dir: &Path, wanted: &[String]) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else { return false };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|link| link.to_str().is_some_and(|l| wanted.iter().any(|w| w == l)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_with_awkward_command_names() {
        let stat =
            "1234 (my (weird) prog) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 4 0 100 1000 200";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tondes\nVmPeak:\t  9000 kB\nVmRSS:\t   5120 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss_kb(status), Some(5120));
        assert_eq!(parse_status_rss_kb("Name: x\n"), None);
    }

    #[test]
    fn parses_listening_sockets() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n\
                   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1\n\
                   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0 100 0 0 10 0\n";
        let socks = parse_proc_net_tcp(tcp, false);
        let lo: IpAddr =
            if cfg!(target_endian = "little") { "127.0.0.1" } else { "1.0.0.127" }.parse().unwrap();
        assert_eq!(
            socks,
            vec![
                ListenSocket { addr: lo, port: 8080, inode: 4242 },
                ListenSocket { addr: "0.0.0.0".parse().unwrap(), port: 22, inode: 99 },
            ]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                    0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n";
        let socks = parse_proc_net_tcp(tcp6, true);
        if cfg!(target_endian = "little") {
            assert_eq!(socks, vec![ListenSocket { addr: "::1".parse().unwrap(), port: 8080, inode: 777 }]);
        }
    }

    #[test]
    fn matches_listening_sockets_to_targets() {
        let sock = |a: &str, port| ListenSocket { addr: a.parse().unwrap(), port, inode: 1 };
        let target = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(serves(&sock("127.0.0.1", 8080), target("127.0.0.1:8080")));
        assert!(serves(&sock("0.0.0.0", 8080), target("127.0.0.1:8080")));
        assert!(serves(&sock("::", 8080), target("127.0.0.1:8080")));
        assert!(serves(&sock("::", 8080), target("[::1]:8080")));
        assert!(serves(&sock("::ffff:127.0.0.1", 8080), target("127.0.0.1:8080")));
        assert!(!serves(&sock("127.0.0.1", 8081), target("127.0.0.1:8080")));
        assert!(!serves(&sock("0.0.0.0", 8080), target("192.0.2.7:8080")), "remote host");
        assert!(!serves(&sock("10.0.0.1", 8080), target("127.0.0.1:8080")));
    }

    #[test]
    fn reads_own_stats() {
        if cfg!(target_os = "linux") {
            assert!(rss_kb(None).is_some_and(|kb| kb > 0));
            assert!(cpu_ticks(None).is_some());
            assert!(clock_ticks_per_sec() > 0);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_the_process_that_owns_a_listening_socket() {
        use std::os::fd::OwnedFd;
        use std::process::{Command, Stdio};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Hand the socket to a child as its stdin: the child then owns the listening socket.
        let mut child =
            Command::new("sleep").arg("30").stdin(Stdio::from(OwnedFd::from(listener))).spawn().unwrap();
        let found = find_listening_pid(addr);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(child.id()));
        assert_eq!(find_listening_pid(addr), None, "nobody listens after the child exited");
    }

    #[test]
    fn cpu_percent_math() {
        assert_eq!(cpu_percent(50, 100, Duration::from_secs(1)), Some(50.0));
        assert_eq!(cpu_percent(300, 100, Duration::from_secs(2)), Some(150.0));
        assert_eq!(cpu_percent(1, 100, Duration::ZERO), None);
    }
}
