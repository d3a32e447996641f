//! `ptycho bench fft`: the WGSL FFT against rustfft on the CPU (one thread and all cores).

use num_complex::Complex32;
use rustfft::FftPlanner;
use serde::Serialize;

use super::{BenchOpts, Timing, test_signal, time_cpu, time_gpu};
use crate::fft::{Direction, FftError, FftOptions, FftPlan, Strategy};
use crate::gpu::Engine;
use crate::workflow::Result;

/// `ptycho bench fft`.
#[derive(Clone, Debug)]
pub struct FftBench {
    /// Frame sides (square frames), comma separated.
    pub n: Vec<usize>,
    /// Frames per batch.
    pub batch: usize,
    /// The adapter's memory bandwidth in GB/s, to report the fraction of the roofline reached.
    pub bandwidth_gbs: Option<f64>,
    /// Force the global-memory multi-pass path.
    pub global: bool,
    /// Largest radix (4 or 8).
    pub radix: u32,
    /// Target invocations per workgroup of the workgroup-memory path (tuning sweep).
    pub threads: u32,
}

/// One row of the FFT report.
#[derive(Clone, Debug, Serialize)]
pub struct FftRow {
    /// Frame side.
    pub n: usize,
    /// Frames.
    pub batch: usize,
    /// Passes over the data (dispatches per chunk).
    pub passes: usize,
    /// GPU timing of the whole batch.
    pub gpu: Timing,
    /// µs per frame on the GPU (median).
    pub gpu_us_per_frame: f64,
    /// GB/s moved at the median, counting one read and one write of every frame per pass.
    pub gpu_gbs: f64,
    /// rustfft (f32), one thread, µs per frame.
    pub cpu1_us_per_frame: f64,
    /// rustfft (f32), all cores, µs per frame.
    pub cpu_all_us_per_frame: f64,
    /// Threads used for `cpu_all`.
    pub cpu_threads: usize,
    /// GPU time / single-thread CPU time.
    pub gpu_over_cpu1: f64,
    /// GPU time / all-cores CPU time.
    pub gpu_over_cpu_all: f64,
    /// Fraction of `--bandwidth-gbs` reached.
    pub roofline_fraction: Option<f64>,
}

fn rustfft_2d(frames: &mut [Complex32], n: usize, planner_fwd: &dyn rustfft::Fft<f32>) {
    let mut col = vec![Complex32::default(); n];
    let mut scratch = vec![Complex32::default(); planner_fwd.get_inplace_scratch_len()];
    for f in frames.chunks_mut(n * n) {
        planner_fwd.process_with_scratch(f, &mut scratch);
        for c in 0..n {
            for r in 0..n {
                col[r] = f[r * n + c];
            }
            planner_fwd.process_with_scratch(&mut col, &mut scratch);
            for r in 0..n {
                f[r * n + c] = col[r];
            }
        }
    }
}

/// Runs the FFT benchmark and prints the table.
pub fn run(engine: &Engine, opts: &BenchOpts, a: &FftBench) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut rows = Vec::new();
    for &n in &a.n {
        let fopts = FftOptions {
            strategy: if a.global {
                Strategy::Global
            } else {
                Strategy::Auto
            },
            max_radix: a.radix,
            target_threads: a.threads,
            ..Default::default()
        };
        let plan = FftPlan::with_options(engine, n, n, a.batch, Direction::Forward, fopts)?;
        let x = test_signal(a.batch * n * n, 7);
        let src = engine.upload("bench.fft.src", &x)?;
        let dst = engine.alloc::<Complex32>("bench.fft.dst", x.len())?;
        let scratch = plan.alloc_scratch(engine)?;
        let gpu = time_gpu::<FftError>(engine, opts, |rec| {
            plan.record(engine, rec, &src, &dst, &scratch)
        })?;
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n);
        let mut work = x.clone();
        let cpu1 = time_cpu(opts, || rustfft_2d(&mut work, n, fft.as_ref()));
        let per = a.batch.div_ceil(threads);
        let cpu_all = time_cpu(opts, || {
            std::thread::scope(|s| {
                for chunk in work.chunks_mut(per * n * n) {
                    let f = fft.clone();
                    s.spawn(move || rustfft_2d(chunk, n, f.as_ref()));
                }
            })
        });
        let passes = plan.passes();
        let bytes = (passes * 2 * a.batch * n * n * 8) as f64;
        let gbs = bytes / gpu.median_ns;
        let b = a.batch as f64;
        rows.push(FftRow {
            n,
            batch: a.batch,
            passes,
            gpu,
            gpu_us_per_frame: gpu.median_ns / 1e3 / b,
            gpu_gbs: gbs,
            cpu1_us_per_frame: cpu1.median_ns / 1e3 / b,
            cpu_all_us_per_frame: cpu_all.median_ns / 1e3 / b,
            cpu_threads: threads,
            gpu_over_cpu1: gpu.median_ns / cpu1.median_ns,
            gpu_over_cpu_all: gpu.median_ns / cpu_all.median_ns,
            roofline_fraction: a.bandwidth_gbs.map(|bw| gbs / bw),
        });
    }
    if opts.json {
        let out = serde_json::json!({ "adapter": engine.describe(), "bench": "fft", "rows": rows });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return Ok(());
    }
    println!(
        "adapter: {}   clock: {}",
        engine.describe(),
        rows.first().map(|r| r.gpu.clock).unwrap_or("-")
    );
    println!(
        "{:>5} {:>6} {:>6} {:>12} {:>9} {:>12} {:>14} {:>10} {:>12} {:>9}",
        "n",
        "batch",
        "passes",
        "gpu µs/frm",
        "GB/s",
        "cpu1 µs/frm",
        "cpuN µs/frm",
        "gpu/cpu1",
        "gpu/cpuN",
        "roofline"
    );
    for r in &rows {
        println!(
            "{:>5} {:>6} {:>6} {:>12.2} {:>9.2} {:>12.2} {:>14.2} {:>10.2} {:>12.2} {:>9}",
            r.n,
            r.batch,
            r.passes,
            r.gpu_us_per_frame,
            r.gpu_gbs,
            r.cpu1_us_per_frame,
            r.cpu_all_us_per_frame,
            r.gpu_over_cpu1,
            r.gpu_over_cpu_all,
            r.roofline_fraction
                .map(|f| format!("{:.0}%", 100.0 * f))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "(cpuN = rustfft on {} threads; gpu/cpu < 1 means the GPU path is faster)",
        threads
    );
    Ok(())
}
