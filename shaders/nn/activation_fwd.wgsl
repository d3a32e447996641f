// Elementwise activation: mode 1 ReLU max(x, 0), 2 sigmoid 1/(1 + e^−x), 3 π·tanh(x).
// (The convolutions fuse these into their epilogue; this kernel serves standalone use.)
#import shared/index

// Rust twin: crate::nn::ActParams
struct Params {
    len: u32,
    mode: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256u;
const PI: f32 = 3.14159265358979;

fn stable_tanh(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

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
    let v = x[i];
    var r = v;
    switch params.mode {
        case 1u: { r = max(v, 0.0); }
        case 2u: { r = 1.0 / (1.0 + exp(-v)); }
        case 3u: { r = PI * stable_tanh(v); }
        default: {}
    }
    y[i] = r;
}
