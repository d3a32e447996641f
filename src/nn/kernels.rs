//! The WGSL kernels of this module (`shaders/nn/`) and the Rust twins of their params.

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
/// `shaders/nn/conv_pack_subgroup.wgsl`.
pub static CONV_PACK_SUBGROUP: ShaderFile = crate::wgsl_kernel!("nn", "conv_pack_subgroup");
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
pub static ALL: [&ShaderFile; 17] = [
    &CONV2D_FWD,
    &CONV2D_FWD_SUBGROUP,
    &CONV2D_BWD_WEIGHT,
    &CONV2D_BWD_WEIGHT_SUBGROUP,
    &CONV_PACK_SUBGROUP,
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
    let conv = crate::params_twin!(
        each [CONV2D_FWD, CONV2D_FWD_SUBGROUP],
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
    );
    let conv_weight = crate::params_twin!(
        each [CONV2D_BWD_WEIGHT, CONV2D_BWD_WEIGHT_SUBGROUP],
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
    );
    let pool = crate::params_twin!(
        each [MAXPOOL2X2_FWD, MAXPOOL2X2_BWD],
        "Params",
        PoolParams {
            planes,
            height,
            width,
            gate
        }
    );
    let upsample = crate::params_twin!(
        each [UPSAMPLE2X_FWD, UPSAMPLE2X_BWD],
        "Params",
        UpsampleParams {
            planes,
            height,
            width,
            gate
        }
    );
    let act = crate::params_twin!(
        each [ACTIVATION_FWD, ACTIVATION_BWD],
        "Params",
        ActParams { len, mode }
    );
    let object = crate::params_twin!(
        each [OBJECT_PATCH, OBJECT_PATCH_BWD],
        "Params",
        ObjectParams { planes, h, n, act }
    );
    let single = [
        crate::params_twin!(
            CONV_PACK_SUBGROUP,
            "Params",
            ConvPackParams {
                w_off,
                w_co,
                w_ci,
                flip,
                co_pad,
                cin
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
    ];
    [conv, conv_weight, pool, upsample, act, object]
        .into_iter()
        .flatten()
        .chain(single)
        .collect()
}
