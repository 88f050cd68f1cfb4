//! The launcher's state file, as `State::load` reads it (`serde_json::from_slice`), and what
//! the engine makes of it at start: a launcher restarted on any state file it accepts must
//! not fall over.
//!
//! Input: the file's content.

use lifesign_launcher::Config;
use lifesign_launcher::engine::Engine;
use lifesign_launcher::state::State;
use lifesign_proto::event::{Body, Event, ServerInfo};
use std::sync::OnceLock;

/// The example configuration's services, which state files name.
fn services() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(include_str!("../../../launcher/launcher.example.toml"))
            .expect("the example config is valid")
    })
}

pub fn check(data: &[u8]) {
    let Ok(state) = serde_json::from_slice::<State>(data) else {
        return;
    };
    let written = serde_json::to_vec(&state).expect("a state serializes");
    let again: State = serde_json::from_slice(&written).expect("a written state loads");
    assert_eq!(again, state);

    // The launcher restarts on it, takes a server's hello and goes on.
    let now = 1_800_000_000_000;
    let mut engine = Engine::new(services().services.clone(), state, now);
    let server = ServerInfo {
        display: ":0".into(),
        pid: 1,
        started_ms: now - 1_000,
    };
    engine.hello(1, &server, now);
    // An empty replay: the launcher acts on its state.
    let _ = engine.event(1, &Event::new(2, now, Body::Replayed { count: 0 }), now);
    for later in [now + 1, now + 60_000, now + 3_600_000] {
        let _ = engine.tick(later);
        let _ = engine.next_deadline();
    }
}
