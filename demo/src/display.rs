//! What the demo reads from the display, as any X client could: the root's children, their
//! geometry and properties, and which watched client owns each (ListClients). It finds the
//! application windows to label and the marks `lifesign overlay` draws (override-redirect
//! windows of class `LifesignOverlay`, their text in WM_NAME).

use lifesign_proto::event::ClientInfo;
use lifesign_tests::lifesign::list_clients;
pub use lifesign_tests::windows::{Rect, outer};
use lifesign_tests::windows::{mapped_windows, parse_id};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, MapState, Window,
};

/// The overlay's frame colour (client/src/bin/lifesign/overlay/marks.rs, docs/cli.md).
pub const FRAME_RGB: [u8; 3] = [0xff, 0x8c, 0x00];
/// The overlay's placeholder panel.
pub const PANEL_RGB: [u8; 3] = [0x20, 0x20, 0x20];
/// The placeholder's text (its lines after the first).
pub const PANEL_TEXT_RGB: [u8; 3] = [0xe0, 0xe0, 0xe0];
/// The root's background in the demo: a neutral slate grey, so that the white xclocks, the
/// grey zenity, the orange frames and the near-black placeholders all stand out from it
/// (the server's default root is black, as dark as a placeholder).
pub const ROOT_RGB: [u8; 3] = [0x70, 0x80, 0x90];

/// Paints the root window in [`ROOT_RGB`] (a TrueColor screen's pixel is its RGB value).
pub fn paint_root(conn: &impl Connection) -> Result<(), String> {
    let root = conn.setup().roots[0].root;
    let [r, g, b] = ROOT_RGB;
    let pixel = u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b);
    let e = |e: x11rb::errors::ConnectionError| format!("paint the root: {e}");
    conn.change_window_attributes(
        root,
        &ChangeWindowAttributesAux::new().background_pixel(pixel),
    )
    .map_err(e)?;
    conn.clear_area(false, root, 0, 0, 0, 0).map_err(e)?;
    conn.flush().map_err(e)
}

/// Whether `lifesign overlay` follows the root's children: its last step before it looks at
/// the screen is to select SubstructureNotify on the root, which no other client of the
/// demo does (there is no window manager).
pub fn overlay_ready(conn: &impl Connection) -> bool {
    let root = conn.setup().roots[0].root;
    conn.get_window_attributes(root)
        .ok()
        .and_then(|c| c.reply().ok())
        .is_some_and(|a| a.all_event_masks.contains(EventMask::SUBSTRUCTURE_NOTIFY))
}

/// One of the overlay's marks as the server shows it.
#[derive(Clone, Debug)]
pub struct Mark {
    pub outer: Rect,
    /// Its text (WM_NAME): `no sign of life for 1.5 s / ...` for a frame, `lost: ...` for
    /// a placeholder.
    pub name: String,
}

impl Mark {
    pub fn is_placeholder(&self) -> bool {
        self.name.starts_with("lost: ")
    }
}

fn text_property(conn: &impl Connection, window: Window, atom: AtomEnum) -> Option<String> {
    let p = conn
        .get_property(false, window, atom, AtomEnum::STRING, 0, 1024)
        .ok()?
        .reply()
        .ok()?;
    // STRING is Latin-1.
    Some(p.value.iter().map(|&b| char::from(b)).collect())
}

/// The overlay's mapped marks: override-redirect root children of class `LifesignOverlay`.
pub fn marks(conn: &impl Connection) -> Vec<Mark> {
    let root = conn.setup().roots[0].root;
    let Some(tree) = conn.query_tree(root).ok().and_then(|c| c.reply().ok()) else {
        return Vec::new();
    };
    tree.children
        .into_iter()
        .filter(|&w| {
            conn.get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.override_redirect && a.map_state == MapState::VIEWABLE)
        })
        .filter(|&w| {
            text_property(conn, w, AtomEnum::WM_CLASS)
                .is_some_and(|c| c.starts_with("lifesign-overlay\0"))
        })
        .filter_map(|w| {
            Some(Mark {
                outer: outer(conn, w)?,
                name: text_property(conn, w, AtomEnum::WM_NAME)?,
            })
        })
        .collect()
}

/// The overlay's frame around `target`: a mark that encloses it and is not a placeholder.
pub fn frame_over(conn: &impl Connection, target: &Rect) -> Option<Mark> {
    marks(conn)
        .into_iter()
        .find(|m| !m.is_placeholder() && m.outer.encloses(target) && m.outer.w > target.w)
}

/// The overlay's placeholder where `target` was.
pub fn placeholder_over(conn: &impl Connection, target: &Rect) -> Option<Mark> {
    marks(conn)
        .into_iter()
        .find(|m| m.is_placeholder() && m.outer.encloses(target))
}

/// An application window on the screen, with what the demo says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppWindow {
    pub outer: Rect,
    /// Which application and where it came from: `xclock from host A (10.211.1.2)`.
    pub label: String,
}

/// The viewable top-level windows of the watched clients that `label` names (it returns
/// `None` for a client not to label, such as the overlay itself): the client that owns a
/// window is the one whose XID base its id carries.
pub fn app_windows(
    conn: &impl Connection,
    label: impl Fn(&ClientInfo) -> Option<String>,
) -> Vec<AppWindow> {
    list_clients(conn)
        .into_iter()
        // The overlay's marks are its own windows.
        .filter(|e| e.client.service.as_deref() != Some("lifesign-overlay"))
        .filter_map(|e| Some((label(&e.client)?, parse_id(&e.client.id))))
        .flat_map(|(label, base)| {
            mapped_windows(conn, base)
                .into_iter()
                .filter_map(|w| outer(conn, w))
                .map(move |outer| AppWindow {
                    outer,
                    label: label.clone(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The program a client's WM_CLASS names, as an operator would type it (`XClock` is
/// `xclock`).
pub fn program(client: &ClientInfo) -> Option<String> {
    client.wm_class.as_ref().map(|c| c[1].to_lowercase())
}
