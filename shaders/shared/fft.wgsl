// Stockham FFT building blocks shared by fft_lines (workgroup memory) and fft_stage (global).
//
// One Stockham stage of radix R on a line of length L, with p = product of the radices of the
// stages before it (p = 1, R, R·R', …): butterfly i ∈ [0, L/R) with k = i mod p reads
// x[i + r·L/R] (r = 0..R-1), multiplies input r by W^(r·k) with W = exp(s·2πi/(R·p)), does an
// R-point DFT and writes output r to y[(i − k)·R + k + r·p]. After the last stage y is the DFT in
// natural order (autosort; no bit reversal). s = −1 forward, +1 inverse.
//
// Twiddles come from a LUT of length L holding exp(−2πi·m/L) computed in f64 on the CPU:
// W^(r·k) = LUT[r·k·L/(R·p)] (conjugated for the inverse).
#import shared/complex

// Quarter turn in the transform's direction: multiply by s·i.
fn fft_quarter(a: vec2<f32>, s: f32) -> vec2<f32> {
    return vec2<f32>(-s * a.y, s * a.x);
}

// In-place R-point DFT (R ∈ {2, 4, 8}) of v[base .. base+R].
fn fft_butterfly(v: ptr<function, array<vec2<f32>, 8>>, base: u32, radix: u32, s: f32) {
    if (radix == 2u) {
        let a = (*v)[base];
        let b = (*v)[base + 1u];
        (*v)[base] = a + b;
        (*v)[base + 1u] = a - b;
    } else if (radix == 4u) {
        let t0 = (*v)[base] + (*v)[base + 2u];
        let t1 = (*v)[base] - (*v)[base + 2u];
        let t2 = (*v)[base + 1u] + (*v)[base + 3u];
        let t3 = fft_quarter((*v)[base + 1u] - (*v)[base + 3u], s);
        (*v)[base] = t0 + t2;
        (*v)[base + 1u] = t1 + t3;
        (*v)[base + 2u] = t0 - t2;
        (*v)[base + 3u] = t1 - t3;
    } else {
        // Radix 8 = two radix-4 DFTs on even and odd inputs, combined with W8^k.
        let x0 = (*v)[base];
        let x1 = (*v)[base + 1u];
        let x2 = (*v)[base + 2u];
        let x3 = (*v)[base + 3u];
        let x4 = (*v)[base + 4u];
        let x5 = (*v)[base + 5u];
        let x6 = (*v)[base + 6u];
        let x7 = (*v)[base + 7u];
        // Even part E = DFT4(x0, x2, x4, x6).
        let a0 = x0 + x4;
        let a1 = x0 - x4;
        let a2 = x2 + x6;
        let a3 = fft_quarter(x2 - x6, s);
        let e0 = a0 + a2;
        let e1 = a1 + a3;
        let e2 = a0 - a2;
        let e3 = a1 - a3;
        // Odd part O = DFT4(x1, x3, x5, x7).
        let b0 = x1 + x5;
        let b1 = x1 - x5;
        let b2 = x3 + x7;
        let b3 = fft_quarter(x3 - x7, s);
        let o0 = b0 + b2;
        var o1 = b1 + b3;
        var o2 = b0 - b2;
        var o3 = b1 - b3;
        // W8^1 = (1 + s·i)/√2, W8^2 = s·i, W8^3 = s·i·W8^1.
        let h = 0.70710678118654752;
        o1 = h * (o1 + fft_quarter(o1, s));
        o2 = fft_quarter(o2, s);
        o3 = h * (fft_quarter(o3, s) - o3);
        (*v)[base] = e0 + o0;
        (*v)[base + 1u] = e1 + o1;
        (*v)[base + 2u] = e2 + o2;
        (*v)[base + 3u] = e3 + o3;
        (*v)[base + 4u] = e0 - o0;
        (*v)[base + 5u] = e1 - o1;
        (*v)[base + 6u] = e2 - o2;
        (*v)[base + 7u] = e3 - o3;
    }
}

// W^(r·k) of a stage from the LUT (entries exp(−2πi m/L)), conjugated when s = +1.
fn fft_twiddle(lut_value: vec2<f32>, s: f32) -> vec2<f32> {
    return vec2<f32>(lut_value.x, -s * lut_value.y);
}
