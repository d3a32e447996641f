// Adjoint (exact transpose) of translate.wgsl, written as a gather so that it is deterministic
// (no atomics, fixed summation order).
//
// grad_in[g, y, x] = Σ_{f = g·group .. g·group + group − 1} Σ_{ky, kx ∈ {0,1}}
//     w_y(ky) · w_x(kx) · grad_out[f, y − base_y − fl_y − ky, x − base_x − fl_x − kx]
// with (fl, frac) = split(sign · offsets[f]) exactly as in the forward kernel; taps outside the
// output frame count zero. Summation order: frames ascending, then ky, then kx.
//
// Thread mapping: one invocation per input-gradient pixel.
#import shared/bilinear
#import shared/index

// Rust twin: crate::physics::TranslateParams
struct Params {
    in_h: u32,      // input frame rows (this kernel writes input-shaped frames)
    in_w: u32,
    out_h: u32,     // output frame rows of the forward translation (read here)
    out_w: u32,
    frames: u32,    // forward output frames (= input frames · group)
    group: u32,
    base_x: i32,
    base_y: i32,
    sign: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> offsets: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let frame_len = params.in_h * params.in_w;
    let in_frames = params.frames / params.group;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= frame_len * in_frames) {
        return;
    }
    let g = i / frame_len;
    let p = i - g * frame_len;
    let y = i32(p / params.in_w);
    let x = i32(p % params.in_w);
    let out_len = params.out_h * params.out_w;
    var acc = vec2<f32>(0.0);
    for (var m = 0u; m < params.group; m++) {
        let f = g * params.group + m;
        let sp = split_shift(params.sign * offsets[f]);
        let r0 = y - params.base_y - sp.fl.y;
        let c0 = x - params.base_x - sp.fl.x;
        for (var ky = 0; ky < 2; ky++) {
            let wy = tap_weight(sp.fr.y, ky);
            for (var kx = 0; kx < 2; kx++) {
                let rr = r0 - ky;
                let cc = c0 - kx;
                if (inside(rr, cc, params.out_h, params.out_w)) {
                    acc += wy * tap_weight(sp.fr.x, kx)
                        * grad_out[f * out_len + u32(rr) * params.out_w + u32(cc)];
                }
            }
        }
    }
    grad_in[i] = acc;
}
