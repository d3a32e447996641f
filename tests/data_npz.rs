//! The NPZ contract: round trip, aliases and legacy layout, and one-line errors for bad input.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzWriter;
use num_complex::{Complex32, Complex64};
use ptycho::data::Dataset;
use ptycho::data::npz::{read_dataset, write_dataset};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptycho-npz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn sample(m: usize, n: usize) -> Dataset {
    Dataset {
        n,
        xcoords: (0..m).map(|i| 10.0 + i as f64 * 1.5).collect(),
        ycoords: (0..m).map(|i| 12.0 + i as f64 * 0.25).collect(),
        diff: (0..m * n * n).map(|i| (i % 7) as f32 * 0.5).collect(),
        probe: (0..n * n)
            .map(|i| Complex32::new(i as f32, -(i as f32)))
            .collect(),
        object: Some((
            40,
            48,
            (0..40 * 48)
                .map(|i| Complex32::from_polar(1.0, i as f32 * 1e-3))
                .collect(),
        )),
        patches: Some(vec![Complex32::new(0.5, 0.25); m * n * n]),
        start: None,
        scan_index: Some(vec![3; m]),
        metadata: serde_json::json!({"N": n, "nphotons": 1e9, "seed": 7, "object": "lines"}),
    }
}

#[test]
fn round_trip_is_bit_exact() {
    let d = sample(5, 8);
    let p = tmp("rt.npz");
    write_dataset(&p, &d).unwrap();
    let back = read_dataset(&p).unwrap();
    let mut want = d.clone();
    want.start = Some((d.xcoords.clone(), d.ycoords.clone()));
    assert_eq!(back, want);
    assert_eq!(back.nphotons(), Some(1e9));
}

fn write_raw(p: &Path, f: impl FnOnce(&mut NpzWriter<std::fs::File>)) {
    let mut w = NpzWriter::new(std::fs::File::create(p).unwrap());
    f(&mut w);
    w.finish().unwrap();
}

#[test]
fn aliases_legacy_layout_and_f64_inputs() {
    let (m, n) = (3, 8);
    let p = tmp("legacy.npz");
    write_raw(&p, |w| {
        w.add_array("xcoords", &Array1::from(vec![1.0f64, 2.0, 3.0]))
            .unwrap();
        w.add_array("ycoords", &Array1::from(vec![4.0f32, 5.0, 6.0]))
            .unwrap();
        // (N, N, M) float64 under the alias `diffraction`.
        w.add_array(
            "diffraction",
            &Array3::from_shape_fn((n, n, m), |(i, j, k)| (100 * k + 10 * i + j) as f64),
        )
        .unwrap();
        w.add_array(
            "probeGuess",
            &Array2::from_elem((n, n), Complex64::new(1.0, 2.0)),
        )
        .unwrap();
    });
    let d = read_dataset(&p).unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d.n, 8);
    // diff[k, i, j] = 100k + 10i + j after the transpose.
    assert_eq!(d.diff[2 * 64 + 3 * 8 + 5], 235.0);
    assert_eq!(d.probe[0], Complex32::new(1.0, 2.0));
    assert_eq!(d.ycoords, vec![4.0, 5.0, 6.0]);

    // The same legacy layout in float32 (read without a wider copy) gives the same patterns.
    let q = tmp("legacy32.npz");
    write_raw(&q, |w| {
        w.add_array("xcoords", &Array1::from(vec![1.0f64, 2.0, 3.0]))
            .unwrap();
        w.add_array("ycoords", &Array1::from(vec![4.0f32, 5.0, 6.0]))
            .unwrap();
        w.add_array(
            "diff3d",
            &Array3::from_shape_fn((n, n, m), |(i, j, k)| (100 * k + 10 * i + j) as f32),
        )
        .unwrap();
        w.add_array(
            "probeGuess",
            &Array2::from_elem((n, n), Complex64::new(1.0, 2.0)),
        )
        .unwrap();
    });
    assert_eq!(read_dataset(&q).unwrap().diff, d.diff);
}

#[test]
fn bad_inputs_are_one_line_errors_naming_the_key() {
    let n = 8;
    let base = |w: &mut NpzWriter<std::fs::File>,
                xs: Vec<f64>,
                ys: Vec<f64>,
                diff: Array3<f32>,
                probe: Array2<Complex32>| {
        w.add_array("xcoords", &Array1::from(xs)).unwrap();
        w.add_array("ycoords", &Array1::from(ys)).unwrap();
        w.add_array("diff3d", &diff).unwrap();
        w.add_array("probeGuess", &probe).unwrap();
    };
    let ok_probe = || Array2::from_elem((n, n), Complex32::new(1.0, 0.0));
    type Writes<'a> = Box<dyn FnOnce(&mut NpzWriter<std::fs::File>) + 'a>;
    let cases: Vec<(&str, Writes<'_>, &str)> = vec![
        (
            "missing",
            Box::new(|w: &mut NpzWriter<std::fs::File>| {
                w.add_array("xcoords", &Array1::from(vec![1.0f64])).unwrap();
            }),
            "'ycoords'",
        ),
        (
            "lengths",
            Box::new(move |w: &mut NpzWriter<std::fs::File>| {
                base(
                    w,
                    vec![1.0, 2.0],
                    vec![1.0],
                    Array3::zeros((2, n, n)),
                    ok_probe(),
                )
            }),
            "ycoords",
        ),
        (
            "nan",
            Box::new(move |w: &mut NpzWriter<std::fs::File>| {
                let mut d = Array3::<f32>::zeros((1, n, n));
                d[[0, 2, 3]] = f32::NAN;
                base(w, vec![1.0], vec![1.0], d, ok_probe())
            }),
            "'diff3d'",
        ),
        (
            "probe",
            Box::new(|w: &mut NpzWriter<std::fs::File>| {
                base(
                    w,
                    vec![1.0],
                    vec![1.0],
                    Array3::zeros((1, n, n)),
                    Array2::from_elem((16, 16), Complex32::new(1.0, 0.0)),
                )
            }),
            "'probeGuess'",
        ),
        (
            "npow2",
            Box::new(|w: &mut NpzWriter<std::fs::File>| {
                base(
                    w,
                    vec![1.0],
                    vec![1.0],
                    Array3::zeros((1, 12, 12)),
                    Array2::from_elem((12, 12), Complex32::new(1.0, 0.0)),
                )
            }),
            "power of two",
        ),
        (
            "outside",
            Box::new(move |w: &mut NpzWriter<std::fs::File>| {
                base(
                    w,
                    vec![100.0],
                    vec![1.0],
                    Array3::zeros((1, n, n)),
                    ok_probe(),
                );
                w.add_array(
                    "objectGuess",
                    &Array2::from_elem((20, 20), Complex32::new(1.0, 0.0)),
                )
                .unwrap();
            }),
            "outside",
        ),
    ];
    for (name, f, needle) in cases {
        let p = tmp(&format!("bad-{name}.npz"));
        write_raw(&p, f);
        let msg = read_dataset(&p).unwrap_err().to_string();
        assert!(
            msg.contains(needle) && msg.contains(&p.display().to_string()),
            "{name}: {msg}"
        );
        assert!(!msg.contains('\n'), "{name}: {msg}");
    }
    let p = tmp("garbage.npz");
    std::fs::write(&p, b"not a zip").unwrap();
    assert!(
        read_dataset(&p)
            .unwrap_err()
            .to_string()
            .contains("not a readable NPZ")
    );
}

#[test]
fn integer_diff3d_is_counts_and_becomes_sqrt_amplitudes() {
    let n = 8;
    let probe = Array2::from_elem((n, n), Complex32::new(1.0, 0.0));
    let counts = Array3::from_shape_fn((2, n, n), |(k, i, j)| ((k * 64 + i * 8 + j) * 3) as u16);
    let p = tmp("u16.npz");
    write_raw(&p, |w| {
        w.add_array("xcoords", &Array1::from(vec![1.0f64, 2.0]))
            .unwrap();
        w.add_array("ycoords", &Array1::from(vec![1.0f64, 2.0]))
            .unwrap();
        w.add_array("diff3d", &counts).unwrap();
        w.add_array("probeGuess", &probe).unwrap();
    });
    let d = read_dataset(&p).unwrap();
    let want: Vec<f32> = counts.iter().map(|&c| (c as f64).sqrt() as f32).collect();
    assert_eq!(d.diff, want);
    assert_eq!(d.diff[3], 3.0);
    // Signed counts below zero are refused, naming the key and the value.
    let p = tmp("i16.npz");
    let mut bad = counts.mapv(|c| c as i16);
    bad[[1, 0, 2]] = -4;
    write_raw(&p, |w| {
        w.add_array("xcoords", &Array1::from(vec![1.0f64, 2.0]))
            .unwrap();
        w.add_array("ycoords", &Array1::from(vec![1.0f64, 2.0]))
            .unwrap();
        w.add_array("diff3d", &bad).unwrap();
        w.add_array("probeGuess", &probe).unwrap();
    });
    let msg = read_dataset(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'diff3d'") && msg.contains("negative count -4") && !msg.contains('\n'),
        "{msg}"
    );
}

#[test]
fn probe_file_replaces_the_data_files_probe() {
    let d = sample(3, 8);
    let data = tmp("probe-data.npz");
    write_dataset(&data, &d).unwrap();
    let pf = tmp("probe-only.npz");
    // A Ptychodus-product-style (modes, N, N) `probe`: every mode is used.
    write_raw(&pf, |w| {
        w.add_array(
            "probe",
            &Array3::from_shape_fn((2, 8, 8), |(k, _, _)| Complex32::new(k as f32 + 5.0, 0.0)),
        )
        .unwrap();
    });
    let opts = ptycho::data::ReadOptions {
        probe: Some(pf.clone()),
        ..Default::default()
    };
    let got = ptycho::data::read_dataset(&data, &opts).unwrap();
    assert_eq!(got.modes(), 2);
    assert!(
        got.probe[..64]
            .iter()
            .all(|z| *z == Complex32::new(5.0, 0.0))
    );
    assert!(
        got.probe[64..]
            .iter()
            .all(|z| *z == Complex32::new(6.0, 0.0))
    );
    assert_eq!(got.diff, d.diff);
}

#[test]
fn an_oversized_npy_header_is_refused_before_allocating() {
    // A header claiming 2^40 float64 values in a tiny entry.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }";
    let mut header = dict.to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 16]);
    let p = tmp("huge.npz");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    z.start_file("xcoords.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, &npy).unwrap();
    z.finish().unwrap();
    let msg = read_dataset(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'xcoords'") && msg.contains("more than the") && !msg.contains('\n'),
        "{msg}"
    );
}

#[cfg(not(feature = "hdf5"))]
#[test]
fn hdf5_input_without_the_feature_says_how_to_get_it() {
    let p = tmp("data.cxi");
    std::fs::write(&p, b"\x89HDF\r\n\x1a\n\0\0\0\0").unwrap();
    let msg = ptycho::data::read_dataset(&p, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("--features hdf5") && msg.contains("libhdf5-dev") && !msg.contains('\n'),
        "{msg}"
    );
}
