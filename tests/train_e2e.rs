//! A tiny simulate → train → infer → evaluate run through the binary, resume after an
//! interrupted schedule, and the bad-input rules of train/infer.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ok, ptycho, ptycho_env, s};

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("e2e", name)
}

fn simulate(d: &Path, count: usize, seed: u64) -> PathBuf {
    let data = d.join("sim.npz");
    let (count, seed) = (count.to_string(), seed.to_string());
    ok(ptycho([
        "simulate",
        "--output",
        s(&data),
        "--n",
        "16",
        "--object-size",
        "48",
        "--n-images",
        &count,
        "--seed",
        &seed,
    ]));
    data
}

fn read_params(p: &Path) -> Vec<(String, Vec<f32>)> {
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut names = npz.names().unwrap();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let a = npz
                .by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(&n)
                .unwrap();
            (n, a.iter().copied().collect())
        })
        .collect()
}

#[test]
fn tiny_train_infer_evaluate_and_resume() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("run");
    let data = simulate(&d, 40, 3);
    let common_flags = [
        "--n",
        "16",
        "--batch-size",
        "8",
        "--seed",
        "5",
        "--stitch-crop",
        "8",
        "--quiet",
    ];
    // Two epochs straight.
    let full = d.join("full");
    let mut args = vec![
        "train",
        "--train-data",
        s(&data),
        "--output-dir",
        s(&full),
        "--epochs",
        "2",
    ];
    args.extend(common_flags);
    let out = ok(ptycho(&args));
    assert!(
        out.contains("trained 2 epochs") && out.contains("peak GPU memory"),
        "{out}"
    );
    for f in [
        "model.npz",
        "bundle.npz",
        "config.toml",
        "metrics.csv",
        "checkpoints/last.npz",
        "ptycho-run.json",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert!(metrics.starts_with("epoch,train_loss,val_loss,lr,seconds"));

    // One epoch, then resume to two: the same weights, bit for bit (deterministic kernels).
    let part = d.join("part");
    let mut args = vec![
        "train",
        "--train-data",
        s(&data),
        "--output-dir",
        s(&part),
        "--epochs",
        "1",
    ];
    args.extend(common_flags);
    ok(ptycho(&args));
    let mut args = vec![
        "train",
        "--train-data",
        s(&data),
        "--resume",
        s(&part),
        "--epochs",
        "2",
    ];
    args.extend(common_flags);
    ok(ptycho(&args));
    assert_eq!(
        read_params(&full.join("model.npz")),
        read_params(&part.join("model.npz")),
        "resumed run differs"
    );
    assert_eq!(
        std::fs::read_to_string(part.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );

    // Refuse to overwrite a run; a foreign directory needs --overwrite.
    let mut args = vec![
        "train",
        "--train-data",
        s(&data),
        "--output-dir",
        s(&full),
        "--epochs",
        "1",
    ];
    args.extend(common_flags);
    let out = ptycho(&args);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--resume"));

    // Infer and evaluate.
    let inf = d.join("inf");
    let out = ok(ptycho([
        "infer",
        "--model",
        s(&full),
        "--test-data",
        s(&data),
        "--output-dir",
        s(&inf),
        "--inference-batch-size",
        "7",
        "--tiff",
    ]));
    assert!(out.contains("inferred 40 patterns"), "{out}");
    for f in [
        "reconstruction.npz",
        "amplitude.png",
        "phase.png",
        "amplitude.tiff",
        "phase.tiff",
        "product.npz",
        #[cfg(feature = "hdf5")]
        "product.h5",
    ] {
        assert!(inf.join(f).is_file(), "{f} missing");
        assert!(out.contains(f), "{f} not reported: {out}");
    }
    let mut prod =
        ndarray_npy::NpzReader::new(std::fs::File::open(inf.join("product.npz")).unwrap()).unwrap();
    let names = prod.names().unwrap();
    for k in [
        "object",
        "probe",
        "photon_energy_eV",
        "probe_position_x_m",
        "object_center_x_m",
    ] {
        assert!(names.iter().any(|n| n == k), "product lacks {k}: {names:?}");
    }
    let pos = prod
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>("probe_position_x_m")
        .unwrap();
    assert_eq!(pos.len(), 40);
    let out = ok(ptycho([
        "evaluate",
        "--reconstruction",
        s(&inf.join("reconstruction.npz")),
        "--ground-truth",
        s(&data),
    ]));
    assert!(out.contains("SSIM"));
    // The last checkpoint holds the final weights: inferring from it gives the same object.
    let inf_ck = d.join("inf_ck");
    ok(ptycho([
        "infer",
        "--model",
        s(&full),
        "--checkpoint",
        "last",
        "--test-data",
        s(&data),
        "--output-dir",
        s(&inf_ck),
        "--inference-batch-size",
        "7",
    ]));
    assert_eq!(
        read_object(&inf.join("reconstruction.npz")),
        read_object(&inf_ck.join("reconstruction.npz"))
    );

    // A model whose N disagrees with the data is refused with one line.
    let big = d.join("big.npz");
    ok(ptycho([
        "simulate",
        "--output",
        s(&big),
        "--n",
        "32",
        "--object-size",
        "64",
        "--n-images",
        "4",
    ]));
    let out = ptycho([
        "infer",
        "--model",
        s(&full),
        "--test-data",
        s(&big),
        "--output-dir",
        s(&d.join("inf2")),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("data.n = 16") && err.contains("32×32"),
        "{err}"
    );
    assert!(!d.join("inf2").exists(), "nothing written on a refused run");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn gradient_accumulation_really_accumulates() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("accum");
    let data = simulate(&d, 8, 4);
    let base = [
        "--n",
        "16",
        "--epochs",
        "1",
        "--seed",
        "2",
        "--stitch-crop",
        "8",
        "--validation-split",
        "0",
        "--quiet",
        "--train-data",
    ];
    // One step on 8 groups …
    let one = d.join("one");
    let mut a = vec!["train"];
    a.extend(base);
    a.extend([s(&data), "--output-dir", s(&one), "--batch-size", "8"]);
    ok(ptycho(&a));
    // … equals two accumulated half-batches (mean of means = mean), up to summation order.
    let two = d.join("two");
    let mut a = vec!["train"];
    a.extend(base);
    a.extend([
        s(&data),
        "--output-dir",
        s(&two),
        "--batch-size",
        "4",
        "--accumulate-grad-batches",
        "2",
    ]);
    ok(ptycho(&a));
    // Without accumulation the two half-batches take two Adam steps: different weights.
    let sep = d.join("sep");
    let mut a = vec!["train"];
    a.extend(base);
    a.extend([s(&data), "--output-dir", s(&sep), "--batch-size", "4"]);
    ok(ptycho(&a));
    let (p1, p2, p3) = (
        read_params(&one.join("model.npz")),
        read_params(&two.join("model.npz")),
        read_params(&sep.join("model.npz")),
    );
    let mut max_diff_acc = 0f32;
    let mut max_diff_sep = 0f32;
    for ((a, b), c) in p1.iter().zip(&p2).zip(&p3) {
        for ((x, y), z) in a.1.iter().zip(&b.1).zip(&c.1) {
            max_diff_acc = max_diff_acc.max((x - y).abs());
            max_diff_sep = max_diff_sep.max((x - z).abs());
        }
    }
    // Adam's first step moves every weight by ≈ lr = 1e-3; accumulation agrees far below that.
    assert!(max_diff_acc < 1e-5, "accumulated differs by {max_diff_acc}");
    assert!(
        max_diff_sep > 1e-4,
        "two separate steps should differ, got {max_diff_sep}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn gridsize_two_trains_infers_and_stitches_at_group_centres() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("grid2");
    let data = simulate(&d, 40, 6);
    let run = d.join("run");
    let out = ok(ptycho([
        "train",
        "--train-data",
        s(&data),
        "--output-dir",
        s(&run),
        "--n",
        "16",
        "--gridsize",
        "2",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--seed",
        "5",
        "--stitch-crop",
        "8",
        "--quiet",
    ]));
    assert!(out.contains("trained 3 epochs"), "{out}");
    // The loss goes down over the epochs (the merge/re-extraction path is differentiated).
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(losses[2] < losses[0], "losses {losses:?}");
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("gridsize = 2"), "{cfg}");

    let inf = d.join("inf");
    let out = ok(ptycho([
        "infer",
        "--model",
        s(&run),
        "--test-data",
        s(&data),
        "--output-dir",
        s(&inf),
    ]));
    // One group per pattern, four patterns per group.
    assert!(out.contains("inferred 160 patterns"), "{out}");
    // Stitched at the 40 group centres: each the mean of four scan positions.
    let mut rec =
        ndarray_npy::NpzReader::new(std::fs::File::open(inf.join("reconstruction.npz")).unwrap())
            .unwrap();
    let xs = rec
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>("xcoords")
        .unwrap();
    assert_eq!(xs.len(), 40);
    let mut sim = ndarray_npy::NpzReader::new(std::fs::File::open(&data).unwrap()).unwrap();
    let sx = sim
        .by_name::<ndarray::OwnedRepr<f64>, ndarray::Ix1>("xcoords")
        .unwrap();
    let (lo, hi) = sx
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(xs.iter().all(|&x| x >= lo && x <= hi));
    assert!(
        xs.iter().any(|x| sx.iter().all(|p| (p - x).abs() > 1e-9)),
        "positions should be group centres, not scan positions"
    );
    ok(ptycho([
        "evaluate",
        "--reconstruction",
        s(&inf.join("reconstruction.npz")),
        "--ground-truth",
        s(&data),
    ]));
    // Too few patterns to form a group: one line, nothing trained.
    let few = d.join("few");
    std::fs::create_dir_all(&few).unwrap();
    let tiny = simulate(&few, 4, 1);
    let out = ptycho([
        "train",
        "--train-data",
        s(&tiny),
        "--output-dir",
        s(&d.join("run_few")),
        "--n",
        "16",
        "--gridsize",
        "2",
        "--stitch-crop",
        "8",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 patterns") && err.contains("at least 5"),
        "{err}"
    );
    assert!(!d.join("run_few").exists(), "nothing written for bad data");
    std::fs::remove_dir_all(&d).unwrap();
}

fn read_object(p: &Path) -> Vec<num_complex::Complex32> {
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
    npz.by_name::<ndarray::OwnedRepr<num_complex::Complex32>, ndarray::Ix2>("object")
        .unwrap()
        .iter()
        .copied()
        .collect()
}

/// A storage-binding limit far below the batch's buffers (PTYCHO_MAX_BINDING_BYTES) forces
/// inference to run in small batches and training to split each batch into micro-batches with
/// gradient accumulation: the reconstruction is bit-identical, the trained weights equal up to
/// summation order, and peak GPU memory goes down.
#[test]
fn a_small_binding_limit_chunks_training_and_inference() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("binding");
    let data = simulate(&d, 24, 9);
    let limit = [("PTYCHO_MAX_BINDING_BYTES", "40000")];
    let train = |name: &str, env: &[(&str, &str)]| {
        let run = d.join(name);
        let out = ptycho_env(
            [
                "train",
                "--train-data",
                s(&data),
                "--output-dir",
                s(&run),
                "--n",
                "16",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--validation-split",
                "0",
                "--stitch-crop",
                "8",
                // The round-off bound below (summation order of the micro-batches through one
                // epoch of Adam) was measured on the smaller network.
                "--n-filters-scale",
                "1",
                "--quiet",
            ],
            env,
        );
        ok(out);
        run
    };
    let (full, small) = (train("full", &[]), train("small", &limit));
    let (p1, p2) = (
        read_params(&full.join("model.npz")),
        read_params(&small.join("model.npz")),
    );
    let mut max_diff = 0f32;
    for (a, b) in p1.iter().zip(&p2) {
        for (x, y) in a.1.iter().zip(&b.1) {
            max_diff = max_diff.max((x - y).abs());
        }
    }
    assert!(
        max_diff < 1e-5,
        "micro-batched training differs by {max_diff}"
    );
    let infer = |name: &str, env: &[(&str, &str)]| {
        let out_dir = d.join(name);
        let out = ptycho_env(
            [
                "infer",
                "--model",
                s(&full),
                "--test-data",
                s(&data),
                "--output-dir",
                s(&out_dir),
            ],
            env,
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let text = ok(out);
        (read_object(&out_dir.join("reconstruction.npz")), text, err)
    };
    let (a, big, _) = infer("inf_full", &[]);
    let (b, small_text, err) = infer("inf_small", &limit);
    assert!(err.contains("fits one storage binding"), "{err}");
    assert_eq!(a, b, "chunked inference differs");
    let peak = |t: &str| {
        t.split("peak GPU memory ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_ne!(peak(&big), peak(&small_text), "{big} / {small_text}");
    std::fs::remove_dir_all(&d).unwrap();
}

fn train_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--train-data",
        s(data),
        "--output-dir",
        s(out),
        "--n",
        "16",
        "--epochs",
        epochs,
        "--batch-size",
        "8",
        "--validation-split",
        "0",
        "--early-stop-patience",
        "0",
        "--stitch-crop",
        "8",
        "--seed",
        "11",
        "--quiet",
    ]
}

fn resume_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    let mut a = train_args(data, out, epochs);
    a[3] = "--resume";
    a
}

/// Out of memory and device lost during training (simulated with PTYCHO_FAULT at a given
/// submit): one line naming the fault, the step and the checkpoint to resume from; nothing
/// half-written; `--resume` then reaches the same weights as an uninterrupted run.
#[test]
fn gpu_faults_end_cleanly_and_resume_to_the_same_weights() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("faults");
    let data = simulate(&d, 24, 12);
    let full = d.join("full");
    ok(ptycho(train_args(&data, &full, "3")));
    let want = read_params(&full.join("model.npz"));
    for (fault, what) in [
        ("oom:6", "out of GPU memory"),
        ("lost:8", "GPU device lost"),
    ] {
        let run = d.join(fault.replace(':', "_"));
        let out = ptycho_env(train_args(&data, &run, "3"), &[("PTYCHO_FAULT", fault)]);
        assert_eq!(out.status.code(), Some(1), "{fault}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{fault}: no error line in {err}"));
        assert!(
            line.contains(what) && line.contains("(epoch ") && line.contains("--resume"),
            "{fault}: {line}"
        );
        assert!(
            !run.join("model.npz").exists(),
            "{fault}: no model bundle from a failed run"
        );
        assert!(run.join("checkpoints/last.npz").is_file());
        ok(ptycho(resume_args(&data, &run, "3")));
        assert_eq!(
            read_params(&run.join("model.npz")),
            want,
            "{fault}: resumed weights differ from the uninterrupted run"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// SIGINT during training: the current step finishes, a checkpoint is written, the process
/// exits with success; resuming reaches the uninterrupted run's weights. SIGTERM does the same.
#[cfg(unix)]
#[test]
fn sigint_checkpoints_and_resumes_to_the_same_weights() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("sigint");
    let data = simulate(&d, 24, 13);
    let full = d.join("full");
    ok(ptycho(train_args(&data, &full, "4")));
    let want = read_params(&full.join("model.npz"));
    let run = d.join("run");
    let out = interrupt_after_first_epoch(train_args(&data, &run, "4"), &run, false, &["INT"]);
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("interrupted") {
        assert!(run.join("checkpoints/interrupted.npz").is_file());
    }
    ok(ptycho(resume_args(&data, &run, "4")));
    assert_eq!(
        read_params(&run.join("model.npz")),
        want,
        "resumed weights differ from the uninterrupted run"
    );
    // SIGTERM (`kill`, a batch scheduler's time limit, what mpirun sends on Ctrl-C) is an
    // interrupt too: the run ends cleanly with a checkpoint instead of dying mid-step. Three
    // epochs were left when it was sent. Under nohup the SIGHUP sent just before it stays
    // ignored: were it an interrupt, the SIGTERM would be the second signal and abort the run.
    let term = d.join("term");
    let out =
        interrupt_after_first_epoch(train_args(&data, &term, "4"), &term, true, &["HUP", "TERM"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("interrupted")
            && stderr.contains("SIGTERM: finishing the current step")
            && !stderr.contains("SIGHUP"),
        "{stderr}"
    );
    assert!(term.join("checkpoints/interrupted.npz").is_file());
    std::fs::remove_dir_all(&d).unwrap();
}

/// Starts `ptycho ARGS` (a training run into `run`; under `nohup` if asked), sends it `kill
/// -SIG` for each of `sigs` in turn once its first epoch is in metrics.csv, and returns its
/// output after asserting that it exited with success.
#[cfg(unix)]
fn interrupt_after_first_epoch(
    args: Vec<&str>,
    run: &Path,
    nohup: bool,
    sigs: &[&str],
) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_ptycho");
    // nohup execs the program: the child's pid is ptycho's.
    let mut c = if nohup {
        let mut c = Command::new("nohup");
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let child = common::spawn(
        c.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )
    .unwrap();
    common::wait_for_first_epoch(run, std::time::Duration::from_secs(120));
    for sig in sigs {
        common::send_signal(child.id(), sig);
    }
    let sig = sigs.join(", SIG");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SIG{sig}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Train and infer straight from a CXI file (float counts, translations in metres, no probe:
/// training takes `--probe`, inference the model's), equal in positions to the NPZ it was
/// made from; the HDF5 product carries the CXI geometry.
#[cfg(feature = "hdf5")]
#[test]
fn train_and_infer_from_cxi() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("cxi");
    let npz = simulate(&d, 24, 6);
    let data = ptycho::data::npz::read_dataset(&npz).unwrap();
    let (m, n) = (data.len(), data.n);
    // 9 keV, 1.5 m, 172 µm pixels: object pixel λ·z/(N·dx).
    let (e_j, z, dx) = (9000.0 * ptycho::data::cxi::ELECTRON_VOLT_J, 1.5, 172e-6);
    let px = 6.626_070_15e-34 * 299_792_458.0 / e_j * z / (n as f64 * dx);
    let cxi = d.join("sim.cxi");
    {
        let _no_fork = common::no_fork_while_hdf5_open();
        let f = hdf5::File::create(&cxi).unwrap();
        for g in [
            "entry_1",
            "entry_1/instrument_1",
            "entry_1/instrument_1/source_1",
            "entry_1/instrument_1/detector_1",
            "entry_1/sample_1",
            "entry_1/sample_1/geometry_1",
        ] {
            f.create_group(g).unwrap();
        }
        let counts = ndarray::Array3::from_shape_vec(
            (m, n, n),
            data.diff
                .iter()
                .map(|a| (*a as f64) * (*a as f64))
                .collect(),
        )
        .unwrap();
        f.new_dataset_builder()
            .with_data(&counts)
            .create("entry_1/instrument_1/detector_1/data")
            .unwrap();
        let t = ndarray::Array2::from_shape_fn((m, 3), |(i, k)| match k {
            0 => data.xcoords[i] * px,
            1 => data.ycoords[i] * px,
            _ => 0.0,
        });
        f.new_dataset_builder()
            .with_data(&t)
            .create("entry_1/sample_1/geometry_1/translation")
            .unwrap();
        for (p, v) in [
            ("entry_1/instrument_1/source_1/energy", e_j),
            ("entry_1/instrument_1/detector_1/distance", z),
            ("entry_1/instrument_1/detector_1/x_pixel_size", dx),
            ("entry_1/instrument_1/detector_1/y_pixel_size", dx),
        ] {
            f.new_dataset::<f64>()
                .create(p)
                .unwrap()
                .write_scalar(&v)
                .unwrap();
        }
    }
    let flags = [
        "--n",
        "16",
        "--batch-size",
        "8",
        "--stitch-crop",
        "8",
        "--quiet",
    ];
    let run = d.join("run");
    // Without a probe anywhere, training asks for one.
    let mut a = vec![
        "train",
        "--train-data",
        s(&cxi),
        "--output-dir",
        s(&run),
        "--epochs",
        "1",
    ];
    a.extend(flags);
    let out = ptycho(&a);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--probe"), "{err}");
    assert!(!run.exists(), "a refused run left its directory");
    a.extend(["--probe", s(&npz)]);
    let out = ptycho(&a);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("amplitudes = sqrt(counts)"),
        "no note on stderr: {err}"
    );
    let inf = d.join("inf");
    ok(ptycho([
        "infer",
        "--model",
        s(&run),
        "--test-data",
        s(&cxi),
        "--output-dir",
        s(&inf),
    ]));
    let mut r =
        ndarray_npy::NpzReader::new(std::fs::File::open(inf.join("reconstruction.npz")).unwrap())
            .unwrap();
    let xs: ndarray::Array1<f64> = r.by_name("xcoords").unwrap();
    for (i, x) in xs.iter().enumerate() {
        assert!(
            (x - data.xcoords[i]).abs() < 1e-9,
            "x {i}: {x} vs {}",
            data.xcoords[i]
        );
    }
    let h5 = hdf5::File::open(inf.join("product.h5")).unwrap();
    let e = h5
        .attr("photon_energy_eV")
        .unwrap()
        .read_scalar::<f64>()
        .unwrap();
    assert!((e - 9000.0).abs() < 1e-9, "{e}");
    let pw = h5
        .dataset("object")
        .unwrap()
        .attr("pixel_width_m")
        .unwrap()
        .read_scalar::<f64>()
        .unwrap();
    assert!((pw / px - 1.0).abs() < 1e-12, "{pw} vs {px}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// PtychoPINN's width (n_filters_scale 2) is the default; a run directory trained at scale 1
/// (as every run before the default changed) still infers, and a model file that does not
/// hold the network its config.toml describes is refused with one line naming both.
#[test]
fn the_default_network_is_ptychopinns_and_older_runs_still_infer() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let d = dir("scale");
    let data = simulate(&d, 24, 4);
    let run = d.join("run");
    let mut args = train_args(&data, &run, "1");
    args.extend(["--n-filters-scale", "1"]);
    let out = ok(ptycho(&args));
    assert!(out.contains("n_filters_scale 1, "), "{out}");
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(saved.contains("n_filters_scale = 1"), "{saved}");
    let infer = |out_dir: &Path| {
        ptycho([
            "infer",
            "--model",
            s(&run),
            "--test-data",
            s(&data),
            "--output-dir",
            s(out_dir),
        ])
    };
    ok(infer(&d.join("out1")));
    // The configuration's default is PtychoPINN's width.
    let shown = ok(ptycho(["config", "show"]));
    assert!(
        shown.lines().any(|l| l.starts_with("n_filters_scale = 2 ")),
        "{shown}"
    );
    // config.toml claims scale 2 for scale-1 weights: one line naming both networks, and no
    // output directory.
    std::fs::write(
        run.join("config.toml"),
        saved.replace("n_filters_scale = 1", "n_filters_scale = 2"),
    )
    .unwrap();
    let out2 = d.join("out2");
    let bad = infer(&out2);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
    assert!(
        line.contains("model.npz")
            && line.contains("n_filters_scale = 2")
            && line.contains("first encoder width 128")
            && line.contains("first encoder width 256"),
        "{line}"
    );
    assert!(!out2.exists());
    std::fs::remove_dir_all(&d).unwrap();
}
