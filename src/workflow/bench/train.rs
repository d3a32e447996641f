//! `ptycho bench train`: a full training step (network + physics + Adam) and inference on a
//! simulated lines dataset, in patterns per second, with the per-kernel split of one step.

use rand::SeedableRng;

use super::BenchOpts;
use crate::config::Config;
use crate::data::group::make_groups;
use crate::gpu::Engine;
use crate::model::Layout;
use crate::simulate::{ScanKind, SimParams, objects, scan_positions, simulate};
use crate::util::fs::{peak_host_bytes, peak_host_note};
use crate::util::text::human_bytes;
use crate::workflow::Result;
use crate::workflow::infer::Predictor;
use crate::workflow::train::Trainer;
use crate::workflow::train::prepare::net_config;
use crate::workflow::train::prepare::normalisation_factor;

/// `ptycho bench train`.
#[derive(Clone, Debug)]
pub struct TrainBench {
    /// Patch size N.
    pub n: usize,
    /// Grid size (1 or 2).
    pub gridsize: u32,
    /// Groups per batch.
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// Conv layouts to measure: `both` (every layout the adapter can run, steps interleaved),
    /// `tiled`, `subgroup` or `auto`.
    pub layout: String,
}

/// Runs the benchmark.
pub fn run(engine: &Engine, opts: &BenchOpts, a: &TrainBench) -> Result<()> {
    let mut cfg = Config::default();
    cfg.data.n = a.n;
    cfg.data.gridsize = a.gridsize;
    cfg.training.batch_size = a.batch;
    cfg.model.n_filters_scale = a.n_filters_scale;
    cfg.inference.stitch_crop = cfg.inference.stitch_crop.min(a.n);
    cfg.validate()?;
    let parameters = Layout::new(&net_config(&cfg))?.params;
    let size = 2 * a.n;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let obj = objects::lines(size, 60, true, &mut rng);
    // Gridsize 2 groups need a seed and 4 neighbours; under MPI every rank takes its own batch
    // of each step.
    let comm = crate::dist::world();
    let count = (a.batch * comm.size() * (opts.warmup + opts.repeats.max(1))).max(8);
    let (xs, ys) = scan_positions(
        ScanKind::Random,
        count,
        4.0,
        size,
        size,
        a.n as f64 / 2.0,
        1,
    );
    let params = SimParams {
        nphotons: 1e9,
        noise: true,
        seed: 1,
        object_kind: "lines".into(),
    };
    let d = simulate(
        engine,
        obj,
        (size, size),
        objects::default_probe(a.n),
        a.n,
        xs,
        ys,
        &params,
    )?;
    let k = normalisation_factor(&d);
    let x: Vec<f32> = d.diff.iter().map(|&v| (v as f64 * k) as f32).collect();
    let groups = make_groups(&d.xcoords, &d.ycoords, a.gridsize, 4, 0, 1);
    let layouts = super::nn::bench_layouts(engine, &a.layout)?;
    if comm.is_parallel() {
        return run_ranks(
            engine,
            opts,
            a,
            &cfg,
            (&x, &groups, &d.probe),
            layouts[0],
            &comm,
        );
    }
    let mut trainers = Vec::new();
    for &lay in &layouts {
        let mut t = Trainer::new(engine, &cfg, &d.probe)?;
        t.fit_canvas(&groups);
        t.net.set_conv_layout(engine, lay)?;
        trainers.push(t);
    }
    let c = (a.gridsize * a.gridsize) as usize;
    // Steps of the layouts interleaved, so that a noisy machine affects them alike.
    let mut times = vec![Vec::new(); trainers.len()];
    for (i, chunk) in (0..groups.len())
        .collect::<Vec<_>>()
        .chunks(a.batch)
        .enumerate()
    {
        for (j, t) in trainers.iter_mut().enumerate() {
            let t0 = std::time::Instant::now();
            t.step(&x, &groups, chunk, 0, true, 1)?;
            if i >= opts.warmup {
                times[j].push(t0.elapsed().as_secs_f64());
            }
        }
    }
    let idx: Vec<usize> = (0..groups.len()).collect();
    let mut results = Vec::new();
    for (j, t) in trainers.iter_mut().enumerate() {
        let ts = &mut times[j];
        ts.sort_by(f64::total_cmp);
        let train_s = ts[ts.len() / 2];
        let infer_rate = {
            // As `ptycho infer` runs: the weights packed once, before the timing.
            let frozen = t.net.freeze(engine)?;
            let mut p = Predictor::new(engine, &cfg);
            p.fit_canvas(&groups);
            let _ = p.predict(&frozen, &x, &groups, &idx[..a.batch], a.batch)?;
            let t0 = std::time::Instant::now();
            let _ = p.predict(&frozen, &x, &groups, &idx, a.batch)?;
            (idx.len() * c) as f64 / t0.elapsed().as_secs_f64()
        };
        let train_rate = (a.batch * c) as f64 / train_s;
        let split = t.profile_step(&x, &groups, &idx[..a.batch])?;
        results.push((layouts[j], train_rate, train_s, infer_rate, split));
    }
    drop(trainers);
    // GPU memory of one run (layouts need the same buffers): what a trainer holds after a step
    // (weights, Adam state, activations and gradients of one batch, physics), and what
    // inference allocates (forward-only activations).
    let first = &idx[..a.batch.min(idx.len())];
    let live0 = engine.memory().live_bytes;
    let mut t = Trainer::new(engine, &cfg, &d.probe)?;
    t.fit_canvas(&groups);
    t.net.set_conv_layout(engine, layouts[0])?;
    t.step(&x, &groups, first, 0, true, 1)?;
    let train_bytes = engine.memory().live_bytes.saturating_sub(live0);
    let live1 = engine.memory().live_bytes;
    let infer_bytes = {
        // Inference's own buffers: the frozen packed weights and the forward activations.
        let frozen = t.net.freeze(engine)?;
        let mut p = Predictor::new(engine, &cfg);
        p.fit_canvas(&groups);
        let _ = p.predict(&frozen, &x, &groups, first, a.batch)?;
        engine.memory().live_bytes.saturating_sub(live1)
    };
    drop(t);
    if opts.json {
        let runs: Vec<_> = results
            .iter()
            .map(|(lay, train_rate, train_s, infer_rate, split)| {
                serde_json::json!({
                    "conv_layout": lay, "train_patterns_per_s": train_rate,
                    "infer_patterns_per_s": infer_rate, "step_ms": train_s * 1e3,
                    "kernels_ms": split,
                })
            })
            .collect();
        let first = &results[0];
        let v = serde_json::json!({
            "adapter": engine.describe(), "bench": "train", "n": a.n, "gridsize": a.gridsize, "batch": a.batch,
            "n_filters_scale": a.n_filters_scale, "parameters": parameters,
            "peak_host_bytes": peak_host_bytes(),
            "train_patterns_per_s": first.1, "infer_patterns_per_s": first.3, "step_ms": first.2 * 1e3,
            "kernels_ms": first.4, "conv_layout": first.0, "runs": runs,
            "train_gpu_bytes": train_bytes, "infer_gpu_bytes": infer_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("adapter: {}", engine.describe());
    println!(
        "network: PtychoPINN cnn generator, n_filters_scale {} ({parameters} parameters{})",
        a.n_filters_scale,
        if a.n_filters_scale == 2 {
            ", PtychoPINN's default"
        } else {
            "; PtychoPINN's default is 2"
        }
    );
    for (lay, train_rate, train_s, infer_rate, split) in &results {
        println!(
            "[{lay}] N {} gridsize {} batch {}: training {:.1} patterns/s (median step {:.0} ms, physics and Adam included); inference {:.1} patterns/s",
            a.n,
            a.gridsize,
            a.batch,
            train_rate,
            train_s * 1e3,
            infer_rate
        );
        let total: f64 = split.iter().map(|(_, ms, _)| ms).sum();
        println!("  one training step, GPU timestamps ({total:.1} ms in kernels):");
        for (name, ms, count) in split {
            println!(
                "    {name:<28} {ms:>9.2} ms {:>5.1} % {count:>4} dispatches",
                100.0 * ms / total.max(1e-9)
            );
        }
    }
    let pats = (a.batch * c) as f64;
    println!(
        "GPU memory: training {} ({} per pattern of the batch, weights and Adam state included); inference buffers {} ({} per pattern){}",
        human_bytes(train_bytes),
        human_bytes((train_bytes as f64 / pats) as u64),
        human_bytes(infer_bytes),
        human_bytes((infer_bytes as f64 / pats) as u64),
        peak_host_note(),
    );
    println!(
        "PyTorch on the same machine, same network and loss, in the same run: benches/torch/compare.py (benches/README.md)"
    );
    if results.len() > 1 {
        println!(
            "{} / {} (same run, steps interleaved): training {:.2}×, inference {:.2}×",
            results[1].0,
            results[0].0,
            results[1].1 / results[0].1,
            results[1].3 / results[0].3
        );
    }
    Ok(())
}

/// `bench train` under MPI: data-parallel steps (each rank its own batch, gradients summed in
/// rank order, as `ptycho train` steps), with the all-reduce's bytes and seconds per step.
fn run_ranks(
    engine: &Engine,
    opts: &BenchOpts,
    a: &TrainBench,
    cfg: &Config,
    (x, groups, probe): (
        &[f32],
        &crate::data::group::Groups,
        &[num_complex::Complex32],
    ),
    layout: crate::nn::ConvLayout,
    comm: &crate::dist::Comm,
) -> Result<()> {
    let (k, c) = (comm.size(), (a.gridsize * a.gridsize) as usize);
    let mut t = Trainer::new(engine, cfg, probe)?;
    t.fit_canvas(groups);
    t.net.set_conv_layout(engine, layout)?;
    t.broadcast_weights(comm)?;
    let idx: Vec<usize> = (0..groups.len()).collect();
    let batches: Vec<&[usize]> = idx.chunks(a.batch).collect();
    let (mut step_s, mut reduce_s, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, step) in batches.chunks(k).enumerate() {
        let Some(mine) = step.get(comm.rank()) else {
            break;
        };
        if step.len() < k {
            break;
        }
        let t0 = std::time::Instant::now();
        t.step(x, groups, mine, 0, false, k)?;
        let before = crate::dist::traffic();
        t.apply_reduced(comm, true, &mut [])?;
        let after = crate::dist::traffic();
        if i >= opts.warmup {
            step_s.push(t0.elapsed().as_secs_f64());
            reduce_s.push(after.seconds - before.seconds);
            bytes.push(after.bytes - before.bytes);
        }
    }
    // The job's figures: every rank's medians, the slowest rank's step.
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (step, reduce) = (median(&mut step_s), median(&mut reduce_s));
    let per_rank = comm.all_gather_strings(&format!(
        "{step} {reduce} {}",
        bytes.first().copied().unwrap_or(0)
    ));
    if !comm.is_root() {
        return Ok(());
    }
    let rows: Vec<(f64, f64, u64)> = per_rank
        .iter()
        .map(|s| {
            let f: Vec<&str> = s.split(' ').collect();
            (
                f[0].parse().unwrap_or(f64::NAN),
                f[1].parse().unwrap_or(f64::NAN),
                f[2].parse().unwrap_or(0),
            )
        })
        .collect();
    let slowest = rows.iter().map(|r| r.0).fold(0.0, f64::max);
    let rate = (k * a.batch * c) as f64 / slowest;
    let params = t.net.layout.params;
    if opts.json {
        let v = serde_json::json!({
            "adapter": engine.describe(), "bench": "train", "ranks": k, "n": a.n,
            "gridsize": a.gridsize, "batch_per_rank": a.batch, "n_filters_scale": a.n_filters_scale,
            "parameters": params, "conv_layout": layout, "train_patterns_per_s": rate,
            "step_ms": slowest * 1e3,
            "allreduce_bytes_per_step": rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "allreduce_ms_per_step": rows.iter().map(|r| r.1 * 1e3).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("adapter (rank 0): {}", engine.describe());
    println!(
        "{k} MPI ranks, N {} gridsize {} batch {} per rank ({} per step), n_filters_scale {} ({params} parameters, {} of gradient): training {rate:.1} patterns/s over the job (slowest rank's median step {:.0} ms)",
        a.n,
        a.gridsize,
        a.batch,
        k * a.batch,
        a.n_filters_scale,
        human_bytes(params as u64 * 4),
        slowest * 1e3
    );
    for (r, (s, red, b)) in rows.iter().enumerate() {
        println!(
            "  rank {r}: step {:.0} ms, all-reduce {:.1} ms ({:.1} % of the step), {} sent and received per step",
            s * 1e3,
            red * 1e3,
            100.0 * red / s.max(1e-12),
            human_bytes(*b)
        );
    }
    Ok(())
}
