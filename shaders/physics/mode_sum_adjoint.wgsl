// Adjoint of mode_exit_waves with respect to the object: the gradient of every frame is the
// sum over modes of conj(probe[p]) times that mode's exit-wave gradient,
// dobj[f, j] = Σ_p conj(probe[p, j]) · grad_psi[p, f, j], modes in ascending order
// (deterministic, no atomics). One invocation per object value.
#import shared/complex
#import shared/index

// Rust twin: crate::physics::ModeParams
struct Params {
    frame: u32,     // values per frame (N·N)
    frames: u32,    // frames of the object patches
    modes: u32,     // probe modes P
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_psi: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> probe: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dobj: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_workgroup(wid, nwg) * WG + lid;
    let per_mode = params.frames * params.frame;
    if (i >= per_mode) {
        return;
    }
    let j = i % params.frame;
    var acc = vec2<f32>(0.0);
    for (var p = 0u; p < params.modes; p++) {
        acc += cmul_conj(grad_psi[p * per_mode + i], probe[p * params.frame + j]);
    }
    dobj[i] = acc;
}
