//! `lifesign overlay`: marks stale windows on the display itself.
//!
//! - `suspect`: a frame and a banner over each top-level window of the client
//!   ([`marks`], placed by [`geometry`], worded by [`text`]), following the window
//!   ([`desktop`]);
//! - `recovered`, `gone`, `unwatched`: the client's marks go;
//! - `lost`: a placeholder over where its windows were, saying the reason and the backup
//!   the launcher is starting ([`launcher_state`]), until a new client of the same service
//!   maps a window ([`placeholder`], [`clients`]).
//!
//! One thread, one connection, blocked in poll(2) on the connection's fd between events
//! and the redraw ticks ([`event_loop`]). The overlay never grabs anything, takes no input
//! (every mark has an empty input shape), holds at most [`MAX_MARKS`] marks, and treats a
//! window that vanished mid-request as normal. It exits non-zero when it loses the server.
//! It declares itself service `lifesign-overlay` as soon as it is connected, and once its
//! loop runs it owes a NoOperation deadline the loop keeps: should the loop hang, the server
//! ends it and its marks go with it. One overlay marks a screen: a new one takes the
//! screen's selection and the old one exits 0 ([`selection`]).

#![forbid(unsafe_code)]

mod clients;
mod desktop;
mod event_loop;
mod geometry;
mod launcher_state;
mod marks;
mod placeholder;
mod selection;
mod text;

use clients::{Directory, Label, ServiceKey};
use desktop::{Change, Desktop, reply_or_none};
use geometry::Rect;
use launcher_state::StateFile;
use lifesign::{Kind, Lifesign, Notify, Reason};
use lifesign_proto::event::WatchState;
use marks::{Mark, Painter};
use placeholder::{MapsSince, Placeholder};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, EventMask, MapState, Window, WindowClass,
};

/// The most windows marked at once, frames and placeholders together.
pub const MAX_MARKS: usize = 256;
/// How often a banner's silence is redrawn.
const REDRAW: Duration = Duration::from_millis(200);
/// How often the launcher's state file is looked at (and read if it changed) while a
/// placeholder is up.
const REREAD: Duration = Duration::from_millis(500);
/// ListClients is asked again at most this often when clients come and change.
const RELIST: Duration = Duration::from_millis(100);
/// The NoOperation deadline the overlay declares for itself (it sends one every
/// [`REDRAW`]), and the service it declares.
const OWN_DEADLINE: Duration = Duration::from_secs(3);
const SERVICE: &str = "lifesign-overlay";

pub struct Options {
    pub display: Option<String>,
    /// The launcher's state file (`--launcher-state`, else `$LIFESIGN_LAUNCHER_STATE`).
    pub launcher_state: Option<PathBuf>,
}

/// Runs until the connection to the server is lost (an error: the overlay's supervisor
/// restarts it), or another overlay takes the screen (not an error: it was replaced).
pub fn run(options: Options) -> Result<(), String> {
    let conn = crate::connect(options.display.as_deref())?;
    let ls = Lifesign::new(&conn).map_err(|e| e.to_string())?;
    // What it is, said at once: a launcher that matches a service by class alone takes a
    // client that declared a service for none of its starts (docs/decisions.md, 82), and
    // until then the overlay may be taken for the application a start waits for. No
    // deadline yet: taking the screen's selection can wait seconds on an old overlay.
    let declared = lifesign::Policy::default()
        .idle_timeout(Duration::ZERO)
        .expect_no_operation(Duration::ZERO)
        .service(SERVICE);
    if let Err(e) = ls.watch(&conn, &declared) {
        eprintln!("lifesign overlay: cannot declare its service: {e}");
    }
    let state = options
        .launcher_state
        .or_else(|| std::env::var_os(launcher_state::ENV).map(PathBuf::from));
    // The first screen's (the one it marks), before it draws anything.
    let root = conn
        .setup()
        .roots
        .first()
        .ok_or("the X server has no screen")?
        .root;
    let Some(selection) = selection::Selection::acquire(&conn, 0, root)? else {
        eprintln!(
            "lifesign overlay: a newer overlay took screen 0 while this one started: exiting"
        );
        return Ok(());
    };
    let mut overlay = Overlay::start(&conn, ls, state)?;
    event_loop::run(&conn, &mut overlay, &selection)
        .map_err(|e| format!("lost the X server: {e}"))?;
    eprintln!(
        "lifesign overlay: another overlay took screen 0 ({}): exiting",
        selection.name
    );
    Ok(())
}

/// A suspect client and its marks.
struct Suspect {
    /// Its silence when the event (or the list) said so, and when that was.
    silent_ms: u64,
    since: Instant,
    label: Label,
    maps: MapsSince,
    marks: Vec<Mark>,
}

impl Suspect {
    fn silent_now(&self, now: Instant) -> u64 {
        let since = u64::try_from(now.saturating_duration_since(self.since).as_millis())
            .unwrap_or(u64::MAX);
        self.silent_ms.saturating_add(since)
    }
}

pub struct Overlay<'c, C: Connection> {
    conn: &'c C,
    ls: Lifesign,
    painter: Painter,
    desktop: Desktop,
    clients: Directory,
    /// A client came or changed since the last ListClients.
    relist: bool,
    listed: Instant,
    suspects: HashMap<u32, Suspect>,
    placeholders: Vec<Placeholder>,
    state: Option<StateFile>,
    next_redraw: Instant,
    next_reread: Instant,
    /// Said once per time the bound is reached.
    bound_said: bool,
}

impl<'c, C: Connection> Overlay<'c, C> {
    /// Subscribes, learns the screen and the watched clients, and marks the clients that
    /// are suspect already.
    fn start(conn: &'c C, ls: Lifesign, state: Option<PathBuf>) -> Result<Self, String> {
        let broken = |e: ConnectionError| format!("lost the X server: {e}");
        // Subscribe before looking, so nothing that happens in between is missed.
        ls.select_events(conn, lifesign::ALL_KINDS)
            .map_err(|e| match e {
                lifesign::Error::Reply(x11rb::errors::ReplyError::X11Error(_)) => {
                    "the X server's LIFESIGN has no SelectEvents (it is older than 1.2)".to_owned()
                }
                e => e.to_string(),
            })?;
        // Its own sign of life, now that the loop is about to run: a NoOperation from the
        // loop at every tick, owed every OWN_DEADLINE. A loop that hangs is lost by the
        // server, which closes the connection (OnLost close): a hung overlay's marks leave
        // the display with it.
        if let Err(e) = ls.watch(
            conn,
            &lifesign::Policy::pulse(OWN_DEADLINE).service(SERVICE),
        ) {
            eprintln!("lifesign overlay: cannot declare its own heartbeat: {e}");
        }
        let setup = conn.setup();
        let screen = setup
            .roots
            .first()
            .ok_or("the X server has no screen")?
            .clone();
        conn.change_window_attributes(
            screen.root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY),
        )
        .map_err(broken)?
        .check()
        .map_err(|e| format!("cannot follow the root window's children: {e}"))?;
        let painter = Painter::new(conn, &screen).map_err(broken)?;
        let mut desktop = Desktop::new(screen.root, setup.resource_id_mask, setup.resource_id_base);
        desktop.scan(conn).map_err(broken)?;
        let now = Instant::now();
        let mut overlay = Self {
            conn,
            ls,
            painter,
            desktop,
            clients: Directory::default(),
            relist: false,
            listed: now,
            suspects: HashMap::new(),
            placeholders: Vec::new(),
            state: state.map(StateFile::new),
            next_redraw: now + REDRAW,
            next_reread: now + REREAD,
            bound_said: false,
        };
        let entries = ls.list_clients(conn).map_err(|e| e.to_string())?;
        let suspects: Vec<(u32, u64)> = entries
            .iter()
            .filter(|e| e.state == WatchState::Suspect)
            .filter_map(|e| {
                let base = clients::parse_id(&e.client.id)?;
                // Silent since its last request, or its last NoOperation if it owes them.
                let silent = if e.policy.expect_noop_ms > 0 {
                    e.idle_ms.max(e.noop_age_ms)
                } else {
                    e.idle_ms
                };
                Some((base, silent))
            })
            .collect();
        overlay.clients.replace(entries);
        for (base, silent) in suspects {
            overlay.suspect(base, silent).map_err(broken)?;
        }
        conn.flush().map_err(broken)?;
        Ok(overlay)
    }

    fn marks(&self) -> usize {
        self.suspects.values().map(|s| s.marks.len()).sum::<usize>()
            + self
                .placeholders
                .iter()
                .map(|p| p.marks.len())
                .sum::<usize>()
    }

    /// How many of `wanted` new marks may be made (at most [`MAX_MARKS`] in all); says so
    /// once when fewer.
    fn budget(&mut self, wanted: usize) -> usize {
        let left = MAX_MARKS.saturating_sub(self.marks());
        if wanted <= left {
            self.bound_said = false;
        } else if !self.bound_said {
            eprintln!("lifesign overlay: {MAX_MARKS} windows marked: no more marks until some go");
            self.bound_said = true;
        }
        wanted.min(left)
    }

    /// One event from the connection.
    pub fn handle(&mut self, event: &Event) -> Result<(), ConnectionError> {
        if let Some(notify) = self.ls.parse_event(event) {
            return self.notify(&notify);
        }
        match event {
            Event::Expose(e) if e.count == 0 => {
                if let Some(mark) = self.all_marks().find(|m| m.window == e.window) {
                    mark.draw(self.conn, &self.painter)?;
                }
            }
            // A request on a window that vanished meanwhile (BadWindow, BadMatch): normal
            // for an observer of other clients' windows, and nothing to undo.
            Event::Error(_) => {}
            event => {
                if let Some(change) = self.desktop.apply(self.conn, event)? {
                    self.follow(change)?;
                }
                if self.desktop.overflow_news() {
                    eprintln!(
                        "lifesign overlay: {} top-level windows followed: newer ones are not marked until some go",
                        desktop::MAX_TOPLEVELS
                    );
                }
            }
        }
        Ok(())
    }

    fn all_marks(&self) -> impl Iterator<Item = &Mark> {
        self.suspects
            .values()
            .flat_map(|s| &s.marks)
            .chain(self.placeholders.iter().flat_map(|p| &p.marks))
    }

    fn notify(&mut self, n: &Notify) -> Result<(), ConnectionError> {
        match n.kind {
            Kind::Watched => {
                self.relist = true;
                self.clients.reused(n.client);
                for p in &mut self.placeholders {
                    p.saw_watched(n.client);
                }
            }
            Kind::Updated => self.relist = true,
            Kind::Suspect => self.suspect(n.client, u64::from(n.silent_ms))?,
            Kind::Recovered => self.unmark(n.client)?,
            Kind::Gone | Kind::Unwatched => {
                self.unmark(n.client)?;
                self.relist = true;
            }
            Kind::Lost => self.lost(n)?,
        }
        Ok(())
    }

    /// Marks every viewable top-level window of client `base`.
    fn suspect(&mut self, base: u32, silent_ms: u64) -> Result<(), ConnectionError> {
        let now = Instant::now();
        if let Some(s) = self.suspects.get_mut(&base) {
            s.silent_ms = silent_ms;
            s.since = now;
            return Ok(());
        }
        if !self.clients.contains(base) {
            self.list()?;
        }
        let mut suspect = Suspect {
            silent_ms,
            since: now,
            label: Label::of(self.clients.get(base), base),
            maps: MapsSince::default(),
            marks: Vec::new(),
        };
        let targets = self.viewable(self.desktop.windows_of(base))?;
        let lines = text::banner(silent_ms, &suspect.label);
        let allowed = self.budget(targets.len());
        for (window, outer) in targets.into_iter().take(allowed) {
            let mark = Mark::frame(self.conn, &self.painter, window, outer, lines.clone())?;
            suspect.marks.push(mark);
        }
        self.suspects.insert(base, suspect);
        Ok(())
    }

    /// Those of `windows` that are viewable and can show something (not InputOnly), as the
    /// server says now.
    fn viewable(
        &self,
        windows: Vec<(Window, Rect)>,
    ) -> Result<Vec<(Window, Rect)>, ConnectionError> {
        let mut cookies = Vec::with_capacity(windows.len());
        for (w, outer) in windows {
            cookies.push((w, outer, self.conn.get_window_attributes(w)?));
        }
        let mut out = Vec::new();
        for (w, outer, cookie) in cookies {
            if let Some(a) = reply_or_none(cookie.reply())?
                && a.map_state == MapState::VIEWABLE
                && a.class != WindowClass::INPUT_ONLY
            {
                out.push((w, outer));
            }
        }
        Ok(out)
    }

    /// The client's marks go (it showed a sign of life, ended, or is not watched any more).
    fn unmark(&mut self, base: u32) -> Result<(), ConnectionError> {
        if let Some(s) = self.suspects.remove(&base) {
            for m in &s.marks {
                m.destroy(self.conn)?;
            }
        }
        Ok(())
    }

    /// The client's frames become placeholders, where its windows were.
    fn lost(&mut self, n: &Notify) -> Result<(), ConnectionError> {
        let base = n.client;
        let suspect = self.suspects.remove(&base);
        // Where its windows were: as the frames last followed them, or, without a
        // suspicion first, as the root's children are known (their DestroyNotify, if the
        // server closed the client, comes after this event).
        let windows: Vec<(Window, Rect)> = match &suspect {
            Some(s) if !s.marks.is_empty() => s.marks.iter().map(|m| (m.target, m.outer)).collect(),
            _ => self.desktop.windows_of(base),
        };
        if let Some(s) = &suspect {
            for m in &s.marks {
                m.destroy(self.conn)?;
            }
        }
        if windows.is_empty() {
            return Ok(());
        }
        // As the server last listed it: a list asked since may have left it out already.
        let info = self.clients.last_known(base);
        if let Some(file) = &mut self.state {
            file.refresh();
        }
        let reason = match n.reason {
            Some(Reason::Lost(r)) => r.as_str(),
            Some(Reason::Gone(r)) => r.as_str(),
            None => "lost",
        };
        let mut p = Placeholder::new(
            base,
            info.and_then(ServiceKey::of),
            info.and_then(|i| i.service.clone()),
            reason,
            u64::from(n.silent_ms),
            suspect
                .as_ref()
                .map_or_else(|| Label::of(info, base), |s| s.label.clone()),
            suspect.map(|s| s.maps).unwrap_or_default(),
            self.state.as_ref(),
        );
        // The oldest placeholders give way to the newest at the bound.
        while self.marks() + windows.len().min(MAX_MARKS) > MAX_MARKS
            && !self.placeholders.is_empty()
        {
            let old = self.placeholders.remove(0);
            for m in &old.marks {
                m.destroy(self.conn)?;
            }
        }
        let lines = p.lines();
        let allowed = self.budget(windows.len());
        for (window, outer) in windows.into_iter().take(allowed) {
            let present = self.desktop.get(window).is_some();
            let mark = Mark::panel(
                self.conn,
                &self.painter,
                window,
                outer,
                lines.clone(),
                present,
            )?;
            p.marks.push(mark);
        }
        if !p.marks.is_empty() {
            self.placeholders.push(p);
        }
        Ok(())
    }

    /// A root child changed: marks follow their windows, suspects get marks on windows
    /// they map, placeholders note who mapped.
    fn follow(&mut self, change: Change) -> Result<(), ConnectionError> {
        match change {
            Change::Mapped(window) => {
                let bases = self.desktop.clients_of(window);
                for s in self.suspects.values_mut() {
                    bases.iter().for_each(|&b| s.maps.saw(b));
                }
                for p in &mut self.placeholders {
                    bases.iter().for_each(|&b| p.saw_map(b));
                    // The lost client's own window, mapped again (OnLost notify): mapped on
                    // top, so its placeholder goes back above it.
                    if let Some(m) = p.marks.iter().find(|m| m.marks(window)) {
                        m.restack(self.conn)?;
                    }
                }
                if !self.placeholders.is_empty() && bases.iter().any(|b| !self.clients.contains(*b))
                {
                    self.relist = true;
                }
                for base in bases {
                    self.mark_mapped(base, window)?;
                }
            }
            Change::Unmapped(window) | Change::Gone(window) => {
                // A frame is over a window that shows; a suspect's window mapped again is
                // marked anew.
                for s in self.suspects.values_mut() {
                    for m in s.marks.iter().filter(|m| m.target == window) {
                        m.destroy(self.conn)?;
                    }
                    s.marks.retain(|m| m.target != window);
                }
                // A placeholder stays where it is either way; an unmapped window may come
                // back (OnLost notify, iconified), a destroyed one's id may come back as
                // another client's window, which the placeholder must never follow.
                if let Change::Gone(window) = change {
                    for p in &mut self.placeholders {
                        for m in p.marks.iter_mut().filter(|m| m.marks(window)) {
                            m.target_gone();
                        }
                    }
                }
            }
            Change::Configured {
                window,
                above,
                override_redirect,
            } => {
                let outer = self.desktop.get(window).map(|t| t.outer);
                let (conn, painter) = (self.conn, &self.painter);
                let marks = self
                    .suspects
                    .values_mut()
                    .flat_map(|s| s.marks.iter_mut())
                    .chain(
                        self.placeholders
                            .iter_mut()
                            .flat_map(|p| p.marks.iter_mut()),
                    );
                for m in marks {
                    if m.marks(window) {
                        if let Some(outer) = outer {
                            m.follow(conn, painter, outer)?;
                        }
                        m.restack(conn)?;
                    } else if above == Some(m.target) && m.target_present() && !override_redirect {
                        // Something went directly above the marked window, under its mark.
                        // Not an override-redirect window: a menu or tooltip put there by
                        // its application stays under the mark, and another overlay's mark
                        // (one of an older version, which does the same) is not pushed
                        // away, to push this one away in turn, for ever.
                        m.restack(conn)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A suspect client mapped a window after its marks were made: mark it too.
    fn mark_mapped(&mut self, base: u32, window: Window) -> Result<(), ConnectionError> {
        let Some(s) = self.suspects.get(&base) else {
            return Ok(());
        };
        if s.marks.iter().any(|m| m.target == window) {
            return Ok(());
        }
        let Some(outer) = self.desktop.get(window).map(|t| t.outer) else {
            return Ok(());
        };
        if self.viewable(vec![(window, outer)])?.is_empty() || self.budget(1) == 0 {
            return Ok(());
        }
        let s = self.suspects.get_mut(&base).expect("looked up above");
        let lines = text::banner(s.silent_now(Instant::now()), &s.label);
        let mark = Mark::frame(self.conn, &self.painter, window, outer, lines)?;
        s.marks.push(mark);
        Ok(())
    }

    /// ListClients again.
    fn list(&mut self) -> Result<(), ConnectionError> {
        self.relist = false;
        self.listed = Instant::now();
        match self.ls.list_clients(self.conn) {
            Ok(entries) => self.clients.replace(entries),
            Err(lifesign::Error::Connection(e)) => return Err(e),
            Err(lifesign::Error::Reply(x11rb::errors::ReplyError::ConnectionError(e))) => {
                return Err(e);
            }
            // Refused or unreadable: keep what is known.
            Err(_) => {}
        }
        for (&base, s) in &mut self.suspects {
            if let Some(info) = self.clients.get(base) {
                s.label = Label::of(Some(info), base);
            }
        }
        Ok(())
    }

    /// After a batch of events: learn who came, drop the placeholders whose successor
    /// mapped a window.
    pub fn settle(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if self.relist && now >= self.listed + RELIST {
            self.list()?;
        }
        let mut i = 0;
        while i < self.placeholders.len() {
            if self.placeholders[i].succeeded(&self.clients) {
                let p = self.placeholders.remove(i);
                for m in &p.marks {
                    m.destroy(self.conn)?;
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// The redraws and re-reads due by `now`.
    pub fn tick(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if now >= self.next_redraw {
            self.next_redraw = now + REDRAW;
            let (conn, painter) = (self.conn, &self.painter);
            for s in self.suspects.values_mut() {
                let lines = text::banner(s.silent_now(now), &s.label);
                for m in &mut s.marks {
                    m.say(conn, painter, lines.clone())?;
                }
            }
            // The overlay's own heartbeat (OWN_DEADLINE).
            conn.no_operation()?;
        }
        if now >= self.next_reread {
            self.next_reread = now + REREAD;
            // One look at the file a tick, whatever the number of placeholders, and only
            // while there is one.
            if let Some(file) = &mut self.state
                && !self.placeholders.is_empty()
            {
                file.refresh();
            }
            let (conn, painter) = (self.conn, &self.painter);
            for p in &mut self.placeholders {
                if p.reread(self.state.as_ref()) {
                    let lines = p.lines();
                    for m in &mut p.marks {
                        m.say(conn, painter, lines.clone())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// When the loop must wake at the latest, with nothing from the server.
    pub fn next_wake(&self) -> Instant {
        let mut wake = self.next_redraw;
        if !self.placeholders.is_empty() {
            wake = wake.min(self.next_reread);
        }
        if self.relist {
            wake = wake.min(self.listed + RELIST);
        }
        wake
    }
}
