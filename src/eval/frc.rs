//! Fourier ring correlation between two images and its threshold crossings.

use num_complex::Complex64;

use super::Image;
use super::register::fft2;

/// FRC per integer ring 0..=s/2 of the largest centred square both images share.
pub fn frc_curve(a: &Image, b: &Image) -> Vec<f64> {
    let s = a.h.min(a.w);
    let (r0, c0) = ((a.h - s) / 2, (a.w - s) / 2);
    let sq = |img: &Image| {
        let mut v = Vec::with_capacity(s * s);
        let m = img.mean();
        for r in 0..s {
            for c in 0..s {
                v.push(Complex64::new(img.at(r0 + r, c0 + c) - m, 0.0));
            }
        }
        v
    };
    let (mut fa, mut fb) = (sq(a), sq(b));
    fft2(&mut fa, s, s, false);
    fft2(&mut fb, s, s, false);
    let rings = s / 2 + 1;
    let (mut num, mut da, mut db) = (vec![0f64; rings], vec![0f64; rings], vec![0f64; rings]);
    for ky in 0..s {
        for kx in 0..s {
            let fy = if ky < s.div_ceil(2) {
                ky as f64
            } else {
                ky as f64 - s as f64
            };
            let fx = if kx < s.div_ceil(2) {
                kx as f64
            } else {
                kx as f64 - s as f64
            };
            let r = (fy * fy + fx * fx).sqrt().round() as usize;
            if r < rings {
                let (p, q) = (fa[ky * s + kx], fb[ky * s + kx]);
                num[r] += (p * q.conj()).re;
                da[r] += p.norm_sqr();
                db[r] += q.norm_sqr();
            }
        }
    }
    (0..rings)
        .map(|r| {
            if da[r] > 0.0 && db[r] > 0.0 {
                num[r] / (da[r] * db[r]).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// First ring (linearly interpolated, skipping ring 0) where `curve` falls below `threshold`;
/// the last ring if it never does.
pub fn threshold_crossing(curve: &[f64], threshold: f64) -> f64 {
    for r in 1..curve.len() {
        if curve[r] < threshold {
            let (y0, y1) = (curve[r - 1], curve[r]);
            let t = if (y0 - y1).abs() > 1e-300 {
                (y0 - threshold) / (y0 - y1)
            } else {
                0.0
            };
            return (r - 1) as f64 + t.clamp(0.0, 1.0);
        }
    }
    (curve.len() - 1) as f64
}
