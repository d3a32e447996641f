// Complex object patch from the two heads, with the N/4 zero border fused in:
//   O[p, y, x] = A·cos φ + i·A·sin φ  with A = amp[p, y − off, x − off], φ = phase[…]
// inside the central h×h window (off = (n − h)/2) and 0 outside. Interleaved complex output.
#import shared/index

// Rust twin: crate::nn::ObjectParams
struct Params {
    planes: u32,   // B·C
    h: u32,        // head size (N/2)
    n: u32,        // patch size N
    act: u32,      // backward only: 1 applies the head activations' derivatives
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> amp: array<f32>;
@group(0) @binding(2) var<storage, read> phase: array<f32>;
@group(0) @binding(3) var<storage, read_write> obj: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    let nn = params.n * params.n;
    if (i >= params.planes * nn) {
        return;
    }
    let p = i / nn;
    let r = i - p * nn;
    let off = (params.n - params.h) / 2u;
    let y = i32(r / params.n) - i32(off);
    let x = i32(r % params.n) - i32(off);
    var o = vec2<f32>(0.0);
    if (y >= 0 && y < i32(params.h) && x >= 0 && x < i32(params.h)) {
        let j = (p * params.h + u32(y)) * params.h + u32(x);
        let a = amp[j];
        let f = phase[j];
        o = vec2<f32>(a * cos(f), a * sin(f));
    }
    obj[i] = o;
}
