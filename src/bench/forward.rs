//! `ptycho bench forward`: the physics of a training step — probe multiply, far field, loss and
//! the backward pass to the object patches — in frames per second, with the f64 CPU twin.

use clap::Args;
use num_complex::{Complex32, Complex64};

use super::{BenchOpts, Row, report, test_signal, time_cpu, time_gpu};
use crate::gpu::{Engine, Result};
use crate::physics::{FarFieldModel, cpu};

/// `ptycho bench forward`.
#[derive(Clone, Debug, Args)]
pub struct ForwardArgs {
    /// Patch size N.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Frames per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

/// Runs the benchmark.
pub fn run(engine: &Engine, opts: &BenchOpts, a: &ForwardArgs) -> Result<()> {
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
    let s = crate::train::prepare::intensity_scale(1e9, n) as f32;
    let model = FarFieldModel::new(engine, n, b, &probe, s, 1.0, 0.0)?;
    let go = engine.upload("bench.obj", &obj)?;
    let gx = engine.upload("bench.x", &x)?;
    let dobj = engine.alloc::<Complex32>("bench.dobj", obj.len())?;
    let mut dispatches = 0;
    let gpu = time_gpu(engine, opts, |rec| {
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
    let cpu = time_cpu(opts, || {
        std::hint::black_box(cpu::far_field_backward(
            &o64, &p64, &x64, n, s as f64, 1.0, 0.0,
        ));
    });
    // Minimum traffic per frame: object in, probe multiply out, 2 FFT passes (read + write) each
    // way, loss/grad pass (far field in, gradient out, measured in), backward multiply.
    let frame = (n * n) as f64;
    let bytes =
        b as f64 * frame * (8.0 * 2.0 + 4.0 * 8.0 * 2.0 + (8.0 + 4.0 + 4.0 + 8.0) + 8.0 * 2.0);
    let row = Row {
        name: "forward".into(),
        shape: format!("{b}×{n}² fwd+loss+bwd"),
        gpu,
        cpu: Some(cpu),
        bytes,
        dispatches,
        extra: vec![
            ("frames/s".into(), b as f64 / (gpu.median_ns * 1e-9)),
            ("cpu_frames/s".into(), b as f64 / (cpu.median_ns * 1e-9)),
        ],
    };
    report(engine, opts, &[row]);
    Ok(())
}
