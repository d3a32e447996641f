//! PtychoPINN's object_big merge (`merge_patches.wgsl`): the C patches of a group are padded to
//! M × M, translated by −relative_offset, summed and normalised by the same merge of the central
//! N/2 × N/2 mask (+1e-3), one canvas per group (docs/findings.md F-02); and its adjoint with
//! respect to the patches (`merge_patches_adjoint.wgsl`).

use num_complex::Complex32;

use super::translate::WG;
use super::{PhysicsError, Result};
use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

/// Params of `shaders/physics/merge_patches.wgsl` and `merge_patches_adjoint.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MergeParams {
    /// Patch side N.
    pub n: u32,
    /// Canvas side M.
    pub m: u32,
    /// Groups (canvases).
    pub groups: u32,
    /// Patches per group C.
    pub members: u32,
    /// Integer column shift from canvas to patch coordinates.
    pub base_x: i32,
    /// Integer row shift from canvas to patch coordinates.
    pub base_y: i32,
    /// Multiplies the offsets.
    pub sign: f32,
    /// Padding to 32 bytes.
    pub _pad: u32,
}

/// PtychoPINN's `+0.001` in the object_big normalisation (`MASK_EPS` in the WGSL).
pub const MASK_EPS: f64 = 1e-3;
/// A mask sum at or below this is no coverage: the canvas is zero there (`MASK_ZERO`).
pub const MASK_ZERO: f64 = 1e-6;

/// Geometry of the object_big merge: `groups` canvases of `m × m`, each from `members` patches
/// of `n × n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeGeometry {
    /// Patch side N.
    pub n: usize,
    /// Canvas side M (≥ N, M − N even).
    pub m: usize,
    /// Groups.
    pub groups: usize,
    /// Patches per group C.
    pub members: usize,
}

impl MergeGeometry {
    /// The kernel params: canvas pixel (y, x) samples patch c at (y − (M−N)/2 + r_y, …), i.e.
    /// the padded patch translated by −relative_offset.
    pub fn params(&self) -> Result<MergeParams> {
        if self.m < self.n || (self.m - self.n) % 2 != 0 {
            return Err(PhysicsError::InvalidArgument(format!(
                "merge: canvas {} must be ≥ patch {} with an even difference",
                self.m, self.n
            )));
        }
        let h = ((self.m - self.n) / 2) as i32;
        Ok(MergeParams {
            n: to_u32("n", self.n)?,
            m: to_u32("m", self.m)?,
            groups: to_u32("groups", self.groups)?,
            members: to_u32("members", self.members)?,
            base_x: -h,
            base_y: -h,
            sign: 1.0,
            _pad: 0,
        })
    }
}

/// Canvas side for the object_big merge: `n + 2·ceil(max |offset component|)`, rounded up to
/// even, so that no translated patch is clipped.
pub fn canvas_side(n: usize, max_abs_offset: f64) -> usize {
    let m = n + 2 * max_abs_offset.max(0.0).ceil() as usize;
    m + m % 2
}

/// The object_big merge of each group's patches into one normalised canvas, and its adjoint.
#[derive(Clone, Debug)]
pub struct MergePatches {
    fwd: Kernel,
    adj: Kernel,
}

impl MergePatches {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let wg = [("WG", WG as f64)];
        Ok(MergePatches {
            fwd: engine.kernel(&super::kernels::MERGE_PATCHES, &wg)?,
            adj: engine.kernel(&super::kernels::MERGE_PATCHES_ADJOINT, &wg)?,
        })
    }

    /// Records the merge; writes the canvases and the per-pixel normalisation weights `wgt`
    /// (which the adjoint needs).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        geom: &MergeGeometry,
        patches: &GpuBuffer<Complex32>,
        offsets: &GpuBuffer<[f32; 2]>,
        canvas: &GpuBuffer<Complex32>,
        wgt: &GpuBuffer<f32>,
    ) -> Result<()> {
        let p = geom.params()?;
        let frames = geom.groups * geom.members;
        patches.expect_len("merge patches", frames * geom.n * geom.n)?;
        offsets.expect_len("merge offsets", frames)?;
        canvas.expect_len("merge canvas", geom.groups * geom.m * geom.m)?;
        wgt.expect_len("merge weights", geom.groups * geom.m * geom.m)?;
        engine.expect_one_binding(patches)?;
        engine.expect_one_binding(canvas)?;
        let groups = engine.grid((canvas.len() as u64).div_ceil(WG as u64))?;
        rec.dispatch(
            &self.fwd,
            &p,
            &[
                patches.binding(),
                offsets.binding(),
                canvas.binding(),
                wgt.binding(),
            ],
            groups,
        );
        Ok(())
    }

    /// Records the adjoint with respect to the patches: `grad_patches = Mᴴ(grad_canvas)`.
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record_adjoint(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        geom: &MergeGeometry,
        grad_canvas: &GpuBuffer<Complex32>,
        wgt: &GpuBuffer<f32>,
        offsets: &GpuBuffer<[f32; 2]>,
        grad_patches: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        let p = geom.params()?;
        let frames = geom.groups * geom.members;
        let canvas_len = geom.groups * geom.m * geom.m;
        grad_canvas.expect_len("merge_adjoint canvas", canvas_len)?;
        wgt.expect_len("merge_adjoint weights", canvas_len)?;
        offsets.expect_len("merge_adjoint offsets", frames)?;
        grad_patches.expect_len("merge_adjoint patches", frames * geom.n * geom.n)?;
        engine.expect_one_binding(grad_canvas)?;
        engine.expect_one_binding(grad_patches)?;
        let groups = engine.grid((grad_patches.len() as u64).div_ceil(WG as u64))?;
        rec.dispatch(
            &self.adj,
            &p,
            &[
                grad_canvas.binding(),
                wgt.binding(),
                offsets.binding(),
                grad_patches.binding(),
            ],
            groups,
        );
        Ok(())
    }
}
