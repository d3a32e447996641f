//! Files as PtychoPINN 2.0 writes them (tests/fixtures/make_pinn2_fixture.py mirrors its
//! simulate_and_save.py: `ground_truth_patches` (M, N, N, 1), a nested schema-1.0.0
//! `_metadata` pickled in an object array) and patch stacks in group layouts: `stitch` reads
//! them, `train` takes the physics parameters the metadata records, and a metadata N that
//! contradicts the patterns is one line.

mod common;

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array4, ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};
use num_complex::Complex32;
use ptycho::data::npz::read_patches;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("pinn2", name)
}

fn read<T: ndarray_npy::ReadableElement + Clone>(p: &Path, key: &str) -> ArrayD<T> {
    let mut z = NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
    z.by_name::<ndarray::OwnedRepr<T>, IxDyn>(key).unwrap()
}

fn flat(v: &[Complex32]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect()
}

#[test]
fn stitch_reads_trailing_channel_patches_and_matches_numpy() {
    // The same object, probe and positions as make_fixtures.py: its NumPy stitch (crop 8) is
    // the reference.
    let dir = tmp("stitch");
    let st = dir.join("stitched.npz");
    let out = common::ptycho([
        "stitch".as_ref(),
        "--crop".as_ref(),
        "8".as_ref(),
        "--input".as_ref(),
        fixture("pinn2_sim.npz").as_os_str(),
        "--output".as_ref(),
        st.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Complex32> = read::<Complex32>(&st, "object").iter().copied().collect();
    let want: Vec<Complex32> = read::<Complex32>(&fixture("sim_expected.npz"), "stitched")
        .iter()
        .copied()
        .collect();
    assert_eq!(got.len(), want.len());
    let (l2, _) = common::rel_errors(&flat(&got), &flat(&want));
    assert!(l2 < 1e-6, "stitched rel L2 {l2:e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn group_layouts_read_as_the_same_patches() {
    let dir = tmp("layouts");
    let src = fixture("pinn2_sim.npz");
    let (plain, n, xs, ys) = read_patches(&src, "ground_truth_patches").unwrap();
    let m = xs.len();
    assert_eq!((m, n), (20, 16));
    let (g, c) = (m / 4, 4);
    // Channel-last (G, N, N, C): element [g, i, j, c] is patch g·C + c.
    let last = Array4::from_shape_fn((g, n, n, c), |(gi, i, j, ci)| {
        plain[((gi * c + ci) * n + i) * n + j]
    });
    let first = Array4::from_shape_fn((g, c, n, n), |(gi, ci, i, j)| {
        plain[((gi * c + ci) * n + i) * n + j]
    });
    for (name, arr) in [("last", last.into_dyn()), ("first", first.into_dyn())] {
        let p = dir.join(format!("{name}.npz"));
        let mut w = NpzWriter::new(std::fs::File::create(&p).unwrap());
        w.add_array("xcoords", &Array1::from(xs.clone())).unwrap();
        w.add_array("ycoords", &Array1::from(ys.clone())).unwrap();
        w.add_array("patches", &arr).unwrap();
        w.finish().unwrap();
        let (got, gn, _, _) = read_patches(&p, "patches").unwrap();
        assert_eq!(gn, n, "{name}");
        assert_eq!(got, plain, "channel-{name} groups read differently");
    }
    // A stack that fits no layout names the shapes it accepts.
    let p = dir.join("bad.npz");
    let mut w = NpzWriter::new(std::fs::File::create(&p).unwrap());
    w.add_array("xcoords", &Array1::from(xs.clone())).unwrap();
    w.add_array("ycoords", &Array1::from(ys.clone())).unwrap();
    w.add_array("patches", &Array4::<Complex32>::zeros((3, n, n, 4)))
        .unwrap();
    w.finish().unwrap();
    let e = read_patches(&p, "patches").unwrap_err().to_string();
    assert!(
        e.contains("'patches'") && e.contains("G·C = 20") && e.contains("[3, 16, 16, 4]"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_takes_nphotons_from_nested_metadata_unless_configured() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let dir = tmp("train");
    let base = [
        "train",
        "--n",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--n-filters-scale",
        "1",
        "--stitch-crop",
        "8",
        "--quiet",
    ];
    let run = |extra: &[&str], name: &str| {
        let out_dir = dir.join(name);
        let mut args: Vec<std::ffi::OsString> = base.iter().map(Into::into).collect();
        args.extend([
            "--train-data".into(),
            fixture("pinn2_sim.npz").into_os_string(),
        ]);
        args.extend(["--output-dir".into(), out_dir.clone().into_os_string()]);
        args.extend(extra.iter().map(Into::into));
        let out = common::ptycho(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let cfg: toml::Table =
            toml::from_str(&std::fs::read_to_string(out_dir.join("config.toml")).unwrap()).unwrap();
        (cfg["data"]["nphotons"].as_float().unwrap(), stderr)
    };
    let (np, stderr) = run(&[], "from_metadata");
    assert_eq!(np, 1e6);
    assert!(
        stderr.contains("data.nphotons = 1e6 from the _metadata"),
        "{stderr}"
    );
    // An explicit setting wins, silently.
    let (np, stderr) = run(&["--nphotons", "1e9"], "explicit");
    assert_eq!(np, 1e9);
    assert!(!stderr.contains("_metadata"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadata_that_contradicts_the_patterns_is_one_line() {
    let dir = tmp("badmeta");
    let p = dir.join("bad.npz");
    let d = ptycho::data::npz::read_dataset(&fixture("pinn2_sim.npz")).unwrap();
    assert_eq!(d.nphotons(), Some(1e6), "nested nphotons");
    let mut d = d;
    d.metadata = serde_json::json!({"schema_version": "1.0.0",
        "physics_parameters": {"nphotons": 1e6, "N": 32, "gridsize": 1}});
    ptycho::data::npz::write_dataset(&p, &d).unwrap();
    let e = ptycho::data::npz::read_dataset(&p).unwrap_err().to_string();
    assert!(
        e.contains("'_metadata'") && e.contains("N = 32") && e.contains("16×16"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
