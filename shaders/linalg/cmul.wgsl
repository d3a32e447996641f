// Elementwise complex multiply with broadcasting: out[f, j] = a[f, j] · b[f mod b_frames, j]
// (or · conj(b) when conj_b = 1). One invocation per output element; consecutive invocations
// touch consecutive elements, so every load and store is contiguous across a workgroup.
#import shared/complex
#import shared/index

// Rust twin: crate::linalg::CmulParams
struct Params {
    frame: u32,     // complex values per frame
    frames: u32,    // frames in `a` and `out` (this dispatch)
    b_frames: u32,  // frames in `b`: equal to `frames`, or 1 to broadcast b over the batch
    conj_b: u32,    // 1: multiply by conj(b) (the adjoint of multiplying by b)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>;

// Invocations per workgroup (per-adapter override).
override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.frame * params.frames) {
        return;
    }
    let f = i / params.frame;
    let j = i - f * params.frame;
    var bv = b[(f % params.b_frames) * params.frame + j];
    if (params.conj_b != 0u) {
        bv = cconj(bv);
    }
    out[i] = cmul(a[i], bv);
}
