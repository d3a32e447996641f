//! Data preparation shared by training and inference: reading and checking a dataset against
//! the configuration, normalisation, grouping, probe normalisation, intensity scale, and the
//! network configuration from the resolved config.

use std::path::Path;

use num_complex::Complex32;

use crate::config::{Config, Resolved, Source};
use crate::data::dataset::physics_param;
use crate::data::group::{Groups, make_groups_par};
use crate::data::{Dataset, ReadOptions, note, read_dataset, read_metadata};
use crate::model::NetConfig;
use crate::physics::probe;
use crate::workflow::{Result, WorkflowError};

/// Everything derived from a dataset that training and inference need.
pub struct Prepared {
    /// The dataset (its `diff` moved into `x`).
    pub data: Dataset,
    /// Normalised network input / measured amplitudes X = a·diff.
    pub x: Vec<f32>,
    /// Normalisation factor a.
    pub norm_factor: f64,
    /// Groups.
    pub groups: Groups,
}

/// `resolved` with what the training file's `_metadata` records where nothing else sets it
/// (PtychoPINN reads its physics parameters from there): `data.nphotons`, with source `data`
/// and a note. A gridsize the file records that differs from the configuration's is noted
/// (a file simulated for one gridsize trains at either). Keys set by a default only; a config
/// file, environment variable or flag always wins.
pub fn with_data_metadata(resolved: &Resolved, path: &Path) -> Resolved {
    let meta = read_metadata(path);
    let mut r = resolved.clone();
    let is_default = |r: &Resolved, key: &str| {
        r.sources.get(key).copied().unwrap_or(Source::Default) == Source::Default
    };
    if let Some(np) = physics_param(&meta, "nphotons").and_then(|v| v.as_f64())
        && np > 0.0
        && np.is_finite()
        && is_default(&r, "data.nphotons")
        && np != r.config.data.nphotons
    {
        note(&format!(
            "data.nphotons = {np:e} from the _metadata of {} (the configuration leaves it at its default {:e})",
            path.display(),
            r.config.data.nphotons
        ));
        r.config.data.nphotons = np;
        r.sources.insert("data.nphotons".into(), Source::Data);
    }
    if let Some(g) = physics_param(&meta, "gridsize").and_then(|v| v.as_u64())
        && g != r.config.data.gridsize as u64
    {
        note(&format!(
            "{} was simulated for gridsize {g}; training with data.gridsize = {}",
            path.display(),
            r.config.data.gridsize
        ));
    }
    r
}

/// Loads (NPZ or CXI, see [`crate::data::read_dataset`]), checks against the config,
/// normalises and groups a dataset.
pub fn prepare(path: &Path, cfg: &Config, n_groups: usize, read: &ReadOptions) -> Result<Prepared> {
    let read = ReadOptions {
        skip_patches: true,
        ..read.clone()
    };
    let mut data = read_dataset(path, &read)?;
    if data.n != cfg.data.n {
        return Err(WorkflowError::Mismatch(format!(
            "{}: patterns are {}×{} but the configuration has data.n = {} (pass --n {} or use a matching model)",
            path.display(),
            data.n,
            data.n,
            cfg.data.n,
            data.n
        )));
    }
    let c = (cfg.data.gridsize * cfg.data.gridsize) as usize;
    if c > 1 && data.len() < cfg.data.neighbor_count.max(c) + 1 {
        return Err(WorkflowError::Mismatch(format!(
            "{}: {} patterns, but gridsize {} groups need at least {} (a seed and its {} nearest neighbours)",
            path.display(),
            data.len(),
            cfg.data.gridsize,
            cfg.data.neighbor_count.max(c) + 1,
            cfg.data.neighbor_count.max(c)
        )));
    }
    let a = normalisation_factor(&data);
    // Normalise in place: the patterns are held once (the largest host allocation).
    let mut x = std::mem::take(&mut data.diff);
    x.iter_mut().for_each(|v| *v = (*v as f64 * a) as f32);
    let groups = make_groups_par(
        &data.xcoords,
        &data.ycoords,
        cfg.data.gridsize,
        cfg.data.neighbor_count,
        n_groups,
        cfg.data.seed,
        cfg.execution.num_workers,
    );
    Ok(Prepared {
        data,
        x,
        norm_factor: a,
        groups,
    })
}

/// a = sqrt((N/2)² / mean over patterns of Σ diff²) (f64): after it the mean per-pattern energy
/// of the network input is (N/2)².
pub fn normalisation_factor(d: &Dataset) -> f64 {
    let m = d.len().max(1);
    let total: f64 = d.diff.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let mean = total / m as f64;
    if mean > 0.0 {
        ((d.n as f64 / 2.0).powi(2) / mean).sqrt()
    } else {
        1.0
    }
}

/// P ← P / (probe_scale · mean over modes and N×N of |mask · P|), mask = disk √(x² + y²) < N/4
/// with centred coordinates arange(N) − N/2 + 0.5 (or no mask).
pub fn normalise_probe(
    probe: &[Complex32],
    n: usize,
    probe_scale: f64,
    use_mask: bool,
) -> Vec<Complex32> {
    let disk = use_mask.then(|| probe::normalisation_disk(n));
    probe::normalise_probe(probe, n, probe_scale, disk.as_deref())
}

/// The probe the model's physics uses, from the data's probe (modes × N × N): normalised
/// (`model.probe_scale`; with the disk of `model.probe_mask`), and — with the forward-model
/// mask on (`model.probe_mask_forward`, PtychoPINN's `--probe-mask`) — normalised with that
/// soft mask instead and multiplied by it, every mode alike, as PtychoPINN multiplies the
/// illuminated object by `probe · mask`.
pub fn model_probe(raw: &[Complex32], cfg: &Config) -> Vec<Complex32> {
    let (n, m) = (cfg.data.n, &cfg.model);
    if !m.probe_mask_forward {
        return normalise_probe(raw, n, m.probe_scale, m.probe_mask);
    }
    let mask = probe::probe_mask(n, mask_diameter(cfg), m.probe_mask_sigma);
    probe::normalise_probe(raw, n, m.probe_scale, Some(&mask))
        .iter()
        .enumerate()
        .map(|(i, z)| z * mask[i % (n * n)] as f32)
        .collect()
}

/// The forward-model mask's diameter in pixels: `model.probe_mask_diameter`, 0 = N/2.
pub fn mask_diameter(cfg: &Config) -> f64 {
    match cfg.model.probe_mask_diameter {
        d if d > 0.0 => d,
        _ => cfg.data.n as f64 / 2.0,
    }
}

/// Physics scale s = sqrt(nphotons)/(N/2).
pub fn intensity_scale(nphotons: f64, n: usize) -> f64 {
    nphotons.sqrt() / (n as f64 / 2.0)
}

/// The network of a configuration (widths ×`model.n_filters_scale`, C = gridsize²).
pub fn net_config(cfg: &Config) -> NetConfig {
    let c = (cfg.data.gridsize * cfg.data.gridsize) as usize;
    NetConfig::with_filter_scale(cfg.data.n, c, cfg.model.n_filters_scale as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisations() {
        let d = Dataset {
            n: 4,
            xcoords: vec![0.0, 1.0],
            ycoords: vec![0.0, 1.0],
            diff: vec![1.0; 32],
            probe: vec![Complex32::new(1.0, 0.0); 16],
            object: None,
            patches: None,
            start: None,
            scan_index: None,
            metadata: serde_json::Value::Null,
        };
        // Σ diff² per pattern = 16; (N/2)² = 4 → a = 0.5.
        assert!((normalisation_factor(&d) - 0.5).abs() < 1e-12);
        // 8×8 probe of ones, mask radius 2 with centres at ±0.5, ±1.5: 12 pixels inside → mean 12/64.
        let p = normalise_probe(&vec![Complex32::new(1.0, 0.0); 64], 8, 4.0, true);
        assert!(
            (p[0].re as f64 - 1.0 / (4.0 * 12.0 / 64.0)).abs() < 1e-6,
            "{}",
            p[0].re
        );
        assert!((intensity_scale(1e9, 64) - 988.211768802618).abs() < 1e-9);
    }
}
