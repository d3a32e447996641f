//! Structural similarity as skimage computes it by default: 7×7 uniform window, K1 = 0.01,
//! K2 = 0.03, sample (N−1) covariance, averaged over the windows that fit inside the image.

use super::Image;

/// Mean SSIM of `x` against `y` with the given data range.
pub fn ssim(x: &Image, y: &Image, data_range: f64) -> f64 {
    const WIN: usize = 7;
    let (h, w) = (x.h, x.w);
    if h < WIN || w < WIN {
        return f64::NAN;
    }
    let n = (WIN * WIN) as f64;
    let cov_norm = n / (n - 1.0);
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    // Summed-area tables of x, y, x², y², xy.
    let sat = |f: &dyn Fn(usize) -> f64| {
        let mut s = vec![0f64; (h + 1) * (w + 1)];
        for r in 0..h {
            for c in 0..w {
                s[(r + 1) * (w + 1) + c + 1] =
                    f(r * w + c) + s[r * (w + 1) + c + 1] + s[(r + 1) * (w + 1) + c]
                        - s[r * (w + 1) + c];
            }
        }
        s
    };
    let sx = sat(&|i| x.data[i]);
    let sy = sat(&|i| y.data[i]);
    let sxx = sat(&|i| x.data[i] * x.data[i]);
    let syy = sat(&|i| y.data[i] * y.data[i]);
    let sxy = sat(&|i| x.data[i] * y.data[i]);
    let boxsum = |s: &[f64], r: usize, c: usize| {
        s[(r + WIN) * (w + 1) + c + WIN] - s[r * (w + 1) + c + WIN] - s[(r + WIN) * (w + 1) + c]
            + s[r * (w + 1) + c]
    };
    let mut total = 0.0;
    let mut count = 0usize;
    for r in 0..=h - WIN {
        for c in 0..=w - WIN {
            let ux = boxsum(&sx, r, c) / n;
            let uy = boxsum(&sy, r, c) / n;
            let vx = cov_norm * (boxsum(&sxx, r, c) / n - ux * ux);
            let vy = cov_norm * (boxsum(&syy, r, c) / n - uy * uy);
            let vxy = cov_norm * (boxsum(&sxy, r, c) / n - ux * uy);
            total += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    total / count as f64
}
