// 2× nearest-neighbour upsampling, NCHW: out[p, y, x] = in[p, y / 2, x / 2].
// One invocation per output value (consecutive invocations write consecutive values).
#import shared/index

// Rust twin: crate::nn::UpsampleParams
struct Params {
    planes: u32,
    height: u32,    // input height (output is 2·height)
    width: u32,     // input width
    gate: u32,      // backward only: 1 multiplies by (in > 0) (fused ReLU' of the producer)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let h2 = params.height * 2u;
    let w2 = params.width * 2u;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.planes * h2 * w2) {
        return;
    }
    let p = i / (h2 * w2);
    let r = i - p * h2 * w2;
    let y = r / w2;
    let xx = r - y * w2;
    out[i] = x[(p * params.height + y / 2u) * params.width + xx / 2u];
}
