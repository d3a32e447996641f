//! Dataset input and output on the CPU side: the PtychoPINN NPZ contract, CXI/HDF5 input
//! (feature `hdf5`), the Ptychodus product, float TIFF images, and the grouping of scan
//! positions.
//!
//! [`read_dataset`] is the one place that decides a file's format (HDF5 signature or a
//! `.cxi`/`.h5`/`.hdf5`/`.nxs` extension → CXI, anything else → NPZ), so train, infer and
//! simulate accept either transparently and get the same [`Dataset`].

pub mod conventions;
#[cfg(feature = "hdf5")]
pub mod cxi;
pub mod dataset;
pub mod error;
pub mod group;
pub mod inspect;
pub mod npz;
pub mod product;
#[cfg(feature = "hdf5")]
pub mod ptychodus;
pub mod tiff;

use std::io::Read;
use std::path::{Path, PathBuf};

use num_complex::Complex32;

pub(crate) use crate::util::text::one_line;
pub use dataset::{Dataset, Positions, SimInput};
pub use error::DataError;

/// How a data file is read beyond what it holds itself (flags of train, infer and simulate).
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Object pixel size in metres used to convert CXI translations (instead of the one derived
    /// from the detector geometry) and metre positions to pixels (`--object-pixel-size-m`).
    pub pixel_size_m: Option<f64>,
    /// A probe file (`--probe`) whose probe (every mode) replaces the data file's.
    pub probe: Option<PathBuf>,
    /// A probe (modes × N × N) used only when the data file has none (inference: the model
    /// bundle's).
    pub fallback_probe: Option<Vec<Complex32>>,
    /// How the file departs from PtychoPINN's conventions (key names, intensities, corner
    /// zero frequency, corner/(row, col)/metre positions).
    pub conventions: conventions::Conventions,
    /// Leave ground-truth patches (`ground_truth_patches`/`Y`) unread: training and inference
    /// do not use them, and they are the largest array of a simulated file.
    pub skip_patches: bool,
}

/// The format of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A NumPy `.npz` archive.
    Npz,
    /// An HDF5 file (CXI layout).
    Hdf5,
}

/// The HDF5 superblock signature.
const HDF5_MAGIC: [u8; 8] = *b"\x89HDF\r\n\x1a\n";

/// The format of `path`: the HDF5 signature at offset 0 (or a CXI/HDF5 extension) means HDF5,
/// anything else is read as NPZ.
pub fn format_of(path: &Path) -> Format {
    let mut head = [0u8; 8];
    let Ok(mut f) = std::fs::File::open(path) else {
        // Unreadable: the NPZ reader reports why.
        return Format::Npz;
    };
    let magic = f.read_exact(&mut head).is_ok() && head == HDF5_MAGIC;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let zip = head.starts_with(b"PK");
    if magic || (!zip && matches!(ext.as_str(), "cxi" | "h5" | "hdf5" | "nxs")) {
        Format::Hdf5
    } else {
        Format::Npz
    }
}

/// The error for an HDF5 file in a build without the `hdf5` feature.
#[cfg(not(feature = "hdf5"))]
pub(crate) fn no_hdf5(path: &Path) -> DataError {
    DataError::File {
        path: path.display().to_string(),
        message: "is an HDF5/CXI file, but this ptycho was built without HDF5 support \
                  (rebuild with `cargo build --release --features hdf5`; needs libhdf5-dev)"
            .into(),
    }
}

/// Where a dataset's probe comes from (see [`ReadOptions`]). Probes are one or more
/// incoherent modes, modes × N × N.
#[derive(Clone, Copy, Debug)]
pub enum ProbeSource<'a> {
    /// The data file's own probe (an error if it has none).
    File,
    /// This probe (modes × N × N with the given N), read from the given file, replaces the
    /// data file's (which is not read).
    Replace(&'a Path, &'a [Complex32], usize),
    /// The data file's probe, or this one (modes × N × N) if the file has none.
    Fallback(&'a [Complex32]),
}

impl ProbeSource<'_> {
    /// The probe to use for patterns of size `n` instead of reading one from `data` (`None`:
    /// read the file's). A replacement of the wrong size is an error naming both files.
    pub fn given(&self, data: &Path, n: usize) -> Result<Option<Vec<Complex32>>, DataError> {
        match *self {
            ProbeSource::Replace(file, p, pn) => {
                if pn != n {
                    return Err(DataError::File {
                        path: file.display().to_string(),
                        message: format!(
                            "probe is {pn}×{pn} but the patterns of {} are {n}×{n}",
                            data.display()
                        ),
                    });
                }
                Ok(Some(p.to_vec()))
            }
            _ => Ok(None),
        }
    }

    /// The probe to use when the data file has none (`None`: that is an error).
    pub fn fallback(&self) -> Option<&[Complex32]> {
        match *self {
            ProbeSource::Fallback(p) => Some(p),
            _ => None,
        }
    }
}

/// Reads a dataset from a PtychoPINN NPZ or a CXI file, with its probe chosen by `opts`, and
/// validates it. Errors are one line naming the file and the key or dataset path.
pub fn read_dataset(path: &Path, opts: &ReadOptions) -> Result<Dataset, DataError> {
    let replacement = opts.probe.as_deref().map(read_probe_modes).transpose()?;
    let src = match (&opts.probe, &replacement, &opts.fallback_probe) {
        (Some(file), Some((p, pn)), _) => ProbeSource::Replace(file, p, *pn),
        (_, _, Some(p)) => ProbeSource::Fallback(p),
        _ => ProbeSource::File,
    };
    let conv = &opts.conventions;
    match format_of(path) {
        Format::Npz => npz::read_dataset_in(path, src, opts.skip_patches, conv, opts.pixel_size_m),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 if conv.keys.any() => cxi::read_plain(path, src, conv, opts.pixel_size_m),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 if !conv.is_default() => Err(DataError::File {
            path: path.display().to_string(),
            message: "is a CXI file, which keeps Ptychodus's conventions (counts, centred \
                      patterns, translations in metres); the --diffraction-*/--position-* \
                      options apply to NPZ files and to plain HDF5 files read by --key-*"
                .into(),
        }),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => cxi::read_dataset(path, opts.pixel_size_m, src),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => Err(no_hdf5(path)),
    }
}

/// The `_metadata` of a data file (null for CXI files and files without one), read without
/// the arrays: what a workflow consults before it reads the data.
pub fn read_metadata(path: &Path) -> serde_json::Value {
    match format_of(path) {
        Format::Npz => npz::archive::Reader::open(path)
            .map(|mut r| r.metadata())
            .unwrap_or(serde_json::Value::Null),
        Format::Hdf5 => serde_json::Value::Null,
    }
}

/// Reads `ptycho simulate --input` from an NPZ (`objectGuess`, `probeGuess`, optional
/// positions) or a CXI file (object `/entry_1/image_2/data`, probe, optional translations).
pub fn read_sim_input(path: &Path, opts: &ReadOptions) -> Result<SimInput, DataError> {
    match format_of(path) {
        Format::Npz => npz::read_sim_input(path),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => cxi::read_sim_input(path, opts.pixel_size_m),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => {
            let _ = opts;
            Err(no_hdf5(path))
        }
    }
}

/// Reads a probe, every mode (modes × N × N), and its N from an NPZ (`probeGuess`, or `probe`
/// as in a model bundle or a Ptychodus product) or a CXI file.
pub fn read_probe_modes(path: &Path) -> Result<(Vec<Complex32>, usize), DataError> {
    match format_of(path) {
        Format::Npz => npz::read_probe_modes(path),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => cxi::read_probe_file(path),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => Err(no_hdf5(path)),
    }
}

/// Prints a one-line note on stderr (how data were interpreted); under MPI rank 0 alone
/// prints it (every rank reads the same data).
pub fn note(msg: &str) {
    if crate::dist::world().is_root() {
        eprintln!("ptycho: note: {msg}");
    }
}

/// The error for a detector count that is negative or not finite.
pub fn bad_count(path: &Path, key: &str, index: usize, v: f64) -> DataError {
    DataError::Key {
        path: path.display().to_string(),
        key: key.into(),
        message: format!(
            "{} count {v} at flat index {index}: counts must be finite and ≥ 0",
            if v.is_finite() {
                "negative"
            } else {
                "non-finite"
            }
        ),
    }
}

/// Converts detector counts to amplitudes, sqrt(counts), rejecting non-finite and negative
/// values with the flat index of the first bad one.
pub fn counts_to_amplitudes(
    path: &Path,
    key: &str,
    counts: impl Iterator<Item = f64>,
) -> Result<Vec<f32>, DataError> {
    let mut out = Vec::with_capacity(counts.size_hint().0);
    for (i, v) in counts.enumerate() {
        if !v.is_finite() || v < 0.0 {
            return Err(bad_count(path, key, i, v));
        }
        out.push(v.sqrt() as f32);
    }
    Ok(out)
}

/// Checks the shape of a pattern stack (M, N, N) against `m` positions and returns N (a power
/// of two ≥ 8).
pub fn check_pattern_shape(
    path: &Path,
    key: &str,
    m: usize,
    shape: &[usize],
) -> Result<usize, DataError> {
    let err = |message: String| DataError::Key {
        path: path.display().to_string(),
        key: key.into(),
        message,
    };
    if shape.len() != 3 {
        return Err(err(format!("expected shape (M, N, N), got {shape:?}")));
    }
    if shape[0] != m || shape[1] != shape[2] {
        return Err(err(format!(
            "expected shape ({m}, N, N) to match {m} positions, got {shape:?}"
        )));
    }
    if m == 0 {
        return Err(err("holds no patterns (M = 0)".into()));
    }
    let n = shape[1];
    if !n.is_power_of_two() || n < 8 {
        return Err(err(format!(
            "pattern size N = {n} is not a power of two ≥ 8"
        )));
    }
    Ok(n)
}
