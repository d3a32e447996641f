//! Reading the PtychoPINN NPZ contract (specs/data.md): datasets, probes, simulation inputs
//! and patch stacks, validated with one-line errors naming the file and key.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};

use super::archive::{Reader, shape};
use crate::data::conventions::{Conventions, DiffractionKind, KeyMap};
use crate::data::{DataError, Dataset, ProbeSource, SimInput};

/// Reads and validates a PtychoPINN NPZ with its own probe (see [`crate::data::read_dataset`]
/// for the probe options and CXI files).
pub fn read_dataset(path: &Path) -> Result<Dataset, DataError> {
    read_dataset_with(path, ProbeSource::File, false)
}

/// Converts positions read as (M,) arrays (or one (M, 2) array), checking rank, finiteness and
/// equal lengths; keys from `keys` (default `xcoords`, `ycoords`).
fn positions_with(r: &mut Reader, keys: &KeyMap) -> Result<(ArrayD<f64>, ArrayD<f64>), DataError> {
    if let Some(k) = &keys.positions {
        let a = r.real(k)?;
        if a.ndim() != 2 || a.shape()[1] != 2 {
            return Err(r.key_err(k, format!("expected positions (M, 2), got {}", shape(&a))));
        }
        r.check_finite_real(k, &a)?;
        let col = |c: usize| a.index_axis(ndarray::Axis(1), c).to_owned().into_dyn();
        return Ok((col(0), col(1)));
    }
    let (kx, ky) = (
        keys.x.as_deref().unwrap_or("xcoords"),
        keys.y.as_deref().unwrap_or("ycoords"),
    );
    let xs = r.real(kx)?;
    let ys = r.real(ky)?;
    for (k, a) in [(kx, &xs), (ky, &ys)] {
        if a.ndim() != 1 {
            return Err(r.key_err(k, format!("expected shape (M,), got {}", shape(a))));
        }
        r.check_finite_real(k, a)?;
    }
    if xs.len() != ys.len() {
        return Err(r.key_err(
            ky,
            format!("has {} positions but {kx} has {}", ys.len(), xs.len()),
        ));
    }
    Ok((xs, ys))
}

/// [`positions_with`] under the usual keys.
fn positions(r: &mut Reader) -> Result<(ArrayD<f64>, ArrayD<f64>), DataError> {
    positions_with(r, &KeyMap::default())
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
    kind: DiffractionKind,
) -> Result<(Vec<f32>, usize), DataError> {
    let legacy = |s: &[usize]| s.len() == 3 && s[0] != m && s[2] == m && s[0] == s[1];
    let e = r.entry(key)?;
    if e.descr.trim_start_matches(['<', '>', '|', '=']) == "f4"
        && kind != DiffractionKind::Intensity
    {
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
    let (mut diff, integer) = r.real_kind(key)?;
    let counts = match kind {
        DiffractionKind::Auto => integer,
        DiffractionKind::Amplitude => false,
        DiffractionKind::Intensity => true,
    };
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
            "{}: '{key}' holds {} ({descr}); amplitudes = sqrt(counts)",
            r.path,
            if integer {
                "integer counts"
            } else {
                "intensities (--diffraction-kind intensity)"
            }
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
    read_dataset_in(path, src, skip_patches, &Conventions::default(), None)
}

/// [`read_dataset_with`] for a file with other conventions (key names, intensities, corner
/// zero frequency, corner/(row, col)/metre positions: see [`Conventions`]); `pixel_size_m`
/// converts metre positions.
pub fn read_dataset_in(
    path: &Path,
    src: ProbeSource<'_>,
    skip_patches: bool,
    conv: &Conventions,
    pixel_size_m: Option<f64>,
) -> Result<Dataset, DataError> {
    let keys = &conv.keys;
    let mut r = Reader::open(path)?;
    let (xs, ys) = positions_with(&mut r, keys)?;
    let m = xs.len();
    let diff_key = match &keys.diffraction {
        Some(k) => k.as_str(),
        None if r.has("diff3d") => "diff3d",
        None if r.has("diffraction") => "diffraction",
        None => return Err(r.missing("diff3d")),
    };
    let (mut diff, n) = read_diffraction(&mut r, path, diff_key, m, conv.diffraction)?;
    conv.patterns(&mut diff, n);
    let (mut xv, mut yv): (Vec<f64>, Vec<f64>) =
        (xs.iter().copied().collect(), ys.iter().copied().collect());
    conv.positions(&mut xv, &mut yv, n, path, pixel_size_m)?;
    let (xs, ys) = (
        ArrayD::from_shape_vec(IxDyn(&[m]), xv).expect("m positions"),
        ArrayD::from_shape_vec(IxDyn(&[m]), yv).expect("m positions"),
    );
    let probe_key = keys.probe.as_deref().unwrap_or("probeGuess");
    let object_key = keys.object.as_deref().unwrap_or("objectGuess");
    let probe = match src.given(path, n)? {
        Some(p) => p,
        None if !r.has(probe_key) && src.fallback().is_some() => {
            let p = src.fallback().unwrap_or_default().to_vec();
            if p.is_empty() || p.len() % (n * n) != 0 {
                return Err(r.key_err(
                    probe_key,
                    format!(
                        "absent, and the fallback (model) probe of {} values is not modes × {n}×{n} like the patterns",
                        p.len()
                    ),
                ));
            }
            p
        }
        None => {
            let probe = r.complex(probe_key)?;
            let (_, pn) = probe_shape(probe.shape()).map_err(|e| r.key_err(probe_key, e))?;
            if pn != n {
                return Err(r.key_err(
                    probe_key,
                    format!(
                        "shape {} differs from the pattern size ({n}, {n})",
                        shape(&probe)
                    ),
                ));
            }
            r.check_finite_complex(probe_key, &probe)?;
            probe
                .iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect()
        }
    };
    let object = if r.has(object_key) {
        let o = r.complex(object_key)?;
        if o.ndim() != 2 {
            return Err(r.key_err(
                object_key,
                format!("expected shape (H, W), got {}", shape(&o)),
            ));
        }
        r.check_finite_complex(object_key, &o)?;
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
            let (p, pn) = read_patch_stack(&mut r, k, m)?;
            if pn != n {
                return Err(r.key_err(
                    k,
                    format!("patches are {pn}×{pn} but the patterns are {n}×{n}"),
                ));
            }
            Some(p)
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
    check_metadata(&r, &metadata, n)?;
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

/// The physics parameters a file's `_metadata` records must agree with its arrays: nphotons
/// positive, N the pattern size, gridsize 1 or 2.
fn check_metadata(r: &Reader, meta: &serde_json::Value, n: usize) -> Result<(), DataError> {
    use crate::data::dataset::physics_param;
    if let Some(v) = physics_param(meta, "nphotons") {
        match v.as_f64() {
            Some(np) if np > 0.0 && np.is_finite() => {}
            _ => return Err(r.key_err("_metadata", format!("nphotons = {v} must be positive"))),
        }
    }
    if let Some(v) = physics_param(meta, "N")
        && v.as_u64() != Some(n as u64)
    {
        return Err(r.key_err(
            "_metadata",
            format!("N = {v}, but the patterns are {n}×{n}"),
        ));
    }
    if let Some(v) = physics_param(meta, "gridsize")
        && !matches!(v.as_u64(), Some(1 | 2))
    {
        return Err(r.key_err("_metadata", format!("gridsize = {v}: expected 1 or 2")));
    }
    Ok(())
}

/// How a patch stack's array maps onto M patches of N×N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatchLayout {
    /// (M, N, N).
    Plain,
    /// (G, N, N, C) with G·C = M: PtychoPINN's channel-last groups (C = 1: one patch each, as
    /// PtychoPINN 2.0's `simulate_and_save.py` writes `ground_truth_patches`); patch g·C + c.
    ChannelLast(usize),
    /// (G, C, N, N) with G·C = M: channel-first groups (PyTorch); patch g·C + c.
    ChannelFirst(usize),
}

/// The layout of a patch array of shape `s` for `m` patches: (M, N, N), or groups of C
/// channels, last ((G, N, N, C), as PtychoPINN's TensorFlow code and its 2.0 simulator store
/// them) or first ((G, C, N, N)), with G·C = M. The error names what was expected.
fn patch_layout(s: &[usize], m: usize) -> Result<(PatchLayout, usize), String> {
    let expected = || {
        format!(
            "expected ({m}, N, N), ({m}, N, N, 1), or groups (G, N, N, C) / (G, C, N, N) with \
             G·C = {m}, to match the positions; got {s:?}"
        )
    };
    match *s {
        [g, a, b] if g == m && a == b && a > 0 && m > 0 => Ok((PatchLayout::Plain, a)),
        [g, a, b, c] if a == b && a > 0 && g > 0 && c > 0 && g * c == m => {
            Ok((PatchLayout::ChannelLast(c), a))
        }
        [g, c, a, b] if a == b && a > 0 && g > 0 && c > 0 && g * c == m => {
            Ok((PatchLayout::ChannelFirst(c), a))
        }
        _ => Err(expected()),
    }
}

/// Reads the patch stack `key` as M patches of N×N (any layout [`patch_layout`] accepts),
/// checked finite; returns (patches, N).
fn read_patch_stack(
    r: &mut Reader,
    key: &str,
    m: usize,
) -> Result<(Vec<Complex32>, usize), DataError> {
    let p = r.complex(key)?;
    let (layout, n) = patch_layout(p.shape(), m).map_err(|e| r.key_err(key, e))?;
    r.check_finite_complex(key, &p)?;
    let p = match layout {
        PatchLayout::Plain | PatchLayout::ChannelFirst(_) => p,
        // (G, N, N, C) → (G, C, N, N): patch g·C + c is channel c of group g.
        PatchLayout::ChannelLast(_) => p.permuted_axes(IxDyn(&[0, 3, 1, 2])),
    };
    Ok((
        p.as_standard_layout()
            .iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect(),
        n,
    ))
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

/// Reads a probe from `probeGuess`, or from `probe` (a model bundle's, or a Ptychodus
/// product's): every mode, modes × N × N, from (N, N), (modes, N, N), (N, N, 1) or a Ptychodus
/// 4-D (1, modes, N, N). Returns (the modes, N).
pub fn read_probe_modes(path: &Path) -> Result<(Vec<Complex32>, usize), DataError> {
    let mut r = Reader::open(path)?;
    let key = if r.has("probeGuess") {
        "probeGuess"
    } else if r.has("probe") {
        "probe"
    } else {
        return Err(r.missing("probeGuess"));
    };
    let p = r.complex(key)?;
    let (_, n) = probe_shape(p.shape()).map_err(|e| r.key_err(key, e))?;
    r.check_finite_complex(key, &p)?;
    Ok((
        p.iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect(),
        n,
    ))
}

/// (modes, N) of a probe array: (N, N), (modes, N, N), (N, N, 1) or (1, modes, N, N), N a
/// power of two ≥ 8.
pub fn probe_shape(s: &[usize]) -> Result<(usize, usize), String> {
    let (modes, n, m) = match *s {
        [a, b] if a == b => (1, a, a),
        [a, b, 1] if a == b => (1, a, a),
        [p, a, b] if a == b && p >= 1 => (p, a, b),
        [1, p, a, b] if a == b && p >= 1 => (p, a, b),
        _ => (0, 0, 1),
    };
    if modes == 0 || n != m || !n.is_power_of_two() || n < 8 {
        return Err(format!(
            "expected a square power-of-two probe (N, N) or modes (P, N, N), got {s:?}"
        ));
    }
    Ok((modes, n))
}

/// Reads what `ptycho simulate --input` needs: `objectGuess`, `probeGuess` and, if present,
/// `xcoords`/`ycoords`. Returns (object, (H, W), probe, positions).
pub fn read_sim_input(path: &Path) -> Result<SimInput, DataError> {
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
    let (_, n) = probe_shape(p.shape()).map_err(|e| r.key_err("probeGuess", e))?;
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
    Ok((c32(&o), (h, w), c32(&p), n, pos))
}

/// A patch stack as `read_patches` returns it: (patches, N, xs, ys).
pub type Patches = (Vec<Complex32>, usize, Vec<f64>, Vec<f64>);

/// Reads complex patches under `key` (M, N, N), or any group layout [`patch_layout`] accepts,
/// with their `xcoords`/`ycoords`.
pub fn read_patches(path: &Path, key: &str) -> Result<Patches, DataError> {
    let mut r = Reader::open(path)?;
    let (xs, ys) = positions(&mut r)?;
    let (p, n) = read_patch_stack(&mut r, key, xs.len())?;
    Ok((
        p,
        n,
        xs.iter().copied().collect(),
        ys.iter().copied().collect(),
    ))
}
