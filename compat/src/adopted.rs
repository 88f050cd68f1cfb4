//! Daemons the programs leave behind (EFL's efreetd, GNUstep's gdnc): the measurement adopts
//! them (a child subreaper gets the orphans of its descendants) and ends them at the end, so
//! that a run leaves nothing running and ends only what it started.

use rustix::process::{
    Pid, Signal, WaitOptions, getpid, kill_process, set_child_subreaper, waitpid,
};
use std::thread;
use std::time::{Duration, Instant};

/// From now on, orphans of the processes this one starts become its children.
pub fn adopt_orphans() -> std::io::Result<()> {
    set_child_subreaper(Some(getpid()))?;
    Ok(())
}

/// The pids whose parent is this process, from /proc.
fn children() -> Vec<Pid> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.to_owned()))
                .and_then(|rest| rest.split_whitespace().nth(1).map(str::to_owned))
                .is_some_and(|ppid| ppid == me)
        })
        .filter_map(Pid::from_raw)
        .collect()
}

/// Ends (SIGTERM, then SIGKILL after two seconds) and reaps every child still there; returns
/// their commands, for the log.
pub fn end_adopted() -> Vec<String> {
    let left = children();
    let names = left
        .iter()
        .map(|pid| {
            std::fs::read_to_string(format!("/proc/{}/comm", pid.as_raw_nonzero()))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        })
        .collect();
    for &pid in &left {
        let _ = kill_process(pid, Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut waiting = left;
    while !waiting.is_empty() {
        waiting.retain(|&pid| matches!(waitpid(Some(pid), WaitOptions::NOHANG), Ok(None)));
        if Instant::now() > deadline {
            for &pid in &waiting {
                let _ = kill_process(pid, Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
            }
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    names
}
