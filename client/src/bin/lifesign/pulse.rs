//! `lifesign pulse`: the heartbeat sidecar.

use lifesign::{Lifesign, Policy, Prober, Pulse};
use std::sync::Arc;
use std::time::Duration;

pub struct Options {
    pub interval: Duration,
    pub host_scope: bool,
    pub service: Option<String>,
    pub display: Option<String>,
    pub expect: Duration,
    pub timeout: Duration,
}

/// Opts in, beats, and probes the server every interval; returns (an error) only when the
/// server is lost.
pub fn run(o: &Options) -> Result<(), String> {
    let conn = Arc::new(crate::connect(o.display.as_deref())?);
    let ls = Lifesign::new(&*conn).map_err(|e| e.to_string())?;
    let mut policy = Policy::pulse(o.expect);
    if o.host_scope {
        policy = policy.host_scope();
    }
    if let Some(name) = &o.service {
        policy = policy.service(name);
    }
    ls.watch(&*conn, &policy).map_err(|e| e.to_string())?;
    let pulse = Pulse::start(conn.clone(), o.interval);
    let mut prober = Prober::start(conn);
    loop {
        if let Err(lost) = prober.round_trip(o.timeout) {
            pulse.abandon();
            return Err(format!("lost the X server: {lost}"));
        }
        std::thread::sleep(o.interval);
    }
}
