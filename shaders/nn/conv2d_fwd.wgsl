// 3×3 'same' convolution, NCHW f32, bias and activation fused into the epilogue:
//   out[b, o, y, x] = act(bias[o] + Σ_i Σ_{ky,kx} w(o, i, ky, kx) · in[b, i, y + ky − 1, x + kx − 1])
// with zero padding outside the image. The same kernel computes the input gradient of a conv
// (a transposed conv) when `flip` = 1: weights are then read as w(o, i, k) = W[i][o][8 − k].
//
// Tiling (all tile sizes are override constants chosen per adapter by crate::nn::ConvTiling):
// a workgroup computes a TH×TW pixel tile of CO_T output channels of one image. For each chunk of
// CI_T input channels the workgroup stages the (TH+2)×(TW+2) input halo and the CO_T×CI_T×9
// weights in workgroup memory (one barrier), then every invocation accumulates a 4×4 pixel block
// of 4 output channels (16 vec4 accumulators: the 4 channels share one vec4 so each weight load
// feeds 4 channels) from a 6×6 input patch held in registers: 36 + 9 loads per 576 FMAs.
//
// Thread mapping: invocation t → pixel block pb = t mod PB (PB = TH/4 · TW/4, row-major inside
// the tile), channel group cg = t / PB (channels 4·cg … 4·cg + 3 of the tile).
// Workgroup mapping (linear index, see shared/index): x tile fastest, then y tile, then channel
// tile, then image.
#import shared/index

// Rust twin: crate::nn::ConvParams
struct Params {
    batch: u32,        // images in this dispatch
    cin: u32,          // input channels summed over
    cout: u32,         // output channels written
    height: u32,
    width: u32,
    in_cstride: u32,   // channels per image in `x` (≥ cin; the final conv reads the first cin)
    out_cstride: u32,  // channels per image in `out` (≥ cout)
    w_off: u32,        // offset of W[w_co][w_ci][3][3] in `weights`
    b_off: u32,        // offset of the bias in `weights`, or 0xffffffff for none
    w_co: u32,         // W's output-channel dimension
    w_ci: u32,         // W's input-channel dimension
    flip: u32,         // 1: transposed and flipped weights (input gradient)
    act: u32,          // 0 none, 1 ReLU, 2 sigmoid, 3 π·tanh, 4 multiply by (gate > 0)
    accumulate: u32,   // 1: add the previous content of `out` (before the gate)
    tiles_x: u32,
    tiles_y: u32,
    co_tiles: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override TH: u32 = 16u;    // tile height (multiple of 4)
override TW: u32 = 16u;    // tile width (multiple of 4)
override CO_T: u32 = 16u;  // output channels per workgroup (multiple of 4)
override CI_T: u32 = 8u;   // input channels staged per chunk

const PI: f32 = 3.14159265358979;

// Input halo of CI_T channels, row-major (TH+2)×(TW+2) per channel.
var<workgroup> xs: array<f32, CI_T * (TH + 2u) * (TW + 2u)>;
// Weights: entry (ci_l·9 + k)·(CO_T/4) + g holds channels 4g … 4g+3 of tap k, channel ci_l.
var<workgroup> ws: array<vec4<f32>, CI_T * 9u * (CO_T / 4u)>;

// tanh without the inf/inf of exp-based formulas at large |v|.
fn stable_tanh(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

fn weight(o: u32, i: u32, k: u32) -> f32 {
    if (params.flip == 0u) {
        if (o >= params.w_co || i >= params.w_ci) { return 0.0; }
        return weights[params.w_off + (o * params.w_ci + i) * 9u + k];
    }
    if (i >= params.w_co || o >= params.w_ci) { return 0.0; }
    return weights[params.w_off + (i * params.w_ci + o) * 9u + 8u - k];
}

@compute @workgroup_size((TH / 4u) * (TW / 4u) * (CO_T / 4u))
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let wg_threads = (TH / 4u) * (TW / 4u) * (CO_T / 4u);
    var g = linear_workgroup(wid, nwg);
    let tx = g % params.tiles_x;
    g = g / params.tiles_x;
    let ty = g % params.tiles_y;
    g = g / params.tiles_y;
    let ct = g % params.co_tiles;
    let b = g / params.co_tiles;
    // Uniform control flow: the whole workgroup leaves together.
    if (b >= params.batch) {
        return;
    }
    let H = params.height;
    let W = params.width;
    let x0 = tx * TW;
    let y0 = ty * TH;
    let HW2 = (TH + 2u) * (TW + 2u);
    let CQ = CO_T / 4u;

    let pbn = (TH / 4u) * (TW / 4u);
    let pb = t % pbn;
    let cg = t / pbn;
    let bx = (pb % (TW / 4u)) * 4u;
    let by = (pb / (TW / 4u)) * 4u;

    var acc: array<vec4<f32>, 16>;
    for (var j = 0u; j < 16u; j++) {
        acc[j] = vec4<f32>(0.0);
    }

    for (var ci0 = 0u; ci0 < params.cin; ci0 += CI_T) {
        // Stage the input halo: consecutive invocations take consecutive pixels of a row.
        for (var e = t; e < CI_T * HW2; e += wg_threads) {
            let cl = e / HW2;
            let r = e - cl * HW2;
            let yy = i32(y0 + r / (TW + 2u)) - 1;
            let xx = i32(x0 + r % (TW + 2u)) - 1;
            var v = 0.0;
            let ci = ci0 + cl;
            if (ci < params.cin && yy >= 0 && yy < i32(H) && xx >= 0 && xx < i32(W)) {
                v = x[((b * params.in_cstride + ci) * H + u32(yy)) * W + u32(xx)];
            }
            xs[e] = v;
        }
        // Stage the weights, four output channels per entry.
        for (var e = t; e < CI_T * 9u * CQ; e += wg_threads) {
            let q = e % CQ;
            let r = e / CQ;
            let k = r % 9u;
            let cl = r / 9u;
            let ci = ci0 + cl;
            let o = ct * CO_T + q * 4u;
            var w = vec4<f32>(0.0);
            if (ci < params.cin) {
                w = vec4<f32>(weight(o, ci, k), weight(o + 1u, ci, k), weight(o + 2u, ci, k), weight(o + 3u, ci, k));
            }
            ws[e] = w;
        }
        workgroupBarrier();
        let nci = min(CI_T, params.cin - ci0);
        for (var cl = 0u; cl < nci; cl++) {
            // 6×6 input patch of this invocation's 4×4 pixel block.
            var p: array<f32, 36>;
            let base = cl * HW2 + by * (TW + 2u) + bx;
            for (var r = 0u; r < 6u; r++) {
                for (var c = 0u; c < 6u; c++) {
                    p[r * 6u + c] = xs[base + r * (TW + 2u) + c];
                }
            }
            for (var k = 0u; k < 9u; k++) {
                let w = ws[(cl * 9u + k) * CQ + cg];
                let ky = k / 3u;
                let kx = k - ky * 3u;
                for (var py = 0u; py < 4u; py++) {
                    for (var px = 0u; px < 4u; px++) {
                        acc[py * 4u + px] = fma(vec4<f32>(p[(py + ky) * 6u + px + kx]), w, acc[py * 4u + px]);
                    }
                }
            }
        }
        // The next chunk overwrites xs/ws: wait until every invocation is done reading.
        workgroupBarrier();
    }

    // Epilogue: bias, accumulate, activation or gate, store.
    for (var q = 0u; q < 4u; q++) {
        let o = ct * CO_T + cg * 4u + q;
        if (o >= params.cout) {
            continue;
        }
        var bias = 0.0;
        if (params.b_off != 0xffffffffu) {
            bias = weights[params.b_off + o];
        }
        for (var j = 0u; j < 16u; j++) {
            let yy = y0 + by + j / 4u;
            let xx = x0 + bx + j % 4u;
            if (yy >= H || xx >= W) {
                continue;
            }
            let idx = ((b * params.out_cstride + o) * H + yy) * W + xx;
            var v = acc[j][q] + bias;
            if (params.accumulate != 0u) {
                v += out[idx];
            }
            switch params.act {
                case 1u: { v = max(v, 0.0); }
                case 2u: { v = 1.0 / (1.0 + exp(-v)); }
                case 3u: { v = PI * stable_tanh(v); }
                case 4u: { v = select(0.0, v, gate[idx] > 0.0); }
                default: {}
            }
            out[idx] = v;
        }
    }
}
