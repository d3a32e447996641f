//! The model bundle of a run directory: `model.npz` (weights), `bundle.npz` (the normalised
//! probe and the intensity scale) and `config.toml` (the resolved configuration).

use std::path::Path;

use num_complex::Complex32;

use crate::config::Resolved;
use crate::data::npz;
use crate::gpu::Engine;
use crate::model::Network;
use crate::util::fs;
use crate::workflow::{Result, WorkflowError};

/// The probe (modes × N × N, normalised; with the forward-model mask applied) and intensity
/// scale a model was trained with.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeBundle {
    /// The normalised probe, every mode, row-major.
    pub probe: Vec<Complex32>,
    /// Its side N.
    pub n: usize,
    /// The intensity scale s.
    pub scale: f64,
}

/// Writes the whole bundle: the weights of `net`, `probe`, and `config.toml`.
pub fn write_bundle(
    dir: &Path,
    engine: &Engine,
    net: &Network,
    probe: &ProbeBundle,
    resolved: &Resolved,
) -> Result<()> {
    net.save(engine, &dir.join("model.npz"))?;
    write_probe(dir, probe)?;
    write_config(dir, resolved)
}

/// `config.toml`: the resolved configuration, without per-invocation keys.
pub fn write_config(dir: &Path, resolved: &Resolved) -> Result<()> {
    let path = dir.join("config.toml");
    fs::write_bytes_atomic(&path, resolved.to_toml().as_bytes())
        .map_err(|e| WorkflowError::io(&path, e))
}

/// `bundle.npz`: the normalised probe and the intensity scale. Written when training starts
/// (they do not change), so that `ptycho infer --checkpoint` works while a run is going on.
pub fn write_probe(dir: &Path, p: &ProbeBundle) -> Result<()> {
    npz::write_npz(&dir.join("bundle.npz"), |z| {
        z.array(
            "probe",
            &crate::data::dataset::probe_dims(p.probe.len(), p.n),
            p.probe.clone(),
        )?;
        z.array("intensity_scale", &[], vec![p.scale])
    })?;
    Ok(())
}

/// Reads `bundle.npz` of the run directory `dir`.
pub fn read_probe(dir: &Path) -> Result<ProbeBundle> {
    let path = dir.join("bundle.npz");
    let err = |e: String| WorkflowError::io(&path, e);
    let f = std::fs::File::open(&path).map_err(|e| {
        err(format!(
            "{e} (is {} a ptycho run directory?)",
            dir.display()
        ))
    })?;
    let mut z = ndarray_npy::NpzReader::new(f).map_err(|e| err(e.to_string()))?;
    let probe = z
        .by_name::<ndarray::OwnedRepr<Complex32>, ndarray::IxDyn>("probe")
        .map_err(|e| err(format!("key 'probe': {e}")))?;
    let shape = probe.shape().to_vec();
    let n = match shape[..] {
        [a, b] | [_, a, b] if a == b && a > 0 => a,
        _ => {
            return Err(err(format!(
                "key 'probe': expected (N, N) or (modes, N, N), got {shape:?}"
            )));
        }
    };
    let s = z
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix0>("intensity_scale")
        .map_err(|e| err(format!("key 'intensity_scale': {e}")))?;
    Ok(ProbeBundle {
        n,
        probe: probe.iter().copied().collect(),
        scale: s.into_scalar(),
    })
}
