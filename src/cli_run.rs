//! `ptycho train`, `ptycho infer` and `ptycho demo`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli_config::{ConfigFlags, ExecFlags};
use crate::config::{self, Resolved};
use crate::data::ReadOptions;
use crate::gpu::{Accelerator, Engine};
use crate::train::infer::{InferOptions, infer};
use crate::train::trainer::{TrainOptions, train};

/// How data files are read: flags shared by `train` and `infer`.
#[derive(Clone, Debug, Default, Args)]
pub struct ReadFlags {
    /// Probe file replacing the data file's probe: NPZ (`probeGuess`, or `probe` of a model
    /// bundle or Ptychodus product) or CXI.
    #[arg(long, value_name = "FILE")]
    pub probe: Option<PathBuf>,
    /// Object pixel size in metres for converting CXI translations to pixels [default:
    /// λ·z/(N·detector pixel) from the file's energy, distance and detector pixel size].
    #[arg(long, value_name = "METRES", value_parser = positive_metres)]
    pub cxi_pixel_size_m: Option<f64>,
}

impl ReadFlags {
    /// The reader options these flags ask for.
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            pixel_size_m: self.cxi_pixel_size_m,
            probe: self.probe.clone(),
            fallback_probe: None,
            skip_patches: false,
        }
    }
}

/// A positive, finite length in metres (clap value parser).
pub fn positive_metres(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s}: expected a positive length in metres")),
    }
}

/// `ptycho train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data (PtychoPINN NPZ, or CXI with the `hdf5` feature).
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    pub train_data: Option<PathBuf>,
    /// Separate validation data (instead of holding out `validation_split` of the groups).
    #[arg(long, value_name = "FILE")]
    pub test_data: Option<PathBuf>,
    /// Run directory (model bundle, checkpoints, metrics.csv, config.toml).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub output_dir: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint (uses DIR/config.toml unless --config).
    #[arg(long, value_name = "DIR", conflicts_with = "output_dir")]
    pub resume: Option<PathBuf>,
    /// Replace an existing output directory.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub read: ReadFlags,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub flags: ConfigFlags,
}

/// `ptycho infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// Run directory written by `ptycho train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Data to reconstruct (PtychoPINN NPZ, or CXI with the `hdf5` feature; without a probe
    /// of its own the model's is used).
    #[arg(long, value_name = "FILE")]
    pub test_data: PathBuf,
    /// Output directory (reconstruction.npz, amplitude.png, phase.png, product.npz, and
    /// product.h5 with the `hdf5` feature).
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// Also write amplitude.tiff and phase.tiff (single-channel float32).
    #[arg(long)]
    pub tiff: bool,
    /// Weights from a training checkpoint instead of the final model: `last`, `best` (in the
    /// run's checkpoints/) or a path; works while the run is still training.
    #[arg(long, value_name = "NAME|FILE")]
    pub checkpoint: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub read: ReadFlags,
    /// Central pixels of each patch used in stitching.
    #[arg(long)]
    pub stitch_crop: Option<usize>,
    /// Object pixel size in metres for the Ptychodus product.
    #[arg(long)]
    pub pixel_size_m: Option<f64>,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub exec: ExecFlags,
}

/// `ptycho demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its data, run and reconstruction.
    #[arg(long, value_name = "DIR", default_value = "ptycho-demo")]
    pub output_dir: PathBuf,
    /// Training epochs.
    #[arg(long, default_value_t = DEMO.epochs)]
    pub epochs: usize,
    /// Training patterns.
    #[arg(long, default_value_t = DEMO.train_images)]
    pub n_images: usize,
    /// Grid size (1, or 2: groups of 4 neighbouring patterns merged in the loss).
    #[arg(long, default_value_t = DEMO.gridsize, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub gridsize: u32,
    #[command(flatten)]
    #[allow(missing_docs, reason = "flattened")]
    pub physics: PipelineFlags,
    /// Replace an existing directory that is not an earlier demo (an earlier demo is replaced).
    #[arg(long)]
    pub overwrite: bool,
}

/// The probe and loss of a [`Pipeline`], shared by `ptycho demo` and `ptycho bench quality`.
#[derive(Clone, Copy, Debug, Args)]
pub struct PipelineFlags {
    /// Probe defocus in radians at the radius N/4 (see `simulate --probe-defocus`).
    #[arg(long, default_value_t = DEMO.probe_defocus, value_name = "RADIANS")]
    pub probe_defocus: f64,
    /// Weight of the Poisson NLL in the training loss.
    #[arg(long, default_value_t = DEMO.nll_weight)]
    pub nll_weight: f64,
    /// Weight of the amplitude MAE in the training loss.
    #[arg(long, default_value_t = DEMO.mae_weight)]
    pub mae_weight: f64,
}

impl PipelineFlags {
    /// `p` with these settings.
    pub fn apply(&self, p: Pipeline) -> Pipeline {
        Pipeline {
            probe_defocus: self.probe_defocus,
            nll_weight: self.nll_weight,
            mae_weight: self.mae_weight,
            ..p
        }
    }
}

/// One simulate → train → infer → evaluate run on lines objects: the demo, and
/// `ptycho bench quality` with a larger budget.
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
    /// Probe defocus (radians at the radius N/4) of the simulated probe.
    pub probe_defocus: f64,
    /// Weight of the Poisson NLL in the training loss.
    pub nll_weight: f64,
    /// Weight of the amplitude MAE in the training loss.
    pub mae_weight: f64,
}

/// The demo's budget: about 4 minutes of training on 2 lavapipe cores.
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
    // A defocused probe (F-15): PtychoPINN's real default probe leaves single patterns a twin
    // ambiguity, which costs the demo's gridsize-1 budget about half its amplitude SSIM.
    probe_defocus: 10.0,
    nll_weight: 1.0,
    mae_weight: 0.0,
};

/// What [`run_pipeline`] measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PipelineReport {
    /// Training summary.
    pub train: crate::train::trainer::TrainSummary,
    /// Inference summary.
    pub infer: crate::train::infer::InferSummary,
    /// Metrics of the test reconstruction.
    pub metrics: crate::eval::Metrics,
    /// Seconds spent simulating, training, inferring and evaluating.
    pub seconds: [f64; 4],
}

fn engine_for(accel: Accelerator) -> anyhow::Result<Engine> {
    let e = crate::cli::open_engine(accel)?;
    eprintln!("ptycho: using {}", e.describe());
    Ok(e)
}

fn report_train(dir: &Path, s: &crate::train::trainer::TrainSummary) {
    println!(
        "trained {} epochs: train loss {:.6}, val loss {:.6}, {:.1} patterns/s; peak GPU memory {}{}{}{}",
        s.epochs,
        s.train_loss,
        s.val_loss,
        s.patterns_per_second,
        crate::util::text::human_bytes(s.peak_gpu_bytes),
        crate::util::fs::peak_host_note(),
        if s.early_stopped { " (early stop)" } else { "" },
        if s.interrupted {
            " (interrupted: resume with --resume)"
        } else {
            ""
        }
    );
    println!("run directory: {}", dir.display());
}

/// Runs `ptycho train`.
pub fn run_train(a: &TrainArgs, accel: Option<Accelerator>) -> anyhow::Result<()> {
    let mut flags = a.flags.clone();
    let (dir, resume) = match (&a.resume, &a.output_dir) {
        (Some(d), _) => {
            if flags.config.is_none() {
                flags.config = Some(d.join("config.toml"));
            }
            (d.clone(), true)
        }
        (None, Some(d)) => (d.clone(), false),
        (None, None) => anyhow::bail!("--output-dir is required"),
    };
    let resolved = flags.resolve(accel)?;
    let train_data = match &a.train_data {
        Some(p) => p.clone(),
        None => anyhow::bail!("--resume needs --train-data (the same data the run started with)"),
    };
    let engine = engine_for(resolved.config.execution.accelerator)?;
    let opts = TrainOptions {
        train_data,
        test_data: a.test_data.clone(),
        output_dir: dir.clone(),
        resume,
        overwrite: a.overwrite,
        read: a.read.options(),
    };
    let s = train(&engine, &resolved, &opts)?;
    report_train(&dir, &s);
    Ok(())
}

fn infer_resolved(
    model: &Path,
    stitch_crop: Option<usize>,
    pixel: Option<f64>,
    exec: &ExecFlags,
    accel: Option<Accelerator>,
) -> anyhow::Result<Resolved> {
    let mut o = exec.overrides(accel);
    if let Some(c) = stitch_crop {
        o.push(("inference.stitch_crop", toml::Value::Integer(c as i64)));
    }
    if let Some(p) = pixel {
        o.push(("inference.pixel_size_m", toml::Value::Float(p)));
    }
    let cfg = model.join("config.toml");
    if !cfg.is_file() {
        anyhow::bail!(
            "--model {}: no config.toml there; is it a ptycho run directory?",
            model.display()
        );
    }
    Ok(config::resolve(Some(&cfg), &o)?)
}

/// Runs `ptycho infer`.
pub fn run_infer(a: &InferArgs, accel: Option<Accelerator>) -> anyhow::Result<()> {
    let resolved = infer_resolved(&a.model, a.stitch_crop, a.pixel_size_m, &a.exec, accel)?;
    let engine = engine_for(resolved.config.execution.accelerator)?;
    let s = infer(
        &engine,
        &resolved,
        &InferOptions {
            model_dir: a.model.clone(),
            test_data: a.test_data.clone(),
            output_dir: a.output_dir.clone(),
            overwrite: a.overwrite,
            read: a.read.options(),
            tiff: a.tiff,
            checkpoint: a.checkpoint.as_deref().map(|c| match c {
                "last" | "best" | "interrupted" => {
                    a.model.join("checkpoints").join(format!("{c}.npz"))
                }
                path => PathBuf::from(path),
            }),
        },
    )?;
    println!(
        "inferred {} patterns at {:.1} patterns/s; stitched {}×{} px; peak GPU memory {}{}",
        s.patterns,
        s.patterns_per_second,
        s.size_wh.0,
        s.size_wh.1,
        crate::util::text::human_bytes(s.peak_gpu_bytes),
        crate::util::fs::peak_host_note()
    );
    println!("wrote {}/{}", a.output_dir.display(), s.files.join(", "));
    Ok(())
}

/// Runs `ptycho demo`: simulate → train → infer → evaluate on a small lines dataset.
pub fn run_demo(a: &DemoArgs, accel: Option<Accelerator>) -> anyhow::Result<()> {
    let dir = &a.output_dir;
    // Re-running the demo replaces its own earlier output (never a foreign directory).
    let again = crate::train::run::is_run_dir(dir);
    crate::train::run::prepare_dir(dir, "demo", a.overwrite || again)?;
    let engine = engine_for(accel.unwrap_or_default())?;
    let p = a.physics.apply(Pipeline {
        epochs: a.epochs,
        train_images: a.n_images,
        gridsize: a.gridsize,
        ..DEMO
    });
    let r = run_pipeline(&engine, &p, dir, accel, true)?;
    let out = dir.join("out");
    println!("{}", crate::eval::files::table(&r.metrics));
    println!(
        "pictures: {0}/amplitude.png {0}/phase.png {0}/frc.png; ground truth preview: {1}/test.png; total {2:.0} s",
        out.display(),
        dir.display(),
        r.seconds.iter().sum::<f64>()
    );
    Ok(())
}

/// Simulates a train object (random scan) and a separate test object (grid scan), trains,
/// infers the test object and evaluates it, all in `dir` (which must exist); `verbose` prints
/// the steps as they go.
pub fn run_pipeline(
    engine: &Engine,
    p: &Pipeline,
    dir: &Path,
    accel: Option<Accelerator>,
    verbose: bool,
) -> anyhow::Result<PipelineReport> {
    let say = |s: String| {
        if verbose {
            println!("{s}");
        }
    };
    let mut seconds = [0.0; 4];
    let t = std::time::Instant::now();
    let sim = |out: &str, seed: u64, scan: crate::simulate::ScanKind, count: usize| {
        let args = crate::simulate::cli::SimulateArgs {
            output: Some(dir.join(out)),
            output_train: None,
            output_test: None,
            split: None,
            input: None,
            cxi_pixel_size_m: None,
            n: 64,
            object: crate::simulate::cli::ObjectKind::Lines,
            object_size: p.object_size,
            n_lines: p.n_lines,
            with_phase: true,
            scan,
            n_images: count,
            step: p.test_step,
            buffer: None,
            probe_defocus: p.probe_defocus,
            nphotons: 1e9,
            seed,
            no_noise: false,
            preview: true,
        };
        crate::simulate::cli::run(engine, &args).map(|_| ())
    };
    say(format!(
        "[1/4] simulating lines objects of {0}×{0} px (train: {1} patterns, random scan; test: a separate object, grid scan with step {2})",
        p.object_size, p.train_images, p.test_step
    ));
    sim(
        "train.npz",
        1,
        crate::simulate::ScanKind::Random,
        p.train_images,
    )?;
    sim("test.npz", 2, crate::simulate::ScanKind::Grid, 0)?;
    seconds[0] = t.elapsed().as_secs_f64();
    say(format!(
        "[2/4] training (gridsize {}, {} epochs)",
        p.gridsize, p.epochs
    ));
    let t = std::time::Instant::now();
    let mut flags = ConfigFlags {
        epochs: Some(p.epochs),
        gridsize: Some(p.gridsize),
        batch_size: Some(p.batch_size),
        ..Default::default()
    };
    flags.early_stop_patience = Some(0);
    flags.nll_weight = Some(p.nll_weight);
    flags.mae_weight = Some(p.mae_weight);
    flags.exec.quiet = !verbose;
    let resolved = flags.resolve(accel)?;
    let run_dir = dir.join("run");
    let train_summary = train(
        engine,
        &resolved,
        &TrainOptions {
            train_data: dir.join("train.npz"),
            test_data: None,
            output_dir: run_dir.clone(),
            resume: false,
            overwrite: true,
            read: ReadOptions::default(),
        },
    )?;
    if verbose {
        report_train(&run_dir, &train_summary);
    }
    seconds[1] = t.elapsed().as_secs_f64();
    say("[3/4] inferring the test object".into());
    let t = std::time::Instant::now();
    let out = dir.join("out");
    let resolved = infer_resolved(&run_dir, None, None, &ExecFlags::default(), accel)?;
    let infer_summary = infer(
        engine,
        &resolved,
        &InferOptions {
            model_dir: run_dir.clone(),
            test_data: dir.join("test.npz"),
            output_dir: out.clone(),
            overwrite: true,
            read: ReadOptions::default(),
            tiff: false,
            checkpoint: None,
        },
    )?;
    say(format!(
        "inferred {} patterns at {:.1} patterns/s",
        infer_summary.patterns, infer_summary.patterns_per_second
    ));
    seconds[2] = t.elapsed().as_secs_f64();
    say("[4/4] evaluating against the ground truth".into());
    let t = std::time::Instant::now();
    let metrics = crate::eval::files::evaluate_files(&crate::eval::files::EvalFiles {
        reconstruction: out.join("reconstruction.npz"),
        ground_truth: dir.join("test.npz"),
        output: out.join("metrics.json"),
        trim: 4,
    })?;
    seconds[3] = t.elapsed().as_secs_f64();
    Ok(PipelineReport {
        train: train_summary,
        infer: infer_summary,
        metrics,
        seconds,
    })
}
