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
pub mod translate;

pub use extract::{ExtractParams, ExtractPatches};
pub use loss::{AmpLoss, AmpLossParams, FarFieldModel, Grouping, ProbeGrad, ProbeGradParams};
pub use merge::{MergeGeometry, MergeParams, MergePatches, canvas_side};
pub use translate::{Translate, TranslateGeometry, TranslateParams};

use crate::gpu::{Engine, GpuBuffer, GpuError, Result};

/// Fails unless `b` holds exactly `expected` elements.
pub(crate) fn check_len<T: bytemuck::Pod>(
    what: &str,
    b: &GpuBuffer<T>,
    expected: usize,
) -> Result<()> {
    if b.len() != expected {
        return Err(GpuError::BufferLength {
            what: what.to_string(),
            label: b.label().to_string(),
            got: b.len(),
            expected,
        });
    }
    Ok(())
}

/// Fails when a buffer is larger than one storage binding (these kernels do not chunk; callers
/// split their batches).
pub(crate) fn check_binding<T: bytemuck::Pod>(engine: &Engine, b: &GpuBuffer<T>) -> Result<()> {
    let limit = engine.limits().storage_binding_bytes;
    if b.bytes() > limit {
        return Err(GpuError::AllocationTooLarge {
            label: b.label().to_string(),
            bytes: b.bytes(),
            limit_name: "max_storage_buffer_binding_size (split the batch)",
            limit,
        });
    }
    Ok(())
}

/// `v` as u32, or an error naming it.
pub(crate) fn as_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| GpuError::InvalidArgument(format!("{what} = {v} does not fit in 32 bits")))
}
