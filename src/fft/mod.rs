//! Batched 2-D complex FFT in WGSL: plan once, record many.
//!
//! # Conventions (also in docs/numerics.md)
//! - Forward: `X[k] = Σ_n x[n]·exp(−2πi·k·n/N)` along each axis; inverse uses `exp(+2πi·k·n/N)`.
//! - Normalisation on the last pass: [`Norm::None`] (×1), [`Norm::Ortho`] (×1/√(rows·cols)) or
//!   [`Norm::ByN`] (×1/(rows·cols)). `Forward + None` followed by `Inverse + ByN` is the identity.
//! - `shift_input` applies `ifftshift` on load (fused into the first pass), `shift_output`
//!   applies `fftshift` on store (fused into the passes that write each axis), so DC lands at
//!   (rows/2, cols/2). [`Output::Amplitude`] writes `|X|·scale` to a real buffer on the last pass:
//!   PtychoPINN's far-field amplitude `sqrt(fftshift(|FFT|²/N²))` is `Forward + Ortho +
//!   shift_output + Amplitude`, with no extra pass.
//! - Layout: frames of `rows × cols` complex64 values, row-major (column index fastest), frames
//!   back to back.
//!
//! # Algorithm
//! Stockham autosort stages of radix 8/4/2 with twiddles from an f64-computed LUT. Where a whole
//! line fits in the adapter's workgroup memory (every supported size on a conforming adapter),
//! a 2-D transform is two dispatches per chunk: all rows (src → scratch) then all columns
//! (scratch → dst), each line loaded once into workgroup memory. Otherwise (or with
//! [`Strategy::Global`]) every stage is its own dispatch over global memory, ping-ponging between
//! scratch and dst. Batches whose frames exceed one storage binding are split into chunks.

pub mod cpu;

use num_complex::Complex32;

use thiserror::Error;

use crate::gpu::{Binding, Engine, EngineLimits, GpuBuffer, GpuError, Kernel, Recording};

/// Errors of the FFT: an unsupported size or option (named with its value), or a GPU failure
/// (kept as the cause).
#[derive(Debug, Error)]
pub enum FftError {
    /// A length, batch or option the plans do not support.
    #[error("{0}")]
    InvalidArgument(String),
    /// A GPU failure (allocation, buffer length, binding limit, device).
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl FftError {
    /// The GPU error underneath, if that is what this is (else `self` back).
    pub fn into_gpu(self) -> std::result::Result<GpuError, Self> {
        match self {
            FftError::Gpu(g) => Ok(g),
            other => Err(other),
        }
    }
}

/// Result alias of the FFT layer.
pub type Result<T, E = FftError> = std::result::Result<T, E>;

pub mod kernels;

/// Smallest supported length per axis.
pub const MIN_LEN: usize = 8;
/// Largest supported length per axis.
pub const MAX_LEN: usize = 1024;

/// Transform direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Direction {
    /// `exp(−2πi·kn/N)`.
    Forward,
    /// `exp(+2πi·kn/N)`.
    Inverse,
}

/// Scaling applied on the last pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Norm {
    /// No scaling.
    None,
    /// `1/√(rows·cols)`: unitary.
    Ortho,
    /// `1/(rows·cols)`.
    ByN,
}

/// What the last pass writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Output {
    /// Complex values into the destination buffer.
    Complex,
    /// `|X|·scale` into a real buffer.
    Amplitude,
}

/// Algorithm selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Strategy {
    /// Whole lines in workgroup memory where they fit, else global stages.
    Auto,
    /// Always one dispatch per Stockham stage over global memory.
    Global,
}

/// Options of a plan beyond shape and direction.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FftOptions {
    /// Scaling.
    pub norm: Norm,
    /// `ifftshift` the input (both axes) on load.
    pub shift_input: bool,
    /// `fftshift` the output (both axes) on store.
    pub shift_output: bool,
    /// Complex or amplitude output.
    pub output: Output,
    /// Algorithm selection.
    pub strategy: Strategy,
    /// Largest radix (4 or 8).
    pub max_radix: u32,
    /// Target invocations per workgroup for the workgroup-memory path (per-adapter tuning).
    pub target_threads: u32,
}

impl Default for FftOptions {
    fn default() -> Self {
        FftOptions {
            norm: Norm::None,
            shift_input: false,
            shift_output: false,
            output: Output::Complex,
            strategy: Strategy::Auto,
            max_radix: 8,
            target_threads: 64,
        }
    }
}

/// Lines of length `len` one workgroup of the workgroup-memory kernel (`fft_lines`) transforms
/// on a device with `limits`: as many as make about `options.target_threads` invocations, within
/// its workgroup memory (8 bytes per value) and invocation limits. `None`: the line does not fit
/// (or `options` asks for the global-memory stages), so the plan runs `fft_stage` passes.
pub fn lines_per_workgroup(limits: &EngineLimits, len: usize, options: &FftOptions) -> Option<u32> {
    let rmax = options.max_radix.min(len as u32);
    let tpl = len as u32 / rmax;
    let by_mem = limits.workgroup_storage_bytes / (len as u32 * 8);
    let by_threads = limits
        .invocations_per_workgroup
        .min(limits.workgroup_size_x)
        / tpl;
    let want = (options.target_threads / tpl).max(1);
    let lines = want.min(by_mem).min(by_threads);
    (lines > 0 && options.strategy != Strategy::Global).then_some(lines)
}

/// Params of `shaders/fft/fft_lines.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinesParams {
    /// Lines in this dispatch.
    pub lines: u32,
    /// Lines per frame.
    pub lines_per_frame: u32,
    /// Values between frames.
    pub frame_stride: u32,
    /// Values between neighbouring lines.
    pub line_stride: u32,
    /// Values between neighbouring elements of a line.
    pub elem_stride: u32,
    /// Flag bits (see the shader).
    pub flags: u32,
    /// Scale applied on store.
    pub scale: f32,
    /// Offset of this axis's LUT in the twiddle buffer.
    pub tw_offset: u32,
}

/// Params of `shaders/fft/fft_stage.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StageParams {
    /// Same meaning as in [`LinesParams`].
    pub lines: LinesParams,
    /// Line length.
    pub len: u32,
    /// Radix of this stage.
    pub radix: u32,
    /// Product of the radices of earlier stages.
    pub p: u32,
    /// Padding to 48 bytes.
    pub _pad: u32,
}

const F_SHIFT_ELEM_IN: u32 = 1;
const F_SHIFT_LINE_IN: u32 = 2;
const F_SHIFT_ELEM_OUT: u32 = 4;
const F_INVERSE: u32 = 8;
const F_AMPLITUDE: u32 = 16;
const F_COLUMNS: u32 = 32;

/// One axis of the transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axis {
    Rows,
    Cols,
}

/// Radix schedule of a line of length `n`: `max_radix` while it divides what is left, then
/// the remaining factor.
pub fn radices(n: usize, max_radix: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rem = n as u32;
    while rem > 1 {
        let r = max_radix.min(rem);
        out.push(r);
        rem /= r;
    }
    out
}

#[derive(Clone, Debug)]
enum Passes {
    /// Whole lines in workgroup memory: (kernel, lines per workgroup) for rows and columns.
    Lines {
        rows: (Kernel, u32),
        cols: (Kernel, u32),
    },
    /// One dispatch per stage: the stage kernel specialised for radix 2, 4 and 8 (index
    /// `log2(radix) − 1`).
    Global { kernels: [Kernel; 3], wg: u32 },
}

/// A planned batched 2-D FFT.
#[derive(Debug)]
pub struct FftPlan {
    rows: usize,
    cols: usize,
    batch: usize,
    direction: Direction,
    options: FftOptions,
    passes: Passes,
    frames_per_chunk: usize,
    /// LUT for the row transforms (length `cols`) followed by the column LUT (length `rows`).
    twiddles: GpuBuffer<Complex32>,
    dummy_complex: GpuBuffer<Complex32>,
    dummy_real: GpuBuffer<f32>,
    /// Second ping-pong buffer of the global path when the output is an amplitude (there is no
    /// complex destination to alternate with).
    pingpong: Option<GpuBuffer<Complex32>>,
}

/// `exp(−2πi·m/n)` for m in 0..n, computed in f64.
pub fn twiddle_lut(n: usize) -> Vec<Complex32> {
    (0..n)
        .map(|m| {
            let a = -2.0 * std::f64::consts::PI * m as f64 / n as f64;
            Complex32::new(a.cos() as f32, a.sin() as f32)
        })
        .collect()
}

fn check_axis_len(what: &str, n: usize) -> Result<()> {
    if !(MIN_LEN..=MAX_LEN).contains(&n) || !n.is_power_of_two() {
        return Err(FftError::InvalidArgument(format!(
            "FFT {what} = {n} is not supported: expected a power of two in {MIN_LEN}..={MAX_LEN}"
        )));
    }
    Ok(())
}

impl FftPlan {
    /// Plans a `batch × rows × cols` transform with default options (no scaling, no shifts,
    /// complex output).
    pub fn new(
        engine: &Engine,
        rows: usize,
        cols: usize,
        batch: usize,
        direction: Direction,
    ) -> Result<Self> {
        Self::with_options(engine, rows, cols, batch, direction, FftOptions::default())
    }

    /// Plans a transform with explicit options.
    pub fn with_options(
        engine: &Engine,
        rows: usize,
        cols: usize,
        batch: usize,
        direction: Direction,
        options: FftOptions,
    ) -> Result<Self> {
        check_axis_len("rows", rows)?;
        check_axis_len("cols", cols)?;
        if batch == 0 {
            return Err(FftError::InvalidArgument(
                "FFT batch = 0: expected at least one frame".into(),
            ));
        }
        if options.max_radix != 4 && options.max_radix != 8 {
            return Err(FftError::InvalidArgument(format!(
                "FFT max_radix = {}: expected 4 or 8",
                options.max_radix
            )));
        }
        let frame_bytes = (rows * cols * 8) as u64;
        let frames_per_chunk = engine.frames_per_binding(frame_bytes, batch)?;
        let lim = engine.limits();
        let lines_kernel = |len: usize| -> Result<Option<(Kernel, u32)>> {
            let Some(lines) = lines_per_workgroup(lim, len, &options) else {
                return Ok(None);
            };
            let rmax = options.max_radix.min(len as u32);
            let k = engine.kernel(
                &kernels::FFT_LINES,
                &[
                    ("L", len as f64),
                    ("RMAX", rmax as f64),
                    ("LINES", lines as f64),
                ],
            )?;
            Ok(Some((k, lines)))
        };
        let passes = match (lines_kernel(cols)?, lines_kernel(rows)?) {
            (Some(r), Some(c)) => Passes::Lines { rows: r, cols: c },
            _ => Passes::Global {
                kernels: {
                    let stage =
                        |r: f64| engine.kernel(&kernels::FFT_STAGE, &[("WG", 64.0), ("R", r)]);
                    [stage(2.0)?, stage(4.0)?, stage(8.0)?]
                },
                wg: 64,
            },
        };
        let pingpong = match (&passes, options.output) {
            (Passes::Global { .. }, Output::Amplitude) => {
                Some(engine.alloc("fft.pingpong", frames_per_chunk.min(batch) * rows * cols)?)
            }
            _ => None,
        };
        let mut lut = twiddle_lut(cols);
        lut.extend(twiddle_lut(rows));
        Ok(FftPlan {
            rows,
            cols,
            batch,
            direction,
            options,
            passes,
            frames_per_chunk,
            twiddles: engine.upload("fft.twiddles", &lut)?,
            dummy_complex: engine.alloc("fft.unused_complex", 1)?,
            dummy_real: engine.alloc("fft.unused_real", 1)?,
            pingpong,
        })
    }

    /// Values per frame.
    pub fn frame_len(&self) -> usize {
        self.rows * self.cols
    }

    /// Frames per transform.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Frames the scratch buffer must hold (the chunk size).
    pub fn scratch_frames(&self) -> usize {
        self.frames_per_chunk.min(self.batch)
    }

    /// Allocates scratch for this plan.
    pub fn alloc_scratch(&self, engine: &Engine) -> Result<GpuBuffer<Complex32>> {
        Ok(engine.alloc("fft.scratch", self.scratch_frames() * self.frame_len())?)
    }

    /// Dispatches per chunk (the number of passes over the data).
    pub fn passes(&self) -> usize {
        match &self.passes {
            Passes::Lines { .. } => 2,
            Passes::Global { .. } => {
                radices(self.cols, self.options.max_radix).len()
                    + radices(self.rows, self.options.max_radix).len()
            }
        }
    }

    /// Whether the plan uses the workgroup-memory path.
    pub fn uses_workgroup_memory(&self) -> bool {
        matches!(self.passes, Passes::Lines { .. })
    }

    /// The plan's options.
    pub fn options(&self) -> &FftOptions {
        &self.options
    }

    fn scale(&self) -> f32 {
        let n = (self.rows * self.cols) as f64;
        match self.options.norm {
            Norm::None => 1.0,
            Norm::Ortho => (1.0 / n.sqrt()) as f32,
            Norm::ByN => (1.0 / n) as f32,
        }
    }

    fn check_buf<T: bytemuck::Pod>(
        &self,
        what: &str,
        b: &GpuBuffer<T>,
        frames: usize,
    ) -> Result<()> {
        if b.len() < frames * self.frame_len()
            || (what != "scratch" && b.len() != frames * self.frame_len())
        {
            let what = format!(
                "FftPlan::record {what} ({}×{}×{})",
                frames, self.rows, self.cols
            );
            return Err(b.length_error(&what, frames * self.frame_len()).into());
        }
        Ok(())
    }

    /// Records `dst = FFT(src)` (complex output). `src` may be the same buffer as `dst`.
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        src: &GpuBuffer<Complex32>,
        dst: &GpuBuffer<Complex32>,
        scratch: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        if self.options.output != Output::Complex {
            return Err(FftError::InvalidArgument(
                "FftPlan::record: this plan writes amplitudes; use record_amplitude".into(),
            ));
        }
        self.record_any(engine, rec, src, Some(dst), None, scratch)
    }

    /// Records `amp = |FFT(src)|·scale` (plans with [`Output::Amplitude`]).
    pub fn record_amplitude(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        src: &GpuBuffer<Complex32>,
        amp: &GpuBuffer<f32>,
        scratch: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        if self.options.output != Output::Amplitude {
            return Err(FftError::InvalidArgument(
                "FftPlan::record_amplitude: this plan writes complex values; use record".into(),
            ));
        }
        self.record_any(engine, rec, src, None, Some(amp), scratch)
    }

    fn record_any(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        src: &GpuBuffer<Complex32>,
        dst: Option<&GpuBuffer<Complex32>>,
        amp: Option<&GpuBuffer<f32>>,
        scratch: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        self.check_buf("src", src, self.batch)?;
        if let Some(d) = dst {
            self.check_buf("dst", d, self.batch)?;
        }
        if let Some(a) = amp {
            self.check_buf("amplitude output", a, self.batch)?;
        }
        self.check_buf("scratch", scratch, self.scratch_frames())?;
        if src.binding().same_buffer(&scratch.binding())
            || dst.is_some_and(|d| d.binding().same_buffer(&scratch.binding()))
        {
            return Err(FftError::InvalidArgument(
                "FftPlan::record: scratch must be a separate buffer".into(),
            ));
        }
        let fl = self.frame_len();
        let mut f0 = 0;
        while f0 < self.batch {
            let nf = self.frames_per_chunk.min(self.batch - f0);
            let s = src.slice(f0 * fl, nf * fl);
            let d = match (dst, &self.pingpong) {
                (Some(d), _) => d.slice(f0 * fl, nf * fl),
                (None, Some(pp)) => pp.slice(0, nf * fl),
                (None, None) => self.dummy_complex.binding(),
            };
            let a = match amp {
                Some(a) => a.slice(f0 * fl, nf * fl),
                None => self.dummy_real.binding(),
            };
            let sc = scratch.slice(0, nf * fl);
            self.record_chunk(engine, rec, nf, s, d, a, sc)?;
            f0 += nf;
        }
        Ok(())
    }

    /// Base params of a pass over `axis` for `frames` frames.
    fn axis_params(&self, axis: Axis, frames: usize, first: bool, last: bool) -> LinesParams {
        let (r, c) = (self.rows as u32, self.cols as u32);
        let mut flags = if self.direction == Direction::Inverse {
            F_INVERSE
        } else {
            0
        };
        let o = &self.options;
        if first && axis == Axis::Rows && o.shift_input {
            // ifftshift of both axes happens while reading the rows.
            flags |= F_SHIFT_ELEM_IN | F_SHIFT_LINE_IN;
        }
        if last && o.shift_output {
            flags |= F_SHIFT_ELEM_OUT;
        }
        let (lines_per_frame, line_stride, elem_stride, tw_offset) = match axis {
            Axis::Rows => (r, c, 1, 0),
            Axis::Cols => {
                flags |= F_COLUMNS;
                (c, 1, c, c)
            }
        };
        let final_pass = last && axis == Axis::Cols;
        if final_pass && o.output == Output::Amplitude {
            flags |= F_AMPLITUDE;
        }
        LinesParams {
            lines: frames as u32 * lines_per_frame,
            lines_per_frame,
            frame_stride: r * c,
            line_stride,
            elem_stride,
            flags,
            scale: if final_pass { self.scale() } else { 1.0 },
            tw_offset,
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one chunk's bindings")]
    fn record_chunk(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        frames: usize,
        src: Binding,
        dst: Binding,
        amp: Binding,
        scratch: Binding,
    ) -> Result<()> {
        let tw = self.twiddles.binding();
        match &self.passes {
            Passes::Lines { rows, cols } => {
                // Rows: src → scratch (with the input ifftshift and the column-index fftshift).
                let p = self.axis_params(Axis::Rows, frames, true, true);
                let groups = engine.grid((p.lines as u64).div_ceil(rows.1 as u64))?;
                rec.dispatch(
                    &rows.0,
                    &p,
                    &[src, tw.clone(), scratch.clone(), self.dummy_real.binding()],
                    groups,
                );
                // Columns: scratch → dst (or amplitude), with the row-index fftshift and scale.
                let p = self.axis_params(Axis::Cols, frames, true, true);
                let groups = engine.grid((p.lines as u64).div_ceil(cols.1 as u64))?;
                rec.dispatch(&cols.0, &p, &[scratch, tw, dst, amp], groups);
            }
            Passes::Global { kernels, wg } => {
                let mut stages = Vec::new();
                for (axis, len) in [(Axis::Rows, self.cols), (Axis::Cols, self.rows)] {
                    let rs = radices(len, self.options.max_radix);
                    let mut p = 1;
                    for (k, &radix) in rs.iter().enumerate() {
                        let lp = self.axis_params(axis, frames, k == 0, k + 1 == rs.len());
                        stages.push(StageParams {
                            lines: lp,
                            len: len as u32,
                            radix,
                            p,
                            _pad: 0,
                        });
                        p *= radix;
                    }
                }
                // Ping-pong so that the last stage lands in dst: stage s writes dst when
                // (S − 1 − s) is even, scratch otherwise.
                let n_st = stages.len();
                let target = |s: usize| {
                    if (n_st - 1 - s) % 2 == 0 {
                        dst.clone()
                    } else {
                        scratch.clone()
                    }
                };
                let mut cur = src.clone();
                if cur.same_buffer(&dst) && target(0).same_buffer(&dst) {
                    // The first stage would read and write the same buffer: stage the input.
                    rec.copy(cur.clone(), scratch.clone());
                    cur = scratch.clone();
                }
                for (s, sp) in stages.iter().enumerate() {
                    let out = target(s);
                    let threads = sp.lines.lines as u64 * (sp.len / sp.radix) as u64;
                    let groups = engine.grid(threads.div_ceil(*wg as u64))?;
                    let kernel = &kernels[sp.radix.trailing_zeros() as usize - 1];
                    rec.dispatch(
                        kernel,
                        sp,
                        &[cur.clone(), tw.clone(), out.clone(), amp.clone()],
                        groups,
                    );
                    cur = out;
                }
            }
        }
        Ok(())
    }
}
