//! A server's use of the machine, from /proc: resident memory and open file descriptors (what
//! a leak would make grow), and CPU time (what the module's cost adds to).

use std::fs;

#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: usize,
}

/// Resident memory (VmRSS) and open fds of process `pid`.
pub fn of(pid: u32) -> Result<Usage, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("the server's /proc/{pid}/status: {e}"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in the server's status")?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("the server's /proc/{pid}/fd: {e}"))?
        .count();
    Ok(Usage { rss_kib, fds })
}

/// Nanoseconds the threads of process `pid` have spent on a CPU (`/proc/PID/task/*/schedstat`).
pub fn cpu_ns(pid: u32) -> u64 {
    fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's tasks")
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
