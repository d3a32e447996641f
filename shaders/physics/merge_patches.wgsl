// PtychoPINN's object_big merge, one canvas per group: the C patches of group g are zero-padded
// to M × M, translated by −relative_offset and summed; the sum is divided by the same merge of
// the central N/2 × N/2 mask plus 1e-3, and set to zero where that mask sum is ~0 (≤ 1e-6).
//
// canvas[g, y, x] = wgt[g, y, x] · Σ_c bilinear(patch[g·C + c], y + base_y + S_y, x + base_x + S_x)
// wgt[g, y, x]    = 1 / (Σ_c bilinear(mask, same position) + 1e-3), or 0 where that sum ≤ 1e-6
// S = sign · offsets[g·C + c]. The Rust side passes base = −(M − N)/2 and sign = +1, so a patch
// with relative offset r lands where translate(pad(patch), −r) puts it.
// The mask is analytic (1 inside rows and columns [N/4, 3N/4) of the patch), so it costs no loads.
// `wgt` depends only on the offsets; it is written for the adjoint (merge_patches_adjoint.wgsl).
//
// Thread mapping: one invocation per canvas pixel; members are summed in order c = 0..C−1.
#import shared/bilinear
#import shared/index

// Rust twin: crate::physics::MergeParams
struct Params {
    n: u32,         // patch side N
    m: u32,         // canvas side M
    groups: u32,    // canvases (groups) in this dispatch
    members: u32,   // patches per group C
    base_x: i32,    // integer shift from canvas to patch coordinates (columns)
    base_y: i32,    // (rows)
    sign: f32,      // multiplies the offsets
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> patches: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> offsets: array<vec2<f32>>;   // (x, y) per patch
@group(0) @binding(3) var<storage, read_write> canvas: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> wgt: array<f32>;

override WG: u32 = 256u;

const MASK_EPS: f32 = 1e-3;    // PtychoPINN's +0.001 in the normalisation
const MASK_ZERO: f32 = 1e-6;   // a mask sum at or below this is "no coverage"

fn in_mask(r: i32, c: i32, n: u32) -> bool {
    let lo = i32(n / 4u);
    let hi = i32(3u * n / 4u);
    return r >= lo && r < hi && c >= lo && c < hi;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let canvas_len = params.m * params.m;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= canvas_len * params.groups) {
        return;
    }
    let g = i / canvas_len;
    let p = i - g * canvas_len;
    let y = i32(p / params.m);
    let x = i32(p % params.m);
    let patch_len = params.n * params.n;
    var num = vec2<f32>(0.0);
    var msum = 0.0;
    for (var c = 0u; c < params.members; c++) {
        let f = g * params.members + c;
        let sp = split_shift(params.sign * offsets[f]);
        let r0 = y + params.base_y + sp.fl.y;
        let c0 = x + params.base_x + sp.fl.x;
        for (var ky = 0; ky < 2; ky++) {
            let wy = tap_weight(sp.fr.y, ky);
            for (var kx = 0; kx < 2; kx++) {
                let rr = r0 + ky;
                let cc = c0 + kx;
                if (inside(rr, cc, params.n, params.n)) {
                    let w = wy * tap_weight(sp.fr.x, kx);
                    num += w * patches[f * patch_len + u32(rr) * params.n + u32(cc)];
                    if (in_mask(rr, cc, params.n)) {
                        msum += w;
                    }
                }
            }
        }
    }
    let wv = select(0.0, 1.0 / (msum + MASK_EPS), msum > MASK_ZERO);
    canvas[i] = wv * num;
    wgt[i] = wv;
}
