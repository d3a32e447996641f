// Weight and bias gradients of a 3×3 'same' conv, deterministic (no atomics):
//   dW[o, i, ky, kx] = Σ_{b,y,x} dz[b, o, y, x] · in[b, i, y + ky − 1, x + kx − 1]
//   db[o]            = Σ_{b,y,x} dz[b, o, y, x]
// The reduction over (image, pixel) is split into `splits` contiguous ranges of spatial tiles;
// each workgroup writes one partial per (split, weight) to `part` (layout [split][P] with
// P = cout·cin·9 + cout, biases after the weights) and grad_reduce.wgsl sums the splits in order.
//
// A workgroup owns CO_T output × CI_T input channels of one split. Per TH×TW pixel tile it
// stages dz (vec4 of 4 output channels per pixel) and the input halo in workgroup memory, then
// invocation t = (cg, cl, pr) — channel group cg = t mod CO_T/4, input channel cl, row group pr —
// accumulates 9 taps × 4 channels (9 vec4) over tile rows pr, pr + PR, … in a fixed order. At the
// end the PR row groups are summed through workgroup memory in order pr = 0, 1, …
#import shared/index
#import shared/conv

@group(0) @binding(0) var<uniform> params: ConvWeightParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override TH: u32 = 8u;     // pixel tile height
override TW: u32 = 8u;     // pixel tile width (multiple of 4)
override CO_T: u32 = 16u;  // output channels per workgroup (multiple of 4)
override CI_T: u32 = 4u;   // input channels per workgroup
override PR: u32 = 1u;     // row groups (invocations sharing one (cg, cl))

var<workgroup> xs: array<f32, CI_T * (TH + 2u) * (TW + 2u)>;
var<workgroup> ds: array<vec4<f32>, TH * TW * (CO_T / 4u)>;
// Final cross-row-group sum: 10 vec4 (9 taps + bias) per invocation.
var<workgroup> red: array<vec4<f32>, (CO_T / 4u) * CI_T * PR * 10u>;

@compute @workgroup_size((CO_T / 4u) * CI_T * PR)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let wg_threads = (CO_T / 4u) * CI_T * PR;
    let CQ = CO_T / 4u;
    let tile = weight_tile(linear_workgroup(wid, nwg), params.co_tiles, params.ci_tiles);
    let ct = tile.x;
    let it = tile.y;
    let s = tile.z;
    if (s >= params.splits) {
        return;
    }
    let H = params.height;
    let W = params.width;
    let HW2 = (TH + 2u) * (TW + 2u);
    let cg = t % CQ;
    let cl = (t / CQ) % CI_T;
    let pr = t / (CQ * CI_T);

    // Accumulators a<k>: tap k = 3·ky + kx for output channels 4·cg … 4·cg + 3. Written out by
    // hand: lavapipe does not unroll loops over private arrays.
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var a8 = vec4<f32>(0.0);
    var bacc = vec4<f32>(0.0);

    let tiles_img = params.tiles_x * params.tiles_y;
    let total = params.batch * tiles_img;
    let t_begin = s * params.tiles_per_split;
    let t_end = min(total, t_begin + params.tiles_per_split);
    for (var tile = t_begin; tile < t_end; tile++) {
        let b = tile / tiles_img;
        let r0 = tile - b * tiles_img;
        let y0 = (r0 / params.tiles_x) * TH;
        let x0 = (r0 % params.tiles_x) * TW;
        // Stage the input halo of CI_T channels.
        for (var e = t; e < CI_T * HW2; e += wg_threads) {
            let c = e / HW2;
            let r = e - c * HW2;
            let yy = i32(y0 + r / (TW + 2u)) - 1;
            let xx = i32(x0 + r % (TW + 2u)) - 1;
            let ci = it * CI_T + c;
            var v = 0.0;
            if (ci < params.cin && yy >= 0 && yy < i32(H) && xx >= 0 && xx < i32(W)) {
                v = x[((b * params.in_cstride + ci) * H + u32(yy)) * W + u32(xx)];
            }
            xs[e] = v;
        }
        // Stage dz: entry p·CQ + q holds channels 4q … 4q+3 at tile pixel p (zero outside).
        for (var e = t; e < TH * TW * CQ; e += wg_threads) {
            let p = e / CQ;
            let q = e - p * CQ;
            let yy = y0 + p / TW;
            let xx = x0 + p % TW;
            var d = vec4<f32>(0.0);
            if (yy < H && xx < W) {
                for (var j = 0u; j < 4u; j++) {
                    let o = ct * CO_T + q * 4u + j;
                    if (o < params.cout) {
                        d[j] = dz[((b * params.dz_cstride + o) * H + yy) * W + xx];
                    }
                }
            }
            ds[e] = d;
        }
        workgroupBarrier();
        for (var py = pr; py < TH; py += PR) {
            for (var px0 = 0u; px0 < TW; px0 += 4u) {
                // 3×6 input patch for 4 neighbouring pixels of row py, as x<r><c>.
                let base = cl * HW2 + py * (TW + 2u) + px0;
                let rb0 = base + 0u * (TW + 2u);
                let x00 = xs[rb0 + 0u];
                let x01 = xs[rb0 + 1u];
                let x02 = xs[rb0 + 2u];
                let x03 = xs[rb0 + 3u];
                let x04 = xs[rb0 + 4u];
                let x05 = xs[rb0 + 5u];
                let rb1 = base + 1u * (TW + 2u);
                let x10 = xs[rb1 + 0u];
                let x11 = xs[rb1 + 1u];
                let x12 = xs[rb1 + 2u];
                let x13 = xs[rb1 + 3u];
                let x14 = xs[rb1 + 4u];
                let x15 = xs[rb1 + 5u];
                let rb2 = base + 2u * (TW + 2u);
                let x20 = xs[rb2 + 0u];
                let x21 = xs[rb2 + 1u];
                let x22 = xs[rb2 + 2u];
                let x23 = xs[rb2 + 3u];
                let x24 = xs[rb2 + 4u];
                let x25 = xs[rb2 + 5u];
                let db = (py * TW + px0) * CQ + cg;
                let d0 = ds[db + 0u * CQ];
                let d1 = ds[db + 1u * CQ];
                let d2 = ds[db + 2u * CQ];
                let d3 = ds[db + 3u * CQ];
                bacc += (d0 + d1) + (d2 + d3);
                // Pixel j of the strip sees input column j + kx.
                a0 = fma(vec4<f32>(x03), d3, fma(vec4<f32>(x02), d2, fma(vec4<f32>(x01), d1, fma(vec4<f32>(x00), d0, a0))));
                a1 = fma(vec4<f32>(x04), d3, fma(vec4<f32>(x03), d2, fma(vec4<f32>(x02), d1, fma(vec4<f32>(x01), d0, a1))));
                a2 = fma(vec4<f32>(x05), d3, fma(vec4<f32>(x04), d2, fma(vec4<f32>(x03), d1, fma(vec4<f32>(x02), d0, a2))));
                a3 = fma(vec4<f32>(x13), d3, fma(vec4<f32>(x12), d2, fma(vec4<f32>(x11), d1, fma(vec4<f32>(x10), d0, a3))));
                a4 = fma(vec4<f32>(x14), d3, fma(vec4<f32>(x13), d2, fma(vec4<f32>(x12), d1, fma(vec4<f32>(x11), d0, a4))));
                a5 = fma(vec4<f32>(x15), d3, fma(vec4<f32>(x14), d2, fma(vec4<f32>(x13), d1, fma(vec4<f32>(x12), d0, a5))));
                a6 = fma(vec4<f32>(x23), d3, fma(vec4<f32>(x22), d2, fma(vec4<f32>(x21), d1, fma(vec4<f32>(x20), d0, a6))));
                a7 = fma(vec4<f32>(x24), d3, fma(vec4<f32>(x23), d2, fma(vec4<f32>(x22), d1, fma(vec4<f32>(x21), d0, a7))));
                a8 = fma(vec4<f32>(x25), d3, fma(vec4<f32>(x24), d2, fma(vec4<f32>(x23), d1, fma(vec4<f32>(x22), d0, a8))));
            }
        }
        workgroupBarrier();
    }

    // Sum the row groups in order pr = 0, 1, … (deterministic).
    let slot = (t % (CQ * CI_T)) * PR + pr;
    red[slot * 10u + 0u] = a0;
    red[slot * 10u + 1u] = a1;
    red[slot * 10u + 2u] = a2;
    red[slot * 10u + 3u] = a3;
    red[slot * 10u + 4u] = a4;
    red[slot * 10u + 5u] = a5;
    red[slot * 10u + 6u] = a6;
    red[slot * 10u + 7u] = a7;
    red[slot * 10u + 8u] = a8;
    red[slot * 10u + 9u] = bacc;
    workgroupBarrier();
    if (pr != 0u) {
        return;
    }
    for (var q = 1u; q < PR; q++) {
        let o = (slot + q) * 10u;
        a0 += red[o + 0u];
        a1 += red[o + 1u];
        a2 += red[o + 2u];
        a3 += red[o + 3u];
        a4 += red[o + 4u];
        a5 += red[o + 5u];
        a6 += red[o + 6u];
        a7 += red[o + 7u];
        a8 += red[o + 8u];
        bacc += red[o + 9u];
    }
    let P = params.cout * params.cin * 9u + params.cout;
    let ci = it * CI_T + cl;
    let acc = array<vec4<f32>, 9>(a0, a1, a2, a3, a4, a5, a6, a7, a8);
    for (var j = 0u; j < 4u; j++) {
        let o = ct * CO_T + cg * 4u + j;
        if (o >= params.cout) {
            continue;
        }
        if (ci < params.cin) {
            for (var k = 0u; k < 9u; k++) {
                part[s * P + (o * params.cin + ci) * 9u + k] = acc[k][j];
            }
        }
        if (it == 0u && cl == 0u) {
            part[s * P + params.cout * params.cin * 9u + o] = bacc[j];
        }
    }
}
