// The 10×10 input halo of an 8×8 pixel tile, held across the 8 lanes of one subgroup and spread
// with subgroupBroadcast (shared by conv2d_fwd_subgroup and conv2d_bwd_weight_subgroup).
//
// Written for a subgroup of exactly 8 lanes (lavapipe: one AVX2 vector), which is what the
// kernels' callers check (crate::nn::ConvLayout): every broadcast below names its source lane as
// a literal, as WGSL requires.
//
// Halo coordinates: halo row r ↔ image row y0 − 1 + r, halo column c ↔ image column x0 − 1 + c,
// r, c ∈ 0…9; values outside the image are 0 (the conv's zero padding).
// Which lane holds what (13 registers per lane, 13 loads; VEC_HALO below):
//   m<r>  (r = 0…9)  lane l holds halo (r, l + 1)        — the 8 interior columns of each row
//   e0               lane l holds halo (l, 0)            — left edge, rows 0…7
//   e1               lane l holds halo (l, 9)            — right edge, rows 0…7
//   e2               lanes 0, 1 hold halo (8 + l, 0)     — left edge, rows 8, 9
//                    lanes 2, 3 hold halo (6 + l, 9)     — right edge, rows 8, 9
//                    lanes 4…7 hold 0 (unused)
// With VEC_HALO (an override the importing kernel's pipeline sets where the image width is a
// multiple of 4, so that the 8 interior columns of a halo row are two aligned vec4s inside or
// outside the image as a whole) the interior travels as vec4s instead, 3 vec4 loads per lane:
//   q0    lane l holds halo (l, 1 … 4)       q1    lane l holds halo (l, 5 … 8)   (rows 0…7)
//   q2    lanes 0, 1 hold halo (8, 1 … 4), (8, 5 … 8); lanes 2, 3 the same of row 9;
//         lanes 4…7 hold 0 (unused)
// and the edges as above: 6 loads per lane instead of 13 (a vec4 load costs lavapipe ≈ 1.7
// scalar ones).
// The importing kernel provides `fn conv_input(i: u32) -> f32` and `fn conv_input4(q: u32) ->
// vec4<f32>` (reads of its input tensor as scalars and as vec4s: values 4q … 4q + 3).

// The importing kernels test it for their own vec4 paths too (dz loads, output stores): one
// pipeline constant for "the width is a multiple of 4".
override VEC_HALO: bool = false;

struct Halo {
    m0: f32, m1: f32, m2: f32, m3: f32, m4: f32,
    m5: f32, m6: f32, m7: f32, m8: f32, m9: f32,
    e0: f32, e1: f32, e2: f32,
    q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>,
}

// One halo row as the six shifted vec4 windows a row of 8 output pixels needs:
// s<kx> = row[kx … kx + 3] (pixels 0…3 of the tile row, tap column kx) and
// s<3 + kx> = row[4 + kx … 7 + kx] (pixels 4…7).
struct Win {
    s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>,
    s3: vec4<f32>, s4: vec4<f32>, s5: vec4<f32>,
}

// Image value at (yy, xx) of the plane starting at `plane`, or 0 outside the h × w image.
fn halo_ld(plane: u32, yy: i32, xx: i32, h: u32, w: u32) -> f32 {
    if (yy < 0 || yy >= i32(h) || xx < 0 || xx >= i32(w)) {
        return 0.0;
    }
    return conv_input(plane + u32(yy) * w + u32(xx));
}

// Loads this lane's 13 halo registers for the tile at (x0, y0) of one plane (see the table above).
fn halo_load(plane: u32, x0: u32, y0: u32, h: u32, w: u32, lane: u32) -> Halo {
    let ym = i32(y0) - 1;           // image row of halo row 0
    let xl = i32(x0) - 1;           // image column of halo column 0 (left edge)
    let xr = i32(x0) + 8;           // image column of halo column 9 (right edge)
    let xc = i32(x0 + lane);        // image column of halo column lane + 1 (interior)
    let l = i32(lane);
    var hv: Halo;
    if (VEC_HALO) {
        // Interior vec4s (see the table above); x0 and the plane start are multiples of 4.
        hv.q0 = halo_ld4(plane, ym + l, x0, h, w);
        hv.q1 = halo_ld4(plane, ym + l, x0 + 4u, h, w);
        let q2_row = select(ym + 8 + (l >> 1u), -100, lane >= 4u);
        hv.q2 = halo_ld4(plane, q2_row, x0 + 4u * (lane & 1u), h, w);
        halo_edges(&hv, plane, ym, xl, xr, lane, h, w);
        return hv;
    }
    hv.m0 = halo_ld(plane, ym + 0, xc, h, w);
    hv.m1 = halo_ld(plane, ym + 1, xc, h, w);
    hv.m2 = halo_ld(plane, ym + 2, xc, h, w);
    hv.m3 = halo_ld(plane, ym + 3, xc, h, w);
    hv.m4 = halo_ld(plane, ym + 4, xc, h, w);
    hv.m5 = halo_ld(plane, ym + 5, xc, h, w);
    hv.m6 = halo_ld(plane, ym + 6, xc, h, w);
    hv.m7 = halo_ld(plane, ym + 7, xc, h, w);
    hv.m8 = halo_ld(plane, ym + 8, xc, h, w);
    hv.m9 = halo_ld(plane, ym + 9, xc, h, w);
    halo_edges(&hv, plane, ym, xl, xr, lane, h, w);
    return hv;
}

// The edge registers e0, e1, e2 (both layouts).
fn halo_edges(hv: ptr<function, Halo>, plane: u32, ym: i32, xl: i32, xr: i32, lane: u32, h: u32, w: u32) {
    let l = i32(lane);
    (*hv).e0 = halo_ld(plane, ym + l, xl, h, w);
    (*hv).e1 = halo_ld(plane, ym + l, xr, h, w);
    // Lanes 0, 1: left edge rows 8, 9; lanes 2, 3: right edge rows 8, 9; lanes 4…7: nothing
    // (row −100 is outside every image, so halo_ld returns 0 without a load).
    let e2_row = select(select(-100, ym + 6 + l, lane < 4u), ym + 8 + l, lane < 2u);
    (*hv).e2 = halo_ld(plane, e2_row, select(xr, xl, lane < 2u), h, w);
}

// Image values (yy, xx … xx + 3) of the plane starting at `plane` (xx and the plane start
// multiples of 4, the width too), or 0 where row yy is outside the image or xx ≥ w.
fn halo_ld4(plane: u32, yy: i32, xx: u32, h: u32, w: u32) -> vec4<f32> {
    if (yy < 0 || yy >= i32(h) || xx >= w) {
        return vec4<f32>(0.0);
    }
    return conv_input4((plane + u32(yy) * w + xx) >> 2u);
}

// Halo row values v0…v9 = (left, m from lanes 0…7, right) as shifted windows. `m` is the row's
// interior register, `left`/`right` its already broadcast edge values. Every lane gets the same.
fn halo_win(m: f32, left: f32, right: f32) -> Win {
    let v1 = subgroupBroadcast(m, 0u);
    let v2 = subgroupBroadcast(m, 1u);
    let v3 = subgroupBroadcast(m, 2u);
    let v4 = subgroupBroadcast(m, 3u);
    let v5 = subgroupBroadcast(m, 4u);
    let v6 = subgroupBroadcast(m, 5u);
    let v7 = subgroupBroadcast(m, 6u);
    let v8 = subgroupBroadcast(m, 7u);
    return Win(
        vec4<f32>(left, v1, v2, v3),
        vec4<f32>(v1, v2, v3, v4),
        vec4<f32>(v2, v3, v4, v5),
        vec4<f32>(v4, v5, v6, v7),
        vec4<f32>(v5, v6, v7, v8),
        vec4<f32>(v6, v7, v8, right),
    );
}

// The same from the vec4 interior: `lo`, `hi` are the row's two interior vec4s, already
// broadcast.
fn halo_win4(lo: vec4<f32>, hi: vec4<f32>, left: f32, right: f32) -> Win {
    return Win(
        vec4<f32>(left, lo.xyz),
        lo,
        vec4<f32>(lo.yzw, hi.x),
        vec4<f32>(lo.w, hi.xyz),
        hi,
        vec4<f32>(hi.yzw, right),
    );
}

// Windows of halo rows 0…9 (the edge registers' lanes follow the table above).
fn halo_row0(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 0u), subgroupBroadcast(hv.q1, 0u), subgroupBroadcast(hv.e0, 0u), subgroupBroadcast(hv.e1, 0u)); }
    return halo_win(hv.m0, subgroupBroadcast(hv.e0, 0u), subgroupBroadcast(hv.e1, 0u));
}
fn halo_row1(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 1u), subgroupBroadcast(hv.q1, 1u), subgroupBroadcast(hv.e0, 1u), subgroupBroadcast(hv.e1, 1u)); }
    return halo_win(hv.m1, subgroupBroadcast(hv.e0, 1u), subgroupBroadcast(hv.e1, 1u));
}
fn halo_row2(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 2u), subgroupBroadcast(hv.q1, 2u), subgroupBroadcast(hv.e0, 2u), subgroupBroadcast(hv.e1, 2u)); }
    return halo_win(hv.m2, subgroupBroadcast(hv.e0, 2u), subgroupBroadcast(hv.e1, 2u));
}
fn halo_row3(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 3u), subgroupBroadcast(hv.q1, 3u), subgroupBroadcast(hv.e0, 3u), subgroupBroadcast(hv.e1, 3u)); }
    return halo_win(hv.m3, subgroupBroadcast(hv.e0, 3u), subgroupBroadcast(hv.e1, 3u));
}
fn halo_row4(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 4u), subgroupBroadcast(hv.q1, 4u), subgroupBroadcast(hv.e0, 4u), subgroupBroadcast(hv.e1, 4u)); }
    return halo_win(hv.m4, subgroupBroadcast(hv.e0, 4u), subgroupBroadcast(hv.e1, 4u));
}
fn halo_row5(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 5u), subgroupBroadcast(hv.q1, 5u), subgroupBroadcast(hv.e0, 5u), subgroupBroadcast(hv.e1, 5u)); }
    return halo_win(hv.m5, subgroupBroadcast(hv.e0, 5u), subgroupBroadcast(hv.e1, 5u));
}
fn halo_row6(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 6u), subgroupBroadcast(hv.q1, 6u), subgroupBroadcast(hv.e0, 6u), subgroupBroadcast(hv.e1, 6u)); }
    return halo_win(hv.m6, subgroupBroadcast(hv.e0, 6u), subgroupBroadcast(hv.e1, 6u));
}
fn halo_row7(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q0, 7u), subgroupBroadcast(hv.q1, 7u), subgroupBroadcast(hv.e0, 7u), subgroupBroadcast(hv.e1, 7u)); }
    return halo_win(hv.m7, subgroupBroadcast(hv.e0, 7u), subgroupBroadcast(hv.e1, 7u));
}
fn halo_row8(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q2, 0u), subgroupBroadcast(hv.q2, 1u), subgroupBroadcast(hv.e2, 0u), subgroupBroadcast(hv.e2, 2u)); }
    return halo_win(hv.m8, subgroupBroadcast(hv.e2, 0u), subgroupBroadcast(hv.e2, 2u));
}
fn halo_row9(hv: Halo) -> Win {
    if (VEC_HALO) { return halo_win4(subgroupBroadcast(hv.q2, 2u), subgroupBroadcast(hv.q2, 3u), subgroupBroadcast(hv.e2, 1u), subgroupBroadcast(hv.e2, 3u)); }
    return halo_win(hv.m9, subgroupBroadcast(hv.e2, 1u), subgroupBroadcast(hv.e2, 3u));
}
