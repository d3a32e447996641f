//! The WGSL kernels of this module (`shaders/fft/`) and the Rust twins of their params.

use crate::gpu::shaders::{ParamsTwin, ShaderFile};

/// `shaders/fft/fft_lines.wgsl`.
pub static FFT_LINES: ShaderFile = crate::wgsl_kernel!("fft", "fft_lines");
/// `shaders/fft/fft_stage.wgsl`.
pub static FFT_STAGE: ShaderFile = crate::wgsl_kernel!("fft", "fft_stage");

/// Every kernel of the module.
pub static ALL: [&ShaderFile; 2] = [&FFT_LINES, &FFT_STAGE];

/// The Rust twin of every kernel's params struct (checked against naga's layout).
pub fn params_twins() -> Vec<ParamsTwin> {
    use super::*;
    vec![
        crate::params_twin!(
            FFT_LINES,
            "Params",
            LinesParams {
                lines,
                lines_per_frame,
                frame_stride,
                line_stride,
                elem_stride,
                flags,
                scale,
                tw_offset
            }
        ),
        crate::params_twin!(FFT_STAGE, "Params", StageParams { lines = lines.lines, lines_per_frame = lines.lines_per_frame, frame_stride = lines.frame_stride, line_stride = lines.line_stride, elem_stride = lines.elem_stride, flags = lines.flags, scale = lines.scale, tw_offset = lines.tw_offset, len, radix, p }),
    ]
}
