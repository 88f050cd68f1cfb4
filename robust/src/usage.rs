//! The server's resident memory and open file descriptors, from /proc: what a leak would
//! make grow.

use std::fs;

#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: usize,
}

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
