// Packs a 3×3 conv's weights for conv2d_fwd_subgroup.wgsl so that a lane loads the 9 taps of one
// (output channel, input channel) pair as two vec4s and a scalar instead of 9 scalars (on
// lavapipe a vec4 storage load costs ≈ 1.7 scalar ones: 3 loads of ≈ 4.4 scalar-load costs
// instead of 9). For a pass with `co_pad` output channels (a multiple of 16) and `cin` input
// channels, pair p = i·co_pad + o:
//   packed[8p … 8p + 7]          = taps 0 … 7 of w(o, i)
//   packed[8·cin·co_pad + p]     = tap 8 of w(o, i)
// with w(o, i, k) the pass's weight (shared/conv_weight: W[o][i][k] for the forward pass,
// W[i][o][8 − k] in flip mode, 0 outside W). One invocation per pair.
#import shared/index
#import shared/conv_weight

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
        packed[8u * p + k] = conv_weight(o, i, k);
    }
    packed[8u * pairs + p] = conv_weight(o, i, 8u);
}
