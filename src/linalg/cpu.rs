//! CPU twins of the linalg kernels, written to read line by line against the shaders.

use num_complex::{Complex32, Complex64};

use super::REDUCE_CHUNK;

/// Twin of `cmul.wgsl`, accumulated in f64: `out[f, j] = a[f, j] · b[f mod b_frames, j]`.
pub fn cmul(a: &[Complex32], b: &[Complex32], frame: usize, conj_b: bool) -> Vec<Complex32> {
    let b_frames = b.len() / frame;
    a.iter()
        .enumerate()
        .map(|(i, &av)| {
            let f = i / frame;
            let j = i % frame;
            let mut bv = b[(f % b_frames) * frame + j];
            if conj_b {
                bv = bv.conj();
            }
            let p = Complex64::new(av.re as f64, av.im as f64)
                * Complex64::new(bv.re as f64, bv.im as f64);
            Complex32::new(p.re as f32, p.im as f32)
        })
        .collect()
}

/// Exact f64 sums of each segment of `n` values: the oracle.
pub fn reduce_sum(x: &[f32], n: usize) -> Vec<f64> {
    x.chunks(n)
        .map(|s| s.iter().map(|&v| v as f64).sum())
        .collect()
}

/// Twin of `reduce_sum.wgsl` in f32, in exactly the shader's order of additions (so the GPU
/// result must equal it bit for bit on an IEEE-conformant adapter).
#[allow(clippy::needless_range_loop, reason = "index loops mirror the shader")]
pub fn reduce_sum_tree(x: &[f32], n: usize) -> Vec<f32> {
    const WG: usize = 256;
    const ITEMS: usize = REDUCE_CHUNK / WG;
    let mut level: Vec<f32> = x.to_vec();
    let mut len = n;
    let segments = x.len() / n;
    loop {
        let chunks = len.div_ceil(REDUCE_CHUNK);
        let mut next = vec![0f32; segments * chunks];
        for seg in 0..segments {
            for chunk in 0..chunks {
                let base = chunk * REDUCE_CHUNK;
                let mut tree = [0f32; WG];
                for lid in 0..WG {
                    let mut acc = 0f32;
                    for k in 0..ITEMS {
                        let j = base + k * WG + lid;
                        if j < len {
                            acc += level[seg * len + j];
                        }
                    }
                    tree[lid] = acc;
                }
                let mut s = WG / 2;
                while s > 0 {
                    for lid in 0..s {
                        tree[lid] += tree[lid + s];
                    }
                    s /= 2;
                }
                next[seg * chunks + chunk] = tree[0];
            }
        }
        level = next;
        len = chunks;
        if len == 1 {
            return level;
        }
    }
}

/// Twin of `axpy.wgsl`: `y = β·y + α·x` (β = 0 overwrites).
pub fn axpy(alpha: f32, x: &[f32], beta: f32, y: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| {
            if beta != 0.0 {
                alpha * a + beta * b
            } else {
                alpha * a
            }
        })
        .collect()
}
