//! A tiny simulate → train → infer → evaluate run through the binary, resume after an
//! interrupted schedule, and the bad-input rules of train/infer.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ptycho(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptycho"))
        .args(args)
        .output()
        .expect("run ptycho")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptycho-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn simulate(d: &Path, count: usize, seed: u64) -> PathBuf {
    let data = d.join("sim.npz");
    let (count, seed) = (count.to_string(), seed.to_string());
    ok(ptycho(&[
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
    let out = ok(ptycho(&[
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
    let out = ok(ptycho(&[
        "evaluate",
        "--reconstruction",
        s(&inf.join("reconstruction.npz")),
        "--ground-truth",
        s(&data),
    ]));
    assert!(out.contains("SSIM"));

    // A model whose N disagrees with the data is refused with one line.
    let big = d.join("big.npz");
    ok(ptycho(&[
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
    let out = ptycho(&[
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
    ok(ptycho(&[
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
