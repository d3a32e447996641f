//! The one error type of the workflow layer: every domain's error kept as the cause, and the
//! workflow's own failures (mismatched data and configuration, non-finite loss, a GPU fault
//! during training, file output, bad arguments found after parsing).

use std::path::Path;

use thiserror::Error;

use super::train::run_dir::RunError;
use crate::config::ConfigError;
use crate::data::DataError;
use crate::eval::files::EvalError;
use crate::fft::FftError;
use crate::gpu::GpuError;
use crate::model::ModelError;
use crate::nn::NnError;
use crate::physics::PhysicsError;
use crate::simulate::SimulateError;

/// Errors of simulate, train, infer, stitch, evaluate, demo and the benchmarks.
#[derive(Debug, Error)]
pub enum WorkflowError {
    /// Bad or unreadable data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// Forward-model failure.
    #[error(transparent)]
    Physics(#[from] PhysicsError),
    /// FFT failure.
    #[error(transparent)]
    Fft(#[from] FftError),
    /// Network-kernel failure.
    #[error(transparent)]
    Nn(#[from] NnError),
    /// Network failure (shapes, weights file).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Simulation failure.
    #[error(transparent)]
    Simulate(#[from] SimulateError),
    /// Evaluation failure.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Run directory problems.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Configuration problems (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value of the command line that its command cannot take, found after parsing (exit
    /// code 2): one line naming the flag and the value.
    #[error("{0}")]
    Usage(String),
    /// Data and configuration or bundle disagree.
    #[error("{0}")]
    Mismatch(String),
    /// The ranks of an MPI job cannot run together (they disagree on configuration or data,
    /// or there are more ranks than work): every rank finds the same (exit code 2).
    #[error("{0}")]
    Ranks(String),
    /// An error of one rank of an MPI job before the ranks first worked together, made every
    /// rank's ([`crate::workflow::ranks::together`]); exit code 2 if it was a usage error.
    #[error("{message}")]
    Shared {
        /// The error on one line, naming the rank unless it is rank 0.
        message: String,
        /// It was a usage or configuration error.
        usage: bool,
    },
    /// The loss became NaN or infinite.
    #[error(
        "loss became {value} at epoch {epoch}, step {step}; stopped (the last good checkpoint is kept in {dir})"
    )]
    NonFinite {
        /// The value.
        value: f64,
        /// 1-based epoch.
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// Checkpoint folder.
        dir: String,
    },
    /// The GPU ran out of memory or was lost during training; the last epoch-boundary
    /// checkpoint is kept and the run can continue with `--resume`.
    #[error("{error} (epoch {epoch}, {during}); {saved}{hint}")]
    GpuFault {
        /// The GPU error.
        #[source]
        error: Box<GpuError>,
        /// 1-based epoch.
        epoch: usize,
        /// What was running: `step 3`, `validation`, `writing a checkpoint`.
        during: String,
        /// Where the last checkpoint is and how to resume from it.
        saved: String,
        /// What to change before resuming.
        hint: &'static str,
    },
    /// `ptycho selftest` found kernels that disagree with their CPU twins on this adapter.
    #[error("selftest: {failed} of {total} checks failed; first: {first}")]
    SelftestFailed {
        /// Checks that failed.
        failed: usize,
        /// Checks run.
        total: usize,
        /// The first failure, described.
        first: String,
    },
    /// A JSON report could not be written.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// File writing.
    #[error("{path}: {message}")]
    Io {
        /// Path.
        path: String,
        /// Message.
        message: String,
    },
}

/// Result alias of the workflow layer.
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;

impl WorkflowError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> Result<GpuError, Self> {
        match self {
            WorkflowError::Gpu(g) => Ok(g),
            WorkflowError::Model(m) => m.into_gpu().map_err(WorkflowError::Model),
            WorkflowError::Physics(p) => p.into_gpu().map_err(WorkflowError::Physics),
            WorkflowError::Fft(f) => f.into_gpu().map_err(WorkflowError::Fft),
            WorkflowError::Nn(n) => n.into_gpu().map_err(WorkflowError::Nn),
            WorkflowError::Simulate(s) => s.into_gpu().map_err(WorkflowError::Simulate),
            other => Err(other),
        }
    }

    /// Whether this is a usage or configuration error (exit code 2 rather than 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            WorkflowError::Usage(_)
                | WorkflowError::Config(_)
                | WorkflowError::Ranks(_)
                | WorkflowError::Shared { usage: true, .. }
        )
    }

    /// Whether every rank of an MPI job fails alike (so each may stop on its own, without
    /// aborting the others).
    pub fn is_collective(&self) -> bool {
        matches!(self, WorkflowError::Ranks(_) | WorkflowError::Shared { .. })
    }

    /// A file-output failure at `path`.
    pub fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        WorkflowError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
