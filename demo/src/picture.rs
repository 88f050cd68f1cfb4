//! The screenshots as the reader gets them: the screen cropped to where the story happens
//! (the same crop for every shot of a scene, so they compare), a label under each
//! application window (which program, which host), and a caption band below the screen
//! (what happened at that moment). Written as PNG with the caption in its `Title` and
//! `Description` text chunks, and where the tests should look in `lifesign-demo-*` chunks.
//!
//! The labels and captions are drawn into the picture, not as X windows on the display:
//! what the screen part shows is exactly what the server showed (the overlay's marks
//! included), nothing the demo drew can hide or be taken for a mark, and the text can use a
//! real font (DejaVu Sans, [`crate::text`]) where an X window would have only the server's
//! core fonts.

use crate::display::{AppWindow, Rect};
use crate::shot::Image;
use crate::text::{Canvas, Style};
use std::path::{Path, PathBuf};

/// Space kept around the windows and marks of a scene.
const MARGIN: i32 = 20;
/// The least width of a picture, so that its caption reads in a few lines.
const MIN_WIDTH: i32 = 640;
/// Room under the lowest window for its label.
const LABEL_ROOM: i32 = 26;
const CAPTION: Style = Style::regular(15.0);
const HEADLINE: Style = Style::bold(15.0);
const LABEL: Style = Style::bold(13.0);
const PAD: i32 = 10;
/// The labels: white on a deep blue that no application here and no mark uses.
const LABEL_BG: [u8; 3] = [0x1f, 0x3f, 0x8f];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const CAPTION_BG: [u8; 3] = [0xfa, 0xfa, 0xf5];
const CAPTION_TEXT: [u8; 3] = [0, 0, 0];
/// The line between the screen and its caption.
const RULE: [u8; 3] = [0x40, 0x40, 0x40];

/// One moment of a scene, as captured.
pub struct Shot {
    /// The file's name, e.g. `1-suspect.png`.
    pub file: &'static str,
    /// The whole screen.
    pub image: Image,
    /// The application windows on it then, labelled.
    pub windows: Vec<AppWindow>,
    /// The overlay's marks on it then.
    pub marks: Vec<Rect>,
    /// The window the scene is about (host A's xclock), or where it was: for the tests.
    pub subject: Rect,
    /// What happened: its first line is the headline, in bold.
    pub caption: Vec<String>,
}

/// The crop of a scene's shots: everything any of them shows, with a margin, on the screen.
fn crop_of(shots: &[Shot]) -> Rect {
    let Some(first) = shots.first() else {
        return Rect {
            x: 0,
            y: 0,
            w: 1,
            h: 1,
        };
    };
    let all = shots
        .iter()
        .flat_map(|s| {
            s.windows
                .iter()
                .map(|w| w.outer)
                .chain(s.marks.iter().copied())
                .chain([s.subject])
        })
        .fold(first.subject, |a, r| a.union(&r));
    let (sw, sh) = (
        i32::try_from(first.image.width).unwrap_or(i32::MAX),
        i32::try_from(first.image.height).unwrap_or(i32::MAX),
    );
    // At least MIN_WIDTH wide, for the caption's lines, around the middle of it all.
    let extra = (MIN_WIDTH - all.w - 2 * MARGIN).max(0);
    let x = (all.x - MARGIN - extra / 2).max(0);
    let y = (all.y - MARGIN).max(0);
    let right = (all.right() + MARGIN + extra - extra / 2).max(x + MIN_WIDTH);
    Rect {
        x,
        y,
        w: right.min(sw) - x,
        h: (all.bottom() + MARGIN + LABEL_ROOM).min(sh) - y,
    }
}

/// Greedy word wrap of `text` into lines whose width (`measure`) is at most `width`.
fn wrap(text: &str, width: i32, measure: impl Fn(&str) -> i32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if measure(&candidate) > width && !line.is_empty() {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A caption's lines, folded to `width` pixels: (text, style).
fn caption_lines(caption: &[String], width: i32) -> Vec<(String, Style)> {
    caption
        .iter()
        .enumerate()
        .flat_map(|(i, para)| {
            let style = if i == 0 { HEADLINE } else { CAPTION };
            wrap(para, width, |s| style.width(s))
                .into_iter()
                .map(move |l| (l, style))
        })
        .collect()
}

/// Writes each shot of a scene into `out`; their paths.
pub fn write_scene(out: &Path, shots: &[Shot]) -> Result<Vec<PathBuf>, String> {
    crate::text::check()?;
    let crop = crop_of(shots);
    let text_width = crop.w - 2 * PAD;
    // One band height for the scene, so that its pictures have one size.
    let rows = shots
        .iter()
        .map(|s| caption_lines(&s.caption, text_width).len())
        .max()
        .unwrap_or(0);
    let band = 2 * PAD + CAPTION.line_height() * i32::try_from(rows).unwrap_or(0);
    shots
        .iter()
        .map(|shot| {
            let path = out.join(shot.file);
            write_shot(&path, shot, crop, band)?;
            Ok(path)
        })
        .collect()
}

fn write_shot(path: &Path, shot: &Shot, crop: Rect, band: i32) -> Result<(), String> {
    let (w, screen_h) = (crop.w, crop.h);
    let h = screen_h + band;
    let row_bytes = (w * 3) as usize;
    let mut rgb = vec![0u8; row_bytes * h as usize];
    for row in 0..screen_h {
        let from = ((crop.y + row) as usize * shot.image.width as usize + crop.x as usize) * 3;
        let to = row as usize * row_bytes;
        rgb[to..to + row_bytes].copy_from_slice(&shot.image.rgb[from..from + row_bytes]);
    }
    let mut canvas = Canvas {
        rgb: &mut rgb,
        width: w,
        height: h,
    };
    // Labels under their windows, and under the overlay's frame around one (inside the
    // window's bottom edge if the crop ends first).
    for window in &shot.windows {
        let (tw, th) = (LABEL.width(&window.label), LABEL.line_height());
        let x = (window.outer.x - crop.x).clamp(0, (w - tw - 8).max(0));
        let bottom = shot
            .marks
            .iter()
            .filter(|m| m.encloses(&window.outer))
            .map(Rect::bottom)
            .fold(window.outer.bottom(), i32::max);
        let mut y = bottom - crop.y + 4;
        if y + th + 4 > screen_h {
            y = window.outer.bottom() - crop.y - th - 8;
        }
        canvas.fill((x, y, tw + 8, th + 4), LABEL_BG);
        canvas.text(x + 4, y + 2, &window.label, LABEL, WHITE);
    }
    // The caption band.
    canvas.fill((0, screen_h, w, band), CAPTION_BG);
    canvas.fill((0, screen_h, w, 1), RULE);
    let mut y = screen_h + PAD;
    for (line, style) in caption_lines(&shot.caption, w - 2 * PAD) {
        canvas.text(PAD, y, &line, style, CAPTION_TEXT);
        y += CAPTION.line_height();
    }
    let subject = Rect {
        x: shot.subject.x - crop.x,
        y: shot.subject.y - crop.y,
        ..shot.subject
    };
    let chunks = [
        ("Title", shot.caption.first().cloned().unwrap_or_default()),
        ("Description", shot.caption.join("\n")),
        (
            "lifesign-demo-subject",
            format!("{} {} {} {}", subject.x, subject.y, subject.w, subject.h),
        ),
        ("lifesign-demo-screen", format!("0 0 {w} {screen_h}")),
        ("lifesign-demo-caption", format!("0 {screen_h} {w} {band}")),
    ];
    write_png(path, w as u32, h as u32, &rgb, &chunks)
}

/// Writes RGB pixels as a PNG with the given text chunks (Latin-1: anything else is
/// replaced by `?`).
pub fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    rgb: &[u8],
    text: &[(&str, String)],
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    for (keyword, value) in text {
        let latin1: String = value
            .chars()
            .map(|c| if u32::from(c) < 256 { c } else { '?' })
            .collect();
        encoder
            .add_text_chunk((*keyword).to_owned(), latin1)
            .map_err(|e| fail(&e))?;
    }
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    writer.write_image_data(rgb).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_the_width() {
        let by_chars = |s: &str| s.len() as i32;
        assert_eq!(
            wrap("one two three four", 9, by_chars),
            ["one two", "three", "four"]
        );
        // A word longer than the width gets a line of its own, whole.
        assert_eq!(wrap("a enormous b", 3, by_chars), ["a", "enormous", "b"]);
        assert!(wrap("", 10, by_chars).is_empty());
    }
}
