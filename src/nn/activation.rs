//! Elementwise activations: `activation_fwd`, `activation_bwd`, and the activation codes the
//! conv epilogues share.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{Activation, ELEM_WG, Result, kernels};

/// Params of the activation kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ActParams {
    /// Values.
    pub len: u32,
    /// [`Activation::code`].
    pub mode: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Standalone activation forward/backward.
#[derive(Clone, Debug)]
pub struct ActivationOp {
    fwd: Kernel,
    bwd: Kernel,
}

impl ActivationOp {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(ActivationOp {
            fwd: engine.kernel(&kernels::ACTIVATION_FWD, &c)?,
            bwd: engine.kernel(&kernels::ACTIVATION_BWD, &c)?,
        })
    }

    /// Records `y = act(x)`.
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        act: Activation,
        x: &GpuBuffer<f32>,
        y: &GpuBuffer<f32>,
    ) -> Result<()> {
        y.expect_at_least("activation output", x.len())?;
        let p = ActParams {
            len: to_u32("len", x.len())?,
            mode: act.code(),
            _pad: [0; 2],
        };
        engine.dispatch_threads(rec, &self.fwd, &p, &[x.binding(), y.binding()], x.len())?;
        Ok(())
    }

    /// Records `dz = dy · act'(z)` from the saved output `y = act(z)`.
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        act: Activation,
        y: &GpuBuffer<f32>,
        dy: &GpuBuffer<f32>,
        dz: &GpuBuffer<f32>,
    ) -> Result<()> {
        dy.expect_at_least("activation gradient", y.len())?;
        dz.expect_at_least("activation input gradient", y.len())?;
        let p = ActParams {
            len: to_u32("len", y.len())?,
            mode: act.code(),
            _pad: [0; 2],
        };
        engine.dispatch_threads(
            rec,
            &self.bwd,
            &p,
            &[y.binding(), dy.binding(), dz.binding()],
            y.len(),
        )?;
        Ok(())
    }
}
