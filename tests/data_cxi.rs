//! CXI input and the HDF5 Ptychodus product (feature `hdf5`): the Ptychodus-layout fixture
//! against the values its NumPy script computed, legacy paths and an object frame written from
//! Rust, the NPZ ↔ CXI equivalence, probe and pixel-size options, one-line errors, and the
//! product's layout.
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD};
use num_complex::Complex32;
use ptycho::data::Dataset;
use ptycho::data::cxi::ELECTRON_VOLT_J;
use ptycho::data::npz;
use ptycho::data::product::{Geometry, Product};
use ptycho::data::{ReadOptions, read_dataset};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptycho-cxi-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-300)
}

#[test]
fn ptychodus_layout_fixture_matches_its_numpy_values() {
    let d = read_dataset(&fixture("tiny.cxi"), &ReadOptions::default()).unwrap();
    let mut want =
        ndarray_npy::NpzReader::new(std::fs::File::open(fixture("tiny_cxi_expected.npz")).unwrap())
            .unwrap();
    let amp: Array3<f32> = want.by_name("diff3d").unwrap();
    let xs: Array1<f64> = want.by_name("xcoords").unwrap();
    let ys: Array1<f64> = want.by_name("ycoords").unwrap();
    let probe: Array3<Complex32> = want.by_name("probeGuess").unwrap();
    let px: Array1<f64> = want.by_name("pixel_size_m").unwrap();
    assert_eq!((d.len(), d.n), (6, 8));
    // sqrt of u16 counts, masked pixels zero: correctly rounded either way, so equal.
    assert_eq!(d.diff, amp.iter().copied().collect::<Vec<_>>());
    for (i, (g, w)) in d.xcoords.iter().zip(xs.iter()).enumerate() {
        assert!(close(*g, *w, 1e-12), "x {i}: {g} vs {w}");
    }
    for (i, (g, w)) in d.ycoords.iter().zip(ys.iter()).enumerate() {
        assert!(close(*g, *w, 1e-12), "y {i}: {g} vs {w}");
    }
    assert_eq!(d.probe, probe.iter().copied().collect::<Vec<_>>());
    let g = Geometry::of(&d).expect("geometry recorded");
    assert!(close(g.pixel_width_m, px[0], 1e-12) && close(g.pixel_height_m, px[1], 1e-12));
    assert!(close(g.photon_energy_ev.unwrap(), 8000.0, 1e-12));
    assert_eq!(g.detector_distance_m, Some(2.0));
    assert!(d.object.is_none());
}

#[test]
fn fixture_mask_zeroes_exactly_the_flagged_pixels() {
    let d = read_dataset(&fixture("tiny.cxi"), &ReadOptions::default()).unwrap();
    let n = d.n;
    for k in 0..d.len() {
        assert_eq!(d.diff[k * n * n + n + 2], 0.0);
        assert_eq!(d.diff[k * n * n + 5 * n + 7], 0.0);
    }
}

/// A CXI file written from Rust, for the legacy paths, other dtypes and an object.
struct Cxi {
    counts: ArrayD<f64>,
    trans: Array2<f64>,
    probe: Option<Array2<Complex32>>,
    energy_j: Option<f64>,
    legacy: bool,
    dtype: &'static str,
    object: Option<(Array2<Complex32>, [f64; 2])>,
}

impl Cxi {
    fn write(&self, p: &Path) {
        let f = hdf5::File::create(p).unwrap();
        for g in [
            "entry_1",
            "entry_1/data_1",
            "entry_1/sample_1",
            "entry_1/sample_1/geometry_1",
            "entry_1/instrument_1",
            "entry_1/instrument_1/source_1",
            "entry_1/instrument_1/detector_1",
            "entry_1/image_2",
            "entry_1/ptychodus",
        ] {
            f.create_group(g).unwrap();
        }
        let data = if self.legacy {
            "entry_1/instrument_1/detector_1/data"
        } else {
            "entry_1/data_1/data"
        };
        let b = f.new_dataset_builder();
        match self.dtype {
            "i16" => b.with_data(&self.counts.mapv(|x| x as i16)).create(data),
            "u32" => b.with_data(&self.counts.mapv(|x| x as u32)).create(data),
            "f32" => b.with_data(&self.counts.mapv(|x| x as f32)).create(data),
            _ => b.with_data(&self.counts).create(data),
        }
        .unwrap();
        let t = if self.legacy {
            "entry_1/data_1/translation"
        } else {
            "entry_1/sample_1/geometry_1/translation"
        };
        f.new_dataset_builder()
            .with_data(&self.trans)
            .create(t)
            .unwrap();
        if let Some(pr) = &self.probe {
            let at = if self.legacy {
                "entry_1/instrument_1/source_1/illumination"
            } else {
                f.create_group("entry_1/image_1").unwrap();
                "entry_1/image_1/data"
            };
            f.new_dataset_builder().with_data(pr).create(at).unwrap();
        }
        let scalar = |p: &str, v: f64| {
            f.new_dataset::<f64>()
                .create(p)
                .unwrap()
                .write_scalar(&v)
                .unwrap()
        };
        if let Some(e) = self.energy_j {
            scalar("entry_1/instrument_1/source_1/energy", e);
        }
        scalar("entry_1/instrument_1/detector_1/distance", 1.5);
        scalar("entry_1/instrument_1/detector_1/x_pixel_size", 172e-6);
        scalar("entry_1/instrument_1/detector_1/y_pixel_size", 172e-6);
        if let Some((o, c)) = &self.object {
            f.new_dataset_builder()
                .with_data(&o.clone().insert_axis(ndarray::Axis(0)))
                .create("entry_1/image_2/data")
                .unwrap();
            scalar("entry_1/ptychodus/object_center_x_m", c[0]);
            scalar("entry_1/ptychodus/object_center_y_m", c[1]);
        }
    }
}

fn small(m: usize, n: usize) -> Cxi {
    Cxi {
        counts: ArrayD::from_shape_fn(vec![m, n, n], |i| {
            ((i[0] * 7 + i[1] * 3 + i[2]) % 11) as f64
        }),
        trans: Array2::from_shape_fn((m, 3), |(i, k)| match k {
            0 => i as f64 * 1e-6,
            1 => -(i as f64) * 2e-6,
            _ => 0.0,
        }),
        probe: Some(Array2::from_shape_fn((n, n), |(r, c)| {
            Complex32::new(r as f32, c as f32)
        })),
        energy_j: Some(9000.0 * ELECTRON_VOLT_J),
        legacy: false,
        dtype: "f64",
        object: None,
    }
}

/// λ·z/(N·dx) for `small`'s geometry at energy `e_j`.
fn pixel(e_j: f64, n: usize) -> f64 {
    6.626_070_15e-34 * 299_792_458.0 / e_j * 1.5 / (n as f64 * 172e-6)
}

#[test]
fn legacy_paths_integer_dtypes_and_pixel_conversion() {
    for (legacy, dtype) in [(true, "i16"), (false, "u32"), (true, "f32"), (false, "f64")] {
        let mut c = small(4, 16);
        c.legacy = legacy;
        c.dtype = dtype;
        let p = tmp(&format!("legacy-{legacy}-{dtype}.cxi"));
        c.write(&p);
        let d = read_dataset(&p, &ReadOptions::default()).unwrap();
        let px = pixel(9000.0 * ELECTRON_VOLT_J, 16);
        let want: Vec<f32> = c.counts.iter().map(|v| v.sqrt() as f32).collect();
        assert_eq!(d.diff, want, "{dtype}");
        for i in 0..4 {
            assert!(
                close(d.xcoords[i], c.trans[[i, 0]] / px, 1e-12),
                "{dtype} x{i}"
            );
            assert!(
                close(d.ycoords[i], c.trans[[i, 1]] / px, 1e-12),
                "{dtype} y{i}"
            );
        }
        assert_eq!(d.probe[17], Complex32::new(1.0, 1.0));
    }
}

#[test]
fn explicit_pixel_size_overrides_the_geometry() {
    let mut c = small(3, 8);
    c.energy_j = None;
    let p = tmp("nopixel.cxi");
    c.write(&p);
    let msg = read_dataset(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/entry_1/instrument_1/source_1/energy")
            && msg.contains("--cxi-pixel-size-m")
            && msg.contains(&p.display().to_string())
            && !msg.contains('\n'),
        "{msg}"
    );
    let d = read_dataset(
        &p,
        &ReadOptions {
            pixel_size_m: Some(1e-7),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(close(d.xcoords[2], 2e-6 / 1e-7, 1e-12));
    assert!(close(d.ycoords[2], -4e-6 / 1e-7, 1e-12));
    // An energy written in eV is refused, unless the pixel size is given: then it is dropped.
    c.energy_j = Some(9000.0);
    c.write(&p);
    let msg = read_dataset(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not a plausible photon energy"), "{msg}");
    let opts = ReadOptions {
        pixel_size_m: Some(1e-7),
        ..Default::default()
    };
    let g = Geometry::of(&read_dataset(&p, &opts).unwrap()).unwrap();
    assert_eq!((g.pixel_width_m, g.photon_energy_ev), (1e-7, None));
    assert_eq!(g.detector_distance_m, Some(1.5));
}

#[test]
fn an_object_puts_positions_in_its_pixel_frame() {
    let mut c = small(3, 8);
    let (h, w) = (40usize, 50usize);
    let centre = [0.5e-6, -1.5e-6];
    c.object = Some((
        Array2::from_shape_fn((h, w), |(r, k)| Complex32::new(r as f32, k as f32)),
        centre,
    ));
    let p = tmp("object.cxi");
    c.write(&p);
    let d = read_dataset(&p, &ReadOptions::default()).unwrap();
    let px = pixel(9000.0 * ELECTRON_VOLT_J, 8);
    // Ptychodus 1.7: x_px = (x − centre)/pixel + (W − 1)/2.
    for i in 0..3 {
        let wx = (c.trans[[i, 0]] - centre[0]) / px + (w as f64 - 1.0) / 2.0;
        let wy = (c.trans[[i, 1]] - centre[1]) / px + (h as f64 - 1.0) / 2.0;
        assert!(close(d.xcoords[i], wx, 1e-12) && close(d.ycoords[i], wy, 1e-12));
    }
    let (oh, ow, o) = d.object.as_ref().unwrap();
    assert_eq!((*oh, *ow, o[w + 3]), (h, w, Complex32::new(1.0, 3.0)));
    // simulate --input takes the same object, probe and positions.
    let (so, (sh, sw), sp, _, pos) =
        ptycho::data::read_sim_input(&p, &ReadOptions::default()).unwrap();
    assert_eq!((&so, sh, sw, &sp), (o, h, w, &d.probe));
    assert_eq!(pos.unwrap(), (d.xcoords.clone(), d.ycoords.clone()));
}

#[test]
fn probe_options_replace_fall_back_or_ask_for_one() {
    let mut c = small(3, 8);
    c.probe = None;
    let p = tmp("noprobe.cxi");
    c.write(&p);
    let msg = read_dataset(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("--probe") && msg.contains("/entry_1/image_1/data") && !msg.contains('\n'),
        "{msg}"
    );
    let fb = vec![Complex32::new(2.0, 0.0); 64];
    let d = read_dataset(
        &p,
        &ReadOptions {
            fallback_probe: Some(fb.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.probe, fb);
    // --probe from an NPZ replaces whatever the data file has.
    let probe_file = tmp("probe.npz");
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&probe_file).unwrap());
    w.add_array(
        "probeGuess",
        &Array2::from_elem((8, 8), Complex32::new(0.0, 3.0)),
    )
    .unwrap();
    w.finish().unwrap();
    let opts = ReadOptions {
        probe: Some(probe_file.clone()),
        ..Default::default()
    };
    assert_eq!(
        read_dataset(&p, &opts).unwrap().probe[5],
        Complex32::new(0.0, 3.0)
    );
    // … and of the wrong size it is refused naming both files.
    let big = tmp("big.cxi");
    small(3, 16).write(&big);
    let msg = read_dataset(&big, &opts).unwrap_err().to_string();
    assert!(
        msg.contains(&probe_file.display().to_string()) && msg.contains("16×16"),
        "{msg}"
    );
    // A CXI probe file works too.
    let opts = ReadOptions {
        probe: Some(fixture("tiny.cxi")),
        ..Default::default()
    };
    assert_eq!(read_dataset(&p, &opts).unwrap().probe.len(), 2 * 64);
}

#[test]
fn bad_cxi_inputs_are_one_line_errors_naming_the_dataset() {
    type Edit = Box<dyn Fn(&mut Cxi)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "count",
            Box::new(|c| c.trans = c.trans.slice(ndarray::s![..2, ..]).to_owned()),
            "/entry_1/data_1/data",
        ),
        (
            "negative",
            Box::new(|c| {
                c.dtype = "i16";
                c.counts[[1, 2, 3]] = -1.0;
            }),
            "negative count -1",
        ),
        (
            "nan",
            Box::new(|c| c.counts[[0, 0, 1]] = f64::NAN),
            "non-finite count NaN",
        ),
        (
            "npow2",
            Box::new(|c| c.counts = ArrayD::zeros(vec![3, 12, 12])),
            "power of two",
        ),
        (
            "probe",
            Box::new(|c| c.probe = Some(Array2::zeros((16, 16)))),
            "probe is 16×16 but the patterns are 8×8",
        ),
        (
            "energy",
            Box::new(|c| c.energy_j = Some(9000.0)),
            "not a plausible photon energy",
        ),
        (
            "outside",
            Box::new(|c| {
                c.object = Some((Array2::zeros((4, 4)), [0.0, 0.0]));
            }),
            "outside the 4×4 object",
        ),
    ];
    for (name, edit, needle) in cases {
        let mut c = small(3, 8);
        edit(&mut c);
        let p = tmp(&format!("bad-{name}.cxi"));
        c.write(&p);
        let msg = read_dataset(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(needle) && msg.contains(&p.display().to_string()) && !msg.contains('\n'),
            "{name}: {msg}"
        );
    }
    let p = tmp("garbage.cxi");
    std::fs::write(&p, b"\x89HDF\r\n\x1a\nnot really").unwrap();
    let msg = read_dataset(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("not a readable HDF5 file") && !msg.contains('\n'),
        "{msg}"
    );
    let p = tmp("empty.h5");
    hdf5::File::create(&p).unwrap();
    let msg = read_dataset(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/entry_1/data_1/data or") && !msg.contains('\n'),
        "{msg}"
    );
}

#[test]
fn npz_and_cxi_of_the_same_data_read_the_same() {
    let (m, n) = (5, 16);
    let px = pixel(9000.0 * ELECTRON_VOLT_J, n);
    let d = Dataset {
        n,
        xcoords: (0..m).map(|i| 3.0 + i as f64 * 1.25).collect(),
        ycoords: (0..m).map(|i| 9.0 - i as f64 * 0.5).collect(),
        diff: (0..m * n * n).map(|i| ((i * 37) % 101) as f32).collect(),
        probe: (0..n * n).map(|i| Complex32::new(1.0, i as f32)).collect(),
        object: None,
        patches: None,
        start: None,
        scan_index: None,
        metadata: serde_json::Value::Null,
    };
    let np = tmp("same.npz");
    npz::write_dataset(&np, &d).unwrap();
    let mut c = small(m, n);
    // Integer amplitudes squared are exact counts.
    c.counts = ArrayD::from_shape_vec(
        vec![m, n, n],
        d.diff.iter().map(|&a| (a as f64).powi(2)).collect(),
    )
    .unwrap();
    c.trans = Array2::from_shape_fn((m, 3), |(i, k)| match k {
        0 => d.xcoords[i] * px,
        1 => d.ycoords[i] * px,
        _ => 0.0,
    });
    c.probe = Some(Array2::from_shape_vec((n, n), d.probe.clone()).unwrap());
    let cx = tmp("same.cxi");
    c.write(&cx);
    let a = read_dataset(&np, &ReadOptions::default()).unwrap();
    let b = read_dataset(&cx, &ReadOptions::default()).unwrap();
    assert_eq!(a.diff, b.diff);
    assert_eq!(a.probe, b.probe);
    for i in 0..m {
        assert!(
            close(a.xcoords[i], b.xcoords[i], 1e-12) && close(a.ycoords[i], b.ycoords[i], 1e-12)
        );
    }
}

#[test]
fn hdf5_product_has_ptychodus_1_7_layout_and_values() {
    let s = ptycho::stitch::Stitched {
        object: (0..6 * 5).map(|i| Complex32::new(i as f32, -1.0)).collect(),
        weight: vec![1.0; 30],
        h: 6,
        w: 5,
        origin_xy: [10.0, 20.0],
    };
    let probe: Vec<Complex32> = (0..64).map(|i| Complex32::new(0.0, i as f32)).collect();
    let g = Geometry {
        pixel_width_m: 2e-8,
        pixel_height_m: 3e-8,
        detector_distance_m: Some(1.5),
        photon_energy_ev: Some(9000.0),
    };
    let xs = [11.0, 12.5];
    let ys = [21.0, 22.0];
    let prod = Product::new(&s, &probe, (&xs, &ys), Some(g), 1.0, &[(1, 0.5), (2, 0.25)]);
    // A folder of its own: other tests of this binary write files (and their temporaries)
    // into tmp() at the same time.
    let p = tmp("product").join("product.h5");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    prod.write_h5(&p).unwrap();
    let f = hdf5::File::open(&p).unwrap();
    let attr = |k: &str| f.attr(k).unwrap().read_scalar::<f64>().unwrap();
    assert_eq!(attr("detector_object_distance_m"), 1.5);
    assert_eq!(attr("photon_energy_eV"), 9000.0);
    let name: hdf5::types::VarLenUnicode = f.attr("name").unwrap().read_scalar().unwrap();
    assert_eq!(name.as_str(), "ptycho reconstruction");
    assert!(f.attr("far_field").unwrap().read_scalar::<bool>().unwrap());
    let obj = f.dataset("object").unwrap();
    assert_eq!(obj.shape(), vec![1, 6, 5]);
    assert_eq!(obj.read_raw::<Complex32>().unwrap(), s.object);
    let oa = |k: &str| obj.attr(k).unwrap().read_scalar::<f64>().unwrap();
    // Centre = metres of the pixel-index point ((W − 1)/2, (H − 1)/2) of the canvas.
    assert!(close(oa("center_x_m"), (10.0 + 2.0) * 2e-8, 1e-15));
    assert!(close(oa("center_y_m"), (20.0 + 2.5) * 3e-8, 1e-15));
    assert_eq!((oa("pixel_width_m"), oa("pixel_height_m")), (2e-8, 3e-8));
    let pr = f.dataset("probe").unwrap();
    assert_eq!(pr.shape(), vec![1, 8, 8]);
    assert_eq!(pr.read_raw::<Complex32>().unwrap(), probe);
    assert_eq!(
        pr.attr("pixel_width_m")
            .unwrap()
            .read_scalar::<f64>()
            .unwrap(),
        2e-8
    );
    let v = |k: &str| f.dataset(k).unwrap().read_raw::<f64>().unwrap();
    assert_eq!(v("probe_position_x_m"), vec![11.0 * 2e-8, 12.5 * 2e-8]);
    assert_eq!(v("probe_position_y_m"), vec![21.0 * 3e-8, 22.0 * 3e-8]);
    assert_eq!(
        f.dataset("probe_position_indexes")
            .unwrap()
            .read_raw::<i64>()
            .unwrap(),
        vec![0, 1]
    );
    assert_eq!(v("loss_values"), vec![0.5, 0.25]);
    assert_eq!(
        f.dataset("object_layer_spacing_m").unwrap().shape(),
        vec![0]
    );
    // Mapping the positions back as Ptychodus does lands on the canvas pixel of each.
    for (x_m, x) in v("probe_position_x_m").iter().zip(xs) {
        let x_px = (x_m - oa("center_x_m")) / 2e-8 + (5.0 - 1.0) / 2.0;
        assert!(close(x_px, x - 10.0, 1e-9), "{x_px}");
    }
    // Nothing else is left in the folder (the temporary file was renamed).
    let left: Vec<_> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
