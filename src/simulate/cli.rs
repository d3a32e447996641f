//! `ptycho simulate` command-line arguments and driver.

use std::path::{Path, PathBuf};

use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{ScanKind, SimParams, objects, preview, scan_positions, simulate, split};
use crate::data::npz::{self, write_dataset};
use crate::gpu::Engine;

/// Synthetic object kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectKind {
    /// Random lines blurred at three scales (PtychoPINN's "lines").
    Lines,
    /// Gaussian random field.
    Grf,
}

/// `ptycho simulate`.
#[derive(Clone, Debug, Args)]
pub struct SimulateArgs {
    /// Output NPZ (with --split: `<stem>_train.npz` and `<stem>_test.npz` next to it).
    #[arg(long, value_name = "NPZ", required_unless_present_all = ["output_train", "output_test"])]
    pub output: Option<PathBuf>,
    /// Train output with --split (instead of the name derived from --output).
    #[arg(long, value_name = "NPZ", requires = "output_test")]
    pub output_train: Option<PathBuf>,
    /// Test output with --split.
    #[arg(long, value_name = "NPZ", requires = "output_train")]
    pub output_test: Option<PathBuf>,
    /// Fraction of patterns (smallest y first) written to the train file; the rest to the test file.
    #[arg(long)]
    pub split: Option<f64>,
    /// Take objectGuess and probeGuess (and xcoords/ycoords if present) from this NPZ, or the
    /// object, probe and translations from a CXI file (`hdf5` feature).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Object pixel size in metres for converting the translations of a CXI `--input` to
    /// pixels [default: from the file].
    #[arg(long, value_name = "METRES", value_parser = crate::cli_run::positive_metres)]
    pub cxi_pixel_size_m: Option<f64>,
    /// Pattern (probe) size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Synthetic object.
    #[arg(long, value_enum, default_value_t = ObjectKind::Lines)]
    pub object: ObjectKind,
    /// Side of the synthetic object in pixels.
    #[arg(long, default_value_t = 392)]
    pub object_size: usize,
    /// Number of random lines of the lines object (PtychoPINN: 400 on its 392-pixel object).
    #[arg(long, default_value_t = 400)]
    pub n_lines: usize,
    /// Give the synthetic object a phase (π·tanh((A − max/2)/(3·mean))).
    #[arg(long)]
    pub with_phase: bool,
    /// Scan pattern.
    #[arg(long, value_enum, default_value_t = ScanKind::Random)]
    pub scan: ScanKind,
    /// Number of random positions.
    #[arg(long, default_value_t = 1000)]
    pub n_images: usize,
    /// Grid step in pixels (grid scan).
    #[arg(long, default_value_t = 4.0)]
    pub step: f64,
    /// Margin kept free at the object's border [default: N/2].
    #[arg(long)]
    pub buffer: Option<f64>,
    /// Defocus the probe: a quadratic phase of this many radians at the radius N/4 (0: the
    /// probe as it is; PtychoPINN's default probe is real, which leaves single patterns a twin
    /// ambiguity).
    #[arg(long, default_value_t = 0.0, value_name = "RADIANS")]
    pub probe_defocus: f64,
    /// Photons per pattern (mean).
    #[arg(long, default_value_t = 1e9)]
    pub nphotons: f64,
    /// Seed for object, positions and noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write noiseless amplitudes (diff3d = |far field of probe × patch|, no scaling).
    #[arg(long)]
    pub no_noise: bool,
    /// Also write a PNG preview next to each output.
    #[arg(long)]
    pub preview: bool,
}

/// Errors of `simulate` arguments (exit code 1; they name the flag and value).
fn bad(msg: String) -> anyhow::Error {
    anyhow::anyhow!(msg)
}

/// Runs `ptycho simulate`.
pub fn run(engine: &Engine, a: &SimulateArgs) -> anyhow::Result<Vec<PathBuf>> {
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
    let (obj, (h, w), mut probe, n, positions, kind) = match &a.input {
        Some(path) => {
            let read = crate::data::ReadOptions {
                pixel_size_m: a.cxi_pixel_size_m,
                ..Default::default()
            };
            let (obj, (h, w), probe, pos) = crate::data::read_sim_input(path, &read)?;
            let n = (probe.len() as f64).sqrt() as usize;
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
            let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
            let obj = match a.object {
                ObjectKind::Lines => {
                    objects::lines(a.object_size, a.n_lines, a.with_phase, &mut rng)
                }
                ObjectKind::Grf => objects::grf(a.object_size, a.with_phase, &mut rng),
            };
            let kind = format!("{:?}", a.object).to_lowercase();
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
    let mut outputs = Vec::new();
    let mut write = |path: &Path, d: &npz::Dataset| -> anyhow::Result<()> {
        write_dataset(path, d)?;
        if a.preview {
            crate::util::plot::save_png(&preview(d), &path.with_extension("png"))?;
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
                .expect("clap requires an output");
            write(&out, &d)?;
        }
    }
    Ok(outputs)
}
