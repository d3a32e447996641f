//! `ptycho stitch`: patches stitched at their scan positions.

use clap::Args;

use crate::workflow::Result;
use crate::workflow::stitch::{StitchSpec, run as stitch};

/// `ptycho stitch`.
#[derive(Debug, Args)]
pub struct StitchArgs {
    /// NPZ with the patches and `xcoords`, `ycoords`.
    #[arg(long, value_name = "NPZ")]
    pub input: std::path::PathBuf,
    /// Output NPZ (`object`, `amplitude`, `phase`, `origin_xy`, positions).
    #[arg(long, value_name = "NPZ")]
    pub output: std::path::PathBuf,
    /// Key of the (M, N, N) complex patches.
    #[arg(long, default_value = "ground_truth_patches")]
    pub key: String,
    /// Central pixels of each patch used (uniform weighting).
    #[arg(long, default_value_t = 20)]
    pub crop: usize,
    /// uniform: the central --crop pixels, weight 1; probe: the central N/2, weighted by the
    /// input file's probe intensity (`probeGuess`, Σ over modes of |P|²).
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "probe"])]
    pub patch_weighting: String,
    /// Also write amplitude.tiff and phase.tiff (single-channel float32) next to the output.
    #[arg(long)]
    pub tiff: bool,
}

/// Runs `ptycho stitch`.
pub fn run(a: StitchArgs) -> Result<()> {
    let spec = StitchSpec {
        input: a.input,
        output: a.output,
        key: a.key,
        crop: a.crop,
        probe_weighting: a.patch_weighting == "probe",
        tiff: a.tiff,
    };
    let (s, files) = stitch(&spec)?;
    for p in &files[..files.len() - 1] {
        println!("wrote {}", p.display());
    }
    println!(
        "wrote {} ({}×{} px, origin x {:.2}, y {:.2})",
        spec.output.display(),
        s.w,
        s.h,
        s.origin_xy[0],
        s.origin_xy[1]
    );
    Ok(())
}
