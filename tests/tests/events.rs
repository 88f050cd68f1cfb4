//! The events of issue 20 on a real Xorg: `recovered`, `unwatched`, `updated` and
//! `replayed` as the module makes them, and the same events as X events (SelectEvents,
//! `LifesignNotify`) to subscribers, who see what ListClients would show them, in their own
//! byte order.

use lifesign::{ALL_KINDS, Kind, Lifesign, Notify};
use lifesign_proto::ByteOrder;
use lifesign_proto::event::{Body, ClientInfo, Event};
use lifesign_proto::ext::{EXTENSION_NAME, Request};
use lifesign_tests::listener::Listener;
use lifesign_tests::net::Lab;
use lifesign_tests::raw::{Packet, RawClient};
use lifesign_tests::server::module_path;
use lifesign_tests::{Server, Xorg, Xvfb};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

const WAIT: Duration = Duration::from_secs(20);

fn id(conn: &RustConnection) -> u32 {
    conn.setup().resource_id_base
}

/// The `LifesignNotify` events `conn` receives, until `until` holds or `within` is over.
fn notifies(
    ls: &Lifesign,
    conn: &RustConnection,
    within: Duration,
    mut until: impl FnMut(&[Notify]) -> bool,
) -> Vec<Notify> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while Instant::now() < deadline && !until(&got) {
        conn.flush().unwrap();
        match conn.poll_for_event().expect("the connection") {
            Some(event) => got.extend(ls.parse_event(&event)),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    got
}

fn kinds_about(got: &[Notify], client: u32) -> Vec<Kind> {
    got.iter()
        .filter(|n| n.client == client)
        .map(|n| n.kind)
        .collect()
}

fn wait_watched(server: &Server, client: u32) -> Event {
    let id = ClientInfo::format_id(client);
    server
        .wait_for_event(WAIT, |e| {
            matches!(e.body, Body::Watched { .. }) && e.client().is_some_and(|c| c.id == id)
        })
        .expect("watched")
}

#[test]
fn a_remote_subscriber_gets_only_its_own_events_and_a_local_one_gets_all() {
    let lab = Lab::new(2);
    let server = Xorg::new().in_lab(&lab).option("Grace", "0").start();
    let a = lab.host(0).connect_x(server.display_number());
    let b = lab.host(1).connect_x(server.display_number());
    let local = server.connect();
    for conn in [&a, &b] {
        wait_watched(&server, id(conn));
    }
    let ls = Lifesign::new(&local).unwrap();
    assert_eq!(ls.query_version(&local).unwrap().minor, 2);
    ls.select_events(&local, ALL_KINDS).unwrap();
    let ls_a = Lifesign::new(&a).unwrap();
    ls_a.select_events(&a, ALL_KINDS).unwrap();

    // B declares a service (`updated`), an idle deadline of its own, falls silent
    // (`suspect` at half of it) and speaks again (`recovered`).
    let policy = lifesign::Policy::default()
        .idle_timeout(Duration::from_secs(4))
        .service("plant-view");
    Lifesign::new(&b).unwrap().watch(&b, &policy).unwrap();
    // A declares a service too, then opts out (`unwatched`).
    ls_a.watch(&a, &lifesign::Policy::default().service("a-view"))
        .unwrap();
    // A new name is told at the module's next pass (once, however often it changed).
    let a_id = ClientInfo::format_id(id(&a));
    server
        .wait_for_event(
            WAIT,
            |e| matches!(&e.body, Body::Updated { client } if client.id == a_id),
        )
        .expect("A's updated");
    ls_a.unwatch(&a).unwrap();
    let suspect_at = server
        .wait_for_event(WAIT, |e| {
            matches!(e.body, Body::Suspect { .. })
                && e.client()
                    .is_some_and(|c| c.id == ClientInfo::format_id(id(&b)))
        })
        .expect("B is suspect at half its deadline");
    b.get_input_focus().unwrap().reply().unwrap();
    let recovered = server
        .wait_for_event(WAIT, |e| matches!(e.body, Body::Recovered { .. }))
        .expect("B recovered");
    let Body::Recovered { silent_ms, .. } = recovered.body else {
        unreachable!()
    };
    assert!(
        (2000..4000).contains(&silent_ms),
        "silent {silent_ms} ms when it spoke after its suspect event ({suspect_at:?})"
    );

    let got = notifies(&ls, &local, WAIT, |got| {
        kinds_about(got, id(&b)).contains(&Kind::Recovered)
            && kinds_about(got, id(&a)).contains(&Kind::Unwatched)
    });
    assert_eq!(
        kinds_about(&got, id(&b)),
        [Kind::Updated, Kind::Suspect, Kind::Recovered],
        "the local subscriber sees B: {got:?}"
    );
    assert_eq!(
        kinds_about(&got, id(&a)),
        [Kind::Updated, Kind::Unwatched],
        "and A: {got:?}"
    );
    let notify = got.iter().find(|n| n.kind == Kind::Recovered).unwrap();
    assert_eq!(u64::from(notify.silent_ms), silent_ms);
    assert_eq!(u64::from(notify.seq), recovered.seq);
    assert_eq!(notify.at_ms, recovered.at_ms);

    // A is remote: under `ListClients local` it sees its own events, none of B's.
    let got_a = notifies(&ls_a, &a, Duration::from_secs(1), |_| false);
    assert_eq!(
        kinds_about(&got_a, id(&a)),
        [Kind::Updated, Kind::Unwatched],
        "{got_a:?}"
    );
    assert!(
        got_a.iter().all(|n| n.client == id(&a)),
        "a remote subscriber sees only itself: {got_a:?}"
    );
}

/// SelectEvents for all kinds, from a raw client in its own byte order.
fn subscribe_raw(client: &mut RawClient) -> u8 {
    let (major, first_event) = client
        .extension(EXTENSION_NAME)
        .expect("QueryExtension")
        .expect("the server has LIFESIGN");
    let select = Request::SelectEvents { mask: ALL_KINDS }.encode(major, client.order());
    client.send(&select).unwrap();
    client.round_trip().unwrap();
    first_event
}

/// The events a raw subscriber reads until `until` holds.
fn raw_notifies(
    client: &mut RawClient,
    first_event: u8,
    until: impl Fn(&[Notify]) -> bool,
) -> Vec<Notify> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while !until(&got) && Instant::now() < deadline {
        match client.read_packet() {
            Ok(Packet::Event(bytes)) if bytes[0] == first_event => {
                got.push(Notify::parse(&bytes, client.order()).expect("a LifesignNotify"));
            }
            Ok(_) => {}
            Err(e) => panic!("the subscriber's connection: {e}; got {got:?}"),
        }
    }
    got
}

#[test]
fn subscribers_of_either_byte_order_read_the_same_events() {
    let server = Xorg::new()
        .option("Watch", "all")
        .option("Grace", "0")
        .start();
    // The order of a client the server must swap for.
    let other = ByteOrder::for_client(true);
    let mut native = RawClient::connect(server.display_number(), ByteOrder::native()).unwrap();
    let mut swapped = RawClient::connect(server.display_number(), other).unwrap();
    let first_native = subscribe_raw(&mut native);
    let first_swapped = subscribe_raw(&mut swapped);
    assert_eq!(first_native, first_swapped);

    // An xlogo comes (watched), gets its class (updated), and is closed by its user (gone).
    let display = format!(":{}", server.display_number());
    let mut xlogo = Command::new("xlogo")
        .args(["-display", &display])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xlogo");
    let updated = server
        .wait_for_event(WAIT, |e| {
            matches!(&e.body, Body::Updated { client } if client.wm_class.as_ref().is_some_and(|c| c[1] == "XLogo"))
        })
        .expect("xlogo's class is told by an updated event");
    let xlogo_id = updated.client().unwrap().id.clone();
    let watched = server
        .events()
        .into_iter()
        .find(|e| matches!(e.body, Body::Watched { .. }) && e.client().unwrap().id == xlogo_id)
        .expect("watched first");
    assert!(watched.seq < updated.seq);
    xlogo.kill().unwrap();
    xlogo.wait().unwrap();
    let base = u32::from_str_radix(&xlogo_id[2..], 16).unwrap();
    let ended = |got: &[Notify]| got.iter().any(|n| n.client == base && n.kind == Kind::Gone);
    let a = raw_notifies(&mut native, first_native, ended);
    let b = raw_notifies(&mut swapped, first_swapped, ended);
    let about = |got: &[Notify]| -> Vec<Notify> {
        got.iter().filter(|n| n.client == base).copied().collect()
    };
    assert_eq!(
        about(&a).iter().map(|n| n.kind).collect::<Vec<_>>(),
        [Kind::Watched, Kind::Updated, Kind::Gone]
    );
    assert_eq!(about(&a), about(&b), "the same events in both orders");
    let gone = about(&a)[2];
    assert_eq!(gone.reason.map(|r| r.as_str()), Some("closed"));
    assert_eq!(u64::from(about(&a)[1].seq), updated.seq);
}

#[test]
fn a_new_launcher_connection_hears_the_replay_end_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("launcher.sock");
    let listener = Listener::bind(&path);
    let server = Xorg::new()
        .option("Watch", "all")
        .option("Launcher", path.to_str().unwrap())
        .start();
    let _a = server.connect();
    let _b = server.connect();
    assert!(listener.wait_for(WAIT, |r| {
        r.iter()
            .filter(|r| matches!(r.event.body, Body::Watched { replay: false, .. }))
            .count()
            >= 2
    }));
    // A second connection: hello, the replay of both, and its end with their count.
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    let listener = Listener::bind(&path);
    assert!(listener.wait_for(WAIT, |r| {
        r.iter()
            .any(|r| matches!(r.event.body, Body::Replayed { .. }))
    }));
    let got = listener.received();
    let bodies: Vec<&Body> = got.iter().map(|r| &r.event.body).collect();
    let replays = bodies
        .iter()
        .take_while(|b| !matches!(b, Body::Replayed { .. }))
        .filter(|b| matches!(b, Body::Watched { replay: true, .. }))
        .count();
    assert!(matches!(bodies[0], Body::Hello { .. }), "{bodies:?}");
    assert!(replays >= 2, "{bodies:?}");
    assert!(
        bodies.contains(&&Body::Replayed {
            count: replays as u64
        }),
        "{bodies:?}"
    );
}

#[test]
fn with_no_event_code_left_the_module_still_watches_and_refuses_only_select_events() {
    let (_dir, eater) = lifesign_tests::wrapper::build("eventeater.c", "eventeater");
    // Preloaded after the module, its extension is initialised first (as vector_writers'
    // test module is) and takes the 64 extension event codes' remainder.
    let preload = format!("{} {}", module_path().display(), eater.display());
    let server = Xvfb::with_options("Watch=all;IdleTimeout=2s;Grace=0")
        .env("LD_PRELOAD", &preload)
        .start();
    let log = server.log();
    assert!(log.contains("eventeater: took"), "{log}");
    assert!(log.contains("(WW) lifesign: no X event code left"), "{log}");
    assert!(log.contains("LIFESIGN 1.2 ready (major opcode"), "{log}");
    let conn = server.connect();
    let ls = Lifesign::new(&conn).expect("LIFESIGN is there");
    match ls.select_events(&conn, ALL_KINDS) {
        Err(lifesign::Error::Reply(x11rb::errors::ReplyError::X11Error(e))) => {
            assert_eq!(e.error_kind, x11rb::protocol::ErrorKind::Implementation)
        }
        other => panic!("SelectEvents without an event code: {other:?}"),
    }
    // Watching goes on: a silent client is lost at its deadline.
    let silent = server.connect();
    let id = ClientInfo::format_id(id(&silent));
    let lost = server.wait_for_event(WAIT, |e| {
        matches!(e.body, Body::Lost { .. }) && e.client().is_some_and(|c| c.id == id)
    });
    assert!(lost.is_some(), "{}", server.log());
}

#[test]
fn a_subscription_ends_with_its_client_and_is_not_inherited_by_the_next_at_its_index() {
    let lab = Lab::new(2);
    let server = Xorg::new().in_lab(&lab).option("Grace", "0").start();
    // A local subscriber, who may see everyone, leaves.
    let local = server.connect();
    let index_of = |conn: &RustConnection| {
        let watched = wait_watched(&server, id(conn));
        watched.client().expect("about a client").index
    };
    let local_index = index_of(&local);
    Lifesign::new(&local)
        .unwrap()
        .select_events(&local, ALL_KINDS)
        .unwrap();
    drop(local);
    // A remote client takes its index (the server gives the lowest free one) and never
    // subscribes: it must hear nothing of another client.
    let a = lab.host(0).connect_x(server.display_number());
    assert_eq!(index_of(&a), local_index, "the same index again");
    let b = lab.host(1).connect_x(server.display_number());
    wait_watched(&server, id(&b));
    drop(b);
    let ls = Lifesign::new(&a).unwrap();
    let heard = notifies(&ls, &a, Duration::from_secs(1), |_| false);
    assert!(heard.is_empty(), "{heard:?}");
}
