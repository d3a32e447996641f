//! Reconstruction quality against ground truth, as PtychoPINN evaluates it: sub-pixel
//! registration (cross-correlation, then Gauss–Newton refinement; docs/findings.md F-06), trimming, phase plane removal, amplitude
//! mean rescale, then MAE, MSE, PSNR, SSIM and FRC (FRC50 and FRC 1/7) for amplitude and phase.
//!
//! Metrics are analysis, not part of the reconstruction's compute path: they run on the CPU in
//! f64 (rustfft for the transforms) so that figures do not depend on the adapter (docs/findings.md
//! F-05).

pub mod files;
pub mod frc;
pub mod register;
pub mod ssim;

use num_complex::Complex64;
use serde::Serialize;

/// A real image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// `h·w` values.
    pub data: Vec<f64>,
}

impl Image {
    /// Wraps data (panics if the length disagrees: a programming error).
    pub fn new(h: usize, w: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), h * w, "image data length");
        Image { h, w, data }
    }

    /// Value at (row, col).
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.w + c]
    }

    /// The sub-image without `m` pixels on each side.
    pub fn trim(&self, m: usize) -> Image {
        crop(
            &self.data,
            self.h,
            self.w,
            m,
            m,
            self.h.saturating_sub(2 * m),
            self.w.saturating_sub(2 * m),
        )
    }

    /// Mean value.
    pub fn mean(&self) -> f64 {
        self.data.iter().sum::<f64>() / self.data.len().max(1) as f64
    }
}

/// `h × w` window at (r0, c0) of a row-major array of width `w0`.
pub fn crop<T: Copy>(
    data: &[T],
    _h0: usize,
    w0: usize,
    r0: usize,
    c0: usize,
    h: usize,
    w: usize,
) -> Image
where
    f64: From<T>,
{
    let mut out = Vec::with_capacity(h * w);
    for r in 0..h {
        for c in 0..w {
            out.push(f64::from(data[(r0 + r) * w0 + c0 + c]));
        }
    }
    Image::new(h, w, out)
}

/// Subtracts the least-squares plane a·x + b·y + c.
pub fn remove_plane(img: &Image) -> Image {
    // Normal equations of [x y 1]·[a b c]ᵀ = v over all pixels.
    let mut m = [[0f64; 3]; 3];
    let mut rhs = [0f64; 3];
    for r in 0..img.h {
        for c in 0..img.w {
            let f = [c as f64, r as f64, 1.0];
            let v = img.at(r, c);
            for i in 0..3 {
                rhs[i] += f[i] * v;
                for j in 0..3 {
                    m[i][j] += f[i] * f[j];
                }
            }
        }
    }
    let coef = solve3(m, rhs).unwrap_or([0.0, 0.0, img.mean()]);
    let mut out = img.clone();
    for r in 0..img.h {
        for c in 0..img.w {
            out.data[r * img.w + c] -= coef[0] * c as f64 + coef[1] * r as f64 + coef[2];
        }
    }
    out
}

fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let piv = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in 0..3 {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot = a[col];
                for (v, p) in a[row].iter_mut().zip(pivot) {
                    *v -= f * p;
                }
                b[row] -= f * b[col];
            }
        }
    }
    Some([b[0] / a[0][0], b[1] / a[1][1], b[2] / a[2][2]])
}

/// Largest registration shift considered, pixels per axis.
pub const MAX_SHIFT: f64 = 4.0;

/// Metrics of one channel (amplitude or phase).
#[derive(Clone, Debug, Serialize)]
pub struct ChannelMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Peak signal-to-noise ratio in dB (data range as in `ssim`).
    pub psnr: f64,
    /// Structural similarity (7×7 window, K1 0.01, K2 0.03, sample covariance).
    pub ssim: f64,
    /// Ring (in units of 1/size) where FRC first falls below 0.5, linearly interpolated.
    pub frc50: f64,
    /// Ring where FRC first falls below 1/7.
    pub frc_1_7: f64,
    /// FRC curve, one value per ring 0..size/2.
    pub frc: Vec<f64>,
}

/// All metrics of a reconstruction.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// Amplitude metrics (prediction rescaled by mean(target)/mean(pred)).
    pub amplitude: ChannelMetrics,
    /// Phase metrics (planes removed; SSIM/PSNR on (φ+π)/2π with range 1).
    pub phase: ChannelMetrics,
    /// Registration shift applied to the reconstruction, (dx, dy) in pixels.
    pub shift_xy: (f64, f64),
    /// Size of the compared region, (width, height).
    pub compared_wh: (usize, usize),
}

fn channel(pred: &Image, target: &Image, range: f64) -> ChannelMetrics {
    let n = pred.data.len().max(1) as f64;
    let mae = pred
        .data
        .iter()
        .zip(&target.data)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / n;
    let mse = pred
        .data
        .iter()
        .zip(&target.data)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / n;
    let psnr = if mse > 0.0 {
        10.0 * (range * range / mse).log10()
    } else {
        f64::INFINITY
    };
    let curve = frc::frc_curve(pred, target);
    ChannelMetrics {
        mae,
        mse,
        psnr,
        ssim: ssim::ssim(pred, target, range),
        frc50: frc::threshold_crossing(&curve, 0.5),
        frc_1_7: frc::threshold_crossing(&curve, 1.0 / 7.0),
        frc: curve,
    }
}

/// Evaluates a complex reconstruction against the ground truth covering the same region (same
/// size; the caller crops the ground truth to the reconstruction's canvas). `trim` pixels are
/// dropped on each side before and after registration.
pub fn evaluate(
    pred: &[Complex64],
    target: &[Complex64],
    h: usize,
    w: usize,
    trim: usize,
) -> Metrics {
    assert_eq!(pred.len(), h * w);
    assert_eq!(target.len(), h * w);
    // Register on amplitude (mean removed), then shift the complex prediction.
    let amp = |v: &[Complex64]| Image::new(h, w, v.iter().map(|z| z.norm()).collect());
    let (pa, ta) = (amp(pred).trim(trim), amp(target).trim(trim));
    let (dy, dx) = register::register_within(&ta, &pa, MAX_SHIFT);
    let pred_c = crop_complex(pred, w, trim, trim, pa.h, pa.w);
    let targ_c = crop_complex(target, w, trim, trim, ta.h, ta.w);
    let shifted = register::shift_complex(&pred_c, pa.h, pa.w, dy, dx);
    // Drop the border the shift could not fill (cubic support: 2 more pixels).
    let m = dy.abs().max(dx.abs()).ceil() as usize + 3;
    let (hh, ww) = (pa.h.saturating_sub(2 * m), pa.w.saturating_sub(2 * m));
    let p = crop_complex(&shifted, pa.w, m, m, hh, ww);
    let t = crop_complex(&targ_c, ta.w, m, m, hh, ww);

    let mut p_amp = Image::new(hh, ww, p.iter().map(|z| z.norm()).collect());
    let t_amp = Image::new(hh, ww, t.iter().map(|z| z.norm()).collect());
    let scale = t_amp.mean() / p_amp.mean().max(1e-30);
    p_amp.data.iter_mut().for_each(|v| *v *= scale);
    let amp_range = t_amp.data.iter().cloned().fold(f64::MIN, f64::max)
        - t_amp.data.iter().cloned().fold(f64::MAX, f64::min);

    let phase =
        |v: &[Complex64]| remove_plane(&Image::new(hh, ww, v.iter().map(|z| z.arg()).collect()));
    let to_unit = |img: Image| Image {
        data: img
            .data
            .iter()
            .map(|v| (v + std::f64::consts::PI) / (2.0 * std::f64::consts::PI))
            .collect(),
        ..img
    };
    let (p_ph, t_ph) = (to_unit(phase(&p)), to_unit(phase(&t)));

    Metrics {
        amplitude: channel(&p_amp, &t_amp, amp_range.max(1e-30)),
        phase: channel(&p_ph, &t_ph, 1.0),
        shift_xy: (dx, dy),
        compared_wh: (ww, hh),
    }
}

/// `h × w` window at (r0, c0) of a complex row-major array of width `w0`.
pub fn crop_complex(
    v: &[Complex64],
    w0: usize,
    r0: usize,
    c0: usize,
    h: usize,
    w: usize,
) -> Vec<Complex64> {
    let mut out = Vec::with_capacity(h * w);
    for r in 0..h {
        out.extend_from_slice(&v[(r0 + r) * w0 + c0..(r0 + r) * w0 + c0 + w]);
    }
    out
}
