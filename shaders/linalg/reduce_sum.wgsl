// Segmented parallel sum, deterministic: the input is `segments` runs of `n` f32 values; each
// workgroup sums one CHUNK = WG·ITEMS block of one segment and writes one partial. The host
// repeats the pass on the partials until one value per segment remains.
//
// Order of additions (fixed, so results are bit-identical run to run): invocation `lid` first
// adds its ITEMS values at block offsets lid, lid+WG, lid+2·WG, … in sequence, then the WG
// per-invocation sums are combined by a pairwise tree in workgroup memory (stride WG/2, WG/4, …).
// crate::linalg::cpu::reduce_sum_tree mirrors exactly this order.
#import shared/index

// Blocks g = seg·chunks + chunk tile the input contiguously, so a dispatch covering blocks
// [g0, g0 + g_count) reads one contiguous window of x; `x` is bound at element `win` of the whole
// array (an aligned offset at or before the first block) so no binding exceeds the device limit.

// Rust twin: crate::linalg::ReduceParams
struct Params {
    n: u32,         // values per segment
    chunks: u32,    // blocks per segment = ceil(n / CHUNK)
    g0: u32,        // first block of this dispatch
    g_count: u32,   // blocks in this dispatch
    win: u32,       // element index (in the whole array) where the `x` binding starts
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

const WG: u32 = 256u;   // invocations per workgroup; power of two (tree below)
const ITEMS: u32 = 8u;  // values each invocation sums before the tree

var<workgroup> tree: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let local = linear_workgroup(wid, nwg);
    // Uniform control flow: every invocation of a workgroup takes the same branch.
    if (local >= params.g_count) {
        return;
    }
    let g = params.g0 + local;
    let seg = g / params.chunks;
    let chunk = g - seg * params.chunks;
    let base = chunk * WG * ITEMS;
    var acc = 0.0;
    for (var k = 0u; k < ITEMS; k++) {
        let j = base + k * WG + lid;
        if (j < params.n) {
            acc += x[seg * params.n + j - params.win];
        }
    }
    tree[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            tree[lid] = tree[lid] + tree[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[g] = tree[0];
    }
}
