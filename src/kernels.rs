//! Every kernel of every domain, assembled above the domains: the list naga validates in
//! `cargo test`, the params structs whose layout is checked against their WGSL twins, and the
//! lookup by name that benches and tests use. The engine itself knows no kernel by name.

use crate::gpu::GpuError;
use crate::gpu::shaders::{ParamsTwin, ShaderFile};

/// Every compute kernel, domain by domain.
pub fn all() -> Vec<&'static ShaderFile> {
    [
        &crate::linalg::kernels::ALL[..],
        &crate::fft::kernels::ALL[..],
        &crate::physics::kernels::ALL[..],
        &crate::nn::kernels::ALL[..],
    ]
    .concat()
}

/// The `#import`-only helpers (`shaders/shared/`).
pub fn shared() -> &'static [ShaderFile] {
    &crate::wgsl::SHARED
}

/// The kernel called `name` (its file stem).
pub fn kernel(name: &str) -> Result<&'static ShaderFile, GpuError> {
    all()
        .into_iter()
        .find(|k| k.name == name)
        .ok_or_else(|| GpuError::UnknownKernel(name.to_string()))
}

/// The Rust twin of every kernel's params struct.
pub fn params_twins() -> Vec<ParamsTwin> {
    [
        crate::linalg::kernels::params_twins(),
        crate::fft::kernels::params_twins(),
        crate::physics::kernels::params_twins(),
        crate::nn::kernels::params_twins(),
    ]
    .concat()
}
