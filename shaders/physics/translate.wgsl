// Sub-pixel translation with per-frame offsets, bilinear, zero fill, with an optional centred
// crop or pad between input and output sizes.
//
// out[f, r, c] = bilinear(src[f / group], row r + base_y + S_y, col c + base_x + S_x),
// S = sign · offsets[f] (x, y). With sign = −1, base = 0 and equal sizes this is PtychoPINN's
// translate(img, (dx, dy)): out[y, x] = in[y − dy, x − dx] (content moves by +offset). With
// base = (in − out)/2 it also centre-crops (re-extraction of a patch from a group canvas);
// `group` > 1 lets C consecutive output frames read the same input frame.
//
// Thread mapping: one invocation per output pixel, consecutive invocations along a row, so the
// four taps of neighbouring invocations are neighbouring input pixels.
#import shared/bilinear
#import shared/index

// Rust twin: crate::physics::TranslateParams
struct Params {
    in_h: u32,      // input frame rows
    in_w: u32,      // input frame columns
    out_h: u32,     // output frame rows
    out_w: u32,     // output frame columns
    frames: u32,    // output frames in this dispatch
    group: u32,     // consecutive output frames that read the same input frame
    base_x: i32,    // integer shift added on top of sign · offset (columns)
    base_y: i32,    // integer shift added on top of sign · offset (rows)
    sign: f32,      // multiplies the per-frame offsets
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> offsets: array<vec2<f32>>;   // (x, y) per output frame
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let frame_len = params.out_h * params.out_w;
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= frame_len * params.frames) {
        return;
    }
    let f = i / frame_len;
    let p = i - f * frame_len;
    let r = i32(p / params.out_w);
    let c = i32(p % params.out_w);
    let sp = split_shift(params.sign * offsets[f]);
    let r0 = r + params.base_y + sp.fl.y;
    let c0 = c + params.base_x + sp.fl.x;
    let base = (f / params.group) * params.in_h * params.in_w;
    var acc = vec2<f32>(0.0);
    for (var ky = 0; ky < 2; ky++) {
        let wy = tap_weight(sp.fr.y, ky);
        for (var kx = 0; kx < 2; kx++) {
            let rr = r0 + ky;
            let cc = c0 + kx;
            if (inside(rr, cc, params.in_h, params.in_w)) {
                acc += wy * tap_weight(sp.fr.x, kx) * src[base + u32(rr) * params.in_w + u32(cc)];
            }
        }
    }
    out[i] = acc;
}
