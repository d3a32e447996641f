//! `ptycho bench conv` and `ptycho bench network`: the PtychoPINN network's convolutions per
//! layer shape (forward, input gradient, weight gradient, GFLOP/s), and whole-network throughput
//! (forward and training patterns/s), each with the f64 CPU twin measured in the same run, and
//! a per-kernel breakdown of a training step from GPU timestamps.

use std::collections::BTreeMap;
use std::time::Instant;

use num_complex::Complex32;

use super::{BenchOpts, Row, Timing, report, time_cpu, time_gpu};
use crate::gpu::Engine;
use crate::model::{Layout, NetConfig, Network, cpu as net_cpu};
use crate::nn::{Conv2d, ConvLayout, ConvSpec, NnError, cpu};
use crate::workflow::Result;

/// `ptycho bench conv`.
#[derive(Clone, Debug)]
pub struct ConvBench {
    /// Patch size N of the network whose layer shapes are measured.
    pub n: usize,
    /// Channels C (gridsize²).
    pub c: usize,
    /// Images per batch.
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// Conv layouts to measure: `both` (every layout the adapter can run, in one run),
    /// `tiled`, `subgroup` or `auto`.
    pub layout: String,
    /// The adapter's FP32 peak in GFLOP/s, to report the fraction of it each pass reaches.
    pub peak_gflops: Option<f64>,
}

/// `ptycho bench network`.
#[derive(Clone, Debug)]
pub struct NetworkBench {
    /// Patch size N.
    pub n: usize,
    /// Grid size g (C = g² channels).
    pub gridsize: usize,
    /// Patterns per batch.
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// Patterns the CPU twin runs per timing (it is slow).
    pub cpu_batch: usize,
    /// Conv layouts to measure: `both` (every layout the adapter can run, in one run),
    /// `tiled`, `subgroup` or `auto`.
    pub layout: String,
}

fn signal(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) as f32 / u32::MAX as f32;
            t - 0.3
        })
        .collect()
}

fn gflops(macs: f64, t: &Timing) -> f64 {
    2.0 * macs / t.median_ns
}

/// Distinct conv shapes of the network (the two decoders share theirs).
fn distinct_layers(layout: &Layout) -> Vec<(String, ConvSpec)> {
    let mut out: Vec<(String, ConvSpec)> = Vec::new();
    for l in &layout.layers {
        let mut s = l.spec;
        s.w_off = 0;
        if !out.iter().any(|(_, o)| *o == s) {
            out.push((l.name.clone(), s));
        }
    }
    out
}

/// The layouts a conv benchmark runs: `both` (every layout the adapter can run, the tiled one
/// first), or one of `tiled`, `subgroup`, `auto`.
pub fn bench_layouts(engine: &Engine, which: &str) -> Result<Vec<ConvLayout>> {
    if which == "both" {
        return Ok(ConvLayout::available(engine));
    }
    Ok(vec![ConvLayout::resolve(engine, Some(which))?])
}

/// Per-layer forward / input-gradient / weight-gradient timings of the real layer shapes, for
/// each layout, with the speed-up of every layout over the first.
pub fn conv(engine: &Engine, opts: &BenchOpts, a: &ConvBench) -> Result<()> {
    let cfg = NetConfig::with_filter_scale(a.n, a.c, a.n_filters_scale as usize);
    let layout =
        Layout::new(&cfg).map_err(|e| crate::gpu::GpuError::InvalidArgument(e.to_string()))?;
    let layouts = bench_layouts(engine, &a.layout)?;
    let cpu_opts = BenchOpts {
        repeats: opts.repeats.min(3),
        ..opts.clone()
    };
    let mut rows = Vec::new();
    // (layer, shape, pass, GFLOP/s per layout)
    let mut summary: Vec<(String, String, &'static str, Vec<f64>)> = Vec::new();
    for (name, spec) in distinct_layers(&layout) {
        let b = a.batch;
        let plane = spec.height * spec.width;
        let x = engine.upload("bench.x", &signal(b * spec.in_cstride * plane, 1))?;
        let p = engine.upload("bench.params", &signal(spec.param_count(), 2))?;
        let y = engine.alloc::<f32>("bench.y", b * spec.cout * plane)?;
        let dz = engine.upload("bench.dz", &signal(b * spec.cout * plane, 3))?;
        let dx = engine.alloc::<f32>("bench.dx", b * spec.in_cstride * plane)?;
        let g = engine.alloc::<f32>("bench.g", spec.param_count())?;
        let macs = (spec.macs_per_image() * b) as f64;
        let shape = format!("{}→{} {}² b{}", spec.cin, spec.cout, spec.height, b);

        // CPU twin (f64) on one image, scaled by FLOPs.
        let (x1, p1) = (
            signal(spec.in_cstride * plane, 1)
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<_>>(),
            signal(spec.param_count(), 2)
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<_>>(),
        );
        let cpu_fwd = time_cpu(&cpu_opts, || {
            std::hint::black_box(cpu::conv2d_fwd(&spec, &x1, &p1, 1));
        });
        let cpu_gf = 2.0 * spec.macs_per_image() as f64 / cpu_fwd.median_ns;

        let mut gf = [Vec::new(), Vec::new(), Vec::new()];
        for &lay in &layouts {
            let conv = Conv2d::with_layout(engine, spec, lay)?;
            let part = engine.alloc::<f32>("bench.part", conv.weight_splits(b).2)?;
            let (ft, bt, wt) = conv.tilings();
            let tag = |pass: &str| format!("{name}.{pass}.{lay}");
            let fwd =
                time_gpu::<NnError>(engine, opts, |rec| conv.forward(engine, rec, &x, &p, &y, b))?;
            gf[0].push(gflops(macs, &fwd));
            rows.push(Row {
                name: tag("fwd"),
                shape: format!("{shape} [{ft}]"),
                gpu: fwd,
                cpu: None,
                bytes: 4.0 * (b * plane * (spec.in_cstride + spec.cout)) as f64,
                dispatches: 1,
                extra: vec![
                    ("GFLOP/s".into(), gflops(macs, &fwd)),
                    ("cpu_f64_GFLOP/s".into(), cpu_gf),
                ],
            });
            let bin = time_gpu::<NnError>(engine, opts, |rec| {
                conv.backward_input(engine, rec, &dz, &p, &dx, Some(&x), false, b)
            })?;
            gf[1].push(gflops(macs, &bin));
            rows.push(Row {
                name: tag("bwd_in"),
                shape: format!("{shape} [{bt}]"),
                gpu: bin,
                cpu: None,
                bytes: 4.0 * (b * plane * (2 * spec.in_cstride + spec.cout)) as f64,
                dispatches: 1,
                extra: vec![("GFLOP/s".into(), gflops(macs, &bin))],
            });
            let bw = time_gpu::<NnError>(engine, opts, |rec| {
                conv.backward_weight(engine, rec, &x, &dz, &part, &g, false, b)
            })?;
            gf[2].push(gflops(macs, &bw));
            rows.push(Row {
                name: tag("bwd_w"),
                shape: format!("{shape} [{wt}]"),
                gpu: bw,
                cpu: None,
                bytes: 4.0 * (b * plane * (spec.in_cstride + spec.cout)) as f64,
                dispatches: 2,
                extra: vec![
                    ("GFLOP/s".into(), gflops(macs, &bw)),
                    ("splits".into(), conv.weight_splits(b).0 as f64),
                ],
            });
        }
        for (k, pass) in ["fwd", "bwd_in", "bwd_w"].into_iter().enumerate() {
            summary.push((name.clone(), shape.clone(), pass, gf[k].clone()));
        }
    }
    if let Some(peak) = a.peak_gflops {
        for r in &mut rows {
            let gf = r.extra.iter().find(|(k, _)| k == "GFLOP/s").map(|e| e.1);
            if let Some(gf) = gf {
                r.extra.push(("peak_fraction".into(), gf / peak));
            }
        }
    }
    report(engine, opts, &rows);
    if opts.json {
        return Ok(());
    }
    println!(
        "GFLOP/s counts 2 FLOPs per multiply-add of the forward conv for every pass; \
         [tile] = layout, tile height×width×output channels, input channels per chunk"
    );
    let names: Vec<String> = layouts.iter().map(|l| l.to_string()).collect();
    let mut head = format!("{:<22} {:<16} {:<7}", "layer", "shape", "pass");
    for n in &names {
        head += &format!(" {:>10}", n);
    }
    if layouts.len() > 1 {
        head += &format!(" {:>9}", format!("{}/{}", names[1], names[0]));
    }
    println!("{head}   (GFLOP/s)");
    for (name, shape, pass, v) in &summary {
        let mut line = format!("{name:<22} {shape:<16} {pass:<7}");
        for g in v {
            line += &format!(" {g:>10.2}");
        }
        if v.len() > 1 {
            line += &format!(" {:>8.2}×", v[1] / v[0]);
        }
        println!("{line}");
    }
    Ok(())
}

/// Median over the repeats of `a[k] / b[k]` (samples taken back to back, so that the machine's
/// drift cancels within each pair).
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whole-network throughput: forward, forward from frozen packed weights (inference, see
/// `Network::freeze`), and forward + backward (from a fixed dL/dO) + Adam, for
/// each conv layout, the layouts' samples interleaved so that a noisy machine affects them alike.
pub fn network(engine: &Engine, opts: &BenchOpts, a: &NetworkBench) -> Result<()> {
    let c = a.gridsize * a.gridsize;
    let cfg = NetConfig::with_filter_scale(a.n, c, a.n_filters_scale as usize);
    let b = a.batch;
    let n = a.n;
    let x = engine.upload(
        "bench.x",
        &signal(b * c * n * n, 1)
            .iter()
            .map(|v| v.abs())
            .collect::<Vec<_>>(),
    )?;
    let dobj: Vec<Complex32> = signal(2 * b * c * n * n, 5)
        .chunks(2)
        .map(|z| Complex32::new(z[0] * 1e-3, z[1] * 1e-3))
        .collect();
    let dobj = engine.upload("bench.dobj", &dobj)?;
    let layouts = bench_layouts(engine, &a.layout)?;
    let mut nets = Vec::new();
    for &lay in &layouts {
        let mut net = Network::new(engine, &cfg, 1)?;
        net.set_conv_layout(engine, lay)?;
        let st = net.alloc(engine, b)?;
        nets.push((lay, net, st));
    }
    let macs = nets[0].1.layout.macs_per_pattern() as f64 * b as f64;

    // Wall clock per submit (no profiling passes), medians; layouts interleaved per repeat.
    let mut fwd_ns = vec![Vec::new(); nets.len()];
    let mut frozen_ns = vec![Vec::new(); nets.len()];
    let mut train_ns = vec![Vec::new(); nets.len()];
    let mut dispatches = (0, 0, 0);
    for k in 0..opts.warmup + opts.repeats.max(1) {
        for (j, (_, net, st)) in nets.iter_mut().enumerate() {
            let t0 = Instant::now();
            let mut rec = engine.recording("bench.forward");
            net.forward(engine, &mut rec, &x, st)?;
            engine.submit(rec)?;
            let t_fwd = t0.elapsed().as_nanos() as f64;

            // Inference's forward pass: the weights packed once beforehand (not timed).
            let frozen = net.freeze(engine)?;
            let t0 = Instant::now();
            let mut rec = engine.recording("bench.forward.frozen");
            frozen.forward(engine, &mut rec, &x, st)?;
            dispatches.2 = rec.dispatch_count();
            engine.submit(rec)?;
            let t_frozen = t0.elapsed().as_nanos() as f64;
            drop(frozen);

            let t0 = Instant::now();
            let mut rec = engine.recording("bench.train");
            net.forward(engine, &mut rec, &x, st)?;
            let d0 = rec.dispatch_count();
            net.backward_object(engine, &mut rec, st, &dobj)?;
            net.adam_step(engine, &mut rec)?;
            (dispatches.0, dispatches.1) = (d0, rec.dispatch_count());
            // A training step reads back one scalar (the loss); read one gradient value instead.
            rec.read_binding(net.grads.slice(0, 1));
            engine.submit(rec)?;
            let t_train = t0.elapsed().as_nanos() as f64;
            if k >= opts.warmup {
                fwd_ns[j].push(t_fwd);
                frozen_ns[j].push(t_frozen);
                train_ns[j].push(t_train);
            }
        }
    }

    // Per-kernel breakdown of one training step from timestamps, per layout.
    let mut breakdowns = Vec::new();
    if engine.has_timestamps() {
        for (lay, net, st) in nets.iter_mut() {
            let mut breakdown: BTreeMap<&'static str, (f64, usize)> = BTreeMap::new();
            let mut rec = engine.recording("bench.train.profile");
            rec.set_profile(true);
            net.forward(engine, &mut rec, &x, st)?;
            net.backward_object(engine, &mut rec, st, &dobj)?;
            net.adam_step(engine, &mut rec)?;
            let out = engine.submit(rec)?;
            for (name, ns) in &out.kernel_times_ns {
                let e = breakdown.entry(name).or_default();
                e.0 += ns;
                e.1 += 1;
            }
            breakdowns.push((*lay, breakdown, out.gpu_time_ns));
        }
    }

    // CPU twin (f64) on `cpu_batch` patterns.
    let cb = a.cpu_batch.max(1);
    let layout = nets[0].1.layout.clone();
    let p64: Vec<f64> = engine
        .read(&nets[0].1.params)?
        .iter()
        .map(|&v| v as f64)
        .collect();
    let x64: Vec<f64> = signal(cb * c * n * n, 1)
        .iter()
        .map(|v| v.abs() as f64)
        .collect();
    let cpu_opts = BenchOpts {
        repeats: opts.repeats.min(3),
        warmup: 0,
        ..opts.clone()
    };
    let cpu_fwd = time_cpu(&cpu_opts, || {
        std::hint::black_box(net_cpu::forward(&layout, &p64, &x64, cb));
    });
    let d64 = vec![num_complex::Complex64::new(1e-3, -1e-3); cb * c * n * n];
    let cpu_train = time_cpu(&cpu_opts, || {
        let acts = net_cpu::forward(&layout, &p64, &x64, cb);
        std::hint::black_box(net_cpu::backward_object(&layout, &p64, &acts, &d64));
    });

    let per_s = |count: usize, t: &Timing| count as f64 / (t.median_ns * 1e-9);
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (j, (lay, _, _)) in nets.iter().enumerate() {
        let fwd = Timing::from_samples(fwd_ns[j].clone(), "wall-clock");
        let frozen = Timing::from_samples(frozen_ns[j].clone(), "wall-clock");
        let train = Timing::from_samples(train_ns[j].clone(), "wall-clock");
        rates.push((per_s(b * c, &fwd), per_s(b * c, &train)));
        rows.push(Row {
            name: format!("net.forward.{lay}"),
            shape: format!("N{n} C{c} s{} b{b}", a.n_filters_scale),
            gpu: fwd,
            cpu: None,
            bytes: 0.0,
            dispatches: dispatches.0,
            extra: vec![
                ("patterns/s".into(), per_s(b * c, &fwd)),
                ("GFLOP/s".into(), gflops(macs, &fwd)),
                ("cpu_f64_patterns/s".into(), per_s(cb * c, &cpu_fwd)),
            ],
        });
        rows.push(Row {
            name: format!("net.forward_frozen.{lay}"),
            shape: format!("N{n} C{c} s{} b{b}", a.n_filters_scale),
            extra: vec![
                ("patterns/s".into(), per_s(b * c, &frozen)),
                ("GFLOP/s".into(), gflops(macs, &frozen)),
                ("vs_forward".into(), paired_ratio(&fwd_ns[j], &frozen_ns[j])),
            ],
            gpu: frozen,
            cpu: None,
            bytes: 0.0,
            dispatches: dispatches.2,
        });
        rows.push(Row {
            name: format!("net.train.{lay}"),
            shape: format!("N{n} C{c} s{} b{b}", a.n_filters_scale),
            gpu: train,
            cpu: None,
            bytes: 0.0,
            dispatches: dispatches.1,
            extra: vec![
                ("patterns/s".into(), per_s(b * c, &train)),
                ("GFLOP/s(3x fwd)".into(), gflops(3.0 * macs, &train)),
                ("cpu_f64_patterns/s".into(), per_s(cb * c, &cpu_train)),
            ],
        });
    }
    report(engine, opts, &rows);
    if opts.json {
        return Ok(());
    }
    for (lay, breakdown, gpu_total) in breakdowns {
        let sum: f64 = breakdown.values().map(|v| v.0).sum();
        println!(
            "training step [{lay}], GPU timestamps: span {:.1} ms, kernels {:.1} ms, {} dispatches",
            gpu_total.unwrap_or(0.0) * 1e-6,
            sum * 1e-6,
            breakdown.values().map(|v| v.1).sum::<usize>()
        );
        let mut v: Vec<_> = breakdown.into_iter().collect();
        v.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
        for (name, (ns, count)) in v {
            println!(
                "  {:<28} {:>9.2} ms {:>5.1} %  {:>3} dispatches",
                name,
                ns * 1e-6,
                100.0 * ns / sum,
                count
            );
        }
    }
    if rates.len() > 1 {
        println!(
            "{} / {} (same run, interleaved): forward {:.2}×, training {:.2}×",
            layouts[1],
            layouts[0],
            rates[1].0 / rates[0].0,
            rates[1].1 / rates[0].1
        );
    }
    Ok(())
}
