//! CPU twins of the physics kernels, in f64.

use num_complex::Complex64;

/// Twin of `amp_loss.wgsl`: per-element loss and dL/dF (conjugate-Wirtinger, already divided by
/// `total`) for far field `far`, measured amplitudes `x`, scale `s`.
pub fn amp_loss(
    far: &[Complex64],
    x: &[f64],
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
    total: usize,
) -> (Vec<f64>, Vec<Complex64>) {
    let mut loss = Vec::with_capacity(far.len());
    let mut grad = Vec::with_capacity(far.len());
    for (f, &xm) in far.iter().zip(x) {
        let a = f.norm();
        let lam = s * s * a * a;
        let k = s * s * xm * xm;
        let mut l = 0.0;
        let mut d = 0.0;
        if nll_weight != 0.0 {
            l += nll_weight * (lam - k * lam.max(1e-12).ln());
            d += nll_weight * (2.0 * s * s * a - if lam > 1e-12 { 2.0 * k / a } else { 0.0 });
        }
        if mae_weight != 0.0 {
            l += mae_weight * (s * a - s * xm).abs();
            d += mae_weight * s * (a - xm).signum() * if a == xm { 0.0 } else { 1.0 };
        }
        loss.push(l);
        grad.push(if a > 0.0 {
            f * (d / total as f64 / a)
        } else {
            Complex64::new(0.0, 0.0)
        });
    }
    (loss, grad)
}

/// The whole gridsize-1 forward model in f64: O (B, N, N) → mean loss, given probe P (N, N),
/// measured amplitudes X (B, N, N) and scale s. Used for finite-difference checks.
pub fn far_field_loss(
    obj: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
) -> f64 {
    let far = far_field(obj, probe, n);
    let (l, _) = amp_loss(&far, x, s, nll_weight, mae_weight, obj.len());
    l.iter().sum::<f64>() / obj.len() as f64
}

/// F = fftshift(FFT₂(P·O))/N per frame.
pub fn far_field(obj: &[Complex64], probe: &[Complex64], n: usize) -> Vec<Complex64> {
    let psi: Vec<Complex64> = obj
        .iter()
        .enumerate()
        .map(|(i, o)| o * probe[i % (n * n)])
        .collect();
    let f = crate::fft::cpu::fft2_rustfft(&psi, n, n, crate::fft::Direction::Forward);
    let f: Vec<Complex64> = f.iter().map(|z| z / n as f64).collect();
    crate::fft::cpu::fftshift2(&f, n, n)
}

/// Analytic gradient dL/dO (conjugate-Wirtinger) of [`far_field_loss`] in f64: the adjoint chain
/// conj(P)·FFT₂ᴴ(ifftshift(dL/dF))/N.
pub fn far_field_backward(
    obj: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
) -> Vec<Complex64> {
    let far = far_field(obj, probe, n);
    let (_, dfar) = amp_loss(&far, x, s, nll_weight, mae_weight, obj.len());
    let unshifted = crate::fft::cpu::fftshift2(&dfar, n, n);
    let dpsi = crate::fft::cpu::fft2_rustfft(&unshifted, n, n, crate::fft::Direction::Inverse);
    dpsi.iter()
        .enumerate()
        .map(|(i, d)| d / n as f64 * probe[i % (n * n)].conj())
        .collect()
}

/// Bilinear sample of a complex image at (y, x), zero outside (each tap separately).
pub fn bilinear(obj: &[Complex64], h: usize, w: usize, y: f64, x: f64) -> Complex64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let tap = |r: f64, c: f64| {
        if r < 0.0 || c < 0.0 || r >= h as f64 || c >= w as f64 {
            Complex64::new(0.0, 0.0)
        } else {
            obj[r as usize * w + c as usize]
        }
    };
    (1.0 - fy) * ((1.0 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1.0))
        + fy * ((1.0 - fx) * tap(y0 + 1.0, x0) + fx * tap(y0 + 1.0, x0 + 1.0))
}

/// Twin of `extract_patches.wgsl`: patch[m, i, j] = obj(y_m − N/2 + i, x_m − N/2 + j).
pub fn extract_patches(
    obj: &[Complex64],
    h: usize,
    w: usize,
    pos: &[[f64; 2]],
    n: usize,
) -> Vec<Complex64> {
    let half = (n / 2) as f64;
    let mut out = Vec::with_capacity(pos.len() * n * n);
    for p in pos {
        for i in 0..n {
            for j in 0..n {
                out.push(bilinear(
                    obj,
                    h,
                    w,
                    p[1] - half + i as f64,
                    p[0] - half + j as f64,
                ));
            }
        }
    }
    out
}
