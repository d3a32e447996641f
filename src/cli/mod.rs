//! Command-line interface (clap derive): `main.rs` parses [`Cli`] and calls [`run`]. Each
//! command has its file; each turns its flags into a workflow's typed spec (or configuration
//! overrides), opens the engine the configuration asks for, and prints the result. Nothing
//! below the CLI knows clap.

pub mod batch;
pub mod bench;
pub mod config;
pub mod demo;
pub mod devices;
pub mod evaluate;
pub mod flags;
pub mod infer;
pub mod inspect;
pub mod selftest;
pub mod simulate;
pub mod stitch;
pub mod train;

use clap::{Parser, Subcommand};

use crate::config::{ExecutionConfig, resolve};
use crate::gpu::{Accelerator, Engine};
use crate::workflow::{self, Result};
use flags::Overrides;

/// ptycho — PtychoPINN ptychographic reconstruction on WGSL compute shaders.
#[derive(Debug, Parser)]
#[command(name = "ptycho", version, about, long_about = None)]
pub struct Cli {
    /// Compute backend: auto picks a Vulkan/Metal/DX12 adapter (GL only if none exists): a
    /// discrete GPU, then integrated, then any GPU, then the CPU fallback adapter; cpu forces wgpu's fallback adapter (lavapipe on Linux).
    /// [env: PTYCHO_ACCELERATOR] [default: auto, or execution.accelerator from --config]
    #[arg(long, global = true, value_parser = flags::accelerator_parser())]
    pub accelerator: Option<Accelerator>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every GPU/CPU adapter with its key limits and mark the one `auto` picks.
    Devices(devices::DevicesArgs),
    /// Shader-level benchmarks (GPU timestamps where available; CPU peer in the same run).
    Bench(bench::BenchArgs),
    /// Show the resolved configuration or print a template.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Compare a reconstruction with the ground truth: registration, MAE, MSE, PSNR, SSIM, FRC.
    Evaluate(evaluate::EvaluateArgs),
    /// What a data file holds (arrays, patterns as counts/intensities/amplitudes and where
    /// their zero frequency is, positions against the probe size) and the flags that read it.
    Inspect(inspect::InspectArgs),
    /// Simulate a PtychoPINN dataset (synthetic object or one from a file) on the GPU.
    Simulate(simulate::SimulateArgs),
    /// Stitch complex patches at their scan positions into one object.
    Stitch(stitch::StitchArgs),
    /// Train the PtychoPINN network on diffraction data (unsupervised, physics in the loss).
    Train(train::TrainArgs),
    /// Reconstruct an object from diffraction data with a trained model.
    Infer(infer::InferArgs),
    /// The whole pipeline on a small built-in lines dataset: simulate → train → infer → evaluate.
    Demo(demo::DemoArgs),
    /// Ptychodus's batch mode: reconstruct or train on its batch folders (`ptycho batch
    /// reconstruct -i IN -o OUT`, or as Ptychodus spells it, `ptycho -b reconstruct -i IN -o OUT`).
    Batch(batch::BatchArgs),
    /// Every kernel, in every layout the adapter can run, against its CPU twin, then two
    /// training steps against the twin of the whole step: run it on a new driver before
    /// trusting a reconstruction.
    Selftest(selftest::SelftestArgs),
}

/// Ptychodus's batch syntax, `ptycho -b ACTION …` / `ptycho --batch ACTION …`, as `ptycho batch
/// ACTION …`, so that a workflow written for `ptychodus -b reconstruct -i IN -o OUT` runs ptycho
/// with only the program name changed. Every other command line is returned as it is.
pub fn ptychodus_argv(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = args.into_iter().collect();
    // Where the subcommand would be: after the program name and the global --accelerator.
    let k = match v.get(1).map(|a| a.to_string_lossy().into_owned()) {
        Some(a) if a == "--accelerator" => 3,
        Some(a) if a.starts_with("--accelerator=") => 2,
        _ => 1,
    };
    if v.get(k).is_some_and(|a| a == "-b" || a == "--batch") {
        v[k] = "batch".into();
    }
    v
}

impl Cli {
    /// The global flags as configuration overrides (`--accelerator`).
    pub fn global_overrides(&self) -> Overrides {
        self.accelerator
            .map(|a| {
                vec![(
                    "execution.accelerator",
                    toml::Value::String(a.as_str().into()),
                )]
            })
            .unwrap_or_default()
    }
}

/// The execution settings of a command that reads no configuration file: defaults <
/// environment < the global flags.
pub fn execution(global: &Overrides) -> Result<ExecutionConfig> {
    Ok(resolve(None, global)?.config.execution)
}

/// Opens the engine `exec` asks for and says on stderr which adapter it is.
pub fn open_engine(exec: &ExecutionConfig) -> Result<Engine> {
    let engine = workflow::open_engine(exec)?;
    let comm = crate::dist::world();
    if comm.is_parallel() {
        eprintln!(
            "ptycho: rank {} of {} (local rank {}) using {}",
            comm.rank(),
            comm.size(),
            comm.local_rank(),
            engine.describe()
        );
    } else {
        eprintln!("ptycho: using {}", engine.describe());
    }
    Ok(engine)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let global = cli.global_overrides();
    let comm = crate::dist::world();
    let over_ranks = match &cli.command {
        Command::Train(_) | Command::Infer(_) => true,
        Command::Bench(b) => b.is_train(),
        _ => false,
    };
    if comm.is_parallel() && !over_ranks {
        return Err(crate::workflow::WorkflowError::Ranks(format!(
            "started as {} MPI ranks: only `ptycho train`, `ptycho infer` and `ptycho bench train` run over several ranks; run this command once, without mpirun",
            comm.size()
        )));
    }
    match cli.command {
        Command::Devices(a) => devices::run(&a, &global),
        Command::Config(c) => config::run(&c, &global),
        Command::Simulate(a) => simulate::run(a, &global),
        Command::Train(a) => train::run(&a, &global),
        Command::Infer(a) => infer::run(&a, &global),
        Command::Demo(a) => demo::run(&a, &global),
        Command::Stitch(a) => stitch::run(a),
        Command::Evaluate(a) => evaluate::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Batch(a) => batch::run(&a, &global),
        Command::Bench(b) => bench::run(b, &global),
        Command::Selftest(a) => selftest::run(&a, &global),
    }
}
