//! The training loop: network → object patches → forward model → loss, backward, Adam, one
//! submit and one scalar readback per step; validation, schedules, early stopping, checkpoints
//! (`last`, `best`), resume, and the model bundle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use num_complex::Complex32;
use thiserror::Error;

use super::prepare::{intensity_scale, net_config, normalisation_factor, normalise_probe};
use super::run::{self, EpochRow, Progress, RunError};
use super::schedule::{Schedule, ScheduleState};
use crate::config::{Config, Monitor, Resolved};
use crate::data::group::{Groups, make_groups_par};
use crate::data::{DataError, Dataset, ReadOptions};
use crate::gpu::{Engine, GpuBuffer, GpuError};
use crate::linalg::Axpy;
use crate::model::{Activations, ModelError, Network};
use crate::physics::{
    FarFieldModel, Grouping, MergeGeometry, MergePatches, Translate, TranslateGeometry, canvas_side,
};
use crate::util::rng::SplitMix64;

/// Errors of training and inference.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Bad or unreadable data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// Forward-model failure.
    #[error(transparent)]
    Physics(#[from] crate::physics::PhysicsError),
    /// FFT failure.
    #[error(transparent)]
    Fft(#[from] crate::fft::FftError),
    /// Network-kernel failure.
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    /// Simulation failure.
    #[error(transparent)]
    Simulate(#[from] crate::simulate::SimulateError),
    /// Network failure (shapes, weights file).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Run directory problems.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Configuration problems.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Data and configuration or bundle disagree.
    #[error("{0}")]
    Mismatch(String),
    /// The loss became NaN or infinite.
    #[error(
        "loss became {value} at epoch {epoch}, step {step}; stopped (the last good checkpoint is kept in {dir})"
    )]
    NonFinite {
        /// The value.
        value: f64,
        /// 1-based epoch.
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// Checkpoint folder.
        dir: String,
    },
    /// The GPU ran out of memory or was lost during training; the last epoch-boundary
    /// checkpoint is kept and the run can continue with `--resume`.
    #[error("{error} (epoch {epoch}, {during}); {saved}{hint}")]
    GpuFault {
        /// The GPU error.
        error: GpuError,
        /// 1-based epoch.
        epoch: usize,
        /// What was running: `step 3`, `validation`, `writing a checkpoint`.
        during: String,
        /// Where the last checkpoint is and how to resume from it.
        saved: String,
        /// What to change before resuming.
        hint: &'static str,
    },
    /// File writing.
    #[error("{path}: {message}")]
    Io {
        /// Path.
        path: String,
        /// Message.
        message: String,
    },
}

impl TrainError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> Result<GpuError, Self> {
        match self {
            TrainError::Gpu(g) => Ok(g),
            TrainError::Model(m) => m.into_gpu().map_err(TrainError::Model),
            TrainError::Physics(p) => p.into_gpu().map_err(TrainError::Physics),
            TrainError::Fft(f) => f.into_gpu().map_err(TrainError::Fft),
            TrainError::Nn(n) => n.into_gpu().map_err(TrainError::Nn),
            TrainError::Simulate(s) => s.into_gpu().map_err(TrainError::Simulate),
            other => Err(other),
        }
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Where to train from and to.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Training NPZ.
    pub train_data: PathBuf,
    /// Optional separate validation/test NPZ (used for the validation loss instead of a split).
    pub test_data: Option<PathBuf>,
    /// Run directory.
    pub output_dir: PathBuf,
    /// Continue the run in `output_dir` from its last checkpoint.
    pub resume: bool,
    /// Replace an existing directory.
    pub overwrite: bool,
    /// How the data files are read (CXI pixel size, probe file).
    pub read: ReadOptions,
}

/// What a training run did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainSummary {
    /// Epochs completed (in total, including resumed ones).
    pub epochs: usize,
    /// Last epoch's mean training loss.
    pub train_loss: f64,
    /// Last epoch's validation loss (NaN without validation data).
    pub val_loss: f64,
    /// Training throughput over the run, patterns (groups·C) per second.
    pub patterns_per_second: f64,
    /// Peak bytes of GPU memory held by ptycho's buffers.
    pub peak_gpu_bytes: u64,
    /// Stopped by early stopping.
    pub early_stopped: bool,
    /// Stopped by Ctrl-C (a checkpoint was written).
    pub interrupted: bool,
}

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

/// Loads (NPZ or CXI, see [`crate::data::read_dataset`]), checks against the config,
/// normalises and groups a dataset.
pub fn prepare(
    path: &Path,
    cfg: &Config,
    n_groups: usize,
    read: &ReadOptions,
) -> Result<Prepared, TrainError> {
    let read = ReadOptions {
        skip_patches: true,
        ..read.clone()
    };
    let mut data = crate::data::read_dataset(path, &read)?;
    if data.n != cfg.data.n {
        return Err(TrainError::Mismatch(format!(
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
        return Err(TrainError::Mismatch(format!(
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

/// GPU state for batches of one size.
struct Pipe {
    acts: Activations,
    model: FarFieldModel,
    x: GpuBuffer<f32>,
    dobj: GpuBuffer<Complex32>,
}

/// GPU state of inference for batches of one size: forward-only activations, and for
/// gridsize > 1 the object_big merge and the centre crop of each group canvas.
struct InferPipe {
    acts: Activations,
    x: GpuBuffer<f32>,
    merge: Option<InferMerge>,
}

/// The merge and crop of [`InferPipe`].
struct InferMerge {
    merge: MergePatches,
    translate: Translate,
    offsets: GpuBuffer<[f32; 2]>,
    zeros: GpuBuffer<[f32; 2]>,
    canvas: GpuBuffer<Complex32>,
    wgt: GpuBuffer<f32>,
    out: GpuBuffer<Complex32>,
}

/// The training/validation engine for one run.
pub struct Trainer<'e> {
    engine: &'e Engine,
    cfg: Config,
    /// The network.
    pub net: Network,
    probe: Vec<Complex32>,
    scale: f64,
    canvas: usize,
    pipes: HashMap<usize, Pipe>,
    infer_pipes: HashMap<usize, InferPipe>,
    axpy: Axpy,
    acc: GpuBuffer<f32>,
    profile: bool,
    last_kernel_times: Vec<(&'static str, f64)>,
}

impl<'e> Trainer<'e> {
    /// Runs one training step with per-dispatch GPU timestamps and returns
    /// `(kernel, milliseconds, dispatches)` sorted by time (the parameters are updated).
    pub fn profile_step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
    ) -> Result<Vec<(String, f64, usize)>, TrainError> {
        self.profile = true;
        let r = self.step(x, g, idx, 0, true, 1);
        self.profile = false;
        r?;
        let mut by: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
        for (k, t) in &self.last_kernel_times {
            let e = by.entry(k).or_default();
            e.0 += t / 1e6;
            e.1 += 1;
        }
        let mut v: Vec<(String, f64, usize)> = by
            .into_iter()
            .map(|(k, (ms, n))| (k.to_string(), ms, n))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }

    /// Builds the network (Glorot init from the seed) and the physics for `probe`. For
    /// gridsize > 1 call [`Self::fit_canvas`] with every set of groups before stepping.
    pub fn new(
        engine: &'e Engine,
        cfg: &Config,
        probe_raw: &[Complex32],
    ) -> Result<Self, TrainError> {
        let n = cfg.data.n;
        let net = Network::new(engine, &net_config(cfg), cfg.data.seed)?;
        let probe = normalise_probe(probe_raw, n, cfg.model.probe_scale, cfg.model.probe_mask);
        let acc = engine.alloc::<f32>("train.grad_accumulator", net.layout.params)?;
        Ok(Trainer {
            engine,
            cfg: cfg.clone(),
            net,
            probe,
            scale: intensity_scale(cfg.data.nphotons, n),
            canvas: n,
            pipes: HashMap::new(),
            infer_pipes: HashMap::new(),
            axpy: Axpy::new(engine)?,
            acc,
            profile: false,
            last_kernel_times: Vec::new(),
        })
    }

    /// Grows the object_big canvas (gridsize > 1) so that no member of `g` is clipped when its
    /// patch is translated by its relative offset (physics.md: M = N + 2·ceil(max |offset|),
    /// even). The canvas only sets where the merge may write; it does not change the network.
    pub fn fit_canvas(&mut self, g: &Groups) {
        let max = g
            .offsets
            .iter()
            .flat_map(|o| [o[0].abs(), o[1].abs()])
            .fold(0.0, f64::max);
        let m = canvas_side(self.cfg.data.n, max);
        if m > self.canvas {
            self.canvas = m;
            self.pipes.clear();
            self.infer_pipes.clear();
        }
    }

    /// The object_big canvas side M (N for gridsize 1).
    pub fn canvas(&self) -> usize {
        self.canvas
    }

    /// The normalised probe.
    pub fn probe(&self) -> &[Complex32] {
        &self.probe
    }

    /// The intensity scale s.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn pipe(&mut self, b: usize) -> Result<&Pipe, TrainError> {
        if !self.pipes.contains_key(&b) {
            let n = self.cfg.data.n;
            let c = self.net.layout.cfg.c;
            let t = &self.cfg.training;
            let model = FarFieldModel::new(
                self.engine,
                n,
                b * c,
                &self.probe,
                self.scale as f32,
                t.nll_weight as f32,
                t.mae_weight as f32,
            )?
            .with_grouping(
                self.engine,
                Grouping {
                    members: c,
                    canvas: self.canvas,
                },
            )?;
            let pipe = Pipe {
                acts: self.net.alloc(self.engine, b)?,
                model,
                x: self.engine.alloc("train.x", b * c * n * n)?,
                dobj: self.engine.alloc("train.dobj", b * c * n * n)?,
            };
            self.pipes.insert(b, pipe);
        }
        Ok(self.pipes.get(&b).expect("inserted"))
    }

    /// Uploads the normalised patterns and the relative offsets of the groups `idx` (members
    /// group-major) into the pipe for `idx.len()` groups.
    fn load_batch(&mut self, x: &[f32], g: &Groups, idx: &[usize]) -> Result<(), TrainError> {
        let (xs, offs) = self.gather(x, g, idx)?;
        let engine = self.engine;
        let pipe = self.pipe(idx.len())?;
        engine.write(&pipe.x, 0, &xs)?;
        pipe.model.write_offsets(engine, &offs)?;
        Ok(())
    }

    /// The normalised patterns and relative offsets of the groups `idx`, members group-major.
    #[allow(clippy::type_complexity, reason = "two parallel arrays")]
    fn gather(
        &self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
    ) -> Result<(Vec<f32>, Vec<[f32; 2]>), TrainError> {
        if g.c != self.net.layout.cfg.c {
            return Err(TrainError::Mismatch(format!(
                "groups of {} patterns for a network with {} channels",
                g.c, self.net.layout.cfg.c
            )));
        }
        let nn = self.cfg.data.n * self.cfg.data.n;
        let mut xs = Vec::with_capacity(idx.len() * g.c * nn);
        let mut offs = Vec::with_capacity(idx.len() * g.c);
        for &gi in idx {
            for k in gi * g.c..(gi + 1) * g.c {
                let m = g.members[k];
                xs.extend_from_slice(&x[m * nn..(m + 1) * nn]);
                offs.push([g.offsets[k][0] as f32, g.offsets[k][1] as f32]);
            }
        }
        Ok((xs, offs))
    }

    /// Largest batch (groups) whose buffers fit one storage binding of the adapter: bigger
    /// batches are split into micro-batches with gradient accumulation (training) or run in
    /// turn (validation, inference), so GPU memory is bounded whatever the batch size.
    pub fn max_batch(&self) -> usize {
        let n = self.cfg.data.n;
        let c = self.net.layout.cfg.c;
        let per = self
            .net
            .largest_buffer_per_image()
            .max((c * n * n * 8) as u64)
            .max((self.canvas * self.canvas * 8) as u64);
        ((self.engine.limits().storage_binding_bytes / per) as usize).max(1)
    }

    /// One training step on the groups `idx`; `micro` = position in the accumulation cycle,
    /// `apply` = run Adam after it. Returns the batch's mean loss. A batch larger than
    /// [`Self::max_batch`] runs as several submits whose gradients are accumulated with weights
    /// proportional to their sizes (the same mean gradient, up to summation order).
    pub fn step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        micro: usize,
        apply: bool,
        accumulate: usize,
    ) -> Result<f64, TrainError> {
        let fit = self.max_batch();
        if idx.len() <= fit && accumulate <= 1 {
            return self.sub_step(x, g, idx, None, apply);
        }
        let parts: Vec<&[usize]> = idx.chunks(fit).collect();
        let total = idx.len() as f64 * accumulate.max(1) as f64;
        let mut loss = 0.0;
        for (j, part) in parts.iter().enumerate() {
            let first = micro == 0 && j == 0;
            let last = j + 1 == parts.len();
            let w = (part.len() as f64 / total) as f32;
            let l = self.sub_step(x, g, part, Some((w, first, last && apply)), last && apply)?;
            loss += l * part.len() as f64 / idx.len() as f64;
        }
        Ok(loss)
    }

    /// One submit: forward, loss, backward on `idx`; with `acc = Some((weight, first, copy))`
    /// the gradient is added into the accumulator with `weight` (replacing it when `first`) and
    /// copied back for Adam when `copy`; Adam runs when `apply`.
    fn sub_step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        acc: Option<(f32, bool, bool)>,
        apply: bool,
    ) -> Result<f64, TrainError> {
        self.load_batch(x, g, idx)?;
        let engine = self.engine;
        let pipe = self.pipes.get(&idx.len()).expect("pipe");
        let mut rec = engine.recording("train.step");
        self.net.forward(engine, &mut rec, &pipe.x, &pipe.acts)?;
        let loss = pipe
            .model
            .record_loss(engine, &mut rec, &pipe.acts.obj, &pipe.x)?;
        pipe.model.record_backward(engine, &mut rec, &pipe.dobj)?;
        self.net
            .backward_object(engine, &mut rec, &pipe.acts, &pipe.dobj)?;
        if let Some((k, first, copy)) = acc {
            self.axpy.record(
                engine,
                &mut rec,
                k,
                &self.net.grads,
                if first { 0.0 } else { 1.0 },
                &self.acc,
            )?;
            if copy {
                rec.copy(self.acc.binding(), self.net.grads.binding());
            }
        }
        let elements = pipe.model.elements() as f64;
        if apply {
            self.net.adam_step(engine, &mut rec)?;
        }
        let id = rec.read_binding(loss);
        rec.set_profile(self.profile);
        let out = engine.submit(rec)?;
        self.last_kernel_times = out.kernel_times_ns.clone();
        Ok(out.get::<f32>(id)[0] as f64 / elements)
    }

    /// Mean loss over the groups `idx` without updating anything.
    pub fn eval_loss(&mut self, x: &[f32], g: &Groups, idx: &[usize]) -> Result<f64, TrainError> {
        let bsz = self.cfg.training.batch_size.min(self.max_batch());
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in idx.chunks(bsz) {
            self.load_batch(x, g, chunk)?;
            let engine = self.engine;
            let pipe = self.pipes.get(&chunk.len()).expect("pipe");
            let mut rec = engine.recording("train.validate");
            self.net.forward(engine, &mut rec, &pipe.x, &pipe.acts)?;
            let loss = pipe
                .model
                .record_loss(engine, &mut rec, &pipe.acts.obj, &pipe.x)?;
            let id = rec.read_binding(loss);
            let out = engine.submit(rec)?;
            sum += out.get::<f32>(id)[0] as f64;
            count += pipe.model.elements();
        }
        Ok(if count > 0 {
            sum / count as f64
        } else {
            f64::NAN
        })
    }

    /// The object patch of every group in `idx`, read back: (B, N, N) complex. For gridsize 1
    /// that is the network's patch; for gridsize > 1 it is PtychoPINN's `trimmed_obj`, the
    /// group's object_big canvas cropped to N around the group centre (stitch it at the centre).
    pub fn predict(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        batch: usize,
    ) -> Result<Vec<Complex32>, TrainError> {
        let n = self.cfg.data.n;
        let c = self.net.layout.cfg.c;
        let engine = self.engine;
        let mut out = Vec::with_capacity(idx.len() * n * n);
        for chunk in idx.chunks(batch.clamp(1, self.max_batch())) {
            let b = chunk.len();
            let (xs, offs) = self.gather(x, g, chunk)?;
            if !self.infer_pipes.contains_key(&b) {
                let merge = if c > 1 {
                    let cl = b * self.canvas * self.canvas;
                    Some(InferMerge {
                        merge: MergePatches::new(engine)?,
                        translate: Translate::new(engine)?,
                        offsets: engine.alloc("infer.offsets", b * c)?,
                        zeros: engine.upload("infer.zero_offsets", &vec![[0.0f32; 2]; b])?,
                        canvas: engine.alloc("infer.canvas", cl)?,
                        wgt: engine.alloc("infer.canvas_weight", cl)?,
                        out: engine.alloc("infer.trimmed", b * n * n)?,
                    })
                } else {
                    None
                };
                let p = InferPipe {
                    acts: self.net.alloc_inference(engine, b)?,
                    x: engine.alloc("infer.x", b * c * n * n)?,
                    merge,
                };
                self.infer_pipes.insert(b, p);
            }
            let pipe = &self.infer_pipes[&b];
            engine.write(&pipe.x, 0, &xs)?;
            let mut rec = engine.recording("infer");
            self.net.forward(engine, &mut rec, &pipe.x, &pipe.acts)?;
            let result = match &pipe.merge {
                Some(m) => {
                    engine.write(&m.offsets, 0, &offs)?;
                    m.merge.record(
                        engine,
                        &mut rec,
                        &MergeGeometry {
                            n,
                            m: self.canvas,
                            groups: b,
                            members: c,
                        },
                        &pipe.acts.obj,
                        &m.offsets,
                        &m.canvas,
                        &m.wgt,
                    )?;
                    m.translate.record(
                        engine,
                        &mut rec,
                        &TranslateGeometry::reextract(n, self.canvas, b, 1),
                        &m.canvas,
                        &m.zeros,
                        &m.out,
                    )?;
                    &m.out
                }
                None => &pipe.acts.obj,
            };
            let id = rec.read(result);
            out.extend(engine.submit(rec)?.get::<Complex32>(id));
        }
        Ok(out)
    }
}

/// Training state saved in checkpoints (numbers only, stored as one f64 array).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress0 {
    /// Epochs fully completed.
    pub epochs_done: usize,
    /// Adam step.
    pub step: u64,
    /// Schedule.
    pub schedule: ScheduleState,
}

fn write_checkpoint(
    path: &Path,
    net: &Network,
    engine: &Engine,
    p: &Progress0,
) -> Result<(), TrainError> {
    let (params, m, v, step) = net.optimizer_state(engine)?;
    let state = vec![
        p.epochs_done as f64,
        step as f64,
        p.schedule.lr,
        p.schedule.best,
        p.schedule.since_best as f64,
        p.schedule.plateau_wait as f64,
    ];
    crate::util::fs::write_atomic(path, |w| -> std::io::Result<()> {
        use ndarray_npy::WriteNpyExt;
        let mut zip = zip::ZipWriter::new(w);
        for (k, data) in [("params", params), ("adam_m", m), ("adam_v", v)] {
            zip.start_file(
                format!("{k}.npy"),
                zip::write::SimpleFileOptions::default().large_file(true),
            )
            .map_err(std::io::Error::other)?;
            ndarray::Array1::from(data)
                .write_npy(&mut zip)
                .map_err(std::io::Error::other)?;
        }
        zip.start_file("state.npy", zip::write::SimpleFileOptions::default())
            .map_err(std::io::Error::other)?;
        ndarray::Array1::from(state)
            .write_npy(&mut zip)
            .map_err(std::io::Error::other)?;
        zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| io_err(path, e))
}

fn read_checkpoint(
    path: &Path,
    net: &mut Network,
    engine: &Engine,
) -> Result<Progress0, TrainError> {
    let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut npz = ndarray_npy::NpzReader::new(f).map_err(|e| io_err(path, e))?;
    let mut get = |k: &str| -> Result<Vec<f32>, TrainError> {
        npz.by_name::<ndarray::OwnedRepr<f32>, ndarray::Ix1>(k)
            .map(|a| a.to_vec())
            .map_err(|e| io_err(path, format!("key '{k}': {e}")))
    };
    let (params, m, v) = (get("params")?, get("adam_m")?, get("adam_v")?);
    let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut npz = ndarray_npy::NpzReader::new(f).map_err(|e| io_err(path, e))?;
    let s = npz
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>("state")
        .map_err(|e| io_err(path, format!("key 'state': {e}")))?;
    if s.len() != 6 {
        return Err(io_err(
            path,
            format!("key 'state': expected 6 values, got {}", s.len()),
        ));
    }
    net.restore_optimizer(engine, &params, &m, &v, s[1] as u64)?;
    Ok(Progress0 {
        epochs_done: s[0] as usize,
        step: s[1] as u64,
        schedule: ScheduleState {
            lr: s[2],
            best: s[3],
            since_best: s[4] as usize,
            plateau_wait: s[5] as usize,
        },
    })
}

/// Writes the model bundle: `model.npz` (weights), `bundle.npz` (normalised probe, intensity
/// scale), `config.toml`.
pub fn write_bundle(
    dir: &Path,
    engine: &Engine,
    t: &Trainer,
    resolved: &Resolved,
) -> Result<(), TrainError> {
    t.net.save(engine, &dir.join("model.npz"))?;
    write_probe(dir, t)?;
    crate::util::fs::write_bytes_atomic(&dir.join("config.toml"), resolved.to_toml().as_bytes())
        .map_err(|e| io_err(&dir.join("config.toml"), e))
}

/// `bundle.npz`: the normalised probe and the intensity scale. Written when training starts
/// (they do not change), so that `ptycho infer --checkpoint` works while a run is going on.
fn write_probe(dir: &Path, t: &Trainer) -> Result<(), TrainError> {
    let n = t.cfg.data.n;
    let path = dir.join("bundle.npz");
    crate::util::fs::write_atomic(&path, |w| -> std::io::Result<()> {
        use ndarray_npy::WriteNpyExt;
        let mut zip = zip::ZipWriter::new(w);
        zip.start_file("probe.npy", zip::write::SimpleFileOptions::default())
            .map_err(std::io::Error::other)?;
        ndarray::Array2::from_shape_vec((n, n), t.probe.clone())
            .map_err(std::io::Error::other)?
            .write_npy(&mut zip)
            .map_err(std::io::Error::other)?;
        zip.start_file(
            "intensity_scale.npy",
            zip::write::SimpleFileOptions::default(),
        )
        .map_err(std::io::Error::other)?;
        ndarray::arr0(t.scale)
            .write_npy(&mut zip)
            .map_err(std::io::Error::other)?;
        zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| io_err(&path, e))
}

/// Loads the weights of a training checkpoint (`checkpoints/last.npz`, `best.npz`, …) into
/// `net` (inference from a checkpoint; the Adam state is not needed).
pub fn load_checkpoint_weights(
    path: &Path,
    net: &mut Network,
    engine: &Engine,
) -> Result<(), TrainError> {
    read_checkpoint(path, net, engine).map(|_| ())
}

/// Turns an out-of-memory or device-lost error during training into [`TrainError::GpuFault`],
/// which names the checkpoint to resume from.
fn gpu_fault(
    e: TrainError,
    epoch: usize,
    during: &str,
    saved: Option<usize>,
    dir: &Path,
) -> TrainError {
    let e = e.into_gpu().map_or_else(|other| other, TrainError::Gpu);
    match e {
        TrainError::Gpu(g @ (GpuError::OutOfMemory { .. } | GpuError::DeviceLost(_))) => {
            let hint = if matches!(g, GpuError::OutOfMemory { .. }) {
                " with a smaller --batch-size (or PTYCHO_MAX_BINDING_BYTES to cap buffer sizes)"
            } else {
                ""
            };
            let saved = match saved {
                Some(k) => format!(
                    "the last checkpoint, after epoch {k}, is {0}/checkpoints/last.npz: continue with `ptycho train --resume {0}`",
                    dir.display()
                ),
                None => "no checkpoint was written (training.checkpoint = false)".into(),
            };
            TrainError::GpuFault {
                error: g,
                epoch,
                during: during.to_string(),
                saved,
                hint,
            }
        }
        other => other,
    }
}

/// Splits group indices into (train, validation) with the seed.
pub fn split_groups(len: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..len).collect();
    SplitMix64::new(seed ^ 0x5B17).shuffle(&mut idx);
    let nval = ((len as f64) * fraction).round() as usize;
    let nval = if fraction > 0.0 && len > 1 {
        nval.clamp(1, len - 1)
    } else {
        0
    };
    let val = idx[..nval].to_vec();
    let train = idx[nval..].to_vec();
    (train, val)
}

/// Runs `ptycho train`.
pub fn train(
    engine: &Engine,
    resolved: &Resolved,
    opts: &TrainOptions,
) -> Result<TrainSummary, TrainError> {
    let cfg = &resolved.config;
    let dir = &opts.output_dir;
    if opts.resume {
        if !run::is_run_dir(dir) {
            return Err(TrainError::Mismatch(format!(
                "--resume {}: not a ptycho run directory",
                dir.display()
            )));
        }
    } else {
        run::check_dir(dir, opts.overwrite)?;
    }
    // Data before the run directory: bad input must not leave a directory behind.
    let train_set = prepare(&opts.train_data, cfg, cfg.data.n_groups, &opts.read)?;
    let test_set = match &opts.test_data {
        Some(p) => Some(prepare(p, cfg, 0, &opts.read)?),
        None => None,
    };
    let (train_idx, val_idx, val_set) = match test_set {
        Some(v) => {
            let all: Vec<usize> = (0..v.groups.len()).collect();
            (
                (0..train_set.groups.len()).collect::<Vec<_>>(),
                all,
                Some(v),
            )
        }
        None => {
            let (t, v) = split_groups(
                train_set.groups.len(),
                cfg.training.validation_split,
                cfg.data.seed,
            );
            (t, v, None)
        }
    };
    let mut trainer = Trainer::new(engine, cfg, &train_set.data.probe)?;
    trainer.fit_canvas(&train_set.groups);
    if let Some(v) = &val_set {
        trainer.fit_canvas(&v.groups);
    }
    // The inputs are good: now the run directory may be written.
    if !opts.resume {
        run::prepare_dir(dir, "train", opts.overwrite)?;
    }
    std::fs::create_dir_all(dir.join("checkpoints")).map_err(|e| io_err(dir, e))?;
    write_probe(dir, &trainer)?;
    let schedule = Schedule::new(&cfg.training, cfg.learning_rate());
    let mut prog = Progress0 {
        epochs_done: 0,
        step: 0,
        schedule: schedule.initial(),
    };
    let mut rows = Vec::new();
    if opts.resume {
        let saved = std::fs::read_to_string(dir.join("config.toml"))
            .map_err(|e| io_err(&dir.join("config.toml"), e))?;
        let saved: Config =
            toml::from_str(&saved).map_err(|e| io_err(&dir.join("config.toml"), e))?;
        if saved.data != cfg.data || saved.model != cfg.model {
            return Err(TrainError::Mismatch(format!(
                "--resume {}: the checkpoint was trained with different data/model settings; resume with the same configuration",
                dir.display()
            )));
        }
        prog = read_checkpoint(&dir.join("checkpoints/last.npz"), &mut trainer.net, engine)?;
        rows = run::read_metrics(&dir.join("metrics.csv"))?;
        rows.truncate(prog.epochs_done);
    }
    crate::util::fs::write_bytes_atomic(&dir.join("config.toml"), resolved.to_toml().as_bytes())
        .map_err(|e| io_err(&dir.join("config.toml"), e))?;
    // Epochs in checkpoints/last.npz (what a fault message points to).
    let mut last_saved = opts.resume.then_some(prog.epochs_done);
    if !opts.resume {
        run::write_metrics(&dir.join("metrics.csv"), &rows)?;
    }
    if !opts.resume && cfg.training.checkpoint {
        // A resumable checkpoint exists from the start: a fault or Ctrl-C in the first epoch
        // can be resumed like any later one.
        write_checkpoint(
            &dir.join("checkpoints/last.npz"),
            &trainer.net,
            engine,
            &prog,
        )?;
        last_saved = Some(0);
    }
    run::install_interrupt_handler();
    let t = &cfg.training;
    let c = (cfg.data.gridsize * cfg.data.gridsize) as usize;
    let quiet = cfg.execution.quiet
        || matches!(
            cfg.execution.log_level,
            crate::config::LogLevel::Error | crate::config::LogLevel::Warn
        );
    let (mut early, mut interrupted) = (false, false);
    let run_start = Instant::now();
    let mut patterns_done = 0usize;
    let x_val = val_set
        .as_ref()
        .map(|v| (&v.x, &v.groups))
        .unwrap_or((&train_set.x, &train_set.groups));
    for epoch in prog.epochs_done..t.epochs {
        let lr = prog.schedule.lr;
        trainer.net.adam_cfg.lr = lr;
        let mut order = train_idx.clone();
        SplitMix64::new(cfg.data.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9))
            .shuffle(&mut order);
        let batches: Vec<&[usize]> = order.chunks(t.batch_size).collect();
        let bar = Progress::epoch(
            &format!("epoch {}/{}", epoch + 1, t.epochs),
            batches.len(),
            quiet,
        );
        let (mut loss_sum, mut weight) = (0.0, 0usize);
        for (bi, chunk) in batches.iter().enumerate() {
            let k = t.accumulate_grad_batches;
            let micro = bi % k;
            let apply = micro == k - 1 || bi + 1 == batches.len();
            let loss = trainer
                .step(&train_set.x, &train_set.groups, chunk, micro, apply, k)
                .map_err(|e| {
                    gpu_fault(e, epoch + 1, &format!("step {}", bi + 1), last_saved, dir)
                })?;
            if !loss.is_finite() {
                return Err(TrainError::NonFinite {
                    value: loss,
                    epoch: epoch + 1,
                    step: bi + 1,
                    dir: dir.join("checkpoints").display().to_string(),
                });
            }
            loss_sum += loss * chunk.len() as f64;
            weight += chunk.len();
            patterns_done += chunk.len() * c;
            bar.step(loss_sum / weight as f64, weight * c);
            if run::interrupted() {
                interrupted = true;
                break;
            }
        }
        if interrupted {
            // Save the weights as they are, marked as the start of this epoch, so --resume redoes
            // the epoch (deterministically) rather than skipping its remainder.
            bar.finish("interrupted");
            write_checkpoint(
                &dir.join("checkpoints/interrupted.npz"),
                &trainer.net,
                engine,
                &prog,
            )?;
            break;
        }
        let train_loss = loss_sum / weight.max(1) as f64;
        let val_loss = if val_idx.is_empty() {
            f64::NAN
        } else {
            trainer
                .eval_loss(x_val.0, x_val.1, &val_idx)
                .map_err(|e| gpu_fault(e, epoch + 1, "validation", last_saved, dir))?
        };
        let seconds = bar.elapsed();
        bar.finish(&format!(
            "train loss {train_loss:.6} val loss {val_loss:.6} lr {lr:.2e} {:.1} s ({:.1} patterns/s)",
            seconds,
            (weight * c) as f64 / seconds.max(1e-9)
        ));
        rows.push(EpochRow {
            epoch: epoch + 1,
            train_loss,
            val_loss,
            lr,
            seconds,
        });
        let monitored = match t.early_stop_monitor {
            Monitor::ValLoss if val_loss.is_finite() => val_loss,
            _ => train_loss,
        };
        let decision = schedule.after_epoch(&mut prog.schedule, epoch, monitored);
        prog.epochs_done = epoch + 1;
        run::write_metrics(&dir.join("metrics.csv"), &rows)?;
        if t.checkpoint
            && (prog.epochs_done % t.checkpoint_every == 0
                || decision.stop
                || prog.epochs_done == t.epochs)
        {
            let ck = "writing a checkpoint";
            write_checkpoint(
                &dir.join("checkpoints/last.npz"),
                &trainer.net,
                engine,
                &prog,
            )
            .map_err(|e| gpu_fault(e, epoch + 1, ck, last_saved, dir))?;
            last_saved = Some(prog.epochs_done);
            if t.keep_best && decision.improved {
                write_checkpoint(
                    &dir.join("checkpoints/best.npz"),
                    &trainer.net,
                    engine,
                    &prog,
                )
                .map_err(|e| gpu_fault(e, epoch + 1, ck, last_saved, dir))?;
            }
        }
        if decision.stop {
            early = true;
            break;
        }
    }
    write_bundle(dir, engine, &trainer, resolved)?;
    let last = rows.last().copied();
    Ok(TrainSummary {
        epochs: prog.epochs_done,
        train_loss: last.map_or(f64::NAN, |r| r.train_loss),
        val_loss: last.map_or(f64::NAN, |r| r.val_loss),
        patterns_per_second: patterns_done as f64 / run_start.elapsed().as_secs_f64().max(1e-9),
        peak_gpu_bytes: engine.memory().peak_bytes,
        early_stopped: early,
        interrupted,
    })
}
