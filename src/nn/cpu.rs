//! CPU twins of the nn kernels in f64: plain index loops that read against the shaders, used as
//! oracles by the GPU tests and (through `model::cpu`) by the finite-difference gradient checks.
#![allow(clippy::needless_range_loop, reason = "index loops mirror the shaders")]

use std::f64::consts::PI;

use num_complex::Complex64;

use super::{Activation, ConvSpec, PackedPass, SubgroupTiling};

/// `act(v)`.
pub fn act(a: Activation, v: f64) -> f64 {
    match a {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        Activation::PiTanh => PI * v.tanh(),
    }
}

/// `act'(z)` from the output `y = act(z)`.
pub fn act_deriv_from_output(a: Activation, y: f64) -> f64 {
    match a {
        Activation::None => 1.0,
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => y * (1.0 - y),
        Activation::PiTanh => PI - y * y / PI,
    }
}

/// Twin of `activation_fwd.wgsl`.
pub fn activation_fwd(a: Activation, x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| act(a, v)).collect()
}

/// Twin of `activation_bwd.wgsl`: `dz = dy · act'(z)` from the output `y`.
pub fn activation_bwd(a: Activation, y: &[f64], dy: &[f64]) -> Vec<f64> {
    y.iter()
        .zip(dy)
        .map(|(&v, &g)| g * act_deriv_from_output(a, v))
        .collect()
}

/// Twin of `conv2d_fwd.wgsl` and `conv2d_fwd_subgroup.wgsl` (forward): `out = act(conv(x) + b)`.
/// `x` holds `in_cstride` channels per image, `params` the flat parameter vector.
pub fn conv2d_fwd(s: &ConvSpec, x: &[f64], params: &[f64], batch: usize) -> Vec<f64> {
    let (h, w) = (s.height, s.width);
    let plane = h * w;
    let wt = &params[s.w_off..s.w_off + s.cout * s.cin * 9];
    let bias = &params[s.b_off()..s.b_off() + s.cout];
    let mut out = vec![0.0; batch * s.cout * plane];
    for b in 0..batch {
        for o in 0..s.cout {
            let acc = &mut out[(b * s.cout + o) * plane..(b * s.cout + o + 1) * plane];
            acc.fill(bias[o]);
            for i in 0..s.cin {
                let xin = &x[(b * s.in_cstride + i) * plane..(b * s.in_cstride + i + 1) * plane];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let wv = wt[(o * s.cin + i) * 9 + ky * 3 + kx];
                        for y in 0..h {
                            let yy = y as isize + ky as isize - 1;
                            if yy < 0 || yy >= h as isize {
                                continue;
                            }
                            let row = &xin[yy as usize * w..(yy as usize + 1) * w];
                            let orow = &mut acc[y * w..(y + 1) * w];
                            // x range with x + kx − 1 inside [0, w).
                            let x0 = if kx == 0 { 1 } else { 0 };
                            let x1 = if kx == 2 { w - 1 } else { w };
                            for xx in x0..x1 {
                                orow[xx] += wv * row[xx + kx - 1];
                            }
                        }
                    }
                }
            }
            for v in acc.iter_mut() {
                *v = act(s.act, *v);
            }
        }
    }
    out
}

/// Twin of the conv input gradient (`conv2d_fwd.wgsl` or `conv2d_fwd_subgroup.wgsl` with
/// `flip` = 1):
/// `dx[b, i] = Σ_o W[o, i] ⋆ dz[b, o]` for all `in_cstride` channels (zero for `i ≥ cin`),
/// then `· [gate > 0]` where a gate is given.
pub fn conv2d_bwd_input(
    s: &ConvSpec,
    dz: &[f64],
    params: &[f64],
    gate: Option<&[f64]>,
    batch: usize,
) -> Vec<f64> {
    let (h, w) = (s.height, s.width);
    let plane = h * w;
    let wt = &params[s.w_off..s.w_off + s.cout * s.cin * 9];
    let mut dx = vec![0.0; batch * s.in_cstride * plane];
    for b in 0..batch {
        for i in 0..s.cin {
            let acc = &mut dx[(b * s.in_cstride + i) * plane..(b * s.in_cstride + i + 1) * plane];
            for o in 0..s.cout {
                let g = &dz[(b * s.cout + o) * plane..(b * s.cout + o + 1) * plane];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let wv = wt[(o * s.cin + i) * 9 + ky * 3 + kx];
                        // out[y][x] += w · in[y+ky−1][x+kx−1]  ⇒  dx[yy][xx] += w · dz[yy−ky+1][xx−kx+1]
                        for y in 0..h {
                            let yy = y as isize + ky as isize - 1;
                            if yy < 0 || yy >= h as isize {
                                continue;
                            }
                            let grow = &g[y * w..(y + 1) * w];
                            let drow = &mut acc[yy as usize * w..(yy as usize + 1) * w];
                            let x0 = if kx == 0 { 1 } else { 0 };
                            let x1 = if kx == 2 { w - 1 } else { w };
                            for xx in x0..x1 {
                                drow[xx + kx - 1] += wv * grow[xx];
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(gt) = gate {
        for (d, &g) in dx.iter_mut().zip(gt) {
            if g.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                *d = 0.0;
            }
        }
    }
    dx
}

/// Twin of `conv2d_bwd_weight.wgsl` (or `conv2d_bwd_weight_subgroup.wgsl`) + `grad_reduce.wgsl`:
/// the gradient of the layer's parameters, `[dW (cout·cin·9), db (cout)]`.
pub fn conv2d_bwd_weight(s: &ConvSpec, x: &[f64], dz: &[f64], batch: usize) -> Vec<f64> {
    let (h, w) = (s.height, s.width);
    let plane = h * w;
    let mut g = vec![0.0; s.param_count()];
    let nw = s.cout * s.cin * 9;
    for b in 0..batch {
        for o in 0..s.cout {
            let d = &dz[(b * s.cout + o) * plane..(b * s.cout + o + 1) * plane];
            g[nw + o] += d.iter().sum::<f64>();
            for i in 0..s.cin {
                let xin = &x[(b * s.in_cstride + i) * plane..(b * s.in_cstride + i + 1) * plane];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let mut acc = 0.0;
                        for y in 0..h {
                            let yy = y as isize + ky as isize - 1;
                            if yy < 0 || yy >= h as isize {
                                continue;
                            }
                            let row = &xin[yy as usize * w..(yy as usize + 1) * w];
                            let drow = &d[y * w..(y + 1) * w];
                            let x0 = if kx == 0 { 1 } else { 0 };
                            let x1 = if kx == 2 { w - 1 } else { w };
                            for xx in x0..x1 {
                                acc += drow[xx] * row[xx + kx - 1];
                            }
                        }
                        g[(o * s.cin + i) * 9 + ky * 3 + kx] += acc;
                    }
                }
            }
        }
    }
    g
}

/// Twin of `conv_pack_subgroup.wgsl`: the taps of one subgroup-layout conv pass, for the
/// layer's parameters `params` (its weights at `s.w_off`). The pass has `cout` output channels
/// (padded to a multiple of [`SubgroupTiling::CO_T`]: `co_pad`) and `cin` input channels —
/// the layer's own for [`PackedPass::Forward`], `in_cstride` from `cout` for
/// [`PackedPass::InputGradient`]. Pair p = i·co_pad + o holds taps 0…7 at 8p…8p+7 and tap 8 at
/// 8·pairs + p, of W[o][i][k] (forward) or W[i][o][8 − k] (input gradient), 0 outside W.
pub fn conv_pack_subgroup(s: &ConvSpec, params: &[f64], pass: PackedPass) -> Vec<f64> {
    let (cout, cin) = match pass {
        PackedPass::Forward => (s.cout, s.cin),
        PackedPass::InputGradient => (s.in_cstride, s.cout),
    };
    let co_pad = cout.next_multiple_of(SubgroupTiling::CO_T as usize);
    let pairs = co_pad * cin;
    let w = |o: usize, i: usize, k: usize| params[s.w_off + (o * s.cin + i) * 9 + k];
    let mut packed = vec![0.0; 9 * pairs];
    for i in 0..cin {
        for o in 0..co_pad {
            let p = i * co_pad + o;
            for k in 0..9 {
                let v = match pass {
                    PackedPass::Forward if o < s.cout && i < s.cin => w(o, i, k),
                    PackedPass::InputGradient if i < s.cout && o < s.cin => w(i, o, 8 - k),
                    _ => 0.0,
                };
                packed[if k < 8 { 8 * p + k } else { 8 * pairs + p }] = v;
            }
        }
    }
    packed
}

/// Twin of `maxpool2x2_fwd.wgsl`.
pub fn maxpool2x2_fwd(x: &[f64], planes: usize, h: usize, w: usize) -> Vec<f64> {
    let (ho, wo) = (h / 2, w / 2);
    let mut out = vec![0.0; planes * ho * wo];
    for p in 0..planes {
        for y in 0..ho {
            for xx in 0..wo {
                let base = (p * h + 2 * y) * w + 2 * xx;
                out[(p * ho + y) * wo + xx] = x[base]
                    .max(x[base + 1])
                    .max(x[base + w].max(x[base + w + 1]));
            }
        }
    }
    out
}

/// Twin of `maxpool2x2_bwd.wgsl` (first maximum in window order; optional `· [max > 0]`).
pub fn maxpool2x2_bwd(
    x: &[f64],
    dy: &[f64],
    planes: usize,
    h: usize,
    w: usize,
    gate: bool,
) -> Vec<f64> {
    let (ho, wo) = (h / 2, w / 2);
    let mut dx = vec![0.0; planes * h * w];
    for p in 0..planes {
        for y in 0..ho {
            for xx in 0..wo {
                let base = (p * h + 2 * y) * w + 2 * xx;
                let idx = [base, base + 1, base + w, base + w + 1];
                let mut best = 0;
                for k in 1..4 {
                    if x[idx[k]] > x[idx[best]] {
                        best = k;
                    }
                }
                let mut g = dy[(p * ho + y) * wo + xx];
                if gate && x[idx[best]] <= 0.0 {
                    g = 0.0;
                }
                dx[idx[best]] = g;
            }
        }
    }
    dx
}

/// Twin of `upsample2x_fwd.wgsl`.
pub fn upsample2x_fwd(x: &[f64], planes: usize, h: usize, w: usize) -> Vec<f64> {
    let (h2, w2) = (2 * h, 2 * w);
    let mut out = vec![0.0; planes * h2 * w2];
    for p in 0..planes {
        for y in 0..h2 {
            for xx in 0..w2 {
                out[(p * h2 + y) * w2 + xx] = x[(p * h + y / 2) * w + xx / 2];
            }
        }
    }
    out
}

/// Twin of `upsample2x_bwd.wgsl` (optional `· [x > 0]`).
pub fn upsample2x_bwd(
    x: &[f64],
    dout: &[f64],
    planes: usize,
    h: usize,
    w: usize,
    gate: bool,
) -> Vec<f64> {
    let w2 = 2 * w;
    let mut dx = vec![0.0; planes * h * w];
    for p in 0..planes {
        for y in 0..h {
            for xx in 0..w {
                let base = (p * h * 2 + 2 * y) * w2 + 2 * xx;
                let s = dout[base] + dout[base + 1] + dout[base + w2] + dout[base + w2 + 1];
                let i = (p * h + y) * w + xx;
                dx[i] = if gate && x[i] <= 0.0 { 0.0 } else { s };
            }
        }
    }
    dx
}

/// Twin of `pad_crop.wgsl` for square planes: offset `(out − in)/2` on both axes.
pub fn pad_crop(x: &[f64], planes: usize, in_hw: usize, out_hw: usize) -> Vec<f64> {
    let off = (out_hw as isize - in_hw as isize) / 2;
    let mut out = vec![0.0; planes * out_hw * out_hw];
    for p in 0..planes {
        for y in 0..out_hw {
            for xx in 0..out_hw {
                let (sy, sx) = (y as isize - off, xx as isize - off);
                if sy >= 0 && sy < in_hw as isize && sx >= 0 && sx < in_hw as isize {
                    out[(p * out_hw + y) * out_hw + xx] =
                        x[(p * in_hw + sy as usize) * in_hw + sx as usize];
                }
            }
        }
    }
    out
}

/// Twin of `object_patch.wgsl`: `O = A·e^{iφ}` in the central `h × h` of `n × n`, 0 elsewhere.
pub fn object_patch(
    amp: &[f64],
    phase: &[f64],
    planes: usize,
    h: usize,
    n: usize,
) -> Vec<Complex64> {
    let off = (n - h) / 2;
    let mut o = vec![Complex64::new(0.0, 0.0); planes * n * n];
    for p in 0..planes {
        for y in 0..h {
            for x in 0..h {
                let j = (p * h + y) * h + x;
                o[(p * n + y + off) * n + x + off] = Complex64::from_polar(amp[j], phase[j]);
            }
        }
    }
    o
}

/// Twin of `object_patch_bwd.wgsl`: `(dA, dφ)` from the conjugate-Wirtinger gradient `dobj`;
/// `through_heads` applies sigmoid' and (π·tanh)'.
pub fn object_patch_bwd(
    amp: &[f64],
    phase: &[f64],
    dobj: &[Complex64],
    planes: usize,
    h: usize,
    n: usize,
    through_heads: bool,
) -> (Vec<f64>, Vec<f64>) {
    let off = (n - h) / 2;
    let mut da = vec![0.0; planes * h * h];
    let mut df = vec![0.0; planes * h * h];
    for p in 0..planes {
        for y in 0..h {
            for x in 0..h {
                let j = (p * h + y) * h + x;
                let g = dobj[(p * n + y + off) * n + x + off];
                let (a, f) = (amp[j], phase[j]);
                let (c, s) = (f.cos(), f.sin());
                let mut ga = g.re * c + g.im * s;
                let mut gf = a * (g.im * c - g.re * s);
                if through_heads {
                    ga *= act_deriv_from_output(Activation::Sigmoid, a);
                    gf *= act_deriv_from_output(Activation::PiTanh, f);
                }
                da[j] = ga;
                df[j] = gf;
            }
        }
    }
    (da, df)
}

/// Twin of `adam.wgsl` (TF form), step `t` (1-based), in f64.
pub fn adam(
    cfg: &super::AdamConfig,
    t: u64,
    grad: &[f64],
    theta: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    let alpha = cfg.alpha(t);
    for i in 0..theta.len() {
        let g = grad[i];
        m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g;
        v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g * g;
        theta[i] -= alpha * m[i] / (v[i].sqrt() + cfg.eps);
    }
}

/// Twin of `mse_grad.wgsl`: `(sq, grad)`.
pub fn mse_grad(a: &[f64], t: &[f64], scale: f64) -> (Vec<f64>, Vec<f64>) {
    a.iter()
        .zip(t)
        .map(|(&x, &y)| ((x - y) * (x - y), scale * 2.0 * (x - y)))
        .unzip()
}
