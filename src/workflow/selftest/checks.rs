//! The checks of `ptycho selftest`, domain by domain: each runs a kernel (or a short chain
//! ending in it) on the GPU and its CPU twin on the same inputs.

use num_complex::{Complex32, Complex64};

use super::{Bound, Check, Comparison};
use crate::fft::{self, Direction, FftOptions, FftPlan, Norm, Output, Strategy};
use crate::gpu::{Engine, EngineOptions, GpuBuffer};
use crate::linalg::{self, Axpy, Cmul, ReduceSum};
use crate::model::params::glorot_init;
use crate::model::{Layout, NetConfig, Network, cpu as net_cpu};
use crate::nn::{
    self, Activation, ActivationOp, Adam, AdamConfig, Conv2d, ConvLayout, ConvSpec, MaxPool2x2,
    MseGrad, ObjectPatch, PackedPass, PadCrop, Upsample2x,
};
use crate::physics::{self, ExtractPatches, FarFieldModel, Grouping, canvas_side};
use crate::util::rng::SplitMix64;
use crate::workflow::Result;

/// `len` values uniform in [-1, 1) from `seed`.
fn reals(len: usize, seed: u64) -> Vec<f32> {
    let mut r = SplitMix64::new(seed);
    (0..len).map(|_| (2.0 * r.uniform() - 1.0) as f32).collect()
}

/// `len` complex values with parts uniform in [-1, 1).
fn complexes(len: usize, seed: u64) -> Vec<Complex32> {
    let v = reals(2 * len, seed);
    v.chunks(2).map(|p| Complex32::new(p[0], p[1])).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn c64(v: &[Complex32]) -> Vec<Complex64> {
    v.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

fn flat32(v: &[Complex32]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect()
}

fn flat64(v: &[Complex64]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re, z.im]).collect()
}

/// A NaN-filled buffer: values a kernel forgets to write fail the comparison.
fn nan(engine: &Engine, label: &str, len: usize) -> Result<GpuBuffer<f32>> {
    Ok(engine.upload(label, &vec![f32::NAN; len])?)
}

fn check(
    kernel: &'static str,
    variant: impl Into<String>,
    shape: impl Into<String>,
    bound: Bound,
    run: impl Fn(&Engine) -> Result<Comparison> + 'static,
) -> Check {
    Check {
        kernel,
        covers: vec![kernel],
        variant: variant.into(),
        shape: shape.into(),
        bound,
        run: Box::new(run),
    }
}

/// Every check `engine` can run: each kernel in every layout the adapter has.
pub fn all_checks(engine: &Engine) -> Vec<Check> {
    let mut v = Vec::new();
    linalg_checks(&mut v);
    fft_checks(&mut v);
    physics_checks(&mut v);
    for layout in ConvLayout::available(engine) {
        conv_checks(&mut v, layout);
    }
    nn_checks(&mut v);
    for layout in ConvLayout::available(engine) {
        v.push(training_step(layout));
    }
    v
}

/// `c` with the other kernels its chain runs.
fn covering(mut c: Check, also: &[&'static str]) -> Check {
    c.covers.extend_from_slice(also);
    c
}

/// An engine on the same accelerator whose storage bindings are capped at `bytes`, so that
/// batches are chunked.
fn small_binding(engine: &Engine, bytes: u64) -> Result<Engine> {
    Ok(Engine::new(&EngineOptions {
        max_binding_bytes: Some(bytes),
        fault: None,
        ..engine.options().clone()
    })?)
}

fn linalg_checks(v: &mut Vec<Check>) {
    // 5 frames of 13×11 = 143 values (not a multiple of the workgroup): broadcast and per-frame
    // operands, plain and conjugate.
    // Chunked: 32 frames (the storage-offset alignment's step for 1,144-byte frames) per binding.
    for (variant, chunk) in [("plain", None), ("chunked", Some(32 * 1144u64))] {
        v.push(check(
            "cmul",
            variant,
            "5×13×11, b broadcast and per frame, conj",
            Bound::ROUNDING,
            move |e| {
                let small;
                let engine = match chunk {
                    Some(b) => {
                        small = small_binding(e, b)?;
                        &small
                    }
                    None => e,
                };
                let (frame, frames) = (143, 5);
                let a = complexes(frame * frames, 1);
                let mut cmp = Comparison::default();
                let op = Cmul::new(engine)?;
                for (b_frames, conj) in [(1, false), (frames, true)] {
                    let b = complexes(frame * b_frames, 2);
                    let (ga, gb) = (engine.upload("a", &a)?, engine.upload("b", &b)?);
                    let go = engine.upload("out", &vec![Complex32::new(f32::NAN, 0.0); a.len()])?;
                    let mut rec = engine.recording("selftest.cmul");
                    op.record(engine, &mut rec, &ga, &gb, &go, frame, conj)?;
                    let id = rec.read(&go);
                    let got: Vec<Complex32> = engine.submit(rec)?.get(id);
                    cmp.push(
                        flat32(&got),
                        flat32(&linalg::cpu::cmul(&a, &b, frame, conj)),
                    );
                }
                Ok(cmp)
            },
        ));
    }
    for (variant, chunk) in [("plain", None), ("chunked", Some(8192u64))] {
        v.push(check(
            "reduce_sum",
            variant,
            "3 segments of 5,000 (two passes)",
            Bound::sums(5000),
            move |e| {
                let small;
                let engine = match chunk {
                    Some(b) => {
                        small = small_binding(e, b)?;
                        &small
                    }
                    None => e,
                };
                let n = 5000;
                let x = reals(3 * n, 3);
                let got = ReduceSum::new(engine)?.sum(engine, &engine.upload("x", &x)?, n)?;
                Ok(Comparison {
                    gpu: f64s(&got),
                    twin: linalg::cpu::reduce_sum(&x, n),
                })
            },
        ));
    }
    v.push(check(
        "axpy",
        "plain",
        "1,001 values",
        Bound::ROUNDING,
        |e| {
            let (x, y) = (reals(1001, 4), reals(1001, 5));
            let (gx, gy) = (e.upload("x", &x)?, e.upload("y", &y)?);
            let mut rec = e.recording("selftest.axpy");
            Axpy::new(e)?.record(e, &mut rec, 0.75, &gx, -0.5, &gy)?;
            let id = rec.read(&gy);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: f64s(&linalg::cpu::axpy(0.75, &x, -0.5, &y)),
            })
        },
    ));
}

fn fft_checks(v: &mut Vec<Check>) {
    // Chunked: bindings of two frames.
    let cases: [(&'static str, &'static str, Strategy, bool); 3] = [
        ("fft_lines", "workgroup memory", Strategy::Auto, false),
        ("fft_stage", "global stages", Strategy::Global, false),
        ("fft_lines", "chunked", Strategy::Auto, true),
    ];
    for (kernel, variant, strategy, chunked) in cases {
        for (rows, cols, batch) in [(16, 32, 7), (64, 64, 3), (128, 128, 2)] {
            let chunk = chunked.then_some(2 * (rows * cols * 8) as u64);
            v.push(check(
                kernel,
                variant,
                format!("{batch}×{rows}×{cols}, fwd+inv, shifts, ortho, amplitude"),
                Bound::sums(rows + cols),
                move |e| {
                    let small;
                    let engine = match chunk {
                        Some(b) => {
                            small = small_binding(e, b)?;
                            &small
                        }
                        None => e,
                    };
                    let x = complexes(rows * cols * batch, 6);
                    let mut cmp = Comparison::default();
                    for (dir, output) in [
                        (Direction::Forward, Output::Complex),
                        (Direction::Inverse, Output::Complex),
                        (Direction::Forward, Output::Amplitude),
                    ] {
                        let opts = FftOptions {
                            norm: Norm::Ortho,
                            shift_input: dir == Direction::Inverse,
                            shift_output: dir == Direction::Forward,
                            output,
                            strategy,
                            ..Default::default()
                        };
                        let plan = FftPlan::with_options(engine, rows, cols, batch, dir, opts)?;
                        let src = engine.upload("src", &x)?;
                        let scratch = plan.alloc_scratch(engine)?;
                        let want = fft::cpu::fft2_reference(&x, rows, cols, dir, &opts);
                        let mut rec = engine.recording("selftest.fft");
                        if output == Output::Amplitude {
                            let amp = nan(engine, "amp", x.len())?;
                            plan.record_amplitude(engine, &mut rec, &src, &amp, &scratch)?;
                            let id = rec.read(&amp);
                            let got: Vec<f32> = engine.submit(rec)?.get(id);
                            cmp.push(f64s(&got), want.iter().map(|z| z.norm()));
                        } else {
                            let dst = engine
                                .upload("dst", &vec![Complex32::new(f32::NAN, 0.0); x.len()])?;
                            plan.record(engine, &mut rec, &src, &dst, &scratch)?;
                            let id = rec.read(&dst);
                            let got: Vec<Complex32> = engine.submit(rec)?.get(id);
                            cmp.push(flat32(&got), flat64(&want));
                        }
                    }
                    Ok(cmp)
                },
            ));
        }
    }
}

/// Probe, object patches and measured amplitudes of a physics check (seeded).
fn physics_inputs(n: usize, frames: usize) -> (Vec<Complex32>, Vec<Complex32>, Vec<f32>) {
    let probe = complexes(n * n, 7);
    let obj: Vec<Complex32> = complexes(frames * n * n, 8)
        .iter()
        .map(|z| 0.5 * z)
        .collect();
    let x: Vec<f32> = reals(frames * n * n, 9).iter().map(|v| v.abs()).collect();
    (probe, obj, x)
}

fn physics_checks(v: &mut Vec<Check>) {
    v.push(check(
        "extract_patches",
        "plain",
        "5 patches of 16² from a 40×36 object, fractional positions",
        Bound::sums(4),
        |e| {
            let (h, w, n) = (40, 36, 16);
            let obj = complexes(h * w, 10);
            let pos: Vec<[f32; 2]> = (0..5)
                .map(|k| [8.3 + 4.7 * k as f32, 9.6 + 3.1 * k as f32])
                .collect();
            let (go, gp) = (e.upload("obj", &obj)?, e.upload("pos", &pos)?);
            let out = e.upload("patches", &vec![Complex32::new(f32::NAN, 0.0); 5 * n * n])?;
            let mut rec = e.recording("selftest.extract");
            ExtractPatches::new(e)?.record(e, &mut rec, &go, (h, w), &gp, &out, n)?;
            let id = rec.read(&out);
            let got: Vec<Complex32> = e.submit(rec)?.get(id);
            let p64: Vec<[f64; 2]> = pos.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
            let want = physics::cpu::extract_patches(&c64(&obj), h, w, &p64, n);
            Ok(Comparison {
                gpu: flat32(&got),
                twin: flat64(&want),
            })
        },
    ));
    // Gridsize 1: loss value (relative to the mean intensity, the scale of its terms), the
    // object gradient and the probe gradient.
    let (n, frames, s) = (32, 3, 988.2f32);
    v.push(covering(
        check(
            "amp_loss",
            "gridsize 1",
            format!("{frames} patterns of {n}², mean Poisson NLL"),
            Bound::sums(frames * n * n),
            move |e| {
                let (probe, obj, x) = physics_inputs(n, frames);
                let model = FarFieldModel::new(e, n, frames, &probe, s, 1.0, 0.0)?;
                let (go, gx) = (e.upload("obj", &obj)?, e.upload("x", &x)?);
                let mut rec = e.recording("selftest.loss");
                let loss = model.record_loss(e, &mut rec, &go, &gx)?;
                let id = rec.read_binding(loss);
                let got = e.submit(rec)?.get::<f32>(id)[0] as f64 / model.elements() as f64;
                let (p, o, xs) = (c64(&probe), c64(&obj), f64s(&x));
                let want = physics::cpu::far_field_loss(&o, &p, &xs, n, s as f64, 1.0, 0.0);
                let far = physics::cpu::far_field(&o, &p, n);
                let lam = far
                    .iter()
                    .map(|z| (s as f64 * z.norm()).powi(2))
                    .sum::<f64>()
                    / far.len() as f64;
                Ok(Comparison {
                    gpu: vec![got / lam],
                    twin: vec![want / lam],
                })
            },
        ),
        &["cmul", "fft_lines", "reduce_sum"],
    ));
    for (kernel, members, modes) in [
        ("probe_grad", 1usize, 1usize),
        ("merge_patches_adjoint", 4, 1),
        ("mode_exit_waves", 1, 3),
        ("mode_sum_adjoint", 4, 2),
    ] {
        let variant = match (members, modes) {
            (1, 1) => "gridsize 1".to_string(),
            (_, 1) => "gridsize 2".to_string(),
            (1, p) => format!("gridsize 1, {p} probe modes"),
            (_, p) => format!("gridsize 2, {p} probe modes"),
        };
        let chain: &'static [&'static str] = if modes > 1 && members > 1 {
            &[
                "translate",
                "translate_adjoint",
                "merge_patches",
                "mode_exit_waves",
                "mode_sum_adjoint",
                "probe_grad",
                "fft_lines",
                "amp_loss",
            ]
        } else if modes > 1 {
            &[
                "mode_exit_waves",
                "mode_sum_adjoint",
                "probe_grad",
                "fft_lines",
                "amp_loss",
            ]
        } else if members > 1 {
            &[
                "translate",
                "translate_adjoint",
                "merge_patches",
                "cmul",
                "fft_lines",
                "amp_loss",
            ]
        } else {
            &["cmul", "fft_lines", "amp_loss"]
        };
        v.push(covering(
            check(
                kernel,
                variant,
                format!("{} patterns of {n}², dL/dO and dL/dP", 2 * members),
                Bound::sums(frames * n * n),
                move |e| {
                    let frames = 2 * members;
                    let (_, obj, x) = physics_inputs(n, frames);
                    let probe = complexes(modes * n * n, 7);
                    let offsets: Vec<[f32; 2]> = reals(2 * frames, 11)
                        .chunks(2)
                        .map(|p| {
                            if members > 1 {
                                [3.5 * p[0], 3.5 * p[1]]
                            } else {
                                [0.0, 0.0]
                            }
                        })
                        .collect();
                    let canvas = canvas_side(n, 3.5);
                    let model = FarFieldModel::new(e, n, frames, &probe, s, 1.0, 0.0)?
                        .with_grouping(e, Grouping { members, canvas })?;
                    model.write_offsets(e, &offsets)?;
                    let (go, gx) = (e.upload("obj", &obj)?, e.upload("x", &x)?);
                    let dobj = e.upload("dobj", &vec![Complex32::new(f32::NAN, 0.0); obj.len()])?;
                    let dprobe = e.upload(
                        "dprobe",
                        &vec![Complex32::new(f32::NAN, 0.0); modes * n * n],
                    )?;
                    let mut rec = e.recording("selftest.physics");
                    model.record_loss(e, &mut rec, &go, &gx)?;
                    model.record_backward_with_probe(e, &mut rec, &dobj, Some((&go, &dprobe)))?;
                    let (io, ip) = (rec.read(&dobj), rec.read(&dprobe));
                    let out = e.submit(rec)?;
                    let group = (members > 1).then(|| physics::cpu::GroupGeometry {
                        members,
                        canvas,
                        offsets: offsets.clone(),
                    });
                    let (want_o, want_p) = physics::cpu::model_backward(
                        &c64(&obj),
                        &c64(&probe),
                        &f64s(&x),
                        n,
                        s as f64,
                        1.0,
                        0.0,
                        group.as_ref(),
                    );
                    let mut cmp = Comparison::default();
                    cmp.push(flat32(&out.get::<Complex32>(io)), flat64(&want_o));
                    // The probe gradient sums over every pattern: its own scale.
                    let gp = flat32(&out.get::<Complex32>(ip));
                    let wp = flat64(&want_p);
                    let k = wp.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
                    let ko = cmp
                        .twin
                        .iter()
                        .fold(0.0f64, |m, v| m.max(v.abs()))
                        .max(1e-300);
                    cmp.push(gp.iter().map(|v| v * ko / k), wp.iter().map(|v| v * ko / k));
                    Ok(cmp)
                },
            ),
            chain,
        ));
    }
}

/// Forward, input gradient (with the ReLU gate, accumulated) and weight + bias gradient of one
/// conv layer in `layout`, against the twins.
fn conv_check(
    layout: ConvLayout,
    (cin, cout, h, w, batch): (usize, usize, usize, usize, usize),
    act: Activation,
) -> [Check; 3] {
    let spec = ConvSpec {
        cin,
        cout,
        height: h,
        width: w,
        in_cstride: cin,
        act,
        w_off: 5,
    };
    let shape = format!("{cin}→{cout} at {h}×{w}, batch {batch}");
    let params = move || {
        let mut p = reals(spec.w_off + spec.param_count(), 12);
        let k = (3.0 / (9.0 * cin as f64)).sqrt() as f32;
        p.iter_mut().for_each(|v| *v *= k);
        p
    };
    let fwd = check(
        if layout == ConvLayout::Subgroup {
            "conv2d_fwd_subgroup"
        } else {
            "conv2d_fwd"
        },
        layout.as_str(),
        shape.clone(),
        Bound::sums(9 * cin),
        move |e| {
            let conv = Conv2d::with_layout(e, spec, layout)?;
            let (x, p) = (reals(batch * cin * h * w, 13), params());
            let (gx, gp) = (e.upload("x", &x)?, e.upload("w", &p)?);
            let out = nan(e, "out", batch * cout * h * w)?;
            let mut rec = e.recording("selftest.conv");
            conv.forward(e, &mut rec, &gx, &gp, &out, batch)?;
            let id = rec.read(&out);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::conv2d_fwd(&spec, &f64s(&x), &f64s(&p), batch),
            })
        },
    );
    let bwd_in = check(
        if layout == ConvLayout::Subgroup {
            "conv2d_fwd_subgroup"
        } else {
            "conv2d_fwd"
        },
        format!("{} input gradient", layout.as_str()),
        shape.clone(),
        Bound::sums(9 * cout + 1),
        move |e| {
            let conv = Conv2d::with_layout(e, spec, layout)?;
            let (dz, p) = (reals(batch * cout * h * w, 14), params());
            let gate = reals(batch * cin * h * w, 15);
            let prior = reals(batch * cin * h * w, 16);
            let (gdz, gp, gg) = (
                e.upload("dz", &dz)?,
                e.upload("w", &p)?,
                e.upload("gate", &gate)?,
            );
            let dx = e.upload("dx", &prior)?;
            let mut rec = e.recording("selftest.conv.bwd_in");
            conv.backward_input(e, &mut rec, &gdz, &gp, &dx, Some(&gg), true, batch)?;
            let id = rec.read(&dx);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            let plain = nn::cpu::conv2d_bwd_input(&spec, &f64s(&dz), &f64s(&p), None, batch);
            let want: Vec<f64> = plain
                .iter()
                .zip(prior.iter().zip(&gate))
                .map(|(v, (&pr, &g))| if g > 0.0 { v + pr as f64 } else { 0.0 })
                .collect();
            Ok(Comparison {
                gpu: f64s(&got),
                twin: want,
            })
        },
    );
    let bwd_w = covering(
        check(
            if layout == ConvLayout::Subgroup {
                "conv2d_bwd_weight_subgroup"
            } else {
                "conv2d_bwd_weight"
            },
            format!("{} + grad_reduce", layout.as_str()),
            shape,
            Bound::sums(batch * h * w),
            move |e| {
                let conv = Conv2d::with_layout(e, spec, layout)?;
                let (x, dz) = (
                    reals(batch * cin * h * w, 17),
                    reals(batch * cout * h * w, 18),
                );
                let (gx, gdz) = (e.upload("x", &x)?, e.upload("dz", &dz)?);
                let (_, _, plen) = conv.weight_splits(batch);
                let part = nan(e, "partials", plen)?;
                let grads = nan(e, "grads", spec.w_off + spec.param_count())?;
                let mut rec = e.recording("selftest.conv.bwd_w");
                conv.backward_weight(e, &mut rec, &gx, &gdz, &part, &grads, false, batch)?;
                let id = rec.read(&grads);
                let got: Vec<f32> = e.submit(rec)?.get(id);
                Ok(Comparison {
                    gpu: f64s(&got[spec.w_off..]),
                    twin: nn::cpu::conv2d_bwd_weight(&spec, &f64s(&x), &f64s(&dz), batch),
                })
            },
        ),
        &["grad_reduce"],
    );
    // The subgroup layout's forward and input-gradient passes pack their weights first.
    let packs: &[&'static str] = if layout == ConvLayout::Subgroup {
        &["conv_pack_subgroup"]
    } else {
        &[]
    };
    [covering(fwd, packs), covering(bwd_in, packs), bwd_w]
}

fn conv_checks(v: &mut Vec<Check>, layout: ConvLayout) {
    // A first layer, odd sizes (partial tiles of every kind), a head reading all channels, and
    // a wide layer as PtychoPINN's default network has them.
    for (dims, act) in [
        ((1, 20, 13, 9, 2), Activation::Relu),
        ((7, 9, 11, 17, 2), Activation::Sigmoid),
        ((12, 1, 8, 8, 3), Activation::PiTanh),
        ((64, 64, 16, 16, 2), Activation::None),
    ] {
        v.extend(conv_check(layout, dims, act));
    }
    if layout == ConvLayout::Subgroup {
        v.extend([PackedPass::Forward, PackedPass::InputGradient].map(pack_check));
    }
}

/// The subgroup layout's weight packing alone, one pass: a copy, so exact. Output channels
/// padded (20 → 32) and an input stride past cin (the input gradient's extra channels are 0).
fn pack_check(pass: PackedPass) -> Check {
    let spec = ConvSpec {
        cin: 3,
        cout: 20,
        height: 8,
        width: 8,
        in_cstride: 5,
        act: Activation::Relu,
        w_off: 5,
    };
    let variant = match pass {
        PackedPass::Forward => "forward taps",
        PackedPass::InputGradient => "input-gradient taps",
    };
    check(
        "conv_pack_subgroup",
        variant,
        "3(5)→20",
        Bound::EXACT,
        move |e| {
            let conv = Conv2d::with_layout(e, spec, ConvLayout::Subgroup)?;
            let p = reals(spec.w_off + spec.param_count(), 17);
            let mut rec = e.recording("selftest.conv.pack");
            // Nothing packed would compare as no values, a failing check.
            let got: Vec<f32> = match conv.pack(e, &mut rec, &e.upload("w", &p)?, pass)? {
                Some(packed) => {
                    let id = rec.read(&packed);
                    e.submit(rec)?.get(id)
                }
                None => Vec::new(),
            };
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::conv_pack_subgroup(&spec, &f64s(&p), pass),
            })
        },
    )
}

fn nn_checks(v: &mut Vec<Check>) {
    let (planes, h, w) = (5, 10, 14);
    v.push(check(
        "maxpool2x2_fwd",
        "plain",
        format!("{planes}×{h}×{w}"),
        Bound::EXACT,
        move |e| {
            let x = reals(planes * h * w, 19);
            let out = nan(e, "out", planes * h * w / 4)?;
            let mut rec = e.recording("selftest.pool");
            MaxPool2x2::new(e)?.forward(e, &mut rec, &e.upload("x", &x)?, &out, planes, h, w)?;
            let id = rec.read(&out);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::maxpool2x2_fwd(&f64s(&x), planes, h, w),
            })
        },
    ));
    v.push(check(
        "maxpool2x2_bwd",
        "ReLU gate",
        format!("{planes}×{h}×{w}"),
        Bound::EXACT,
        move |e| {
            let (x, dy) = (reals(planes * h * w, 20), reals(planes * h * w / 4, 21));
            let dx = nan(e, "dx", planes * h * w)?;
            let mut rec = e.recording("selftest.pool.bwd");
            let (gx, gdy) = (e.upload("x", &x)?, e.upload("dy", &dy)?);
            MaxPool2x2::new(e)?.backward(e, &mut rec, &gx, &gdy, &dx, planes, h, w, true)?;
            let id = rec.read(&dx);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::maxpool2x2_bwd(&f64s(&x), &f64s(&dy), planes, h, w, true),
            })
        },
    ));
    v.push(check(
        "upsample2x_fwd",
        "plain",
        format!("{planes}×{h}×{w}"),
        Bound::EXACT,
        move |e| {
            let x = reals(planes * h * w, 22);
            let out = nan(e, "out", planes * h * w * 4)?;
            let mut rec = e.recording("selftest.up");
            Upsample2x::new(e)?.forward(e, &mut rec, &e.upload("x", &x)?, &out, planes, h, w)?;
            let id = rec.read(&out);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::upsample2x_fwd(&f64s(&x), planes, h, w),
            })
        },
    ));
    v.push(check(
        "upsample2x_bwd",
        "ReLU gate",
        format!("{planes}×{h}×{w}"),
        Bound::sums(4),
        move |e| {
            let (x, dout) = (reals(planes * h * w, 23), reals(planes * h * w * 4, 24));
            let dx = nan(e, "dx", planes * h * w)?;
            let (gx, gd) = (e.upload("x", &x)?, e.upload("dout", &dout)?);
            let mut rec = e.recording("selftest.up.bwd");
            Upsample2x::new(e)?.backward(e, &mut rec, &gx, &gd, &dx, planes, h, w, true)?;
            let id = rec.read(&dx);
            let got: Vec<f32> = e.submit(rec)?.get(id);
            Ok(Comparison {
                gpu: f64s(&got),
                twin: nn::cpu::upsample2x_bwd(&f64s(&x), &f64s(&dout), planes, h, w, true),
            })
        },
    ));
    v.push(check(
        "pad_crop",
        "pad and crop",
        "3 planes 6² ↔ 12²",
        Bound::EXACT,
        |e| {
            let mut cmp = Comparison::default();
            for (from, to) in [(6, 12), (12, 6)] {
                let x = reals(3 * from * from, 25);
                let out = nan(e, "out", 3 * to * to)?;
                let mut rec = e.recording("selftest.pad");
                PadCrop::new(e)?.record(e, &mut rec, &e.upload("x", &x)?, &out, 3, from, to)?;
                let id = rec.read(&out);
                let got: Vec<f32> = e.submit(rec)?.get(id);
                cmp.push(f64s(&got), nn::cpu::pad_crop(&f64s(&x), 3, from, to));
            }
            Ok(cmp)
        },
    ));
    for (kernel, backward) in [("activation_fwd", false), ("activation_bwd", true)] {
        v.push(check(
            kernel,
            "every mode",
            "1,000 values × none, ReLU, sigmoid, π·tanh",
            Bound::ROUNDING,
            move |e| {
                let op = ActivationOp::new(e)?;
                let mut cmp = Comparison::default();
                for act in [
                    Activation::None,
                    Activation::Relu,
                    Activation::Sigmoid,
                    Activation::PiTanh,
                ] {
                    let x: Vec<f32> = reals(1000, 26).iter().map(|v| 4.0 * v).collect();
                    let y = nn::cpu::activation_fwd(act, &f64s(&x));
                    let out = nan(e, "out", x.len())?;
                    let mut rec = e.recording("selftest.act");
                    if backward {
                        let dy = reals(1000, 27);
                        let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
                        let (gy, gdy) = (e.upload("y", &y32)?, e.upload("dy", &dy)?);
                        op.backward(e, &mut rec, act, &gy, &gdy, &out)?;
                        let id = rec.read(&out);
                        let got: Vec<f32> = e.submit(rec)?.get(id);
                        let want = nn::cpu::activation_bwd(act, &f64s(&y32), &f64s(&dy));
                        cmp.push(f64s(&got), want);
                    } else {
                        op.forward(e, &mut rec, act, &e.upload("x", &x)?, &out)?;
                        let id = rec.read(&out);
                        let got: Vec<f32> = e.submit(rec)?.get(id);
                        cmp.push(f64s(&got), y);
                    }
                }
                Ok(cmp)
            },
        ));
    }
    let (planes, hh, n) = (3, 8, 16);
    v.push(check(
        "object_patch",
        "plain",
        format!("{planes} heads of {hh}² → {n}²"),
        Bound::ROUNDING,
        move |e| {
            let amp: Vec<f32> = reals(planes * hh * hh, 28)
                .iter()
                .map(|v| v.abs())
                .collect();
            let phase = reals(planes * hh * hh, 29);
            let obj = e.upload("obj", &vec![Complex32::new(f32::NAN, 0.0); planes * n * n])?;
            let (ga, gp) = (e.upload("amp", &amp)?, e.upload("phase", &phase)?);
            let mut rec = e.recording("selftest.object");
            ObjectPatch::new(e)?.forward(e, &mut rec, &ga, &gp, &obj, planes, hh, n)?;
            let id = rec.read(&obj);
            let got: Vec<Complex32> = e.submit(rec)?.get(id);
            let want = nn::cpu::object_patch(&f64s(&amp), &f64s(&phase), planes, hh, n);
            Ok(Comparison {
                gpu: flat32(&got),
                twin: flat64(&want),
            })
        },
    ));
    v.push(check(
        "object_patch_bwd",
        "through the heads",
        format!("{planes} patches of {n}² → heads of {hh}²"),
        Bound::ROUNDING,
        move |e| {
            let amp: Vec<f32> = reals(planes * hh * hh, 30)
                .iter()
                .map(|v| v.abs())
                .collect();
            let phase = reals(planes * hh * hh, 31);
            let dobj = complexes(planes * n * n, 32);
            let (da, dp) = (nan(e, "da", amp.len())?, nan(e, "dp", amp.len())?);
            let (ga, gp, gd) = (
                e.upload("amp", &amp)?,
                e.upload("phase", &phase)?,
                e.upload("dobj", &dobj)?,
            );
            let mut rec = e.recording("selftest.object.bwd");
            ObjectPatch::new(e)?
                .backward(e, &mut rec, &ga, &gp, &gd, &da, &dp, planes, hh, n, true)?;
            let (ia, ip) = (rec.read(&da), rec.read(&dp));
            let out = e.submit(rec)?;
            let (wa, wp) = nn::cpu::object_patch_bwd(
                &f64s(&amp),
                &f64s(&phase),
                &c64(&dobj),
                planes,
                hh,
                n,
                true,
            );
            let mut cmp = Comparison::default();
            cmp.push(f64s(&out.get::<f32>(ia)), wa);
            cmp.push(f64s(&out.get::<f32>(ip)), wp);
            Ok(cmp)
        },
    ));
    v.push(check(
        "adam",
        "plain",
        "3 steps of 1,003 parameters",
        Bound::sums(30),
        |e| {
            let len = 1003;
            let cfg = AdamConfig::default();
            let theta0 = reals(len, 33);
            let (gt, gm, gv) = (
                e.upload("theta", &theta0)?,
                e.upload("m", &vec![0f32; len])?,
                e.upload("v", &vec![0f32; len])?,
            );
            let (mut t, mut m, mut v2) = (f64s(&theta0), vec![0.0; len], vec![0.0; len]);
            let op = Adam::new(e)?;
            for step in 1..=3u64 {
                let g = reals(len, 40 + step);
                let mut rec = e.recording("selftest.adam");
                op.record(e, &mut rec, &cfg, step, &e.upload("g", &g)?, &gt, &gm, &gv)?;
                e.submit(rec)?;
                nn::cpu::adam(&cfg, step, &f64s(&g), &mut t, &mut m, &mut v2);
            }
            Ok(Comparison {
                gpu: f64s(&e.read(&gt)?),
                twin: t,
            })
        },
    ));
    v.push(check(
        "mse_grad",
        "plain",
        "1,001 values",
        Bound::ROUNDING,
        |e| {
            let (a, t) = (reals(1001, 50), reals(1001, 51));
            let (sq, grad) = (nan(e, "sq", 1001)?, nan(e, "grad", 1001)?);
            let mut rec = e.recording("selftest.mse");
            let (ga, gt) = (e.upload("a", &a)?, e.upload("t", &t)?);
            MseGrad::new(e)?.record(e, &mut rec, &ga, &gt, &sq, &grad, 0.25)?;
            let (is, ig) = (rec.read(&sq), rec.read(&grad));
            let out = e.submit(rec)?;
            let (ws, wg) = nn::cpu::mse_grad(&f64s(&a), &f64s(&t), 0.25);
            let mut cmp = Comparison::default();
            cmp.push(f64s(&out.get::<f32>(is)), ws);
            cmp.push(f64s(&out.get::<f32>(ig)), wg);
            Ok(cmp)
        },
    ));
}

/// Two training steps of a small PtychoPINN generator (N = 16, C = 1) with the gridsize-1
/// physics loss and Adam, step by step against the f64 twin of the whole step: each step's
/// parameter gradient (the twin at the GPU's parameters) and the parameters after its Adam
/// update (the twin's Adam fed the GPU's gradient, so that the comparison does not follow
/// two trajectories apart).
fn training_step(layout: ConvLayout) -> Check {
    let cfg = NetConfig::with_filter_scale(16, 1, 1);
    check(
        "training step",
        layout.as_str(),
        "network N 16 C 1, batch 4, 2 steps of loss + backward + Adam",
        Bound::sums(4 * 16 * 16),
        move |e| {
            let (n, batch, s) = (16, 4, 200.0f32);
            let layout_p = Layout::new(&cfg)?;
            let mut net = Network::from_params(e, &cfg, &glorot_init(&layout_p, 3), layout)?;
            let st = net.alloc(e, batch)?;
            let x: Vec<f32> = reals(batch * n * n, 60).iter().map(|v| v.abs()).collect();
            let probe = complexes(n * n, 61);
            let model = FarFieldModel::new(e, n, batch, &probe, s, 1.0, 0.0)?;
            let gx = e.upload("x", &x)?;
            let dobj = e.alloc::<Complex32>("dobj", batch * n * n)?;
            let adam = net.adam_cfg;
            let len = layout_p.params;
            let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
            let mut cmp = Comparison::default();
            for step in 1..=2u64 {
                let before = f64s(&e.read(&net.params)?);
                let mut rec = e.recording("selftest.step");
                net.forward(e, &mut rec, &gx, &st)?;
                model.record_loss(e, &mut rec, &st.obj, &gx)?;
                model.record_backward(e, &mut rec, &dobj)?;
                net.backward_object(e, &mut rec, &st, &dobj)?;
                net.adam_step(e, &mut rec)?;
                let (ig, ip) = (rec.read(&net.grads), rec.read(&net.params));
                let out = e.submit(rec)?;
                let (grad, after) = (f64s(&out.get::<f32>(ig)), f64s(&out.get::<f32>(ip)));
                let a = net_cpu::forward(&layout_p, &before, &f64s(&x), batch);
                let (dobj_w, _) = physics::cpu::model_backward(
                    &a.obj,
                    &c64(&probe),
                    &f64s(&x),
                    n,
                    s as f64,
                    1.0,
                    0.0,
                    None,
                );
                cmp.push_scaled(
                    &grad,
                    &net_cpu::backward_object(&layout_p, &before, &a, &dobj_w),
                );
                let mut p = before.clone();
                nn::cpu::adam(&adam, step, &grad, &mut p, &mut m, &mut v);
                // The update itself (the parameters before it cancel out).
                let d_gpu: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
                let d_twin: Vec<f64> = p.iter().zip(&before).map(|(a, b)| a - b).collect();
                cmp.push_scaled(&d_gpu, &d_twin);
            }
            Ok(cmp)
        },
    )
}
