use super::*;
use crate::config::Config;
use lifesign_proto::event::{GoneReason, LostReason, Transport};

const CONFIG: &str = r#"
[[service]]
name = "view"
match = { peer = "10.211.0.0/16", wm_class = "xclock" }
start = [["a"], ["b"], ["c"]]
start_primary = true
max_failovers = 2
window = "1m"
startup_timeout = "5s"

[[service]]
name = "term"
match = { wm_class = "xterm" }
start = [["xterm"]]
"#;

const VIEW: usize = 0;

fn engine(state: State) -> Engine {
    Engine::new(Config::parse(CONFIG).unwrap().services, state, 0)
}

fn client(id: u32, peer: &str, wm_class: Option<&str>) -> ClientInfo {
    ClientInfo {
        id: ClientInfo::format_id(id << 21),
        index: id,
        transport: Transport::Tcp,
        peer: Some(format!("{peer}:40000")),
        pid: None,
        command: None,
        service: None,
        wm_class: wm_class.map(|c| [c.to_owned(), c.to_uppercase()]),
    }
}

const SERVER: ServerInfo = ServerInfo {
    display: String::new(),
    pid: 1,
    started_ms: 1000,
};

fn ev(seq: u64, body: Body) -> Event {
    Event::new(seq, 0, body)
}

fn watched(seq: u64, c: &ClientInfo, replay: bool) -> Event {
    ev(
        seq,
        Body::Watched {
            client: c.clone(),
            replay,
        },
    )
}

fn lost(seq: u64, c: &ClientInfo) -> Event {
    ev(
        seq,
        Body::Lost {
            client: c.clone(),
            reason: LostReason::IdleTimeout,
            silent_ms: 2000,
        },
    )
}

fn starts(commands: &[Command]) -> Vec<(usize, usize)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Start {
                service, candidate, ..
            } => Some((*service, *candidate)),
            _ => None,
        })
        .collect()
}

fn acks(commands: &[Command]) -> Vec<u64> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Ack { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

/// A launcher that started the primary of `view` and saw it come up as client 1.
fn running() -> Engine {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    assert!(
        starts(&e.tick(SETTLE_MS - 1)).is_empty(),
        "not before the burst is in"
    );
    assert_eq!(starts(&e.tick(SETTLE_MS)), [(VIEW, 0)]);
    // It connects: no window yet, but it comes from the right network while `view` waits.
    let up = e.event(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
    assert_eq!(acks(&up), [2]);
    assert!(up.contains(&Command::Save));
    e
}

#[test]
fn the_primary_starts_after_the_opening_burst_and_a_loss_starts_the_next() {
    let mut e = running();
    let out = e.event(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 5000);
    assert_eq!(starts(&out), [(VIEW, 1)]);
    let save = out.iter().position(|c| *c == Command::Save).unwrap();
    let start = out
        .iter()
        .position(|c| matches!(c, Command::Start { .. }))
        .unwrap();
    let ack = out
        .iter()
        .position(|c| matches!(c, Command::Ack { .. }))
        .unwrap();
    assert!(
        save < start && start < ack,
        "saved, started, then acknowledged: {out:?}"
    );
    assert_eq!(e.state().services["view"].active, Some(1));
    assert_eq!(e.state().services["view"].failovers, [5000]);
}

#[test]
fn a_replay_that_shows_the_service_up_starts_nothing() {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    let out = e.event(
        1,
        &watched(2, &client(1, "10.211.1.2", Some("xclock")), true),
        10,
    );
    assert!(acks(&out).is_empty(), "a replay is not kept by the module");
    assert!(starts(&e.tick(SETTLE_MS)).is_empty());
}

#[test]
fn a_duplicate_is_acknowledged_and_not_acted_on() {
    let mut e = running();
    let gone = lost(3, &client(1, "10.211.1.2", Some("xclock")));
    assert_eq!(starts(&e.event(1, &gone, 5000)), [(VIEW, 1)]);
    let again = e.event(1, &gone, 5100);
    assert!(starts(&again).is_empty());
    assert_eq!(acks(&again), [3]);
}

#[test]
fn a_restarted_launcher_acts_on_a_resent_loss_once_and_starts_no_duplicate() {
    let e = running();
    let state = e.state().clone();
    // Killed; the client is lost meanwhile; a new launcher reads the state.
    let mut e = Engine::new(Config::parse(CONFIG).unwrap().services, state, 9000);
    e.hello(1, &SERVER, 9000);
    // The opening burst: no replay of view's client, the loss resent.
    let resent = lost(3, &client(1, "10.211.1.2", Some("xclock")));
    assert_eq!(starts(&e.event(1, &resent, 9001)), [(VIEW, 1)]);
    assert!(
        starts(&e.tick(9000 + SETTLE_MS)).is_empty(),
        "the failover is under way"
    );
    // The same event again on a later connection.
    e.hello(2, &SERVER, 9600);
    assert!(starts(&e.event(2, &resent, 9601)).is_empty());
}

#[test]
fn a_restarted_launcher_adopts_what_the_replay_shows() {
    let mut e = running();
    e.event(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 5000);
    e.event(1, &watched(4, &client(2, "10.211.2.2", None), false), 5200);
    let mut e = Engine::new(
        Config::parse(CONFIG).unwrap().services,
        e.state().clone(),
        20_000,
    );
    e.hello(1, &SERVER, 20_000);
    e.event(
        1,
        &watched(9, &client(2, "10.211.2.2", Some("xclock")), true),
        20_001,
    );
    assert!(starts(&e.tick(20_000 + SETTLE_MS)).is_empty());
    // Its loss moves on from candidate 1, the one the state says is active.
    let out = e.event(
        1,
        &lost(5, &client(2, "10.211.2.2", Some("xclock"))),
        21_000,
    );
    assert_eq!(starts(&out), [(VIEW, 2)]);
}

#[test]
fn a_service_that_should_run_and_does_not_is_started_after_hello() {
    let mut e = running();
    let state = e.state().clone();
    e = Engine::new(Config::parse(CONFIG).unwrap().services, state, 30_000);
    // A new server start (the X server restarted): nothing is replayed.
    let server = ServerInfo {
        started_ms: 29_000,
        ..SERVER
    };
    e.hello(1, &server, 30_000);
    assert_eq!(starts(&e.tick(30_000 + SETTLE_MS)), [(VIEW, 0)]);
}

#[test]
fn flap_protection_holds_back_the_third_failover_in_the_window() {
    let mut e = running();
    let mut now = 1000;
    let mut started = 0;
    let mut current = 1;
    for round in 0..4u32 {
        let seq = 10 + u64::from(round) * 2;
        let out = e.event(
            1,
            &lost(seq, &client(current, "10.211.1.2", Some("xclock"))),
            now + 100,
        );
        started += starts(&out).len();
        // The started candidate connects (its window comes later).
        current = 10 + round;
        e.event(
            1,
            &watched(seq + 1, &client(current, "10.211.1.2", None), false),
            now + 200,
        );
        now += 1000;
    }
    assert_eq!(started, 2, "max_failovers = 2");
    assert!(starts(&e.tick(now)).is_empty());
    let held = e.state().services["view"].deferred.unwrap();
    assert_eq!(
        held.until_ms,
        1100 + 60_000,
        "the first failover leaves the window"
    );
    assert_eq!(starts(&e.tick(held.until_ms)), [(VIEW, held.candidate)]);
}

#[test]
fn a_candidate_that_does_not_come_up_is_given_up_for_the_next() {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    let out = e.tick(SETTLE_MS);
    let Some(Command::Start { attempt, .. }) =
        out.iter().find(|c| matches!(c, Command::Start { .. }))
    else {
        panic!("{out:?}")
    };
    let attempt = *attempt;
    assert!(starts(&e.tick(SETTLE_MS + 4999)).is_empty());
    let out = e.tick(SETTLE_MS + 5000);
    assert!(out.contains(&Command::Stop { attempt }), "{out:?}");
    assert_eq!(starts(&out), [(VIEW, 1)]);
    // This one exits at once, and so does the next.
    let attempt_of = |out: &[Command]| match out.iter().find(|c| matches!(c, Command::Start { .. }))
    {
        Some(Command::Start { attempt, .. }) => *attempt,
        _ => panic!("{out:?}"),
    };
    let out = e.exited(attempt_of(&out), "exit status: 127", 6000);
    assert_eq!(starts(&out), [(VIEW, 2)]);
    assert_eq!(
        starts(&e.exited(attempt_of(&out), "exit status: 127", 6100)),
        []
    );
    assert!(
        e.state().services["view"].deferred.is_some(),
        "two failovers used the window"
    );
}

#[test]
fn an_exit_before_coming_up_tries_the_next_candidate() {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    let out = e.tick(SETTLE_MS);
    let Some(Command::Start { attempt, .. }) =
        out.iter().find(|c| matches!(c, Command::Start { .. }))
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        starts(&e.exited(*attempt, "exit status: 255", 700)),
        [(VIEW, 1)]
    );
}

#[test]
fn a_client_that_closes_by_itself_is_not_restarted() {
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    let out = e.event(
        1,
        &ev(
            3,
            Body::Gone {
                client: c,
                reason: GoneReason::Closed,
            },
        ),
        2000,
    );
    assert!(starts(&out).is_empty());
    assert_eq!(e.state().services["view"].active, None);
    e.hello(2, &SERVER, 3000);
    assert!(starts(&e.tick(3000 + SETTLE_MS)).is_empty());
}

#[test]
fn the_service_fails_over_when_its_last_client_is_lost() {
    let mut e = running();
    let second = client(2, "10.211.1.2", Some("xclock"));
    e.event(1, &watched(3, &second, false), 700);
    let first = e.event(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 3000);
    assert!(starts(&first).is_empty(), "another client of it is up");
    assert_eq!(starts(&e.event(1, &lost(5, &second), 3001)), [(VIEW, 1)]);
}

#[test]
fn a_loss_of_no_service_is_only_acknowledged() {
    let mut e = running();
    let out = e.event(1, &lost(3, &client(7, "10.9.9.9", Some("xeyes"))), 3000);
    assert!(starts(&out).is_empty());
    assert_eq!(acks(&out), [3]);
}

#[test]
fn next_deadline_covers_the_burst_starts_and_held_failovers() {
    let mut e = engine(State::default());
    assert_eq!(e.next_deadline(), None);
    e.hello(1, &SERVER, 100);
    assert_eq!(e.next_deadline(), Some(100 + SETTLE_MS));
    e.tick(100 + SETTLE_MS);
    assert_eq!(e.next_deadline(), Some(100 + SETTLE_MS + 5000));
}

#[test]
fn max_failovers_zero_never_fails_over() {
    let config = Config::parse(
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"a\"], [\"b\"]]\nmax_failovers = 0\n",
    )
    .unwrap();
    let mut e = Engine::new(config.services, State::default(), 0);
    e.hello(1, &SERVER, 0);
    e.tick(SETTLE_MS);
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.event(1, &watched(2, &c, true), 10);
    assert!(starts(&e.event(1, &lost(3, &c), 1000)).is_empty());
    assert!(starts(&e.tick(u64::MAX - 1)).is_empty());
    assert_eq!(e.next_deadline(), Some(u64::MAX));
}
