//! The physics of PtychoPINN's forward model on the GPU (see docs/numerics.md):
//! exit wave ψ = P·O, far field F = fftshift(FFT₂(ψ))/N (orthonormal, DC at (N/2, N/2)),
//! predicted amplitude Â = |F|, and the loss against measured amplitudes — with the backward
//! pass to the complex object patch.

pub mod cpu;
pub mod extract;
pub mod loss;

pub use extract::{ExtractParams, ExtractPatches};
pub use loss::{AmpLoss, AmpLossParams, FarFieldModel};
