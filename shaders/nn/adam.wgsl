// One Adam step over a flat parameter buffer, in TensorFlow/Keras form (ε outside the bias
// correction, which is folded into the step size):
//   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  θ ← θ − α·m / (√v + ε),
//   α = lr·√(1 − β2^t) / (1 − β1^t)  (computed on the host in f64 for step t ≥ 1).
// One invocation per parameter; no reductions.
#import shared/index

// Rust twin: crate::nn::AdamParams
struct Params {
    len: u32,
    alpha: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> theta: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

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
    let g = grad[i];
    let mi = params.beta1 * m[i] + (1.0 - params.beta1) * g;
    let vi = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    theta[i] = theta[i] - params.alpha * mi / (sqrt(vi) + params.eps);
}
