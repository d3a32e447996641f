//! `ptycho inspect FILE`: what a data file holds and how ptycho would read it — every array
//! (name, shape, dtype), which of them look like the patterns, positions, probe and object,
//! whether the patterns are counts, intensities or amplitudes and where their zero frequency
//! sits, the positions' range against the probe size, and the reader flags that read the file
//! as PtychoPINN data ([`super::conventions`]).

use std::path::Path;

use serde::Serialize;

use super::{DataError, Format, format_of};

/// One array of the file.
#[derive(Clone, Debug, Serialize)]
pub struct ArrayInfo {
    /// NPZ key or HDF5 dataset path.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// dtype as the file stores it.
    pub dtype: String,
    /// Complex values.
    pub complex: bool,
    /// Integer values.
    pub integer: bool,
}

/// What the patterns look like.
#[derive(Clone, Debug, Serialize)]
pub struct PatternInfo {
    /// Their key.
    pub key: String,
    /// Patterns M.
    pub count: usize,
    /// Side N.
    pub n: usize,
    /// `counts` (integers), `intensities` (floats, nearly all whole numbers or a dynamic range
    /// of intensities) or `amplitudes`.
    pub holds: String,
    /// Fraction of the sampled values that are whole numbers.
    pub integral_fraction: f64,
    /// Centre of mass (row, column) of the mean pattern (as amplitudes).
    pub centre_of_mass: [f64; 2],
    /// `centred` (zero frequency at N/2) or `corner` (unshifted).
    pub zero_frequency: String,
}

/// What the positions look like.
#[derive(Clone, Debug, Serialize)]
pub struct PositionInfo {
    /// Their keys.
    pub keys: String,
    /// Range of the first coordinate [min, max].
    pub first_range: [f64; 2],
    /// Range of the second coordinate [min, max].
    pub second_range: [f64; 2],
    /// `pixels` or `metres` (a span far below one pixel means metres).
    pub units: String,
    /// `centre` or `corner` of the probe window, where the object tells (else `centre`).
    pub origin: String,
    /// `xy` or `rowcol`, where the object tells (else `xy`).
    pub order: String,
}

/// The report of `ptycho inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The file.
    pub path: String,
    /// `npz`, `cxi` (HDF5 in Ptychodus's CXI layout) or `hdf5`.
    pub format: String,
    /// Every array.
    pub arrays: Vec<ArrayInfo>,
    /// The patterns, if found.
    pub patterns: Option<PatternInfo>,
    /// The positions, if found.
    pub positions: Option<PositionInfo>,
    /// The probe key and its modes, if found.
    pub probe: Option<(String, usize)>,
    /// The object key and its (H, W), if found.
    pub object: Option<(String, [usize; 2])>,
    /// The reader flags that read the file as PtychoPINN data.
    pub flags: Vec<String>,
    /// What could not be decided, one line each.
    pub problems: Vec<String>,
    /// What the file could not tell but ptycho assumed, one line each.
    pub notes: Vec<String>,
}

impl Report {
    /// The command that would train on the file.
    pub fn command(&self) -> String {
        let mut c = format!("ptycho train --train-data {}", self.path);
        for f in &self.flags {
            c.push(' ');
            c.push_str(f);
        }
        c + " --output-dir run"
    }
}

/// Keys a role is looked for under, best first (lower case).
const PATTERN_KEYS: &[&str] = &[
    "diff3d",
    "diffraction",
    "patterns",
    "data",
    "intensities",
    "amplitudes",
    "frames",
];
const PROBE_KEYS: &[&str] = &["probeguess", "probe", "illumination"];
const OBJECT_KEYS: &[&str] = &["objectguess", "object"];

fn leaf(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase()
}

fn rank(name: &str, keys: &[&str]) -> usize {
    let l = leaf(name);
    keys.iter().position(|k| l == *k).unwrap_or(keys.len())
}

/// Inspects `path` (NPZ or HDF5). Values are read for the patterns (up to 256 of them) and the
/// positions only.
pub fn inspect(path: &Path) -> Result<Report, DataError> {
    let (arrays, format) = match format_of(path) {
        Format::Npz => {
            let r = super::npz::archive::Reader::open(path)?;
            let arrays = r
                .entries()
                .iter()
                .map(|e| {
                    let body = e.descr.trim_start_matches(['<', '>', '|', '=']).to_string();
                    ArrayInfo {
                        name: e.key.clone(),
                        shape: e.shape.clone(),
                        complex: body.starts_with('c'),
                        integer: body.starts_with('i') || body.starts_with('u'),
                        dtype: e.descr.clone(),
                    }
                })
                .collect::<Vec<_>>();
            (arrays, "npz")
        }
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => {
            let (sets, cxi) = super::cxi::list_datasets(path)?;
            let arrays = sets
                .into_iter()
                .map(|d| ArrayInfo {
                    name: d.name,
                    shape: d.shape,
                    dtype: d.dtype,
                    complex: d.complex,
                    integer: d.integer,
                })
                .collect::<Vec<_>>();
            (arrays, if cxi { "cxi" } else { "hdf5" })
        }
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => return Err(super::no_hdf5(path)),
    };
    let read = |key: &str| -> Result<Vec<f64>, DataError> {
        match format_of(path) {
            Format::Npz => {
                let mut r = super::npz::archive::Reader::open(path)?;
                Ok(r.real(key)?.iter().copied().collect())
            }
            #[cfg(feature = "hdf5")]
            Format::Hdf5 => super::cxi::read_real(path, key),
            #[cfg(not(feature = "hdf5"))]
            Format::Hdf5 => Err(super::no_hdf5(path)),
        }
    };
    let mut report = Report {
        path: path.display().to_string(),
        format: format.into(),
        arrays: arrays.clone(),
        patterns: None,
        positions: None,
        probe: None,
        object: None,
        flags: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
    };
    #[cfg(feature = "hdf5")]
    if format == "cxi" {
        // Ptychodus's layout: ptycho reads it as it is.
        report.problems.extend(
            (!arrays
                .iter()
                .any(|a| super::cxi::PROBE_PATHS.contains(&a.name.as_str())))
            .then(|| "no probe in the file: pass one with --probe FILE".to_string()),
        );
        return Ok(report);
    }

    // Patterns: real (M, N, N) arrays with square frames, best by name, then by size.
    let mut cands: Vec<&ArrayInfo> = arrays
        .iter()
        .filter(|a| !a.complex && a.shape.len() == 3 && a.shape[1] == a.shape[2] && a.shape[1] >= 8)
        .collect();
    cands.sort_by_key(|a| {
        (
            rank(&a.name, PATTERN_KEYS),
            std::cmp::Reverse(a.shape.iter().product::<usize>()),
        )
    });
    let pattern = cands.first().copied();
    if cands.len() > 1
        && rank(&cands[0].name, PATTERN_KEYS) == rank(&cands[1].name, PATTERN_KEYS)
        && cands[0].shape == cands[1].shape
    {
        report.problems.push(format!(
            "ambiguous: '{}' and '{}' both look like the patterns; name one with --key-diffraction",
            cands[0].name, cands[1].name
        ));
    }
    let Some(pat) = pattern else {
        report
            .problems
            .push("no array of shape (M, N, N) that could hold the patterns".into());
        return Ok(report);
    };
    let (m, n) = (pat.shape[0], pat.shape[1]);
    if rank(&pat.name, PATTERN_KEYS) > 1 {
        report.flags.push(format!("--key-diffraction {}", pat.name));
    }
    let values = read(&pat.name)?;
    let frames = m.min(256);
    let sample = &values[..frames * n * n];
    let integral =
        sample.iter().filter(|v| v.fract() == 0.0).count() as f64 / sample.len().max(1) as f64;
    let max = sample.iter().copied().fold(0.0f64, f64::max);
    let holds = if pat.integer {
        "counts"
    } else if integral > 0.99 && max > 1.0 {
        "intensities"
    } else {
        "amplitudes"
    };
    // Mean amplitude pattern (sqrt of intensities) and its energy near the centre vs corners.
    let amp = |v: f64| {
        if holds == "amplitudes" {
            v.abs()
        } else {
            v.abs().sqrt()
        }
    };
    let mut mean = vec![0.0f64; n * n];
    for f in sample.chunks_exact(n * n) {
        for (a, &v) in mean.iter_mut().zip(f) {
            *a += amp(v);
        }
    }
    let total: f64 = mean.iter().sum::<f64>().max(1e-300);
    let (mut cr, mut cc) = (0.0, 0.0);
    let (mut centre, mut corner) = (0.0, 0.0);
    for (i, &v) in mean.iter().enumerate() {
        let (r, c) = (i / n, i % n);
        cr += v * r as f64;
        cc += v * c as f64;
        let near = |k: usize| k >= n / 4 && k < 3 * n / 4;
        if near(r) && near(c) {
            centre += v;
        } else if !near(r) && !near(c) {
            corner += v;
        }
    }
    let zero_frequency = if corner > centre { "corner" } else { "centred" };
    if holds != "amplitudes" && !pat.integer {
        report.flags.push("--diffraction-kind intensity".into());
    }
    if zero_frequency == "corner" {
        report.flags.push("--diffraction-centre corner".into());
    }
    report.patterns = Some(PatternInfo {
        key: pat.name.clone(),
        count: m,
        n,
        holds: holds.into(),
        integral_fraction: integral,
        centre_of_mass: [cr / total, cc / total],
        zero_frequency: zero_frequency.into(),
    });

    // Probe and object.
    let mut probes: Vec<&ArrayInfo> = arrays
        .iter()
        .filter(|a| {
            super::npz::probe_shape(&a.shape).is_ok_and(|(_, pn)| pn == n) && a.name != pat.name
        })
        .collect();
    probes.sort_by_key(|a| (rank(&a.name, PROBE_KEYS), !a.complex));
    if let Some(p) = probes.first() {
        let modes = super::npz::probe_shape(&p.shape).map_or(1, |s| s.0);
        if rank(&p.name, PROBE_KEYS) > 0 {
            report.flags.push(format!("--key-probe {}", p.name));
        }
        report.probe = Some((p.name.clone(), modes));
    } else {
        report.problems.push(format!(
            "no {n}×{n} probe in the file: pass one with --probe FILE"
        ));
    }
    let object = arrays
        .iter()
        .filter(|a| a.complex && a.shape.len() == 2 && a.shape[0] > n && a.shape[1] > n)
        .min_by_key(|a| rank(&a.name, OBJECT_KEYS));
    if let Some(o) = object {
        if rank(&o.name, OBJECT_KEYS) > 0 {
            report.flags.push(format!("--key-object {}", o.name));
        }
        report.object = Some((o.name.clone(), [o.shape[0], o.shape[1]]));
    }

    // Positions: xcoords/ycoords, or an (M, 2) array.
    let by = |k: &str| arrays.iter().find(|a| leaf(&a.name) == k && a.shape == [m]);
    let (first, second, keys) = if let (Some(x), Some(y)) = (by("xcoords"), by("ycoords")) {
        (
            read(&x.name)?,
            read(&y.name)?,
            format!("{}, {}", x.name, y.name),
        )
    } else if let Some(p) = arrays.iter().find(|a| !a.complex && a.shape == [m, 2]) {
        let v = read(&p.name)?;
        report.flags.push(format!("--key-positions {}", p.name));
        (
            v.iter().step_by(2).copied().collect(),
            v.iter().skip(1).step_by(2).copied().collect(),
            p.name.clone(),
        )
    } else {
        report.problems.push(format!(
            "no positions: expected xcoords and ycoords ({m},) or one ({m}, 2) array"
        ));
        return Ok(report);
    };
    let range = |v: &[f64]| {
        v.iter().fold([f64::INFINITY, f64::NEG_INFINITY], |r, &x| {
            [r[0].min(x), r[1].max(x)]
        })
    };
    let (r1, r2) = (range(&first), range(&second));
    let span = (r1[1] - r1[0]).max(r2[1] - r2[0]);
    let units = if span > 0.0 && span < 1e-2 {
        "metres"
    } else {
        "pixels"
    };
    let (mut order, mut origin) = ("xy", "centre");
    if report.object.is_none() {
        report.notes.push(
            "no object to check the positions against: assuming (x, y) centres; see \
             --position-order and --position-origin"
                .into(),
        );
    }
    if let Some((_, [h, w])) = report.object.as_ref().map(|(k, s)| (k.clone(), *s)) {
        let fits =
            |r: [f64; 2], len: usize, lo: f64| r[0] >= lo - 0.5 && r[1] <= len as f64 - lo + 0.5;
        let half = n as f64 / 2.0;
        // (x, y) must fit (W, H); if only (row, col) fits, the order is swapped.
        let xy = fits(r1, w, 0.0) && fits(r2, h, 0.0);
        let yx = fits(r1, h, 0.0) && fits(r2, w, 0.0);
        if !xy && yx {
            order = "rowcol";
        } else if xy && yx {
            report.notes.push(format!(
                "the positions fit the {h}×{w} object either way: assuming (x, y); if the first \
                 coordinate is the row, add --position-order rowcol"
            ));
        }
        let (a, b, la, lb) = if order == "xy" {
            (r1, r2, w, h)
        } else {
            (r2, r1, w, h)
        };
        // Centres keep N/2 from the border; corners reach 0 and stop N before the far side.
        if (a[0] < half - 0.5 || b[0] < half - 0.5)
            && a[1] <= (la - n) as f64 + 0.5
            && b[1] <= (lb - n) as f64 + 0.5
        {
            origin = "corner";
        }
    }
    if units == "metres" {
        report
            .flags
            .push("--position-units metres --object-pixel-size-m <METRES>".into());
    }
    if order == "rowcol" {
        report.flags.push("--position-order rowcol".into());
    }
    if origin == "corner" {
        report.flags.push("--position-origin corner".into());
    }
    report.positions = Some(PositionInfo {
        keys,
        first_range: r1,
        second_range: r2,
        units: units.into(),
        origin: origin.into(),
        order: order.into(),
    });
    Ok(report)
}
