//! Pictures for people: false-colour images with a colour bar, and line plots (the FRC curve).
//! Written with the `image` crate to a temporary file, then renamed (nothing partial is left).

use std::path::Path;

use image::{Rgb, RgbImage};

/// Viridis control points (matplotlib), interpolated linearly.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// Viridis colour of `t` in [0, 1] (clamped; NaN is black).
pub fn viridis(t: f64) -> Rgb<u8> {
    if !t.is_finite() {
        return Rgb([0, 0, 0]);
    }
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    Rgb([0, 1, 2].map(|k| (a[k] as f64 + f * (b[k] as f64 - a[k] as f64)).round() as u8))
}

/// A 3×5 bitmap font for digits, '.', '-', 'e' and '+' (colour-bar labels without a font file).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        'e' => [0, 7, 7, 4, 7],
        _ => [0; 5],
    }
}

/// Draws `text` with the bitmap font at (x, y), each font pixel `scale`² screen pixels.
fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: Rgb<u8>) {
    for (k, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (k as u32 * 4 + col) * scale + dx;
                            let py = y + row as u32 * scale + dy;
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else {
        format!("{v:.2}")
    }
}

/// Saves `img` as PNG atomically (temporary file in the same folder, then rename).
pub fn save_png(img: &RgbImage, path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    std::fs::rename(&tmp, path)
}

/// A false-colour rendering of an `h × w` image (row-major) with a labelled colour bar.
/// NaN/inf pixels are drawn black; the colour range is `range` or the finite min/max.
pub fn colormap_with_bar(data: &[f64], h: usize, w: usize, range: Option<(f64, f64)>) -> RgbImage {
    let finite = data.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = range
        .unwrap_or_else(|| finite.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v))));
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Upscale small images so the bar and labels stay readable.
    let s = (256 / h.max(w).max(1)).clamp(1, 8) as u32;
    let (iw, ih) = (w as u32 * s, h as u32 * s);
    let bar_w = 16;
    let margin = 8;
    let text_w = 40;
    let mut img = RgbImage::from_pixel(
        iw + margin * 2 + bar_w + text_w,
        ih.max(60),
        Rgb([255, 255, 255]),
    );
    for r in 0..h {
        for c in 0..w {
            let col = viridis((data[r * w + c] - lo) / span);
            for dy in 0..s {
                for dx in 0..s {
                    img.put_pixel(c as u32 * s + dx, r as u32 * s + dy, col);
                }
            }
        }
    }
    let bx = iw + margin;
    for y in 0..ih {
        let t = 1.0 - y as f64 / (ih.max(2) - 1) as f64;
        for x in 0..bar_w {
            img.put_pixel(bx + x, y, viridis(t));
        }
    }
    let black = Rgb([0, 0, 0]);
    draw_text(&mut img, bx + bar_w + 3, 0, &label(hi), 1, black);
    draw_text(
        &mut img,
        bx + bar_w + 3,
        ih.saturating_sub(6),
        &label(lo),
        1,
        black,
    );
    draw_text(
        &mut img,
        bx + bar_w + 3,
        ih / 2,
        &label(0.5 * (lo + hi)),
        1,
        black,
    );
    img
}

/// A line plot of `curves` (each a list of y values at x = 0, 1, …) on [0, 1]-ish axes with
/// horizontal reference lines at `hlines` (drawn grey); curve colours in order: blue, orange.
pub fn line_plot(curves: &[&[f64]], hlines: &[f64], width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let (l, r, t, b) = (30u32, 10u32, 10u32, 20u32);
    let (pw, ph) = (width - l - r, height - t - b);
    let n = curves.iter().map(|c| c.len()).max().unwrap_or(2).max(2);
    let ymin = curves
        .iter()
        .flat_map(|c| c.iter())
        .copied()
        .fold(0.0f64, f64::min)
        .min(0.0);
    let ymax = curves
        .iter()
        .flat_map(|c| c.iter())
        .copied()
        .fold(1.0f64, f64::max);
    let to_px = |i: f64, y: f64| {
        let x = l as f64 + i / (n - 1) as f64 * pw as f64;
        let yy = t as f64 + (1.0 - (y - ymin) / (ymax - ymin)) * ph as f64;
        (x, yy)
    };
    let grey = Rgb([170, 170, 170]);
    for &h in hlines {
        let (_, y) = to_px(0.0, h);
        for x in l..l + pw {
            if (x / 3) % 2 == 0 {
                img.put_pixel(x, y.round() as u32, grey);
            }
        }
    }
    let black = Rgb([0, 0, 0]);
    for x in l..=l + pw {
        img.put_pixel(x, t + ph, black);
    }
    for y in t..=t + ph {
        img.put_pixel(l, y, black);
    }
    draw_text(&mut img, 2, t, &label(ymax), 1, black);
    draw_text(&mut img, 2, t + ph - 5, &label(ymin), 1, black);
    draw_text(
        &mut img,
        l + pw - 12,
        t + ph + 5,
        &format!("{}", n - 1),
        1,
        black,
    );
    let colors = [Rgb([31, 119, 180]), Rgb([255, 127, 14]), Rgb([44, 160, 44])];
    for (ci, c) in curves.iter().enumerate() {
        for i in 1..c.len() {
            let (x0, y0) = to_px((i - 1) as f64, c[i - 1]);
            let (x1, y1) = to_px(i as f64, c[i]);
            let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
            for s in 0..=steps {
                let f = s as f64 / steps as f64;
                let (x, y) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
                for d in 0..2 {
                    let (px, py) = (x.round() as u32, (y.round() as u32 + d).min(height - 1));
                    if px < width {
                        img.put_pixel(px, py, colors[ci % colors.len()]);
                    }
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_colour_bar_layout() {
        assert_eq!(viridis(0.0), Rgb([68, 1, 84]));
        assert_eq!(viridis(1.0), Rgb([253, 231, 37]));
        assert_eq!(viridis(f64::NAN), Rgb([0, 0, 0]));
        let data: Vec<f64> = (0..64 * 32).map(|i| (i % 32) as f64).collect();
        let img = colormap_with_bar(&data, 64, 32, None);
        // 256/64 = 4× upscale: the image part is 128×256; left column is the minimum colour,
        // the right-most image column the maximum.
        assert_eq!(*img.get_pixel(0, 0), viridis(0.0));
        assert_eq!(*img.get_pixel(127, 0), viridis(1.0));
        assert_eq!(*img.get_pixel(128 + 8, 0), viridis(1.0), "bar top = max");
        let plot = line_plot(&[&[1.0, 0.5, 0.1]], &[0.5], 200, 100);
        assert_eq!(plot.dimensions(), (200, 100));
    }
}
