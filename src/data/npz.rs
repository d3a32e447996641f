//! Reading and writing the PtychoPINN NPZ contract (specs/data.md).
//!
//! Arrays are read with ndarray-npy, accepting float32/float64 and complex64/complex128 where
//! PtychoPINN files vary; `_metadata` (a 0-d unicode array holding JSON, or a legacy pickled
//! object array) is read with npyz. Writes go to a temporary file that is renamed when complete.

use std::io::{Read, Seek, Write};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use thiserror::Error;

use crate::data::{ProbeSource, one_line};
use crate::util::fs;

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

/// What an entry's `.npy` header declares.
#[derive(Clone, Debug)]
struct Entry {
    /// Key (entry name without `.npy`).
    key: String,
    /// Index in the archive.
    index: usize,
    /// dtype descriptor, e.g. `<f4`, `|u1`, `<c8`, `<U60`, `|O`.
    descr: String,
    /// Shape.
    shape: Vec<usize>,
}

/// Largest `.npy` header accepted (numpy writes well under 1 KiB).
const MAX_HEADER: usize = 1 << 16;

/// Largest `_metadata` entry read (JSON text).
const MAX_METADATA: u64 = 16 << 20;

/// Bytes per element of a numpy dtype descriptor (`None` for object arrays).
fn itemsize(descr: &str) -> Option<usize> {
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    let (kind, digits) = body.split_at(body.find(|c: char| c.is_ascii_digit())?);
    let n: usize = digits.parse().ok()?;
    match kind {
        "U" => n.checked_mul(4),
        "f" | "i" | "u" | "c" | "b" | "S" | "V" => Some(n),
        _ => None,
    }
}

/// Parses a `.npy` header from the start of `r` without trusting its sizes: returns the
/// descriptor, the shape, and the header's length in bytes.
fn parse_header(r: &mut impl Read) -> Result<(String, Vec<usize>, usize), String> {
    let mut pre = [0u8; 10];
    r.read_exact(&mut pre)
        .map_err(|e| format!("cannot read the .npy header ({e})"))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic string)".into());
    }
    let (len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        2 | 3 => {
            let mut more = [0u8; 2];
            r.read_exact(&mut more)
                .map_err(|e| format!("cannot read the .npy header ({e})"))?;
            (
                u32::from_le_bytes([pre[8], pre[9], more[0], more[1]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    if len > MAX_HEADER {
        return Err(format!("malformed .npy header ({len} bytes long)"));
    }
    let mut text = vec![0u8; len];
    r.read_exact(&mut text)
        .map_err(|e| format!("truncated .npy header ({e})"))?;
    let text = String::from_utf8_lossy(&text);
    let bad = || format!("malformed .npy header {:?}", text.trim_end());
    let value_after = |name: &str| -> Option<&str> {
        let i = text.find(&format!("'{name}'"))?;
        let rest = &text[i + name.len() + 2..];
        Some(rest[rest.find(':')? + 1..].trim_start())
    };
    let descr = value_after("descr").ok_or_else(bad)?;
    let quote = descr
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(bad)?;
    let descr = &descr[1..];
    let descr = descr[..descr.find(quote).ok_or_else(bad)?].to_string();
    if descr.is_empty() || !descr.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad());
    }
    let shape = value_after("shape").ok_or_else(bad)?;
    let shape = shape.strip_prefix('(').ok_or_else(bad)?;
    let shape = &shape[..shape.find(')').ok_or_else(bad)?];
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('L').parse::<usize>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((descr, shape, start + len))
}

struct Reader {
    path: String,
    zip: zip::ZipArchive<std::fs::File>,
    entries: Vec<Entry>,
    names: Vec<String>,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader, DataError> {
        let p = path.display().to_string();
        let file_err = |message: String| DataError::File {
            path: p.clone(),
            message,
        };
        let f = std::fs::File::open(path).map_err(|e| file_err(one_line(e)))?;
        let mut zip = zip::ZipArchive::new(f)
            .map_err(|e| file_err(format!("not a readable NPZ archive ({})", one_line(e))))?;
        let mut entries = Vec::new();
        for index in 0..zip.len() {
            let mut e = zip
                .by_index(index)
                .map_err(|e| file_err(format!("not a readable NPZ archive ({})", one_line(e))))?;
            let name = e.name().to_string();
            // (Escaped: a damaged name must not break the one-line error messages.)
            let Some(key) = name
                .strip_suffix(".npy")
                .map(|k| k.escape_debug().to_string())
            else {
                continue;
            };
            let key_err = |message: String| DataError::Key {
                path: p.clone(),
                key: key.clone(),
                message,
            };
            let (size, packed, stored) = (
                e.size(),
                e.compressed_size(),
                e.compression() == zip::CompressionMethod::Stored,
            );
            let (descr, shape, header) = parse_header(&mut e).map_err(key_err)?;
            // The header's shape must fit in the entry, so that a corrupt header cannot make
            // the array reader allocate more than the file can hold. Deflate expands at most
            // ~1032×, so a declared size beyond that is corrupt too.
            if let Some(item) = itemsize(&descr) {
                let bytes = shape
                    .iter()
                    .try_fold(item as u64, |a, &d| a.checked_mul(d as u64));
                let limit = if stored {
                    packed
                } else {
                    packed.saturating_mul(1032) + 1024
                };
                match bytes {
                    Some(b) if b + header as u64 <= size.min(limit) => {}
                    _ => {
                        return Err(key_err(format!(
                            "header declares shape {shape:?} of {descr}, more than the {size} bytes the entry holds"
                        )));
                    }
                }
            }
            entries.push(Entry {
                key,
                index,
                descr,
                shape,
            });
        }
        let names = entries.iter().map(|e| e.key.clone()).collect();
        Ok(Reader {
            path: p,
            zip,
            entries,
            names,
        })
    }

    fn has(&self, key: &str) -> bool {
        self.names.iter().any(|n| n == key)
    }

    fn entry(&self, key: &str) -> Result<Entry, DataError> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .cloned()
            .ok_or_else(|| self.missing(key))
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

    /// Reads entry `e` as an array of `T` (its header already checked to name `T`).
    fn array<T: ndarray_npy::ReadableElement>(
        &mut self,
        e: &Entry,
    ) -> Result<ArrayD<T>, DataError> {
        use ndarray_npy::ReadNpyExt;
        let read = match self.zip.by_index(e.index) {
            Ok(r) => ArrayD::<T>::read_npy(r).map_err(one_line),
            Err(err) => Err(one_line(err)),
        };
        read.map_err(|err| {
            self.key_err(
                &e.key,
                format!("cannot read {} {:?} ({err})", e.descr, e.shape),
            )
        })
    }

    /// Reads a real array as f64 from any float or integer dtype; also says whether the dtype
    /// was an integer one.
    fn real_kind(&mut self, key: &str) -> Result<(ArrayD<f64>, bool), DataError> {
        let e = self.entry(key)?;
        let body = e.descr.trim_start_matches(['<', '>', '|', '=']);
        macro_rules! as_f64 {
            ($t:ty) => {
                self.array::<$t>(&e)?.mapv(|v| v as f64)
            };
        }
        Ok(match body {
            "f8" => (self.array::<f64>(&e)?, false),
            "f4" => (as_f64!(f32), false),
            "i1" => (as_f64!(i8), true),
            "i2" => (as_f64!(i16), true),
            "i4" => (as_f64!(i32), true),
            "i8" => (as_f64!(i64), true),
            "u1" => (as_f64!(u8), true),
            "u2" => (as_f64!(u16), true),
            "u4" => (as_f64!(u32), true),
            "u8" => (as_f64!(u64), true),
            _ => {
                return Err(self.key_err(
                    key,
                    format!(
                        "dtype {} {:?}: expected a float or integer array",
                        e.descr, e.shape
                    ),
                ));
            }
        })
    }

    /// Reads a real array as f64 from any float or integer dtype.
    fn real(&mut self, key: &str) -> Result<ArrayD<f64>, DataError> {
        self.real_kind(key).map(|(a, _)| a)
    }

    /// Reads a complex array from complex64 or complex128 (real arrays are promoted).
    fn complex(&mut self, key: &str) -> Result<ArrayD<Complex64>, DataError> {
        let e = self.entry(key)?;
        match e.descr.trim_start_matches(['<', '>', '|', '=']) {
            "c8" => Ok(self
                .array::<Complex32>(&e)?
                .mapv(|z| Complex64::new(z.re as f64, z.im as f64))),
            "c16" => self.array::<Complex64>(&e),
            _ => self
                .real(key)
                .map(|a| a.mapv(|v| Complex64::new(v, 0.0)))
                .map_err(|_| {
                    self.key_err(
                        key,
                        format!(
                            "dtype {} {:?}: expected a complex64 or complex128 array",
                            e.descr, e.shape
                        ),
                    )
                }),
        }
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

    /// `_metadata` (JSON in a 0-d unicode array, or a legacy pickled object array); null if
    /// absent or unreadable.
    fn metadata(&mut self) -> serde_json::Value {
        let Ok(e) = self.entry("_metadata") else {
            return serde_json::Value::Null;
        };
        let Ok(entry) = self.zip.by_index(e.index) else {
            return serde_json::Value::Null;
        };
        let mut bytes = Vec::new();
        if entry.take(MAX_METADATA).read_to_end(&mut bytes).is_err() {
            return serde_json::Value::Null;
        }
        parse_metadata(&bytes)
    }
}

/// Parses a `_metadata.npy` entry (JSON in a 0-d unicode array, or a legacy pickled object
/// array); null if it is neither.
fn parse_metadata(bytes: &[u8]) -> serde_json::Value {
    let text = match npyz::NpyFile::new(bytes) {
        Ok(npy) if !npy.header().dtype().descr().contains('O') => npy
            .into_vec::<String>()
            .ok()
            .and_then(|v| v.into_iter().next()),
        _ => None,
    };
    let text = text.or_else(|| legacy_pickled_json(bytes));
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The JSON string inside a pickled 0-d object array (legacy PtychoPINN files).
fn legacy_pickled_json(npy: &[u8]) -> Option<String> {
    // Skip the .npy header: magic (6) + version (2) + header length (2 or 4) + header.
    // (`get`, not indexing: the bytes may be truncated.)
    let (hlen, start) = match npy.get(6)? {
        1 => (
            u16::from_le_bytes([*npy.get(8)?, *npy.get(9)?]) as usize,
            10usize,
        ),
        _ => (
            u32::from_le_bytes([*npy.get(8)?, *npy.get(9)?, *npy.get(10)?, *npy.get(11)?]) as usize,
            12,
        ),
    };
    let v: serde_pickle::Value = serde_pickle::value_from_slice(
        npy.get(start.checked_add(hlen)?..)?,
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

/// Reads and validates a PtychoPINN NPZ with its own probe (see [`crate::data::read_dataset`]
/// for the probe options and CXI files).
pub fn read_dataset(path: &Path) -> Result<Dataset, DataError> {
    read_dataset_with(path, ProbeSource::File, false)
}

/// Converts positions read as (M,) arrays, checking rank, finiteness and equal lengths.
fn positions(r: &mut Reader) -> Result<(ArrayD<f64>, ArrayD<f64>), DataError> {
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
    Ok((xs, ys))
}

/// The diffraction amplitudes (M, N, N) as f32 (legacy (N, N, M) transposed), checked finite
/// and ≥ 0; integer arrays are counts and become sqrt(counts). float32 files (the usual case)
/// are read without a wider intermediate copy: the patterns are the largest array of a
/// dataset, and reading them must not need several times their size in memory.
fn read_diffraction(
    r: &mut Reader,
    path: &Path,
    key: &str,
    m: usize,
) -> Result<(Vec<f32>, usize), DataError> {
    let legacy = |s: &[usize]| s.len() == 3 && s[0] != m && s[2] == m && s[0] == s[1];
    let e = r.entry(key)?;
    if e.descr.trim_start_matches(['<', '>', '|', '=']) == "f4" {
        let mut a = r.array::<f32>(&e)?;
        if legacy(a.shape()) {
            a = a
                .permuted_axes(IxDyn(&[2, 0, 1]))
                .as_standard_layout()
                .to_owned();
        }
        let n = crate::data::check_pattern_shape(path, key, m, a.shape())?;
        if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(r.key_err(key, format!("non-finite value {v} at flat index {i}")));
        }
        if let Some(v) = a.iter().find(|v| **v < 0.0) {
            return Err(r.key_err(
                key,
                format!("negative amplitude {v}: diffraction data must be amplitudes ≥ 0"),
            ));
        }
        // Standard layout already (read or transposed above): take the buffer without a copy.
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        return Ok((a.into_raw_vec_and_offset().0, n));
    }
    let (mut diff, counts) = r.real_kind(key)?;
    if legacy(diff.shape()) {
        diff = diff
            .permuted_axes(IxDyn(&[2, 0, 1]))
            .as_standard_layout()
            .to_owned();
    }
    let n = crate::data::check_pattern_shape(path, key, m, diff.shape())?;
    let diff: Vec<f32> = if counts {
        let descr = r.entry(key)?.descr;
        crate::data::note(&format!(
            "{}: '{key}' holds integer counts ({descr}); amplitudes = sqrt(counts)",
            r.path
        ));
        crate::data::counts_to_amplitudes(path, key, diff.iter().copied())?
    } else {
        r.check_finite_real(key, &diff)?;
        if let Some(v) = diff.iter().find(|v| **v < 0.0) {
            return Err(r.key_err(
                key,
                format!("negative amplitude {v}: diffraction data must be amplitudes ≥ 0"),
            ));
        }
        diff.iter().map(|&v| v as f32).collect()
    };
    Ok((diff, n))
}

/// Reads and validates a PtychoPINN NPZ; the probe comes from `src`. Integer `diff3d` arrays
/// are detector counts and become amplitudes sqrt(counts) (with a note on stderr). With
/// `skip_patches` the ground-truth patches are not read.
pub fn read_dataset_with(
    path: &Path,
    src: ProbeSource<'_>,
    skip_patches: bool,
) -> Result<Dataset, DataError> {
    let mut r = Reader::open(path)?;
    let (xs, ys) = positions(&mut r)?;
    let m = xs.len();
    let diff_key = if r.has("diff3d") {
        "diff3d"
    } else if r.has("diffraction") {
        "diffraction"
    } else {
        return Err(r.missing("diff3d"));
    };
    let (diff, n) = read_diffraction(&mut r, path, diff_key, m)?;
    let probe = match src.given(path, n)? {
        Some(p) => p,
        None if !r.has("probeGuess") && src.fallback().is_some() => {
            let p = src.fallback().unwrap_or_default().to_vec();
            if p.len() != n * n {
                return Err(r.key_err(
                    "probeGuess",
                    format!(
                        "absent, and the fallback (model) probe is {0}×{0} but the patterns are {n}×{n}",
                        (p.len() as f64).sqrt() as usize
                    ),
                ));
            }
            p
        }
        None => {
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
            probe
                .iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect()
        }
    };
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
        check_inside(&r, &xs, &ys, h, w)?;
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
    let patch_key = ["ground_truth_patches", "Y"]
        .into_iter()
        .find(|k| !skip_patches && r.has(k));
    let patches = match patch_key {
        Some(k) => {
            let p = r.complex(k)?;
            if p.shape() != [m, n, n] {
                return Err(r.key_err(
                    k,
                    format!("expected shape ({m}, {n}, {n}), got {}", shape(&p)),
                ));
            }
            r.check_finite_complex(k, &p)?;
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
        r.check_finite_real("xcoords_start", &a)?;
        r.check_finite_real("ycoords_start", &b)?;
        (a.len() == m && b.len() == m)
            .then(|| (a.iter().copied().collect(), b.iter().copied().collect()))
    } else {
        None
    };
    let scan_index = if r.has("scan_index") {
        let a = r.real("scan_index")?;
        if a.len() != m {
            return Err(r.key_err(
                "scan_index",
                format!("expected shape ({m},), got {}", shape(&a)),
            ));
        }
        r.check_finite_real("scan_index", &a)?;
        Some(a.iter().map(|&v| v as i64).collect())
    } else {
        None
    };
    let metadata = r.metadata();
    if let Some(np) = metadata.get("nphotons").and_then(|v| v.as_f64())
        && !(np > 0.0 && np.is_finite())
    {
        return Err(r.key_err("_metadata", format!("nphotons = {np} must be positive")));
    }
    Ok(Dataset {
        n,
        xcoords: xs.iter().copied().collect(),
        ycoords: ys.iter().copied().collect(),
        diff,
        probe,
        object,
        patches,
        start,
        scan_index,
        metadata,
    })
}

/// Every position must lie on the H×W object.
fn check_inside(
    r: &Reader,
    xs: &ArrayD<f64>,
    ys: &ArrayD<f64>,
    h: usize,
    w: usize,
) -> Result<(), DataError> {
    for (i, (&x, &y)) in xs.iter().zip(ys.iter()).enumerate() {
        if x < 0.0 || y < 0.0 || x > w as f64 || y > h as f64 {
            return Err(r.key_err(
                "xcoords",
                format!("position {i} (x {x}, y {y}) lies outside the {w}×{h} object"),
            ));
        }
    }
    Ok(())
}

/// Reads a probe (N, N) from `probeGuess`, or from `probe` (a model bundle's (N, N), or a
/// Ptychodus product's (modes, N, N), whose first mode is taken).
pub fn read_probe(path: &Path) -> Result<Vec<Complex32>, DataError> {
    let mut r = Reader::open(path)?;
    let key = if r.has("probeGuess") {
        "probeGuess"
    } else if r.has("probe") {
        "probe"
    } else {
        return Err(r.missing("probeGuess"));
    };
    let p = r.complex(key)?;
    let s = p.shape().to_vec();
    let ok = (s.len() == 2 || (s.len() == 3 && s[0] >= 1)) && s[s.len() - 1] == s[s.len() - 2];
    let n = s.last().copied().unwrap_or(0);
    if !ok || !n.is_power_of_two() || n < 8 {
        return Err(r.key_err(
            key,
            format!(
                "expected a square power-of-two probe (N, N) or (modes, N, N), got {}",
                shape(&p)
            ),
        ));
    }
    if s.len() == 3 && s[0] > 1 {
        crate::data::note(&format!(
            "{}: '{key}' has {} probe modes; using the first",
            r.path, s[0]
        ));
    }
    let first: Vec<Complex32> = p
        .iter()
        .take(n * n)
        .map(|z| Complex32::new(z.re as f32, z.im as f32))
        .collect();
    if let Some((i, v)) = first
        .iter()
        .enumerate()
        .find(|(_, v)| !v.re.is_finite() || !v.im.is_finite())
    {
        return Err(r.key_err(key, format!("non-finite value {v} at flat index {i}")));
    }
    Ok(first)
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
    fs::write_atomic(path, |w| -> std::io::Result<()> {
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
pub fn read_sim_input(path: &Path) -> Result<crate::data::SimInput, DataError> {
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
        let (xs, ys) = positions(&mut r)?;
        check_inside(&r, &xs, &ys, h, w)?;
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
    let (xs, ys) = positions(&mut r)?;
    let p = r.complex(key)?;
    let s = p.shape().to_vec();
    if s.len() != 3 || s[0] != xs.len() || s[1] != s[2] || s[0] == 0 || s[1] == 0 {
        return Err(r.key_err(
            key,
            format!(
                "expected shape ({}, N, N), N ≥ 1, to match the positions, got {}",
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
    fs::write_atomic(path, |w| -> std::io::Result<()> {
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
