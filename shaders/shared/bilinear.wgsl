// Bilinear sampling with zero fill, shared by the physics kernels.
//
// A sample position p (pixels, per axis) is split into an integer floor and a fraction in
// [0, 1). Tap k ∈ {0, 1} along an axis sits at floor + k with weight (1 − frac) for k = 0 and
// frac for k = 1; the 2-D weight is the product of the row and column weights. A tap outside the
// frame contributes zero (no clamping, no wrap). Real and imaginary parts are interpolated with
// the same weights, i.e. separately.
//
// The exact transpose of "out[r] = Σ_k w_k · in[r + fl + k]" is
// "in[y] = Σ_k w_k · out[y − fl − k]": the adjoint kernels use these same (fl, frac, k, w_k) so
// that forward and adjoint are transposes to the last bit of the weights.

// Weight of tap k (0 or 1) for fraction `frac`.
fn tap_weight(frac: f32, k: i32) -> f32 {
    return select(1.0 - frac, frac, k == 1);
}

// Whether (row r, column c) lies in an h × w frame.
fn inside(r: i32, c: i32, h: u32, w: u32) -> bool {
    return r >= 0 && c >= 0 && r < i32(h) && c < i32(w);
}

// Floor (as i32) and fraction of each component of a shift (x, y).
struct Split {
    fl: vec2<i32>,
    fr: vec2<f32>,
}

fn split_shift(s: vec2<f32>) -> Split {
    let f = floor(s);
    return Split(vec2<i32>(f), s - f);
}
