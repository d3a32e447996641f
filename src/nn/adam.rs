//! The Adam update over a flat parameter buffer: `adam`.

use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

use super::{ELEM_WG, Result, kernels};

/// Params of `shaders/nn/adam.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AdamParams {
    /// Parameters.
    pub len: u32,
    /// Step size with bias correction folded in.
    pub alpha: f32,
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Adam hyper-parameters (TensorFlow defaults but ε = 1e-7 as PtychoPINN).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε (added to √v, outside the bias correction, as in TF/Keras).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
}

impl AdamConfig {
    /// Step size of step `t` (1-based) with the bias correction folded in.
    pub fn alpha(&self, t: u64) -> f64 {
        let t = t.max(1) as i32;
        self.lr * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t))
    }
}

/// The Adam update over a flat parameter buffer.
#[derive(Clone, Debug)]
pub struct Adam {
    kernel: Kernel,
}

impl Adam {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(Adam {
            kernel: engine.kernel(&kernels::ADAM, &[("WG", ELEM_WG as f64)])?,
        })
    }

    /// Records step `t` (1-based) of Adam on `theta` with moments `m`, `v`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        cfg: &AdamConfig,
        t: u64,
        grad: &GpuBuffer<f32>,
        theta: &GpuBuffer<f32>,
        m: &GpuBuffer<f32>,
        v: &GpuBuffer<f32>,
    ) -> Result<()> {
        let len = theta.len();
        grad.expect_at_least("adam gradient", len)?;
        m.expect_at_least("adam first moment", len)?;
        v.expect_at_least("adam second moment", len)?;
        let p = AdamParams {
            len: to_u32("parameters", len)?,
            alpha: cfg.alpha(t) as f32,
            beta1: cfg.beta1 as f32,
            beta2: cfg.beta2 as f32,
            eps: cfg.eps as f32,
            _pad: [0; 3],
        };
        engine.dispatch_threads(
            rec,
            &self.kernel,
            &p,
            &[grad.binding(), theta.binding(), m.binding(), v.binding()],
            len,
        )?;
        Ok(())
    }
}
