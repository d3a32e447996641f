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
    Conv2d, ConvLayout, ConvLayoutChoice, ConvPackParams, ConvParams, ConvSpec, ConvTiling,
    ConvWeightParams, GradReduceParams, NO_BIAS, PackedPass, PassTiling, SubgroupTiling,
    WEIGHT_WORKGROUPS, WeightTiling,
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

pub mod kernels;

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
