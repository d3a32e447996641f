//! One training step: network → object patches → forward model → loss, backward, Adam, in one
//! submit with one scalar read back; micro-batches with gradient accumulation where a batch's
//! buffers exceed one storage binding; the validation loss.

use std::collections::HashMap;

use num_complex::Complex32;

use super::batch::{fitted_canvas, gather, max_batch};
use super::prepare::{intensity_scale, model_probe, net_config};
use crate::config::Config;
use crate::data::group::Groups;
use crate::dist::Comm;
use crate::gpu::{Engine, GpuBuffer};
use crate::linalg::Axpy;
use crate::model::{Activations, Network};
use crate::nn::ConvLayout;
use crate::physics::{FarFieldModel, Grouping};
use crate::workflow::Result;

/// GPU buffers of training steps on batches of one size.
struct StepBuffers {
    acts: Activations,
    model: FarFieldModel,
    x: GpuBuffer<f32>,
    dobj: GpuBuffer<Complex32>,
}

/// How one micro-batch of a split batch contributes to the accumulated gradient.
#[derive(Clone, Copy, Debug)]
struct Accumulate {
    /// Its share of the batch (patterns / patterns of the whole accumulated batch).
    weight: f32,
    /// The first micro-batch replaces what the accumulator holds.
    first: bool,
    /// The last one copies the sum back into the network's gradient for Adam.
    copy_back: bool,
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
    buffers: HashMap<usize, StepBuffers>,
    axpy: Axpy,
    accumulator: GpuBuffer<f32>,
    profile: bool,
    last_kernel_times: Vec<(&'static str, f64)>,
    /// Gradient sums over MPI ranks so far ([`Self::apply_reduced`]).
    pub reductions: usize,
    /// Bytes this rank sent and received in them.
    pub reduced_bytes: u64,
    /// Seconds in them (waiting for the slowest rank included).
    pub reduced_seconds: f64,
}

impl<'e> Trainer<'e> {
    /// Builds the network (Glorot init from the seed, convs in `execution.conv_layout`) and
    /// the physics for `probe_raw`. For gridsize > 1 call [`Self::fit_canvas`] with every set
    /// of groups before stepping.
    pub fn new(engine: &'e Engine, cfg: &Config, probe_raw: &[Complex32]) -> Result<Self> {
        let n = cfg.data.n;
        let layout = ConvLayout::choose(engine, cfg.execution.conv_layout)?;
        let net = Network::seeded(engine, &net_config(cfg), cfg.data.seed, layout)?;
        let probe = model_probe(probe_raw, cfg);
        let accumulator = engine.alloc::<f32>("train.grad_accumulator", net.layout.params)?;
        Ok(Trainer {
            engine,
            cfg: cfg.clone(),
            net,
            probe,
            scale: intensity_scale(cfg.data.nphotons, n),
            canvas: n,
            buffers: HashMap::new(),
            axpy: Axpy::new(engine)?,
            accumulator,
            profile: false,
            last_kernel_times: Vec::new(),
            reductions: 0,
            reduced_bytes: 0,
            reduced_seconds: 0.0,
        })
    }

    /// Runs one training step with per-dispatch GPU timestamps and returns
    /// `(kernel, milliseconds, dispatches)` sorted by time (the parameters are updated).
    pub fn profile_step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
    ) -> Result<Vec<(String, f64, usize)>> {
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

    /// Grows the object_big canvas (gridsize > 1) so that no member of `g` is clipped when its
    /// patch is translated by its relative offset. The canvas only sets where the merge may
    /// write; it does not change the network.
    pub fn fit_canvas(&mut self, g: &Groups) {
        let m = fitted_canvas(self.cfg.data.n, self.canvas, g);
        if m > self.canvas {
            self.canvas = m;
            self.buffers.clear();
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

    /// Largest batch (groups) whose buffers fit one storage binding (see
    /// [`super::batch::max_batch`]).
    pub fn max_batch(&self) -> usize {
        let modes = self.probe.len() / (self.cfg.data.n * self.cfg.data.n);
        max_batch(self.engine, &self.net, self.canvas, modes)
    }

    fn buffers(&mut self, b: usize) -> Result<&StepBuffers> {
        if !self.buffers.contains_key(&b) {
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
            let bufs = StepBuffers {
                acts: self.net.alloc(self.engine, b)?,
                model,
                x: self.engine.alloc("train.x", b * c * n * n)?,
                dobj: self.engine.alloc("train.dobj", b * c * n * n)?,
            };
            self.buffers.insert(b, bufs);
        }
        Ok(self.buffers.get(&b).expect("inserted"))
    }

    /// Uploads the normalised patterns and the relative offsets of the groups `idx` (members
    /// group-major) into the buffers for `idx.len()` groups.
    fn load_batch(&mut self, x: &[f32], g: &Groups, idx: &[usize]) -> Result<()> {
        let (xs, offs) = gather(&self.net, self.cfg.data.n, x, g, idx)?;
        let engine = self.engine;
        let bufs = self.buffers(idx.len())?;
        engine.write(&bufs.x, 0, &xs)?;
        bufs.model.write_offsets(engine, &offs)?;
        Ok(())
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
    ) -> Result<f64> {
        let fit = self.max_batch();
        if idx.len() <= fit && accumulate <= 1 {
            return self.sub_step(x, g, idx, None, apply);
        }
        let parts: Vec<&[usize]> = idx.chunks(fit).collect();
        let total = idx.len() as f64 * accumulate.max(1) as f64;
        let mut loss = 0.0;
        for (j, part) in parts.iter().enumerate() {
            let last = j + 1 == parts.len();
            let acc = Accumulate {
                weight: (part.len() as f64 / total) as f32,
                first: micro == 0 && j == 0,
                copy_back: last && apply,
            };
            let l = self.sub_step(x, g, part, Some(acc), last && apply)?;
            loss += l * part.len() as f64 / idx.len() as f64;
        }
        Ok(loss)
    }

    /// One submit: forward, loss, backward on `idx`; with `acc` the gradient is added into the
    /// accumulator (see [`Accumulate`]); Adam runs when `apply`.
    fn sub_step(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        acc: Option<Accumulate>,
        apply: bool,
    ) -> Result<f64> {
        self.load_batch(x, g, idx)?;
        let engine = self.engine;
        let bufs = self.buffers.get(&idx.len()).expect("buffers");
        let mut rec = engine.recording("train.step");
        self.net.forward(engine, &mut rec, &bufs.x, &bufs.acts)?;
        let loss = bufs
            .model
            .record_loss(engine, &mut rec, &bufs.acts.obj, &bufs.x)?;
        bufs.model.record_backward(engine, &mut rec, &bufs.dobj)?;
        self.net
            .backward_object(engine, &mut rec, &bufs.acts, &bufs.dobj)?;
        if let Some(a) = acc {
            self.axpy.record(
                engine,
                &mut rec,
                a.weight,
                &self.net.grads,
                if a.first { 0.0 } else { 1.0 },
                &self.accumulator,
            )?;
            if a.copy_back {
                rec.copy(self.accumulator.binding(), self.net.grads.binding());
            }
        }
        let elements = bufs.model.elements() as f64;
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
    pub fn eval_loss(&mut self, x: &[f32], g: &Groups, idx: &[usize]) -> Result<f64> {
        let (sum, count) = self.eval_loss_sum(x, g, idx, &Comm::single())?;
        Ok(if count > 0.0 { sum / count } else { f64::NAN })
    }

    /// The (sum of losses, elements) over the validation groups `idx`, in batches of the
    /// training batch size (or what fits one binding). Under MPI, rank r of `comm` evaluates
    /// batches r, r + K, … of the training batch size (split further where its adapter needs)
    /// — the same batches as one process whatever each rank's adapter — and the ranks' sums
    /// are added in rank order, so every rank returns the same.
    pub fn eval_loss_sum(
        &mut self,
        x: &[f32],
        g: &Groups,
        idx: &[usize],
        comm: &Comm,
    ) -> Result<(f64, f64)> {
        let fit = self.max_batch();
        let bsz = self.cfg.training.batch_size.min(fit);
        let chunks: Vec<&[usize]> = if comm.is_parallel() {
            idx.chunks(self.cfg.training.batch_size.max(1))
                .skip(comm.rank())
                .step_by(comm.size())
                .flat_map(|b| b.chunks(fit))
                .collect()
        } else {
            idx.chunks(bsz).collect()
        };
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in chunks {
            self.load_batch(x, g, chunk)?;
            let engine = self.engine;
            let bufs = self.buffers.get(&chunk.len()).expect("buffers");
            let mut rec = engine.recording("train.validate");
            self.net.forward(engine, &mut rec, &bufs.x, &bufs.acts)?;
            let loss = bufs
                .model
                .record_loss(engine, &mut rec, &bufs.acts.obj, &bufs.x)?;
            let id = rec.read_binding(loss);
            let out = engine.submit(rec)?;
            sum += out.get::<f32>(id)[0] as f64;
            count += bufs.model.elements();
        }
        let mut v = [sum, count as f64];
        comm.sum_in_rank_order(&mut v);
        Ok((v[0], v[1]))
    }

    /// Ends a data-parallel step: this rank's accumulated gradient (zeros where it ran no
    /// micro-batch of the step, `contributed` false) is summed over the ranks in rank order,
    /// and every rank runs Adam on the same sum. `flags` travel with it (summed alike: how the
    /// ranks agree on a Ctrl-C).
    pub fn apply_reduced(
        &mut self,
        comm: &Comm,
        contributed: bool,
        flags: &mut [f32],
    ) -> Result<()> {
        let engine = self.engine;
        let p = self.net.layout.params;
        let mut v = if contributed {
            engine.read(&self.accumulator)?
        } else {
            vec![0.0; p]
        };
        v.truncate(p);
        v.extend_from_slice(flags);
        let before = crate::dist::traffic();
        comm.sum_in_rank_order(&mut v);
        let after = crate::dist::traffic();
        self.reductions += 1;
        self.reduced_bytes += after.bytes - before.bytes;
        self.reduced_seconds += after.seconds - before.seconds;
        flags.copy_from_slice(&v[p..]);
        engine.write(&self.net.grads, 0, &v[..p])?;
        let mut rec = engine.recording("train.adam");
        self.net.adam_step(engine, &mut rec)?;
        engine.submit(rec)?;
        Ok(())
    }

    /// Makes every rank start from rank 0's weights.
    pub fn broadcast_weights(&mut self, comm: &Comm) -> Result<()> {
        if !comm.is_parallel() {
            return Ok(());
        }
        let mut w = self.engine.read(&self.net.params)?;
        comm.broadcast(&mut w);
        self.engine.write(&self.net.params, 0, &w)?;
        Ok(())
    }
}
