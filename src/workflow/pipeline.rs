//! One simulate → train → infer → evaluate run on lines objects: `ptycho demo` with the
//! [`DEMO`] budget, and `ptycho bench quality` at PtychoPINN's scale.

use std::path::Path;

use crate::config::{self, Resolved};
use crate::data::ReadOptions;
use crate::eval::Metrics;
use crate::eval::files::{EvalFiles, evaluate_files};
use crate::gpu::Engine;
use crate::model::{Layout, NetConfig};
use crate::simulate::ScanKind;
use crate::simulate::objects::ObjectKind;
use crate::stitch::PatchWeighting;
use crate::workflow::Result;
use crate::workflow::infer::{InferOptions, InferSummary, infer, resolve_model_config};
use crate::workflow::simulate::SimulateSpec;
use crate::workflow::train::prepare::net_config;
use crate::workflow::train::{TrainOptions, TrainSummary, train};

/// What a pipeline run simulates and trains.
#[derive(Clone, Copy, Debug)]
pub struct Pipeline {
    /// Side of the train and test objects.
    pub object_size: usize,
    /// Random lines per object (PtychoPINN: 400 on 392 pixels).
    pub n_lines: usize,
    /// Training patterns (random scan).
    pub train_images: usize,
    /// Grid step of the test scan (full coverage by the stitched crops).
    pub test_step: f64,
    /// Grid size.
    pub gridsize: u32,
    /// Training epochs.
    pub epochs: usize,
    /// Training batch (groups).
    pub batch_size: usize,
    /// Network width multiplier (`model.n_filters_scale`).
    pub n_filters_scale: u32,
    /// Probe defocus (radians at the radius N/4) of the simulated probe.
    pub probe_defocus: f64,
    /// Weight of the Poisson NLL in the training loss.
    pub nll_weight: f64,
    /// Weight of the amplitude MAE in the training loss.
    pub mae_weight: f64,
    /// Also stitch the test predictions with probe weighting (`inference.patch_weighting =
    /// probe`) and evaluate that reconstruction too (out/reconstruction_probe.npz,
    /// out/metrics_probe.json).
    pub compare_probe_weighting: bool,
}

/// The demo's budget: about 4 minutes of training on 2 lavapipe cores — with the network at
/// `n_filters_scale = 1` (563,802 parameters), a quarter of the arithmetic of PtychoPINN's
/// default 2, which `ptycho demo --n-filters-scale 2` runs (about 4× the training time).
pub const DEMO: Pipeline = Pipeline {
    object_size: 128,
    // PtychoPINN's 400 lines on 392 pixels scaled by area, 400·(128/392)² ≈ 43. (`bench quality`
    // scales by side, 400·size/392, which keeps the spacing between lines; the two agree at 392.)
    n_lines: 43,
    train_images: 512,
    test_step: 4.0,
    // Gridsize 1 reaches the higher SSIM in the demo's few minutes (amplitude 0.68 / phase 0.92
    // against 0.56 / 0.75 for gridsize 2, same data and epochs).
    gridsize: 1,
    epochs: 24,
    batch_size: 16,
    n_filters_scale: 1,
    // A defocused probe (F-15): PtychoPINN's real default probe leaves single patterns a twin
    // ambiguity, which costs the demo's gridsize-1 budget about half its amplitude SSIM.
    probe_defocus: 10.0,
    nll_weight: 1.0,
    mae_weight: 0.0,
    compare_probe_weighting: false,
};

/// What [`run_pipeline`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PipelineReport {
    /// Training summary.
    pub train: TrainSummary,
    /// Inference summary.
    pub infer: InferSummary,
    /// Metrics of the test reconstruction.
    pub metrics: Metrics,
    /// Metrics of the same predictions stitched with probe weighting
    /// ([`Pipeline::compare_probe_weighting`]).
    pub metrics_probe_weighting: Option<Metrics>,
    /// Seconds spent simulating, training, inferring and evaluating.
    pub seconds: [f64; 4],
}

impl Pipeline {
    /// The simulation of one of the pipeline's objects.
    fn simulation(&self, output: &Path, seed: u64, scan: ScanKind, count: usize) -> SimulateSpec {
        SimulateSpec {
            output: Some(output.to_path_buf()),
            output_train: None,
            output_test: None,
            split: None,
            input: None,
            cxi_pixel_size_m: None,
            n: 64,
            object: ObjectKind::Lines,
            object_size: self.object_size,
            n_lines: self.n_lines,
            with_phase: true,
            scan,
            n_images: count,
            step: self.test_step,
            buffer: None,
            probe_defocus: self.probe_defocus,
            probe_modes: None,
            probe_mode_power: None,
            nphotons: 1e9,
            seed,
            no_noise: false,
            preview: true,
        }
    }

    /// The training configuration: the pipeline's settings over the defaults, then the
    /// execution overrides `exec` (accelerator and the like, as the command line gave them).
    fn training_config(
        &self,
        exec: &[(&'static str, toml::Value)],
        quiet: bool,
    ) -> Result<Resolved> {
        use toml::Value::{Boolean, Float, Integer};
        let mut o = vec![
            ("training.epochs", Integer(self.epochs as i64)),
            ("data.gridsize", Integer(self.gridsize as i64)),
            ("training.batch_size", Integer(self.batch_size as i64)),
            (
                "model.n_filters_scale",
                Integer(self.n_filters_scale as i64),
            ),
            ("training.early_stop_patience", Integer(0)),
            ("training.nll_weight", Float(self.nll_weight)),
            ("training.mae_weight", Float(self.mae_weight)),
        ];
        if quiet {
            o.push(("execution.quiet", Boolean(true)));
        }
        o.extend_from_slice(exec);
        Ok(config::resolve(None, &o)?)
    }
}

/// Simulates a train object (random scan) and a separate test object (grid scan), trains,
/// infers the test object and evaluates it, all in `dir` (which must exist); `exec` are the
/// command line's execution overrides; `verbose` prints the steps as they go.
pub fn run_pipeline(
    engine: &Engine,
    p: &Pipeline,
    dir: &Path,
    exec: &[(&'static str, toml::Value)],
    verbose: bool,
) -> Result<PipelineReport> {
    let say = |s: String| {
        if verbose {
            println!("{s}");
        }
    };
    let mut seconds = [0.0; 4];
    let t = std::time::Instant::now();
    say(format!(
        "[1/4] simulating lines objects of {0}×{0} px (train: {1} patterns, random scan; test: a separate object, grid scan with step {2})",
        p.object_size, p.train_images, p.test_step
    ));
    let train_npz = dir.join("train.npz");
    let test_npz = dir.join("test.npz");
    let simulate = |spec: &SimulateSpec| crate::workflow::simulate::run(engine, spec).map(|_| ());
    simulate(&p.simulation(&train_npz, 1, ScanKind::Random, p.train_images))?;
    simulate(&p.simulation(&test_npz, 2, ScanKind::Grid, 0))?;
    seconds[0] = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let resolved = p.training_config(exec, !verbose)?;
    let params = Layout::new(&net_config(&resolved.config))?.params;
    say(format!(
        "[2/4] training (gridsize {}, {} epochs; network n_filters_scale {}, {} parameters{})",
        p.gridsize,
        p.epochs,
        p.n_filters_scale,
        params,
        if p.n_filters_scale as usize == NetConfig::DEFAULT_FILTER_SCALE {
            ", PtychoPINN's default"
        } else {
            "; PtychoPINN's default is 2"
        }
    ));
    let run_dir = dir.join("run");
    let train_summary = train(
        engine,
        &resolved,
        &TrainOptions {
            train_data: train_npz,
            test_data: None,
            output_dir: run_dir.clone(),
            resume: false,
            overwrite: true,
            read: ReadOptions::default(),
        },
    )?;
    if verbose {
        println!("{}", train_summary.report(&run_dir));
    }
    seconds[1] = t.elapsed().as_secs_f64();
    say("[3/4] inferring the test object".into());
    let t = std::time::Instant::now();
    let out = dir.join("out");
    let resolved = resolve_model_config(&run_dir, exec)?;
    let infer_summary = infer(
        engine,
        &resolved,
        &InferOptions {
            model_dir: run_dir.clone(),
            test_data: test_npz.clone(),
            output_dir: out.clone(),
            overwrite: true,
            read: ReadOptions::default(),
            tiff: false,
            checkpoint: None,
            also_stitch: p
                .compare_probe_weighting
                .then(|| (PatchWeighting::Probe, out.join("reconstruction_probe.npz"))),
        },
    )?;
    say(format!(
        "inferred {} patterns at {:.1} patterns/s",
        infer_summary.patterns, infer_summary.patterns_per_second
    ));
    seconds[2] = t.elapsed().as_secs_f64();
    say("[4/4] evaluating against the ground truth".into());
    let t = std::time::Instant::now();
    let evaluate = |name: &str, metrics: &str| {
        evaluate_files(&EvalFiles {
            reconstruction: out.join(name),
            ground_truth: test_npz.clone(),
            output: out.join(metrics),
            trim: 4,
        })
    };
    let metrics = evaluate("reconstruction.npz", "metrics.json")?;
    let metrics_probe_weighting = if p.compare_probe_weighting {
        Some(evaluate("reconstruction_probe.npz", "metrics_probe.json")?)
    } else {
        None
    };
    seconds[3] = t.elapsed().as_secs_f64();
    Ok(PipelineReport {
        train: train_summary,
        infer: infer_summary,
        metrics,
        metrics_probe_weighting,
        seconds,
    })
}
