//! What every run checks between its batches, from connections that behave: the server
//! answers a round trip within a bound, and a bystander that opted in and pulses is still
//! watched, with the policy it asked for, and not suspect.

use lifesign::{Lifesign, Policy, Prober, Pulse};
use lifesign_proto::event::{Body, ClientInfo, Event, PolicyInfo, WatchState};
use lifesign_tests::Server;
use std::sync::Arc;
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::rust_connection::RustConnection;

/// The bystander's NoOperation deadline, and how often it pulses: twenty pulses a deadline,
/// so a loaded machine's scheduling cannot make it miss one.
const BYSTANDER_NOOP: Duration = Duration::from_secs(5);
const PULSE: Duration = Duration::from_millis(250);
pub const BYSTANDER_SERVICE: &str = "robust-bystander";

pub struct Watcher {
    checker: Arc<RustConnection>,
    prober: Prober,
    lifesign: Lifesign,
    pulse: Pulse,
    _bystander: Arc<RustConnection>,
    pub bystander_id: String,
    policy: PolicyInfo,
}

impl Watcher {
    pub fn start(server: &Server) -> Result<Self, String> {
        let bystander = Arc::new(server.connect());
        let lifesign = Lifesign::new(&*bystander).map_err(|e| e.to_string())?;
        let asked = Policy::pulse(BYSTANDER_NOOP).service(BYSTANDER_SERVICE);
        lifesign
            .watch(&*bystander, &asked)
            .map_err(|e| format!("the bystander's Watch: {e}"))?;
        let pulse = Pulse::start(Arc::clone(&bystander), PULSE);
        let bystander_id = ClientInfo::format_id(bystander.setup().resource_id_base);
        let checker = Arc::new(server.connect());
        let prober = Prober::start(Arc::clone(&checker));
        let list = lifesign
            .list_clients(&*checker)
            .map_err(|e| e.to_string())?;
        let entry = list
            .iter()
            .find(|e| e.client.id == bystander_id)
            .ok_or("the bystander is not listed after its Watch")?;
        if entry.policy.expect_noop_ms != BYSTANDER_NOOP.as_millis() as u64 {
            return Err(format!("the bystander's policy is {:?}", entry.policy));
        }
        Ok(Self {
            policy: entry.policy,
            checker,
            prober,
            lifesign,
            pulse,
            _bystander: bystander,
            bystander_id,
        })
    }

    /// A round trip within `bound` (its time), and the bystander as it was.
    pub fn check(&mut self, bound: Duration) -> Result<Duration, String> {
        let round_trip = self
            .prober
            .round_trip(bound)
            .map_err(|e| format!("the server did not answer a round trip: {e}"))?;
        if self.pulse.ended().try_recv().is_ok() {
            return Err("the bystander's connection broke".into());
        }
        let list = self
            .lifesign
            .list_clients(&*self.checker)
            .map_err(|e| format!("ListClients: {e}"))?;
        let entry = list
            .iter()
            .find(|e| e.client.id == self.bystander_id)
            .ok_or("the bystander is no longer watched")?;
        if entry.policy != self.policy {
            return Err(format!(
                "the bystander's policy changed from {:?} to {:?}",
                self.policy, entry.policy
            ));
        }
        if entry.state != WatchState::Watching
            || entry.client.service.as_deref() != Some(BYSTANDER_SERVICE)
        {
            return Err(format!("the bystander is listed as {entry:?}"));
        }
        Ok(round_trip)
    }

    /// The watched clients other than the bystander, from the checker's connection.
    pub fn others_watched(&self) -> Result<usize, String> {
        let list = self
            .lifesign
            .list_clients(&*self.checker)
            .map_err(|e| format!("ListClients: {e}"))?;
        Ok(list
            .iter()
            .filter(|e| e.client.id != self.bystander_id)
            .count())
    }

    /// The server's log never declared the bystander lost nor gone (and has its `watched`:
    /// a log that could not be read must not pass for one without losses).
    pub fn never_lost(&self, server: &Server) -> Result<(), String> {
        self.never_lost_in(events(server).0)
    }

    /// The same, over `events` (as a launcher received them).
    pub fn never_lost_in(&self, events: Vec<Event>) -> Result<(), String> {
        let mine = |e: &Event| e.client().is_some_and(|c| c.id == self.bystander_id);
        if !events
            .iter()
            .any(|e| matches!(e.body, Body::Watched { .. }) && mine(e))
        {
            return Err("no watched event for the bystander".into());
        }
        let ended = events
            .into_iter()
            .find(|e| matches!(e.body, Body::Lost { .. } | Body::Gone { .. }) && mine(e));
        match ended {
            Some(e) => Err(format!("the bystander ended: {}", e.to_line())),
            None => Ok(()),
        }
    }
}

/// The server's `(EE) lifesign` lines: each is a failure of a run (an internal error the
/// panic guard caught among them).
pub fn module_errors(server: &Server) -> Vec<String> {
    server.log_lines("(EE) lifesign")
}

/// The module's events in the server's log, and apart the event lines that are not valid
/// JSON: the contract says each is, and a client's service name must not break that (the
/// harness's own reader panics on such a line).
pub fn events(server: &Server) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for line in server.log_lines("lifesign: event ") {
        let json = line.split_once("lifesign: event ").map_or("", |(_, j)| j);
        match serde_json::from_str(json) {
            Ok(event) => events.push(event),
            Err(e) => bad.push(format!("{e}: {json}")),
        }
    }
    (events, bad)
}

/// A failure if some event lines are not JSON.
pub fn unparseable_events(server: &Server) -> Option<String> {
    let bad = events(server).1;
    (!bad.is_empty()).then(|| {
        format!(
            "{} event lines of the server log are not valid JSON; the first: {}",
            bad.len(),
            bad[0]
        )
    })
}
