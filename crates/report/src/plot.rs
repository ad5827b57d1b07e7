//! The loss plot: a PNG of one or more loss curves (x = epoch, fractional allowed; y = loss) drawn
//! with a built-in 5x7 bitmap font, and a terminal sparkline.

use exphil_io::write_atomic;
use std::path::Path;

/// Plot width in pixels.
pub const WIDTH: u32 = 800;
/// Plot height in pixels.
pub const HEIGHT: u32 = 500;
/// The background colour.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];
/// Series colours, in order (repeating after the last).
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];
const INK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [226, 226, 226];
/// Glyph magnification (5x7 glyphs drawn as 10x14).
const SCALE: i64 = 2;
/// Horizontal advance of one character, in pixels.
const ADVANCE: i64 = 6 * SCALE;
/// Plot area, in pixels.
const LEFT: i64 = 96;
const RIGHT: i64 = WIDTH as i64 - 24;
const TOP: i64 = 36;
const BOTTOM: i64 = HEIGHT as i64 - 64;

/// 5x7 glyphs, rows top to bottom, `#` for ink. Lower-case letters are drawn with the
/// upper-case glyphs; characters without a glyph are drawn as `?`.
const FONT: &[(char, [&str; 7])] = &[
    (
        '0',
        [
            " ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### ",
        ],
    ),
    (
        '1',
        [
            "  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
        ],
    ),
    (
        '2',
        [
            " ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####",
        ],
    ),
    (
        '3',
        [
            "#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### ",
        ],
    ),
    (
        '4',
        [
            "   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # ",
        ],
    ),
    (
        '5',
        [
            "#####", "#    ", "#### ", "    #", "    #", "#   #", " ### ",
        ],
    ),
    (
        '6',
        [
            "  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### ",
        ],
    ),
    (
        '7',
        [
            "#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   ",
        ],
    ),
    (
        '8',
        [
            " ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### ",
        ],
    ),
    (
        '9',
        [
            " ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  ",
        ],
    ),
    (
        'A',
        [
            " ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'B',
        [
            "#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### ",
        ],
    ),
    (
        'C',
        [
            " ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### ",
        ],
    ),
    (
        'D',
        [
            "#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### ",
        ],
    ),
    (
        'E',
        [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####",
        ],
    ),
    (
        'F',
        [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    ",
        ],
    ),
    (
        'G',
        [
            " ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####",
        ],
    ),
    (
        'H',
        [
            "#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'I',
        [
            " ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
        ],
    ),
    (
        'J',
        [
            "  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  ",
        ],
    ),
    (
        'K',
        [
            "#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #",
        ],
    ),
    (
        'L',
        [
            "#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####",
        ],
    ),
    (
        'M',
        [
            "#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'N',
        [
            "#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #",
        ],
    ),
    (
        'O',
        [
            " ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
    ),
    (
        'P',
        [
            "#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    ",
        ],
    ),
    (
        'Q',
        [
            " ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #",
        ],
    ),
    (
        'R',
        [
            "#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #",
        ],
    ),
    (
        'S',
        [
            " ####", "#    ", "#    ", " ### ", "    #", "    #", "#### ",
        ],
    ),
    (
        'T',
        [
            "#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
    ),
    (
        'U',
        [
            "#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
    ),
    (
        'V',
        [
            "#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  ",
        ],
    ),
    (
        'W',
        [
            "#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # ",
        ],
    ),
    (
        'X',
        [
            "#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #",
        ],
    ),
    (
        'Y',
        [
            "#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
    ),
    (
        'Z',
        [
            "#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####",
        ],
    ),
    (
        '.',
        [
            "     ", "     ", "     ", "     ", "     ", " ##  ", " ##  ",
        ],
    ),
    (
        ',',
        [
            "     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   ",
        ],
    ),
    (
        '-',
        [
            "     ", "     ", "     ", "#####", "     ", "     ", "     ",
        ],
    ),
    (
        '+',
        [
            "     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     ",
        ],
    ),
    (
        '_',
        [
            "     ", "     ", "     ", "     ", "     ", "     ", "#####",
        ],
    ),
    (
        ':',
        [
            "     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     ",
        ],
    ),
    (
        '=',
        [
            "     ", "     ", "#####", "     ", "#####", "     ", "     ",
        ],
    ),
    (
        '/',
        [
            "     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     ",
        ],
    ),
    (
        '(',
        [
            "   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # ",
        ],
    ),
    (
        ')',
        [
            " #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   ",
        ],
    ),
    (
        '%',
        [
            "##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##",
        ],
    ),
    (
        '?',
        [
            " ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  ",
        ],
    ),
    (
        ' ',
        [
            "     ", "     ", "     ", "     ", "     ", "     ", "     ",
        ],
    ),
];

fn glyph(c: char) -> &'static [&'static str; 7] {
    let c = c.to_ascii_uppercase();
    FONT.iter()
        .find(|(g, _)| *g == c)
        .or_else(|| FONT.iter().find(|(g, _)| *g == '?'))
        .map(|(_, rows)| rows)
        .expect("the font has '?'")
}

/// An RGB image being drawn.
struct Canvas {
    w: i64,
    h: i64,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Canvas {
        let mut px = Vec::with_capacity(w as usize * h as usize * 3);
        for _ in 0..w as usize * h as usize {
            px.extend_from_slice(&BACKGROUND);
        }
        Canvas {
            w: i64::from(w),
            h: i64::from(h),
            px,
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..self.w).contains(&x) && (0..self.h).contains(&y) {
            let i = ((y * self.w + x) * 3) as usize;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.set(x, y, c);
            }
        }
    }

    /// A line two pixels thick, clipped to the rectangle `clip` (x0, y0, x1, y1).
    fn line(&mut self, a: (f64, f64), b: (f64, f64), c: [u8; 3], clip: (i64, i64, i64, i64)) {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as i64).clamp(1, 100_000);
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let x = (a.0 + (b.0 - a.0) * t).round() as i64;
            let y = (a.1 + (b.1 - a.1) * t).round() as i64;
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (px, py) = (x + dx, y + dy);
                if px >= clip.0 && px <= clip.2 && py >= clip.1 && py <= clip.3 {
                    self.set(px, py, c);
                }
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y).
    fn text(&mut self, x: i64, y: i64, text: &str, c: [u8; 3]) {
        for (i, ch) in text.chars().enumerate() {
            let gx = x + i as i64 * ADVANCE;
            for (row, bits) in glyph(ch).iter().enumerate() {
                for (col, b) in bits.bytes().enumerate() {
                    if b == b'#' {
                        let px = gx + col as i64 * SCALE;
                        let py = y + row as i64 * SCALE;
                        self.rect(px, py, px + SCALE - 1, py + SCALE - 1, c);
                    }
                }
            }
        }
    }

    fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            // Encoding into memory fails only on a size mismatch, which cannot happen here.
            let mut writer = enc.write_header().expect("PNG header into memory");
            writer
                .write_image_data(&self.px)
                .expect("PNG data of the canvas size into memory");
            writer.finish().expect("PNG end into memory");
        }
        out
    }
}

fn text_width(text: &str) -> i64 {
    text.chars().count() as i64 * ADVANCE - SCALE
}

/// Tick positions covering `[lo, hi]` at a "nice" step (1, 2 or 5 times a power of ten), about
/// `target` of them, and the step.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, step)
}

/// A tick label: plain decimals suited to the step, or scientific notation for very large or
/// small values.
fn tick_label(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    let big = v.abs().max(step);
    if big >= 1e6 || step < 1e-4 {
        let s = format!("{v:.2e}");
        // 1.50e-5 -> 1.5e-5, 1.00e3 -> 1e3
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            _ => s,
        }
    } else {
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// The data range `[lo, hi]` of `values` widened to whole ticks (with a margin for `pad`), or
/// `[0, 1]` when there are none.
fn axis_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()).max(1e-300) {
        let d = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        lo -= d;
        hi += d;
    } else {
        let d = (hi - lo) * pad;
        lo -= d;
        hi += d;
    }
    let (_, step) = nice_ticks(lo, hi, 6);
    (
        (lo / step + 1e-9).floor() * step,
        (hi / step - 1e-9).ceil() * step,
    )
}

/// Renders loss curves as an 800x500 PNG: white background, axes with numeric ticks and grid
/// lines, the axis names `EPOCH` and `LOSS`, one coloured line per series (with point markers
/// when a series has few points), and a legend with the series names. Non-finite points are
/// left out (the line breaks there); the y axis is scaled to the finite points.
pub fn loss_curve_png(series: &[(&str, &[(f64, f64)])]) -> Vec<u8> {
    let mut c = Canvas::new(WIDTH, HEIGHT);
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let all = || series.iter().flat_map(|(_, pts)| pts.iter().filter(finite));
    let (x0, x1) = axis_range(all().map(|p| p.0), 0.0);
    let (y0, y1) = axis_range(all().map(|p| p.1), 0.05);
    let sx = |x: f64| LEFT as f64 + (x - x0) / (x1 - x0) * (RIGHT - LEFT) as f64;
    let sy = |y: f64| BOTTOM as f64 - (y - y0) / (y1 - y0) * (BOTTOM - TOP) as f64;

    // Grid, ticks and labels.
    let (yt, ystep) = nice_ticks(y0, y1, 6);
    for v in yt {
        let y = sy(v).round() as i64;
        c.rect(LEFT + 1, y, RIGHT, y, GRID);
        c.rect(LEFT - 6, y, LEFT - 1, y, INK);
        let label = tick_label(v, ystep);
        c.text(LEFT - 10 - text_width(&label), y - 7, &label, INK);
    }
    let (xt, xstep) = nice_ticks(x0, x1, 8);
    for v in xt {
        let x = sx(v).round() as i64;
        c.rect(x, TOP, x, BOTTOM - 1, GRID);
        c.rect(x, BOTTOM + 1, x, BOTTOM + 6, INK);
        let label = tick_label(v, xstep);
        c.text(x - text_width(&label) / 2, BOTTOM + 12, &label, INK);
    }
    // Axes.
    c.rect(LEFT, TOP, LEFT, BOTTOM, INK);
    c.rect(LEFT, BOTTOM, RIGHT, BOTTOM, INK);
    c.text(
        (LEFT + RIGHT) / 2 - text_width("EPOCH") / 2,
        BOTTOM + 38,
        "EPOCH",
        INK,
    );
    c.text(LEFT - text_width("LOSS") / 2, TOP - 26, "LOSS", INK);

    // Curves.
    let clip = (LEFT + 1, TOP, RIGHT, BOTTOM - 1);
    for (i, (_, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut prev: Option<(f64, f64)> = None;
        let n_finite = pts.iter().filter(finite).count();
        for p in pts.iter() {
            if !(p.0.is_finite() && p.1.is_finite()) {
                prev = None;
                continue;
            }
            let q = (sx(p.0), sy(p.1));
            if let Some(a) = prev {
                c.line(a, q, color, clip);
            }
            if n_finite <= 60 || n_finite == 1 {
                let (qx, qy) = (q.0.round() as i64, q.1.round() as i64);
                for dy in -2..=3 {
                    for dx in -2..=3 {
                        if dx * dx + dy * dy <= 6
                            && qx + dx >= clip.0
                            && qx + dx <= clip.2
                            && qy + dy >= clip.1
                            && qy + dy <= clip.3
                        {
                            c.set(qx + dx, qy + dy, color);
                        }
                    }
                }
            }
            prev = Some(q);
        }
    }

    // Legend, top right inside the plot area.
    if !series.is_empty() {
        let names: Vec<String> = series
            .iter()
            .map(|(n, _)| {
                let n: String = n.chars().take(28).collect();
                if n.is_empty() {
                    "?".to_string()
                } else {
                    n
                }
            })
            .collect();
        let text_w = names.iter().map(|n| text_width(n)).max().unwrap_or(0);
        let row_h = 20;
        let box_w = 10 + 28 + 8 + text_w + 10;
        let box_h = 8 + row_h * names.len() as i64;
        let bx1 = RIGHT - 10;
        let bx0 = bx1 - box_w;
        let by0 = TOP + 10;
        let by1 = by0 + box_h;
        c.rect(bx0, by0, bx1, by1, BACKGROUND);
        c.rect(bx0, by0, bx1, by0, INK);
        c.rect(bx0, by1, bx1, by1, INK);
        c.rect(bx0, by0, bx0, by1, INK);
        c.rect(bx1, by0, bx1, by1, INK);
        for (i, name) in names.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let y = by0 + 7 + i as i64 * row_h;
            c.rect(bx0 + 10, y + 5, bx0 + 10 + 27, y + 8, color);
            c.text(bx0 + 10 + 28 + 8, y, name, INK);
        }
    }
    c.png()
}

/// Writes [`loss_curve_png`] of `series` to `path` atomically.
pub fn write_loss_curve_png(path: &Path, series: &[(&str, &[(f64, f64)])]) -> std::io::Result<()> {
    write_atomic(path, &loss_curve_png(series))
}

/// A one-line plot of `values` with the block characters `▁▂▃▄▅▆▇█`, at most `width`
/// characters (longer inputs are averaged into `width` buckets). The lowest finite value maps to
/// `▁` and the highest to `█` (all equal: `▄`); non-finite values are blanks.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if width == 0 || values.is_empty() {
        return String::new();
    }
    let buckets: Vec<f64> = if values.len() <= width {
        values.to_vec()
    } else {
        (0..width)
            .map(|i| {
                let a = i * values.len() / width;
                let b = ((i + 1) * values.len() / width).max(a + 1);
                let fin: Vec<f64> = values[a..b]
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect();
                if fin.is_empty() {
                    f64::NAN
                } else {
                    fin.iter().sum::<f64>() / fin.len() as f64
                }
            })
            .collect()
    };
    let (lo, hi) = buckets
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    buckets
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BLOCKS[3]
            } else {
                let k = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BLOCKS[k.min(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_labels() {
        let (t, s) = nice_ticks(0.0, 1.0, 5);
        assert_eq!(s, 0.2);
        assert_eq!(t.len(), 6);
        assert_eq!(tick_label(0.4, 0.2), "0.4");
        assert_eq!(tick_label(3.0, 1.0), "3");
        assert_eq!(tick_label(25.0, 5.0), "25");
        assert_eq!(tick_label(0.015, 0.005), "0.015");
        assert_eq!(tick_label(-1e-12, 0.1), "0.0");
        assert_eq!(tick_label(1.5e-5, 5e-6), "1.5e-5");
        assert_eq!(tick_label(2e7, 1e6), "2e7");
        let (lo, hi) = axis_range([2.0, 2.0].into_iter(), 0.05);
        assert!(
            (lo - 1.8).abs() < 1e-9 && (hi - 2.2).abs() < 1e-9,
            "{lo} {hi}"
        );
        assert_eq!(axis_range(std::iter::empty(), 0.05), (0.0, 1.0));
    }

    #[test]
    fn every_label_character_has_a_glyph() {
        for ch in "0123456789.-+eEABCDEFGHIJKLMNOPQRSTUVWXYZ_:/()%,= ".chars() {
            let g = glyph(ch);
            assert!(
                ch == '?' || !std::ptr::eq(g, glyph('?')),
                "{ch:?} has no glyph"
            );
            assert!(g.iter().all(|r| r.len() == 5), "{ch:?} rows are 5 wide");
        }
    }
}
