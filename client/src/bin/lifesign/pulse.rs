//! `lifesign pulse`: the heartbeat sidecar.

use crossbeam_channel::{select, tick};
use lifesign::{Lifesign, Policy, Prober, Pulse};
use std::sync::Arc;
use std::time::Duration;
use x11rb::rust_connection::RustConnection;

pub struct Options {
    pub interval: Duration,
    pub host_scope: bool,
    pub service: Option<String>,
    pub display: Option<String>,
    pub expect: Duration,
    pub timeout: Duration,
}

/// The smallest deadline the server takes.
const MIN_DEADLINE: Duration = Duration::from_millis(100);

impl Options {
    /// Refuses a pulse that could only fail: one slower than its own deadline.
    pub fn check(&self) -> Result<(), String> {
        if self.expect < MIN_DEADLINE {
            return Err(format!(
                "--expect {:?} is below the server's least deadline, {MIN_DEADLINE:?}",
                self.expect
            ));
        }
        if self.interval >= self.expect {
            return Err(format!(
                "--interval {:?} must be shorter than --expect {:?}, or the pulse misses its own deadline",
                self.interval, self.expect
            ));
        }
        Ok(())
    }
}

/// Opts in, beats, and probes the server; returns (an error) only when the server is lost.
pub fn run(o: &Options) -> Result<(), String> {
    o.check()?;
    let conn = opt_in(o)?;
    let pulse = Pulse::start(conn.clone(), o.interval);
    let mut prober = Prober::start(conn);
    // A killed server breaks the connection: the heartbeat or the next probe sees it. A
    // stopped or unreachable one does not answer: the probe times out.
    let probes = tick(o.interval.min(o.timeout));
    loop {
        select! {
            recv(pulse.ended()) -> _ => return Err("lost the X server: the connection broke".into()),
            recv(probes) -> _ => {
                if let Err(lost) = prober.round_trip(o.timeout) {
                    return Err(format!("lost the X server: {lost}"));
                }
            }
        }
    }
}

/// Connects and opts in, within the probe timeout (a server that does not answer must not
/// hold the sidecar before its pulse even began).
fn opt_in(o: &Options) -> Result<Arc<RustConnection>, String> {
    let (done, result) = crossbeam_channel::bounded(1);
    let (display, host_scope, service, expect) =
        (o.display.clone(), o.host_scope, o.service.clone(), o.expect);
    std::thread::spawn(move || {
        let opted = (|| -> Result<RustConnection, String> {
            let conn = crate::connect(display.as_deref())?;
            let ls = Lifesign::new(&conn).map_err(|e| e.to_string())?;
            let mut policy = Policy::pulse(expect);
            if host_scope {
                policy = policy.host_scope();
            }
            if let Some(name) = &service {
                policy = policy.service(name);
            }
            ls.watch(&conn, &policy).map_err(|e| e.to_string())?;
            Ok(conn)
        })();
        let _ = done.send(opted);
    });
    let conn = result
        .recv_timeout(o.timeout)
        .map_err(|_| format!("the X server does not answer within {:?}", o.timeout))??;
    if host_scope_without_peer(o) {
        eprintln!(
            "lifesign: warning: --scope host on a local connection stands for no host (the server ties a host to a TCP peer address)"
        );
    }
    Ok(Arc::new(conn))
}

/// The display is reached over a Unix socket: a host-scope pulse there covers nothing.
fn host_scope_without_peer(o: &Options) -> bool {
    let name = o
        .display
        .clone()
        .or_else(|| std::env::var("DISPLAY").ok())
        .unwrap_or_default();
    o.host_scope && (name.starts_with(':') || name.starts_with("unix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(interval: u64, expect: u64) -> Options {
        Options {
            interval: Duration::from_millis(interval),
            host_scope: false,
            service: None,
            display: None,
            expect: Duration::from_millis(expect),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_pulse_slower_than_its_deadline_is_refused() {
        assert!(options(1000, 3000).check().is_ok());
        assert!(options(2000, 1000).check().unwrap_err().contains("shorter"));
        assert!(
            options(20, 60)
                .check()
                .unwrap_err()
                .contains("least deadline")
        );
    }
}
