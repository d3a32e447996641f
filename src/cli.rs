//! Command-line interface (clap derive). `main.rs` parses [`Cli`] and calls [`run`].

use clap::{Args, Parser, Subcommand};

use crate::bench;
use crate::gpu::{self, Accelerator, Engine, EngineOptions};
use crate::util::text::{human_bytes, truncate};

/// ptycho — PtychoPINN ptychographic reconstruction on WGSL compute shaders.
#[derive(Debug, Parser)]
#[command(name = "ptycho", version, about, long_about = None)]
pub struct Cli {
    /// Compute backend: auto picks a Vulkan/Metal/DX12 adapter (GL only if none exists): a
    /// discrete GPU, then integrated, then any GPU, then the CPU fallback adapter; cpu forces wgpu's fallback adapter (lavapipe on Linux).
    /// [default: auto, or execution.accelerator from --config]
    #[arg(long, global = true, value_enum, env = "PTYCHO_ACCELERATOR")]
    pub accelerator: Option<Accelerator>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every GPU/CPU adapter with its key limits and mark the one `auto` picks.
    Devices(DevicesArgs),
    /// Shader-level benchmarks (GPU timestamps where available; CPU peer in the same run).
    Bench(BenchArgs),
    /// Show the resolved configuration or print a template.
    #[command(subcommand)]
    Config(crate::cli_config::ConfigCommand),
    /// Compare a reconstruction with the ground truth: registration, MAE, MSE, PSNR, SSIM, FRC.
    Evaluate(EvaluateArgs),
    /// Simulate a PtychoPINN dataset (synthetic object or one from a file) on the GPU.
    Simulate(crate::simulate::cli::SimulateArgs),
    /// Stitch complex patches at their scan positions into one object.
    Stitch(StitchArgs),
    /// Train the PtychoPINN network on diffraction data (unsupervised, physics in the loss).
    Train(crate::cli_run::TrainArgs),
    /// Reconstruct an object from diffraction data with a trained model.
    Infer(crate::cli_run::InferArgs),
    /// The whole pipeline on a small built-in lines dataset: simulate → train → infer → evaluate.
    Demo(crate::cli_run::DemoArgs),
}

/// `ptycho stitch`.
#[derive(Debug, Args)]
pub struct StitchArgs {
    /// NPZ with the patches and `xcoords`, `ycoords`.
    #[arg(long, value_name = "NPZ")]
    pub input: std::path::PathBuf,
    /// Output NPZ (`object`, `amplitude`, `phase`, `origin_xy`, positions).
    #[arg(long, value_name = "NPZ")]
    pub output: std::path::PathBuf,
    /// Key of the (M, N, N) complex patches.
    #[arg(long, default_value = "ground_truth_patches")]
    pub key: String,
    /// Central pixels of each patch used.
    #[arg(long, default_value_t = 20)]
    pub crop: usize,
    /// Also write amplitude.tiff and phase.tiff (single-channel float32) next to the output.
    #[arg(long)]
    pub tiff: bool,
}

/// `ptycho evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Reconstruction NPZ written by `ptycho infer` (keys `object`, `origin_xy`).
    #[arg(long, value_name = "NPZ")]
    pub reconstruction: std::path::PathBuf,
    /// NPZ holding the ground-truth object `objectGuess` (e.g. the simulated test file).
    #[arg(long, value_name = "NPZ")]
    pub ground_truth: std::path::PathBuf,
    /// Where to write metrics.json (frc.png goes next to it) [default: next to the reconstruction].
    #[arg(long, value_name = "JSON")]
    pub output: Option<std::path::PathBuf>,
    /// Pixels trimmed from each side before registration and metrics.
    #[arg(long, default_value_t = 4)]
    pub trim: usize,
}

/// `ptycho devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `ptycho bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub which: BenchKind,
    /// Options shared by every benchmark.
    #[command(flatten)]
    pub opts: bench::BenchOpts,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// Complex multiply of a batch of frames by one broadcast frame (the probe multiply).
    Cmul(bench::CmulArgs),
    /// Deterministic segmented sum.
    Reduce(bench::ReduceArgs),
    /// Batched 2-D FFT against rustfft (one thread and all cores).
    Fft(bench::fft::FftArgs),
    /// A full training step (network + physics + Adam) and inference, patterns/s, kernel split.
    Train(bench::train::TrainBenchArgs),
    /// The physics of a step: probe multiply, far field, loss and backward, frames/s.
    Forward(bench::forward::ForwardArgs),
    /// The network's 3×3 convs per layer shape: forward, input and weight gradients (GFLOP/s).
    Conv(bench::nn::ConvArgs),
    /// The whole network: forward and training patterns/s, CPU twin, per-kernel breakdown.
    Network(bench::nn::NetworkArgs),
    /// Reconstruction quality of a full simulate → train → infer → evaluate run at
    /// PtychoPINN's scale (amplitude/phase SSIM, FRC), for a given training budget.
    Quality(bench::quality::QualityArgs),
}

/// Opens the engine for `accel`, printing which adapter was chosen to stderr.
pub fn open_engine(accel: Accelerator) -> Result<Engine, gpu::GpuError> {
    Engine::new(&EngineOptions::from_env(accel)?)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices(a) => devices(cli.accelerator.unwrap_or_default(), &a),
        Command::Config(c) => Ok(crate::cli_config::run(&c, cli.accelerator)?),
        Command::Simulate(a) => {
            let engine = open_engine(cli.accelerator.unwrap_or_default())?;
            eprintln!("ptycho: using {}", engine.describe());
            for p in crate::simulate::cli::run(&engine, &a)? {
                println!("wrote {}", p.display());
            }
            Ok(())
        }
        Command::Train(a) => crate::cli_run::run_train(&a, cli.accelerator),
        Command::Infer(a) => crate::cli_run::run_infer(&a, cli.accelerator),
        Command::Demo(a) => crate::cli_run::run_demo(&a, cli.accelerator),
        Command::Stitch(a) => {
            let (patches, n, xs, ys) = crate::data::npz::read_patches(&a.input, &a.key)?;
            if a.crop == 0 || a.crop > n {
                anyhow::bail!("--crop {}: must be in 1..={n} (the patch size)", a.crop);
            }
            let s = crate::stitch::stitch(&patches, n, &xs, &ys, a.crop);
            crate::data::npz::write_reconstruction(&a.output, &s, &xs, &ys)?;
            if a.tiff {
                let dir = match a.output.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => std::path::Path::new("."),
                };
                for p in crate::data::tiff::write_amplitude_phase(dir, &s)? {
                    println!("wrote {}", p.display());
                }
            }
            println!(
                "wrote {} ({}×{} px, origin x {:.2}, y {:.2})",
                a.output.display(),
                s.w,
                s.h,
                s.origin_xy[0],
                s.origin_xy[1]
            );
            Ok(())
        }
        Command::Evaluate(a) => {
            let output = a
                .output
                .clone()
                .unwrap_or_else(|| a.reconstruction.with_file_name("metrics.json"));
            let m = crate::eval::files::evaluate_files(&crate::eval::files::EvalFiles {
                reconstruction: a.reconstruction.clone(),
                ground_truth: a.ground_truth.clone(),
                output: output.clone(),
                trim: a.trim,
            })?;
            println!("{}", crate::eval::files::table(&m));
            println!(
                "wrote {} and {}",
                output.display(),
                output.with_file_name("frc.png").display()
            );
            Ok(())
        }
        Command::Bench(b) => {
            let engine = open_engine(cli.accelerator.unwrap_or_default())?;
            eprintln!("ptycho: using {}", engine.describe());
            match &b.which {
                BenchKind::Cmul(a) => bench::cmul(&engine, &b.opts, a)?,
                BenchKind::Reduce(a) => bench::reduce(&engine, &b.opts, a)?,
                BenchKind::Fft(a) => bench::fft::run(&engine, &b.opts, a)?,
                BenchKind::Train(a) => bench::train::run(&engine, &b.opts, a)?,
                BenchKind::Forward(a) => bench::forward::run(&engine, &b.opts, a)?,
                BenchKind::Conv(a) => bench::nn::conv(&engine, &b.opts, a)?,
                BenchKind::Network(a) => bench::nn::network(&engine, &b.opts, a)?,
                BenchKind::Quality(a) => bench::quality::run(&engine, &b.opts, a, cli.accelerator)?,
            }
            Ok(())
        }
    }
}

fn devices(accel: Accelerator, args: &DevicesArgs) -> anyhow::Result<()> {
    if accel != Accelerator::Auto {
        // An explicit choice must exist; fail before listing anything.
        open_engine(accel)?;
    }
    let list = gpu::list_adapters();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!(
            "no adapters found; {}",
            "install a Vulkan driver: on Debian/Ubuntu `apt-get install -y mesa-vulkan-drivers libvulkan1`"
        );
    } else {
        println!(
            "{:<2} {:<34} {:<7} {:<13} {:>8} {:>6} {:>10} {:>12} {:>5}  driver",
            "", "adapter", "backend", "type", "wg-mem", "inv", "binding", "max-buffer", "ts"
        );
        for a in &list {
            println!(
                "{:<2} {:<34} {:<7} {:<13} {:>8} {:>6} {:>10} {:>12} {:>5}  {}",
                if a.auto_pick { "*" } else { "" },
                truncate(&a.name, 34),
                a.backend,
                a.device_type,
                human_bytes(a.max_workgroup_storage_bytes as u64),
                a.max_invocations_per_workgroup,
                human_bytes(a.max_storage_binding_bytes),
                human_bytes(a.max_buffer_bytes),
                if a.timestamp_query { "yes" } else { "no" },
                a.driver
            );
        }
        println!("* = adapter `--accelerator auto` picks");
    }
    Ok(())
}
