//! CPU twin of the network in f64, built from the nn CPU twins and following exactly the GPU
//! schedule of [`super::Network`]. It is the oracle of the GPU forward/backward tests, the
//! substrate of the finite-difference gradient checks, and the CPU figure of the benchmark.

use num_complex::Complex64;

use super::config::{Layout, Part};
use crate::nn::cpu as k;
use crate::nn::{Activation, ConvSpec};

/// Activations of one decoder (one head).
#[derive(Clone, Debug, Default)]
pub struct CpuHead {
    /// Per block: conv0 output, conv1 output, upsampled.
    pub blocks: Vec<[Vec<f64>; 3]>,
    /// Head output after its activation, (B, C, N/2, N/2).
    pub out: Vec<f64>,
}

/// Everything the CPU forward pass keeps for backward.
#[derive(Clone, Debug, Default)]
pub struct CpuActivations {
    /// Images.
    pub batch: usize,
    /// Network input.
    pub input: Vec<f64>,
    /// Per encoder block: conv0 output, conv1 output, pooled.
    pub enc: Vec<[Vec<f64>; 3]>,
    /// Amplitude and phase decoders.
    pub heads: [CpuHead; 2],
    /// Complex object patch (B, C, N, N).
    pub obj: Vec<Complex64>,
}

fn conv(l: &Layout, part: Part) -> ConvSpec {
    l.find(part).spec
}

/// Forward pass of `batch` inputs (B, C, N, N).
pub fn forward(l: &Layout, params: &[f64], input: &[f64], batch: usize) -> CpuActivations {
    let mut a = CpuActivations {
        batch,
        input: input.to_vec(),
        ..Default::default()
    };
    let mut x = input.to_vec();
    for b in 0..l.enc_blocks() {
        let s0 = conv(l, Part::Encoder(b, 0));
        let y0 = k::conv2d_fwd(&s0, &x, params, batch);
        let s1 = conv(l, Part::Encoder(b, 1));
        let y1 = k::conv2d_fwd(&s1, &y0, params, batch);
        let p = k::maxpool2x2_fwd(&y1, batch * s1.cout, s1.height, s1.width);
        x = p.clone();
        a.enc.push([y0, y1, p]);
    }
    for head in 0..2 {
        let mut x = x.clone();
        let mut h = CpuHead::default();
        for j in 0..l.dec_blocks() {
            let s0 = conv(l, Part::Decoder(head, j, 0));
            let y0 = k::conv2d_fwd(&s0, &x, params, batch);
            let s1 = conv(l, Part::Decoder(head, j, 1));
            let y1 = k::conv2d_fwd(&s1, &y0, params, batch);
            let u = k::upsample2x_fwd(&y1, batch * s1.cout, s1.height, s1.width);
            x = u.clone();
            h.blocks.push([y0, y1, u]);
        }
        h.out = k::conv2d_fwd(&conv(l, Part::Head(head)), &x, params, batch);
        a.heads[head] = h;
    }
    let c = l.cfg.c;
    a.obj = k::object_patch(
        &a.heads[0].out,
        &a.heads[1].out,
        batch * c,
        l.head_size(),
        l.cfg.n,
    );
    a
}

/// Backward from the conjugate-Wirtinger gradient of the object patch: the flat parameter
/// gradient.
pub fn backward_object(
    l: &Layout,
    params: &[f64],
    a: &CpuActivations,
    dobj: &[Complex64],
) -> Vec<f64> {
    let (dza, dzp) = k::object_patch_bwd(
        &a.heads[0].out,
        &a.heads[1].out,
        dobj,
        a.batch * l.cfg.c,
        l.head_size(),
        l.cfg.n,
        true,
    );
    backward_pre(l, params, a, [dza, dzp])
}

/// Backward from the gradients of the head outputs (after sigmoid / π·tanh).
pub fn backward_heads(
    l: &Layout,
    params: &[f64],
    a: &CpuActivations,
    damp: &[f64],
    dphase: &[f64],
) -> Vec<f64> {
    let dza = k::activation_bwd(Activation::Sigmoid, &a.heads[0].out, damp);
    let dzp = k::activation_bwd(Activation::PiTanh, &a.heads[1].out, dphase);
    backward_pre(l, params, a, [dza, dzp])
}

fn add_grads(g: &mut [f64], s: &ConvSpec, part: &[f64]) {
    for (d, v) in g[s.w_off..s.w_off + s.param_count()].iter_mut().zip(part) {
        *d += v;
    }
}

/// Backward from the gradients of the head convs' pre-activations.
fn backward_pre(
    l: &Layout,
    params: &[f64],
    a: &CpuActivations,
    dz_heads: [Vec<f64>; 2],
) -> Vec<f64> {
    let batch = a.batch;
    let mut g = vec![0.0; l.params];
    let e = l.enc_blocks();
    let bottleneck = &a.enc[e - 1][2];
    let mut d_bottleneck = vec![0.0; bottleneck.len()];
    for (head, dz) in dz_heads.iter().enumerate() {
        let h = &a.heads[head];
        let sh = conv(l, Part::Head(head));
        let feat = h.blocks.last().map(|b| &b[2]).unwrap_or(bottleneck);
        add_grads(&mut g, &sh, &k::conv2d_bwd_weight(&sh, feat, dz, batch));
        let mut d = k::conv2d_bwd_input(&sh, dz, params, None, batch);
        for j in (0..l.dec_blocks()).rev() {
            let s0 = conv(l, Part::Decoder(head, j, 0));
            let s1 = conv(l, Part::Decoder(head, j, 1));
            let [y0, y1, _] = &h.blocks[j];
            // d is the gradient of the upsampled features; ReLU' of conv1 fused.
            let dz1 = k::upsample2x_bwd(y1, &d, batch * s1.cout, s1.height, s1.width, true);
            add_grads(&mut g, &s1, &k::conv2d_bwd_weight(&s1, y0, &dz1, batch));
            let dz0 = k::conv2d_bwd_input(&s1, &dz1, params, Some(y0), batch);
            let xin = if j == 0 {
                bottleneck
            } else {
                &h.blocks[j - 1][2]
            };
            add_grads(&mut g, &s0, &k::conv2d_bwd_weight(&s0, xin, &dz0, batch));
            d = k::conv2d_bwd_input(&s0, &dz0, params, None, batch);
        }
        for (acc, v) in d_bottleneck.iter_mut().zip(&d) {
            *acc += v;
        }
    }
    let mut d = d_bottleneck;
    for b in (0..e).rev() {
        let s0 = conv(l, Part::Encoder(b, 0));
        let s1 = conv(l, Part::Encoder(b, 1));
        let [y0, y1, _] = &a.enc[b];
        let dz1 = k::maxpool2x2_bwd(y1, &d, batch * s1.cout, s1.height, s1.width, true);
        add_grads(&mut g, &s1, &k::conv2d_bwd_weight(&s1, y0, &dz1, batch));
        let dz0 = k::conv2d_bwd_input(&s1, &dz1, params, Some(y0), batch);
        let xin = if b == 0 { &a.input } else { &a.enc[b - 1][2] };
        add_grads(&mut g, &s0, &k::conv2d_bwd_weight(&s0, xin, &dz0, batch));
        if b > 0 {
            d = k::conv2d_bwd_input(&s0, &dz0, params, None, batch);
        }
    }
    g
}
