//! `ptycho evaluate` end to end on files written here.

mod common;

use std::path::Path;

use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use num_complex::Complex32;

fn object(h: usize, w: usize) -> Array2<Complex32> {
    Array2::from_shape_fn((h, w), |(r, c)| {
        let (y, x) = (r as f32, c as f32);
        let a = 0.6
            + 0.3
                * ((0.21 * x).sin() * (0.13 * y).cos()
                    + 0.2
                        * ((x - 40.0).powi(2) / 200.0 + (y - 50.0).powi(2) / 300.0)
                            .min(3.0)
                            .cos());
        Complex32::from_polar(a, 0.8 * (0.07 * x + 0.05 * y).sin() + 0.3 * (0.3 * y).cos())
    })
}

/// A named array for `write`: complex 2-D (Ok) or real 1-D (Err).
type Named<'a> = (&'a str, Result<Array2<Complex32>, Array1<f64>>);

fn write(path: &Path, arrays: Vec<Named>) {
    let mut npz = NpzWriter::new(std::fs::File::create(path).unwrap());
    for (k, a) in arrays {
        match a {
            Ok(c) => npz.add_array(k, &c).unwrap(),
            Err(f) => npz.add_array(k, &f).unwrap(),
        }
    }
    npz.finish().unwrap();
}

#[test]
fn evaluate_cli_writes_metrics_and_plot() {
    let dir = std::env::temp_dir().join(format!("ptycho-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let gt = object(100, 110);
    // The reconstruction covers rows 10..74, columns 12..84, amplitude ×1.7, a phase offset.
    let rec = gt
        .slice(ndarray::s![10..74, 12..84])
        .mapv(|z| z * Complex32::from_polar(1.7, 0.4));
    write(&dir.join("test.npz"), vec![("objectGuess", Ok(gt))]);
    write(
        &dir.join("reconstruction.npz"),
        vec![
            ("object", Ok(rec)),
            ("origin_xy", Err(Array1::from(vec![12.0, 10.0]))),
        ],
    );
    let (rec, truth) = (dir.join("reconstruction.npz"), dir.join("test.npz"));
    let out = common::ptycho([
        "evaluate".as_ref(),
        "--reconstruction".as_ref(),
        rec.as_os_str(),
        "--ground-truth".as_ref(),
        truth.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("amplitude") && stdout.contains("SSIM"),
        "{stdout}"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
    assert!(m["amplitude"]["ssim"].as_f64().unwrap() > 0.999, "{m}");
    assert!(m["phase"]["ssim"].as_f64().unwrap() > 0.999, "{m}");
    assert!(m["shift_xy"][0].as_f64().unwrap().abs() < 0.02);
    assert!(dir.join("frc.png").is_file());

    // A second evaluation into the same folder keeps its own plot and leaves the first's.
    let first_plot = std::fs::read(dir.join("frc.png")).unwrap();
    let other = dir.join("eval_b.json");
    let out = common::ptycho([
        "evaluate".as_ref(),
        "--reconstruction".as_ref(),
        rec.as_os_str(),
        "--ground-truth".as_ref(),
        truth.as_os_str(),
        "--trim".as_ref(),
        "9".as_ref(),
        "--output".as_ref(),
        other.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("eval_b_frc.png"));
    assert!(other.is_file());
    assert!(dir.join("eval_b_frc.png").is_file());
    assert_eq!(std::fs::read(dir.join("frc.png")).unwrap(), first_plot);

    // A file without `objectGuess` is a one-line error naming the key.
    let out = common::ptycho([
        "evaluate".as_ref(),
        "--reconstruction".as_ref(),
        rec.as_os_str(),
        "--ground-truth".as_ref(),
        rec.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'objectGuess'") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
