// Elementwise activation: mode 1 ReLU max(x, 0), 2 sigmoid 1/(1 + e^−x), 3 π·tanh(x).
// (The convolutions fuse these into their epilogue; this kernel serves standalone use.)
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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

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
    y[i] = activate(params.mode, x[i]);
}
