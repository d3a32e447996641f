//! The configuration sections, declared once: each field's doc, type, default and [`Meta`]
//! (flag, environment variable, persistence) produce the section struct, its `Default`, and
//! its rows of the key table ([`super::keys`]).

use serde::{Deserialize, Serialize};

use super::keys::{ConfigValue, Flag, Key, Kind, Meta, Scope};
use crate::gpu::{Accelerator, LimitsProfile};
use crate::nn::ConvLayoutChoice;
use crate::stitch::PatchWeighting;

/// Declares the sections: for each, a struct with serde defaults, its `Default`, and its keys.
macro_rules! sections {
    ($(
        $(#[doc = $sdoc:literal])*
        [$sec:ident] $S:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident: $ty:ty = $default:expr, $meta:expr;
            )*
        }
    )*) => {
        $(
            $(#[doc = $sdoc])*
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $S {
                $(
                    $(#[doc = $doc])+
                    pub $field: $ty,
                )*
            }

            impl Default for $S {
                fn default() -> Self {
                    $S { $($field: $default,)* }
                }
            }

            impl $S {
                /// This section's rows of the key table.
                pub const KEYS: &'static [Key] = &[$(Key {
                    key: concat!(stringify!($sec), ".", stringify!($field)),
                    doc_raw: concat!($($doc),+),
                    kind: <$ty as ConfigValue>::KIND,
                    meta: $meta,
                }),*];
            }
        )*

        /// Every section's keys, in file order.
        pub(crate) const SECTIONS: &[&[Key]] = &[$($S::KEYS),*];
    };
}

use Scope::{Execution, Global, Inference, Training};

sections! {
    /// `[data]`: data and physics settings (PtychoPINN's data configuration).
    [data] DataConfig {
        /// patch size N: power of two, 16..=1024
        n: usize = 64, Meta::value("--n", Training);
        /// 1 or 2 (groups of C = gridsize² neighbouring patterns)
        gridsize: u32 = 1, Meta::value("--gridsize", Training);
        /// groups to train on; 0 = one per pattern
        n_groups: usize = 0, Meta::value("--n-groups", Training);
        /// K nearest neighbours a group is drawn from (gridsize 2)
        neighbor_count: usize = 4, Meta::value("--neighbor-count", Training);
        /// photons per pattern; intensity scale s = sqrt(nphotons)/(N/2)
        nphotons: f64 = 1e9, Meta::value("--nphotons", Training);
        /// seed for grouping, splits and weight initialisation
        seed: u64 = 1, Meta::value("--seed", Training);
    }

    /// `[model]`: network and physics-model settings.
    [model] ModelConfig {
        /// network width multiplier, as PtychoPINN's n_filters_scale: 2 (its default) = encoder
        /// widths [64, 128, 256] at N = 64, 2,252,026 parameters at gridsize 1; 1 = [32, 64,
        /// 128], 563,802 parameters (a quarter of the arithmetic)
        n_filters_scale: u32 = 2, Meta::value("--n-filters-scale", Training);
        /// sigmoid | relu
        amp_activation: AmpActivation = AmpActivation::Sigmoid,
            Meta::value("--amp-activation", Training);
        /// merge a group's patches into one canvas in the loss path (gridsize 2)
        object_big: bool = true, Meta::FILE;
        /// probe normalisation P / (probe_scale * mean|mask*P|)
        probe_scale: f64 = 4.0, Meta::value("--probe-scale", Training);
        /// use the disk mask (radius N/4) in the probe normalisation
        probe_mask: bool = true, Meta::FILE;
        /// multiply the probe by PtychoPINN's soft disk mask in the forward model (its
        /// --probe-mask; off by default, as there); the normalisation then uses that mask
        probe_mask_forward: bool = false, Meta::with(Flag::Switch("--probe-mask", true), Training);
        /// Gaussian blur of the forward-model mask's edge in pixels (0 = hard disk)
        probe_mask_sigma: f64 = 1.0, Meta::value("--probe-mask-sigma", Training);
        /// diameter of the forward-model mask in pixels; 0 = N/2
        probe_mask_diameter: f64 = 0.0, Meta::value("--probe-mask-diameter", Training);
    }

    /// `[training]`: optimisation settings.
    [training] TrainingConfig {
        /// passes over the training groups
        epochs: usize = 50, Meta::value("--epochs", Training);
        /// groups per step
        batch_size: usize = 16, Meta::value("--batch-size", Training);
        /// Adam learning rate (execution.learning_rate overrides)
        learning_rate: f64 = 1e-3, Meta::FILE;
        /// Adam beta1
        beta1: f64 = 0.9, Meta::FILE;
        /// Adam beta2
        beta2: f64 = 0.999, Meta::FILE;
        /// Adam epsilon
        epsilon: f64 = 1e-7, Meta::FILE;
        /// weight of the Poisson NLL
        nll_weight: f64 = 1.0, Meta::value("--nll-weight", Training);
        /// weight of the amplitude MAE
        mae_weight: f64 = 0.0, Meta::value("--mae-weight", Training);
        /// fraction of groups held out
        validation_split: f64 = 0.05, Meta::value("--validation-split", Training);
        /// constant | plateau | exponential | cosine
        scheduler: Scheduler = Scheduler::Plateau, Meta::value("--scheduler", Training);
        /// linear warm-up epochs
        warmup_epochs: usize = 0, Meta::value("--warmup-epochs", Training);
        /// plateau: lr factor
        plateau_factor: f64 = 0.5, Meta::value("--plateau-factor", Training);
        /// plateau: epochs without improvement
        plateau_patience: usize = 2, Meta::value("--plateau-patience", Training);
        /// lower bound of the learning rate
        min_lr: f64 = 1e-4, Meta::value("--min-lr", Training);
        /// exponential: factor per epoch
        exp_gamma: f64 = 0.95, Meta::FILE;
        /// epochs without improvement before stopping; 0 = never
        early_stop_patience: usize = 3, Meta::value("--early-stop-patience", Training);
        /// val_loss | train_loss
        early_stop_monitor: Monitor = Monitor::ValLoss,
            Meta::value("--early-stop-monitor", Training);
        /// epochs between checkpoints
        checkpoint_every: usize = 1,
            Meta::value("--checkpoint-every", Training).conflicts(&["--no-checkpoint"]);
        /// keep a `best` checkpoint besides `last`
        keep_best: bool = true,
            Meta::with(Flag::OptionalBool("--keep-best"), Training).conflicts(&["--no-checkpoint"]);
        /// write checkpoints at all
        checkpoint: bool = true, Meta::with(Flag::Switch("--no-checkpoint", false), Training);
        /// batches summed per optimiser step
        accumulate_grad_batches: usize = 1,
            Meta::value("--accumulate-grad-batches", Training);
    }

    /// `[inference]`: inference and stitching settings.
    [inference] InferenceConfig {
        /// groups per inference batch; 0 = training batch size
        batch_size: usize = 0, Meta::FILE;
        /// central pixels of each patch used in stitching (uniform weighting)
        stitch_crop: usize = 20, Meta::value("--stitch-crop", Inference);
        /// how patches are averaged: uniform (the central stitch_crop pixels, weight 1) |
        /// probe (the central N/2, weighted by the probe intensity Σ_modes |P|²)
        patch_weighting: PatchWeighting = PatchWeighting::Uniform, Meta::value("--patch-weighting", Inference);
        /// object pixel size in metres (Ptychodus product)
        pixel_size_m: f64 = 1.0, Meta::value("--pixel-size-m", Inference);
    }

    /// `[execution]`: device and runtime knobs. They never change a data or model field.
    [execution] ExecutionConfig {
        /// auto | vulkan | metal | dx12 | gl | cpu
        accelerator: Accelerator = Accelerator::Auto,
            Meta::value("--accelerator", Global).env("PTYCHO_ACCELERATOR");
        /// bit-reproducible runs
        deterministic: bool = true,
            Meta::with(Flag::Toggle("--deterministic", "--no-deterministic"), Execution);
        /// CPU threads for loading and grouping; 0 = main thread
        num_workers: usize = 0, Meta::value("--num-workers", Execution);
        /// overrides training.learning_rate; 0 = no override
        learning_rate: f64 = 0.0, Meta::value("--learning-rate", Execution);
        /// overrides inference.batch_size; 0 = no override
        inference_batch_size: usize = 0, Meta::value("--inference-batch-size", Execution);
        /// no progress output
        quiet: bool = false, Meta::with(Flag::Switch("--quiet", true), Execution);
        /// error | warn | info | debug
        log_level: LogLevel = LogLevel::Info, Meta::value("--log-level", Execution);
        /// 3×3 conv kernel family: auto | tiled | subgroup (auto: subgroup on a CPU adapter
        /// that can run it, tiled elsewhere)
        conv_layout: ConvLayoutChoice = ConvLayoutChoice::Auto,
            Meta::FILE.env("PTYCHO_CONV_LAYOUT").runtime();
        /// cap on one storage binding in bytes (≥ 1024; 0 = the adapter's limit): batches are
        /// chunked, trained as micro-batches, to fit
        max_binding_bytes: u64 = 0, Meta::FILE.env("PTYCHO_MAX_BINDING_BYTES").runtime();
        /// simulated GPU fault for tests: oom:N or lost:N fails submit N; empty = none
        fault: String = String::new(), Meta::FILE.env("PTYCHO_FAULT").runtime();
        /// device limits: adapter (all it offers) | webgpu (no more than WebGPU's defaults:
        /// 16 KiB workgroup memory, 256 invocations, as small adapters have)
        limits: LimitsProfile = LimitsProfile::Adapter, Meta::FILE.env("PTYCHO_LIMITS").runtime();
    }
}

/// Amplitude head activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmpActivation {
    /// Logistic sigmoid (PtychoPINN default).
    Sigmoid,
    /// ReLU.
    Relu,
}

/// Learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss.
    ValLoss,
    /// Training loss.
    TrainLoss,
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl ConfigValue for AmpActivation {
    const KIND: Kind = Kind::Choice(&["sigmoid", "relu"]);
}
impl ConfigValue for Scheduler {
    const KIND: Kind = Kind::Choice(&["constant", "plateau", "exponential", "cosine"]);
}
impl ConfigValue for Monitor {
    const KIND: Kind = Kind::Choice(&["val_loss", "train_loss"]);
}
impl ConfigValue for LogLevel {
    const KIND: Kind = Kind::Choice(&["error", "warn", "info", "debug"]);
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

    /// No progress bars or per-epoch lines (quiet, or a log level below info).
    pub fn quiet(&self) -> bool {
        self.execution.quiet || matches!(self.execution.log_level, LogLevel::Error | LogLevel::Warn)
    }
}
