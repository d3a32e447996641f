//! Ground-truth patches of an object restitch to that object (the stitching sign).

use num_complex::{Complex32, Complex64};
use ptycho::physics::cpu::extract_patches;
use ptycho::stitch::{Stitched, Weighting, stitch, stitch_weighted};

fn object(h: usize, w: usize) -> Vec<Complex64> {
    (0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as f64, (i % w) as f64);
            Complex64::from_polar(
                0.7 + 0.3 * (0.19 * x).sin() * (0.11 * y).cos(),
                0.5 * (0.07 * x - 0.05 * y).sin(),
            )
        })
        .collect()
}

fn check(xs: Vec<f64>, ys: Vec<f64>, tol: f64) {
    check_weighted(xs, ys, tol, &Weighting::Uniform { crop: 20 });
}

/// A probe with a phase ramp whose intensity falls off from the centre: two modes.
fn probe(n: usize) -> Vec<Complex32> {
    (0..2 * n * n)
        .map(|k| {
            let (p, r, c) = (k / (n * n), (k / n) % n, k % n);
            let (y, x) = (
                r as f32 - n as f32 / 2.0 + 0.5,
                c as f32 - n as f32 / 2.0 + 0.5,
            );
            let a = (-(x * x + y * y) / (0.08 * (n * n) as f32)).exp()
                * if p == 0 { 1.0 } else { 0.4 * x / n as f32 };
            Complex32::from_polar(a, 0.05 * x)
        })
        .collect()
}

fn check_weighted(xs: Vec<f64>, ys: Vec<f64>, tol: f64, weighting: &Weighting) {
    let (h, w, n) = (80usize, 90usize, 32usize);
    let obj = object(h, w);
    let pos: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(&x, &y)| [x, y]).collect();
    let patches: Vec<Complex32> = extract_patches(&obj, h, w, &pos, n)
        .iter()
        .map(|z| Complex32::new(z.re as f32, z.im as f32))
        .collect();
    let s = stitch_weighted(&patches, n, &xs, &ys, weighting);
    let full = match weighting {
        Weighting::Uniform { .. } => 0.999,
        Weighting::Probe { .. } => 0.05,
    };
    let mut compared = 0;
    for r in 0..s.h {
        for c in 0..s.w {
            // Compare where a full-weight placement landed (interior of the covered region).
            if s.weight[r * s.w + c] < full {
                continue;
            }
            let (oy, ox) = (s.origin_xy[1] + r as f64, s.origin_xy[0] + c as f64);
            if oy.fract().abs() > 1e-9 || ox.fract().abs() > 1e-9 || oy < 0.0 || ox < 0.0 {
                continue;
            }
            let want = obj[oy as usize * w + ox as usize];
            let got = s.object[r * s.w + c];
            assert!(
                (Complex64::new(got.re as f64, got.im as f64) - want).norm() <= tol,
                "pixel ({r}, {c}) = object ({oy}, {ox}): {got} vs {want}"
            );
            compared += 1;
        }
    }
    assert!(compared > 400, "only {compared} pixels compared");
}

#[test]
fn integer_positions_restitch_exactly() {
    // Mean position is integer too, so the canvas is on the object grid.
    let xs = vec![30.0, 40.0, 50.0, 60.0, 30.0, 40.0, 50.0, 60.0];
    let ys = vec![30.0, 30.0, 30.0, 30.0, 44.0, 44.0, 44.0, 44.0];
    check(xs, ys, 1e-6);
}

#[test]
fn the_opposite_sign_would_mirror() {
    // Two patches only: with the wrong sign their content would swap places; with the right one
    // each crop lands where it was measured.
    let xs = vec![30.0, 60.0];
    let ys = vec![40.0, 40.0];
    check(xs, ys, 1e-6);
}

#[test]
fn streaming_in_any_batches_is_bit_identical() {
    let (h, w, n, crop) = (80usize, 90usize, 32usize, 20usize);
    let obj = object(h, w);
    let xs: Vec<f64> = (0..23).map(|i| 25.0 + 1.7 * i as f64).collect();
    let ys: Vec<f64> = (0..23)
        .map(|i| 30.0 + (0.9 * i as f64).sin() * 9.3)
        .collect();
    let pos: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(&x, &y)| [x, y]).collect();
    let patches: Vec<Complex32> = extract_patches(&obj, h, w, &pos, n)
        .iter()
        .map(|z| Complex32::new(z.re as f32, z.im as f32))
        .collect();
    let whole = stitch(&patches, n, &xs, &ys, crop);
    for batch in [1, 4, 7, 23] {
        let mut st = ptycho::stitch::Stitcher::new(n, &xs, &ys, crop);
        for chunk in patches.chunks(batch * n * n) {
            st.add(chunk);
        }
        assert_eq!(st.added(), 23);
        assert_eq!(st.finish(), whole, "batch {batch}");
    }
}

#[test]
fn probe_weighted_patches_of_one_object_restitch_to_it() {
    // Every patch holds the object's own values, so any weighted average returns the object.
    let xs = vec![30.0, 40.0, 50.0, 60.0, 30.0, 40.0, 50.0, 60.0];
    let ys = vec![30.0, 30.0, 30.0, 30.0, 44.0, 44.0, 44.0, 44.0];
    check_weighted(xs, ys, 1e-5, &Weighting::Probe { probe: probe(32) });
}

#[test]
fn probe_weighting_is_the_intensity_weighted_mean() {
    // Two constant patches (values a, b) 6 px apart: where they overlap the result is
    // (w_a·a + w_b·b) / (w_a + w_b) with w = Σ_modes |P|² at that pixel of each patch.
    let n = 32usize;
    let pr = probe(n);
    let (a, b) = (Complex32::new(1.0, 0.5), Complex32::new(-0.25, 2.0));
    let mut patches = vec![a; n * n];
    patches.extend(vec![b; n * n]);
    let (xs, ys) = (vec![40.0, 46.0], vec![40.0, 40.0]);
    let s = stitch_weighted(
        &patches,
        n,
        &xs,
        &ys,
        &Weighting::Probe { probe: pr.clone() },
    );
    let wt = |r: usize, c: usize| -> f64 {
        (0..2)
            .map(|p| pr[p * n * n + r * n + c].norm_sqr() as f64)
            .sum()
    };
    let mut compared = 0;
    for r in 0..s.h {
        for c in 0..s.w {
            let (x, y) = (s.origin_xy[0] + c as f64, s.origin_xy[1] + r as f64);
            // Pixel (x, y) is pixel (y − 40 + N/2, x − pos + N/2) of each patch.
            let (pr_, pa, pb) = (
                (y - 40.0) as isize + 16,
                (x - 40.0) as isize + 16,
                (x - 46.0) as isize + 16,
            );
            let inside = |v: isize| (8..24).contains(&v);
            if !(inside(pr_) && inside(pa) && inside(pb)) {
                continue;
            }
            let (wa, wb) = (wt(pr_ as usize, pa as usize), wt(pr_ as usize, pb as usize));
            let want = (Complex64::new(a.re as f64, a.im as f64) * wa
                + Complex64::new(b.re as f64, b.im as f64) * wb)
                / (wa + wb);
            let got = s.object[r * s.w + c];
            assert!(
                (Complex64::new(got.re as f64, got.im as f64) - want).norm() < 1e-5,
                "({x}, {y}): {got} vs {want}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 16 * 10, "{compared}");
}

#[test]
fn holes_inside_the_scan_are_counted() {
    // A 3 × 3 grid 24 px apart with a 20-px crop leaves 4-px gaps between the crops; a 16-px
    // grid leaves none.
    let n = 32usize;
    let grid = |step: f64| -> (Vec<f64>, Vec<f64>) {
        (0..9)
            .map(|k| (30.0 + step * (k % 3) as f64, 30.0 + step * (k / 3) as f64))
            .unzip()
    };
    let count = |step: f64| {
        let (xs, ys) = grid(step);
        let s: Stitched = stitch(&vec![Complex32::new(1.0, 0.0); 9 * n * n], n, &xs, &ys, 20);
        s.holes(&xs, &ys, Weighting::Uniform { crop: 20 }.covered_min())
    };
    assert_eq!(count(16.0), 0);
    // Inside the positions' bounding box (48 × 48 px, corners included) the gaps are two
    // 4-px strips each way: 2·4·49 + 2·4·49 − 4·4·4 pixels.
    assert_eq!(count(24.0), 2 * 4 * 49 + 2 * 4 * 49 - 4 * 16);
}
