//! Watching the display from a test's own x11rb client: which windows a client has.

use std::thread;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, MapState, PropMode, Window, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

/// A window's outer geometry in its parent's coordinates (its border included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn right(&self) -> i32 {
        self.x + self.w
    }

    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }

    pub fn encloses(&self, o: &Rect) -> bool {
        self.x <= o.x && self.y <= o.y && self.right() >= o.right() && self.bottom() >= o.bottom()
    }

    pub fn union(&self, o: &Rect) -> Rect {
        let (x, y) = (self.x.min(o.x), self.y.min(o.y));
        Rect {
            x,
            y,
            w: self.right().max(o.right()) - x,
            h: self.bottom().max(o.bottom()) - y,
        }
    }
}

/// The outer geometry of `window`, or `None` once it is gone.
pub fn outer(conn: &impl Connection, window: Window) -> Option<Rect> {
    let g = conn.get_geometry(window).ok()?.reply().ok()?;
    let b = i32::from(g.border_width);
    Some(Rect {
        x: g.x.into(),
        y: g.y.into(),
        w: i32::from(g.width) + 2 * b,
        h: i32::from(g.height) + 2 * b,
    })
}

/// Parses the contract's id (`"0x00a00000"`).
pub fn parse_id(id: &str) -> u32 {
    u32::from_str_radix(id.trim_start_matches("0x"), 16).expect("a hex client id")
}

/// The viewable top-level windows of the client whose resource-ID base is `base`.
pub fn mapped_windows(conn: &impl Connection, base: u32) -> Vec<Window> {
    let screen = &conn.setup().roots[0];
    let mask = conn.setup().resource_id_mask;
    let Ok(tree) = conn.query_tree(screen.root).map(|c| c.reply()) else {
        return Vec::new();
    };
    let Ok(tree) = tree else { return Vec::new() };
    tree.children
        .into_iter()
        .filter(|&w| w & !mask == base)
        .filter(|&w| {
            conn.get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE)
        })
        .collect()
}

/// The watched clients from `host` whose window of instance `name` is mapped (ListClients,
/// then the windows of each).
pub fn mapped_from(
    conn: &impl Connection,
    host: std::net::Ipv4Addr,
    name: &str,
) -> Vec<lifesign_proto::event::StatusEntry> {
    crate::lifesign::list_clients(conn)
        .into_iter()
        .filter(|e| {
            e.client
                .peer
                .as_deref()
                .and_then(|p| p.parse::<std::net::SocketAddr>().ok())
                .is_some_and(|p| p.ip() == host)
        })
        .filter(|e| e.client.wm_class.as_ref().is_some_and(|c| c[0] == name))
        .filter(|e| !mapped_windows(conn, parse_id(&e.client.id)).is_empty())
        .collect()
}

/// Makes a 10x10 top-level window of `conn` with WM_CLASS `class` (`b"instance\0Class\0"`,
/// as a client sets it), maps it and waits until the server has done so.
pub fn map_with_class(conn: &impl Connection, class: &[u8]) -> Window {
    let window = conn.generate_id().unwrap();
    let root = conn.setup().roots[0].root;
    conn.create_window(
        0,
        window,
        root,
        0,
        0,
        10,
        10,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &Default::default(),
    )
    .unwrap();
    conn.change_property8(
        PropMode::REPLACE,
        window,
        AtomEnum::WM_CLASS,
        AtomEnum::STRING,
        class,
    )
    .unwrap();
    conn.map_window(window).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
    window
}

/// Polls every 10 ms until `f` holds; returns when it did, or `None` after `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `event` is about a client from `addr`.
pub fn peer_is(event: &lifesign_proto::event::Event, addr: std::net::Ipv4Addr) -> bool {
    event
        .client()
        .and_then(|c| c.peer.as_deref())
        .is_some_and(|p| p.starts_with(&format!("{addr}:")))
}

/// Waits for the TCP client from `addr` to be watched and to map a window; returns its id
/// base.
pub fn watched_and_mapped(server: &crate::Server, addr: std::net::Ipv4Addr) -> u32 {
    use lifesign_proto::event::{Body, Transport};
    let watched = server
        .wait_for_event(Duration::from_secs(30), |e| {
            matches!(e.body, Body::Watched { .. }) && peer_is(e, addr)
        })
        .expect("the client from the host is watched");
    let client = watched.client().expect("a watched event names its client");
    assert_eq!(client.transport, Transport::Tcp);
    let base = parse_id(&client.id);
    let observer = server.connect();
    wait_until(Duration::from_secs(30), || {
        !mapped_windows(&observer, base).is_empty()
    })
    .expect("the client maps a window");
    base
}
