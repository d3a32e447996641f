//! The loss path of training: probe multiply, orthonormal far field with fftshift, amplitude
//! loss (Poisson NLL and/or MAE) with a deterministic reduction, and the adjoint chain back to
//! the object patches.

use num_complex::Complex32;

use crate::fft::{Direction, FftOptions, FftPlan, Norm};
use crate::gpu::{Binding, Engine, GpuBuffer, Kernel, Recording, to_u32};
use crate::linalg::{Cmul, ReduceSum, ReduceSumScratch};

use super::merge::{MergeGeometry, MergePatches};
use super::translate::{Translate, TranslateGeometry, WG};
use super::{PhysicsError, Result};

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
    /// Probe modes (0 or 1: one mode; then the far field holds one F per element).
    pub modes: u32,
    /// Values between one mode's far field and the next (with modes > 1).
    pub mode_stride: u32,
    /// Padding to 32 bytes.
    pub _pad: u32,
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
            kernel: engine.kernel(&super::kernels::AMP_LOSS, &[("WG", 256.0)])?,
        })
    }

    /// Records per-element losses into `loss` and dL/dF into `grad` for far field `far` and
    /// measured amplitudes `measured` (all the same length; with `params.modes` = P > 1, `far`
    /// and `grad` hold P far fields, mode-major, each as long as `measured`).
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
        let modes = params.modes.max(1) as usize;
        let n = measured.len();
        far.expect_len("amp_loss far field", modes * n)?;
        loss.expect_len("amp_loss loss", n)?;
        grad.expect_len("amp_loss grad", modes * n)?;
        if modes > 1 {
            engine.expect_one_binding(far)?;
        }
        let p = AmpLossParams {
            count: n as u32,
            modes: modes as u32,
            mode_stride: to_u32("amp_loss mode stride", n)?,
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

/// Params of `shaders/physics/probe_grad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ProbeGradParams {
    /// Pixels per frame.
    pub frame: u32,
    /// Frames summed.
    pub frames: u32,
    /// Probe modes (0 or 1: one mode).
    pub modes: u32,
    /// Padding to 16 bytes.
    pub _pad: u32,
}

/// `grad_probe = Σ_f grad_psi[f] · conj(obj[f])` (deterministic: frames in ascending order).
#[derive(Clone, Debug)]
pub struct ProbeGrad {
    kernel: Kernel,
}

impl ProbeGrad {
    /// Builds the pipeline.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(ProbeGrad {
            kernel: engine.kernel(&super::kernels::PROBE_GRAD, &[("WG", WG as f64)])?,
        })
    }

    /// Records the probe gradient `grad_probe` (modes × N²) for exit-wave gradient `grad_psi`
    /// (modes × the values of `obj`, mode-major) and the illuminated patches `obj` (frames of
    /// `frame` = N² values).
    pub fn record(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        grad_psi: &GpuBuffer<Complex32>,
        obj: &GpuBuffer<Complex32>,
        grad_probe: &GpuBuffer<Complex32>,
        frame: usize,
    ) -> Result<()> {
        let modes = grad_probe.len() / frame.max(1);
        if frame == 0
            || grad_probe.len() != modes * frame
            || obj.len() % frame != 0
            || grad_psi.len() != modes * obj.len()
        {
            return Err(PhysicsError::InvalidArgument(format!(
                "probe_grad: '{}' ({} values) is not {modes} mode(s) of the {} patch values of '{}' \
                 in frames of {frame}",
                grad_psi.label(),
                grad_psi.len(),
                obj.len(),
                obj.label()
            )));
        }
        engine.expect_one_binding(grad_psi)?;
        let p = ProbeGradParams {
            frame: to_u32("frame", frame)?,
            frames: to_u32("frames", obj.len() / frame)?,
            modes: to_u32("modes", modes)?,
            _pad: 0,
        };
        let groups = engine.grid((grad_probe.len() as u64).div_ceil(WG as u64))?;
        rec.dispatch(
            &self.kernel,
            &p,
            &[grad_psi.binding(), obj.binding(), grad_probe.binding()],
            groups,
        );
        Ok(())
    }
}

/// Params of `shaders/physics/mode_exit_waves.wgsl` and `mode_sum_adjoint.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ModeParams {
    /// Values per frame (N²).
    pub frame: u32,
    /// Frames of object patches.
    pub frames: u32,
    /// Probe modes P.
    pub modes: u32,
    /// Padding to 16 bytes.
    pub _pad: u32,
}

/// The exit waves of an incoherent multi-mode probe and their adjoint:
/// `mode_exit_waves` (ψ[p, f] = O[f]·P[p], mode-major) and `mode_sum_adjoint`
/// (dO[f] = Σ_p conj(P[p])·dψ[p, f], modes in ascending order).
#[derive(Clone, Debug)]
pub struct ProbeModes {
    exit: Kernel,
    adjoint: Kernel,
}

impl ProbeModes {
    /// Builds the pipelines.
    pub fn new(engine: &Engine) -> Result<Self> {
        Ok(ProbeModes {
            exit: engine.kernel(&super::kernels::MODE_EXIT_WAVES, &[("WG", 256.0)])?,
            adjoint: engine.kernel(&super::kernels::MODE_SUM_ADJOINT, &[("WG", 256.0)])?,
        })
    }

    fn params(
        obj: &GpuBuffer<Complex32>,
        probe: &GpuBuffer<Complex32>,
        frame: usize,
    ) -> Result<ModeParams> {
        if frame == 0 || obj.len() % frame != 0 || probe.len() % frame != 0 || probe.is_empty() {
            return Err(PhysicsError::InvalidArgument(format!(
                "probe modes: '{}' ({} values) and '{}' ({} values) are not whole frames of {frame}",
                obj.label(),
                obj.len(),
                probe.label(),
                probe.len()
            )));
        }
        Ok(ModeParams {
            frame: to_u32("frame", frame)?,
            frames: to_u32("frames", obj.len() / frame)?,
            modes: to_u32("modes", probe.len() / frame)?,
            _pad: 0,
        })
    }

    /// Records ψ[p, f] = O[f]·P[p] into `psi` (modes × the values of `obj`).
    pub fn record_exit(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        obj: &GpuBuffer<Complex32>,
        probe: &GpuBuffer<Complex32>,
        psi: &GpuBuffer<Complex32>,
        frame: usize,
    ) -> Result<()> {
        let p = Self::params(obj, probe, frame)?;
        psi.expect_len("exit waves of every mode", p.modes as usize * obj.len())?;
        engine.expect_one_binding(psi)?;
        let groups = engine.grid((psi.len() as u64).div_ceil(256))?;
        rec.dispatch(
            &self.exit,
            &p,
            &[obj.binding(), probe.binding(), psi.binding()],
            groups,
        );
        Ok(())
    }

    /// Records dO[f] = Σ_p conj(P[p])·dψ[p, f] into `dobj` (the values of one mode of `grad_psi`).
    pub fn record_adjoint(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        grad_psi: &GpuBuffer<Complex32>,
        probe: &GpuBuffer<Complex32>,
        dobj: &GpuBuffer<Complex32>,
        frame: usize,
    ) -> Result<()> {
        let p = Self::params(dobj, probe, frame)?;
        grad_psi.expect_len(
            "exit-wave gradient of every mode",
            p.modes as usize * dobj.len(),
        )?;
        engine.expect_one_binding(grad_psi)?;
        let groups = engine.grid((dobj.len() as u64).div_ceil(256))?;
        rec.dispatch(
            &self.adjoint,
            &p,
            &[grad_psi.binding(), probe.binding(), dobj.binding()],
            groups,
        );
        Ok(())
    }
}

/// How a batch is grouped for gridsize > 1 (PtychoPINN's object_big path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grouping {
    /// Patches per group C = gridsize².
    pub members: usize,
    /// Canvas side M of the merge (see [`super::canvas_side`]).
    pub canvas: usize,
}

/// GPU state of the object_big path.
#[derive(Debug)]
struct Merged {
    grouping: Grouping,
    translate: Translate,
    merge: MergePatches,
    offsets: GpuBuffer<[f32; 2]>,
    canvas: GpuBuffer<Complex32>,
    wgt: GpuBuffer<f32>,
    grad_canvas: GpuBuffer<Complex32>,
    /// Re-extracted patches (what meets the probe).
    obj: GpuBuffer<Complex32>,
    /// Gradient with respect to the re-extracted patches.
    grad_obj: GpuBuffer<Complex32>,
}

/// Forward model + loss + backward for `frames` object patches of N×N with a probe of one or
/// more incoherent modes (with P > 1 modes: ψ_p = P_p·O, F_p as below, and Â = sqrt(Σ_p |F_p|²);
/// every buffer after the probe multiply holds P batches, mode-major):
/// for gridsize > 1 (see [`FarFieldModel::with_grouping`]) the object_big merge of each group
/// and the re-extraction of its members come first; then ψ = P·O, F = fftshift(FFT₂ ψ)/N,
/// loss(|F|, X), and the adjoint chain dL/dO = conj(P)·FFT₂ᴴ(ifftshift(dL/dF))/N (then back
/// through re-extraction and merge).
#[derive(Debug)]
pub struct FarFieldModel {
    n: usize,
    frames: usize,
    /// Probe modes P (incoherent: the modes add in intensity).
    modes: usize,
    /// The exit-wave kernels of P > 1 modes (None for one mode: the probe multiply).
    probe_modes: Option<ProbeModes>,
    probe: GpuBuffer<Complex32>,
    scale: f32,
    nll_weight: f32,
    mae_weight: f32,
    fwd: FftPlan,
    adj: FftPlan,
    cmul: Cmul,
    loss: AmpLoss,
    sum: ReduceSum,
    probe_grad: ProbeGrad,
    merged: Option<Merged>,
    psi: GpuBuffer<Complex32>,
    far: GpuBuffer<Complex32>,
    dfar: GpuBuffer<Complex32>,
    fft_scratch: GpuBuffer<Complex32>,
    loss_elems: GpuBuffer<f32>,
    sum_scratch: ReduceSumScratch,
}

impl FarFieldModel {
    /// Plans the model for `frames` patches of `n`×`n` with `probe` (n×n, already normalised),
    /// intensity scale `scale` and loss weights (gridsize 1: no merge).
    pub fn new(
        engine: &Engine,
        n: usize,
        frames: usize,
        probe: &[Complex32],
        scale: f32,
        nll_weight: f32,
        mae_weight: f32,
    ) -> Result<Self> {
        if probe.is_empty() || probe.len() % (n * n) != 0 {
            return Err(PhysicsError::InvalidArgument(format!(
                "probe has {} values, expected modes × {n}×{n}",
                probe.len()
            )));
        }
        let modes = probe.len() / (n * n);
        let fwd = FftPlan::with_options(
            engine,
            n,
            n,
            modes * frames,
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
            modes * frames,
            Direction::Inverse,
            FftOptions {
                norm: Norm::Ortho,
                shift_input: true,
                ..Default::default()
            },
        )?;
        let len = frames * n * n;
        let sum = ReduceSum::new(engine)?;
        Ok(FarFieldModel {
            n,
            frames,
            modes,
            probe_modes: if modes > 1 {
                Some(ProbeModes::new(engine)?)
            } else {
                None
            },
            probe: engine.upload("physics.probe", probe)?,
            scale,
            nll_weight,
            mae_weight,
            fft_scratch: fwd.alloc_scratch(engine)?,
            fwd,
            adj,
            cmul: Cmul::new(engine)?,
            loss: AmpLoss::new(engine)?,
            probe_grad: ProbeGrad::new(engine)?,
            merged: None,
            sum_scratch: sum.scratch(engine, len, 1)?,
            sum,
            psi: engine.alloc("physics.psi", modes * len)?,
            far: engine.alloc("physics.far", modes * len)?,
            dfar: engine.alloc("physics.dfar", modes * len)?,
            loss_elems: engine.alloc("physics.loss", len)?,
        })
    }

    /// Adds PtychoPINN's object_big path (gridsize > 1): consecutive runs of
    /// `grouping.members` patches form a group, merged into one `canvas`² canvas per group, and
    /// every member is re-extracted from its canvas before it meets the probe. The relative
    /// offsets are set per batch with [`Self::write_offsets`].
    pub fn with_grouping(mut self, engine: &Engine, grouping: Grouping) -> Result<Self> {
        let Grouping { members, canvas } = grouping;
        if members <= 1 {
            return Ok(self);
        }
        if self.frames % members != 0 {
            return Err(PhysicsError::InvalidArgument(format!(
                "{} patches are not a whole number of groups of {members}",
                self.frames
            )));
        }
        let groups = self.frames / members;
        let geom = MergeGeometry {
            n: self.n,
            m: canvas,
            groups,
            members,
        };
        geom.params()?;
        let len = self.frames * self.n * self.n;
        let cl = groups * canvas * canvas;
        self.merged = Some(Merged {
            grouping,
            translate: Translate::new(engine)?,
            merge: MergePatches::new(engine)?,
            offsets: engine.upload("physics.offsets", &vec![[0.0f32; 2]; self.frames])?,
            canvas: engine.alloc("physics.canvas", cl)?,
            wgt: engine.alloc("physics.canvas_weight", cl)?,
            grad_canvas: engine.alloc("physics.grad_canvas", cl)?,
            obj: engine.alloc("physics.reextracted", len)?,
            grad_obj: engine.alloc("physics.grad_reextracted", len)?,
        });
        Ok(self)
    }

    /// Sets the relative offsets (x, y) of every patch of the next batch (gridsize > 1;
    /// `frames` pairs, group-major). Without grouping this checks that all offsets are zero.
    pub fn write_offsets(&self, engine: &Engine, offsets: &[[f32; 2]]) -> Result<()> {
        if offsets.len() != self.frames {
            return Err(PhysicsError::InvalidArgument(format!(
                "{} offsets for a batch of {} patches",
                offsets.len(),
                self.frames
            )));
        }
        match &self.merged {
            Some(m) => Ok(engine.write(&m.offsets, 0, offsets)?),
            None if offsets.iter().all(|o| *o == [0.0, 0.0]) => Ok(()),
            None => Err(PhysicsError::InvalidArgument(
                "non-zero group offsets given to a gridsize-1 model".into(),
            )),
        }
    }

    /// Elements of one batch's loss (frames·N²).
    pub fn elements(&self) -> usize {
        self.frames * self.n * self.n
    }

    /// Patches per batch.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The grouping (None for gridsize 1).
    pub fn grouping(&self) -> Option<Grouping> {
        self.merged.as_ref().map(|m| m.grouping)
    }

    fn merge_geometry(&self, g: Grouping) -> MergeGeometry {
        MergeGeometry {
            n: self.n,
            m: g.canvas,
            groups: self.frames / g.members,
            members: g.members,
        }
    }

    fn reextract_geometry(&self, g: Grouping) -> TranslateGeometry {
        TranslateGeometry::reextract(self.n, g.canvas, self.frames / g.members, g.members)
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
        obj.expect_len("far-field model patches", self.elements())?;
        let lit = match &self.merged {
            Some(m) => {
                m.merge.record(
                    engine,
                    rec,
                    &self.merge_geometry(m.grouping),
                    obj,
                    &m.offsets,
                    &m.canvas,
                    &m.wgt,
                )?;
                m.translate.record(
                    engine,
                    rec,
                    &self.reextract_geometry(m.grouping),
                    &m.canvas,
                    &m.offsets,
                    &m.obj,
                )?;
                &m.obj
            }
            None => obj,
        };
        match &self.probe_modes {
            None => self.cmul.record(
                engine,
                rec,
                lit,
                &self.probe,
                &self.psi,
                self.n * self.n,
                false,
            )?,
            Some(pm) => {
                pm.record_exit(engine, rec, lit, &self.probe, &self.psi, self.n * self.n)?
            }
        }
        self.fwd
            .record(engine, rec, &self.psi, &self.far, &self.fft_scratch)?;
        let params = AmpLossParams {
            count: 0,
            inv_total: 1.0 / self.elements() as f32,
            scale: self.scale,
            nll_weight: self.nll_weight,
            mae_weight: self.mae_weight,
            modes: self.modes as u32,
            mode_stride: 0,
            _pad: 0,
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
        Ok(self.sum.record(
            engine,
            rec,
            &self.loss_elems,
            self.elements(),
            &self.sum_scratch,
        )?)
    }

    /// Records dL/dO into `dobj` (after [`Self::record_loss`] in the same or an earlier recording).
    pub fn record_backward(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        dobj: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        self.record_backward_with_probe(engine, rec, dobj, None)
    }

    /// [`Self::record_backward`], and also the probe gradient dL/dP into `grad_probe` (N×N)
    /// when given as `(patches passed to record_loss, grad_probe)`.
    pub fn record_backward_with_probe(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        dobj: &GpuBuffer<Complex32>,
        probe: Option<(&GpuBuffer<Complex32>, &GpuBuffer<Complex32>)>,
    ) -> Result<()> {
        dobj.expect_len("far-field model gradient", self.elements())?;
        // dL/dψ = Uᴴ dL/dF, written over ψ (not needed any more).
        self.adj
            .record(engine, rec, &self.dfar, &self.psi, &self.fft_scratch)?;
        if let Some((obj, grad_probe)) = probe {
            grad_probe.expect_len("probe gradient", self.modes * self.n * self.n)?;
            let lit = self.merged.as_ref().map_or(obj, |m| &m.obj);
            self.probe_grad
                .record(engine, rec, &self.psi, lit, grad_probe, self.n * self.n)?;
        }
        match &self.merged {
            Some(m) => {
                self.record_to_patches(engine, rec, &m.grad_obj)?;
                m.translate.record_adjoint(
                    engine,
                    rec,
                    &self.reextract_geometry(m.grouping),
                    &m.grad_obj,
                    &m.offsets,
                    &m.grad_canvas,
                )?;
                m.merge.record_adjoint(
                    engine,
                    rec,
                    &self.merge_geometry(m.grouping),
                    &m.grad_canvas,
                    &m.wgt,
                    &m.offsets,
                    dobj,
                )
            }
            None => self.record_to_patches(engine, rec, dobj),
        }
    }

    /// dL/d(illuminated patches) = Σ_p conj(P_p)·dL/dψ_p into `target` (one mode: the
    /// conjugate probe multiply).
    fn record_to_patches(
        &self,
        engine: &Engine,
        rec: &mut Recording,
        target: &GpuBuffer<Complex32>,
    ) -> Result<()> {
        let n2 = self.n * self.n;
        match &self.probe_modes {
            None => Ok(self
                .cmul
                .record(engine, rec, &self.psi, &self.probe, target, n2, true)?),
            Some(pm) => pm.record_adjoint(engine, rec, &self.psi, &self.probe, target, n2),
        }
    }

    /// Probe modes P.
    pub fn modes(&self) -> usize {
        self.modes
    }

    /// The far field F of the last recorded forward pass (fftshifted, orthonormal).
    pub fn far_field(&self) -> &GpuBuffer<Complex32> {
        &self.far
    }
}
