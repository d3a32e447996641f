//! Command-line flags that set configuration fields, and `ptycho config show|template`.
//!
//! Every flag here is `Option`al so that "not given" is distinguishable from "given the default
//! value": only explicit flags override the config file (see [`crate::config`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::{self, AmpActivation, ConfigError, LogLevel, Monitor, Resolved, Scheduler};
use crate::gpu::Accelerator;

/// Configuration flags shared by `train`, `config show` (and, by subset, `infer`).
#[derive(Clone, Debug, Default, Args)]
pub struct ConfigFlags {
    /// TOML configuration file (see `ptycho config template`); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Patch size N (power of two, 16..=1024).
    #[arg(long)]
    pub n: Option<usize>,
    /// Grid size: 1 or 2 (groups of 4 neighbouring patterns).
    #[arg(long)]
    pub gridsize: Option<u32>,
    /// Groups to train on (0 = one per pattern).
    #[arg(long)]
    pub n_groups: Option<usize>,
    /// K nearest neighbours a group is drawn from (gridsize 2).
    #[arg(long)]
    pub neighbor_count: Option<usize>,
    /// Photons per pattern (sets the intensity scale).
    #[arg(long)]
    pub nphotons: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Probe normalisation scale.
    #[arg(long)]
    pub probe_scale: Option<f64>,
    /// Amplitude head activation.
    #[arg(long, value_enum)]
    pub amp_activation: Option<AmpActivation>,
    /// Training epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Groups per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Weight of the Poisson NLL.
    #[arg(long)]
    pub nll_weight: Option<f64>,
    /// Weight of the amplitude MAE.
    #[arg(long)]
    pub mae_weight: Option<f64>,
    /// Fraction of groups held out for validation.
    #[arg(long)]
    pub validation_split: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub scheduler: Option<Scheduler>,
    /// Linear warm-up epochs.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Plateau schedule: factor applied to the learning rate.
    #[arg(long)]
    pub plateau_factor: Option<f64>,
    /// Plateau schedule: epochs without improvement before reducing.
    #[arg(long)]
    pub plateau_patience: Option<usize>,
    /// Lower bound of the learning rate.
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Epochs without improvement before stopping (0 = never).
    #[arg(long)]
    pub early_stop_patience: Option<usize>,
    /// Loss watched by early stopping and the plateau schedule.
    #[arg(long, value_enum)]
    pub early_stop_monitor: Option<Monitor>,
    /// Epochs between checkpoints.
    #[arg(long, conflicts_with = "no_checkpoint")]
    pub checkpoint_every: Option<usize>,
    /// Keep a `best` checkpoint besides `last` (`--keep-best false` to turn off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", conflicts_with = "no_checkpoint")]
    pub keep_best: Option<bool>,
    /// Write no checkpoints.
    #[arg(long)]
    pub no_checkpoint: bool,
    /// Batches whose gradients are summed before one optimiser step.
    #[arg(long)]
    pub accumulate_grad_batches: Option<usize>,
    /// Central pixels of each patch used in stitching.
    #[arg(long)]
    pub stitch_crop: Option<usize>,
    /// Object pixel size in metres (Ptychodus product).
    #[arg(long)]
    pub pixel_size_m: Option<f64>,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub exec: ExecFlags,
}

/// Execution flags (device and runtime knobs), shared by every command that trains or infers.
#[derive(Clone, Debug, Default, Args)]
pub struct ExecFlags {
    /// Bit-reproducible run (the default).
    #[arg(long, conflicts_with = "no_deterministic")]
    pub deterministic: bool,
    /// Allow non-deterministic kernels.
    #[arg(long)]
    pub no_deterministic: bool,
    /// CPU threads for loading and grouping (0 = on the main thread).
    #[arg(long)]
    pub num_workers: Option<usize>,
    /// Learning-rate override.
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Inference batch-size override.
    #[arg(long)]
    pub inference_batch_size: Option<usize>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Log verbosity.
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
}

fn push<T: serde::Serialize>(out: &mut Vec<(&'static str, toml::Value)>, flag: &str, v: Option<T>) {
    if let Some(v) = v {
        let key =
            config::flag_key(flag).unwrap_or_else(|| panic!("{flag} missing from config::FLAGS"));
        out.push((
            key,
            toml::Value::try_from(v).expect("flag value serialises"),
        ));
    }
}

impl ExecFlags {
    /// `(dotted key, value)` for each explicit execution flag.
    pub fn overrides(&self, accelerator: Option<Accelerator>) -> Vec<(&'static str, toml::Value)> {
        let mut o = Vec::new();
        push(&mut o, "--accelerator", accelerator);
        push(
            &mut o,
            "--deterministic",
            self.deterministic.then_some(true),
        );
        push(
            &mut o,
            "--no-deterministic",
            self.no_deterministic.then_some(false),
        );
        push(&mut o, "--num-workers", self.num_workers);
        push(&mut o, "--learning-rate", self.learning_rate);
        push(&mut o, "--inference-batch-size", self.inference_batch_size);
        push(&mut o, "--quiet", self.quiet.then_some(true));
        push(&mut o, "--log-level", self.log_level);
        o
    }
}

impl ConfigFlags {
    /// `(dotted key, value)` for each explicit flag.
    pub fn overrides(&self, accelerator: Option<Accelerator>) -> Vec<(&'static str, toml::Value)> {
        let mut o = Vec::new();
        push(&mut o, "--n", self.n);
        push(&mut o, "--gridsize", self.gridsize);
        push(&mut o, "--n-groups", self.n_groups);
        push(&mut o, "--neighbor-count", self.neighbor_count);
        push(&mut o, "--nphotons", self.nphotons);
        push(&mut o, "--seed", self.seed);
        push(&mut o, "--probe-scale", self.probe_scale);
        push(&mut o, "--amp-activation", self.amp_activation);
        push(&mut o, "--epochs", self.epochs);
        push(&mut o, "--batch-size", self.batch_size);
        push(&mut o, "--nll-weight", self.nll_weight);
        push(&mut o, "--mae-weight", self.mae_weight);
        push(&mut o, "--validation-split", self.validation_split);
        push(&mut o, "--scheduler", self.scheduler);
        push(&mut o, "--warmup-epochs", self.warmup_epochs);
        push(&mut o, "--plateau-factor", self.plateau_factor);
        push(&mut o, "--plateau-patience", self.plateau_patience);
        push(&mut o, "--min-lr", self.min_lr);
        push(&mut o, "--early-stop-patience", self.early_stop_patience);
        push(&mut o, "--early-stop-monitor", self.early_stop_monitor);
        push(&mut o, "--checkpoint-every", self.checkpoint_every);
        push(&mut o, "--keep-best", self.keep_best);
        push(
            &mut o,
            "--no-checkpoint",
            self.no_checkpoint.then_some(false),
        );
        push(
            &mut o,
            "--accumulate-grad-batches",
            self.accumulate_grad_batches,
        );
        push(&mut o, "--stitch-crop", self.stitch_crop);
        push(&mut o, "--pixel-size-m", self.pixel_size_m);
        o.extend(self.exec.overrides(accelerator));
        o
    }

    /// Resolves defaults < `--config` file < these flags.
    pub fn resolve(&self, accelerator: Option<Accelerator>) -> Result<Resolved, ConfigError> {
        config::resolve(self.config.as_deref(), &self.overrides(accelerator))
    }
}

/// `ptycho config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved configuration and where each value came from (default / file / flag).
    Show(ConfigFlags),
    /// Print a commented TOML file with every field at its default.
    Template,
}

/// Runs `ptycho config …`.
pub fn run(cmd: &ConfigCommand, accelerator: Option<Accelerator>) -> Result<(), ConfigError> {
    match cmd {
        ConfigCommand::Show(flags) => print!("{}", flags.resolve(accelerator)?.explain()),
        ConfigCommand::Template => print!("{}", config::template()),
    }
    Ok(())
}
