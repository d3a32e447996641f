//! A dataset in memory, as every reader returns it.

use num_complex::Complex32;

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

    /// Probe modes P (the probe is P × N × N).
    pub fn modes(&self) -> usize {
        self.probe.len() / (self.n * self.n).max(1)
    }

    /// `nphotons` from the metadata, if recorded.
    pub fn nphotons(&self) -> Option<f64> {
        physics_param(&self.metadata, "nphotons").and_then(|v| v.as_f64())
    }
}

/// The array shape a probe of `len` values (modes × N × N) is stored with: (N, N) for one
/// mode, (P, N, N) for P.
pub fn probe_dims(len: usize, n: usize) -> Vec<usize> {
    match len / (n * n).max(1) {
        0 | 1 => vec![n, n],
        p => vec![p, n, n],
    }
}

/// A physics parameter of a file's `_metadata`: at the top level (ptycho's and older
/// PtychoPINN files) or under `physics_parameters` (PtychoPINN 2.0's schema 1.0.0, e.g.
/// `{"schema_version": "1.0.0", "physics_parameters": {"nphotons": 1e9, "N": 64, "gridsize":
/// 1, …}, …}`).
pub fn physics_param<'a>(meta: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    meta.get(key)
        .or_else(|| meta.get("physics_parameters").and_then(|p| p.get(key)))
        .filter(|v| !v.is_null())
}

/// Positions (x, y) read from a file, if it has them.
pub type Positions = Option<(Vec<f64>, Vec<f64>)>;

/// What `ptycho simulate --input` needs from an NPZ or CXI file: (object, (H, W), probe (every
/// mode, modes × N × N), N, positions in object pixels if the file has them).
pub type SimInput = (
    Vec<Complex32>,
    (usize, usize),
    Vec<Complex32>,
    usize,
    Positions,
);
