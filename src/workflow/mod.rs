//! Workflows: what each command does with files, datasets and the domains, driven by typed
//! specs (no command-line types): simulate, train, infer, stitch, the simulate → train →
//! infer → evaluate pipeline of `demo` and `bench quality`, and the benchmarks. They get their
//! engine and configuration from the CLI and return a [`WorkflowError`] on failure.

#[cfg(feature = "hdf5")]
pub mod batch;
pub mod bench;
pub mod devices;
pub mod error;
pub mod infer;
pub mod pipeline;
pub mod ranks;
pub mod selftest;
pub mod simulate;
pub mod stitch;
pub mod train;

pub use error::{Result, WorkflowError};

use crate::config::ExecutionConfig;
use crate::gpu::{Engine, EngineOptions, Fault};

/// The engine options the execution settings ask for: the accelerator, the limits profile, the
/// storage-binding cap and the simulated fault.
pub fn engine_options(exec: &ExecutionConfig) -> Result<EngineOptions> {
    let fault = match exec.fault.trim() {
        "" => None,
        f => Some(f.parse::<Fault>()?),
    };
    Ok(EngineOptions {
        accelerator: exec.accelerator,
        max_binding_bytes: (exec.max_binding_bytes > 0).then_some(exec.max_binding_bytes),
        fault,
        limits: exec.limits,
        // Ranks of one MPI job on one node take its adapters in turn.
        spread: crate::dist::world().local_rank(),
    })
}

/// Opens the engine the execution settings ask for.
pub fn open_engine(exec: &ExecutionConfig) -> Result<Engine> {
    Ok(Engine::new(&engine_options(exec)?)?)
}
