//! Squared error and its gradient: `mse_grad`.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, Result, kernels};

/// Params of `shaders/nn/mse_grad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MseParams {
    /// Values.
    pub len: u32,
    /// Gradient scale (1/len for a mean).
    pub scale: f32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Squared error and its gradient (for regression losses).
#[derive(Clone, Debug)]
pub struct MseGrad {
    kernel: Kernel,
}

impl MseGrad {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(MseGrad {
            kernel: engine.kernel(&kernels::MSE_GRAD, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records `sq = (a − t)²` and `grad = 2·scale·(a − t)`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        a: &GpuBuffer<f32>,
        target: &GpuBuffer<f32>,
        sq: &GpuBuffer<f32>,
        grad: &GpuBuffer<f32>,
        scale: f32,
    ) -> Result<()> {
        let len = a.len();
        target.expect_at_least("mse target", len)?;
        sq.expect_at_least("mse squares", len)?;
        grad.expect_at_least("mse gradient", len)?;
        let p = MseParams {
            len: to_u32("len", len)?,
            scale,
            _pad: [0; 2],
        };
        engine.dispatch_threads(
            rec,
            &self.kernel,
            &p,
            &[a.binding(), target.binding(), sq.binding(), grad.binding()],
            len,
        )?;
        Ok(())
    }
}
