//! `ptycho infer`: load a model bundle, predict every group's object patch in batches
//! ([`Predictor`]), stitch, and write reconstruction.npz, amplitude/phase PNGs and a Ptychodus
//! product.

pub mod predictor;

use std::path::{Path, PathBuf};

use num_complex::Complex32;

pub use predictor::Predictor;

use crate::config::Config;
use crate::config::Resolved;
use crate::data::product::{Geometry, Product};
use crate::data::{ReadOptions, npz};
use crate::dist::{self, Comm};
use crate::gpu::Engine;
use crate::model::params::npz_shapes;
use crate::model::{Layout, ModelError, Network};
use crate::nn::ConvLayout;
use crate::stitch::{PatchWeighting, Stitched, Stitcher};
use crate::util::fs::peak_host_note;
use crate::util::plot;
use crate::util::text::human_bytes;
use crate::workflow::train::checkpoint::load_checkpoint_weights;
use crate::workflow::train::prepare::{net_config, prepare};
use crate::workflow::train::progress::Progress;
use crate::workflow::train::{bundle, run_dir};
use crate::workflow::{Result, WorkflowError, ranks};

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
    /// Also stitch the same predictions with this weighting and write that reconstruction NPZ
    /// to this path (`bench quality` compares the weightings on one inference).
    pub also_stitch: Option<(PatchWeighting, PathBuf)>,
}

impl InferSummary {
    /// The summary line `ptycho infer` prints.
    pub fn report(&self) -> String {
        format!(
            "inferred {} patterns at {:.1} patterns/s; stitched {}×{} px; peak GPU memory {}{}",
            self.patterns,
            self.patterns_per_second,
            self.size_wh.0,
            self.size_wh.1,
            human_bytes(self.peak_gpu_bytes),
            peak_host_note()
        )
    }
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
    /// Pixels inside the scanned area no patch covers ([`Stitched::holes`]).
    pub holes: usize,
}

/// The configuration of the run directory `model_dir` (its `config.toml`), with `overrides`
/// (the command line's inference and execution flags) over it.
pub fn resolve_model_config(
    model_dir: &Path,
    overrides: &[(&'static str, toml::Value)],
) -> Result<Resolved> {
    let cfg = model_dir.join("config.toml");
    if !cfg.is_file() {
        return Err(WorkflowError::Usage(format!(
            "--model {}: no config.toml there; is it a ptycho run directory?",
            model_dir.display()
        )));
    }
    Ok(crate::config::resolve(Some(&cfg), overrides)?)
}

/// A weights file that does not hold the network its config.toml describes: one line naming
/// both (parameter counts and first encoder widths), or the tensor error if the file cannot
/// tell.
fn architecture_mismatch(weights: &Path, cfg: &Config, e: ModelError) -> WorkflowError {
    let Ok(shapes) = npz_shapes(weights) else {
        return e.into();
    };
    let in_file: usize = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    let width_in_file = shapes
        .iter()
        .find(|(name, _)| name == "encoder.0.conv0.weight")
        .and_then(|(_, s)| s.first().copied());
    let net = net_config(cfg);
    let want = Layout::new(&net).map(|l| l.params).unwrap_or(0);
    WorkflowError::Mismatch(format!(
        "{}: holds a network of {in_file} parameters (first encoder width {}), but config.toml \
         describes {want} (model.n_filters_scale = {}, first encoder width {}, N = {}, gridsize {}) ({e})",
        weights.display(),
        width_in_file.map_or("unknown".into(), |w| w.to_string()),
        cfg.model.n_filters_scale,
        net.encoder.first().copied().unwrap_or(0),
        cfg.data.n,
        cfg.data.gridsize,
    ))
}

/// Runs `ptycho infer` with the configuration resolved from the bundle's config.toml.
pub fn infer(engine: &Engine, resolved: &Resolved, opts: &InferOptions) -> Result<InferSummary> {
    let cfg = &resolved.config;
    // Under MPI the groups are sharded over the ranks; rank 0 alone writes. A failure before
    // the ranks work together stops every rank alike.
    let comm = dist::world();
    let (probe, set) = ranks::together(&comm, read_inputs(cfg, opts, comm.is_root()))?;
    if comm.is_parallel() {
        check_ranks(&comm, resolved, opts, &set.x, set.groups.len())?;
    }
    let net_cfg = net_config(cfg);
    let layout = ConvLayout::choose(engine, cfg.execution.conv_layout)?;
    let net = match &opts.checkpoint {
        Some(ck) => {
            let mut net = Network::seeded(engine, &net_cfg, cfg.data.seed, layout)?;
            load_checkpoint_weights(ck, &mut net, engine)?;
            net
        }
        None => {
            let weights = opts.model_dir.join("model.npz");
            Network::loaded(engine, &net_cfg, &weights, layout).map_err(|e| match e {
                ModelError::TensorShape { .. }
                | ModelError::MissingTensor { .. }
                | ModelError::ExtraTensor { .. } => architecture_mismatch(&weights, cfg, e),
                other => other.into(),
            })?
        }
    };
    // The weights never change during inference: pack the convs' taps once.
    let frozen = net.freeze(engine)?;
    let mut predictor = Predictor::new(engine, cfg);
    predictor.fit_canvas(&set.groups);
    if comm.is_root() {
        run_dir::prepare_dir(&opts.output_dir, "infer", opts.overwrite)?;
    }
    // Each group's object patch sits at the group centre (for gridsize 1 the pattern's own
    // scan position).
    let (xs, ys): (Vec<f64>, Vec<f64>) = set.groups.centers.iter().map(|c| (c[0], c[1])).unzip();
    // Stream: predict a batch, stitch it, drop it — host and GPU memory stay bounded by the
    // batch (and the batch by one storage binding), whatever the number of patterns.
    let batch = cfg
        .inference_batch_size()
        .clamp(1, predictor.max_batch(&net));
    if batch < cfg.inference_batch_size() && comm.is_root() {
        eprintln!(
            "note: inference batch {} → {batch} groups so that every buffer fits one storage binding ({} bytes)",
            cfg.inference_batch_size(),
            engine.limits().storage_binding_bytes
        );
    }
    let weighting = cfg
        .inference
        .patch_weighting
        .weighting(cfg.inference.stitch_crop, &probe);
    let mut stitcher = Stitcher::weighted(cfg.data.n, &xs, &ys, &weighting);
    let mut also = opts.also_stitch.as_ref().map(|(w, path)| {
        let w = w.weighting(cfg.inference.stitch_crop, &probe);
        (Stitcher::weighted(cfg.data.n, &xs, &ys, &w), path)
    });
    // This rank's contiguous block of the groups (all of them in a single process).
    let mine = comm.my_block(set.groups.len());
    stitcher.skip_to(mine.start);
    if let Some((s, _)) = also.as_mut() {
        s.skip_to(mine.start);
    }
    let idx: Vec<usize> = mine.collect();
    let bar = Progress::epoch(
        "infer",
        idx.len().div_ceil(batch),
        cfg.quiet() || !comm.is_root(),
    );
    let start = std::time::Instant::now();
    for chunk in idx.chunks(batch) {
        let patches = predictor.predict(&frozen, &set.x, &set.groups, chunk, batch)?;
        stitcher.add(&patches);
        if let Some((s, _)) = also.as_mut() {
            s.add(&patches);
        }
        bar.tick(stitcher.added() * set.groups.c);
    }
    // The ranks' sums, added in rank order: the same canvas on every rank.
    for s in std::iter::once(&mut stitcher).chain(also.as_mut().map(|(s, _)| s)) {
        if comm.is_parallel() {
            let mut v = s.sums();
            comm.sum_in_rank_order(&mut v);
            s.set_sums(&v);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let patterns = set.groups.len() * set.groups.c;
    let rate = patterns as f64 / seconds.max(1e-9);
    bar.finish(&format!(
        "{patterns} patterns in {seconds:.1} s ({rate:.1} patterns/s)"
    ));
    let s = stitcher.finish();
    if !comm.is_root() {
        return Ok(InferSummary {
            patterns,
            patterns_per_second: rate,
            size_wh: (s.w, s.h),
            peak_gpu_bytes: engine.memory().peak_bytes,
            files: Vec::new(),
            holes: 0,
        });
    }
    let holes = s.holes(&xs, &ys, weighting.covered_min());
    if holes > 0 {
        eprintln!(
            "note: {holes} pixels ({:.1} %) inside the scanned area are covered by no patch (value 0 there; \
             `weight` = 0 in reconstruction.npz): scan more densely, or widen each patch's share with \
             --patch-weighting probe (the central N/2) or a larger --stitch-crop (now {})",
            100.0 * holes as f64 / (s.w * s.h).max(1) as f64,
            cfg.inference.stitch_crop
        );
    }
    let out = &opts.output_dir;
    npz::write_reconstruction(&out.join("reconstruction.npz"), &s, &xs, &ys)?;
    if let Some((other, path)) = also {
        npz::write_reconstruction(path, &other.finish(), &xs, &ys)?;
    }
    write_pictures(out, &s)?;
    let mut files = vec!["reconstruction.npz", "amplitude.png", "phase.png"];
    if opts.tiff {
        crate::data::tiff::write_amplitude_phase(out, &s)?;
        files.extend(["amplitude.tiff", "phase.tiff"]);
    }
    files.extend(write_product(
        out,
        &s,
        (&probe, cfg.data.n),
        (&xs, &ys),
        Geometry::of(&set.data),
        cfg.inference.pixel_size_m,
        &opts.model_dir,
    )?);
    Ok(InferSummary {
        patterns,
        patterns_per_second: rate,
        size_wh: (s.w, s.h),
        peak_gpu_bytes: engine.memory().peak_bytes,
        files,
        holes,
    })
}

/// The bundle's probe and the prepared test data, after (on rank 0, `root`) the output
/// directory's check.
fn read_inputs(
    cfg: &Config,
    opts: &InferOptions,
    root: bool,
) -> Result<(Vec<Complex32>, crate::workflow::train::prepare::Prepared)> {
    let probe = bundle::read_probe(&opts.model_dir)?.probe;
    if probe.is_empty() || probe.len() % (cfg.data.n * cfg.data.n) != 0 {
        return Err(WorkflowError::Mismatch(format!(
            "{}: bundle probe is not modes × N×N for data.n = {}",
            opts.model_dir.display(),
            cfg.data.n
        )));
    }
    if root {
        run_dir::check_dir(&opts.output_dir, opts.overwrite)?;
    }
    let read = ReadOptions {
        fallback_probe: Some(probe.clone()),
        ..opts.read.clone()
    };
    let set = prepare(&opts.test_data, cfg, 0, &read)?;
    Ok((probe, set))
}

/// amplitude.png and phase.png with colour bars.
pub fn write_pictures(dir: &Path, s: &Stitched) -> Result<()> {
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
        plot::save_png(&plot::colormap_with_bar(&v, s.h, s.w, None), &p)
            .map_err(|e| WorkflowError::io(&p, e))?;
    }
    Ok(())
}

/// The Ptychodus 1.7 product (specs/data.md): product.npz, and product.h5 with the `hdf5`
/// feature. Geometry (pixel size, distance, energy) comes from CXI test data when they carry
/// it, otherwise from `inference.pixel_size_m` and placeholders.
fn write_product(
    out: &Path,
    s: &Stitched,
    (probe, n): (&[Complex32], usize),
    (xs, ys): (&[f64], &[f64]),
    geometry: Option<Geometry>,
    px: f64,
    model_dir: &Path,
) -> Result<Vec<&'static str>> {
    let rows = run_dir::read_metrics(&model_dir.join("metrics.csv")).unwrap_or_default();
    let losses: Vec<(i64, f64)> = rows
        .iter()
        .map(|r| (r.epoch as i64, r.train_loss))
        .collect();
    let p = Product::new(s, probe, (xs, ys), geometry, px, &losses).with_probe(probe, n);
    p.write_npz(&out.join("product.npz"))?;
    #[cfg(feature = "hdf5")]
    {
        p.write_h5(&out.join("product.h5"))?;
        Ok(vec!["product.npz", "product.h5"])
    }
    #[cfg(not(feature = "hdf5"))]
    Ok(vec!["product.npz"])
}

/// Refuses an inference whose ranks would not reconstruct the same object: the model, its
/// configuration, the test file and its contents; and more ranks than groups.
fn check_ranks(
    comm: &Comm,
    resolved: &Resolved,
    opts: &InferOptions,
    x: &[f32],
    groups: usize,
) -> Result<()> {
    let mut items = vec![("--model".to_string(), opts.model_dir.display().to_string())];
    items.extend(ranks::config_items(
        &resolved.config,
        &["data", "model", "inference"],
    )?);
    items.push(("--test-data".into(), opts.test_data.display().to_string()));
    items.push(("the test patterns".into(), ranks::fingerprint(x)));
    items.push(("--output-dir".into(), opts.output_dir.display().to_string()));
    ranks::agree(comm, &items)?;
    ranks::enough_work(comm, groups, "groups to infer", "")
}
