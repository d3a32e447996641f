//! The first kernels, proving the engine end to end: elementwise complex multiply with
//! broadcasting (`cmul`, the probe multiply of the forward model) and a deterministic segmented
//! sum (`reduce_sum`, used by losses and normalisation).
//!
//! Complex values are `Complex32` = interleaved (re, im) f32 pairs, `vec2<f32>` in WGSL.

pub mod cpu;

use num_complex::Complex32;

use crate::gpu::{Binding, Engine, GpuBuffer, GpuError, Kernel, Recording, Result};

pub mod kernels;

/// Params of `shaders/linalg/cmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CmulParams {
    /// Complex values per frame.
    pub frame: u32,
    /// Frames in `a` and `out` for this dispatch.
    pub frames: u32,
    /// Frames in `b` (equal to `frames`, or 1 to broadcast).
    pub b_frames: u32,
    /// 1 to multiply by conj(b).
    pub conj_b: u32,
}

/// Params of `shaders/linalg/reduce_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    /// Values per segment.
    pub n: u32,
    /// Blocks (workgroups) per segment.
    pub chunks: u32,
    /// First block of this dispatch.
    pub g0: u32,
    /// Blocks in this dispatch.
    pub g_count: u32,
    /// Element index where the input binding starts.
    pub win: u32,
    /// Padding to 32 bytes.
    pub _pad: [u32; 3],
}

/// Values one `reduce_sum` workgroup consumes (WG · ITEMS in the shader).
pub const REDUCE_CHUNK: usize = 256 * 8;

/// `out[f, j] = a[f, j] · b[f mod b_frames, j]` (optionally · conj(b)), batches chunked to the
/// storage-binding limit.
#[derive(Clone, Debug)]
pub struct Cmul {
    kernel: Kernel,
    wg: u32,
}

impl Cmul {
    /// Builds the pipeline with the default workgroup size (256).
    pub fn new(engine: &Engine) -> Result<Self> {
        Self::with_workgroup(engine, 256)
    }

    /// Builds the pipeline with `wg` invocations per workgroup.
    pub fn with_workgroup(engine: &Engine, wg: u32) -> Result<Self> {
        if wg == 0
            || wg
                > engine
                    .limits()
                    .invocations_per_workgroup
                    .min(engine.limits().workgroup_size_x)
        {
            return Err(GpuError::InvalidArgument(format!(
                "cmul workgroup size {wg} out of range 1..={}",
                engine.limits().invocations_per_workgroup
            )));
        }
        Ok(Cmul {
            kernel: engine.kernel(&kernels::CMUL, &[("WG", wg as f64)])?,
            wg,
        })
    }

    /// Records `out = a · b` where `a`, `out` hold `frames` frames of `frame` values and `b` holds
    /// either as many frames or exactly one (broadcast).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        a: &GpuBuffer<Complex32>,
        b: &GpuBuffer<Complex32>,
        out: &GpuBuffer<Complex32>,
        frame: usize,
        conj_b: bool,
    ) -> Result<()> {
        if frame == 0 || a.len() % frame != 0 {
            return Err(GpuError::InvalidArgument(format!(
                "cmul: buffer '{}' of {} values is not a whole number of frames of {frame}",
                a.label(),
                a.len()
            )));
        }
        let frames = a.len() / frame;
        let b_frames = b.len() / frame;
        if b.len() % frame != 0 || (b_frames != 1 && b_frames != frames) {
            return Err(GpuError::BufferLength {
                what: "cmul operand b (one frame or one per frame of a)".into(),
                label: b.label().into(),
                got: b.len(),
                expected: frames * frame,
            });
        }
        if out.len() != a.len() {
            return Err(GpuError::BufferLength {
                what: "cmul output".into(),
                label: out.label().into(),
                got: out.len(),
                expected: a.len(),
            });
        }
        let per = engine.frames_per_binding((frame * 8) as u64, frames)?;
        let mut f0 = 0;
        while f0 < frames {
            let nf = per.min(frames - f0);
            let b_bind: Binding = if b_frames == 1 {
                b.binding()
            } else {
                b.slice(f0 * frame, nf * frame)
            };
            let params = CmulParams {
                frame: frame as u32,
                frames: nf as u32,
                b_frames: if b_frames == 1 { 1 } else { nf as u32 },
                conj_b: conj_b as u32,
            };
            let groups = engine.grid(((nf * frame) as u64).div_ceil(self.wg as u64))?;
            rec.dispatch(
                &self.kernel,
                &params,
                &[
                    a.slice(f0 * frame, nf * frame),
                    b_bind,
                    out.slice(f0 * frame, nf * frame),
                ],
                groups,
            );
            f0 += nf;
        }
        Ok(())
    }
}

/// Deterministic per-segment sums of f32 values (see `shaders/linalg/reduce_sum.wgsl`).
#[derive(Clone, Debug)]
pub struct ReduceSum {
    kernel: Kernel,
}

/// Buffers a [`ReduceSum`] writes into: the per-segment results and the pass partials.
#[derive(Debug)]
pub struct ReduceSumScratch {
    /// Ping-pong partials of the passes after the first.
    pub partials: [GpuBuffer<f32>; 2],
}

impl ReduceSum {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(ReduceSum {
            kernel: engine.kernel(&kernels::REDUCE_SUM, &[])?,
        })
    }

    /// Allocates scratch big enough for `segments` segments of `n` values.
    pub fn scratch(&self, engine: &Engine, n: usize, segments: usize) -> Result<ReduceSumScratch> {
        let chunks = n.div_ceil(REDUCE_CHUNK).max(1);
        let len = segments * chunks;
        Ok(ReduceSumScratch {
            partials: [
                engine.alloc("reduce_sum.partials0", len)?,
                engine.alloc("reduce_sum.partials1", len)?,
            ],
        })
    }

    /// Records the sums of `x` (`segments` runs of `n` values); returns the binding holding the
    /// `segments` results (inside `scratch`).
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        n: usize,
        scratch: &ReduceSumScratch,
    ) -> Result<Binding> {
        if n == 0 || x.len() % n != 0 {
            return Err(GpuError::InvalidArgument(format!(
                "reduce_sum: buffer '{}' of {} values is not a whole number of segments of {n}",
                x.label(),
                x.len()
            )));
        }
        let segments = x.len() / n;
        let first_chunks = n.div_ceil(REDUCE_CHUNK);
        if scratch.partials[0].len() < segments * first_chunks {
            return Err(GpuError::BufferLength {
                what: "reduce_sum scratch".into(),
                label: scratch.partials[0].label().into(),
                got: scratch.partials[0].len(),
                expected: segments * first_chunks,
            });
        }
        // Pass 1: blocks tile x contiguously; each dispatch covers a run of blocks whose input
        // window fits one binding.
        self.pass(engine, rec, x, &scratch.partials[0], n, segments)?;
        // Later passes reduce the partials until one value per segment is left.
        let (mut cur, mut len) = (0usize, first_chunks);
        while len > 1 {
            let next = len.div_ceil(REDUCE_CHUNK);
            let (src, dst) = (&scratch.partials[cur], &scratch.partials[1 - cur]);
            self.pass(engine, rec, src, dst, len, segments)?;
            cur = 1 - cur;
            len = next;
        }
        Ok(scratch.partials[cur].slice(0, segments))
    }

    /// One pass: sums `segments` runs of `n` values of `x` into `segments·ceil(n/CHUNK)` partials.
    fn pass(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        x: &GpuBuffer<f32>,
        out: &GpuBuffer<f32>,
        n: usize,
        segments: usize,
    ) -> Result<()> {
        let chunks = n.div_ceil(REDUCE_CHUNK);
        let blocks = segments * chunks;
        let align = (engine.limits().storage_offset_alignment as usize / 4).max(1);
        let limit = (engine.limits().storage_binding_bytes / 4) as usize;
        let per = (limit.saturating_sub(align) / REDUCE_CHUNK).max(1);
        // Element range [start, end) of block g.
        let span = |g: usize| {
            let (seg, c) = (g / chunks, g % chunks);
            (
                seg * n + c * REDUCE_CHUNK,
                seg * n + ((c + 1) * REDUCE_CHUNK).min(n),
            )
        };
        let mut g0 = 0;
        while g0 < blocks {
            let g_count = per.min(blocks - g0);
            let win = span(g0).0 / align * align;
            let end = span(g0 + g_count - 1).1;
            if x.len() > u32::MAX as usize {
                return Err(GpuError::InvalidArgument(format!(
                    "reduce_sum: '{}' has more than 2^32 values",
                    x.label()
                )));
            }
            let params = ReduceParams {
                n: n as u32,
                chunks: chunks as u32,
                g0: g0 as u32,
                g_count: g_count as u32,
                win: win as u32,
                _pad: [0; 3],
            };
            let groups = engine.grid(g_count as u64)?;
            rec.dispatch(
                &self.kernel,
                &params,
                &[x.slice(win, end - win), out.slice(0, blocks)],
                groups,
            );
            g0 += g_count;
        }
        Ok(())
    }

    /// Convenience: uploads nothing, runs the sums of `x` and reads them back.
    pub fn sum(&self, engine: &Engine, x: &GpuBuffer<f32>, n: usize) -> Result<Vec<f32>> {
        let scratch = self.scratch(engine, n, x.len() / n.max(1))?;
        let mut rec = engine.recording("reduce_sum");
        let out = self.record(engine, &mut rec, x, n, &scratch)?;
        let id = rec.read_binding(out);
        Ok(engine.submit(rec)?.get(id))
    }
}

/// Params of `shaders/linalg/axpy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AxpyParams {
    /// Elements.
    pub count: u32,
    /// α.
    pub alpha: f32,
    /// β (0 overwrites y).
    pub beta: f32,
    /// Padding.
    pub _pad: u32,
}

/// `y = β·y + α·x` (gradient accumulation).
#[derive(Clone, Debug)]
pub struct Axpy {
    kernel: Kernel,
}

impl Axpy {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(Axpy {
            kernel: engine.kernel(&kernels::AXPY, &[("WG", 256.0)])?,
        })
    }

    /// Records `y = beta·y + alpha·x`.
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        alpha: f32,
        x: &GpuBuffer<f32>,
        beta: f32,
        y: &GpuBuffer<f32>,
    ) -> Result<()> {
        if x.len() != y.len() {
            return Err(GpuError::BufferLength {
                what: "axpy".into(),
                label: y.label().into(),
                got: y.len(),
                expected: x.len(),
            });
        }
        let p = AxpyParams {
            count: x.len() as u32,
            alpha,
            beta,
            _pad: 0,
        };
        let groups = engine.grid((x.len() as u64).div_ceil(256))?;
        rec.dispatch(&self.kernel, &p, &[x.binding(), y.binding()], groups);
        Ok(())
    }
}
