// y = beta·y + alpha·x over f32 vectors (gradient accumulation). One invocation per element.
#import shared/index

// Rust twin: crate::linalg::AxpyParams
struct Params {
    count: u32,
    alpha: f32,
    beta: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    if (i >= params.count) {
        return;
    }
    // beta = 0 overwrites (no 0·NaN from an uninitialised y).
    var acc = params.alpha * x[i];
    if (params.beta != 0.0) {
        acc += params.beta * y[i];
    }
    y[i] = acc;
}
