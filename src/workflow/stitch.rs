//! `ptycho stitch`: complex patches of an NPZ stitched at their scan positions into one object,
//! written as a reconstruction NPZ (and float32 TIFFs).

use std::path::{Path, PathBuf};

use crate::data::{npz, tiff};
use crate::stitch::{Stitched, Weighting, stitch_weighted};
use crate::workflow::{Result, WorkflowError};

/// What `ptycho stitch` reads and writes.
#[derive(Clone, Debug)]
pub struct StitchSpec {
    /// NPZ with the patches and `xcoords`, `ycoords`.
    pub input: PathBuf,
    /// Output NPZ.
    pub output: PathBuf,
    /// Key of the (M, N, N) complex patches.
    pub key: String,
    /// Central pixels of each patch used (uniform weighting).
    pub crop: usize,
    /// Weight each patch by the input file's probe intensity over its central N/2 instead.
    pub probe_weighting: bool,
    /// Also write amplitude.tiff and phase.tiff next to the output.
    pub tiff: bool,
}

/// Stitches `spec.input` into `spec.output`: the stitched object and the files written.
pub fn run(spec: &StitchSpec) -> Result<(Stitched, Vec<PathBuf>)> {
    let (patches, n, xs, ys) = npz::read_patches(&spec.input, &spec.key)?;
    if !spec.probe_weighting && (spec.crop == 0 || spec.crop > n) {
        return Err(WorkflowError::Usage(format!(
            "--crop {}: must be in 1..={n} (the patch size)",
            spec.crop
        )));
    }
    let weighting = if spec.probe_weighting {
        let (probe, pn) = npz::read_probe_modes(&spec.input)?;
        if pn != n {
            return Err(WorkflowError::Mismatch(format!(
                "{}: the probe is {pn}×{pn} but the patches are {n}×{n}",
                spec.input.display()
            )));
        }
        Weighting::Probe { probe }
    } else {
        Weighting::Uniform { crop: spec.crop }
    };
    let s = stitch_weighted(&patches, n, &xs, &ys, &weighting);
    npz::write_reconstruction(&spec.output, &s, &xs, &ys)?;
    let mut files = Vec::new();
    if spec.tiff {
        let dir = match spec.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        files.extend(tiff::write_amplitude_phase(dir, &s)?);
    }
    files.push(spec.output.clone());
    Ok((s, files))
}
