// Zero-pad or centre-crop each NCHW plane by a signed offset:
//   out[p, y, x] = in[p, y − oy, x − ox] where that lies inside the input, else 0.
// Padding by n is (oy, ox) = (n, n) with a larger output; cropping by n is (−n, −n) with a
// smaller one. Each is the other's adjoint (and backward). One invocation per output value.
#import shared/index

// Rust twin: crate::nn::PadCropParams
struct Params {
    planes: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    oy: i32,
    ox: i32,
    _pad: u32,
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
    let i = linear_workgroup(wid, nwg) * WG + lid;
    let plane = params.out_h * params.out_w;
    if (i >= params.planes * plane) {
        return;
    }
    let p = i / plane;
    let r = i - p * plane;
    let y = i32(r / params.out_w) - params.oy;
    let xx = i32(r % params.out_w) - params.ox;
    var v = 0.0;
    if (y >= 0 && y < i32(params.in_h) && xx >= 0 && xx < i32(params.in_w)) {
        v = x[(p * params.in_h + u32(y)) * params.in_w + u32(xx)];
    }
    out[i] = v;
}
