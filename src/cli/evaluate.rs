//! `ptycho evaluate`: a reconstruction against the ground truth.

use clap::Args;

use crate::eval::files::{EvalFiles, evaluate_files, frc_plot_path, table};
use crate::workflow::Result;

/// `ptycho evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Reconstruction NPZ written by `ptycho infer` (keys `object`, `origin_xy`).
    #[arg(long, value_name = "NPZ")]
    pub reconstruction: std::path::PathBuf,
    /// NPZ holding the ground-truth object `objectGuess` (e.g. the simulated test file).
    #[arg(long, value_name = "NPZ")]
    pub ground_truth: std::path::PathBuf,
    /// Where to write the metrics JSON [default: metrics.json next to the reconstruction]; the
    /// FRC plot goes next to it, named after it (NAME.json → NAME_frc.png; metrics.json →
    /// frc.png).
    #[arg(long, value_name = "JSON")]
    pub output: Option<std::path::PathBuf>,
    /// Pixels trimmed from each side before registration and metrics.
    #[arg(long, default_value_t = 4)]
    pub trim: usize,
}

/// Runs `ptycho evaluate`.
pub fn run(a: &EvaluateArgs) -> Result<()> {
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| a.reconstruction.with_file_name("metrics.json"));
    let m = evaluate_files(&EvalFiles {
        reconstruction: a.reconstruction.clone(),
        ground_truth: a.ground_truth.clone(),
        output: output.clone(),
        trim: a.trim,
    })?;
    println!("{}", table(&m));
    println!(
        "wrote {} and {}",
        output.display(),
        frc_plot_path(&output).display()
    );
    Ok(())
}
