// Backward of 2×2 max pooling: the gradient of each pooled value goes to the first maximum of
// its window in the order (0,0), (0,1), (1,0), (1,1); the other three inputs get zero. With
// `gate` = 1 the routed value is also multiplied by (max > 0), which fuses the ReLU' of the conv
// that produced the pool input. One invocation per pooled value writes its whole 2×2 window, so
// every input gradient is written exactly once.
#import shared/index

// Rust twin: crate::nn::PoolParams
struct Params {
    planes: u32,
    height: u32,    // input height
    width: u32,     // input width
    gate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

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
    let idx = array<u32, 4>(base, base + 1u, base + params.width, base + params.width + 1u);
    var best = 0u;
    var m = x[idx[0]];
    for (var k = 1u; k < 4u; k++) {
        let v = x[idx[k]];
        if (v > m) {
            m = v;
            best = k;
        }
    }
    var gval = dy[i];
    if (params.gate != 0u && !(m > 0.0)) {
        gval = 0.0;
    }
    for (var k = 0u; k < 4u; k++) {
        dx[idx[k]] = select(0.0, gval, k == best);
    }
}
