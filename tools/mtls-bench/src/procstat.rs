//! CPU time and memory of the server processes under test, read from
//! `/proc/PID/stat`, `/proc/PID/status` and `/proc/PID/smaps_rollup`
//! (`--server-pid`, once per process: nginx's master and workers, say).

use std::process::Command;

/// One reading over all the server processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// User + system CPU seconds of every thread, living or ended.
    pub cpu_s: f64,
    /// Sum of `VmRSS` (KiB).
    pub rss_kib: u64,
    /// Sum of `VmHWM`, each process's peak RSS (KiB).
    pub hwm_kib: u64,
    /// Sum of `Pss` (KiB): shared pages split between the processes that
    /// share them, so that several worker processes are not over-counted.
    pub pss_kib: u64,
}

/// Clock ticks per second of `/proc/PID/stat` times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, key)
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    kib_field(&rollup, "Pss:")
}

/// Reads every process of `pids` (missing ones count as zero).
pub fn sample(pids: &[u32], ticks: f64) -> Sample {
    let mut s = Sample::default();
    for &pid in pids {
        s.cpu_s += cpu_ticks(pid).unwrap_or(0) as f64 / ticks;
        s.rss_kib += status_kib(pid, "VmRSS:").unwrap_or(0);
        s.hwm_kib += status_kib(pid, "VmHWM:").unwrap_or(0);
        s.pss_kib += pss_kib(pid).unwrap_or(0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_reads() {
        let s = sample(&[std::process::id()], clock_ticks());
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
