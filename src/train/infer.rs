//! `ptycho infer`: load a model bundle, predict every group's object patch in batches, stitch,
//! and write reconstruction.npz, amplitude/phase PNGs and a Ptychodus product.

use std::path::{Path, PathBuf};

use num_complex::Complex32;

use super::run;
use super::trainer::{TrainError, Trainer, prepare};
use crate::config::Resolved;
use crate::data::product::{Geometry, Product};
use crate::data::{ReadOptions, npz};
use crate::gpu::Engine;
use crate::model::Network;
use crate::stitch::{Stitched, Stitcher};

/// Options of `ptycho infer`.
#[derive(Clone, Debug)]
pub struct InferOptions {
    /// Run directory with the bundle.
    pub model_dir: PathBuf,
    /// Test data (NPZ or CXI).
    pub test_data: PathBuf,
    /// Output directory.
    pub output_dir: PathBuf,
    /// Replace an existing output directory.
    pub overwrite: bool,
    /// How the test data are read (CXI pixel size, probe file); a file without a probe uses
    /// the bundle's.
    pub read: ReadOptions,
    /// Also write amplitude.tiff and phase.tiff (float32).
    pub tiff: bool,
    /// Weights from this training checkpoint instead of the bundle's model.npz.
    pub checkpoint: Option<PathBuf>,
}

/// What inference produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InferSummary {
    /// Patterns inferred.
    pub patterns: usize,
    /// Patterns per second (network forward, batched).
    pub patterns_per_second: f64,
    /// Stitched size (width, height).
    pub size_wh: (usize, usize),
    /// Peak GPU bytes.
    pub peak_gpu_bytes: u64,
    /// Files written in the output directory.
    pub files: Vec<&'static str>,
}

fn read_bundle(dir: &Path) -> Result<(Vec<Complex32>, f64), TrainError> {
    let path = dir.join("bundle.npz");
    let err = |e: String| TrainError::Io {
        path: path.display().to_string(),
        message: e,
    };
    let f = std::fs::File::open(&path).map_err(|e| {
        err(format!(
            "{e} (is {} a ptycho run directory?)",
            dir.display()
        ))
    })?;
    let mut z = ndarray_npy::NpzReader::new(f).map_err(|e| err(e.to_string()))?;
    let probe = z
        .by_name::<ndarray::OwnedRepr<Complex32>, ndarray::Ix2>("probe")
        .map_err(|e| err(format!("key 'probe': {e}")))?;
    let s = z
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix0>("intensity_scale")
        .map_err(|e| err(format!("key 'intensity_scale': {e}")))?;
    Ok((probe.iter().copied().collect(), s.into_scalar()))
}

/// Runs `ptycho infer` with the configuration resolved from the bundle's config.toml.
pub fn infer(
    engine: &Engine,
    resolved: &Resolved,
    opts: &InferOptions,
) -> Result<InferSummary, TrainError> {
    let cfg = &resolved.config;
    let (probe, _scale) = read_bundle(&opts.model_dir)?;
    if probe.len() != cfg.data.n * cfg.data.n {
        return Err(TrainError::Mismatch(format!(
            "{}: bundle probe does not match data.n = {}",
            opts.model_dir.display(),
            cfg.data.n
        )));
    }
    run::check_dir(&opts.output_dir, opts.overwrite)?;
    let read = ReadOptions {
        fallback_probe: Some(probe.clone()),
        ..opts.read.clone()
    };
    let set = prepare(&opts.test_data, cfg, 0, &read)?;
    let mut t = Trainer::new(engine, cfg, &probe)?;
    t.fit_canvas(&set.groups);
    match &opts.checkpoint {
        Some(ck) => super::trainer::load_checkpoint_weights(ck, &mut t.net, engine)?,
        None => {
            t.net = Network::load(
                engine,
                &super::prepare::net_config(cfg),
                &opts.model_dir.join("model.npz"),
            )?
        }
    }
    run::prepare_dir(&opts.output_dir, "infer", opts.overwrite)?;
    // Each group's object patch sits at the group centre (for gridsize 1 the pattern's own
    // scan position).
    let (xs, ys): (Vec<f64>, Vec<f64>) = set.groups.centers.iter().map(|c| (c[0], c[1])).unzip();
    // Stream: predict a batch, stitch it, drop it — host and GPU memory stay bounded by the
    // batch (and the batch by one storage binding), whatever the number of patterns.
    let batch = cfg.inference_batch_size().clamp(1, t.max_batch());
    if batch < cfg.inference_batch_size() {
        eprintln!(
            "note: inference batch {} → {batch} groups so that every buffer fits one storage binding ({} bytes)",
            cfg.inference_batch_size(),
            engine.limits().storage_binding_bytes
        );
    }
    let mut stitcher = Stitcher::new(cfg.data.n, &xs, &ys, cfg.inference.stitch_crop);
    let idx: Vec<usize> = (0..set.groups.len()).collect();
    let quiet = cfg.execution.quiet
        || matches!(
            cfg.execution.log_level,
            crate::config::LogLevel::Error | crate::config::LogLevel::Warn
        );
    let bar = run::Progress::epoch("infer", idx.len().div_ceil(batch), quiet);
    let start = std::time::Instant::now();
    for chunk in idx.chunks(batch) {
        let patches = t.predict(&set.x, &set.groups, chunk, batch)?;
        stitcher.add(&patches);
        bar.tick(stitcher.added() * set.groups.c);
    }
    let seconds = start.elapsed().as_secs_f64();
    let rate = (idx.len() * set.groups.c) as f64 / seconds.max(1e-9);
    bar.finish(&format!(
        "{} patterns in {seconds:.1} s ({rate:.1} patterns/s)",
        idx.len() * set.groups.c
    ));
    let s = stitcher.finish();
    let out = &opts.output_dir;
    npz::write_reconstruction(&out.join("reconstruction.npz"), &s, &xs, &ys)?;
    write_pictures(out, &s)?;
    let mut files = vec!["reconstruction.npz", "amplitude.png", "phase.png"];
    if opts.tiff {
        crate::data::tiff::write_amplitude_phase(out, &s)?;
        files.extend(["amplitude.tiff", "phase.tiff"]);
    }
    files.extend(write_product(
        out,
        &s,
        &probe,
        (&xs, &ys),
        Geometry::of(&set.data),
        cfg.inference.pixel_size_m,
        &opts.model_dir,
    )?);
    Ok(InferSummary {
        patterns: idx.len() * set.groups.c,
        patterns_per_second: rate,
        size_wh: (s.w, s.h),
        peak_gpu_bytes: engine.memory().peak_bytes,
        files,
    })
}

/// amplitude.png and phase.png with colour bars.
pub fn write_pictures(dir: &Path, s: &Stitched) -> Result<(), TrainError> {
    for (name, v) in [
        (
            "amplitude.png",
            s.object.iter().map(|z| z.norm() as f64).collect::<Vec<_>>(),
        ),
        (
            "phase.png",
            s.object.iter().map(|z| z.arg() as f64).collect(),
        ),
    ] {
        let p = dir.join(name);
        crate::util::plot::save_png(
            &crate::util::plot::colormap_with_bar(&v, s.h, s.w, None),
            &p,
        )
        .map_err(|e| TrainError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// The Ptychodus 1.7 product (specs/data.md): product.npz, and product.h5 with the `hdf5`
/// feature. Geometry (pixel size, distance, energy) comes from CXI test data when they carry
/// it, otherwise from `inference.pixel_size_m` and placeholders.
fn write_product(
    out: &Path,
    s: &Stitched,
    probe: &[Complex32],
    (xs, ys): (&[f64], &[f64]),
    geometry: Option<Geometry>,
    px: f64,
    model_dir: &Path,
) -> Result<Vec<&'static str>, TrainError> {
    let rows = run::read_metrics(&model_dir.join("metrics.csv")).unwrap_or_default();
    let losses: Vec<(i64, f64)> = rows
        .iter()
        .map(|r| (r.epoch as i64, r.train_loss))
        .collect();
    let p = Product::new(s, probe, (xs, ys), geometry, px, &losses);
    p.write_npz(&out.join("product.npz"))?;
    #[cfg(feature = "hdf5")]
    {
        p.write_h5(&out.join("product.h5"))?;
        Ok(vec!["product.npz", "product.h5"])
    }
    #[cfg(not(feature = "hdf5"))]
    Ok(vec!["product.npz"])
}
