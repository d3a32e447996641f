//! Writing NPZ archives numpy reads: arrays (`.npy` entries, stored), 0-d unicode strings
//! (`_metadata`), always through a temporary file renamed when complete.

use std::io::{Seek, Write};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use crate::data::{DataError, Dataset};
use crate::util::fs;

/// An NPZ archive being written (see [`write_npz`]).
pub struct NpzOut<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
}

impl<W: Write + Seek> NpzOut<W> {
    /// Appends `key.npy` holding `data` with `shape`.
    pub fn array<T: ndarray_npy::WritableElement>(
        &mut self,
        key: &str,
        shape: &[usize],
        data: Vec<T>,
    ) -> std::io::Result<()> {
        add(&mut self.zip, key, shape, data)
    }

    /// Appends `key.npy` as a 0-d `<U…` (numpy str) array holding `text`.
    pub fn string(&mut self, key: &str, text: &str) -> std::io::Result<()> {
        add_string(&mut self.zip, key, text)
    }
}

/// Writes an NPZ archive at `path` atomically: `fill` appends the entries; nothing is left
/// behind if it fails. Errors name the file.
pub fn write_npz(
    path: &Path,
    fill: impl FnOnce(&mut NpzOut<&mut std::io::BufWriter<std::fs::File>>) -> std::io::Result<()>,
) -> Result<(), DataError> {
    fs::write_atomic(path, |w| -> std::io::Result<()> {
        let mut out = NpzOut {
            zip: zip::ZipWriter::new(w),
        };
        fill(&mut out)?;
        out.zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| DataError::File {
        path: path.display().to_string(),
        message: e.to_string(),
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

/// Appends `key.npy` as a 0-d `<U…` (numpy str) array holding `json`.
pub(crate) fn add_string<W: Write + Seek>(
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
    write_npz(path, |z| {
        z.array("xcoords", &[m], d.xcoords.clone())?;
        z.array("ycoords", &[m], d.ycoords.clone())?;
        let (xs, ys) = d
            .start
            .clone()
            .unwrap_or_else(|| (d.xcoords.clone(), d.ycoords.clone()));
        z.array("xcoords_start", &[m], xs)?;
        z.array("ycoords_start", &[m], ys)?;
        z.array("diff3d", &[m, n, n], d.diff.clone())?;
        z.array(
            "probeGuess",
            &crate::data::dataset::probe_dims(d.probe.len(), n),
            d.probe.clone(),
        )?;
        if let Some((h, wd, o)) = &d.object {
            z.array("objectGuess", &[*h, *wd], o.clone())?;
        }
        if let Some(p) = &d.patches {
            z.array("ground_truth_patches", &[m, n, n], p.clone())?;
        }
        z.array(
            "scan_index",
            &[m],
            d.scan_index.clone().unwrap_or_else(|| vec![0; m]),
        )?;
        if !d.metadata.is_null() {
            // What numpy's savez writes for a JSON string: a 0-d `<U…` array.
            z.string("_metadata", &d.metadata.to_string())?;
        }
        Ok(())
    })
}

/// Writes a stitched object: `object` (c64), `amplitude`, `phase` (f32), `origin_xy`, and the
/// positions used.
pub fn write_reconstruction(
    path: &Path,
    s: &crate::stitch::Stitched,
    xs: &[f64],
    ys: &[f64],
) -> Result<(), DataError> {
    write_npz(path, |z| {
        z.array("object", &[s.h, s.w], s.object.clone())?;
        z.array(
            "amplitude",
            &[s.h, s.w],
            s.object.iter().map(|z| z.norm()).collect::<Vec<f32>>(),
        )?;
        z.array(
            "phase",
            &[s.h, s.w],
            s.object.iter().map(|z| z.arg()).collect::<Vec<f32>>(),
        )?;
        z.array("origin_xy", &[2], s.origin_xy.to_vec())?;
        z.array("weight", &[s.h, s.w], s.weight.clone())?;
        z.array("xcoords", &[xs.len()], xs.to_vec())?;
        z.array("ycoords", &[ys.len()], ys.to_vec())
    })
}
