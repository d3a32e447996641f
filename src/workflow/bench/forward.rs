//! `ptycho bench forward`: the physics of a training step — for gridsize 2 the object_big merge
//! and re-extraction (sub-pixel translations), probe multiply, far field, loss and the backward
//! pass to the object patches — in frames per second, with the f64 CPU twin.

use num_complex::{Complex32, Complex64};

use super::{BenchOpts, Row, report, test_signal, time_cpu, time_gpu};
use crate::gpu::Engine;
use crate::physics::{FarFieldModel, Grouping, cpu};
use crate::workflow::{Result, WorkflowError};

/// `ptycho bench forward`.
#[derive(Clone, Debug)]
pub struct ForwardBench {
    /// Patch size N.
    pub n: usize,
    /// Frames per batch (a multiple of 4 with gridsize 2).
    pub batch: usize,
    /// 1: probe, far field and loss; 2: also the merge and re-extraction of groups of 4 with
    /// fractional offsets of up to 6 px.
    pub gridsize: u32,
    /// The adapter's memory bandwidth in GB/s, to report the fraction of the roofline reached.
    pub bandwidth_gbs: Option<f64>,
}

/// Runs the benchmark.
pub fn run(engine: &Engine, opts: &BenchOpts, a: &ForwardBench) -> Result<()> {
    let (n, b) = (a.n, a.batch);
    let probe: Vec<Complex32> = crate::simulate::objects::default_probe(n);
    let obj: Vec<Complex32> = test_signal(b * n * n, 3)
        .iter()
        .map(|z| Complex32::new(0.5 + 0.3 * z.re, 0.2 * z.im))
        .collect();
    let x: Vec<f32> = test_signal(b * n * n, 4)
        .iter()
        .map(|z| z.re.abs())
        .collect();
    let s = crate::workflow::train::prepare::intensity_scale(1e9, n) as f32;
    let c = (a.gridsize * a.gridsize) as usize;
    if b % c != 0 {
        return Err(WorkflowError::Usage(format!(
            "--batch {b} is not a whole number of groups of {c}"
        )));
    }
    // Offsets of a 6-px neighbourhood, fractional as real scans are.
    let offsets: Vec<[f32; 2]> = test_signal(b, 5)
        .iter()
        .map(|z| {
            if c > 1 {
                [6.0 * z.re, 6.0 * z.im]
            } else {
                [0.0, 0.0]
            }
        })
        .collect();
    let canvas = crate::physics::canvas_side(n, 6.0);
    let mut model = FarFieldModel::new(engine, n, b, &probe, s, 1.0, 0.0)?;
    if c > 1 {
        model = model.with_grouping(engine, Grouping { members: c, canvas })?;
    }
    model.write_offsets(engine, &offsets)?;
    let go = engine.upload("bench.obj", &obj)?;
    let gx = engine.upload("bench.x", &x)?;
    let dobj = engine.alloc::<Complex32>("bench.dobj", obj.len())?;
    let mut dispatches = 0;
    let gpu = time_gpu::<WorkflowError>(engine, opts, |rec| {
        model.record_loss(engine, rec, &go, &gx)?;
        model.record_backward(engine, rec, &dobj)?;
        dispatches = rec.dispatch_count();
        Ok(())
    })?;
    let (o64, p64): (Vec<Complex64>, Vec<Complex64>) = (
        obj.iter()
            .map(|z| Complex64::new(z.re as f64, z.im as f64))
            .collect(),
        probe
            .iter()
            .map(|z| Complex64::new(z.re as f64, z.im as f64))
            .collect(),
    );
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let group = (c > 1).then(|| cpu::GroupGeometry {
        members: c,
        canvas,
        offsets: offsets.clone(),
    });
    let cpu = time_cpu(opts, || {
        std::hint::black_box(cpu::model_backward(
            &o64,
            &p64,
            &x64,
            n,
            s as f64,
            1.0,
            0.0,
            group.as_ref(),
        ));
    });
    // Minimum traffic per frame: object in, probe multiply out, 2 FFT passes (read + write) each
    // way, loss/grad pass (far field in, gradient out, measured in), backward multiply.
    let frame = (n * n) as f64;
    let bytes =
        b as f64 * frame * (8.0 * 2.0 + 4.0 * 8.0 * 2.0 + (8.0 + 4.0 + 4.0 + 8.0) + 8.0 * 2.0);
    let mut extra = vec![
        ("frames/s".into(), b as f64 / (gpu.median_ns * 1e-9)),
        ("cpu_frames/s".into(), b as f64 / (cpu.median_ns * 1e-9)),
    ];
    if let Some(bw) = a.bandwidth_gbs {
        extra.push(("roofline_fraction".into(), bytes / gpu.median_ns / bw));
    }
    let row = Row {
        name: "forward".into(),
        shape: format!("{b}×{n}² gridsize {} fwd+loss+bwd", a.gridsize),
        gpu,
        cpu: Some(cpu),
        bytes,
        dispatches,
        extra,
    };
    report(engine, opts, &[row]);
    Ok(())
}
