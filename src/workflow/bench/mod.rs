//! The benchmark harness behind `ptycho bench <name>`.
//!
//! GPU work is timed with timestamp queries around each dispatch where the adapter has them
//! (span from the first dispatch's start to the last one's end), otherwise with the wall clock
//! around submit + `device.poll(wait)`. Each benchmark warms up, repeats, reports median and
//! minimum, the CPU peer measured in the same run, and the GPU/CPU ratio.

pub mod fft;
pub mod forward;
pub mod nn;
pub mod quality;
pub mod train;

use std::time::Instant;

use num_complex::Complex32;
use serde::Serialize;

use crate::gpu::{Engine, GpuError, Recording};
use crate::linalg::{Cmul, ReduceSum};
use crate::workflow::Result;

/// Options shared by every benchmark.
#[derive(Clone, Debug)]
pub struct BenchOpts {
    /// Print JSON instead of a table.
    pub json: bool,
    /// Untimed runs before measuring.
    pub warmup: usize,
    /// Timed runs (median and minimum are reported).
    pub repeats: usize,
}

/// A set of timed samples.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    /// Median, nanoseconds.
    pub median_ns: f64,
    /// Minimum, nanoseconds.
    pub min_ns: f64,
    /// Number of samples.
    pub samples: usize,
    /// `gpu-timestamps` or `wall-clock`.
    pub clock: &'static str,
}

impl Timing {
    pub(crate) fn from_samples(mut s: Vec<f64>, clock: &'static str) -> Timing {
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            0.5 * (s[n / 2 - 1] + s[n / 2])
        };
        Timing {
            median_ns: median,
            min_ns: s[0],
            samples: n,
            clock,
        }
    }
}

/// Times GPU work: `record` fills a fresh recording each repetition.
pub fn time_gpu<E: From<GpuError>>(
    engine: &Engine,
    opts: &BenchOpts,
    mut record: impl FnMut(&mut Recording) -> std::result::Result<(), E>,
) -> std::result::Result<Timing, E> {
    let timestamps = engine.has_timestamps();
    let mut samples = Vec::with_capacity(opts.repeats);
    for k in 0..opts.warmup + opts.repeats.max(1) {
        let mut rec = engine.recording("bench");
        rec.set_profile(timestamps);
        record(&mut rec)?;
        let t0 = Instant::now();
        let out = engine.submit(rec)?;
        let wall = t0.elapsed().as_nanos() as f64;
        if k >= opts.warmup {
            samples.push(out.gpu_time_ns.unwrap_or(wall));
        }
    }
    Ok(Timing::from_samples(
        samples,
        if timestamps {
            "gpu-timestamps"
        } else {
            "wall-clock"
        },
    ))
}

/// Times a CPU closure with the wall clock.
pub fn time_cpu(opts: &BenchOpts, mut f: impl FnMut()) -> Timing {
    let mut samples = Vec::with_capacity(opts.repeats);
    for k in 0..opts.warmup.min(1) + opts.repeats.max(1) {
        let t0 = Instant::now();
        f();
        if k >= opts.warmup.min(1) {
            samples.push(t0.elapsed().as_nanos() as f64);
        }
    }
    Timing::from_samples(samples, "wall-clock")
}

/// One row of a benchmark report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Benchmark (kernel) name.
    pub name: String,
    /// Shape description.
    pub shape: String,
    /// GPU timing.
    pub gpu: Timing,
    /// CPU peer timing, same run.
    pub cpu: Option<Timing>,
    /// Minimum bytes moved per run (reads + writes).
    pub bytes: f64,
    /// Dispatches per run.
    pub dispatches: usize,
    /// Extra named figures.
    pub extra: Vec<(String, f64)>,
}

impl Row {
    /// GB/s at the median GPU time.
    pub fn gpu_gbs(&self) -> f64 {
        self.bytes / self.gpu.median_ns
    }
    /// GPU time / CPU time (median); below 1 means the GPU path is faster.
    pub fn ratio(&self) -> Option<f64> {
        self.cpu.map(|c| self.gpu.median_ns / c.median_ns)
    }
}

/// Prints rows as a table or JSON.
pub fn report(engine: &Engine, opts: &BenchOpts, rows: &[Row]) {
    if opts.json {
        #[derive(Serialize)]
        struct Out {
            adapter: String,
            rows: Vec<serde_json::Value>,
        }
        let rows = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("serialisable row");
                v["gpu_gbs"] = r.gpu_gbs().into();
                v["gpu_over_cpu"] = r.ratio().into();
                v
            })
            .collect();
        let out = Out {
            adapter: engine.describe(),
            rows,
        };
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return;
    }
    println!("adapter: {}", engine.describe());
    println!(
        "{:<12} {:<22} {:>12} {:>12} {:>9} {:>5} {:>12} {:>9}  extra",
        "bench", "shape", "gpu med µs", "gpu min µs", "GB/s", "disp", "cpu med µs", "gpu/cpu"
    );
    for r in rows {
        let extra: Vec<String> = r.extra.iter().map(|(k, v)| format!("{k}={v:.3}")).collect();
        println!(
            "{:<12} {:<22} {:>12.1} {:>12.1} {:>9.2} {:>5} {:>12} {:>9}  {}",
            r.name,
            r.shape,
            r.gpu.median_ns / 1e3,
            r.gpu.min_ns / 1e3,
            r.gpu_gbs(),
            r.dispatches,
            r.cpu
                .map(|c| format!("{:.1}", c.median_ns / 1e3))
                .unwrap_or_else(|| "-".into()),
            r.ratio()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
            extra.join(" ")
        );
    }
    println!(
        "clock: {}",
        rows.first().map(|r| r.gpu.clock).unwrap_or("-")
    );
}

/// `ptycho bench cmul`.
#[derive(Clone, Debug)]
pub struct CmulBench {
    /// Frame side (frames are n×n complex).
    pub n: usize,
    /// Frames in the batch.
    pub batch: usize,
}

pub(crate) fn test_signal(len: usize, seed: u32) -> Vec<Complex32> {
    (0..len)
        .map(|i| {
            let t = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) as f32 / u32::MAX as f32;
            Complex32::new(t - 0.5, 0.25 - t * 0.5)
        })
        .collect()
}

/// Benchmarks the probe-multiply kernel against a single-threaded CPU loop.
pub fn cmul(engine: &Engine, opts: &BenchOpts, a: &CmulBench) -> Result<()> {
    let frame = a.n * a.n;
    let av = test_signal(frame * a.batch, 1);
    let bv = test_signal(frame, 2);
    let ga = engine.upload("bench.a", &av)?;
    let gb = engine.upload("bench.b", &bv)?;
    let go = engine.alloc::<Complex32>("bench.out", av.len())?;
    let op = Cmul::new(engine)?;
    let mut dispatches = 0;
    let gpu = time_gpu::<GpuError>(engine, opts, |rec| {
        op.record(engine, rec, &ga, &gb, &go, frame, false)?;
        dispatches = rec.dispatch_count();
        Ok(())
    })?;
    let mut out = vec![Complex32::default(); av.len()];
    let cpu = time_cpu(opts, || {
        for (k, (o, x)) in out.iter_mut().zip(&av).enumerate() {
            *o = x * bv[k % frame];
        }
        std::hint::black_box(&out);
    });
    let bytes = (2 * av.len() + bv.len()) as f64 * 8.0;
    let row = Row {
        name: "cmul".into(),
        shape: format!("{}×{}² broadcast", a.batch, a.n),
        gpu,
        cpu: Some(cpu),
        bytes,
        dispatches,
        extra: vec![("cpu_GB/s".into(), bytes / cpu.median_ns)],
    };
    report(engine, opts, &[row]);
    Ok(())
}

/// `ptycho bench reduce`.
#[derive(Clone, Debug)]
pub struct ReduceBench {
    /// Values per segment.
    pub len: usize,
    /// Segments.
    pub segments: usize,
}

/// Benchmarks the deterministic segmented sum against a single-threaded CPU sum.
pub fn reduce(engine: &Engine, opts: &BenchOpts, a: &ReduceBench) -> Result<()> {
    let x: Vec<f32> = test_signal(a.len * a.segments, 3)
        .iter()
        .map(|c| c.re)
        .collect();
    let gx = engine.upload("bench.x", &x)?;
    let op = ReduceSum::new(engine)?;
    let scratch = op.scratch(engine, a.len, a.segments)?;
    let mut dispatches = 0;
    let gpu = time_gpu::<GpuError>(engine, opts, |rec| {
        op.record(engine, rec, &gx, a.len, &scratch)?;
        dispatches = rec.dispatch_count();
        Ok(())
    })?;
    let cpu = time_cpu(opts, || {
        std::hint::black_box(
            x.chunks(a.len)
                .map(|s| s.iter().sum::<f32>())
                .collect::<Vec<_>>(),
        );
    });
    let bytes = x.len() as f64 * 4.0;
    let row = Row {
        name: "reduce_sum".into(),
        shape: format!("{}×{}", a.segments, a.len),
        gpu,
        cpu: Some(cpu),
        bytes,
        dispatches,
        extra: vec![("cpu_GB/s".into(), bytes / cpu.median_ns)],
    };
    report(engine, opts, &[row]);
    Ok(())
}
