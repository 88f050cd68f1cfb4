//! The root window's children as the overlay follows them: their outer geometry, whether
//! they are mapped, and whose they are. A top-level window is its client's when its id
//! carries the client's XID base; under a reparenting window manager the root's child is
//! the manager's frame, and it is also the client's whose window was reparented into it.
//!
//! Learnt once from QueryTree, then kept from the events SubstructureNotify on the root
//! brings (create, map, unmap, configure, reparent, destroy), in the order the server sent
//! them: so when a `lost` event comes before the DestroyNotify of its client's windows
//! (the server closing it), their geometry is still here.

use super::geometry::Rect;
use std::collections::HashMap;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{ConnectionExt as _, MapState, Window};

/// The most root children followed; past it, new ones are not (a client making windows in a
/// loop must not grow the overlay without bound).
pub const MAX_TOPLEVELS: usize = 16_384;
/// The most clients one frame is taken to hold.
const MAX_HELD: usize = 8;
/// The most QueryTree requests the first look spends finding what frames hold.
const MAX_TREE_QUERIES: usize = 4096;
/// How far below a root child a client's window is looked for (a frame, and a frame's
/// inner window).
const FRAME_DEPTH: usize = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopLevel {
    pub outer: Rect,
    pub mapped: bool,
    /// XID bases of the clients whose windows were reparented into this one.
    pub holds: Vec<u32>,
}

/// What an event changed, for the marks to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A root child was mapped.
    Mapped(Window),
    /// A root child was unmapped: it is still there, and may be mapped again (iconified,
    /// then restored).
    Unmapped(Window),
    /// A root child was destroyed, or reparented away from the root (whose events no
    /// longer tell when it is destroyed). Its id may be another client's window from now
    /// on: the server gives a closed client's XID base to the next client that connects,
    /// and libraries hand out ids in the same order.
    Gone(Window),
    /// A root child moved, was resized or restacked; `above` is the sibling it is now
    /// directly above (none at the bottom of the stack). `override_redirect`: the window is
    /// one that no window manager handles (a menu, a tooltip, another overlay's mark).
    Configured {
        window: Window,
        above: Option<Window>,
        override_redirect: bool,
    },
}

/// Whether the bound on root children followed held one back, and whether that was said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Overflow {
    #[default]
    No,
    /// A window was not followed; not said yet.
    Unsaid,
    /// Said; said again only after the model went below the bound.
    Said,
}

pub struct Desktop {
    root: Window,
    mask: u32,
    /// The overlay's own XID base: its windows are not followed.
    own: u32,
    windows: HashMap<Window, TopLevel>,
    /// Set when a window was not followed for the bound; the loop says it once
    /// ([`Desktop::overflow_news`]).
    overflow: Overflow,
}

impl Desktop {
    pub fn new(root: Window, mask: u32, own: u32) -> Self {
        Self {
            root,
            mask,
            own,
            windows: HashMap::new(),
            overflow: Overflow::No,
        }
    }

    /// The XID base of the client that made `window`.
    pub fn base(&self, window: Window) -> u32 {
        window & !self.mask
    }

    pub fn get(&self, window: Window) -> Option<&TopLevel> {
        self.windows.get(&window)
    }

    pub fn is_own(&self, window: Window) -> bool {
        self.base(window) == self.own
    }

    /// Follows `window` from now; false (and nothing kept) at the bound.
    pub fn insert(&mut self, window: Window, top: TopLevel) -> bool {
        if self.is_own(window) {
            return false;
        }
        if self.windows.len() >= MAX_TOPLEVELS && !self.windows.contains_key(&window) {
            if self.overflow == Overflow::No {
                self.overflow = Overflow::Unsaid;
            }
            return false;
        }
        self.windows.insert(window, top);
        true
    }

    pub fn remove(&mut self, window: Window) -> Option<TopLevel> {
        let removed = self.windows.remove(&window);
        if self.windows.len() < MAX_TOPLEVELS && self.overflow == Overflow::Said {
            self.overflow = Overflow::No;
        }
        removed
    }

    /// True once each time the bound held a window back: for the loop to say so on stderr
    /// (an operator wonders why a window is never marked).
    pub fn overflow_news(&mut self) -> bool {
        let news = self.overflow == Overflow::Unsaid;
        if news {
            self.overflow = Overflow::Said;
        }
        news
    }

    /// Notes that `frame` (or a window under it) holds a window of client `base`.
    pub fn hold(&mut self, frame: Window, base: u32) {
        let own = self.base(frame);
        if let Some(top) = self.windows.get_mut(&frame)
            && base != own
            && !top.holds.contains(&base)
            && top.holds.len() < MAX_HELD
        {
            top.holds.push(base);
        }
    }

    /// The clients a root child stands for: its maker, and those whose windows it holds.
    pub fn clients_of(&self, window: Window) -> Vec<u32> {
        let mut out = vec![self.base(window)];
        if let Some(top) = self.windows.get(&window) {
            out.extend(&top.holds);
        }
        out
    }

    /// The mapped root children of client `base` (its own, and frames holding one of its
    /// windows), with their outer geometry, in id order.
    pub fn windows_of(&self, base: u32) -> Vec<(Window, Rect)> {
        let mut out: Vec<(Window, Rect)> = self
            .windows
            .iter()
            .filter(|(w, top)| top.mapped && (self.base(**w) == base || top.holds.contains(&base)))
            .map(|(w, top)| (*w, top.outer))
            .collect();
        out.sort_unstable_by_key(|(w, _)| *w);
        out
    }

    /// Learns the root's children as they are now: their geometry and map state, and what
    /// the mapped ones hold (their descendants of other clients, two levels down). Windows
    /// that vanish meanwhile are left out.
    pub fn scan(&mut self, conn: &impl Connection) -> Result<(), ConnectionError> {
        let Some(tree) = reply_or_none(conn.query_tree(self.root)?.reply())? else {
            return Ok(());
        };
        let children: Vec<Window> = tree
            .children
            .into_iter()
            .filter(|w| !self.is_own(*w))
            .take(MAX_TOPLEVELS)
            .collect();
        let mut cookies = Vec::with_capacity(children.len());
        for &w in &children {
            cookies.push((w, conn.get_window_attributes(w)?, conn.get_geometry(w)?));
        }
        let mut mapped = Vec::new();
        for (w, attributes, geometry) in cookies {
            let (Some(a), Some(g)) = (
                reply_or_none(attributes.reply())?,
                reply_or_none(geometry.reply())?,
            ) else {
                continue;
            };
            let top = TopLevel {
                outer: Rect::outer(g.x, g.y, g.width, g.height, g.border_width),
                mapped: a.map_state != MapState::UNMAPPED,
                holds: Vec::new(),
            };
            if top.mapped {
                mapped.push(w);
            }
            self.insert(w, top);
        }
        self.find_held(conn, &mapped)
    }

    /// For each of `tops`, the clients whose windows lie below it (to [`FRAME_DEPTH`]).
    fn find_held(
        &mut self,
        conn: &impl Connection,
        tops: &[Window],
    ) -> Result<(), ConnectionError> {
        let mut level: Vec<(Window, Window)> = tops.iter().map(|&t| (t, t)).collect();
        let mut queries = 0;
        for _ in 0..FRAME_DEPTH {
            let mut cookies = Vec::new();
            for &(top, w) in &level {
                if queries >= MAX_TREE_QUERIES {
                    break;
                }
                queries += 1;
                cookies.push((top, conn.query_tree(w)?));
            }
            let mut next = Vec::new();
            for (top, cookie) in cookies {
                let Some(tree) = reply_or_none(cookie.reply())? else {
                    continue;
                };
                for child in tree.children {
                    if self.base(child) == self.base(top) {
                        next.push((top, child));
                    } else {
                        let base = self.base(child);
                        self.hold(top, base);
                    }
                }
            }
            level = next;
        }
        Ok(())
    }

    /// Follows one event of the root's SubstructureNotify; what changed, if anything the
    /// marks follow. Asks the server only for what an event does not say (the size of a
    /// window reparented to the root, the frame a window was reparented into).
    pub fn apply(
        &mut self,
        conn: &impl Connection,
        event: &Event,
    ) -> Result<Option<Change>, ConnectionError> {
        let root = self.root;
        Ok(match event {
            Event::CreateNotify(e) if e.parent == root => {
                self.insert(
                    e.window,
                    TopLevel {
                        outer: Rect::outer(e.x, e.y, e.width, e.height, e.border_width),
                        mapped: false,
                        holds: Vec::new(),
                    },
                );
                None
            }
            Event::DestroyNotify(e) if e.event == root => {
                self.remove(e.window).map(|_| Change::Gone(e.window))
            }
            Event::UnmapNotify(e) if e.event == root => {
                self.windows.get_mut(&e.window).map(|top| {
                    top.mapped = false;
                    Change::Unmapped(e.window)
                })
            }
            Event::MapNotify(e) if e.event == root && !self.is_own(e.window) => {
                if let Some(top) = self.windows.get_mut(&e.window) {
                    top.mapped = true;
                } else {
                    // Not followed yet (made while the bound was reached, or before the
                    // first look): learn it now.
                    let Some(g) = reply_or_none(conn.get_geometry(e.window)?.reply())? else {
                        return Ok(None);
                    };
                    let top = TopLevel {
                        outer: Rect::outer(g.x, g.y, g.width, g.height, g.border_width),
                        mapped: true,
                        holds: Vec::new(),
                    };
                    if !self.insert(e.window, top) {
                        return Ok(None);
                    }
                    self.find_held(conn, &[e.window])?;
                }
                Some(Change::Mapped(e.window))
            }
            Event::ConfigureNotify(e) if e.event == root && !self.is_own(e.window) => {
                if let Some(top) = self.windows.get_mut(&e.window) {
                    top.outer = Rect::outer(e.x, e.y, e.width, e.height, e.border_width);
                }
                Some(Change::Configured {
                    window: e.window,
                    above: (e.above_sibling != x11rb::NONE).then_some(e.above_sibling),
                    override_redirect: e.override_redirect,
                })
            }
            Event::CirculateNotify(e) if e.event == root && !self.is_own(e.window) => {
                Some(Change::Configured {
                    window: e.window,
                    above: None,
                    override_redirect: false,
                })
            }
            Event::ReparentNotify(e) if e.event == root => {
                if e.parent == root {
                    if self.is_own(e.window) {
                        return Ok(None);
                    }
                    let Some(g) = reply_or_none(conn.get_geometry(e.window)?.reply())? else {
                        return Ok(None);
                    };
                    self.insert(
                        e.window,
                        TopLevel {
                            outer: Rect::outer(e.x, e.y, g.width, g.height, g.border_width),
                            mapped: false,
                            holds: Vec::new(),
                        },
                    );
                    None
                } else {
                    let gone = self.remove(e.window).map(|_| Change::Gone(e.window));
                    if let Some(frame) = self.root_child_above(conn, e.parent)? {
                        let base = self.base(e.window);
                        self.hold(frame, base);
                    }
                    gone
                }
            }
            _ => None,
        })
    }

    /// The root child `window` lies under (itself if it is one); `None` if it vanished.
    fn root_child_above(
        &self,
        conn: &impl Connection,
        mut window: Window,
    ) -> Result<Option<Window>, ConnectionError> {
        for _ in 0..16 {
            if self.windows.contains_key(&window) {
                return Ok(Some(window));
            }
            let Some(tree) = reply_or_none(conn.query_tree(window)?.reply())? else {
                return Ok(None);
            };
            if tree.parent == self.root {
                return Ok(Some(window));
            }
            if tree.parent == x11rb::NONE {
                return Ok(None);
            }
            window = tree.parent;
        }
        Ok(None)
    }
}

/// A reply, or `None` for an X error (a window that vanished meanwhile: BadWindow is
/// normal for an observer of other clients' windows); a broken connection is the error.
pub fn reply_or_none<T>(
    reply: Result<T, x11rb::errors::ReplyError>,
) -> Result<Option<T>, ConnectionError> {
    match reply {
        Ok(r) => Ok(Some(r)),
        Err(x11rb::errors::ReplyError::X11Error(_)) => Ok(None),
        Err(x11rb::errors::ReplyError::ConnectionError(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: u32 = 0x001f_ffff;
    const ROOT: Window = 0x3d3;
    const OWN: u32 = 0x0080_0000;

    fn top(x: i32, mapped: bool) -> TopLevel {
        TopLevel {
            outer: Rect::new(x, 0, 10, 10),
            mapped,
            holds: Vec::new(),
        }
    }

    #[test]
    fn a_clients_windows_are_its_own_and_the_frames_holding_one() {
        let mut d = Desktop::new(ROOT, MASK, OWN);
        d.insert(0x00a0_0001, top(1, true));
        d.insert(0x00a0_0002, top(2, false));
        d.insert(0x00c0_0005, top(3, true)); // a window manager's frame
        d.insert(0x00c0_0009, top(4, true));
        d.hold(0x00c0_0005, 0x00a0_0000);
        let got: Vec<Window> = d
            .windows_of(0x00a0_0000)
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        assert_eq!(got, vec![0x00a0_0001, 0x00c0_0005], "mapped only");
        assert_eq!(d.clients_of(0x00c0_0005), vec![0x00c0_0000, 0x00a0_0000]);
        // The manager's own frames are its windows too.
        assert_eq!(d.windows_of(0x00c0_0000).len(), 2);
    }

    #[test]
    fn the_overlays_own_windows_are_not_followed() {
        let mut d = Desktop::new(ROOT, MASK, OWN);
        assert!(!d.insert(OWN | 1, top(0, true)));
        assert!(d.is_own(OWN | 7));
        assert!(d.windows_of(OWN).is_empty());
    }

    #[test]
    fn holds_are_bounded_and_never_the_frames_own_client() {
        let mut d = Desktop::new(ROOT, MASK, OWN);
        d.insert(0x00c0_0005, top(0, true));
        d.hold(0x00c0_0005, 0x00c0_0000);
        for i in 0..20 {
            d.hold(0x00c0_0005, (i + 1) << 21);
            d.hold(0x00c0_0005, (i + 1) << 21);
        }
        assert_eq!(d.get(0x00c0_0005).unwrap().holds.len(), MAX_HELD);
        assert!(!d.get(0x00c0_0005).unwrap().holds.contains(&0x00c0_0000));
        d.hold(0x0123, 0x00a0_0000); // not followed: nothing
    }

    #[test]
    fn the_model_is_bounded() {
        let mut d = Desktop::new(ROOT, MASK, OWN);
        for i in 0..MAX_TOPLEVELS as u32 {
            assert!(d.insert(0x0100_0000 + i, top(0, false)));
        }
        assert!(!d.overflow_news());
        assert!(!d.insert(0x0200_0000, top(0, false)));
        // A window already followed is still updated.
        assert!(d.insert(0x0100_0000, top(5, true)));
        assert_eq!(d.windows.len(), MAX_TOPLEVELS);
    }

    #[test]
    fn the_bound_is_said_once_each_time_it_holds_a_window_back() {
        let mut d = Desktop::new(ROOT, MASK, OWN);
        for i in 0..MAX_TOPLEVELS as u32 {
            d.insert(0x0100_0000 + i, top(0, false));
        }
        assert!(!d.overflow_news(), "full, but nothing held back yet");
        assert!(!d.insert(0x0200_0000, top(0, false)));
        assert!(!d.insert(0x0200_0001, top(0, false)));
        assert!(d.overflow_news());
        assert!(!d.overflow_news(), "once");
        assert!(!d.insert(0x0200_0002, top(0, false)));
        assert!(!d.overflow_news(), "still the same time");
        d.remove(0x0100_0000);
        assert!(d.insert(0x0200_0003, top(0, false)), "room for one");
        assert!(!d.insert(0x0200_0004, top(0, false)));
        assert!(d.overflow_news(), "below the bound and back: said again");
    }
}
