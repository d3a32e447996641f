//! Probe preparation on the CPU (once per run): PtychoPINN's soft probe mask and the
//! normalisation of a probe of one or more incoherent modes.

use num_complex::Complex32;

/// PtychoPINN's probe mask (`ptycho_torch/probe_mask.py`): the disk √(x² + y²) < diameter/2 on
/// centred coordinates arange(N) − N/2 + 0.5, blurred by a separable Gaussian of `sigma` pixels
/// (kernel radius max(1, ⌈3σ⌉), weights summing to 1, zero outside the image), scaled to a
/// maximum of 1 and clamped to [0, 1]; `sigma` ≤ 0 gives the hard disk. Row-major N × N.
pub fn probe_mask(n: usize, diameter: f64, sigma: f64) -> Vec<f64> {
    let radius = diameter / 2.0;
    let centred = |k: usize| k as f64 - (n / 2) as f64 + 0.5;
    let mut mask: Vec<f64> = (0..n * n)
        .map(|i| {
            let (y, x) = (centred(i / n), centred(i % n));
            if (x * x + y * y).sqrt() < radius {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    if sigma > 0.0 {
        let r = ((3.0 * sigma).ceil() as usize).max(1);
        let mut k: Vec<f64> = (0..=2 * r)
            .map(|j| {
                let d = j as f64 - r as f64;
                (-d * d / (2.0 * sigma * sigma)).exp()
            })
            .collect();
        let total: f64 = k.iter().sum();
        k.iter_mut().for_each(|v| *v /= total);
        let blur = |src: &[f64], along_rows: bool| -> Vec<f64> {
            (0..n * n)
                .map(|i| {
                    let (row, col) = (i / n, i % n);
                    (0..=2 * r)
                        .map(|j| {
                            let off = j as isize - r as isize;
                            let (rr, cc) = if along_rows {
                                (row as isize, col as isize + off)
                            } else {
                                (row as isize + off, col as isize)
                            };
                            if rr < 0 || cc < 0 || rr >= n as isize || cc >= n as isize {
                                0.0
                            } else {
                                k[j] * src[rr as usize * n + cc as usize]
                            }
                        })
                        .sum()
                })
                .collect()
        };
        mask = blur(&blur(&mask, true), false);
        let max = mask.iter().copied().fold(0.0, f64::max);
        if max > 0.0 {
            mask.iter_mut()
                .for_each(|v| *v = (*v / max).clamp(0.0, 1.0));
        }
    }
    mask
}

/// The disk PtychoPINN normalises the probe with: √(x² + y²) < N/4 on the same centred
/// coordinates (a hard mask of diameter N/2).
pub fn normalisation_disk(n: usize) -> Vec<f64> {
    probe_mask(n, n as f64 / 2.0, 0.0)
}

/// P ← P / (probe_scale · mean over every mode and pixel of |mask · P|) for a probe of modes ×
/// N × N (one scalar for all modes, as PtychoPINN normalises multi-mode probes, so the modes
/// keep their relative power); `mask` N × N, or `None` for no mask.
pub fn normalise_probe(
    probe: &[Complex32],
    n: usize,
    probe_scale: f64,
    mask: Option<&[f64]>,
) -> Vec<Complex32> {
    let sum: f64 = probe
        .iter()
        .enumerate()
        .map(|(i, z)| mask.map_or(1.0, |m| m[i % (n * n)]) * z.norm() as f64)
        .sum();
    let mean = sum / probe.len().max(1) as f64;
    let k = if mean > 0.0 {
        1.0 / (probe_scale * mean)
    } else {
        1.0
    };
    probe.iter().map(|z| z * k as f32).collect()
}
