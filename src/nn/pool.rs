//! 2×2 max pooling: `maxpool2x2_fwd`, `maxpool2x2_bwd`.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, NnError, Result, kernels};

/// Params of the max-pool kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Input height.
    pub height: u32,
    /// Input width.
    pub width: u32,
    /// Backward: 1 multiplies by `[max > 0]`.
    pub gate: u32,
}

/// 2×2 max pooling (forward and backward).
#[derive(Clone, Debug)]
pub struct MaxPool2x2 {
    fwd: Kernel,
    bwd: Kernel,
}

impl MaxPool2x2 {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(MaxPool2x2 {
            fwd: engine.kernel(&kernels::MAXPOOL2X2_FWD, &c)?,
            bwd: engine.kernel(&kernels::MAXPOOL2X2_BWD, &c)?,
        })
    }

    fn params(planes: usize, h: usize, w: usize, gate: bool) -> Result<PoolParams> {
        if h % 2 != 0 || w % 2 != 0 {
            return Err(NnError::InvalidArgument(format!(
                "maxpool2x2: input {h}×{w} is not even"
            )));
        }
        Ok(PoolParams {
            planes: to_u32("planes", planes)?,
            height: h as u32,
            width: w as u32,
            gate: gate as u32,
        })
    }

    /// Records `out = maxpool(x)` over `planes` planes of `h × w` (even).
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
        let p = Self::params(planes, h, w, false)?;
        x.expect_at_least("maxpool input", planes * h * w)?;
        out.expect_at_least("maxpool output", planes * h * w / 4)?;
        engine.dispatch_threads(
            rec,
            &self.fwd,
            &p,
            &[x.binding(), out.binding()],
            planes * h * w / 4,
        )?;
        Ok(())
    }

    /// Records `dx` from the pooled gradient `dy`; `gate` fuses `· [x > 0]`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        dy: &GpuBuffer<f32>,
        dx: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        w: usize,
        gate: bool,
    ) -> Result<()> {
        let p = Self::params(planes, h, w, gate)?;
        x.expect_at_least("maxpool input", planes * h * w)?;
        dy.expect_at_least("maxpool output gradient", planes * h * w / 4)?;
        dx.expect_at_least("maxpool input gradient", planes * h * w)?;
        engine.dispatch_threads(
            rec,
            &self.bwd,
            &p,
            &[x.binding(), dy.binding(), dx.binding()],
            planes * h * w / 4,
        )?;
        Ok(())
    }
}
