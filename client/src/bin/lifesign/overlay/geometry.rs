//! Where a mark's pieces go, from the marked window's outer geometry: the frame's four
//! strips and the banner (the bounding shape of one override-redirect window), and the
//! placeholder's panel. Pure: no X connection, unit-tested.

/// A rectangle in root coordinates (or, for shapes, in the mark window's own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// A window's outer geometry: what it covers on the screen, its border included (X
    /// gives the position of the border's corner and the size inside it).
    pub fn outer(x: i16, y: i16, width: u16, height: u16, border: u16) -> Self {
        Self::new(
            x.into(),
            y.into(),
            u32::from(width) + 2 * u32::from(border),
            u32::from(height) + 2 * u32::from(border),
        )
    }

    pub fn right(&self) -> i32 {
        self.x.saturating_add(clamp_i32(self.width))
    }

    pub fn bottom(&self) -> i32 {
        self.y.saturating_add(clamp_i32(self.height))
    }

    /// As the protocol's rectangle (coordinates and sizes clamped to its 16 bits; a size
    /// of 0, which X refuses for windows, becomes 1).
    pub fn to_x(self) -> x11rb::protocol::xproto::Rectangle {
        x11rb::protocol::xproto::Rectangle {
            x: clamp_i16(self.x),
            y: clamp_i16(self.y),
            width: clamp_size(self.width),
            height: clamp_size(self.height),
        }
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub fn clamp_i16(v: i32) -> i16 {
    i16::try_from(v).unwrap_or(if v < 0 { i16::MIN } else { i16::MAX })
}

pub fn clamp_size(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX).max(1)
}

/// How wide the frame around a marked window is, in pixels.
pub const FRAME: u32 = 6;
/// Space around the text, inside the banner and the panel.
pub const PAD: u32 = 4;
/// The placeholder's border (in the frame's colour), inside the area it covers.
pub const PANEL_BORDER: u32 = 2;
/// The least a placeholder covers, so that its text can be read over a tiny window.
pub const MIN_PANEL: (u32, u32) = (160, 64);

/// A font's cell, as the overlay draws with one (a core font; "fixed" is monospaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub width: u32,
    pub ascent: u32,
    pub descent: u32,
}

impl Cell {
    /// One line of text and the space under it.
    pub fn line_height(&self) -> u32 {
        self.ascent + self.descent + 2
    }
}

/// Where a frame mark's window is and what of it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLayout {
    /// The mark window, in root coordinates.
    pub window: Rect,
    /// Its bounding shape, in its own coordinates: the four strips, then the banner.
    pub bounding: Vec<Rect>,
    /// The banner, in the window's coordinates.
    pub banner: Rect,
    /// Where each line's baseline starts, in the window's coordinates.
    pub baselines: Vec<(i32, i32)>,
}

/// The frame around `outer` (a window's outer geometry) and a banner for `lines` lines of
/// at most `longest` characters: the banner sits on the frame's top edge when the screen
/// has room above it, else inside the window's top edge. The banner is at least as wide as
/// the frame, wider when its text needs it.
pub fn frame_layout(outer: Rect, lines: usize, longest: usize, cell: Cell) -> FrameLayout {
    let lines_u32 = u32::try_from(lines).unwrap_or(u32::MAX);
    let text_width = cell
        .width
        .saturating_mul(u32::try_from(longest).unwrap_or(u32::MAX));
    let banner_height = 2 * PAD + lines_u32.saturating_mul(cell.line_height());
    let frame_width = outer.width.saturating_add(2 * FRAME);
    let frame_height = outer.height.saturating_add(2 * FRAME);
    let f = clamp_i32(FRAME);
    let above = outer.y - f - clamp_i32(banner_height) >= 0;
    // Where the frame's top edge is inside the mark window.
    let frame_top = if above { clamp_i32(banner_height) } else { 0 };
    let banner = if above {
        Rect::new(0, 0, frame_width.max(text_width + 2 * PAD), banner_height)
    } else {
        Rect::new(f, f, outer.width.max(text_width + 2 * PAD), banner_height)
    };
    let inner_height = outer.height;
    let bounding = vec![
        Rect::new(0, frame_top, frame_width, FRAME),
        Rect::new(
            0,
            frame_top + f + clamp_i32(outer.height),
            frame_width,
            FRAME,
        ),
        Rect::new(0, frame_top + f, FRAME, inner_height),
        Rect::new(
            f + clamp_i32(outer.width),
            frame_top + f,
            FRAME,
            inner_height,
        ),
        banner,
    ];
    let width = frame_width.max(clamp_u32(banner.right()));
    let height = (clamp_u32(frame_top) + frame_height).max(clamp_u32(banner.bottom()));
    let window = Rect::new(outer.x - f, outer.y - f - frame_top, width, height);
    FrameLayout {
        window,
        bounding,
        banner,
        baselines: baselines(banner, lines, cell),
    }
}

fn clamp_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn baselines(area: Rect, lines: usize, cell: Cell) -> Vec<(i32, i32)> {
    (0..lines)
        .map(|i| {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            (
                area.x + clamp_i32(PAD),
                area.y
                    + clamp_i32(PAD + cell.ascent)
                    + clamp_i32(i.saturating_mul(cell.line_height())),
            )
        })
        .collect()
}

/// Where a placeholder's panel is: over `outer`, grown to [`MIN_PANEL`] from its top-left
/// corner if smaller.
pub fn panel_rect(outer: Rect) -> Rect {
    Rect::new(
        outer.x,
        outer.y,
        outer.width.max(MIN_PANEL.0),
        outer.height.max(MIN_PANEL.1),
    )
}

/// The panel's window inside its border: where X puts a window with [`PANEL_BORDER`] so
/// that, border included, it covers `panel`.
pub fn panel_inside(panel: Rect) -> Rect {
    Rect::new(
        panel.x,
        panel.y,
        panel.width.saturating_sub(2 * PANEL_BORDER).max(1),
        panel.height.saturating_sub(2 * PANEL_BORDER).max(1),
    )
}

/// How many characters a line of the panel holds, and how many lines it shows.
pub fn panel_capacity(panel: Rect, cell: Cell) -> (usize, usize) {
    let inside = panel_inside(panel);
    let cols = inside.width.saturating_sub(2 * PAD) / cell.width.max(1);
    let rows = inside.height.saturating_sub(2 * PAD) / cell.line_height().max(1);
    (
        usize::try_from(cols).unwrap_or(usize::MAX),
        usize::try_from(rows).unwrap_or(usize::MAX),
    )
}

/// The baselines of the panel's `lines` lines, in its own coordinates.
pub fn panel_baselines(lines: usize, cell: Cell) -> Vec<(i32, i32)> {
    baselines(Rect::new(0, 0, 0, 0), lines, cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: Cell = Cell {
        width: 6,
        ascent: 11,
        descent: 2,
    };

    #[test]
    fn outer_geometry_counts_the_border_on_both_sides() {
        assert_eq!(Rect::outer(10, 20, 100, 50, 2), Rect::new(10, 20, 104, 54));
    }

    #[test]
    fn the_frame_surrounds_the_window_and_the_banner_sits_above_when_there_is_room() {
        let outer = Rect::new(100, 100, 200, 150);
        let l = frame_layout(outer, 2, 20, FIXED);
        let banner_height = 2 * PAD + 2 * FIXED.line_height();
        assert_eq!(l.banner, Rect::new(0, 0, 212, banner_height));
        let top = i32::try_from(banner_height).unwrap();
        assert_eq!(
            l.window,
            Rect::new(94, 94 - top, 212, banner_height + 150 + 12)
        );
        // The four strips, in window coordinates, leave the window itself uncovered.
        assert_eq!(l.bounding[0], Rect::new(0, top, 212, 6));
        assert_eq!(l.bounding[1], Rect::new(0, top + 6 + 150, 212, 6));
        assert_eq!(l.bounding[2], Rect::new(0, top + 6, 6, 150));
        assert_eq!(l.bounding[3], Rect::new(206, top + 6, 6, 150));
        let to_root = |r: Rect| Rect::new(r.x + l.window.x, r.y + l.window.y, r.width, r.height);
        for strip in &l.bounding[..4] {
            let s = to_root(*strip);
            let overlap = s.x < outer.right()
                && outer.x < s.right()
                && s.y < outer.bottom()
                && outer.y < s.bottom();
            assert!(!overlap, "{s:?} covers the window {outer:?}");
        }
        // Together, the strips and the window make the frame's outer rectangle.
        let area: u32 = l.bounding[..4].iter().map(|r| r.width * r.height).sum();
        assert_eq!(area + 200 * 150, 212 * 162);
        assert!(to_root(l.bounding[0]).y == outer.y - 6);
        assert_eq!(l.baselines, vec![(4, 4 + 11), (4, 4 + 11 + 15)]);
    }

    #[test]
    fn without_room_above_the_banner_goes_inside_the_windows_top_edge() {
        let outer = Rect::new(0, 0, 164, 164);
        let l = frame_layout(outer, 2, 10, FIXED);
        assert_eq!(l.window, Rect::new(-6, -6, 176, 176));
        assert_eq!(l.banner, Rect::new(6, 6, 164, 2 * PAD + 30));
        // In root coordinates the banner starts at the window's own corner.
        assert_eq!((l.banner.x + l.window.x, l.banner.y + l.window.y), (0, 0));
        assert_eq!(l.bounding[0], Rect::new(0, 0, 176, 6));
        // A window lower than the banner: the mark holds the whole banner.
        let low = frame_layout(Rect::new(0, 0, 164, 10), 2, 10, FIXED);
        assert_eq!(low.window.height, low.banner.bottom() as u32);
    }

    #[test]
    fn a_banner_wider_than_the_window_widens_the_mark() {
        let l = frame_layout(Rect::new(50, 200, 40, 40), 2, 30, FIXED);
        assert_eq!(l.banner.width, 30 * 6 + 2 * PAD);
        assert_eq!(l.window.width, l.banner.width);
        // The frame keeps the window's width.
        assert_eq!(l.bounding[0].width, 52);
    }

    #[test]
    fn the_protocols_rectangles_are_clamped_to_16_bits() {
        let r = Rect::new(-40_000, 40_000, 0, 70_000).to_x();
        assert_eq!(
            (r.x, r.y, r.width, r.height),
            (i16::MIN, i16::MAX, 1, u16::MAX)
        );
    }

    #[test]
    fn a_panel_covers_the_window_and_is_never_too_small_to_read() {
        assert_eq!(
            panel_rect(Rect::new(5, 6, 400, 300)),
            Rect::new(5, 6, 400, 300)
        );
        assert_eq!(
            panel_rect(Rect::new(5, 6, 10, 10)),
            Rect::new(5, 6, MIN_PANEL.0, MIN_PANEL.1)
        );
        // Inside the border and the padding.
        assert_eq!(
            panel_capacity(Rect::new(0, 0, 164 + 2 * PANEL_BORDER, 164), FIXED),
            (26, 10)
        );
        assert_eq!(
            panel_inside(Rect::new(5, 6, 100, 50)),
            Rect::new(5, 6, 96, 46)
        );
    }
}
