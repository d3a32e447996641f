//! CXI (HDF5) input as Ptychodus 1.7's `cxi_file` plugin writes it, and the HDF5 Ptychodus
//! product as its `h5_product_file` plugin (`ptychodus.api.io.save_product`/`load_product`)
//! lays it out. Feature `hdf5` (libhdf5 at build and run time).
//!
//! CXI mapping (specs/data.md): patterns `/entry_1/data_1/data` or
//! `/entry_1/instrument_1/detector_1/data` (M, N, N) are detector counts, so amplitudes are
//! sqrt(counts); translations `/entry_1/sample_1/geometry_1/translation` (M, ≥2) in metres
//! (legacy `/entry_1/data_1/translation`) become object pixels by dividing by the object pixel
//! size λ·z/(N·detector pixel), λ = h·c/E with E in joules at
//! `/entry_1/instrument_1/source_1/energy`; `--cxi-pixel-size-m` overrides it. The probe is
//! `/entry_1/image_1/data` (legacy `/entry_1/instrument_1/source_1/illumination`), first mode;
//! a mask (non-zero = bad pixel) zeroes those pixels; an object `/entry_1/image_2/data` (first
//! layer) becomes `objectGuess`, and positions are then placed in its pixel frame.

use std::path::Path;

use hdf5::types::TypeDescriptor;
use num_complex::{Complex32, Complex64};

use crate::data::conventions::{Conventions, DiffractionKind};
use crate::data::product::Geometry;
use crate::data::{DataError, Dataset, ProbeSource, SimInput, one_line};

/// Pattern stacks, in the order Ptychodus looks for them.
pub const DATA_PATHS: [&str; 2] = [
    "/entry_1/data_1/data",
    "/entry_1/instrument_1/detector_1/data",
];
/// Translations (M, 3) in metres: current, then legacy.
pub const TRANSLATION_PATHS: [&str; 2] = [
    "/entry_1/sample_1/geometry_1/translation",
    "/entry_1/data_1/translation",
];
/// Probe: current, then legacy.
pub const PROBE_PATHS: [&str; 2] = [
    "/entry_1/image_1/data",
    "/entry_1/instrument_1/source_1/illumination",
];
/// Object (reconstructed image).
pub const OBJECT_PATH: &str = "/entry_1/image_2/data";
/// Photon energy in joules.
pub const ENERGY_PATH: &str = "/entry_1/instrument_1/source_1/energy";
/// Detector–sample distance in metres.
pub const DISTANCE_PATH: &str = "/entry_1/instrument_1/detector_1/distance";
/// Detector pixel width in metres.
pub const X_PIXEL_PATH: &str = "/entry_1/instrument_1/detector_1/x_pixel_size";
/// Detector pixel height in metres.
pub const Y_PIXEL_PATH: &str = "/entry_1/instrument_1/detector_1/y_pixel_size";
/// Bad-pixel mask (non-zero = bad).
pub const MASK_PATH: &str = "/entry_1/instrument_1/detector_1/mask";
/// Ptychodus's own object pixel size and centre (product CXI files).
const PT_PIXEL: [&str; 2] = [
    "/entry_1/ptychodus/object_pixel_width_m",
    "/entry_1/ptychodus/object_pixel_height_m",
];
const PT_CENTER: [&str; 2] = [
    "/entry_1/ptychodus/object_center_x_m",
    "/entry_1/ptychodus/object_center_y_m",
];

/// Planck constant (J·s) and the speed of light (m/s), exact SI values.
const PLANCK_J_S: f64 = 6.626_070_15e-34;
const LIGHT_M_S: f64 = 299_792_458.0;
/// One electronvolt in joules.
pub const ELECTRON_VOLT_J: f64 = 1.602_176_634e-19;

/// Deflate and LZF expand a chunk at most ~1032×: a dataset declaring more than that beyond
/// its stored bytes is corrupt, and is refused before anything is allocated for it.
const MAX_EXPANSION: u64 = 1032;

/// Translations x and y in metres, and the dataset path they came from.
type Translations = (Vec<f64>, Vec<f64>, &'static str);

/// An object's first layer (H·W values), H, W, and its centre (x, y) in metres.
type Object = (Vec<Complex32>, usize, usize, [f64; 2]);

/// An open CXI file.
struct Cxi {
    path: String,
    file: hdf5::File,
}

/// What a numeric dataset holds.
#[derive(Clone, Copy, PartialEq)]
enum Numeric {
    Integer,
    Float,
}

impl Cxi {
    fn open(path: &Path) -> Result<Cxi, DataError> {
        let p = path.display().to_string();
        // Open the file ourselves first: a missing file is an I/O error, not an HDF5 one.
        std::fs::File::open(path).map_err(|e| DataError::File {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let file = hdf5::File::open(path).map_err(|e| DataError::File {
            path: p.clone(),
            message: format!("not a readable HDF5 file ({})", one_line(e)),
        })?;
        Ok(Cxi { path: p, file })
    }

    fn err(&self, key: &str, message: String) -> DataError {
        DataError::Key {
            path: self.path.clone(),
            key: key.into(),
            message,
        }
    }

    /// Whether `p` names something (a dangling link counts, and fails when opened).
    fn exists(&self, p: &str) -> bool {
        // H5Lexists needs every intermediate group to exist: walk the path.
        let mut prefix = String::new();
        for part in p.trim_start_matches('/').split('/') {
            prefix.push('/');
            prefix.push_str(part);
            if !self.file.link_exists(&prefix) {
                return false;
            }
        }
        true
    }

    fn first(&self, paths: &[&'static str]) -> Option<&'static str> {
        paths.iter().copied().find(|p| self.exists(p))
    }

    fn missing(&self, paths: &[&str], what: &str) -> DataError {
        DataError::Missing {
            path: self.path.clone(),
            key: paths.join(" or "),
            present: format!("{what}; groups at the top: {}", self.top_names()),
        }
    }

    fn top_names(&self) -> String {
        let list = |g: &hdf5::Group| g.member_names().unwrap_or_default();
        let mut names: Vec<String> = list(&self.file)
            .into_iter()
            .map(|n| format!("/{}", n.escape_debug()))
            .collect();
        if let Ok(e) = self.file.group("entry_1") {
            names.extend(
                list(&e)
                    .into_iter()
                    .map(|n| format!("/entry_1/{}", n.escape_debug())),
            );
        }
        names.join(", ")
    }

    /// Opens the dataset at `p`, refusing shapes its storage cannot hold.
    fn dataset(&self, p: &str) -> Result<(hdf5::Dataset, TypeDescriptor, Vec<usize>), DataError> {
        let ds = self
            .file
            .dataset(p)
            .map_err(|e| self.err(p, format!("not a readable dataset ({})", one_line(e))))?;
        let dtype = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| self.err(p, format!("unsupported datatype ({})", one_line(e))))?;
        let shape = ds
            .space()
            .map(|s| s.shape())
            .map_err(|e| self.err(p, format!("unreadable dataspace ({})", one_line(e))))?;
        let bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d as u64));
        let stored = ds.storage_size();
        match bytes {
            Some(b) if b <= stored.saturating_mul(MAX_EXPANSION).saturating_add(1 << 20) => {}
            _ => {
                return Err(self.err(
                    p,
                    format!("declares shape {shape:?} of {dtype} but stores only {stored} bytes"),
                ));
            }
        }
        Ok((ds, dtype, shape))
    }

    fn numeric(&self, p: &str, dtype: &TypeDescriptor) -> Result<Numeric, DataError> {
        match dtype {
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => Ok(Numeric::Integer),
            TypeDescriptor::Float(_) => Ok(Numeric::Float),
            other => Err(self.err(p, format!("dtype {other}: expected integers or floats"))),
        }
    }

    /// A real dataset as f64 with its shape.
    fn real(&self, p: &str) -> Result<(Vec<f64>, Vec<usize>), DataError> {
        let (ds, dtype, shape) = self.dataset(p)?;
        self.numeric(p, &dtype)?;
        let v = ds.read_raw::<f64>().map_err(|e| {
            self.err(
                p,
                format!("cannot read {dtype} {shape:?} ({})", one_line(e)),
            )
        })?;
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(self.err(p, format!("non-finite value {x} at flat index {i}")));
        }
        Ok((v, shape))
    }

    /// A positive, finite scalar (shape () or (1,)).
    fn positive_scalar(&self, p: &str) -> Result<f64, DataError> {
        let (v, shape) = self.real(p)?;
        match v[..] {
            [x] if x > 0.0 => Ok(x),
            [x] => Err(self.err(p, format!("value {x} must be positive"))),
            _ => Err(self.err(p, format!("expected a scalar, got shape {shape:?}"))),
        }
    }

    fn optional_scalar(&self, p: &str) -> Result<Option<f64>, DataError> {
        if self.exists(p) {
            self.positive_scalar(p).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A complex dataset (complex64/complex128 as h5py's {r, i} compound; reals promoted).
    fn complex(&self, p: &str) -> Result<(Vec<Complex64>, Vec<usize>), DataError> {
        let (ds, dtype, shape) = self.dataset(p)?;
        let v: Vec<Complex64> = match &dtype {
            TypeDescriptor::Compound(c)
                if c.fields.len() == 2
                    && c.fields.iter().all(|f| matches!(f.ty, TypeDescriptor::Float(_))) =>
            {
                ds.read_raw::<Complex64>().map_err(|e| {
                    self.err(
                        p,
                        format!(
                            "cannot read {dtype} {shape:?} as complex (fields must be 'r' and 'i'; {})",
                            one_line(e)
                        ),
                    )
                })?
            }
            TypeDescriptor::Compound(_) => {
                return Err(self.err(p, format!("dtype {dtype}: expected complex numbers")));
            }
            _ => self
                .real(p)?
                .0
                .into_iter()
                .map(|x| Complex64::new(x, 0.0))
                .collect(),
        };
        if let Some((i, z)) = v
            .iter()
            .enumerate()
            .find(|(_, z)| !z.re.is_finite() || !z.im.is_finite())
        {
            return Err(self.err(p, format!("non-finite value {z} at flat index {i}")));
        }
        Ok((v, shape))
    }

    /// The first 2-D plane (H, W) of a (…, H, W) complex dataset, and how many planes it had.
    fn first_plane(&self, p: &str) -> Result<(Vec<Complex32>, usize, usize, usize), DataError> {
        let (v, shape) = self.complex(p)?;
        if shape.len() < 2 || shape.contains(&0) {
            return Err(self.err(
                p,
                format!("expected shape (H, W) or (modes…, H, W), got {shape:?}"),
            ));
        }
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let planes = shape[..shape.len() - 2].iter().product();
        let first = v
            .iter()
            .take(h * w)
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect();
        Ok((first, h, w, planes))
    }

    /// The probe, every mode (modes × N × N, from (N, N) or (modes…, N, N)), and N; `None` if
    /// the file has none.
    fn probe(&self, n: Option<usize>) -> Result<Option<(Vec<Complex32>, usize)>, DataError> {
        let Some(p) = self.first(&PROBE_PATHS) else {
            return Ok(None);
        };
        let (v, shape) = self.complex(p)?;
        if shape.len() < 2 || shape.contains(&0) {
            return Err(self.err(
                p,
                format!("expected shape (H, W) or (modes…, H, W), got {shape:?}"),
            ));
        }
        let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let size_ok = match n {
            Some(n) => h == n && w == n,
            None => h == w && h.is_power_of_two() && h >= 8,
        };
        if !size_ok {
            return Err(self.err(
                p,
                match n {
                    Some(n) => format!("probe is {h}×{w} but the patterns are {n}×{n}"),
                    None => format!("probe is {h}×{w}: expected a square power of two ≥ 8"),
                },
            ));
        }
        // Ptychodus's 4-D probe is coherent (OPR) × incoherent × y × x: the incoherent modes of
        // the first coherent mode (the others vary the probe across positions, which ptycho's
        // model does not); 3-D is incoherent modes.
        let coherent = if shape.len() >= 4 { shape[0] } else { 1 };
        let per = v.len() / coherent.max(1);
        if coherent > 1 {
            crate::data::note(&format!(
                "{}: '{p}' holds {coherent} coherent (OPR) probe modes; using the first",
                self.path
            ));
        }
        let probe = v[..per]
            .iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect();
        Ok(Some((probe, h)))
    }

    /// Translations (x, y) in metres and the path they came from.
    fn translations(&self) -> Result<Option<Translations>, DataError> {
        let Some(p) = self.first(&TRANSLATION_PATHS) else {
            return Ok(None);
        };
        let (v, shape) = self.real(p)?;
        if shape.len() != 2 || shape[1] < 2 {
            return Err(self.err(p, format!("expected shape (M, 3) in metres, got {shape:?}")));
        }
        let k = shape[1];
        let xs = (0..shape[0]).map(|i| v[i * k]).collect();
        let ys = (0..shape[0]).map(|i| v[i * k + 1]).collect();
        Ok(Some((xs, ys, p)))
    }

    /// The object pixel size (width, height) for patterns of size `n`, the experiment
    /// geometry, and where the pixel size came from.
    fn geometry(&self, n: usize, over: Option<f64>) -> Result<(Geometry, String), DataError> {
        // With an explicit pixel size the geometry only labels the product: a bad value there
        // is dropped with a note instead of stopping the run.
        let read = |p: &str| -> Result<Option<f64>, DataError> {
            let v = self.optional_scalar(p).and_then(|v| match v {
                Some(e) if p == ENERGY_PATH && !(1e-20..=1e-11).contains(&e) => Err(self.err(
                    ENERGY_PATH,
                    format!(
                        "{e} J is not a plausible photon energy (CXI stores joules: 10 keV = 1.602e-15 J)"
                    ),
                )),
                v => Ok(v),
            });
            match (v, over) {
                (Err(e), Some(_)) => {
                    crate::data::note(&format!("{e} (ignored: --cxi-pixel-size-m is given)"));
                    Ok(None)
                }
                (v, _) => v,
            }
        };
        let energy_j = read(ENERGY_PATH)?;
        let distance = read(DISTANCE_PATH)?;
        let dx = read(X_PIXEL_PATH)?;
        let dy = read(Y_PIXEL_PATH)?;
        let mut g = Geometry {
            pixel_width_m: 0.0,
            pixel_height_m: 0.0,
            detector_distance_m: distance,
            photon_energy_ev: energy_j.map(|e| e / ELECTRON_VOLT_J),
        };
        let source = if let Some(px) = over {
            (g.pixel_width_m, g.pixel_height_m) = (px, px);
            "--cxi-pixel-size-m".to_string()
        } else if let (Some(e), Some(z), Some(dx), Some(dy)) = (energy_j, distance, dx, dy) {
            let lambda = PLANCK_J_S * LIGHT_M_S / e;
            g.pixel_width_m = lambda * z / (n as f64 * dx);
            g.pixel_height_m = lambda * z / (n as f64 * dy);
            format!(
                "λ·z/(N·pixel) with λ = {lambda:.4e} m, z = {z} m, N = {n}, pixel {dx:.3e}×{dy:.3e} m"
            )
        } else if self.exists(PT_PIXEL[0]) && self.exists(PT_PIXEL[1]) {
            g.pixel_width_m = self.positive_scalar(PT_PIXEL[0])?;
            g.pixel_height_m = self.positive_scalar(PT_PIXEL[1])?;
            "/entry_1/ptychodus/object_pixel_*_m".to_string()
        } else {
            let absent = [ENERGY_PATH, DISTANCE_PATH, X_PIXEL_PATH, Y_PIXEL_PATH]
                .into_iter()
                .find(|p| !self.exists(p))
                .unwrap_or(ENERGY_PATH);
            return Err(self.err(
                absent,
                "absent, so the object pixel size λ·z/(N·detector pixel) is unknown and translations cannot be converted to pixels; pass --cxi-pixel-size-m".into(),
            ));
        };
        Ok((g, source))
    }

    /// The object's first layer with its centre in metres, if present.
    fn object(&self) -> Result<Option<Object>, DataError> {
        if !self.exists(OBJECT_PATH) {
            return Ok(None);
        }
        let (o, h, w, _) = self.first_plane(OBJECT_PATH)?;
        let mut c = [0.0; 2];
        for (k, p) in PT_CENTER.iter().enumerate() {
            if self.exists(p) {
                let (v, shape) = self.real(p)?;
                c[k] = match v[..] {
                    [x] => x,
                    _ => return Err(self.err(p, format!("expected a scalar, got shape {shape:?}"))),
                };
            }
        }
        Ok(Some((o, h, w, c)))
    }

    /// Positions in object pixels: metres / pixel size, in the object's pixel frame
    /// (`(x − centre)/pixel + (W − 1)/2`, Ptychodus 1.7) when there is an object.
    fn to_pixels(
        &self,
        (xs, ys): (&[f64], &[f64]),
        g: &Geometry,
        object: Option<(usize, usize, [f64; 2])>,
        tpath: &str,
    ) -> Result<(Vec<f64>, Vec<f64>), DataError> {
        let (x0, y0, c) = match object {
            Some((h, w, c)) => ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0, c),
            None => (0.0, 0.0, [0.0; 2]),
        };
        let px: Vec<f64> = xs
            .iter()
            .map(|x| (x - c[0]) / g.pixel_width_m + x0)
            .collect();
        let py: Vec<f64> = ys
            .iter()
            .map(|y| (y - c[1]) / g.pixel_height_m + y0)
            .collect();
        if let Some((i, (x, y))) = px
            .iter()
            .zip(&py)
            .enumerate()
            .find(|(_, (x, y))| !x.is_finite() || !y.is_finite())
        {
            return Err(self.err(
                tpath,
                format!("position {i} becomes ({x}, {y}) pixels: check the pixel size"),
            ));
        }
        if let Some((h, w, _)) = object {
            for (i, (&x, &y)) in px.iter().zip(&py).enumerate() {
                if x < 0.0 || y < 0.0 || x > w as f64 || y > h as f64 {
                    return Err(self.err(
                        tpath,
                        format!("position {i} (x {x:.2}, y {y:.2} px) lies outside the {w}×{h} object {OBJECT_PATH}"),
                    ));
                }
            }
        }
        Ok((px, py))
    }

    /// Amplitudes sqrt(counts) of the pattern stack at `p` (M, N, N), with the mask applied.
    fn amplitudes(&self, p: &str, m: usize) -> Result<(Vec<f32>, usize, String), DataError> {
        let (ds, dtype, shape) = self.dataset(p)?;
        self.numeric(p, &dtype)?;
        let n = crate::data::check_pattern_shape(Path::new(&self.path), p, m, &shape)?;
        let mut v = ds.read_raw::<f32>().map_err(|e| {
            self.err(
                p,
                format!("cannot read {dtype} {shape:?} ({})", one_line(e)),
            )
        })?;
        let mut masked = 0;
        if self.exists(MASK_PATH) {
            let (mask, ms) = self.real(MASK_PATH)?;
            if ms != [n, n] {
                return Err(self.err(
                    MASK_PATH,
                    format!("shape {ms:?} differs from the pattern size ({n}, {n})"),
                ));
            }
            let bad: Vec<usize> = (0..n * n).filter(|&i| mask[i] != 0.0).collect();
            masked = bad.len();
            for frame in v.chunks_mut(n * n) {
                for &i in &bad {
                    frame[i] = 0.0;
                }
            }
        }
        for (i, x) in v.iter_mut().enumerate() {
            if !x.is_finite() || *x < 0.0 {
                return Err(crate::data::bad_count(
                    Path::new(&self.path),
                    p,
                    i,
                    *x as f64,
                ));
            }
            *x = (*x as f64).sqrt() as f32;
        }
        let how = format!(
            "{dtype} counts, amplitudes = sqrt(counts){}",
            if masked > 0 {
                format!(", {masked} masked pixels zeroed")
            } else {
                String::new()
            }
        );
        Ok((v, n, how))
    }
}

/// Reads a CXI file as a [`Dataset`] (see the module docs for the mapping).
pub fn read_dataset(
    path: &Path,
    pixel_size_m: Option<f64>,
    src: ProbeSource<'_>,
) -> Result<Dataset, DataError> {
    let f = Cxi::open(path)?;
    let dpath = f
        .first(&DATA_PATHS)
        .ok_or_else(|| f.missing(&DATA_PATHS, "no diffraction patterns"))?;
    let (xs_m, ys_m, tpath) = f
        .translations()?
        .ok_or_else(|| f.missing(&TRANSLATION_PATHS, "no scan positions"))?;
    let m = xs_m.len();
    let (diff, n, how) = f.amplitudes(dpath, m)?;
    let (geometry, source) = f.geometry(n, pixel_size_m)?;
    let probe = match src.given(path, n)? {
        Some(p) => p,
        None => match (f.probe(Some(n))?, src.fallback()) {
            (Some((p, _)), _) => p,
            (None, Some(p)) if !p.is_empty() && p.len() % (n * n) == 0 => p.to_vec(),
            (None, Some(p)) => {
                return Err(f.err(
                    &PROBE_PATHS.join(" or "),
                    format!(
                        "absent, and the fallback (model) probe of {} values is not modes × {n}×{n} like the patterns",
                        p.len()
                    ),
                ));
            }
            _ => {
                return Err(f.err(
                    &PROBE_PATHS.join(" or "),
                    "absent: the file has no probe; pass one with --probe FILE (an NPZ with probeGuess, or a CXI file)".into(),
                ));
            }
        },
    };
    let object = f.object()?;
    let (xcoords, ycoords) = f.to_pixels(
        (&xs_m, &ys_m),
        &geometry,
        object.as_ref().map(|o| (o.1, o.2, o.3)),
        tpath,
    )?;
    let mut meta = serde_json::Map::new();
    meta.insert("source".into(), "cxi".into());
    geometry.to_metadata(&mut meta);
    crate::data::note(&format!(
        "{}: {m} patterns {n}×{n} from {dpath} ({how}); positions {tpath} / object pixel {:.4e}×{:.4e} m ({source})",
        f.path, geometry.pixel_width_m, geometry.pixel_height_m
    ));
    Ok(Dataset {
        n,
        xcoords,
        ycoords,
        diff,
        probe,
        object: object.map(|(o, h, w, _)| (h, w, o)),
        patches: None,
        start: None,
        scan_index: None,
        metadata: serde_json::Value::Object(meta),
    })
}

/// A dataset of an HDF5 file as `ptycho inspect` lists it.
#[derive(Clone, Debug)]
pub struct DatasetInfo {
    /// Path.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// dtype as HDF5 describes it.
    pub dtype: String,
    /// A two-field compound (h5py's complex).
    pub complex: bool,
    /// Integers.
    pub integer: bool,
}

/// Every dataset of an HDF5 file for `ptycho inspect`, and whether the file has the CXI layout
/// ptycho reads (patterns at one of [`DATA_PATHS`]).
pub fn list_datasets(path: &Path) -> Result<(Vec<DatasetInfo>, bool), DataError> {
    let f = Cxi::open(path)?;
    let mut out = Vec::new();
    fn walk(g: &hdf5::Group, prefix: &str, out: &mut Vec<DatasetInfo>, depth: usize) {
        if depth > 8 {
            return;
        }
        for name in g.member_names().unwrap_or_default() {
            let p = format!("{prefix}/{name}");
            if let Ok(sub) = g.group(&name) {
                walk(&sub, &p, out, depth + 1);
            } else if let Ok(ds) = g.dataset(&name) {
                let dtype = ds.dtype().and_then(|t| t.to_descriptor()).ok();
                let (complex, integer) = match &dtype {
                    Some(TypeDescriptor::Compound(c)) => (c.fields.len() == 2, false),
                    Some(TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) => (false, true),
                    _ => (false, false),
                };
                out.push(DatasetInfo {
                    name: p,
                    shape: ds.shape(),
                    dtype: dtype.map_or("?".into(), |d| d.to_string()),
                    complex,
                    integer,
                });
            }
        }
    }
    walk(&f.file, "", &mut out, 0);
    let cxi = f.first(&DATA_PATHS).is_some();
    Ok((out, cxi))
}

/// A real dataset of an HDF5 file as f64 (for `ptycho inspect`).
pub fn read_real(path: &Path, key: &str) -> Result<Vec<f64>, DataError> {
    Cxi::open(path)?.real(key).map(|(v, _)| v)
}

/// Reads a plain HDF5 file (not laid out as CXI) whose datasets `conv.keys` names —
/// diffraction (required), positions (`x`/`y`, default `xcoords`/`ycoords`, or one (M, 2)
/// `positions`), probe (default `probeGuess`), object (optional, default `objectGuess`) — with
/// the pattern and position conventions of `conv`. Integer patterns are counts unless
/// `conv.diffraction` says otherwise.
pub fn read_plain(
    path: &Path,
    src: ProbeSource<'_>,
    conv: &Conventions,
    pixel_size_m: Option<f64>,
) -> Result<Dataset, DataError> {
    let f = Cxi::open(path)?;
    let keys = &conv.keys;
    let Some(dk) = keys.diffraction.as_deref() else {
        return Err(f.missing(
            &["--key-diffraction"],
            "a plain HDF5 file needs the dataset of its patterns named",
        ));
    };
    let (mut xs, mut ys) = match &keys.positions {
        Some(pk) => {
            let (v, shape) = f.real(pk)?;
            if shape.len() != 2 || shape[1] != 2 {
                return Err(f.err(pk, format!("expected positions (M, 2), got {shape:?}")));
            }
            (0..shape[0]).map(|i| (v[2 * i], v[2 * i + 1])).unzip()
        }
        None => {
            let (kx, ky) = (
                keys.x.as_deref().unwrap_or("xcoords"),
                keys.y.as_deref().unwrap_or("ycoords"),
            );
            let (x, sx) = f.real(kx)?;
            let (y, sy) = f.real(ky)?;
            if sx.len() != 1 || sy != sx {
                return Err(f.err(
                    ky,
                    format!("expected shape (M,) like {kx} {sx:?}, got {sy:?}"),
                ));
            }
            (x, y)
        }
    };
    let m = xs.len();
    let (ds, dtype, shape) = f.dataset(dk)?;
    let integer = f.numeric(dk, &dtype)? == Numeric::Integer;
    let n = crate::data::check_pattern_shape(Path::new(&f.path), dk, m, &shape)?;
    let mut diff = ds.read_raw::<f32>().map_err(|e| {
        f.err(
            dk,
            format!("cannot read {dtype} {shape:?} ({})", one_line(e)),
        )
    })?;
    let counts = match conv.diffraction {
        DiffractionKind::Auto => integer,
        DiffractionKind::Amplitude => false,
        DiffractionKind::Intensity => true,
    };
    for (i, x) in diff.iter_mut().enumerate() {
        if !x.is_finite() || *x < 0.0 {
            return Err(crate::data::bad_count(Path::new(&f.path), dk, i, *x as f64));
        }
        if counts {
            *x = (*x as f64).sqrt() as f32;
        }
    }
    conv.patterns(&mut diff, n);
    conv.positions(&mut xs, &mut ys, n, path, pixel_size_m)?;
    let pk = keys.probe.as_deref().unwrap_or("probeGuess");
    let probe = match src.given(path, n)? {
        Some(p) => p,
        None if !f.exists(pk) && src.fallback().is_some() => {
            src.fallback().unwrap_or_default().to_vec()
        }
        None => {
            let (v, shape) = f.complex(pk)?;
            let (_, pn) = crate::data::npz::probe_shape(&shape).map_err(|e| f.err(pk, e))?;
            if pn != n {
                return Err(f.err(
                    pk,
                    format!("probe is {pn}×{pn} but the patterns are {n}×{n}"),
                ));
            }
            v.iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect()
        }
    };
    let ok = keys.object.as_deref().unwrap_or("objectGuess");
    let object = if f.exists(ok) {
        let (v, shape) = f.complex(ok)?;
        if shape.len() != 2 {
            return Err(f.err(ok, format!("expected shape (H, W), got {shape:?}")));
        }
        Some((
            shape[0],
            shape[1],
            v.iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect(),
        ))
    } else {
        None
    };
    crate::data::note(&format!(
        "{}: {m} patterns {n}×{n} from {dk} ({dtype}{}); a plain HDF5 file read by key",
        f.path,
        if counts { ", amplitudes = sqrt" } else { "" }
    ));
    Ok(Dataset {
        n,
        xcoords: xs,
        ycoords: ys,
        diff,
        probe,
        object,
        patches: None,
        start: None,
        scan_index: None,
        metadata: serde_json::json!({"source": "hdf5"}),
    })
}

/// Reads what `ptycho simulate --input` needs from a CXI file: the object (first layer), the
/// probe (first mode) and, if present, the translations in the object's pixel frame.
pub fn read_sim_input(path: &Path, pixel_size_m: Option<f64>) -> Result<SimInput, DataError> {
    let f = Cxi::open(path)?;
    let (o, h, w, c) = f
        .object()?
        .ok_or_else(|| f.missing(&[OBJECT_PATH], "no object"))?;
    let (probe, n) = f.probe(None)?.ok_or_else(|| {
        f.err(
            &PROBE_PATHS.join(" or "),
            "absent: simulating from a file needs its probe".into(),
        )
    })?;
    let pos = match f.translations()? {
        Some((xs, ys, tpath)) => {
            let (g, _) = f.geometry(n, pixel_size_m)?;
            Some(f.to_pixels((&xs, &ys), &g, Some((h, w, c)), tpath)?)
        }
        None => None,
    };
    Ok((o, (h, w), probe, n, pos))
}

/// Reads the probe (every mode) of a CXI file and its N (for `--probe file.cxi`).
pub fn read_probe_file(path: &Path) -> Result<(Vec<Complex32>, usize), DataError> {
    let f = Cxi::open(path)?;
    f.probe(None)?
        .ok_or_else(|| f.missing(&PROBE_PATHS, "no probe"))
}
