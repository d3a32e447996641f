//! Parameter initialisation (Glorot-uniform from a seed) and NPZ weight files.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};

use super::config::{Layout, ModelError, ModelResult};
use crate::util::fs;
use crate::util::rng::SplitMix64;
use crate::util::text::one_line;

/// Glorot-uniform weights (limit √(6 / (fan_in + fan_out)), fans counting the 3×3 taps as Keras
/// does) and zero biases, layer by layer in layout order from one SplitMix64 stream.
pub fn glorot_init(layout: &Layout, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut p = vec![0f32; layout.params];
    for l in &layout.layers {
        let s = &l.spec;
        let limit = (6.0 / (9.0 * (s.cin + s.cout) as f64)).sqrt();
        for v in &mut p[s.w_off..s.b_off()] {
            *v = ((2.0 * rng.uniform() - 1.0) * limit) as f32;
        }
    }
    p
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        message: one_line(e),
    }
}

/// Writes the parameters as an NPZ with one array per tensor (`<layer>.weight` of shape
/// (cout, cin, 3, 3), `<layer>.bias` of shape (cout,)), atomically (a crash never leaves a
/// truncated file).
pub fn save_npz(layout: &Layout, params: &[f32], path: &Path) -> ModelResult<()> {
    if params.len() != layout.params {
        return Err(ModelError::Shape {
            what: "parameter vector".into(),
            got: vec![params.len()],
            expected: vec![layout.params],
        });
    }
    fs::write_atomic(path, |w| -> std::io::Result<()> {
        let mut npz = NpzWriter::new(w);
        for (name, shape, off) in layout.tensors() {
            let len: usize = shape.iter().product();
            let arr = ArrayD::from_shape_vec(IxDyn(&shape), params[off..off + len].to_vec())
                .map_err(std::io::Error::other)?;
            npz.add_array(name.as_str(), &arr)
                .map_err(std::io::Error::other)?;
        }
        npz.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| io_err(path, e))
}

/// `(tensor name, shape)` of every array in a weights NPZ, read from the `.npy` headers only.
pub fn npz_shapes(path: &Path) -> ModelResult<Vec<(String, Vec<usize>)>> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut npz = NpzReader::new(BufReader::new(file)).map_err(|e| io_err(path, e))?;
    let names = npz.names().map_err(|e| io_err(path, e))?;
    let mut out = Vec::new();
    for n in names {
        let arr: ArrayD<f32> = npz
            .by_name(&n)
            .map_err(|e| io_err(path, format!("tensor '{n}': {e}")))?;
        out.push((
            n.strip_suffix(".npy").unwrap_or(&n).to_string(),
            arr.shape().to_vec(),
        ));
    }
    Ok(out)
}

/// Reads an NPZ written by [`save_npz`], checking that it holds exactly the network's tensors
/// with their shapes.
pub fn load_npz(layout: &Layout, path: &Path) -> ModelResult<Vec<f32>> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut npz = NpzReader::new(BufReader::new(file)).map_err(|e| io_err(path, e))?;
    let names: Vec<String> = npz
        .names()
        .map_err(|e| io_err(path, e))?
        .into_iter()
        .map(|n| n.strip_suffix(".npy").unwrap_or(&n).to_string())
        .collect();
    let tensors = layout.tensors();
    let pstr = path.display().to_string();
    for n in &names {
        if !tensors.iter().any(|(t, _, _)| t == n) {
            return Err(ModelError::ExtraTensor {
                path: pstr,
                name: n.clone(),
            });
        }
    }
    let mut params = vec![0f32; layout.params];
    for (name, shape, off) in tensors {
        if !names.contains(&name) {
            return Err(ModelError::MissingTensor { path: pstr, name });
        }
        let arr: ArrayD<f32> = npz
            .by_name(&name)
            .map_err(|e| io_err(path, format!("tensor '{name}': {e}")))?;
        if arr.shape() != shape.as_slice() {
            return Err(ModelError::TensorShape {
                path: pstr,
                name,
                got: arr.shape().to_vec(),
                expected: shape,
            });
        }
        let len = arr.len();
        for (d, v) in params[off..off + len].iter_mut().zip(arr.iter()) {
            *d = *v;
        }
    }
    Ok(params)
}
