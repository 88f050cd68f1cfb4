//! The timeline as a picture: for each scene, its events on an axis of milliseconds from the
//! fault, one row each in time order, under a span showing the configured deadline from the
//! moment it counts from (the last request for IdleTimeout, the unanswered ping for
//! WmPingTimeout), so that a reader sees the loss land at its end. plotters places and
//! draws the shapes; the text is [`crate::text`]'s.

use crate::picture::write_png;
use crate::text::{Canvas, Style};
use crate::timeline::{Kind, Timeline};
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1000;
const ROW: u32 = 24;
/// A panel's title, axis and margins, above and below its rows.
const PANEL_EXTRA: u32 = 100;
const TITLE: Style = Style::bold(16.0);
const LABEL: Style = Style::regular(13.0);
const AXIS: Style = Style::regular(12.0);
const GRID_MS: i64 = 500;

fn colour(kind: Kind) -> [u8; 3] {
    match kind {
        Kind::Fault => [0xc0, 0x10, 0x10],
        Kind::Quiet => [0x60, 0x60, 0x60],
        Kind::Suspect => [0xd0, 0x70, 0x00],
        Kind::Lost => [0x80, 0x00, 0x30],
        Kind::Overlay => [0x70, 0x30, 0xa0],
        Kind::Launcher => [0x1f, 0x3f, 0x8f],
        Kind::Backup => [0x20, 0x80, 0x30],
        Kind::Shot => [0x30, 0x30, 0x30],
    }
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Rows of a panel: the deadline's span, then one per entry.
fn rows(t: &Timeline) -> u32 {
    u32::try_from(t.entries().len()).unwrap_or(0) + u32::from(t.deadline.is_some())
}

/// A text to write once plotters is done: where (pixels), what, how, and which way from
/// the point it reads (left-aligned, centred or right-aligned; top or vertically centred).
struct Label {
    at: (i32, i32),
    text: String,
    style: Style,
    colour: [u8; 3],
    align: Align,
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Centre,
    Right,
}

/// Draws every scene's timeline, one panel under the other, into `path`; `axis` names
/// each panel's axis.
pub fn write(path: &Path, scenes: &[&Timeline], axis: &[&str]) -> Result<(), String> {
    crate::text::check()?;
    let heights: Vec<u32> = scenes.iter().map(|t| rows(t) * ROW + PANEL_EXTRA).collect();
    let height: u32 = heights.iter().sum();
    let mut rgb_buf = vec![0u8; (WIDTH * height * 3) as usize];
    let fail = |e: String| format!("{}: {e}", path.display());
    let mut labels = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut rgb_buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let mut rest = root.clone();
        let mut top = 0;
        for (i, t) in scenes.iter().enumerate() {
            let (panel, below) = rest.split_vertically(heights[i]);
            rest = below;
            labels.push(Label {
                at: (12, i32::try_from(top).unwrap_or(0) + 8),
                text: t.title.clone(),
                style: TITLE,
                colour: [0, 0, 0],
                align: Align::Left,
            });
            draw_panel(&panel, t, axis.get(i).copied().unwrap_or("ms"), &mut labels)
                .map_err(|e| fail(e.to_string()))?;
            top += heights[i];
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let mut canvas = Canvas {
        rgb: &mut rgb_buf,
        width: WIDTH as i32,
        height: height as i32,
    };
    for l in &labels {
        let w = l.style.width(&l.text);
        let x = match l.align {
            Align::Left => l.at.0,
            Align::Centre => l.at.0 - w / 2,
            Align::Right => l.at.0 - w,
        };
        canvas.text(x, l.at.1, &l.text, l.style, l.colour);
    }
    let title = scenes
        .iter()
        .map(|t| t.title.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    write_png(
        path,
        WIDTH,
        height,
        &rgb_buf,
        &[("Title", format!("Timeline: {title}"))],
    )
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    t: &Timeline,
    axis: &str,
    labels: &mut Vec<Label>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let entries = t.entries();
    let offsets = entries.iter().map(|e| t.offset(e.at)).chain(
        t.deadline
            .iter()
            .flat_map(|d| [t.offset(d.from), t.offset(d.from + d.ms)]),
    );
    let (lo, hi) = offsets.fold((0i64, 0i64), |(lo, hi), o| (lo.min(o), hi.max(o)));
    // Whole half-seconds around everything.
    let lo_ms = (lo - 200).div_euclid(GRID_MS) * GRID_MS;
    let hi_ms = (hi + 200).div_euclid(GRID_MS) * GRID_MS + GRID_MS;
    let (lo, hi) = (lo_ms as f64, hi_ms as f64);
    let n = f64::from(rows(t));
    let mut chart = ChartBuilder::on(area)
        .margin_top(36)
        .margin_left(16)
        .margin_right(28)
        .margin_bottom(44)
        .build_cartesian_2d(lo..hi, -0.5..n - 0.5)?;
    let px = |chart: &ChartContext<'_, DB, _>, x: f64, y: f64| chart.backend_coord(&(x, y));
    // The grid, every half second, and the axis under it with its numbers.
    let grid = rgb([0xe4, 0xe4, 0xe4]);
    let mut ms = lo_ms;
    while ms <= hi_ms {
        let x = ms as f64;
        chart.draw_series(LineSeries::new([(x, -0.5), (x, n - 0.5)], grid))?;
        let (px_x, px_y) = px(&chart, x, -0.5);
        labels.push(Label {
            at: (px_x, px_y + 4),
            text: format!("{ms:+}"),
            style: AXIS,
            colour: [0x40, 0x40, 0x40],
            align: Align::Centre,
        });
        ms += GRID_MS;
    }
    chart.draw_series(LineSeries::new([(lo, -0.5), (hi, -0.5)], BLACK))?;
    let (mid, bottom) = px(&chart, (lo + hi) / 2.0, -0.5);
    labels.push(Label {
        at: (mid, bottom + 20),
        text: axis.to_owned(),
        style: AXIS,
        colour: [0x40, 0x40, 0x40],
        align: Align::Centre,
    });
    // The fault, down through every row.
    chart.draw_series(LineSeries::new(
        [(0.0, -0.5), (0.0, n - 0.5)],
        rgb(colour(Kind::Fault)).mix(0.5),
    ))?;
    let half = LABEL.line_height() / 2;
    let mut row = n - 1.0;
    if let Some(d) = &t.deadline {
        let (from, to) = (t.offset(d.from) as f64, t.offset(d.from + d.ms) as f64);
        let c = rgb(colour(Kind::Lost));
        chart.draw_series([Rectangle::new(
            [(from, row - 0.32), (to, row + 0.32)],
            c.mix(0.15).filled(),
        )])?;
        chart.draw_series([Rectangle::new([(from, row - 0.32), (to, row + 0.32)], c)])?;
        // Its end, down through every row: where the loss should land.
        chart.draw_series(LineSeries::new([(to, -0.5), (to, n - 0.5)], c.mix(0.6)))?;
        let (x, y) = px(&chart, (from + to) / 2.0, row);
        labels.push(Label {
            at: (x, y - half),
            text: format!("{} {} ms, as configured", d.option, d.ms),
            style: LABEL,
            colour: colour(Kind::Lost),
            align: Align::Centre,
        });
        row -= 1.0;
    }
    for e in &entries {
        let x = t.offset(e.at) as f64;
        let c = rgb(colour(e.kind));
        if e.kind == Kind::Shot {
            // A square, for a picture taken.
            chart.draw_series([
                EmptyElement::at((x, row)) + Rectangle::new([(-5, -5), (5, 5)], c.filled())
            ])?;
        } else {
            chart.draw_series([Circle::new((x, row), 5, c.filled())])?;
        }
        let (px_x, px_y) = px(&chart, x, row);
        // Labels read rightwards from their point, or leftwards in the panel's right part.
        let right = x > lo + (hi - lo) * 0.6;
        labels.push(Label {
            at: (if right { px_x - 10 } else { px_x + 10 }, px_y - half),
            text: format!("{:+} ms  {}", t.offset(e.at), e.short),
            style: LABEL,
            colour: colour(e.kind),
            align: if right { Align::Right } else { Align::Left },
        });
        row -= 1.0;
    }
    Ok(())
}
