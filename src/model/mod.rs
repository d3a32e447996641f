//! The PtychoPINN "cnn" generator on the GPU: configuration, Glorot init, NPZ weights, and an
//! explicit forward/backward schedule over the nn kernels (no autograd).
//!
//! # Architecture (see `NetConfig`)
//! Input (B, C, N, N) → encoder blocks [conv3×3+ReLU, conv3×3+ReLU, maxpool 2×2] down to 8×8 →
//! two decoders (amplitude, phase) of blocks [conv+ReLU, conv+ReLU, upsample 2×] up to N/2 →
//! a head conv reading the first `width − c_outer` channels → sigmoid (amplitude) / π·tanh
//! (phase), (B, C, N/2, N/2) each. The object patch is `O = A·e^{iφ}` zero-padded by N/4 on each
//! side to (B, C, N, N), interleaved complex.
//!
//! # Training step
//! [`Network::forward`] records the whole forward pass into a recording and keeps every
//! activation backward needs in an [`Activations`] (typed saved state, on the GPU).
//! [`Network::backward_object`] takes dL/dO (conjugate-Wirtinger: ∂L/∂Re O + i·∂L/∂Im O) and
//! records the parameter gradient into [`Network::grads`]; [`Network::adam_step`] records the
//! update. Only what the caller asks to read back (the loss) leaves the GPU.
//!
//! Determinism: every reduction is fixed-order (see `crate::nn`), so the same seed, data and
//! adapter give bit-identical weights.

mod buffers;
pub mod config;
pub mod cpu;
pub mod params;

pub use buffers::{Activations, BlockBuffers, HeadBuffers};

use std::path::Path;

use num_complex::Complex32;

pub use config::{HEADS, LayerInfo, Layout, ModelError, ModelResult, NetConfig, Part};

use crate::gpu::{Engine, GpuBuffer, Recording};
use crate::nn::{
    Activation, ActivationOp, Adam, AdamConfig, Conv2d, ConvLayout, MaxPool2x2, ObjectPatch,
    PadCrop, Upsample2x,
};

/// The resampling that ends a block: max-pool (encoder) or 2× upsample (decoder).
#[derive(Clone, Copy)]
enum Resample {
    Pool,
    Up,
}

/// What a checkpoint keeps of the optimiser: (parameters, Adam m, Adam v, step).
pub type OptimizerState = (Vec<f32>, Vec<f32>, Vec<f32>, u64);

/// The network on the GPU with its parameters and Adam state.
pub struct Network {
    /// Layer layout and configuration.
    pub layout: Layout,
    convs: Vec<Conv2d>,
    pool: MaxPool2x2,
    up: Upsample2x,
    object: ObjectPatch,
    pad: PadCrop,
    act: ActivationOp,
    adam: Adam,
    /// Adam hyper-parameters.
    pub adam_cfg: AdamConfig,
    /// Flat parameters (layout order: per conv, weights then bias).
    pub params: GpuBuffer<f32>,
    /// Flat parameter gradient, written by the backward pass.
    pub grads: GpuBuffer<f32>,
    m: GpuBuffer<f32>,
    v: GpuBuffer<f32>,
    step: u64,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Network(N {}, C {}, {} parameters, step {})",
            self.layout.cfg.n, self.layout.cfg.c, self.layout.params, self.step
        )
    }
}

impl Network {
    /// Builds the network with Glorot-uniform weights from `seed` and zero biases, convs in
    /// the adapter's automatic layout.
    pub fn new(engine: &Engine, cfg: &NetConfig, seed: u64) -> ModelResult<Network> {
        Self::seeded(engine, cfg, seed, ConvLayout::auto(engine))
    }

    /// [`Self::new`] with the convs in `conv_layout`.
    pub fn seeded(
        engine: &Engine,
        cfg: &NetConfig,
        seed: u64,
        conv_layout: ConvLayout,
    ) -> ModelResult<Network> {
        let p = params::glorot_init(&Layout::new(cfg)?, seed);
        Self::from_params(engine, cfg, &p, conv_layout)
    }

    /// Builds the network with the given flat parameters, convs in the adapter's automatic
    /// layout.
    pub fn with_params(engine: &Engine, cfg: &NetConfig, p: &[f32]) -> ModelResult<Network> {
        Self::from_params(engine, cfg, p, ConvLayout::auto(engine))
    }

    /// Builds the network with the given flat parameters, convs in `conv_layout`.
    pub fn from_params(
        engine: &Engine,
        cfg: &NetConfig,
        p: &[f32],
        conv_layout: ConvLayout,
    ) -> ModelResult<Network> {
        let layout = Layout::new(cfg)?;
        if p.len() != layout.params {
            return Err(ModelError::Shape {
                what: "parameter vector".into(),
                got: vec![p.len()],
                expected: vec![layout.params],
            });
        }
        let convs = layout
            .layers
            .iter()
            .map(|l| Conv2d::with_layout(engine, l.spec, conv_layout))
            .collect::<Result<Vec<_>, _>>()?;
        let zeros = vec![0f32; layout.params];
        Ok(Network {
            convs,
            pool: MaxPool2x2::new(engine)?,
            up: Upsample2x::new(engine)?,
            object: ObjectPatch::new(engine)?,
            pad: PadCrop::new(engine)?,
            act: ActivationOp::new(engine)?,
            adam: Adam::new(engine)?,
            adam_cfg: AdamConfig::default(),
            params: engine.upload("net.params", p)?,
            grads: engine.upload("net.grads", &zeros)?,
            m: engine.upload("net.adam.m", &zeros)?,
            v: engine.upload("net.adam.v", &zeros)?,
            step: 0,
            layout,
        })
    }

    /// The optimiser state (parameters, Adam moments, step) read back for a checkpoint.
    pub fn optimizer_state(&self, engine: &Engine) -> ModelResult<OptimizerState> {
        Ok((
            engine.read(&self.params)?,
            engine.read(&self.m)?,
            engine.read(&self.v)?,
            self.step,
        ))
    }

    /// Restores the optimiser state saved by [`Self::optimizer_state`].
    pub fn restore_optimizer(
        &mut self,
        engine: &Engine,
        params: &[f32],
        m: &[f32],
        v: &[f32],
        step: u64,
    ) -> ModelResult<()> {
        let n = self.layout.params;
        for (what, len) in [
            ("parameters", params.len()),
            ("Adam m", m.len()),
            ("Adam v", v.len()),
        ] {
            if len != n {
                return Err(ModelError::Shape {
                    what: format!("checkpoint {what}"),
                    got: vec![len],
                    expected: vec![n],
                });
            }
        }
        engine.write(&self.params, 0, params)?;
        engine.write(&self.m, 0, m)?;
        engine.write(&self.v, 0, v)?;
        self.step = step;
        Ok(())
    }

    /// Loads weights from an NPZ file written by [`Network::save`], convs in the adapter's
    /// automatic layout.
    pub fn load(engine: &Engine, cfg: &NetConfig, path: &Path) -> ModelResult<Network> {
        Self::loaded(engine, cfg, path, ConvLayout::auto(engine))
    }

    /// [`Self::load`] with the convs in `conv_layout`.
    pub fn loaded(
        engine: &Engine,
        cfg: &NetConfig,
        path: &Path,
        conv_layout: ConvLayout,
    ) -> ModelResult<Network> {
        let p = params::load_npz(&Layout::new(cfg)?, path)?;
        Self::from_params(engine, cfg, &p, conv_layout)
    }

    /// Saves the weights as NPZ (temporary file, then rename).
    pub fn save(&self, engine: &Engine, path: &Path) -> ModelResult<()> {
        let p = engine.read(&self.params)?;
        params::save_npz(&self.layout, &p, path)
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.layout.params
    }

    /// Adam steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The conv layers in layout order.
    pub fn convs(&self) -> &[Conv2d] {
        &self.convs
    }

    /// The conv kernel family in use (all layers use the same one).
    pub fn conv_layout(&self) -> ConvLayout {
        self.convs
            .first()
            .map(Conv2d::layout)
            .unwrap_or(ConvLayout::Tiled)
    }

    /// Rebuilds every conv in `layout` (an error if the adapter cannot run it). Buffers from
    /// [`Self::alloc`] made before the switch may have too small a partials scratch: allocate
    /// them afterwards.
    pub fn set_conv_layout(&mut self, engine: &Engine, layout: ConvLayout) -> ModelResult<()> {
        self.convs = self
            .layout
            .layers
            .iter()
            .map(|l| Conv2d::with_layout(engine, l.spec, layout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(())
    }

    fn conv(&self, part: Part) -> &Conv2d {
        &self.convs[self.layout.index(part)]
    }

    fn check_input(&self, x: &GpuBuffer<f32>, st: &Activations) -> ModelResult<()> {
        let n = self.layout.cfg.n;
        let want = st.batch * self.layout.cfg.c * n * n;
        if x.len() != want {
            return Err(ModelError::Shape {
                what: format!("network input '{}'", x.label()),
                got: vec![x.len()],
                expected: vec![st.batch, self.layout.cfg.c, n, n],
            });
        }
        Ok(())
    }

    /// Records the forward pass of `x` (B, C, N, N) into `st`: heads in `st.heads[*].out`,
    /// object patch in `st.obj`.
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        st: &Activations,
    ) -> ModelResult<()> {
        self.forward_with(engine, rec, x, st, None)
    }

    /// Packs every conv's forward weights once, for inference, where the parameters do not
    /// change: [`FrozenNetwork::forward`] then skips the subgroup layout's per-pass weight
    /// packing. A snapshot — parameters changed later (a training step, a reload) do not reach
    /// it. With the tiled layout, which reads the parameters directly, it holds nothing.
    pub fn freeze(&self, engine: &Engine) -> ModelResult<FrozenNetwork<'_>> {
        let mut rec = engine.recording("freeze");
        let packed = self
            .convs
            .iter()
            .map(|c| c.pack_forward(engine, &mut rec, &self.params))
            .collect::<Result<Vec<_>, _>>()?;
        engine.submit(rec)?;
        Ok(FrozenNetwork { net: self, packed })
    }

    /// Conv `part`'s forward pass, its packed taps from `frozen` when given.
    #[allow(clippy::too_many_arguments, reason = "mirrors Conv2d::forward")]
    fn conv_forward(
        &self,
        part: Part,
        frozen: Option<&[Option<GpuBuffer<f32>>]>,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        batch: usize,
    ) -> ModelResult<()> {
        let i = self.layout.index(part);
        let packed = frozen.and_then(|f| f[i].as_ref());
        self.convs[i].forward_prepacked(engine, rec, x, &self.params, packed, out, batch)?;
        Ok(())
    }

    fn forward_with(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        st: &Activations,
        frozen: Option<&[Option<GpuBuffer<f32>>]>,
    ) -> ModelResult<()> {
        self.check_input(x, st)?;
        let b = st.batch;
        let l = &self.layout;
        rec.copy(x.binding(), st.input.binding());
        let mut cur = &st.input;
        for k in 0..l.enc_blocks() {
            let BlockBuffers {
                conv0: y0,
                conv1: y1,
                out: p,
            } = &st.enc[k];
            self.conv_forward(Part::Encoder(k, 0), frozen, engine, rec, cur, y0, b)?;
            self.conv_forward(Part::Encoder(k, 1), frozen, engine, rec, y0, y1, b)?;
            let s = self.conv(Part::Encoder(k, 1)).spec;
            self.pool
                .forward(engine, rec, y1, p, b * s.cout, s.height, s.width)?;
            cur = p;
        }
        let bottleneck = cur;
        for head in 0..2 {
            let h = &st.heads[head];
            let mut cur = bottleneck;
            for j in 0..l.dec_blocks() {
                let BlockBuffers {
                    conv0: y0,
                    conv1: y1,
                    out: u,
                } = &h.blocks[j];
                self.conv_forward(Part::Decoder(head, j, 0), frozen, engine, rec, cur, y0, b)?;
                self.conv_forward(Part::Decoder(head, j, 1), frozen, engine, rec, y0, y1, b)?;
                let s = self.conv(Part::Decoder(head, j, 1)).spec;
                self.up
                    .forward(engine, rec, y1, u, b * s.cout, s.height, s.width)?;
                cur = u;
            }
            self.conv_forward(Part::Head(head), frozen, engine, rec, cur, &h.out, b)?;
        }
        self.object.forward(
            engine,
            rec,
            &st.heads[0].out,
            &st.heads[1].out,
            &st.obj,
            b * l.cfg.c,
            l.head_size(),
            l.cfg.n,
        )?;
        Ok(())
    }

    /// Records the heads zero-padded by N/4 to (B, C, N, N) into `amp` and `phase`.
    pub fn padded_heads(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        st: &Activations,
        amp: &GpuBuffer<f32>,
        phase: &GpuBuffer<f32>,
    ) -> ModelResult<()> {
        let planes = st.batch * self.layout.cfg.c;
        let (h, n) = (self.layout.head_size(), self.layout.cfg.n);
        self.pad
            .record(engine, rec, &st.heads[0].out, amp, planes, h, n)?;
        self.pad
            .record(engine, rec, &st.heads[1].out, phase, planes, h, n)?;
        Ok(())
    }

    /// Records the backward pass from dL/dO (B, C, N, N) complex (conjugate-Wirtinger
    /// convention) into [`Network::grads`].
    pub fn backward_object(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        st: &Activations,
        dobj: &GpuBuffer<Complex32>,
    ) -> ModelResult<()> {
        let l = &self.layout;
        if dobj.len() != st.obj.len() {
            return Err(ModelError::Shape {
                what: format!("object gradient '{}'", dobj.label()),
                got: vec![dobj.len()],
                expected: vec![st.batch, l.cfg.c, l.cfg.n, l.cfg.n],
            });
        }
        self.object.backward(
            engine,
            rec,
            &st.heads[0].out,
            &st.heads[1].out,
            dobj,
            &st.d_heads[0].out,
            &st.d_heads[1].out,
            st.batch * l.cfg.c,
            l.head_size(),
            l.cfg.n,
            true,
        )?;
        self.backward_pre(engine, rec, st)
    }

    /// Records the backward pass from the gradients of the head outputs (after the sigmoid and
    /// π·tanh), each (B, C, N/2, N/2), into [`Network::grads`].
    pub fn backward_heads(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        st: &Activations,
        damp: &GpuBuffer<f32>,
        dphase: &GpuBuffer<f32>,
    ) -> ModelResult<()> {
        for (head, (d, act)) in [(damp, Activation::Sigmoid), (dphase, Activation::PiTanh)]
            .into_iter()
            .enumerate()
        {
            if d.len() != st.heads[head].out.len() {
                let hs = self.layout.head_size();
                return Err(ModelError::Shape {
                    what: format!("{} head gradient '{}'", HEADS[head], d.label()),
                    got: vec![d.len()],
                    expected: vec![st.batch, self.layout.cfg.c, hs, hs],
                });
            }
            self.act.backward(
                engine,
                rec,
                act,
                &st.heads[head].out,
                d,
                &st.d_heads[head].out,
            )?;
        }
        self.backward_pre(engine, rec, st)
    }

    /// Backward from the head convs' pre-activation gradients in `st.d_heads[*].out`.
    fn backward_pre(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        st: &Activations,
    ) -> ModelResult<()> {
        let b = st.batch;
        let l = &self.layout;
        let e = l.enc_blocks();
        let (p, g, part) = (&self.params, &self.grads, &st.partials);
        let bottleneck = &st.enc[e - 1].out;
        let d_bottleneck = &st.d_enc[e - 1].out;
        for head in 0..2 {
            let h = &st.heads[head];
            let dh = &st.d_heads[head];
            let ch = self.conv(Part::Head(head));
            let feat = h.blocks.last().map(|x| &x.out).unwrap_or(bottleneck);
            ch.backward_weight(engine, rec, feat, &dh.out, part, g, false, b)?;
            let d_feat = dh.blocks.last().map(|x| &x.out).unwrap_or(d_bottleneck);
            let accumulate_bottleneck = head == 1;
            ch.backward_input(
                engine,
                rec,
                &dh.out,
                p,
                d_feat,
                None,
                l.dec_blocks() == 0 && accumulate_bottleneck,
                b,
            )?;
            for j in (0..l.dec_blocks()).rev() {
                let c0 = self.conv(Part::Decoder(head, j, 0));
                let c1 = self.conv(Part::Decoder(head, j, 1));
                let (xin, dxin) = if j == 0 {
                    (bottleneck, d_bottleneck)
                } else {
                    (&h.blocks[j - 1].out, &dh.blocks[j - 1].out)
                };
                self.block_backward(
                    engine,
                    rec,
                    (c0, c1),
                    Resample::Up,
                    (&h.blocks[j], &dh.blocks[j]),
                    xin,
                    Some((dxin, j == 0 && accumulate_bottleneck)),
                    b,
                    part,
                )?;
            }
        }
        for k in (0..e).rev() {
            let c0 = self.conv(Part::Encoder(k, 0));
            let c1 = self.conv(Part::Encoder(k, 1));
            let xin = if k == 0 {
                &st.input
            } else {
                &st.enc[k - 1].out
            };
            // The first conv's input gradient (the data's) is not needed.
            let dxin = (k > 0).then(|| (&st.d_enc[k - 1].out, false));
            self.block_backward(
                engine,
                rec,
                (c0, c1),
                Resample::Pool,
                (&st.enc[k], &st.d_enc[k]),
                xin,
                dxin,
                b,
                part,
            )?;
        }
        Ok(())
    }

    /// One encoder or decoder block backward, from `dy.out` (the block output's gradient):
    /// the resampling's backward gated by conv1's ReLU, conv1's weight and input gradients
    /// (gated by conv0's ReLU), conv0's weight gradient from the block input `x`, and conv0's
    /// input gradient into `dx` (`(buffer, accumulate)`) where the caller needs it.
    #[allow(clippy::too_many_arguments, reason = "one block's convs and buffers")]
    fn block_backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        (c0, c1): (&Conv2d, &Conv2d),
        resample: Resample,
        (y, dy): (&BlockBuffers, &BlockBuffers),
        x: &GpuBuffer<f32>,
        dx: Option<(&GpuBuffer<f32>, bool)>,
        b: usize,
        part: &GpuBuffer<f32>,
    ) -> ModelResult<()> {
        let (p, g) = (&self.params, &self.grads);
        let s = c1.spec;
        let (planes, height, width) = (b * s.cout, s.height, s.width);
        match resample {
            Resample::Pool => self.pool.backward(
                engine, rec, &y.conv1, &dy.out, &dy.conv1, planes, height, width, true,
            )?,
            Resample::Up => self.up.backward(
                engine, rec, &y.conv1, &dy.out, &dy.conv1, planes, height, width, true,
            )?,
        }
        c1.backward_weight(engine, rec, &y.conv0, &dy.conv1, part, g, false, b)?;
        c1.backward_input(
            engine,
            rec,
            &dy.conv1,
            p,
            &dy.conv0,
            Some(&y.conv0),
            false,
            b,
        )?;
        c0.backward_weight(engine, rec, x, &dy.conv0, part, g, false, b)?;
        if let Some((dx, accumulate)) = dx {
            c0.backward_input(engine, rec, &dy.conv0, p, dx, None, accumulate, b)?;
        }
        Ok(())
    }

    /// Records one Adam step on the parameters from [`Network::grads`].
    pub fn adam_step(&mut self, engine: &Engine, rec: &mut Recording) -> ModelResult<()> {
        self.step += 1;
        self.adam.record(
            engine,
            rec,
            &self.adam_cfg,
            self.step,
            &self.grads,
            &self.params,
            &self.m,
            &self.v,
        )?;
        Ok(())
    }
}

/// A [`Network`] with its conv weights packed once for inference ([`Network::freeze`]).
pub struct FrozenNetwork<'a> {
    net: &'a Network,
    /// Per conv (layout order): the forward pass's packed taps, `None` for the tiled layout.
    packed: Vec<Option<GpuBuffer<f32>>>,
}

impl FrozenNetwork<'_> {
    /// The network it was frozen from.
    pub fn network(&self) -> &Network {
        self.net
    }

    /// [`Network::forward`] from the frozen packed weights: the same kernels, without a packing
    /// dispatch per conv.
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        st: &Activations,
    ) -> ModelResult<()> {
        self.net
            .forward_with(engine, rec, x, st, Some(&self.packed))
    }
}
