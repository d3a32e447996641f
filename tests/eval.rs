//! Evaluation metrics against independent references: scikit-image's SSIM (values computed once
//! with skimage 0.2x, formula below), exact shifts, planes and identical images.

use num_complex::Complex64;
use ptycho::eval::{self, Image, frc, register, remove_plane, ssim};

fn pattern(h: usize, w: usize) -> (Image, Image) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for r in 0..h {
        for c in 0..w {
            let (rf, cf) = (r as f64, c as f64);
            let v =
                (0.3 * rf).sin() * (0.2 * cf).cos() + 0.1 * ((r * 7 + c * 13) % 11) as f64 / 11.0;
            x.push(v);
            y.push(v + 0.05 * (0.7 * rf + 0.5 * cf).cos());
        }
    }
    (Image::new(h, w, x), Image::new(h, w, y))
}

#[test]
fn ssim_matches_scikit_image() {
    // python: r,c = np.mgrid[0:40,0:52]; x = sin(.3r)cos(.2c) + .1((7r+13c)%11)/11;
    // y = x + .05cos(.7r+.5c); structural_similarity(y, x, data_range=...)
    let (x, y) = pattern(40, 52);
    let range = x.data.iter().cloned().fold(f64::MIN, f64::max)
        - x.data.iter().cloned().fold(f64::MAX, f64::min);
    assert!((ssim::ssim(&y, &x, range) - 0.9900360375821673).abs() < 1e-12);
    assert!((ssim::ssim(&y, &x, 1.0) - 0.9877653716986697).abs() < 1e-12);
    assert!((ssim::ssim(&x, &x, 1.0) - 1.0).abs() < 1e-12);
}

#[test]
fn phase_correlation_recovers_subpixel_shifts() {
    let x = blobs(64, 64);
    let xc: Vec<Complex64> = x.data.iter().map(|&v| Complex64::new(v, 0.0)).collect();
    for (dy, dx) in [(1.3, -2.46), (-0.52, 0.18), (3.0, 4.0)] {
        let moved = register::fourier_shift(&xc, 64, 64, dy, dx);
        let m = Image::new(64, 64, moved.iter().map(|z| z.re).collect());
        // reference(x) = moving(x − s): the shift that brings `x` onto `moved` is (dy, dx).
        let (ey, ex) = register::register(&m, &x);
        assert!(
            (ey - dy).abs() <= 0.02 && (ex - dx).abs() <= 0.02,
            "want ({dy}, {dx}), got ({ey}, {ex})"
        );
        // The coarse stage alone is within a pixel.
        let (py, px) = register::phase_correlation(&m, &x, 1);
        assert!(
            (py - dy).abs() <= 1.0 && (px - dx).abs() <= 1.0,
            "coarse ({py}, {px})"
        );
    }
}

#[test]
fn plane_removal_is_exact_on_planes() {
    let img = Image::new(
        10,
        12,
        (0..120)
            .map(|i| 0.3 * (i % 12) as f64 - 0.7 * (i / 12) as f64 + 2.0)
            .collect(),
    );
    assert!(remove_plane(&img).data.iter().all(|v| v.abs() < 1e-10));
}

#[test]
fn frc_of_identical_images_is_one_and_of_noise_falls() {
    let (x, _) = pattern(64, 64);
    let curve = frc::frc_curve(&x, &x);
    assert!(curve[1..].iter().all(|&v| (v - 1.0).abs() < 1e-9));
    assert_eq!(frc::threshold_crossing(&curve, 0.5), 32.0);
    assert!((frc::threshold_crossing(&[1.0, 0.8, 0.4, 0.1], 0.5) - 1.75).abs() < 1e-12);
}

/// A smooth, non-periodic image: a sum of Gaussian blobs at fixed pseudo-random places.
fn blobs(h: usize, w: usize) -> Image {
    blobs_at(h, w, 0.0, 0.0)
}

/// The blob image with its content moved by (dy, dx), evaluated analytically (no resampling).
fn blobs_at(h: usize, w: usize, dy: f64, dx: f64) -> Image {
    let mut s = 12345u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres: Vec<(f64, f64, f64, f64)> = (0..25)
        .map(|_| {
            (
                next() * h as f64,
                next() * w as f64,
                1.5 + 4.0 * next(),
                next() - 0.3,
            )
        })
        .collect();
    let mut v = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            for &(cy, cx, sd, a) in &centres {
                let (y, x) = (r as f64 - dy, c as f64 - dx);
                v[r * w + c] +=
                    a * (-((y - cy).powi(2) + (x - cx).powi(2)) / (2.0 * sd * sd)).exp();
            }
        }
    }
    Image::new(h, w, v)
}

#[test]
fn evaluate_registers_and_rescales() {
    // Object: amplitude 1 + 0.3x, phase 0.5x + a plane.
    let object = |img: &Image| -> Vec<Complex64> {
        img.data
            .iter()
            .enumerate()
            .map(|(i, &v)| Complex64::from_polar(1.0 + 0.3 * v, 0.5 * v + 0.01 * (i % 64) as f64))
            .collect()
    };
    let target = object(&blobs(64, 64));
    // Prediction: content moved by (dy, dx) = (0.4, −1.2), amplitude ×2, another phase plane.
    let shifted = object(&blobs_at(64, 64, 0.4, -1.2));
    let pred: Vec<Complex64> = shifted
        .iter()
        .enumerate()
        .map(|(i, z)| 2.0 * z * Complex64::from_polar(1.0, -0.02 * (i / 64) as f64))
        .collect();
    let m = eval::evaluate(&pred, &target, 64, 64, 4);
    assert!(
        (m.shift_xy.0 - 1.2).abs() < 0.02 && (m.shift_xy.1 + 0.4).abs() < 0.02,
        "{:?}",
        m.shift_xy
    );
    assert!(m.amplitude.ssim > 0.99, "{}", m.amplitude.ssim);
    assert!(m.phase.ssim > 0.99, "{}", m.phase.ssim);
    assert!(m.amplitude.mae < 0.01 && m.phase.mae < 0.01);
    assert!(m.amplitude.frc50 > 20.0);
}
