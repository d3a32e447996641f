//! Zero-pad / centre-crop: `pad_crop`.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, NnError, Result, kernels};

/// Params of `shaders/nn/pad_crop.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PadCropParams {
    /// Planes.
    pub planes: u32,
    /// Input height.
    pub in_h: u32,
    /// Input width.
    pub in_w: u32,
    /// Output height.
    pub out_h: u32,
    /// Output width.
    pub out_w: u32,
    /// Row offset (out y = in y + oy).
    pub oy: i32,
    /// Column offset.
    pub ox: i32,
    /// Padding.
    pub _pad: u32,
}

/// Zero-pad / centre-crop by a signed offset (each is the other's backward).
#[derive(Clone, Debug)]
pub struct PadCrop {
    kernel: Kernel,
}

impl PadCrop {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(PadCrop {
            kernel: engine.kernel(&kernels::PAD_CROP, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records `out[p, y, x] = x[p, y − off, x − off]` (0 outside) from `in_hw²` to `out_hw²`
    /// planes: `off = (out − in)/2`, positive to pad, negative to crop.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        planes: usize,
        in_hw: usize,
        out_hw: usize,
    ) -> Result<()> {
        if (in_hw + out_hw) % 2 != 0 {
            return Err(NnError::InvalidArgument(format!(
                "pad_crop: {in_hw} → {out_hw} is not a centred change"
            )));
        }
        x.expect_at_least("pad_crop input", planes * in_hw * in_hw)?;
        out.expect_at_least("pad_crop output", planes * out_hw * out_hw)?;
        let off = (out_hw as i32 - in_hw as i32) / 2;
        let p = PadCropParams {
            planes: to_u32("planes", planes)?,
            in_h: in_hw as u32,
            in_w: in_hw as u32,
            out_h: out_hw as u32,
            out_w: out_hw as u32,
            oy: off,
            ox: off,
            _pad: 0,
        };
        engine.dispatch_threads(
            rec,
            &self.kernel,
            &p,
            &[x.binding(), out.binding()],
            planes * out_hw * out_hw,
        )?;
        Ok(())
    }
}
