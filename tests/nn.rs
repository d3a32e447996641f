//! GPU (lavapipe in CI) against the f64 CPU twins for every nn kernel; determinism of the
//! reductions; and the network-level checks (finite differences on the CPU twin, GPU backward
//! against CPU backward, bit-identical training, loss falling).

mod common;

use common::{Rng, Tolerance, gpu_or_skip};
use num_complex::{Complex32, Complex64};
use ptycho::gpu::{Engine, GpuBuffer};
use ptycho::nn::{
    Activation, ActivationOp, Adam, AdamConfig, Conv2d, ConvSpec, MaxPool2x2, MseGrad, ObjectPatch,
    PadCrop, Upsample2x, cpu,
};

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn up(engine: &Engine, label: &str, v: &[f32]) -> GpuBuffer<f32> {
    engine.upload(label, v).unwrap()
}

/// A buffer pre-filled with NaN so unwritten elements fail.
fn nan_buf(engine: &Engine, label: &str, len: usize) -> GpuBuffer<f32> {
    engine.upload(label, &vec![f32::NAN; len]).unwrap()
}

fn read(engine: &Engine, b: &GpuBuffer<f32>) -> Vec<f64> {
    f64s(&engine.read(b).unwrap())
}

/// Random conv parameters (flat buffer with `lead` unrelated values before the layer).
fn conv_params(rng: &mut Rng, s: &ConvSpec) -> Vec<f32> {
    let scale = (6.0 / (9.0 * (s.cin + s.cout) as f64)).sqrt() as f32;
    (0..s.w_off + s.param_count())
        .map(|_| rng.sym() * scale)
        .collect()
}

/// Sums of `terms` f32 products of O(1) values: a few ulps per term, worst case.
fn sum_tol(terms: usize) -> Tolerance {
    Tolerance {
        rel: 1e-5,
        abs: 2e-7 * terms as f64,
    }
}

fn conv_case(
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    in_cstride: usize,
    act: Activation,
    batch: usize,
) {
    let Some(engine) = gpu_or_skip() else { return };
    let spec = ConvSpec {
        cin,
        cout,
        height: h,
        width: w,
        in_cstride,
        act,
        w_off: 37,
    };
    let mut rng = Rng::new((cin * 1000 + cout * 10 + h) as u64);
    let x = rng.reals(batch * in_cstride * h * w);
    let params = conv_params(&mut rng, &spec);
    let dz = rng.reals(batch * cout * h * w);
    let gate = rng.reals(batch * in_cstride * h * w);
    let conv = Conv2d::new(&engine, spec).unwrap();
    let what = format!("conv {cin}({in_cstride})→{cout} {h}×{w} b{batch} {act:?}");

    // Forward.
    let (gx, gp) = (up(&engine, "x", &x), up(&engine, "params", &params));
    let gout = nan_buf(&engine, "out", batch * cout * h * w);
    let mut rec = engine.recording("test.conv.fwd");
    conv.forward(&engine, &mut rec, &gx, &gp, &gout, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let want = cpu::conv2d_fwd(&spec, &f64s(&x), &f64s(&params), batch);
    sum_tol(9 * cin).assert_all(&format!("{what} forward"), &read(&engine, &gout), &want);

    // Input gradient, plain and gated + accumulated.
    let gdz = up(&engine, "dz", &dz);
    let gdx = nan_buf(&engine, "dx", batch * in_cstride * h * w);
    let mut rec = engine.recording("test.conv.bwd_input");
    conv.backward_input(&engine, &mut rec, &gdz, &gp, &gdx, None, false, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let want = cpu::conv2d_bwd_input(&spec, &f64s(&dz), &f64s(&params), None, batch);
    sum_tol(9 * cout).assert_all(
        &format!("{what} input gradient"),
        &read(&engine, &gdx),
        &want,
    );

    let prior = rng.reals(batch * in_cstride * h * w);
    let gdx2 = up(&engine, "dx2", &prior);
    let ggate = up(&engine, "gate", &gate);
    let mut rec = engine.recording("test.conv.bwd_input.gated");
    conv.backward_input(
        &engine,
        &mut rec,
        &gdz,
        &gp,
        &gdx2,
        Some(&ggate),
        true,
        batch,
    )
    .unwrap();
    engine.submit(rec).unwrap();
    let mut want = cpu::conv2d_bwd_input(&spec, &f64s(&dz), &f64s(&params), None, batch);
    for ((v, &p), &g) in want.iter_mut().zip(&prior).zip(&gate) {
        *v = if g > 0.0 { *v + p as f64 } else { 0.0 };
    }
    sum_tol(9 * cout).assert_all(
        &format!("{what} gated accumulated input gradient"),
        &read(&engine, &gdx2),
        &want,
    );

    // Weight and bias gradients (twice: bit-identical), then accumulated on top.
    let (_, _, plen) = conv.weight_splits(batch);
    let part = nan_buf(&engine, "partials", plen);
    let mut grads_first: Option<Vec<f32>> = None;
    for _ in 0..2 {
        let ggrad = nan_buf(&engine, "grads", params.len());
        let mut rec = engine.recording("test.conv.bwd_params");
        conv.backward_params(&engine, &mut rec, &gx, &gdz, &part, &ggrad, false, batch)
            .unwrap();
        engine.submit(rec).unwrap();
        let got: Vec<f32> = engine.read(&ggrad).unwrap();
        if let Some(first) = &grads_first {
            assert_eq!(
                bits(first),
                bits(&got),
                "{what}: weight gradient not deterministic"
            );
        }
        grads_first = Some(got);
    }
    let got = f64s(&grads_first.unwrap()[spec.w_off..]);
    let want = cpu::conv2d_bwd_params(&spec, &f64s(&x), &f64s(&dz), batch);
    sum_tol(batch * h * w).assert_all(&format!("{what} parameter gradient"), &got, &want);
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn conv_first_layer_relu() {
    conv_case(1, 32, 16, 16, 1, Activation::Relu, 2);
}

#[test]
fn conv_odd_shape_partial_tiles() {
    // 10×12 does not divide into 16×16 tiles; 19 input channels is not a multiple of the chunk;
    // 9 output channels leaves a partial 4-channel group.
    conv_case(19, 9, 10, 12, 19, Activation::None, 3);
}

#[test]
fn conv_head_reads_first_channels() {
    // PtychoPINN's final convs read the first width − 4 channels: 12 of 16 here.
    conv_case(12, 1, 16, 16, 16, Activation::Sigmoid, 2);
    conv_case(12, 4, 8, 8, 16, Activation::PiTanh, 2);
}

#[test]
fn conv_bottleneck_shape() {
    conv_case(64, 40, 8, 8, 64, Activation::Relu, 2);
}

#[test]
fn maxpool_forward_backward() {
    let Some(engine) = gpu_or_skip() else { return };
    let (planes, h, w) = (6, 10, 14);
    let mut rng = Rng::new(3);
    let x = rng.reals(planes * h * w);
    let dy = rng.reals(planes * h * w / 4);
    let op = MaxPool2x2::new(&engine).unwrap();
    let (gx, gdy) = (up(&engine, "x", &x), up(&engine, "dy", &dy));
    let gy = nan_buf(&engine, "y", planes * h * w / 4);
    let gdx = nan_buf(&engine, "dx", planes * h * w);
    let gdx2 = nan_buf(&engine, "dx2", planes * h * w);
    let mut rec = engine.recording("test.pool");
    op.forward(&engine, &mut rec, &gx, &gy, planes, h, w)
        .unwrap();
    op.backward(&engine, &mut rec, &gx, &gdy, &gdx, planes, h, w, false)
        .unwrap();
    op.backward(&engine, &mut rec, &gx, &gdy, &gdx2, planes, h, w, true)
        .unwrap();
    engine.submit(rec).unwrap();
    let (xd, dyd) = (f64s(&x), f64s(&dy));
    Tolerance::EXACT.assert_all(
        "maxpool forward",
        &read(&engine, &gy),
        &cpu::maxpool2x2_fwd(&xd, planes, h, w),
    );
    let want = cpu::maxpool2x2_bwd(&xd, &dyd, planes, h, w, false);
    Tolerance::EXACT.assert_all("maxpool backward", &read(&engine, &gdx), &want);
    // A quarter of the inputs get the pooled gradient.
    assert_eq!(want.iter().filter(|v| **v != 0.0).count(), dy.len());
    let want = cpu::maxpool2x2_bwd(&xd, &dyd, planes, h, w, true);
    Tolerance::EXACT.assert_all("maxpool backward gated", &read(&engine, &gdx2), &want);
    assert!(want.iter().filter(|v| **v != 0.0).count() < dy.len());
}

#[test]
fn upsample_forward_backward() {
    let Some(engine) = gpu_or_skip() else { return };
    let (planes, h, w) = (5, 7, 9);
    let mut rng = Rng::new(4);
    let x = rng.reals(planes * h * w);
    let dout = rng.reals(planes * h * w * 4);
    let op = Upsample2x::new(&engine).unwrap();
    let (gx, gdo) = (up(&engine, "x", &x), up(&engine, "dout", &dout));
    let gy = nan_buf(&engine, "y", planes * h * w * 4);
    let gdx = nan_buf(&engine, "dx", planes * h * w);
    let gdx2 = nan_buf(&engine, "dx2", planes * h * w);
    let mut rec = engine.recording("test.upsample");
    op.forward(&engine, &mut rec, &gx, &gy, planes, h, w)
        .unwrap();
    op.backward(&engine, &mut rec, &gx, &gdo, &gdx, planes, h, w, false)
        .unwrap();
    op.backward(&engine, &mut rec, &gx, &gdo, &gdx2, planes, h, w, true)
        .unwrap();
    engine.submit(rec).unwrap();
    let (xd, dd) = (f64s(&x), f64s(&dout));
    Tolerance::EXACT.assert_all(
        "upsample forward",
        &read(&engine, &gy),
        &cpu::upsample2x_fwd(&xd, planes, h, w),
    );
    // Four f32 additions against the f64 sum.
    let tol = Tolerance {
        rel: 4.0 * f32::EPSILON as f64,
        abs: 8.0 * f32::EPSILON as f64,
    };
    tol.assert_all(
        "upsample backward",
        &read(&engine, &gdx),
        &cpu::upsample2x_bwd(&xd, &dd, planes, h, w, false),
    );
    tol.assert_all(
        "upsample backward gated",
        &read(&engine, &gdx2),
        &cpu::upsample2x_bwd(&xd, &dd, planes, h, w, true),
    );
}

#[test]
fn pad_and_crop_are_adjoint() {
    let Some(engine) = gpu_or_skip() else { return };
    let (planes, small, big) = (3, 8, 16);
    let mut rng = Rng::new(5);
    let a = rng.reals(planes * small * small);
    let b = rng.reals(planes * big * big);
    let op = PadCrop::new(&engine).unwrap();
    let (ga, gb) = (up(&engine, "a", &a), up(&engine, "b", &b));
    let gpad = nan_buf(&engine, "pad", planes * big * big);
    let gcrop = nan_buf(&engine, "crop", planes * small * small);
    let mut rec = engine.recording("test.padcrop");
    op.record(&engine, &mut rec, &ga, &gpad, planes, small, big)
        .unwrap();
    op.record(&engine, &mut rec, &gb, &gcrop, planes, big, small)
        .unwrap();
    engine.submit(rec).unwrap();
    let pad = read(&engine, &gpad);
    let crop = read(&engine, &gcrop);
    Tolerance::EXACT.assert_all("pad", &pad, &cpu::pad_crop(&f64s(&a), planes, small, big));
    Tolerance::EXACT.assert_all("crop", &crop, &cpu::pad_crop(&f64s(&b), planes, big, small));
    // ⟨pad a, b⟩ = ⟨a, crop b⟩.
    let lhs: f64 = pad.iter().zip(&b).map(|(p, &q)| p * q as f64).sum();
    let rhs: f64 = a.iter().zip(&crop).map(|(&p, q)| p as f64 * q).sum();
    assert!(
        (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
    // The border of the padded plane is zero, the centre is `a`.
    assert_eq!(pad[0], 0.0);
    assert_eq!(pad[4 * big + 4], a[0] as f64);
}

#[test]
fn activations_forward_backward() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(6);
    let mut x: Vec<f32> = rng.reals(3000).iter().map(|v| v * 8.0).collect();
    x.extend([0.0, -0.0, 60.0, -60.0, 200.0, -200.0]);
    let dy = rng.reals(x.len());
    let op = ActivationOp::new(&engine).unwrap();
    for act in [Activation::Relu, Activation::Sigmoid, Activation::PiTanh] {
        let (gx, gdy) = (up(&engine, "x", &x), up(&engine, "dy", &dy));
        let gy = nan_buf(&engine, "y", x.len());
        let gdz = nan_buf(&engine, "dz", x.len());
        let mut rec = engine.recording("test.act");
        op.forward(&engine, &mut rec, act, &gx, &gy).unwrap();
        op.backward(&engine, &mut rec, act, &gy, &gdy, &gdz)
            .unwrap();
        engine.submit(rec).unwrap();
        let y = read(&engine, &gy);
        let want_y = cpu::activation_fwd(act, &f64s(&x));
        // exp/tanh in f32: a few ulps relative, plus absolute rounding near 0.
        let tol = Tolerance {
            rel: 1e-5,
            abs: 1e-6,
        };
        tol.assert_all(&format!("{act:?} forward"), &y, &want_y);
        // Backward from the GPU's own y (what training uses).
        let want_dz = cpu::activation_bwd(act, &y, &f64s(&dy));
        tol.assert_all(&format!("{act:?} backward"), &read(&engine, &gdz), &want_dz);
    }
}

#[test]
fn object_patch_forward_backward() {
    let Some(engine) = gpu_or_skip() else { return };
    let (planes, h, n) = (3, 8, 16);
    let mut rng = Rng::new(7);
    let amp: Vec<f32> = (0..planes * h * h).map(|_| rng.uniform() as f32).collect();
    let phase: Vec<f32> = rng.reals(planes * h * h).iter().map(|v| v * 3.0).collect();
    let dobj = rng.complex(planes * n * n);
    let op = ObjectPatch::new(&engine).unwrap();
    let (ga, gp) = (up(&engine, "amp", &amp), up(&engine, "phase", &phase));
    let gdo = engine.upload("dobj", &dobj).unwrap();
    let gobj = engine
        .upload(
            "obj",
            &vec![Complex32::new(f32::NAN, f32::NAN); planes * n * n],
        )
        .unwrap();
    let bufs: Vec<_> = (0..4)
        .map(|_| nan_buf(&engine, "grad", planes * h * h))
        .collect();
    let mut rec = engine.recording("test.object");
    op.forward(&engine, &mut rec, &ga, &gp, &gobj, planes, h, n)
        .unwrap();
    op.backward(
        &engine, &mut rec, &ga, &gp, &gdo, &bufs[0], &bufs[1], planes, h, n, false,
    )
    .unwrap();
    op.backward(
        &engine, &mut rec, &ga, &gp, &gdo, &bufs[2], &bufs[3], planes, h, n, true,
    )
    .unwrap();
    engine.submit(rec).unwrap();
    let (ad, pd) = (f64s(&amp), f64s(&phase));
    let dod: Vec<Complex64> = dobj
        .iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect();
    let tol = Tolerance {
        rel: 1e-5,
        abs: 1e-6,
    };
    let want: Vec<f64> = cpu::object_patch(&ad, &pd, planes, h, n)
        .iter()
        .flat_map(|z| [z.re, z.im])
        .collect();
    tol.assert_all(
        "object patch",
        &common::flat(&engine.read(&gobj).unwrap()),
        &want,
    );
    for (k, heads) in [(0, false), (2, true)] {
        let (da, df) = cpu::object_patch_bwd(&ad, &pd, &dod, planes, h, n, heads);
        tol.assert_all("object dA", &read(&engine, &bufs[k]), &da);
        tol.assert_all("object dφ", &read(&engine, &bufs[k + 1]), &df);
    }
    // Wirtinger convention check: for L = Re Σ conj(c)·O, dL/dA at one pixel by finite
    // differences equals the kernel's formula with g = c.
    let (j, eps) = (5usize, 1e-6);
    let loss = |a: &[f64], p: &[f64]| -> f64 {
        cpu::object_patch(a, p, planes, h, n)
            .iter()
            .zip(&dod)
            .map(|(o, c)| (c.conj() * o).re)
            .sum()
    };
    let mut a2 = ad.clone();
    a2[j] += eps;
    let fd_a = (loss(&a2, &pd) - loss(&ad, &pd)) / eps;
    let mut p2 = pd.clone();
    p2[j] += eps;
    let fd_p = (loss(&ad, &p2) - loss(&ad, &pd)) / eps;
    let (da, df) = cpu::object_patch_bwd(&ad, &pd, &dod, planes, h, n, false);
    assert!((fd_a - da[j]).abs() < 1e-5, "dA {fd_a} vs {}", da[j]);
    assert!((fd_p - df[j]).abs() < 1e-5, "dφ {fd_p} vs {}", df[j]);
}

#[test]
fn adam_matches_f64_over_steps() {
    let Some(engine) = gpu_or_skip() else { return };
    let n = 1000;
    let mut rng = Rng::new(8);
    let theta0 = rng.reals(n);
    let cfg = AdamConfig::default();
    let op = Adam::new(&engine).unwrap();
    let gt = up(&engine, "theta", &theta0);
    let gm = up(&engine, "m", &vec![0.0; n]);
    let gv = up(&engine, "v", &vec![0.0; n]);
    let (mut t64, mut m64, mut v64) = (f64s(&theta0), vec![0.0; n], vec![0.0; n]);
    for step in 1..=5u64 {
        let g = rng.reals(n);
        let gg = up(&engine, "grad", &g);
        let mut rec = engine.recording("test.adam");
        op.record(&engine, &mut rec, &cfg, step, &gg, &gt, &gm, &gv)
            .unwrap();
        engine.submit(rec).unwrap();
        cpu::adam(&cfg, step, &f64s(&g), &mut t64, &mut m64, &mut v64);
    }
    // Each step moves θ by ≤ ~lr; f32 rounding of θ (|θ| ≤ 1) dominates.
    let tol = Tolerance {
        rel: 1e-6,
        abs: 1e-6,
    };
    tol.assert_all("adam θ", &read(&engine, &gt), &t64);
    tol.assert_all("adam m", &read(&engine, &gm), &m64);
    // Adam's first step moves every parameter by lr·sign(g) (up to ε).
    let moved: Vec<f64> = t64
        .iter()
        .zip(&theta0)
        .map(|(a, &b)| (a - b as f64).abs())
        .collect();
    assert!(moved.iter().all(|&d| d > 0.0 && d < 6e-3));
}

#[test]
fn mse_grad_matches() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(9);
    let (a, t) = (rng.reals(777), rng.reals(777));
    let op = MseGrad::new(&engine).unwrap();
    let (ga, gt) = (up(&engine, "a", &a), up(&engine, "t", &t));
    let (gs, gg) = (nan_buf(&engine, "sq", 777), nan_buf(&engine, "g", 777));
    let mut rec = engine.recording("test.mse");
    op.record(&engine, &mut rec, &ga, &gt, &gs, &gg, 0.5)
        .unwrap();
    engine.submit(rec).unwrap();
    let (sq, g) = cpu::mse_grad(&f64s(&a), &f64s(&t), 0.5);
    Tolerance::F32_ROUNDING.assert_all("mse sq", &read(&engine, &gs), &sq);
    Tolerance::F32_ROUNDING.assert_all("mse grad", &read(&engine, &gg), &g);
}
