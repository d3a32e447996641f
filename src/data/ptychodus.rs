//! Ptychodus's batch-mode folders (feature `hdf5`): what `ptychodus -b reconstruct|train -i IN
//! -o OUT` reads — `IN/diffraction.h5` (as 1.7's `save_diffraction_data` writes it: `indexes`
//! (M,), `patterns` (M, H, W) counts with `detector_pixel_width_m`/`_height_m` attributes,
//! `bad_pixels` (H, W) bool) and `IN/product.h5` (as `save_product` writes it: probe positions
//! in metres with their indexes, the probe, the object with its pixel size and centre, the
//! detector distance and photon energy) — turned into a PtychoPINN [`Dataset`], and the
//! geometry a result product is written back with.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use num_complex::{Complex32, Complex64};

use super::{DataError, Dataset, one_line};

/// The file names of Ptychodus 1.7's `StandardFileLayout`.
pub const DIFFRACTION: &str = "diffraction.h5";
/// The product (input: the initial guess and the geometry; output: the result).
pub const PRODUCT: &str = "product.h5";
/// The settings Ptychodus reads (ptycho reads `ptycho.toml` instead).
pub const SETTINGS: &str = "settings.ini";

/// The geometry of the input product, kept to write the result in the same frame.
#[derive(Clone, Debug)]
pub struct BatchGeometry {
    /// The input product's name.
    pub name: String,
    /// Position index of each pattern (in the order of the dataset).
    pub indexes: Vec<i64>,
    /// Probe positions x, y in metres (in the order of the dataset).
    pub x_m: Vec<f64>,
    /// Probe positions y in metres.
    pub y_m: Vec<f64>,
    /// Object pixel width and height in metres.
    pub pixel_m: [f64; 2],
    /// The input object's centre (x, y) in metres.
    pub center_m: [f64; 2],
    /// The input object's (H, W).
    pub object_hw: [usize; 2],
    /// Detector–object distance in metres.
    pub detector_distance_m: f64,
    /// Photon energy in eV.
    pub photon_energy_ev: f64,
    /// The input product's probe (every mode), physical units.
    pub probe: Vec<Complex32>,
}

struct H5<'a> {
    path: &'a Path,
    file: hdf5::File,
}

impl H5<'_> {
    fn open(path: &Path) -> Result<H5<'_>, DataError> {
        if !path.is_file() {
            return Err(DataError::File {
                path: path.display().to_string(),
                message:
                    "missing: a Ptychodus batch input folder holds diffraction.h5 and product.h5"
                        .into(),
            });
        }
        let file = hdf5::File::open(path).map_err(|e| DataError::File {
            path: path.display().to_string(),
            message: format!("not a readable HDF5 file ({})", one_line(e)),
        })?;
        Ok(H5 { path, file })
    }

    fn err(&self, key: &str, message: String) -> DataError {
        DataError::Key {
            path: self.path.display().to_string(),
            key: key.into(),
            message,
        }
    }

    fn dataset(&self, key: &str) -> Result<hdf5::Dataset, DataError> {
        self.file.dataset(key).map_err(|_| DataError::Missing {
            path: self.path.display().to_string(),
            key: key.into(),
            present: self.file.member_names().unwrap_or_default().join(", "),
        })
    }

    fn f64s(&self, key: &str) -> Result<(Vec<f64>, Vec<usize>), DataError> {
        let d = self.dataset(key)?;
        let v = d
            .read_raw::<f64>()
            .map_err(|e| self.err(key, format!("unreadable ({})", one_line(e))))?;
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(self.err(key, format!("non-finite value {x} at flat index {i}")));
        }
        Ok((v, d.shape()))
    }

    fn i64s(&self, key: &str) -> Result<Vec<i64>, DataError> {
        self.dataset(key)?
            .read_raw::<i64>()
            .map_err(|e| self.err(key, format!("unreadable as integers ({})", one_line(e))))
    }

    fn complex(&self, key: &str) -> Result<(Vec<Complex32>, Vec<usize>), DataError> {
        let d = self.dataset(key)?;
        let v = d
            .read_raw::<Complex64>()
            .map_err(|e| self.err(key, format!("unreadable as complex ({})", one_line(e))))?;
        Ok((
            v.iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect(),
            d.shape(),
        ))
    }

    fn attr(&self, loc: &hdf5::Location, key: &str, name: &str) -> Result<f64, DataError> {
        loc.attr(name)
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(|_| self.err(key, format!("attribute '{name}' missing or not a number")))
    }

    fn text_attr(&self, name: &str) -> Option<String> {
        self.file
            .attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .ok()
            .map(|s| s.as_str().to_string())
    }
}

/// Reads a Ptychodus batch input folder as a dataset (amplitudes = sqrt(counts), bad pixels
/// zero; positions in object pixels, x_px = (x_m − center_x_m)/pixel_width_m + (W − 1)/2; the
/// probe's incoherent modes of its first coherent mode; the object as the ground truth it may
/// be) and the geometry to write results with. Patterns are matched to positions by index;
/// an index without a position is an error naming it.
pub fn read_input(dir: &Path) -> Result<(Dataset, BatchGeometry), DataError> {
    let dpath = dir.join(DIFFRACTION);
    let ppath = dir.join(PRODUCT);
    let d = H5::open(&dpath)?;
    let p = H5::open(&ppath)?;

    // Patterns.
    let pat = d.dataset("patterns")?;
    let shape = pat.shape();
    if shape.len() != 3 || shape[1] != shape[2] || !shape[1].is_power_of_two() || shape[1] < 8 {
        return Err(d.err(
            "patterns",
            format!("expected (M, N, N) with N a power of two ≥ 8, got {shape:?}"),
        ));
    }
    let (m, n) = (shape[0], shape[1]);
    let mut counts = pat
        .read_raw::<f32>()
        .map_err(|e| d.err("patterns", format!("unreadable ({})", one_line(e))))?;
    let indexes = d.i64s("indexes")?;
    if indexes.len() != m {
        return Err(d.err(
            "indexes",
            format!("{} indexes for {m} patterns", indexes.len()),
        ));
    }
    if d.file.link_exists("bad_pixels") {
        let bad = d
            .dataset("bad_pixels")?
            .read_raw::<bool>()
            .map_err(|e| d.err("bad_pixels", format!("unreadable ({})", one_line(e))))?;
        if bad.len() != n * n {
            return Err(d.err(
                "bad_pixels",
                format!("{} values for patterns of {n}×{n}", bad.len()),
            ));
        }
        for f in counts.chunks_exact_mut(n * n) {
            for (v, &b) in f.iter_mut().zip(&bad) {
                if b {
                    *v = 0.0;
                }
            }
        }
    }
    for (i, v) in counts.iter_mut().enumerate() {
        if !v.is_finite() || *v < 0.0 {
            return Err(super::bad_count(&dpath, "patterns", i, *v as f64));
        }
        *v = (*v as f64).sqrt() as f32;
    }

    // Positions, by index.
    let pidx = p.i64s("probe_position_indexes")?;
    let (xm, _) = p.f64s("probe_position_x_m")?;
    let (ym, _) = p.f64s("probe_position_y_m")?;
    if xm.len() != pidx.len() || ym.len() != pidx.len() {
        return Err(p.err(
            "probe_position_x_m",
            format!(
                "{} x and {} y positions for {} indexes",
                xm.len(),
                ym.len(),
                pidx.len()
            ),
        ));
    }
    let mut x_m = Vec::with_capacity(m);
    let mut y_m = Vec::with_capacity(m);
    for &k in &indexes {
        let Some(j) = pidx.iter().position(|&q| q == k) else {
            return Err(p.err(
                "probe_position_indexes",
                format!("no position for pattern index {k} of {}", dpath.display()),
            ));
        };
        x_m.push(xm[j]);
        y_m.push(ym[j]);
    }

    // Object geometry and the probe.
    let obj_ds = p.dataset("object")?;
    let oloc: &hdf5::Location = &obj_ds;
    let pw = p.attr(oloc, "object", "pixel_width_m")?;
    let ph = p.attr(oloc, "object", "pixel_height_m")?;
    let cx = p.attr(oloc, "object", "center_x_m")?;
    let cy = p.attr(oloc, "object", "center_y_m")?;
    if !(pw > 0.0 && ph > 0.0) {
        return Err(p.err(
            "object",
            format!("pixel size {pw} × {ph} m must be positive"),
        ));
    }
    let (obj, oshape) = p.complex("object")?;
    let (h, w) = match oshape[..] {
        [_, h, w] | [h, w] => (h, w),
        _ => return Err(p.err("object", format!("expected (layers, H, W), got {oshape:?}"))),
    };
    let (probe_all, pshape) = p.complex("probe")?;
    let probe = match pshape[..] {
        [a, b] if a == n && b == n => probe_all,
        [modes, a, b] if a == n && b == n => probe_all[..modes * n * n].to_vec(),
        [_, modes, a, b] if a == n && b == n => probe_all[..modes * n * n].to_vec(),
        _ => {
            return Err(p.err(
                "probe",
                format!("shape {pshape:?}: expected (…, {n}, {n}) like the patterns"),
            ));
        }
    };
    let root: &hdf5::Location = &p.file;
    let distance = p.attr(root, "/", "detector_object_distance_m")?;
    let energy = p
        .attr(root, "/", "photon_energy_eV")
        .or_else(|_| p.attr(root, "/", "probe_energy_eV"))?;
    let xcoords: Vec<f64> = x_m
        .iter()
        .map(|x| (x - cx) / pw + (w as f64 - 1.0) / 2.0)
        .collect();
    let ycoords: Vec<f64> = y_m
        .iter()
        .map(|y| (y - cy) / ph + (h as f64 - 1.0) / 2.0)
        .collect();
    let geometry = BatchGeometry {
        name: p.text_attr("name").unwrap_or_else(|| "Unnamed".into()),
        indexes: indexes.clone(),
        x_m,
        y_m,
        pixel_m: [pw, ph],
        center_m: [cx, cy],
        object_hw: [h, w],
        detector_distance_m: distance,
        photon_energy_ev: energy,
        probe: probe.clone(),
    };
    let first_layer = obj[..h * w].to_vec();
    let dataset = Dataset {
        n,
        xcoords,
        ycoords,
        diff: counts,
        probe,
        object: Some((h, w, first_layer)),
        patches: None,
        start: None,
        scan_index: Some(indexes),
        metadata: serde_json::json!({"source": "ptychodus batch folder"}),
    };
    Ok((dataset, geometry))
}
