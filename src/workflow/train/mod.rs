//! `ptycho train`: the epoch loop over [`Trainer`] steps, validation, schedules, early
//! stopping, checkpoints (`last`, `best`, `interrupted`), resume, and the model bundle.
//!
//! The pieces: [`prepare`] (read, check, normalise and group a dataset), [`trainer`] (one
//! step), [`schedule`] (learning rate and early stopping), [`checkpoint`] and [`bundle`] (what
//! a run directory holds), [`run_dir`] (its creation rules, metrics.csv, Ctrl-C) and
//! [`progress`] (output).

pub mod batch;
pub mod bundle;
pub mod checkpoint;
pub mod prepare;
pub mod progress;
pub mod run_dir;
pub mod schedule;
pub mod trainer;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use trainer::Trainer;

use bundle::ProbeBundle;
use checkpoint::{TrainState, read_checkpoint, write_checkpoint};
use prepare::{Prepared, prepare};
use progress::Progress;
use run_dir::EpochRow;
use schedule::Schedule;

use crate::config::{Config, Monitor, Resolved};
use crate::data::ReadOptions;
use crate::dist::{self, Comm};
use crate::gpu::{Engine, GpuError};
use crate::util::fs::peak_host_note;
use crate::util::rng::SplitMix64;
use crate::util::text::human_bytes;
use crate::workflow::{Result, WorkflowError, ranks};

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
    /// The network's width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// The network's trainable parameters.
    pub parameters: usize,
    /// MPI ranks that trained (1 for a single process).
    pub ranks: usize,
    /// Bytes this rank sent and received per optimizer step summing gradients (0 for one
    /// process).
    pub allreduce_bytes_per_step: f64,
    /// Seconds per optimizer step in that sum (waiting for the slowest rank included).
    pub allreduce_seconds_per_step: f64,
}

impl TrainSummary {
    /// The two summary lines `ptycho train` prints for the run directory `dir`.
    pub fn report(&self, dir: &Path) -> String {
        format!(
            "trained {} epochs: train loss {:.6}, val loss {:.6}, {:.1} patterns/s (n_filters_scale {}, {} parameters); peak GPU memory {}{}{}{}\nrun directory: {}",
            self.epochs,
            self.train_loss,
            self.val_loss,
            self.patterns_per_second,
            self.n_filters_scale,
            self.parameters,
            human_bytes(self.peak_gpu_bytes),
            peak_host_note(),
            if self.early_stopped {
                " (early stop)"
            } else {
                ""
            },
            if self.interrupted {
                " (interrupted: resume with --resume)"
            } else {
                ""
            },
            dir.display()
        ) + &if self.ranks > 1 {
            format!(
                "\n{} MPI ranks: gradients summed in rank order, {} sent and received and {:.1} ms (transfer and waiting) per step on rank 0",
                self.ranks,
                human_bytes(self.allreduce_bytes_per_step as u64),
                self.allreduce_seconds_per_step * 1e3
            )
        } else {
            String::new()
        }
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

/// The training data, and where the validation loss comes from.
struct Data {
    train: Prepared,
    /// A separate validation set (`--test-data`), or `None` to hold out groups of `train`.
    val: Option<Prepared>,
    train_idx: Vec<usize>,
    val_idx: Vec<usize>,
}

impl Data {
    /// Reads, checks, normalises and groups the training (and validation) data.
    fn load(cfg: &Config, opts: &TrainOptions) -> Result<Data> {
        let train = prepare(&opts.train_data, cfg, cfg.data.n_groups, &opts.read)?;
        let val = match &opts.test_data {
            Some(p) => Some(prepare(p, cfg, 0, &opts.read)?),
            None => None,
        };
        let (train_idx, val_idx) = match &val {
            Some(v) => (
                (0..train.groups.len()).collect(),
                (0..v.groups.len()).collect(),
            ),
            None => split_groups(
                train.groups.len(),
                cfg.training.validation_split,
                cfg.data.seed,
            ),
        };
        Ok(Data {
            train,
            val,
            train_idx,
            val_idx,
        })
    }

    /// The patterns and groups the validation indices refer to.
    fn validation(&self) -> &Prepared {
        self.val.as_ref().unwrap_or(&self.train)
    }
}

/// What one epoch of steps ended with.
struct EpochSteps {
    /// Mean training loss over its steps.
    loss: f64,
    /// Patterns trained on.
    patterns: usize,
    /// Stopped by Ctrl-C before its end.
    interrupted: bool,
    /// The progress line, to be finished with the epoch's summary.
    bar: Progress,
}

/// The checkpoint files of a run.
struct Checkpoints<'a> {
    dir: &'a Path,
    /// Epochs in `checkpoints/last.npz` (what a fault message points to), if one exists.
    last_saved: Option<usize>,
}

impl Checkpoints<'_> {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("checkpoints").join(format!("{name}.npz"))
    }

    /// Turns an out-of-memory or device-lost error of `epoch` into
    /// [`WorkflowError::GpuFault`], which names the checkpoint to resume from.
    fn fault(&self, e: WorkflowError, epoch: usize, during: &str) -> WorkflowError {
        let e = e.into_gpu().map_or_else(|other| other, WorkflowError::Gpu);
        match e {
            WorkflowError::Gpu(g @ (GpuError::OutOfMemory { .. } | GpuError::DeviceLost(_))) => {
                let hint = if matches!(g, GpuError::OutOfMemory { .. }) {
                    " with a smaller --batch-size (or PTYCHO_MAX_BINDING_BYTES to cap buffer sizes)"
                } else {
                    ""
                };
                let saved = match self.last_saved {
                    Some(k) => format!(
                        "the last checkpoint, after epoch {k}, is {0}/checkpoints/last.npz: continue with `ptycho train --resume {0}`",
                        self.dir.display()
                    ),
                    None => "no checkpoint was written (training.checkpoint = false)".into(),
                };
                WorkflowError::GpuFault {
                    error: Box::new(g),
                    epoch,
                    during: during.to_string(),
                    saved,
                    hint,
                }
            }
            other => other,
        }
    }
}

/// Runs `ptycho train`.
pub fn train(engine: &Engine, resolved: &Resolved, opts: &TrainOptions) -> Result<TrainSummary> {
    // The file's physics parameters fill what the configuration leaves at its defaults, before
    // any data are grouped or the model is built.
    let resolved = &prepare::with_data_metadata(resolved, &opts.train_data);
    let cfg = &resolved.config;
    let dir = &opts.output_dir;
    // Under MPI every rank trains; rank 0 alone writes the run directory.
    let comm = dist::world();
    let root = comm.is_root();
    let checked = if opts.resume {
        if run_dir::is_run_dir(dir) {
            Ok(())
        } else {
            Err(WorkflowError::Mismatch(format!(
                "--resume {}: not a ptycho run directory",
                dir.display()
            )))
        }
    } else if root {
        run_dir::check_dir(dir, opts.overwrite).map_err(Into::into)
    } else {
        Ok(())
    };
    // Data before the run directory: bad input must not leave a directory behind. Under MPI a
    // failure here on any rank stops every rank alike.
    let data = ranks::together(&comm, checked.and_then(|()| Data::load(cfg, opts)))?;
    if comm.is_parallel() {
        check_ranks(&comm, resolved, opts, &data)?;
    }
    let mut trainer = Trainer::new(engine, cfg, &data.train.data.probe)?;
    trainer.fit_canvas(&data.train.groups);
    if let Some(v) = &data.val {
        trainer.fit_canvas(&v.groups);
    }
    let probe = ProbeBundle {
        probe: trainer.probe().to_vec(),
        n: cfg.data.n,
        scale: trainer.scale(),
    };
    // The inputs are good: now the run directory may be written.
    if root {
        if !opts.resume {
            run_dir::prepare_dir(dir, "train", opts.overwrite)?;
        }
        std::fs::create_dir_all(dir.join("checkpoints")).map_err(|e| WorkflowError::io(dir, e))?;
        bundle::write_probe(dir, &probe)?;
    }
    let schedule = Schedule::new(&cfg.training, cfg.learning_rate());
    let mut ck = Checkpoints {
        dir,
        last_saved: None,
    };
    let (mut state, mut rows) = if opts.resume {
        resume(dir, cfg, &mut trainer, engine)?
    } else {
        let state = TrainState {
            epochs_done: 0,
            step: 0,
            schedule: schedule.initial(),
        };
        (state, Vec::new())
    };
    // Every rank starts from rank 0's weights (seeded alike, or read from the same checkpoint).
    trainer.broadcast_weights(&comm)?;
    if root {
        bundle::write_config(dir, resolved)?;
    }
    if opts.resume {
        ck.last_saved = Some(state.epochs_done);
    } else {
        if root {
            run_dir::write_metrics(&dir.join("metrics.csv"), &rows)?;
        }
        if cfg.training.checkpoint {
            // A resumable checkpoint exists from the start: a fault or Ctrl-C in the first
            // epoch can be resumed like any later one. (Rank 0 writes it; every rank knows.)
            if root {
                write_checkpoint(&ck.path("last"), &trainer.net, engine, &state)?;
            }
            ck.last_saved = Some(0);
        }
    }
    run_dir::install_interrupt_handler(root);
    let t = &cfg.training;
    let (mut early, mut interrupted) = (false, false);
    let run_start = Instant::now();
    let mut patterns_done = 0usize;
    for epoch in state.epochs_done..t.epochs {
        let lr = state.schedule.lr;
        trainer.net.adam_cfg.lr = lr;
        let steps = run_epoch(&mut trainer, cfg, &data, epoch, &ck, &comm)?;
        patterns_done += steps.patterns;
        if steps.interrupted {
            // Save the weights as they are, marked as the start of this epoch, so --resume
            // redoes the epoch (deterministically) rather than skipping its remainder.
            steps.bar.finish("interrupted");
            if root {
                write_checkpoint(&ck.path("interrupted"), &trainer.net, engine, &state)?;
            }
            interrupted = true;
            break;
        }
        let val_loss = if data.val_idx.is_empty() {
            f64::NAN
        } else {
            let v = data.validation();
            // Sharded over the ranks and summed in rank order: every rank's scheduler and
            // early stopping see the same number.
            let (sum, count) = trainer
                .eval_loss_sum(&v.x, &v.groups, &data.val_idx, &comm)
                .map_err(|e| ck.fault(e, epoch + 1, "validation"))?;
            if count > 0.0 { sum / count } else { f64::NAN }
        };
        let seconds = steps.bar.elapsed();
        steps.bar.finish(&format!(
            "train loss {:.6} val loss {val_loss:.6} lr {lr:.2e} {:.1} s ({:.1} patterns/s)",
            steps.loss,
            seconds,
            steps.patterns as f64 / seconds.max(1e-9)
        ));
        rows.push(EpochRow {
            epoch: epoch + 1,
            train_loss: steps.loss,
            val_loss,
            lr,
            seconds,
        });
        let monitored = match t.early_stop_monitor {
            Monitor::ValLoss if val_loss.is_finite() => val_loss,
            _ => steps.loss,
        };
        let decision = schedule.after_epoch(&mut state.schedule, epoch, monitored);
        state.epochs_done = epoch + 1;
        if root {
            run_dir::write_metrics(&dir.join("metrics.csv"), &rows)?;
        }
        let due = state.epochs_done % t.checkpoint_every == 0
            || decision.stop
            || state.epochs_done == t.epochs;
        if t.checkpoint && due {
            let during = "writing a checkpoint";
            if root {
                write_checkpoint(&ck.path("last"), &trainer.net, engine, &state)
                    .map_err(|e| ck.fault(e, epoch + 1, during))?;
            }
            ck.last_saved = Some(state.epochs_done);
            if root && t.keep_best && decision.improved {
                write_checkpoint(&ck.path("best"), &trainer.net, engine, &state)
                    .map_err(|e| ck.fault(e, epoch + 1, during))?;
            }
        }
        if decision.stop {
            early = true;
            break;
        }
    }
    if root {
        bundle::write_bundle(dir, engine, &trainer.net, &probe, resolved)?;
    }
    let last = rows.last().copied();
    let steps = trainer.reductions.max(1) as f64;
    Ok(TrainSummary {
        ranks: comm.size(),
        allreduce_bytes_per_step: trainer.reduced_bytes as f64 / steps,
        allreduce_seconds_per_step: trainer.reduced_seconds / steps,
        epochs: state.epochs_done,
        train_loss: last.map_or(f64::NAN, |r| r.train_loss),
        val_loss: last.map_or(f64::NAN, |r| r.val_loss),
        patterns_per_second: patterns_done as f64 / run_start.elapsed().as_secs_f64().max(1e-9),
        peak_gpu_bytes: engine.memory().peak_bytes,
        early_stopped: early,
        interrupted,
        n_filters_scale: cfg.model.n_filters_scale,
        parameters: trainer.net.param_count(),
    })
}

/// The state of a run to `--resume`: its checkpoint restored into `trainer`, and its metrics
/// rows up to that checkpoint. The run must have the same data and model settings.
fn resume(
    dir: &Path,
    cfg: &Config,
    trainer: &mut Trainer<'_>,
    engine: &Engine,
) -> Result<(TrainState, Vec<EpochRow>)> {
    let path = dir.join("config.toml");
    let saved = std::fs::read_to_string(&path).map_err(|e| WorkflowError::io(&path, e))?;
    let saved: Config = toml::from_str(&saved).map_err(|e| WorkflowError::io(&path, e))?;
    if saved.data != cfg.data || saved.model != cfg.model {
        return Err(WorkflowError::Mismatch(format!(
            "--resume {}: the checkpoint was trained with different data/model settings; resume with the same configuration",
            dir.display()
        )));
    }
    let state = read_checkpoint(&dir.join("checkpoints/last.npz"), &mut trainer.net, engine)?;
    let mut rows = run_dir::read_metrics(&dir.join("metrics.csv"))?;
    rows.truncate(state.epochs_done);
    Ok((state, rows))
}

/// The steps of epoch `epoch` (0-based) over the shuffled training groups, in batches with
/// gradient accumulation; stops early on Ctrl-C.
fn run_epoch(
    trainer: &mut Trainer<'_>,
    cfg: &Config,
    data: &Data,
    epoch: usize,
    ck: &Checkpoints<'_>,
    comm: &Comm,
) -> Result<EpochSteps> {
    let t = &cfg.training;
    let c = (cfg.data.gridsize * cfg.data.gridsize) as usize;
    let mut order = data.train_idx.clone();
    SplitMix64::new(cfg.data.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)).shuffle(&mut order);
    let batches: Vec<&[usize]> = order.chunks(t.batch_size).collect();
    let bar = Progress::epoch(
        &format!("epoch {}/{}", epoch + 1, t.epochs),
        batches.len(),
        cfg.quiet() || !comm.is_root(),
    );
    if comm.is_parallel() {
        return run_epoch_ranks(trainer, cfg, data, &batches, (epoch, ck), comm, bar);
    }
    let (mut loss_sum, mut weight) = (0.0, 0usize);
    let mut interrupted = false;
    let train = &data.train;
    for (bi, chunk) in batches.iter().enumerate() {
        let k = t.accumulate_grad_batches;
        let micro = bi % k;
        let apply = micro == k - 1 || bi + 1 == batches.len();
        let loss = checked_step(trainer, train, chunk, (micro, apply, k), (epoch, bi), ck)?;
        loss_sum += loss * chunk.len() as f64;
        weight += chunk.len();
        bar.step(loss_sum / weight as f64, weight * c);
        if run_dir::interrupted() {
            interrupted = true;
            break;
        }
    }
    Ok(EpochSteps {
        loss: loss_sum / weight.max(1) as f64,
        patterns: weight * c,
        interrupted,
        bar,
    })
}

/// One [`Trainer::step`] on the batch `chunk` (`(micro, apply, accumulate)` as it takes them),
/// batch `bi` (0-based) of epoch `epoch` (0-based): a GPU fault names the checkpoint to resume
/// from, and a non-finite loss stops the run.
fn checked_step(
    trainer: &mut Trainer<'_>,
    train: &Prepared,
    chunk: &[usize],
    (micro, apply, accumulate): (usize, bool, usize),
    (epoch, bi): (usize, usize),
    ck: &Checkpoints<'_>,
) -> Result<f64> {
    let loss = trainer
        .step(&train.x, &train.groups, chunk, micro, apply, accumulate)
        .map_err(|e| ck.fault(e, epoch + 1, &format!("step {}", bi + 1)))?;
    if !loss.is_finite() {
        return Err(WorkflowError::NonFinite {
            value: loss,
            epoch: epoch + 1,
            step: bi + 1,
            dir: ck.dir.join("checkpoints").display().to_string(),
        });
    }
    Ok(loss)
}

/// [`run_epoch`] on the ranks of an MPI job. One optimizer step takes K·A consecutive batches
/// (K ranks, A = `training.accumulate_grad_batches`; `--batch-size` is per rank, as in DDP):
/// rank r runs batches r, r + K, … of them, accumulating its gradients with weight 1/(K·A)
/// each, and the ranks' sums are added in rank order before every rank runs Adam on the same
/// gradient. That is the step a single process takes with `accumulate_grad_batches = K·A`
/// (the same micro-batches, summed in another order; bit-identical for K = 2, A = 1, where
/// each weight is ½). The epoch's loss and pattern count are summed over the ranks.
fn run_epoch_ranks(
    trainer: &mut Trainer<'_>,
    cfg: &Config,
    data: &Data,
    batches: &[&[usize]],
    (epoch, ck): (usize, &Checkpoints<'_>),
    comm: &Comm,
    bar: Progress,
) -> Result<EpochSteps> {
    let c = (cfg.data.gridsize * cfg.data.gridsize) as usize;
    let (k, r) = (comm.size(), comm.rank());
    let group = k * cfg.training.accumulate_grad_batches;
    let train = &data.train;
    let (mut loss_sum, mut weight) = (0.0, 0usize);
    let mut interrupted = false;
    for (gi, grp) in batches.chunks(group).enumerate() {
        let mine: Vec<(usize, &[usize])> = grp
            .iter()
            .enumerate()
            .skip(r)
            .step_by(k)
            .map(|(j, b)| (gi * group + j, *b))
            .collect();
        for (m, &(bi, chunk)) in mine.iter().enumerate() {
            let loss = checked_step(trainer, train, chunk, (m, false, group), (epoch, bi), ck)?;
            loss_sum += loss * chunk.len() as f64;
            weight += chunk.len();
        }
        // A Ctrl-C on any rank stops every rank after the same step.
        let mut flags = [if run_dir::interrupted() { 1.0 } else { 0.0 }];
        // Adam after the group's last batch (the step number a single process would name).
        let last = gi * group + grp.len();
        trainer
            .apply_reduced(comm, !mine.is_empty(), &mut flags)
            .map_err(|e| ck.fault(e, epoch + 1, &format!("step {last}")))?;
        // This rank's running loss; throughput as the job's (every rank runs alike).
        bar.advance(grp.len(), loss_sum / weight.max(1) as f64, weight * c * k);
        if flags[0] > 0.0 {
            interrupted = true;
            break;
        }
    }
    let mut v = [loss_sum, weight as f64];
    comm.sum_in_rank_order(&mut v);
    Ok(EpochSteps {
        loss: v[0] / v[1].max(1.0),
        patterns: v[1] as usize * c,
        interrupted,
        bar,
    })
}

/// Refuses a job whose ranks would not train the same model on the same data: configuration
/// (every data, model and training key), the files and their contents, the run directory; and
/// one with more ranks than batches per epoch. Every rank finds the same answer.
fn check_ranks(comm: &Comm, resolved: &Resolved, opts: &TrainOptions, data: &Data) -> Result<()> {
    let cfg = &resolved.config;
    let mut items = ranks::config_items(cfg, &["data", "model", "training"])?;
    items.push(("--train-data".into(), opts.train_data.display().to_string()));
    items.push((
        "the training patterns".into(),
        ranks::fingerprint(&data.train.x),
    ));
    if let Some(v) = &data.val {
        items.push(("the validation patterns".into(), ranks::fingerprint(&v.x)));
    }
    items.push(("--output-dir".into(), opts.output_dir.display().to_string()));
    items.push(("--resume".into(), opts.resume.to_string()));
    ranks::agree(comm, &items)?;
    let batches = data
        .train_idx
        .len()
        .div_ceil(cfg.training.batch_size.max(1));
    ranks::enough_work(
        comm,
        batches,
        &format!("batches of {} groups per epoch", cfg.training.batch_size),
        " or a smaller --batch-size",
    )
}
