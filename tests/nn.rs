//! GPU (lavapipe in CI) against the f64 CPU twins for every nn kernel; determinism of the
//! reductions; and the network-level checks (finite differences on the CPU twin, GPU backward
//! against CPU backward, bit-identical training, loss falling).

mod common;

use common::{Rng, Tolerance, gpu_or_skip};
use num_complex::{Complex32, Complex64};
use ptycho::fft;
use ptycho::gpu::{
    DeviceProfile, Engine, EngineLimits, EngineOptions, GpuBuffer, LimitsProfile, shaders,
};
use ptycho::nn::{
    Activation, ActivationOp, Adam, AdamConfig, Conv2d, ConvLayout, ConvSpec, MaxPool2x2, MseGrad,
    ObjectPatch, PackedPass, PadCrop, SubgroupTiling, Upsample2x, cpu,
};
use ptycho::nn::{ConvTiling, PassTiling, WeightTiling, kernels};

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
    for layout in ConvLayout::available(&engine) {
        conv_case_in(&engine, layout, cin, cout, h, w, in_cstride, act, batch);
    }
}

#[allow(clippy::too_many_arguments, reason = "one conv shape")]
fn conv_case_in(
    engine: &Engine,
    layout: ConvLayout,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    in_cstride: usize,
    act: Activation,
    batch: usize,
) {
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
    let conv = Conv2d::with_layout(engine, spec, layout).unwrap();
    assert_eq!(conv.layout(), layout);
    let what = format!("conv[{layout}] {cin}({in_cstride})→{cout} {h}×{w} b{batch} {act:?}");

    // Forward.
    let (gx, gp) = (up(engine, "x", &x), up(engine, "params", &params));
    let gout = nan_buf(engine, "out", batch * cout * h * w);
    let mut rec = engine.recording("test.conv.fwd");
    conv.forward(engine, &mut rec, &gx, &gp, &gout, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let want = cpu::conv2d_fwd(&spec, &f64s(&x), &f64s(&params), batch);
    sum_tol(9 * cin).assert_all(&format!("{what} forward"), &read(engine, &gout), &want);

    // Input gradient: plain, accumulated, and gated + accumulated.
    let gdz = up(engine, "dz", &dz);
    let gdx = nan_buf(engine, "dx", batch * in_cstride * h * w);
    let mut rec = engine.recording("test.conv.bwd_input");
    conv.backward_input(engine, &mut rec, &gdz, &gp, &gdx, None, false, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let plain = cpu::conv2d_bwd_input(&spec, &f64s(&dz), &f64s(&params), None, batch);
    sum_tol(9 * cout).assert_all(
        &format!("{what} input gradient"),
        &read(engine, &gdx),
        &plain,
    );

    let prior = rng.reals(batch * in_cstride * h * w);
    let gdx1 = up(engine, "dx1", &prior);
    let mut rec = engine.recording("test.conv.bwd_input.accumulated");
    conv.backward_input(engine, &mut rec, &gdz, &gp, &gdx1, None, true, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let want: Vec<f64> = plain
        .iter()
        .zip(&prior)
        .map(|(v, &p)| v + p as f64)
        .collect();
    sum_tol(9 * cout).assert_all(
        &format!("{what} accumulated input gradient"),
        &read(engine, &gdx1),
        &want,
    );

    let gdx2 = up(engine, "dx2", &prior);
    let ggate = up(engine, "gate", &gate);
    let mut rec = engine.recording("test.conv.bwd_input.gated");
    conv.backward_input(
        engine,
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
    let mut want = plain.clone();
    for ((v, &p), &g) in want.iter_mut().zip(&prior).zip(&gate) {
        *v = if g > 0.0 { *v + p as f64 } else { 0.0 };
    }
    sum_tol(9 * cout).assert_all(
        &format!("{what} gated accumulated input gradient"),
        &read(engine, &gdx2),
        &want,
    );

    // Weight and bias gradients (twice: bit-identical), then accumulated on top.
    let (_, _, plen) = conv.weight_splits(batch);
    let part = nan_buf(engine, "partials", plen);
    let mut grads_first: Option<Vec<f32>> = None;
    for _ in 0..2 {
        let ggrad = nan_buf(engine, "grads", params.len());
        let mut rec = engine.recording("test.conv.bwd_params");
        conv.backward_weight(engine, &mut rec, &gx, &gdz, &part, &ggrad, false, batch)
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
    let first = grads_first.unwrap();
    let got = f64s(&first[spec.w_off..]);
    let want = cpu::conv2d_bwd_weight(&spec, &f64s(&x), &f64s(&dz), batch);
    sum_tol(batch * h * w).assert_all(&format!("{what} parameter gradient"), &got, &want);
    // Accumulate: the gradient already there is added.
    let ggrad = up(engine, "grads.acc", &first);
    let mut rec = engine.recording("test.conv.bwd_params.accumulated");
    conv.backward_weight(engine, &mut rec, &gx, &gdz, &part, &ggrad, true, batch)
        .unwrap();
    engine.submit(rec).unwrap();
    let got = f64s(&engine.read(&ggrad).unwrap()[spec.w_off..]);
    let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
    sum_tol(2 * batch * h * w).assert_all(
        &format!("{what} accumulated parameter gradient"),
        &got,
        &twice,
    );
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
fn conv_tile_edges_every_size() {
    // Images smaller than, equal to and multiples of the 8×8 / 16×16 tiles, and one that is
    // neither (12×20); channel counts that are not multiples of 4 or 16.
    conv_case(3, 5, 8, 8, 3, Activation::Relu, 3);
    conv_case(5, 17, 16, 16, 5, Activation::None, 2);
    conv_case(17, 6, 32, 32, 17, Activation::Relu, 2);
    conv_case(2, 3, 64, 64, 2, Activation::Relu, 2);
    conv_case(6, 7, 12, 20, 6, Activation::None, 2);
    conv_case(4, 3, 3, 5, 4, Activation::Relu, 1);
}

#[test]
fn conv_wide_channels() {
    // More than 112 input channels and output channels that are no multiple of 16 (the packed
    // weights' padded channel tiles), forward and input gradient (133 channels of which the conv
    // reads 130: the last 3 get zero weights, plain, accumulated and gated).
    conv_case(130, 120, 8, 12, 133, Activation::Relu, 1);
    conv_case(230, 20, 5, 6, 230, Activation::Sigmoid, 1);
}

#[test]
fn conv_every_activation() {
    // The heads' activations with a wider-than-read input (flip mode zeroes the unread
    // channels before accumulate and gate).
    conv_case(9, 18, 12, 12, 11, Activation::Sigmoid, 2);
    conv_case(7, 3, 16, 8, 10, Activation::PiTanh, 2);
}

#[test]
fn subgroup_weight_tiles_are_few_variants() {
    // The fewest input-channel tiles, from a small set of compiled widths.
    let cases = [
        (1, 1),
        (2, 2),
        (3, 4),
        (4, 4),
        (5, 7),
        (7, 7),
        (8, 7),
        (19, 7),
        (28, 7),
        (128, 7),
    ];
    for (cin, want) in cases {
        let t = SubgroupTiling::choose(cin);
        assert_eq!(t.ci_t, want, "cin {cin}");
        assert!(SubgroupTiling::CI_VARIANTS.contains(&t.ci_t));
        assert_eq!(t.sg, ConvLayout::SUBGROUP_LANES);
        let tiles = cin.div_ceil(t.ci_t as usize);
        assert_eq!(
            tiles,
            cin.div_ceil(SubgroupTiling::CI_MAX as usize),
            "cin {cin}"
        );
    }
}

#[test]
fn conv_pack_subgroup_matches_its_twin() {
    // The packing kernel alone, both passes, against its CPU twin: a copy, so bit-exact.
    // Shapes: output channels padded (20 → 32, 1 → 16), an input stride past cin (the input
    // gradient's extra channels are zero), a weight offset, and a network-sized layer.
    let Some(engine) = gpu_or_skip() else { return };
    for (cin, cout, in_cstride) in [(3, 20, 5), (28, 1, 28), (64, 128, 64)] {
        let spec = ConvSpec {
            cin,
            cout,
            height: 8,
            width: 8,
            in_cstride,
            act: Activation::Relu,
            w_off: 37,
        };
        let mut rng = Rng::new((cin * 100 + cout) as u64);
        let params = conv_params(&mut rng, &spec);
        let gp = up(&engine, "params", &params);
        for layout in ConvLayout::available(&engine) {
            let conv = Conv2d::with_layout(&engine, spec, layout).unwrap();
            for pass in [PackedPass::Forward, PackedPass::InputGradient] {
                let mut rec = engine.recording("test.conv.pack");
                let packed = conv.pack(&engine, &mut rec, &gp, pass).unwrap();
                engine.submit(rec).unwrap();
                let what = format!("pack[{layout}] {cin}({in_cstride})→{cout} {pass:?}");
                let Some(packed) = packed else {
                    assert_eq!(layout, ConvLayout::Tiled, "{what}: nothing packed");
                    continue;
                };
                let got = read(&engine, &packed);
                let want = cpu::conv_pack_subgroup(&spec, &f64s(&params), pass);
                assert_eq!(got.len(), want.len(), "{what}: length");
                assert!(want.iter().any(|&v| v != 0.0), "{what}: an empty case");
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        g.to_bits() == w.to_bits(),
                        "{what}: value {j}: {g} against {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn conv_subgroup_layout_is_used_where_valid() {
    let Some(engine) = gpu_or_skip() else { return };
    let available = ConvLayout::available(&engine);
    assert_eq!(available[0], ConvLayout::Tiled);
    let valid = ConvLayout::subgroup_valid(&engine);
    assert_eq!(available.contains(&ConvLayout::Subgroup), valid);
    if engine.adapter_info().name.contains("llvmpipe") {
        // Lavapipe: 8-lane subgroups, so the subgroup kernels must be tested here.
        assert!(valid, "lavapipe should run the subgroup conv layout");
        assert_eq!(ConvLayout::auto(&engine), ConvLayout::Subgroup);
    }
    // Explicit requests: unknown names and invalid layouts fail, never fall back.
    assert!(ConvLayout::resolve(&engine, Some("winograd")).is_err());
    assert_eq!(
        ConvLayout::resolve(&engine, Some("tiled")).unwrap(),
        ConvLayout::Tiled
    );
    assert_eq!(
        ConvLayout::resolve(&engine, Some("subgroup")).is_ok(),
        valid
    );
    assert_eq!(
        ConvLayout::resolve(&engine, None).unwrap(),
        ConvLayout::auto(&engine)
    );
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

// ---------------------------------------------------------------------------------------------
// The network.

use ptycho::linalg::ReduceSum;
use ptycho::model::params::{glorot_init, load_npz, save_npz};
use ptycho::model::{Layout, ModelError, NetConfig, Network, cpu as net_cpu};

fn tiny(n: usize, c: usize) -> NetConfig {
    // N = 32: two encoder blocks (32 → 16 → 8), one decoder block (8 → 16), heads at 16.
    NetConfig {
        n,
        c,
        encoder: vec![3, 4][..(n.trailing_zeros() as usize - 3)].to_vec(),
        decoder: vec![6][..(n.trailing_zeros() as usize - 4)].to_vec(),
        c_outer: 2,
    }
}

#[test]
fn parameter_count_matches_hand_count() {
    // Conv 3×3 cin→cout has 9·cin·cout + cout parameters.
    // Default N = 64, C = 1: encoder 1→32 (320), 32→32 (9,248), 32→64 (18,496), 64→64 (36,928),
    // 64→128 (73,856), 128→128 (147,584) = 286,432. Each decoder: 128→64 (73,792), 64→64
    // (36,928), 64→32 (18,464), 32→32 (9,248), head (32 − 4 = 28)→1 (253) = 138,685.
    // Total 286,432 + 2·138,685 = 563,802.
    let l = Layout::new(&NetConfig::ptychopinn(64, 1)).unwrap();
    assert_eq!(l.params, 563_802);
    // PtychoPINN TF reports 2,257,000 at N = 64 with probe_big = False. That is its default
    // n_filters_scale = 2 (every width doubled: encoder [64, 128, 256], decoder [128, 64]) with
    // gridsize 2 (C = 4 input channels and C = 4 outputs per head): encoder 4→64 (2,368),
    // 36,928, 73,856, 147,584, 295,168, 590,080 = 1,145,984; each decoder 256→128 (295,040),
    // 147,584, 73,792, 36,928, head (64 − 4 = 60)→4 (2,164) = 555,508. Total
    // 1,145,984 + 2·555,508 = 2,257,000 — exactly TF's figure, so the architecture (including
    // the head reading all but the last c_outer = 4 channels) matches. The design's default
    // widths [32, 64, 128] are TF's n_filters_scale = 1, hence the smaller default count.
    let tf = Layout::new(&NetConfig::with_filter_scale(64, 4, 2)).unwrap();
    assert_eq!(tf.params, 2_257_000);
    // PtychoPINN's default width at gridsize 1 (ptycho's default configuration): encoder 1→64
    // (640), 64→64 (36,928), 64→128 (73,856), 128→128 (147,584), 128→256 (295,168), 256→256
    // (590,080) = 1,144,256; each decoder 256→128 (295,040), 128→128 (147,584), 128→64
    // (73,792), 64→64 (36,928), head 60→1 (541) = 553,885. Total 1,144,256 + 2·553,885 =
    // 2,252,026. (ptycho_torch's module counts more: it also holds the probe_big branch,
    // unused with probe_big = False — docs/findings.md F-17.)
    assert_eq!(NetConfig::DEFAULT_FILTER_SCALE, 2);
    let default = Layout::new(&NetConfig::with_filter_scale(
        64,
        1,
        NetConfig::DEFAULT_FILTER_SCALE,
    ));
    assert_eq!(default.unwrap().params, 2_252_026);
    // N = 128, C = 1: encoder 1→16 (160), 16→16 (2,320), 16→32 (4,640), 32→32 (9,248), 32→64
    // (18,496), 64→64 (36,928), 64→128 (73,856), 128→128 (147,584) = 293,232; each decoder
    // 128→128 ×2 (295,168), 128→64 (73,792), 64→64 (36,928), 64→32 (18,464), 32→32 (9,248),
    // head 28→1 (253) = 433,853. Total 293,232 + 2·433,853 = 1,160,938.
    assert_eq!(
        Layout::new(&NetConfig::ptychopinn(128, 1)).unwrap().params,
        1_160_938
    );
    // Forward multiply-adds per pattern at N = 64: encoder 9·4096·(1·32 + 32·32) +
    // 9·1024·(32·64 + 64·64) + 9·256·(64·128 + 128·128) = 152,174,592; each decoder
    // 9·64·(128·64 + 64·64) + 9·256·(64·32 + 32·32) + 9·1024·28 = 14,413,824; total
    // 181,002,240 MACs ≈ 0.362 GFLOP (performance-notes.md: ≈ 0.36).
    assert_eq!(l.macs_per_pattern(), 181_002_240);
}

#[test]
fn bad_configs_are_one_clear_error() {
    let msg = |c: NetConfig| Layout::new(&c).unwrap_err().to_string();
    assert!(msg(NetConfig::ptychopinn(48, 1)).contains("N = 48"));
    assert!(msg(NetConfig::ptychopinn(8, 1)).contains("N = 8"));
    assert!(msg(NetConfig::ptychopinn(64, 0)).contains("C = 0"));
    let mut c = NetConfig::ptychopinn(64, 1);
    c.encoder.pop();
    let m = msg(c);
    assert!(
        m.contains("encoder") && m.contains("2 widths") && m.contains("needs 3"),
        "{m}"
    );
    let mut c = NetConfig::ptychopinn(64, 1);
    c.decoder[1] = 4;
    let m = msg(c);
    assert!(m.contains("last decoder width = 4"), "{m}");
    assert!(!msg(NetConfig::ptychopinn(48, 1)).contains('\n'));
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ptycho-nn-{}-{name}.npz", std::process::id()))
}

#[test]
fn weights_npz_round_trip_and_errors() {
    let cfg = tiny(32, 1);
    let l = Layout::new(&cfg).unwrap();
    let p = glorot_init(&l, 42);
    assert_ne!(p, glorot_init(&l, 43));
    let path = temp_path("roundtrip");
    save_npz(&l, &p, &path).unwrap();
    assert!(!path.with_extension("npz.tmp").exists());
    assert_eq!(bits(&load_npz(&l, &path).unwrap()), bits(&p));

    // A file of another network: missing, extra and wrong-shaped tensors, each named.
    let mut other = cfg.clone();
    other.decoder = vec![5];
    let lo = Layout::new(&other).unwrap();
    let po = glorot_init(&lo, 1);
    save_npz(&lo, &po, &path).unwrap();
    let e = load_npz(&l, &path).unwrap_err();
    assert!(
        matches!(&e, ModelError::TensorShape { name, .. } if name == "amp.decoder.0.conv0.weight"),
        "{e}"
    );
    assert!(e.to_string().contains("[6, 4, 3, 3]"), "{e}");

    let mut deeper = NetConfig::ptychopinn(64, 1);
    deeper.c_outer = 4;
    let ld = Layout::new(&deeper).unwrap();
    save_npz(&ld, &glorot_init(&ld, 1), &path).unwrap();
    let e = load_npz(&l, &path).unwrap_err();
    assert!(
        matches!(&e, ModelError::ExtraTensor { name, .. } if name.starts_with("encoder.2")),
        "{e}"
    );
    // A file lacking the last tensor of the network.
    {
        let mut npz = ndarray_npy::NpzWriter::new(std::fs::File::create(&path).unwrap());
        let tensors = l.tensors();
        for (name, shape, off) in &tensors[..tensors.len() - 1] {
            let len: usize = shape.iter().product();
            let arr = ndarray::ArrayD::from_shape_vec(shape.clone(), p[*off..off + len].to_vec())
                .unwrap();
            npz.add_array(name.as_str(), &arr).unwrap();
        }
        npz.finish().unwrap();
    }
    let e = load_npz(&l, &path).unwrap_err();
    assert!(
        matches!(&e, ModelError::MissingTensor { name, .. } if name == "phase.head.bias"),
        "{e}"
    );
    assert!(
        e.to_string().contains("missing tensor 'phase.head.bias'"),
        "{e}"
    );
    let e = load_npz(&l, &temp_path("absent")).unwrap_err().to_string();
    assert!(e.contains("absent") && !e.contains('\n'), "{e}");
    std::fs::remove_file(&path).ok();
}

fn random_input(rng: &mut Rng, len: usize) -> Vec<f32> {
    // Non-negative like diffraction amplitudes.
    (0..len).map(|_| rng.uniform() as f32).collect()
}

/// Parameters with non-zero biases so that bias gradients are exercised.
fn test_params(l: &Layout, seed: u64) -> Vec<f32> {
    let mut p = glorot_init(l, seed);
    let mut rng = Rng::new(seed ^ 0x55);
    for layer in &l.layers {
        for v in &mut p[layer.spec.b_off()..layer.spec.b_off() + layer.spec.cout] {
            *v = 0.1 * rng.sym();
        }
    }
    p
}

#[test]
fn finite_differences_on_cpu_twin_every_tensor() {
    // L = Σ |O − T|² over the complex object patch; its conjugate-Wirtinger gradient is
    // dL/dO = 2(O − T). Central differences in f64 on a few entries of every tensor.
    for (n, c) in [(32, 2), (16, 1)] {
        let cfg = tiny(n, c);
        let l = Layout::new(&cfg).unwrap();
        let batch = 2;
        let mut rng = Rng::new(n as u64 + c as u64);
        let p = f64s(&test_params(&l, 7));
        let x = f64s(&random_input(&mut rng, batch * c * n * n));
        let target: Vec<Complex64> = rng
            .complex(batch * c * n * n)
            .iter()
            .map(|z| Complex64::new(z.re as f64, z.im as f64))
            .collect();
        let loss = |p: &[f64]| -> f64 {
            let a = net_cpu::forward(&l, p, &x, batch);
            a.obj
                .iter()
                .zip(&target)
                .map(|(o, t)| (o - t).norm_sqr())
                .sum()
        };
        let a = net_cpu::forward(&l, &p, &x, batch);
        let dobj: Vec<Complex64> = a
            .obj
            .iter()
            .zip(&target)
            .map(|(o, t)| 2.0 * (o - t))
            .collect();
        let g = net_cpu::backward_object(&l, &p, &a, &dobj);
        let gmax = g.iter().fold(0f64, |m, v| m.max(v.abs()));
        let eps = 1e-6;
        for (name, shape, off) in l.tensors() {
            let len: usize = shape.iter().product();
            for k in [0, len / 3, len - 1] {
                let mut pp = p.clone();
                pp[off + k] += eps;
                let lp = loss(&pp);
                pp[off + k] -= 2.0 * eps;
                let lm = loss(&pp);
                let fd = (lp - lm) / (2.0 * eps);
                let an = g[off + k];
                assert!(
                    (fd - an).abs() <= 1e-6 * gmax + 1e-5 * an.abs(),
                    "N {n} C {c}: {name}[{k}]: finite difference {fd:e} vs backward {an:e}"
                );
            }
            let nz = g[off..off + len].iter().filter(|v| **v != 0.0).count();
            assert!(nz > 0, "{name}: gradient identically zero");
        }
    }
}

/// GPU forward and backward against the CPU twin for one configuration.
/// The GPU network against the CPU twin, in every conv layout (`all_layouts`) or the
/// adapter's automatic one.
fn gpu_vs_cpu(cfg: NetConfig, batch: usize, all_layouts: bool) {
    let Some(engine) = gpu_or_skip() else { return };
    let layouts = if all_layouts {
        ConvLayout::available(&engine)
    } else {
        vec![ConvLayout::auto(&engine)]
    };
    for layout in layouts {
        gpu_vs_cpu_in(&engine, &cfg, batch, layout);
    }
}

fn gpu_vs_cpu_in(engine: &Engine, cfg: &NetConfig, batch: usize, layout: ConvLayout) {
    let l = Layout::new(cfg).unwrap();
    let (n, c) = (cfg.n, cfg.c);
    let mut rng = Rng::new(99);
    let p = test_params(&l, 3);
    let x = random_input(&mut rng, batch * c * n * n);
    let dobj = rng.complex(batch * c * n * n);
    let mut net = Network::with_params(engine, cfg, &p).unwrap();
    net.set_conv_layout(engine, layout).unwrap();
    assert_eq!(net.conv_layout(), layout);
    let st = net.alloc(engine, batch).unwrap();
    let gx = up(engine, "x", &x);
    let gdo = engine.upload("dobj", &dobj).unwrap();
    let pa = nan_buf(engine, "padded amp", batch * c * n * n);
    let pp = nan_buf(engine, "padded phase", batch * c * n * n);
    let mut rec = engine.recording("test.net");
    net.forward(engine, &mut rec, &gx, &st).unwrap();
    net.padded_heads(engine, &mut rec, &st, &pa, &pp).unwrap();
    net.backward_object(engine, &mut rec, &st, &gdo).unwrap();
    let ida = rec.read(&st.heads[0].out);
    let idp = rec.read(&st.heads[1].out);
    let ido = rec.read(&st.obj);
    let idg = rec.read(&net.grads);
    let out = engine.submit(rec).unwrap();

    let pd = f64s(&p);
    let a = net_cpu::forward(&l, &pd, &f64s(&x), batch);
    let dod: Vec<Complex64> = dobj
        .iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect();
    let g = net_cpu::backward_object(&l, &pd, &a, &dod);
    // f32 through ~10 layers of sums of up to 9·128 terms: relative L2 ≤ 1e-5 for the
    // activations; gradients reduce over B·H·W as well: relative L2 ≤ 1e-4 per tensor.
    let check = |what: &str, got: &[f64], want: &[f64], l2: f64| {
        let (e2, emax) = common::rel_errors(got, want);
        assert!(
            e2 <= l2 && emax <= 10.0 * l2,
            "[{layout}] {what}: relative L2 {e2:e}, max {emax:e}"
        );
    };
    check(
        "amplitude head",
        &f64s(&out.get::<f32>(ida)),
        &a.heads[0].out,
        1e-5,
    );
    check(
        "phase head",
        &f64s(&out.get::<f32>(idp)),
        &a.heads[1].out,
        1e-5,
    );
    // Heads zero-padded by N/4 on each side to (B, C, N, N).
    let planes = batch * c;
    for (buf, head) in [(&pa, 0), (&pp, 1)] {
        let want = cpu::pad_crop(&a.heads[head].out, planes, n / 2, n);
        check("padded head", &read(engine, buf), &want, 1e-5);
        assert!(want[0] == 0.0 && want[n * n / 2 + n / 2] != 0.0);
    }
    let obj: Vec<Complex32> = out.get(ido);
    let want_obj: Vec<f64> = a.obj.iter().flat_map(|z| [z.re, z.im]).collect();
    check("object", &common::flat(&obj), &want_obj, 1e-5);
    let gg = f64s(&out.get::<f32>(idg));
    for (name, shape, off) in l.tensors() {
        let len: usize = shape.iter().product();
        check(&name, &gg[off..off + len], &g[off..off + len], 1e-4);
    }
}

#[test]
fn gpu_matches_cpu_tiny_networks() {
    gpu_vs_cpu(tiny(32, 2), 3, true);
    gpu_vs_cpu(tiny(16, 1), 2, true);
}

#[test]
fn gpu_matches_cpu_real_network_n64() {
    gpu_vs_cpu(NetConfig::ptychopinn(64, 1), 2, false);
}

/// Runs `steps` training steps of MSE(amplitude head, target) and returns the losses and the
/// final parameters.
fn train_amp(
    engine: &Engine,
    cfg: &NetConfig,
    seed: u64,
    steps: usize,
    lr: f64,
) -> (Vec<f64>, Vec<f32>) {
    let (n, c, batch) = (cfg.n, cfg.c, 4);
    let h = n / 2;
    let mut rng = Rng::new(1234);
    let x = random_input(&mut rng, batch * c * n * n);
    // Target: a smooth function of the input's central crop, mean ≈ 0.25.
    let crop = cpu::pad_crop(&f64s(&x), batch * c, n, h);
    let target: Vec<f32> = crop.iter().map(|v| (0.1 + 0.3 * v) as f32).collect();
    let mut net = Network::new(engine, cfg, seed).unwrap();
    net.adam_cfg.lr = lr;
    let st = net.alloc(engine, batch).unwrap();
    let gx = up(engine, "x", &x);
    let gt = up(engine, "target", &target);
    let sq = engine.alloc::<f32>("sq", target.len()).unwrap();
    let damp = engine.alloc::<f32>("damp", target.len()).unwrap();
    let dphase = up(engine, "dphase", &vec![0.0; target.len()]);
    let mse = MseGrad::new(engine).unwrap();
    let sum = ReduceSum::new(engine).unwrap();
    let scratch = sum.scratch(engine, target.len(), 1).unwrap();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let mut rec = engine.recording("train");
        net.forward(engine, &mut rec, &gx, &st).unwrap();
        let scale = 1.0 / target.len() as f32;
        mse.record(engine, &mut rec, &st.heads[0].out, &gt, &sq, &damp, scale)
            .unwrap();
        let total = sum
            .record(engine, &mut rec, &sq, target.len(), &scratch)
            .unwrap();
        let id = rec.read_binding(total);
        net.backward_heads(engine, &mut rec, &st, &damp, &dphase)
            .unwrap();
        net.adam_step(engine, &mut rec).unwrap();
        let out = engine.submit(rec).unwrap();
        losses.push(out.get::<f32>(id)[0] as f64 / target.len() as f64);
    }
    (losses, engine.read(&net.params).unwrap())
}

#[test]
fn training_is_bit_identical_for_a_seed() {
    let Some(engine) = gpu_or_skip() else { return };
    let cfg = NetConfig::ptychopinn(64, 1);
    let (l1, p1) = train_amp(&engine, &cfg, 5, 3, 1e-3);
    let (l2, p2) = train_amp(&engine, &cfg, 5, 3, 1e-3);
    assert_eq!(bits(&p1), bits(&p2), "weights differ after 3 steps");
    assert_eq!(l1, l2);
    let (_, p3) = train_amp(&engine, &cfg, 6, 1, 1e-3);
    assert_ne!(bits(&p1), bits(&p3), "another seed must give other weights");
}

#[test]
fn network_trains_loss_falls() {
    let Some(engine) = gpu_or_skip() else { return };
    let cfg = NetConfig {
        n: 32,
        c: 1,
        encoder: vec![8, 16],
        decoder: vec![16],
        c_outer: 4,
    };
    let (losses, _) = train_amp(&engine, &cfg, 11, 40, 3e-3);
    let (first, last) = (losses[0], *losses.last().unwrap());
    eprintln!("MSE: first {first:.5}, last {last:.5}");
    assert!(losses.iter().all(|v| v.is_finite()));
    assert!(
        last < 0.2 * first,
        "loss did not fall enough: {first} → {last}"
    );
}

/// Launch geometry: the gradient reduction after a weight gradient, and the elementwise ops,
/// run one invocation per value in workgroups of their own size (256) — a grid sized from
/// another kernel's workgroup (a bug the before/after bench caught) computes the same values
/// with many idle workgroups.
#[test]
fn elementwise_grids_come_from_their_own_kernels() {
    let Some(engine) = gpu_or_skip() else { return };
    let engine = &*engine;
    let (cin, cout, h, w, batch) = (3, 20, 8, 8, 2);
    for layout in ConvLayout::available(engine) {
        let spec = ConvSpec {
            cin,
            cout,
            height: h,
            width: w,
            in_cstride: cin,
            act: Activation::Relu,
            w_off: 0,
        };
        let conv = Conv2d::with_layout(engine, spec, layout).unwrap();
        let x = up(engine, "x", &vec![0.5; batch * cin * h * w]);
        let dz = up(engine, "dz", &vec![0.5; batch * cout * h * w]);
        let (_, _, plen) = conv.weight_splits(batch);
        let part = nan_buf(engine, "partials", plen);
        let grads = nan_buf(engine, "grads", spec.param_count());
        let mut rec = engine.recording("geometry");
        conv.backward_weight(engine, &mut rec, &x, &dz, &part, &grads, false, batch)
            .unwrap();
        let d = rec.dispatches();
        let (name, grid) = d.last().unwrap();
        assert_eq!(*name, "grad_reduce");
        assert_eq!(
            *grid,
            [spec.param_count().div_ceil(256) as u32, 1, 1],
            "{layout}: grad_reduce grid"
        );
    }
    let pool = MaxPool2x2::new(engine).unwrap();
    let (planes, ph, pw) = (5, 16, 12);
    let x = up(engine, "x", &vec![1.0; planes * ph * pw]);
    let y = nan_buf(engine, "y", planes * ph * pw / 4);
    let mut rec = engine.recording("geometry.pool");
    pool.forward(engine, &mut rec, &x, &y, planes, ph, pw)
        .unwrap();
    assert_eq!(
        rec.dispatches(),
        vec![(
            "maxpool2x2_fwd",
            [(planes * ph * pw / 4).div_ceil(256) as u32, 1, 1]
        )]
    );
}

#[test]
fn webgpu_limits_shrink_conv_tiles_and_are_enforced() {
    // `execution.limits = webgpu` creates the device with no more than WebGPU's defaults (16 KiB
    // of workgroup memory, 256 invocations): the tiles chosen there must fit, the adapter's own
    // tiles must be refused there when they do not, and the small tiles must still compute the
    // conv its CPU twin computes.
    let Some(engine) = gpu_or_skip() else { return };
    let small = Engine::new(&EngineOptions {
        limits: LimitsProfile::Webgpu,
        ..engine.options().clone()
    })
    .unwrap();
    let (wg_bytes, wg_inv) = (16384u32, 256u32);
    assert!(small.limits().workgroup_storage_bytes <= wg_bytes);
    assert!(small.limits().invocations_per_workgroup <= wg_inv);
    let fwd_ir = shaders::validate(&kernels::CONV2D_FWD).unwrap().1;
    let bwd_ir = shaders::validate(&kernels::CONV2D_BWD_WEIGHT).unwrap().1;
    // The encoder's widest layers at PtychoPINN's width, and a bottleneck-sized one.
    for (cin, cout, h, w) in [
        (64, 64, 16, 16),
        (128, 128, 8, 8),
        (256, 256, 4, 4),
        (3, 64, 64, 64),
    ] {
        for e in [&*engine, &small] {
            let lim = e.limits();
            let ft = ConvTiling::choose(e, cin, cout, h, w);
            let wt = WeightTiling::choose(e, cin, cout, h, w);
            // The tile's own byte count is what the shader declares (naga's layout).
            let fneeds = shaders::kernel_needs(&fwd_ir, &ft.constants());
            let wneeds = shaders::kernel_needs(&bwd_ir, &wt.constants());
            assert_eq!(
                fneeds.workgroup_bytes as usize,
                ft.workgroup_bytes(),
                "{ft:?}"
            );
            assert_eq!(
                wneeds.workgroup_bytes as usize,
                wt.workgroup_bytes(),
                "{wt:?}"
            );
            let [x, y, z] = wneeds.workgroup_size.unwrap();
            assert_eq!((x * y * z) as usize, wt.invocations(), "{wt:?}");
            assert!(
                ft.workgroup_bytes() <= lim.workgroup_storage_bytes as usize,
                "{ft:?}"
            );
            assert!(
                wt.workgroup_bytes() <= lim.workgroup_storage_bytes as usize,
                "{wt:?}"
            );
            assert!(
                wt.invocations() <= lim.invocations_per_workgroup as usize,
                "{wt:?}"
            );
            e.kernel(&kernels::CONV2D_FWD, &ft.constants()).unwrap();
            e.kernel(&kernels::CONV2D_BWD_WEIGHT, &wt.constants())
                .unwrap();
        }
        let big = ConvTiling::choose(&engine, cin, cout, h, w);
        if big.workgroup_bytes() > wg_bytes as usize {
            let err = small
                .kernel(&kernels::CONV2D_FWD, &big.constants())
                .unwrap_err()
                .to_string();
            assert!(err.contains("workgroup memory"), "{err}");
        }
    }
    // On lavapipe (32 KiB) the 64→64 tile is larger than WebGPU allows: the case is real.
    if engine.limits().workgroup_storage_bytes > wg_bytes {
        let big = ConvTiling::choose(&engine, 64, 64, 16, 16);
        assert!(big.workgroup_bytes() > wg_bytes as usize, "{big:?}");
    }
    conv_case_in(
        &small,
        ConvLayout::Tiled,
        64,
        64,
        16,
        16,
        64,
        Activation::Relu,
        2,
    );
    conv_case_in(
        &small,
        ConvLayout::Tiled,
        128,
        40,
        8,
        8,
        128,
        Activation::None,
        1,
    );
}

/// A device profile as an adapter of that kind reports it.
fn profile(is_cpu: bool, subgroups: Option<(u32, u32)>, wg_bytes: u32, inv: u32) -> DeviceProfile {
    let (lo, hi) = subgroups.unwrap_or((0, 0));
    DeviceProfile {
        is_cpu,
        subgroups: subgroups.is_some(),
        limits: EngineLimits {
            workgroup_storage_bytes: wg_bytes,
            invocations_per_workgroup: inv,
            workgroup_size_x: inv,
            workgroups_per_dimension: 65535,
            storage_binding_bytes: 128 << 20,
            buffer_bytes: 1 << 31,
            storage_offset_alignment: 256,
            subgroup_min_size: lo,
            subgroup_max_size: hi,
        },
    }
}

#[test]
fn auto_layout_and_tiles_for_every_kind_of_adapter() {
    // What `auto` picks, and why, on adapters this machine does not have (their profiles as
    // their drivers report them), and that every conv of PtychoPINN's network gets tiles within
    // each adapter's limits.
    let cases = [
        (
            "NVIDIA",
            profile(false, Some((32, 32)), 49152, 1024),
            ConvLayout::Tiled,
            "32 lanes",
        ),
        (
            "AMD wave64",
            profile(false, Some((64, 64)), 65536, 1024),
            ConvLayout::Tiled,
            "64 lanes",
        ),
        (
            "AMD RDNA",
            profile(false, Some((32, 64)), 65536, 1024),
            ConvLayout::Tiled,
            "32–64",
        ),
        (
            "Apple",
            profile(false, Some((32, 32)), 32768, 1024),
            ConvLayout::Tiled,
            "32 lanes",
        ),
        (
            "Intel",
            profile(false, Some((8, 32)), 65536, 1024),
            ConvLayout::Tiled,
            "8–32",
        ),
        (
            "8-lane GPU",
            profile(false, Some((8, 8)), 32768, 1024),
            ConvLayout::Tiled,
            "only on CPU",
        ),
        (
            "WebGPU",
            profile(false, None, 16384, 256),
            ConvLayout::Tiled,
            "no subgroup",
        ),
        (
            "lavapipe",
            profile(true, Some((8, 8)), 32768, 1024),
            ConvLayout::Subgroup,
            "CPU adapter",
        ),
        (
            "WARP",
            profile(true, None, 32768, 1024),
            ConvLayout::Tiled,
            "no subgroup",
        ),
        (
            "lavapipe 16",
            profile(true, Some((16, 16)), 32768, 1024),
            ConvLayout::Tiled,
            "16 lanes",
        ),
    ];
    let nets: Vec<NetConfig> = [(64, 1, 1), (64, 1, 2), (64, 4, 2), (128, 1, 2), (32, 4, 1)]
        .iter()
        .map(|&(n, c, s)| NetConfig::with_filter_scale(n, c, s))
        .collect();
    for (name, p, want, why) in cases {
        let (got, reason) = ConvLayout::auto_on(&p);
        assert_eq!(got, want, "{name}: {reason}");
        assert!(reason.contains(why), "{name}: {reason}");
        assert!(
            !reason.contains("  "),
            "{name}: a run of spaces in {reason:?}"
        );
        assert_eq!(
            ConvLayout::subgroup_valid_on(&p),
            p.subgroups && p.limits.subgroup_min_size == 8 && p.limits.subgroup_max_size == 8
        );
        let lim = &p.limits;
        for cfg in &nets {
            for l in &Layout::new(cfg).unwrap().layers {
                let s = &l.spec;
                let ft = ConvTiling::choose_on(&p, s.cin, s.cout, s.height, s.width);
                let bt = ConvTiling::choose_on(&p, s.cout, s.in_cstride, s.height, s.width);
                let wt = WeightTiling::choose_on(&p, s.cin, s.cout, s.height, s.width);
                for t in [ft, bt] {
                    assert!(t.workgroup_bytes() <= lim.workgroup_storage_bytes as usize);
                    assert!(t.invocations() <= lim.invocations_per_workgroup as usize);
                    assert!(t.th % 4 == 0 && t.tw % 4 == 0 && t.co_t % 4 == 0 && t.ci_t >= 1);
                }
                assert!(
                    wt.workgroup_bytes() <= lim.workgroup_storage_bytes as usize,
                    "{name}"
                );
                assert!(
                    wt.invocations() <= lim.invocations_per_workgroup as usize,
                    "{name}"
                );
                // Conv2d builds exactly these (the subgroup layout has its own tiles).
                let (f, b, w) = Conv2d::tilings_on(&p, s, ConvLayout::Tiled);
                assert_eq!(
                    (f, b, w),
                    (
                        PassTiling::Tiled(ft),
                        PassTiling::Tiled(bt),
                        PassTiling::TiledWeight(wt)
                    )
                );
            }
        }
        // The FFT's workgroup-memory lines fit too; 64- and 128-point lines fit every adapter.
        for len in [64usize, 128, 256, 512] {
            match fft::lines_per_workgroup(lim, len, &fft::FftOptions::default()) {
                Some(lines) => {
                    assert!(lines as usize * len * 8 <= lim.workgroup_storage_bytes as usize);
                    assert!(lines * (len as u32 / 8) <= lim.invocations_per_workgroup);
                }
                None => assert!(len > 128, "{name}: {len}-point lines should fit"),
            }
        }
    }
}

/// Inference's frozen network (`Network::freeze`): the same outputs bit for bit as the plain
/// forward pass, one packing dispatch fewer per conv in the subgroup layout, and a snapshot —
/// parameters written after the freeze do not reach it.
#[test]
fn frozen_forward_is_the_forward_pass_without_packing() {
    let Some(engine) = gpu_or_skip() else { return };
    let cfg = tiny(32, 2);
    let l = Layout::new(&cfg).unwrap();
    let batch = 2;
    let mut rng = Rng::new(7);
    let x = random_input(&mut rng, batch * cfg.c * cfg.n * cfg.n);
    let p = test_params(&l, 11);
    let p2: Vec<f32> = p.iter().map(|v| -0.5 * v).collect();
    for layout in ConvLayout::available(&engine) {
        let mut net = Network::with_params(&engine, &cfg, &p).unwrap();
        net.set_conv_layout(&engine, layout).unwrap();
        let st = net.alloc(&engine, batch).unwrap();
        let gx = up(&engine, "x", &x);
        let run = |frozen: Option<&ptycho::model::FrozenNetwork>| {
            let mut rec = engine.recording("test.frozen");
            match frozen {
                Some(f) => f.forward(&engine, &mut rec, &gx, &st).unwrap(),
                None => net.forward(&engine, &mut rec, &gx, &st).unwrap(),
            }
            let dispatches = rec.dispatch_count();
            let ida = rec.read(&st.heads[0].out);
            let idp = rec.read(&st.heads[1].out);
            let out = engine.submit(rec).unwrap();
            let mut v = bits(&out.get::<f32>(ida));
            v.extend(bits(&out.get::<f32>(idp)));
            (v, dispatches)
        };
        let (plain, n_plain) = run(None);
        let frozen = net.freeze(&engine).unwrap();
        let (got, n_frozen) = run(Some(&frozen));
        assert_eq!(got, plain, "[{layout}] frozen forward differs from forward");
        let convs = l.layers.len();
        let skipped = match layout {
            ConvLayout::Subgroup => convs,
            ConvLayout::Tiled => 0,
        };
        assert_eq!(
            n_plain - n_frozen,
            skipped,
            "[{layout}] dispatches {n_plain} → {n_frozen}"
        );
        // New parameters: the plain pass sees them, the frozen snapshot keeps the old taps
        // (the biases, read from the parameters, are not part of the snapshot).
        engine.write(&net.params, 0, &p2).unwrap();
        let (plain2, _) = run(None);
        assert_ne!(plain2, plain, "[{layout}] new parameters changed nothing");
        if layout == ConvLayout::Subgroup {
            let (frozen2, _) = run(Some(&frozen));
            assert_ne!(
                frozen2, plain2,
                "[{layout}] the snapshot followed the parameters"
            );
        }
    }
}
