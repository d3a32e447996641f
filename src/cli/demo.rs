//! `ptycho demo`: the [`DEMO`] pipeline in a folder of its own.

use std::path::PathBuf;

use clap::Args;

use super::flags::Overrides;
use crate::eval::files::table;
use crate::workflow::Result;
use crate::workflow::pipeline::{DEMO, Pipeline, run_pipeline};
use crate::workflow::train::run_dir;

/// `ptycho demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its data, run and reconstruction.
    #[arg(long, value_name = "DIR", default_value = "ptycho-demo")]
    pub output_dir: PathBuf,
    /// Training epochs.
    #[arg(long, default_value_t = DEMO.epochs)]
    pub epochs: usize,
    /// Training patterns.
    #[arg(long, default_value_t = DEMO.train_images)]
    pub n_images: usize,
    /// Grid size (1, or 2: groups of 4 neighbouring patterns merged in the loss).
    #[arg(long, default_value_t = DEMO.gridsize, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub gridsize: u32,
    /// Network width multiplier (PtychoPINN's default is 2; the demo's 1 is a quarter of the
    /// arithmetic, to stay within minutes on a CPU).
    #[arg(long, default_value_t = DEMO.n_filters_scale, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub n_filters_scale: u32,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub physics: PipelineFlags,
    /// Replace an existing directory that is not an earlier demo (an earlier demo is replaced).
    #[arg(long)]
    pub overwrite: bool,
}

/// The probe and loss of a [`Pipeline`], shared by `ptycho demo` and `ptycho bench quality`.
#[derive(Clone, Copy, Debug, Args)]
pub struct PipelineFlags {
    /// Probe defocus in radians at the radius N/4 (see `simulate --probe-defocus`).
    #[arg(long, default_value_t = DEMO.probe_defocus, value_name = "RADIANS")]
    pub probe_defocus: f64,
    /// Weight of the Poisson NLL in the training loss.
    #[arg(long, default_value_t = DEMO.nll_weight)]
    pub nll_weight: f64,
    /// Weight of the amplitude MAE in the training loss.
    #[arg(long, default_value_t = DEMO.mae_weight)]
    pub mae_weight: f64,
}

/// Runs `ptycho demo`: simulate → train → infer → evaluate on a small lines dataset.
pub fn run(a: &DemoArgs, global: &Overrides) -> Result<()> {
    let dir = &a.output_dir;
    // Re-running the demo replaces its own earlier output (never a foreign directory).
    let again = run_dir::is_run_dir(dir);
    run_dir::prepare_dir(dir, "demo", a.overwrite || again)?;
    let engine = super::open_engine(&super::execution(global)?)?;
    let p = Pipeline {
        epochs: a.epochs,
        train_images: a.n_images,
        gridsize: a.gridsize,
        n_filters_scale: a.n_filters_scale,
        probe_defocus: a.physics.probe_defocus,
        nll_weight: a.physics.nll_weight,
        mae_weight: a.physics.mae_weight,
        ..DEMO
    };
    let r = run_pipeline(&engine, &p, dir, global, true)?;
    let out = dir.join("out");
    println!("{}", table(&r.metrics));
    println!(
        "pictures: {0}/amplitude.png {0}/phase.png {0}/frc.png; ground truth preview: {1}/test.png; total {2:.0} s",
        out.display(),
        dir.display(),
        r.seconds.iter().sum::<f64>()
    );
    Ok(())
}
