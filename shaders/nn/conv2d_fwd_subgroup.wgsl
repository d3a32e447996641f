// 3×3 'same' convolution, NCHW f32, subgroup-broadcast layout; the same operation, params,
// bindings and modes as conv2d_fwd.wgsl:
//   out[b, o, y, x] = act(bias[o] + Σ_i Σ_{ky,kx} w(o, i, ky, kx) · in[b, i, y + ky − 1, x + kx − 1])
// with zero padding; `flip` = 1 reads w(o, i, k) = W[i][o][8 − k] (the input gradient),
// `accumulate` adds the previous output, act 4 multiplies by [gate > 0].
//
// Layout (performance-notes.md, "best measured" on lavapipe): a workgroup is exactly one
// subgroup of SG = 8 lanes and computes an 8×8 pixel tile of 16 output channels of one image.
// Lane l owns output channels co0 + l ("channel a") and co0 + l + 8 ("channel b") over the whole
// tile: 2 × 64 accumulators, kept as one vec4 per half row (struct Acc per tile row).
// Per input channel:
//   1. the lanes load the 10×10 input halo together, 13 loads per lane, or 6 (3 of them vec4)
//      where the width is a multiple of 4 (shared/halo8, VEC_HALO);
//   2. each lane loads its own 18 weights (9 taps of channel a and of channel b) from a packed
//      copy (conv_pack_subgroup.wgsl, already transposed and flipped in flip mode): per channel
//      two vec4 loads and one scalar, 6 loads instead of 18;
//   3. each halo row is spread to every lane with subgroupBroadcast (on lavapipe the subgroup is
//      one SIMD vector and a broadcast is a register shuffle) and each lane does
//      2 × 64 × 9 = 1152 FMAs: 1152 FMAs per 19 loads (12 with VEC_HALO).
// No workgroup memory and no barriers: on lavapipe a workgroup-memory load costs as much as a
// storage load, which is why the halo travels by broadcast.
// Epilogue: each lane writes its 2 × 64 outputs as rows of 4 pixels, one vec4 store (and vec4
// accumulate/gate loads) per row half where the width is a multiple of 4, scalars otherwise.
//
// Everything is written out by hand (structs of vec4, functions with literal lane numbers, no
// private arrays): lavapipe keeps dynamically indexed private arrays in memory.
// The 8-lane assumption is fixed by the unrolled broadcasts (shared/halo8.wgsl); Rust selects
// this kernel only where the adapter's subgroup size is exactly SG (crate::nn::ConvLayout), and
// a lane that finds another subgroup size writes NaN rather than a wrong number.
//
// Workgroup mapping (linear index, see shared/index): x tile fastest, then y tile, then
// 16-channel tile, then image.
#import shared/index
#import shared/conv
#import shared/math
#import shared/halo8

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
// `gate` and `out` as vec4 so that 4 pixels of a row load/store at once where the width is a
// multiple of 4 (their bindings are padded to whole vec4s, so scalar accesses reach every value).
@group(0) @binding(3) var<storage, read> gate: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
// The packed weights of this pass (conv_pack_subgroup.wgsl), bound twice: taps 0 … 7 of pair
// p = i·co_pad + o as wv[2p], wv[2p + 1], and tap 8 as wk[p] (the binding starts at tap 8's
// region).
@group(0) @binding(5) var<storage, read> wv: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> wk: array<f32>;

// Lanes per workgroup = the subgroup size the broadcasts are written for. Must be 8.
override SG: u32 = 8u;

// Set when the subgroup is not SG lanes wide: the broadcasts would read the wrong lanes, so
// every output of the workgroup is written as NaN instead.
var<private> poison: bool;

// The input again as vec4s (the same buffer, binding padded to whole vec4s), for shared/halo8's
// VEC_HALO loads.
@group(0) @binding(7) var<storage, read> x4: array<vec4<f32>>;

// shared/halo8 reads the input through these.
fn conv_input(i: u32) -> f32 {
    return x[i];
}

fn conv_input4(q: u32) -> vec4<f32> {
    return x4[q];
}

// Accumulators of one tile row: channel a pixels 0…3 and 4…7, channel b pixels 0…3 and 4…7.
struct Acc {
    a0: vec4<f32>,
    a1: vec4<f32>,
    b0: vec4<f32>,
    b1: vec4<f32>,
}

// Adds one halo row (windows `w`) times one row of taps (kx = 0, 1, 2 in x, y, z) of channel a
// (`wa`) and channel b (`wb`) to a tile row's accumulators.
fn fma_row(acc: Acc, w: Win, wa: vec3<f32>, wb: vec3<f32>) -> Acc {
    return Acc(
        fma(w.s2, vec4<f32>(wa.z), fma(w.s1, vec4<f32>(wa.y), fma(w.s0, vec4<f32>(wa.x), acc.a0))),
        fma(w.s5, vec4<f32>(wa.z), fma(w.s4, vec4<f32>(wa.y), fma(w.s3, vec4<f32>(wa.x), acc.a1))),
        fma(w.s2, vec4<f32>(wb.z), fma(w.s1, vec4<f32>(wb.y), fma(w.s0, vec4<f32>(wb.x), acc.b0))),
        fma(w.s5, vec4<f32>(wb.z), fma(w.s4, vec4<f32>(wb.y), fma(w.s3, vec4<f32>(wb.x), acc.b1))),
    );
}

// Tap rows ky = 0, 1, 2 (kx in x, y, z) of packed pair p.
struct Taps {
    t0: vec3<f32>,
    t1: vec3<f32>,
    t2: vec3<f32>,
}

fn taps(p: u32) -> Taps {
    let lo = wv[2u * p];
    let hi = wv[2u * p + 1u];
    let k8 = wk[p];
    return Taps(lo.xyz, vec3<f32>(lo.w, hi.xy), vec3<f32>(hi.zw, k8));
}

// Activation or gate of one output value (after bias and accumulate); NaN when poisoned.
fn finish(v0: f32, g: f32) -> f32 {
    var v = v0;
    v = conv_finish(params.act, v, g);
    if (poison) {
        v = bitcast<f32>(0x7fc00000u | params.act);
    }
    return v;
}

// Epilogue for 4 pixels (xx0 … xx0 + 3) of row yy of output channel o: bias, accumulate,
// activation or gate, store; pixels outside the image and channels ≥ cout are skipped.
fn store4(b: u32, o: u32, yy: u32, xx0: u32, v4: vec4<f32>, bias: f32) {
    let H = params.height;
    let W = params.width;
    if (o >= params.cout || yy >= H || xx0 >= W) {
        return;
    }
    let base = ((b * params.out_cstride + o) * H + yy) * W + xx0;
    var v = v4 + vec4<f32>(bias);
    if (VEC_HALO) {
        // Width a multiple of 4 (VEC_HALO, a pipeline constant: llvmpipe would otherwise run the
        // scalar path's masked-off loads and stores too): the 4 pixels are one aligned vec4, all
        // inside the image.
        let q = base >> 2u;
        if (params.accumulate != 0u) {
            v += out[q];
        }
        var g = vec4<f32>(1.0);
        if (params.act == 4u) {
            g = gate[q];
        }
        out[q] = vec4<f32>(finish(v.x, g.x), finish(v.y, g.y), finish(v.z, g.z), finish(v.w, g.w));
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (xx0 + j >= W) {
            break;
        }
        let i = base + j;
        var s = v[j];
        if (params.accumulate != 0u) {
            s += out[i >> 2u][i & 3u];
        }
        var g = 1.0;
        if (params.act == 4u) {
            g = gate[i >> 2u][i & 3u];
        }
        out[i >> 2u][i & 3u] = finish(s, g);
    }
}

// Stores tile row py (both channels, both halves).
fn store_row(b: u32, oa: u32, ob: u32, y0: u32, x0: u32, py: u32, r: Acc, ba: f32, bb: f32) {
    store4(b, oa, y0 + py, x0, r.a0, ba);
    store4(b, oa, y0 + py, x0 + 4u, r.a1, ba);
    store4(b, ob, y0 + py, x0, r.b0, bb);
    store4(b, ob, y0 + py, x0 + 4u, r.b1, bb);
}

@compute @workgroup_size(SG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let tile = conv_tile(linear_workgroup(wid, nwg), params.tiles_x, params.tiles_y, params.co_tiles);
    let tx = tile.x;
    let ty = tile.y;
    let ct = tile.z;
    let b = tile.w;
    // Uniform control flow: the whole subgroup leaves together.
    if (b >= params.batch) {
        return;
    }
    let H = params.height;
    let W = params.width;
    let HW = H * W;
    let x0 = tx * 8u;
    let y0 = ty * 8u;
    let oa = ct * 16u + lane;
    let ob = oa + 8u;

    // Packed pair of input channel ci and output channel o: ci·co_pad + o.
    let co_pad = params.co_tiles * 16u;

    var r0 = Acc(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var r1 = r0;
    var r2 = r0;
    var r3 = r0;
    var r4 = r0;
    var r5 = r0;
    var r6 = r0;
    var r7 = r0;

    for (var ci = 0u; ci < params.cin; ci++) {
        let hv = halo_load((b * params.in_cstride + ci) * HW, x0, y0, H, W, lane);
        // Tap rows ky = 0, 1, 2 of channels a and b (kx in x, y, z).
        let ta = taps(ci * co_pad + oa);
        let tb = taps(ci * co_pad + ob);
        let wa0 = ta.t0;
        let wa1 = ta.t1;
        let wa2 = ta.t2;
        let wb0 = tb.t0;
        let wb1 = tb.t1;
        let wb2 = tb.t2;
        // Halo row h feeds tile row py = h − ky with tap row ky (0 ≤ py ≤ 7).
        let h0 = halo_row0(hv);
        r0 = fma_row(r0, h0, wa0, wb0);
        let h1 = halo_row1(hv);
        r1 = fma_row(r1, h1, wa0, wb0);
        r0 = fma_row(r0, h1, wa1, wb1);
        let h2 = halo_row2(hv);
        r2 = fma_row(r2, h2, wa0, wb0);
        r1 = fma_row(r1, h2, wa1, wb1);
        r0 = fma_row(r0, h2, wa2, wb2);
        let h3 = halo_row3(hv);
        r3 = fma_row(r3, h3, wa0, wb0);
        r2 = fma_row(r2, h3, wa1, wb1);
        r1 = fma_row(r1, h3, wa2, wb2);
        let h4 = halo_row4(hv);
        r4 = fma_row(r4, h4, wa0, wb0);
        r3 = fma_row(r3, h4, wa1, wb1);
        r2 = fma_row(r2, h4, wa2, wb2);
        let h5 = halo_row5(hv);
        r5 = fma_row(r5, h5, wa0, wb0);
        r4 = fma_row(r4, h5, wa1, wb1);
        r3 = fma_row(r3, h5, wa2, wb2);
        let h6 = halo_row6(hv);
        r6 = fma_row(r6, h6, wa0, wb0);
        r5 = fma_row(r5, h6, wa1, wb1);
        r4 = fma_row(r4, h6, wa2, wb2);
        let h7 = halo_row7(hv);
        r7 = fma_row(r7, h7, wa0, wb0);
        r6 = fma_row(r6, h7, wa1, wb1);
        r5 = fma_row(r5, h7, wa2, wb2);
        let h8 = halo_row8(hv);
        r7 = fma_row(r7, h8, wa1, wb1);
        r6 = fma_row(r6, h8, wa2, wb2);
        let h9 = halo_row9(hv);
        r7 = fma_row(r7, h9, wa2, wb2);
    }

    // Epilogue. Channels the weight tensor does not have (flip mode) summed zero weights.
    poison = sg_size != SG;
    var ba = 0.0;
    var bb = 0.0;
    if (params.b_off != 0xffffffffu) {
        ba = weights[params.b_off + min(oa, params.cout - 1u)];
        bb = weights[params.b_off + min(ob, params.cout - 1u)];
    }
    store_row(b, oa, ob, y0, x0, 0u, r0, ba, bb);
    store_row(b, oa, ob, y0, x0, 1u, r1, ba, bb);
    store_row(b, oa, ob, y0, x0, 2u, r2, ba, bb);
    store_row(b, oa, ob, y0, x0, 3u, r3, ba, bb);
    store_row(b, oa, ob, y0, x0, 4u, r4, ba, bb);
    store_row(b, oa, ob, y0, x0, 5u, r5, ba, bb);
    store_row(b, oa, ob, y0, x0, 6u, r6, ba, bb);
    store_row(b, oa, ob, y0, x0, 7u, r7, ba, bb);
}
