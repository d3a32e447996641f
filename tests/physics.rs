//! Translation, object_big merge and re-extraction (gridsize 2), probe gradient: the conventions
//! against hand-computed values, GPU against the f64 CPU twins, adjoint (dot-product) identities
//! for every linear operator of the forward model, finite differences of the whole grouped
//! model's gradient, and the grouped GPU model against the CPU model.

mod common;

use common::{Rng, Tolerance, flat, gpu_or_skip, rel_errors};
use num_complex::{Complex32, Complex64};
use ptycho::gpu::Engine;
use ptycho::physics::cpu::{self, GroupGeometry};
use ptycho::physics::{
    FarFieldModel, Grouping, MergeGeometry, MergePatches, Translate, TranslateGeometry, canvas_side,
};

fn c64(v: &[Complex32]) -> Vec<Complex64> {
    v.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

fn flat64(c: &[Complex64]) -> Vec<f64> {
    c.iter().flat_map(|z| [z.re, z.im]).collect()
}

/// Real inner product Re⟨a, b⟩ = Σ Re(a · conj(b)), under which conjugate-Wirtinger gradients
/// and adjoints are defined.
fn dot(a: &[Complex64], b: &[Complex64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x * y.conj()).re).sum()
}

/// Relative L2 error ≤ `l2` and max error ≤ `max` (relative to max |want|).
fn assert_close(what: &str, got: &[f64], want: &[f64], l2: f64, max: f64) {
    let (e2, emax) = rel_errors(got, want);
    assert!(
        e2 <= l2 && emax <= max,
        "{what}: relative L2 error {e2:e} (≤ {l2:e}), max error {emax:e} (≤ {max:e})"
    );
}

fn assert_adjoint(what: &str, lhs: f64, rhs: f64, tol: f64) {
    let scale = lhs.abs().max(rhs.abs()).max(1e-300);
    assert!(
        (lhs - rhs).abs() <= tol * scale,
        "{what}: ⟨Ax, y⟩ = {lhs:e} but ⟨x, Aᴴy⟩ = {rhs:e}"
    );
}

fn offsets(rng: &mut Rng, n: usize, span: f64) -> Vec<[f32; 2]> {
    (0..n)
        .map(|_| {
            [
                (span * (2.0 * rng.uniform() - 1.0)) as f32,
                (span * (2.0 * rng.uniform() - 1.0)) as f32,
            ]
        })
        .collect()
}

fn run_translate(
    engine: &Engine,
    g: &TranslateGeometry,
    src: &[Complex32],
    off: &[[f32; 2]],
    adjoint: bool,
) -> Vec<Complex32> {
    let op = Translate::new(engine).unwrap();
    let gs = engine.upload("src", src).unwrap();
    let go = engine.upload("off", off).unwrap();
    let nan = Complex32::new(f32::NAN, f32::NAN);
    let len = if adjoint {
        g.input_frames() * g.input.0 * g.input.1
    } else {
        g.frames * g.output.0 * g.output.1
    };
    let out = engine.upload("out", &vec![nan; len]).unwrap();
    let mut rec = engine.recording("translate");
    if adjoint {
        op.record_adjoint(engine, &mut rec, g, &gs, &go, &out)
            .unwrap();
    } else {
        op.record(engine, &mut rec, g, &gs, &go, &out).unwrap();
    }
    let id = rec.read(&out);
    engine.submit(rec).unwrap().get(id)
}

/// Runs the merge and its adjoint: (canvases, weights, adjoint of `grad_canvas`).
fn run_merge(
    engine: &Engine,
    g: &MergeGeometry,
    patches: &[Complex32],
    off: &[[f32; 2]],
    grad_canvas: &[Complex32],
) -> (Vec<Complex32>, Vec<f32>, Vec<Complex32>) {
    let op = MergePatches::new(engine).unwrap();
    let gp = engine.upload("patches", patches).unwrap();
    let go = engine.upload("off", off).unwrap();
    let cl = g.groups * g.m * g.m;
    let canvas = engine
        .upload("canvas", &vec![Complex32::new(f32::NAN, 0.0); cl])
        .unwrap();
    let wgt = engine.upload("wgt", &vec![f32::NAN; cl]).unwrap();
    let gc = engine.upload("grad_canvas", grad_canvas).unwrap();
    let gpatch = engine
        .upload(
            "grad_patches",
            &vec![Complex32::new(f32::NAN, 0.0); patches.len()],
        )
        .unwrap();
    let mut rec = engine.recording("merge");
    op.record(engine, &mut rec, g, &gp, &go, &canvas, &wgt)
        .unwrap();
    op.record_adjoint(engine, &mut rec, g, &gc, &wgt, &go, &gpatch)
        .unwrap();
    let (a, b, c) = (rec.read(&canvas), rec.read(&wgt), rec.read(&gpatch));
    let out = engine.submit(rec).unwrap();
    (out.get(a), out.get(b), out.get(c))
}

/// Bilinear interpolation: a handful of f32 roundings.
const INTERP: Tolerance = Tolerance {
    rel: 1e-5,
    abs: 1e-5,
};

// ---------------------------------------------------------------------------------------------
// Conventions, against hand-computed values (independent of the twins).

#[test]
fn translate_moves_content_by_plus_offset() {
    // out[y, x] = in[y − dy, x − dx]: a delta at (row 3, col 5) shifted by (dx, dy) = (2, 1)
    // lands at (row 4, col 7); by (0.5, 0) it splits evenly over columns 5 and 6.
    let (h, w) = (12, 10);
    let mut img = vec![Complex64::new(0.0, 0.0); h * w];
    img[3 * w + 5] = Complex64::new(1.0, -2.0);
    let g = TranslateGeometry::shift(h, w, 2);
    let two: Vec<_> = img.iter().chain(img.iter()).cloned().collect();
    let off = [[2.0, 1.0], [0.5, 0.0]];
    let out = cpu::translate(&two, &off, &g);
    for (k, v) in out[..h * w].iter().enumerate() {
        let want = if k == 4 * w + 7 {
            img[3 * w + 5]
        } else {
            Complex64::new(0.0, 0.0)
        };
        assert_eq!(*v, want, "integer shift, pixel {k}");
    }
    let second = &out[h * w..];
    assert_eq!(second[3 * w + 5], 0.5 * img[3 * w + 5]);
    assert_eq!(second[3 * w + 6], 0.5 * img[3 * w + 5]);
    assert_eq!(second.iter().filter(|z| z.norm() > 0.0).count(), 2);
    // Content moving out of the frame is lost (zero fill, no wrap).
    let out = cpu::translate(&img, &[[5.0, 0.0]], &TranslateGeometry::shift(h, w, 1));
    assert!(out.iter().all(|z| z.norm() == 0.0));

    if let Some(engine) = gpu_or_skip() {
        let img32: Vec<Complex32> = two
            .iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect();
        let got = run_translate(&engine, &g, &img32, &off, false);
        let want = cpu::translate(&two, &off, &g);
        Tolerance::EXACT.assert_all("gpu translate delta", &flat(&got), &flat64(&want));
    }
}

#[test]
fn merge_of_identical_centred_patches_is_that_patch() {
    // C copies of one patch with zero offsets: inside the central mask the canvas is
    // C·P/(C + 1e-3); outside the mask the mask sum is 0 and the canvas is 0.
    let g = MergeGeometry {
        n: 16,
        m: 16,
        groups: 1,
        members: 4,
    };
    let mut rng = Rng::new(3);
    let one = c64(&rng.complex(256));
    let patches: Vec<_> = (0..4).flat_map(|_| one.clone()).collect();
    let (canvas, _) = cpu::merge_patches(&patches, &[[0.0, 0.0]; 4], &g);
    for r in 0..16 {
        for c in 0..16 {
            let k = r * 16 + c;
            let want = if (4..12).contains(&r) && (4..12).contains(&c) {
                one[k] * (4.0 / 4.001)
            } else {
                Complex64::new(0.0, 0.0)
            };
            assert!((canvas[k] - want).norm() < 1e-12, "({r}, {c})");
        }
    }
}

/// Ground-truth patches of an object at integer scan positions, grouped with PtychoPINN's
/// relative offsets −(pos − centre) and cut to their central N/2 square: the merge rebuilds the object around the group centre
/// (wherever a member's central N/2 square covers it, scaled by k/(k + 1e-3) for k covering
/// members), and re-extraction gives back each member's own patch inside its central square.
#[test]
fn merge_of_ground_truth_patches_rebuilds_the_object() {
    let (h, w, n) = (72, 72, 32);
    let mut rng = Rng::new(8);
    let obj = c64(&rng.complex(h * w));
    // A fractional group centre (35.25, 36.25), then an integer one (35, 36).
    let sets = [
        [[34.0, 33.0], [39.0, 35.0], [36.0, 38.0], [32.0, 39.0]],
        [[34.0, 33.0], [39.0, 35.0], [36.0, 38.0], [31.0, 38.0]],
    ];
    for pos in sets {
        let centre = [
            pos.iter().map(|p| p[0]).sum::<f64>() / 4.0,
            pos.iter().map(|p| p[1]).sum::<f64>() / 4.0,
        ];
        // Zero outside the central N/2 square, as the network's patches are (probe_big = False).
        let mut patches = cpu::extract_patches(&obj, h, w, &pos, n);
        for (k, z) in patches.iter_mut().enumerate() {
            let (i, j) = ((k / n) % n, k % n);
            if !((n / 4..3 * n / 4).contains(&i) && (n / 4..3 * n / 4).contains(&j)) {
                *z = Complex64::new(0.0, 0.0);
            }
        }
        let offs: Vec<[f32; 2]> = pos
            .iter()
            .map(|p| [-(p[0] - centre[0]) as f32, -(p[1] - centre[1]) as f32])
            .collect();
        let m = canvas_side(n, 4.0);
        let mg = MergeGeometry {
            n,
            m,
            groups: 1,
            members: 4,
        };
        let (canvas, _) = cpu::merge_patches(&patches, &offs, &mg);
        // Canvas pixel (y, x) sits at object (centre − M/2 + (y, x)); member c's central square
        // covers object pixels pos_c − N/4 … pos_c + N/4 − 1.
        let e = n as f64 / 4.0;
        let mut checked = 0;
        for y in 0..m {
            for x in 0..m {
                let oy = centre[1] - (m / 2) as f64 + y as f64;
                let ox = centre[0] - (m / 2) as f64 + x as f64;
                let k = pos
                    .iter()
                    .filter(|p| {
                        let (dy, dx) = (oy - p[1], ox - p[0]);
                        dy >= -e && dy < e && dx >= -e && dx < e
                    })
                    .count();
                // Skip pixels whose bilinear taps straddle a coverage edge.
                let near_edge = pos.iter().any(|p| {
                    let (dy, dx) = (oy - p[1], ox - p[0]);
                    [dy + e, dy - e, dx + e, dx - e]
                        .iter()
                        .any(|d| d.abs() < 1.0)
                });
                if k == 0 || near_edge {
                    continue;
                }
                let want = cpu::bilinear(&obj, h, w, oy, ox) * (k as f64 / (k as f64 + 1e-3));
                let got = canvas[y * m + x];
                assert!(
                    (got - want).norm() < 1e-9,
                    "centre {centre:?}: canvas ({y}, {x}) with {k} covering members: {got} vs {want}"
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} canvas pixels checked");
        if centre[0].fract() != 0.0 || centre[1].fract() != 0.0 {
            // Two bilinear resamplings by a fractional shift blur: re-extraction is exact only
            // for integer offsets.
            continue;
        }
        let g = GroupGeometry {
            members: 4,
            canvas: m,
            offsets: offs.clone(),
        };
        let (lit, _) = cpu::illuminated_patches(&patches, n, Some(&g));
        for c in 0..4 {
            for i in n / 4..3 * n / 4 {
                for j in n / 4..3 * n / 4 {
                    let k = c * n * n + i * n + j;
                    // Re-extracted = merged canvas = object · cover/(cover + 1e-3).
                    assert!(
                        (lit[k] - patches[k]).norm() <= 1.1e-3 * patches[k].norm() + 1e-12,
                        "member {c} ({i}, {j}): {} vs {}",
                        lit[k],
                        patches[k]
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GPU against the CPU twins.

#[test]
fn gpu_translate_matches_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(11);
    for g in [
        TranslateGeometry::shift(24, 20, 3),
        TranslateGeometry::reextract(16, 24, 2, 4),
    ] {
        let src = rng.complex(g.input_frames() * g.input.0 * g.input.1);
        let off = offsets(&mut rng, g.frames, 6.0);
        let got = run_translate(&engine, &g, &src, &off, false);
        let want = cpu::translate(&c64(&src), &off, &g);
        INTERP.assert_all("translate", &flat(&got), &flat64(&want));
        let grad = rng.complex(g.frames * g.output.0 * g.output.1);
        let got = run_translate(&engine, &g, &grad, &off, true);
        let want = cpu::translate_adjoint(&c64(&grad), &off, &g);
        INTERP.assert_all("translate_adjoint", &flat(&got), &flat64(&want));
    }
}

#[test]
fn gpu_merge_matches_twin() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(12);
    let g = MergeGeometry {
        n: 16,
        m: 28,
        groups: 3,
        members: 4,
    };
    let patches = rng.complex(12 * 16 * 16);
    let off = offsets(&mut rng, 12, 5.5);
    let grad = rng.complex(3 * 28 * 28);
    let (canvas, wgt, gpatch) = run_merge(&engine, &g, &patches, &off, &grad);
    let (wc, ww) = cpu::merge_patches(&c64(&patches), &off, &g);
    // The canvas divides by a mask sum that can be small at the coverage edge: compare with a
    // tolerance relative to the largest value.
    assert_close("merge canvas", &flat(&canvas), &flat64(&wc), 1e-5, 1e-5);
    let wgt64: Vec<f64> = wgt.iter().map(|&v| v as f64).collect();
    assert_close("merge weights", &wgt64, &ww, 1e-5, 1e-5);
    // Zero coverage ⇒ zero weight, identically on both sides.
    for (a, b) in wgt.iter().zip(&ww) {
        assert_eq!(*a == 0.0, *b == 0.0);
    }
    let wg = cpu::merge_patches_adjoint(&c64(&grad), &ww, &off, &g);
    assert_close("merge adjoint", &flat(&gpatch), &flat64(&wg), 1e-5, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Adjoint identities ⟨A x, y⟩ = ⟨x, Aᴴ y⟩.

#[test]
fn adjoint_identities_cpu_f64() {
    let mut rng = Rng::new(21);
    let mut cx = |n: usize| c64(&rng.complex(n));
    for g in [
        TranslateGeometry::shift(18, 14, 3),
        TranslateGeometry::reextract(16, 26, 2, 4),
    ] {
        let x = cx(g.input_frames() * g.input.0 * g.input.1);
        let y = cx(g.frames * g.output.0 * g.output.1);
        let off = offsets(&mut Rng::new(5), g.frames, 4.7);
        let ax = cpu::translate(&x, &off, &g);
        let aty = cpu::translate_adjoint(&y, &off, &g);
        assert_adjoint("translate", dot(&ax, &y), dot(&x, &aty), 1e-12);
    }
    let g = MergeGeometry {
        n: 16,
        m: 24,
        groups: 2,
        members: 4,
    };
    let x = cx(8 * 256);
    let y = cx(2 * 24 * 24);
    let off = offsets(&mut Rng::new(6), 8, 3.9);
    let (ax, w) = cpu::merge_patches(&x, &off, &g);
    let aty = cpu::merge_patches_adjoint(&y, &w, &off, &g);
    assert_adjoint("merge", dot(&ax, &y), dot(&x, &aty), 1e-12);
    // Patch extraction at scan positions (fractional, one partly outside the object).
    let (h, wd, n) = (30, 26, 8);
    let pos = [[3.2, 4.9], [20.0, 11.5], [25.7, 28.1], [-1.5, 12.25]];
    let x = cx(h * wd);
    let y = cx(pos.len() * n * n);
    let ax = cpu::extract_patches(&x, h, wd, &pos, n);
    let aty = cpu::extract_patches_adjoint(&y, h, wd, &pos, n);
    assert_adjoint("extract", dot(&ax, &y), dot(&x, &aty), 1e-12);
}

#[test]
fn adjoint_identities_gpu() {
    let Some(engine) = gpu_or_skip() else { return };
    let mut rng = Rng::new(22);
    let tol = 2e-6;
    for g in [
        TranslateGeometry::shift(20, 16, 2),
        TranslateGeometry::reextract(16, 24, 2, 4),
    ] {
        let x = rng.complex(g.input_frames() * g.input.0 * g.input.1);
        let y = rng.complex(g.frames * g.output.0 * g.output.1);
        let off = offsets(&mut rng, g.frames, 4.3);
        let ax = c64(&run_translate(&engine, &g, &x, &off, false));
        let aty = c64(&run_translate(&engine, &g, &y, &off, true));
        assert_adjoint(
            "gpu translate",
            dot(&ax, &c64(&y)),
            dot(&c64(&x), &aty),
            tol,
        );
    }
    let g = MergeGeometry {
        n: 16,
        m: 26,
        groups: 2,
        members: 4,
    };
    let x = rng.complex(8 * 256);
    let y = rng.complex(2 * 26 * 26);
    let off = offsets(&mut rng, 8, 4.9);
    let (ax, _, aty) = run_merge(&engine, &g, &x, &off, &y);
    assert_adjoint(
        "gpu merge",
        dot(&c64(&ax), &c64(&y)),
        dot(&c64(&x), &c64(&aty)),
        tol,
    );

    // The GPU extraction kernel is the linear operator whose adjoint is the f64 scatter.
    let (h, wd, n) = (34, 30, 16);
    let pos = [
        [3.2, 4.9],
        [20.0, 11.5],
        [25.7, 28.1],
        [-1.5, 12.25],
        [15.0, 15.0],
    ];
    let x = rng.complex(h * wd);
    let y = rng.complex(pos.len() * n * n);
    let op = ptycho::physics::ExtractPatches::new(&engine).unwrap();
    let gx = engine.upload("obj", &x).unwrap();
    let pos32: Vec<[f32; 2]> = pos.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
    let gpos = engine.upload("pos", &pos32).unwrap();
    let gout = engine
        .alloc::<Complex32>("patches", pos.len() * n * n)
        .unwrap();
    let mut rec = engine.recording("extract");
    op.record(&engine, &mut rec, &gx, (h, wd), &gpos, &gout, n)
        .unwrap();
    let id = rec.read(&gout);
    let ax = c64(&engine.submit(rec).unwrap().get::<Complex32>(id));
    let aty = cpu::extract_patches_adjoint(&c64(&y), h, wd, &pos, n);
    assert_adjoint("gpu extract", dot(&ax, &c64(&y)), dot(&c64(&x), &aty), tol);

    // Probe multiply (cmul) and conjugate multiply; far field forward and adjoint FFT plans.
    use ptycho::fft::{Direction, FftOptions, FftPlan, Norm};
    use ptycho::linalg::Cmul;
    let (n, frames) = (16, 3);
    let x = rng.complex(frames * n * n);
    let y = rng.complex(frames * n * n);
    let p = rng.complex(n * n);
    let (gx, gy, gp) = (
        engine.upload("x", &x).unwrap(),
        engine.upload("y", &y).unwrap(),
        engine.upload("p", &p).unwrap(),
    );
    let outs: Vec<_> = (0..4)
        .map(|_| engine.alloc::<Complex32>("o", x.len()).unwrap())
        .collect();
    let cm = Cmul::new(&engine).unwrap();
    let plan = |direction, shift_in, shift_out| {
        FftPlan::with_options(
            &engine,
            n,
            n,
            frames,
            direction,
            FftOptions {
                norm: Norm::Ortho,
                shift_input: shift_in,
                shift_output: shift_out,
                ..FftOptions::default()
            },
        )
        .unwrap()
    };
    let fwd = plan(Direction::Forward, false, true);
    let bwd = plan(Direction::Inverse, true, false);
    let scratch = fwd.alloc_scratch(&engine).unwrap();
    let mut rec = engine.recording("adjoints");
    cm.record(&engine, &mut rec, &gx, &gp, &outs[0], n * n, false)
        .unwrap();
    cm.record(&engine, &mut rec, &gy, &gp, &outs[1], n * n, true)
        .unwrap();
    fwd.record(&engine, &mut rec, &gx, &outs[2], &scratch)
        .unwrap();
    bwd.record(&engine, &mut rec, &gy, &outs[3], &scratch)
        .unwrap();
    let ids: Vec<_> = outs.iter().map(|o| rec.read(o)).collect();
    let out = engine.submit(rec).unwrap();
    let r: Vec<Vec<Complex64>> = ids.iter().map(|&i| c64(&out.get::<Complex32>(i))).collect();
    let (x, y) = (c64(&x), c64(&y));
    assert_adjoint("gpu probe multiply", dot(&r[0], &y), dot(&x, &r[1]), tol);
    assert_adjoint("gpu far field", dot(&r[2], &y), dot(&x, &r[3]), tol);
}

// ---------------------------------------------------------------------------------------------
// Gradients of the whole grouped model.

/// A small gridsize-2 case: patches like network output (zero outside the central N/2), a
/// complex probe, measured amplitudes from a different object, fractional offsets.
struct Case {
    n: usize,
    patches: Vec<Complex32>,
    probe: Vec<Complex32>,
    measured: Vec<f32>,
    group: Option<GroupGeometry>,
    scale: f64,
}

fn case(seed: u64, n: usize, groups: usize, members: usize) -> Case {
    let mut rng = Rng::new(seed);
    let f = groups * members;
    let group = (members > 1).then(|| {
        let offsets = offsets(&mut rng, f, 3.6);
        GroupGeometry {
            members,
            canvas: canvas_side(n, 3.6),
            offsets,
        }
    });
    let mut patches = Vec::with_capacity(f * n * n);
    for _ in 0..f {
        for i in 0..n {
            for j in 0..n {
                let c = (n / 4..3 * n / 4).contains(&i) && (n / 4..3 * n / 4).contains(&j);
                let (a, ph) = (rng.uniform(), std::f64::consts::PI * rng.sym() as f64);
                patches.push(if c {
                    Complex32::new((a * ph.cos()) as f32, (a * ph.sin()) as f32)
                } else {
                    Complex32::new(0.0, 0.0)
                });
            }
        }
    }
    let probe: Vec<Complex32> = ptycho::simulate::objects::default_probe(n)
        .iter()
        .map(|p| p * Complex32::new(0.8, 0.3 * rng.sym()))
        .collect();
    let measured = (0..f * n * n)
        .map(|_| 0.05 * rng.uniform() as f32)
        .collect();
    Case {
        n,
        patches,
        probe,
        measured,
        group,
        scale: 40.0,
    }
}

impl Case {
    fn x(&self) -> Vec<f64> {
        self.measured.iter().map(|&v| v as f64).collect()
    }
    fn loss(&self, patches: &[Complex64], probe: &[Complex64], w: (f64, f64)) -> f64 {
        cpu::model_loss(
            patches,
            probe,
            &self.x(),
            self.n,
            self.scale,
            w.0,
            w.1,
            self.group.as_ref(),
        )
    }
    fn grads(&self, w: (f64, f64)) -> (Vec<Complex64>, Vec<Complex64>) {
        cpu::model_backward(
            &c64(&self.patches),
            &c64(&self.probe),
            &self.x(),
            self.n,
            self.scale,
            w.0,
            w.1,
            self.group.as_ref(),
        )
    }
}

#[test]
fn grouped_loss_gradient_matches_finite_differences() {
    for (members, w) in [(1, (1.0, 0.0)), (4, (1.0, 0.0)), (4, (1.0, 0.5))] {
        let c = case(31 + members as u64, 16, 2, members);
        let n = c.n;
        let (x, p) = (c64(&c.patches), c64(&c.probe));
        let (grad, gprobe) = c.grads(w);
        let mut rng = Rng::new(7);
        let h = 1e-6;
        for _ in 0..12 {
            let f = (rng.uniform() * (2 * members) as f64) as usize;
            let i = n / 4 + (rng.uniform() * (n / 2) as f64) as usize;
            let j = n / 4 + (rng.uniform() * (n / 2) as f64) as usize;
            let k = f * n * n + i * n + j;
            for (part, dir) in [(0, Complex64::new(1.0, 0.0)), (1, Complex64::new(0.0, 1.0))] {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += h * dir;
                xm[k] -= h * dir;
                let fd = (c.loss(&xp, &p, w) - c.loss(&xm, &p, w)) / (2.0 * h);
                let an = if part == 0 { grad[k].re } else { grad[k].im };
                assert!(
                    (fd - an).abs() <= 1e-5 * fd.abs().max(an.abs()) + 1e-7,
                    "C = {members}: element {k} part {part}: finite difference {fd:e}, gradient {an:e}"
                );
            }
        }
        for k in [7 * n + 8, 8 * n + 8, 9 * n + 5] {
            for dir in [Complex64::new(1.0, 0.0), Complex64::new(0.0, 1.0)] {
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[k] += h * dir;
                pm[k] -= h * dir;
                let fd = (c.loss(&x, &pp, w) - c.loss(&x, &pm, w)) / (2.0 * h);
                let an = (gprobe[k] * dir.conj()).re;
                assert!(
                    (fd - an).abs() <= 1e-5 * fd.abs().max(an.abs()) + 1e-7,
                    "C = {members}: probe {k}: finite difference {fd:e}, gradient {an:e}"
                );
            }
        }
    }
}

#[test]
fn gpu_grouped_model_matches_cpu_model() {
    let Some(engine) = gpu_or_skip() else { return };
    let w = (1.0, 0.25);
    for members in [1, 4] {
        let n = 32;
        let c = case(41 + members as u64, n, 2, members);
        let frames = 2 * members;
        let mut model = FarFieldModel::new(
            &engine,
            n,
            frames,
            &c.probe,
            c.scale as f32,
            w.0 as f32,
            w.1 as f32,
        )
        .unwrap();
        if let Some(g) = &c.group {
            model = model
                .with_grouping(
                    &engine,
                    Grouping {
                        members,
                        canvas: g.canvas,
                    },
                )
                .unwrap();
            model.write_offsets(&engine, &g.offsets).unwrap();
        }
        let gp = engine.upload("patches", &c.patches).unwrap();
        let gm = engine.upload("measured", &c.measured).unwrap();
        let nan = Complex32::new(f32::NAN, 0.0);
        let grad = engine.upload("grad", &vec![nan; c.patches.len()]).unwrap();
        let gprobe = engine.upload("grad_probe", &vec![nan; n * n]).unwrap();
        let mut rec = engine.recording("step");
        let loss = model.record_loss(&engine, &mut rec, &gp, &gm).unwrap();
        model
            .record_backward_with_probe(&engine, &mut rec, &grad, Some((&gp, &gprobe)))
            .unwrap();
        let (a, b, d) = (rec.read_binding(loss), rec.read(&grad), rec.read(&gprobe));
        let out = engine.submit(rec).unwrap();
        let got_loss = out.get::<f32>(a)[0] as f64 / model.elements() as f64;
        let want_loss = c.loss(&c64(&c.patches), &c64(&c.probe), w);
        // The mean NLL is a difference of large terms: compare relative to the mean rate.
        let (lit, _) = cpu::illuminated_patches(&c64(&c.patches), n, c.group.as_ref());
        let far = cpu::far_field(&lit, &c64(&c.probe), n);
        let lam = far
            .iter()
            .map(|z| (c.scale * z.norm()).powi(2))
            .sum::<f64>()
            / far.len() as f64;
        assert!(
            (got_loss - want_loss).abs() <= 1e-5 * lam,
            "C = {members}: GPU loss {got_loss} vs CPU {want_loss} (mean rate {lam})"
        );
        let (wg, wp) = c.grads(w);
        let g: Vec<Complex32> = out.get(b);
        assert_close("grad patches", &flat(&g), &flat64(&wg), 1e-4, 1e-4);
        let g: Vec<Complex32> = out.get(d);
        assert_close("grad probe", &flat(&g), &flat64(&wp), 1e-4, 1e-4);
    }
}
