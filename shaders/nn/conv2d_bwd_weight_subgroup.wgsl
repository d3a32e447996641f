// Weight and bias gradients of a 3×3 'same' conv, subgroup-broadcast layout, deterministic (no
// atomics); the same operation, params, bindings and partials as conv2d_bwd_weight.wgsl:
//   dW[o, i, ky, kx] = Σ_{b,y,x} dz[b, o, y, x] · in[b, i, y + ky − 1, x + kx − 1]
//   db[o]            = Σ_{b,y,x} dz[b, o, y, x]
// The reduction over (image, pixel) is split into `splits` contiguous ranges of 8×8 tiles; each
// workgroup writes one partial per (split, weight) to `part` (layout [split][P] with
// P = cout·cin·9 + cout, biases after the weights) and grad_reduce.wgsl sums the splits in order.
//
// Layout: a workgroup is exactly one subgroup of SG = 8 lanes and owns 16 output channels (lane
// l: co0 + l, "channel a", and co0 + l + 8, "channel b"), CI_T consecutive input channels
// (CI_T ≤ 7, an override chosen per layer in Rust) and one split. For every 8×8 tile of the
// split, in order:
//   1. each lane loads dz of its two channels over the tile (kept in a Dz struct): 32 vec4 loads
//      where the width is a multiple of 4, else 128 scalar loads;
//   2. for each of the CI_T input channels the lanes load the 10×10 input halo together (13
//      loads per lane, shared/halo8), spread it row by row with subgroupBroadcast, and each lane
//      adds 2 channels × 9 taps × 64 pixels = 1152 products into that input channel's 18
//      accumulators (a G struct): 1152·CI_T FMAs per 128 + 13·CI_T loads (32 + 6·CI_T with
//      VEC_HALO, 3 of the 6 vec4).
// Every accumulator sums its tiles in split order and its 64 pixels in a fixed order, so the
// partials are bit-identical run to run. No workgroup memory, no barriers.
//
// The 8-lane assumption is fixed by the unrolled broadcasts; Rust selects this kernel only where
// the adapter's subgroup size is exactly SG (crate::nn::ConvLayout), and a subgroup of another
// size writes NaN partials rather than wrong ones.
//
// Workgroup mapping (linear index): 16-channel tile fastest, then input-channel tile, then split.
#import shared/index
#import shared/conv
#import shared/halo8

@group(0) @binding(0) var<uniform> params: ConvWeightParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// dz as vec4 so that rows of 4 pixels load at once where the width is a multiple of 4 (the
// binding is padded to a multiple of 16 bytes, so scalar reads reach every value).
@group(0) @binding(2) var<storage, read> dz: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// Lanes per workgroup = the subgroup size the broadcasts are written for. Must be 8.
override SG: u32 = 8u;
// Input channels per workgroup (1 … 7; the unrolled channel slots below stop at 7).
override CI_T: u32 = 7u;

// The input again as vec4s (the same buffer, binding padded to whole vec4s), for shared/halo8's
// VEC_HALO loads.
@group(0) @binding(4) var<storage, read> x4: array<vec4<f32>>;

// shared/halo8 reads the input through these.
fn conv_input(i: u32) -> f32 {
    return x[i];
}

fn conv_input4(q: u32) -> vec4<f32> {
    return x4[q];
}

// dz of one tile row: channel a pixels 0…3 and 4…7, channel b pixels 0…3 and 4…7.
struct DzRow {
    a0: vec4<f32>,
    a1: vec4<f32>,
    b0: vec4<f32>,
    b1: vec4<f32>,
}

// dz over the whole 8×8 tile, tile rows 0…7.
struct Dz {
    r0: DzRow, r1: DzRow, r2: DzRow, r3: DzRow,
    r4: DzRow, r5: DzRow, r6: DzRow, r7: DzRow,
}

// Gradient accumulators of one input channel: a<ky> / b<ky> hold taps (ky, kx = 0, 1, 2) in
// x, y, z for channel a / b.
struct G {
    a0: vec3<f32>, a1: vec3<f32>, a2: vec3<f32>,
    b0: vec3<f32>, b1: vec3<f32>, b2: vec3<f32>,
}

// dz at (yy, xx) of the plane starting at `plane`; 0 outside the image or for a channel ≥ cout.
fn dz_ld(plane: u32, ok: bool, yy: u32, xx: u32) -> f32 {
    if (!ok || yy >= params.height || xx >= params.width) {
        return 0.0;
    }
    let i = plane + yy * params.width + xx;
    return dz[i >> 2u][i & 3u];
}

// dz at pixels xx … xx + 3 of row yy. Where the width is a multiple of 4 (VEC_HALO, a pipeline
// constant, so that the other path compiles away: llvmpipe runs both sides of a runtime `if`,
// the masked-off side's loads included), the 4 pixels are one aligned vec4 (xx is a multiple of
// 4, and so is every plane and row start), entirely inside or outside the image: one load
// instead of four.
fn dz_quad(plane: u32, ok: bool, yy: u32, xx: u32) -> vec4<f32> {
    if (VEC_HALO) {
        if (!ok || yy >= params.height || xx >= params.width) {
            return vec4<f32>(0.0);
        }
        return dz[(plane + yy * params.width + xx) >> 2u];
    }
    return vec4<f32>(
        dz_ld(plane, ok, yy, xx),
        dz_ld(plane, ok, yy, xx + 1u),
        dz_ld(plane, ok, yy, xx + 2u),
        dz_ld(plane, ok, yy, xx + 3u),
    );
}

fn dz_row(pa: u32, oka: bool, pb: u32, okb: bool, yy: u32, x0: u32) -> DzRow {
    return DzRow(
        dz_quad(pa, oka, yy, x0),
        dz_quad(pa, oka, yy, x0 + 4u),
        dz_quad(pb, okb, yy, x0),
        dz_quad(pb, okb, yy, x0 + 4u),
    );
}

// Σ over the 8 pixels of one tile row of dz · (halo row shifted by kx), for kx = 0, 1, 2.
fn taps(acc: vec3<f32>, d0: vec4<f32>, d1: vec4<f32>, w: Win) -> vec3<f32> {
    return acc + vec3<f32>(
        dot(d0, w.s0) + dot(d1, w.s3),
        dot(d0, w.s1) + dot(d1, w.s4),
        dot(d0, w.s2) + dot(d1, w.s5),
    );
}

// Halo row h (windows `w`) against tile row py = h − ky of dz: adds to tap row ky (a literal).
fn add_row(g: G, ky: u32, d: DzRow, w: Win) -> G {
    var r = g;
    if (ky == 0u) {
        r.a0 = taps(r.a0, d.a0, d.a1, w);
        r.b0 = taps(r.b0, d.b0, d.b1, w);
    } else if (ky == 1u) {
        r.a1 = taps(r.a1, d.a0, d.a1, w);
        r.b1 = taps(r.b1, d.b0, d.b1, w);
    } else {
        r.a2 = taps(r.a2, d.a0, d.a1, w);
        r.b2 = taps(r.b2, d.b0, d.b1, w);
    }
    return r;
}

// One input channel's contribution of one tile: halo row h meets tile rows h − 2 … h.
fn grad_chan(g0: G, hv: Halo, d: Dz) -> G {
    var g = g0;
    let h0 = halo_row0(hv);
    g = add_row(g, 0u, d.r0, h0);
    let h1 = halo_row1(hv);
    g = add_row(g, 0u, d.r1, h1);
    g = add_row(g, 1u, d.r0, h1);
    let h2 = halo_row2(hv);
    g = add_row(g, 0u, d.r2, h2);
    g = add_row(g, 1u, d.r1, h2);
    g = add_row(g, 2u, d.r0, h2);
    let h3 = halo_row3(hv);
    g = add_row(g, 0u, d.r3, h3);
    g = add_row(g, 1u, d.r2, h3);
    g = add_row(g, 2u, d.r1, h3);
    let h4 = halo_row4(hv);
    g = add_row(g, 0u, d.r4, h4);
    g = add_row(g, 1u, d.r3, h4);
    g = add_row(g, 2u, d.r2, h4);
    let h5 = halo_row5(hv);
    g = add_row(g, 0u, d.r5, h5);
    g = add_row(g, 1u, d.r4, h5);
    g = add_row(g, 2u, d.r3, h5);
    let h6 = halo_row6(hv);
    g = add_row(g, 0u, d.r6, h6);
    g = add_row(g, 1u, d.r5, h6);
    g = add_row(g, 2u, d.r4, h6);
    let h7 = halo_row7(hv);
    g = add_row(g, 0u, d.r7, h7);
    g = add_row(g, 1u, d.r6, h7);
    g = add_row(g, 2u, d.r5, h7);
    let h8 = halo_row8(hv);
    g = add_row(g, 1u, d.r7, h8);
    g = add_row(g, 2u, d.r6, h8);
    let h9 = halo_row9(hv);
    g = add_row(g, 2u, d.r7, h9);
    return g;
}

// Set when the subgroup is not SG lanes wide: every partial is written as NaN.
var<private> poison: bool;

fn put(i: u32, v: f32) {
    part[i] = select(v, bitcast<f32>(0x7fc00000u | params.cin), poison);
}

// Writes input-channel slot j's 18 gradients of split s (channels past cin/cout are skipped).
fn write_g(s: u32, ci: u32, oa: u32, ob: u32, g: G) {
    if (ci >= params.cin) {
        return;
    }
    let base = s * (params.cout * params.cin * 9u + params.cout);
    if (oa < params.cout) {
        let p = base + (oa * params.cin + ci) * 9u;
        put(p + 0u, g.a0.x);
        put(p + 1u, g.a0.y);
        put(p + 2u, g.a0.z);
        put(p + 3u, g.a1.x);
        put(p + 4u, g.a1.y);
        put(p + 5u, g.a1.z);
        put(p + 6u, g.a2.x);
        put(p + 7u, g.a2.y);
        put(p + 8u, g.a2.z);
    }
    if (ob < params.cout) {
        let p = base + (ob * params.cin + ci) * 9u;
        put(p + 0u, g.b0.x);
        put(p + 1u, g.b0.y);
        put(p + 2u, g.b0.z);
        put(p + 3u, g.b1.x);
        put(p + 4u, g.b1.y);
        put(p + 5u, g.b1.z);
        put(p + 6u, g.b2.x);
        put(p + 7u, g.b2.y);
        put(p + 8u, g.b2.z);
    }
}

@compute @workgroup_size(SG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let tile = weight_tile(linear_workgroup(wid, nwg), params.co_tiles, params.ci_tiles);
    let ct = tile.x;
    let it = tile.y;
    let s = tile.z;
    // Uniform control flow: the whole subgroup leaves together.
    if (s >= params.splits) {
        return;
    }
    let H = params.height;
    let W = params.width;
    let HW = H * W;
    let oa = ct * 16u + lane;
    let ob = oa + 8u;
    let oka = oa < params.cout;
    let okb = ob < params.cout;
    let ci0 = it * CI_T;

    let z3 = vec3<f32>(0.0);
    let gz = G(z3, z3, z3, z3, z3, z3);
    var g0 = gz;
    var g1 = gz;
    var g2 = gz;
    var g3 = gz;
    var g4 = gz;
    var g5 = gz;
    var g6 = gz;
    // Bias sums of channels a and b, 4 partial sums each (pixel column mod 4).
    var sa = vec4<f32>(0.0);
    var sb = vec4<f32>(0.0);

    let tiles_img = params.tiles_x * params.tiles_y;
    let total = params.batch * tiles_img;
    let t_begin = s * params.tiles_per_split;
    let t_end = min(total, t_begin + params.tiles_per_split);
    for (var tile = t_begin; tile < t_end; tile++) {
        let b = tile / tiles_img;
        let r = tile - b * tiles_img;
        let y0 = (r / params.tiles_x) * 8u;
        let x0 = (r % params.tiles_x) * 8u;
        let pa = (b * params.dz_cstride + min(oa, params.cout - 1u)) * HW;
        let pb = (b * params.dz_cstride + min(ob, params.cout - 1u)) * HW;
        let d = Dz(
            dz_row(pa, oka, pb, okb, y0 + 0u, x0),
            dz_row(pa, oka, pb, okb, y0 + 1u, x0),
            dz_row(pa, oka, pb, okb, y0 + 2u, x0),
            dz_row(pa, oka, pb, okb, y0 + 3u, x0),
            dz_row(pa, oka, pb, okb, y0 + 4u, x0),
            dz_row(pa, oka, pb, okb, y0 + 5u, x0),
            dz_row(pa, oka, pb, okb, y0 + 6u, x0),
            dz_row(pa, oka, pb, okb, y0 + 7u, x0),
        );
        sa += ((d.r0.a0 + d.r0.a1) + (d.r1.a0 + d.r1.a1)) + ((d.r2.a0 + d.r2.a1) + (d.r3.a0 + d.r3.a1))
            + (((d.r4.a0 + d.r4.a1) + (d.r5.a0 + d.r5.a1)) + ((d.r6.a0 + d.r6.a1) + (d.r7.a0 + d.r7.a1)));
        sb += ((d.r0.b0 + d.r0.b1) + (d.r1.b0 + d.r1.b1)) + ((d.r2.b0 + d.r2.b1) + (d.r3.b0 + d.r3.b1))
            + (((d.r4.b0 + d.r4.b1) + (d.r5.b0 + d.r5.b1)) + ((d.r6.b0 + d.r6.b1) + (d.r7.b0 + d.r7.b1)));
        // Input-channel slots 0 … CI_T − 1 (CI_T is a pipeline constant: unused slots compile
        // away; the cin test is uniform across the subgroup).
        let px = (b * params.in_cstride + ci0) * HW;
        g0 = grad_chan(g0, halo_load(px, x0, y0, H, W, lane), d);
        if (CI_T > 1u && ci0 + 1u < params.cin) {
            g1 = grad_chan(g1, halo_load(px + 1u * HW, x0, y0, H, W, lane), d);
        }
        if (CI_T > 2u && ci0 + 2u < params.cin) {
            g2 = grad_chan(g2, halo_load(px + 2u * HW, x0, y0, H, W, lane), d);
        }
        if (CI_T > 3u && ci0 + 3u < params.cin) {
            g3 = grad_chan(g3, halo_load(px + 3u * HW, x0, y0, H, W, lane), d);
        }
        if (CI_T > 4u && ci0 + 4u < params.cin) {
            g4 = grad_chan(g4, halo_load(px + 4u * HW, x0, y0, H, W, lane), d);
        }
        if (CI_T > 5u && ci0 + 5u < params.cin) {
            g5 = grad_chan(g5, halo_load(px + 5u * HW, x0, y0, H, W, lane), d);
        }
        if (CI_T > 6u && ci0 + 6u < params.cin) {
            g6 = grad_chan(g6, halo_load(px + 6u * HW, x0, y0, H, W, lane), d);
        }
    }

    poison = sg_size != SG;
    write_g(s, ci0, oa, ob, g0);
    if (CI_T > 1u) { write_g(s, ci0 + 1u, oa, ob, g1); }
    if (CI_T > 2u) { write_g(s, ci0 + 2u, oa, ob, g2); }
    if (CI_T > 3u) { write_g(s, ci0 + 3u, oa, ob, g3); }
    if (CI_T > 4u) { write_g(s, ci0 + 4u, oa, ob, g4); }
    if (CI_T > 5u) { write_g(s, ci0 + 5u, oa, ob, g5); }
    if (CI_T > 6u) { write_g(s, ci0 + 6u, oa, ob, g6); }
    // Bias gradients: written once per split, by the first input-channel tile.
    if (it == 0u) {
        let bias_off = s * (params.cout * params.cin * 9u + params.cout) + params.cout * params.cin * 9u;
        if (oka) {
            put(bias_off + oa, (sa.x + sa.y) + (sa.z + sa.w));
        }
        if (okb) {
            put(bias_off + ob, (sb.x + sb.y) + (sb.z + sb.w));
        }
    }
}
