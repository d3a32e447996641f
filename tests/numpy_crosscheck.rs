//! ptycho against an independent NumPy implementation of physics.md (tests/fixtures/
//! make_fixtures.py): `simulate --input … --no-noise` and `stitch` agree to float32 round-off.

mod common;

use std::path::PathBuf;

use ndarray_npy::NpzReader;
use num_complex::Complex32;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read<T: ndarray_npy::ReadableElement + Clone>(p: &PathBuf, key: &str) -> Vec<T> {
    let mut z = NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
    z.by_name::<ndarray::OwnedRepr<T>, ndarray::IxDyn>(key)
        .unwrap()
        .iter()
        .cloned()
        .collect()
}

fn flat(v: &[Complex32]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect()
}

#[test]
fn simulate_no_noise_and_stitch_match_numpy() {
    let Some(_) = common::gpu_or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("ptycho-numpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sim = dir.join("sim.npz");
    let input = fixture("sim_input.npz");
    let out = common::ptycho([
        "simulate".as_ref(),
        "--no-noise".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--output".as_ref(),
        sim.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = fixture("sim_expected.npz");
    // Noiseless amplitudes: |fftshift(FFT(P·Y))|/N.
    let got: Vec<f32> = read(&sim, "diff3d");
    let want: Vec<f32> = read(&expected, "diff3d");
    let (l2, max_rel) = common::rel_errors(
        &got.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &want.iter().map(|&v| v as f64).collect::<Vec<_>>(),
    );
    assert!(
        l2 < 2e-6 && max_rel < 1e-5,
        "diff3d rel L2 {l2:e}, max rel {max_rel:e}"
    );
    // Ground-truth patches (bilinear, zero fill).
    let got: Vec<Complex32> = read(&sim, "ground_truth_patches");
    let want: Vec<Complex32> = read(&expected, "ground_truth_patches");
    let (l2, _) = common::rel_errors(&flat(&got), &flat(&want));
    assert!(l2 < 1e-6, "patches rel L2 {l2:e}");
    // Stitching the ground-truth patches (crop 8).
    let st = dir.join("stitched.npz");
    let out = common::ptycho([
        "stitch".as_ref(),
        "--crop".as_ref(),
        "8".as_ref(),
        "--input".as_ref(),
        sim.as_os_str(),
        "--output".as_ref(),
        st.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Complex32> = read(&st, "object");
    let want: Vec<Complex32> = read(&expected, "stitched");
    assert_eq!(got.len(), want.len(), "stitched sizes differ");
    let (l2, _) = common::rel_errors(&flat(&got), &flat(&want));
    assert!(l2 < 1e-6, "stitched rel L2 {l2:e}");
    let (go, wo): (Vec<f64>, Vec<f64>) = (read(&st, "origin_xy"), read(&expected, "origin_xy"));
    assert!(
        (go[0] - wo[0]).abs() < 1e-9 && (go[1] - wo[1]).abs() < 1e-9,
        "origin {go:?} vs {wo:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
