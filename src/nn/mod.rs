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
//!   adapter (`execution.conv_layout` forces either).
//!
//! Every kernel has a CPU twin in [`cpu`] (f64).

pub mod activation;
pub mod adam;
pub mod conv;
pub mod cpu;
pub mod mse_grad;
pub mod object_patch;
pub mod pad_crop;
pub mod pool;
pub mod upsample;

pub use activation::{ActParams, ActivationOp};
pub use adam::{Adam, AdamConfig, AdamParams};
pub use conv::{
    Conv2d, ConvLayout, ConvLayoutChoice, ConvParams, ConvSpec, ConvTiling, ConvWeightParams,
    GradReduceParams, NO_BIAS, PassTiling, SubgroupTiling, WEIGHT_WORKGROUPS, WeightTiling,
};
pub use mse_grad::{MseGrad, MseParams};
pub use object_patch::{ObjectParams, ObjectPatch};
pub use pad_crop::{PadCrop, PadCropParams};
pub use pool::{MaxPool2x2, PoolParams};
pub use upsample::{Upsample2x, UpsampleParams};

use thiserror::Error;

use crate::gpu::GpuError;

/// Errors of the network kernels: an argument out of range (shape, layout), or the GPU's.
#[derive(Debug, Error)]
pub enum NnError {
    /// A shape or choice the kernels cannot run (named with its value).
    #[error("{0}")]
    InvalidArgument(String),
    /// A GPU failure (allocation, pipeline, buffer length, device).
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl NnError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> std::result::Result<GpuError, Self> {
        match self {
            NnError::Gpu(g) => Ok(g),
            other => Err(other),
        }
    }
}

/// Result alias of the nn layer.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Elementwise kernels use this many invocations per workgroup.
const ELEM_WG: usize = 256;

/// The conv epilogue's code for "keep the value where the gate tensor is > 0" (the ReLU' of
/// the layer that produced the conv input, fused into the input gradient); codes 0–3 are
/// [`Activation::code`]. `shaders/shared/math.wgsl` documents the same numbers.
pub const GATE: u32 = 4;

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
                "ConvParams",
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
                "ConvParams",
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
                "ConvWeightParams",
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
                "ConvWeightParams",
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
