//! ptycho in Ptychodus's place on its batch-mode folders: a folder written by Ptychodus 1.7's
//! own `save_diffraction_data` / `save_product` (tests/fixtures/make_ptychodus_batch_fixture.py,
//! whose `check` reads ptycho's results back with Ptychodus's `load_product`) trains with
//! `ptycho batch train`, reconstructs with `ptycho -b reconstruct` (Ptychodus's syntax), and the
//! result product keeps the input's geometry; a folder missing a file is one line.
#![cfg(feature = "hdf5")]

mod common;

use std::path::{Path, PathBuf};

use common::{gpu_or_skip, ok, ptycho, s};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ptychodus_batch")
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("batch-test", name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn attr(loc: &hdf5::Location, name: &str) -> f64 {
    loc.attr(name).unwrap().read_scalar::<f64>().unwrap()
}

#[test]
fn train_then_reconstruct_a_ptychodus_folder() {
    if gpu_or_skip().is_none() {
        return;
    }
    let d = tmp("run");
    let input = d.join("in");
    copy_dir(&fixture(), &input);
    std::fs::write(
        input.join("ptycho.toml"),
        "[training]\nepochs = 2\nbatch_size = 8\n[model]\nn_filters_scale = 1\n[inference]\nstitch_crop = 8\n",
    )
    .unwrap();
    let trained = d.join("trained");
    ok(ptycho([
        "batch",
        "train",
        "-i",
        s(&input),
        "-o",
        s(&trained),
    ]));
    let cfg: toml::Table =
        toml::from_str(&std::fs::read_to_string(trained.join("model/config.toml")).unwrap())
            .unwrap();
    assert_eq!(cfg["data"]["n"].as_integer(), Some(16), "N from the data");
    copy_dir(&trained.join("model"), &input.join("model"));
    let out = d.join("out");
    let stdout = ok(ptycho([
        "-b",
        "reconstruct",
        "-i",
        s(&input),
        "-o",
        s(&out),
    ]));
    assert!(stdout.contains("product.000000.h5"), "{stdout}");
    let a = std::fs::read(out.join("product.h5")).unwrap();
    assert_eq!(a, std::fs::read(out.join("product.000000.h5")).unwrap());

    // The result in the input's frame.
    let (data, g) = ptycho::data::ptychodus::read_input(&input).unwrap();
    let f = hdf5::File::open(out.join("product.h5")).unwrap();
    assert_eq!(attr(&f, "photon_energy_eV"), 8000.0);
    assert_eq!(attr(&f, "detector_object_distance_m"), 2.0);
    let name = f
        .attr("name")
        .unwrap()
        .read_scalar::<hdf5::types::VarLenUnicode>()
        .unwrap();
    assert_eq!(name.as_str(), "pinn2_ptycho");
    let obj = f.dataset("object").unwrap();
    let shape = obj.shape();
    assert_eq!((shape.len(), shape[0]), (3, 1));
    let (h, w) = (shape[1], shape[2]);
    let (pw, cx) = (attr(&obj, "pixel_width_m"), attr(&obj, "center_x_m"));
    let (ph, cy) = (attr(&obj, "pixel_height_m"), attr(&obj, "center_y_m"));
    assert_eq!([pw, ph], g.pixel_m);
    let idx: Vec<i64> = f
        .dataset("probe_position_indexes")
        .unwrap()
        .read_raw()
        .unwrap();
    let xm: Vec<f64> = f.dataset("probe_position_x_m").unwrap().read_raw().unwrap();
    let ym: Vec<f64> = f.dataset("probe_position_y_m").unwrap().read_raw().unwrap();
    assert_eq!((idx, &xm, &ym), (g.indexes.clone(), &g.x_m, &g.y_m));
    // Ptychodus maps each position onto the result's canvas by its centre and pixel size: that
    // must be the input's object pixel less one common origin, and inside the canvas.
    let to_canvas = |m: f64, c: f64, p: f64, len: usize| (m - c) / p + (len as f64 - 1.0) / 2.0;
    let ox = to_canvas(xm[0], cx, pw, w) - data.xcoords[0];
    let oy = to_canvas(ym[0], cy, ph, h) - data.ycoords[0];
    for i in 0..xm.len() {
        let (x, y) = (to_canvas(xm[i], cx, pw, w), to_canvas(ym[i], cy, ph, h));
        assert!(
            (x - data.xcoords[i] - ox).abs() < 1e-6 && (y - data.ycoords[i] - oy).abs() < 1e-6,
            "position {i}"
        );
        assert!(
            x > 0.0 && x < w as f64 && y > 0.0 && y < h as f64,
            "position {i} ({x}, {y}) off the {w}×{h} canvas"
        );
    }
    let losses: Vec<f64> = f.dataset("loss_values").unwrap().read_raw().unwrap();
    assert_eq!(losses.len(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_folder_missing_a_file_or_the_model_is_one_line() {
    let d = tmp("bad");
    let input = d.join("in");
    copy_dir(&fixture(), &input);
    let out = d.join("out");
    // No model to reconstruct with.
    let r = ptycho(["-b", "reconstruct", "-i", s(&input), "-o", s(&out)]);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("model") && e.contains("ptycho batch train") && e.trim().lines().count() == 1,
        "{e}"
    );
    assert!(!out.exists());
    // No diffraction.h5.
    std::fs::remove_file(input.join("diffraction.h5")).unwrap();
    let r = ptycho(["batch", "train", "-i", s(&input), "-o", s(&out)]);
    assert!(!r.status.success());
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("diffraction.h5") && e.trim().lines().count() == 1,
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn ptychodus_syntax_is_the_batch_command() {
    let argv = |v: &[&str]| -> Vec<String> {
        ptycho::cli::ptychodus_argv(v.iter().map(|s| std::ffi::OsString::from(*s)))
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        argv(&["ptycho", "-b", "reconstruct", "-i", "a"]),
        ["ptycho", "batch", "reconstruct", "-i", "a"]
    );
    assert_eq!(
        argv(&["ptycho", "--accelerator", "cpu", "--batch", "train"]),
        ["ptycho", "--accelerator", "cpu", "batch", "train"]
    );
    // Elsewhere -b is left to the command it belongs to.
    assert_eq!(
        argv(&["ptycho", "train", "-b", "x"]),
        ["ptycho", "train", "-b", "x"]
    );
}
