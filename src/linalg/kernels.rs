//! The WGSL kernels of this module (`shaders/linalg/`) and the Rust twins of their params.

use crate::gpu::shaders::{ParamsTwin, ShaderFile};

/// `shaders/linalg/cmul.wgsl`.
pub static CMUL: ShaderFile = crate::wgsl_kernel!("linalg", "cmul");
/// `shaders/linalg/reduce_sum.wgsl`.
pub static REDUCE_SUM: ShaderFile = crate::wgsl_kernel!("linalg", "reduce_sum");
/// `shaders/linalg/axpy.wgsl`.
pub static AXPY: ShaderFile = crate::wgsl_kernel!("linalg", "axpy");

/// Every kernel of the module.
pub static ALL: [&ShaderFile; 3] = [&CMUL, &REDUCE_SUM, &AXPY];

/// The Rust twin of every kernel's params struct (checked against naga's layout).
pub fn params_twins() -> Vec<ParamsTwin> {
    use super::*;
    vec![
        crate::params_twin!(
            CMUL,
            "Params",
            CmulParams {
                frame,
                frames,
                b_frames,
                conj_b
            }
        ),
        crate::params_twin!(
            REDUCE_SUM,
            "Params",
            ReduceParams {
                n,
                chunks,
                g0,
                g_count,
                win
            }
        ),
        crate::params_twin!(AXPY, "Params", AxpyParams { count, alpha, beta }),
    ]
}
