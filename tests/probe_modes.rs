//! The incoherent multi-mode probe (physics.md: I = Σ_p |FFT₂(P_p·O)|²/N², the modes add in
//! intensity): finite differences of the f64 twin for the object and every mode, gridsize 1 and
//! 2; modes that split one probe's intensity give its amplitudes; the GPU model against the
//! twin; a single mode runs the single-mode kernels.

mod common;

use common::{Rng, flat, gpu_or_skip, ok, ptycho, s};
use num_complex::{Complex32, Complex64};
use ptycho::physics::cpu::{self, GroupGeometry};
use ptycho::physics::{FarFieldModel, Grouping, canvas_side};
use std::path::{Path, PathBuf};

fn c64(v: &[Complex32]) -> Vec<Complex64> {
    v.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

fn f64s(v: &[Complex64]) -> Vec<f64> {
    v.iter().flat_map(|z| [z.re, z.im]).collect()
}

/// `modes` probe modes of decreasing power (a disk-like primary and tilted copies).
fn probe_modes(n: usize, modes: usize) -> Vec<Complex32> {
    (0..modes * n * n)
        .map(|k| {
            let (p, i) = (k / (n * n), k % (n * n));
            let (y, x) = (
                (i / n) as f32 - n as f32 / 2.0,
                (i % n) as f32 - n as f32 / 2.0,
            );
            let env = (-(x * x + y * y) / (n * n) as f32 * 8.0).exp();
            let shape = match p {
                0 => 1.0,
                1 => 0.6 * x / n as f32 * 4.0,
                _ => 0.4 * y / n as f32 * 4.0,
            };
            Complex32::from_polar(env * shape, 0.1 * x / n as f32 + 0.3 * p as f32)
        })
        .collect()
}

fn setup(
    n: usize,
    frames: usize,
    modes: usize,
    seed: u64,
) -> (Vec<Complex32>, Vec<Complex32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let probe = probe_modes(n, modes);
    let obj: Vec<Complex32> = (0..frames * n * n)
        .map(|_| Complex32::from_polar(0.8 + 0.2 * rng.sym(), 0.5 * rng.sym()))
        .collect();
    let far = cpu::far_field_modes(&c64(&obj), &c64(&probe), n);
    let len = frames * n * n;
    let x: Vec<f32> = (0..len)
        .map(|e| {
            let a: f64 = (0..modes)
                .map(|p| far[p * len + e].norm_sqr())
                .sum::<f64>()
                .sqrt();
            (a * (1.0 + 0.1 * rng.sym() as f64)) as f32
        })
        .collect();
    (probe, obj, x)
}

fn group(n: usize, frames: usize) -> GroupGeometry {
    let offsets: Vec<[f32; 2]> = (0..frames)
        .map(|f| {
            [
                1.5 * ((f % 2) as f32 - 0.5),
                1.25 * ((f / 2 % 2) as f32 - 0.5),
            ]
        })
        .collect();
    GroupGeometry {
        members: 4,
        canvas: canvas_side(n, 2.0),
        offsets,
    }
}

#[test]
fn finite_differences_of_the_multi_mode_twin() {
    let (n, modes) = (8usize, 3usize);
    for gridsize in [1usize, 2] {
        let frames = if gridsize == 1 { 2 } else { 4 };
        let (probe, obj, x) = setup(n, frames, modes, 5 + gridsize as u64);
        let (p, o) = (c64(&probe), c64(&obj));
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let g = (gridsize == 2).then(|| group(n, frames));
        let s = 20.0;
        for (nll, mae) in [(1.0, 0.0), (0.5, 0.5)] {
            let loss = |o: &[Complex64], p: &[Complex64]| {
                cpu::model_loss(o, p, &xs, n, s, nll, mae, g.as_ref())
            };
            let (go, gp) = cpu::model_backward(&o, &p, &xs, n, s, nll, mae, g.as_ref());
            assert_eq!(gp.len(), modes * n * n);
            let h = 1e-4;
            let check = |fd: f64, an: f64, what: &str| {
                assert!(
                    (fd - an).abs() <= 1e-5 * an.abs() + 1e-9,
                    "gridsize {gridsize} {what}: fd {fd:e} vs analytic {an:e}"
                );
            };
            for &i in &[0usize, 9, 27, 64, 100] {
                for (dir, part) in [(Complex64::new(h, 0.0), 0), (Complex64::new(0.0, h), 1)] {
                    let (mut plus, mut minus) = (o.clone(), o.clone());
                    plus[i] += dir;
                    minus[i] -= dir;
                    let fd = (loss(&plus, &p) - loss(&minus, &p)) / (2.0 * h);
                    check(
                        fd,
                        if part == 0 { go[i].re } else { go[i].im },
                        &format!("dO[{i}].{part}"),
                    );
                }
            }
            // Every mode's probe gradient.
            for &i in &[27usize, n * n + 28, 2 * n * n + 35, 2 * n * n + 9] {
                for (dir, part) in [(Complex64::new(h, 0.0), 0), (Complex64::new(0.0, h), 1)] {
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    plus[i] += dir;
                    minus[i] -= dir;
                    let fd = (loss(&o, &plus) - loss(&o, &minus)) / (2.0 * h);
                    check(
                        fd,
                        if part == 0 { gp[i].re } else { gp[i].im },
                        &format!("dP[{i}].{part}"),
                    );
                }
            }
        }
    }
}

#[test]
fn modes_that_split_one_probe_give_its_amplitudes() {
    // P₁ = cos θ·P and P₂ = sin θ·e^{iφ}·P carry P's intensity between them: Σ_p |F_p|² = |F|².
    let n = 16;
    let (probe, obj, _) = setup(n, 2, 1, 3);
    let (p, o) = (c64(&probe), c64(&obj));
    let (t, phi) = (0.7f64, 1.1f64);
    let split: Vec<Complex64> = p
        .iter()
        .map(|z| z * t.cos())
        .chain(p.iter().map(|z| z * Complex64::from_polar(t.sin(), phi)))
        .collect();
    let one = cpu::far_field(&o, &p, n);
    let two = cpu::far_field_modes(&o, &split, n);
    let len = one.len();
    for e in 0..len {
        let a2 = (two[e].norm_sqr() + two[len + e].norm_sqr()).sqrt();
        assert!(
            (a2 - one[e].norm()).abs() <= 1e-12 * (1.0 + one[e].norm()),
            "element {e}"
        );
    }
    // The coherent sum would not: |F₁ + F₂| ≠ |F| for φ ≠ 0 (so the test can tell them apart).
    let coherent = (0..len)
        .map(|e| ((two[e] + two[len + e]).norm() - one[e].norm()).abs())
        .fold(0.0f64, f64::max);
    assert!(coherent > 1e-3, "{coherent}");

    // On the GPU: the loss of the split probe is the single-mode loss.
    let Some(engine) = gpu_or_skip() else { return };
    let (_, _, x) = setup(n, 2, 1, 3);
    let s = 50.0f32;
    let loss_of = |probe: &[Complex32]| {
        let model = FarFieldModel::new(&engine, n, 2, probe, s, 1.0, 0.0).unwrap();
        let (go, gx) = (
            engine.upload("o", &obj).unwrap(),
            engine.upload("x", &x).unwrap(),
        );
        let mut rec = engine.recording("modes");
        let l = model.record_loss(&engine, &mut rec, &go, &gx).unwrap();
        let id = rec.read_binding(l);
        engine.submit(rec).unwrap().get::<f32>(id)[0] as f64
    };
    let split32: Vec<Complex32> = split
        .iter()
        .map(|z| Complex32::new(z.re as f32, z.im as f32))
        .collect();
    let (l1, l2) = (loss_of(&probe), loss_of(&split32));
    assert!((l1 - l2).abs() <= 1e-5 * l1.abs(), "{l1} vs {l2}");
}

#[test]
fn gpu_multi_mode_model_matches_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let (n, modes, s) = (32usize, 3usize, 988.2f32);
    for gridsize in [1usize, 2] {
        let frames = if gridsize == 1 { 3 } else { 8 };
        let (probe, obj, x) = setup(n, frames, modes, 17 + gridsize as u64);
        let g = (gridsize == 2).then(|| group(n, frames));
        let mut model = FarFieldModel::new(&engine, n, frames, &probe, s, 1.0, 0.0).unwrap();
        assert_eq!(model.modes(), modes);
        if let Some(g) = &g {
            model = model
                .with_grouping(
                    &engine,
                    Grouping {
                        members: 4,
                        canvas: g.canvas,
                    },
                )
                .unwrap();
            model.write_offsets(&engine, &g.offsets).unwrap();
        }
        let (go, gx) = (
            engine.upload("o", &obj).unwrap(),
            engine.upload("x", &x).unwrap(),
        );
        let dobj = engine
            .upload("dobj", &vec![Complex32::new(f32::NAN, 0.0); obj.len()])
            .unwrap();
        let dprobe = engine
            .upload("dprobe", &vec![Complex32::new(f32::NAN, 0.0); probe.len()])
            .unwrap();
        let mut rec = engine.recording("modes");
        let loss = model.record_loss(&engine, &mut rec, &go, &gx).unwrap();
        model
            .record_backward_with_probe(&engine, &mut rec, &dobj, Some((&go, &dprobe)))
            .unwrap();
        let (il, io, ip) = (rec.read_binding(loss), rec.read(&dobj), rec.read(&dprobe));
        let out = engine.submit(rec).unwrap();
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (p, o) = (c64(&probe), c64(&obj));
        let want_loss = cpu::model_loss(&o, &p, &xs, n, s as f64, 1.0, 0.0, g.as_ref());
        let (want_o, want_p) = cpu::model_backward(&o, &p, &xs, n, s as f64, 1.0, 0.0, g.as_ref());
        let got_loss = out.get::<f32>(il)[0] as f64 / model.elements() as f64;
        // The mean NLL is a difference of large terms: relative to the mean intensity.
        let (ill, _) = cpu::illuminated_patches(&o, n, g.as_ref());
        let far = cpu::far_field_modes(&ill, &p, n);
        let lam = far
            .iter()
            .map(|z| (s as f64 * z.norm()).powi(2))
            .sum::<f64>()
            / obj.len() as f64;
        assert!(
            (got_loss - want_loss).abs() <= 1e-5 * lam,
            "gridsize {gridsize}: loss {got_loss} vs {want_loss} (λ mean {lam})"
        );
        for (what, got, want) in [
            ("dL/dO", out.get::<Complex32>(io), want_o),
            ("dL/dP", out.get::<Complex32>(ip), want_p),
        ] {
            let (l2, _) = common::rel_errors(&flat(&got), &f64s(&want));
            assert!(l2 < 1e-4, "gridsize {gridsize} {what}: rel L2 {l2:e}");
        }
    }
}

#[test]
fn one_mode_runs_the_single_mode_kernels() {
    let Some(engine) = gpu_or_skip() else { return };
    let n = 16;
    for (modes, want, absent) in [
        (1, "cmul", "mode_exit_waves"),
        (2, "mode_exit_waves", "cmul"),
    ] {
        let (probe, obj, x) = setup(n, 2, modes, 1);
        let model = FarFieldModel::new(&engine, n, 2, &probe, 10.0, 1.0, 0.0).unwrap();
        let (go, gx) = (
            engine.upload("o", &obj).unwrap(),
            engine.upload("x", &x).unwrap(),
        );
        let dobj = engine.alloc::<Complex32>("d", obj.len()).unwrap();
        let mut rec = engine.recording("modes");
        model.record_loss(&engine, &mut rec, &go, &gx).unwrap();
        model.record_backward(&engine, &mut rec, &dobj).unwrap();
        let names: Vec<&str> = rec.dispatches().iter().map(|d| d.0).collect();
        assert!(names.contains(&want), "{modes} modes: {names:?}");
        assert!(!names.contains(&absent), "{modes} modes: {names:?}");
        if modes == 1 {
            assert!(!names.contains(&"mode_sum_adjoint"), "{names:?}");
        }
    }
    // A probe that is not whole N×N modes is one line.
    let e = FarFieldModel::new(
        &engine,
        n,
        2,
        &vec![Complex32::new(1.0, 0.0); n * n + 3],
        1.0,
        1.0,
        0.0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("modes × 16×16"), "{e}");
}

#[test]
fn generated_modes_are_orthogonal_and_share_the_power() {
    let n = 32;
    let mut primary = ptycho::simulate::objects::default_probe(n);
    ptycho::simulate::objects::defocus_probe(&mut primary, n, 4.0);
    let powers = [0.6, 0.3, 0.1];
    let modes = ptycho::simulate::objects::probe_modes(&primary, n, &powers);
    assert_eq!(modes.len(), 3 * n * n);
    let energy: f64 = primary.iter().map(|z| z.norm_sqr() as f64).sum();
    let m = |p: usize| &modes[p * n * n..(p + 1) * n * n];
    for (p, power) in powers.into_iter().enumerate() {
        let e: f64 = m(p).iter().map(|z| z.norm_sqr() as f64).sum();
        assert!(
            (e / energy - power).abs() < 1e-5,
            "mode {p}: power {}",
            e / energy
        );
        for q in 0..p {
            let dot: Complex64 = m(p)
                .iter()
                .zip(m(q))
                .map(|(a, b)| {
                    Complex64::new(a.re as f64, a.im as f64).conj()
                        * Complex64::new(b.re as f64, b.im as f64)
                })
                .sum();
            assert!(dot.norm() < 1e-5 * energy, "modes {p}, {q}: overlap {dot}");
        }
    }
    // The first mode is the primary, scaled.
    let k = (powers[0]).sqrt() as f32;
    for (a, b) in m(0).iter().zip(&primary) {
        assert!((a - b * k).norm() < 1e-5 * (1.0 + b.norm()));
    }
}

#[test]
fn probe_mask_is_the_blurred_disk() {
    use ptycho::physics::probe::probe_mask;
    let n = 32;
    // Hard disk of diameter 16: pixels with centred coordinates inside radius 8.
    let hard = probe_mask(n, 16.0, 0.0);
    let inside = hard.iter().filter(|&&v| v == 1.0).count();
    assert_eq!(inside + hard.iter().filter(|&&v| v == 0.0).count(), n * n);
    // Centres at ±0.5, ±1.5, …: the count of (i + 0.5)² + (j + 0.5)² < 64 over the quadrant, × 4.
    let quadrant = (0..16)
        .flat_map(|i| (0..16).map(move |j| (i, j)))
        .filter(|&(i, j)| ((i as f64 + 0.5).powi(2) + (j as f64 + 0.5).powi(2)).sqrt() < 8.0)
        .count();
    assert_eq!(inside, 4 * quadrant);
    let soft = probe_mask(n, 16.0, 1.0);
    let max = soft.iter().copied().fold(0.0f64, f64::max);
    assert!((max - 1.0).abs() < 1e-12 && soft.iter().all(|v| (0.0..=1.0).contains(v)));
    // Symmetric under the centred flips, 1 at the centre, tapering across the edge.
    for r in 0..n {
        for c in 0..n {
            let v = soft[r * n + c];
            assert!((v - soft[(n - 1 - r) * n + c]).abs() < 1e-12);
            assert!((v - soft[r * n + (n - 1 - c)]).abs() < 1e-12);
            assert!((v - soft[c * n + r]).abs() < 1e-12);
        }
    }
    let row = |c: usize| soft[(n / 2) * n + c];
    assert!(
        row(n / 2) > 0.99 && row(n / 2 + 7) > 0.3 && row(n / 2 + 7) < 0.9 && row(n / 2 + 11) < 1e-3
    );
}

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("modes", name)
}

fn npz_shape(p: &Path, key: &str) -> Vec<usize> {
    let mut z = ndarray_npy::NpzReader::new(std::fs::File::open(p).unwrap()).unwrap();
    z.by_name::<ndarray::OwnedRepr<Complex32>, ndarray::IxDyn>(key)
        .unwrap()
        .shape()
        .to_vec()
}

#[test]
fn simulate_train_infer_and_stitch_with_two_modes() {
    if gpu_or_skip().is_none() {
        return;
    }
    let d = tmp("e2e");
    let sim = d.join("sim.npz");
    ok(ptycho([
        "simulate",
        "--output",
        s(&sim),
        "--n",
        "16",
        "--object-size",
        "48",
        "--n-images",
        "40",
        "--probe-defocus",
        "3",
        "--probe-modes",
        "2",
        "--probe-mode-power",
        "0.75,0.25",
        "--no-noise",
    ]));
    assert_eq!(npz_shape(&sim, "probeGuess"), vec![2, 16, 16]);
    // Noiseless amplitudes: A² = Σ_p |F(P_p·Y)|², against the f64 twin on the written patches.
    let data = ptycho::data::npz::read_dataset(&sim).unwrap();
    assert_eq!(
        (data.modes(), data.metadata["probe_modes"].as_u64()),
        (2, Some(2))
    );
    let (p, y) = (c64(&data.probe), c64(data.patches.as_ref().unwrap()));
    let far = cpu::far_field_modes(&y, &p, 16);
    let len = y.len();
    let want: Vec<f64> = (0..len)
        .map(|e| (far[e].norm_sqr() + far[len + e].norm_sqr()).sqrt())
        .collect();
    let got: Vec<f64> = data.diff.iter().map(|&v| v as f64).collect();
    let (l2, _) = common::rel_errors(&got, &want);
    assert!(l2 < 1e-5, "amplitudes rel L2 {l2:e}");
    // Train and infer keep both modes.
    let run = d.join("run");
    ok(ptycho([
        "train",
        "--train-data",
        s(&sim),
        "--output-dir",
        s(&run),
        "--n",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--n-filters-scale",
        "1",
        "--stitch-crop",
        "8",
        "--quiet",
    ]));
    assert_eq!(npz_shape(&run.join("bundle.npz"), "probe"), vec![2, 16, 16]);
    let out = d.join("out");
    ok(ptycho([
        "infer",
        "--model",
        s(&run),
        "--test-data",
        s(&sim),
        "--output-dir",
        s(&out),
        "--patch-weighting",
        "probe",
    ]));
    assert_eq!(
        npz_shape(&out.join("product.npz"), "probe"),
        vec![2, 16, 16]
    );
    // Stitching the ground truth with the file's two-mode probe intensity as the weight.
    let st = d.join("st.npz");
    ok(ptycho([
        "stitch",
        "--input",
        s(&sim),
        "--output",
        s(&st),
        "--patch-weighting",
        "probe",
    ]));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_forward_mask_multiplies_the_probe_and_bad_values_are_one_line() {
    if gpu_or_skip().is_none() {
        return;
    }
    let d = tmp("mask");
    let sim = d.join("sim.npz");
    ok(ptycho([
        "simulate",
        "--output",
        s(&sim),
        "--n",
        "16",
        "--object-size",
        "48",
        "--n-images",
        "24",
    ]));
    let run = d.join("run");
    let base = [
        "train",
        "--train-data",
        s(&sim),
        "--n",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--n-filters-scale",
        "1",
        "--stitch-crop",
        "8",
        "--quiet",
        "--probe-mask",
        "--probe-mask-diameter",
        "6",
        "--probe-mask-sigma",
        "0",
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--output-dir", s(&run)]);
    ok(ptycho(args));
    // The model's probe is zero outside the 6-px disk, the normalised raw probe inside it.
    let mut z =
        ndarray_npy::NpzReader::new(std::fs::File::open(run.join("bundle.npz")).unwrap()).unwrap();
    let probe: Vec<Complex32> = z
        .by_name::<ndarray::OwnedRepr<Complex32>, ndarray::IxDyn>("probe")
        .unwrap()
        .iter()
        .copied()
        .collect();
    let mask = ptycho::physics::probe::probe_mask(16, 6.0, 0.0);
    let raw = ptycho::data::npz::read_dataset(&sim).unwrap().probe;
    let inside: f64 = raw
        .iter()
        .zip(&mask)
        .map(|(p, m)| m * p.norm() as f64)
        .sum();
    let k = 1.0 / (4.0 * inside / 256.0);
    for i in 0..256 {
        let want = raw[i] * (mask[i] * k) as f32;
        assert!(
            (probe[i] - want).norm() <= 1e-5 * (1.0 + want.norm()),
            "pixel {i}: {} vs {want}",
            probe[i]
        );
    }
    assert!(mask.iter().filter(|&&m| m == 0.0).count() > 200);
    // A mask wider than the patch: one line naming the key, exit 2, nothing written.
    let bad = d.join("bad");
    let mut args: Vec<&str> = base.to_vec();
    let at = args.len() - 3;
    args[at] = "100";
    args.extend(["--output-dir", s(&bad)]);
    let out = ptycho(args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model.probe_mask_diameter") && err.contains("100"),
        "{err}"
    );
    assert!(!bad.exists());
    std::fs::remove_dir_all(&d).unwrap();
}
