// Gradient of the loss with respect to the probe (shared by all frames):
// grad_probe[p] = Σ_f grad_psi[f, p] · conj(obj[f, p])  (ψ = P · O, conjugate-Wirtinger form),
// summed over frames in ascending order (deterministic, no atomics). With a multi-mode probe
// (modes > 1) grad_psi holds every mode's exit-wave gradient, mode-major, and
// grad_probe[m, p] = Σ_f grad_psi[m, f, p] · conj(obj[f, p]).
//
// Thread mapping: one invocation per probe value (mode, pixel), looping over frames.
#import shared/complex
#import shared/index

// Rust twin: crate::physics::ProbeGradParams
struct Params {
    frame: u32,     // pixels per frame (N·N)
    frames: u32,    // frames summed
    modes: u32,     // probe modes (0 or 1: a single mode)
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad_psi: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> obj: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> grad_probe: array<vec2<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = linear_workgroup(wid, nwg) * WG + lid;
    if (q >= max(params.modes, 1u) * params.frame) {
        return;
    }
    let m = q / params.frame;
    let p = q - m * params.frame;
    let base = m * params.frames * params.frame;
    var acc = vec2<f32>(0.0);
    for (var f = 0u; f < params.frames; f++) {
        let k = f * params.frame + p;
        acc += cmul_conj(grad_psi[base + k], obj[k]);
    }
    grad_probe[q] = acc;
}
