//! Ground-truth patches of an object restitch to that object (the stitching sign).

use num_complex::{Complex32, Complex64};
use ptycho::physics::cpu::extract_patches;
use ptycho::stitch::stitch;

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
    let (h, w, n, crop) = (80usize, 90usize, 32usize, 20usize);
    let obj = object(h, w);
    let pos: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(&x, &y)| [x, y]).collect();
    let patches: Vec<Complex32> = extract_patches(&obj, h, w, &pos, n)
        .iter()
        .map(|z| Complex32::new(z.re as f32, z.im as f32))
        .collect();
    let s = stitch(&patches, n, &xs, &ys, crop);
    let mut compared = 0;
    for r in 0..s.h {
        for c in 0..s.w {
            // Compare where a full-weight placement landed (interior of the covered region).
            if s.weight[r * s.w + c] < 0.999 {
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
