use super::*;
use crate::config::Config;
use crate::flap;
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

/// A loss, reported when it is fed (see [`Feed`]).
fn lost(seq: u64, c: &ClientInfo) -> Event {
    lost_at(seq, c, 0)
}

/// Feeds events to the engine; one made with `at_ms` 0 is stamped with the time it is fed at
/// (the server's clock and ours agree in these tests).
trait Feed {
    fn feed(&mut self, conn: ConnId, event: &Event, now: u64) -> Vec<Command>;

    /// The module's `replayed` on `conn`, numbered `seq` (after the replay's events, before
    /// anything live), then the daemon's tick once what came with it is in: what the
    /// server's whole view leads to.
    fn replay_done(&mut self, conn: ConnId, seq: u64, now: u64) -> Vec<Command>;
}

impl Feed for Engine {
    fn feed(&mut self, conn: ConnId, event: &Event, now: u64) -> Vec<Command> {
        let mut event = event.clone();
        if event.at_ms == 0 {
            event.at_ms = now;
        }
        self.event(conn, &event, now)
    }

    fn replay_done(&mut self, conn: ConnId, seq: u64, now: u64) -> Vec<Command> {
        let mut out = self.feed(conn, &replayed(seq), now);
        out.extend(self.tick(now));
        out
    }
}

/// When the fixtures' first connection has sent its replay: their first starts are then.
const OPENED: u64 = 500;

/// The end of the replay that follows `hello`.
fn replayed(seq: u64) -> Event {
    ev(seq, Body::Replayed { count: 0 })
}

/// A watched client's class or declared service became known.
fn updated(seq: u64, c: &ClientInfo) -> Event {
    ev(seq, Body::Updated { client: c.clone() })
}

/// A loss reported at `at_ms`, the client silent for 2 s before.
fn lost_at(seq: u64, c: &ClientInfo, at_ms: u64) -> Event {
    Event::new(
        seq,
        at_ms,
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

/// A launcher that said hello and started the primary of `view`, which did not connect yet.
/// Also the attempt of that start.
fn primary_started() -> (Engine, u64) {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    let out = e.replay_done(1, 1, OPENED);
    assert_eq!(starts(&out), [(VIEW, 0)]);
    let attempt = attempt_of(&out);
    (e, attempt)
}

/// The launcher of `e`, killed and started again at `now` with the state it left.
fn restarted(e: &Engine, now: u64) -> Engine {
    Engine::new(
        Config::parse(CONFIG).unwrap().services,
        e.state().clone(),
        now,
    )
}

/// A launcher that started the primary of `view` at 500, and saw it connect (as client 1,
/// from host A) and come up when its startup time passed: it showed no class (no
/// `updated`), as a client whose window the module cannot read.
fn running() -> Engine {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    assert!(
        e.tick(OPENED).is_empty() && e.next_deadline().is_none(),
        "nothing before the replay is in"
    );
    assert_eq!(starts(&e.replay_done(1, 1, OPENED)), [(VIEW, 0)]);
    let up = e.feed(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
    assert_eq!(acks(&up), [2]);
    let out = e.tick(OPENED + 5000);
    assert!(
        starts(&out).is_empty(),
        "it may be the candidate: up, not skipped"
    );
    assert!(out.contains(&Command::Save));
    e
}

/// The attempt of the one start in `out`.
fn attempt_of(out: &[Command]) -> u64 {
    match out.iter().find(|c| matches!(c, Command::Start { .. })) {
        Some(Command::Start { attempt, .. }) => *attempt,
        _ => panic!("no start in {out:?}"),
    }
}

#[test]
fn the_primary_starts_after_the_opening_burst_and_a_loss_starts_the_next() {
    let mut e = running();
    let out = e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
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
    assert_eq!(e.state().services["view"].failovers, [9000]);
}

#[test]
fn the_candidate_lost_while_still_starting_fails_over_at_once() {
    let (mut e, _) = primary_started();
    let c = client(1, "10.211.1.2", None);
    e.feed(1, &watched(2, &c, false), 600);
    let c = client(1, "10.211.1.2", Some("xclock"));
    assert_eq!(starts(&e.feed(1, &lost(3, &c), 2600)), [(VIEW, 1)]);
}

#[test]
fn a_replay_that_shows_the_service_up_starts_nothing() {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    let out = e.feed(
        1,
        &watched(2, &client(1, "10.211.1.2", Some("xclock")), true),
        10,
    );
    assert!(acks(&out).is_empty(), "a replay is not kept by the module");
    let out = e.replay_done(1, 3, 10);
    assert!(acks(&out).is_empty(), "nor is `replayed`");
    assert!(starts(&out).is_empty());
}

#[test]
fn a_duplicate_is_acknowledged_and_not_acted_on() {
    let mut e = running();
    let gone = lost(3, &client(1, "10.211.1.2", Some("xclock")));
    assert_eq!(starts(&e.feed(1, &gone, 9000)), [(VIEW, 1)]);
    let again = e.feed(1, &gone, 9100);
    assert!(starts(&again).is_empty());
    assert_eq!(acks(&again), [3]);
}

#[test]
fn a_restarted_launcher_acts_on_a_resent_loss_once_and_starts_no_duplicate() {
    let e = running();
    // Killed; the client is lost meanwhile; a new launcher reads the state.
    let mut e = restarted(&e, 20_000);
    e.hello(1, &SERVER, 20_000);
    // The opening burst: no replay of view's client, the loss resent, `replayed`.
    let resent = lost(3, &client(1, "10.211.1.2", Some("xclock")));
    assert_eq!(starts(&e.feed(1, &resent, 20_001)), [(VIEW, 1)]);
    assert!(
        starts(&e.replay_done(1, 20, 20_001)).is_empty(),
        "the failover is under way: the active candidate is not started again"
    );
    // The same event again on a later connection.
    e.hello(2, &SERVER, 20_600);
    assert!(starts(&e.feed(2, &resent, 20_601)).is_empty());
    assert!(starts(&e.replay_done(2, 21, 20_601)).is_empty());
}

#[test]
fn a_launcher_restarted_while_its_candidate_starts_waits_for_hello_then_gives_it_time() {
    let (e, _) = primary_started();
    // Killed while the primary is starting; restarted much later.
    let mut e = restarted(&e, 60_000);
    assert!(
        e.tick(120_000).is_empty(),
        "nothing before a server said hello"
    );
    assert_eq!(e.next_deadline(), None);
    e.hello(1, &SERVER, 120_000);
    // The primary did come up meanwhile: the replay shows it.
    e.feed(
        1,
        &watched(5, &client(1, "10.211.1.2", Some("xclock")), true),
        120_001,
    );
    assert!(starts(&e.replay_done(1, 6, 120_001)).is_empty());
    assert!(starts(&e.tick(200_000)).is_empty(), "up: no timeout");
}

#[test]
fn a_start_of_an_earlier_run_that_never_shows_up_is_given_up_after_its_time() {
    let (e, _) = primary_started();
    let mut e = restarted(&e, 60_000);
    e.hello(1, &SERVER, 60_000);
    assert!(
        starts(&e.replay_done(1, 2, 60_000)).is_empty(),
        "it has its time"
    );
    assert!(starts(&e.tick(60_000 + 4999)).is_empty());
    let out = e.tick(60_000 + 5000);
    assert_eq!(starts(&out), [(VIEW, 1)]);
}

#[test]
fn a_restarted_launcher_adopts_what_the_replay_shows() {
    let mut e = running();
    e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    e.feed(1, &watched(4, &client(2, "10.211.2.2", None), false), 9200);
    e.tick(9000 + 5000);
    let mut e = restarted(&e, 20_000);
    e.hello(1, &SERVER, 20_000);
    e.feed(
        1,
        &watched(9, &client(2, "10.211.2.2", Some("xclock")), true),
        20_001,
    );
    assert!(starts(&e.replay_done(1, 10, 20_001)).is_empty());
    // Its loss (made after the replay, so numbered after it) moves on from candidate 1, the
    // one the state says is active.
    let out = e.feed(
        1,
        &lost(11, &client(2, "10.211.2.2", Some("xclock"))),
        21_000,
    );
    assert_eq!(starts(&out), [(VIEW, 2)]);
}

#[test]
fn a_service_that_should_run_and_does_not_is_started_after_hello() {
    let e = running();
    let mut e = restarted(&e, 30_000);
    // A new server start (the X server restarted): nothing of it is replayed but a client
    // without a window, which is no reason to believe the service is up.
    let server = ServerInfo {
        started_ms: 29_000,
        ..SERVER
    };
    e.hello(1, &server, 30_000);
    e.feed(1, &watched(1, &client(1, "10.211.1.2", None), true), 30_001);
    assert_eq!(starts(&e.replay_done(1, 2, 30_001)), [(VIEW, 0)]);
}

#[test]
fn flap_protection_holds_back_the_third_failover_in_the_window() {
    let mut e = running();
    let mut now = 10_000;
    let mut started = 0;
    let mut current = 1;
    for round in 0..4u32 {
        let seq = 10 + u64::from(round) * 2;
        let c = client(current, "10.211.1.2", Some("xclock"));
        let out = e.feed(1, &lost_at(seq, &c, now + 100), now + 100);
        started += starts(&out).len();
        // The started candidate connects (its window comes later).
        current = 10 + round;
        e.feed(
            1,
            &watched(seq + 1, &client(current, "10.211.1.2", None), false),
            now + 200,
        );
        now += 10_000;
    }
    assert_eq!(started, 2, "max_failovers = 2");
    let held = e.state().services["view"].deferred.unwrap();
    assert_eq!(
        held.until_ms,
        10_100 + 60_000,
        "the first failover leaves the window"
    );
    assert!(starts(&e.tick(held.until_ms - 1)).is_empty());
    assert_eq!(starts(&e.tick(held.until_ms)), [(VIEW, held.candidate)]);
}

#[test]
fn failovers_in_quick_succession_back_off() {
    let (mut e, first) = primary_started();
    // Every candidate exits at once (say, its program is missing).
    let out = e.exited(first, "exit status 127", 600);
    assert_eq!(starts(&out), [(VIEW, 1)], "the first failover is at once");
    let out = e.exited(attempt_of(&out), "exit status 127", 700);
    assert!(starts(&out).is_empty(), "the second waits");
    let held = e.state().services["view"].deferred.unwrap();
    assert_eq!(held.until_ms, 600 + flap::BACKOFF_MS);
    assert_eq!(starts(&e.tick(held.until_ms)), [(VIEW, 2)]);
}

#[test]
fn a_candidate_that_does_not_come_up_is_given_up_for_the_next() {
    let (mut e, attempt) = primary_started();
    assert!(starts(&e.tick(OPENED + 4999)).is_empty());
    let out = e.tick(OPENED + 5000);
    assert!(out.contains(&Command::Stop { attempt }), "{out:?}");
    assert_eq!(starts(&out), [(VIEW, 1)]);
}

#[test]
fn an_exit_before_coming_up_tries_the_next_candidate() {
    let (mut e, first) = primary_started();
    assert_eq!(
        starts(&e.exited(first, "exit status 255", 700)),
        [(VIEW, 1)]
    );
}

#[test]
fn another_client_that_may_match_does_not_take_over_a_start() {
    let (mut e, attempt) = primary_started();
    // An xdpyinfo from the same network connects and closes while view is starting.
    let passer = client(3, "10.211.1.9", None);
    e.feed(1, &watched(2, &passer, false), 600);
    e.feed(
        1,
        &ev(
            3,
            Body::Gone {
                client: passer,
                reason: GoneReason::Closed,
            },
        ),
        700,
    );
    // An xeyes too, lost: its class shows it is not view's.
    e.feed(1, &watched(4, &client(4, "10.211.1.9", None), false), 800);
    let out = e.feed(1, &lost(5, &client(4, "10.211.1.9", Some("xeyes"))), 900);
    assert!(starts(&out).is_empty(), "not blamed on view: {out:?}");
    // The candidate itself exits: that still counts.
    assert_eq!(
        starts(&e.exited(attempt, "exit status 1", 1000)),
        [(VIEW, 1)]
    );
}

fn gone(seq: u64, c: &ClientInfo, reason: GoneReason) -> Event {
    ev(
        seq,
        Body::Gone {
            client: c.clone(),
            reason,
        },
    )
}

#[test]
fn an_application_that_ends_by_itself_is_started_again_with_the_same_candidate() {
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    let out = e.feed(1, &gone(3, &c, GoneReason::Closed), 9000);
    assert_eq!(
        starts(&out),
        [(VIEW, 0)],
        "the primary again, its host is fine"
    );
    // After a failover it is the backup that comes back.
    let mut e = running();
    assert_eq!(starts(&e.feed(1, &lost(3, &c), 9000)), [(VIEW, 1)]);
    let backup = client(2, "10.211.2.2", Some("xclock"));
    e.feed(1, &watched(4, &backup, false), 9500);
    let out = e.feed(1, &gone(5, &backup, GoneReason::Closed), 12_000);
    assert_eq!(starts(&out), [(VIEW, 1)]);
}

#[test]
fn an_application_the_operator_killed_is_not_started_again() {
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    let out = e.feed(1, &gone(3, &c, GoneReason::Killed), 9000);
    assert!(starts(&out).is_empty());
    assert_eq!(
        e.state().services["view"].closed_on_server,
        Some(SERVER.started_ms)
    );
    e.hello(2, &SERVER, 10_000);
    assert!(starts(&e.replay_done(2, 4, 10_000)).is_empty());
}

#[test]
fn a_new_server_start_brings_back_what_was_closed_on_the_last_one() {
    // The operator's xkill holds for the server it was made on. The X server starts anew
    // while this launcher runs: the application comes back, as after any X server restart.
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.feed(1, &gone(3, &c, GoneReason::Killed), 9000);
    let server = ServerInfo {
        started_ms: 29_000,
        ..SERVER
    };
    e.hello(2, &server, 30_000);
    assert_eq!(starts(&e.replay_done(2, 1, 30_000)), [(VIEW, 0)]);
    // A backup whose client opted out comes back as that backup.
    let mut e = running();
    e.feed(1, &lost(3, &c), 9000);
    let backup = client(2, "10.211.2.2", Some("xclock"));
    e.feed(1, &watched(4, &backup, false), 9500);
    e.feed(1, &ev(5, Body::Unwatched { client: backup }), 10_000);
    e.hello(2, &server, 30_000);
    assert_eq!(starts(&e.replay_done(2, 1, 30_000)), [(VIEW, 1)]);
}

#[test]
fn with_restart_off_an_application_that_ends_by_itself_stays_ended() {
    let config = CONFIG.replacen(
        "start_primary = true",
        "start_primary = true\nrestart = false",
        1,
    );
    let mut e = Engine::new(
        Config::parse(&config).unwrap().services,
        State::default(),
        0,
    );
    e.hello(1, &SERVER, 0);
    assert_eq!(starts(&e.replay_done(1, 1, OPENED)), [(VIEW, 0)]);
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.feed(1, &watched(2, &c, false), 600);
    assert!(starts(&e.feed(1, &gone(3, &c, GoneReason::Closed), 9000)).is_empty());
    assert_eq!(
        e.state().services["view"].closed_on_server,
        Some(SERVER.started_ms)
    );
    e.hello(2, &SERVER, 10_000);
    assert!(starts(&e.replay_done(2, 4, 10_000)).is_empty());
}

#[test]
fn an_application_that_keeps_crashing_is_held_back_by_flap_protection() {
    let mut e = running();
    let mut now = 9000;
    let mut started = 0;
    for id in 1..=4u32 {
        let c = client(id, "10.211.1.2", Some("xclock"));
        e.feed(1, &watched(u64::from(id) * 10, &c, false), now);
        let out = e.feed(
            1,
            &gone(u64::from(id) * 10 + 1, &c, GoneReason::Closed),
            now + 1,
        );
        started += starts(&out).len();
        now += 1000;
    }
    // max_failovers = 2 within 1m: two restarts, then held back.
    assert_eq!(started, 2);
    assert!(e.state().services["view"].deferred.is_some());
}

#[test]
fn the_service_fails_over_when_its_last_client_is_lost() {
    let mut e = running();
    let second = client(2, "10.211.1.2", Some("xclock"));
    e.feed(1, &watched(3, &second, false), 7000);
    let first = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    assert!(starts(&first).is_empty(), "another client of it is up");
    assert_eq!(starts(&e.feed(1, &lost(5, &second), 9001)), [(VIEW, 1)]);
}

#[test]
fn an_old_clients_loss_during_the_failover_starts_nothing_more() {
    let mut e = running();
    let second = client(2, "10.211.1.2", Some("xclock"));
    e.feed(1, &watched(3, &second, false), 7000);
    // Both connections of the primary die in one cut; the second is reported after the
    // backup was started, by a restarted launcher that does not know it.
    e.feed(
        1,
        &lost_at(4, &client(1, "10.211.1.2", Some("xclock")), 9000),
        9000,
    );
    e.feed(1, &lost_at(5, &second, 9000), 9001);
    let mut e = restarted(&e, 9100);
    e.hello(1, &SERVER, 9100);
    let third = client(5, "10.211.1.2", Some("xclock"));
    let out = e.feed(1, &lost_at(6, &third, 9050), 9101);
    e.feed(1, &replayed(7), 9101);
    assert!(
        starts(&out).is_empty(),
        "last heard of before the backup started: {out:?}"
    );
}

#[test]
fn a_reused_client_id_is_a_new_client() {
    let mut e = running();
    // Client 1 left without an event the launcher saw (it opted out, say); its id comes
    // back for another program from the same network, which has no window.
    let other = client(1, "10.211.1.9", None);
    e.feed(1, &watched(3, &other, false), 9000);
    let out = e.feed(1, &lost(5, &other), 9200);
    assert!(
        starts(&out).is_empty(),
        "not taken for view's old client: {out:?}"
    );
}

/// `running()`, the primary (client 1) lost at 9000 and the backup up on host B with the
/// same id (the server reuses ids); then the launcher is killed before it acknowledged the
/// loss, and restarted: hello, and the replay shows the backup.
fn restarted_with_the_backup_on_a_reused_id() -> (Engine, ClientInfo) {
    let mut e = running();
    let primary = client(1, "10.211.1.2", Some("xclock"));
    assert_eq!(starts(&e.feed(1, &lost(3, &primary), 9000)), [(VIEW, 1)]);
    let backup = client(1, "10.211.2.2", Some("xclock"));
    e.feed(1, &watched(4, &client(1, "10.211.2.2", None), false), 9200);
    e.feed(1, &suspect(5, &backup), 9700);
    let mut e = restarted(&e, 20_000);
    e.hello(1, &SERVER, 20_000);
    e.feed(1, &watched(9, &backup, true), 20_001);
    e.feed(1, &replayed(10), 20_001);
    (e, primary)
}

#[test]
fn a_resent_loss_of_an_id_the_backup_reuses_leaves_the_backup_up() {
    let (mut e, primary) = restarted_with_the_backup_on_a_reused_id();
    // The unacknowledged loss comes after the replay, with its old seq (here after
    // `replayed` too, as a loss kept by an older module came).
    let out = e.feed(1, &lost(3, &primary), 20_002);
    assert!(starts(&out).is_empty(), "acted on already: {out:?}");
    assert_eq!(acks(&out), [3]);
    assert!(
        starts(&e.tick(20_002)).is_empty(),
        "the backup is up: nothing to start"
    );
    // The backup is still known as the service's: its own loss fails over.
    let out = e.feed(
        1,
        &lost(11, &client(1, "10.211.2.2", Some("xclock"))),
        25_000,
    );
    assert_eq!(starts(&out), [(VIEW, 2)]);
}

#[test]
fn resent_reports_of_another_client_that_had_the_backups_id_leave_the_backup_up() {
    let (mut e, _) = restarted_with_the_backup_on_a_reused_id();
    // A short-lived client of no service had the id in between; its events were not
    // acknowledged either.
    let stranger = client(1, "10.211.9.9", None);
    e.feed(1, &watched(6, &stranger, false), 20_002);
    e.feed(1, &suspect(7, &stranger), 20_003);
    let gone = ev(
        8,
        Body::Gone {
            client: stranger,
            reason: GoneReason::Closed,
        },
    );
    assert_eq!(acks(&e.feed(1, &gone, 20_004)), [8]);
    assert!(
        starts(&e.tick(20_004)).is_empty(),
        "the backup is up: nothing to start"
    );
}

#[test]
fn a_loss_of_no_service_is_only_acknowledged() {
    let mut e = running();
    let out = e.feed(1, &lost(3, &client(7, "10.9.9.9", Some("xeyes"))), 9000);
    assert!(starts(&out).is_empty());
    assert_eq!(acks(&out), [3]);
}

#[test]
fn next_deadline_covers_the_replays_end_starts_and_held_failovers() {
    let mut e = engine(State::default());
    assert_eq!(e.next_deadline(), None);
    e.hello(1, &SERVER, 100);
    assert_eq!(e.next_deadline(), None, "no timer waits for the replay");
    e.feed(1, &replayed(2), 150);
    assert_eq!(e.next_deadline(), Some(150), "what it leads to, at once");
    e.tick(150);
    assert_eq!(e.next_deadline(), Some(150 + 5000));
}

#[test]
fn max_failovers_zero_never_fails_over() {
    let config = Config::parse(
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"a\"], [\"b\"]]\nmax_failovers = 0\n",
    )
    .unwrap();
    let mut e = Engine::new(config.services, State::default(), 0);
    e.hello(1, &SERVER, 0);
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.feed(1, &watched(2, &c, true), 10);
    e.replay_done(1, 3, 10);
    assert!(starts(&e.feed(1, &lost(4, &c), 1000)).is_empty());
    assert!(starts(&e.tick(u64::MAX - 1)).is_empty());
    assert_eq!(e.next_deadline(), Some(u64::MAX));
}

fn suspect(seq: u64, c: &ClientInfo) -> Event {
    ev(
        seq,
        Body::Suspect {
            client: c.clone(),
            reason: LostReason::IdleTimeout,
            silent_ms: 1000,
        },
    )
}

#[test]
fn a_replayed_client_without_a_window_is_not_taken_for_a_service() {
    let e = running();
    let mut e = restarted(&e, 9000);
    e.hello(1, &SERVER, 9000);
    // The application on A (its class in the replay), and a windowless pulse on host B.
    e.feed(
        1,
        &watched(7, &client(1, "10.211.1.2", Some("xclock")), true),
        9001,
    );
    e.feed(1, &watched(8, &client(6, "10.211.2.2", None), true), 9001);
    assert!(starts(&e.replay_done(1, 9, 9001)).is_empty(), "view is up");
    let out = e.feed(
        1,
        &lost(10, &client(1, "10.211.1.2", Some("xclock"))),
        99_000,
    );
    assert_eq!(
        starts(&out),
        [(VIEW, 1)],
        "the pulse is not view's: {out:?}"
    );
}

const TWO: &str = r#"
[[service]]
name = "view"
match = { peer = "10.211.0.0/16", wm_class = "xclock" }
start = [["a"], ["b"]]
start_primary = true

[[service]]
name = "alarms"
match = { peer = "10.211.0.0/16", wm_class = "xalarm" }
start = [["a2"], ["b2"]]
start_primary = true
"#;

#[test]
fn two_services_on_one_host_are_told_apart_by_the_replayed_class() {
    let mut st = State::default();
    for name in ["view", "alarms"] {
        st.services.insert(
            name.into(),
            crate::state::ServiceState {
                active: Some(0),
                ..Default::default()
            },
        );
    }
    let mut e = Engine::new(Config::parse(TWO).unwrap().services, st, 0);
    e.hello(1, &SERVER, 0);
    e.feed(
        1,
        &watched(1, &client(1, "10.211.1.2", Some("xclock")), true),
        1,
    );
    e.feed(
        1,
        &watched(2, &client(2, "10.211.1.2", Some("xalarm")), true),
        1,
    );
    assert!(starts(&e.replay_done(1, 3, 1)).is_empty());
}

#[test]
fn an_old_connections_report_during_the_failover_changes_nothing() {
    let mut e = running();
    e.feed(1, &watched(3, &client(2, "10.211.1.2", None), false), 7000); // A's 2nd connection
    let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    assert_eq!(starts(&out), [(VIEW, 1)]);
    // The second connection goes suspect (with its class), then is lost.
    let out = e.feed(
        1,
        &suspect(5, &client(2, "10.211.1.2", Some("xclock"))),
        9100,
    );
    assert!(starts(&out).is_empty());
    assert_eq!(
        e.next_deadline(),
        Some(9000 + 5000),
        "still waiting for the backup"
    );
    let out = e.feed(
        1,
        &lost(6, &client(2, "10.211.1.2", Some("xclock"))),
        10_500,
    );
    assert!(
        starts(&out).is_empty(),
        "one failover for one outage: {out:?}"
    );
    // The backup is still starting: its deadline is there.
    assert_eq!(e.next_deadline(), Some(9000 + 5000));
}

#[test]
fn an_old_connection_replayed_to_a_restarted_launcher_changes_nothing() {
    let mut e = running();
    e.feed(1, &watched(3, &client(2, "10.211.1.2", None), false), 7000);
    e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    let mut e = restarted(&e, 9200);
    e.hello(1, &SERVER, 9200);
    e.feed(
        1,
        &watched(6, &client(2, "10.211.1.2", Some("xclock")), true),
        9201,
    );
    e.replay_done(1, 7, 9201);
    let out = e.feed(
        1,
        &lost(8, &client(2, "10.211.1.2", Some("xclock"))),
        10_500,
    );
    assert!(starts(&out).is_empty(), "{out:?}");
}

#[test]
fn a_held_back_failover_is_asked_again_with_the_new_configuration() {
    let with_max = |max: u32| {
        Config::parse(&format!(
            "[[service]]\nname = \"view\"\nmatch = {{ wm_class = \"xclock\" }}\nstart = [[\"a\"], [\"b\"]]\nmax_failovers = {max}\n"
        ))
        .unwrap()
        .services
    };
    let mut e = Engine::new(with_max(0), State::default(), 0);
    e.hello(1, &SERVER, 0);
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.feed(1, &watched(2, &c, true), 10);
    e.replay_done(1, 3, 10);
    e.feed(1, &lost(4, &c), 1000);
    assert!(e.state().services["view"].deferred.is_some());
    let mut r = Engine::new(with_max(5), e.state().clone(), 5000);
    r.hello(1, &SERVER, 5000);
    assert_eq!(starts(&r.replay_done(1, 5, 5000)), [(0, 1)]);
}

#[test]
fn an_application_the_operator_killed_stays_ended_across_a_launcher_restart() {
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    let closed = ev(
        3,
        Body::Gone {
            client: c,
            reason: GoneReason::Killed,
        },
    );
    e.feed(1, &closed, 9000);
    let mut r = restarted(&e, 20_000);
    r.hello(1, &SERVER, 20_000);
    assert!(starts(&r.replay_done(1, 4, 20_000)).is_empty());
    // A new server start (the display restarted): what should run comes back.
    let mut r = restarted(&r, 30_000);
    let server = ServerInfo {
        started_ms: 29_000,
        ..SERVER
    };
    r.hello(1, &server, 30_000);
    assert_eq!(starts(&r.replay_done(1, 1, 30_000)), [(VIEW, 0)]);
}

#[test]
fn a_running_application_the_state_does_not_know_is_not_started_again() {
    let mut e = engine(State::default());
    e.hello(1, &SERVER, 0);
    e.feed(
        1,
        &watched(1, &client(1, "10.211.1.2", Some("xclock")), true),
        1,
    );
    assert!(starts(&e.replay_done(1, 2, 1)).is_empty());
}

#[test]
fn a_restored_start_is_not_taken_up_by_a_windowless_stranger() {
    let mut e = running();
    let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    assert_eq!(starts(&out), [(VIEW, 1)]);
    let mut e = restarted(&e, 9200);
    e.hello(1, &SERVER, 9200);
    e.feed(1, &watched(6, &client(6, "10.211.2.2", None), true), 9201); // a pulse on B
    e.replay_done(1, 7, 9201);
    let out = e.tick(9201 + 5000);
    assert_eq!(starts(&out), [(VIEW, 2)], "{out:?}");
}

#[test]
fn a_resent_events_old_stamp_does_not_set_the_servers_clock_back() {
    let (e, _) = primary_started();
    let mut e = restarted(&e, 10_000);
    let hello = ev(
        10,
        Body::Hello {
            server: SERVER.clone(),
        },
    );
    e.feed(1, &hello, 10_000);
    // Two connections of the primary were lost at 4000 while the launcher was away; both
    // losses are resent, stamped 4000, after the replay, before `replayed`.
    let first = lost_at(2, &client(1, "10.211.1.2", Some("xclock")), 4000);
    let out = e.feed(1, &first, 10_001);
    assert_eq!(starts(&out), [(VIEW, 1)]);
    assert_eq!(e.state().services["view"].started_server_ms, Some(10_001));
    let second = lost_at(3, &client(2, "10.211.1.2", Some("xclock")), 4000);
    assert!(starts(&e.feed(1, &second, 10_002)).is_empty());
    assert!(starts(&e.replay_done(1, 11, 10_002)).is_empty());
}

#[test]
fn a_server_clock_set_back_is_followed_outside_the_opening_burst() {
    let mut e = running();
    // The server's clock is set back by a minute; its events say so from now on.
    let back = |ms: u64| ms - 60_000;
    let out = e.feed(
        1,
        &lost_at(3, &client(1, "10.211.1.2", Some("xclock")), back(70_000)),
        70_000,
    );
    assert_eq!(starts(&out), [(VIEW, 1)]);
    // The backup connects a second later: it is the new candidate, not an older client.
    let backup = client(2, "10.211.2.2", None);
    let mut watched_back = watched(4, &backup, false);
    watched_back.at_ms = back(71_000);
    e.feed(1, &watched_back, 71_000);
    let out = e.tick(70_000 + 5000);
    assert!(starts(&out).is_empty(), "the backup is up: {out:?}");
}

#[test]
fn a_windowless_sidecar_does_not_veto_the_failover_of_the_application() {
    let (mut e, _) = primary_started();
    // The application and a pulse from the same host connect while the primary starts.
    e.feed(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
    e.feed(1, &watched(3, &client(2, "10.211.1.2", None), false), 700);
    e.tick(OPENED + 5000);
    let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    assert_eq!(starts(&out), [(VIEW, 1)], "{out:?}");
}

#[test]
fn a_connection_made_before_the_start_is_older_whatever_its_silence_says() {
    let mut e = running();
    e.feed(1, &watched(3, &client(2, "10.211.1.2", None), false), 7000); // A's 2nd connection
    e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
    // A grab held the server for a while: the silence counted is short, as if it were new.
    let mut s = suspect(5, &client(2, "10.211.1.2", Some("xclock")));
    if let Body::Suspect { silent_ms, .. } = &mut s.body {
        *silent_ms = 10;
    }
    e.feed(1, &s, 9500);
    assert_eq!(
        e.next_deadline(),
        Some(9000 + 5000),
        "still waiting for the backup"
    );
}

#[test]
fn nothing_times_out_while_a_reconnect_burst_is_coming() {
    let (mut e, _) = primary_started();
    e.feed(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
    // The module reconnects just before the start's deadline.
    e.disconnected(1);
    e.hello(2, &SERVER, OPENED + 4900);
    assert!(e.tick(OPENED + 5000).is_empty(), "wait for the replay");
    assert_eq!(e.next_deadline(), None);
    e.feed(
        2,
        &watched(9, &client(1, "10.211.1.2", Some("xclock")), true),
        OPENED + 5100,
    );
    assert!(starts(&e.replay_done(2, 10, OPENED + 5100)).is_empty());
}

#[test]
fn services_started_at_once_get_one_new_client_each() {
    let mut e = Engine::new(Config::parse(TWO).unwrap().services, State::default(), 0);
    e.hello(1, &SERVER, 0);
    assert_eq!(starts(&e.replay_done(1, 1, OPENED)), [(0, 0), (1, 0)]);
    // Both connect from the same host before either has a window.
    e.feed(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
    e.feed(1, &watched(3, &client(2, "10.211.1.2", None), false), 700);
    assert!(
        starts(&e.tick(OPENED + 10_000)).is_empty(),
        "both are up, neither is given up"
    );
}

#[test]
fn a_client_is_described_on_one_line_whatever_its_fields_hold() {
    let mut c = client(1, "10.211.1.2", Some("xclock"));
    assert_eq!(
        describe(&c),
        "0x00200000 peer 10.211.1.2:40000 wm_class \"xclock\"/\"XCLOCK\""
    );
    c.id = "0x1\n2026 INFO started candidate".into();
    c.peer = Some("10.0.0.1:1\u{1b}[31m\u{9b}".into());
    let text = describe(&c);
    assert!(!text.contains(char::is_control), "{text:?}");
}

#[test]
fn forged_hellos_and_replayed_losses_do_not_get_past_flap_protection() {
    // A peer the launcher allows says hello as a new server each time, then reports the
    // service's client lost again (the same seq: each hello forgets what was handled).
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    let mut started = 0;
    for round in 0..10u64 {
        let forged = ServerInfo {
            started_ms: 2000 + round,
            ..SERVER
        };
        let now = 9000 + round * 100;
        e.hello(2, &forged, now);
        e.feed(2, &replayed(2), now);
        e.feed(2, &watched(3, &c, false), now + 1);
        started += starts(&e.feed(2, &lost(4, &c), now + 2)).len();
        started += starts(&e.tick(now + 2)).len();
    }
    // max_failovers = 2 within the window: no more starts than that, however many hellos.
    assert!((1..=2).contains(&started), "{started} starts");
}

/// Decision 60: for a service matched by `peer`, a client of its class from another host is
/// not another instance of it.
mod impersonation {
    use super::*;

    /// `running()` (its primary, client 1 on host A, taken for the launcher's start), and
    /// a client from host B in the range that took the service's class, known by it (a
    /// `suspect`: it was slow once).
    fn running_with_an_impersonator() -> (Engine, ClientInfo) {
        let mut e = running();
        let stranger = client(2, "10.211.2.2", Some("xclock"));
        let out = e.feed(1, &suspect(3, &stranger), 7000);
        assert!(starts(&out).is_empty());
        (e, stranger)
    }

    /// [`running_with_an_impersonator`], then the launcher restarted and told of both by the
    /// replay: the primary (returned) and the stranger, neither of a start of this run.
    fn restarted_with_both_replayed() -> (Engine, ClientInfo) {
        let (e, stranger) = running_with_an_impersonator();
        let mut e = restarted(&e, 8000);
        e.hello(1, &SERVER, 8000);
        let primary = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &watched(5, &primary, true), 8001);
        e.feed(1, &watched(6, &stranger, true), 8001);
        e.feed(1, &replayed(7), 8001);
        (e, primary)
    }

    #[test]
    fn a_same_class_client_from_another_host_does_not_hold_back_the_failover() {
        let (mut e, _) = running_with_an_impersonator();
        let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        assert_eq!(starts(&out), [(VIEW, 1)], "{out:?}");
    }

    #[test]
    fn nor_after_a_launcher_restart_that_replays_both() {
        let (mut e, primary) = restarted_with_both_replayed();
        assert!(starts(&e.tick(8001)).is_empty(), "view is up");
        let out = e.feed(1, &lost(8, &primary), 9000);
        assert_eq!(starts(&out), [(VIEW, 1)], "{out:?}");
    }

    #[test]
    fn a_second_client_of_the_same_host_keeps_the_service_up() {
        let e = running();
        // A restarted launcher: no client is taken for a start of its own; host A has two
        // connections of the application, the second over IPv6 as a v4-mapped address.
        let mut e = restarted(&e, 8000);
        e.hello(1, &SERVER, 8000);
        let first = client(1, "10.211.1.2", Some("xclock"));
        let mut second = client(2, "10.211.1.2", Some("xclock"));
        second.transport = Transport::Tcp6;
        second.peer = Some("[::ffff:10.211.1.2]:40001".into());
        e.feed(1, &watched(5, &first, true), 8001);
        e.feed(1, &watched(6, &second, true), 8001);
        e.replay_done(1, 7, 8001);
        let out = e.feed(1, &lost(8, &first), 9000);
        assert!(starts(&out).is_empty(), "host A's other client: {out:?}");
        assert_eq!(starts(&e.feed(1, &lost(9, &second), 9001)), [(VIEW, 1)]);
    }

    #[test]
    fn the_impersonators_own_loss_does_not_fail_over_the_launchers_candidate() {
        let (mut e, stranger) = running_with_an_impersonator();
        // The candidate's class is known too (it was slow once).
        e.feed(
            1,
            &suspect(4, &client(1, "10.211.1.2", Some("xclock"))),
            8000,
        );
        let out = e.feed(1, &lost(5, &stranger), 9000);
        assert!(starts(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn without_a_peer_key_any_client_of_the_class_keeps_the_service_up() {
        const TERM: usize = 1;
        let mut e = engine(State::default());
        e.hello(1, &SERVER, 0);
        let a = client(1, "10.211.1.2", Some("xterm"));
        let b = client(2, "10.211.2.2", Some("xterm"));
        e.feed(1, &watched(1, &a, true), 1);
        e.feed(1, &watched(2, &b, true), 1);
        e.replay_done(1, 3, 1);
        let out = e.feed(1, &lost(4, &a), 9000);
        assert!(starts(&out).is_empty(), "no host to tie it to: {out:?}");
        assert_eq!(starts(&e.feed(1, &lost(5, &b), 9001)), [(TERM, 0)]);
    }

    #[test]
    fn a_same_class_client_from_another_host_does_not_end_a_held_back_failover() {
        let mut e = running();
        let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        let backup = attempt_of(&out);
        // The backup exits at once: the next failover waits for flap protection's backoff.
        assert!(starts(&e.exited(backup, "exit status 1", 9100)).is_empty());
        let held = e.state().services["view"].deferred.unwrap();
        // A client from host B connects meanwhile and shows the service's class: that is
        // not the service back.
        e.feed(1, &watched(5, &client(2, "10.211.2.2", None), false), 9200);
        e.feed(
            1,
            &suspect(6, &client(2, "10.211.2.2", Some("xclock"))),
            9800,
        );
        assert!(e.state().services["view"].deferred.is_some());
        assert_eq!(starts(&e.tick(held.until_ms)), [(VIEW, held.candidate)]);
    }

    #[test]
    fn a_client_of_the_lost_ones_host_does_end_a_held_back_failover() {
        let mut e = running();
        let out = e.feed(1, &lost(4, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        assert!(starts(&e.exited(attempt_of(&out), "exit status 1", 9100)).is_empty());
        let held = e.state().services["view"].deferred.unwrap();
        // Host A is back, and so is its application (started there by someone).
        let back = client(7, "10.211.1.2", None);
        e.feed(1, &watched(5, &back, false), 9200);
        e.feed(
            1,
            &suspect(6, &client(7, "10.211.1.2", Some("xclock"))),
            9800,
        );
        assert!(e.state().services["view"].deferred.is_none());
        assert!(starts(&e.tick(held.until_ms)).is_empty(), "up by itself");
    }

    #[test]
    fn a_same_class_client_from_another_host_does_not_make_a_failover_up() {
        let (mut e, primary) = restarted_with_both_replayed();
        let stranger = client(2, "10.211.2.2", Some("xclock"));
        e.tick(8001);
        assert_eq!(starts(&e.feed(1, &lost(8, &primary), 9000)), [(VIEW, 1)]);
        // The stranger, replayed (when it connected is not known) and last heard of after
        // the start, shows its class while the backup starts: the start is not taken for
        // up. (The old rule failed here already: the stranger held the failover back.)
        e.feed(1, &suspect(9, &stranger), 10_500);
        assert_eq!(e.next_deadline(), Some(9000 + 5000), "still starting");
        let out = e.tick(9000 + 5000);
        assert_eq!(starts(&out), [(VIEW, 2)], "the backup never came: {out:?}");
    }
}

/// The opening burst ends at the module's `replayed`, not after a while.
mod opening {
    use super::*;

    #[test]
    fn nothing_is_started_before_replayed_however_long_it_takes_and_at_once_after() {
        let mut e = engine(State::default());
        e.hello(1, &SERVER, 0);
        e.feed(1, &watched(2, &client(6, "10.211.2.2", None), true), 1);
        assert!(
            e.tick(600_000).is_empty(),
            "no start_primary on half a view"
        );
        assert_eq!(e.next_deadline(), None, "and no timer stands in for it");
        let out = e.feed(1, &replayed(3), 600_001);
        assert!(
            starts(&out).is_empty(),
            "decided at the tick, after what came with it"
        );
        assert_eq!(starts(&e.tick(600_001)), [(VIEW, 0)]);
    }

    #[test]
    fn a_connection_that_ends_before_replayed_leaves_nothing_decided() {
        let (e, _) = primary_started();
        // A launcher restarted while the primary starts: it is restored as starting.
        let mut e = restarted(&e, 10_000);
        e.hello(1, &SERVER, 10_000);
        e.feed(1, &watched(2, &client(6, "10.211.2.2", None), true), 10_001);
        assert!(
            e.disconnected(1).is_empty(),
            "no other connection to replay"
        );
        // Half a view: the start is neither given up nor taken for up, nothing else starts.
        assert!(e.tick(10_002).is_empty());
        assert!(e.tick(1_000_000).is_empty());
        assert_eq!(e.next_deadline(), None);
        // A late `replayed` of the ended connection makes it no whole view either.
        e.feed(1, &replayed(3), 1_000_001);
        assert!(e.tick(1_000_001).is_empty());
        // The module connects again: its whole view shows the primary up.
        e.hello(2, &SERVER, 1_000_100);
        let primary = client(1, "10.211.1.2", Some("xclock"));
        e.feed(2, &watched(4, &primary, true), 1_000_101);
        assert!(starts(&e.replay_done(2, 5, 1_000_101)).is_empty());
        assert_eq!(e.next_deadline(), None, "up: nothing to wait for");
    }

    #[test]
    fn a_stray_hello_that_ends_before_its_replayed_has_the_servers_link_replay_again() {
        // The module's link (1) is whole; another program says hello (2) as another server
        // start and goes. Its hello made the launcher forget the clients: the link is closed,
        // so that the module connects again and replays, rather than left frozen on half a
        // view for as long as it stays up.
        let (mut e, attempt) = primary_started();
        let stray = ServerInfo {
            started_ms: 7,
            ..SERVER
        };
        e.feed(1, &watched(2, &client(1, "10.211.1.9", None), false), 600);
        e.hello(2, &stray, 1000);
        assert_eq!(e.disconnected(2), [Command::Close { conn: 1 }]);
        // What the closed link still delivers is not acted on: the module sends it again.
        let kept = gone(
            3,
            &client(1, "10.211.1.9", Some("xeyes")),
            GoneReason::Closed,
        );
        assert!(e.feed(1, &kept, 1100).is_empty());
        assert!(
            e.disconnected(1).is_empty(),
            "its own end changes nothing more"
        );
        // The module's next connection: hello, its replay, what it kept, `replayed`.
        e.hello(3, &SERVER, 1200);
        assert_eq!(acks(&e.feed(3, &kept, 1200)), [3]);
        assert!(starts(&e.replay_done(3, 4, 1200)).is_empty());
        // The start times out again, at its deadline.
        assert_eq!(e.next_deadline(), Some(OPENED + 5000));
        let out = e.tick(OPENED + 5000);
        assert!(out.contains(&Command::Stop { attempt }), "{out:?}");
        assert_eq!(starts(&out), [(VIEW, 1)]);
    }

    /// A program that says hello as another server start (the stray of the tests above).
    const STRAY: ServerInfo = ServerInfo {
        display: String::new(),
        pid: 2,
        started_ms: 7,
    };

    /// Link 1's whole view shows an xterm (service `term`) up; the primary of `view` starts.
    fn term_up() -> (Engine, ClientInfo) {
        let mut e = engine(State::default());
        e.hello(1, &SERVER, 0);
        let xterm = client(3, "10.211.1.3", Some("xterm"));
        e.feed(1, &watched(2, &xterm, true), 10);
        assert_eq!(starts(&e.replay_done(1, 3, OPENED)), [(VIEW, 0)]);
        (e, xterm)
    }

    #[test]
    fn an_xkill_while_a_stray_is_connected_holds_for_the_real_server_start() {
        // The review's case: the stray's hello made its server start the state's at once, so
        // the xkill on the real link was stamped with the stray's, and the reconnect's whole
        // view started the killed application again.
        let (mut e, xterm) = term_up();
        e.hello(2, &STRAY, 1000);
        assert_eq!(
            acks(&e.feed(1, &gone(4, &xterm, GoneReason::Killed), 1100)),
            [4]
        );
        assert_eq!(
            e.state().services["term"].closed_on_server,
            Some(SERVER.started_ms)
        );
        assert_eq!(e.disconnected(2), [Command::Close { conn: 1 }]);
        e.hello(3, &SERVER, 1200);
        let out = e.replay_done(3, 5, 1200);
        assert!(starts(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn a_strays_replay_changes_nothing_of_the_real_server_start() {
        // Its `watched` xterm is not the real server's: the xkilled service stays closed.
        let (mut e, xterm) = term_up();
        e.feed(1, &gone(4, &xterm, GoneReason::Killed), 900);
        e.hello(2, &STRAY, 1000);
        assert!(e.feed(2, &watched(1, &xterm, true), 1000).is_empty());
        assert_eq!(
            e.state().services["term"].closed_on_server,
            Some(SERVER.started_ms)
        );
        e.disconnected(2);
        e.hello(3, &SERVER, 1200);
        assert!(starts(&e.replay_done(3, 5, 1200)).is_empty());
    }

    #[test]
    fn events_acted_on_before_a_stray_hello_are_known_as_acted_on_after_it() {
        // The loss was acted on, its ack did not reach the module (the close came first): it
        // comes again on the next connection, and is a duplicate, not a second failover.
        let mut e = running();
        let primary = client(1, "10.211.1.2", Some("xclock"));
        assert_eq!(starts(&e.feed(1, &lost(3, &primary), 9000)), [(VIEW, 1)]);
        let handled = e.state().handled.clone();
        e.hello(2, &STRAY, 9100);
        assert_eq!(e.state().handled, handled, "the state file keeps them");
        assert_eq!(e.disconnected(2), [Command::Close { conn: 1 }]);
        e.hello(3, &SERVER, 9200);
        let out = e.feed(3, &lost_at(3, &primary, 9000), 9200);
        assert_eq!(acks(&out), [3]);
        assert!(starts(&out).is_empty(), "{out:?}");
        assert!(starts(&e.replay_done(3, 4, 9200)).is_empty());
    }

    #[test]
    fn what_a_failover_replaces_survives_a_stray_hello() {
        let mut e = running();
        e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        let before = e.state().services["view"].replacing.clone();
        assert!(before.is_some());
        e.hello(2, &STRAY, 9100);
        assert_eq!(e.state().services["view"].replacing, before);
        e.disconnected(2);
        e.hello(3, &SERVER, 9200);
        e.replay_done(3, 4, 9200);
        assert_eq!(e.state().services["view"].replacing, before);
    }

    #[test]
    fn a_new_server_starts_burst_is_taken_in_at_its_replayed_with_that_servers_seqs() {
        let mut e = running();
        assert_eq!(
            starts(&e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000)),
            [(VIEW, 1)]
        );
        // The X server starts anew; its module kept a loss of the backup, numbered 3 too.
        let server = ServerInfo {
            started_ms: 20_000,
            ..SERVER
        };
        e.hello(2, &server, 30_000);
        let backup = client(2, "10.211.2.2", Some("xclock"));
        assert!(
            e.feed(2, &lost_at(3, &backup, 29_900), 30_000).is_empty(),
            "held, not acknowledged"
        );
        let out = e.replay_done(2, 4, 30_100);
        assert_eq!(
            acks(&out),
            [3],
            "not taken for the last server start's seq 3"
        );
        assert_eq!(starts(&out), [(VIEW, 2)]);
        assert!(
            out.contains(&Command::Close { conn: 1 }),
            "the last server start's link: {out:?}"
        );
        assert_eq!(e.state().handled.server_started_ms, 20_000);
        assert!(e.state().handled.contains(3));
    }

    #[test]
    fn a_connection_held_for_another_server_start_is_closed_when_the_view_is_whole() {
        let mut e = running();
        e.hello(2, &STRAY, 9000);
        // The real module's link reconnects after the stray's hello; its replay is whole.
        e.hello(3, &SERVER, 9100);
        let primary = client(1, "10.211.1.2", Some("xclock"));
        e.feed(3, &watched(3, &primary, true), 9100);
        let out = e.replay_done(3, 4, 9100);
        assert_eq!(out, [Command::Close { conn: 2 }]);
        assert!(
            e.feed(2, &replayed(2), 9200).is_empty(),
            "closed: nothing of it is taken in"
        );
        assert_eq!(e.state().handled.server_started_ms, SERVER.started_ms);
    }

    #[test]
    fn a_peer_that_never_ends_its_replay_is_not_held_without_bound() {
        let mut e = running();
        e.hello(2, &STRAY, 9000);
        let c = client(4, "10.211.1.4", None);
        let (seq, out) = (1..20_000)
            .map(|seq| (seq, e.feed(2, &suspect(seq, &c), 9000)))
            .find(|(_, out)| !out.is_empty())
            .expect("closed");
        assert!(seq > 6000, "closed after {seq}");
        // And, as for any end before its replayed, the other connections replay.
        assert_eq!(
            out,
            [Command::Close { conn: 2 }, Command::Close { conn: 1 }]
        );
        assert!(e.feed(2, &suspect(20_000, &c), 9000).is_empty(), "closed");
        assert_eq!(e.state().handled.server_started_ms, SERVER.started_ms);
    }

    #[test]
    fn a_reconnect_holds_timeouts_until_its_replayed() {
        let (mut e, attempt) = primary_started();
        e.hello(2, &SERVER, 1000);
        let out = e.tick(OPENED + 5000);
        assert!(!out.contains(&Command::Stop { attempt }), "{out:?}");
        let out = e.replay_done(2, 2, OPENED + 6000);
        assert!(out.contains(&Command::Stop { attempt }), "{out:?}");
        assert_eq!(starts(&out), [(VIEW, 1)]);
    }

    #[test]
    fn a_second_replayed_on_a_connection_decides_nothing_again() {
        let (mut e, _) = primary_started();
        assert!(e.replay_done(1, 3, 600).is_empty());
        assert_eq!(e.next_deadline(), Some(OPENED + 5000));
    }
}

/// `updated`: a client's class or declared service became known after its `watched`.
mod updated {
    use super::*;

    #[test]
    fn a_starting_candidate_is_up_when_its_class_shows_not_at_its_deadline() {
        let (mut e, attempt) = primary_started();
        e.feed(1, &watched(2, &client(1, "10.211.1.2", None), false), 600);
        let out = e.feed(
            1,
            &updated(3, &client(1, "10.211.1.2", Some("xclock"))),
            900,
        );
        assert!(out.contains(&Command::Save), "{out:?}");
        assert_eq!(acks(&out), [3]);
        assert_eq!(e.next_deadline(), None, "up: its start does not time out");
        let out = e.tick(OPENED + 5000);
        assert!(!out.contains(&Command::Stop { attempt }), "{out:?}");
        assert_eq!(e.state().services["view"].active, Some(0));
        assert_eq!(e.state().services["view"].starting_since_ms, None);
    }

    #[test]
    fn a_client_that_shows_another_class_is_let_go_and_the_start_times_out() {
        let (mut e, attempt) = primary_started();
        e.feed(1, &watched(2, &client(3, "10.211.1.9", None), false), 600);
        e.feed(1, &updated(3, &client(3, "10.211.1.9", Some("xeyes"))), 900);
        let out = e.tick(OPENED + 5000);
        assert!(out.contains(&Command::Stop { attempt }), "{out:?}");
        assert_eq!(starts(&out), [(VIEW, 1)]);
    }

    #[test]
    fn a_running_client_is_attributed_when_its_class_shows() {
        const TERM: usize = 1;
        let mut e = engine(State::default());
        e.hello(1, &SERVER, 0);
        e.replay_done(1, 1, 1);
        // An xterm starts by itself: nothing of `term` is starting, so the bare connection
        // is nobody's; its window makes it term's.
        e.feed(1, &watched(2, &client(7, "10.211.3.3", None), false), 100);
        assert_eq!(e.state().services["term"].active, None);
        let out = e.feed(1, &updated(3, &client(7, "10.211.3.3", Some("xterm"))), 200);
        assert!(out.contains(&Command::Save));
        assert_eq!(e.state().services["term"].active, Some(0));
        // Its loss is term's loss.
        let out = e.feed(1, &lost(4, &client(7, "10.211.3.3", Some("xterm"))), 9000);
        assert_eq!(starts(&out), [(TERM, 0)]);
    }

    #[test]
    fn a_declared_service_attributes_as_a_class_does() {
        let config = "[[service]]\nname = \"hmi\"\nmatch = { service = \"hmi\" }\n\
                      start = [[\"a\"], [\"b\"]]\nstart_primary = true\n";
        let mut e = Engine::new(Config::parse(config).unwrap().services, State::default(), 0);
        e.hello(1, &SERVER, 0);
        let attempt = attempt_of(&e.replay_done(1, 1, OPENED));
        let mut c = client(1, "10.211.1.2", None);
        e.feed(1, &watched(2, &c, false), 600);
        c.service = Some("hmi".into());
        e.feed(1, &updated(3, &c), 700);
        assert_eq!(e.next_deadline(), None, "up");
        assert!(!e.tick(OPENED + 5000).contains(&Command::Stop { attempt }));
    }

    #[test]
    fn the_overlay_is_not_taken_for_a_starting_application() {
        // `lifesign overlay` connects during a start: local, service `lifesign-overlay`, no
        // window of a class. Said at once or in an `updated`, its declared service shows it
        // is not the application, whose match names a class only.
        let config = "[[service]]\nname = \"hmi\"\nmatch = { wm_class = \"hmi\" }\n\
                      start = [[\"a\"], [\"b\"]]\nstart_primary = true\n\
                      startup_timeout = \"5s\"\n";
        let overlay = |id: u32, service: Option<&str>| ClientInfo {
            id: ClientInfo::format_id(id << 21),
            index: id,
            transport: Transport::Local,
            peer: None,
            pid: Some(4242),
            command: Some("lifesign overlay".into()),
            service: service.map(Into::into),
            wm_class: None,
        };
        for declared_in_watched in [true, false] {
            let mut e = Engine::new(Config::parse(config).unwrap().services, State::default(), 0);
            e.hello(1, &SERVER, 0);
            let attempt = attempt_of(&e.replay_done(1, 1, OPENED));
            let o = overlay(1, Some("lifesign-overlay"));
            if declared_in_watched {
                e.feed(1, &watched(2, &o, false), 600);
            } else {
                e.feed(1, &watched(2, &overlay(1, None), false), 600);
                e.feed(1, &updated(3, &o), 700);
            }
            let out = e.tick(OPENED + 5000);
            assert!(
                out.contains(&Command::Stop { attempt }),
                "declared in watched: {declared_in_watched}: {out:?}"
            );
            assert_eq!(starts(&out), [(0, 1)], "the start is given up for the next");
        }
    }

    #[test]
    fn an_older_updated_than_the_replay_changes_nothing() {
        // A resent `updated` (made before the replay, which shows the client as it is now).
        let mut e = engine(State::default());
        e.hello(1, &SERVER, 0);
        let now_class = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &watched(5, &now_class, true), 1);
        let mut out = e.feed(1, &updated(3, &client(1, "10.211.1.2", Some("xeyes"))), 2);
        // The state's first server start: taken in with its `replayed`.
        out.extend(e.replay_done(1, 6, 2));
        assert_eq!(acks(&out), [3]);
        assert!(starts(&out).is_empty(), "view is up, as replayed");
    }

    #[test]
    fn a_client_that_never_shows_a_class_still_makes_its_start_up_at_the_deadline() {
        // `running()` is that case: its start is up, its loss fails over.
        let mut e = running();
        assert_eq!(e.state().services["view"].active, Some(0));
        let out = e.feed(1, &lost(3, &client(1, "10.211.1.2", None)), 9000);
        assert_eq!(starts(&out), [(VIEW, 1)], "{out:?}");
    }
}

/// What the state file tells the overlay: the start that replaces a client that ended.
mod replacing {
    use super::*;
    use crate::state::Replacing;

    fn replacing(e: &Engine) -> Option<Replacing> {
        e.state().services["view"].replacing.clone()
    }

    #[test]
    fn a_failover_names_the_lost_client_until_the_backup_is_up() {
        let mut e = running();
        assert_eq!(replacing(&e), None, "the primary replaces nothing");
        let primary = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &lost(3, &primary), 9000);
        assert_eq!(
            replacing(&e),
            Some(Replacing {
                client: "0x00200000".into(),
                candidate: 1,
                command: vec!["b".into()],
                since_ms: 9000,
            })
        );
        // The backup connects: not up yet.
        e.feed(1, &watched(4, &client(2, "10.211.2.2", None), false), 9200);
        assert!(replacing(&e).is_some());
        // Its window shows: up, and nothing is being started any more.
        let out = e.feed(
            1,
            &updated(5, &client(2, "10.211.2.2", Some("xclock"))),
            9500,
        );
        assert!(out.contains(&Command::Save));
        assert_eq!(replacing(&e), None);
    }

    #[test]
    fn it_follows_the_start_to_the_next_candidate_and_through_flap_protection() {
        let mut e = running();
        let out = e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        // The backup exits (after flap protection's first backoff): the next is started.
        let out = e.exited(attempt_of(&out), "exit status 1", 10_000);
        let r = replacing(&e).unwrap();
        assert_eq!(
            (r.client.as_str(), r.candidate, r.command, r.since_ms),
            ("0x00200000", 2, vec!["c".to_owned()], 10_000)
        );
        // max_failovers = 2: the next is held back, and still to come.
        e.exited(attempt_of(&out), "exit status 1", 10_100);
        let held = e.state().services["view"].deferred.unwrap();
        let r = replacing(&e).unwrap();
        assert_eq!(
            (r.client.as_str(), r.candidate),
            ("0x00200000", held.candidate)
        );
        let out = e.tick(held.until_ms);
        assert_eq!(starts(&out), [(VIEW, held.candidate)]);
        assert_eq!(replacing(&e).unwrap().since_ms, held.until_ms);
    }

    #[test]
    fn a_restart_in_place_names_the_client_that_ended() {
        let mut e = running();
        let c = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &gone(3, &c, GoneReason::Closed), 9000);
        let r = replacing(&e).unwrap();
        assert_eq!((r.client.as_str(), r.candidate), ("0x00200000", 0));
    }

    #[test]
    fn nothing_is_being_started_when_none_is_to_come() {
        let config = "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\n\
                      start = [[\"a\"], [\"b\"]]\nmax_failovers = 0\n";
        let mut e = Engine::new(Config::parse(config).unwrap().services, State::default(), 0);
        e.hello(1, &SERVER, 0);
        let c = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &watched(2, &c, true), 10);
        e.replay_done(1, 3, 10);
        e.feed(1, &lost(4, &c), 1000);
        assert!(e.state().services["view"].deferred.is_some());
        assert_eq!(replacing(&e), None);
        // Nor after the operator's xkill.
        let mut e = running();
        let c = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &gone(3, &c, GoneReason::Killed), 9000);
        assert_eq!(replacing(&e), None);
    }

    #[test]
    fn a_restarted_launcher_keeps_it_for_the_start_under_way_and_a_new_server_drops_it() {
        let mut e = running();
        e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        let mut r = restarted(&e, 9500);
        assert_eq!(replacing(&r).unwrap().client, "0x00200000");
        r.hello(1, &SERVER, 9500);
        assert!(
            replacing(&r).is_some(),
            "the same server: the client is still its"
        );
        let new_server = ServerInfo {
            started_ms: 9400,
            ..SERVER
        };
        r.hello(2, &new_server, 9600);
        assert!(
            replacing(&r).is_some(),
            "not before the new server start's replay is whole"
        );
        let out = r.replay_done(2, 1, 9700);
        assert!(out.contains(&Command::Save));
        assert_eq!(replacing(&r), None);
    }

    #[test]
    fn an_old_state_file_without_it_loads() {
        let old = r#"{"services":{"view":{"active":1,"starting_since_ms":null,"started_server_ms":5,"closed_on_server":null,"deferred":null,"failovers":[4]}},"handled":{"server_started_ms":3,"seqs":[2]}}"#;
        let st: State = serde_json::from_str(old).unwrap();
        assert_eq!(st.services["view"].replacing, None);
        assert_eq!(st.services["view"].active, Some(1));
        let written = serde_json::to_string(&st).unwrap();
        assert!(!written.contains("replacing"), "{written}");
    }
}

/// `unwatched`: a client that sent Unwatch; the server will not report its end.
mod unwatched {
    use super::*;

    fn unwatched(seq: u64, c: &ClientInfo) -> Event {
        ev(seq, Body::Unwatched { client: c.clone() })
    }

    /// `running()`, its client's class known (it showed a window).
    fn running_with_class() -> (Engine, ClientInfo) {
        let mut e = running();
        let c = client(1, "10.211.1.2", Some("xclock"));
        e.feed(1, &updated(3, &c), 7000);
        (e, c)
    }

    #[test]
    fn the_services_client_unwatched_leaves_it_unsupervised_and_nothing_is_started() {
        let (mut e, c) = running_with_class();
        let out = e.feed(1, &unwatched(4, &c), 8000);
        assert!(starts(&out).is_empty());
        assert_eq!(acks(&out), [4]);
        assert!(out.contains(&Command::Save));
        let st = &e.state().services["view"];
        assert_eq!(st.closed_on_server, Some(SERVER.started_ms));
        // It runs unwatched: no `hello` and no restart of the launcher starts it again.
        e.hello(2, &SERVER, 9000);
        assert!(starts(&e.replay_done(2, 5, 9000)).is_empty());
        let mut r = restarted(&e, 10_000);
        r.hello(1, &SERVER, 10_000);
        assert!(starts(&r.replay_done(1, 6, 10_000)).is_empty());
        // Watched again (it opted in anew): the service is up, and its loss fails over.
        let out = r.feed(1, &watched(7, &c, false), 11_000);
        assert!(out.contains(&Command::Save));
        assert_eq!(starts(&r.feed(1, &lost(8, &c), 12_000)), [(VIEW, 1)]);
    }

    #[test]
    fn an_unwatched_client_no_longer_holds_back_the_failover_of_the_others() {
        let (mut e, c) = running_with_class();
        let second = client(2, "10.211.1.2", Some("xclock"));
        e.feed(1, &watched(4, &second, false), 7500);
        let out = e.feed(1, &unwatched(5, &second), 8000);
        assert!(starts(&out).is_empty());
        assert_eq!(e.state().services["view"].active, Some(0), "still up");
        assert_eq!(starts(&e.feed(1, &lost(6, &c), 9000)), [(VIEW, 1)]);
    }

    #[test]
    fn a_restarted_launcher_that_gets_it_again_does_not_start_the_service() {
        let (e, c) = running_with_class();
        let mut r = restarted(&e, 20_000);
        r.hello(1, &SERVER, 20_000);
        // Not replayed (it is not watched); its `unwatched` comes again before `replayed`.
        r.feed(1, &unwatched(4, &c), 20_001);
        assert!(starts(&r.replay_done(1, 9, 20_001)).is_empty());
        assert_eq!(
            r.state().services["view"].closed_on_server,
            Some(SERVER.started_ms)
        );
    }

    #[test]
    fn a_backup_that_opts_out_and_in_again_fails_over_to_the_next_host_not_its_own() {
        let mut e = running();
        e.feed(1, &lost(3, &client(1, "10.211.1.2", Some("xclock"))), 9000);
        let backup = client(2, "10.211.2.2", Some("xclock"));
        e.feed(1, &watched(4, &backup, false), 9500);
        assert_eq!(e.state().services["view"].active, Some(1));
        e.feed(1, &unwatched(5, &backup), 10_000);
        // It opts in again: watched anew, up, the backup still.
        let out = e.feed(1, &watched(6, &backup, false), 11_000);
        assert!(out.contains(&Command::Save));
        assert_eq!(e.state().services["view"].active, Some(1));
        assert_eq!(e.state().services["view"].closed_on_server, None);
        assert_eq!(starts(&e.feed(1, &lost(7, &backup), 20_000)), [(VIEW, 2)]);
    }

    #[test]
    fn an_unwatched_stranger_changes_nothing() {
        let (mut e, _) = running_with_class();
        let stranger = client(9, "10.9.9.9", None);
        e.feed(1, &watched(4, &stranger, false), 7500);
        let out = e.feed(1, &unwatched(5, &stranger), 8000);
        assert_eq!(out, [Command::Ack { conn: 1, seq: 5 }]);
        assert_eq!(e.state().services["view"].active, Some(0));
    }
}

#[test]
fn a_recovered_client_is_acknowledged_and_nothing_is_started() {
    let mut e = running();
    let c = client(1, "10.211.1.2", Some("xclock"));
    e.feed(1, &suspect(3, &c), 8000);
    let out = e.feed(
        1,
        &ev(
            4,
            Body::Recovered {
                client: c,
                silent_ms: 1500,
            },
        ),
        8500,
    );
    assert!(starts(&out).is_empty());
    assert_eq!(acks(&out), [4]);
}
