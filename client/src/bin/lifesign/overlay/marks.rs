//! The marks' windows and their drawing. A mark is one override-redirect window of the
//! root (no window manager places, decorates or focuses it), mapped directly above the
//! window it marks:
//! - a **frame**: shaped (SHAPE bounding) to a border around the marked window and a banner
//!   strip, orange, with the banner's text in black;
//! - a **panel** (a lost client's placeholder): an opaque dark rectangle with light text
//!   and a thin orange border.
//!
//! Every mark has an empty input shape: the pointer goes through it to whatever is below,
//! so no click ever reaches the overlay. Text is a core font's ("fixed"), drawn with
//! ImageText8: no toolkit, no font library. Each mark's text is also its WM_NAME, for
//! `xprop` and the tests.

use super::geometry::{self, Cell, FrameLayout, Rect, clamp_i16};
use super::text::{latin1, wrap};
use x11rb::COPY_FROM_PARENT;
use x11rb::connection::Connection;
use x11rb::errors::ConnectionError;
use x11rb::protocol::shape::{ConnectionExt as _, SK, SO};
use x11rb::protocol::xproto::{
    AtomEnum, ClipOrdering, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux,
    EventMask, Font, Gcontext, PropMode, Screen, StackMode, Window, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

/// The frame's colour: a strong orange, #ff8c00.
pub const FRAME_RGB: (u8, u8, u8) = (0xff, 0x8c, 0x00);
/// The placeholder's panel: near black, #202020.
pub const PANEL_RGB: (u8, u8, u8) = (0x20, 0x20, 0x20);
/// The placeholder's text: light grey, #e0e0e0; its first line in the frame's orange.
const PANEL_TEXT_RGB: (u8, u8, u8) = (0xe0, 0xe0, 0xe0);
/// ImageText8 draws at most this many bytes.
const MAX_TEXT8: usize = 255;
/// The fonts tried, in order; every X server has "fixed" built in.
const FONTS: [&[u8]; 2] = [b"fixed", b"6x13"];
/// Used when no font could be opened: marks are still drawn, without text.
const NO_FONT: Cell = Cell {
    width: 6,
    ascent: 11,
    descent: 2,
};

/// What the marks are drawn with: colours, the font and its graphics contexts, made once.
pub struct Painter {
    root: Window,
    pub frame_pixel: u32,
    pub panel_pixel: u32,
    pub cell: Cell,
    font: Option<Font>,
    /// Black on orange: the banner.
    banner_gc: Gcontext,
    /// Orange on dark: the panel's first line.
    title_gc: Gcontext,
    /// Light on dark: the panel's other lines.
    body_gc: Gcontext,
    wm_class: Vec<u8>,
}

impl Painter {
    pub fn new(conn: &impl Connection, screen: &Screen) -> Result<Self, ConnectionError> {
        let pixel = |rgb: (u8, u8, u8), fallback: u32| -> Result<u32, ConnectionError> {
            let wide = |c: u8| u16::from(c) << 8 | u16::from(c);
            let reply = conn
                .alloc_color(
                    screen.default_colormap,
                    wide(rgb.0),
                    wide(rgb.1),
                    wide(rgb.2),
                )?
                .reply();
            Ok(super::desktop::reply_or_none(reply)?.map_or(fallback, |r| r.pixel))
        };
        let frame_pixel = pixel(FRAME_RGB, screen.white_pixel)?;
        let panel_pixel = pixel(PANEL_RGB, screen.black_pixel)?;
        let text_pixel = pixel(PANEL_TEXT_RGB, screen.white_pixel)?;
        let (font, cell) = open_font(conn)?;
        let gc = |fg: u32, bg: u32| -> Result<Gcontext, ConnectionError> {
            let id = conn
                .generate_id()
                .map_err(|_| ConnectionError::InsufficientMemory)?;
            let mut aux = CreateGCAux::new()
                .foreground(fg)
                .background(bg)
                .graphics_exposures(0);
            if let Some(font) = font {
                aux = aux.font(font);
            }
            conn.create_gc(id, screen.root, &aux)?;
            Ok(id)
        };
        Ok(Self {
            root: screen.root,
            frame_pixel,
            panel_pixel,
            cell,
            font,
            banner_gc: gc(screen.black_pixel, frame_pixel)?,
            title_gc: gc(frame_pixel, panel_pixel)?,
            body_gc: gc(text_pixel, panel_pixel)?,
            wm_class: b"lifesign-overlay\0LifesignOverlay\0".to_vec(),
        })
    }
}

/// The first of [`FONTS`] the server has, and its cell.
fn open_font(conn: &impl Connection) -> Result<(Option<Font>, Cell), ConnectionError> {
    for name in FONTS {
        let id = conn
            .generate_id()
            .map_err(|_| ConnectionError::InsufficientMemory)?;
        if super::desktop::reply_or_none(conn.open_font(id, name)?.check())?.is_none() {
            continue;
        }
        if let Some(info) = super::desktop::reply_or_none(conn.query_font(id)?.reply())? {
            let cell = Cell {
                width: u32::from(info.max_bounds.character_width.max(1).unsigned_abs()),
                ascent: u32::from(info.font_ascent.max(0).unsigned_abs()),
                descent: u32::from(info.font_descent.max(0).unsigned_abs()),
            };
            return Ok((Some(id), cell));
        }
    }
    Ok((None, NO_FONT))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Look {
    Frame(FrameLayout),
    Panel(Rect),
}

/// One mark over one top-level window (a root child).
pub struct Mark {
    /// The window marked; see [`Mark::marks`] before taking an event of this id as its.
    pub target: Window,
    /// Its outer geometry, as last seen.
    pub outer: Rect,
    /// False once the marked window was destroyed or left the root: a placeholder then
    /// stays where it was, and the id is never taken for its window again (the next client
    /// gets the closed one's XID base and, from the same library, the same window ids).
    /// An unmapped window is still there (it may be mapped again).
    target_present: bool,
    /// The mark's own window.
    pub window: Window,
    look: Look,
    lines: Vec<String>,
}

impl Mark {
    /// A frame with a banner saying `lines` around `target`, whose outer geometry is
    /// `outer`.
    pub fn frame(
        conn: &impl Connection,
        painter: &Painter,
        target: Window,
        outer: Rect,
        lines: Vec<String>,
    ) -> Result<Self, ConnectionError> {
        let layout = frame_layout(outer, &lines, painter.cell);
        Self::create(
            conn,
            painter,
            target,
            outer,
            Look::Frame(layout),
            lines,
            true,
        )
    }

    /// A placeholder's panel saying `lines` over `outer`; `present`: whether the window
    /// `target` is still there.
    pub fn panel(
        conn: &impl Connection,
        painter: &Painter,
        target: Window,
        outer: Rect,
        lines: Vec<String>,
        present: bool,
    ) -> Result<Self, ConnectionError> {
        let look = Look::Panel(geometry::panel_rect(outer));
        Self::create(conn, painter, target, outer, look, lines, present)
    }

    fn create(
        conn: &impl Connection,
        painter: &Painter,
        target: Window,
        outer: Rect,
        look: Look,
        lines: Vec<String>,
        target_present: bool,
    ) -> Result<Self, ConnectionError> {
        let window = conn
            .generate_id()
            .map_err(|_| ConnectionError::InsufficientMemory)?;
        let (rect, background, border) = match &look {
            Look::Frame(l) => (l.window, painter.frame_pixel, 0),
            Look::Panel(r) => (
                geometry::panel_inside(*r),
                painter.panel_pixel,
                geometry::PANEL_BORDER,
            ),
        };
        let r = rect.to_x();
        conn.create_window(
            COPY_FROM_PARENT as u8,
            window,
            painter.root,
            r.x,
            r.y,
            r.width,
            r.height,
            u16::try_from(border).unwrap_or(0),
            WindowClass::INPUT_OUTPUT,
            COPY_FROM_PARENT,
            &CreateWindowAux::new()
                .background_pixel(background)
                .border_pixel(painter.frame_pixel)
                .override_redirect(1)
                .event_mask(EventMask::EXPOSURE),
        )?;
        // No input at all: an empty input region (SHAPE 1.1).
        conn.shape_rectangles(
            SO::SET,
            SK::INPUT,
            ClipOrdering::UNSORTED,
            window,
            0,
            0,
            &[],
        )?;
        conn.change_property8(
            PropMode::REPLACE,
            window,
            AtomEnum::WM_CLASS,
            AtomEnum::STRING,
            &painter.wm_class,
        )?;
        let mark = Self {
            target,
            outer,
            target_present,
            window,
            look,
            lines,
        };
        mark.shape(conn)?;
        mark.name(conn)?;
        mark.restack(conn)?;
        conn.map_window(window)?;
        Ok(mark)
    }

    fn shape(&self, conn: &impl Connection) -> Result<(), ConnectionError> {
        if let Look::Frame(l) = &self.look {
            let rects: Vec<_> = l.bounding.iter().map(|r| r.to_x()).collect();
            conn.shape_rectangles(
                SO::SET,
                SK::BOUNDING,
                ClipOrdering::UNSORTED,
                self.window,
                0,
                0,
                &rects,
            )?;
        }
        Ok(())
    }

    fn name(&self, conn: &impl Connection) -> Result<(), ConnectionError> {
        conn.change_property8(
            PropMode::REPLACE,
            self.window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            &latin1(&self.lines.join(" / ")),
        )?;
        Ok(())
    }

    /// Whether `window` is the window this mark marks: its target, while that is still
    /// there.
    pub fn marks(&self, window: Window) -> bool {
        self.target_present && self.target == window
    }

    pub fn target_present(&self) -> bool {
        self.target_present
    }

    /// The marked window was destroyed or left the root.
    pub fn target_gone(&mut self) {
        self.target_present = false;
    }

    /// Puts the mark directly above the window it marks, so a window raised over the marked
    /// one covers its mark too, and the mark is never below. Once that window is gone the
    /// mark stays where it is in the stack (a new window is mapped above it).
    pub fn restack(&self, conn: &impl Connection) -> Result<(), ConnectionError> {
        if !self.target_present {
            return Ok(());
        }
        let aux = ConfigureWindowAux::new()
            .sibling(self.target)
            .stack_mode(StackMode::ABOVE);
        // BadWindow/BadMatch when the marked window just vanished: an error event, ignored.
        conn.configure_window(self.window, &aux)?;
        Ok(())
    }

    /// The marked window moved or changed size: the mark follows it (a placeholder over a
    /// lost client's window that is still there, with `OnLost notify`, too; once the window
    /// is gone nothing moves it).
    pub fn follow(
        &mut self,
        conn: &impl Connection,
        painter: &Painter,
        outer: Rect,
    ) -> Result<(), ConnectionError> {
        if outer == self.outer {
            return Ok(());
        }
        self.outer = outer;
        match self.look {
            Look::Frame(_) => self.relayout(conn, painter)?,
            Look::Panel(_) => {
                let panel = geometry::panel_rect(outer);
                self.look = Look::Panel(panel);
                configure(conn, self.window, geometry::panel_inside(panel))?;
                // The text folds anew for the new width.
                conn.clear_area(false, self.window, 0, 0, 0, 0)?;
                self.draw(conn, painter)?;
            }
        }
        Ok(())
    }

    /// New text. A frame whose banner needs another size is reshaped first.
    pub fn say(
        &mut self,
        conn: &impl Connection,
        painter: &Painter,
        lines: Vec<String>,
    ) -> Result<(), ConnectionError> {
        if lines == self.lines {
            return Ok(());
        }
        self.lines = lines;
        self.name(conn)?;
        if matches!(self.look, Look::Frame(_)) {
            self.relayout(conn, painter)?;
        }
        self.draw(conn, painter)
    }

    fn relayout(
        &mut self,
        conn: &impl Connection,
        painter: &Painter,
    ) -> Result<(), ConnectionError> {
        let layout = frame_layout(self.outer, &self.lines, painter.cell);
        let Look::Frame(old) = &self.look else {
            return Ok(());
        };
        if *old == layout {
            return Ok(());
        }
        let moved = old.window != layout.window;
        let reshaped = old.bounding != layout.bounding;
        self.look = Look::Frame(layout.clone());
        if moved {
            configure(conn, self.window, layout.window)?;
        }
        if reshaped {
            self.shape(conn)?;
        }
        Ok(())
    }

    /// Draws the text (the background is the window's own, painted by the server).
    pub fn draw(&self, conn: &impl Connection, painter: &Painter) -> Result<(), ConnectionError> {
        if painter.font.is_none() {
            return Ok(());
        }
        let cell = painter.cell;
        match &self.look {
            Look::Frame(l) => {
                let cols = usize::try_from(
                    l.banner.width.saturating_sub(2 * geometry::PAD) / cell.width.max(1),
                )
                .unwrap_or(MAX_TEXT8);
                for (line, (x, y)) in self.lines.iter().zip(&l.baselines) {
                    text(conn, self.window, painter.banner_gc, *x, *y, line, cols)?;
                }
            }
            Look::Panel(r) => {
                let (cols, rows) = geometry::panel_capacity(*r, cell);
                let lines = wrap(&self.lines, cols, rows);
                let baselines = geometry::panel_baselines(lines.len(), cell);
                for (i, (line, (x, y))) in lines.iter().zip(baselines).enumerate() {
                    // The first line is the reason; the rest who and what comes next.
                    let gc = if i == 0 {
                        painter.title_gc
                    } else {
                        painter.body_gc
                    };
                    text(conn, self.window, gc, x, y, line, cols)?;
                }
            }
        }
        Ok(())
    }

    pub fn destroy(&self, conn: &impl Connection) -> Result<(), ConnectionError> {
        conn.destroy_window(self.window)?;
        Ok(())
    }
}

/// Moves and sizes `window` to `rect`.
fn configure(conn: &impl Connection, window: Window, rect: Rect) -> Result<(), ConnectionError> {
    let r = rect.to_x();
    conn.configure_window(
        window,
        &ConfigureWindowAux::new()
            .x(i32::from(r.x))
            .y(i32::from(r.y))
            .width(u32::from(r.width))
            .height(u32::from(r.height)),
    )?;
    Ok(())
}

fn frame_layout(outer: Rect, lines: &[String], cell: Cell) -> FrameLayout {
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    geometry::frame_layout(outer, lines.len(), longest, cell)
}

/// One line, padded with blanks to `cols` so that a shorter text leaves nothing of a
/// longer one behind (ImageText8 paints its background under every character).
fn text(
    conn: &impl Connection,
    window: Window,
    gc: Gcontext,
    x: i32,
    y: i32,
    line: &str,
    cols: usize,
) -> Result<(), ConnectionError> {
    let mut bytes = latin1(line);
    let width = cols.min(MAX_TEXT8);
    bytes.truncate(width);
    bytes.resize(width, b' ');
    conn.image_text8(window, gc, clamp_i16(x), clamp_i16(y), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(target: Window) -> Mark {
        Mark {
            target,
            outer: Rect::new(0, 0, 200, 100),
            target_present: true,
            window: 0x0080_0001,
            look: Look::Panel(geometry::panel_rect(Rect::new(0, 0, 200, 100))),
            lines: Vec::new(),
        }
    }

    #[test]
    fn a_window_that_is_gone_is_never_its_marks_again() {
        let mut m = panel(0x00a0_0000);
        assert!(m.marks(0x00a0_0000));
        assert!(!m.marks(0x00a0_0001));
        // Destroyed: the next client's first window may get the same id.
        m.target_gone();
        assert!(!m.marks(0x00a0_0000));
        assert!(!m.target_present());
    }
}
