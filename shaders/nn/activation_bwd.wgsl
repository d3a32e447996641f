// Backward of the activations, from the saved *output* y = act(z):
//   ReLU: dz = dy·[y > 0];  sigmoid: dz = dy·y·(1 − y);  π·tanh: dz = dy·(π − y²/π).
// (π·tanh(z)' = π(1 − tanh²z) = π − y²/π.)
#import shared/index
#import shared/math

// Rust twin: crate::nn::ActParams
struct Params {
    len: u32,
    mode: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.len) {
        return;
    }
    let v = y[i];
    let g = dy[i];
    var r = g;
    switch params.mode {
        case 1u: { r = select(0.0, g, v > 0.0); }
        case 2u: { r = g * v * (1.0 - v); }
        case 3u: { r = g * pi_tanh_deriv(v); }
        default: {}
    }
    dz[i] = r;
}
