//! `ptycho train`: flags → configuration and [`TrainOptions`].

use std::path::PathBuf;

use clap::Args;

use super::config::ConfigFlags;
use super::flags::{self, Overrides};
use crate::data::ReadOptions;
use crate::workflow::train::{TrainOptions, train};
use crate::workflow::{Result, WorkflowError};

/// How data files are read: flags shared by `train` and `infer` (and suggested by `ptycho
/// inspect`).
#[derive(Clone, Debug, Default, Args)]
pub struct ReadFlags {
    /// Probe file replacing the data file's probe (every mode): NPZ (`probeGuess`, or `probe`
    /// of a model bundle or Ptychodus product) or CXI.
    #[arg(long, value_name = "FILE")]
    pub probe: Option<PathBuf>,
    /// Object pixel size in metres: converts CXI translations [default: λ·z/(N·detector pixel)
    /// from the file's energy, distance and detector pixel size] and `--position-units metres`
    /// to pixels.
    #[arg(long, value_name = "METRES", value_parser = flags::positive_metres, alias = "cxi-pixel-size-m")]
    pub object_pixel_size_m: Option<f64>,
    /// What the patterns hold: auto (floats are amplitudes, integers counts), amplitude, or
    /// intensity (intensities or counts of any dtype: amplitudes = sqrt).
    #[arg(long, default_value = "auto", value_parser = ["auto", "amplitude", "intensity"])]
    pub diffraction_kind: String,
    /// Where the patterns' zero frequency is: centred (at N/2, PtychoPINN) or corner
    /// (unshifted, as numpy.fft.fft2 returns it; fftshifted on load).
    #[arg(long, default_value = "centred", value_parser = ["centred", "corner"])]
    pub diffraction_centre: String,
    /// What a position marks: centre (of the probe window, PtychoPINN) or corner (its first
    /// pixel; the centre is N/2 further).
    #[arg(long, default_value = "centre", value_parser = ["centre", "corner"])]
    pub position_origin: String,
    /// The order of a position's coordinates: xy (x = column, PtychoPINN) or rowcol (the
    /// first coordinate is the row).
    #[arg(long, default_value = "xy", value_parser = ["xy", "rowcol"])]
    pub position_order: String,
    /// Unit of positions: pixels (of the object) or metres (divided by
    /// --object-pixel-size-m).
    #[arg(long, default_value = "pixels", value_parser = ["pixels", "metres"])]
    pub position_units: String,
    /// Key (NPZ) or dataset path (plain HDF5) of the patterns [default: diff3d, diffraction].
    #[arg(long, value_name = "KEY")]
    pub key_diffraction: Option<String>,
    /// Key of the probe [default: probeGuess].
    #[arg(long, value_name = "KEY")]
    pub key_probe: Option<String>,
    /// Key of the positions' first coordinates (M,) [default: xcoords].
    #[arg(long, value_name = "KEY")]
    pub key_x: Option<String>,
    /// Key of the positions' second coordinates (M,) [default: ycoords].
    #[arg(long, value_name = "KEY")]
    pub key_y: Option<String>,
    /// Key of the positions as one (M, 2) array (instead of --key-x and --key-y).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["key_x", "key_y"])]
    pub key_positions: Option<String>,
    /// Key of the object [default: objectGuess].
    #[arg(long, value_name = "KEY")]
    pub key_object: Option<String>,
}

impl ReadFlags {
    /// The reader options these flags ask for.
    pub fn options(&self) -> ReadOptions {
        use crate::data::conventions::*;
        let conventions = Conventions {
            keys: KeyMap {
                diffraction: self.key_diffraction.clone(),
                probe: self.key_probe.clone(),
                x: self.key_x.clone(),
                y: self.key_y.clone(),
                positions: self.key_positions.clone(),
                object: self.key_object.clone(),
            },
            diffraction: match self.diffraction_kind.as_str() {
                "amplitude" => DiffractionKind::Amplitude,
                "intensity" => DiffractionKind::Intensity,
                _ => DiffractionKind::Auto,
            },
            centre: if self.diffraction_centre == "corner" {
                PatternCentre::Corner
            } else {
                PatternCentre::Centred
            },
            origin: if self.position_origin == "corner" {
                PositionOrigin::Corner
            } else {
                PositionOrigin::Centre
            },
            order: if self.position_order == "rowcol" {
                PositionOrder::RowCol
            } else {
                PositionOrder::Xy
            },
            units: if self.position_units == "metres" {
                PositionUnits::Metres
            } else {
                PositionUnits::Pixels
            },
        };
        ReadOptions {
            pixel_size_m: self.object_pixel_size_m,
            probe: self.probe.clone(),
            fallback_probe: None,
            conventions,
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
    if crate::dist::world().is_root() {
        println!("{}", s.report(&dir));
    }
    Ok(())
}
