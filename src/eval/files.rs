//! `ptycho evaluate`: a reconstruction NPZ against the ground truth's `objectGuess`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::NpzReader;
use num_complex::{Complex32, Complex64};
use thiserror::Error;

use super::{Metrics, evaluate};
use crate::util::{fs, plot};

/// Errors of `ptycho evaluate`.
#[derive(Debug, Error)]
pub enum EvalError {
    /// File unreadable or not an NPZ.
    #[error("{path}: {message}")]
    File {
        /// File.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A key is missing or has the wrong dtype/rank.
    #[error("{path}: key '{key}': {message}")]
    Key {
        /// File.
        path: String,
        /// Key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// The reconstruction does not overlap the ground truth enough to compare.
    #[error("{0}")]
    Geometry(String),
}

fn open(path: &Path) -> Result<NpzReader<std::fs::File>, EvalError> {
    let f = std::fs::File::open(path).map_err(|e| EvalError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    NpzReader::new(f).map_err(|e| EvalError::File {
        path: path.display().to_string(),
        message: format!("not a readable NPZ ({e})"),
    })
}

/// Reads a 2-D complex array stored as complex64 or complex128.
pub fn read_complex2(path: &Path, key: &str) -> Result<Array2<Complex64>, EvalError> {
    let mut npz = open(path)?;
    let name = format!("{key}.npy");
    let names = npz.names().map_err(|e| EvalError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if !names.iter().any(|n| n == key || *n == name) {
        return Err(EvalError::Key {
            path: path.display().to_string(),
            key: key.into(),
            message: format!("missing (keys: {})", names.join(", ")),
        });
    }
    let key_err = |m: String| EvalError::Key {
        path: path.display().to_string(),
        key: key.into(),
        message: m,
    };
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<Complex32>, ndarray::Ix2>(key) {
        return Ok(a.mapv(|z| Complex64::new(z.re as f64, z.im as f64)));
    }
    let mut npz = open(path)?;
    npz.by_name::<ndarray::OwnedRepr<Complex64>, ndarray::Ix2>(key)
        .map_err(|e| {
            key_err(format!(
                "expected a 2-D complex64 or complex128 array ({e})"
            ))
        })
}

/// Reads a 1-D float64 array.
pub fn read_f64_1(path: &Path, key: &str) -> Result<Vec<f64>, EvalError> {
    let mut npz = open(path)?;
    npz.by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>(key)
        .map(|a| a.to_vec())
        .map_err(|e| EvalError::Key {
            path: path.display().to_string(),
            key: key.into(),
            message: format!("expected a 1-D float64 array ({e})"),
        })
}

/// Options of `ptycho evaluate`.
#[derive(Clone, Debug)]
pub struct EvalFiles {
    /// reconstruction.npz (`object`, `origin_xy`).
    pub reconstruction: PathBuf,
    /// NPZ holding `objectGuess`.
    pub ground_truth: PathBuf,
    /// metrics.json path (the FRC plot goes next to it: [`frc_plot_path`]).
    pub output: PathBuf,
    /// Pixels trimmed from each side before registration.
    pub trim: usize,
}

/// Where the FRC plot of the metrics written to `output` goes: beside it, named after it
/// (`eval_a.json` → `eval_a_frc.png`), so that evaluations writing to one folder keep their
/// own plots; `metrics.json`, the default, keeps `frc.png`.
pub fn frc_plot_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem == "metrics" || stem.is_empty() {
        output.with_file_name("frc.png")
    } else {
        output.with_file_name(format!("{stem}_frc.png"))
    }
}

/// Crops the ground truth to the reconstruction's canvas, evaluates, writes metrics.json and
/// the FRC plot, and returns the metrics.
pub fn evaluate_files(opts: &EvalFiles) -> Result<Metrics, EvalError> {
    let rec = read_complex2(&opts.reconstruction, "object")?;
    let origin = read_f64_1(&opts.reconstruction, "origin_xy")?;
    if origin.len() != 2 {
        return Err(EvalError::Key {
            path: opts.reconstruction.display().to_string(),
            key: "origin_xy".into(),
            message: format!("expected 2 values (x, y), got {}", origin.len()),
        });
    }
    let gt = read_complex2(&opts.ground_truth, "objectGuess")?;
    let (rh, rw) = rec.dim();
    let (gh, gw) = gt.dim();
    // Overlap of the canvas [oy, oy + rh) × [ox, ox + rw) with the object.
    let (ox, oy) = (origin[0].round() as i64, origin[1].round() as i64);
    let (r0, c0) = (oy.max(0), ox.max(0));
    let (r1, c1) = (
        (oy + rh as i64).min(gh as i64),
        (ox + rw as i64).min(gw as i64),
    );
    let (h, w) = ((r1 - r0).max(0) as usize, (c1 - c0).max(0) as usize);
    if h < 2 * opts.trim + 16 || w < 2 * opts.trim + 16 {
        return Err(EvalError::Geometry(format!(
            "reconstruction canvas ({rw}×{rh} at x={}, y={}) overlaps the {gw}×{gh} ground truth in only {w}×{h} pixels; need at least {}×{} after trimming {}",
            origin[0],
            origin[1],
            2 * opts.trim + 16,
            2 * opts.trim + 16,
            opts.trim
        )));
    }
    let mut p = Vec::with_capacity(h * w);
    let mut t = Vec::with_capacity(h * w);
    for r in 0..h {
        for c in 0..w {
            p.push(rec[[(r0 - oy) as usize + r, (c0 - ox) as usize + c]]);
            t.push(gt[[r0 as usize + r, c0 as usize + c]]);
        }
    }
    let m = evaluate(&p, &t, h, w, opts.trim);
    let out = &opts.output;
    let json = serde_json::to_string_pretty(&m).expect("metrics serialise");
    let io_err = |path: &Path, e: std::io::Error| EvalError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    fs::write_bytes_atomic(out, json.as_bytes()).map_err(|e| io_err(out, e))?;
    let plot_path = frc_plot_path(out);
    let img = plot::line_plot(
        &[&m.amplitude.frc, &m.phase.frc],
        &[0.5, 1.0 / 7.0],
        480,
        300,
    );
    plot::save_png(&img, &plot_path).map_err(|e| io_err(&plot_path, e))?;
    Ok(m)
}

/// The metrics as a printable table.
pub fn table(m: &Metrics) -> String {
    let mut s = format!(
        "{:<10} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8}\n",
        "", "MAE", "MSE", "PSNR dB", "SSIM", "FRC50", "FRC1/7"
    );
    for (name, c) in [("amplitude", &m.amplitude), ("phase", &m.phase)] {
        s.push_str(&format!(
            "{:<10} {:>10.4e} {:>10.4e} {:>9.2} {:>8.4} {:>8.2} {:>8.2}\n",
            name, c.mae, c.mse, c.psnr, c.ssim, c.frc50, c.frc_1_7
        ));
    }
    s.push_str(&format!(
        "registration shift (dx, dy) = ({:.2}, {:.2}) px; compared {}×{} px",
        m.shift_xy.0, m.shift_xy.1, m.compared_wh.0, m.compared_wh.1
    ));
    s
}
