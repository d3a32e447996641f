//! The WGSL FFT against f64 references: the naive DFT (checked first on analytic pairs) and
//! rustfft. Errors are relative L2 and max relative error; outputs and scratch start as NaN.

mod common;

use common::{Rng, flat, gpu_or_skip, gpu_with, rel_errors};
use num_complex::{Complex32, Complex64};
use ptycho::fft::cpu::{dft_naive, dft2_naive, fft2_reference, fft2_rustfft};
use ptycho::fft::{Direction, FftError, FftOptions, FftPlan, Norm, Output, Strategy};
use ptycho::gpu::{Engine, EngineOptions};

fn c64(v: &[Complex32]) -> Vec<Complex64> {
    v.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

fn flat64(v: &[Complex64]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re, z.im]).collect()
}

// ---------- the oracles themselves ----------

#[test]
fn naive_dft_analytic_pairs() {
    let n = 16;
    // Delta at 0 → all ones.
    let mut x = vec![Complex64::new(0.0, 0.0); n];
    x[0] = Complex64::new(1.0, 0.0);
    for z in dft_naive(&x, Direction::Forward) {
        assert!((z - Complex64::new(1.0, 0.0)).norm() < 1e-14);
    }
    // Constant → N at DC only.
    let x = vec![Complex64::new(1.0, 0.0); n];
    let y = dft_naive(&x, Direction::Forward);
    assert!((y[0] - Complex64::new(n as f64, 0.0)).norm() < 1e-12);
    assert!(y[1..].iter().all(|z| z.norm() < 1e-12));
    // Single tone exp(+2πi·3n/N) → N at k = 3 (forward sign convention exp(−2πi kn/N)).
    let x: Vec<_> = (0..n)
        .map(|j| Complex64::from_polar(1.0, 2.0 * std::f64::consts::PI * 3.0 * j as f64 / n as f64))
        .collect();
    let y = dft_naive(&x, Direction::Forward);
    for (k, z) in y.iter().enumerate() {
        let want = if k == 3 { n as f64 } else { 0.0 };
        assert!((z - Complex64::new(want, 0.0)).norm() < 1e-11, "k {k}: {z}");
    }
    // Shifted delta → a pure phase ramp exp(−2πi·k·2/N).
    let mut x = vec![Complex64::new(0.0, 0.0); n];
    x[2] = Complex64::new(1.0, 0.0);
    for (k, z) in dft_naive(&x, Direction::Forward).iter().enumerate() {
        let w = Complex64::from_polar(1.0, -2.0 * std::f64::consts::PI * (2 * k) as f64 / n as f64);
        assert!((z - w).norm() < 1e-13);
    }
}

#[test]
fn rustfft_matches_naive_dft_2d() {
    let mut rng = Rng::new(1);
    let (r, c) = (8, 16);
    let x = c64(&rng.complex(2 * r * c));
    for d in [Direction::Forward, Direction::Inverse] {
        let a = dft2_naive(&x, r, c, d);
        let b = fft2_rustfft(&x, r, c, d);
        let (l2, _) = rel_errors(&flat64(&b), &flat64(&a));
        assert!(l2 < 1e-13, "{l2}");
    }
}

// ---------- GPU vs reference ----------

struct Case {
    rows: usize,
    cols: usize,
    batch: usize,
    dir: Direction,
    opts: FftOptions,
}

/// Runs one plan on NaN-filled output and scratch; returns (rel L2, max rel) vs the reference.
fn run_case(engine: &Engine, case: &Case, seed: u64) -> (f64, f64) {
    let Case {
        rows,
        cols,
        batch,
        dir,
        opts,
    } = *case;
    let fl = rows * cols;
    let x = Rng::new(seed).complex(batch * fl);
    let plan = FftPlan::with_options(engine, rows, cols, batch, dir, opts).unwrap();
    let src = engine.upload("src", &x).unwrap();
    let nan = Complex32::new(f32::NAN, f32::NAN);
    let scratch = engine
        .upload("scratch", &vec![nan; plan.scratch_frames() * fl])
        .unwrap();
    let want = fft2_reference(&x, rows, cols, dir, &opts);
    let mut rec = engine.recording("fft-test");
    let got: Vec<f64> = match opts.output {
        Output::Complex => {
            let dst = engine.upload("dst", &vec![nan; batch * fl]).unwrap();
            plan.record(engine, &mut rec, &src, &dst, &scratch).unwrap();
            let id = rec.read(&dst);
            flat(&engine.submit(rec).unwrap().get::<Complex32>(id))
        }
        Output::Amplitude => {
            let amp = engine.upload("amp", &vec![f32::NAN; batch * fl]).unwrap();
            plan.record_amplitude(engine, &mut rec, &src, &amp, &scratch)
                .unwrap();
            let id = rec.read(&amp);
            engine
                .submit(rec)
                .unwrap()
                .get::<f32>(id)
                .iter()
                .flat_map(|&a| [a as f64, 0.0])
                .collect()
        }
    };
    rel_errors(&got, &flat64(&want))
}

fn assert_case(engine: &Engine, case: &Case) {
    let (l2, max_rel) = run_case(engine, case, (case.rows * 1000 + case.cols) as u64);
    let n = case.rows.max(case.cols) as f64;
    let bound = 1e-6 * n.log2();
    eprintln!(
        "fft {}×{}×{} {:?} {:?}: rel L2 {l2:.2e} (bound {bound:.1e}), max rel {max_rel:.2e}",
        case.batch, case.rows, case.cols, case.dir, case.opts.strategy
    );
    assert!(
        l2 <= bound,
        "{}×{} batch {} {:?}: rel L2 {l2:e} > {bound:e} (max rel {max_rel:e})",
        case.rows,
        case.cols,
        case.batch,
        case.opts
    );
    assert!(max_rel <= 10.0 * bound, "max rel {max_rel:e}");
}

#[test]
fn every_supported_square_size_forward_and_inverse() {
    let Some(engine) = gpu_or_skip() else { return };
    for k in 3..=10 {
        let n = 1usize << k;
        let batch = if n >= 512 { 1 } else { 3 };
        for dir in [Direction::Forward, Direction::Inverse] {
            assert_case(
                &engine,
                &Case {
                    rows: n,
                    cols: n,
                    batch,
                    dir,
                    opts: FftOptions::default(),
                },
            );
        }
    }
}

#[test]
fn rectangular_shapes_and_radix4() {
    let Some(engine) = gpu_or_skip() else { return };
    for (rows, cols) in [(8, 1024), (1024, 8), (16, 256), (128, 64), (32, 8)] {
        for max_radix in [4, 8] {
            let opts = FftOptions {
                max_radix,
                ..Default::default()
            };
            assert_case(
                &engine,
                &Case {
                    rows,
                    cols,
                    batch: 2,
                    dir: Direction::Forward,
                    opts,
                },
            );
        }
    }
}

#[test]
fn global_memory_path_matches() {
    let Some(engine) = gpu_or_skip() else { return };
    for (rows, cols, max_radix) in [
        (8, 8, 8),
        (16, 64, 4),
        (64, 64, 8),
        (256, 32, 8),
        (128, 128, 4),
    ] {
        let opts = FftOptions {
            strategy: Strategy::Global,
            max_radix,
            ..Default::default()
        };
        let plan = FftPlan::with_options(&engine, rows, cols, 1, Direction::Forward, opts).unwrap();
        assert!(!plan.uses_workgroup_memory());
        assert_case(
            &engine,
            &Case {
                rows,
                cols,
                batch: 3,
                dir: Direction::Forward,
                opts,
            },
        );
        assert_case(
            &engine,
            &Case {
                rows,
                cols,
                batch: 1,
                dir: Direction::Inverse,
                opts: FftOptions {
                    norm: Norm::ByN,
                    ..opts
                },
            },
        );
    }
}

#[test]
fn shifts_scaling_and_amplitude_epilogue() {
    let Some(engine) = gpu_or_skip() else { return };
    for strategy in [Strategy::Auto, Strategy::Global] {
        for (shift_input, shift_output) in [(true, false), (false, true), (true, true)] {
            for norm in [Norm::None, Norm::Ortho, Norm::ByN] {
                let opts = FftOptions {
                    norm,
                    shift_input,
                    shift_output,
                    strategy,
                    ..Default::default()
                };
                assert_case(
                    &engine,
                    &Case {
                        rows: 32,
                        cols: 16,
                        batch: 2,
                        dir: Direction::Forward,
                        opts,
                    },
                );
            }
        }
        // PtychoPINN's far-field amplitude sqrt(fftshift(|FFT|²/N²)) in one plan.
        let opts = FftOptions {
            norm: Norm::Ortho,
            shift_output: true,
            output: Output::Amplitude,
            strategy,
            ..Default::default()
        };
        assert_case(
            &engine,
            &Case {
                rows: 64,
                cols: 64,
                batch: 3,
                dir: Direction::Forward,
                opts,
            },
        );
    }
}

#[test]
fn far_field_amplitude_puts_dc_at_center() {
    let Some(engine) = gpu_or_skip() else { return };
    let n = 64;
    let opts = FftOptions {
        norm: Norm::Ortho,
        shift_output: true,
        output: Output::Amplitude,
        ..Default::default()
    };
    let plan = FftPlan::with_options(&engine, n, n, 1, Direction::Forward, opts).unwrap();
    let src = engine
        .upload("flat", &vec![Complex32::new(1.0, 0.0); n * n])
        .unwrap();
    let amp = engine.alloc::<f32>("amp", n * n).unwrap();
    let scratch = plan.alloc_scratch(&engine).unwrap();
    let mut rec = engine.recording("dc");
    plan.record_amplitude(&engine, &mut rec, &src, &amp, &scratch)
        .unwrap();
    let id = rec.read(&amp);
    let a: Vec<f32> = engine.submit(rec).unwrap().get(id);
    // Constant field of ones: all energy (Σ|ψ|² = N²) at (N/2, N/2), amplitude N.
    let (peak, val) = a
        .iter()
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(y.1))
        .unwrap();
    assert_eq!(peak, (n / 2) * n + n / 2);
    assert!((val - n as f32).abs() < 1e-3);
    let energy: f64 = a.iter().map(|&v| (v as f64).powi(2)).sum();
    assert!((energy - (n * n) as f64).abs() / ((n * n) as f64) < 1e-5);
}

#[test]
fn round_trip_parseval_and_adjoint() {
    let Some(engine) = gpu_or_skip() else { return };
    let (rows, cols, batch) = (64, 32, 4);
    let fl = rows * cols;
    let mut rng = Rng::new(9);
    let x = rng.complex(batch * fl);
    let y = rng.complex(batch * fl);
    let run = |input: &[Complex32], dir: Direction, norm: Norm| -> Vec<Complex32> {
        let plan = FftPlan::with_options(
            &engine,
            rows,
            cols,
            batch,
            dir,
            FftOptions {
                norm,
                ..Default::default()
            },
        )
        .unwrap();
        let buf = engine.upload("io", input).unwrap();
        let scratch = plan.alloc_scratch(&engine).unwrap();
        let mut rec = engine.recording("rt");
        plan.record(&engine, &mut rec, &buf, &buf, &scratch)
            .unwrap(); // in place
        let id = rec.read(&buf);
        engine.submit(rec).unwrap().get(id)
    };
    // forward (none) then inverse (1/N) is the identity.
    let back = run(
        &run(&x, Direction::Forward, Norm::None),
        Direction::Inverse,
        Norm::ByN,
    );
    let (l2, _) = rel_errors(&flat(&back), &flat(&x));
    assert!(l2 < 1e-6 * 6.0, "round trip rel L2 {l2:e}");
    // Parseval with ortho scaling: Σ|Fx|² = Σ|x|².
    let fx = run(&x, Direction::Forward, Norm::Ortho);
    let e_x: f64 = x.iter().map(|z| z.norm_sqr() as f64).sum();
    let e_fx: f64 = fx.iter().map(|z| z.norm_sqr() as f64).sum();
    assert!((e_fx - e_x).abs() / e_x < 1e-5, "Parseval: {e_fx} vs {e_x}");
    // Adjoint: ⟨F x, y⟩ = ⟨x, Fᴴ y⟩ with Fᴴ the unnormalised inverse.
    let fx = run(&x, Direction::Forward, Norm::None);
    let fhy = run(&y, Direction::Inverse, Norm::None);
    let dot = |a: &[Complex32], b: &[Complex32]| -> Complex64 {
        a.iter()
            .zip(b)
            .map(|(p, q)| {
                Complex64::new(p.re as f64, p.im as f64) * Complex64::new(q.re as f64, -q.im as f64)
            })
            .sum()
    };
    let lhs = dot(&fx, &y);
    let rhs = dot(&x, &fhy);
    assert!(
        (lhs - rhs).norm() / lhs.norm() < 1e-5,
        "adjoint: {lhs} vs {rhs}"
    );
}

#[test]
fn batch_one_and_chunked_batches() {
    let Some(engine) = gpu_or_skip() else { return };
    assert_case(
        &engine,
        &Case {
            rows: 128,
            cols: 128,
            batch: 1,
            dir: Direction::Forward,
            opts: FftOptions::default(),
        },
    );
    // 32 KiB binding limit: 7 frames of 16×32 (4 KiB) go in chunks of 8 → 1 chunk; 40 frames → 5.
    let Some(small) = gpu_with(EngineOptions {
        max_binding_bytes: Some(32 << 10),
        ..Default::default()
    }) else {
        return;
    };
    for strategy in [Strategy::Auto, Strategy::Global] {
        let opts = FftOptions {
            strategy,
            shift_input: true,
            shift_output: true,
            norm: Norm::Ortho,
            ..Default::default()
        };
        let plan = FftPlan::with_options(&small, 16, 32, 40, Direction::Forward, opts).unwrap();
        assert_eq!(plan.scratch_frames(), 8);
        assert_case(
            &small,
            &Case {
                rows: 16,
                cols: 32,
                batch: 40,
                dir: Direction::Forward,
                opts,
            },
        );
        let amp = FftOptions {
            output: Output::Amplitude,
            ..opts
        };
        assert_case(
            &small,
            &Case {
                rows: 16,
                cols: 32,
                batch: 13,
                dir: Direction::Forward,
                opts: amp,
            },
        );
    }
}

#[test]
fn bad_sizes_and_buffers_are_clear_errors() {
    let Some(engine) = gpu_or_skip() else { return };
    for (r, c, b) in [(48, 64, 1), (4, 64, 1), (64, 2048, 1), (64, 64, 0)] {
        let e = FftPlan::new(&engine, r, c, b, Direction::Forward).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, FftError::InvalidArgument(_)), "{msg}");
        assert!(
            msg.contains("8..=1024") || msg.contains("batch = 0"),
            "{msg}"
        );
    }
    let plan = FftPlan::new(&engine, 16, 16, 2, Direction::Forward).unwrap();
    let src = engine.alloc::<Complex32>("short-src", 16 * 16).unwrap();
    let dst = engine.alloc::<Complex32>("dst", 2 * 16 * 16).unwrap();
    let scratch = plan.alloc_scratch(&engine).unwrap();
    let mut rec = engine.recording("bad");
    let msg = plan
        .record(&engine, &mut rec, &src, &dst, &scratch)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("'short-src'") && msg.contains("512"), "{msg}");
    let msg = plan
        .record(&engine, &mut rec, &dst, &dst, &dst)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("scratch"), "{msg}");
}
