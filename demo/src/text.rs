//! Text on RGB pictures, with DejaVu Sans through ab_glyph: each glyph placed at its pen
//! position on a common baseline, with its side bearing and kerning, and blended by its
//! coverage. (plotters' own ab_glyph text drops the side bearings and places each glyph
//! by its own bounds, which raises full stops to mid-height: `10·211·1·2`.)

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};
use std::sync::OnceLock;

const REGULAR: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

struct Fonts {
    regular: FontArc,
    bold: FontArc,
}

fn fonts() -> Result<&'static Fonts, String> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let load = |path: &str| {
                let bytes = std::fs::read(path).map_err(|e| {
                    format!("{path}: {e} (the pictures' font: Debian package fonts-dejavu-core, which scripts/deps.sh installs)")
                })?;
                FontArc::try_from_vec(bytes).map_err(|e| format!("{path}: {e}"))
            };
            Ok(Fonts {
                regular: load(REGULAR)?,
                bold: load(BOLD)?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads the fonts now, so that a missing font is said before anything is drawn.
pub fn check() -> Result<(), String> {
    fonts().map(|_| ())
}

/// A size and a weight.
#[derive(Clone, Copy)]
pub struct Style {
    pub size: f32,
    pub bold: bool,
}

impl Style {
    pub const fn regular(size: f32) -> Self {
        Self { size, bold: false }
    }

    pub const fn bold(size: f32) -> Self {
        Self { size, bold: true }
    }

    fn font(&self) -> Option<&'static FontArc> {
        let f = fonts().ok()?;
        Some(if self.bold { &f.bold } else { &f.regular })
    }

    /// The height of a line: ascent, descent and the font's line gap.
    pub fn line_height(&self) -> i32 {
        self.font().map_or(self.size.ceil() as i32, |f| {
            let s = f.as_scaled(PxScale::from(self.size));
            (s.ascent() - s.descent() + s.line_gap()).ceil() as i32
        })
    }

    /// How wide `text` is, in pixels.
    pub fn width(&self, text: &str) -> i32 {
        let Some(font) = self.font() else {
            return 0;
        };
        let s = font.as_scaled(PxScale::from(self.size));
        let mut x = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = s.glyph_id(c);
            if let Some(p) = prev {
                x += s.kern(p, id);
            }
            x += s.h_advance(id);
            prev = Some(id);
        }
        x.ceil() as i32
    }
}

/// An RGB picture to write on, `width` pixels a row.
pub struct Canvas<'a> {
    pub rgb: &'a mut [u8],
    pub width: i32,
    pub height: i32,
}

impl Canvas<'_> {
    fn blend(&mut self, x: i32, y: i32, rgb: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.width || y >= self.height {
            return;
        }
        let i = ((y * self.width + x) * 3) as usize;
        let a = alpha.clamp(0.0, 1.0);
        for (k, c) in rgb.iter().enumerate() {
            let old = f32::from(self.rgb[i + k]);
            self.rgb[i + k] = (old + (f32::from(*c) - old) * a).round() as u8;
        }
    }

    /// Fills the rectangle (x, y, w, h).
    pub fn fill(&mut self, (x, y, w, h): (i32, i32, i32, i32), rgb: [u8; 3]) {
        for py in y.max(0)..(y + h).min(self.height) {
            for px in x.max(0)..(x + w).min(self.width) {
                self.blend(px, py, rgb, 1.0);
            }
        }
    }

    /// Writes `text` with its top-left corner at (x, y).
    pub fn text(&mut self, x: i32, y: i32, text: &str, style: Style, rgb: [u8; 3]) {
        let Some(font) = style.font() else {
            return;
        };
        let scale = PxScale::from(style.size);
        let s = font.as_scaled(scale);
        let baseline = y as f32 + s.ascent();
        let mut pen = x as f32;
        let mut prev = None;
        for c in text.chars() {
            let id = s.glyph_id(c);
            if let Some(p) = prev {
                pen += s.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(pen, baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (ox, oy) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|gx, gy, coverage| {
                    self.blend(ox + gx as i32, oy + gy as i32, rgb, coverage);
                });
            }
            pen += s.h_advance(id);
            prev = Some(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_inside_its_box_and_measured() {
        if check().is_err() {
            eprintln!("no DejaVu Sans here: skipped");
            return;
        }
        let style = Style::regular(15.0);
        let (w, h) = (style.width("10.211.1.2"), style.line_height());
        assert!(w > 40 && w < 120, "{w}");
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        Canvas {
            rgb: &mut rgb,
            width: w,
            height: h,
        }
        .text(0, 0, "10.211.1.2", style, [0, 0, 0]);
        assert!(rgb.iter().any(|&c| c < 128), "some ink");
    }
}
