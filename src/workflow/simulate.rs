//! `ptycho simulate`: a synthetic object (or an object and probe from a file), scan positions,
//! the GPU forward model and noise, written as PtychoPINN NPZ files (optionally split into
//! train and test by scan row) with PNG previews.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::npz::write_dataset;
use crate::data::{Dataset, ReadOptions, read_sim_input};
use crate::gpu::Engine;
use crate::simulate::objects::{self, ObjectKind};
use crate::simulate::{ScanKind, SimParams, preview, scan_positions, simulate, split};
use crate::util::plot;
use crate::workflow::{Result, WorkflowError};

/// What `ptycho simulate` makes (its flags, parsed).
#[derive(Clone, Debug)]
pub struct SimulateSpec {
    /// Output NPZ (with `split`: `<stem>_train.npz` and `<stem>_test.npz` next to it).
    pub output: Option<PathBuf>,
    /// Train output with `split` (instead of the name derived from `output`).
    pub output_train: Option<PathBuf>,
    /// Test output with `split`.
    pub output_test: Option<PathBuf>,
    /// Fraction of patterns (smallest y first) written to the train file; the rest to the test
    /// file.
    pub split: Option<f64>,
    /// Object, probe (and positions) from this NPZ or CXI file instead of a synthetic object.
    pub input: Option<PathBuf>,
    /// Object pixel size in metres for the translations of a CXI `input`.
    pub cxi_pixel_size_m: Option<f64>,
    /// Pattern (probe) size N.
    pub n: usize,
    /// Synthetic object.
    pub object: ObjectKind,
    /// Side of the synthetic object in pixels.
    pub object_size: usize,
    /// Random lines of the lines object.
    pub n_lines: usize,
    /// Give the synthetic object a phase.
    pub with_phase: bool,
    /// Scan pattern.
    pub scan: ScanKind,
    /// Number of random positions.
    pub n_images: usize,
    /// Grid step in pixels (grid scan).
    pub step: f64,
    /// Margin kept free at the object's border [default: N/2].
    pub buffer: Option<f64>,
    /// Probe defocus in radians at the radius N/4.
    pub probe_defocus: f64,
    /// Incoherent probe modes to simulate with (1: the probe itself); more are generated from
    /// the probe's first mode ([`objects::probe_modes`]). `None`: the probe as given (an input
    /// file's modes, or one).
    pub probe_modes: Option<usize>,
    /// Power fraction of each mode (normalised to sum 1) [default: ∝ 2^−p].
    pub probe_mode_power: Option<Vec<f64>>,
    /// Photons per pattern (mean).
    pub nphotons: f64,
    /// Seed for object, positions and noise.
    pub seed: u64,
    /// Write noiseless amplitudes.
    pub no_noise: bool,
    /// Also write a PNG preview next to each output.
    pub preview: bool,
}

/// A value of `simulate` that cannot be used: a usage error naming the flag and value.
fn bad(msg: String) -> WorkflowError {
    WorkflowError::Usage(msg)
}

/// Checks the values of `a` that do not depend on any input file (before one is opened).
pub fn check(a: &SimulateSpec) -> Result<()> {
    if !(a.nphotons > 0.0 && a.nphotons.is_finite()) {
        return Err(bad(format!(
            "--nphotons {}: must be a positive number",
            a.nphotons
        )));
    }
    if let Some(f) = a.split
        && !(f > 0.0 && f < 1.0)
    {
        return Err(bad(format!("--split {f}: must be in (0, 1)")));
    }
    if !a.probe_defocus.is_finite() {
        return Err(bad(format!(
            "--probe-defocus {}: must be a finite number of radians",
            a.probe_defocus
        )));
    }
    if let Some(k) = a.probe_modes
        && !(1..=16).contains(&k)
    {
        return Err(bad(format!("--probe-modes {k}: must be in 1..=16")));
    }
    if let Some(pw) = &a.probe_mode_power {
        let k = a.probe_modes.unwrap_or(1);
        if pw.len() != k {
            return Err(bad(format!(
                "--probe-mode-power has {} values for --probe-modes {k}: give one per mode",
                pw.len()
            )));
        }
        if let Some(v) = pw.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
            return Err(bad(format!(
                "--probe-mode-power {v}: every fraction must be positive"
            )));
        }
    }
    if a.input.is_none() {
        if !a.n.is_power_of_two() || !(16..=1024).contains(&a.n) {
            return Err(bad(format!(
                "--n {}: must be a power of two in 16..=1024",
                a.n
            )));
        }
        if a.object_size < a.n + 2 {
            return Err(bad(format!(
                "--object-size {}: must exceed N = {}",
                a.object_size, a.n
            )));
        }
    }
    Ok(())
}

/// Runs `ptycho simulate`: the files written.
pub fn run(engine: &Engine, a: &SimulateSpec) -> Result<Vec<PathBuf>> {
    check(a)?;
    let (obj, (h, w), mut probe, n, positions, kind) = match &a.input {
        Some(path) => {
            let read = ReadOptions {
                pixel_size_m: a.cxi_pixel_size_m,
                ..Default::default()
            };
            let (obj, (h, w), probe, n, pos) = read_sim_input(path, &read)?;
            (
                obj,
                (h, w),
                probe,
                n,
                pos,
                format!("file:{}", path.display()),
            )
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
            let obj = match a.object {
                ObjectKind::Lines => {
                    objects::lines(a.object_size, a.n_lines, a.with_phase, &mut rng)
                }
                ObjectKind::Grf => objects::grf(a.object_size, a.with_phase, &mut rng),
            };
            let kind = a.object.as_str().to_string();
            (
                obj,
                (a.object_size, a.object_size),
                objects::default_probe(a.n),
                a.n,
                None,
                kind,
            )
        }
    };
    objects::defocus_probe(&mut probe, n, a.probe_defocus);
    if let Some(k) = a.probe_modes
        && (k > 1 || probe.len() > n * n)
    {
        let powers = a
            .probe_mode_power
            .clone()
            .unwrap_or_else(|| objects::default_mode_powers(k));
        probe = objects::probe_modes(&probe[..n * n], n, &powers);
        if probe.len() != k * n * n {
            return Err(bad(format!(
                "--probe-modes {k}: the probe's support carries only {} independent modes",
                probe.len() / (n * n)
            )));
        }
    }
    let (xs, ys) = match positions {
        Some(p) => p,
        None => {
            let buffer = a.buffer.unwrap_or(n as f64 / 2.0);
            if 2.0 * buffer >= w.min(h) as f64 {
                return Err(bad(format!(
                    "--buffer {buffer}: leaves no room for positions in the {w}×{h} object"
                )));
            }
            if a.scan == ScanKind::Grid && !(a.step > 0.0) {
                return Err(bad(format!("--step {}: must be positive", a.step)));
            }
            scan_positions(a.scan, a.n_images, a.step, h, w, buffer, a.seed)
        }
    };
    if xs.is_empty() {
        return Err(bad(
            "no scan positions: use --n-images ≥ 1 or a smaller --step".into(),
        ));
    }
    let params = SimParams {
        nphotons: a.nphotons,
        noise: !a.no_noise,
        seed: a.seed,
        object_kind: kind,
    };
    let mut d = simulate(engine, obj, (h, w), probe, n, xs, ys, &params)?;
    d.metadata["probe_defocus_rad"] = serde_json::json!(a.probe_defocus);
    d.metadata["probe_modes"] = serde_json::json!(d.modes());
    let mut outputs = Vec::new();
    let mut write = |path: &Path, d: &Dataset| -> Result<()> {
        write_dataset(path, d)?;
        if a.preview {
            let png = path.with_extension("png");
            plot::save_png(&preview(d), &png).map_err(|e| WorkflowError::io(&png, e))?;
        }
        outputs.push(path.to_path_buf());
        Ok(())
    };
    match a.split {
        Some(f) => {
            let (tr, te) = split(&d, f);
            let (ptr, pte) = match (&a.output_train, &a.output_test, &a.output) {
                (Some(t), Some(e), _) => (t.clone(), e.clone()),
                (_, _, Some(o)) => {
                    let stem = o
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "sim".into());
                    (
                        o.with_file_name(format!("{stem}_train.npz")),
                        o.with_file_name(format!("{stem}_test.npz")),
                    )
                }
                _ => {
                    return Err(bad(
                        "--split needs --output or --output-train and --output-test".into(),
                    ));
                }
            };
            write(&ptr, &tr)?;
            write(&pte, &te)?;
        }
        None => {
            let out = a
                .output
                .clone()
                .or_else(|| a.output_train.clone())
                .ok_or_else(|| bad("simulate needs --output (or --output-train and --output-test with --split)".into()))?;
            write(&out, &d)?;
        }
    }
    Ok(outputs)
}
