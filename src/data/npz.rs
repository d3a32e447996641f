//! Reading and writing the PtychoPINN NPZ contract (specs/data.md).
//!
//! Arrays are read with ndarray-npy, accepting float32/float64 and complex64/complex128 where
//! PtychoPINN files vary; `_metadata` (a 0-d unicode array holding JSON, or a legacy pickled
//! object array) is read with npyz. Writes go to a temporary file that is renamed when complete.

use std::io::{Read, Seek, Write};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::NpzReader;
use num_complex::{Complex32, Complex64};
use thiserror::Error;

use crate::fsutil;

/// Errors reading or validating data files; each names the file and the key or value at fault.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file cannot be opened or is not an NPZ archive.
    #[error("{path}: {message}")]
    File {
        /// File.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A required key is absent.
    #[error("{path}: missing key '{key}' (keys present: {present})")]
    Missing {
        /// File.
        path: String,
        /// Key.
        key: String,
        /// Keys that are there.
        present: String,
    },
    /// A key has the wrong dtype, rank or shape, or bad values.
    #[error("{path}: key '{key}': {message}")]
    Key {
        /// File.
        path: String,
        /// Key.
        key: String,
        /// What is wrong, with the shape or value.
        message: String,
    },
}

/// A dataset in memory (positions in object pixels, (x, y) order).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Pattern size N.
    pub n: usize,
    /// Scan positions x (column) per pattern.
    pub xcoords: Vec<f64>,
    /// Scan positions y (row) per pattern.
    pub ycoords: Vec<f64>,
    /// Diffraction amplitudes (M, N, N), DC at (N/2, N/2).
    pub diff: Vec<f32>,
    /// Probe (N, N).
    pub probe: Vec<Complex32>,
    /// Object (H, W) if present.
    pub object: Option<(usize, usize, Vec<Complex32>)>,
    /// Ground-truth patches (M, N, N) if present.
    pub patches: Option<Vec<Complex32>>,
    /// Positions before jitter, if present.
    pub start: Option<(Vec<f64>, Vec<f64>)>,
    /// Scan index per pattern, if present.
    pub scan_index: Option<Vec<i64>>,
    /// `_metadata` JSON (null if absent).
    pub metadata: serde_json::Value,
}

impl Dataset {
    /// Number of patterns M.
    pub fn len(&self) -> usize {
        self.xcoords.len()
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.xcoords.is_empty()
    }

    /// `nphotons` from the metadata, if recorded.
    pub fn nphotons(&self) -> Option<f64> {
        self.metadata.get("nphotons").and_then(|v| v.as_f64())
    }
}

struct Reader {
    path: String,
    npz: NpzReader<std::fs::File>,
    names: Vec<String>,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, DataError> {
        let p = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| DataError::File {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let mut npz = NpzReader::new(f).map_err(|e| DataError::File {
            path: p.clone(),
            message: format!("not a readable NPZ archive ({e})"),
        })?;
        let names = npz
            .names()
            .map_err(|e| DataError::File {
                path: p.clone(),
                message: e.to_string(),
            })?
            .into_iter()
            .map(|n| n.trim_end_matches(".npy").to_string())
            .collect();
        Ok(Reader {
            path: p,
            npz,
            names,
        })
    }

    fn has(&self, key: &str) -> bool {
        self.names.iter().any(|n| n == key)
    }

    fn missing(&self, key: &str) -> DataError {
        DataError::Missing {
            path: self.path.clone(),
            key: key.into(),
            present: self.names.join(", "),
        }
    }

    fn key_err(&self, key: &str, message: String) -> DataError {
        DataError::Key {
            path: self.path.clone(),
            key: key.into(),
            message,
        }
    }

    /// Reads a real array as f64 from float32 or float64 (or integer for coordinates).
    fn real(&mut self, key: &str) -> Result<ArrayD<f64>, DataError> {
        if !self.has(key) {
            return Err(self.missing(key));
        }
        if let Ok(a) = self.npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>(key) {
            return Ok(a);
        }
        if let Ok(a) = self.npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>(key) {
            return Ok(a.mapv(|v| v as f64));
        }
        if let Ok(a) = self.npz.by_name::<ndarray::OwnedRepr<i64>, IxDyn>(key) {
            return Ok(a.mapv(|v| v as f64));
        }
        Err(self.key_err(key, "expected a float32 or float64 array".into()))
    }

    /// Reads a complex array from complex64 or complex128 (real arrays are promoted).
    fn complex(&mut self, key: &str) -> Result<ArrayD<Complex64>, DataError> {
        if !self.has(key) {
            return Err(self.missing(key));
        }
        if let Ok(a) = self
            .npz
            .by_name::<ndarray::OwnedRepr<Complex32>, IxDyn>(key)
        {
            return Ok(a.mapv(|z| Complex64::new(z.re as f64, z.im as f64)));
        }
        if let Ok(a) = self
            .npz
            .by_name::<ndarray::OwnedRepr<Complex64>, IxDyn>(key)
        {
            return Ok(a);
        }
        self.real(key)
            .map(|a| a.mapv(|v| Complex64::new(v, 0.0)))
            .map_err(|_| self.key_err(key, "expected a complex64 or complex128 array".into()))
    }

    fn check_finite_real(&self, key: &str, a: &ArrayD<f64>) -> Result<(), DataError> {
        if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(self.key_err(key, format!("non-finite value {v} at flat index {i}")));
        }
        Ok(())
    }

    fn check_finite_complex(&self, key: &str, a: &ArrayD<Complex64>) -> Result<(), DataError> {
        if let Some((i, v)) = a
            .iter()
            .enumerate()
            .find(|(_, v)| !v.re.is_finite() || !v.im.is_finite())
        {
            return Err(self.key_err(key, format!("non-finite value {v} at flat index {i}")));
        }
        Ok(())
    }
}

/// Reads `_metadata` (JSON in a 0-d unicode array, or a legacy pickled object array).
fn read_metadata(path: &Path) -> serde_json::Value {
    let Ok(f) = std::fs::File::open(path) else {
        return serde_json::Value::Null;
    };
    let Ok(mut zip) = zip::ZipArchive::new(f) else {
        return serde_json::Value::Null;
    };
    let Ok(mut entry) = zip.by_name("_metadata.npy") else {
        return serde_json::Value::Null;
    };
    let mut bytes = Vec::new();
    if entry.read_to_end(&mut bytes).is_err() {
        return serde_json::Value::Null;
    }
    let text = match npyz::NpyFile::new(&bytes[..]) {
        Ok(npy) if !npy.header().dtype().descr().contains('O') => npy
            .into_vec::<String>()
            .ok()
            .and_then(|v| v.into_iter().next()),
        _ => None,
    };
    let text = text.or_else(|| legacy_pickled_json(&bytes));
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The JSON string inside a pickled 0-d object array (legacy PtychoPINN files).
fn legacy_pickled_json(npy: &[u8]) -> Option<String> {
    // Skip the .npy header: magic (6) + version (2) + header length (2 or 4) + header.
    let (hlen, start) = match npy.get(6)? {
        1 => (u16::from_le_bytes([npy[8], npy[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([npy[8], npy[9], npy[10], npy[11]]) as usize,
            12,
        ),
    };
    let v: serde_pickle::Value = serde_pickle::value_from_slice(
        npy.get(start + hlen..)?,
        serde_pickle::DeOptions::new().replace_unresolved_globals(),
    )
    .ok()?;
    fn find(v: &serde_pickle::Value) -> Option<String> {
        match v {
            serde_pickle::Value::String(s) if s.trim_start().starts_with('{') => Some(s.clone()),
            serde_pickle::Value::List(l) | serde_pickle::Value::Tuple(l) => {
                l.iter().rev().find_map(find)
            }
            _ => None,
        }
    }
    find(&v)
}

fn shape(a: &ArrayD<impl Clone>) -> String {
    format!("{:?}", a.shape())
}

/// Reads and validates a PtychoPINN NPZ.
pub fn read_dataset(path: &Path) -> Result<Dataset, DataError> {
    let mut r = Reader::open(path)?;
    let xs = r.real("xcoords")?;
    let ys = r.real("ycoords")?;
    for (k, a) in [("xcoords", &xs), ("ycoords", &ys)] {
        if a.ndim() != 1 {
            return Err(r.key_err(k, format!("expected shape (M,), got {}", shape(a))));
        }
        r.check_finite_real(k, a)?;
    }
    if xs.len() != ys.len() {
        return Err(r.key_err(
            "ycoords",
            format!("has {} positions but xcoords has {}", ys.len(), xs.len()),
        ));
    }
    let m = xs.len();
    let diff_key = if r.has("diff3d") {
        "diff3d"
    } else if r.has("diffraction") {
        "diffraction"
    } else {
        return Err(r.missing("diff3d"));
    };
    let mut diff = r.real(diff_key)?;
    if diff.ndim() != 3 {
        return Err(r.key_err(
            diff_key,
            format!("expected shape (M, N, N), got {}", shape(&diff)),
        ));
    }
    let s = diff.shape().to_vec();
    if s[0] != m && s[2] == m && s[0] == s[1] {
        // Legacy (N, N, M) layout.
        diff = diff
            .permuted_axes(IxDyn(&[2, 0, 1]))
            .as_standard_layout()
            .to_owned();
    }
    let s = diff.shape().to_vec();
    if s[0] != m || s[1] != s[2] {
        return Err(r.key_err(
            diff_key,
            format!(
                "expected shape ({m}, N, N) to match {m} positions, got {}",
                shape(&diff)
            ),
        ));
    }
    let n = s[1];
    if !n.is_power_of_two() || n < 8 {
        return Err(r.key_err(
            diff_key,
            format!("pattern size N = {n} is not a power of two ≥ 8"),
        ));
    }
    r.check_finite_real(diff_key, &diff)?;
    if let Some(v) = diff.iter().find(|v| **v < 0.0) {
        return Err(r.key_err(
            diff_key,
            format!("negative amplitude {v}: diffraction data must be amplitudes ≥ 0"),
        ));
    }
    let probe = r.complex("probeGuess")?;
    if probe.shape() != [n, n] {
        return Err(r.key_err(
            "probeGuess",
            format!(
                "shape {} differs from the pattern size ({n}, {n})",
                shape(&probe)
            ),
        ));
    }
    r.check_finite_complex("probeGuess", &probe)?;
    let object = if r.has("objectGuess") {
        let o = r.complex("objectGuess")?;
        if o.ndim() != 2 {
            return Err(r.key_err(
                "objectGuess",
                format!("expected shape (H, W), got {}", shape(&o)),
            ));
        }
        r.check_finite_complex("objectGuess", &o)?;
        let (h, w) = (o.shape()[0], o.shape()[1]);
        for (i, (&x, &y)) in xs.iter().zip(ys.iter()).enumerate() {
            if x < 0.0 || y < 0.0 || x > w as f64 || y > h as f64 {
                return Err(r.key_err(
                    "xcoords",
                    format!("position {i} (x {x}, y {y}) lies outside the {w}×{h} object"),
                ));
            }
        }
        Some((
            h,
            w,
            o.iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect(),
        ))
    } else {
        None
    };
    let patch_key = ["ground_truth_patches", "Y"].into_iter().find(|k| r.has(k));
    let patches = match patch_key {
        Some(k) => {
            let p = r.complex(k)?;
            if p.shape() != [m, n, n] {
                return Err(r.key_err(
                    k,
                    format!("expected shape ({m}, {n}, {n}), got {}", shape(&p)),
                ));
            }
            Some(
                p.iter()
                    .map(|z| Complex32::new(z.re as f32, z.im as f32))
                    .collect(),
            )
        }
        None => None,
    };
    let start = if r.has("xcoords_start") && r.has("ycoords_start") {
        let (a, b) = (r.real("xcoords_start")?, r.real("ycoords_start")?);
        (a.len() == m && b.len() == m)
            .then(|| (a.iter().copied().collect(), b.iter().copied().collect()))
    } else {
        None
    };
    let scan_index = if r.has("scan_index") {
        Some(r.real("scan_index")?.iter().map(|&v| v as i64).collect())
    } else {
        None
    };
    let metadata = if r.has("_metadata") {
        read_metadata(path)
    } else {
        serde_json::Value::Null
    };
    if let Some(np) = metadata.get("nphotons").and_then(|v| v.as_f64())
        && !(np > 0.0)
    {
        return Err(r.key_err("_metadata", format!("nphotons = {np} must be positive")));
    }
    Ok(Dataset {
        n,
        xcoords: xs.iter().copied().collect(),
        ycoords: ys.iter().copied().collect(),
        diff: diff.iter().map(|&v| v as f32).collect(),
        probe: probe
            .iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect(),
        object,
        patches,
        start,
        scan_index,
        metadata,
    })
}

/// Appends `key.npy` holding `data` with `shape` to the archive.
pub fn add<W: Write + Seek, T: ndarray_npy::WritableElement>(
    zip: &mut zip::ZipWriter<W>,
    key: &str,
    shape: &[usize],
    data: Vec<T>,
) -> std::io::Result<()> {
    use ndarray_npy::WriteNpyExt;
    let a = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(std::io::Error::other)?;
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file(format!("{key}.npy"), opts)
        .map_err(std::io::Error::other)?;
    a.write_npy(zip).map_err(std::io::Error::other)
}

/// Appends `_metadata` as a 0-d `<U…` array holding `json` (what numpy's savez writes).
fn add_metadata<W: Write + Seek>(zip: &mut zip::ZipWriter<W>, json: &str) -> std::io::Result<()> {
    add_string(zip, "_metadata", json)
}

/// Appends `key.npy` as a 0-d `<U…` (numpy str) array holding `json`.
pub fn add_string<W: Write + Seek>(
    zip: &mut zip::ZipWriter<W>,
    key: &str,
    json: &str,
) -> std::io::Result<()> {
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{key}.npy"), opts)
        .map_err(std::io::Error::other)?;
    let n = json.chars().count().max(1);
    let dtype = npyz::DType::Plain(format!("<U{n}").parse().map_err(std::io::Error::other)?);
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::new()
        .dtype(dtype)
        .shape(&[])
        .writer(zip)
        .begin_nd()
        .map_err(std::io::Error::other)?;
    w.push(json).map_err(std::io::Error::other)?;
    w.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// Writes `d` as a PtychoPINN NPZ (uncompressed), atomically.
pub fn write_dataset(path: &Path, d: &Dataset) -> Result<(), DataError> {
    let m = d.len();
    let n = d.n;
    fsutil::write_atomic(path, |w| -> std::io::Result<()> {
        let mut zip = zip::ZipWriter::new(w);
        add(&mut zip, "xcoords", &[m], d.xcoords.clone())?;
        add(&mut zip, "ycoords", &[m], d.ycoords.clone())?;
        let (xs, ys) = d
            .start
            .clone()
            .unwrap_or_else(|| (d.xcoords.clone(), d.ycoords.clone()));
        add(&mut zip, "xcoords_start", &[m], xs)?;
        add(&mut zip, "ycoords_start", &[m], ys)?;
        add(&mut zip, "diff3d", &[m, n, n], d.diff.clone())?;
        add(&mut zip, "probeGuess", &[n, n], d.probe.clone())?;
        if let Some((h, wd, o)) = &d.object {
            add(&mut zip, "objectGuess", &[*h, *wd], o.clone())?;
        }
        if let Some(p) = &d.patches {
            add(&mut zip, "ground_truth_patches", &[m, n, n], p.clone())?;
        }
        add(
            &mut zip,
            "scan_index",
            &[m],
            d.scan_index.clone().unwrap_or_else(|| vec![0; m]),
        )?;
        if !d.metadata.is_null() {
            add_metadata(&mut zip, &d.metadata.to_string())?;
        }
        zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| DataError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Positions (x, y) read from a file, if it has them.
pub type Positions = Option<(Vec<f64>, Vec<f64>)>;

/// Reads what `ptycho simulate --input` needs: `objectGuess`, `probeGuess` and, if present,
/// `xcoords`/`ycoords`. Returns (object, (H, W), probe, positions).
pub fn read_sim_input(
    path: &Path,
) -> Result<(Vec<Complex32>, (usize, usize), Vec<Complex32>, Positions), DataError> {
    let mut r = Reader::open(path)?;
    let o = r.complex("objectGuess")?;
    if o.ndim() != 2 {
        return Err(r.key_err(
            "objectGuess",
            format!("expected shape (H, W), got {}", shape(&o)),
        ));
    }
    r.check_finite_complex("objectGuess", &o)?;
    let p = r.complex("probeGuess")?;
    let n = p.shape().first().copied().unwrap_or(0);
    if p.ndim() != 2 || p.shape()[1] != n || !n.is_power_of_two() || n < 8 {
        return Err(r.key_err(
            "probeGuess",
            format!(
                "expected a square power-of-two shape (N, N), got {}",
                shape(&p)
            ),
        ));
    }
    r.check_finite_complex("probeGuess", &p)?;
    let (h, w) = (o.shape()[0], o.shape()[1]);
    let pos = if r.has("xcoords") && r.has("ycoords") {
        let (xs, ys) = (r.real("xcoords")?, r.real("ycoords")?);
        if xs.len() != ys.len() {
            return Err(r.key_err(
                "ycoords",
                format!("has {} positions but xcoords has {}", ys.len(), xs.len()),
            ));
        }
        r.check_finite_real("xcoords", &xs)?;
        r.check_finite_real("ycoords", &ys)?;
        for (i, (&x, &y)) in xs.iter().zip(ys.iter()).enumerate() {
            if x < 0.0 || y < 0.0 || x > w as f64 || y > h as f64 {
                return Err(r.key_err(
                    "xcoords",
                    format!("position {i} (x {x}, y {y}) lies outside the {w}×{h} object"),
                ));
            }
        }
        Some((xs.iter().copied().collect(), ys.iter().copied().collect()))
    } else {
        None
    };
    let c32 = |a: &ArrayD<Complex64>| {
        a.iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect::<Vec<_>>()
    };
    Ok((c32(&o), (h, w), c32(&p), pos))
}

/// Reads complex patches (M, N, N) under `key` with their `xcoords`/`ycoords`.
pub fn read_patches(
    path: &Path,
    key: &str,
) -> Result<(Vec<Complex32>, usize, Vec<f64>, Vec<f64>), DataError> {
    let mut r = Reader::open(path)?;
    let (xs, ys) = (r.real("xcoords")?, r.real("ycoords")?);
    if xs.len() != ys.len() || xs.ndim() != 1 {
        return Err(r.key_err(
            "ycoords",
            format!("has {} positions but xcoords has {}", ys.len(), xs.len()),
        ));
    }
    r.check_finite_real("xcoords", &xs)?;
    r.check_finite_real("ycoords", &ys)?;
    let p = r.complex(key)?;
    let s = p.shape().to_vec();
    if s.len() != 3 || s[0] != xs.len() || s[1] != s[2] {
        return Err(r.key_err(
            key,
            format!(
                "expected shape ({}, N, N) to match the positions, got {}",
                xs.len(),
                shape(&p)
            ),
        ));
    }
    r.check_finite_complex(key, &p)?;
    Ok((
        p.iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect(),
        s[1],
        xs.iter().copied().collect(),
        ys.iter().copied().collect(),
    ))
}

/// Writes a stitched object: `object` (c64), `amplitude`, `phase` (f32), `origin_xy`, and the
/// positions used.
pub fn write_reconstruction(
    path: &Path,
    s: &crate::stitch::Stitched,
    xs: &[f64],
    ys: &[f64],
) -> Result<(), DataError> {
    fsutil::write_atomic(path, |w| -> std::io::Result<()> {
        let mut zip = zip::ZipWriter::new(w);
        add(&mut zip, "object", &[s.h, s.w], s.object.clone())?;
        add(
            &mut zip,
            "amplitude",
            &[s.h, s.w],
            s.object.iter().map(|z| z.norm()).collect::<Vec<f32>>(),
        )?;
        add(
            &mut zip,
            "phase",
            &[s.h, s.w],
            s.object.iter().map(|z| z.arg()).collect::<Vec<f32>>(),
        )?;
        add(&mut zip, "origin_xy", &[2], s.origin_xy.to_vec())?;
        add(&mut zip, "xcoords", &[xs.len()], xs.to_vec())?;
        add(&mut zip, "ycoords", &[ys.len()], ys.to_vec())?;
        zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| DataError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
