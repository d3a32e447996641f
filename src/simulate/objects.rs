//! Synthetic objects and the default probe (PtychoPINN's conventions, physics.md).

use num_complex::Complex32;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Synthetic object kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// Random lines blurred at three scales (PtychoPINN's "lines").
    Lines,
    /// Gaussian random field.
    Grf,
}

impl ObjectKind {
    /// Every kind by name, as the command line writes them.
    pub const NAMES: [&'static str; 2] = ["lines", "grf"];

    /// The name of this kind (also recorded in `_metadata`).
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Lines => "lines",
            ObjectKind::Grf => "grf",
        }
    }
}

impl std::str::FromStr for ObjectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lines" => Ok(ObjectKind::Lines),
            "grf" => Ok(ObjectKind::Grf),
            _ => Err(format!("object '{s}': expected lines or grf")),
        }
    }
}

/// Separable Gaussian filter (σ in pixels, truncated at 4σ, scipy's default `reflect` borders:
/// `d c b a | a b c d | d c b a`).
pub fn gaussian_filter(img: &[f64], h: usize, w: usize, sigma: f64) -> Vec<f64> {
    let r = (4.0 * sigma + 0.5) as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    let k: Vec<f64> = k.iter().map(|v| v / sum).collect();
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        loop {
            if i < 0 {
                i = -i - 1;
            } else if i >= n {
                i = 2 * n - i - 1;
            } else {
                return i as usize;
            }
        }
    };
    let mut tmp = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = (-r..=r)
                .map(|d| k[(d + r) as usize] * img[y * w + reflect(x as isize + d, w)])
                .sum();
        }
    }
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (-r..=r)
                .map(|d| k[(d + r) as usize] * tmp[reflect(y as isize + d, h) * w + x])
                .sum();
        }
    }
    out
}

/// PtychoPINN's "lines" object: `n_lines` (PtychoPINN: 400) random lines on a 2·size canvas, blurred at three scales
/// (gf(σ 1) + 2·gf(σ 5) + 5·gf(σ 10)), centre-cropped to size×size and normalised to a maximum
/// amplitude of 1. Phase zero, or π·tanh((A − max/2)/(3·mean)) with `with_phase`.
pub fn lines(
    size: usize,
    n_lines: usize,
    with_phase: bool,
    rng: &mut ChaCha8Rng,
) -> Vec<Complex32> {
    let big = 2 * size;
    let mut img = vec![0.0f64; big * big];
    for _ in 0..n_lines {
        let (x0, y0) = (
            rng.random_range(0..big) as isize,
            rng.random_range(0..big) as isize,
        );
        let (x1, y1) = (
            rng.random_range(0..big) as isize,
            rng.random_range(0..big) as isize,
        );
        // Bresenham.
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            img[y as usize * big + x as usize] = 1.0;
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
    let g1 = gaussian_filter(&img, big, big, 1.0);
    let g5 = gaussian_filter(&img, big, big, 5.0);
    let g10 = gaussian_filter(&img, big, big, 10.0);
    let off = (big - size) / 2;
    let mut amp = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            let i = (y + off) * big + x + off;
            amp.push(g1[i] + 2.0 * g5[i] + 5.0 * g10[i]);
        }
    }
    let max = amp.iter().cloned().fold(0.0, f64::max).max(1e-30);
    amp.iter_mut().for_each(|a| *a /= max);
    with_phase_of(&amp, with_phase)
}

/// Gaussian random field with power spectrum k^−0.4, min–max normalised to [0, 1], σ = 1 blur.
pub fn grf(size: usize, with_phase: bool, rng: &mut ChaCha8Rng) -> Vec<Complex32> {
    use rand_distr::{Distribution, StandardNormal};
    let n = size;
    let mut spec: Vec<num_complex::Complex64> = (0..n * n)
        .map(|i| {
            let (ky, kx) = ((i / n) as f64, (i % n) as f64);
            let fy = if ky < n as f64 / 2.0 {
                ky
            } else {
                ky - n as f64
            };
            let fx = if kx < n as f64 / 2.0 {
                kx
            } else {
                kx - n as f64
            };
            let k = (fy * fy + fx * fx).sqrt();
            let amp = if k > 0.0 { k.powf(-0.4 / 2.0) } else { 0.0 };
            let (a, b): (f64, f64) = (StandardNormal.sample(rng), StandardNormal.sample(rng));
            num_complex::Complex64::new(a * amp, b * amp)
        })
        .collect();
    let mut planner = rustfft::FftPlanner::<f64>::new();
    let f = planner.plan_fft_inverse(n);
    for row in spec.chunks_mut(n) {
        f.process(row);
    }
    let mut col = vec![num_complex::Complex64::default(); n];
    for c in 0..n {
        for r in 0..n {
            col[r] = spec[r * n + c];
        }
        f.process(&mut col);
        for r in 0..n {
            spec[r * n + c] = col[r];
        }
    }
    let field: Vec<f64> = spec.iter().map(|z| z.re).collect();
    let (lo, hi) = field
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let norm: Vec<f64> = field
        .iter()
        .map(|v| (v - lo) / (hi - lo).max(1e-30))
        .collect();
    let amp = gaussian_filter(&norm, n, n, 1.0);
    with_phase_of(&amp, with_phase)
}

fn with_phase_of(amp: &[f64], with_phase: bool) -> Vec<Complex32> {
    let max = amp.iter().cloned().fold(0.0, f64::max);
    let mean = amp.iter().sum::<f64>() / amp.len().max(1) as f64;
    amp.iter()
        .map(|&a| {
            let ph = if with_phase {
                std::f64::consts::PI * ((a - max / 2.0) / (3.0 * mean).max(1e-30)).tanh()
            } else {
                0.0
            };
            Complex32::from_polar(a as f32, ph as f32)
        })
        .collect()
}

/// PtychoPINN's default probe for size N: a symmetric Gaussian window (std N/(0.7π²)), outer
/// product, thresholded at 0.5 (a disk), blurred with σ = 1, plus 1e-9; real-valued.
pub fn default_probe(n: usize) -> Vec<Complex32> {
    let std = n as f64 / (0.7 * std::f64::consts::PI.powi(2));
    let c = (n as f64 - 1.0) / 2.0;
    let win: Vec<f64> = (0..n)
        .map(|k| (-0.5 * ((k as f64 - c) / std).powi(2)).exp())
        .collect();
    let disk: Vec<f64> = (0..n * n)
        .map(|i| {
            if win[i / n] * win[i % n] > 0.5 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    gaussian_filter(&disk, n, n, 1.0)
        .iter()
        .map(|&v| Complex32::new((v + 1e-9) as f32, 0.0))
        .collect()
}

/// Adds a defocus to a probe: a quadratic phase `radians · (r / (N/4))²` about the frame
/// centre ((N − 1)/2, (N − 1)/2), i.e. `radians` at the radius N/4 of the probe mask.
///
/// A real, centrosymmetric probe such as [`default_probe`] has an exact twin ambiguity: P·O and
/// P·conj(O(−r)) have the same far-field amplitude, so a single pattern cannot tell an object
/// from its point-reflected conjugate. Real beamline probes are not of that kind (they are
/// defocused, with phase curvature); a defocus removes the ambiguity.
pub fn defocus_probe(probe: &mut [Complex32], n: usize, radians: f64) {
    if radians == 0.0 {
        return;
    }
    let c = (n as f64 - 1.0) / 2.0;
    let r0 = n as f64 / 4.0;
    // Every mode alike (a common phase keeps the modes orthogonal).
    for (i, p) in probe.iter_mut().enumerate() {
        let i = i % (n * n);
        let (y, x) = ((i / n) as f64 - c, (i % n) as f64 - c);
        let ph = radians * (x * x + y * y) / (r0 * r0);
        *p *= Complex32::from_polar(1.0, ph as f32);
    }
}

/// The default power fractions of `k` probe modes: ∝ 2^−p (p = 0…k−1), summing to 1.
pub fn default_mode_powers(k: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..k).map(|p| 0.5f64.powi(p as i32)).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// `powers.len()` orthogonal incoherent probe modes from a primary probe `primary` (N × N):
/// Gram–Schmidt (f64) of the primary times the low-order polynomials 1, x, y, xy, x², y², x²y,
/// xy², … in centred coordinates (Hermite–Gauss-like modes of the primary's envelope), each mode
/// scaled to the fraction `powers[p]` (normalised to sum 1) of the primary's power Σ|P|², so
/// the modes together carry the primary's intensity. Modes × N × N, mode-major.
pub fn probe_modes(primary: &[Complex32], n: usize, powers: &[f64]) -> Vec<Complex32> {
    let k = powers.len();
    let energy: f64 = primary.iter().map(|z| z.norm_sqr() as f64).sum();
    let total: f64 = powers.iter().sum();
    let c = (n as f64 - 1.0) / 2.0;
    let scale = n as f64 / 4.0;
    // Monomials x^a y^b in order of degree a + b.
    let mut exps = Vec::new();
    'outer: for deg in 0.. {
        for a in (0..=deg).rev() {
            exps.push((a, deg - a));
            if exps.len() >= 4 * k + 4 {
                break 'outer;
            }
        }
    }
    let mut modes: Vec<Vec<num_complex::Complex64>> = Vec::with_capacity(k);
    for (a, b) in exps {
        if modes.len() == k {
            break;
        }
        let mut v: Vec<num_complex::Complex64> = (0..n * n)
            .map(|i| {
                let (y, x) = (((i / n) as f64 - c) / scale, ((i % n) as f64 - c) / scale);
                let z = primary[i];
                num_complex::Complex64::new(z.re as f64, z.im as f64) * (x.powi(a) * y.powi(b))
            })
            .collect();
        for q in &modes {
            let dot: num_complex::Complex64 = q.iter().zip(&v).map(|(qi, vi)| qi.conj() * vi).sum();
            v.iter_mut().zip(q).for_each(|(vi, qi)| *vi -= dot * qi);
        }
        let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        // A monomial the primary's support cannot tell from the earlier ones: skip it.
        if norm > 1e-6 * energy.sqrt() {
            v.iter_mut().for_each(|z| *z /= norm);
            modes.push(v);
        }
    }
    modes
        .iter()
        .zip(powers)
        .flat_map(|(q, &pw)| {
            let a = (pw / total * energy).sqrt();
            q.iter()
                .map(move |z| Complex32::new((z.re * a) as f32, (z.im * a) as f32))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn gaussian_filter_preserves_mass_and_matches_scipy_reflect() {
        // Delta in the middle: the 1-D kernel normalised; total mass preserved.
        let (h, w) = (21, 21);
        let mut img = vec![0.0; h * w];
        img[10 * w + 10] = 1.0;
        let g = gaussian_filter(&img, h, w, 2.0);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Constant images stay constant with reflect borders.
        let g = gaussian_filter(&vec![3.0; h * w], h, w, 5.0);
        assert!(g.iter().all(|v| (v - 3.0).abs() < 1e-12));
        // scipy.ndimage.gaussian_filter1d([0, 0, 1, 0, 0, 0], 1.0) (mode 'reflect', truncate 4):
        let g = gaussian_filter(&[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 1, 6, 1.0);
        let want = [
            0.05842299, 0.24210528, 0.39894347, 0.24197145, 0.05399113, 0.00456569,
        ];
        // Only the row pass acts on a 1-row image (the column pass reflects onto itself).
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-8, "{g:?}");
        }
    }

    #[test]
    fn probe_is_a_blurred_disk_and_lines_are_normalised() {
        let p = default_probe(64);
        let centre = p[32 * 64 + 32].re;
        assert!((centre - 1.0).abs() < 1e-6, "{centre}");
        assert!(p[0].re < 1e-6 && p[0].re > 0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let o = lines(64, 400, true, &mut rng);
        let max = o.iter().map(|z| z.norm()).fold(0.0f32, f32::max);
        assert!((max - 1.0).abs() < 1e-5);
        assert!(o.iter().any(|z| z.arg().abs() > 0.1), "phase requested");
    }

    /// The twin ambiguity the defocus exists for: with the real, centrosymmetric default probe
    /// the point-reflected conjugate object gives the same far-field amplitude (to round-off);
    /// with a defocused probe it does not. The defocus leaves |P| unchanged.
    #[test]
    fn defocus_breaks_the_twin_ambiguity() {
        use num_complex::Complex64;
        let n = 32;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let obj: Vec<Complex64> = lines(n, 6, true, &mut rng)
            .iter()
            .map(|z| Complex64::new(z.re as f64, z.im as f64))
            .collect();
        // conj(O(−r)) about the frame centre (n − 1)/2: index i → n − 1 − i in both axes.
        let twin: Vec<Complex64> = (0..n * n)
            .map(|i| obj[(n - 1 - i / n) * n + (n - 1 - i % n)].conj())
            .collect();
        let amp_gap = |probe: &[Complex32]| {
            let p: Vec<Complex64> = probe
                .iter()
                .map(|z| Complex64::new(z.re as f64, z.im as f64))
                .collect();
            let a = crate::physics::cpu::far_field(&obj, &p, n);
            let b = crate::physics::cpu::far_field(&twin, &p, n);
            let d: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x.norm() - y.norm()).powi(2))
                .sum();
            let e: f64 = a.iter().map(|x| x.norm_sqr()).sum();
            (d / e).sqrt()
        };
        let flat = default_probe(n);
        assert!(amp_gap(&flat) < 1e-6, "real probe: {}", amp_gap(&flat));
        let mut focused = flat.clone();
        defocus_probe(&mut focused, n, 4.0);
        for (a, b) in flat.iter().zip(&focused) {
            assert!((a.norm() - b.norm()).abs() < 1e-6);
        }
        // At the mask radius N/4 the phase is the requested 4 rad (pixel (c, c + 8) is 8.5 px out).
        let c = n / 2;
        let want = 4.0 * (8.5f64 / 8.0).powi(2) + 0.5f64.powi(2) * 4.0 / 64.0;
        let got = focused[c * n + c + 8].arg() as f64;
        let wrap = |x: f64| (x + std::f64::consts::PI).rem_euclid(2.0 * std::f64::consts::PI);
        assert!((wrap(got) - wrap(want)).abs() < 1e-5, "{got} vs {want}");
        assert!(
            amp_gap(&focused) > 0.05,
            "defocused probe: {}",
            amp_gap(&focused)
        );
    }
}
