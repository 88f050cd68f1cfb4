//! A launcher's session with servers: each line as the daemon's reader takes it
//! (`wire::parse_line`, hello first, a breach ends the connection), handed to the engine as
//! the daemon's main loop does, with time passing and started candidates exiting. Whatever
//! a peer sends, the launcher must not fall over, and what the engine asks the daemon to do
//! must be doable: a start names a service and candidate of the configuration (the daemon
//! indexes by them), an ack goes to the connection of the event.
//!
//! Input: lines. An empty line stands for the oldest candidate still starting exiting
//! before it came up; any other line is a line from the current connection.

use lifesign_launcher::Config;
use lifesign_launcher::engine::{Command, Engine};
use lifesign_launcher::state::State;
use lifesign_launcher::wire::parse_line;
use lifesign_proto::event::Body;
use std::collections::VecDeque;
use std::sync::OnceLock;

/// The example's service, and one that fails over on `gone` too, by declared service name.
const CONFIG: &str = r#"
[[service]]
name = "plant-view"
match = { peer = "10.0.0.0/24", wm_class = "xclock" }
start = [["xclock"], ["ssh", "host-b", "xclock"]]
start_primary = true
max_failovers = 3
window = "1m"
startup_timeout = "2s"

[[service]]
name = "hmi"
match = { service = "hmi" }
start = [["zenity"], ["ssh", "host-b", "zenity"], ["ssh", "host-c", "zenity"]]
on = ["lost", "gone"]
"#;

fn config() -> &'static Config {
    static CONFIG_PARSED: OnceLock<Config> = OnceLock::new();
    CONFIG_PARSED.get_or_init(|| Config::parse(CONFIG).expect("the session's config is valid"))
}

/// How much time passes between two lines, in ms (a start times out after ten of them).
const STEP_MS: u64 = 200;

pub fn check(data: &[u8]) {
    let config = config();
    let mut now = 1_800_000_000_000;
    let mut engine = Engine::new(config.services.clone(), State::default(), now);
    let mut conn = 1;
    let mut said_hello = false;
    let mut starting: VecDeque<u64> = VecDeque::new();
    for line in data.split(|b| *b == b'\n') {
        now += STEP_MS;
        let commands = if line.is_empty() {
            match starting.pop_front() {
                Some(attempt) => engine.exited(attempt, "exit status 1", now),
                None => Vec::new(),
            }
        } else {
            match parse_line(line) {
                Ok(event) if said_hello || matches!(event.body, Body::Hello { .. }) => {
                    said_hello = true;
                    engine.event(conn, &event, now)
                }
                // A breach, or not hello first: the daemon closes the connection, and the
                // server connects again.
                _ => {
                    let commands = engine.disconnected(conn);
                    conn += 1;
                    said_hello = false;
                    commands
                }
            }
        };
        let mut closed = doable(config, &commands, conn, &mut starting);
        let commands = engine.tick(now);
        closed |= doable(config, &commands, conn, &mut starting);
        if closed {
            // The daemon closes it; its reader then reports the end, and the server connects
            // again.
            let commands = engine.disconnected(conn);
            doable(config, &commands, conn, &mut starting);
            conn += 1;
            said_hello = false;
        }
    }
    let state = serde_json::to_vec(engine.state()).expect("the state serializes");
    let again: State = serde_json::from_slice(&state).expect("a saved state loads");
    assert_eq!(&again, engine.state());
}

/// What the daemon would carry out is within the configuration; starts are remembered to
/// exit later. True if the current connection is to be closed.
fn doable(config: &Config, commands: &[Command], conn: u64, starting: &mut VecDeque<u64>) -> bool {
    let mut closed = false;
    for command in commands {
        match *command {
            Command::Start {
                service,
                candidate,
                attempt,
            } => {
                let s = config.services.get(service).expect("a configured service");
                assert!(
                    candidate < s.start.len(),
                    "{} has no candidate {candidate}",
                    s.name
                );
                assert!(
                    !starting.contains(&attempt),
                    "attempt {attempt} started twice"
                );
                starting.push_back(attempt);
            }
            Command::Ack { conn: to, .. } => assert_eq!(to, conn, "an ack to another connection"),
            Command::Stop { attempt } => starting.retain(|a| *a != attempt),
            Command::Save => {}
            // Here one is open at a time: only it can be closed (a peer that sends more
            // before its `replayed` than a module does).
            Command::Close { conn: to } => {
                assert_eq!(to, conn, "closing connection {to}: none other is open");
                closed = true;
            }
        }
    }
    closed
}
