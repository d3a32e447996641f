//! ptycho: PtychoPINN's physics-informed ptychographic reconstruction on hand-written WGSL
//! compute shaders run through wgpu (Vulkan, Metal, DX12, GL or a CPU fallback adapter).
//!
//! Conventions used throughout the crate:
//! - Complex data are `Complex32`, stored interleaved (re, im) — `vec2<f32>` in WGSL.
//! - Real tensors are NCHW f32, row-major (x = column fastest).
//! - Positions and offsets are ordered (x, y) in object pixels: x = column, y = row.
//! - Every WGSL kernel has a CPU twin in its module's `cpu.rs`, used as the oracle in tests and
//!   never as a silent substitute for the shader.
//!
//! Layers, each importing only those below it (docs/ARCHITECTURE.md; `tests/layers.rs` checks
//! it): [`cli`] → [`workflow`] → [`config`], [`kernels`] → the domains ([`model`],
//! [`simulate`], [`physics`], [`nn`], [`fft`], [`linalg`], [`data`], [`eval`], [`stitch`],
//! with their WGSL in [`wgsl`]) → [`gpu`], the only module that calls wgpu, and [`util`].

#![allow(
    clippy::neg_cmp_op_on_partial_ord,
    reason = "`!(x > 0.0)` is how the validators reject NaN along with out-of-range values"
)]

pub mod cli;
pub mod config;
pub mod data;
pub mod dist;
pub mod eval;
pub mod fft;
pub mod gpu;
pub mod kernels;
pub mod linalg;
pub mod model;
pub mod nn;
pub mod physics;
pub mod simulate;
pub mod stitch;
pub mod util;
pub mod wgsl;
pub mod workflow;
