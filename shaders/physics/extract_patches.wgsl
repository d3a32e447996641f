// Patch extraction at scan positions (PtychoPINN's get_image_patches):
//     patch[m, i, j] = obj(y_m − N/2 + i, x_m − N/2 + j)
// with bilinear interpolation for fractional positions and zero outside the object (the object
// is implicitly zero-padded). Real and imaginary parts are interpolated separately. One
// invocation per output element; consecutive invocations take consecutive j (contiguous writes).
#import shared/index

// Rust twin: crate::physics::ExtractParams
struct Params {
    n: u32,          // patch size N
    count: u32,      // patches in this dispatch
    obj_h: u32,
    obj_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> obj: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> pos: array<vec2<f32>>;   // (x, y) per patch
@group(0) @binding(3) var<storage, read_write> patches: array<vec2<f32>>;

override WG: u32 = 256u;

fn tap(r: i32, c: i32) -> vec2<f32> {
    if (r < 0 || c < 0 || r >= i32(params.obj_h) || c >= i32(params.obj_w)) {
        return vec2<f32>(0.0, 0.0);
    }
    return obj[u32(r) * params.obj_w + u32(c)];
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = linear_workgroup(wid, nwg) * WG + lid;
    let nn = params.n * params.n;
    if (e >= params.count * nn) {
        return;
    }
    let m = e / nn;
    let rem = e - m * nn;
    let i = rem / params.n;
    let j = rem - i * params.n;
    let p = pos[m];
    let half = f32(params.n / 2u);
    let y = p.y - half + f32(i);
    let x = p.x - half + f32(j);
    let y0 = floor(y);
    let x0 = floor(x);
    let fy = y - y0;
    let fx = x - x0;
    let r = i32(y0);
    let c = i32(x0);
    patches[e] = (1.0 - fy) * ((1.0 - fx) * tap(r, c) + fx * tap(r, c + 1))
        + fy * ((1.0 - fx) * tap(r + 1, c) + fx * tap(r + 1, c + 1));
}
