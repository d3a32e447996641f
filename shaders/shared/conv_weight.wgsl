// The weight a 3×3 conv pass multiplies by (shared by conv2d_fwd, which reads it per tap, and
// conv_pack_subgroup, which packs it for conv2d_fwd_subgroup):
//   w(o, i, k) = W[o][i][k]          (flip = 0: the forward pass)
//   w(o, i, k) = W[i][o][8 − k]      (flip = 1: the input gradient, transposed and flipped)
// and 0 wherever (o, i) lies outside W = W[w_co][w_ci][3][3] at w_off.
// The importing kernel declares `params` with fields w_off, w_co, w_ci, flip, and the storage
// array `weights`.

fn conv_weight(o: u32, i: u32, k: u32) -> f32 {
    if (params.flip == 0u) {
        if (o >= params.w_co || i >= params.w_ci) { return 0.0; }
        return weights[params.w_off + (o * params.w_ci + i) * 9u + k];
    }
    if (i >= params.w_co || o >= params.w_ci) { return 0.0; }
    return weights[params.w_off + (i * params.w_ci + o) * 9u + 8u - k];
}
