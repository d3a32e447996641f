// Backward of object_patch. The incoming gradient g = ∂L/∂Re O + i·∂L/∂Im O (conjugate
// Wirtinger convention for a real loss). With O = A·e^{iφ}:
//   ∂L/∂A = g_re·cos φ + g_im·sin φ = Re(g·e^{−iφ})
//   ∂L/∂φ = A·(g_im·cos φ − g_re·sin φ) = A·Im(g·e^{−iφ})
// Only the central h×h window depends on the heads (the border is the constant zero pad), so
// the crop is fused in. With act = 1 the head activations' derivatives are applied as well
// (sigmoid: A(1 − A); π·tanh: π − φ²/π), giving the gradients w.r.t. the final convs' outputs.
// One invocation per central pixel.
#import shared/index
#import shared/math

// Rust twin: crate::nn::ObjectParams
struct Params {
    planes: u32,
    h: u32,
    n: u32,
    act: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> amp: array<f32>;
@group(0) @binding(2) var<storage, read> phase: array<f32>;
@group(0) @binding(3) var<storage, read> dobj: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> damp: array<f32>;
@group(0) @binding(5) var<storage, read_write> dphase: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    let hh = params.h * params.h;
    if (i >= params.planes * hh) {
        return;
    }
    let p = i / hh;
    let r = i - p * hh;
    let off = (params.n - params.h) / 2u;
    let y = r / params.h + off;
    let x = r % params.h + off;
    let g = dobj[(p * params.n + y) * params.n + x];
    let a = amp[i];
    let f = phase[i];
    let c = cos(f);
    let s = sin(f);
    var da = g.x * c + g.y * s;
    var df = a * (g.y * c - g.x * s);
    if (params.act != 0u) {
        da = da * a * (1.0 - a);
        df = df * pi_tanh_deriv(f);
    }
    damp[i] = da;
    dphase[i] = df;
}
