//! The training loss path against its f64 twin: the fused amplitude loss kernel, finite
//! differences of the whole gridsize-1 forward model, and the GPU loss and gradient.

mod common;

use common::{Rng, Tolerance, flat, gpu_or_skip};
use num_complex::{Complex32, Complex64};
use ptycho::physics::cpu;
use ptycho::physics::{AmpLoss, AmpLossParams, FarFieldModel};

fn c64(v: &[Complex32]) -> Vec<Complex64> {
    v.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

/// A smooth disk-like probe and an object near 1 (amplitudes ~ the regime of real data).
fn setup(n: usize, frames: usize, seed: u64) -> (Vec<Complex32>, Vec<Complex32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let probe: Vec<Complex32> = (0..n * n)
        .map(|i| {
            let (y, x) = (
                (i / n) as f32 - n as f32 / 2.0,
                (i % n) as f32 - n as f32 / 2.0,
            );
            Complex32::from_polar(
                (-(x * x + y * y) / (n * n) as f32 * 8.0).exp(),
                0.1 * x / n as f32,
            )
        })
        .collect();
    let obj: Vec<Complex32> = (0..frames * n * n)
        .map(|_| Complex32::from_polar(0.8 + 0.2 * rng.sym(), 0.5 * rng.sym()))
        .collect();
    // Measured amplitudes: a perturbed version of the true far field.
    let far = cpu::far_field(&c64(&obj), &c64(&probe), n);
    let x: Vec<f32> = far
        .iter()
        .map(|z| (z.norm() * (1.0 + 0.1 * rng.sym() as f64)) as f32)
        .collect();
    (probe, obj, x)
}

#[test]
fn amp_loss_kernel_matches_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(3);
    let n = 1000;
    let mut far = rng.complex(n);
    far[7] = Complex32::new(0.0, 0.0); // |F| = 0: gradient must be 0, loss finite
    let x: Vec<f32> = (0..n).map(|_| (0.5 + 0.5 * rng.sym()).abs()).collect();
    for (nll, mae) in [(1.0, 0.0), (0.0, 1.0), (0.7, 0.3)] {
        let s = 30.0;
        let (want_l, want_g) = cpu::amp_loss(
            &c64(&far),
            &x.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            s,
            nll,
            mae,
            n,
        );
        let gf = engine.upload("far", &far).unwrap();
        let gx = engine.upload("x", &x).unwrap();
        let gl = engine.upload("loss", &vec![f32::NAN; n]).unwrap();
        let gg = engine
            .upload("grad", &vec![Complex32::new(f32::NAN, f32::NAN); n])
            .unwrap();
        let k = AmpLoss::new(&engine).unwrap();
        let mut rec = engine.recording("amp_loss");
        let p = AmpLossParams {
            count: 0,
            inv_total: 1.0 / n as f32,
            scale: s as f32,
            nll_weight: nll as f32,
            mae_weight: mae as f32,
            modes: 1,
            mode_stride: 0,
            _pad: 0,
        };
        k.record(&engine, &mut rec, &gf, &gx, &gl, &gg, p).unwrap();
        let (il, ig) = (rec.read(&gl), rec.read(&gg));
        let out = engine.submit(rec).unwrap();
        let got_l: Vec<f32> = out.get(il);
        let got_g: Vec<Complex32> = out.get(ig);
        // λ − k log λ loses digits when both terms are large: relative 1e-5 of the magnitudes.
        Tolerance {
            rel: 2e-5,
            abs: 1e-3,
        }
        .assert_all(
            "loss",
            &got_l.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            &want_l,
        );
        Tolerance {
            rel: 2e-5,
            abs: 1e-7,
        }
        .assert_all(
            "grad",
            &flat(&got_g),
            &want_g.iter().flat_map(|z| [z.re, z.im]).collect::<Vec<_>>(),
        );
        assert_eq!(got_g[7], Complex32::new(0.0, 0.0));
    }
}

#[test]
fn finite_differences_of_the_f64_twin() {
    let n = 8;
    let (probe, obj, x) = setup(n, 2, 5);
    let (p, o) = (c64(&probe), c64(&obj));
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (nll, mae) in [(1.0, 0.0), (0.5, 0.5)] {
        let s = 20.0;
        let g = cpu::far_field_backward(&o, &p, &xs, n, s, nll, mae);
        // Central differences: O(h²) truncation; h large enough that round-off (ε·L/h) stays small.
        let h = 1e-4;
        for &i in &[0usize, 9, 27, 64, 100, 127] {
            for (dir, part) in [(Complex64::new(h, 0.0), 0), (Complex64::new(0.0, h), 1)] {
                let mut plus = o.clone();
                plus[i] += dir;
                let mut minus = o.clone();
                minus[i] -= dir;
                let fd = (cpu::far_field_loss(&plus, &p, &xs, n, s, nll, mae)
                    - cpu::far_field_loss(&minus, &p, &xs, n, s, nll, mae))
                    / (2.0 * h);
                let an = if part == 0 { g[i].re } else { g[i].im };
                assert!(
                    (fd - an).abs() <= 1e-5 * an.abs() + 1e-9,
                    "element {i} part {part}: fd {fd:e} vs analytic {an:e}"
                );
            }
        }
    }
}

#[test]
fn gpu_loss_and_gradient_match_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let (n, frames) = (64, 3);
    let (probe, obj, x) = setup(n, frames, 11);
    let s = 988.2f32;
    let model = FarFieldModel::new(&engine, n, frames, &probe, s, 1.0, 0.0).unwrap();
    let go = engine.upload("obj", &obj).unwrap();
    let gx = engine.upload("x", &x).unwrap();
    let dobj = engine
        .upload("dobj", &vec![Complex32::new(f32::NAN, 0.0); obj.len()])
        .unwrap();
    let mut rec = engine.recording("physics");
    let loss = model.record_loss(&engine, &mut rec, &go, &gx).unwrap();
    model.record_backward(&engine, &mut rec, &dobj).unwrap();
    let (il, ig) = (rec.read_binding(loss), rec.read(&dobj));
    let out = engine.submit(rec).unwrap();
    let got_loss = out.get::<f32>(il)[0] as f64 / model.elements() as f64;
    let got_g: Vec<Complex32> = out.get(ig);
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let (p, o) = (c64(&probe), c64(&obj));
    let want_loss = cpu::far_field_loss(&o, &p, &xs, n, s as f64, 1.0, 0.0);
    let want_g = cpu::far_field_backward(&o, &p, &xs, n, s as f64, 1.0, 0.0);
    // The mean NLL is a difference of large terms (s² ≈ 1e6): compare relative to Σλ/count.
    let far = cpu::far_field(&o, &p, n);
    let lam_mean = far
        .iter()
        .map(|z| (s as f64 * z.norm()).powi(2))
        .sum::<f64>()
        / far.len() as f64;
    assert!(
        (got_loss - want_loss).abs() <= 1e-5 * lam_mean,
        "loss {got_loss} vs {want_loss} (λ mean {lam_mean})"
    );
    let (l2, _) = common::rel_errors(
        &flat(&got_g),
        &want_g.iter().flat_map(|z| [z.re, z.im]).collect::<Vec<_>>(),
    );
    assert!(l2 < 1e-4, "gradient rel L2 {l2:e}");
}

#[test]
fn extract_patches_matches_twin_and_its_convention() {
    let Some(engine) = gpu_or_skip() else { return };
    let (h, w, n) = (40usize, 50usize, 16usize);
    let mut rng = Rng::new(21);
    let obj = rng.complex(h * w);
    // Integer, fractional, and edge positions (patches partly outside are zero-filled).
    let pos: Vec<[f64; 2]> = vec![
        [20.0, 15.0],
        [20.25, 15.5],
        [3.7, 2.2],
        [49.0, 39.0],
        [25.5, 20.0],
    ];
    let want = cpu::extract_patches(&c64(&obj), h, w, &pos, n);
    // Convention check on an integer position: patch[i, j] = obj[y − N/2 + i, x − N/2 + j].
    assert_eq!(want[3 * n + 5], c64(&obj)[(15 - 8 + 3) * w + (20 - 8 + 5)]);
    let go = engine.upload("obj", &obj).unwrap();
    let gp = engine
        .upload(
            "pos",
            &pos.iter()
                .map(|p| [p[0] as f32, p[1] as f32])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let out = engine
        .upload(
            "patches",
            &vec![Complex32::new(f32::NAN, 0.0); pos.len() * n * n],
        )
        .unwrap();
    let k = ptycho::physics::ExtractPatches::new(&engine).unwrap();
    let mut rec = engine.recording("extract");
    k.record(&engine, &mut rec, &go, (h, w), &gp, &out, n)
        .unwrap();
    let id = rec.read(&out);
    let got: Vec<Complex32> = engine.submit(rec).unwrap().get(id);
    Tolerance {
        rel: 1e-6,
        abs: 1e-6,
    }
    .assert_all(
        "patches",
        &flat(&got),
        &want.iter().flat_map(|z| [z.re, z.im]).collect::<Vec<_>>(),
    );
}
