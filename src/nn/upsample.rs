//! 2× nearest-neighbour upsampling: `upsample2x_fwd`, `upsample2x_bwd`.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, Result, kernels};

/// Params of the upsample kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct UpsampleParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Input height.
    pub height: u32,
    /// Input width.
    pub width: u32,
    /// Backward: 1 multiplies by `[input > 0]`.
    pub gate: u32,
}

/// 2× nearest-neighbour upsampling (forward and backward).
#[derive(Clone, Debug)]
pub struct Upsample2x {
    fwd: Kernel,
    bwd: Kernel,
}

impl Upsample2x {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(Upsample2x {
            fwd: engine.kernel(&kernels::UPSAMPLE2X_FWD, &c)?,
            bwd: engine.kernel(&kernels::UPSAMPLE2X_BWD, &c)?,
        })
    }

    /// Records `out = upsample(x)` for `planes` planes of `h × w` (output `2h × 2w`).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<()> {
        x.expect_at_least("upsample input", planes * h * w)?;
        out.expect_at_least("upsample output", planes * h * w * 4)?;
        let p = UpsampleParams {
            planes: to_u32("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: 0,
        };
        engine.dispatch_threads(
            rec,
            &self.fwd,
            &p,
            &[x.binding(), out.binding()],
            planes * h * w * 4,
        )?;
        Ok(())
    }

    /// Records `dx` (`h × w`) from `dout` (`2h × 2w`); `gate` fuses `· [x > 0]`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        dout: &GpuBuffer<f32>,
        dx: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
        gate: bool,
    ) -> Result<()> {
        x.expect_at_least("upsample input", planes * h * w)?;
        dout.expect_at_least("upsample output gradient", planes * h * w * 4)?;
        dx.expect_at_least("upsample input gradient", planes * h * w)?;
        let p = UpsampleParams {
            planes: to_u32("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: gate as u32,
        };
        engine.dispatch_threads(
            rec,
            &self.bwd,
            &p,
            &[x.binding(), dout.binding(), dx.binding()],
            planes * h * w,
        )?;
        Ok(())
    }
}
