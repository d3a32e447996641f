//! `ptycho infer`: flags → the model's configuration and [`InferOptions`].

use std::path::PathBuf;

use clap::Args;

use super::flags::{InferScopes, KeyFlags, Overrides};
use super::train::ReadFlags;
use crate::workflow::Result;
use crate::workflow::infer::{InferOptions, infer, resolve_model_config};

/// `ptycho infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// Run directory written by `ptycho train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Data to reconstruct (PtychoPINN NPZ, or CXI with the `hdf5` feature; without a probe
    /// of its own the model's is used).
    #[arg(long, value_name = "FILE")]
    pub test_data: PathBuf,
    /// Output directory (reconstruction.npz, amplitude.png, phase.png, product.npz, and
    /// product.h5 with the `hdf5` feature).
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// Also write amplitude.tiff and phase.tiff (single-channel float32).
    #[arg(long)]
    pub tiff: bool,
    /// Weights from a training checkpoint instead of the final model: `last`, `best` (in the
    /// run's checkpoints/) or a path; works while the run is still training.
    #[arg(long, value_name = "NAME|FILE")]
    pub checkpoint: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub read: ReadFlags,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub keys: KeyFlags<InferScopes>,
}

/// Runs `ptycho infer`.
pub fn run(a: &InferArgs, global: &Overrides) -> Result<()> {
    let mut o = global.clone();
    o.extend(a.keys.overrides.iter().cloned());
    let resolved = resolve_model_config(&a.model, &o)?;
    let engine = super::open_engine(&resolved.config.execution)?;
    let s = infer(
        &engine,
        &resolved,
        &InferOptions {
            model_dir: a.model.clone(),
            test_data: a.test_data.clone(),
            output_dir: a.output_dir.clone(),
            overwrite: a.overwrite,
            read: a.read.options(),
            tiff: a.tiff,
            checkpoint: a.checkpoint.as_deref().map(|c| match c {
                "last" | "best" | "interrupted" => {
                    a.model.join("checkpoints").join(format!("{c}.npz"))
                }
                path => PathBuf::from(path),
            }),
            also_stitch: None,
        },
    )?;
    if crate::dist::world().is_root() {
        println!("{}", s.report());
        println!("wrote {}/{}", a.output_dir.display(), s.files.join(", "));
    }
    Ok(())
}
