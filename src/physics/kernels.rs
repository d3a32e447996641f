//! The WGSL kernels of this module (`shaders/physics/`) and the Rust twins of their params.

use crate::gpu::shaders::{ParamsTwin, ShaderFile};

/// `shaders/physics/amp_loss.wgsl`.
pub static AMP_LOSS: ShaderFile = crate::wgsl_kernel!("physics", "amp_loss");
/// `shaders/physics/extract_patches.wgsl`.
pub static EXTRACT_PATCHES: ShaderFile = crate::wgsl_kernel!("physics", "extract_patches");
/// `shaders/physics/translate.wgsl`.
pub static TRANSLATE: ShaderFile = crate::wgsl_kernel!("physics", "translate");
/// `shaders/physics/translate_adjoint.wgsl`.
pub static TRANSLATE_ADJOINT: ShaderFile = crate::wgsl_kernel!("physics", "translate_adjoint");
/// `shaders/physics/merge_patches.wgsl`.
pub static MERGE_PATCHES: ShaderFile = crate::wgsl_kernel!("physics", "merge_patches");
/// `shaders/physics/merge_patches_adjoint.wgsl`.
pub static MERGE_PATCHES_ADJOINT: ShaderFile =
    crate::wgsl_kernel!("physics", "merge_patches_adjoint");
/// `shaders/physics/probe_grad.wgsl`.
pub static PROBE_GRAD: ShaderFile = crate::wgsl_kernel!("physics", "probe_grad");
/// `shaders/physics/mode_exit_waves.wgsl`.
pub static MODE_EXIT_WAVES: ShaderFile = crate::wgsl_kernel!("physics", "mode_exit_waves");
/// `shaders/physics/mode_sum_adjoint.wgsl`.
pub static MODE_SUM_ADJOINT: ShaderFile = crate::wgsl_kernel!("physics", "mode_sum_adjoint");

/// Every kernel of the module.
pub static ALL: [&ShaderFile; 9] = [
    &AMP_LOSS,
    &EXTRACT_PATCHES,
    &TRANSLATE,
    &TRANSLATE_ADJOINT,
    &MERGE_PATCHES,
    &MERGE_PATCHES_ADJOINT,
    &PROBE_GRAD,
    &MODE_EXIT_WAVES,
    &MODE_SUM_ADJOINT,
];

/// The Rust twin of every kernel's params struct (checked against naga's layout).
pub fn params_twins() -> Vec<ParamsTwin> {
    use super::*;
    let translate = crate::params_twin!(
        each [TRANSLATE, TRANSLATE_ADJOINT],
        "Params",
        TranslateParams {
            in_h,
            in_w,
            out_h,
            out_w,
            frames,
            group,
            base_x,
            base_y,
            sign
        }
    );
    let merge = crate::params_twin!(
        each [MERGE_PATCHES, MERGE_PATCHES_ADJOINT],
        "Params",
        MergeParams {
            n,
            m,
            groups,
            members,
            base_x,
            base_y,
            sign
        }
    );
    let modes = crate::params_twin!(
        each [MODE_EXIT_WAVES, MODE_SUM_ADJOINT],
        "Params",
        ModeParams {
            frame,
            frames,
            modes
        }
    );
    let single = [
        crate::params_twin!(
            AMP_LOSS,
            "Params",
            AmpLossParams {
                count,
                inv_total,
                scale,
                nll_weight,
                mae_weight,
                modes,
                mode_stride
            }
        ),
        crate::params_twin!(
            EXTRACT_PATCHES,
            "Params",
            ExtractParams {
                n,
                count,
                obj_h,
                obj_w
            }
        ),
        crate::params_twin!(
            PROBE_GRAD,
            "Params",
            ProbeGradParams {
                frame,
                frames,
                modes
            }
        ),
    ];
    [translate, merge, modes]
        .into_iter()
        .flatten()
        .chain(single)
        .collect()
}
