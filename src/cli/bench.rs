//! `ptycho bench <name>`: flags → the benchmarks' specs (crate::workflow::bench).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::demo::PipelineFlags;
use super::flags::Overrides;
use crate::workflow::Result;
use crate::workflow::bench;
use crate::workflow::pipeline::DEMO;

/// `ptycho bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub which: BenchKind,
    /// Options shared by every benchmark.
    #[command(flatten)]
    pub opts: BenchOptsArgs,
}

impl BenchArgs {
    /// Whether this is `bench train` (the one benchmark that runs over MPI ranks).
    pub fn is_train(&self) -> bool {
        matches!(self.which, BenchKind::Train(_))
    }
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// Complex multiply of a batch of frames by one broadcast frame (the probe multiply).
    Cmul(CmulArgs),
    /// Deterministic segmented sum.
    Reduce(ReduceArgs),
    /// Batched 2-D FFT against rustfft (one thread and all cores).
    Fft(FftArgs),
    /// A full training step (network + physics + Adam) and inference, patterns/s, kernel split.
    Train(TrainBenchArgs),
    /// The physics of a step: probe multiply, far field, loss and backward, frames/s.
    Forward(ForwardArgs),
    /// The network's 3×3 convs per layer shape: forward, input and weight gradients (GFLOP/s).
    Conv(ConvArgs),
    /// The whole network: forward and training patterns/s, CPU twin, per-kernel breakdown.
    Network(NetworkArgs),
    /// Reconstruction quality of a full simulate → train → infer → evaluate run at
    /// PtychoPINN's scale (amplitude/phase SSIM, FRC), for a given training budget.
    Quality(QualityArgs),
}

/// Runs `ptycho bench <name>` on the engine the execution settings ask for.
pub fn run(b: BenchArgs, global: &Overrides) -> Result<()> {
    let engine = super::open_engine(&super::execution(global)?)?;
    let opts = bench::BenchOpts::from(b.opts);
    match b.which {
        BenchKind::Cmul(a) => bench::cmul(&engine, &opts, &a.into()),
        BenchKind::Reduce(a) => bench::reduce(&engine, &opts, &a.into()),
        BenchKind::Fft(a) => bench::fft::run(&engine, &opts, &a.into()),
        BenchKind::Train(a) => bench::train::run(&engine, &opts, &a.into()),
        BenchKind::Forward(a) => bench::forward::run(&engine, &opts, &a.into()),
        BenchKind::Conv(a) => bench::nn::conv(&engine, &opts, &a.into()),
        BenchKind::Network(a) => bench::nn::network(&engine, &opts, &a.into()),
        BenchKind::Quality(a) => bench::quality::run(&engine, &opts, &a.into(), global),
    }
}

/// Options shared by every benchmark.
#[derive(Clone, Debug, Args)]
pub struct BenchOptsArgs {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Untimed runs before measuring.
    #[arg(long, global = true, default_value_t = 2)]
    pub warmup: usize,
    /// Timed runs (median and minimum are reported).
    #[arg(long, global = true, default_value_t = 10)]
    pub repeats: usize,
}

/// `ptycho bench cmul`.
#[derive(Clone, Debug, Args)]
pub struct CmulArgs {
    /// Frame side (frames are n×n complex).
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Frames in the batch.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// `ptycho bench reduce`.
#[derive(Clone, Debug, Args)]
pub struct ReduceArgs {
    /// Values per segment.
    #[arg(long, default_value_t = 1 << 20)]
    pub len: usize,
    /// Segments.
    #[arg(long, default_value_t = 4)]
    pub segments: usize,
}

/// `ptycho bench fft`.
#[derive(Clone, Debug, Args)]
pub struct FftArgs {
    /// Frame sides (square frames), comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![64usize, 128, 256])]
    pub n: Vec<usize>,
    /// Frames per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// The adapter's memory bandwidth in GB/s, to report the fraction of the roofline reached.
    #[arg(long)]
    pub bandwidth_gbs: Option<f64>,
    /// Force the global-memory multi-pass path.
    #[arg(long)]
    pub global: bool,
    /// Largest radix (4 or 8).
    #[arg(long, default_value_t = 8)]
    pub radix: u32,
    /// Target invocations per workgroup of the workgroup-memory path (tuning sweep).
    #[arg(long, default_value_t = 64)]
    pub threads: u32,
}

/// `ptycho bench forward`.
#[derive(Clone, Debug, Args)]
pub struct ForwardArgs {
    /// Patch size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Frames per batch (a multiple of 4 with gridsize 2).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// 1: probe, far field and loss; 2: also the merge and re-extraction of groups of 4 with
    /// fractional offsets of up to 6 px.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub gridsize: u32,
    /// The adapter's memory bandwidth in GB/s, to report the fraction of the roofline reached.
    #[arg(long)]
    pub bandwidth_gbs: Option<f64>,
}

/// `ptycho bench conv`.
#[derive(Clone, Debug, Args)]
pub struct ConvArgs {
    /// Patch size N of the network whose layer shapes are measured.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Channels C (gridsize²).
    #[arg(long, default_value_t = 1)]
    pub c: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`; PtychoPINN's default 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub n_filters_scale: u32,
    /// Conv layouts to measure: `both` (every layout the adapter can run, in one run),
    /// `tiled`, `subgroup` or `auto`.
    #[arg(long, default_value = "both")]
    pub layout: String,
    /// The adapter's FP32 peak in GFLOP/s, to report the fraction of it each pass reaches.
    #[arg(long)]
    pub peak_gflops: Option<f64>,
}

/// `ptycho bench network`.
#[derive(Clone, Debug, Args)]
pub struct NetworkArgs {
    /// Patch size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Grid size g (C = g² channels).
    #[arg(long, default_value_t = 1)]
    pub gridsize: usize,
    /// Patterns per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`; PtychoPINN's default 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub n_filters_scale: u32,
    /// Patterns the CPU twin runs per timing (it is slow).
    #[arg(long, default_value_t = 1)]
    pub cpu_batch: usize,
    /// Conv layouts to measure: `both` (every layout the adapter can run, in one run),
    /// `tiled`, `subgroup` or `auto`.
    #[arg(long, default_value = "both")]
    pub layout: String,
}

/// `ptycho bench train`.
#[derive(Clone, Debug, Args)]
pub struct TrainBenchArgs {
    /// Patch size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Grid size (1 or 2).
    #[arg(long, default_value_t = 1)]
    pub gridsize: u32,
    /// Groups per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Network width multiplier (`model.n_filters_scale`; PtychoPINN's default 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub n_filters_scale: u32,
    /// Conv layouts to measure: `both` (every layout the adapter can run, steps interleaved),
    /// `tiled`, `subgroup` or `auto`.
    #[arg(long, default_value = "both")]
    pub layout: String,
}

/// `ptycho bench quality`.
#[derive(Clone, Debug, Args)]
pub struct QualityArgs {
    /// Grid size (1 or 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub gridsize: u32,
    /// Training epochs (the budget; early stopping is off).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Training patterns.
    #[arg(long, default_value_t = 2048)]
    pub n_images: usize,
    /// Side of the train and test objects.
    #[arg(long, default_value_t = 392)]
    pub object_size: usize,
    /// Grid step of the test scan in pixels.
    #[arg(long, default_value_t = DEMO.test_step)]
    pub test_step: f64,
    /// Training batch (groups).
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Network width multiplier (`model.n_filters_scale`; PtychoPINN's default 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub n_filters_scale: u32,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub physics: PipelineFlags,
    /// Where the data, run and reconstruction go (replaced if it holds an earlier run of this
    /// benchmark).
    #[arg(long, value_name = "DIR", default_value = "ptycho-quality")]
    pub output_dir: PathBuf,
}

/// `impl From<$args> for $spec`, copying the fields that have the same name in both.
macro_rules! spec_from {
    ($args:ident => $spec:path { $($field:ident),* $(,)? }) => {
        impl From<$args> for $spec {
            fn from(a: $args) -> Self {
                $spec { $($field: a.$field,)* }
            }
        }
    };
}

spec_from!(BenchOptsArgs => bench::BenchOpts { json, warmup, repeats });
spec_from!(CmulArgs => bench::CmulBench { n, batch });
spec_from!(ReduceArgs => bench::ReduceBench { len, segments });
spec_from!(FftArgs => bench::fft::FftBench { n, batch, bandwidth_gbs, global, radix, threads });
spec_from!(ForwardArgs => bench::forward::ForwardBench { n, batch, gridsize, bandwidth_gbs });
spec_from!(ConvArgs => bench::nn::ConvBench { n, c, batch, n_filters_scale, layout, peak_gflops });
spec_from!(NetworkArgs => bench::nn::NetworkBench { n, gridsize, batch, n_filters_scale, cpu_batch, layout });
spec_from!(TrainBenchArgs => bench::train::TrainBench { n, gridsize, batch, n_filters_scale, layout });
impl From<QualityArgs> for bench::quality::QualityBench {
    fn from(a: QualityArgs) -> Self {
        bench::quality::QualityBench {
            gridsize: a.gridsize,
            epochs: a.epochs,
            n_images: a.n_images,
            object_size: a.object_size,
            test_step: a.test_step,
            batch_size: a.batch_size,
            n_filters_scale: a.n_filters_scale,
            probe_defocus: a.physics.probe_defocus,
            nll_weight: a.physics.nll_weight,
            mae_weight: a.physics.mae_weight,
            output_dir: a.output_dir,
        }
    }
}
