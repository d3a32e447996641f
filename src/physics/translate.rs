//! Sub-pixel translation with per-frame offsets (`translate.wgsl`) and its exact adjoint
//! (`translate_adjoint.wgsl`): PtychoPINN's `Translation` layer, and the re-extraction of group
//! members from their object_big canvas.

use num_complex::Complex32;

use super::{PhysicsError, Result};
use crate::gpu::{Engine, GpuBuffer, Kernel, Recording, to_u32};

/// Workgroup size of the elementwise physics kernels.
pub(crate) const WG: u32 = 256;

/// Params of `shaders/physics/translate.wgsl` and `translate_adjoint.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TranslateParams {
    /// Input frame rows.
    pub in_h: u32,
    /// Input frame columns.
    pub in_w: u32,
    /// Output frame rows.
    pub out_h: u32,
    /// Output frame columns.
    pub out_w: u32,
    /// Output frames.
    pub frames: u32,
    /// Consecutive output frames reading the same input frame.
    pub group: u32,
    /// Integer column shift added to `sign · offset.x`.
    pub base_x: i32,
    /// Integer row shift added to `sign · offset.y`.
    pub base_y: i32,
    /// Multiplies the per-frame offsets (±1).
    pub sign: f32,
    /// Padding to 48 bytes.
    pub _pad: [u32; 3],
}

/// Geometry of a (possibly cropping or padding) translation, see `translate.wgsl`:
/// `out[f, r, c] = bilinear(in[f / group], r + base_y + sign·off_y, c + base_x + sign·off_x)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TranslateGeometry {
    /// Input frame (rows, columns).
    pub input: (usize, usize),
    /// Output frame (rows, columns).
    pub output: (usize, usize),
    /// Output frames.
    pub frames: usize,
    /// Output frames per input frame.
    pub group: usize,
    /// Integer shift (x, y) added to `sign · offset`.
    pub base: [i32; 2],
    /// ±1.
    pub sign: f32,
}

impl TranslateGeometry {
    /// PtychoPINN's `translate(img, offset)` of `frames` frames of `h × w`:
    /// `out[y, x] = in[y − dy, x − dx]` (content moves by +offset).
    pub fn shift(h: usize, w: usize, frames: usize) -> Self {
        TranslateGeometry {
            input: (h, w),
            output: (h, w),
            frames,
            group: 1,
            base: [0, 0],
            sign: -1.0,
        }
    }

    /// Re-extraction of each group member from its group's `m × m` canvas: translate the canvas
    /// by +relative_offset and centre-crop to `n × n`
    /// (`out[i, j] = canvas[i + (m−n)/2 − r_y, j + (m−n)/2 − r_x]`). With zero offsets and
    /// `members` = 1 this is the plain centre crop of each canvas.
    pub fn reextract(n: usize, m: usize, groups: usize, members: usize) -> Self {
        let h = ((m - n) / 2) as i32;
        TranslateGeometry {
            input: (m, m),
            output: (n, n),
            frames: groups * members,
            group: members,
            base: [h, h],
            sign: -1.0,
        }
    }

    /// Input frames.
    pub fn input_frames(&self) -> usize {
        self.frames / self.group
    }

    /// The kernel params.
    pub fn params(&self) -> Result<TranslateParams> {
        Ok(TranslateParams {
            in_h: to_u32("in_h", self.input.0)?,
            in_w: to_u32("in_w", self.input.1)?,
            out_h: to_u32("out_h", self.output.0)?,
            out_w: to_u32("out_w", self.output.1)?,
            frames: to_u32("frames", self.frames)?,
            group: to_u32("group", self.group)?,
            base_x: self.base[0],
            base_y: self.base[1],
            sign: self.sign,
            _pad: [0; 3],
        })
    }

    fn validate(&self) -> Result<()> {
        if self.group == 0 || self.frames % self.group != 0 {
            return Err(PhysicsError::InvalidArgument(format!(
                "translate: {} frames are not a whole number of groups of {}",
                self.frames, self.group
            )));
        }
        Ok(())
    }
}

/// Bilinear sub-pixel translation with per-frame offsets and its exact adjoint.
#[derive(Clone, Debug)]
pub struct Translate {
    fwd: Kernel,
    adj: Kernel,
}

impl Translate {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        let wg = [("WG", WG as f64)];
        Ok(Translate {
            fwd: engine.kernel(&super::kernels::TRANSLATE, &wg)?,
            adj: engine.kernel(&super::kernels::TRANSLATE_ADJOINT, &wg)?,
        })
    }

    /// Records `out = T(src)` (see [`TranslateGeometry`]).
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        geom: &TranslateGeometry,
        src: &GpuBuffer<Complex32>,
        offsets: &GpuBuffer<[f32; 2]>,
        out: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        geom.validate()?;
        let (ih, iw) = geom.input;
        let (oh, ow) = geom.output;
        src.expect_len("translate input", geom.input_frames() * ih * iw)?;
        offsets.expect_len("translate offsets", geom.frames)?;
        out.expect_len("translate output", geom.frames * oh * ow)?;
        engine.expect_one_binding(src)?;
        engine.expect_one_binding(out)?;
        let groups = engine.grid((out.len() as u64).div_ceil(WG as u64))?;
        rec.dispatch(
            &self.fwd,
            &geom.params()?,
            &[src.binding(), offsets.binding(), out.binding()],
            groups,
        );
        Ok(())
    }

    /// Records `grad_in = Tᴴ(grad_out)`, the exact transpose of [`Translate::record`] (members
    /// of a group are summed into their input frame, in ascending order).
    pub fn record_adjoint(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        geom: &TranslateGeometry,
        grad_out: &GpuBuffer<Complex32>,
        offsets: &GpuBuffer<[f32; 2]>,
        grad_in: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        geom.validate()?;
        let (ih, iw) = geom.input;
        let (oh, ow) = geom.output;
        grad_out.expect_len("translate_adjoint input", geom.frames * oh * ow)?;
        offsets.expect_len("translate_adjoint offsets", geom.frames)?;
        grad_in.expect_len("translate_adjoint output", geom.input_frames() * ih * iw)?;
        engine.expect_one_binding(grad_out)?;
        engine.expect_one_binding(grad_in)?;
        let groups = engine.grid((grad_in.len() as u64).div_ceil(WG as u64))?;
        rec.dispatch(
            &self.adj,
            &geom.params()?,
            &[grad_out.binding(), offsets.binding(), grad_in.binding()],
            groups,
        );
        Ok(())
    }
}
