// Math shared by the nn kernels: π, a tanh without overflow, and the activations of
// crate::nn::Activation by their codes (0 identity, 1 ReLU, 2 sigmoid, 3 π·tanh). The conv
// epilogues add code 4 (crate::nn::GATE: keep the value where the gate tensor is > 0), which
// needs the gate value and is applied by the convs themselves.

const PI: f32 = 3.14159265358979;

// tanh without the inf/inf of exp-based formulas at large |v|.
fn stable_tanh(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// The activation `mode` (codes 0–3) of v.
fn activate(mode: u32, v: f32) -> f32 {
    switch mode {
        case 1u: { return max(v, 0.0); }
        case 2u: { return 1.0 / (1.0 + exp(-v)); }
        case 3u: { return PI * stable_tanh(v); }
        default: { return v; }
    }
}

// d act / dz of π·tanh written through its output y = π·tanh(z): π − y²/π.
fn pi_tanh_deriv(y: f32) -> f32 {
    return PI - y * y / PI;
}
