// 3×3 'same' convolution, NCHW f32, bias and activation fused into the epilogue:
//   out[b, o, y, x] = act(bias[o] + Σ_i Σ_{ky,kx} w(o, i, ky, kx) · in[b, i, y + ky − 1, x + kx − 1])
// with zero padding outside the image. The same kernel computes the input gradient of a conv
// (a transposed conv) when `flip` = 1: weights are then read as w(o, i, k) = W[i][o][8 − k].
//
// Tiling (all tile sizes are override constants chosen per adapter by crate::nn::ConvTiling):
// a workgroup computes a TH×TW pixel tile of CO_T output channels of one image. For each chunk of
// CI_T input channels the workgroup stages the (TH+2)×(TW+2) input halo and the CO_T×CI_T×9
// weights in workgroup memory (one barrier), then every invocation accumulates a 4×4 pixel block
// of 4 output channels (16 vec4 accumulators, one per (row, channel), over the row's 4 pixels)
// from a 6×6 input patch held in registers: 36 scalar + 9 vec4 loads per 576 FMAs.
//
// Thread mapping: invocation t → pixel block pb = t mod PB (PB = TH/4 · TW/4, row-major inside
// the tile), channel group cg = t / PB (channels 4·cg … 4·cg + 3 of the tile).
// Workgroup mapping (linear index, see shared/index): x tile fastest, then y tile, then channel
// tile, then image.
#import shared/index
#import shared/conv
#import shared/conv_weight
#import shared/math

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override TH: u32 = 16u;    // tile height (multiple of 4)
override TW: u32 = 16u;    // tile width (multiple of 4)
override CO_T: u32 = 16u;  // output channels per workgroup (multiple of 4)
override CI_T: u32 = 8u;   // input channels staged per chunk

// Input halo of CI_T channels, row-major (TH+2)×(TW+2) per channel.
var<workgroup> xs: array<f32, CI_T * (TH + 2u) * (TW + 2u)>;
// Weights: entry (ci_l·9 + k)·(CO_T/4) + g holds channels 4g … 4g+3 of tap k, channel ci_l.
var<workgroup> ws: array<vec4<f32>, CI_T * 9u * (CO_T / 4u)>;

// Stores one row of 4 pixels of output channel o (bias, accumulate, activation or gate).
fn store_row(b: u32, o: u32, yy: u32, x0: u32, v4: vec4<f32>) {
    let H = params.height;
    let W = params.width;
    if (o >= params.cout || yy >= H) {
        return;
    }
    var bias = 0.0;
    if (params.b_off != 0xffffffffu) {
        bias = weights[params.b_off + o];
    }
    for (var j = 0u; j < 4u; j++) {
        let xx = x0 + j;
        if (xx >= W) {
            continue;
        }
        let idx = ((b * params.out_cstride + o) * H + yy) * W + xx;
        var v = v4[j] + bias;
        if (params.accumulate != 0u) {
            v += out[idx];
        }
        v = conv_finish(params.act, v, gate[idx]);
        out[idx] = v;
    }
}

@compute @workgroup_size((TH / 4u) * (TW / 4u) * (CO_T / 4u))
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let wg_threads = (TH / 4u) * (TW / 4u) * (CO_T / 4u);
    let tile = conv_tile(linear_workgroup(wid, nwg), params.tiles_x, params.tiles_y, params.co_tiles);
    let tx = tile.x;
    let ty = tile.y;
    let ct = tile.z;
    let b = tile.w;
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

    // Accumulators a<py><q>: row py of the 4×4 block, output channel 4·cg + q, as a vec4 over
    // the 4 pixels of the row. Written out by hand (no arrays, no loops): lavapipe does not
    // unroll loops over private arrays and would spill every access to memory.
    var a00 = vec4<f32>(0.0);
    var a01 = vec4<f32>(0.0);
    var a02 = vec4<f32>(0.0);
    var a03 = vec4<f32>(0.0);
    var a10 = vec4<f32>(0.0);
    var a11 = vec4<f32>(0.0);
    var a12 = vec4<f32>(0.0);
    var a13 = vec4<f32>(0.0);
    var a20 = vec4<f32>(0.0);
    var a21 = vec4<f32>(0.0);
    var a22 = vec4<f32>(0.0);
    var a23 = vec4<f32>(0.0);
    var a30 = vec4<f32>(0.0);
    var a31 = vec4<f32>(0.0);
    var a32 = vec4<f32>(0.0);
    var a33 = vec4<f32>(0.0);

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
                w = vec4<f32>(conv_weight(o, ci, k), conv_weight(o + 1u, ci, k), conv_weight(o + 2u, ci, k), conv_weight(o + 3u, ci, k));
            }
            ws[e] = w;
        }
        workgroupBarrier();
        let nci = min(CI_T, params.cin - ci0);
        for (var cl = 0u; cl < nci; cl++) {
            // 6×6 input patch rows r → shifted vec4s s<r><kx> = patch[r][kx … kx+3].
            let base = cl * HW2 + by * (TW + 2u) + bx;
            let wb = cl * 9u * CQ + cg;
            let w0 = ws[wb + 0u * CQ];
            let w1 = ws[wb + 1u * CQ];
            let w2 = ws[wb + 2u * CQ];
            let w3 = ws[wb + 3u * CQ];
            let w4 = ws[wb + 4u * CQ];
            let w5 = ws[wb + 5u * CQ];
            let w6 = ws[wb + 6u * CQ];
            let w7 = ws[wb + 7u * CQ];
            let w8 = ws[wb + 8u * CQ];
            let r0 = base + 0u * (TW + 2u);
            let p0 = vec4<f32>(xs[r0], xs[r0 + 1u], xs[r0 + 2u], xs[r0 + 3u]);
            let q0 = vec2<f32>(xs[r0 + 4u], xs[r0 + 5u]);
            let s00 = p0;
            let s01 = vec4<f32>(p0.yzw, q0.x);
            let s02 = vec4<f32>(p0.zw, q0);
            let r1 = base + 1u * (TW + 2u);
            let p1 = vec4<f32>(xs[r1], xs[r1 + 1u], xs[r1 + 2u], xs[r1 + 3u]);
            let q1 = vec2<f32>(xs[r1 + 4u], xs[r1 + 5u]);
            let s10 = p1;
            let s11 = vec4<f32>(p1.yzw, q1.x);
            let s12 = vec4<f32>(p1.zw, q1);
            let r2 = base + 2u * (TW + 2u);
            let p2 = vec4<f32>(xs[r2], xs[r2 + 1u], xs[r2 + 2u], xs[r2 + 3u]);
            let q2 = vec2<f32>(xs[r2 + 4u], xs[r2 + 5u]);
            let s20 = p2;
            let s21 = vec4<f32>(p2.yzw, q2.x);
            let s22 = vec4<f32>(p2.zw, q2);
            let r3 = base + 3u * (TW + 2u);
            let p3 = vec4<f32>(xs[r3], xs[r3 + 1u], xs[r3 + 2u], xs[r3 + 3u]);
            let q3 = vec2<f32>(xs[r3 + 4u], xs[r3 + 5u]);
            let s30 = p3;
            let s31 = vec4<f32>(p3.yzw, q3.x);
            let s32 = vec4<f32>(p3.zw, q3);
            let r4 = base + 4u * (TW + 2u);
            let p4 = vec4<f32>(xs[r4], xs[r4 + 1u], xs[r4 + 2u], xs[r4 + 3u]);
            let q4 = vec2<f32>(xs[r4 + 4u], xs[r4 + 5u]);
            let s40 = p4;
            let s41 = vec4<f32>(p4.yzw, q4.x);
            let s42 = vec4<f32>(p4.zw, q4);
            let r5 = base + 5u * (TW + 2u);
            let p5 = vec4<f32>(xs[r5], xs[r5 + 1u], xs[r5 + 2u], xs[r5 + 3u]);
            let q5 = vec2<f32>(xs[r5 + 4u], xs[r5 + 5u]);
            let s50 = p5;
            let s51 = vec4<f32>(p5.yzw, q5.x);
            let s52 = vec4<f32>(p5.zw, q5);
            // Output row py takes input rows py + ky with weights of tap (ky, kx).
            a00 = fma(s02, vec4<f32>(w2.x), fma(s01, vec4<f32>(w1.x), fma(s00, vec4<f32>(w0.x), a00)));
            a01 = fma(s02, vec4<f32>(w2.y), fma(s01, vec4<f32>(w1.y), fma(s00, vec4<f32>(w0.y), a01)));
            a02 = fma(s02, vec4<f32>(w2.z), fma(s01, vec4<f32>(w1.z), fma(s00, vec4<f32>(w0.z), a02)));
            a03 = fma(s02, vec4<f32>(w2.w), fma(s01, vec4<f32>(w1.w), fma(s00, vec4<f32>(w0.w), a03)));
            a00 = fma(s12, vec4<f32>(w5.x), fma(s11, vec4<f32>(w4.x), fma(s10, vec4<f32>(w3.x), a00)));
            a01 = fma(s12, vec4<f32>(w5.y), fma(s11, vec4<f32>(w4.y), fma(s10, vec4<f32>(w3.y), a01)));
            a02 = fma(s12, vec4<f32>(w5.z), fma(s11, vec4<f32>(w4.z), fma(s10, vec4<f32>(w3.z), a02)));
            a03 = fma(s12, vec4<f32>(w5.w), fma(s11, vec4<f32>(w4.w), fma(s10, vec4<f32>(w3.w), a03)));
            a00 = fma(s22, vec4<f32>(w8.x), fma(s21, vec4<f32>(w7.x), fma(s20, vec4<f32>(w6.x), a00)));
            a01 = fma(s22, vec4<f32>(w8.y), fma(s21, vec4<f32>(w7.y), fma(s20, vec4<f32>(w6.y), a01)));
            a02 = fma(s22, vec4<f32>(w8.z), fma(s21, vec4<f32>(w7.z), fma(s20, vec4<f32>(w6.z), a02)));
            a03 = fma(s22, vec4<f32>(w8.w), fma(s21, vec4<f32>(w7.w), fma(s20, vec4<f32>(w6.w), a03)));
            a10 = fma(s12, vec4<f32>(w2.x), fma(s11, vec4<f32>(w1.x), fma(s10, vec4<f32>(w0.x), a10)));
            a11 = fma(s12, vec4<f32>(w2.y), fma(s11, vec4<f32>(w1.y), fma(s10, vec4<f32>(w0.y), a11)));
            a12 = fma(s12, vec4<f32>(w2.z), fma(s11, vec4<f32>(w1.z), fma(s10, vec4<f32>(w0.z), a12)));
            a13 = fma(s12, vec4<f32>(w2.w), fma(s11, vec4<f32>(w1.w), fma(s10, vec4<f32>(w0.w), a13)));
            a10 = fma(s22, vec4<f32>(w5.x), fma(s21, vec4<f32>(w4.x), fma(s20, vec4<f32>(w3.x), a10)));
            a11 = fma(s22, vec4<f32>(w5.y), fma(s21, vec4<f32>(w4.y), fma(s20, vec4<f32>(w3.y), a11)));
            a12 = fma(s22, vec4<f32>(w5.z), fma(s21, vec4<f32>(w4.z), fma(s20, vec4<f32>(w3.z), a12)));
            a13 = fma(s22, vec4<f32>(w5.w), fma(s21, vec4<f32>(w4.w), fma(s20, vec4<f32>(w3.w), a13)));
            a10 = fma(s32, vec4<f32>(w8.x), fma(s31, vec4<f32>(w7.x), fma(s30, vec4<f32>(w6.x), a10)));
            a11 = fma(s32, vec4<f32>(w8.y), fma(s31, vec4<f32>(w7.y), fma(s30, vec4<f32>(w6.y), a11)));
            a12 = fma(s32, vec4<f32>(w8.z), fma(s31, vec4<f32>(w7.z), fma(s30, vec4<f32>(w6.z), a12)));
            a13 = fma(s32, vec4<f32>(w8.w), fma(s31, vec4<f32>(w7.w), fma(s30, vec4<f32>(w6.w), a13)));
            a20 = fma(s22, vec4<f32>(w2.x), fma(s21, vec4<f32>(w1.x), fma(s20, vec4<f32>(w0.x), a20)));
            a21 = fma(s22, vec4<f32>(w2.y), fma(s21, vec4<f32>(w1.y), fma(s20, vec4<f32>(w0.y), a21)));
            a22 = fma(s22, vec4<f32>(w2.z), fma(s21, vec4<f32>(w1.z), fma(s20, vec4<f32>(w0.z), a22)));
            a23 = fma(s22, vec4<f32>(w2.w), fma(s21, vec4<f32>(w1.w), fma(s20, vec4<f32>(w0.w), a23)));
            a20 = fma(s32, vec4<f32>(w5.x), fma(s31, vec4<f32>(w4.x), fma(s30, vec4<f32>(w3.x), a20)));
            a21 = fma(s32, vec4<f32>(w5.y), fma(s31, vec4<f32>(w4.y), fma(s30, vec4<f32>(w3.y), a21)));
            a22 = fma(s32, vec4<f32>(w5.z), fma(s31, vec4<f32>(w4.z), fma(s30, vec4<f32>(w3.z), a22)));
            a23 = fma(s32, vec4<f32>(w5.w), fma(s31, vec4<f32>(w4.w), fma(s30, vec4<f32>(w3.w), a23)));
            a20 = fma(s42, vec4<f32>(w8.x), fma(s41, vec4<f32>(w7.x), fma(s40, vec4<f32>(w6.x), a20)));
            a21 = fma(s42, vec4<f32>(w8.y), fma(s41, vec4<f32>(w7.y), fma(s40, vec4<f32>(w6.y), a21)));
            a22 = fma(s42, vec4<f32>(w8.z), fma(s41, vec4<f32>(w7.z), fma(s40, vec4<f32>(w6.z), a22)));
            a23 = fma(s42, vec4<f32>(w8.w), fma(s41, vec4<f32>(w7.w), fma(s40, vec4<f32>(w6.w), a23)));
            a30 = fma(s32, vec4<f32>(w2.x), fma(s31, vec4<f32>(w1.x), fma(s30, vec4<f32>(w0.x), a30)));
            a31 = fma(s32, vec4<f32>(w2.y), fma(s31, vec4<f32>(w1.y), fma(s30, vec4<f32>(w0.y), a31)));
            a32 = fma(s32, vec4<f32>(w2.z), fma(s31, vec4<f32>(w1.z), fma(s30, vec4<f32>(w0.z), a32)));
            a33 = fma(s32, vec4<f32>(w2.w), fma(s31, vec4<f32>(w1.w), fma(s30, vec4<f32>(w0.w), a33)));
            a30 = fma(s42, vec4<f32>(w5.x), fma(s41, vec4<f32>(w4.x), fma(s40, vec4<f32>(w3.x), a30)));
            a31 = fma(s42, vec4<f32>(w5.y), fma(s41, vec4<f32>(w4.y), fma(s40, vec4<f32>(w3.y), a31)));
            a32 = fma(s42, vec4<f32>(w5.z), fma(s41, vec4<f32>(w4.z), fma(s40, vec4<f32>(w3.z), a32)));
            a33 = fma(s42, vec4<f32>(w5.w), fma(s41, vec4<f32>(w4.w), fma(s40, vec4<f32>(w3.w), a33)));
            a30 = fma(s52, vec4<f32>(w8.x), fma(s51, vec4<f32>(w7.x), fma(s50, vec4<f32>(w6.x), a30)));
            a31 = fma(s52, vec4<f32>(w8.y), fma(s51, vec4<f32>(w7.y), fma(s50, vec4<f32>(w6.y), a31)));
            a32 = fma(s52, vec4<f32>(w8.z), fma(s51, vec4<f32>(w7.z), fma(s50, vec4<f32>(w6.z), a32)));
            a33 = fma(s52, vec4<f32>(w8.w), fma(s51, vec4<f32>(w7.w), fma(s50, vec4<f32>(w6.w), a33)));
        }
        // The next chunk overwrites xs/ws: wait until every invocation is done reading.
        workgroupBarrier();
    }

    // Epilogue: bias, accumulate, activation or gate, store.
    store_row(b, ct * CO_T + cg * 4u + 0u, y0 + by + 0u, x0 + bx, a00);
    store_row(b, ct * CO_T + cg * 4u + 0u, y0 + by + 1u, x0 + bx, a10);
    store_row(b, ct * CO_T + cg * 4u + 0u, y0 + by + 2u, x0 + bx, a20);
    store_row(b, ct * CO_T + cg * 4u + 0u, y0 + by + 3u, x0 + bx, a30);
    store_row(b, ct * CO_T + cg * 4u + 1u, y0 + by + 0u, x0 + bx, a01);
    store_row(b, ct * CO_T + cg * 4u + 1u, y0 + by + 1u, x0 + bx, a11);
    store_row(b, ct * CO_T + cg * 4u + 1u, y0 + by + 2u, x0 + bx, a21);
    store_row(b, ct * CO_T + cg * 4u + 1u, y0 + by + 3u, x0 + bx, a31);
    store_row(b, ct * CO_T + cg * 4u + 2u, y0 + by + 0u, x0 + bx, a02);
    store_row(b, ct * CO_T + cg * 4u + 2u, y0 + by + 1u, x0 + bx, a12);
    store_row(b, ct * CO_T + cg * 4u + 2u, y0 + by + 2u, x0 + bx, a22);
    store_row(b, ct * CO_T + cg * 4u + 2u, y0 + by + 3u, x0 + bx, a32);
    store_row(b, ct * CO_T + cg * 4u + 3u, y0 + by + 0u, x0 + bx, a03);
    store_row(b, ct * CO_T + cg * 4u + 3u, y0 + by + 1u, x0 + bx, a13);
    store_row(b, ct * CO_T + cg * 4u + 3u, y0 + by + 2u, x0 + bx, a23);
    store_row(b, ct * CO_T + cg * 4u + 3u, y0 + by + 3u, x0 + bx, a33);
}
