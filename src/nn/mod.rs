//! Neural-network kernels on WGSL: 3×3 'same' convolution (forward, input gradient, weight and
//! bias gradients), activations, 2×2 max pooling, 2× nearest upsampling, zero-pad/centre-crop,
//! the complex object patch of PtychoPINN's two heads, and Adam.
//!
//! # Conventions
//! - Tensors are NCHW f32, row-major (x fastest), images back to back. A tensor may carry more
//!   channels than a conv reads (`in_cstride`): PtychoPINN's final convs read only the first
//!   `width − 4` channels of the last decoder features.
//! - Conv weights are `W[cout][cin][3][3]` followed by the bias `b[cout]`, at an offset inside
//!   one flat parameter buffer (so one Adam dispatch updates the whole network).
//! - Backward kernels take the gradient of the layer *output* and, where a ReLU produced the
//!   layer *input*, fuse that ReLU's derivative as a gate `· [input > 0]` (pool, upsample and
//!   the conv input gradient all offer it).
//! - Reductions (weight and bias gradients) are fixed-order: per-split partials written by
//!   `conv2d_bwd_weight` (or `conv2d_bwd_weight_subgroup`), summed in split order by
//!   `grad_reduce`. No float atomics anywhere, so results are bit-identical run to run on one
//!   adapter and layout.
//! - The conv has two kernel layouts with the same bindings and results ([`ConvLayout`]): the
//!   portable workgroup-memory tiling and the 8-lane subgroup-broadcast tiling, chosen per
//!   adapter (`PTYCHO_CONV_LAYOUT` forces either).
//!
//! Every kernel has a CPU twin in [`cpu`] (f64).

pub mod cpu;

use num_complex::Complex32;

use crate::gpu::{Engine, GpuBuffer, GpuError, Kernel, Recording, Result};

/// The WGSL kernels of this module (`shaders/nn/`).
pub mod kernels {
    use crate::gpu::shaders::{ParamsTwin, ShaderFile};

    /// `shaders/nn/conv2d_fwd.wgsl`.
    pub static CONV2D_FWD: ShaderFile = crate::wgsl_kernel!("nn", "conv2d_fwd");
    /// `shaders/nn/conv2d_fwd_subgroup.wgsl`.
    pub static CONV2D_FWD_SUBGROUP: ShaderFile = crate::wgsl_kernel!("nn", "conv2d_fwd_subgroup");
    /// `shaders/nn/conv2d_bwd_weight.wgsl`.
    pub static CONV2D_BWD_WEIGHT: ShaderFile = crate::wgsl_kernel!("nn", "conv2d_bwd_weight");
    /// `shaders/nn/conv2d_bwd_weight_subgroup.wgsl`.
    pub static CONV2D_BWD_WEIGHT_SUBGROUP: ShaderFile =
        crate::wgsl_kernel!("nn", "conv2d_bwd_weight_subgroup");
    /// `shaders/nn/grad_reduce.wgsl`.
    pub static GRAD_REDUCE: ShaderFile = crate::wgsl_kernel!("nn", "grad_reduce");
    /// `shaders/nn/maxpool2x2_fwd.wgsl`.
    pub static MAXPOOL2X2_FWD: ShaderFile = crate::wgsl_kernel!("nn", "maxpool2x2_fwd");
    /// `shaders/nn/maxpool2x2_bwd.wgsl`.
    pub static MAXPOOL2X2_BWD: ShaderFile = crate::wgsl_kernel!("nn", "maxpool2x2_bwd");
    /// `shaders/nn/upsample2x_fwd.wgsl`.
    pub static UPSAMPLE2X_FWD: ShaderFile = crate::wgsl_kernel!("nn", "upsample2x_fwd");
    /// `shaders/nn/upsample2x_bwd.wgsl`.
    pub static UPSAMPLE2X_BWD: ShaderFile = crate::wgsl_kernel!("nn", "upsample2x_bwd");
    /// `shaders/nn/pad_crop.wgsl`.
    pub static PAD_CROP: ShaderFile = crate::wgsl_kernel!("nn", "pad_crop");
    /// `shaders/nn/activation_fwd.wgsl`.
    pub static ACTIVATION_FWD: ShaderFile = crate::wgsl_kernel!("nn", "activation_fwd");
    /// `shaders/nn/activation_bwd.wgsl`.
    pub static ACTIVATION_BWD: ShaderFile = crate::wgsl_kernel!("nn", "activation_bwd");
    /// `shaders/nn/object_patch.wgsl`.
    pub static OBJECT_PATCH: ShaderFile = crate::wgsl_kernel!("nn", "object_patch");
    /// `shaders/nn/object_patch_bwd.wgsl`.
    pub static OBJECT_PATCH_BWD: ShaderFile = crate::wgsl_kernel!("nn", "object_patch_bwd");
    /// `shaders/nn/adam.wgsl`.
    pub static ADAM: ShaderFile = crate::wgsl_kernel!("nn", "adam");
    /// `shaders/nn/mse_grad.wgsl`.
    pub static MSE_GRAD: ShaderFile = crate::wgsl_kernel!("nn", "mse_grad");

    /// Every kernel of the module.
    pub static ALL: [&ShaderFile; 16] = [
        &CONV2D_FWD,
        &CONV2D_FWD_SUBGROUP,
        &CONV2D_BWD_WEIGHT,
        &CONV2D_BWD_WEIGHT_SUBGROUP,
        &GRAD_REDUCE,
        &MAXPOOL2X2_FWD,
        &MAXPOOL2X2_BWD,
        &UPSAMPLE2X_FWD,
        &UPSAMPLE2X_BWD,
        &PAD_CROP,
        &ACTIVATION_FWD,
        &ACTIVATION_BWD,
        &OBJECT_PATCH,
        &OBJECT_PATCH_BWD,
        &ADAM,
        &MSE_GRAD,
    ];

    /// The Rust twin of every kernel's params struct (checked against naga's layout).
    pub fn params_twins() -> Vec<ParamsTwin> {
        use super::*;
        vec![
            crate::params_twin!(
                CONV2D_FWD,
                "Params",
                ConvParams {
                    batch,
                    cin,
                    cout,
                    height,
                    width,
                    in_cstride,
                    out_cstride,
                    w_off,
                    b_off,
                    w_co,
                    w_ci,
                    flip,
                    act,
                    accumulate,
                    tiles_x,
                    tiles_y,
                    co_tiles
                }
            ),
            crate::params_twin!(
                CONV2D_FWD_SUBGROUP,
                "Params",
                ConvParams {
                    batch,
                    cin,
                    cout,
                    height,
                    width,
                    in_cstride,
                    out_cstride,
                    w_off,
                    b_off,
                    w_co,
                    w_ci,
                    flip,
                    act,
                    accumulate,
                    tiles_x,
                    tiles_y,
                    co_tiles
                }
            ),
            crate::params_twin!(
                CONV2D_BWD_WEIGHT,
                "Params",
                ConvWeightParams {
                    batch,
                    cin,
                    cout,
                    height,
                    width,
                    in_cstride,
                    dz_cstride,
                    tiles_x,
                    tiles_y,
                    co_tiles,
                    ci_tiles,
                    splits,
                    tiles_per_split
                }
            ),
            crate::params_twin!(
                CONV2D_BWD_WEIGHT_SUBGROUP,
                "Params",
                ConvWeightParams {
                    batch,
                    cin,
                    cout,
                    height,
                    width,
                    in_cstride,
                    dz_cstride,
                    tiles_x,
                    tiles_y,
                    co_tiles,
                    ci_tiles,
                    splits,
                    tiles_per_split
                }
            ),
            crate::params_twin!(
                GRAD_REDUCE,
                "Params",
                GradReduceParams {
                    len,
                    splits,
                    off,
                    accumulate
                }
            ),
            crate::params_twin!(
                MAXPOOL2X2_FWD,
                "Params",
                PoolParams {
                    planes,
                    height,
                    width,
                    gate
                }
            ),
            crate::params_twin!(
                MAXPOOL2X2_BWD,
                "Params",
                PoolParams {
                    planes,
                    height,
                    width,
                    gate
                }
            ),
            crate::params_twin!(
                UPSAMPLE2X_FWD,
                "Params",
                UpsampleParams {
                    planes,
                    height,
                    width,
                    gate
                }
            ),
            crate::params_twin!(
                UPSAMPLE2X_BWD,
                "Params",
                UpsampleParams {
                    planes,
                    height,
                    width,
                    gate
                }
            ),
            crate::params_twin!(
                PAD_CROP,
                "Params",
                PadCropParams {
                    planes,
                    in_h,
                    in_w,
                    out_h,
                    out_w,
                    oy,
                    ox
                }
            ),
            crate::params_twin!(ACTIVATION_FWD, "Params", ActParams { len, mode }),
            crate::params_twin!(ACTIVATION_BWD, "Params", ActParams { len, mode }),
            crate::params_twin!(OBJECT_PATCH, "Params", ObjectParams { planes, h, n, act }),
            crate::params_twin!(
                OBJECT_PATCH_BWD,
                "Params",
                ObjectParams { planes, h, n, act }
            ),
            crate::params_twin!(
                ADAM,
                "Params",
                AdamParams {
                    len,
                    alpha,
                    beta1,
                    beta2,
                    eps
                }
            ),
            crate::params_twin!(MSE_GRAD, "Params", MseParams { len, scale }),
        ]
    }
}

/// Sentinel meaning "no bias" in [`ConvParams::b_off`].
pub const NO_BIAS: u32 = u32::MAX;

/// Elementwise activation applied by a conv epilogue or the activation kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^−x)` (PtychoPINN's amplitude head).
    Sigmoid,
    /// `π·tanh(x)` (PtychoPINN's phase head).
    PiTanh,
}

impl Activation {
    /// The shader's mode code.
    pub fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::PiTanh => 3,
        }
    }
}

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

/// Params of the max-pool kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Input height.
    pub height: u32,
    /// Input width.
    pub width: u32,
    /// Backward: 1 multiplies by `[max > 0]`.
    pub gate: u32,
}

/// Params of the upsample kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct UpsampleParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Input height.
    pub height: u32,
    /// Input width.
    pub width: u32,
    /// Backward: 1 multiplies by `[input > 0]`.
    pub gate: u32,
}

/// Params of `shaders/nn/pad_crop.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PadCropParams {
    /// Planes.
    pub planes: u32,
    /// Input height.
    pub in_h: u32,
    /// Input width.
    pub in_w: u32,
    /// Output height.
    pub out_h: u32,
    /// Output width.
    pub out_w: u32,
    /// Row offset (out y = in y + oy).
    pub oy: i32,
    /// Column offset.
    pub ox: i32,
    /// Padding.
    pub _pad: u32,
}

/// Params of the activation kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActParams {
    /// Values.
    pub len: u32,
    /// [`Activation::code`].
    pub mode: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Params of the object-patch kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ObjectParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Head size (N/2).
    pub h: u32,
    /// Patch size N.
    pub n: u32,
    /// Backward: 1 applies the head activations' derivatives.
    pub act: u32,
}

/// Params of `shaders/nn/adam.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    /// Parameters.
    pub len: u32,
    /// Step size with bias correction folded in.
    pub alpha: f32,
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Params of `shaders/nn/mse_grad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MseParams {
    /// Values.
    pub len: u32,
    /// Gradient scale (1/len for a mean).
    pub scale: f32,
    /// Padding.
    pub _pad: [u32; 2],
}

fn check_len<T: bytemuck::Pod>(what: &str, buf: &GpuBuffer<T>, expected: usize) -> Result<()> {
    if buf.len() < expected {
        return Err(GpuError::BufferLength {
            what: what.to_string(),
            label: buf.label().to_string(),
            got: buf.len(),
            expected,
        });
    }
    Ok(())
}

fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| GpuError::InvalidArgument(format!("{what} = {v} exceeds u32")))
}

/// Workgroups for `n` invocations at `wg` per workgroup.
fn groups(engine: &Engine, n: usize, wg: usize) -> Result<[u32; 3]> {
    engine.grid((n as u64).div_ceil(wg as u64))
}

/// Elementwise kernels use this many invocations per workgroup.
const ELEM_WG: usize = 256;

/// Workgroups a weight-gradient dispatch aims for (reduction splits × channel tiles).
pub const WEIGHT_WORKGROUPS: usize = 128;

fn pow2_at_least(v: usize) -> usize {
    v.max(1).next_power_of_two()
}

/// Tile shape of `conv2d_fwd` (override constants), chosen per adapter and layer shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConvTiling {
    /// Tile height (multiple of 4).
    pub th: u32,
    /// Tile width (multiple of 4).
    pub tw: u32,
    /// Output channels per workgroup (multiple of 4).
    pub co_t: u32,
    /// Input channels staged per chunk.
    pub ci_t: u32,
}

impl ConvTiling {
    /// Picks the tile for `cin → cout` at `h × w`: 16×16 pixels (smaller for small images),
    /// enough 4-channel groups for about `target` invocations, and the largest input-channel
    /// chunk (≤ 16) whose workgroup memory fits the adapter.
    pub fn choose(engine: &Engine, cin: usize, cout: usize, h: usize, w: usize) -> ConvTiling {
        let lim = engine.limits();
        let target =
            if engine.is_cpu() { 64 } else { 128 }.min(lim.invocations_per_workgroup as usize);
        let th = pow2_at_least(h).clamp(4, 16);
        let tw = pow2_at_least(w).clamp(4, 16);
        let pb = (th / 4) * (tw / 4);
        let co_max = cout.div_ceil(4) * 4;
        let mut co_t = (4 * (target / pb).max(1)).min(co_max).max(4);
        while pb * co_t / 4 > lim.invocations_per_workgroup as usize && co_t > 4 {
            co_t -= 4;
        }
        let bytes = |ci: usize| 4 * ci * ((th + 2) * (tw + 2) + 9 * co_t);
        let mut ci_t = pow2_at_least(cin).min(16);
        while ci_t > 1 && bytes(ci_t) > lim.workgroup_storage_bytes as usize {
            ci_t /= 2;
        }
        ConvTiling {
            th: th as u32,
            tw: tw as u32,
            co_t: co_t as u32,
            ci_t: ci_t as u32,
        }
    }

    fn constants(&self) -> [(&'static str, f64); 4] {
        [
            ("TH", self.th as f64),
            ("TW", self.tw as f64),
            ("CO_T", self.co_t as f64),
            ("CI_T", self.ci_t as f64),
        ]
    }
}

/// Tile shape of `conv2d_bwd_weight`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WeightTiling {
    /// Pixel tile height.
    pub th: u32,
    /// Pixel tile width (multiple of 4).
    pub tw: u32,
    /// Output channels per workgroup (multiple of 4).
    pub co_t: u32,
    /// Input channels per workgroup.
    pub ci_t: u32,
    /// Row groups per (channel group, input channel).
    pub pr: u32,
}

impl WeightTiling {
    /// Picks the tile for `cin → cout` at `h × w` within the adapter's limits.
    pub fn choose(engine: &Engine, cin: usize, cout: usize, h: usize, w: usize) -> WeightTiling {
        let lim = engine.limits();
        let target =
            if engine.is_cpu() { 64 } else { 128 }.min(lim.invocations_per_workgroup as usize);
        let th = pow2_at_least(h).clamp(1, 8);
        let tw = pow2_at_least(w).clamp(4, 8);
        let mut co_t = cout.div_ceil(4).min(4) * 4;
        let mut ci_t = pow2_at_least(cin).min(16);
        let bytes = |co: usize, ci: usize, pr: usize| {
            4 * ci * (th + 2) * (tw + 2) + 4 * th * tw * co + 16 * 10 * (co / 4) * ci * pr
        };
        let mut pr;
        loop {
            let threads = (co_t / 4) * ci_t;
            pr = (target / threads).clamp(1, th);
            if (threads * pr <= lim.invocations_per_workgroup as usize
                && bytes(co_t, ci_t, pr) <= lim.workgroup_storage_bytes as usize)
                || (ci_t == 1 && co_t == 4)
            {
                break;
            }
            if ci_t > 1 {
                ci_t /= 2;
            } else {
                co_t -= 4;
            }
        }
        WeightTiling {
            th: th as u32,
            tw: tw as u32,
            co_t: co_t as u32,
            ci_t: ci_t as u32,
            pr: pr as u32,
        }
    }

    fn constants(&self) -> [(&'static str, f64); 5] {
        [
            ("TH", self.th as f64),
            ("TW", self.tw as f64),
            ("CO_T", self.co_t as f64),
            ("CI_T", self.ci_t as f64),
            ("PR", self.pr as f64),
        ]
    }
}

/// Which family of conv kernels a layer runs.
///
/// - [`ConvLayout::Tiled`]: `conv2d_fwd` / `conv2d_bwd_weight`, workgroup-memory tiles with
///   4×4-pixel × 4-channel register blocks ([`ConvTiling`], [`WeightTiling`]); runs anywhere.
/// - [`ConvLayout::Subgroup`]: `conv2d_fwd_subgroup` / `conv2d_bwd_weight_subgroup`, one
///   8-lane subgroup per 8×8-pixel × 16-channel tile with the input halo spread by
///   `subgroupBroadcast` ([`SubgroupTiling`]). Valid only where the device has
///   `Features::SUBGROUP` and every subgroup is exactly 8 lanes (min = max = 8), the width its
///   unrolled broadcasts are written for. It is lavapipe's fastest measured layout
///   (performance-notes.md); whether it pays on a GPU is unmeasured, so
///   [`ConvLayout::for_engine`] picks it automatically only on CPU adapters.
///
/// `PTYCHO_CONV_LAYOUT=tiled|subgroup|auto` (see [`ConvLayout::ENV`]) forces either; forcing
/// `subgroup` where it is not valid is an error, never a silent fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvLayout {
    /// Workgroup-memory tiles, register blocks (any adapter).
    Tiled,
    /// One 8-lane subgroup per tile, halo by broadcast (subgroup size exactly 8).
    Subgroup,
}

impl ConvLayout {
    /// Environment variable that forces a layout: `tiled`, `subgroup` or `auto` (the default).
    pub const ENV: &'static str = "PTYCHO_CONV_LAYOUT";

    /// Lanes the subgroup kernels are written for.
    pub const SUBGROUP_LANES: u32 = 8;

    /// Name as accepted by [`ConvLayout::ENV`].
    pub fn as_str(self) -> &'static str {
        match self {
            ConvLayout::Tiled => "tiled",
            ConvLayout::Subgroup => "subgroup",
        }
    }

    /// Whether `engine` can run [`ConvLayout::Subgroup`]: subgroup operations enabled and every
    /// subgroup exactly [`Self::SUBGROUP_LANES`] wide.
    pub fn subgroup_valid(engine: &Engine) -> bool {
        let l = engine.limits();
        engine.has_subgroups()
            && l.subgroup_min_size == Self::SUBGROUP_LANES
            && l.subgroup_max_size == Self::SUBGROUP_LANES
    }

    /// The layouts `engine` can run (tests and benches run each).
    pub fn available(engine: &Engine) -> Vec<ConvLayout> {
        let mut v = vec![ConvLayout::Tiled];
        if Self::subgroup_valid(engine) {
            v.push(ConvLayout::Subgroup);
        }
        v
    }

    /// The automatic choice: [`ConvLayout::Subgroup`] where valid on a CPU adapter (where it was
    /// measured fastest), [`ConvLayout::Tiled`] otherwise.
    pub fn auto(engine: &Engine) -> ConvLayout {
        if engine.is_cpu() && Self::subgroup_valid(engine) {
            ConvLayout::Subgroup
        } else {
            ConvLayout::Tiled
        }
    }

    /// Resolves a requested layout (`None` or `"auto"`: [`ConvLayout::auto`]); fails for an
    /// unknown name or a subgroup layout the adapter cannot run.
    pub fn resolve(engine: &Engine, requested: Option<&str>) -> Result<ConvLayout> {
        let layout = match requested.map(str::trim) {
            None | Some("") | Some("auto") => return Ok(Self::auto(engine)),
            Some("tiled") => ConvLayout::Tiled,
            Some("subgroup") => ConvLayout::Subgroup,
            Some(other) => {
                return Err(GpuError::InvalidArgument(format!(
                    "conv layout '{other}': expected tiled, subgroup or auto"
                )));
            }
        };
        layout.check(engine)?;
        Ok(layout)
    }

    /// The layout for `engine`: [`ConvLayout::ENV`] if set, else [`ConvLayout::auto`].
    pub fn for_engine(engine: &Engine) -> Result<ConvLayout> {
        Self::resolve(engine, std::env::var(Self::ENV).ok().as_deref())
    }

    /// Fails if `engine` cannot run this layout.
    pub fn check(self, engine: &Engine) -> Result<()> {
        if self == ConvLayout::Subgroup && !Self::subgroup_valid(engine) {
            let l = engine.limits();
            return Err(GpuError::InvalidArgument(format!(
                "conv layout 'subgroup' needs subgroup operations with exactly {} lanes; {} has \
                 subgroups {}, sizes {}–{}",
                Self::SUBGROUP_LANES,
                engine.describe(),
                if engine.has_subgroups() { "on" } else { "off" },
                l.subgroup_min_size,
                l.subgroup_max_size
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for ConvLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tile shape of the subgroup conv kernels (override constants). The pixel tile (8×8) and the
/// 16 output channels per workgroup are fixed by the kernels' unrolled code; what varies is the
/// lane count they were checked against and, for the weight gradient, the input channels per
/// workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubgroupTiling {
    /// Lanes per workgroup = the subgroup size (always [`ConvLayout::SUBGROUP_LANES`]).
    pub sg: u32,
    /// Weight gradient: input channels per workgroup (1 … 7).
    pub ci_t: u32,
}

impl SubgroupTiling {
    /// Pixel tile side.
    pub const TILE: u32 = 8;
    /// Output channels per workgroup (two per lane).
    pub const CO_T: u32 = 16;
    /// Most input channels one weight-gradient workgroup accumulates (2·9·7 = 126 accumulators
    /// per lane; more would spill).
    pub const CI_MAX: u32 = 7;

    /// Input-channel tiles the weight gradient is compiled for. Each is its own pipeline, and
    /// on lavapipe the 7-channel one takes ≈ 7 s to compile on first use (cached on disk by
    /// Mesa afterwards), so the set is small. A tile wider than the channels it gets costs no
    /// arithmetic (empty slots are skipped), but a wide kernel running few channels is slower
    /// (measured: 7-slot kernel on 1 channel ≈ 1.8× slower than the 1-slot one).
    pub const CI_VARIANTS: [u32; 4] = [1, 2, 4, 7];

    /// Picks the weight-gradient input-channel tile for `cin` input channels: the smallest of
    /// [`Self::CI_VARIANTS`] that holds them all, else [`Self::CI_MAX`] (the fewest
    /// workgroups; the last input-channel tile may be partly empty).
    pub fn choose(cin: usize) -> SubgroupTiling {
        let ci_t = Self::CI_VARIANTS
            .into_iter()
            .find(|&v| v as usize >= cin)
            .unwrap_or(Self::CI_MAX);
        SubgroupTiling {
            sg: ConvLayout::SUBGROUP_LANES,
            ci_t,
        }
    }

    fn fwd_constants(&self) -> [(&'static str, f64); 1] {
        [("SG", self.sg as f64)]
    }

    fn weight_constants(&self) -> [(&'static str, f64); 2] {
        [("SG", self.sg as f64), ("CI_T", self.ci_t as f64)]
    }
}

/// The tiling of one conv pass, whichever layout it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PassTiling {
    /// `conv2d_fwd` (forward or input gradient).
    Tiled(ConvTiling),
    /// `conv2d_bwd_weight`.
    TiledWeight(WeightTiling),
    /// `conv2d_fwd_subgroup` or `conv2d_bwd_weight_subgroup`.
    Subgroup(SubgroupTiling),
}

impl PassTiling {
    /// `(tile height, tile width, output channels, input channels)` per workgroup.
    pub fn shape(&self) -> (u32, u32, u32, u32) {
        match *self {
            PassTiling::Tiled(t) => (t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::TiledWeight(t) => (t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::Subgroup(t) => (
                SubgroupTiling::TILE,
                SubgroupTiling::TILE,
                SubgroupTiling::CO_T,
                t.ci_t,
            ),
        }
    }
}

impl std::fmt::Display for PassTiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PassTiling::Tiled(t) => write!(f, "tiled {}x{}x{} ci{}", t.th, t.tw, t.co_t, t.ci_t),
            PassTiling::TiledWeight(t) => {
                write!(
                    f,
                    "tiled {}x{}x{} ci{} pr{}",
                    t.th, t.tw, t.co_t, t.ci_t, t.pr
                )
            }
            PassTiling::Subgroup(t) => write!(f, "subgroup{} 8x8x16 ci{}", t.sg, t.ci_t),
        }
    }
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
}

impl Conv2d {
    /// Builds the pipelines in the adapter's layout ([`ConvLayout::for_engine`]) with tilings
    /// chosen for this adapter.
    pub fn new(engine: &Engine, spec: ConvSpec) -> Result<Conv2d> {
        Self::with_layout(engine, spec, ConvLayout::for_engine(engine)?)
    }

    /// Builds the pipelines in `layout` (an error if the adapter cannot run it).
    pub fn with_layout(engine: &Engine, spec: ConvSpec, layout: ConvLayout) -> Result<Conv2d> {
        if spec.cin == 0 || spec.cout == 0 || spec.height == 0 || spec.width == 0 {
            return Err(GpuError::InvalidArgument(format!(
                "conv2d: empty shape {}→{} at {}×{}",
                spec.cin, spec.cout, spec.height, spec.width
            )));
        }
        if spec.in_cstride < spec.cin {
            return Err(GpuError::InvalidArgument(format!(
                "conv2d: input channel stride {} < cin {}",
                spec.in_cstride, spec.cin
            )));
        }
        layout.check(engine)?;
        let reduce = engine.kernel(&kernels::GRAD_REDUCE, &[("WG", ELEM_WG as f64)])?;
        match layout {
            ConvLayout::Tiled => {
                let (h, w) = (spec.height, spec.width);
                let ft = ConvTiling::choose(engine, spec.cin, spec.cout, h, w);
                let bt = ConvTiling::choose(engine, spec.cout, spec.in_cstride, h, w);
                let wt = WeightTiling::choose(engine, spec.cin, spec.cout, h, w);
                Ok(Conv2d {
                    spec,
                    layout,
                    fwd: engine.kernel(&kernels::CONV2D_FWD, &ft.constants())?,
                    fwd_tiling: PassTiling::Tiled(ft),
                    bwd_in: engine.kernel(&kernels::CONV2D_FWD, &bt.constants())?,
                    bwd_in_tiling: PassTiling::Tiled(bt),
                    bwd_w: engine.kernel(&kernels::CONV2D_BWD_WEIGHT, &wt.constants())?,
                    bwd_w_tiling: PassTiling::TiledWeight(wt),
                    reduce,
                })
            }
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
                let wt = SubgroupTiling::choose(spec.cin);
                let fwd = engine.kernel(&kernels::CONV2D_FWD_SUBGROUP, &ft.fwd_constants())?;
                Ok(Conv2d {
                    spec,
                    layout,
                    bwd_in: fwd.clone(),
                    fwd,
                    fwd_tiling: PassTiling::Subgroup(ft),
                    bwd_in_tiling: PassTiling::Subgroup(bt),
                    bwd_w: engine
                        .kernel(&kernels::CONV2D_BWD_WEIGHT_SUBGROUP, &wt.weight_constants())?,
                    bwd_w_tiling: PassTiling::Subgroup(wt),
                    reduce,
                })
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
    ) -> Result<()> {
        let s = &self.spec;
        p.height = s.height as u32;
        p.width = s.width as u32;
        p.w_co = s.cout as u32;
        p.w_ci = s.cin as u32;
        let (th, tw, co_t, _) = t.shape();
        p.tiles_x = s.width.div_ceil(tw as usize) as u32;
        p.tiles_y = s.height.div_ceil(th as usize) as u32;
        p.co_tiles = (p.cout as usize).div_ceil(co_t as usize) as u32;
        let n = p.tiles_x as u64 * p.tiles_y as u64 * p.co_tiles as u64 * p.batch as u64;
        let grid = engine.grid(n)?;
        // The subgroup kernel views gate and out as vec4s: pad their bindings to whole vec4s.
        let (gate_b, out_b) = match t {
            PassTiling::Subgroup(_) => (gate.binding().padded(16), out.binding().padded(16)),
            _ => (gate.binding(), out.binding()),
        };
        rec.dispatch(
            kernel,
            &p,
            &[x.binding(), weights.binding(), gate_b, out_b],
            grid,
        );
        Ok(())
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
        let s = &self.spec;
        check_len("conv2d input", x, batch * s.in_cstride * self.plane())?;
        check_len("conv2d output", out, batch * s.cout * self.plane())?;
        check_len("conv2d parameters", weights, s.w_off + s.param_count())?;
        let p = ConvParams {
            batch: u32_of("batch", batch)?,
            cin: s.cin as u32,
            cout: s.cout as u32,
            in_cstride: s.in_cstride as u32,
            out_cstride: s.cout as u32,
            w_off: u32_of("weight offset", s.w_off)?,
            b_off: u32_of("bias offset", s.b_off())?,
            act: s.act.code(),
            ..Default::default()
        };
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
        )
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
        check_len("conv2d output gradient", dz, batch * s.cout * self.plane())?;
        check_len(
            "conv2d input gradient",
            dx,
            batch * s.in_cstride * self.plane(),
        )?;
        check_len("conv2d parameters", weights, s.w_off + s.param_count())?;
        if let Some(g) = gate {
            check_len("conv2d gate", g, batch * s.in_cstride * self.plane())?;
        }
        let p = ConvParams {
            batch: u32_of("batch", batch)?,
            cin: s.cout as u32,
            cout: s.in_cstride as u32,
            in_cstride: s.cout as u32,
            out_cstride: s.in_cstride as u32,
            w_off: u32_of("weight offset", s.w_off)?,
            b_off: NO_BIAS,
            flip: 1,
            act: if gate.is_some() { 4 } else { 0 },
            accumulate: accumulate as u32,
            ..Default::default()
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
    pub fn backward_params(
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
        check_len("conv2d input", x, batch * s.in_cstride * self.plane())?;
        check_len("conv2d output gradient", dz, batch * s.cout * self.plane())?;
        let (splits, per, plen) = self.weight_splits(batch);
        check_len("conv2d gradient partials", partials, plen)?;
        check_len("conv2d gradients", grads, s.w_off + s.param_count())?;
        let p = ConvWeightParams {
            batch: u32_of("batch", batch)?,
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
        // The subgroup kernel views dz as vec4s: pad its binding to whole vec4s.
        let dz_binding = match self.layout {
            ConvLayout::Tiled => dz.binding(),
            ConvLayout::Subgroup => dz.binding().padded(16),
        };
        rec.dispatch(
            &self.bwd_w,
            &p,
            &[x.binding(), dz_binding, partials.binding()],
            engine.grid(n)?,
        );
        let len = s.param_count();
        let rp = GradReduceParams {
            len: len as u32,
            splits: splits as u32,
            off: u32_of("gradient offset", s.w_off)?,
            accumulate: accumulate as u32,
        };
        rec.dispatch(
            &self.reduce,
            &rp,
            &[partials.binding(), grads.binding()],
            groups(engine, len, ELEM_WG)?,
        );
        Ok(())
    }
}

/// 2×2 max pooling (forward and backward).
#[derive(Clone, Debug)]
pub struct MaxPool2x2 {
    fwd: Kernel,
    bwd: Kernel,
}

impl MaxPool2x2 {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(MaxPool2x2 {
            fwd: engine.kernel(&kernels::MAXPOOL2X2_FWD, &c)?,
            bwd: engine.kernel(&kernels::MAXPOOL2X2_BWD, &c)?,
        })
    }

    fn params(planes: usize, h: usize, w: usize, gate: bool) -> Result<PoolParams> {
        if h % 2 != 0 || w % 2 != 0 {
            return Err(GpuError::InvalidArgument(format!(
                "maxpool2x2: input {h}×{w} is not even"
            )));
        }
        Ok(PoolParams {
            planes: u32_of("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: gate as u32,
        })
    }

    /// Records `out = maxpool(x)` over `planes` planes of `h × w` (even).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<()> {
        let p = Self::params(planes, h, w, false)?;
        check_len("maxpool input", x, planes * h * w)?;
        check_len("maxpool output", out, planes * h * w / 4)?;
        rec.dispatch(
            &self.fwd,
            &p,
            &[x.binding(), out.binding()],
            groups(engine, planes * h * w / 4, ELEM_WG)?,
        );
        Ok(())
    }

    /// Records `dx` from the pooled gradient `dy`; `gate` fuses `· [x > 0]`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        dy: &GpuBuffer<f32>,
        dx: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
        gate: bool,
    ) -> Result<()> {
        let p = Self::params(planes, h, w, gate)?;
        check_len("maxpool input", x, planes * h * w)?;
        check_len("maxpool output gradient", dy, planes * h * w / 4)?;
        check_len("maxpool input gradient", dx, planes * h * w)?;
        rec.dispatch(
            &self.bwd,
            &p,
            &[x.binding(), dy.binding(), dx.binding()],
            groups(engine, planes * h * w / 4, ELEM_WG)?,
        );
        Ok(())
    }
}

/// 2× nearest-neighbour upsampling (forward and backward).
#[derive(Clone, Debug)]
pub struct Upsample2x {
    fwd: Kernel,
    bwd: Kernel,
}

impl Upsample2x {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(Upsample2x {
            fwd: engine.kernel(&kernels::UPSAMPLE2X_FWD, &c)?,
            bwd: engine.kernel(&kernels::UPSAMPLE2X_BWD, &c)?,
        })
    }

    /// Records `out = upsample(x)` for `planes` planes of `h × w` (output `2h × 2w`).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<()> {
        check_len("upsample input", x, planes * h * w)?;
        check_len("upsample output", out, planes * h * w * 4)?;
        let p = UpsampleParams {
            planes: u32_of("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: 0,
        };
        rec.dispatch(
            &self.fwd,
            &p,
            &[x.binding(), out.binding()],
            groups(engine, planes * h * w * 4, ELEM_WG)?,
        );
        Ok(())
    }

    /// Records `dx` (`h × w`) from `dout` (`2h × 2w`); `gate` fuses `· [x > 0]`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        dx: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
        gate: bool,
    ) -> Result<()> {
        check_len("upsample input", x, planes * h * w)?;
        check_len("upsample output gradient", dout, planes * h * w * 4)?;
        check_len("upsample input gradient", dx, planes * h * w)?;
        let p = UpsampleParams {
            planes: u32_of("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: gate as u32,
        };
        rec.dispatch(
            &self.bwd,
            &p,
            &[x.binding(), dout.binding(), dx.binding()],
            groups(engine, planes * h * w, ELEM_WG)?,
        );
        Ok(())
    }
}

/// Zero-pad / centre-crop by a signed offset (each is the other's backward).
#[derive(Clone, Debug)]
pub struct PadCrop {
    kernel: Kernel,
}

impl PadCrop {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(PadCrop {
            kernel: engine.kernel(&kernels::PAD_CROP, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records `out[p, y, x] = x[p, y − off, x − off]` (0 outside) from `in_hw²` to `out_hw²`
    /// planes: `off = (out − in)/2`, positive to pad, negative to crop.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        planes: usize,
        in_hw: usize,
        out_hw: usize,
    ) -> Result<()> {
        if (in_hw + out_hw) % 2 != 0 {
            return Err(GpuError::InvalidArgument(format!(
                "pad_crop: {in_hw} → {out_hw} is not a centred change"
            )));
        }
        check_len("pad_crop input", x, planes * in_hw * in_hw)?;
        check_len("pad_crop output", out, planes * out_hw * out_hw)?;
        let off = (out_hw as i32 - in_hw as i32) / 2;
        let p = PadCropParams {
            planes: u32_of("planes", planes)?,
            in_h: in_hw as u32,
            in_w: in_hw as u32,
            out_h: out_hw as u32,
            out_w: out_hw as u32,
            oy: off,
            ox: off,
            _pad: 0,
        };
        rec.dispatch(
            &self.kernel,
            &p,
            &[x.binding(), out.binding()],
            groups(engine, planes * out_hw * out_hw, ELEM_WG)?,
        );
        Ok(())
    }
}

/// Standalone activation forward/backward.
#[derive(Clone, Debug)]
pub struct ActivationOp {
    fwd: Kernel,
    bwd: Kernel,
}

impl ActivationOp {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(ActivationOp {
            fwd: engine.kernel(&kernels::ACTIVATION_FWD, &c)?,
            bwd: engine.kernel(&kernels::ACTIVATION_BWD, &c)?,
        })
    }

    /// Records `y = act(x)`.
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        act: Activation,
        x: &GpuBuffer<f32>,
        y: &GpuBuffer<f32>,
    ) -> Result<()> {
        check_len("activation output", y, x.len())?;
        let p = ActParams {
            len: u32_of("len", x.len())?,
            mode: act.code(),
            _pad: [0; 2],
        };
        rec.dispatch(
            &self.fwd,
            &p,
            &[x.binding(), y.binding()],
            groups(engine, x.len(), ELEM_WG)?,
        );
        Ok(())
    }

    /// Records `dz = dy · act'(z)` from the saved output `y = act(z)`.
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        act: Activation,
        y: &GpuBuffer<f32>,
        dy: &GpuBuffer<f32>,
        dz: &GpuBuffer<f32>,
    ) -> Result<()> {
        check_len("activation gradient", dy, y.len())?;
        check_len("activation input gradient", dz, y.len())?;
        let p = ActParams {
            len: u32_of("len", y.len())?,
            mode: act.code(),
            _pad: [0; 2],
        };
        rec.dispatch(
            &self.bwd,
            &p,
            &[y.binding(), dy.binding(), dz.binding()],
            groups(engine, y.len(), ELEM_WG)?,
        );
        Ok(())
    }
}

/// The complex object patch `O = A·e^{iφ}` with the N/4 zero border, and its backward.
#[derive(Clone, Debug)]
pub struct ObjectPatch {
    fwd: Kernel,
    bwd: Kernel,
}

impl ObjectPatch {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(ObjectPatch {
            fwd: engine.kernel(&kernels::OBJECT_PATCH, &c)?,
            bwd: engine.kernel(&kernels::OBJECT_PATCH_BWD, &c)?,
        })
    }

    /// Records `obj` (`planes × n × n` complex) from the heads `amp`, `phase` (`planes × h × h`).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        amp: &GpuBuffer<f32>,
        phase: &GpuBuffer<f32>,
        obj: &GpuBuffer<Complex32>,
        planes: usize,
        h: usize,
        n: usize,
    ) -> Result<()> {
        check_len("object amplitude", amp, planes * h * h)?;
        check_len("object phase", phase, planes * h * h)?;
        check_len("object patch", obj, planes * n * n)?;
        let p = ObjectParams {
            planes: u32_of("planes", planes)?,
            h: h as u32,
            n: n as u32,
            act: 0,
        };
        rec.dispatch(
            &self.fwd,
            &p,
            &[amp.binding(), phase.binding(), obj.binding()],
            groups(engine, planes * n * n, ELEM_WG)?,
        );
        Ok(())
    }

    /// Records `(damp, dphase)` (`planes × h × h`) from `dobj` (conjugate-Wirtinger gradient,
    /// `planes × n × n`). With `through_heads` the sigmoid and π·tanh derivatives are applied,
    /// giving the gradients of the final convs' pre-activations.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        amp: &GpuBuffer<f32>,
        phase: &GpuBuffer<f32>,
        dobj: &GpuBuffer<Complex32>,
        damp: &GpuBuffer<f32>,
        dphase: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        n: usize,
        through_heads: bool,
    ) -> Result<()> {
        check_len("object amplitude", amp, planes * h * h)?;
        check_len("object phase", phase, planes * h * h)?;
        check_len("object patch gradient", dobj, planes * n * n)?;
        check_len("amplitude gradient", damp, planes * h * h)?;
        check_len("phase gradient", dphase, planes * h * h)?;
        let p = ObjectParams {
            planes: u32_of("planes", planes)?,
            h: h as u32,
            n: n as u32,
            act: through_heads as u32,
        };
        rec.dispatch(
            &self.bwd,
            &p,
            &[
                amp.binding(),
                phase.binding(),
                dobj.binding(),
                damp.binding(),
                dphase.binding(),
            ],
            groups(engine, planes * h * h, ELEM_WG)?,
        );
        Ok(())
    }
}

/// Adam hyper-parameters (TensorFlow defaults but ε = 1e-7 as PtychoPINN).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε (added to √v, outside the bias correction, as in TF/Keras).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
}

impl AdamConfig {
    /// Step size of step `t` (1-based) with the bias correction folded in.
    pub fn alpha(&self, t: u64) -> f64 {
        let t = t.max(1) as i32;
        self.lr * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t))
    }
}

/// The Adam update over a flat parameter buffer.
#[derive(Clone, Debug)]
pub struct Adam {
    kernel: Kernel,
}

impl Adam {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(Adam {
            kernel: engine.kernel(&kernels::ADAM, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records step `t` (1-based) of Adam on `theta` with moments `m`, `v`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        cfg: &AdamConfig,
        t: u64,
        grad: &GpuBuffer<f32>,
        theta: &GpuBuffer<f32>,
        m: &GpuBuffer<f32>,
        v: &GpuBuffer<f32>,
    ) -> Result<()> {
        let len = theta.len();
        check_len("adam gradient", grad, len)?;
        check_len("adam first moment", m, len)?;
        check_len("adam second moment", v, len)?;
        let p = AdamParams {
            len: u32_of("parameters", len)?,
            alpha: cfg.alpha(t) as f32,
            beta1: cfg.beta1 as f32,
            beta2: cfg.beta2 as f32,
            eps: cfg.eps as f32,
            _pad: [0; 3],
        };
        rec.dispatch(
            &self.kernel,
            &p,
            &[grad.binding(), theta.binding(), m.binding(), v.binding()],
            groups(engine, len, ELEM_WG)?,
        );
        Ok(())
    }
}

/// Squared error and its gradient (for regression losses).
#[derive(Clone, Debug)]
pub struct MseGrad {
    kernel: Kernel,
}

impl MseGrad {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(MseGrad {
            kernel: engine.kernel(&kernels::MSE_GRAD, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records `sq = (a − t)²` and `grad = 2·scale·(a − t)`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        a: &GpuBuffer<f32>,
        target: &GpuBuffer<f32>,
        sq: &GpuBuffer<f32>,
        grad: &GpuBuffer<f32>,
        scale: f32,
    ) -> Result<()> {
        let len = a.len();
        check_len("mse target", target, len)?;
        check_len("mse squares", sq, len)?;
        check_len("mse gradient", grad, len)?;
        let p = MseParams {
            len: u32_of("len", len)?,
            scale,
            _pad: [0; 2],
        };
        rec.dispatch(
            &self.kernel,
            &p,
            &[a.binding(), target.binding(), sq.binding(), grad.binding()],
            groups(engine, len, ELEM_WG)?,
        );
        Ok(())
    }
}
