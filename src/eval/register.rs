//! Sub-pixel registration by cross-correlation with an upsampled DFT refinement
//! (Guizar-Sicairos, Thurman & Fienup 2008; the method of skimage's phase_cross_correlation).

use num_complex::Complex64;
use rustfft::FftPlanner;

use super::Image;

/// 2-D FFT of a complex row-major array (f64, in place).
pub fn fft2(v: &mut [Complex64], h: usize, w: usize, inverse: bool) {
    let mut p = FftPlanner::<f64>::new();
    let (fr, fc) = if inverse {
        (p.plan_fft_inverse(w), p.plan_fft_inverse(h))
    } else {
        (p.plan_fft_forward(w), p.plan_fft_forward(h))
    };
    for row in v.chunks_mut(w) {
        fr.process(row);
    }
    let mut col = vec![Complex64::default(); h];
    for c in 0..w {
        for r in 0..h {
            col[r] = v[r * w + c];
        }
        fc.process(&mut col);
        for r in 0..h {
            v[r * w + c] = col[r];
        }
    }
    if inverse {
        let s = 1.0 / (h * w) as f64;
        v.iter_mut().for_each(|z| *z *= s);
    }
}

/// Signed frequency of index `k` of an `n`-point DFT (numpy's fftfreq·n).
fn freq(k: usize, n: usize) -> f64 {
    if k < n.div_ceil(2) {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

/// Cross-correlation of mean-free, Hann-windowed images, refined by an upsampled DFT. Returns the shift `(dy, dx)` such that `reference(x) ≈ moving(x − shift)`: moving's content must move
/// by `+shift` to align. Precision 1/`upsample` pixel.
pub fn phase_correlation(reference: &Image, moving: &Image, upsample: usize) -> (f64, f64) {
    phase_correlation_within(reference, moving, upsample, f64::INFINITY)
}

/// [`phase_correlation`] with the peak searched only among shifts of at most `max_shift` pixels
/// per axis.
pub fn phase_correlation_within(
    reference: &Image,
    moving: &Image,
    upsample: usize,
    max_shift: f64,
) -> (f64, f64) {
    let (h, w) = (reference.h, reference.w);
    // Mean removed and a Hann window applied, so the static discontinuity of the periodic
    // extension at the image border does not pull the peak towards zero shift.
    let hann = |k: usize, n: usize| {
        0.5 - 0.5 * (2.0 * std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos()
    };
    let to_c = |img: &Image| {
        let m = img.mean();
        img.data
            .iter()
            .enumerate()
            .map(|(i, &v)| Complex64::new((v - m) * hann(i / w, h) * hann(i % w, w), 0.0))
            .collect::<Vec<_>>()
    };
    let (mut a, mut b) = (to_c(reference), to_c(moving));
    fft2(&mut a, h, w, false);
    fft2(&mut b, h, w, false);
    // Cross-power spectrum, not whitened: reconstructions are smooth, and whitening would hand
    // the peak to the noise and edge ringing that dominate their high frequencies
    // (skimage's `normalization=None`).
    let r: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y.conj()).collect();
    let mut cc = r.clone();
    fft2(&mut cc, h, w, true);
    let (k, _) = cc
        .iter()
        .enumerate()
        .filter(|(k, _)| freq(k / w, h).abs() <= max_shift && freq(k % w, w).abs() <= max_shift)
        .max_by(|x, y| x.1.norm().total_cmp(&y.1.norm()))
        .expect("shift 0 is always allowed");
    let (mut sy, mut sx) = (freq(k / w, h), freq(k % w, w));
    if upsample <= 1 {
        return (sy, sx);
    }
    // Refine on a 1.5 × 1.5 pixel neighbourhood sampled at 1/upsample.
    let up = upsample as f64;
    let region = (1.5 * up).ceil() as usize;
    let centre = (region / 2) as f64;
    let mut best = (f64::MIN, 0.0, 0.0);
    for i in 0..region {
        let ty = sy + (i as f64 - centre) / up;
        // Row phase factors for this candidate.
        let ey: Vec<Complex64> = (0..h)
            .map(|ky| {
                Complex64::from_polar(
                    1.0,
                    2.0 * std::f64::consts::PI * freq(ky, h) * ty / h as f64,
                )
            })
            .collect();
        for j in 0..region {
            let tx = sx + (j as f64 - centre) / up;
            let mut acc = Complex64::default();
            for kx in 0..w {
                let ex = Complex64::from_polar(
                    1.0,
                    2.0 * std::f64::consts::PI * freq(kx, w) * tx / w as f64,
                );
                let mut col = Complex64::default();
                for ky in 0..h {
                    col += r[ky * w + kx] * ey[ky];
                }
                acc += col * ex;
            }
            if acc.norm() > best.0 {
                best = (acc.norm(), ty, tx);
            }
        }
    }
    sy = best.1;
    sx = best.2;
    (sy, sx)
}

/// Moves the content of `v` by `(dy, dx)` (periodic, via the Fourier shift theorem).
pub fn fourier_shift(v: &[Complex64], h: usize, w: usize, dy: f64, dx: f64) -> Vec<Complex64> {
    let mut f = v.to_vec();
    fft2(&mut f, h, w, false);
    for ky in 0..h {
        for kx in 0..w {
            let ph = -2.0
                * std::f64::consts::PI
                * (freq(ky, h) * dy / h as f64 + freq(kx, w) * dx / w as f64);
            f[ky * w + kx] *= Complex64::from_polar(1.0, ph);
        }
    }
    fft2(&mut f, h, w, true);
    f
}

/// Keys cubic-convolution weight (a = −0.5).
fn keys(t: f64) -> f64 {
    let t = t.abs();
    if t < 1.0 {
        1.5 * t * t * t - 2.5 * t * t + 1.0
    } else if t < 2.0 {
        -0.5 * t * t * t + 2.5 * t * t - 4.0 * t + 2.0
    } else {
        0.0
    }
}

/// Bicubic (Keys) sample of `img` at fractional (y, x); `None` where the 4×4 support leaves the
/// image. Cubic rather than bilinear: bilinear resampling biases sub-pixel estimates towards
/// whole pixels.
pub fn sample(img: &Image, y: f64, x: f64) -> Option<f64> {
    let (y0, x0) = (y.floor(), x.floor());
    if y0 < 1.0 || x0 < 1.0 || y0 + 2.0 > (img.h - 1) as f64 || x0 + 2.0 > (img.w - 1) as f64 {
        return None;
    }
    let (yi, xi) = (y0 as usize, x0 as usize);
    let mut acc = 0.0;
    for j in 0..4 {
        let wy = keys(y - (y0 + j as f64 - 1.0));
        let r = yi + j - 1;
        for i in 0..4 {
            acc += wy * keys(x - (x0 + i as f64 - 1.0)) * img.at(r, xi + i - 1);
        }
    }
    Some(acc)
}

/// Registration used by evaluation: integer shift from the windowed cross-correlation, then
/// Gauss–Newton refinement of the translation minimising Σ (moving(x − s) − reference(x))² over
/// the pixels whose shifted position stays inside the image (no wrap-around, no window bias).
/// Returns `(dy, dx)` with the meaning of [`phase_correlation`].
pub fn register(reference: &Image, moving: &Image) -> (f64, f64) {
    register_within(reference, moving, f64::INFINITY)
}

/// [`register`] with the shift limited to `max_shift` pixels per axis (a reconstruction is never
/// far off; without the bound a featureless one can lock onto a spurious peak).
pub fn register_within(reference: &Image, moving: &Image, max_shift: f64) -> (f64, f64) {
    // Compare shapes, not scales: both images standardised to zero mean and unit variance.
    let standardise = |img: &Image| {
        let m = img.mean();
        let sd = (img.data.iter().map(|v| (v - m).powi(2)).sum::<f64>()
            / img.data.len().max(1) as f64)
            .sqrt()
            .max(1e-300);
        Image::new(
            img.h,
            img.w,
            img.data.iter().map(|v| (v - m) / sd).collect(),
        )
    };
    let (reference, moving) = (&standardise(reference), &standardise(moving));
    let (mut sy, mut sx) = phase_correlation_within(reference, moving, 1, max_shift);
    let (h, w) = (reference.h, reference.w);
    // Central-difference gradients of `moving`.
    let grad = |dy: bool| {
        let mut g = vec![0.0; h * w];
        for r in 0..h {
            for c in 0..w {
                let (a, b) = if dy {
                    (
                        moving.at(r.saturating_sub(1), c),
                        moving.at((r + 1).min(h - 1), c),
                    )
                } else {
                    (
                        moving.at(r, c.saturating_sub(1)),
                        moving.at(r, (c + 1).min(w - 1)),
                    )
                };
                let span = if dy {
                    (r + 1).min(h - 1) - r.saturating_sub(1)
                } else {
                    (c + 1).min(w - 1) - c.saturating_sub(1)
                };
                g[r * w + c] = (b - a) / span.max(1) as f64;
            }
        }
        Image::new(h, w, g)
    };
    let (gy, gx) = (grad(true), grad(false));
    // Gauss–Newton on the shift with the gain and offset of reference ≈ gain·moving(x − s) +
    // offset solved in closed form at every step (they absorb intensity differences the shift
    // must not explain), and a backtracking line search so the cost never increases.
    let fit = |sy: f64, sx: f64| -> Option<(f64, f64, f64)> {
        let (mut n, mut sm, mut sr, mut smm, mut smr) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for r in 0..h {
            for c in 0..w {
                if let Some(m) = sample(moving, r as f64 - sy, c as f64 - sx) {
                    let v = reference.at(r, c);
                    n += 1.0;
                    sm += m;
                    sr += v;
                    smm += m * m;
                    smr += m * v;
                }
            }
        }
        if n < 16.0 {
            return None;
        }
        let var = smm - sm * sm / n;
        let gain = if var > 1e-300 {
            (smr - sm * sr / n) / var
        } else {
            0.0
        };
        let offset = (sr - gain * sm) / n;
        let mut cost = 0.0;
        for r in 0..h {
            for c in 0..w {
                if let Some(m) = sample(moving, r as f64 - sy, c as f64 - sx) {
                    cost += (gain * m + offset - reference.at(r, c)).powi(2);
                }
            }
        }
        Some((gain, offset, cost / n))
    };
    let Some((mut gain, mut offset, mut cost)) = fit(sy, sx) else {
        return (sy, sx);
    };
    for _ in 0..50 {
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for r in 0..h {
            for c in 0..w {
                let (y, x) = (r as f64 - sy, c as f64 - sx);
                let (Some(m), Some(gyv), Some(gxv)) =
                    (sample(moving, y, x), sample(&gy, y, x), sample(&gx, y, x))
                else {
                    continue;
                };
                // d/ds [gain·moving(x − s)] = −gain·∇moving.
                let (jy, jx) = (-gain * gyv, -gain * gxv);
                let e = gain * m + offset - reference.at(r, c);
                a11 += jy * jy;
                a12 += jy * jx;
                a22 += jx * jx;
                b1 += jy * e;
                b2 += jx * e;
            }
        }
        let det = a11 * a22 - a12 * a12;
        if det.abs() < 1e-300 {
            break;
        }
        let mut dy = ((a22 * b1 - a12 * b2) / det).clamp(-0.5, 0.5);
        let mut dx = ((a11 * b2 - a12 * b1) / det).clamp(-0.5, 0.5);
        if (sy - dy).abs() > max_shift + 1.0 || (sx - dx).abs() > max_shift + 1.0 {
            break;
        }
        let mut accepted = false;
        for _ in 0..8 {
            if let Some((g, o, c)) = fit(sy - dy, sx - dx)
                && c <= cost
            {
                sy -= dy;
                sx -= dx;
                (gain, offset, cost) = (g, o, c);
                accepted = true;
                break;
            }
            dy *= 0.5;
            dx *= 0.5;
        }
        if !accepted || dy.abs().max(dx.abs()) < 1e-5 {
            break;
        }
    }
    (sy, sx)
}

/// Moves the content of a complex image by `(dy, dx)` with bicubic interpolation of the real and
/// imaginary parts (out[y, x] = in[y − dy, x − dx]); pixels whose source leaves the image are 0.
/// Unlike the Fourier shift it does not wrap, so phase ramps and edges do not ring.
pub fn shift_complex(v: &[Complex64], h: usize, w: usize, dy: f64, dx: f64) -> Vec<Complex64> {
    let re = Image::new(h, w, v.iter().map(|z| z.re).collect());
    let im = Image::new(h, w, v.iter().map(|z| z.im).collect());
    let mut out = vec![Complex64::default(); h * w];
    for r in 0..h {
        for c in 0..w {
            let (y, x) = (r as f64 - dy, c as f64 - dx);
            if let (Some(a), Some(b)) = (sample(&re, y, x), sample(&im, y, x)) {
                out[r * w + c] = Complex64::new(a, b);
            }
        }
    }
    out
}
