//! The physics of PtychoPINN's forward model on the GPU (see docs/numerics.md):
//! for gridsize 2 the object_big merge of a group's patches and the re-extraction of each member
//! (bilinear sub-pixel translation), exit wave ψ = P·O, far field F = fftshift(FFT₂(ψ))/N
//! (orthonormal, DC at (N/2, N/2)), predicted amplitude Â = |F|, and the loss against measured
//! amplitudes — with the backward pass to the complex object patches (and the probe).
//!
//! Gradients of the real loss with respect to complex values use the conjugate-Wirtinger
//! convention `grad z = ∂L/∂Re z + i·∂L/∂Im z`; a complex-linear map `y = A z` back-propagates
//! as `grad z = Aᴴ grad y`, so every backward kernel is the exact adjoint of its forward kernel.

pub mod cpu;
pub mod extract;
pub mod loss;
pub mod merge;
pub mod probe;
pub mod translate;

pub use extract::{ExtractParams, ExtractPatches};
pub use loss::{
    AmpLoss, AmpLossParams, FarFieldModel, Grouping, ModeParams, ProbeGrad, ProbeGradParams,
    ProbeModes,
};
pub use merge::{MergeGeometry, MergeParams, MergePatches, canvas_side};
pub use translate::{Translate, TranslateGeometry, TranslateParams};

use thiserror::Error;

use crate::fft::FftError;
use crate::gpu::GpuError;

/// Errors of the physics layer: an argument the model cannot take (named with its value), or
/// an FFT or GPU failure underneath (kept as the cause).
#[derive(Debug, Error)]
pub enum PhysicsError {
    /// A shape, offset or probe the kernels cannot take.
    #[error("{0}")]
    InvalidArgument(String),
    /// The FFT plan failed.
    #[error(transparent)]
    Fft(#[from] FftError),
    /// A GPU failure (allocation, buffer length, binding limit, device).
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl PhysicsError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> std::result::Result<GpuError, Self> {
        match self {
            PhysicsError::Gpu(g) => Ok(g),
            PhysicsError::Fft(f) => f.into_gpu().map_err(PhysicsError::Fft),
            other => Err(other),
        }
    }
}

/// Result alias of the physics layer.
pub type Result<T, E = PhysicsError> = std::result::Result<T, E>;

pub mod kernels;
