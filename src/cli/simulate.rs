//! `ptycho simulate`: flags → [`SimulateSpec`].

use std::path::PathBuf;

use clap::Args;

use super::flags::{self, Overrides};
use crate::simulate::ScanKind;
use crate::simulate::objects::ObjectKind;
use crate::workflow::Result;
use crate::workflow::simulate::{SimulateSpec, check, run as simulate};

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
    #[arg(long, value_name = "METRES", value_parser = flags::positive_metres)]
    pub cxi_pixel_size_m: Option<f64>,
    /// Pattern (probe) size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Synthetic object.
    #[arg(long, value_parser = flags::choice::<ObjectKind>(&ObjectKind::NAMES), default_value = "lines")]
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
    #[arg(long, value_parser = flags::choice::<ScanKind>(&ScanKind::NAMES), default_value = "random")]
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
    /// Simulate with K incoherent probe modes (the modes add in intensity): orthogonal modes
    /// made from the probe's first mode (Gram–Schmidt of the probe times 1, x, y, xy, …),
    /// sharing its power by --probe-mode-power [default: the input file's modes, or 1].
    #[arg(long, value_name = "K")]
    pub probe_modes: Option<usize>,
    /// Power fraction of each probe mode, comma separated, one per mode (normalised to sum 1)
    /// [default: ∝ 2^−p, e.g. 0.67,0.33 for 2 modes].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FRACTIONS",
        requires = "probe_modes"
    )]
    pub probe_mode_power: Option<Vec<f64>>,
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

impl From<SimulateArgs> for SimulateSpec {
    fn from(a: SimulateArgs) -> Self {
        SimulateSpec {
            output: a.output,
            output_train: a.output_train,
            output_test: a.output_test,
            split: a.split,
            input: a.input,
            cxi_pixel_size_m: a.cxi_pixel_size_m,
            n: a.n,
            object: a.object,
            object_size: a.object_size,
            n_lines: a.n_lines,
            with_phase: a.with_phase,
            scan: a.scan,
            n_images: a.n_images,
            step: a.step,
            buffer: a.buffer,
            probe_defocus: a.probe_defocus,
            probe_modes: a.probe_modes,
            probe_mode_power: a.probe_mode_power,
            nphotons: a.nphotons,
            seed: a.seed,
            no_noise: a.no_noise,
            preview: a.preview,
        }
    }
}

/// Runs `ptycho simulate`: its values are checked before an adapter is opened or a file read.
pub fn run(a: SimulateArgs, global: &Overrides) -> Result<()> {
    let spec = SimulateSpec::from(a);
    check(&spec)?;
    let engine = super::open_engine(&super::execution(global)?)?;
    for p in simulate(&engine, &spec)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
