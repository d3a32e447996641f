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
use crate::physics::FarFieldModel;
use crate::rng::SplitMix64;

/// Errors of training and inference.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Bad or unreadable data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] GpuError),
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
    /// File writing.
    #[error("{path}: {message}")]
    Io {
        /// Path.
        path: String,
        /// Message.
        message: String,
    },
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
    /// The dataset.
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
    let data = crate::data::read_dataset(path, read)?;
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
    let a = normalisation_factor(&data);
    let x: Vec<f32> = data.diff.iter().map(|&v| (v as f64 * a) as f32).collect();
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

/// The training/validation engine for one run.
pub struct Trainer<'e> {
    engine: &'e Engine,
    cfg: Config,
    /// The network.
    pub net: Network,
    probe: Vec<Complex32>,
    scale: f64,
    pipes: HashMap<usize, Pipe>,
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

    /// Builds the network (Glorot init from the seed) and the physics for `probe`.
    pub fn new(
        engine: &'e Engine,
        cfg: &Config,
        probe_raw: &[Complex32],
    ) -> Result<Self, TrainError> {
        if cfg.data.gridsize != 1 {
            return Err(TrainError::Mismatch(
                "gridsize 2 training needs the object_big merge path, which this build does not have yet; use --gridsize 1".into(),
            ));
        }
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
            pipes: HashMap::new(),
            axpy: Axpy::new(engine)?,
            acc,
            profile: false,
            last_kernel_times: Vec::new(),
        })
    }

    /// The normalised probe.
    pub fn probe(&self) -> &[Complex32] {
        &self.probe
    }

    /// The intensity scale s.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn pipe(&mut self, b: usize) -> Result<&mut Pipe, TrainError> {
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
            )?;
            let pipe = Pipe {
                acts: self.net.alloc(self.engine, b)?,
                model,
                x: self.engine.alloc("train.x", b * c * n * n)?,
                dobj: self.engine.alloc("train.dobj", b * c * n * n)?,
            };
            self.pipes.insert(b, pipe);
        }
        Ok(self.pipes.get_mut(&b).expect("inserted"))
    }

    /// Gathers the normalised patterns of `groups` (their members, group-major) into a vector.
    fn gather(&self, x: &[f32], g: &Groups, idx: &[usize]) -> Vec<f32> {
        let nn = self.cfg.data.n * self.cfg.data.n;
        let mut out = Vec::with_capacity(idx.len() * g.c * nn);
        for &gi in idx {
            for &m in &g.members[gi * g.c..(gi + 1) * g.c] {
                out.extend_from_slice(&x[m * nn..(m + 1) * nn]);
            }
        }
        out
    }

    /// One training step on the groups `idx`; `micro` = position in the accumulation cycle,
    /// `apply` = run Adam after it. Returns the batch's mean loss.
    pub fn step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        micro: usize,
        apply: bool,
        accumulate: usize,
    ) -> Result<f64, TrainError> {
        let xs = self.gather(x, g, idx);
        let engine = self.engine;
        let b = idx.len();
        self.pipe(b)?;
        let pipe = self.pipes.get(&b).expect("pipe");
        engine.write(&pipe.x, 0, &xs)?;
        let mut rec = engine.recording("train.step");
        self.net.forward(engine, &mut rec, &pipe.x, &pipe.acts)?;
        let loss = pipe
            .model
            .record_loss(engine, &mut rec, &pipe.acts.obj, &pipe.x)?;
        pipe.model.record_backward(engine, &mut rec, &pipe.dobj)?;
        self.net
            .backward_object(engine, &mut rec, &pipe.acts, &pipe.dobj)?;
        if accumulate > 1 {
            let k = 1.0 / accumulate as f32;
            self.axpy.record(
                engine,
                &mut rec,
                k,
                &self.net.grads,
                if micro == 0 { 0.0 } else { 1.0 },
                &self.acc,
            )?;
            if apply {
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
        let bsz = self.cfg.training.batch_size;
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in idx.chunks(bsz) {
            let xs = self.gather(x, g, chunk);
            let engine = self.engine;
            self.pipe(chunk.len())?;
            let pipe = self.pipes.get(&chunk.len()).expect("pipe");
            engine.write(&pipe.x, 0, &xs)?;
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

    /// Object patches (B, C, N, N) of the groups `idx` (inference), read back.
    pub fn predict(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        batch: usize,
    ) -> Result<Vec<Complex32>, TrainError> {
        let mut out = Vec::new();
        for chunk in idx.chunks(batch.max(1)) {
            let xs = self.gather(x, g, chunk);
            let engine = self.engine;
            let n = self.cfg.data.n;
            let c = self.net.layout.cfg.c;
            if !self.pipes.contains_key(&chunk.len()) {
                // Inference needs no physics: a network-only pipe.
                let pipe = Pipe {
                    acts: self.net.alloc(engine, chunk.len())?,
                    model: FarFieldModel::new(
                        engine,
                        n,
                        chunk.len() * c,
                        &self.probe,
                        self.scale as f32,
                        1.0,
                        0.0,
                    )?,
                    x: engine.alloc("infer.x", chunk.len() * c * n * n)?,
                    dobj: engine.alloc("infer.dobj", 1)?,
                };
                self.pipes.insert(chunk.len(), pipe);
            }
            let pipe = self.pipes.get(&chunk.len()).expect("pipe");
            engine.write(&pipe.x, 0, &xs)?;
            let mut rec = engine.recording("infer");
            self.net.forward(engine, &mut rec, &pipe.x, &pipe.acts)?;
            let id = rec.read(&pipe.acts.obj);
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
    crate::fsutil::write_atomic(path, |w| -> std::io::Result<()> {
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
    let n = resolved.config.data.n;
    let path = dir.join("bundle.npz");
    crate::fsutil::write_atomic(&path, |w| -> std::io::Result<()> {
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
    .map_err(|e| io_err(&path, e))?;
    crate::fsutil::write_bytes_atomic(&dir.join("config.toml"), resolved.to_toml().as_bytes())
        .map_err(|e| io_err(&dir.join("config.toml"), e))
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
    // Data first: bad input must not leave a run directory behind.
    let train_set = prepare(&opts.train_data, cfg, cfg.data.n_groups, &opts.read)?;
    let test_set = match &opts.test_data {
        Some(p) => Some(prepare(p, cfg, 0, &opts.read)?),
        None => None,
    };
    if opts.resume {
        if !run::is_run_dir(dir) {
            return Err(TrainError::Mismatch(format!(
                "--resume {}: not a ptycho run directory",
                dir.display()
            )));
        }
    } else {
        run::prepare_dir(dir, "train", opts.overwrite)?;
    }
    std::fs::create_dir_all(dir.join("checkpoints")).map_err(|e| io_err(dir, e))?;
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
    crate::fsutil::write_bytes_atomic(&dir.join("config.toml"), resolved.to_toml().as_bytes())
        .map_err(|e| io_err(&dir.join("config.toml"), e))?;
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
            let loss = trainer.step(&train_set.x, &train_set.groups, chunk, micro, apply, k)?;
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
            trainer.eval_loss(x_val.0, x_val.1, &val_idx)?
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
            write_checkpoint(
                &dir.join("checkpoints/last.npz"),
                &trainer.net,
                engine,
                &prog,
            )?;
            if t.keep_best && decision.improved {
                write_checkpoint(
                    &dir.join("checkpoints/best.npz"),
                    &trainer.net,
                    engine,
                    &prog,
                )?;
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
