//! The loss path of training: probe multiply, orthonormal far field with fftshift, amplitude
//! loss (Poisson NLL and/or MAE) with a deterministic reduction, and the adjoint chain back to
//! the object patches.

use num_complex::Complex32;

use crate::fft::{Direction, FftOptions, FftPlan, Norm};
use crate::gpu::{Binding, Engine, GpuBuffer, GpuError, Kernel, Recording, Result};
use crate::linalg::{ComplexMultiply, SegmentedSum, SumScratch};

/// Params of `shaders/physics/amp_loss.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AmpLossParams {
    /// Elements in this dispatch.
    pub count: u32,
    /// 1 / elements in the whole loss.
    pub inv_total: f32,
    /// Intensity scale s.
    pub scale: f32,
    /// Weight of the Poisson NLL.
    pub nll_weight: f32,
    /// Weight of the MAE.
    pub mae_weight: f32,
    /// Padding to 32 bytes.
    pub _pad: [u32; 3],
}

/// The fused amplitude-loss kernel.
#[derive(Clone, Debug)]
pub struct AmpLoss {
    kernel: Kernel,
}

impl AmpLoss {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(AmpLoss {
            kernel: engine.kernel("amp_loss", &[("WG", 256.0)])?,
        })
    }

    /// Records per-element losses into `loss` and dL/dF into `grad` for far field `far` and
    /// measured amplitudes `measured` (all the same length).
    #[allow(clippy::too_many_arguments, reason = "mirrors the kernel's bindings")]
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        far: &GpuBuffer<Complex32>,
        measured: &GpuBuffer<f32>,
        loss: &GpuBuffer<f32>,
        grad: &GpuBuffer<Complex32>,
        params: AmpLossParams,
    ) -> Result<()> {
        let n = far.len();
        for (what, b) in [
            ("measured", measured.len()),
            ("loss", loss.len()),
            ("grad", grad.len()),
        ] {
            if b != n {
                return Err(GpuError::BufferLength {
                    what: format!("amp_loss {what}"),
                    label: what.into(),
                    got: b,
                    expected: n,
                });
            }
        }
        let p = AmpLossParams {
            count: n as u32,
            ..params
        };
        let groups = engine.grid((n as u64).div_ceil(256))?;
        rec.dispatch(
            &self.kernel,
            &p,
            &[
                far.binding(),
                measured.binding(),
                loss.binding(),
                grad.binding(),
            ],
            groups,
        );
        Ok(())
    }
}

/// Forward model + loss + backward for `frames` object patches of N×N with one probe:
/// ψ = P·O, F = fftshift(FFT₂ ψ)/N, loss(|F|, X), and dL/dO = conj(P)·FFT₂ᴴ(ifftshift(dL/dF))/N.
#[derive(Debug)]
pub struct FarFieldModel {
    n: usize,
    frames: usize,
    probe: GpuBuffer<Complex32>,
    scale: f32,
    nll_weight: f32,
    mae_weight: f32,
    fwd: FftPlan,
    adj: FftPlan,
    cmul: ComplexMultiply,
    loss: AmpLoss,
    sum: SegmentedSum,
    psi: GpuBuffer<Complex32>,
    far: GpuBuffer<Complex32>,
    dfar: GpuBuffer<Complex32>,
    fft_scratch: GpuBuffer<Complex32>,
    loss_elems: GpuBuffer<f32>,
    sum_scratch: SumScratch,
}

impl FarFieldModel {
    /// Plans the model for `frames` patches of `n`×`n` with `probe` (n×n, already normalised),
    /// intensity scale `scale` and loss weights.
    pub fn new(
        engine: &Engine,
        n: usize,
        frames: usize,
        probe: &[Complex32],
        scale: f32,
        nll_weight: f32,
        mae_weight: f32,
    ) -> Result<Self> {
        if probe.len() != n * n {
            return Err(GpuError::InvalidArgument(format!(
                "probe has {} values, expected {n}×{n}",
                probe.len()
            )));
        }
        let fwd = FftPlan::with_options(
            engine,
            n,
            n,
            frames,
            Direction::Forward,
            FftOptions {
                norm: Norm::Ortho,
                shift_output: true,
                ..Default::default()
            },
        )?;
        let adj = FftPlan::with_options(
            engine,
            n,
            n,
            frames,
            Direction::Inverse,
            FftOptions {
                norm: Norm::Ortho,
                shift_input: true,
                ..Default::default()
            },
        )?;
        let len = frames * n * n;
        let sum = SegmentedSum::new(engine)?;
        Ok(FarFieldModel {
            n,
            frames,
            probe: engine.upload("physics.probe", probe)?,
            scale,
            nll_weight,
            mae_weight,
            fft_scratch: fwd.alloc_scratch(engine)?,
            fwd,
            adj,
            cmul: ComplexMultiply::new(engine)?,
            loss: AmpLoss::new(engine)?,
            sum_scratch: sum.scratch(engine, len, 1)?,
            sum,
            psi: engine.alloc("physics.psi", len)?,
            far: engine.alloc("physics.far", len)?,
            dfar: engine.alloc("physics.dfar", len)?,
            loss_elems: engine.alloc("physics.loss", len)?,
        })
    }

    /// Elements of one batch's loss (frames·N²).
    pub fn elements(&self) -> usize {
        self.frames * self.n * self.n
    }

    /// Patches per batch.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Records the forward model and the loss; returns the binding of the summed loss (divide by
    /// [`Self::elements`] for the mean). Also leaves dL/dF ready for [`Self::record_backward`].
    pub fn record_loss(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        obj: &GpuBuffer<Complex32>,
        measured: &GpuBuffer<f32>,
    ) -> Result<Binding> {
        self.cmul.record(
            engine,
            rec,
            obj,
            &self.probe,
            &self.psi,
            self.n * self.n,
            false,
        )?;
        self.fwd
            .record(engine, rec, &self.psi, &self.far, &self.fft_scratch)?;
        let params = AmpLossParams {
            count: 0,
            inv_total: 1.0 / self.elements() as f32,
            scale: self.scale,
            nll_weight: self.nll_weight,
            mae_weight: self.mae_weight,
            _pad: [0; 3],
        };
        self.loss.record(
            engine,
            rec,
            &self.far,
            measured,
            &self.loss_elems,
            &self.dfar,
            params,
        )?;
        self.sum.record(
            engine,
            rec,
            &self.loss_elems,
            self.elements(),
            &self.sum_scratch,
        )
    }

    /// Records dL/dO into `dobj` (after [`Self::record_loss`] in the same or an earlier recording).
    pub fn record_backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        dobj: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        self.adj
            .record(engine, rec, &self.dfar, &self.psi, &self.fft_scratch)?;
        self.cmul.record(
            engine,
            rec,
            &self.psi,
            &self.probe,
            dobj,
            self.n * self.n,
            true,
        )
    }

    /// The far field F of the last recorded forward pass (fftshifted, orthonormal).
    pub fn far_field(&self) -> &GpuBuffer<Complex32> {
        &self.far
    }
}
