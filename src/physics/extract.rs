//! Patch extraction at scan positions on the GPU (`extract_patches.wgsl`).

use num_complex::Complex32;

use super::Result;
use crate::gpu::{Engine, GpuBuffer, Kernel, Recording};

/// Params of `shaders/physics/extract_patches.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ExtractParams {
    /// Patch size N.
    pub n: u32,
    /// Patches in this dispatch.
    pub count: u32,
    /// Object rows.
    pub obj_h: u32,
    /// Object columns.
    pub obj_w: u32,
}

/// Extracts N×N patches of an object at (x, y) positions (bilinear, zero outside).
#[derive(Clone, Debug)]
pub struct ExtractPatches {
    kernel: Kernel,
}

impl ExtractPatches {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(ExtractPatches {
            kernel: engine.kernel(&super::kernels::EXTRACT_PATCHES, &[("WG", 256.0)])?,
        })
    }

    /// Records `patches[m] = obj(y_m − N/2 + i, x_m − N/2 + j)` for every position.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        obj: &GpuBuffer<Complex32>,
        (obj_h, obj_w): (usize, usize),
        pos: &GpuBuffer<[f32; 2]>,
        patches: &GpuBuffer<Complex32>,
        n: usize,
    ) -> Result<()> {
        let count = pos.len();
        obj.expect_len("extract_patches object", obj_h * obj_w)?;
        patches.expect_len("extract_patches output", count * n * n)?;
        let p = ExtractParams {
            n: n as u32,
            count: count as u32,
            obj_h: obj_h as u32,
            obj_w: obj_w as u32,
        };
        let groups = engine.grid(((count * n * n) as u64).div_ceil(256))?;
        rec.dispatch(
            &self.kernel,
            &p,
            &[obj.binding(), pos.binding(), patches.binding()],
            groups,
        );
        Ok(())
    }
}
