// What the 3×3 conv kernels of both layouts (tiled: conv2d_fwd, conv2d_bwd_weight; subgroup:
// conv2d_fwd_subgroup, conv2d_bwd_weight_subgroup) share: their params structs, the decode of
// the linear workgroup index (shared/index) into a tile, and the activation-or-gate epilogue.

#import shared/math

// Forward and input gradient. Rust twin: crate::nn::ConvParams. The tile counts are of the
// layout's tile (tiled: TH×TW pixels × CO_T channels; subgroup: 8×8 pixels × 16 channels).
struct ConvParams {
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
    act: u32,          // shared/math codes 0–3, or 4 (crate::nn::GATE): multiply by (gate > 0)
    accumulate: u32,   // 1: add the previous content of `out` (before the gate)
    tiles_x: u32,      // pixel tiles along x
    tiles_y: u32,      // pixel tiles along y
    co_tiles: u32,     // output-channel tiles
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Weight and bias gradient. Rust twin: crate::nn::ConvWeightParams.
struct ConvWeightParams {
    batch: u32,
    cin: u32,
    cout: u32,
    height: u32,
    width: u32,
    in_cstride: u32,   // channels per image in `x`
    dz_cstride: u32,   // channels per image in `dz`
    tiles_x: u32,      // pixel tiles along x
    tiles_y: u32,      // pixel tiles along y
    co_tiles: u32,     // output-channel tiles
    ci_tiles: u32,     // input-channel tiles
    splits: u32,       // reduction splits (partials)
    tiles_per_split: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The tile of forward workgroup g: (x tile, y tile, output-channel tile, image), x tile
// fastest.
fn conv_tile(g0: u32, tiles_x: u32, tiles_y: u32, co_tiles: u32) -> vec4<u32> {
    var g = g0;
    let tx = g % tiles_x;
    g = g / tiles_x;
    let ty = g % tiles_y;
    g = g / tiles_y;
    return vec4<u32>(tx, ty, g % co_tiles, g / co_tiles);
}

// The tile of weight-gradient workgroup g: (output-channel tile, input-channel tile, split),
// output-channel tile fastest.
fn weight_tile(g0: u32, co_tiles: u32, ci_tiles: u32) -> vec3<u32> {
    var g = g0;
    let ct = g % co_tiles;
    g = g / co_tiles;
    return vec3<u32>(ct, g % ci_tiles, g / ci_tiles);
}

// The epilogue of one output value v (after bias and accumulate): the activation `act`
// (shared/math), or with act 4 the gate — v where the gate value g is > 0, else 0.
fn conv_finish(act: u32, v: f32, g: f32) -> f32 {
    if (act == 4u) {
        return select(0.0, v, g > 0.0);
    }
    return activate(act, v);
}
