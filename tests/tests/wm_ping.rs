//! `_NET_WM_PING` sent by the server itself: an unmodified GTK client (zenity) answers it;
//! when its host goes away, it is lost within WmPing + WmPingTimeout; a window manager's own
//! pings still reach it and are answered to the window manager.

use lifesign_proto::event::{Body, LostReason};
use lifesign_tests::net::Lab;
use lifesign_tests::windows::{mapped_windows, parse_id, wait_until};
use lifesign_tests::{LOAD_MARGIN, Xorg};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _, EventMask,
};

fn zenity_server(lab: &Lab) -> lifesign_tests::Server {
    Xorg::new()
        .in_lab(lab)
        .option("WmPing", "1s")
        .option("WmPingTimeout", "2s")
        .option("TransportTimeout", "0")
        .option("Grace", "1s")
        .start()
}

/// Starts zenity on host 0 and returns its id base once its window is mapped.
fn zenity(server: &lifesign_tests::Server, lab: &Lab) -> (lifesign_tests::net::Proc, u32) {
    let proc = lab.host(0).spawn(
        server.display_number(),
        "zenity",
        &["--info", "--text", "lifesign"],
    );
    let watched = server
        .wait_for_event(Duration::from_secs(30), |e| {
            matches!(e.body, Body::Watched { .. })
        })
        .expect("zenity is watched");
    let base = parse_id(&watched.client().unwrap().id);
    let observer = server.connect();
    wait_until(Duration::from_secs(30), || {
        !mapped_windows(&observer, base).is_empty()
    })
    .expect("zenity maps its window");
    (proc, base)
}

#[test]
fn a_gtk_client_answers_and_is_lost_when_its_host_goes() {
    let lab = Lab::new(1);
    let server = zenity_server(&lab);
    let (_zenity, base) = zenity(&server, &lab);

    // Healthy: pinged every second after Grace, answers every time, stays.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| matches!(e.body, Body::Lost { .. })),
        "a healthy zenity was convicted: {}",
        server.log()
    );

    let observer = server.connect();
    let cut = Instant::now();
    lab.host(0).cut();
    let bound = Duration::from_millis(1000 + 2000 + 100) + LOAD_MARGIN;
    let gone = wait_until(bound + Duration::from_secs(5), || {
        mapped_windows(&observer, base).is_empty()
    })
    .expect("zenity's window disappears");
    let lost = server
        .wait_for_event(Duration::from_secs(5), |e| {
            matches!(e.body, Body::Lost { .. })
        })
        .expect("a lost event");
    eprintln!(
        "wm-ping-timeout: gone {:?} after the cut; {}",
        gone - cut,
        lost.to_line()
    );
    assert!(matches!(
        lost.body,
        Body::Lost {
            reason: LostReason::WmPingTimeout,
            ..
        }
    ));
    assert!(gone - cut <= bound, "too late: {:?}", gone - cut);
    let addr = lab.host(0).addr;
    wait_until(Duration::from_secs(2), || {
        lab.server_sockets_to(addr).is_empty()
    })
    .unwrap_or_else(|| panic!("sockets left: {:?}", lab.server_sockets_to(addr)));
}

#[test]
fn a_window_managers_own_ping_is_answered_to_it() {
    let lab = Lab::new(1);
    let server = zenity_server(&lab);
    let (_zenity, base) = zenity(&server, &lab);

    // A stand-in window manager: listens on the root window, pings zenity itself.
    let wm = server.connect();
    let root = wm.setup().roots[0].root;
    let mask = EventMask::SUBSTRUCTURE_NOTIFY;
    wm.change_window_attributes(root, &ChangeWindowAttributesAux::new().event_mask(mask))
        .unwrap();
    let intern = |name: &str| {
        wm.intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    };
    let (wm_protocols, net_wm_ping) = (intern("WM_PROTOCOLS"), intern("_NET_WM_PING"));
    let window = mapped_windows(&wm, base)[0];
    let timestamp = 0x7000_0001;
    let ping = ClientMessageEvent::new(
        32,
        window,
        wm_protocols,
        [net_wm_ping, timestamp, window, 0, 0],
    );
    wm.send_event(false, window, EventMask::NO_EVENT, ping)
        .unwrap();
    wm.flush().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    while Instant::now() < deadline && !answered {
        match wm.poll_for_event().unwrap() {
            Some(Event::ClientMessage(e)) => {
                let data = e.data.as_data32();
                answered =
                    e.type_ == wm_protocols && data[0] == net_wm_ping && data[1] == timestamp;
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(answered, "the window manager's ping was not answered to it");
}
