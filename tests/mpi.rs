//! `mpirun -n 2 ptycho train|infer` (the `mpi` feature, Open MPI's mpirun on lavapipe):
//! 2-rank training is the single-process run that accumulates the same 2 micro-batches, bit for
//! bit (and stays so across --resume); 2-rank inference is single-process inference; ranks that
//! disagree, more ranks than batches, other commands and a failing rank end the job with one
//! line, never a hang.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ok, ptycho, s};

/// Longest a job may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(300);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ptycho")
}

/// Runs `mpirun` with `args` (process groups as `mpirun` takes them: `-n K prog args [: …]`),
/// killing it after [`HANG`].
fn mpirun(args: &[&str]) -> Output {
    wait_or_hang(start_mpirun(args), args)
}

/// Starts `mpirun` with `args`, its output piped.
fn start_mpirun(args: &[&str]) -> Child {
    let mut c = Command::new("mpirun");
    // CI runs as root; 2 ranks on a 2-core machine.
    c.args(["--allow-run-as-root", "--oversubscribe"])
        .args(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    common::spawn(&mut c).expect("mpirun (apt install openmpi-bin)")
}

/// Waits for `mpirun` (started with `args`), killing it after [`HANG`].
fn wait_or_hang(mut child: Child, args: &[&str]) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "mpirun {args:?} still running after {HANG:?} (a hang): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("mpi", name)
}

/// A small simulated data set: 40 patterns of N = 64 on a 96-pixel object.
fn data(d: &Path) -> PathBuf {
    let f = d.join("data.npz");
    ok(ptycho([
        "simulate",
        "--output",
        s(&f),
        "--object-size",
        "96",
        "--n-lines",
        "20",
        "--n-images",
        "40",
        "--probe-defocus",
        "10",
        "--seed",
        "3",
    ]));
    f
}

/// `train` arguments shared by every run here (network at n_filters_scale 1 to keep it short).
fn train_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--train-data",
        s(data),
        "--output-dir",
        s(out),
        "--epochs",
        epochs,
        "--batch-size",
        "4",
        "--n-filters-scale",
        "1",
    ]
}

/// The program and arguments for `mpirun` that resume the run in `out` to `epochs`: `train_args`
/// with `--output-dir DIR` turned into `--resume DIR`.
fn rank_resume_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    let mut a = vec![bin()];
    a.extend(train_args(data, out, epochs));
    assert_eq!(a[4], "--output-dir");
    a[4] = "--resume";
    a
}

/// (train loss, val loss) of each epoch in metrics.csv.
fn losses(run: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            (f[1], f[2])
        })
        .collect()
}

#[test]
fn two_ranks_train_as_one_process_accumulating_both_batches() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let d = dir("train");
    let f = data(&d);
    let (one, two, resumed) = (d.join("one"), d.join("two"), d.join("resumed"));
    let mut a = train_args(&f, &one, "2");
    a.extend(["--accumulate-grad-batches", "2"]);
    ok(ptycho(&a));
    let mut a = vec![bin()];
    a.extend(train_args(&f, &two, "2"));
    let stdout = ok(mpirun(&[&["-n", "2"][..], &a].concat()));
    // Rank 0 alone reports and writes, with the gradient traffic: 2 × (P + 1) × 4 bytes per
    // step (the gradient and the Ctrl-C flag), P = 563,802.
    assert_eq!(stdout.matches("trained 2 epochs").count(), 1, "{stdout}");
    assert!(
        stdout.contains("2 MPI ranks: gradients summed in rank order, 4 MiB sent and received"),
        "{stdout}"
    );
    // The same weights, bit for bit: each rank's micro-batch gradient carries weight ½, and
    // ½·g₀ + ½·g₁ is one rounding in either order.
    let bytes = |r: &Path| std::fs::read(r.join("model.npz")).unwrap();
    assert!(
        bytes(&one) == bytes(&two),
        "2-rank weights differ from the accumulated run"
    );
    let (l1, l2) = (losses(&one), losses(&two));
    assert_eq!(l1.len(), 2);
    for (p, q) in l1.iter().zip(&l2) {
        // Sums of per-batch f64 losses in another order.
        assert!((p.0 - q.0).abs() <= 1e-12 * p.0.abs(), "{l1:?} vs {l2:?}");
        assert!((p.1 - q.1).abs() <= 1e-12 * p.1.abs(), "{l1:?} vs {l2:?}");
    }
    // One epoch, then --resume to two, still on 2 ranks: the same run.
    let mut a = vec![bin()];
    a.extend(train_args(&f, &resumed, "1"));
    ok(mpirun(&[&["-n", "2"][..], &a].concat()));
    let a = rank_resume_args(&f, &resumed, "2");
    ok(mpirun(&[&["-n", "2"][..], &a].concat()));
    assert!(bytes(&resumed) == bytes(&two), "resumed 2-rank run differs");
    // Gridsize 2 (groups of 4 with the object_big merge), one epoch: the same identity.
    let (one, two) = (d.join("one-g2"), d.join("two-g2"));
    let mut a = train_args(&f, &one, "1");
    a.extend(["--gridsize", "2", "--accumulate-grad-batches", "2"]);
    ok(ptycho(&a));
    let mut a = vec![bin()];
    a.extend(train_args(&f, &two, "1"));
    a.extend(["--gridsize", "2"]);
    ok(mpirun(&[&["-n", "2"][..], &a].concat()));
    assert!(
        bytes(&one) == bytes(&two),
        "gridsize 2: 2-rank weights differ from the accumulated run"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// SIGUSR1 sent to mpirun, which forwards it to every rank, stops both ranks after the same
/// step (the interrupt flag travels with the gradients) with one checkpoint; resuming over 2
/// ranks reaches the uninterrupted run's weights — those of one process accumulating 2 batches,
/// bit for bit, as the test above shows.
#[test]
fn sigusr1_to_mpirun_stops_every_rank_at_the_same_step_and_resumes() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let d = dir("usr1");
    let f = data(&d);
    let one = d.join("one");
    let mut a = train_args(&f, &one, "3");
    a.extend(["--accumulate-grad-batches", "2"]);
    ok(ptycho(&a));
    let run = d.join("run");
    let mut a = vec![bin()];
    a.extend(train_args(&f, &run, "3"));
    let args = [&["-n", "2"][..], &a].concat();
    let child = start_mpirun(&args);
    common::wait_for_first_epoch(&run, HANG);
    common::send_signal(child.id(), "USR1");
    let out = wait_or_hang(child, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    // Rank 0 alone reports: one "interrupted", one line saying what the signal does, and the
    // epoch it stopped in is not in metrics.csv.
    assert_eq!(stdout.matches("interrupted").count(), 1, "{stdout}");
    assert_eq!(
        stderr
            .matches("SIGUSR1: finishing the current step")
            .count(),
        1,
        "{stderr}"
    );
    assert!(run.join("checkpoints/interrupted.npz").is_file());
    assert!(losses(&run).len() < 3, "{stdout}");
    let a = rank_resume_args(&f, &run, "3");
    ok(mpirun(&[&["-n", "2"][..], &a].concat()));
    let bytes = |r: &Path| std::fs::read(r.join("model.npz")).unwrap();
    assert!(
        bytes(&run) == bytes(&one),
        "interrupted and resumed 2-rank run differs from the uninterrupted one"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn two_ranks_infer_what_one_process_infers() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let d = dir("infer");
    let f = data(&d);
    let run = d.join("run");
    ok(ptycho(train_args(&f, &run, "1")));
    let (one, two) = (d.join("one"), d.join("two"));
    let infer = |out: &Path| {
        vec![
            "infer",
            "--model",
            s(&run),
            "--test-data",
            s(&f),
            "--output-dir",
            s(out),
            "--patch-weighting",
            "probe",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    ok(ptycho(infer(&one)));
    let mut a = vec!["-n".to_string(), "2".into(), bin().into()];
    a.extend(infer(&two));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    ok(mpirun(&a));
    let object = |p: &Path| {
        let mut z = ndarray_npy::NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
        z.by_name::<ndarray::OwnedRepr<num_complex::Complex32>, ndarray::Ix2>("object")
            .unwrap()
    };
    let (a, b) = (
        object(&one.join("reconstruction.npz")),
        object(&two.join("reconstruction.npz")),
    );
    assert_eq!(a.dim(), b.dim());
    // Each rank stitches its half into f64 sums that rank 0 adds: the f32 object is the same
    // to within one rounding of those sums (here: identical).
    let max = a.iter().map(|z| z.norm()).fold(0.0f32, f32::max);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-6 * max,
        "2-rank object differs by {worst} (max {max})"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn ranks_that_cannot_work_together_are_refused_with_one_line() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let d = dir("refuse");
    let f = data(&d);
    let out = d.join("run");
    // Rank 1 asks for another batch size.
    let mut r0 = vec![bin()];
    r0.extend(train_args(&f, &out, "1"));
    let mut r1 = r0.clone();
    assert_eq!(r1[8], "--batch-size");
    r1[9] = "8";
    let o = mpirun(&[&["-n", "1"][..], &r0, &[":", "-n", "1"], &r1].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        lines,
        ["error: rank 1 disagrees with rank 0 on training.batch_size: 8 there, 4 on rank 0"],
        "{err}"
    );
    assert!(!out.exists(), "a refused job wrote {}", out.display());
    // More ranks than batches: 38 training groups in batches of 16 are 3 batches.
    let mut a = vec![bin()];
    a.extend(train_args(&f, &out, "1"));
    a[9] = "16";
    let o = mpirun(&[&["-n", "4"][..], &a].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: 4 MPI ranks but only 3 batches of 16 groups per epoch"),
        "{err}"
    );
    assert!(!out.exists());
    // A failure before the ranks work together, on rank 0 (the run directory exists) or on
    // rank 1 alone (its data file is missing): every rank stops with the same one line, the
    // exit code a single process gives, no MPI abort.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let single = ptycho(&a[1..]);
    let o = mpirun(&[&["-n", "2"][..], &a].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), single.status.code(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    let single_err = String::from_utf8_lossy(&single.stderr);
    let want: Vec<&str> = single_err
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(want.len(), 1, "{single_err}");
    assert_eq!(lines, want, "{err}");
    assert!(!err.contains("MPI_ABORT"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();
    let missing = d.join("missing.npz");
    let mut r1 = r0.clone();
    r1[3] = s(&missing);
    let o = mpirun(&[&["-n", "1"][..], &r0, &[":", "-n", "1"], &r1].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: rank 1 of 2: ") && lines[0].contains("missing.npz"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!out.exists());
    // Commands that do not run over ranks.
    let o = mpirun(&[
        "-n",
        "2",
        bin(),
        "simulate",
        "--output",
        s(&d.join("x.npz")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(
        "only `ptycho train`, `ptycho infer` and `ptycho bench train` run over several ranks"
    ));
    assert!(!d.join("x.npz").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_failing_rank_ends_every_rank() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let d = dir("fault");
    let f = data(&d);
    let out = d.join("run");
    let mut a = vec![bin()];
    a.extend(train_args(&f, &out, "3"));
    // Rank 1's device is lost at its 5th submit, while rank 0 waits for its gradient.
    let o = mpirun(
        &[
            &["-n", "1"][..],
            &a,
            &[":", "-n", "1", "-x", "PTYCHO_FAULT=lost:5"],
            &a,
        ]
        .concat(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: rank 1 of 2: GPU device lost: simulated by PTYCHO_FAULT"),
        "{err}"
    );
    // It names the checkpoint rank 0 wrote before the first epoch.
    assert!(lines[0].contains("checkpoints/last.npz"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bench_train_over_two_ranks_reports_the_gradient_traffic() {
    if common::gpu_or_skip().is_none() {
        return;
    }
    let o = mpirun(&[
        "-n",
        "2",
        bin(),
        "bench",
        "train",
        "--n",
        "32",
        "--batch",
        "2",
        "--n-filters-scale",
        "1",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(v["ranks"], 2);
    let p = v["parameters"].as_u64().unwrap();
    // Reduce-scatter then all-gather over 2 ranks: each rank sends half the gradient and
    // receives half in each phase, 2 × P × 4 bytes in all.
    for b in v["allreduce_bytes_per_step"].as_array().unwrap() {
        assert_eq!(b.as_u64(), Some(8 * p), "{v}");
    }
    assert!(v["train_patterns_per_s"].as_f64().unwrap() > 0.0);
}
