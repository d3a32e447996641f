//! Data in other tools' conventions: a file holding counts as floats, unshifted patterns,
//! (row, column) corner positions in one array and its own key names reads — with the flags
//! `ptycho inspect` suggests — as the PtychoPINN dataset it came from; the same from a plain
//! HDF5 file; metres; ambiguous and impossible requests are one line.

mod common;

use std::path::{Path, PathBuf};

use common::{gpu_or_skip, ok, ptycho, s};
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzWriter;
use num_complex::Complex32;
use ptycho::data::conventions::{
    Conventions, DiffractionKind, KeyMap, PatternCentre, PositionOrder, PositionOrigin,
    PositionUnits,
};
use ptycho::data::{Dataset, ReadOptions, read_dataset};

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("foreign", name)
}

/// A PtychoPINN dataset simulated from a wide object (32 × 96) on a grid, so that (x, y) and
/// (row, column) can be told apart.
fn simulated(d: &Path) -> Dataset {
    let (h, w, n) = (32usize, 96usize, 16usize);
    let obj = Array2::from_shape_fn((h, w), |(r, c)| {
        Complex32::from_polar(
            0.7 + 0.3 * (0.2 * c as f32).sin(),
            0.4 * (0.15 * r as f32).cos(),
        )
    });
    let probe = ptycho::simulate::objects::default_probe(n);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for y in (8..=24).step_by(4) {
        for x in (8..=88).step_by(4) {
            xs.push(x as f64 + 0.25);
            ys.push(y as f64);
        }
    }
    let input = d.join("input.npz");
    let mut z = NpzWriter::new(std::fs::File::create(&input).unwrap());
    z.add_array("objectGuess", &obj).unwrap();
    z.add_array(
        "probeGuess",
        &Array2::from_shape_vec((n, n), probe).unwrap(),
    )
    .unwrap();
    z.add_array("xcoords", &Array1::from(xs)).unwrap();
    z.add_array("ycoords", &Array1::from(ys)).unwrap();
    z.finish().unwrap();
    let sim = d.join("sim.npz");
    ok(ptycho([
        "simulate",
        "--input",
        s(&input),
        "--output",
        s(&sim),
        "--seed",
        "3",
    ]));
    ptycho::data::npz::read_dataset(&sim).unwrap()
}

/// The foreign arrays: counts (as f32) unshifted, (row, col) corners, other names.
fn foreign(d: &Dataset) -> (Array3<f32>, Array2<f64>, Vec<f64>) {
    let (m, n) = (d.len(), d.n);
    let mut counts = Vec::with_capacity(m * n * n);
    let mut amps = Vec::with_capacity(m * n * n);
    for f in d.diff.chunks_exact(n * n) {
        // Unshifted: the inverse of fftshift (the same roll for even N).
        let un = ptycho::data::conventions::fftshift(f, n);
        for v in un {
            let c = ((v as f64).powi(2) * 1e4).round();
            counts.push(c as f32);
        }
    }
    // What reading them back must give: sqrt(counts), re-centred.
    for f in counts.chunks_exact(n * n) {
        let back = ptycho::data::conventions::fftshift(f, n);
        amps.extend(back.iter().map(|&c| (c as f64).sqrt()));
    }
    let pos = Array2::from_shape_fn((m, 2), |(i, k)| {
        if k == 0 {
            d.ycoords[i] - 8.0
        } else {
            d.xcoords[i] - 8.0
        }
    });
    (
        Array3::from_shape_vec((m, n, n), counts).unwrap(),
        pos,
        amps,
    )
}

fn conventions() -> Conventions {
    Conventions {
        keys: KeyMap {
            diffraction: Some("data".into()),
            probe: Some("illum".into()),
            positions: Some("pos".into()),
            object: Some("obj".into()),
            ..Default::default()
        },
        diffraction: DiffractionKind::Intensity,
        centre: PatternCentre::Corner,
        origin: PositionOrigin::Corner,
        order: PositionOrder::RowCol,
        units: PositionUnits::Pixels,
    }
}

fn check_read(got: &Dataset, d: &Dataset, amps: &[f64]) {
    assert_eq!((got.len(), got.n), (d.len(), d.n));
    for (i, (&g, &w)) in got.diff.iter().zip(amps).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-6 * (1.0 + w),
            "pattern value {i}: {g} vs {w}"
        );
    }
    for i in 0..d.len() {
        assert!((got.xcoords[i] - d.xcoords[i]).abs() < 1e-9, "x {i}");
        assert!((got.ycoords[i] - d.ycoords[i]).abs() < 1e-9, "y {i}");
    }
    assert_eq!(got.probe, d.probe);
}

#[test]
fn inspect_suggests_the_flags_that_read_a_foreign_npz() {
    if gpu_or_skip().is_none() {
        return;
    }
    let dir = tmp("npz");
    let d = simulated(&dir);
    let (counts, pos, amps) = foreign(&d);
    let f = dir.join("foreign.npz");
    let (h, w, o) = d.object.clone().unwrap();
    let mut z = NpzWriter::new(std::fs::File::create(&f).unwrap());
    z.add_array("data", &counts).unwrap();
    z.add_array("pos", &pos).unwrap();
    z.add_array(
        "illum",
        &Array2::from_shape_vec((d.n, d.n), d.probe.clone()).unwrap(),
    )
    .unwrap();
    z.add_array("obj", &Array2::from_shape_vec((h, w), o).unwrap())
        .unwrap();
    z.finish().unwrap();

    let out = ptycho(["inspect", "--json", s(&f)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flags: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for want in [
        "--key-diffraction data",
        "--diffraction-kind intensity",
        "--diffraction-centre corner",
        "--key-positions pos",
        "--position-order rowcol",
        "--position-origin corner",
        "--key-probe illum",
        "--key-object obj",
    ] {
        assert!(flags.contains(&want), "missing {want} in {flags:?}");
    }
    assert_eq!(v["patterns"]["holds"], "intensities");
    assert_eq!(v["patterns"]["zero_frequency"], "corner");
    assert_eq!(v["positions"]["order"], "rowcol");

    // Read with those conventions, the file is the dataset it came from.
    let opts = ReadOptions {
        conventions: conventions(),
        ..Default::default()
    };
    check_read(&read_dataset(&f, &opts).unwrap(), &d, &amps);
    // Without them it is one line naming what is missing.
    let e = read_dataset(&f, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("xcoords") && e.lines().count() == 1, "{e}");

    // The suggested command trains.
    let run = dir.join("run");
    let mut args: Vec<String> = [
        "train",
        "--train-data",
        s(&f),
        "--output-dir",
        s(&run),
        "--n",
        "16",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for fl in &flags {
        args.extend(fl.split(' ').map(String::from));
    }
    args.extend(
        [
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--n-filters-scale",
            "1",
            "--stitch-crop",
            "8",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    ok(ptycho(&args));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "hdf5")]
#[test]
fn a_plain_hdf5_file_reads_by_key_and_cxi_keeps_its_conventions() {
    if gpu_or_skip().is_none() {
        return;
    }
    let dir = tmp("h5");
    let d = simulated(&dir);
    let (counts, pos, amps) = foreign(&d);
    let f = dir.join("foreign.h5");
    {
        let _no_fork = common::no_fork_while_hdf5_open();
        let h = hdf5::File::create(&f).unwrap();
        h.create_group("scan").unwrap();
        h.new_dataset_builder()
            .with_data(&counts)
            .create("scan/data")
            .unwrap();
        h.new_dataset_builder()
            .with_data(&pos)
            .create("scan/pos")
            .unwrap();
        let probe = Array2::from_shape_vec((d.n, d.n), d.probe.clone()).unwrap();
        h.new_dataset_builder()
            .with_data(&probe)
            .create("scan/illum")
            .unwrap();
    }
    let mut conv = conventions();
    conv.keys = KeyMap {
        diffraction: Some("/scan/data".into()),
        probe: Some("/scan/illum".into()),
        positions: Some("/scan/pos".into()),
        ..Default::default()
    };
    let opts = ReadOptions {
        conventions: conv,
        ..Default::default()
    };
    check_read(&read_dataset(&f, &opts).unwrap(), &d, &amps);
    let out = ptycho(["inspect", "--json", s(&f)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "hdf5");
    assert_eq!(v["patterns"]["key"], "/scan/data");
    // A CXI file with a position convention is refused in one line.
    let cxi = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.cxi");
    let bad = ReadOptions {
        conventions: Conventions {
            order: PositionOrder::RowCol,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = read_dataset(&cxi, &bad).unwrap_err().to_string();
    assert!(e.contains("CXI") && e.lines().count() == 1, "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metres_need_a_pixel_size_and_ambiguity_is_reported() {
    let dir = tmp("metres");
    let n = 16usize;
    let m = 12usize;
    let f = dir.join("m.npz");
    let xs: Vec<f64> = (0..m).map(|i| 1e-6 * i as f64).collect();
    let mut z = NpzWriter::new(std::fs::File::create(&f).unwrap());
    z.add_array("diff3d", &Array3::<f32>::from_elem((m, n, n), 1.0))
        .unwrap();
    z.add_array("copy", &Array3::<f32>::from_elem((m, n, n), 1.0))
        .unwrap();
    z.add_array(
        "probeGuess",
        &Array2::from_elem((n, n), Complex32::new(1.0, 0.0)),
    )
    .unwrap();
    z.add_array("xcoords", &Array1::from(xs.clone())).unwrap();
    z.add_array("ycoords", &Array1::from(xs.clone())).unwrap();
    z.finish().unwrap();
    let r = ptycho::data::inspect::inspect(&f).unwrap();
    assert_eq!(r.positions.as_ref().unwrap().units, "metres");
    assert!(
        r.flags
            .iter()
            .any(|f| f.starts_with("--position-units metres")),
        "{:?}",
        r.flags
    );
    let metres = Conventions {
        units: PositionUnits::Metres,
        ..Default::default()
    };
    let e = read_dataset(
        &f,
        &ReadOptions {
            conventions: metres.clone(),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--object-pixel-size-m"), "{e}");
    let got = read_dataset(
        &f,
        &ReadOptions {
            conventions: metres,
            pixel_size_m: Some(5e-8),
            ..Default::default()
        },
    )
    .unwrap();
    assert!((got.xcoords[3] - 60.0).abs() < 1e-9, "{}", got.xcoords[3]);
    // Two identical candidates for the patterns under names that rank alike.
    let g = dir.join("two.npz");
    let mut z = NpzWriter::new(std::fs::File::create(&g).unwrap());
    z.add_array("a", &Array3::<f32>::from_elem((m, n, n), 1.0))
        .unwrap();
    z.add_array("b", &Array3::<f32>::from_elem((m, n, n), 1.0))
        .unwrap();
    z.finish().unwrap();
    let r = ptycho::data::inspect::inspect(&g).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("ambiguous") && p.contains("--key-diffraction")),
        "{:?}",
        r.problems
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
