// Adjoint of merge_patches.wgsl with respect to the patches (the weights depend only on the
// offsets, so the merge is linear in the patches). Gather form, deterministic:
//
// grad_patch[f, i, j] = Σ_{ky, kx ∈ {0,1}} w_y(ky) · w_x(kx) · (wgt · grad_canvas)[g,
//                        i − base_y − fl_y − ky, j − base_x − fl_x − kx],   g = f / C,
// with (fl, frac) = split(sign · offsets[f]) as in the forward kernel; canvas taps outside the
// M × M canvas count zero.
//
// Thread mapping: one invocation per patch pixel.
#import shared/bilinear
#import shared/index

// Rust twin: crate::physics::MergeParams
struct Params {
    n: u32,
    m: u32,
    groups: u32,
    members: u32,
    base_x: i32,
    base_y: i32,
    sign: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_canvas: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> wgt: array<f32>;
@group(0) @binding(3) var<storage, read> offsets: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> grad_patches: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let patch_len = params.n * params.n;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= patch_len * params.groups * params.members) {
        return;
    }
    let f = i / patch_len;
    let g = f / params.members;
    let p = i - f * patch_len;
    let r = i32(p / params.n);
    let c = i32(p % params.n);
    let sp = split_shift(params.sign * offsets[f]);
    let r0 = r - params.base_y - sp.fl.y;
    let c0 = c - params.base_x - sp.fl.x;
    let canvas_base = g * params.m * params.m;
    var acc = vec2<f32>(0.0);
    for (var ky = 0; ky < 2; ky++) {
        let wy = tap_weight(sp.fr.y, ky);
        for (var kx = 0; kx < 2; kx++) {
            let yy = r0 - ky;
            let xx = c0 - kx;
            if (inside(yy, xx, params.m, params.m)) {
                let k = canvas_base + u32(yy) * params.m + u32(xx);
                acc += wy * tap_weight(sp.fr.x, kx) * wgt[k] * grad_canvas[k];
            }
        }
    }
    grad_patches[i] = acc;
}
