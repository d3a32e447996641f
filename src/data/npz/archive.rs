//! The NPZ archive reader: every `.npy` header is parsed and checked against its entry before
//! an array is allocated, dtypes are converted where PtychoPINN files vary, and `_metadata` is
//! read as JSON (0-d unicode array, or a legacy pickled object array).

use std::io::Read;
use std::path::Path;

use ndarray::ArrayD;
use num_complex::{Complex32, Complex64};

use crate::data::{DataError, one_line};

/// What an entry's `.npy` header declares.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Key (entry name without `.npy`).
    pub(crate) key: String,
    /// Index in the archive.
    index: usize,
    /// dtype descriptor, e.g. `<f4`, `|u1`, `<c8`, `<U60`, `|O`.
    pub(crate) descr: String,
    /// Shape.
    pub(crate) shape: Vec<usize>,
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

pub(crate) struct Reader {
    pub(crate) path: String,
    zip: zip::ZipArchive<std::fs::File>,
    entries: Vec<Entry>,
    names: Vec<String>,
}

impl Reader {
    pub(crate) fn open(path: &Path) -> Result<Reader, DataError> {
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

    /// Every entry (name, dtype, shape), in the archive's order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.names.iter().any(|n| n == key)
    }

    pub(crate) fn entry(&self, key: &str) -> Result<Entry, DataError> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .cloned()
            .ok_or_else(|| self.missing(key))
    }

    pub(crate) fn missing(&self, key: &str) -> DataError {
        DataError::Missing {
            path: self.path.clone(),
            key: key.into(),
            present: self.names.join(", "),
        }
    }

    pub(crate) fn key_err(&self, key: &str, message: String) -> DataError {
        DataError::Key {
            path: self.path.clone(),
            key: key.into(),
            message,
        }
    }

    /// Reads entry `e` as an array of `T` (its header already checked to name `T`).
    pub(crate) fn array<T: ndarray_npy::ReadableElement>(
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
    pub(crate) fn real_kind(&mut self, key: &str) -> Result<(ArrayD<f64>, bool), DataError> {
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
    pub(crate) fn real(&mut self, key: &str) -> Result<ArrayD<f64>, DataError> {
        self.real_kind(key).map(|(a, _)| a)
    }

    /// Reads a complex array from complex64 or complex128 (real arrays are promoted).
    pub(crate) fn complex(&mut self, key: &str) -> Result<ArrayD<Complex64>, DataError> {
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

    pub(crate) fn check_finite_real(&self, key: &str, a: &ArrayD<f64>) -> Result<(), DataError> {
        if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(self.key_err(key, format!("non-finite value {v} at flat index {i}")));
        }
        Ok(())
    }

    pub(crate) fn check_finite_complex(
        &self,
        key: &str,
        a: &ArrayD<Complex64>,
    ) -> Result<(), DataError> {
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
    pub(crate) fn metadata(&mut self) -> serde_json::Value {
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

pub(crate) fn shape(a: &ArrayD<impl Clone>) -> String {
    format!("{:?}", a.shape())
}
