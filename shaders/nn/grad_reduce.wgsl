// Sums the per-split partial gradients of conv2d_bwd_weight in a fixed order (split 0, 1, …):
//   grads[off + i] = (accumulate ? grads[off + i] : 0) + Σ_s part[s·len + i],  i < len.
// One invocation per gradient value; consecutive invocations read consecutive partials.
#import shared/index

// Rust twin: crate::nn::GradReduceParams
struct Params {
    len: u32,         // values per split (cout·cin·9 + cout)
    splits: u32,
    off: u32,         // where the layer's gradient starts in `grads`
    accumulate: u32,  // 1: add to the existing gradient
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

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
    var s = 0.0;
    if (params.accumulate != 0u) {
        s = grads[params.off + i];
    }
    for (var k = 0u; k < params.splits; k++) {
        s += part[k * params.len + i];
    }
    grads[params.off + i] = s;
}
