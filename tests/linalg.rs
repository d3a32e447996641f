//! GPU (lavapipe in CI) against the CPU twins for the first kernels: complex multiply with
//! broadcasting and the deterministic segmented sum.

mod common;

use common::{Rng, Tolerance, flat, gpu_or_skip, gpu_with};
use num_complex::Complex32;
use ptycho::gpu::{EngineOptions, GpuError};
use ptycho::linalg::{Cmul, ReduceSum, cpu};

fn run_cmul(frame: usize, frames: usize, b_frames: usize, conj: bool, wg: u32) {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(frame as u64 * 31 + frames as u64);
    let a = rng.complex(frame * frames);
    let b = rng.complex(frame * b_frames);
    let ga = engine.upload("a", &a).unwrap();
    let gb = engine.upload("b", &b).unwrap();
    // Pre-fill the output with NaN so unwritten elements fail.
    let go = engine
        .upload("out", &vec![Complex32::new(f32::NAN, f32::NAN); a.len()])
        .unwrap();
    let op = Cmul::with_workgroup(&engine, wg).unwrap();
    let mut rec = engine.recording("test.cmul");
    op.record(&engine, &mut rec, &ga, &gb, &go, frame, conj)
        .unwrap();
    let id = rec.read(&go);
    let got: Vec<Complex32> = engine.submit(rec).unwrap().get(id);
    let want = cpu::cmul(&a, &b, frame, conj);
    // One complex product: two f32 products and a sum, each rounded once.
    Tolerance {
        rel: 4.0 * f32::EPSILON as f64,
        abs: 4.0 * f32::EPSILON as f64,
    }
    .assert_all(
        &format!("cmul frame {frame} frames {frames} b_frames {b_frames} conj {conj}"),
        &flat(&got),
        &flat(&want),
    );
}

#[test]
fn cmul_same_shape() {
    run_cmul(1000, 3, 3, false, 256);
}

#[test]
fn cmul_broadcast_not_multiple_of_workgroup() {
    // 37·37 = 1369 values per frame, 5 frames: 6845 values, not a multiple of 256.
    run_cmul(37 * 37, 5, 1, false, 256);
}

#[test]
fn cmul_conjugate_broadcast() {
    run_cmul(64 * 64, 4, 1, true, 64);
}

#[test]
fn cmul_more_than_65535_workgroups() {
    // 16 values per workgroup × 70,000 workgroups → the engine folds the grid into x·y.
    run_cmul(1120, 1000, 1, false, 16);
}

#[test]
fn cmul_chunked_over_binding_limit() {
    // A 4 KiB binding limit forces the 64 frames of 512 B into 8 dispatches.
    let Some(engine) = gpu_with(EngineOptions {
        max_binding_bytes: Some(4096),
        ..Default::default()
    }) else {
        return;
    };
    let (frame, frames) = (64, 64);
    let mut rng = Rng::new(5);
    let a = rng.complex(frame * frames);
    let b = rng.complex(frame * frames);
    let ga = engine.upload("a", &a).unwrap();
    let gb = engine.upload("b", &b).unwrap();
    let go = engine
        .upload("out", &vec![Complex32::new(f32::NAN, 0.0); a.len()])
        .unwrap();
    let op = Cmul::new(&engine).unwrap();
    let mut rec = engine.recording("test.cmul.chunked");
    op.record(&engine, &mut rec, &ga, &gb, &go, frame, false)
        .unwrap();
    assert_eq!(rec.dispatch_count(), 8);
    let id = rec.read(&go);
    let got: Vec<Complex32> = engine.submit(rec).unwrap().get(id);
    Tolerance {
        rel: 4e-7,
        abs: 4e-7,
    }
    .assert_all(
        "chunked cmul",
        &flat(&got),
        &flat(&cpu::cmul(&a, &b, frame, false)),
    );
}

#[test]
fn cmul_rejects_bad_shapes() {
    let Some(engine) = gpu_or_skip() else { return };
    let a = engine.upload("a", &[Complex32::default(); 12]).unwrap();
    let b = engine.upload("probe", &[Complex32::default(); 5]).unwrap();
    let out = engine.alloc::<Complex32>("out", 12).unwrap();
    let op = Cmul::new(&engine).unwrap();
    let mut rec = engine.recording("bad");
    let err = op
        .record(&engine, &mut rec, &a, &b, &out, 4, false)
        .unwrap_err();
    assert!(matches!(err, GpuError::BufferLength { .. }), "{err}");
    assert!(err.to_string().contains("'probe'"), "{err}");
    let err = op
        .record(&engine, &mut rec, &a, &b, &out, 5, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a whole number of frames"), "{err}");
}

fn run_sum(n: usize, segments: usize) {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(n as u64 ^ 0xABCD);
    let x = rng.reals(n * segments);
    let gx = engine.upload("x", &x).unwrap();
    let op = ReduceSum::new(&engine).unwrap();
    let got = op.sum(&engine, &gx, n).unwrap();
    let again = op.sum(&engine, &gx, n).unwrap();
    assert_eq!(
        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        again.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "reduce_sum must be deterministic"
    );
    // Bit-exact against the twin that mirrors the shader's order of additions.
    let tree = cpu::reduce_sum_tree(&x, n);
    assert_eq!(
        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        tree.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "GPU sum differs from the f32 tree twin (n {n}, segments {segments})"
    );
    // And close to the exact f64 sums: error bound ~ ε·log2(n)·Σ|x|.
    let exact = cpu::reduce_sum(&x, n);
    for (s, (&g, &w)) in got.iter().zip(&exact).enumerate() {
        let abs_sum: f64 = x[s * n..(s + 1) * n].iter().map(|v| v.abs() as f64).sum();
        let bound = f32::EPSILON as f64 * ((n as f64).log2() + 8.0) * abs_sum;
        assert!(
            (g as f64 - w).abs() <= bound,
            "segment {s}: got {g}, exact {w}, bound {bound}"
        );
    }
}

#[test]
fn sum_small_odd_length() {
    run_sum(1, 3);
    run_sum(1000, 7);
}

#[test]
fn sum_multi_pass() {
    // 3 passes: 5,000,001 → 2,442 → 2 → 1.
    run_sum(5_000_001, 1);
}

#[test]
fn sum_more_than_65535_workgroups() {
    // 70,000 segments of 3 values: one workgroup each in the first pass.
    run_sum(3, 70_000);
}

#[test]
fn sum_chunked_over_binding_limit() {
    // With a 64 KiB binding limit one 100,003-value segment (≈ 400 KB) must be read in windows.
    let Some(engine) = gpu_with(EngineOptions {
        max_binding_bytes: Some(64 << 10),
        ..Default::default()
    }) else {
        return;
    };
    let (n, segments) = (100_003, 3);
    let x = Rng::new(11).reals(n * segments);
    let gx = engine.upload("x", &x).unwrap();
    let got = ReduceSum::new(&engine)
        .unwrap()
        .sum(&engine, &gx, n)
        .unwrap();
    let tree = cpu::reduce_sum_tree(&x, n);
    assert_eq!(got, tree);
}

#[test]
fn axpy_accumulates_like_its_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(77);
    let (x1, x2) = (rng.reals(1001), rng.reals(1001));
    let op = ptycho::linalg::Axpy::new(&engine).unwrap();
    let gx1 = engine.upload("x1", &x1).unwrap();
    let gx2 = engine.upload("x2", &x2).unwrap();
    let y = engine.upload("acc", &vec![f32::NAN; 1001]).unwrap();
    let mut rec = engine.recording("axpy");
    op.record(&engine, &mut rec, 0.5, &gx1, 0.0, &y).unwrap(); // overwrites the NaNs
    op.record(&engine, &mut rec, 0.5, &gx2, 1.0, &y).unwrap();
    let id = rec.read(&y);
    let got: Vec<f32> = engine.submit(rec).unwrap().get(id);
    let want = cpu::axpy(
        0.5,
        &x2,
        1.0,
        &cpu::axpy(0.5, &x1, 0.0, &vec![f32::NAN; 1001]),
    );
    assert_eq!(got, want);
}
