//! One toolkit under one mode, on a server of its own, with three instances of the program
//! one after the other, so that a slow start of one cannot pass for another's silence:
//!
//! 1. stopped (SIGSTOP) half a second after its window is mapped, as a hang would stop it;
//!    the time to its `lost` event is taken from the event's own clock (`at_ms`);
//! 2. looked at: its top-level windows' `WM_PROTOCOLS`, and one `_NET_WM_PING` sent as a
//!    window manager sends it; then killed (a ping to a client that does not list the
//!    protocol may close it: xterm);
//! 3. left idle, untouched, for the idle period, timed from its window's mapping; under a
//!    mode that [measures the repaint](Mode::measures_repaint), recorded and its pixels read
//!    meanwhile ([`cost`](crate::cost)).

use crate::app::{Connection, Instance};
use crate::cost::{Camera, Cost, Recording, SHOT_EVERY, assess};
use crate::mode::Mode;
use crate::toolkits::{Context, Toolkit};
use crate::window::{Observer, PingAnswer, WindowFacts};
use lifesign_proto::event::{Body, Event, LostReason};
use lifesign_tests::windows::parse_id;
use lifesign_tests::{Server, Xorg, Xvfb, unix_ms};
use std::thread;
use std::time::{Duration, Instant};

/// Which server the module is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// Xvfb with the module preloaded.
    Xvfb,
    /// Xorg on the dummy driver, the module loaded from xorg.conf.
    Xorg,
}

/// What every measurement shares.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long the healthy instance is left idle.
    pub idle: Duration,
    /// How long a program may take to map its window (a JVM on a loaded machine is slow).
    pub start_timeout: Duration,
    pub server: ServerKind,
    pub context: Context,
    /// Print each measurement's events (stderr), to see why it came out as it did.
    pub verbose: bool,
}

/// Between the hung instance's window being mapped and its SIGSTOP: its start-up is done.
const SETTLE: Duration = Duration::from_millis(500);
/// How long our own ping may go unanswered.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(100);

/// The healthy instance's fate over the idle period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// No `lost` for the whole period.
    Kept(Duration),
    /// Lost this long after its window was mapped.
    Lost { reason: LostReason, after: Duration },
    /// It went away by itself (`gone`).
    Exited,
}

/// The stopped instance's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hung {
    /// Lost this long after the SIGSTOP.
    Caught { reason: LostReason, after: Duration },
    /// No `lost` this long after the SIGSTOP.
    NotCaught(Duration),
    /// Lost or gone before it was stopped.
    EndedBeforeStop,
    /// Its connection ended after the stop without a `lost` (someone else closed it).
    Gone,
}

/// What one toolkit showed under one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub facts: WindowFacts,
    pub idle: Idle,
    pub hung: Hung,
    /// What the repaint probes cost the idle instance, under a mode that measures it.
    pub cost: Option<Cost>,
}

/// Measures `toolkit` under `mode`; `Err` says what kept it from being measured.
pub fn measure(toolkit: &Toolkit, mode: &Mode, settings: &Settings) -> Result<Observed, String> {
    let server = start_server(settings.server, mode);
    let conn = server.connect();
    lifesign_tests::lifesign::unwatch(&conn);
    let observer = Observer::new(conn)?;

    let mut stopped = Instance::start(&server, toolkit, &settings.context)?;
    let hung_clients = stopped
        .wait_mapped(&server, &observer.conn, settings.start_timeout)
        .map_err(|e| format!("{}: {e}", toolkit.app))?
        .clients;
    thread::sleep(SETTLE);
    stopped.stop();
    let stopped_at = unix_ms();

    let facts = look_at(&server, &observer, toolkit, settings)?;

    // Recording from before the idle instance starts, so that its first probe is seen.
    let recording = if mode.measures_repaint {
        Some(Recording::start(&server)?)
    } else {
        None
    };
    let mut idle = Instance::start(&server, toolkit, &settings.context)?;
    let mapped = idle
        .wait_mapped(&server, &observer.conn, settings.start_timeout)
        .map_err(|e| format!("{}: {e}", toolkit.app))?;
    let mapped_at = unix_ms();
    let mut camera = match recording {
        Some(_) => Some(Camera::new(&server, &mapped.windows)?),
        None => None,
    };
    let mut next_shot = Instant::now();

    let mut idle_outcome = None;
    loop {
        let shoot = idle_outcome.is_none() && Instant::now() >= next_shot;
        if let Some(camera) = camera.as_mut().filter(|_| shoot) {
            camera.shoot();
            next_shot += SHOT_EVERY;
        }
        let events = server.events();
        let now = unix_ms();
        idle_outcome = idle_outcome
            .or_else(|| idle_fate(&events, &mapped.clients, mapped_at, now, settings.idle));
        let hung_outcome = hung_fate(&events, &hung_clients, stopped_at, now, mode.catch_bound());
        if let (Some(idle), Some(hung)) = (idle_outcome, hung_outcome) {
            if settings.verbose {
                let lines: Vec<String> = events
                    .iter()
                    .map(|e| format!("  {}", e.to_line()))
                    .collect();
                eprintln!(
                    "{} under {}: stopped {hung_clients:?} at {stopped_at}, idle {:?} mapped at \
                     {mapped_at}; events:\n{}",
                    toolkit.name,
                    mode.name,
                    mapped.clients,
                    lines.join("\n")
                );
            }
            let cost = recording.zip(camera).map(|(recording, camera)| {
                let clients: Vec<u32> = mapped.clients.iter().map(|c| parse_id(&c.id)).collect();
                let seen = recording.stop();
                assess(
                    &seen,
                    &clients,
                    camera.base(),
                    &camera.shots,
                    camera.windows(),
                )
            });
            return Ok(Observed {
                facts,
                idle,
                hung,
                cost,
            });
        }
        thread::sleep(POLL);
    }
}

/// Starts an instance to read its windows' protocols and ping it; ends it.
fn look_at(
    server: &Server,
    observer: &Observer<impl x11rb::connection::Connection>,
    toolkit: &Toolkit,
    settings: &Settings,
) -> Result<WindowFacts, String> {
    let mut instance = Instance::start(server, toolkit, &settings.context)?;
    let mapped = instance
        .wait_mapped(server, &observer.conn, settings.start_timeout)
        .map_err(|e| format!("{}: {e}", toolkit.app))?;
    let lists_ping = observer.lists_ping(&mapped.windows);
    let ping = if observer.ping_windows(&mapped.windows, PING_TIMEOUT) {
        PingAnswer::Answered
    } else if matches!(
        first_end(&server.events(), &mapped.clients),
        Some((_, None))
    ) {
        PingAnswer::Closed
    } else {
        PingAnswer::Unanswered
    };
    Ok(WindowFacts { lists_ping, ping })
}

fn start_server(kind: ServerKind, mode: &Mode) -> Server {
    let options = mode.server_options();
    match kind {
        ServerKind::Xvfb => Xvfb::with_options(&options).start(),
        ServerKind::Xorg => {
            let pairs = lifesign_watchdog::options::split_env(&options)
                .expect("the modes' options are Name=value items");
            pairs
                .iter()
                .fold(Xorg::new(), |xorg, (name, value)| xorg.option(name, value))
                .start()
        }
    }
}

/// The first `lost` or `gone` of the `clients`: when, and which.
fn first_end(events: &[Event], clients: &[Connection]) -> Option<(u64, Option<LostReason>)> {
    events
        .iter()
        .filter(|e| clients.iter().any(|c| c.is_about(e)))
        .find_map(|e| match e.body {
            Body::Lost { reason, .. } => Some((e.at_ms, Some(reason))),
            Body::Gone { .. } => Some((e.at_ms, None)),
            _ => None,
        })
}

/// The idle instance's fate once it is known at `now` (Unix ms): `None` while the period
/// runs and it is still there.
pub fn idle_fate(
    events: &[Event],
    clients: &[Connection],
    mapped_at: u64,
    now: u64,
    period: Duration,
) -> Option<Idle> {
    let end = mapped_at + millis(period);
    match first_end(events, clients) {
        Some((at, _)) if at > end => Some(Idle::Kept(period)),
        Some((at, Some(reason))) => Some(Idle::Lost {
            reason,
            after: Duration::from_millis(at.saturating_sub(mapped_at)),
        }),
        Some((_, None)) => Some(Idle::Exited),
        None if now >= end => Some(Idle::Kept(period)),
        None => None,
    }
}

/// The stopped instance's fate once it is known at `now`: `None` until it is lost, or the
/// `bound` after its SIGSTOP has passed.
pub fn hung_fate(
    events: &[Event],
    clients: &[Connection],
    stopped_at: u64,
    now: u64,
    bound: Duration,
) -> Option<Hung> {
    let end = stopped_at + millis(bound);
    match first_end(events, clients) {
        Some((at, _)) if at < stopped_at => Some(Hung::EndedBeforeStop),
        Some((at, Some(reason))) if at <= end => Some(Hung::Caught {
            reason,
            after: Duration::from_millis(at - stopped_at),
        }),
        Some((_, None)) => Some(Hung::Gone),
        Some(_) => Some(Hung::NotCaught(bound)),
        None if now > end => Some(Hung::NotCaught(bound)),
        None => None,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifesign_proto::event::{ClientInfo, GoneReason, Transport};

    const ID: &str = "0x00400000";
    const OTHER: &str = "0x00600000";
    const SECOND: Duration = Duration::from_secs(1);

    fn ours() -> Vec<Connection> {
        vec![Connection {
            id: ID.to_owned(),
            watched_seq: 1,
        }]
    }

    fn client(id: &str) -> ClientInfo {
        ClientInfo {
            id: id.into(),
            index: 2,
            transport: Transport::Local,
            peer: None,
            pid: Some(4711),
            command: None,
            service: None,
            wm_class: None,
        }
    }

    fn lost(id: &str, at_ms: u64, reason: LostReason) -> Event {
        let body = Body::Lost {
            client: client(id),
            reason,
            silent_ms: 0,
        };
        Event::new(2, at_ms, body)
    }

    fn gone(id: &str, at_ms: u64) -> Event {
        let body = Body::Gone {
            client: client(id),
            reason: GoneReason::Closed,
        };
        Event::new(2, at_ms, body)
    }

    #[test]
    fn idle_is_undecided_until_the_period_ends_then_kept() {
        let idle = 60 * SECOND;
        assert_eq!(idle_fate(&[], &ours(), 1000, 60_999, idle), None);
        assert_eq!(
            idle_fate(&[], &ours(), 1000, 61_000, idle),
            Some(Idle::Kept(idle))
        );
    }

    #[test]
    fn idle_lost_within_the_period_says_when_and_why_and_only_for_its_own_clients() {
        let events = [
            lost(OTHER, 2000, LostReason::IdleTimeout),
            lost(ID, 4100, LostReason::IdleTimeout),
        ];
        let fate = idle_fate(&events, &ours(), 1000, 4200, 60 * SECOND);
        let after = Duration::from_millis(3100);
        let reason = LostReason::IdleTimeout;
        assert_eq!(fate, Some(Idle::Lost { reason, after }));
        // A loss after the period is past what was asked.
        let late = [lost(ID, 70_000, LostReason::IdleTimeout)];
        assert_eq!(
            idle_fate(&late, &ours(), 1000, 70_000, 60 * SECOND),
            Some(Idle::Kept(60 * SECOND))
        );
        assert_eq!(
            idle_fate(&[gone(ID, 3000)], &ours(), 1000, 3000, 10 * SECOND),
            Some(Idle::Exited)
        );
    }

    #[test]
    fn hung_is_caught_within_the_bound_or_not_at_all() {
        let bound = 8 * SECOND;
        let events = [lost(ID, 12_300, LostReason::WmPingTimeout)];
        let after = Duration::from_millis(2300);
        let reason = LostReason::WmPingTimeout;
        assert_eq!(
            hung_fate(&events, &ours(), 10_000, 12_400, bound),
            Some(Hung::Caught { reason, after })
        );
        assert_eq!(hung_fate(&[], &ours(), 10_000, 18_000, bound), None);
        assert_eq!(
            hung_fate(&[], &ours(), 10_000, 18_001, bound),
            Some(Hung::NotCaught(bound))
        );
        let late = [lost(ID, 18_500, LostReason::WmPingTimeout)];
        assert_eq!(
            hung_fate(&late, &ours(), 10_000, 18_500, bound),
            Some(Hung::NotCaught(bound))
        );
    }

    #[test]
    fn hung_lost_before_its_stop_is_told_apart() {
        let events = [lost(ID, 9000, LostReason::IdleTimeout)];
        assert_eq!(
            hung_fate(&events, &ours(), 10_000, 10_100, 8 * SECOND),
            Some(Hung::EndedBeforeStop)
        );
    }

    #[test]
    fn an_earlier_connection_that_had_the_same_id_is_not_ours() {
        let mut earlier = gone(ID, 1500);
        earlier.seq = 1; // up to our `watched`: another connection's
        assert_eq!(
            idle_fate(&[earlier], &ours(), 1000, 2000, 10 * SECOND),
            None
        );
    }
}
