//! `ptycho train`: flags → configuration and [`TrainOptions`].

use std::path::PathBuf;

use clap::Args;

use super::config::ConfigFlags;
use super::flags::{self, Overrides};
use crate::data::ReadOptions;
use crate::workflow::train::{TrainOptions, train};
use crate::workflow::{Result, WorkflowError};

/// How data files are read: flags shared by `train` and `infer`.
#[derive(Clone, Debug, Default, Args)]
pub struct ReadFlags {
    /// Probe file replacing the data file's probe: NPZ (`probeGuess`, or `probe` of a model
    /// bundle or Ptychodus product) or CXI.
    #[arg(long, value_name = "FILE")]
    pub probe: Option<PathBuf>,
    /// Object pixel size in metres for converting CXI translations to pixels [default:
    /// λ·z/(N·detector pixel) from the file's energy, distance and detector pixel size].
    #[arg(long, value_name = "METRES", value_parser = flags::positive_metres)]
    pub cxi_pixel_size_m: Option<f64>,
}

impl ReadFlags {
    /// The reader options these flags ask for.
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            pixel_size_m: self.cxi_pixel_size_m,
            probe: self.probe.clone(),
            fallback_probe: None,
            skip_patches: false,
        }
    }
}

/// `ptycho train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data (PtychoPINN NPZ, or CXI with the `hdf5` feature).
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub train_data: Option<PathBuf>,
    /// Separate validation data (instead of holding out `validation_split` of the groups).
    #[arg(long, value_name = "FILE")]
    pub test_data: Option<PathBuf>,
    /// Run directory (model bundle, checkpoints, metrics.csv, config.toml).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub output_dir: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint (uses DIR/config.toml unless --config).
    #[arg(long, value_name = "DIR", conflicts_with = "output_dir")]
    pub resume: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub read: ReadFlags,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub flags: ConfigFlags,
}

/// Runs `ptycho train`.
pub fn run(a: &TrainArgs, global: &Overrides) -> Result<()> {
    let mut flags = a.flags.clone();
    let (dir, resume) = match (&a.resume, &a.output_dir) {
        (Some(d), _) => {
            if flags.config.is_none() {
                flags.config = Some(d.join("config.toml"));
            }
            (d.clone(), true)
        }
        (None, Some(d)) => (d.clone(), false),
        (None, None) => return Err(WorkflowError::Usage("--output-dir is required".into())),
    };
    let resolved = flags.resolve(global)?;
    let Some(train_data) = a.train_data.clone() else {
        return Err(WorkflowError::Usage(
            "--resume needs --train-data (the same data the run started with)".into(),
        ));
    };
    let engine = super::open_engine(&resolved.config.execution)?;
    let opts = TrainOptions {
        train_data,
        test_data: a.test_data.clone(),
        output_dir: dir.clone(),
        resume,
        overwrite: a.overwrite,
        read: a.read.options(),
    };
    let s = train(&engine, &resolved, &opts)?;
    println!("{}", s.report(&dir));
    Ok(())
}
