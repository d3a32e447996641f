// Squared error and its gradient, elementwise (the reduction to a loss is reduce_sum's job):
//   sq[i] = (a[i] − t[i])²,  grad[i] = scale·2·(a[i] − t[i])   (scale = 1/len for a mean).
#import shared/index

// Rust twin: crate::nn::MseParams
struct Params {
    len: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read_write> sq: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

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
    let d = a[i] - tgt[i];
    sq[i] = d * d;
    grad[i] = params.scale * 2.0 * d;
}
