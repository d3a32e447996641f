//! CPU twins of the physics kernels, in f64, written as plain index loops that read line by
//! line against the WGSL. They are the oracles of the tests (and of the finite-difference
//! gradient checks), never a substitute for the shaders.

use num_complex::Complex64;

use super::merge::{MASK_EPS, MASK_ZERO, MergeGeometry};
use super::translate::TranslateGeometry;

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

/// Twin of `amp_loss.wgsl` with an incoherent multi-mode probe: `far` holds `modes` far fields
/// mode-major (each as long as `x`); Â = sqrt(Σ_p |F_p|²); returns the per-element loss and
/// dL/dF_p for every mode (mode-major). With one mode this is [`amp_loss`].
pub fn amp_loss_modes(
    far: &[Complex64],
    x: &[f64],
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
    total: usize,
    modes: usize,
) -> (Vec<f64>, Vec<Complex64>) {
    if modes <= 1 {
        return amp_loss(far, x, s, nll_weight, mae_weight, total);
    }
    let len = x.len();
    // The loss of Â is the single-mode loss of a far field of modulus Â; its dL/dÂ·(1/Â)
    // scales each mode's field.
    let amp: Vec<Complex64> = (0..len)
        .map(|e| {
            let i2: f64 = (0..modes).map(|p| far[p * len + e].norm_sqr()).sum();
            Complex64::new(i2.sqrt(), 0.0)
        })
        .collect();
    let (loss, g) = amp_loss(&amp, x, s, nll_weight, mae_weight, total);
    let mut grad = vec![Complex64::new(0.0, 0.0); modes * len];
    for e in 0..len {
        let a = amp[e].re;
        if a > 0.0 {
            // g[e] = dL/dÂ / total (a real number times Â/|Â| = 1).
            let k = g[e].re / a;
            for p in 0..modes {
                grad[p * len + e] = far[p * len + e] * k;
            }
        }
    }
    (loss, grad)
}

/// The whole gridsize-1 forward model in f64: O (B, N, N) → mean loss, given a probe of one or
/// more incoherent modes (P, N, N), measured amplitudes X (B, N, N) and scale s. Used for
/// finite-difference checks.
pub fn far_field_loss(
    obj: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
) -> f64 {
    let modes = probe.len() / (n * n);
    let far = far_field_modes(obj, probe, n);
    let (l, _) = amp_loss_modes(&far, x, s, nll_weight, mae_weight, obj.len(), modes);
    l.iter().sum::<f64>() / obj.len() as f64
}

/// F = fftshift(FFT₂(P·O))/N per frame (the first mode of `probe`).
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

/// F_p = fftshift(FFT₂(P_p·O))/N for every mode p of `probe` (P × N²), mode-major
/// (P × frames × N²).
pub fn far_field_modes(obj: &[Complex64], probe: &[Complex64], n: usize) -> Vec<Complex64> {
    probe
        .chunks_exact(n * n)
        .flat_map(|mode| far_field(obj, mode, n))
        .collect()
}

/// dL/dψ_p = FFT₂ᴴ(ifftshift(dL/dF_p))/N for every mode (mode-major).
fn far_field_adjoint(dfar: &[Complex64], n: usize) -> Vec<Complex64> {
    dfar.chunks_exact(n * n)
        .flat_map(|f| {
            let unshifted = crate::fft::cpu::fftshift2(f, n, n);
            crate::fft::cpu::fft2_rustfft(&unshifted, n, n, crate::fft::Direction::Inverse)
                .into_iter()
                .map(|d| d / n as f64)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Twin of `mode_sum_adjoint.wgsl` (and, for one mode, of the conjugate probe multiply):
/// dO[f] = Σ_p conj(P_p)·dψ[p, f], modes in ascending order.
pub fn mode_sum_adjoint(dpsi: &[Complex64], probe: &[Complex64], n: usize) -> Vec<Complex64> {
    let modes = probe.len() / (n * n);
    let len = dpsi.len() / modes.max(1);
    (0..len)
        .map(|i| {
            (0..modes)
                .map(|p| dpsi[p * len + i] * probe[p * n * n + i % (n * n)].conj())
                .sum()
        })
        .collect()
}

/// Twin of `mode_exit_waves.wgsl`: ψ[p, f] = O[f]·P_p, mode-major.
pub fn mode_exit_waves(obj: &[Complex64], probe: &[Complex64], n: usize) -> Vec<Complex64> {
    probe
        .chunks_exact(n * n)
        .flat_map(|mode| {
            obj.iter()
                .enumerate()
                .map(move |(i, o)| o * mode[i % (n * n)])
        })
        .collect()
}

/// Analytic gradient dL/dO (conjugate-Wirtinger) of [`far_field_loss`] in f64: the adjoint chain
/// Σ_p conj(P_p)·FFT₂ᴴ(ifftshift(dL/dF_p))/N.
pub fn far_field_backward(
    obj: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
) -> Vec<Complex64> {
    let modes = probe.len() / (n * n);
    let far = far_field_modes(obj, probe, n);
    let (_, dfar) = amp_loss_modes(&far, x, s, nll_weight, mae_weight, obj.len(), modes);
    mode_sum_adjoint(&far_field_adjoint(&dfar, n), probe, n)
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

/// Adjoint of [`extract_patches`] (the transposed bilinear scatter of patch values back onto
/// the object), in f64: used to check the extraction as a linear operator,
/// ⟨E x, y⟩ = ⟨x, Eᴴ y⟩.
pub fn extract_patches_adjoint(
    patches: &[Complex64],
    h: usize,
    w: usize,
    pos: &[[f64; 2]],
    n: usize,
) -> Vec<Complex64> {
    let half = (n / 2) as f64;
    let mut obj = vec![Complex64::new(0.0, 0.0); h * w];
    for (m, p) in pos.iter().enumerate() {
        for i in 0..n {
            for j in 0..n {
                let (y, x) = (p[1] - half + i as f64, p[0] - half + j as f64);
                let (y0, x0) = (y.floor(), x.floor());
                let (fy, fx) = (y - y0, x - x0);
                let g = patches[(m * n + i) * n + j];
                for (r, wy) in [(y0, 1.0 - fy), (y0 + 1.0, fy)] {
                    for (c, wx) in [(x0, 1.0 - fx), (x0 + 1.0, fx)] {
                        if r >= 0.0 && c >= 0.0 && r < h as f64 && c < w as f64 {
                            obj[r as usize * w + c as usize] += g * (wy * wx);
                        }
                    }
                }
            }
        }
    }
    obj
}

/// `(floor, frac)` of an f32 shift, as `split_shift` in shared/bilinear.wgsl computes it (the
/// split happens in f32, the interpolation then runs in f64).
fn split(s: f32) -> (i64, f64) {
    let f = s.floor();
    (f as i64, (s - f) as f64)
}

/// Weight of bilinear tap k ∈ {0, 1}.
fn tap(frac: f64, k: i64) -> f64 {
    if k == 1 { frac } else { 1.0 - frac }
}

fn inside(r: i64, c: i64, h: usize, w: usize) -> bool {
    r >= 0 && c >= 0 && r < h as i64 && c < w as i64
}

/// Twin of `translate.wgsl`.
pub fn translate(src: &[Complex64], offsets: &[[f32; 2]], g: &TranslateGeometry) -> Vec<Complex64> {
    let (ih, iw) = g.input;
    let (oh, ow) = g.output;
    let mut out = vec![Complex64::new(0.0, 0.0); g.frames * oh * ow];
    for f in 0..g.frames {
        let (flx, frx) = split(g.sign * offsets[f][0]);
        let (fly, fry) = split(g.sign * offsets[f][1]);
        let base = (f / g.group) * ih * iw;
        for r in 0..oh {
            for c in 0..ow {
                let r0 = r as i64 + g.base[1] as i64 + fly;
                let c0 = c as i64 + g.base[0] as i64 + flx;
                let mut acc = Complex64::new(0.0, 0.0);
                for ky in 0..2 {
                    for kx in 0..2 {
                        let (rr, cc) = (r0 + ky, c0 + kx);
                        if inside(rr, cc, ih, iw) {
                            acc += tap(fry, ky)
                                * tap(frx, kx)
                                * src[base + rr as usize * iw + cc as usize];
                        }
                    }
                }
                out[f * oh * ow + r * ow + c] = acc;
            }
        }
    }
    out
}

/// Twin of `translate_adjoint.wgsl` (members of a group summed in ascending order).
pub fn translate_adjoint(
    grad_out: &[Complex64],
    offsets: &[[f32; 2]],
    g: &TranslateGeometry,
) -> Vec<Complex64> {
    let (ih, iw) = g.input;
    let (oh, ow) = g.output;
    let mut grad_in = vec![Complex64::new(0.0, 0.0); g.input_frames() * ih * iw];
    for gi in 0..g.input_frames() {
        for y in 0..ih {
            for x in 0..iw {
                let mut acc = Complex64::new(0.0, 0.0);
                for m in 0..g.group {
                    let f = gi * g.group + m;
                    let (flx, frx) = split(g.sign * offsets[f][0]);
                    let (fly, fry) = split(g.sign * offsets[f][1]);
                    let r0 = y as i64 - g.base[1] as i64 - fly;
                    let c0 = x as i64 - g.base[0] as i64 - flx;
                    for ky in 0..2 {
                        for kx in 0..2 {
                            let (rr, cc) = (r0 - ky, c0 - kx);
                            if inside(rr, cc, oh, ow) {
                                acc += tap(fry, ky)
                                    * tap(frx, kx)
                                    * grad_out[f * oh * ow + rr as usize * ow + cc as usize];
                            }
                        }
                    }
                }
                grad_in[gi * ih * iw + y * iw + x] = acc;
            }
        }
    }
    grad_in
}

/// Twin of `merge_patches.wgsl`: returns (canvases, normalisation weights).
pub fn merge_patches(
    patches: &[Complex64],
    offsets: &[[f32; 2]],
    g: &MergeGeometry,
) -> (Vec<Complex64>, Vec<f64>) {
    let p = g.params().expect("valid merge geometry");
    let (n, m) = (g.n, g.m);
    let (lo, hi) = ((n / 4) as i64, (3 * n / 4) as i64);
    let mut canvas = vec![Complex64::new(0.0, 0.0); g.groups * m * m];
    let mut wgt = vec![0.0; g.groups * m * m];
    for gi in 0..g.groups {
        for y in 0..m {
            for x in 0..m {
                let mut num = Complex64::new(0.0, 0.0);
                let mut msum = 0.0;
                for c in 0..g.members {
                    let f = gi * g.members + c;
                    let (flx, frx) = split(p.sign * offsets[f][0]);
                    let (fly, fry) = split(p.sign * offsets[f][1]);
                    let r0 = y as i64 + p.base_y as i64 + fly;
                    let c0 = x as i64 + p.base_x as i64 + flx;
                    for ky in 0..2 {
                        for kx in 0..2 {
                            let (rr, cc) = (r0 + ky, c0 + kx);
                            if inside(rr, cc, n, n) {
                                let w = tap(fry, ky) * tap(frx, kx);
                                num += w * patches[f * n * n + rr as usize * n + cc as usize];
                                if rr >= lo && rr < hi && cc >= lo && cc < hi {
                                    msum += w;
                                }
                            }
                        }
                    }
                }
                let wv = if msum > MASK_ZERO {
                    1.0 / (msum + MASK_EPS)
                } else {
                    0.0
                };
                let k = gi * m * m + y * m + x;
                canvas[k] = wv * num;
                wgt[k] = wv;
            }
        }
    }
    (canvas, wgt)
}

/// Twin of `merge_patches_adjoint.wgsl`.
pub fn merge_patches_adjoint(
    grad_canvas: &[Complex64],
    wgt: &[f64],
    offsets: &[[f32; 2]],
    g: &MergeGeometry,
) -> Vec<Complex64> {
    let p = g.params().expect("valid merge geometry");
    let (n, m) = (g.n, g.m);
    let frames = g.groups * g.members;
    let mut out = vec![Complex64::new(0.0, 0.0); frames * n * n];
    for f in 0..frames {
        let gi = f / g.members;
        let (flx, frx) = split(p.sign * offsets[f][0]);
        let (fly, fry) = split(p.sign * offsets[f][1]);
        for r in 0..n {
            for c in 0..n {
                let r0 = r as i64 - p.base_y as i64 - fly;
                let c0 = c as i64 - p.base_x as i64 - flx;
                let mut acc = Complex64::new(0.0, 0.0);
                for ky in 0..2 {
                    for kx in 0..2 {
                        let (yy, xx) = (r0 - ky, c0 - kx);
                        if inside(yy, xx, m, m) {
                            let k = gi * m * m + yy as usize * m + xx as usize;
                            acc += tap(fry, ky) * tap(frx, kx) * wgt[k] * grad_canvas[k];
                        }
                    }
                }
                out[f * n * n + r * n + c] = acc;
            }
        }
    }
    out
}

/// Twin of `probe_grad.wgsl`: `Σ_f grad_psi[f] · conj(obj[f])`, frames in ascending order;
/// with several modes (`grad_psi` = modes × the values of `obj`, mode-major) one gradient per
/// mode.
pub fn probe_grad(grad_psi: &[Complex64], obj: &[Complex64], frame: usize) -> Vec<Complex64> {
    let modes = grad_psi.len() / obj.len().max(1);
    let mut out = vec![Complex64::new(0.0, 0.0); modes.max(1) * frame];
    for (q, o) in out.iter_mut().enumerate() {
        let (m, p) = (q / frame, q % frame);
        for f in 0..obj.len() / frame {
            *o += grad_psi[m * obj.len() + f * frame + p] * obj[f * frame + p].conj();
        }
    }
    out
}

/// Group geometry of the f64 model (gridsize > 1): C members per group, canvas side M and the
/// relative offsets (x, y) of every member, group-major.
#[derive(Clone, Debug)]
pub struct GroupGeometry {
    /// Members per group C.
    pub members: usize,
    /// Canvas side M.
    pub canvas: usize,
    /// Relative offsets, one per patch.
    pub offsets: Vec<[f32; 2]>,
}

impl GroupGeometry {
    fn merge(&self, n: usize, frames: usize) -> MergeGeometry {
        MergeGeometry {
            n,
            m: self.canvas,
            groups: frames / self.members,
            members: self.members,
        }
    }

    fn reextract(&self, n: usize, frames: usize) -> TranslateGeometry {
        TranslateGeometry::reextract(n, self.canvas, frames / self.members, self.members)
    }
}

/// The patches that meet the probe: `patches` themselves for gridsize 1, else the object_big
/// merge of each group followed by re-extraction of each member (with the merge weights).
pub fn illuminated_patches(
    patches: &[Complex64],
    n: usize,
    group: Option<&GroupGeometry>,
) -> (Vec<Complex64>, Option<Vec<f64>>) {
    match group {
        None => (patches.to_vec(), None),
        Some(g) => {
            let frames = patches.len() / (n * n);
            let (canvas, wgt) = merge_patches(patches, &g.offsets, &g.merge(n, frames));
            let obj = translate(&canvas, &g.offsets, &g.reextract(n, frames));
            (obj, Some(wgt))
        }
    }
}

/// The whole forward model in f64 for any gridsize: patches (B·C, N, N) → merge/re-extraction
/// (C > 1) → probe → far field → mean loss. Used for finite-difference checks.
#[allow(clippy::too_many_arguments, reason = "the model's inputs, spelled out")]
pub fn model_loss(
    patches: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
    group: Option<&GroupGeometry>,
) -> f64 {
    let (obj, _) = illuminated_patches(patches, n, group);
    far_field_loss(&obj, probe, x, n, s, nll_weight, mae_weight)
}

/// Analytic gradients of [`model_loss`] (conjugate-Wirtinger): (dL/d patches, dL/d probe).
#[allow(clippy::too_many_arguments, reason = "the model's inputs, spelled out")]
pub fn model_backward(
    patches: &[Complex64],
    probe: &[Complex64],
    x: &[f64],
    n: usize,
    s: f64,
    nll_weight: f64,
    mae_weight: f64,
    group: Option<&GroupGeometry>,
) -> (Vec<Complex64>, Vec<Complex64>) {
    let (obj, wgt) = illuminated_patches(patches, n, group);
    let modes = probe.len() / (n * n);
    let far = far_field_modes(&obj, probe, n);
    let (_, dfar) = amp_loss_modes(&far, x, s, nll_weight, mae_weight, obj.len(), modes);
    let dpsi = far_field_adjoint(&dfar, n);
    let grad_probe = probe_grad(&dpsi, &obj, n * n);
    let dobj = mode_sum_adjoint(&dpsi, probe, n);
    let grad_patches = match (group, wgt) {
        (Some(g), Some(w)) => {
            let frames = patches.len() / (n * n);
            let dcanvas = translate_adjoint(&dobj, &g.offsets, &g.reextract(n, frames));
            merge_patches_adjoint(&dcanvas, &w, &g.offsets, &g.merge(n, frames))
        }
        _ => dobj,
    };
    (grad_patches, grad_probe)
}
