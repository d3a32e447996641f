//! The 3×3 'same' convolution: forward, input gradient (the forward kernel on flipped,
//! transposed weights) and weight + bias gradient (per-split partials summed in fixed order by
//! `grad_reduce`), in two kernel layouts ([`ConvLayout`]).

pub mod layout;
pub mod subgroup;
pub mod tiled;

pub use layout::{ConvLayout, ConvLayoutChoice, PassTiling};
pub use subgroup::SubgroupTiling;
pub use tiled::{ConvTiling, WeightTiling};

use std::sync::Arc;

use crate::gpu::{DeviceProfile, Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{Activation, ELEM_WG, GATE, NnError, Result, kernels};

/// The conv pass whose packed taps [`Conv2d::pack`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackedPass {
    /// W[o][i][k], `cout` × `cin` pairs.
    Forward,
    /// W[i][o][8 − k] (transposed and flipped), `in_cstride` × `cout` pairs.
    InputGradient,
}

/// Sentinel meaning "no bias" in [`ConvParams::b_off`].
pub const NO_BIAS: u32 = u32::MAX;

/// Workgroups a weight-gradient dispatch aims for (reduction splits × channel tiles).
pub const WEIGHT_WORKGROUPS: usize = 128;

/// Params of `shaders/nn/conv2d_fwd.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    /// Images.
    pub batch: u32,
    /// Input channels summed over.
    pub cin: u32,
    /// Output channels written.
    pub cout: u32,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
    /// Channels per image in the input buffer.
    pub in_cstride: u32,
    /// Channels per image in the output buffer.
    pub out_cstride: u32,
    /// Offset of the weights in the parameter buffer.
    pub w_off: u32,
    /// Offset of the bias, or [`NO_BIAS`].
    pub b_off: u32,
    /// Weight tensor's output-channel dimension.
    pub w_co: u32,
    /// Weight tensor's input-channel dimension.
    pub w_ci: u32,
    /// 1: transposed, flipped weights (input gradient).
    pub flip: u32,
    /// 0 none, 1 ReLU, 2 sigmoid, 3 π·tanh, 4 gate by `gate > 0`.
    pub act: u32,
    /// 1: add the previous output.
    pub accumulate: u32,
    /// Pixel tiles along x.
    pub tiles_x: u32,
    /// Pixel tiles along y.
    pub tiles_y: u32,
    /// Output-channel tiles.
    pub co_tiles: u32,
    /// Padding to a multiple of 16 bytes.
    pub _pad: [u32; 3],
}

/// Params of `shaders/nn/conv_pack_subgroup.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvPackParams {
    /// Offset of the weights in the parameter buffer.
    pub w_off: u32,
    /// Weight tensor's output-channel dimension.
    pub w_co: u32,
    /// Weight tensor's input-channel dimension.
    pub w_ci: u32,
    /// 1: pack the input gradient's (transposed, flipped) weights.
    pub flip: u32,
    /// The pass's output channels rounded up to a multiple of 16.
    pub co_pad: u32,
    /// The pass's input channels.
    pub cin: u32,
    /// Padding to a multiple of 16 bytes.
    pub _pad: [u32; 2],
}

/// Params of `shaders/nn/conv2d_bwd_weight.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvWeightParams {
    /// Images.
    pub batch: u32,
    /// Input channels.
    pub cin: u32,
    /// Output channels.
    pub cout: u32,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
    /// Channels per image in the input buffer.
    pub in_cstride: u32,
    /// Channels per image in the output-gradient buffer.
    pub dz_cstride: u32,
    /// Pixel tiles along x.
    pub tiles_x: u32,
    /// Pixel tiles along y.
    pub tiles_y: u32,
    /// Output-channel tiles.
    pub co_tiles: u32,
    /// Input-channel tiles.
    pub ci_tiles: u32,
    /// Reduction splits (partials).
    pub splits: u32,
    /// Spatial tiles per split.
    pub tiles_per_split: u32,
    /// Padding to a multiple of 16 bytes.
    pub _pad: [u32; 3],
}

/// Params of `shaders/nn/grad_reduce.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GradReduceParams {
    /// Values per split.
    pub len: u32,
    /// Splits.
    pub splits: u32,
    /// Offset in the gradient buffer.
    pub off: u32,
    /// 1: add to the existing gradient.
    pub accumulate: u32,
}

/// Static description of one 3×3 'same' conv layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConvSpec {
    /// Input channels the conv reads (the first `cin` of `in_cstride`).
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels per image of the input tensor (≥ `cin`).
    pub in_cstride: usize,
    /// Fused activation.
    pub act: Activation,
    /// Offset of `W[cout][cin][3][3]` in the parameter buffer; the bias follows it.
    pub w_off: usize,
}

impl ConvSpec {
    /// Weights + biases.
    pub fn param_count(&self) -> usize {
        self.cout * self.cin * 9 + self.cout
    }
    /// Offset of the bias.
    pub fn b_off(&self) -> usize {
        self.w_off + self.cout * self.cin * 9
    }
    /// Multiply-adds per image of the forward pass.
    pub fn macs_per_image(&self) -> usize {
        self.cout * self.cin * 9 * self.height * self.width
    }
}

/// A 3×3 'same' conv layer: pipelines for its forward, input-gradient and weight-gradient passes.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// Shape and parameter offsets.
    pub spec: ConvSpec,
    layout: ConvLayout,
    fwd: Kernel,
    fwd_tiling: PassTiling,
    bwd_in: Kernel,
    bwd_in_tiling: PassTiling,
    bwd_w: Kernel,
    bwd_w_tiling: PassTiling,
    reduce: Kernel,
    /// Subgroup layout: the weight-packing kernel and the packed weights, re-packed by every
    /// forward and input-gradient pass before its conv (the two passes take turns in the one
    /// buffer, which the recording's order makes safe) — except a forward pass given its own
    /// packed taps ([`Conv2d::pack_forward`], inference).
    pack: Option<(Kernel, Arc<GpuBuffer<f32>>)>,
}

impl Conv2d {
    /// Builds the pipelines in the adapter's automatic layout ([`ConvLayout::auto`]) with tilings
    /// chosen for this adapter.
    pub fn new(engine: &Engine, spec: ConvSpec) -> Result<Conv2d> {
        Self::with_layout(engine, spec, ConvLayout::auto(engine))
    }

    /// Builds the pipelines in `layout` (an error if the adapter cannot run it).
    pub fn with_layout(engine: &Engine, spec: ConvSpec, layout: ConvLayout) -> Result<Conv2d> {
        if spec.cin == 0 || spec.cout == 0 || spec.height == 0 || spec.width == 0 {
            return Err(NnError::InvalidArgument(format!(
                "conv2d: empty shape {}→{} at {}×{}",
                spec.cin, spec.cout, spec.height, spec.width
            )));
        }
        if spec.in_cstride < spec.cin {
            return Err(NnError::InvalidArgument(format!(
                "conv2d: input channel stride {} < cin {}",
                spec.in_cstride, spec.cin
            )));
        }
        layout.check(engine)?;
        let reduce = engine.kernel(&kernels::GRAD_REDUCE, &[("WG", ELEM_WG as f64)])?;
        let (fwd_tiling, bwd_in_tiling, bwd_w_tiling) =
            Self::tilings_on(&engine.profile(), &spec, layout);
        let (fwd, bwd_in, bwd_w) = match (fwd_tiling, bwd_in_tiling, bwd_w_tiling) {
            (PassTiling::Tiled(ft), PassTiling::Tiled(bt), PassTiling::TiledWeight(wt)) => (
                engine.kernel(&kernels::CONV2D_FWD, &ft.constants())?,
                engine.kernel(&kernels::CONV2D_FWD, &bt.constants())?,
                engine.kernel(&kernels::CONV2D_BWD_WEIGHT, &wt.constants())?,
            ),
            (PassTiling::Subgroup(ft), PassTiling::Subgroup(_), PassTiling::Subgroup(wt)) => {
                // The input gradient runs the forward kernel (its channel count is a
                // parameter, not a constant).
                // Widths that are multiples of 4 load the input halo (shared/halo8), dz and the
                // output stores as vec4s: one pipeline constant, so the scalar paths compile away.
                let vec_halo = ("VEC_HALO", (spec.width % 4 == 0) as u8 as f64);
                let fwd = engine.kernel(
                    &kernels::CONV2D_FWD_SUBGROUP,
                    &[ft.fwd_constants()[0], vec_halo],
                )?;
                let wc = wt.weight_constants();
                let bwd_w = engine.kernel(
                    &kernels::CONV2D_BWD_WEIGHT_SUBGROUP,
                    &[wc[0], wc[1], vec_halo],
                )?;
                (fwd.clone(), fwd, bwd_w)
            }
            other => unreachable!("tilings_on gave mixed layouts {other:?}"),
        };
        let pack = match layout {
            ConvLayout::Tiled => None,
            ConvLayout::Subgroup => {
                let kernel =
                    engine.kernel(&kernels::CONV_PACK_SUBGROUP, &[("WG", ELEM_WG as f64)])?;
                let n = Self::packed_len(spec.cout, spec.cin)
                    .max(Self::packed_len(spec.in_cstride, spec.cout));
                let buf = engine.alloc::<f32>("conv2d.packed_weights", n)?;
                Some((kernel, Arc::new(buf)))
            }
        };
        Ok(Conv2d {
            spec,
            layout,
            fwd,
            fwd_tiling,
            bwd_in,
            bwd_in_tiling,
            bwd_w,
            bwd_w_tiling,
            reduce,
            pack,
        })
    }

    /// The tilings of the forward, input-gradient and weight-gradient passes `spec` gets in
    /// `layout` on a device with profile `p` (what [`Conv2d::with_layout`] builds, and what
    /// `ptycho devices` shows for adapters it has not opened).
    pub fn tilings_on(
        p: &DeviceProfile,
        spec: &ConvSpec,
        layout: ConvLayout,
    ) -> (PassTiling, PassTiling, PassTiling) {
        let (h, w) = (spec.height, spec.width);
        match layout {
            ConvLayout::Tiled => (
                PassTiling::Tiled(ConvTiling::choose_on(p, spec.cin, spec.cout, h, w)),
                PassTiling::Tiled(ConvTiling::choose_on(p, spec.cout, spec.in_cstride, h, w)),
                PassTiling::TiledWeight(WeightTiling::choose_on(p, spec.cin, spec.cout, h, w)),
            ),
            ConvLayout::Subgroup => {
                // Forward and input gradient sum over all input channels in one workgroup.
                let ft = SubgroupTiling {
                    ci_t: spec.cin as u32,
                    ..SubgroupTiling::choose(spec.cin)
                };
                let bt = SubgroupTiling {
                    ci_t: spec.cout as u32,
                    ..ft
                };
                (
                    PassTiling::Subgroup(ft),
                    PassTiling::Subgroup(bt),
                    PassTiling::Subgroup(SubgroupTiling::choose(spec.cin)),
                )
            }
        }
    }

    /// The kernel family in use.
    pub fn layout(&self) -> ConvLayout {
        self.layout
    }

    /// Tilings in use: (forward, input gradient, weight gradient).
    pub fn tilings(&self) -> (PassTiling, PassTiling, PassTiling) {
        (self.fwd_tiling, self.bwd_in_tiling, self.bwd_w_tiling)
    }

    fn plane(&self) -> usize {
        self.spec.height * self.spec.width
    }

    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    fn conv_dispatch(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        kernel: &Kernel,
        t: PassTiling,
        mut p: ConvParams,
        x: &GpuBuffer<f32>,
        weights: &GpuBuffer<f32>,
        gate: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        prepacked: Option<&GpuBuffer<f32>>,
    ) -> Result<()> {
        self.complete_params(&mut p, t);
        let n = p.tiles_x as u64 * p.tiles_y as u64 * p.co_tiles as u64 * p.batch as u64;
        let grid = engine.grid(n)?;
        let Some((pack, packed)) = &self.pack else {
            rec.dispatch(
                kernel,
                &p,
                &[
                    x.binding(),
                    weights.binding(),
                    gate.binding(),
                    out.binding(),
                ],
                grid,
            );
            return Ok(());
        };
        // Subgroup layout: pack this pass's weights (forward or flipped) unless they come
        // packed, then the conv, which views gate and out as vec4s (bindings padded to whole
        // vec4s) and reads the packed taps 0 … 7 and tap 8 through two bindings.
        let pairs = Self::pack_pairs(&p);
        let packed = match prepacked {
            Some(b) => {
                b.expect_at_least("conv2d packed weights", 9 * pairs)?;
                b
            }
            None => {
                Self::record_pack(engine, rec, pack, &p, weights, packed)?;
                &**packed
            }
        };
        rec.dispatch(
            kernel,
            &p,
            &[
                x.binding(),
                weights.binding(),
                gate.binding().padded(16),
                out.binding().padded(16),
                packed.slice(0, 8 * pairs),
                packed.slice(8 * pairs, pairs),
                x.binding().padded(16),
            ],
            grid,
        );
        Ok(())
    }

    /// Fills in the shape fields of a pass's `p` (image size, weight shape, tile counts of
    /// tiling `t`).
    fn complete_params(&self, p: &mut ConvParams, t: PassTiling) {
        let s = &self.spec;
        p.height = s.height as u32;
        p.width = s.width as u32;
        p.w_co = s.cout as u32;
        p.w_ci = s.cin as u32;
        let (th, tw, co_t, _) = t.shape();
        p.tiles_x = s.width.div_ceil(tw as usize) as u32;
        p.tiles_y = s.height.div_ceil(th as usize) as u32;
        p.co_tiles = (p.cout as usize).div_ceil(co_t as usize) as u32;
    }

    /// (input channel, padded output channel) pairs of a subgroup pass with params `p`.
    fn pack_pairs(p: &ConvParams) -> usize {
        p.co_tiles as usize * SubgroupTiling::CO_T as usize * p.cin as usize
    }

    /// Records `conv_pack_subgroup` for the pass with params `p`: its weights (flipped when
    /// `p.flip`) into the first `9 · pack_pairs(p)` values of `packed`.
    fn record_pack(
        engine: &Engine,
        rec: &mut Recording,
        pack: &Kernel,
        p: &ConvParams,
        weights: &GpuBuffer<f32>,
        packed: &GpuBuffer<f32>,
    ) -> Result<()> {
        let pairs = Self::pack_pairs(p);
        let pp = ConvPackParams {
            w_off: p.w_off,
            w_co: p.w_co,
            w_ci: p.w_ci,
            flip: p.flip,
            co_pad: p.co_tiles * SubgroupTiling::CO_T,
            cin: p.cin,
            _pad: [0; 2],
        };
        engine.dispatch_threads(
            rec,
            pack,
            &pp,
            &[weights.binding(), packed.slice(0, 9 * pairs)],
            pairs,
        )?;
        Ok(())
    }

    /// Values of the packed weights of a subgroup-layout pass with `cout` output and `cin`
    /// input channels (`conv_pack_subgroup.wgsl`: 9 per channel pair, output channels padded
    /// to a multiple of 16).
    fn packed_len(cout: usize, cin: usize) -> usize {
        9 * cout.next_multiple_of(SubgroupTiling::CO_T as usize) * cin
    }

    /// Records `out = act(conv(x) + b)` for `batch` images. `x` holds `in_cstride` channels per
    /// image, `out` holds `cout`.
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        weights: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        batch: usize,
    ) -> Result<()> {
        self.forward_prepacked(engine, rec, x, weights, None, out, batch)
    }

    /// [`Conv2d::forward`] with the subgroup layout's packed taps taken from `packed` (what
    /// [`Conv2d::pack_forward`] wrote) instead of packed anew; `None` packs as `forward` does.
    /// The tiled layout reads `weights` either way.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward_prepacked(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        weights: &GpuBuffer<f32>,
        packed: Option<&GpuBuffer<f32>>,
        out: &GpuBuffer<f32>,
        batch: usize,
    ) -> Result<()> {
        let s = &self.spec;
        x.expect_at_least("conv2d input", batch * s.in_cstride * self.plane())?;
        out.expect_at_least("conv2d output", batch * s.cout * self.plane())?;
        weights.expect_at_least("conv2d parameters", s.w_off + s.param_count())?;
        let p = self.forward_params(batch)?;
        self.conv_dispatch(
            engine,
            rec,
            &self.fwd,
            self.fwd_tiling,
            p,
            x,
            weights,
            x,
            out,
            packed,
        )
    }

    fn forward_params(&self, batch: usize) -> Result<ConvParams> {
        let s = &self.spec;
        Ok(ConvParams {
            batch: to_u32("batch", batch)?,
            cin: s.cin as u32,
            cout: s.cout as u32,
            in_cstride: s.in_cstride as u32,
            out_cstride: s.cout as u32,
            w_off: to_u32("weight offset", s.w_off)?,
            b_off: to_u32("bias offset", s.b_off())?,
            act: s.act.code(),
            ..Default::default()
        })
    }

    /// Subgroup layout: allocates a buffer for the forward pass's packed taps and records
    /// packing `weights` into it, for [`Conv2d::forward_prepacked`] — a snapshot: later changes
    /// to `weights` do not reach it. `None` for the tiled layout, which reads the weights
    /// directly.
    pub fn pack_forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        weights: &GpuBuffer<f32>,
    ) -> Result<Option<GpuBuffer<f32>>> {
        self.pack(engine, rec, weights, PackedPass::Forward)
    }

    /// Subgroup layout: allocates a buffer and records packing `weights` into it as `pass`
    /// reads them (`conv_pack_subgroup.wgsl`; [`crate::nn::cpu::conv_pack_subgroup`] is its
    /// twin) — what the forward and input-gradient passes pack before their conv. `None` for
    /// the tiled layout.
    pub fn pack(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        weights: &GpuBuffer<f32>,
        pass: PackedPass,
    ) -> Result<Option<GpuBuffer<f32>>> {
        let Some((pack, _)) = &self.pack else {
            return Ok(None);
        };
        let s = &self.spec;
        weights.expect_at_least("conv2d parameters", s.w_off + s.param_count())?;
        let (mut p, tiling) = match pass {
            PackedPass::Forward => (self.forward_params(1)?, self.fwd_tiling),
            PackedPass::InputGradient => (self.input_grad_params(1)?, self.bwd_in_tiling),
        };
        self.complete_params(&mut p, tiling);
        let buf =
            engine.alloc::<f32>("conv2d.packed_weights_snapshot", 9 * Self::pack_pairs(&p))?;
        Self::record_pack(engine, rec, pack, &p, weights, &buf)?;
        Ok(Some(buf))
    }

    /// The input-gradient pass's params, before the gate and accumulate flags: the transposed,
    /// flipped conv from `cout` channels to all `in_cstride`.
    fn input_grad_params(&self, batch: usize) -> Result<ConvParams> {
        let s = &self.spec;
        Ok(ConvParams {
            batch: to_u32("batch", batch)?,
            cin: s.cout as u32,
            cout: s.in_cstride as u32,
            in_cstride: s.cout as u32,
            out_cstride: s.in_cstride as u32,
            w_off: to_u32("weight offset", s.w_off)?,
            b_off: NO_BIAS,
            flip: 1,
            ..Default::default()
        })
    }

    /// Records the input gradient `dx = convᵀ(dz)` (all `in_cstride` channels; those the conv
    /// does not read get zero). `gate`: multiply by `[gate > 0]` (the ReLU' of the layer that
    /// produced `x`, passing `x` itself). `accumulate`: add to what `dx` holds.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward_input(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        dz: &GpuBuffer<f32>,
        weights: &GpuBuffer<f32>,
        dx: &GpuBuffer<f32>,
        gate: Option<&GpuBuffer<f32>>,
        accumulate: bool,
        batch: usize,
    ) -> Result<()> {
        let s = &self.spec;
        dz.expect_at_least("conv2d output gradient", batch * s.cout * self.plane())?;
        dx.expect_at_least("conv2d input gradient", batch * s.in_cstride * self.plane())?;
        weights.expect_at_least("conv2d parameters", s.w_off + s.param_count())?;
        if let Some(g) = gate {
            g.expect_at_least("conv2d gate", batch * s.in_cstride * self.plane())?;
        }
        let p = ConvParams {
            act: if gate.is_some() {
                GATE
            } else {
                Activation::None.code()
            },
            accumulate: accumulate as u32,
            ..self.input_grad_params(batch)?
        };
        self.conv_dispatch(
            engine,
            rec,
            &self.bwd_in,
            self.bwd_in_tiling,
            p,
            dz,
            weights,
            gate.unwrap_or(dz),
            dx,
            None,
        )
    }

    /// Reduction splits and partial-buffer length the weight gradient uses for `batch` images:
    /// `(splits, tiles per split, partial values)`. Splits are sized for about
    /// [`WEIGHT_WORKGROUPS`] workgroups in all.
    pub fn weight_splits(&self, batch: usize) -> (usize, usize, usize) {
        let s = &self.spec;
        let (th, tw, co_t, ci_t) = self.bwd_w_tiling.shape();
        let tiles = batch * s.width.div_ceil(tw as usize) * s.height.div_ceil(th as usize);
        let wgs = s.cout.div_ceil(co_t as usize) * s.cin.div_ceil(ci_t as usize);
        let want = WEIGHT_WORKGROUPS.div_ceil(wgs).clamp(1, tiles.max(1));
        let per = tiles.div_ceil(want).max(1);
        let splits = tiles.div_ceil(per).max(1);
        (splits, per, splits * s.param_count())
    }

    /// Records the weight and bias gradients into `grads[w_off ..]` (the same layout as the
    /// parameters). `partials` is scratch of at least `weight_splits(batch).2` values.
    /// `accumulate` adds to the gradient already there.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward_weight(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        dz: &GpuBuffer<f32>,
        partials: &GpuBuffer<f32>,
        grads: &GpuBuffer<f32>,
        accumulate: bool,
        batch: usize,
    ) -> Result<()> {
        let s = &self.spec;
        let (th, tw, co_t, ci_t) = self.bwd_w_tiling.shape();
        x.expect_at_least("conv2d input", batch * s.in_cstride * self.plane())?;
        dz.expect_at_least("conv2d output gradient", batch * s.cout * self.plane())?;
        let (splits, per, plen) = self.weight_splits(batch);
        partials.expect_at_least("conv2d gradient partials", plen)?;
        grads.expect_at_least("conv2d gradients", s.w_off + s.param_count())?;
        let p = ConvWeightParams {
            batch: to_u32("batch", batch)?,
            cin: s.cin as u32,
            cout: s.cout as u32,
            height: s.height as u32,
            width: s.width as u32,
            in_cstride: s.in_cstride as u32,
            dz_cstride: s.cout as u32,
            tiles_x: s.width.div_ceil(tw as usize) as u32,
            tiles_y: s.height.div_ceil(th as usize) as u32,
            co_tiles: s.cout.div_ceil(co_t as usize) as u32,
            ci_tiles: s.cin.div_ceil(ci_t as usize) as u32,
            splits: splits as u32,
            tiles_per_split: per as u32,
            _pad: [0; 3],
        };
        let n = p.co_tiles as u64 * p.ci_tiles as u64 * splits as u64;
        // The subgroup kernel views dz (and x again) as vec4s: pad the bindings to whole vec4s.
        let bindings = match self.layout {
            ConvLayout::Tiled => vec![x.binding(), dz.binding(), partials.binding()],
            ConvLayout::Subgroup => vec![
                x.binding(),
                dz.binding().padded(16),
                partials.binding(),
                x.binding().padded(16),
            ],
        };
        rec.dispatch(&self.bwd_w, &p, &bindings, engine.grid(n)?);
        let len = s.param_count();
        let rp = GradReduceParams {
            len: len as u32,
            splits: splits as u32,
            off: to_u32("gradient offset", s.w_off)?,
            accumulate: accumulate as u32,
        };
        engine.dispatch_threads(
            rec,
            &self.reduce,
            &rp,
            &[partials.binding(), grads.binding()],
            len,
        )?;
        Ok(())
    }
}
