//! A `_NET_WM_PING` round: two clients with a window whose WM_PROTOCOLS lists
//! `_NET_WM_PING`, one answering every ping as EWMH says (sent back to the root), one never
//! reading; the server's own pings reach both, the silent one is lost at its timeout and
//! closed, the other stays.

use lifesign_proto::event::LostReason;
use lifesign_tests::Server;
use lifesign_tests::windows::wait_until;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// Creates and maps a top-level window that takes `_NET_WM_PING`; returns the atoms
/// (WM_PROTOCOLS, _NET_WM_PING).
fn ping_window(conn: &RustConnection, name: &str) -> (u32, u32) {
    let intern = |n: &str| {
        conn.intern_atom(false, n.as_bytes())
            .expect("InternAtom")
            .reply()
            .expect("an atom")
            .atom
    };
    let (wm_protocols, net_wm_ping) = (intern("WM_PROTOCOLS"), intern("_NET_WM_PING"));
    let root = conn.setup().roots[0].root;
    let window = conn.generate_id().expect("an id");
    conn.create_window(
        0,
        window,
        root,
        0,
        0,
        16,
        16,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .expect("CreateWindow");
    conn.change_property32(
        PropMode::REPLACE,
        window,
        wm_protocols,
        AtomEnum::ATOM,
        &[net_wm_ping],
    )
    .expect("WM_PROTOCOLS");
    let class = format!("{name}\0Memcheck\0");
    conn.change_property8(
        PropMode::REPLACE,
        window,
        AtomEnum::WM_CLASS,
        AtomEnum::STRING,
        class.as_bytes(),
    )
    .expect("WM_CLASS");
    conn.map_window(window).expect("MapWindow");
    conn.sync().expect("the window is made");
    (wm_protocols, net_wm_ping)
}

/// Answers every `_NET_WM_PING` until `stop`; counts the answers.
fn answer(conn: RustConnection, stop: Arc<AtomicBool>, answered: Arc<AtomicUsize>) {
    let (wm_protocols, net_wm_ping) = ping_window(&conn, "answerer");
    let root = conn.setup().roots[0].root;
    while !stop.load(Ordering::Relaxed) {
        match conn.poll_for_event() {
            Ok(Some(Event::ClientMessage(mut ping)))
                if ping.type_ == wm_protocols && ping.data.as_data32()[0] == net_wm_ping =>
            {
                ping.window = root;
                let mask = EventMask::SUBSTRUCTURE_NOTIFY | EventMask::SUBSTRUCTURE_REDIRECT;
                if conn.send_event(false, root, mask, ping).is_err() || conn.flush().is_err() {
                    return;
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(_)) => {}
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(_) => return,
        }
    }
}

pub fn run(server: &Server, timeout: Duration) {
    let since = super::last_seq(server);
    let answerer = server.connect();
    let answerer_id = super::id(&answerer);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let thread = thread::spawn({
        let (stop, answered) = (stop.clone(), answered.clone());
        move || answer(answerer, stop, answered)
    });

    let silent = server.connect();
    let silent_id = super::id(&silent);
    ping_window(&silent, "silent");
    wait_until(timeout, || super::lost(server, &silent_id, since).is_some())
        .expect("the client that does not answer is lost");
    let (reason, silent_ms) = super::lost(server, &silent_id, since).expect("lost");
    assert_eq!(reason, LostReason::WmPingTimeout);
    assert!(
        silent_ms >= 3000,
        "lost before WmPingTimeout: {silent_ms} ms"
    );
    wait_until(timeout, || super::is_closed(&silent)).expect("the lost client is closed");
    wait_until(timeout, || answered.load(Ordering::Relaxed) >= 3)
        .expect("the answering client is pinged again and again");
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("the answering thread");
    assert_eq!(
        super::lost(server, &answerer_id, since),
        None,
        "a client that answers was convicted"
    );
}
