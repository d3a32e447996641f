//! PtychoPINN's complex object patch from the two heads: `object_patch`, `object_patch_bwd`.

use num_complex::Complex32;

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, Result, kernels};

/// Params of the object-patch kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ObjectParams {
    /// Planes (batch · channels).
    pub planes: u32,
    /// Head size (N/2).
    pub h: u32,
    /// Patch size N.
    pub n: u32,
    /// Backward: 1 applies the head activations' derivatives.
    pub act: u32,
}

/// The complex object patch `O = A·e^{iφ}` with the N/4 zero border, and its backward.
#[derive(Clone, Debug)]
pub struct ObjectPatch {
    fwd: Kernel,
    bwd: Kernel,
}

impl ObjectPatch {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let c = [("WG", ELEM_WG as f64)];
        Ok(ObjectPatch {
            fwd: engine.kernel(&kernels::OBJECT_PATCH, &c)?,
            bwd: engine.kernel(&kernels::OBJECT_PATCH_BWD, &c)?,
        })
    }

    /// Records `obj` (`planes × n × n` complex) from the heads `amp`, `phase` (`planes × h × h`).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn forward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        amp: &GpuBuffer<f32>,
        phase: &GpuBuffer<f32>,
        obj: &GpuBuffer<Complex32>,
        planes: usize,
        h: usize,
        n: usize,
    ) -> Result<()> {
        amp.expect_at_least("object amplitude", planes * h * h)?;
        phase.expect_at_least("object phase", planes * h * h)?;
        obj.expect_at_least("object patch", planes * n * n)?;
        let p = ObjectParams {
            planes: to_u32("planes", planes)?,
            h: h as u32,
            n: n as u32,
            act: 0,
        };
        engine.dispatch_threads(
            rec,
            &self.fwd,
            &p,
            &[amp.binding(), phase.binding(), obj.binding()],
            planes * n * n,
        )?;
        Ok(())
    }

    /// Records `(damp, dphase)` (`planes × h × h`) from `dobj` (conjugate-Wirtinger gradient,
    /// `planes × n × n`). With `through_heads` the sigmoid and π·tanh derivatives are applied,
    /// giving the gradients of the final convs' pre-activations.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        amp: &GpuBuffer<f32>,
        phase: &GpuBuffer<f32>,
        dobj: &GpuBuffer<Complex32>,
        damp: &GpuBuffer<f32>,
        dphase: &GpuBuffer<f32>,
        planes: usize,
        h: usize,
        n: usize,
        through_heads: bool,
    ) -> Result<()> {
        amp.expect_at_least("object amplitude", planes * h * h)?;
        phase.expect_at_least("object phase", planes * h * h)?;
        dobj.expect_at_least("object patch gradient", planes * n * n)?;
        damp.expect_at_least("amplitude gradient", planes * h * h)?;
        dphase.expect_at_least("phase gradient", planes * h * h)?;
        let p = ObjectParams {
            planes: to_u32("planes", planes)?,
            h: h as u32,
            n: n as u32,
            act: through_heads as u32,
        };
        engine.dispatch_threads(
            rec,
            &self.bwd,
            &p,
            &[
                amp.binding(),
                phase.binding(),
                dobj.binding(),
                damp.binding(),
                dphase.binding(),
            ],
            planes * h * h,
        )?;
        Ok(())
    }
}
