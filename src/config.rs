//! Configuration: typed sections, a TOML file format, and the precedence rules
//! **explicit CLI flag > `--config file.toml` > built-in default**, resolved once, before any
//! data is grouped or any model is built.
//!
//! Resolution works on the TOML tree: the defaults are serialised to a table, the file's table is
//! merged over it (unknown keys are rejected with the nearest valid key), then each explicit flag
//! sets its key (see [`FLAGS`]). The source of every leaf is recorded for `ptycho config show`.
//! The execution section (device, workers, determinism, runtime overrides) is kept apart: no
//! execution setting ever changes a data or model field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::gpu::Accelerator;
use crate::util::text::one_line;

/// Errors in configuration files and values (exit code 2).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {message}")]
    Read {
        /// File path.
        path: String,
        /// OS message.
        message: String,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// File path (or `flags`).
        path: String,
        /// First line of the parser's message.
        message: String,
    },
    /// A key that no section has.
    #[error("{path}: unknown key '{key}'{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownKey {
        /// File path.
        path: String,
        /// The dotted key.
        key: String,
        /// The nearest valid key.
        suggestion: Option<String>,
    },
    /// A value outside its valid range.
    #[error("invalid {key} = {value}: {expected}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Data and physics settings (PtychoPINN's data configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Patch (diffraction pattern) size N in pixels: a power of two, 16..=1024.
    pub n: usize,
    /// Grid size g: 1 (single patterns) or 2 (groups of C = 4 neighbours).
    pub gridsize: u32,
    /// Number of groups to train on (0 = one per pattern).
    pub n_groups: usize,
    /// Nearest-neighbour count K from which a group's members are drawn (gridsize 2).
    pub neighbor_count: usize,
    /// Photons per pattern: sets the intensity scale s = sqrt(nphotons)/(N/2).
    pub nphotons: f64,
    /// Seed for grouping, splitting and initialisation.
    pub seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            n: 64,
            gridsize: 1,
            n_groups: 0,
            neighbor_count: 4,
            nphotons: 1e9,
            seed: 1,
        }
    }
}

/// Network and physics-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Width multiplier of the encoder/decoder: 1 = physics.md's widths ([32, 64, 128] at N = 64);
    /// 2 = every width doubled (PtychoPINN TF's 2,257,000-parameter layout; docs/findings.md F-10).
    pub n_filters_scale: u32,
    /// Amplitude head activation.
    pub amp_activation: AmpActivation,
    /// Merge a group's patches into one canvas and re-extract them in the loss path (gridsize 2).
    pub object_big: bool,
    /// Probe normalisation: P ← P / (probe_scale · mean |mask · P|).
    pub probe_scale: f64,
    /// Apply the circular probe mask (radius N/4) in the normalisation.
    pub probe_mask: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            n_filters_scale: 1,
            amp_activation: AmpActivation::Sigmoid,
            object_big: true,
            probe_scale: 4.0,
            probe_mask: true,
        }
    }
}

/// Amplitude head activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AmpActivation {
    /// Logistic sigmoid (PtychoPINN default).
    Sigmoid,
    /// ReLU.
    Relu,
}

/// Learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    /// Fixed learning rate.
    Constant,
    /// Reduce on plateau of the monitored loss.
    Plateau,
    /// Multiply by `exp_gamma` every epoch.
    Exponential,
    /// Cosine decay to `min_lr` over the epochs.
    Cosine,
}

/// Which loss early stopping and plateau scheduling watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss.
    ValLoss,
    /// Training loss.
    TrainLoss,
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Passes over the training groups.
    pub epochs: usize,
    /// Groups per optimiser step (before accumulation).
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub epsilon: f64,
    /// Weight of the Poisson negative log-likelihood.
    pub nll_weight: f64,
    /// Weight of the amplitude MAE.
    pub mae_weight: f64,
    /// Fraction of groups held out for validation.
    pub validation_split: f64,
    /// Learning-rate schedule.
    pub scheduler: Scheduler,
    /// Epochs of linear warm-up from lr/10.
    pub warmup_epochs: usize,
    /// Plateau: factor applied to the learning rate.
    pub plateau_factor: f64,
    /// Plateau: epochs without improvement before reducing.
    pub plateau_patience: usize,
    /// Lower bound of the learning rate.
    pub min_lr: f64,
    /// Exponential schedule: factor per epoch.
    pub exp_gamma: f64,
    /// Epochs without improvement before stopping (0 = never).
    pub early_stop_patience: usize,
    /// Loss watched by early stopping and the plateau schedule.
    pub early_stop_monitor: Monitor,
    /// Write a checkpoint every this many epochs.
    pub checkpoint_every: usize,
    /// Keep a `best` checkpoint besides `last`.
    pub keep_best: bool,
    /// Write checkpoints at all.
    pub checkpoint: bool,
    /// Batches whose gradients are summed before one optimiser step.
    pub accumulate_grad_batches: usize,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 50,
            batch_size: 16,
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            nll_weight: 1.0,
            mae_weight: 0.0,
            validation_split: 0.05,
            scheduler: Scheduler::Plateau,
            warmup_epochs: 0,
            plateau_factor: 0.5,
            plateau_patience: 2,
            min_lr: 1e-4,
            exp_gamma: 0.95,
            early_stop_patience: 3,
            early_stop_monitor: Monitor::ValLoss,
            checkpoint_every: 1,
            keep_best: true,
            checkpoint: true,
            accumulate_grad_batches: 1,
        }
    }
}

/// Inference and stitching settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceConfig {
    /// Groups per inference batch (0 = the training batch size).
    pub batch_size: usize,
    /// Central pixels of each predicted patch used in stitching.
    pub stitch_crop: usize,
    /// Object pixel size in metres for the Ptychodus product.
    pub pixel_size_m: f64,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            batch_size: 0,
            stitch_crop: 20,
            pixel_size_m: 1.0,
        }
    }
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Progress lines.
    Info,
    /// Everything.
    Debug,
}

/// Device and runtime knobs. Never alter data or model fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Compute backend.
    pub accelerator: Accelerator,
    /// Bit-reproducible runs (fixed-order reductions, no float atomics).
    pub deterministic: bool,
    /// CPU threads for loading and grouping (0 = on the main thread).
    pub num_workers: usize,
    /// Overrides `training.learning_rate` (0 = no override).
    pub learning_rate: f64,
    /// Overrides `inference.batch_size` (0 = no override).
    pub inference_batch_size: usize,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
    /// Log verbosity.
    pub log_level: LogLevel,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            accelerator: Accelerator::Auto,
            deterministic: true,
            num_workers: 0,
            learning_rate: 0.0,
            inference_batch_size: 0,
            quiet: false,
            log_level: LogLevel::Info,
        }
    }
}

/// The whole configuration, as in the TOML file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[data]`
    pub data: DataConfig,
    /// `[model]`
    pub model: ModelConfig,
    /// `[training]`
    pub training: TrainingConfig,
    /// `[inference]`
    pub inference: InferenceConfig,
    /// `[execution]`
    pub execution: ExecutionConfig,
}

impl Config {
    /// The learning rate in force (execution override, else training).
    pub fn learning_rate(&self) -> f64 {
        if self.execution.learning_rate > 0.0 {
            self.execution.learning_rate
        } else {
            self.training.learning_rate
        }
    }

    /// The inference batch size in force (execution override, else inference, else training).
    pub fn inference_batch_size(&self) -> usize {
        [
            self.execution.inference_batch_size,
            self.inference.batch_size,
            self.training.batch_size,
        ]
        .into_iter()
        .find(|&b| b > 0)
        .unwrap_or(1)
    }

    /// Checks every value; the first violation is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(
            key: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                value: value.to_string(),
                expected,
            })
        }
        let (d, m, t, i, e) = (
            &self.data,
            &self.model,
            &self.training,
            &self.inference,
            &self.execution,
        );
        if !(16..=1024).contains(&d.n) || !d.n.is_power_of_two() {
            return bad("data.n", d.n, "a power of two in 16..=1024");
        }
        if d.gridsize != 1 && d.gridsize != 2 {
            return bad("data.gridsize", d.gridsize, "gridsize must be 1 or 2");
        }
        if d.gridsize == 2 && d.neighbor_count < 4 {
            return bad(
                "data.neighbor_count",
                d.neighbor_count,
                "at least 4 (C = 4 members per group) when gridsize is 2",
            );
        }
        if d.gridsize == 2 && !m.object_big {
            return bad(
                "model.object_big",
                m.object_big,
                "true when gridsize is 2 (ptycho implements PtychoPINN's default object_big path; the single-patch variant is not implemented)",
            );
        }
        if !(d.nphotons > 0.0 && d.nphotons.is_finite()) {
            return bad(
                "data.nphotons",
                d.nphotons,
                "a positive, finite photon count",
            );
        }
        if !(1..=8).contains(&m.n_filters_scale) {
            return bad(
                "model.n_filters_scale",
                m.n_filters_scale,
                "an integer in 1..=8",
            );
        }
        if !(m.probe_scale > 0.0 && m.probe_scale.is_finite()) {
            return bad("model.probe_scale", m.probe_scale, "a positive number");
        }
        if t.epochs == 0 {
            return bad("training.epochs", t.epochs, "at least 1");
        }
        if t.batch_size == 0 {
            return bad("training.batch_size", t.batch_size, "at least 1");
        }
        if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
            return bad(
                "training.learning_rate",
                t.learning_rate,
                "learning rate must be > 0",
            );
        }
        if !(0.0..1.0).contains(&t.beta1) {
            return bad("training.beta1", t.beta1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&t.beta2) {
            return bad("training.beta2", t.beta2, "in [0, 1)");
        }
        if !(t.epsilon > 0.0) {
            return bad("training.epsilon", t.epsilon, "> 0");
        }
        if !(t.nll_weight >= 0.0 && t.mae_weight >= 0.0) || t.nll_weight + t.mae_weight <= 0.0 {
            return bad(
                "training.nll_weight",
                format!("{} (mae_weight {})", t.nll_weight, t.mae_weight),
                "non-negative weights, not both zero",
            );
        }
        if !(0.0..1.0).contains(&t.validation_split) {
            return bad("training.validation_split", t.validation_split, "in [0, 1)");
        }
        if !(t.plateau_factor > 0.0 && t.plateau_factor < 1.0) {
            return bad("training.plateau_factor", t.plateau_factor, "in (0, 1)");
        }
        if !(t.min_lr >= 0.0) {
            return bad("training.min_lr", t.min_lr, ">= 0");
        }
        if !(t.exp_gamma > 0.0 && t.exp_gamma <= 1.0) {
            return bad("training.exp_gamma", t.exp_gamma, "in (0, 1]");
        }
        if t.checkpoint_every == 0 {
            return bad(
                "training.checkpoint_every",
                t.checkpoint_every,
                "at least 1",
            );
        }
        if t.accumulate_grad_batches == 0 {
            return bad(
                "training.accumulate_grad_batches",
                t.accumulate_grad_batches,
                "accumulate must be >= 1",
            );
        }
        if i.stitch_crop == 0 || i.stitch_crop > d.n {
            return bad("inference.stitch_crop", i.stitch_crop, "in 1..=N");
        }
        if !(i.pixel_size_m > 0.0 && i.pixel_size_m.is_finite()) {
            return bad(
                "inference.pixel_size_m",
                i.pixel_size_m,
                "a positive length in metres",
            );
        }
        if !(e.learning_rate >= 0.0 && e.learning_rate.is_finite()) {
            return bad(
                "execution.learning_rate",
                e.learning_rate,
                "learning rate must be > 0 (0 = no override)",
            );
        }
        if e.num_workers > 256 {
            return bad("execution.num_workers", e.num_workers, "in 0..=256");
        }
        Ok(())
    }
}

/// Where a resolved value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Built-in default.
    Default,
    /// The `--config` file.
    File,
    /// An explicit command-line flag (or its environment variable).
    Flag,
}

/// A resolved configuration with the source of every value.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The configuration.
    pub config: Config,
    /// Dotted key → source.
    pub sources: BTreeMap<String, Source>,
}

/// One command-line flag that sets a config field.
#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    /// Long flag, e.g. `--batch-size`.
    pub flag: &'static str,
    /// Dotted config key it sets.
    pub key: &'static str,
}

/// Every flag that maps to a config field (the single source for overrides and the spec test).
pub const FLAGS: &[FlagSpec] = &[
    FlagSpec {
        flag: "--n",
        key: "data.n",
    },
    FlagSpec {
        flag: "--gridsize",
        key: "data.gridsize",
    },
    FlagSpec {
        flag: "--n-groups",
        key: "data.n_groups",
    },
    FlagSpec {
        flag: "--neighbor-count",
        key: "data.neighbor_count",
    },
    FlagSpec {
        flag: "--nphotons",
        key: "data.nphotons",
    },
    FlagSpec {
        flag: "--seed",
        key: "data.seed",
    },
    FlagSpec {
        flag: "--probe-scale",
        key: "model.probe_scale",
    },
    FlagSpec {
        flag: "--amp-activation",
        key: "model.amp_activation",
    },
    FlagSpec {
        flag: "--epochs",
        key: "training.epochs",
    },
    FlagSpec {
        flag: "--batch-size",
        key: "training.batch_size",
    },
    FlagSpec {
        flag: "--nll-weight",
        key: "training.nll_weight",
    },
    FlagSpec {
        flag: "--mae-weight",
        key: "training.mae_weight",
    },
    FlagSpec {
        flag: "--validation-split",
        key: "training.validation_split",
    },
    FlagSpec {
        flag: "--scheduler",
        key: "training.scheduler",
    },
    FlagSpec {
        flag: "--warmup-epochs",
        key: "training.warmup_epochs",
    },
    FlagSpec {
        flag: "--plateau-factor",
        key: "training.plateau_factor",
    },
    FlagSpec {
        flag: "--plateau-patience",
        key: "training.plateau_patience",
    },
    FlagSpec {
        flag: "--min-lr",
        key: "training.min_lr",
    },
    FlagSpec {
        flag: "--early-stop-patience",
        key: "training.early_stop_patience",
    },
    FlagSpec {
        flag: "--early-stop-monitor",
        key: "training.early_stop_monitor",
    },
    FlagSpec {
        flag: "--checkpoint-every",
        key: "training.checkpoint_every",
    },
    FlagSpec {
        flag: "--keep-best",
        key: "training.keep_best",
    },
    FlagSpec {
        flag: "--no-checkpoint",
        key: "training.checkpoint",
    },
    FlagSpec {
        flag: "--accumulate-grad-batches",
        key: "training.accumulate_grad_batches",
    },
    FlagSpec {
        flag: "--stitch-crop",
        key: "inference.stitch_crop",
    },
    FlagSpec {
        flag: "--pixel-size-m",
        key: "inference.pixel_size_m",
    },
    FlagSpec {
        flag: "--accelerator",
        key: "execution.accelerator",
    },
    FlagSpec {
        flag: "--deterministic",
        key: "execution.deterministic",
    },
    FlagSpec {
        flag: "--no-deterministic",
        key: "execution.deterministic",
    },
    FlagSpec {
        flag: "--num-workers",
        key: "execution.num_workers",
    },
    FlagSpec {
        flag: "--learning-rate",
        key: "execution.learning_rate",
    },
    FlagSpec {
        flag: "--inference-batch-size",
        key: "execution.inference_batch_size",
    },
    FlagSpec {
        flag: "--quiet",
        key: "execution.quiet",
    },
    FlagSpec {
        flag: "--log-level",
        key: "execution.log_level",
    },
];

/// The dotted config key a flag sets, if any.
pub fn flag_key(flag: &str) -> Option<&'static str> {
    FLAGS.iter().find(|f| f.flag == flag).map(|f| f.key)
}

/// Every leaf of a TOML table as (dotted key, value).
fn leaves(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => leaves(&key, sub, out),
            _ => out.push((key, v.clone())),
        }
    }
}

fn default_table() -> toml::Table {
    toml::Table::try_from(Config::default()).expect("defaults serialise")
}

/// Every valid dotted key.
pub fn known_keys() -> Vec<String> {
    let mut out = Vec::new();
    leaves("", &default_table(), &mut out);
    out.into_iter().map(|(k, _)| k).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid key closest to `key` (by edit distance on the dotted key and on the leaf name).
pub fn nearest_key(key: &str) -> Option<String> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    known_keys()
        .into_iter()
        .map(|k| {
            let kl = k.rsplit('.').next().unwrap_or(&k).to_string();
            (edit_distance(key, &k).min(edit_distance(leaf, &kl) + 1), k)
        })
        .filter(|(d, k)| *d <= (k.len() / 2).max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn set_key(t: &mut toml::Table, key: &str, v: toml::Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = t;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), v);
            return;
        }
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config sections are tables");
    }
}

/// Resolves defaults < file < flags. `flags` are `(dotted key, value)` pairs of explicit flags.
pub fn resolve(
    file: Option<&Path>,
    flags: &[(&'static str, toml::Value)],
) -> Result<Resolved, ConfigError> {
    let mut table = default_table();
    let mut sources: BTreeMap<String, Source> = known_keys()
        .into_iter()
        .map(|k| (k, Source::Default))
        .collect();
    if let Some(path) = file {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let parsed: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: p.clone(),
                    message: one_line(&e.to_string()),
                })?;
        let mut given = Vec::new();
        leaves("", &parsed, &mut given);
        for (k, _) in &given {
            if !sources.contains_key(k) {
                return Err(ConfigError::UnknownKey {
                    path: p,
                    key: k.clone(),
                    suggestion: nearest_key(k),
                });
            }
        }
        for (k, v) in given {
            set_key(&mut table, &k, v);
            sources.insert(k, Source::File);
        }
        // Type errors are reported against the file before flags are applied.
        Config::deserialize(table.clone()).map_err(|e| ConfigError::Parse {
            path: p,
            message: one_line(&e.to_string()),
        })?;
    }
    for (key, v) in flags {
        set_key(&mut table, key, v.clone());
        sources.insert(key.to_string(), Source::Flag);
    }
    let config = Config::deserialize(table).map_err(|e| ConfigError::Parse {
        path: "flags".into(),
        message: one_line(&e.to_string()),
    })?;
    config.validate()?;
    Ok(Resolved { config, sources })
}

impl Resolved {
    /// The fully resolved configuration as TOML (written to run/config.toml).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.config).expect("config serialises")
    }

    /// `key = value  # source` lines, grouped by section, for `ptycho config show`.
    pub fn explain(&self) -> String {
        let table = toml::Table::try_from(&self.config).expect("config serialises");
        let mut out = String::new();
        for (section, v) in &table {
            out.push_str(&format!("[{section}]\n"));
            if let toml::Value::Table(t) = v {
                for (k, val) in t {
                    let key = format!("{section}.{k}");
                    let src = self.sources.get(&key).copied().unwrap_or(Source::Default);
                    let src = match src {
                        Source::Default => "default",
                        Source::File => "file",
                        Source::Flag => "flag",
                    };
                    out.push_str(&format!("{:<28} # {src}\n", format!("{k} = {val}")));
                }
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "# in force: learning rate {}, inference batch size {}\n",
            self.config.learning_rate(),
            self.config.inference_batch_size()
        ));
        out
    }
}

/// A commented TOML file with every field at its default (`ptycho config template`).
pub fn template() -> String {
    let docs: &[(&str, &str)] = &[
        ("data.n", "patch size N: power of two, 16..=1024"),
        (
            "data.gridsize",
            "1 or 2 (groups of C = gridsize² neighbouring patterns)",
        ),
        ("data.n_groups", "groups to train on; 0 = one per pattern"),
        (
            "data.neighbor_count",
            "K nearest neighbours a group is drawn from (gridsize 2)",
        ),
        (
            "data.nphotons",
            "photons per pattern; intensity scale s = sqrt(nphotons)/(N/2)",
        ),
        (
            "data.seed",
            "seed for grouping, splits and weight initialisation",
        ),
        (
            "model.n_filters_scale",
            "network width multiplier: 1 = widths [32, 64, 128] at N = 64; 2 doubles them",
        ),
        ("model.amp_activation", "sigmoid | relu"),
        (
            "model.object_big",
            "merge a group's patches into one canvas in the loss path (gridsize 2)",
        ),
        (
            "model.probe_scale",
            "probe normalisation P / (probe_scale * mean|mask*P|)",
        ),
        (
            "model.probe_mask",
            "use the disk mask (radius N/4) in the probe normalisation",
        ),
        ("training.epochs", "passes over the training groups"),
        ("training.batch_size", "groups per step"),
        (
            "training.learning_rate",
            "Adam learning rate (execution.learning_rate overrides)",
        ),
        ("training.beta1", "Adam beta1"),
        ("training.beta2", "Adam beta2"),
        ("training.epsilon", "Adam epsilon"),
        ("training.nll_weight", "weight of the Poisson NLL"),
        ("training.mae_weight", "weight of the amplitude MAE"),
        ("training.validation_split", "fraction of groups held out"),
        (
            "training.scheduler",
            "constant | plateau | exponential | cosine",
        ),
        ("training.warmup_epochs", "linear warm-up epochs"),
        ("training.plateau_factor", "plateau: lr factor"),
        (
            "training.plateau_patience",
            "plateau: epochs without improvement",
        ),
        ("training.min_lr", "lower bound of the learning rate"),
        ("training.exp_gamma", "exponential: factor per epoch"),
        (
            "training.early_stop_patience",
            "epochs without improvement before stopping; 0 = never",
        ),
        ("training.early_stop_monitor", "val_loss | train_loss"),
        ("training.checkpoint_every", "epochs between checkpoints"),
        (
            "training.keep_best",
            "keep a `best` checkpoint besides `last`",
        ),
        ("training.checkpoint", "write checkpoints at all"),
        (
            "training.accumulate_grad_batches",
            "batches summed per optimiser step",
        ),
        (
            "inference.batch_size",
            "groups per inference batch; 0 = training batch size",
        ),
        (
            "inference.stitch_crop",
            "central pixels of each patch used in stitching",
        ),
        (
            "inference.pixel_size_m",
            "object pixel size in metres (Ptychodus product)",
        ),
        (
            "execution.accelerator",
            "auto | vulkan | metal | dx12 | gl | cpu",
        ),
        ("execution.deterministic", "bit-reproducible runs"),
        (
            "execution.num_workers",
            "CPU threads for loading and grouping; 0 = main thread",
        ),
        (
            "execution.learning_rate",
            "overrides training.learning_rate; 0 = no override",
        ),
        (
            "execution.inference_batch_size",
            "overrides inference.batch_size; 0 = no override",
        ),
        ("execution.quiet", "no progress output"),
        ("execution.log_level", "error | warn | info | debug"),
    ];
    let table = default_table();
    let mut out = String::from(
        "# ptycho configuration. Precedence: command-line flag > this file > built-in default.\n\n",
    );
    for (section, v) in &table {
        out.push_str(&format!("[{section}]\n"));
        if let toml::Value::Table(t) = v {
            for (k, val) in t {
                let key = format!("{section}.{k}");
                let doc = docs
                    .iter()
                    .find(|(dk, _)| *dk == key)
                    .map(|(_, d)| *d)
                    .unwrap_or("");
                out.push_str(&format!("# {doc}\n{k} = {val}\n"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_back_to_defaults_and_documents_every_key() {
        let t = template();
        let parsed: Config = toml::from_str(&t).unwrap();
        assert_eq!(parsed, Config::default());
        for k in known_keys() {
            let leaf = k.rsplit('.').next().unwrap();
            let line = t
                .lines()
                .position(|l| l.starts_with(&format!("{leaf} = ")))
                .unwrap();
            let doc = t.lines().nth(line - 1).unwrap();
            assert!(doc.len() > 3, "{k} has no comment");
        }
    }

    #[test]
    fn every_flag_maps_to_a_known_key() {
        let keys = known_keys();
        for f in FLAGS {
            assert!(keys.iter().any(|k| k == f.key), "{} → {}", f.flag, f.key);
        }
    }

    #[test]
    fn nearest_key_suggestions() {
        assert_eq!(
            nearest_key("training.epoch").as_deref(),
            Some("training.epochs")
        );
        assert_eq!(
            nearest_key("data.grid_size").as_deref(),
            Some("data.gridsize")
        );
        assert_eq!(
            nearest_key("training.learningrate").as_deref(),
            Some("training.learning_rate")
        );
    }
}
