//! The first inputs of each target, from real ones: the requests and replies the tests and
//! the CLI exchange, the option values of docs/options.md, the shipped example config, the
//! event lines of docs/protocol.md. `cargo run -p lifesign-fuzz-check --example seed DIR`
//! writes them into `DIR/<target>/` for libFuzzer; the corpus test checks them all, so a
//! seed is checked even when minimisation dropped it.

use lifesign_proto::ByteOrder;
use lifesign_proto::core::{WmPing, opcode as core_opcode};
use lifesign_proto::event::{
    Body, ClientInfo, Event, GoneReason, LostReason, PolicyInfo, ServerInfo, StatusEntry,
    Transport, WatchState,
};
use lifesign_proto::ext::{
    DEFAULT, ListClientsReply, QueryVersionReply, Request, WatchRequest, flags, opcode,
};

const OPTIONS_MD: &str = include_str!("../../../docs/options.md");
const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");
const EXAMPLE_TOML: &str = include_str!("../../../launcher/launcher.example.toml");

const ORDERS: [(u8, ByteOrder); 2] = [(0, ByteOrder::LsbFirst), (1, ByteOrder::MsbFirst)];

/// The seeds of `target` (a name of [`crate::TARGETS`]).
pub fn of(target: &str) -> Vec<Vec<u8>> {
    match target {
        "ext_request" => ext_request(),
        "ext_reply" => ext_reply(),
        "core_pong" => core_pong(),
        "options" => options(),
        "duration" => durations(),
        "event_line" => event_lines(),
        "launcher_config" => launcher_configs(),
        "launcher_state" => launcher_states(),
        "launcher_session" => launcher_sessions(),
        other => panic!("no seeds for {other}"),
    }
}

/// The requests the tests send (tests/tests/opt_in.rs, malformed.rs) and the CLI's.
fn ext_request() -> Vec<Vec<u8>> {
    let watches = [
        WatchRequest::defaults(),
        WatchRequest {
            idle_timeout_ms: 3000,
            expect_noop_ms: 0,
            wm_ping_ms: DEFAULT,
            transport_timeout_ms: 10_000,
            flags: 0,
            service: "plant-view".into(),
            repaint_probe_ms: 1000,
            repaint_probe_timeout_ms: 2000,
        },
        WatchRequest {
            expect_noop_ms: 1500,
            flags: flags::HOST_SCOPE,
            service: "host-a".into(),
            ..WatchRequest::defaults()
        },
    ];
    let mut requests: Vec<Request> = watches.into_iter().map(Request::Watch).collect();
    requests.extend([
        Request::QueryVersion {
            client_major: 1,
            client_minor: 0,
        },
        Request::Unwatch,
        Request::ListClients,
        Request::SelectEvents {
            mask: lifesign_proto::notify::ALL_KINDS,
        },
        Request::SelectEvents { mask: 1 << 7 },
    ]);
    let mut seeds = Vec::new();
    for (bit, order) in ORDERS {
        for request in &requests {
            let bytes = request.encode(140, order);
            seeds.push([&[bytes[1], bit][..], &bytes].concat());
        }
        // malformed.rs: short, long and zero-length QueryVersion, an unknown minor opcode.
        let query = requests[3].encode(140, order);
        for len in [0, 4, 8, 16] {
            let mut bytes = query.clone();
            bytes.resize(len, 0);
            seeds.push([&[opcode::QUERY_VERSION, bit][..], &bytes].concat());
        }
        seeds.push([&[200, bit][..], &query].concat());
    }
    seeds
}

fn status_entry() -> StatusEntry {
    StatusEntry {
        client: client(),
        state: WatchState::Watching,
        idle_ms: 120,
        noop_age_ms: 900,
        policy: PolicyInfo {
            idle_timeout_ms: 3000,
            expect_noop_ms: 0,
            wm_ping_ms: 5000,
            transport_timeout_ms: 10_000,
            repaint_probe_ms: 0,
        },
    }
}

/// The replies a client receives: QueryVersion 1.0, ListClients of none and of one client.
fn ext_reply() -> Vec<Vec<u8>> {
    let list = serde_json::to_string(&[status_entry()]).expect("serializes");
    let mut seeds = Vec::new();
    for (bit, order) in ORDERS {
        let version = QueryVersionReply { major: 1, minor: 0 }.encode(7, order);
        seeds.push([&[bit][..], &version].concat());
        for json in ["[]".to_owned(), list.clone()] {
            let reply = ListClientsReply { json }.encode(8, order);
            seeds.push([&[bit | 2][..], &reply].concat());
        }
    }
    seeds
}

/// A client's answer to a ping as EWMH has it: the event sent back to the root window.
fn core_pong() -> Vec<Vec<u8>> {
    let (wm_protocols, net_wm_ping) = (300u32, 301u32);
    let ping = WmPing {
        window: 0x0040_0001,
        timestamp: 0x1234_5678,
        wm_protocols,
        net_wm_ping,
    };
    let mut seeds = Vec::new();
    for (bit, order) in ORDERS {
        let root = 0x2a5;
        let mut event = ping.event(0, order);
        event[4..8].copy_from_slice(&order.u32_bytes(root));
        let mut seed = vec![bit];
        seed.extend_from_slice(&wm_protocols.to_le_bytes());
        seed.extend_from_slice(&net_wm_ping.to_le_bytes());
        seed.extend_from_slice(&[core_opcode::SEND_EVENT, 0]);
        seed.extend_from_slice(&order.u16_bytes(11));
        seed.extend_from_slice(&order.u32_bytes(root));
        seed.extend_from_slice(&order.u32_bytes(0x18_0000));
        seed.extend_from_slice(&event);
        seeds.push(seed);
    }
    seeds
}

/// The words in backquotes of `text`.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// docs/options.md's table: each option with its default and with each value it accepts,
/// all defaults at once, LIFESIGN_OPTIONS as the README writes it, and the bad values of
/// tests/tests/bad_options.rs.
fn options() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut defaults = String::new();
    for row in OPTIONS_MD.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(name) = quoted(cells[1]).next() else {
            continue;
        };
        let default = quoted(cells[2]).next().unwrap_or("");
        defaults.push_str(&format!("{name}={default}\n"));
        for value in quoted(cells[3]).chain([default]) {
            seeds.push(format!("{name}={value}").into_bytes());
        }
    }
    seeds.push(defaults.into_bytes());
    for text in [
        "IdleTimeout=3s;Watch=all",
        "IdleTimeout=3s;Launcher=/run/lifesign/launcher.sock",
        "idle_timeout=3s\nWatch Peers=10.0.0.5,10.1.0.0/16,fd00::/8",
        "IdleTimeout=banana",
        "IdelTimeout=3s",
        "Grace=-5s\nTransportTimeout=100000m\nWmPing=5ms",
        "Watch=everything",
        "IdleTimeout",
        "IdleTimeout=3s\nIdleTimeout=4s",
    ] {
        seeds.push(text.as_bytes().to_vec());
    }
    seeds
}

/// Every duration docs/options.md writes, and the forms of the duration unit tests.
fn durations() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = quoted(OPTIONS_MD)
        .filter(|w| lifesign_formats::duration::parse(w).is_some())
        .map(|w| w.as_bytes().to_vec())
        .collect();
    for text in [
        " 3 s ",
        ".5s",
        "0.25m",
        "1.5ms",
        "0.0005s",
        "99999999999999999999",
    ] {
        seeds.push(text.as_bytes().to_vec());
    }
    seeds.sort();
    seeds.dedup();
    seeds
}

fn client() -> ClientInfo {
    ClientInfo {
        id: ClientInfo::format_id(0x0020_0000),
        index: 1,
        transport: Transport::Tcp,
        peer: Some("10.211.1.2:41942".into()),
        pid: Some(4242),
        command: Some("xclock -update 1".into()),
        service: Some("plant-view".into()),
        wm_class: Some(["xclock".into(), "XClock".into()]),
    }
}

/// docs/protocol.md's event line and ack, an event of every type, and the breaches of
/// tests/tests/launcher_daemon.rs.
fn event_lines() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = quoted(PROTOCOL_MD)
        .filter(|w| w.starts_with("{\"v\""))
        .map(|w| w.replace("seq\":N", "seq\":9").into_bytes())
        .collect();
    let bodies = [
        Body::Hello {
            server: ServerInfo {
                display: ":0".into(),
                pid: 9,
                started_ms: 5,
            },
        },
        Body::Watched {
            client: client(),
            replay: true,
        },
        Body::Suspect {
            client: client(),
            reason: LostReason::NoopMissed,
            silent_ms: 1500,
        },
        Body::Lost {
            client: ClientInfo {
                transport: Transport::Local,
                peer: None,
                wm_class: None,
                ..client()
            },
            reason: LostReason::WmPingTimeout,
            silent_ms: 3000,
        },
        Body::Gone {
            client: client(),
            reason: GoneReason::Killed,
        },
    ];
    for (seq, body) in bodies.into_iter().enumerate() {
        let line = Event::new(seq as u64 + 1, 1_796_124_660_002, body).to_line();
        seeds.push(line.replace("\"v\":1", "\"v\":2").into_bytes());
        seeds.push(line.into_bytes());
    }
    seeds.push(br#"{"v":1,"seq":1,"at_ms":1,"type":"died"}"#.to_vec());
    seeds.push(b"\xff\xfe".to_vec());
    seeds.push(over_the_bound());
    seeds
}

/// A `lost` line one byte over the launcher's bound (`wire::MAX_LINE`), its client's command
/// the padding: the one refusal a line can earn by its length alone. It also lifts
/// libFuzzer's input length, which is otherwise the corpus's longest or 4096 bytes.
fn over_the_bound() -> Vec<u8> {
    let line = |command: String| {
        let body = Body::Lost {
            client: ClientInfo {
                command: Some(command),
                ..client()
            },
            reason: LostReason::TransportTimeout,
            silent_ms: 10_000,
        };
        Event::new(1, 1_796_124_660_002, body).to_line()
    };
    let short = line(String::new()).len();
    let long = line("x".repeat(lifesign_launcher::wire::MAX_LINE + 1 - short));
    assert_eq!(long.len(), lifesign_launcher::wire::MAX_LINE + 1);
    long.into_bytes()
}

/// The shipped example, and the configs the tests and the demo write.
fn launcher_configs() -> Vec<Vec<u8>> {
    [
        EXAMPLE_TOML,
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"xclock\"]]\n",
        "[[service]]\nname = \"view\"\nmatch = { wm_class = \"xclock\" }\nstart = [[\"xclock\"]]\nmax_failovers = -1\n",
        "display = \"10.211.0.1:0\"\nsocket_mode = \"0660\"\nallow_uids = [0, 1000]\n\
         [[service]]\nname = \"clock\"\nmatch = { peer = \"10.211.0.0/16\", wm_class = \"clock\" }\n\
         start = [[\"ip\", \"netns\", \"exec\", \"a\", \"xclock\"], [\"ip\", \"netns\", \"exec\", \"b\", \"xclock\"]]\n\
         on = [\"lost\", \"gone\"]\nstart_primary = true\nmax_failovers = 2\nwindow = \"1m\"\nstartup_timeout = \"1.5s\"\n",
        "[[service]]\nname = \"hmi\"\nmatch = { service = \"hmi\", command = \"zenity\" }\nstart = [[\"zenity\", \"--info\"]]\n",
        "[overlay]\ncommand = [\"lifesign\", \"overlay\", \"--display\", \":0\"]\n",
        "[overlay]\ncommand = []\n",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(refused_services())
    .map(String::into_bytes)
    .collect()
}

/// A service refused for each of `Config::parse`'s own checks, as its tests write them
/// (launcher/src/config.rs): each is a branch of ours that a fuzzer finds only by making
/// every other part of a service valid at the same time, which in 20 million runs it did
/// not for an empty name or an empty `on`.
fn refused_services() -> impl Iterator<Item = String> {
    let valid = "match = { service = \"s\" }\nstart = [[\"x\"]]\n";
    [
        format!("name = \"\"\n{valid}"),
        format!("name = \"a\"\n{valid}on = []\n"),
        format!("name = \"a\"\n{valid}window = \"soon\"\n"),
        format!("name = \"a\"\n{valid}startup_timeout = \"0\"\n"),
        "name = \"a\"\nmatch = {}\nstart = [[\"x\"]]\n".to_owned(),
        "name = \"a\"\nmatch = { service = \"s\" }\nstart = [[]]\n".to_owned(),
        "name = \"a\"\nmatch = { peer = \"10.0.0\" }\nstart = [[\"x\"]]\n".to_owned(),
        format!("name = \"a\"\n{valid}[[service]]\nname = \"a\"\n{valid}"),
    ]
    .into_iter()
    .map(|service| format!("[[service]]\n{service}"))
    .chain(["socket_mode = \"1777\"\n".to_owned()])
}

/// A fresh state, and one as a launcher writes it mid-failover.
fn launcher_states() -> Vec<Vec<u8>> {
    use lifesign_launcher::state::{Deferred, Replacing, ServiceState, State};
    let mut state = State::default();
    state.services.insert(
        "plant-view".into(),
        ServiceState {
            active: Some(1),
            starting_since_ms: Some(1_796_124_660_002),
            started_server_ms: Some(1_796_124_660_000),
            closed_on_server: None,
            deferred: Some(Deferred {
                candidate: 0,
                until_ms: 1_796_124_700_000,
            }),
            failovers: vec![1_796_124_600_000, 1_796_124_660_002],
            replacing: Some(Replacing {
                client: "0x00a00000".into(),
                candidate: 0,
                command: vec!["xclock".into()],
                since_ms: 1_796_124_660_002,
            }),
        },
    );
    state.handled.for_server(1_796_124_000_000);
    state.handled.insert(3);
    state.handled.insert(7);
    [State::default(), state]
        .iter()
        .map(|s| serde_json::to_vec(s).expect("serializes"))
        .collect()
}

/// Sessions as the failover tests see them: a server says hello and replays its clients, the
/// primary is lost and its backup comes up, the backup exits before it is up, a client of
/// the other service goes; then the server restarts and resends.
fn launcher_sessions() -> Vec<Vec<u8>> {
    let view = |index: u32, port: u16| ClientInfo {
        id: ClientInfo::format_id(index << 21),
        index,
        transport: Transport::Tcp,
        peer: Some(format!("10.0.0.5:{port}")),
        pid: None,
        command: None,
        service: None,
        wm_class: Some(["xclock".into(), "XClock".into()]),
    };
    let hmi = ClientInfo {
        transport: Transport::Local,
        peer: None,
        pid: Some(77),
        command: Some("zenity --info".into()),
        service: Some("hmi".into()),
        wm_class: Some(["zenity".into(), "Zenity".into()]),
        ..view(3, 0)
    };
    let at = 1_800_000_000_000u64;
    let hello = |started_ms: u64| Body::Hello {
        server: ServerInfo {
            display: ":0".into(),
            pid: 9,
            started_ms,
        },
    };
    let lines = |bodies: Vec<Body>| -> Vec<String> {
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| Event::new(i as u64 + 1, at + 200 * i as u64, b).to_line())
            .collect()
    };
    let failover = lines(vec![
        hello(at - 5_000),
        Body::Watched {
            client: view(1, 41942),
            replay: true,
        },
        Body::Watched {
            client: hmi.clone(),
            replay: true,
        },
        Body::Replayed { count: 2 },
        Body::Suspect {
            client: view(1, 41942),
            reason: LostReason::IdleTimeout,
            silent_ms: 1500,
        },
        Body::Recovered {
            client: view(1, 41942),
            silent_ms: 1700,
        },
        Body::Lost {
            client: view(1, 41942),
            reason: LostReason::IdleTimeout,
            silent_ms: 3000,
        },
        Body::Watched {
            client: ClientInfo {
                wm_class: None,
                ..view(2, 41950)
            },
            replay: false,
        },
        Body::Updated {
            client: view(2, 41950),
        },
        Body::Gone {
            client: hmi.clone(),
            reason: GoneReason::Closed,
        },
    ]);
    let mut exits = lines(vec![
        hello(at - 5_000),
        Body::Replayed { count: 0 },
        Body::Lost {
            client: hmi.clone(),
            reason: LostReason::NoopMissed,
            silent_ms: 2000,
        },
    ]);
    exits.extend(["".into(), "".into(), "".into()]);
    let mut restart = failover.clone();
    restart.push("not json".into());
    restart.extend(lines(vec![
        hello(at + 60_000),
        Body::Replayed { count: 0 },
        Body::Lost {
            client: view(2, 41950),
            reason: LostReason::Reset,
            silent_ms: 0,
        },
    ]));
    // Flap protection: plant-view (at most 3 failovers a minute) loses its client four times;
    // the fourth failover is held back, then a client of it comes up by itself.
    let mut flapping = vec![hello(at - 5_000), Body::Replayed { count: 0 }];
    for index in 1..=4 {
        let client = view(index, 41940 + index as u16);
        flapping.push(Body::Watched {
            client: client.clone(),
            replay: false,
        });
        flapping.push(Body::Lost {
            client,
            reason: LostReason::IdleTimeout,
            silent_ms: 3000,
        });
    }
    flapping.push(Body::Watched {
        client: view(5, 41945),
        replay: false,
    });
    // A service's client that ends by itself (plant-view fails over on `lost` only).
    let ends = lines(vec![
        hello(at - 5_000),
        Body::Watched {
            client: view(1, 41942),
            replay: true,
        },
        Body::Replayed { count: 1 },
        Body::Gone {
            client: view(1, 41942),
            reason: GoneReason::Closed,
        },
    ]);
    // The application's client opts out (Unwatch): it is not started in its place.
    let opts_out = lines(vec![
        hello(at - 5_000),
        Body::Watched {
            client: view(1, 41942),
            replay: true,
        },
        Body::Replayed { count: 1 },
        Body::Unwatched {
            client: view(1, 41942),
        },
    ]);
    [failover, exits, restart, lines(flapping), ends, opts_out]
        .iter()
        .map(|session| session.join("\n").into_bytes())
        .collect()
}
