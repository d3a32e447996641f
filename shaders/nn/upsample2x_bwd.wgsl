// Backward of 2× nearest upsampling: dx[p, y, x] = Σ_{dy,dx ∈ {0,1}} dout[p, 2y + dy, 2x + dx],
// summed in that fixed order; with `gate` = 1 multiplied by (x > 0) (fused ReLU' of the conv
// that produced the upsample input). One invocation per input value.
#import shared/index

// Rust twin: crate::nn::UpsampleParams
struct Params {
    planes: u32,
    height: u32,    // input height
    width: u32,     // input width
    gate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.planes * params.height * params.width) {
        return;
    }
    let p = i / (params.height * params.width);
    let r = i - p * params.height * params.width;
    let y = r / params.width;
    let xx = r - y * params.width;
    let w2 = params.width * 2u;
    let base = (p * params.height * 2u + 2u * y) * w2 + 2u * xx;
    var s = dout[base] + dout[base + 1u];
    s += dout[base + w2];
    s += dout[base + w2 + 1u];
    if (params.gate != 0u && !(x[i] > 0.0)) {
        s = 0.0;
    }
    dx[i] = s;
}
