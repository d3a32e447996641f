// Packs a 3×3 conv's weights for conv2d_fwd_subgroup.wgsl so that a lane loads the 9 taps of one
// (output channel, input channel) pair as two vec4s and a scalar instead of 9 scalars (on
// lavapipe a vec4 storage load costs ≈ 1.7 scalar ones: 3 loads of ≈ 4.4 scalar-load costs
// instead of 9). For a pass with `co_pad` output channels (a
// multiple of 16) and `cin` input channels, pair p = i·co_pad + o:
//   packed[8p … 8p + 7]          = taps 0 … 7 of w(o, i)
//   packed[8·cin·co_pad + p]     = tap 8 of w(o, i)
// with w(o, i, k) = W[o][i][k] for the forward pass and W[i][o][8 − k] in flip mode (the input
// gradient: transposed, flipped weights), and 0 wherever (o, i) lies outside W. W is
// W[w_co][w_ci][3][3] at w_off in `weights`. One invocation per pair.
#import shared/index

// Rust twin: crate::nn::ConvPackParams
struct Params {
    w_off: u32,
    w_co: u32,    // W's output-channel dimension
    w_ci: u32,    // W's input-channel dimension
    flip: u32,    // 1: pack the input gradient's weights
    co_pad: u32,  // the pass's output channels rounded up to 16
    cin: u32,     // the pass's input channels
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<f32>;

override WG: u32 = 256u;

// Tap k of the pass's weight w(o, i) (0 outside W).
fn tap(o: u32, i: u32, k: u32) -> f32 {
    if (params.flip == 0u) {
        if (o < params.w_co && i < params.w_ci) {
            return weights[params.w_off + (o * params.w_ci + i) * 9u + k];
        }
        return 0.0;
    }
    if (o < params.w_ci && i < params.w_co) {
        return weights[params.w_off + (i * params.w_ci + o) * 9u + 8u - k];
    }
    return 0.0;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let p = linear_workgroup(wid, nwg) * WG + lid;
    let pairs = params.cin * params.co_pad;
    if (p >= pairs) {
        return;
    }
    let i = p / params.co_pad;
    let o = p - i * params.co_pad;
    for (var k = 0u; k < 8u; k++) {
        packed[8u * p + k] = tap(o, i, k);
    }
    packed[8u * pairs + p] = tap(o, i, 8u);
}
