//! PNG plots for the report, drawn in pure Rust (plotters): a reader sees the spread of every
//! figure, not only its median and extremes.
//!
//! Text goes through ab_glyph, which loads no system font by itself: DejaVu Sans (Debian's
//! fonts-dejavu-core, installed by scripts/bench.sh) is read once at the first plot.

// Each part of the bench draws what it needs; not every build uses every kind of plot.
#![allow(dead_code)]

use crate::stats::summarize;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f64],
}

const SIZE: (u32, u32) = (1000, 600);
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The folder the plots of a report go to, `<report's dir>/benchmarks` (created), so that the
/// report links them as `benchmarks/NAME.png` wherever `--out` puts it.
pub fn dir(report: &Path) -> PathBuf {
    let parent = report
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join("benchmarks");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create the plots' folder {}: {e}", dir.display()));
    dir
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes = std::fs::read(FONT).unwrap_or_else(|e| {
            panic!("read {FONT} (Debian package fonts-dejavu-core) for the plots' text: {e}")
        });
        // Registered fonts must live for the program's life: plotters keeps a reference.
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .unwrap_or_else(|_| panic!("{FONT} is not a font plotters can read"));
    });
}

const MAX_BINS: usize = 40;

/// Shared histogram bins: `count` bins of `width` from `low`.
#[derive(Debug, PartialEq)]
struct Bins {
    low: f64,
    width: f64,
    count: usize,
}

impl Bins {
    /// About the square root of the number of values, at most [`MAX_BINS`]. Integer data
    /// (milliseconds, counts) gets bins of whole units centred on the integers, one per integer
    /// while at most [`MAX_BINS`] of them span the data: no bin falls between two integers and
    /// stays empty for that reason alone, and a few milliseconds of spread stay visible.
    fn of(values: &[f64]) -> Bins {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if min > max {
            return Bins {
                low: 0.0,
                width: 1.0,
                count: 1,
            };
        }
        let wanted = ((values.len() as f64).sqrt().ceil() as usize).clamp(1, MAX_BINS);
        let integers = values.iter().all(|v| v.fract() == 0.0);
        let span = max - min;
        if integers {
            let width = ((span + 1.0) / MAX_BINS as f64).ceil();
            let low = min - width / 2.0;
            return Bins {
                low,
                width,
                count: ((max - low) / width).floor() as usize + 1,
            };
        }
        if span == 0.0 {
            let width = if min == 0.0 { 1.0 } else { min.abs() * 0.02 };
            return Bins {
                low: min - width / 2.0,
                width,
                count: 1,
            };
        }
        Bins {
            low: min,
            width: span / wanted as f64,
            count: wanted,
        }
    }

    fn index(&self, value: f64) -> usize {
        (((value - self.low) / self.width).floor().max(0.0) as usize).min(self.count - 1)
    }

    fn counts(&self, values: &[f64]) -> Vec<usize> {
        let mut counts = vec![0; self.count];
        for &v in values.iter().filter(|v| v.is_finite()) {
            counts[self.index(v)] += 1;
        }
        counts
    }

    fn high(&self) -> f64 {
        self.low + self.width * self.count as f64
    }
}

/// Strong, distinct colours (matplotlib's "tab10"): plotters' own palettes have pale ones
/// that vanish on white.
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b)
}

fn fail(path: &Path, e: impl std::fmt::Display) -> ! {
    panic!("draw the plot {}: {e}", path.display())
}

/// Histogram of each series with shared bins (overlaid, translucent colours, legend),
/// x = value, y = count. Writes a PNG (1000x600).
pub fn histogram(path: &Path, title: &str, x_label: &str, series: &[Series]) {
    register_font();
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .collect();
    let bins = Bins::of(&all);
    let counts: Vec<Vec<usize>> = series.iter().map(|s| bins.counts(s.values)).collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).unwrap_or_else(|e| fail(path, e));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(bins.low..bins.high(), 0.0..top as f64 * 1.1)
        .unwrap_or_else(|e| fail(path, e));
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("count")
        .label_style(("sans-serif", 15))
        .draw()
        .unwrap_or_else(|e| fail(path, e));
    for (i, (s, counts)) in series.iter().zip(&counts).enumerate() {
        let c = colour(i);
        let bars = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(b, n)| {
                let x = bins.low + bins.width * b as f64;
                Rectangle::new(
                    [(x, 0.0), (x + bins.width, *n as f64)],
                    c.mix(0.35).filled(),
                )
            });
        chart
            .draw_series(bars)
            .unwrap_or_else(|e| fail(path, e))
            .label(format!("{} (n = {})", s.label, s.values.len()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        // An outline per bar keeps overlapping series apart where the fills mix.
        let outlines = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(b, n)| {
                let x = bins.low + bins.width * b as f64;
                Rectangle::new([(x, 0.0), (x + bins.width, *n as f64)], c.stroke_width(2))
            });
        chart
            .draw_series(outlines)
            .unwrap_or_else(|e| fail(path, e));
    }
    legend(&mut chart, path);
    root.present().unwrap_or_else(|e| fail(path, e));
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    path: &Path,
) {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .unwrap_or_else(|e| fail(path, e));
}

/// Strip plots' x axis in hundredths of a column: integer coordinates are the ones plotters
/// lets us put one named tick on each column's centre.
const COLUMN: i32 = 100;

/// Horizontal offset of the `i`th dot of a column, within a quarter column of its centre:
/// deterministic (golden-ratio steps), so the same data draws the same picture.
fn jitter(i: usize) -> i32 {
    (((i as f64 * 0.618_033_988_75).fract() - 0.5) * 0.5 * f64::from(COLUMN)).round() as i32
}

/// The y range holding every value and the reference, with a margin.
fn y_range(series: &[Series], reference: Option<f64>) -> (f64, f64) {
    let values = series.iter().flat_map(|s| s.values.iter().copied());
    let (lo, hi) = values
        .chain(reference)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else if lo != 0.0 {
        lo.abs() * 0.05
    } else {
        1.0
    };
    (lo - pad, hi + pad)
}

/// One column per series; each value a dot (jittered horizontally), plus the median as a short
/// bar; y = value. For ratios per round, latencies per trial. Optional horizontal reference line
/// (e.g. target 0.98) when `reference` is Some.
pub fn strip(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series],
    reference: Option<(f64, &str)>,
) {
    register_font();
    let columns = series.len().max(1) as i32;
    let (lo, hi) = y_range(series, reference.map(|(v, _)| v));
    let (left, right) = (-COLUMN / 2, columns * COLUMN - COLUMN / 2);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).unwrap_or_else(|e| fail(path, e));
    // One tick per column, at its centre, named by the series' label.
    let ticks: Vec<i32> = (0..columns).map(|i| i * COLUMN).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((left..right).with_key_points(ticks), lo..hi)
        .unwrap_or_else(|e| fail(path, e));
    let name = |x: &i32| {
        usize::try_from(x / COLUMN)
            .ok()
            .filter(|_| x % COLUMN == 0)
            .and_then(|i| series.get(i))
            .map_or(String::new(), |s| s.label.to_owned())
    };
    // Narrow columns get smaller names, so that neighbours' names do not run together.
    let label_size = if columns > 6 { 12 } else { 15 };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&name)
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .x_label_style(("sans-serif", label_size))
        .draw()
        .unwrap_or_else(|e| fail(path, e));
    if let Some((value, label)) = reference {
        chart
            .draw_series(DashedLineSeries::new(
                [(left, value), (right, value)],
                10,
                6,
                RED.stroke_width(2),
            ))
            .unwrap_or_else(|e| fail(path, e))
            .label(format!("{label} ({value})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    for (column, s) in (0..).zip(series) {
        let (c, x) = (colour(column as usize), column * COLUMN);
        // The median first, so that the dots stay visible on top of it.
        if !s.values.is_empty() {
            let median = summarize(s.values).median;
            let half = COLUMN * 32 / 100;
            chart
                .draw_series(LineSeries::new(
                    [(x - half, median), (x + half, median)],
                    BLACK.mix(0.8).stroke_width(3),
                ))
                .unwrap_or_else(|e| fail(path, e));
        }
        let dots = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| Circle::new((x + jitter(i), v), 4, c.mix(0.8).filled()));
        chart.draw_series(dots).unwrap_or_else(|e| fail(path, e));
    }
    if reference.is_some() {
        legend(&mut chart, path);
    }
    root.present().unwrap_or_else(|e| fail(path, e));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bins_are_whole_units_centred_on_integers() {
        let b = Bins::of(&[0.0, 1.0, 1.0, 2.0, 4.0]);
        assert_eq!(
            b,
            Bins {
                low: -0.5,
                width: 1.0,
                count: 5
            }
        );
        assert_eq!(b.counts(&[0.0, 1.0, 1.0, 2.0, 4.0]), vec![1, 2, 1, 0, 1]);
        // Negative latencies (transport-timeout's bound) too.
        let b = Bins::of(&[-409.0, -400.0]);
        assert_eq!(b.counts(&[-409.0, -400.0]).iter().sum::<usize>(), 2);
        assert!(b.low < -409.0 && b.high() > -400.0);
    }

    #[test]
    fn real_bins_span_the_data_and_hold_every_value() {
        let values: Vec<f64> = (0..100).map(|i| 0.9 + f64::from(i) * 0.002).collect();
        let b = Bins::of(&values);
        assert_eq!(b.count, 10);
        assert_eq!(b.low, 0.9);
        let counts = b.counts(&values);
        assert_eq!(counts.iter().sum::<usize>(), 100);
        // The maximum lands in the last bin, not past it.
        assert!(counts[9] > 0);
    }

    #[test]
    fn degenerate_data_gets_one_bin() {
        assert_eq!(Bins::of(&[]).count, 1);
        let b = Bins::of(&[0.5, 0.5]);
        assert_eq!((b.count, b.counts(&[0.5, 0.5])), (1, vec![2]));
    }

    #[test]
    fn jitter_stays_inside_its_column() {
        assert!((0..1000).map(jitter).all(|j| j.abs() <= COLUMN / 4));
    }

    /// Draws both kinds into a temp folder; `LIFESIGN_PLOT_KEEP=DIR` keeps them there to look at.
    #[test]
    fn draws_pngs() {
        let dir = std::env::var_os("LIFESIGN_PLOT_KEEP").map_or_else(
            || std::env::temp_dir().join(format!("lifesign-plot-{}", std::process::id())),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir).unwrap();
        let a: Vec<f64> = (0..40).map(|i| f64::from(i % 7)).collect();
        let b: Vec<f64> = (0..40).map(|i| f64::from(i % 5) + 2.0).collect();
        let series = [
            Series {
                label: "idle-timeout",
                values: &a,
            },
            Series {
                label: "noop-missed",
                values: &b,
            },
        ];
        let ratios: Vec<f64> = (0..10).map(|i| 0.95 + f64::from(i) * 0.01).collect();
        let strips = [
            Series {
                label: "noop, every mode",
                values: &ratios,
            },
            Series {
                label: "noop, defaults",
                values: &ratios[2..],
            },
            Series {
                label: "empty",
                values: &[],
            },
        ];
        let h = dir.join("histogram.png");
        let s = dir.join("strip.png");
        histogram(&h, "Detection latency", "ms past the deadline", &series);
        strip(
            &s,
            "Throughput ratio to stock",
            "ratio",
            &strips,
            Some((0.98, "target")),
        );
        for png in [h, s] {
            let bytes = std::fs::read(&png).unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "{} is no PNG", png.display());
            assert!(bytes.len() > 5000, "{} is nearly empty", png.display());
        }
        if std::env::var_os("LIFESIGN_PLOT_KEEP").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn y_range_holds_values_and_reference() {
        let values = [1.0, 1.1];
        let (lo, hi) = y_range(
            &[Series {
                label: "a",
                values: &values,
            }],
            Some(0.98),
        );
        assert!(lo < 0.98 && hi > 1.1);
    }
}
