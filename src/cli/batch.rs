//! `ptycho batch reconstruct|train -i IN -o OUT` (also spelled `ptycho -b reconstruct …`, as
//! Ptychodus's `ptychodus -b reconstruct -i IN -o OUT`): Ptychodus's batch-mode folders.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::flags::Overrides;
use crate::workflow::{Result, WorkflowError};

/// What the batch run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BatchAction {
    /// Reconstruct IN with the model IN/model into OUT/product.h5 (and product.000000.h5).
    Reconstruct,
    /// Train on IN into OUT/model.
    Train,
}

/// `ptycho batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// reconstruct or train.
    pub action: BatchAction,
    /// The input folder: diffraction.h5 and product.h5 as Ptychodus 1.7 writes them (and, to
    /// reconstruct, the model folder model/; optionally ptycho.toml, ptycho's settings).
    #[arg(short = 'i', long = "input-directory", value_name = "DIR")]
    pub input: PathBuf,
    /// The output folder (created if missing).
    #[arg(short = 'o', long = "output-directory", value_name = "DIR")]
    pub output: PathBuf,
    /// Settings: a ptycho configuration file (.toml) [default: IN/ptycho.toml if present];
    /// a Ptychodus settings.ini is accepted and not read.
    #[arg(short = 's', long = "settings", value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

/// Runs `ptycho batch`.
pub fn run(a: &BatchArgs, global: &Overrides) -> Result<()> {
    if !a.input.is_dir() {
        return Err(WorkflowError::Usage(format!(
            "-i {}: not a folder (Ptychodus's batch input: diffraction.h5, product.h5)",
            a.input.display()
        )));
    }
    #[cfg(feature = "hdf5")]
    {
        use crate::workflow::batch;
        // The folder's files before an adapter is opened: a missing one is one line.
        for f in [
            crate::data::ptychodus::DIFFRACTION,
            crate::data::ptychodus::PRODUCT,
        ] {
            let p = a.input.join(f);
            if !p.is_file() {
                return Err(WorkflowError::Usage(format!(
                    "{}: missing (Ptychodus's batch input folder holds {} and {})",
                    p.display(),
                    crate::data::ptychodus::DIFFRACTION,
                    crate::data::ptychodus::PRODUCT
                )));
            }
        }
        let settings = match &a.settings {
            Some(p) if p.extension().is_some_and(|e| e == "ini") => {
                eprintln!(
                    "ptycho: note: {} is Ptychodus's settings; ptycho reads its own from {}/{}",
                    p.display(),
                    a.input.display(),
                    batch::SETTINGS
                );
                batch::settings_file(&a.input)
            }
            Some(p) => Some(p.clone()),
            None => batch::settings_file(&a.input),
        };
        match a.action {
            BatchAction::Train => {
                let resolved = crate::config::resolve(settings.as_deref(), global)?;
                let engine = super::open_engine(&resolved.config.execution)?;
                let s = batch::train_folder(&engine, &resolved, &a.input, &a.output)?;
                println!("{}", s.report(&a.output.join(batch::MODEL)));
            }
            BatchAction::Reconstruct => {
                let model = a.input.join(batch::MODEL);
                if !model.join("config.toml").is_file() {
                    return Err(WorkflowError::Usage(format!(
                        "{}: no trained model there (a ptycho run directory: train one with `ptycho batch train -i {} -o OUT` and copy OUT/model here)",
                        model.display(),
                        a.input.display()
                    )));
                }
                let mut overrides: Overrides = global.clone();
                if let Some(p) = &settings {
                    // Execution settings of the given file apply; the model's own config.toml
                    // holds everything else.
                    let r = crate::config::resolve(Some(p), global)?;
                    overrides.push((
                        "execution.accelerator",
                        toml::Value::String(r.config.execution.accelerator.as_str().into()),
                    ));
                }
                let resolved = crate::workflow::infer::resolve_model_config(&model, &overrides)?;
                let engine = super::open_engine(&resolved.config.execution)?;
                for f in batch::reconstruct_folder(&engine, &resolved, &a.input, &a.output)? {
                    println!("wrote {}", f.display());
                }
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = global;
        Err(WorkflowError::Usage(
            "ptycho batch reads and writes Ptychodus's HDF5 files: rebuild with `cargo build --release --features hdf5` (needs libhdf5-dev)".into(),
        ))
    }
}
