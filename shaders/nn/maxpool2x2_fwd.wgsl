// 2×2 max pooling, stride 2, NCHW: out[p, y, x] = max of in[p, 2y + dy, 2x + dx], dy, dx ∈ {0, 1}
// (p = b·C + c runs over planes; the input height and width are even). One invocation per output.
#import shared/index

// Rust twin: crate::nn::PoolParams
struct Params {
    planes: u32,
    height: u32,    // input height (output height / 2)
    width: u32,     // input width
    gate: u32,      // backward only: 1 multiplies the routed gradient by (in > 0) (fused ReLU')
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
    let ho = params.height / 2u;
    let wo = params.width / 2u;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.planes * ho * wo) {
        return;
    }
    let p = i / (ho * wo);
    let r = i - p * ho * wo;
    let y = r / wo;
    let xx = r - y * wo;
    let base = (p * params.height + 2u * y) * params.width + 2u * xx;
    let a = x[base];
    let b = x[base + 1u];
    let c = x[base + params.width];
    let d = x[base + params.width + 1u];
    out[i] = max(max(a, b), max(c, d));
}
