//! Process CPU and memory from /proc (Linux). Elsewhere the figures read as zero.

use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemoryUsage {
    /// Resident set size of this process.
    pub used_bytes: u64,
    /// Virtual size of this process.
    pub virtual_bytes: u64,
    /// Memory available to new work on this machine (MemAvailable).
    pub available_bytes: u64,
    /// The machine's memory (MemTotal).
    pub total_bytes: u64,
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    kb_field(&s, field)
}

fn kb_field(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn memory_usage() -> MemoryUsage {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    MemoryUsage {
        used_bytes: status_kb("VmRSS:") * 1024,
        virtual_bytes: status_kb("VmSize:") * 1024,
        available_bytes: kb_field(&meminfo, "MemAvailable:") * 1024,
        total_bytes: kb_field(&meminfo, "MemTotal:") * 1024,
    }
}

/// Open file descriptors of this process, and its limit (`ulimit -n`, the soft limit).
pub fn open_files() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let max = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (open, max)
}

/// CPU seconds (user + system) this process has used.
pub fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name, which is in parentheses and may contain spaces
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the name
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU usage of this process in percent of one core, over the interval between calls.
pub struct CpuMeter {
    last: Mutex<(Instant, f64, f64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter { last: Mutex::new((Instant::now(), process_cpu_secs(), 0.0)) }
    }
}

impl CpuMeter {
    /// Takes a new sample (call periodically) and returns the usage since the last one.
    pub fn sample(&self) -> f64 {
        let mut last = self.last.lock();
        let now = Instant::now();
        let cpu = process_cpu_secs();
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt > 0.05 {
            let pct = (cpu - last.1) / dt * 100.0;
            *last = (now, cpu, pct.max(0.0));
        }
        last.2
    }

    /// The usage measured by the last `sample`.
    pub fn last(&self) -> f64 {
        self.last.lock().2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        let m = memory_usage();
        assert!(m.used_bytes > 0 && m.virtual_bytes >= m.used_bytes && m.available_bytes > 0);
        assert_eq!(kb_field("VmRSS:\t  1234 kB\n", "VmRSS:"), 1234);
    }
}
