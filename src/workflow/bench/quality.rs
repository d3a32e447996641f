//! `ptycho bench quality`: reconstruction quality at PtychoPINN's scale — a 392-pixel lines
//! object with ≥ 2,000 training patterns (random scan), a separate test object on a grid scan,
//! nphotons 1e9, N = 64 — trained for a given budget, with the metrics after registration.
//! Issue 7's target: amplitude SSIM ≥ 0.80 and phase SSIM ≥ 0.90.

use std::path::PathBuf;

use super::BenchOpts;
use crate::eval::files::table;
use crate::gpu::Engine;
use crate::workflow::Result;
use crate::workflow::pipeline::{Pipeline, run_pipeline};
use crate::workflow::train::run_dir;

/// Amplitude SSIM the quality target asks for.
pub const TARGET_AMPLITUDE_SSIM: f64 = 0.80;
/// Phase SSIM the quality target asks for.
pub const TARGET_PHASE_SSIM: f64 = 0.90;

/// `ptycho bench quality`.
#[derive(Clone, Debug)]
pub struct QualityBench {
    /// Grid size (1 or 2).
    pub gridsize: u32,
    /// Training epochs (the budget; early stopping is off).
    pub epochs: usize,
    /// Training patterns.
    pub n_images: usize,
    /// Side of the train and test objects.
    pub object_size: usize,
    /// Grid step of the test scan in pixels.
    pub test_step: f64,
    /// Training batch (groups).
    pub batch_size: usize,
    /// Network width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// Probe defocus in radians at the radius N/4.
    pub probe_defocus: f64,
    /// Weight of the Poisson NLL in the training loss.
    pub nll_weight: f64,
    /// Weight of the amplitude MAE in the training loss.
    pub mae_weight: f64,
    /// Where the data, run and reconstruction go (replaced if it holds an earlier run of this
    /// benchmark).
    pub output_dir: PathBuf,
}

/// Runs the benchmark; `exec` are the command line's execution overrides.
pub fn run(
    engine: &Engine,
    opts: &BenchOpts,
    a: &QualityBench,
    exec: &[(&'static str, toml::Value)],
) -> Result<()> {
    let dir = &a.output_dir;
    let again = run_dir::is_run_dir(dir);
    run_dir::prepare_dir(dir, "bench-quality", again)?;
    let p = Pipeline {
        object_size: a.object_size,
        // PtychoPINN's density: 400 lines on 392 pixels.
        n_lines: (400.0 * a.object_size as f64 / 392.0).round() as usize,
        train_images: a.n_images,
        test_step: a.test_step,
        gridsize: a.gridsize,
        epochs: a.epochs,
        batch_size: a.batch_size,
        n_filters_scale: a.n_filters_scale,
        probe_defocus: a.probe_defocus,
        nll_weight: a.nll_weight,
        mae_weight: a.mae_weight,
        compare_probe_weighting: true,
    };
    let r = run_pipeline(engine, &p, dir, exec, !opts.json)?;
    let reached = r.metrics.amplitude.ssim >= TARGET_AMPLITUDE_SSIM
        && r.metrics.phase.ssim >= TARGET_PHASE_SSIM;
    if opts.json {
        let v = serde_json::json!({
            "adapter": engine.describe(), "bench": "quality", "gridsize": a.gridsize,
            "epochs": r.train.epochs, "train_patterns": a.n_images, "object_size": a.object_size,
            "amplitude_ssim": r.metrics.amplitude.ssim, "phase_ssim": r.metrics.phase.ssim,
            "amplitude_frc50": r.metrics.amplitude.frc50, "phase_frc50": r.metrics.phase.frc50,
            "target_reached": reached,
            "probe_weighting": r.metrics_probe_weighting.as_ref().map(|m| serde_json::json!({
                "amplitude_ssim": m.amplitude.ssim, "phase_ssim": m.phase.ssim,
                "amplitude_frc50": m.amplitude.frc50, "phase_frc50": m.phase.frc50,
            })), "seconds": r.seconds, "report": r,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("adapter: {}", engine.describe());
    println!(
        "uniform weighting (the central inference.stitch_crop pixels, out/reconstruction.npz):"
    );
    println!("{}", table(&r.metrics));
    if let Some(m) = &r.metrics_probe_weighting {
        println!("probe weighting (central N/2, Σ|P|²·O / Σ|P|², out/reconstruction_probe.npz):");
        println!("{}", table(m));
    }
    println!(
        "gridsize {}, {} epochs × {} patterns ({:.0} s training, {:.1} patterns/s): amplitude SSIM {:.3} (target {TARGET_AMPLITUDE_SSIM}), phase SSIM {:.3} (target {TARGET_PHASE_SSIM}) — {}",
        a.gridsize,
        r.train.epochs,
        a.n_images,
        r.seconds[1],
        r.train.patterns_per_second,
        r.metrics.amplitude.ssim,
        r.metrics.phase.ssim,
        if reached {
            "target reached"
        } else {
            "target not reached at this budget"
        }
    );
    println!(
        "pictures: {0}/out/amplitude.png, {0}/out/phase.png, {0}/out/frc.png; ground truth {0}/test.png",
        dir.display()
    );
    Ok(())
}
