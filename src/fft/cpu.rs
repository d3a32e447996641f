//! CPU references for the FFT: a naive f64 DFT (the first oracle, itself checked on analytic
//! pairs), rustfft in f64 (the second, fast enough for large sizes), and the shifts, scaling and
//! amplitude of [`super::FftOptions`] composed the same way as the GPU plan.

use num_complex::{Complex32, Complex64};
use rustfft::FftPlanner;

use super::{Direction, FftOptions, Norm, Output};

fn sign(d: Direction) -> f64 {
    match d {
        Direction::Forward => -1.0,
        Direction::Inverse => 1.0,
    }
}

/// Naive 1-D DFT in f64: `X[k] = Σ_n x[n]·exp(s·2πi·kn/N)`.
#[allow(
    clippy::needless_range_loop,
    reason = "textbook loops are the point of an oracle"
)]
pub fn dft_naive(x: &[Complex64], direction: Direction) -> Vec<Complex64> {
    let n = x.len();
    let s = sign(direction);
    let mut out = vec![Complex64::new(0.0, 0.0); n];
    for k in 0..n {
        let mut acc = Complex64::new(0.0, 0.0);
        for j in 0..n {
            // Reduce k·j mod n first so the angle stays small and exact.
            let m = (k * j) % n;
            let a = s * 2.0 * std::f64::consts::PI * m as f64 / n as f64;
            acc += x[j] * Complex64::new(a.cos(), a.sin());
        }
        out[k] = acc;
    }
    out
}

/// Applies a 1-D transform `f` along both axes of each `rows × cols` frame.
fn separable(
    x: &[Complex64],
    rows: usize,
    cols: usize,
    mut f: impl FnMut(&mut Vec<Complex64>),
) -> Vec<Complex64> {
    let mut out = x.to_vec();
    let fl = rows * cols;
    for frame in out.chunks_mut(fl) {
        for r in 0..rows {
            let mut line = frame[r * cols..(r + 1) * cols].to_vec();
            f(&mut line);
            frame[r * cols..(r + 1) * cols].copy_from_slice(&line);
        }
        for c in 0..cols {
            let mut line: Vec<_> = (0..rows).map(|r| frame[r * cols + c]).collect();
            f(&mut line);
            for r in 0..rows {
                frame[r * cols + c] = line[r];
            }
        }
    }
    out
}

/// Batched 2-D naive DFT in f64 (unnormalised).
pub fn dft2_naive(
    x: &[Complex64],
    rows: usize,
    cols: usize,
    direction: Direction,
) -> Vec<Complex64> {
    separable(x, rows, cols, |line| *line = dft_naive(line, direction))
}

/// Batched 2-D FFT in f64 with rustfft (unnormalised).
pub fn fft2_rustfft(
    x: &[Complex64],
    rows: usize,
    cols: usize,
    direction: Direction,
) -> Vec<Complex64> {
    let mut planner = FftPlanner::<f64>::new();
    let (fr, fc) = match direction {
        Direction::Forward => (
            planner.plan_fft_forward(rows),
            planner.plan_fft_forward(cols),
        ),
        Direction::Inverse => (
            planner.plan_fft_inverse(rows),
            planner.plan_fft_inverse(cols),
        ),
    };
    separable(x, rows, cols, |line| {
        if line.len() == cols {
            fc.process(line);
        } else {
            fr.process(line);
        }
    })
}

/// 2-D `fftshift` (`shift_by = +1`) or `ifftshift` (`shift_by = −1`) of each frame; identical
/// for the even sizes ptycho supports: `out[(r + R/2) mod R][(c + C/2) mod C] = in[r][c]`.
pub fn fftshift2<T: Copy>(x: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = x.to_vec();
    let fl = rows * cols;
    for (fi, fo) in x.chunks(fl).zip(out.chunks_mut(fl)) {
        for r in 0..rows {
            for c in 0..cols {
                fo[((r + rows / 2) % rows) * cols + (c + cols / 2) % cols] = fi[r * cols + c];
            }
        }
    }
    out
}

/// Scale factor of a normalisation for a `rows × cols` frame.
pub fn norm_scale(norm: Norm, rows: usize, cols: usize) -> f64 {
    let n = (rows * cols) as f64;
    match norm {
        Norm::None => 1.0,
        Norm::Ortho => 1.0 / n.sqrt(),
        Norm::ByN => 1.0 / n,
    }
}

/// The f64 reference of a GPU plan: ifftshift?, FFT (rustfft), scale, fftshift?. Returns complex
/// values; for [`Output::Amplitude`] plans take `.norm()` of each.
pub fn fft2_reference(
    x: &[Complex32],
    rows: usize,
    cols: usize,
    direction: Direction,
    options: &FftOptions,
) -> Vec<Complex64> {
    let mut v: Vec<Complex64> = x
        .iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect();
    if options.shift_input {
        v = fftshift2(&v, rows, cols);
    }
    v = fft2_rustfft(&v, rows, cols, direction);
    let s = norm_scale(options.norm, rows, cols);
    v.iter_mut().for_each(|z| *z *= s);
    if options.shift_output {
        v = fftshift2(&v, rows, cols);
    }
    if options.output == Output::Amplitude {
        v.iter_mut()
            .for_each(|z| *z = Complex64::new(z.norm(), 0.0));
    }
    v
}
