//! `--tiff`: single-channel IEEE float32 TIFFs holding the amplitude and phase values
//! themselves, through the library and through `ptycho stitch`.

mod common;

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array3};
use num_complex::Complex32;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ptycho-tiff-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Decodes a TIFF: (width, height, colour type, float32 values).
fn decode(p: &Path) -> (u32, u32, tiff::ColorType, Vec<f32>) {
    let mut d = tiff::decoder::Decoder::new(std::fs::File::open(p).unwrap()).unwrap();
    let (w, h) = d.dimensions().unwrap();
    let ct = d.colortype().unwrap();
    let tiff::decoder::DecodingResult::F32(v) = d.read_image().unwrap() else {
        panic!("{}: not float32 samples", p.display());
    };
    (w, h, ct, v)
}

#[test]
fn float_tiff_holds_the_values_bit_for_bit() {
    let (w, h) = (7usize, 5usize);
    let v: Vec<f32> = (0..w * h)
        .map(|i| (i as f32 * 0.37).sin() * 1e-3 + if i == 4 { -0.0 } else { 0.0 })
        .collect();
    let p = tmp("v.tiff");
    ptycho::data::tiff::write_f32(&p, w, h, &v).unwrap();
    let (gw, gh, ct, got) = decode(&p);
    assert_eq!(
        (gw, gh, ct),
        (w as u32, h as u32, tiff::ColorType::Gray(32))
    );
    assert_eq!(
        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // A size mismatch is refused and leaves nothing behind.
    let q = tmp("bad.tiff");
    let msg = ptycho::data::tiff::write_f32(&q, 3, 3, &v)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("3×3") && !q.exists(), "{msg}");
}

#[test]
fn stitch_tiff_writes_amplitude_and_phase_next_to_the_output() {
    let (m, n) = (4usize, 8usize);
    let dir = tmp("stitch");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("patches.npz");
    let mut z = ndarray_npy::NpzWriter::new(std::fs::File::create(&input).unwrap());
    z.add_array(
        "xcoords",
        &Array1::from_iter((0..m).map(|i| 10.0 + 2.0 * i as f64)),
    )
    .unwrap();
    z.add_array(
        "ycoords",
        &Array1::from_iter((0..m).map(|i| 10.0 + i as f64)),
    )
    .unwrap();
    z.add_array(
        "ground_truth_patches",
        &Array3::from_shape_fn((m, n, n), |(k, r, c)| {
            Complex32::from_polar(1.0 + 0.1 * k as f32, 0.05 * (r + c) as f32)
        }),
    )
    .unwrap();
    z.finish().unwrap();
    let out = dir.join("object.npz");
    let o = common::ptycho([
        "stitch".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--crop".as_ref(),
        "6".as_ref(),
        "--tiff".as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = ndarray_npy::NpzReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let obj: ndarray::Array2<Complex32> = r.by_name("object").unwrap();
    let (w, h) = (obj.ncols(), obj.nrows());
    for (name, f) in [
        ("amplitude.tiff", Complex32::norm as fn(Complex32) -> f32),
        ("phase.tiff", Complex32::arg),
    ] {
        let (gw, gh, ct, got) = decode(&dir.join(name));
        assert_eq!(
            (gw as usize, gh as usize, ct),
            (w, h, tiff::ColorType::Gray(32))
        );
        let want: Vec<f32> = obj.iter().map(|z| f(*z)).collect();
        assert_eq!(got, want, "{name}");
    }
}
